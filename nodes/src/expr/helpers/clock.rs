//! The clock that `now()` and `today()` read inside expressions.
//!
//! An `ExprScope` carries a [`Clock`]; while the engine evaluates
//! against that scope, the clock is installed in a thread-local (see [`with_clock`]) that the
//! date helpers read. Evaluation is synchronous, so the thread-local is exactly as long-lived as
//! one evaluation, and the previous clock is restored afterwards (even on panic).

use std::cell::Cell;

use chrono::{DateTime, Utc};

/// Where `now()` gets the time from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A fixed instant, so tests of time windows are repeatable.
    Fixed(DateTime<Utc>),
}

impl Clock {
    /// The current instant according to this clock.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Self::System => Utc::now(),
            Self::Fixed(at) => *at,
        }
    }
}

thread_local! {
    static CURRENT: Cell<Clock> = const { Cell::new(Clock::System) };
}

/// Restores the previous clock when dropped.
struct Restore(Clock);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// Runs `f` with `clock` as the clock the date helpers (`now()`, `today()`) read on this thread,
/// restoring the previous clock afterwards, also when `f` panics.
///
/// The engine does this itself for every evaluation, with the clock of the `ExprScope` it
/// evaluates against; call it directly only to run other code that reads the current clock.
pub fn with_clock<R>(clock: Clock, f: impl FnOnce() -> R) -> R {
    let previous = CURRENT.with(|c| c.replace(clock));
    let _restore = Restore(previous);
    f()
}

/// The clock installed on this thread (the system clock outside [`with_clock`]).
#[must_use]
pub fn current() -> Clock {
    CURRENT.with(Cell::get)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn with_clock_installs_and_restores() {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        assert_eq!(current(), Clock::System);
        let seen = with_clock(Clock::Fixed(at), || {
            let inner = with_clock(Clock::System, current);
            assert_eq!(inner, Clock::System);
            current().now()
        });
        assert_eq!(seen, at);
        assert_eq!(current(), Clock::System);
    }

    #[test]
    fn restores_after_panic() {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let result = std::panic::catch_unwind(|| with_clock(Clock::Fixed(at), || panic!("boom")));
        assert!(result.is_err());
        assert_eq!(current(), Clock::System);
    }
}
