//! One step of a run: run one node, record what it wrote, turn a failure into `vars.error` and
//! the exit it takes, and find the edge that exit leads along.
//!
//! The executor's walk steps through here, and so does the node harness behind `weft test`,
//! which runs one node and stops at its exit: both see the same `RunCx`, the same error rule
//! and the same `vars.error`. What a step wrote comes back as paths ([`Written`]), so whoever
//! keeps a record of steps (a trace, a journal) reads the values from `vars` once the step is
//! over, and a step that keeps no record copies nothing.

use super::children::ChildRuns;
use super::journal::{Resume, Resumed, StepEvents};
use super::{RunStatus, Runtime};
use crate::flow::{Flow, FlowNode};
use crate::store::Step;
use crate::trace::{Event, TraceSink, redact};
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use rhai::{Dynamic, Map};
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;
use weft_nodes::expr::{Clock, ExprScope, json_to_dynamic};
use weft_nodes::node::{NodeState, RunParts};
use weft_nodes::services::HttpEvent;
use weft_nodes::{Children, Interrupt, NodeError, Outcome, RunCx, Stop, VarPath, Vars, Written};

/// How a run starts: its parameters and variables, checked and typed.
pub(crate) struct Start {
    /// The parameters, already checked against the flow's declarations.
    pub params: serde_json::Map<String, Value>,
    /// Top-level variables that replace the flow's `variables` (tests).
    pub vars: Option<serde_json::Map<String, Value>>,
    /// The run's clock (`now()` in expressions).
    pub clock: Clock,
    /// Stops the run from outside, and carries its deadline.
    pub interrupt: Interrupt,
    /// How large `vars` may grow.
    pub max_vars_bytes: usize,
}

/// A run in progress: its data, its nodes' state, and where to report its steps.
pub(crate) struct RunState<'r> {
    flow: &'r Flow,
    runtime: &'r Runtime,
    vars: Vars,
    scope: ExprScope,
    interrupt: Interrupt,
    states: Vec<NodeState>,
    written: Vec<Written>,
    trace: Option<(&'r dyn TraceSink, &'r str)>,
    /// The node the last step ran, to tell whether a loop is re-entered from its own body.
    previous: Option<NodeIndex>,
    /// Steps taken so far.
    pub steps: u64,
    /// With a journal: the HTTP events of the step in progress, and its finished entry.
    journal: Option<(Arc<StepEvents>, Option<Step>)>,
    /// Runs the flows the run's `call` nodes name.
    children: Option<&'r ChildRuns<'r>>,
}

/// What a step did.
pub(crate) enum Stepped {
    /// The node took `exit`; `next` is the node its edge leads to (`None`: the exit is unwired,
    /// and the run ends there), `failure` why it took it when it failed.
    Exit { exit: Cow<'static, str>, next: Option<NodeIndex>, failure: Option<NodeError> },
    /// The node ended the run (an `end` node).
    End { status: RunStatus, result: Dynamic },
    /// The run was stopped while the node ran: what the node did is of no interest.
    Stopped(Stop),
}

impl<'r> RunState<'r> {
    /// A run of `flow` about to take its first step; `trace` receives its events under
    /// `run_id`.
    pub(crate) fn new(
        flow: &'r Flow,
        runtime: &'r Runtime,
        start: Start,
        trace: Option<(&'r dyn TraceSink, &'r str)>,
    ) -> Self {
        let mut variables = flow.seed.clone();
        if let Some(given) = start.vars {
            variables.extend(to_map(given));
        }
        let vars = Vars::with_limit(variables, start.max_vars_bytes);
        let params = Dynamic::from_map(to_map(start.params)).into_shared();
        let mut scope = ExprScope::new(params, vars.handle());
        scope.set_clock(start.clock);
        scope.set_interrupt(start.interrupt.clone());
        let states =
            std::iter::repeat_with(NodeState::default).take(flow.graph().node_count()).collect();
        Self {
            flow,
            runtime,
            vars,
            scope,
            interrupt: start.interrupt,
            states,
            written: Vec::new(),
            trace,
            previous: None,
            steps: 0,
            journal: None,
            children: None,
        }
    }

    /// Lets the run's `call` nodes run flows through `children`.
    pub(crate) fn calling(&mut self, children: &'r ChildRuns<'r>) {
        self.children = Some(children);
    }

    /// Makes each step leave a journal entry ([`RunState::take_entry`]), with the HTTP events
    /// `events` collected while it ran.
    pub(crate) fn journal_into(&mut self, events: Arc<StepEvents>) {
        self.journal = Some((events, None));
    }

    /// The journal entry of the last step, once.
    pub(crate) fn take_entry(&mut self) -> Option<Step> {
        self.journal.as_mut().and_then(|(_, entry)| entry.take())
    }

    /// Replays a journal: `vars` as the journaled nodes left them, their state restored, the
    /// step count where it was. Says where the run goes on.
    pub(crate) fn resume(&mut self, resume: &Resume) -> Result<Resumed, NodeError> {
        let flow = self.flow;
        let lost = |what: String| NodeError::new("resume", what);
        let index = |id: &str| {
            flow.by_id.get(id).copied().ok_or_else(|| {
                lost(format!("the journal names node `{id}`, which the run's flow does not have"))
            })
        };
        let mut last = None;
        for step in &resume.steps {
            let ix = index(&step.node)?;
            replay_writes(&self.vars, &step.writes)
                .map_err(|e| lost(format!("step {} (node `{}`): {e}", step.step, step.node)))?;
            if let Some(error) = &step.error {
                let _ = self.vars.set_unlimited(&error_path(), json_to_dynamic(error));
            }
            if let Some(saved) = &step.state
                && let Ok(Value::Object(saved)) = serde_json::from_str::<Value>(saved)
            {
                self.states[ix.index()].restore(saved);
            }
            self.steps = step.step;
            self.previous = Some(ix);
            last = Some((ix, step));
        }
        if let Some(retry) = &resume.retry {
            return index(retry).map(Resumed::At);
        }
        let Some((ix, step)) = last else {
            return Ok(Resumed::At(flow.start_index()));
        };
        let Some(exit) = &step.exit else {
            // The run reached its `end` but did not record its finish: the end runs again.
            self.steps -= 1;
            return Ok(Resumed::At(ix));
        };
        let graph = flow.graph();
        match graph.edges(ix).find(|e| e.weight() == exit) {
            Some(edge) => Ok(Resumed::At(edge.target())),
            None => {
                let failure = step.error.as_ref().map(|error| {
                    let text = |k: &str| error.get(k).and_then(Value::as_str).unwrap_or_default();
                    NodeError::new(text("category").to_owned(), text("message"))
                });
                Ok(Resumed::Ended { at: ix, failure })
            }
        }
    }
    /// The run's variables.
    pub(crate) fn vars(&self) -> &Vars {
        &self.vars
    }

    /// The run's variables, when it is over.
    pub(crate) fn into_vars(self) -> Vars {
        self.vars
    }

    /// Runs node `ix` once, as the run's next step.
    pub(crate) async fn step(&mut self, ix: NodeIndex) -> Stepped {
        let flow = self.flow;
        let graph = flow.graph();
        let node = &graph[ix];
        self.steps += 1;
        let arrived_from_body = match (&node.loop_body, self.previous) {
            (Some(body), Some(p)) => body.binary_search(&p).is_ok(),
            _ => false,
        };
        let started = self.trace.map(|(trace, run_id)| {
            trace.record(
                run_id,
                Event::NodeStarted {
                    node: node.id.clone(),
                    kind: node.kind.into(),
                    step: self.steps,
                },
            );
            trace.before_node(run_id, &node.id, &self.vars);
            Instant::now()
        });
        let wired = |exit: &str| graph.edges(ix).any(|e| e.weight() == exit);
        let on_http = self.trace.map(|(trace, run_id)| {
            let node = node.id.clone();
            move |e: HttpEvent| {
                trace.record(
                    run_id,
                    Event::Http {
                        node: node.clone(),
                        method: e.method.into(),
                        url: e.url,
                        status: e.status,
                        attempt: e.attempt,
                        ms: e.ms,
                        request_id: e.request_id,
                        retry_in_ms: e.retry_in_ms,
                        request_body: e.body,
                    },
                )
            }
        });
        let began = self.journal.as_ref().map(|_| (Instant::now(), now_ms()));
        let span = tracing::debug_span!("node", id = %node.id, kind = node.kind, step = self.steps);
        self.written.clear();
        let observed = started.is_some() && self.records_values();
        let children = self.children.map(|runs| runs.at(self.steps));
        let outcome = {
            let mut cx = RunCx::new(RunParts {
                reads: &flow.reads,
                node: &node.id,
                engine: self.runtime.engine(),
                scope: &mut self.scope,
                vars: &self.vars,
                state: &mut self.states[ix.index()],
                arrived_from_body,
                wired: &wired,
                writes: &mut self.written,
                observed,
                services: &self.runtime.services,
                on_http: on_http.as_ref().map(|f| f as &(dyn Fn(HttpEvent) + Send + Sync)),
                children: children.as_ref().map(|c| c as &dyn Children),
            });
            node.node.run(&mut cx).instrument(span).await
        };
        // A node that was computing when the run was stopped ends early with an error of no
        // interest: the run ends here, as it would have had the node been waiting.
        if let Some(stop) = self.interrupt.stop() {
            return Stepped::Stopped(stop);
        }
        let (exit, failure, error) = match outcome {
            Ok(Outcome::Exit(exit)) => (exit, None, None),
            Ok(Outcome::End { result, failed }) => {
                self.finished(node, started, observed, None, None);
                self.journal_step(ix, began, None, None);
                let status = if failed { RunStatus::Failed } else { RunStatus::Succeeded };
                return Stepped::End { status, result };
            }
            Err(mut err) => {
                err.exit = err.exit_at(&*node.node);
                self.runtime.scrub(&mut err);
                tracing::debug!(node = %node.id, category = %err.category, "node failed: {}", err.message);
                let error = error_value(node, &err);
                let _ = self.vars.set_unlimited(&error_path(), error.clone());
                (Cow::Borrowed(err.exit), Some(err), Some(error))
            }
        };
        self.finished(node, started, observed, Some(&exit), error.as_ref());
        self.journal_step(ix, began, Some(&exit), error.as_ref());
        let next = graph.edges(ix).find(|e| *e.weight() == *exit).map(|e| e.target());
        self.previous = Some(ix);
        Stepped::Exit { exit, next, failure }
    }

    /// Leaves the journal entry of the step that ran node `ix`, when the run keeps a journal.
    fn journal_step(
        &mut self,
        ix: NodeIndex,
        began: Option<(Instant, i64)>,
        exit: Option<&str>,
        error: Option<&Dynamic>,
    ) {
        let (Some((events, entry)), Some((began, started_ms))) = (&mut self.journal, began) else {
            return;
        };
        let node = &self.flow.graph()[ix];
        let state = self.states[ix.index()].save().map(|saved| Value::Object(saved).to_string());
        *entry = Some(Step {
            step: self.steps,
            attempt: 0,
            node: node.id.clone(),
            kind: node.kind.to_owned(),
            exit: exit.map(str::to_owned),
            writes: writes_json(&self.written, &self.vars),
            state,
            error: error.and_then(|e| weft_nodes::expr::dynamic_to_json(e).ok()),
            http: events.take(),
            started_ms,
            ms: super::millis(began),
        });
    }

    /// Whether the trace reads what nodes write: without one that does, a body may wait as
    /// JSON text and a step copies nothing.
    fn records_values(&self) -> bool {
        self.trace.is_some_and(|(trace, _)| trace.records_values())
    }

    /// Records the end of a node in the trace, with what it wrote as it is in `vars` now when
    /// the trace reads values (`observed`).
    fn finished(
        &self,
        node: &FlowNode,
        started: Option<Instant>,
        observed: bool,
        exit: Option<&str>,
        error: Option<&Dynamic>,
    ) {
        let (Some((trace, run_id)), Some(started)) = (self.trace, started) else {
            return;
        };
        let mut written = serde_json::Map::new();
        if observed {
            for write in &self.written {
                let value = write.to_json(&self.vars).unwrap_or(Value::Null);
                written.insert(write.path().to_string(), value);
            }
        }
        let mut written = Value::Object(written);
        redact(&mut written);
        let Value::Object(writes) = written else {
            return;
        };
        trace.record(
            run_id,
            Event::NodeFinished {
                node: node.id.clone(),
                exit: exit.map(str::to_owned),
                ms: super::millis(started),
                error: error.and_then(|e| weft_nodes::expr::dynamic_to_json(e).ok()),
                writes,
            },
        );
    }

    /// Ends the run with `err` at node `ix` (a limit, a timeout): `vars.error` as a node's
    /// failure writes it, whatever the size limit of `vars`.
    pub(crate) fn fail_at(&self, ix: NodeIndex, err: &NodeError) -> Dynamic {
        let error = error_value(&self.flow.graph()[ix], err);
        let _ = self.vars.set_unlimited(&error_path(), error.clone());
        error
    }
}

/// The path of `vars.error`.
pub(crate) fn error_path() -> VarPath {
    VarPath::parse("error").unwrap_or_else(|_| unreachable!("`error` is a valid path"))
}

/// `vars.error` for a failure at `node`: `{ node, type, category, message, status?, code? }`.
fn error_value(node: &FlowNode, err: &NodeError) -> Dynamic {
    let mut map = Map::new();
    map.insert("node".into(), node.id.clone().into());
    map.insert("type".into(), node.kind.into());
    map.insert("category".into(), err.category.to_string().into());
    map.insert("message".into(), err.message.clone().into());
    if let Some(status) = err.status {
        map.insert("status".into(), Dynamic::from_int(status.into()));
    }
    if let Some(code) = &err.code {
        map.insert("code".into(), code.clone().into());
    }
    if let Some(child) = &err.child {
        map.insert("child".into(), json_to_dynamic(child));
    }
    Dynamic::from_map(map)
}

/// What a step wrote, as the journal keeps it: `[{"path": P, "set": V}, {"path": P, "append":
/// [items]}]`, the values read from `vars` as JSON text (a body waiting as text is not parsed).
fn writes_json(written: &[Written], vars: &Vars) -> String {
    let mut out = String::from("[");
    for write in written {
        let Some(value) = write.to_json_text(vars) else { continue };
        if out.len() > 1 {
            out.push(',');
        }
        let how = match write {
            Written::Set(_) => "set",
            Written::Appended { .. } => "append",
        };
        let path = Value::String(write.path().to_string());
        out.push_str(&format!("{{\"path\":{path},\"{how}\":{value}}}"));
    }
    out.push(']');
    out
}

/// Applies journaled writes (as [`writes_json`] wrote them) to `vars`.
fn replay_writes(vars: &Vars, writes: &str) -> Result<(), String> {
    let writes: Vec<Value> =
        serde_json::from_str(writes).map_err(|e| format!("its writes are not JSON: {e}"))?;
    for write in writes {
        let path = write.get("path").and_then(Value::as_str).unwrap_or_default();
        let path = VarPath::parse(path)?;
        let done = if let Some(value) = write.get("set") {
            vars.set_unlimited(&path, json_to_dynamic(value))
        } else if let Some(Value::Array(items)) = write.get("append") {
            vars.append(&path, items.iter().map(json_to_dynamic).collect())
        } else {
            return Err(format!("a write of `{path}` has no value"));
        };
        done.map_err(|e| format!("writing `{path}` again: {e}"))?;
    }
    Ok(())
}

/// Now, in milliseconds since the epoch.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn to_map(object: serde_json::Map<String, Value>) -> Map {
    object.into_iter().map(|(k, v)| (k.into(), json_to_dynamic(&v))).collect()
}
