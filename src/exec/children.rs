//! The flows a run's `call` nodes run: each child is a run of its own (its own `vars` and step
//! count) with the parent's services — the token cache, the HTTP client — and the parent's
//! interrupt, so the parent's deadline and cancellation reach every child.

use super::{RunOptions, RunStatus, Runtime};
use crate::flow::Flow;
use crate::trace::{Parent, TraceSink};
use serde_json::{Map, Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use weft_nodes::expr::Clock;
use weft_nodes::node::ChildFailure;
use weft_nodes::{Children, Interrupt};

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
}

impl Children for ChildRuns<'_> {
    fn run<'a>(
        &'a self,
        node: &'a str,
        flow: &'a str,
        params: Map<String, Value>,
    ) -> Pin<Box<dyn Future<Output = Result<rhai::Dynamic, ChildFailure>> + Send + 'a>> {
        Box::pin(async move {
            let failure = |message: String| ChildFailure {
                error: json!({ "category": "call", "message": message }),
                message,
            };
            if let Some(canned) = self.stood_in.as_ref().and_then(|s| s.get(flow)) {
                return match canned {
                    Ok(result) => Ok(weft_nodes::expr::json_to_dynamic(result)),
                    Err(error) => Err(ChildFailure {
                        message: error
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("it failed (stood in)")
                            .to_owned(),
                        error: error.clone(),
                    }),
                };
            }
            let child = self
                .flow
                .children
                .get(flow)
                .ok_or_else(|| failure(format!("`{flow}` was not loaded with the flow")))?;
            let params = crate::params::resolve(child, Some(params), &[])
                .map_err(|e| failure(format!("its parameters: {e}")))?;
            let options = RunOptions {
                params,
                max_steps: self.max_steps,
                max_vars_bytes: self.max_vars_bytes,
                clock: self.clock,
                interrupt: self.interrupt.clone(),
                trace: self.trace.clone(),
                parent: Some(Parent { run: self.run_id.clone(), node: node.to_owned() }),
                stood_in: self.stood_in.clone(),
                ..RunOptions::default()
            };
            let report = super::run(child, self.runtime, options).await;
            match report.status {
                RunStatus::Succeeded => Ok(report.result.into_dynamic()),
                RunStatus::Failed => {
                    let error = report.error.unwrap_or(Value::Null);
                    let message = error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("it ended at an `end` node with status failed")
                        .to_owned();
                    Err(ChildFailure { error, message })
                }
                RunStatus::Interrupted => Err(failure("it was interrupted".into())),
            }
        })
    }
}
