//! Where a service's runs execute: a tokio runtime of their own, apart from the one that
//! accepts connections, answers `/health`, keeps time and handles signals.
//!
//! A node may compute for a while without yielding (an expression, a JSON Import of a large
//! page). On the service's own runtime, as many such runs as there are cores would leave no
//! thread to accept a connection, answer a health check, notice a timeout or a shutdown.
//! Runs in the pool may slow each other down (there are only so many cores) but never the
//! service around them; a run that computes is stopped by its [`weft_nodes::Interrupt`], which
//! every evaluation checks.

use std::future::Future;
use std::num::NonZeroUsize;
use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::JoinHandle;

/// A runtime for runs; dropping it stops what still runs there, without waiting.
#[derive(Debug)]
pub struct RunPool {
    runtime: Option<Runtime>,
}

impl RunPool {
    /// A pool with one thread per core; `name` names its threads.
    ///
    /// # Errors
    ///
    /// When the operating system refuses the threads.
    pub fn new(name: &str) -> std::io::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(2, NonZeroUsize::get);
        let runtime = Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name(name)
            .enable_all()
            .build()?;
        Ok(Self { runtime: Some(runtime) })
    }

    /// Starts `future` in the pool.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle().spawn(future)
    }

    /// The pool's runtime handle.
    pub fn handle(&self) -> &Handle {
        match &self.runtime {
            Some(runtime) => runtime.handle(),
            None => unreachable!("the runtime is only taken when the pool is dropped"),
        }
    }
}

impl Drop for RunPool {
    fn drop(&mut self) {
        // Not `Runtime::drop`, which blocks until every task ends and panics when the pool is
        // dropped from async code: runs still there were interrupted already, and a run stuck
        // in a computation must not hold up the exit.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn busy_runs_leave_the_callers_runtime_free() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let pool = RunPool::new("weft-test-run").unwrap();
        let threads = std::thread::available_parallelism().map_or(2, NonZeroUsize::get);
        let released = Arc::new(AtomicBool::new(false));
        // Every thread of the pool computes until this runtime releases it (or 20 s pass)…
        let busy: Vec<_> = (0..threads)
            .map(|_| {
                let released = released.clone();
                pool.spawn(async move {
                    let until = Instant::now() + Duration::from_secs(20);
                    while !released.load(Ordering::Relaxed) && Instant::now() < until {
                        std::hint::spin_loop();
                    }
                    released.load(Ordering::Relaxed)
                })
            })
            .collect();
        // …which a task of this runtime can do meanwhile (were the runs on this runtime, its
        // one worker would be busy with them).
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            released.store(true, Ordering::Relaxed);
        })
        .await
        .unwrap();
        for run in busy {
            assert!(run.await.unwrap(), "a busy run held up the caller's runtime");
        }
        drop(pool); // from async code: no panic, no wait
    }
}
