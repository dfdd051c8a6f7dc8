//! Running one node of a flow (or the whole flow) with given data, canned HTTP and stand-in
//! credentials, and checking the outcome against expectations.

use super::creds::StandInCredentials;
use super::file::{Canned, Expect, ExpectedRequest};
use super::http::{CannedHttp, SentRequest};
use super::matching::{Mismatch, compare, show};
use crate::Engine;
use crate::exec::{self, RunOptions, RunState, RunStatus, Runtime, Start, Stepped};
use crate::flow::{Flow, Loader};
use crate::params::{self, ParamError, Required};
use crate::simulated::{SimTarget, is_simulated_host};
use chrono::{DateTime, Utc};
use rhai::Dynamic;
use serde_json::{Map, Value, json};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use weft_nodes::expr::{Clock, ExprEngine, dynamic_to_json};
use weft_nodes::services::Http;
use weft_nodes::{Credentials, Interrupt, NodeError, Registry, Stop, Vars, clip};

/// How long a case may run before it fails.
pub const DEFAULT_CASE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a test could not be run at all (a problem of the test, not a verdict).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HarnessError {
    /// The flow does not load; the diagnostics, one per line.
    #[error("the flow does not load:\n{0}")]
    Flow(String),
    /// The node is not in the flow.
    #[error("there is no node `{}` in the flow", clip(.0))]
    UnknownNode(String),
    /// A parameter is undeclared, of the wrong type, or missing.
    #[error("{0}")]
    Params(String),
    /// `now` is not an RFC 3339 instant.
    #[error("`{}` is not an RFC 3339 instant (e.g. 2026-11-23T09:00:00Z)", clip(.0))]
    Now(String),
    /// The profiles file can't be read or a profile can't be resolved.
    #[error("{0}")]
    Profiles(String),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(String),
    /// A case is to run against the simulator but the flow's profiles have no file to come
    /// from.
    #[error(
        "the flow signs in with {} and runs against the simulator, which needs a profiles file: `profiles.json` beside the flow, or the test file's `profiles`",
        weft_nodes::clip::list(.0.iter().map(|n| format!("`{n}`")))
    )]
    SimNeedsProfiles(Vec<String>),
}

/// Loads flows and starts tests; holds the node kinds, the expression engine and, optionally,
/// the simulator that answers cases with no canned HTTP.
#[derive(Clone)]
pub struct Harness {
    loader: Loader,
    sim: Option<Simulated>,
}

/// The simulator tests may run against, and the client that reaches it.
#[derive(Clone)]
struct Simulated {
    target: SimTarget,
    http: Arc<dyn Http>,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// A harness for the built-in node kinds.
    pub fn new() -> Self {
        Self { loader: Loader::builtin(), sim: None }
    }

    /// A harness for the kinds of `registry` (e.g. the built-ins plus your own).
    pub fn with_registry(registry: Registry) -> Self {
        Self { loader: Loader::new(Arc::new(registry), Arc::new(ExprEngine::new())), sim: None }
    }

    /// Runs the whole-flow tests that have no canned HTTP against the simulator at `target`
    /// (`weft test --sim`): their requests for Microsoft's sign-in and Graph hosts go to it,
    /// and its apps stand in for the `oauth2` profiles of the profiles file they are given,
    /// with which they really sign in. Node tests and tests with canned HTTP run as they would
    /// without it.
    /// `http` is the client that reaches it (a real one: the simulator is a server on
    /// loopback).
    pub fn simulator(mut self, target: SimTarget, http: Arc<dyn Http>) -> Self {
        self.sim = Some(Simulated { target, http });
        self
    }

    /// Whether tests with no canned HTTP run against a simulator.
    pub fn is_simulated(&self) -> bool {
        self.sim.is_some()
    }

    /// The loader flows are loaded with.
    pub fn loader(&self) -> &Loader {
        &self.loader
    }

    /// Loads a flow file.
    pub fn load_flow(&self, path: &Path) -> Result<Flow, HarnessError> {
        loaded(self.loader.load_path(path))
    }

    /// Loads a flow file read by the caller (`path` names it in messages).
    pub fn load_flow_bytes(&self, bytes: &[u8], path: &Path) -> Result<Flow, HarnessError> {
        loaded(self.loader.load_file(bytes, path))
    }

    /// Loads a flow from its JSON (`weft.flow/1`).
    pub fn flow_from_json(&self, flow: &Value) -> Result<Flow, HarnessError> {
        let text = serde_json::to_vec(flow).unwrap_or_default();
        loaded(self.loader.load_bytes(&text, "test"))
    }

    /// A flow of just `node` (a node object as a flow file holds it, `id` and `type` included),
    /// for testing a node built in code. Its exits are unwired.
    pub fn single_node(&self, node: Value) -> Result<Flow, HarnessError> {
        let id = node.get("id").and_then(Value::as_str).unwrap_or("node").to_owned();
        let mut node = node;
        if let Value::Object(object) = &mut node {
            object.entry("id").or_insert_with(|| Value::String(id.clone()));
        }
        self.flow_from_json(&json!({
            "format": crate::flow::wire::FORMAT, "name": id, "start": id, "nodes": [node],
        }))
    }

    /// A test of node `id` of `flow`, run alone: it stops at the exit the node takes.
    pub fn node<'f>(&self, flow: &'f Flow, id: &str) -> NodeTest<'f> {
        NodeTest::new(self, flow, Some(id.to_owned()))
    }

    /// A test of the whole flow, from `start`.
    pub fn flow<'f>(&self, flow: &'f Flow) -> NodeTest<'f> {
        NodeTest::new(self, flow, None)
    }
}

fn loaded(loaded: crate::flow::Loaded) -> Result<Flow, HarnessError> {
    match loaded.flow {
        Some(flow) => Ok(flow),
        None => Err(HarnessError::Flow(
            loaded
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| {
                    let at = if d.pointer.is_empty() { "/" } else { d.pointer.as_str() };
                    format!("  {at}: {}", d.message)
                })
                .collect::<Vec<_>>()
                .join("\n"),
        )),
    }
}

/// Where credentials come from.
enum Creds {
    StandIn,
    Profiles(PathBuf),
    Custom(Arc<dyn Credentials>),
}

/// One run to make: the node (or whole flow) and what it starts with. Build it with
/// [`Harness::node`] or [`Harness::flow`], then [`NodeTest::run`].
pub struct NodeTest<'f> {
    loader: Loader,
    flow: &'f Flow,
    node: Option<String>,
    vars: Map<String, Value>,
    params: Map<String, Value>,
    now: Option<DateTime<Utc>>,
    http: Vec<Canned>,
    stood_in: crate::exec::StoodIn,
    creds: Creds,
    timeout: Duration,
    sim: Option<Simulated>,
}

impl<'f> NodeTest<'f> {
    fn new(harness: &Harness, flow: &'f Flow, node: Option<String>) -> Self {
        Self {
            loader: harness.loader.clone(),
            sim: harness.sim.clone(),
            flow,
            node,
            vars: Map::new(),
            params: Map::new(),
            now: None,
            http: Vec::new(),
            stood_in: crate::exec::StoodIn::new(),
            creds: Creds::StandIn,
            timeout: DEFAULT_CASE_TIMEOUT,
        }
    }

    /// Variables to start with: each top-level key replaces the flow's `variables` entry.
    /// Anything but a JSON object is ignored.
    pub fn vars(mut self, vars: Value) -> Self {
        if let Value::Object(vars) = vars {
            self.vars.extend(vars);
        }
        self
    }

    /// Parameters, over the flow's defaults. Anything but a JSON object is ignored.
    pub fn params(mut self, params: Value) -> Self {
        if let Value::Object(params) = params {
            self.params.extend(params);
        }
        self
    }

    /// The instant `now()` returns.
    pub fn now(mut self, now: DateTime<Utc>) -> Self {
        self.now = Some(now);
        self
    }

    /// Adds a canned exchange (entries answer in the order they were added).
    pub fn respond(mut self, canned: Canned) -> Self {
        self.http.push(canned);
        self
    }

    /// Adds canned exchanges.
    pub fn http(mut self, canned: impl IntoIterator<Item = Canned>) -> Self {
        self.http.extend(canned);
        self
    }

    /// Stands in the child flow `flow` (as a `call` node names it): every call of it gives
    /// `outcome` (its result, or `Err` with its `vars.error`) without running it.
    pub fn child(mut self, flow: &str, outcome: Result<Value, Value>) -> Self {
        self.stood_in.insert(flow.to_owned(), outcome);
        self
    }

    /// Uses the real profiles of `path` (their token requests answered by the canned HTTP)
    /// instead of the stand-in test tokens.
    pub fn profiles(mut self, path: impl Into<PathBuf>) -> Self {
        self.creds = Creds::Profiles(path.into());
        self
    }

    /// Uses these credentials instead of the stand-in test tokens.
    pub fn credentials(mut self, credentials: Arc<dyn Credentials>) -> Self {
        self.creds = Creds::Custom(credentials);
        self
    }

    /// How long the run may take (default one minute).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs on a fresh single-threaded runtime (for `#[test]` functions that are not async).
    pub fn run_blocking(self) -> Result<TestRun, HarnessError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| HarnessError::Runtime(e.to_string()))?;
        runtime.block_on(self.run())
    }

    /// Runs the node (or the flow) and reports what happened.
    pub async fn run(self) -> Result<TestRun, HarnessError> {
        let flow = self.flow;
        let ix = match &self.node {
            Some(id) => {
                Some(*flow.by_id.get(id).ok_or_else(|| HarnessError::UnknownNode(id.clone()))?)
            }
            None => None,
        };
        let params = resolve_params(flow, &self.params, ix.is_none())?;
        let clock = self.now.map_or(Clock::System, Clock::Fixed);
        // Only a whole-flow test with nothing canned goes to the simulator: a node test checks
        // its node alone, and a suite runs the same with and without a simulator but for the
        // tests that would otherwise fail on their first request.
        let sim = self.sim.filter(|_| self.http.is_empty() && self.node.is_none());
        let names = flow.profiles();
        if sim.is_some() && matches!(self.creds, Creds::StandIn) && !names.is_empty() {
            return Err(HarnessError::SimNeedsProfiles(names));
        }
        let stand_in = !matches!(self.creds, Creds::Profiles(_));
        let mut canned = CannedHttp::new(self.http, stand_in);
        if let Some(sim) = &sim {
            canned = canned.or_simulator(sim.target.clone(), sim.http.clone());
        }
        let http = Arc::new(canned);
        // Real profiles sign in through the canned HTTP, keeping what they keep in a private
        // directory of this run's own.
        let state = matches!(self.creds, Creds::Profiles(_)).then(temp_state_dir).transpose()?;
        let mut engine = Engine::builder().loader(self.loader.clone()).http(http.clone());
        if let Some(state) = &state {
            engine = engine.state_dir(state.path());
        }
        let engine = engine.build().map_err(|e| HarnessError::Profiles(e.to_string()))?;
        let credentials: Arc<dyn Credentials> = match self.creds {
            Creds::StandIn => Arc::new(StandInCredentials::new(self.now.unwrap_or_else(Utc::now))),
            Creds::Custom(credentials) => credentials,
            Creds::Profiles(path) => {
                let mut profiles = crate::auth::Profiles::load(&path)
                    .map_err(|e| HarnessError::Profiles(e.to_string()))?;
                if let Some(sim) = &sim {
                    sim.target.stand_in(&mut profiles);
                }
                match engine.credentials_of(&profiles, &names) {
                    Ok(Some(manager)) => manager,
                    Ok(None) => {
                        Arc::new(StandInCredentials::new(self.now.unwrap_or_else(Utc::now)))
                    }
                    Err(err) => return Err(HarnessError::Profiles(err.to_string())),
                }
            }
        };
        let runtime = engine.runtime(Some(credentials));
        let stood_in = Some(Arc::new(self.stood_in)).filter(|s| !s.is_empty());
        let mut run = match ix {
            Some(ix) => {
                let one = One { given: self.vars, params, clock, timeout: self.timeout, stood_in };
                run_one(flow, ix, &runtime, one).await
            }
            None => {
                let options = RunOptions {
                    params,
                    vars: Some(self.vars),
                    clock,
                    timeout: Some(self.timeout),
                    stood_in,
                    ..RunOptions::default()
                };
                let report = exec::run(flow, &runtime, options).await;
                TestRun {
                    exit: None,
                    status: Some(report.status),
                    result: report.result.to_json(),
                    vars: vars_json(&report.vars),
                    error: report.error,
                    node: report.node,
                    requests: Vec::new(),
                    unmatched: Vec::new(),
                }
            }
        };
        run.requests = http.requests();
        run.unmatched = http.unmatched();
        Ok(run)
    }
}

/// A temporary state directory for a real token manager, removed when dropped: created
/// exclusively, private and under an unpredictable name (a name known in advance in the shared
/// temporary directory could be taken first by another user, who then reads what is written).
fn temp_state_dir() -> Result<tempfile::TempDir, HarnessError> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("weft-test-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    builder
        .tempdir()
        .map_err(|e| HarnessError::Profiles(format!("cannot create a temporary directory: {e}")))
}

/// The run's parameters from `given`, by the rule of every run ([`crate::params`]); `require`
/// checks that required parameters have a value (whole-flow runs).
pub(crate) fn resolve_params(
    flow: &Flow,
    given: &Map<String, Value>,
    require: bool,
) -> Result<Map<String, Value>, HarnessError> {
    let required = if require { Required::Enforced } else { Required::NotChecked };
    params::resolve_with(flow, given.clone(), &[], required).map_err(|err| {
        HarnessError::Params(match err {
            ParamError::Missing(name) => {
                format!("parameter `{}` is required: give it in `given.params`", clip(&name))
            }
            other => other.to_string(),
        })
    })
}

fn vars_json(vars: &Vars) -> Value {
    dynamic_to_json(&Dynamic::from_map(vars.snapshot())).unwrap_or_else(|_| json!({}))
}

/// Runs node `ix` alone, as the executor runs a step, and stops at the exit it takes.
/// What one node's run starts with.
struct One {
    given: Map<String, Value>,
    params: Map<String, Value>,
    clock: Clock,
    timeout: Duration,
    stood_in: Option<Arc<crate::exec::StoodIn>>,
}

async fn run_one(
    flow: &Flow,
    ix: petgraph::graph::NodeIndex,
    runtime: &Runtime,
    one: One,
) -> TestRun {
    let One { given, params, clock, timeout, stood_in } = one;
    let interrupt = Interrupt::new();
    interrupt.limit_to(timeout);
    let start = Start {
        params,
        vars: Some(given),
        clock,
        interrupt: interrupt.clone(),
        max_vars_bytes: weft_nodes::vars::DEFAULT_MAX_BYTES,
    };
    let children = crate::exec::ChildRuns {
        flow,
        runtime,
        max_steps: crate::exec::DEFAULT_MAX_STEPS,
        max_vars_bytes: weft_nodes::vars::DEFAULT_MAX_BYTES,
        clock,
        interrupt: interrupt.clone(),
        trace: None,
        run_id: String::new(),
        stood_in,
        journal: None,
    };
    let mut state = RunState::new(flow, runtime, start, None);
    // A `call` node tested alone runs its children for real, with the case's canned HTTP.
    state.calling(&children);
    let stepped = tokio::select! {
        stepped = state.step(ix) => stepped,
        stop = interrupt.stopped() => Stepped::Stopped(stop),
    };
    let node = &flow.graph()[ix];
    let mut run = TestRun {
        exit: None,
        status: None,
        result: Value::Null,
        vars: Value::Null,
        error: None,
        node: Some(node.id.clone()),
        requests: Vec::new(),
        unmatched: Vec::new(),
    };
    let error = |vars: &Vars| vars.get(&exec::error_path()).and_then(|e| dynamic_to_json(&e).ok());
    match stepped {
        Stepped::Exit { exit, failure, .. } => {
            run.exit = Some(exit.into_owned());
            if failure.is_some() {
                run.error = error(state.vars());
            }
        }
        Stepped::End { status, result } => {
            run.status = Some(status);
            run.result = dynamic_to_json(&result).unwrap_or(Value::Null);
            if status == RunStatus::Failed {
                run.error = error(state.vars());
            }
        }
        Stepped::Stopped(Stop::TimedOut | Stop::Cancelled) => {
            let err = NodeError::new(
                "timeout",
                format!("the node ran longer than {} s", timeout.as_secs()),
            );
            let error = dynamic_to_json(&state.fail_at(ix, &err)).unwrap_or(Value::Null);
            run.exit = Some("error".into());
            run.error = Some(error);
        }
    }
    run.vars = vars_json(state.vars());
    run
}

/// What a test run did.
#[derive(Debug, Clone)]
pub struct TestRun {
    /// The exit the node took (node runs; `None` when the node ended the run, as `end` does).
    pub exit: Option<String>,
    /// How the run ended: whole-flow runs, and node runs of a node that ends the run.
    pub status: Option<RunStatus>,
    /// The run's result (`null` when there is none).
    pub result: Value,
    /// All variables afterwards, as a JSON object.
    pub vars: Value,
    /// `vars.error` when the node (or run) failed.
    pub error: Option<Value>,
    /// The node run (node runs) or the node the run ended at (whole-flow runs).
    pub node: Option<String>,
    /// Every request sent, in order (answered or not).
    pub requests: Vec<SentRequest>,
    /// Requests no canned entry matched, each with why every entry did not match.
    pub unmatched: Vec<(SentRequest, Vec<String>)>,
}

/// One reason a case failed, ready to print (may span lines).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Mismatch> for Failure {
    fn from(m: Mismatch) -> Self {
        Failure(m.to_string())
    }
}

impl TestRun {
    /// The variable at a dotted path (`page.status`, `events`), when set.
    pub fn var(&self, path: &str) -> Option<&Value> {
        path.split('.').try_fold(&self.vars, |value, key| value.get(key))
    }

    /// Checks the run against `expect`; an empty list means the case passed. A request that
    /// no canned entry answered always fails the case.
    pub fn check(&self, expect: &Expect) -> Vec<Failure> {
        let mut failures = Vec::new();
        // Whether a failure already says why the run failed.
        let mut explained = false;
        for (request, reasons) in &self.unmatched {
            failures.push(Failure(unmatched_message(request, reasons)));
        }
        if let Some(want) = &expect.exit {
            match &self.exit {
                Some(exit) if exit == want => {}
                Some(exit) => {
                    explained = true;
                    failures.push(Failure(format!(
                        "exit\n  expected: {want}\n    actual: {exit}{}",
                        self.error_note()
                    )));
                }
                None => failures.push(Failure(format!(
                    "exit\n  expected: {want}\n    actual: (none: the node ended the run)"
                ))),
            }
        }
        if let Some(want) = expect.status {
            let actual = self.status.map_or("(none: the node did not end the run)", |s| s.as_str());
            if actual != want.as_str() {
                explained = true;
                failures.push(Failure(format!(
                    "status\n  expected: {}\n    actual: {actual}{}",
                    want.as_str(),
                    self.error_note()
                )));
            }
        }
        let mut mismatches = Vec::new();
        if let Some(want) = &expect.vars {
            compare("vars", want, &self.vars, &mut mismatches);
        }
        if let Some(want) = &expect.result {
            compare("result", want, &self.result, &mut mismatches);
        }
        failures.extend(mismatches.into_iter().map(Failure::from));
        if let Some(want) = &expect.requests {
            failures.extend(self.check_requests(want));
        }
        // A failure explains most mismatches, also when the case expected the run to fail (it
        // may have failed for another reason): say what it was, once.
        if !failures.is_empty()
            && !explained
            && self.unmatched.is_empty()
            && let Some(error) = &self.error
            && expect.exit.as_deref() != Some("error")
        {
            failures.push(Failure(format!("note: the run failed: vars.error = {}", show(error))));
        }
        failures
    }

    fn error_note(&self) -> String {
        match self.error.as_ref().and_then(|e| e.get("message")).and_then(Value::as_str) {
            Some(message) => format!("\n   because: {message}"),
            None => String::new(),
        }
    }

    fn check_requests(&self, want: &[ExpectedRequest]) -> Vec<Failure> {
        let sent: Vec<Value> = self.requests.iter().map(SentRequest::to_json).collect();
        if want.len() != self.requests.len() {
            let list = if self.requests.is_empty() {
                "none".to_owned()
            } else {
                self.requests.iter().map(|r| format!("\n    {}", r.line())).collect::<String>()
            };
            return vec![Failure(format!(
                "requests\n  expected: {} request{}\n    actual: {} request{}: {list}",
                want.len(),
                if want.len() == 1 { "" } else { "s" },
                sent.len(),
                if sent.len() == 1 { "" } else { "s" },
            ))];
        }
        let mut mismatches = Vec::new();
        for (i, (want, have)) in want.iter().zip(&self.requests).enumerate() {
            let at = format!("requests[{i}]");
            if let Some(method) = &want.method
                && !method.eq_ignore_ascii_case(&have.method)
            {
                mismatches.push(Mismatch {
                    path: format!("{at}.method"),
                    expected: method.clone(),
                    actual: have.method.clone(),
                });
            }
            if let Some(url) = &want.url
                && *url != have.url
            {
                mismatches.push(Mismatch {
                    path: format!("{at}.url"),
                    expected: url.clone(),
                    actual: have.url.clone(),
                });
            }
            for (name, value) in &want.headers {
                let actual = have.header(name);
                if actual != Some(value.as_str()) {
                    mismatches.push(Mismatch {
                        path: format!("{at}.headers.{}", name.to_ascii_lowercase()),
                        expected: format!("{value:?}"),
                        actual: actual.map_or("(missing)".into(), |a| format!("{a:?}")),
                    });
                }
            }
            if let Some(json) = &want.json {
                match have.json() {
                    Some(body) => compare(&format!("{at}.json"), json, &body, &mut mismatches),
                    None => mismatches.push(Mismatch {
                        path: format!("{at}.json"),
                        expected: show(json),
                        actual: have.text().map_or("(no body)".into(), |t| {
                            format!("{} (not JSON)", show(&Value::String(t)))
                        }),
                    }),
                }
            }
            if let Some(body) = &want.body
                && have.text().as_deref() != Some(body.as_str())
            {
                mismatches.push(Mismatch {
                    path: format!("{at}.body"),
                    expected: show(&Value::String(body.clone())),
                    actual: have.text().map_or("(no body)".into(), |t| show(&Value::String(t))),
                });
            }
        }
        mismatches.into_iter().map(Failure::from).collect()
    }
}

fn unmatched_message(request: &SentRequest, reasons: &[String]) -> String {
    let mut out = format!(
        "no canned response matches this request (nothing was sent):\n  {}",
        request.line()
    );
    for (name, value) in &request.headers {
        out.push_str(&format!("\n  {}: {}", clip(name), clip(value)));
    }
    if let Some(text) = request.text() {
        out.push_str(&format!("\n  body: {}", show(&Value::String(text))));
    }
    if reasons.is_empty() {
        out.push_str("\n  the case has no `http` entries");
        let parsed = url::Url::parse(&request.url);
        if parsed.is_ok_and(|u| u.host_str().is_some_and(is_simulated_host)) {
            out.push_str(
                " (with `weft test --sim`, a whole-flow case that has none runs against the simulator)",
            );
        }
    } else {
        for reason in reasons {
            out.push_str(&format!("\n  {reason}"));
        }
    }
    out
}
