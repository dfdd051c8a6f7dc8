//! The executor: walks a [`Flow`]'s petgraph from `start`, one node at a time, following the
//! exit each node takes, until a node ends the run, an exit is unwired, the step limit is
//! passed, the deadline comes or the run is cancelled.
//!
//! A step — run one node, record its writes, build `vars.error` when it fails, pick the edge —
//! is the job of `step.rs`, which the node harness uses too; this module walks from step to step and
//! turns how the walk ended into a [`RunReport`].

mod children;
mod journal;
mod step;

pub(crate) use children::ChildRuns;
pub use journal::{ChildRun, Journal, JournalError, Resume};
pub(crate) use step::{RunState, Start, Stepped, error_path};

use crate::flow::Flow;
use crate::result::RunResult;
use crate::trace::{Event, Scrubbing, TraceSink, redact};
use petgraph::graph::NodeIndex;
use rhai::Dynamic;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft_nodes::expr::{Clock, ExprEngine, dynamic_to_json};
use weft_nodes::{Interrupt, NodeError, Services, Stop, Vars};

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
    /// The run's id (default: a new UUIDv7), as its trace and its store know it.
    pub run_id: Option<String>,
    /// Where each finished node is journaled, before the next one starts (a durable run).
    pub journal: Option<Arc<dyn Journal>>,
    /// Where the run goes on from, when it resumes a journal.
    pub resume: Option<Resume>,
    /// The run and node that called this one (a child run of the `call` kind).
    pub parent: Option<crate::trace::Parent>,
    /// Children answered without running (tests): by the flow a `call` node names, its result,
    /// or (`Err`) the child's `vars.error`.
    pub stood_in: Option<Arc<StoodIn>>,
}

/// Child flows answered without running, by the path a `call` node names.
pub type StoodIn = std::collections::HashMap<String, Result<Value, Value>>;

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
            run_id: None,
            journal: None,
            resume: None,
            parent: None,
            stood_in: None,
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
    /// The run's id.
    pub id: String,
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

enum Finish {
    Done { status: RunStatus, result: Dynamic },
    Failed(NodeError),
}

/// Runs `flow` once, until it ends, fails, passes its deadline or is cancelled through
/// `options.interrupt`. With a journal, each finished node is journaled before the next
/// starts; a journal that refuses a step (another process took the run over) stops the run as
/// interrupted.
pub async fn run(flow: &Flow, runtime: &Runtime, options: RunOptions) -> RunReport {
    let run_id = options.run_id.unwrap_or_else(crate::store::new_run_id);
    let started = Instant::now();
    let journal =
        options.journal.map(|journal| (journal, Arc::new(journal::StepEvents::default())));
    // Children report to the parent's sink, not to its journal: each journals its own steps.
    let children_trace = options.trace.clone();
    let trace = match (options.trace, &journal) {
        (Some(sink), Some((_, events))) => {
            Some(Arc::new(crate::trace::Tee(vec![sink, events.clone()])) as Arc<dyn TraceSink>)
        }
        (None, Some((_, events))) => Some(events.clone() as Arc<dyn TraceSink>),
        (sink, None) => sink,
    };
    let trace = trace.map(|sink| runtime.scrubbing(sink));
    if let Some(trace) = &trace {
        let mut params = Value::Object(options.params.clone());
        redact(&mut params);
        let parent = options.parent.clone();
        trace.record(&run_id, Event::RunStarted { flow: flow.name.clone(), params, parent });
    }
    let interrupt = options.interrupt;
    if let Some(limit) = options.timeout {
        interrupt.limit_to(limit);
    }
    // Only a flow with `call` nodes runs children: the others pay nothing for them.
    let children = (!flow.children.is_empty()).then(|| children::ChildRuns {
        flow,
        runtime,
        max_steps: options.max_steps,
        max_vars_bytes: options.max_vars_bytes,
        clock: options.clock,
        interrupt: interrupt.clone(),
        trace: children_trace,
        run_id: run_id.clone(),
        stood_in: options.stood_in.clone(),
        journal: journal.as_ref().map(|(journal, _)| journal.clone()),
    });
    let start = Start {
        params: options.params,
        vars: options.vars,
        clock: options.clock,
        interrupt: interrupt.clone(),
        max_vars_bytes: options.max_vars_bytes,
    };
    let mut state =
        RunState::new(flow, runtime, start, trace.as_deref().map(|t| (t, run_id.as_str())));
    if let Some((_, events)) = &journal {
        state.journal_into(events.clone());
    }
    if let Some(children) = &children {
        state.calling(children);
    }
    // Where the walk is, kept outside its future so that it survives a timeout or cancellation.
    let mut current = flow.start_index();
    let resumed = match options.resume {
        Some(resume) => state.resume(&resume),
        None => Ok(journal::Resumed::At(current)),
    };
    let finish = match resumed {
        Ok(journal::Resumed::At(at)) => {
            current = at;
            let journal = journal.as_ref().map(|(j, _)| &**j);
            let walking = walk(&mut state, &mut current, options.max_steps, &interrupt, journal);
            tokio::select! {
                finish = walking => finish,
                stop = interrupt.stopped() => stopped(stop, &interrupt),
            }
        }
        Ok(journal::Resumed::Ended { at, failure }) => {
            current = at;
            match failure {
                Some(err) => Finish::Failed(err),
                None => Finish::Done { status: RunStatus::Succeeded, result: Dynamic::UNIT },
            }
        }
        Err(err) => Finish::Failed(err),
    };
    let node = &flow.graph()[current];
    let (status, result, error) = match finish {
        Finish::Done { status, result } => {
            let failed = status == RunStatus::Failed;
            let error = if failed { state.vars().get(&step::error_path()) } else { None };
            (status, result, error)
        }
        Finish::Failed(err) => {
            (RunStatus::Failed, Dynamic::UNIT, Some(state.fail_at(current, &err)))
        }
    };
    let result = RunResult::new(result, &node.id);
    let error = error.and_then(|e| dynamic_to_json(&e).ok());
    let steps = state.steps;
    if let Some(trace) = &trace {
        let status = status.as_str().into();
        trace.record(&run_id, Event::RunFinished { status, ms: millis(started), steps });
    }
    let node = Some(node.id.clone());
    let vars = state.into_vars();
    RunReport { id: run_id, status, result, error, node, steps, vars }
}

/// Steps from `current` until the run ends, journaling each finished node when there is a
/// journal.
async fn walk(
    state: &mut RunState<'_>,
    current: &mut NodeIndex,
    max_steps: u64,
    interrupt: &Interrupt,
    journal: Option<&dyn Journal>,
) -> Finish {
    loop {
        if state.steps >= max_steps {
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
        // Long chains of nodes that never wait must still let a timeout or Ctrl-C in.
        tokio::task::consume_budget().await;
        let stepped = state.step(*current).await;
        if let (Some(journal), Some(entry)) = (journal, state.take_entry())
            && journal.record(entry).await.is_err()
        {
            // Another process holds the run now: it goes on from the journal, not this one.
            interrupt.cancel();
            return Finish::Done { status: RunStatus::Interrupted, result: Dynamic::UNIT };
        }
        match stepped {
            Stepped::Exit { next: Some(next), .. } => *current = next,
            Stepped::Exit { next: None, failure: Some(err), .. } => return Finish::Failed(err),
            Stepped::Exit { next: None, failure: None, .. } => {
                return Finish::Done { status: RunStatus::Succeeded, result: Dynamic::UNIT };
            }
            Stepped::End { status, result } => return Finish::Done { status, result },
            Stepped::Stopped(stop) => return stopped(stop, interrupt),
        }
    }
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
