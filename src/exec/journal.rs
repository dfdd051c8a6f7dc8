//! Durable runs, as the executor sees them: each finished node handed to a [`Journal`] before
//! the next one starts, and a run rebuilt from such a journal ([`Resume`]).
//!
//! The executor knows no store: whoever runs a durable run (`crate::durable`) gives it a
//! journal that writes to one, and the steps to go on from.

use super::{RunOptions, RunReport, Runtime};
use crate::flow::Flow;
use crate::store::Step;
use crate::trace::{Event, TraceSink};
use futures_util::future::BoxFuture;
use petgraph::graph::NodeIndex;
use serde_json::Value;
use std::sync::{Mutex, PoisonError};
use weft_nodes::NodeError;

/// Why a journal refused a step.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct JournalError(pub String);

/// Where a durable run's finished nodes go, one at a time, in order.
pub trait Journal: Send + Sync {
    /// Keeps `step` durably; the run waits for it before its next node starts, and stops when
    /// it fails.
    fn record(&self, step: Step) -> BoxFuture<'_, Result<(), JournalError>>;

    /// Runs a child of this run as a durable run of its own, linked to this one by the step
    /// and element that called it — or gives the result of the one that already succeeded
    /// there, in an earlier attempt of this run.
    fn child<'a>(&'a self, child: ChildRun<'a>) -> BoxFuture<'a, Result<RunReport, JournalError>>;
}

/// A child run a durable run's `call` node asks for.
pub struct ChildRun<'a> {
    /// The child flow.
    pub flow: &'a Flow,
    /// The services it shares with its parent.
    pub runtime: &'a Runtime,
    /// How to run it (its parameters, limits, and its parent's interrupt and trace).
    pub options: RunOptions,
    /// The `call` node.
    pub node: &'a str,
    /// The parent's step that runs the node.
    pub step: u64,
    /// With `for_each`, the element's index.
    pub index: Option<usize>,
}

/// What a resumed run goes on from.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    /// The journal to replay: what finished nodes wrote, their state, where they went.
    pub steps: Vec<Step>,
    /// Run this node next (a failed run's new attempt), instead of the one the last exit leads
    /// to.
    pub retry: Option<String>,
}

/// Where a replayed journal leaves the run.
pub(crate) enum Resumed {
    /// At this node, to run next.
    At(NodeIndex),
    /// Over: the last journaled node took an exit that leads nowhere (with why, when it failed).
    Ended {
        /// The node it ended at.
        at: NodeIndex,
        /// Its failure.
        failure: Option<NodeError>,
    },
}

/// Collects the HTTP events of the step in progress, for its journal entry (the trace of a
/// stored run is its journal).
#[derive(Default)]
pub(crate) struct StepEvents {
    http: Mutex<Vec<Value>>,
}

impl StepEvents {
    /// The events since the last call.
    pub(crate) fn take(&self) -> Vec<Value> {
        std::mem::take(&mut *self.http.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl TraceSink for StepEvents {
    fn record(&self, _run: &str, event: Event) {
        if matches!(event, Event::Http { .. })
            && let Ok(Value::Object(mut fields)) = serde_json::to_value(&event)
        {
            let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            fields.insert("at".into(), at.into());
            self.http.lock().unwrap_or_else(PoisonError::into_inner).push(Value::Object(fields));
        }
    }

    fn records_values(&self) -> bool {
        false
    }
}
