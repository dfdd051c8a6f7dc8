//! What every handler of the service shares, and the run store with the runs of this
//! process in it.

use super::Phase;
use super::catalog::Entry;
use crate::exec::Runtime;
use crate::flow::Loader;
use crate::pool::RunPool;
use axum::body::Bytes;
use axum::http::HeaderValue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use weft_nodes::Interrupt;

/// What every handler shares; immutable but for the semaphore's count.
pub(super) struct App {
    pub(super) flows: HashMap<String, Arc<Entry>>,
    /// The 404 message for each flow of the directory that is not served (it says why), by
    /// name.
    pub(super) skipped: HashMap<String, String>,
    /// The `GET /flows` answer, serialised once.
    pub(super) list: Bytes,
    pub(super) runtime: Runtime,
    /// Where runs execute, apart from this server's own runtime.
    pub(super) pool: Arc<RunPool>,
    pub(super) slots: Arc<Semaphore>,
    pub(super) max_runs: usize,
    pub(super) max_body: u64,
    pub(super) timeout: Option<Duration>,
    pub(super) body_timeout: Duration,
    pub(super) max_steps: u64,
    pub(super) max_vars_bytes: usize,
    pub(super) retry_after: HeaderValue,
    pub(super) phase: watch::Receiver<Phase>,
    /// The run store, when runs are recorded.
    pub(super) stored: Option<Arc<Stored>>,
}

/// The store, and the runs of this process in it.
pub(super) struct Stored {
    /// The store and this process's hold on runs.
    pub durable: crate::durable::Durable,
    /// Loads the flow texts runs pinned.
    pub loader: Loader,
    /// The names (as the store knows them) of the flows served.
    pub flows: Vec<String>,
    /// The profiles file runs are recorded with.
    pub profiles: String,
    /// How long finished runs are kept.
    pub keep: Option<Duration>,
    /// Runs executing in this process, to cancel them at once.
    in_flight: Mutex<HashMap<String, Interrupt>>,
}

impl Stored {
    pub(super) fn new(
        durable: crate::durable::Durable,
        loader: Loader,
        flows: Vec<String>,
        profiles: String,
        keep: Option<Duration>,
    ) -> Self {
        Self { durable, loader, flows, profiles, keep, in_flight: Mutex::default() }
    }

    /// Notes that run `id` executes here, stopped through `interrupt`; forgotten when the
    /// guard drops.
    pub(super) fn executing(self: &Arc<Self>, id: &str, interrupt: Interrupt) -> InFlight {
        self.runs().insert(id.to_owned(), interrupt);
        InFlight { stored: self.clone(), id: id.to_owned() }
    }

    /// Waits until no run executes here.
    pub(super) async fn idle(&self) {
        while !self.runs().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub(super) fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Interrupt>> {
        self.in_flight.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A run executing in this process (see [`Stored::executing`]).
pub(super) struct InFlight {
    stored: Arc<Stored>,
    id: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.stored.runs().remove(&self.id);
    }
}
