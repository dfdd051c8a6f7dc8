//! Stopping a run from outside: cancellation (Ctrl-C, SIGTERM, a server shutting down, a
//! client's cancel) and the run's deadline.
//!
//! A run can be stopped in two places. While it waits (an HTTP request, a backoff) the executor
//! drops it at its next poll ([`Interrupt::stopped`]). While it computes, no poll comes until
//! the computation ends, so the expression engine asks [`Interrupt::stop`] as it goes and ends
//! the evaluation; the executor then ends the run. Both read the same flag and deadline, so a
//! run stops within moments whichever it is doing.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Why a run was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Someone cancelled it.
    Cancelled,
    /// Its deadline passed.
    TimedOut,
}

/// A run's stop signal: cheap to clone (clones share it), checked without locking.
#[derive(Clone, Default)]
pub struct Interrupt(Arc<Inner>);

#[derive(Default)]
struct Inner {
    cancelled: AtomicBool,
    deadline: OnceLock<Instant>,
    /// The run's time limit, for messages.
    limit: OnceLock<Duration>,
    wake: Notify,
}

impl Interrupt {
    /// A signal that nothing has set yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the deadline to `limit` from now, unless one is set already (a child run keeps its
    /// parent's).
    pub fn limit_to(&self, limit: Duration) {
        if let Some(deadline) = Instant::now().checked_add(limit)
            && self.0.deadline.set(deadline).is_ok()
        {
            let _ = self.0.limit.set(limit);
            self.0.wake.notify_waiters();
        }
    }

    /// The time limit set by [`Interrupt::limit_to`], if any.
    #[must_use]
    pub fn limit(&self) -> Option<Duration> {
        self.0.limit.get().copied()
    }

    /// Cancels the run.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::Release);
        self.0.wake.notify_waiters();
    }

    /// Whether the run should stop now, and why; cancellation wins over the deadline.
    #[must_use]
    pub fn stop(&self) -> Option<Stop> {
        if self.0.cancelled.load(Ordering::Acquire) {
            return Some(Stop::Cancelled);
        }
        match self.0.deadline.get() {
            Some(deadline) if Instant::now() >= *deadline => Some(Stop::TimedOut),
            _ => None,
        }
    }

    /// Whether [`Interrupt::cancel`] was called.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::Acquire)
    }

    /// Resolves when the run should stop.
    pub async fn stopped(&self) -> Stop {
        loop {
            // Registered before the check, so a cancel between the two is not missed.
            let woken = self.0.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if let Some(stop) = self.stop() {
                return stop;
            }
            match self.0.deadline.get() {
                Some(deadline) => {
                    let deadline = tokio::time::Instant::from_std(*deadline);
                    tokio::select! {
                        () = woken => {}
                        // Tokio's timer never fires early; no second look at the clock, which
                        // a paused test clock would not have moved.
                        () = tokio::time::sleep_until(deadline) => {
                            return self.stop().unwrap_or(Stop::TimedOut);
                        }
                    }
                }
                None => woken.await,
            }
        }
    }
}

impl fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interrupt")
            .field("cancelled", &self.is_cancelled())
            .field("limit", &self.limit())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stops_on_cancel_or_deadline() {
        let interrupt = Interrupt::new();
        assert_eq!(interrupt.stop(), None);
        let waiter = tokio::spawn({
            let interrupt = interrupt.clone();
            async move { interrupt.stopped().await }
        });
        tokio::task::yield_now().await;
        interrupt.cancel();
        assert_eq!(waiter.await.unwrap(), Stop::Cancelled);
        assert_eq!(interrupt.stop(), Some(Stop::Cancelled));

        let timed = Interrupt::new();
        let waiter = tokio::spawn({
            let timed = timed.clone();
            async move { timed.stopped().await }
        });
        tokio::task::yield_now().await;
        // A deadline set while someone waits is seen by the waiter.
        timed.limit_to(Duration::from_millis(50));
        timed.limit_to(Duration::from_secs(60)); // the first one stays
        assert_eq!(timed.limit(), Some(Duration::from_millis(50)));
        assert_eq!(waiter.await.unwrap(), Stop::TimedOut);
    }
}
