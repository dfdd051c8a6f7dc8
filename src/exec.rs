//! The executor: walks a [`Flow`]'s petgraph from `start`, one node at a time, following the
//! exit each node takes, until a node ends the run, an exit is unwired, the step limit is
//! passed, the deadline comes or the run is cancelled.

use crate::flow::{Flow, FlowNode};
use crate::result::RunResult;
use crate::trace::{Event, Scrubbing, TraceSink, redact};
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use rhai::{Dynamic, Map};
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;
use weft_nodes::expr::{Clock, ExprEngine, ExprScope, dynamic_to_json, json_to_dynamic};
use weft_nodes::node::{NodeState, RunParts};
use weft_nodes::services::HttpEvent;
use weft_nodes::{Interrupt, NodeError, Outcome, RunCx, Services, Stop, VarPath, Vars};

/// The default step limit.
pub const DEFAULT_MAX_STEPS: u64 = 10_000;

/// What a run needs besides the flow: the services shared by every run in the process.
#[derive(Clone)]
pub struct Runtime {
    engine: Arc<ExprEngine>,
    services: Services,
}

impl Runtime {
    /// A runtime with the given expression engine and no services.
    pub fn new(engine: Arc<ExprEngine>) -> Self {
        Self { engine, services: Services::default() }
    }

    /// Adds the services nodes use (credentials, HTTP).
    pub fn with_services(mut self, services: Services) -> Self {
        self.services = services;
        self
    }

    /// The expression engine.
    pub fn engine(&self) -> &Arc<ExprEngine> {
        &self.engine
    }

    /// Removes every secret the credentials know from a node's error: its message may quote
    /// what a server sent back.
    fn scrub(&self, err: &mut NodeError) {
        let Some(credentials) = &self.services.credentials else { return };
        let scrubber = credentials.scrubber();
        if let Cow::Owned(message) = scrubber.scrub(&err.message) {
            err.message = message;
        }
        if let Some(code) = &mut err.code
            && let Cow::Owned(clean) = scrubber.scrub(code)
        {
            *code = clean;
        }
    }

    /// `sink`, scrubbed of every secret the credentials know.
    fn scrubbing(&self, sink: Arc<dyn TraceSink>) -> Arc<dyn TraceSink> {
        match &self.services.credentials {
            Some(credentials) => Arc::new(Scrubbing::new(sink, credentials.clone())),
            None => sink,
        }
    }
}

/// How to run a flow once.
pub struct RunOptions {
    /// Parameters, already checked against the flow's declarations.
    pub params: serde_json::Map<String, Value>,
    /// Top-level variables that replace the flow's `variables` (tests).
    pub vars: Option<serde_json::Map<String, Value>>,
    /// The step limit.
    pub max_steps: u64,
    /// The run's clock (`now()` in expressions).
    pub clock: Clock,
    /// Where events go.
    pub trace: Option<Arc<dyn TraceSink>>,
    /// How long the run may take.
    pub timeout: Option<Duration>,
    /// How large `vars` may grow, all variables together (estimated bytes).
    pub max_vars_bytes: usize,
    /// Stops the run from outside (Ctrl-C, a server shutting down); also carries the deadline
    /// of `timeout`, which every evaluation checks, so a busy expression can't outlast it.
    pub interrupt: Interrupt,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            params: serde_json::Map::new(),
            vars: None,
            max_steps: DEFAULT_MAX_STEPS,
            clock: Clock::System,
            trace: None,
            timeout: None,
            max_vars_bytes: weft_nodes::vars::DEFAULT_MAX_BYTES,
            interrupt: Interrupt::new(),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// It reached an `end` node or an unwired non-error exit.
    Succeeded,
    /// A failure ended it (an unwired `error`, an `end` with status failed, the step limit,
    /// the timeout).
    Failed,
    /// It was cancelled (Ctrl-C).
    Interrupted,
}

impl RunStatus {
    /// `succeeded`, `failed` or `interrupted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }
}

/// The end of a run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// How it ended.
    pub status: RunStatus,
    /// The result (`null` when there is none).
    pub result: RunResult,
    /// The error, as `vars.error` holds it, when it failed.
    pub error: Option<Value>,
    /// The node it ended at.
    pub node: Option<String>,
    /// Steps taken.
    pub steps: u64,
    /// The variables at the end.
    pub vars: Vars,
}

/// Where a walk is, kept outside the walk's future so it survives a timeout or cancellation.
struct Walk {
    current: NodeIndex,
    steps: u64,
}

enum Finish {
    Done { status: RunStatus, result: Dynamic },
    Failed(NodeError),
}

/// Runs `flow` once, until it ends, fails, passes its deadline or is cancelled through
/// `options.interrupt`.
pub async fn run(flow: &Flow, runtime: &Runtime, options: RunOptions) -> RunReport {
    let run_id = new_run_id();
    let started = Instant::now();
    let trace = options.trace.clone().map(|sink| runtime.scrubbing(sink));
    if let Some(trace) = &trace {
        let mut params = Value::Object(options.params.clone());
        redact(&mut params);
        trace.record(&run_id, Event::RunStarted { flow: flow.name.clone(), params });
    }
    let mut variables = flow.seed.clone();
    if let Some(given) = options.vars {
        variables.extend(to_map(given));
    }
    let vars = Vars::with_limit(variables, options.max_vars_bytes);
    let params = Dynamic::from_map(to_map(options.params)).into_shared();
    let interrupt = options.interrupt;
    if let Some(limit) = options.timeout {
        interrupt.limit_to(limit);
    }
    let mut scope = ExprScope::new(params, vars.handle());
    scope.set_clock(options.clock);
    scope.set_interrupt(interrupt.clone());
    let mut walk = Walk { current: flow.start_index(), steps: 0 };
    let walking = walk_flow(
        flow,
        runtime,
        &vars,
        &mut scope,
        &mut walk,
        options.max_steps,
        &run_id,
        trace.as_deref(),
        &interrupt,
    );
    let finish = tokio::select! {
        finish = walking => finish,
        stop = interrupt.stopped() => stopped(stop, &interrupt),
    };
    let node = &flow.graph()[walk.current];
    let (status, result, error) = match finish {
        Finish::Done { status, result } => {
            let error = if status == RunStatus::Failed { vars.get(&error_path()) } else { None };
            (status, result, error)
        }
        Finish::Failed(err) => {
            let error = error_value(node, &err);
            let _ = vars.set_unlimited(&error_path(), error.clone());
            (RunStatus::Failed, Dynamic::UNIT, Some(error))
        }
    };
    let result = RunResult::new(result, &node.id);
    let error = error.and_then(|e| dynamic_to_json(&e).ok());
    if let Some(trace) = &trace {
        trace.record(
            &run_id,
            Event::RunFinished {
                status: status.as_str().into(),
                ms: millis(started),
                steps: walk.steps,
            },
        );
    }
    RunReport { status, result, error, node: Some(node.id.clone()), steps: walk.steps, vars }
}

#[allow(clippy::too_many_arguments)]
async fn walk_flow(
    flow: &Flow,
    runtime: &Runtime,
    vars: &Vars,
    scope: &mut ExprScope,
    walk: &mut Walk,
    max_steps: u64,
    run_id: &str,
    trace: Option<&dyn TraceSink>,
    interrupt: &Interrupt,
) -> Finish {
    let graph = flow.graph();
    let mut states: Vec<NodeState> =
        std::iter::repeat_with(|| None).take(graph.node_count()).collect();
    let mut previous: Option<NodeIndex> = None;
    let mut writes = Vec::new();
    loop {
        let ix = walk.current;
        let node = &graph[ix];
        if walk.steps >= max_steps {
            return Finish::Failed(NodeError::new(
                "limit",
                format!(
                    "the run passed its step limit of {max_steps} steps (raise it with --max-steps)"
                ),
            ));
        }
        if let Some(stop) = interrupt.stop() {
            return stopped(stop, interrupt);
        }
        walk.steps += 1;
        // Long chains of nodes that never wait must still let a timeout or Ctrl-C in.
        tokio::task::consume_budget().await;
        let arrived_from_body = match (&node.loop_body, previous) {
            (Some(body), Some(p)) => body.binary_search(&p).is_ok(),
            _ => false,
        };
        let started = trace.map(|trace| {
            trace.record(
                run_id,
                Event::NodeStarted {
                    node: node.id.clone(),
                    kind: node.kind.into(),
                    step: walk.steps,
                },
            );
            trace.before_node(run_id, &node.id, vars);
            Instant::now()
        });
        let wired = |exit: &str| graph.edges(ix).any(|e| e.weight() == exit);
        let on_http = trace.map(|trace| {
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
                    },
                )
            }
        });
        let span = tracing::debug_span!("node", id = %node.id, kind = node.kind, step = walk.steps);
        let outcome = {
            let mut cx = RunCx::new(RunParts {
                reads: &flow.reads,
                node: &node.id,
                engine: runtime.engine(),
                scope: &mut *scope,
                vars,
                state: &mut states[ix.index()],
                arrived_from_body,
                wired: &wired,
                writes: started.is_some().then_some(&mut writes),
                services: &runtime.services,
                on_http: on_http.as_ref().map(|f| f as &(dyn Fn(HttpEvent) + Send + Sync)),
            });
            node.node.run(&mut cx).instrument(span).await
        };
        // A node that was computing when the run was stopped ends early with an error of no
        // interest: the run ends here, as it would have had the node been waiting.
        if let Some(stop) = interrupt.stop() {
            writes.clear();
            return stopped(stop, interrupt);
        }
        let (exit, error) = match outcome {
            Ok(Outcome::Exit(exit)) => (Some(exit), None),
            Ok(Outcome::End { result, failed }) => {
                finished(trace, run_id, node, started, None, None, &mut writes);
                let status = if failed { RunStatus::Failed } else { RunStatus::Succeeded };
                return Finish::Done { status, result };
            }
            Err(mut err) => {
                err.exit = err.exit_at(&*node.node);
                runtime.scrub(&mut err);
                tracing::debug!(node = %node.id, category = %err.category, "node failed: {}", err.message);
                let error = error_value(node, &err);
                let _ = vars.set_unlimited(&error_path(), error.clone());
                (Some(err.exit.into()), Some((err, error)))
            }
        };
        let exit = exit.unwrap_or_default();
        finished(
            trace,
            run_id,
            node,
            started,
            Some(&exit),
            error.as_ref().map(|(_, e)| e),
            &mut writes,
        );
        match graph.edges(ix).find(|e| *e.weight() == *exit) {
            Some(edge) => {
                previous = Some(ix);
                walk.current = edge.target();
            }
            None => {
                return match error {
                    Some((err, _)) => Finish::Failed(err),
                    None => Finish::Done { status: RunStatus::Succeeded, result: Dynamic::UNIT },
                };
            }
        }
    }
}

fn finished(
    trace: Option<&dyn TraceSink>,
    run_id: &str,
    node: &FlowNode,
    started: Option<Instant>,
    exit: Option<&str>,
    error: Option<&Dynamic>,
    writes: &mut Vec<(VarPath, Dynamic)>,
) {
    let (Some(trace), Some(started)) = (trace, started) else {
        return;
    };
    let mut written = serde_json::Map::new();
    for (path, value) in writes.drain(..) {
        written.insert(path.to_string(), dynamic_to_json(&value).unwrap_or(Value::Null));
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
            ms: millis(started),
            error: error.and_then(|e| dynamic_to_json(e).ok()),
            writes,
        },
    );
}

/// How a run that was stopped from outside ends.
fn stopped(stop: Stop, interrupt: &Interrupt) -> Finish {
    match stop {
        Stop::Cancelled => Finish::Done { status: RunStatus::Interrupted, result: Dynamic::UNIT },
        Stop::TimedOut => Finish::Failed(NodeError::new(
            "timeout",
            format!(
                "the run timed out after {}",
                human_duration(interrupt.limit().unwrap_or_default())
            ),
        )),
    }
}

fn error_path() -> VarPath {
    VarPath::parse("error").unwrap_or_else(|_| unreachable!("`error` is a valid path"))
}

/// `vars.error` for a failure at `node`.
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
    Dynamic::from_map(map)
}

fn to_map(object: serde_json::Map<String, Value>) -> Map {
    object.into_iter().map(|(k, v)| (k.into(), json_to_dynamic(&v))).collect()
}

fn millis(since: Instant) -> u64 {
    since.elapsed().as_millis().try_into().unwrap_or(u64::MAX)
}

fn human_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.3} s", d.as_secs_f64())
    }
}

fn new_run_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let noise = RandomState::new().hash_one(nanos);
    format!("{:016x}", noise)
}
