//! The simulator's fixed latency, kept to the configured time.
//!
//! The latency stands for the time a real Graph page takes, and a benchmark divides by it
//! (32 connections ÷ 5 ms = 6 400 requests/s). tokio's timer rounds a deadline up to the next
//! whole millisecond and then parks with a timeout in whole milliseconds, so `sleep(5 ms)`
//! answered after 5–7 ms (6.5 ms at the median, measured with `wrk`). One thread sleeps to each
//! deadline instead, on the OS's high-resolution timer, and wakes the waiting request.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::sync::lock;

/// One request waiting for its deadline.
struct Wait {
    at: Instant,
    done: oneshot::Sender<()>,
}

// Ordered by deadline, earliest first out of the (max-)heap.
impl Ord for Wait {
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at)
    }
}

impl PartialOrd for Wait {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Wait {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Wait {}

/// What the timer thread and the requests share.
#[derive(Default)]
struct Queue {
    pending: BinaryHeap<Wait>,
    closed: bool,
    /// The timer thread has ended (it never does while [`Delays`] lives, short of a panic).
    stopped: bool,
}

type Shared = (Mutex<Queue>, Condvar);

/// Hands deadlines to the timer thread, which ends once this is dropped and nothing waits.
pub(crate) struct Delays {
    shared: Arc<Shared>,
}

impl Delays {
    /// Starts the timer thread; `None` when the OS refuses a thread (the caller then falls back
    /// to tokio's timer).
    pub(crate) fn start() -> Option<Self> {
        let shared = Arc::new(Shared::default());
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("weft-sim-latency".into())
            .spawn(move || fire(&thread_shared))
            .ok()?;
        Some(Self { shared })
    }

    /// Waits `delay` from now.
    pub(crate) async fn sleep(&self, delay: Duration) {
        let at = Instant::now() + delay;
        let (done, woken) = oneshot::channel();
        let (queue, wake) = &*self.shared;
        let earlier = {
            let mut queue = lock(queue);
            let earlier = queue.pending.peek().is_none_or(|first| at < first.at);
            if queue.stopped {
                // Nothing will fire it: dropped, it hands over to tokio's timer below.
                drop(done);
            } else {
                queue.pending.push(Wait { at, done });
            }
            earlier
        };
        // With one fixed latency deadlines only grow, so under load the thread is already
        // asleep until an earlier one and needs no wake-up.
        if earlier {
            wake.notify_one();
        }
        if woken.await.is_err() {
            // The thread is gone: wait with tokio's timer rather than not at all.
            tokio::time::sleep_until(at.into()).await;
        }
    }
}

impl Drop for Delays {
    fn drop(&mut self) {
        let (queue, wake) = &*self.shared;
        lock(queue).closed = true;
        wake.notify_one();
    }
}

/// The timer thread: wakes each waiting request at its deadline, until the [`Delays`] is gone
/// and nothing is left waiting.
fn fire((queue, wake): &Shared) {
    let _stopped = Stopped(queue);
    let mut due = Vec::new();
    let mut guard = lock(queue);
    loop {
        let now = Instant::now();
        while guard.pending.peek().is_some_and(|w| w.at <= now) {
            due.extend(guard.pending.pop());
        }
        if !due.is_empty() {
            drop(guard);
            for wait in due.drain(..) {
                // The request may have gone away meanwhile; nothing to wake then.
                let _ = wait.done.send(());
            }
            guard = lock(queue);
            continue;
        }
        guard = match guard.pending.peek() {
            Some(first) => {
                let left = first.at - now;
                wake.wait_timeout(guard, left).unwrap_or_else(PoisonError::into_inner).0
            }
            None if guard.closed => return,
            None => wake.wait(guard).unwrap_or_else(PoisonError::into_inner),
        };
    }
}

/// Marks the timer thread stopped however it ends, a panic included, and lets go of every
/// waiting request, so that none waits for a wake-up that will never come.
struct Stopped<'q>(&'q Mutex<Queue>);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        let mut queue = lock(self.0);
        queue.stopped = true;
        queue.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_end_in_deadline_order_and_not_before_their_time() {
        let Some(delays) = Delays::start() else { panic!("no timer thread") };
        let delays = std::sync::Arc::new(delays);
        let started = Instant::now();
        let (order, mut ended) = tokio::sync::mpsc::unbounded_channel();
        for ms in [30u64, 10, 20] {
            let (delays, order) = (delays.clone(), order.clone());
            tokio::spawn(async move {
                delays.sleep(Duration::from_millis(ms)).await;
                let _ = order.send((ms, started.elapsed()));
            });
        }
        drop(order);
        let mut seen = Vec::new();
        while let Some((ms, elapsed)) = ended.recv().await {
            assert!(elapsed >= Duration::from_millis(ms), "{ms} ms wait ended after {elapsed:?}");
            seen.push(ms);
        }
        assert_eq!(seen, [10, 20, 30]);
    }

    #[tokio::test]
    async fn a_wait_still_ends_when_no_thread_fires_it() {
        // No timer thread, and the queued wait is thrown away unfired.
        let delays = Arc::new(Delays { shared: Arc::new(Shared::default()) });
        let started = Instant::now();
        let sleeper = delays.clone();
        let waiting = tokio::spawn(async move { sleeper.sleep(Duration::from_millis(5)).await });
        while lock(&delays.shared.0).pending.is_empty() {
            tokio::task::yield_now().await;
        }
        lock(&delays.shared.0).pending.clear();
        assert!(waiting.await.is_ok());
        assert!(started.elapsed() >= Duration::from_millis(5));
    }

    #[tokio::test]
    async fn once_the_thread_has_stopped_waits_still_end() {
        let delays = Delays { shared: Arc::new(Shared::default()) };
        // What the thread leaves behind when it ends, by a panic or otherwise.
        drop(Stopped(&delays.shared.0));
        let started = Instant::now();
        // Queued for a thread that is gone, the wait would never end.
        let ended =
            tokio::time::timeout(Duration::from_secs(10), delays.sleep(Duration::from_millis(5)));
        assert!(ended.await.is_ok(), "the wait did not end");
        assert!(started.elapsed() >= Duration::from_millis(5));
    }
}
