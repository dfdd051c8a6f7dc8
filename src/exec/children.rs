//! The flows a run's `call` nodes run: each child is a run of its own (its own `vars` and step
//! count) with the parent's services — the token cache, the HTTP client — and the parent's
//! interrupt, so the parent's deadline and cancellation reach every child. A durable parent's
//! children are durable runs of their own, linked to it (its journal runs them).

use super::journal::{ChildRun, Journal};
use super::{RunOptions, RunStatus, Runtime};
use crate::flow::Flow;
use crate::trace::{Parent, TraceSink};
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use weft_nodes::expr::Clock;
use weft_nodes::node::ChildFailure;
use weft_nodes::{ChildCall, Children, Interrupt};

/// Runs the children of one run of `flow`.
pub(crate) struct ChildRuns<'r> {
    pub(crate) flow: &'r Flow,
    pub(crate) runtime: &'r Runtime,
    pub(crate) max_steps: u64,
    pub(crate) max_vars_bytes: usize,
    pub(crate) clock: Clock,
    pub(crate) interrupt: Interrupt,
    /// Where the parent's events go: a child's go there too, under its own run id, its
    /// `run_started` naming its parent.
    pub(crate) trace: Option<Arc<dyn TraceSink>>,
    /// The parent's run id.
    pub(crate) run_id: String,
    /// Children answered without running (tests).
    pub(crate) stood_in: Option<Arc<super::StoodIn>>,
    /// The parent's journal, when it is a durable run: its children are durable runs too.
    pub(crate) journal: Option<Arc<dyn Journal>>,
}

impl<'r> ChildRuns<'r> {
    /// The children the node of the parent's step `step` runs.
    pub(crate) fn at(&self, step: u64) -> AtStep<'_, 'r> {
        AtStep { runs: self, step }
    }
}

/// The children of one step of the parent (a stored child run is known by its step).
pub(crate) struct AtStep<'a, 'r> {
    runs: &'a ChildRuns<'r>,
    step: u64,
}

impl Children for AtStep<'_, '_> {
    fn run<'a>(
        &'a self,
        call: ChildCall<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<rhai::Dynamic, ChildFailure>> + Send + 'a>> {
        let this = self.runs;
        Box::pin(async move {
            let ChildCall { node, flow, index, params } = call;
            let failure = |message: String| ChildFailure {
                error: json!({ "category": "call", "message": message }),
                message,
            };
            if let Some(canned) = this.stood_in.as_ref().and_then(|s| s.get(flow)) {
                return match canned {
                    Ok(result) => Ok(weft_nodes::expr::json_to_dynamic(result)),
                    Err(error) => Err(failed_with(error.clone(), "it failed (stood in)")),
                };
            }
            let child = this
                .flow
                .children
                .get(flow)
                .ok_or_else(|| failure(format!("`{flow}` was not loaded with the flow")))?;
            let params = crate::params::resolve(child, Some(params), &[])
                .map_err(|e| failure(format!("its parameters: {e}")))?;
            let options = RunOptions {
                params,
                max_steps: this.max_steps,
                max_vars_bytes: this.max_vars_bytes,
                clock: this.clock,
                interrupt: this.interrupt.clone(),
                trace: this.trace.clone(),
                parent: Some(Parent { run: this.run_id.clone(), node: node.to_owned(), index }),
                stood_in: this.stood_in.clone(),
                ..RunOptions::default()
            };
            let report = match &this.journal {
                Some(journal) => {
                    let (runtime, step) = (this.runtime, self.step);
                    let child = ChildRun { flow: child, runtime, options, node, step, index };
                    journal.child(child).await.map_err(|e| failure(e.0))?
                }
                None => super::run(child, this.runtime, options).await,
            };
            match report.status {
                RunStatus::Succeeded => Ok(report.result.into_dynamic()),
                RunStatus::Failed => Err(failed_with(
                    report.error.unwrap_or(Value::Null),
                    "it ended at an `end` node with status failed",
                )),
                RunStatus::Interrupted => Err(failure("it was interrupted".into())),
            }
        })
    }
}

/// A child that failed with `error` (its `vars.error`): its message, else `otherwise`.
fn failed_with(error: Value, otherwise: &str) -> ChildFailure {
    let message = error.get("message").and_then(Value::as_str).unwrap_or(otherwise).to_owned();
    ChildFailure { error, message }
}
