//! The run-time half of the node contract: a built node runs in a [`RunCx`] and returns an
//! [`Outcome`] (the exit it takes) or a [`NodeError`] (it takes its `error` exit).

pub use crate::error::NodeError;
use crate::expr::{EvalError, Expr, ExprEngine, ExprScope, Template, VarReads};
use crate::services::{HttpEvent, Services};
use crate::vars::{JsonText, VarPath, Vars, VarsError, Written};
use rhai::{Array, Dynamic};
use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

/// The future a node's run returns.
pub type NodeFuture<'a> = Pin<Box<dyn Future<Output = Result<Outcome, NodeError>> + Send + 'a>>;

/// A built node, ready to run any number of times, in any number of runs at once.
pub trait Node: Send + Sync + 'static {
    /// The exits this node declares besides `error` (e.g. `ok`; a decision's own exits).
    fn exits(&self) -> Vec<String>;

    /// Whether an edge may leave this node through `exit`; by default the declared exits and
    /// `error`. Kinds with open-ended exits (HTTP status exits) widen this.
    fn accepts_exit(&self, exit: &str) -> bool {
        exit == "error" || self.exits().iter().any(|e| e == exit)
    }

    /// Whether this node ends the run (it has no exits at all, not even `error`).
    fn is_terminal(&self) -> bool {
        false
    }

    /// The authorization profiles the node uses (resolved before a run starts).
    fn profiles(&self) -> Vec<&str> {
        Vec::new()
    }

    /// The flows this node calls (the `call` kind), with the parameters it gives each: the
    /// loader loads them with the flow, and checks their parameters.
    fn calls(&self) -> Vec<Call<'_>> {
        Vec::new()
    }

    /// Runs the node once.
    fn run<'a>(&'a self, cx: &'a mut RunCx<'_>) -> NodeFuture<'a>;
}

/// A flow a node calls: its path as the node names it (relative to the calling flow's file),
/// and the parameters the node gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call<'a> {
    /// The child flow's path.
    pub flow: &'a str,
    /// The parameters given.
    pub params: Vec<&'a str>,
}

/// Runs the flows a run's nodes call: given by the engine to each run (the kit knows no
/// executor). Children share the run's services and its interrupt (deadline, cancellation).
pub trait Children: Send + Sync {
    /// Runs one child: its result (the engine's value, handed over without a copy), or why it
    /// failed.
    fn run<'a>(
        &'a self,
        call: ChildCall<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<Dynamic, ChildFailure>> + Send + 'a>>;
}

/// One child run a `call` node asks for.
#[derive(Debug, Clone)]
pub struct ChildCall<'a> {
    /// The calling node's id.
    pub node: &'a str,
    /// The child flow, as the node names it.
    pub flow: &'a str,
    /// With `for_each`, the element's index (a stored child run is known by it).
    pub index: Option<usize>,
    /// Its parameters.
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// Why a child run failed.
#[derive(Debug, Clone)]
pub struct ChildFailure {
    /// Its `vars.error` (or, when it never ran, what stopped it), as JSON.
    pub error: serde_json::Value,
    /// A message for people.
    pub message: String,
}

/// What a node did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Leave through this exit.
    Exit(Cow<'static, str>),
    /// End the run here (the `end` kind).
    End {
        /// The run's result.
        result: Dynamic,
        /// Whether the run failed.
        failed: bool,
    },
}

impl Outcome {
    /// The `ok` exit.
    pub const OK: Outcome = Outcome::Exit(Cow::Borrowed("ok"));
}

impl NodeError {
    /// The exit this failure takes at `node`: its own, when the node has it, else `error` (a
    /// lost user sign-in met by an `http_request`, which has no `unauthenticated` exit).
    #[must_use]
    pub fn exit_at(&self, node: &dyn Node) -> &'static str {
        if node.accepts_exit(self.exit) { self.exit } else { "error" }
    }
}

/// Per-run, per-node state a node keeps between its visits (a loop's position).
///
/// A durable run journals it after each step (as JSON, [`Persist`]) and a resumed run finds it
/// again: the value is rebuilt from what was saved the first time the node asks for it.
#[derive(Default)]
pub struct NodeState {
    value: Option<Box<dyn Persist>>,
    /// What the journal saved, merged, waiting for the node to ask for its state by type.
    saved: Option<serde_json::Map<String, serde_json::Value>>,
}

impl NodeState {
    /// What changed in the state since it was last saved, as a JSON object whose members
    /// replace the saved ones; `None` when the node keeps no state.
    pub fn save(&mut self) -> Option<serde_json::Map<String, serde_json::Value>> {
        self.value.as_mut().map(|value| value.save())
    }

    /// Merges what a journal saved (in the order it was saved) into the state to restore.
    pub fn restore(&mut self, saved: serde_json::Map<String, serde_json::Value>) {
        self.value = None;
        self.saved.get_or_insert_with(serde_json::Map::new).extend(saved);
    }
}

/// Node state a journal can keep: saved as JSON after each step, restored when a run resumes.
pub trait Persist: Any + Send {
    /// The state, or what changed in it since the last call: members of the object replace
    /// the members saved before (a loop saves its list once, then only its position).
    fn save(&mut self) -> serde_json::Map<String, serde_json::Value>;
    /// The state from what [`Persist::save`] gave, merged; `None` when it does not fit.
    fn restore(saved: serde_json::Map<String, serde_json::Value>) -> Option<Self>
    where
        Self: Sized;
}

impl Persist for i64 {
    fn save(&mut self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::from_iter([("value".to_owned(), (*self).into())])
    }

    fn restore(saved: serde_json::Map<String, serde_json::Value>) -> Option<Self> {
        saved.get("value")?.as_i64()
    }
}

/// Everything a node sees while it runs: the run's data and the means to change it.
pub struct RunCx<'r> {
    node: &'r str,
    engine: &'r ExprEngine,
    scope: &'r mut ExprScope,
    vars: &'r Vars,
    reads: &'r VarReads,
    state: &'r mut NodeState,
    arrived_from_body: bool,
    wired: &'r (dyn Fn(&str) -> bool + Send + Sync),
    writes: &'r mut Vec<Written>,
    observed: bool,
    services: &'r Services,
    on_http: Option<&'r (dyn Fn(HttpEvent) + Send + Sync)>,
    children: Option<&'r dyn Children>,
}

/// The parts of a [`RunCx`], for whoever runs nodes (the executor, a test harness).
pub struct RunParts<'r> {
    /// The node's id.
    pub node: &'r str,
    /// The process's expression engine.
    pub engine: &'r ExprEngine,
    /// The run's expression scope (holds `params` and `vars`).
    pub scope: &'r mut ExprScope,
    /// The run's variables.
    pub vars: &'r Vars,
    /// What the flow's expressions can read of `vars`: values outside it may wait in a cheaper
    /// form (see [`RunCx::keeps_text`]).
    pub reads: &'r VarReads,
    /// This node's state in this run.
    pub state: &'r mut NodeState,
    /// Whether the node was reached from inside its own loop body.
    pub arrived_from_body: bool,
    /// Whether the flow wires a given exit of this node.
    pub wired: &'r (dyn Fn(&str) -> bool + Send + Sync),
    /// Where the node's writes are recorded (by path: the values are in `vars` afterwards).
    pub writes: &'r mut Vec<Written>,
    /// Whether someone reads the values the node writes (a trace): then no response body may
    /// wait in `vars` as text (see [`RunCx::keeps_text`]).
    pub observed: bool,
    /// The process's services.
    pub services: &'r Services,
    /// Receives the node's HTTP exchanges, when someone wants them (a trace).
    pub on_http: Option<&'r (dyn Fn(HttpEvent) + Send + Sync)>,
    /// Runs the flows the run's nodes call.
    pub children: Option<&'r dyn Children>,
}

impl<'r> RunCx<'r> {
    /// Assembles a context.
    pub fn new(parts: RunParts<'r>) -> Self {
        let RunParts {
            node,
            engine,
            scope,
            vars,
            reads,
            state,
            arrived_from_body,
            wired,
            writes,
            observed,
            services,
            on_http,
            children,
        } = parts;
        Self {
            node,
            engine,
            scope,
            vars,
            reads,
            state,
            arrived_from_body,
            wired,
            writes,
            observed,
            services,
            on_http,
            children,
        }
    }

    /// The running node's id.
    pub fn node_id(&self) -> &str {
        self.node
    }

    /// Evaluates an expression with `params` and `vars` in scope.
    pub fn eval(&mut self, expr: &Expr) -> Result<Dynamic, EvalError> {
        self.vars.prepare(expr.reads());
        self.engine.eval(expr, self.scope)
    }

    /// Evaluates an expression with extra variables in scope (`item`, `response`, …).
    pub fn eval_with(
        &mut self,
        expr: &Expr,
        extra: impl IntoIterator<Item = (&'static str, Dynamic)>,
    ) -> Result<Dynamic, EvalError> {
        self.vars.prepare(expr.reads());
        self.engine.eval_with(expr, self.scope, extra)
    }

    /// Renders a template (a lone hole keeps its value's type).
    pub fn render(&mut self, template: &Template) -> Result<Dynamic, EvalError> {
        self.vars.prepare(template.reads());
        self.engine.render(template, self.scope)
    }

    /// Renders a template to a string.
    pub fn render_string(&mut self, template: &Template) -> Result<String, EvalError> {
        self.vars.prepare(template.reads());
        self.engine.render_string(template, self.scope)
    }

    /// The run's variables, for reading.
    pub fn vars(&self) -> &Vars {
        self.vars
    }

    /// Writes a variable.
    pub fn write(&mut self, path: &VarPath, value: Dynamic) -> Result<(), VarsError> {
        self.vars.set(path, value)?;
        self.writes.push(Written::Set(path.clone()));
        Ok(())
    }

    /// Writes a variable and returns the old value (unit when unset), for [`RunCx::restore`].
    pub fn replace(&mut self, path: &VarPath, value: Dynamic) -> Result<Dynamic, VarsError> {
        let old = self.vars.replace(path, value)?;
        self.writes.push(Written::Set(path.clone()));
        Ok(old)
    }

    /// Whether a value written at `path` now may wait as JSON text until something reads it:
    /// no expression of the flow can read it (a JSON Import reads it from the text) and no one
    /// reads the node's writes as values (a trace). See [`Vars::set_json_text`].
    pub fn keeps_text(&self, path: &VarPath) -> bool {
        !self.observed && !self.reads.touches(path.segments())
    }

    /// Writes JSON text at `path`, parsed only when something reads it; for values that
    /// [`RunCx::keeps_text`] allows.
    pub fn write_json_text(&mut self, path: &VarPath, text: JsonText) -> Result<(), VarsError> {
        self.vars.set_json_text(path, text)?;
        self.writes.push(Written::Set(path.clone()));
        Ok(())
    }

    /// Appends to a list variable (created when unset).
    pub fn append(&mut self, path: &VarPath, items: Array) -> Result<(), VarsError> {
        let count = items.len();
        self.vars.append(path, items)?;
        self.writes.push(Written::Appended { path: path.clone(), count });
        Ok(())
    }

    /// Restores a variable to `old` (unit: removes it), undoing a [`RunCx::replace`].
    pub fn restore(&mut self, path: &VarPath, old: Dynamic) {
        self.writes.retain(|w| w.path() != path);
        if old.is_unit() {
            let _ = self.vars.remove(path);
        } else {
            // Restoring a value that was there before can't hit a non-object parent.
            let _ = self.vars.set(path, old);
        }
    }

    /// This node's state in this run: restored from the journal of a resumed run, else created
    /// with `T::default()` on first use or when it holds another type.
    pub fn state<T: Persist + Default>(&mut self) -> &mut T {
        let state = &mut *self.state;
        let fits = state.value.as_deref().is_some_and(|v| (v as &dyn Any).is::<T>());
        if !fits {
            let restored = state.saved.take().and_then(T::restore).unwrap_or_default();
            state.value = Some(Box::new(restored));
        }
        match state.value.as_deref_mut().and_then(|v| (v as &mut dyn Any).downcast_mut::<T>()) {
            Some(state) => state,
            None => unreachable!("state was just set to a T"),
        }
    }

    /// Whether the node was reached from inside its own loop body (see the `loop` kind).
    pub fn arrived_from_body(&self) -> bool {
        self.arrived_from_body
    }

    /// The process's services (credentials, HTTP).
    pub fn services(&self) -> &'r Services {
        self.services
    }

    /// What runs the flows this run's nodes call; a node that calls none never asks.
    pub fn children(&self) -> Option<&'r dyn Children> {
        self.children
    }

    /// Reports an HTTP exchange to the run's trace; `event` is only built when there is one.
    pub fn record_http(&self, event: impl FnOnce() -> HttpEvent) {
        if let Some(on_http) = self.on_http {
            on_http(event());
        }
    }

    /// Whether the flow wires `exit` of this node.
    pub fn is_wired(&self, exit: &str) -> bool {
        (self.wired)(exit)
    }
}
