//! Injected failures: which requests fail, and how.
//!
//! Faults are decided per request before it is answered; they never change what a successful
//! answer holds, so retrying the same URL returns the same page.

use std::time::Duration;

use super::rng::Rng;

/// One way to fail a request.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// 429 Too Many Requests, with `Retry-After` set to this text when given (`"1"`,
    /// `"0.128"`: Graph sends integers and fractions).
    TooManyRequests {
        /// The `Retry-After` header value, verbatim.
        retry_after: Option<String>,
    },
    /// 503 Service Unavailable, with an optional `Retry-After`.
    ServiceUnavailable {
        /// The `Retry-After` header value, verbatim.
        retry_after: Option<String>,
    },
    /// 504 Gateway Timeout.
    GatewayTimeout,
    /// The connection is closed without any response.
    DropConnection,
    /// The request succeeds after this extra delay.
    Latency(Duration),
}

impl FaultKind {
    /// A 429 with this `Retry-After`.
    #[must_use]
    pub fn throttle(retry_after: &str) -> Self {
        Self::TooManyRequests { retry_after: Some(retry_after.to_owned()) }
    }
}

/// Which requests fail and how. The default injects nothing.
///
/// A request is faulted when it is the `every_nth` (counting the requests the faults apply to,
/// from 1) or when a seeded draw falls under `rate`. The kind is taken from `kinds` in turn
/// (the first fault gets `kinds[0]`, the next `kinds[1]`, …, wrapping).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// Fail every n-th request (`Some(3)`: the 3rd, 6th, …).
    pub every_nth: Option<u32>,
    /// Fail this fraction of requests at random (seeded), 0.0–1.0.
    pub rate: f64,
    /// The kinds of failure, used in turn. Empty means 429 with `Retry-After: 0.1`.
    pub kinds: Vec<FaultKind>,
    /// Also apply faults to Entra token requests (Graph requests always are).
    pub token_requests: bool,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self::none()
    }
}

impl FaultConfig {
    /// No faults.
    #[must_use]
    pub fn none() -> Self {
        Self { every_nth: None, rate: 0.0, kinds: Vec::new(), token_requests: false }
    }

    /// Every `n`-th Graph request fails with `kinds` in turn.
    #[must_use]
    pub fn every(n: u32, kinds: Vec<FaultKind>) -> Self {
        Self { every_nth: Some(n), ..Self::none().with_kinds(kinds) }
    }

    /// A seeded fraction `rate` of Graph requests fails with `kinds` in turn.
    #[must_use]
    pub fn at_rate(rate: f64, kinds: Vec<FaultKind>) -> Self {
        Self { rate, ..Self::none().with_kinds(kinds) }
    }

    /// A lively mix for demos: small `Retry-After`s, 503 with and without one, 504, a
    /// dropped connection and some latency.
    #[must_use]
    pub fn mixed_kinds() -> Vec<FaultKind> {
        vec![
            FaultKind::throttle("0.2"),
            FaultKind::ServiceUnavailable { retry_after: Some("0.1".to_owned()) },
            FaultKind::throttle("1"),
            FaultKind::GatewayTimeout,
            FaultKind::Latency(Duration::from_millis(150)),
            FaultKind::ServiceUnavailable { retry_after: None },
            FaultKind::DropConnection,
        ]
    }

    /// The same faults with other kinds.
    #[must_use]
    pub fn with_kinds(mut self, kinds: Vec<FaultKind>) -> Self {
        self.kinds = kinds;
        self
    }

    /// True when no request can fail.
    #[must_use]
    pub fn is_none(&self) -> bool {
        self.every_nth.is_none_or(|n| n == 0) && self.rate <= 0.0
    }
}

/// The run-time side of faults: the configuration, how many requests it has seen and the draw.
#[derive(Debug)]
pub(crate) struct FaultState {
    config: FaultConfig,
    seen: u64,
    injected: u64,
    rng: Rng,
}

impl FaultState {
    pub(crate) fn new(config: FaultConfig, seed: u64) -> Self {
        Self { config, seen: 0, injected: 0, rng: Rng::derive(seed, "faults") }
    }

    /// Replaces the configuration and restarts the count, so `every_nth` is relative to now.
    pub(crate) fn set(&mut self, config: FaultConfig) {
        self.config = config;
        self.seen = 0;
        self.injected = 0;
    }

    /// The fault for the next request, if any. `token` says whether it is a token request.
    pub(crate) fn next(&mut self, token: bool) -> Option<FaultKind> {
        if token && !self.config.token_requests {
            return None;
        }
        if self.config.is_none() {
            return None;
        }
        self.seen += 1;
        let nth =
            self.config.every_nth.is_some_and(|n| n > 0 && self.seen.is_multiple_of(u64::from(n)));
        // Draw on every request so the random sequence doesn't depend on every_nth hits.
        let drawn = self.config.rate > 0.0 && self.rng.chance(self.config.rate);
        if !(nth || drawn) {
            return None;
        }
        let kind = if self.config.kinds.is_empty() {
            FaultKind::throttle("0.1")
        } else {
            let len = u64::try_from(self.config.kinds.len()).unwrap_or(1);
            let i = usize::try_from(self.injected % len).unwrap_or(0);
            self.config.kinds.get(i).cloned().unwrap_or(FaultKind::GatewayTimeout)
        };
        self.injected += 1;
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_third_in_turn() {
        let mut s = FaultState::new(
            FaultConfig::every(3, vec![FaultKind::GatewayTimeout, FaultKind::DropConnection]),
            1,
        );
        let got: Vec<_> = (0..9).map(|_| s.next(false)).collect();
        assert_eq!(got[2], Some(FaultKind::GatewayTimeout));
        assert_eq!(got[5], Some(FaultKind::DropConnection));
        assert_eq!(got[8], Some(FaultKind::GatewayTimeout));
        assert_eq!(got.iter().filter(|f| f.is_some()).count(), 3);
        assert_eq!(s.next(true), None);
    }

    #[test]
    fn rate_is_seeded() {
        let run = || {
            let mut s = FaultState::new(FaultConfig::at_rate(0.3, Vec::new()), 9);
            (0..50).map(|_| s.next(false).is_some()).collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.iter().any(|x| *x) && a.iter().any(|x| !*x));
    }
}
