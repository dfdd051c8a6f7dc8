//! What one evaluation may spend — operations, wall time, memory — and the run's stop signal,
//! checked as it goes.
//!
//! Rhai calls [`progress`] before every operation. An operation is usually cheap, but a few
//! can be slow (copying a large map is one operation), so the clock is read every
//! [`CLOCK_EVERY`] operations *and* whenever the evaluation's heap has grown by
//! [`CLOCK_EVERY_BYTES`] since the last look: slow operations are the ones that build a lot.
//! The heap is read at every operation (a thread-local read) when the counting allocator is
//! installed ([`crate::alloc`]).

use super::limits::Limits;
use crate::alloc::thread_heap_bytes;
use crate::interrupt::{Interrupt, Stop};
use rhai::Dynamic;
use std::cell::RefCell;
use std::time::Instant;

/// Operations between two looks at the clock.
const CLOCK_EVERY: u64 = 64;
/// Heap growth that brings the next look at the clock forward.
const CLOCK_EVERY_BYTES: isize = 4 << 20;

/// Why an evaluation was terminated: the token Rhai hands back in `ErrorTerminated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exceeded {
    Operations,
    Time,
    Memory,
    Stopped(Stop),
}

impl Exceeded {
    const fn token(self) -> &'static str {
        match self {
            Self::Operations => "weft: too many operations",
            Self::Time => "weft: too long",
            Self::Memory => "weft: too much memory",
            Self::Stopped(Stop::Cancelled) => "weft: cancelled",
            Self::Stopped(Stop::TimedOut) => "weft: run timed out",
        }
    }

    /// The reason behind a termination token, if it is one of ours.
    pub(crate) fn from_token(token: &Dynamic) -> Option<Self> {
        let token = token.as_immutable_string_ref().ok()?;
        [
            Self::Operations,
            Self::Time,
            Self::Memory,
            Self::Stopped(Stop::Cancelled),
            Self::Stopped(Stop::TimedOut),
        ]
        .into_iter()
        .find(|e| e.token() == token.as_str())
    }
}

/// One evaluation's spending so far.
struct Spent {
    operations: u64,
    started: Instant,
    /// The thread's heap when the evaluation started (`None`: not counted).
    heap_at_start: Option<isize>,
    /// The thread's heap at the last look at the clock.
    heap_at_clock: isize,
    next_clock: u64,
    interrupt: Option<Interrupt>,
}

thread_local! {
    /// The evaluation running on this thread, if any.
    static SPENT: RefCell<Option<Spent>> = const { RefCell::new(None) };
}

/// Runs `f` as one evaluation with a fresh budget, seeing `interrupt`; the budget of an
/// evaluation it interrupts (a nested one) is restored afterwards.
pub(crate) fn evaluation<R>(interrupt: Option<&Interrupt>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Spent>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            SPENT.with(|s| *s.borrow_mut() = outer);
        }
    }
    let heap = thread_heap_bytes();
    let fresh = Spent {
        operations: 0,
        started: Instant::now(),
        heap_at_start: heap,
        heap_at_clock: heap.unwrap_or(0),
        next_clock: CLOCK_EVERY,
        interrupt: interrupt.cloned(),
    };
    let _restore = Restore(SPENT.with(|s| s.borrow_mut().replace(fresh)));
    f()
}

/// Counts one operation; the token to terminate with when a limit is passed or the run must
/// stop.
pub(crate) fn progress(limits: &Limits) -> Option<Dynamic> {
    SPENT
        .with(|s| s.borrow_mut().as_mut().and_then(|spent| spent.step(limits)))
        .map(|exceeded| Dynamic::from(exceeded.token()))
}

impl Spent {
    fn step(&mut self, limits: &Limits) -> Option<Exceeded> {
        self.operations = self.operations.saturating_add(1);
        if limits.max_operations > 0 && self.operations > limits.max_operations {
            return Some(Exceeded::Operations);
        }
        let mut look = self.operations >= self.next_clock;
        if let Some(start) = self.heap_at_start {
            let heap = thread_heap_bytes().unwrap_or(start);
            let max = isize::try_from(limits.max_memory).unwrap_or(isize::MAX);
            if limits.max_memory > 0 && heap.saturating_sub(start) > max {
                return Some(Exceeded::Memory);
            }
            if heap.saturating_sub(self.heap_at_clock) > CLOCK_EVERY_BYTES {
                self.heap_at_clock = heap;
                look = true;
            }
        }
        if !look {
            return None;
        }
        self.next_clock = self.operations.saturating_add(CLOCK_EVERY);
        if let Some(stop) = self.interrupt.as_ref().and_then(Interrupt::stop) {
            return Some(Exceeded::Stopped(stop));
        }
        match limits.max_duration {
            Some(max) if self.started.elapsed() > max => Some(Exceeded::Time),
            _ => None,
        }
    }
}
