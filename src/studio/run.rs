//! Runs from the studio: the saved flow, with a profiles file of the directory and parameters
//! from the run form, through the same executor as `weft run`. At most one run per flow file at
//! a time. Its `weft.trace/1` events are kept (capped) and streamed to the browser as
//! server-sent events, replayed from the start to every subscriber, so a page that subscribes
//! late misses nothing. Before each node runs, the variables it gets are kept (redacted, size
//! capped): the node's input, shown when it is clicked.
//!
//! Nothing secret reaches the browser: trace values are redacted by the executor, inputs and
//! results here by the same rule, and profile errors name the profile, field and variable,
//! never a value.

use super::{
    ApiError, AppState, file_refused, flow_path, load_profiles, parse_body, profiles_files,
};
use crate::exec::{self, RunOptions, RunReport};
use crate::pool::RunPool;
use crate::safe_fs::FsError;
use crate::trace::{Event, TraceSink, redact, to_line};
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use rhai::Dynamic;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use weft_nodes::expr::dynamic_to_json;
use weft_nodes::{Credentials, Interrupt, Vars, clip};

/// The most events a run keeps, and their most bytes; later node events are dropped (the end
/// is always kept), so a long paging loop can't fill the memory.
const MAX_EVENTS: usize = 20_000;
const MAX_LOG_BYTES: usize = 64 * 1024 * 1024;
/// A trace line longer than this has its large written values replaced by a note.
const MAX_LINE: usize = 512 * 1024;
/// A written value (or result) longer than this, in JSON, is replaced by a note.
const MAX_VALUE: usize = 256 * 1024;
/// How many JSON values an input snapshot holds at most, and how long its strings may be.
const INPUT_BUDGET: usize = 4_000;
const INPUT_STRING: usize = 2_000;
/// The default and the largest time limit of a studio run.
const DEFAULT_TIMEOUT_SECS: f64 = 120.0;
const MAX_TIMEOUT_SECS: f64 = 3_600.0;
/// The largest step limit the form may ask for.
const MAX_STEPS: u64 = 1_000_000;

/// The runs of this studio: the last one of each flow file, and where they execute (apart
/// from the studio's own runtime, so a busy run leaves the page responsive).
pub(super) struct Runs {
    by_file: Mutex<HashMap<String, Arc<RunState>>>,
    pool: RunPool,
}

impl Runs {
    pub(super) fn new() -> Result<Self, String> {
        let pool = RunPool::new("weft-studio-run")
            .map_err(|e| format!("cannot start the run threads: {e}"))?;
        Ok(Self { by_file: Mutex::default(), pool })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<RunState>>> {
        // A panic while holding this lock leaves a map that is still consistent.
        self.by_file.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The run `id`, or a 404 naming it.
    fn find(&self, id: &str) -> Result<Arc<RunState>, ApiError> {
        self.lock()
            .values()
            .find(|r| r.id == id)
            .cloned()
            .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no run `{}`", clip(id))))
    }
}

/// One studio run: its event log, the inputs of its nodes, and its stop switch.
pub(super) struct RunState {
    id: String,
    log: Mutex<Log>,
    /// Bumped after every change of the log, for the streams waiting on it.
    changed: watch::Sender<u64>,
    stop: Interrupt,
}

#[derive(Default)]
struct Log {
    /// `(SSE event name, data)`: `trace` events (a `weft.trace/1` line), then one `report`.
    entries: Vec<(&'static str, Arc<str>)>,
    bytes: usize,
    dropped: u64,
    done: bool,
    /// Each node's variables before it last ran.
    inputs: HashMap<String, Value>,
}

impl RunState {
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends an event. Past the budget, events are dropped — every later one too, so that the
    /// log is the run's beginning without gaps — except those marked `always` (`run_finished`
    /// and the report).
    fn push(&self, kind: &'static str, data: String, always: bool, last: bool) {
        {
            let mut log = self.log();
            if log.done {
                return;
            }
            let over = log.entries.len() >= MAX_EVENTS || log.bytes + data.len() > MAX_LOG_BYTES;
            if !always && (log.dropped > 0 || over) {
                log.dropped += 1;
                return;
            }
            log.bytes += data.len();
            log.entries.push((kind, data.into()));
            log.done |= last;
        }
        self.changed.send_modify(|n| *n += 1);
    }

    fn done(&self) -> bool {
        self.log().done
    }

    /// Ends the run's log with its report.
    fn finish(&self, report: Option<&RunReport>) {
        let dropped = self.log().dropped;
        let mut body = match report {
            Some(report) => json!({
                "status": report.status.as_str(),
                "result": capped(report.result.to_json()),
                "error": report.error.clone(),
                "node": report.node,
                "steps": report.steps,
            }),
            None => json!({
                "status": "failed",
                "error": { "message": "the run stopped unexpectedly" },
            }),
        };
        redact(&mut body);
        if dropped > 0 {
            body["dropped_events"] = json!(dropped);
        }
        self.push("report", body.to_string(), true, true);
    }
}

/// Marks the run finished even if its task ends without a report (a panic), so that streams
/// end and a new run may start.
struct Finisher(Arc<RunState>);

impl Drop for Finisher {
    fn drop(&mut self) {
        if !self.0.done() {
            self.0.finish(None);
        }
    }
}

/// The trace sink of a studio run, and the credentials whose secrets the inputs it keeps are
/// scrubbed of (the executor scrubs the events themselves).
struct Sink(Arc<RunState>, Option<Arc<dyn Credentials>>);

impl TraceSink for Sink {
    fn record(&self, run: &str, mut event: Event) {
        let always = matches!(event, Event::RunFinished { .. });
        let mut line = to_line(run, &event);
        if line.len() > MAX_LINE
            && let Event::NodeFinished { writes, .. } = &mut event
        {
            for value in writes.values_mut() {
                *value = capped(std::mem::take(value));
            }
            line = to_line(run, &event);
        }
        self.0.push("trace", line, always, false);
    }

    fn before_node(&self, _run: &str, node: &str, vars: &Vars) {
        let mut budget = INPUT_BUDGET;
        let mut input = bounded_json(&vars.handle(), &mut budget, 0);
        redact(&mut input);
        if let Some(credentials) = &self.1 {
            credentials.scrubber().scrub_json(&mut input);
        }
        self.0.log().inputs.insert(node.to_owned(), input);
    }
}

/// `value`, or a note saying how large it was when its JSON is longer than [`MAX_VALUE`].
fn capped(value: Value) -> Value {
    let size = serde_json::to_string(&value).map_or(0, |s| s.len());
    if size > MAX_VALUE {
        Value::String(format!("[{size} bytes of JSON: too large to show]"))
    } else {
        value
    }
}

/// A JSON copy of `value` that stops after `budget` values (the rest is summarised) and cuts
/// long strings, so that looking at a node's input costs little however large `vars` is.
fn bounded_json(value: &Dynamic, budget: &mut usize, depth: usize) -> Value {
    if *budget == 0 || depth > 32 {
        return Value::String("…".into());
    }
    *budget -= 1;
    if let Ok(map) = value.as_map_ref() {
        let mut out = Map::new();
        for (i, (key, item)) in map.iter().enumerate() {
            if *budget == 0 {
                out.insert("…".into(), Value::String(format!("{} more keys", map.len() - i)));
                break;
            }
            out.insert(cut(key), bounded_json(item, budget, depth + 1));
        }
        return Value::Object(out);
    }
    if let Ok(items) = value.as_array_ref() {
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if *budget == 0 {
                out.push(Value::String(format!("… {} more items", items.len() - i)));
                break;
            }
            out.push(bounded_json(item, budget, depth + 1));
        }
        return Value::Array(out);
    }
    // Strings are cut where they lie: a 64 MiB response body is not copied to show its start.
    if let Ok(text) = value.as_immutable_string_ref() {
        return Value::String(cut(&text));
    }
    match dynamic_to_json(value) {
        Ok(other) => other,
        Err(_) => Value::String(format!("({})", value.type_name())),
    }
}

/// `text`, cut after [`INPUT_STRING`] characters.
fn cut(text: &str) -> String {
    match text.char_indices().nth(INPUT_STRING) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// `POST /api/flows/{file}/runs` with `{ profiles?, params?, max_steps?, timeout_secs? }`:
/// starts a run of the saved flow; answers `{ run, events }` (the stream's address).
pub(super) async fn start(
    State(state): State<Arc<AppState>>,
    UrlPath(file): UrlPath<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let path = flow_path(&state, &file)?;
    let request = if body.is_empty() { json!({}) } else { parse_body(&body)? };
    let bad = |message: String| ApiError(StatusCode::BAD_REQUEST, message);
    if !request.is_object() {
        return Err(bad(
            "expected { \"profiles\", \"params\", \"max_steps\", \"timeout_secs\" }".into()
        ));
    }
    let bytes = super::read_file(path).await.map_err(|err| match err {
        FsError::NotFound { .. } => {
            ApiError(StatusCode::NOT_FOUND, format!("no flow `{file}` (save it first)"))
        }
        err => file_refused(&state, err),
    })?;
    let name = file.trim_end_matches(".flow.json");
    let loaded = state.engine.loader().load_bytes(&bytes, name);
    let Some(flow) = loaded.flow else {
        let body = json!({
            "error": format!("`{file}` has errors: fix them and save before running it"),
            "diagnostics": loaded.diagnostics,
        });
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response());
    };
    let given = match request.get("params") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map.clone()),
        Some(_) => return Err(bad("`params` must be a JSON object".into())),
    };
    let params = crate::params::resolve(&flow, given, &[]).map_err(|e| bad(e.to_string()))?;
    let max_steps = match request.get("max_steps") {
        None | Some(Value::Null) => exec::DEFAULT_MAX_STEPS,
        Some(n) => n.as_u64().filter(|n| (1..=MAX_STEPS).contains(n)).ok_or_else(|| {
            bad(format!("`max_steps` must be a whole number from 1 to {MAX_STEPS}"))
        })?,
    };
    let timeout = match request.get("timeout_secs") {
        None | Some(Value::Null) => DEFAULT_TIMEOUT_SECS,
        Some(n) => n.as_f64().filter(|n| *n > 0.0 && *n <= MAX_TIMEOUT_SECS).ok_or_else(|| {
            bad(format!("`timeout_secs` must be a number of seconds up to {MAX_TIMEOUT_SECS}"))
        })?,
    };
    let names = flow.profiles();
    let mut credentials = None;
    if !names.is_empty() {
        let chosen = match request.get("profiles") {
            Some(Value::String(name)) => name.clone(),
            None | Some(Value::Null) => "profiles.json".to_owned(),
            Some(_) => return Err(bad("`profiles` must be a file name".into())),
        };
        if !profiles_files(&state.dir).await.contains(&chosen) {
            return Err(bad(format!("no profiles file `{chosen}` in the directory")));
        }
        let profiles_path = state.dir.join(&chosen);
        let engine = state.engine.clone();
        let manager = tokio::task::spawn_blocking(move || {
            let profiles = load_profiles(&profiles_path)?;
            engine.credentials_of(&profiles, &names).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| bad(format!("{chosen}: {e}")))?;
        credentials = manager.map(|m| m as Arc<dyn Credentials>);
    }
    let runtime = state.engine.runtime(credentials.clone());

    let run = {
        let mut runs = state.runs.lock();
        if let Some(current) = runs.get(&file)
            && !current.done()
        {
            let body = json!({
                "error": format!("`{file}` is running already: stop it or wait for its end"),
                "run": current.id,
            });
            return Ok((StatusCode::CONFLICT, axum::Json(body)).into_response());
        }
        let run = Arc::new(RunState {
            id: super::random_token()
                .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e))?
                .chars()
                .take(16)
                .collect(),
            log: Mutex::new(Log::default()),
            changed: watch::channel(0).0,
            stop: Interrupt::new(),
        });
        runs.insert(file.clone(), run.clone());
        run
    };
    let options = RunOptions {
        params,
        max_steps,
        timeout: Some(Duration::from_secs_f64(timeout)),
        trace: Some(Arc::new(Sink(run.clone(), credentials))),
        ..RunOptions::default()
    };
    let options = RunOptions { interrupt: run.stop.clone(), ..options };
    let finisher = Finisher(run.clone());
    state.runs.pool.spawn(async move {
        let report = exec::run(&flow, &runtime, options).await;
        finisher.0.finish(Some(&report));
    });
    let body = json!({ "run": run.id, "events": format!("/api/runs/{}/events", run.id) });
    Ok(axum::Json(body).into_response())
}

/// Where a stream is in a run's log.
struct Cursor {
    run: Arc<RunState>,
    next: usize,
    changed: watch::Receiver<u64>,
    pending: VecDeque<(&'static str, Arc<str>)>,
    finished: bool,
}

/// `GET /api/runs/{id}/events`: the run's events from its start, live, as server-sent events
/// (`trace`: a `weft.trace/1` line; `report`: how it ended, the last one).
pub(super) async fn events(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let run = state.runs.find(&id)?;
    // Subscribed before the log is first read, so no change in between is missed.
    let changed = run.changed.subscribe();
    let cursor = Cursor { run, next: 0, changed, pending: VecDeque::new(), finished: false };
    let stream = futures_util::stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some((kind, data)) = c.pending.pop_front() {
                let event = sse::Event::default().event(kind).data(&*data);
                return Some((Ok::<_, Infallible>(event), c));
            }
            if c.finished {
                return None;
            }
            let done = {
                let log = c.run.log();
                c.pending.extend(log.entries[c.next..].iter().cloned());
                c.next = log.entries.len();
                log.done
            };
            // Done: what was read is the rest. Otherwise wait for more when nothing is new
            // (an error means the run is gone, which can't happen while `c.run` holds it).
            let gone = !done && c.pending.is_empty() && c.changed.changed().await.is_err();
            c.finished = done || gone;
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

/// `POST /api/runs/{id}/stop`: interrupts the run (its report says `interrupted`).
pub(super) async fn stop(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let run = state.runs.find(&id)?;
    let was_running = !run.done();
    run.stop.cancel();
    Ok(axum::Json(json!({ "run": id, "stopped": was_running })).into_response())
}

/// `GET /api/runs/{id}/input/{node}`: the variables the node got the last time it ran
/// (redacted; large values cut).
pub(super) async fn input(
    State(state): State<Arc<AppState>>,
    UrlPath((id, node)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    let run = state.runs.find(&id)?;
    let vars = run.log().inputs.get(&node).cloned().ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("node `{}` has not run in run `{}`", clip(&node), clip(&id)),
        )
    })?;
    Ok(axum::Json(json!({ "node": node, "vars": vars })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_log_is_the_run_beginning_without_gaps() {
        let run = RunState {
            id: "r".into(),
            log: Mutex::new(Log::default()),
            changed: watch::channel(0).0,
            stop: Interrupt::new(),
        };
        run.push("trace", "a".repeat(MAX_LOG_BYTES - 10), false, false);
        // Too large: dropped; then a small one must not fill the gap it left.
        run.push("trace", "b".repeat(100), false, false);
        run.push("trace", "c".into(), false, false);
        run.push("trace", "run_finished".into(), true, false);
        run.push("report", "{}".into(), true, true);
        run.push("trace", "late".into(), true, false);
        let log = run.log();
        let kept: Vec<&str> = log.entries.iter().map(|(_, d)| &d[..d.len().min(12)]).collect();
        assert_eq!(kept, ["aaaaaaaaaaaa", "run_finished", "{}"]);
        assert_eq!(log.dropped, 2);
        assert!(log.done);
    }

    #[test]
    fn inputs_cut_long_strings_and_keys() {
        let long = "é".repeat(INPUT_STRING + 5);
        let mut map = rhai::Map::new();
        map.insert(long.as_str().into(), Dynamic::from(long.clone()));
        let mut budget = INPUT_BUDGET;
        let shown = bounded_json(&Dynamic::from_map(map), &mut budget, 0);
        let (key, value) = shown.as_object().unwrap().iter().next().unwrap();
        let want = format!("{}…", "é".repeat(INPUT_STRING));
        assert_eq!((key.as_str(), value.as_str().unwrap()), (want.as_str(), want.as_str()));
    }
}
