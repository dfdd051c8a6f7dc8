//! The studio's runs as they happen: the last run of each flow file (at most one running at a
//! time), executed in a [`RunPool`] apart from the studio's own runtime, so a busy run leaves
//! the page responsive. A run's `weft.trace/1` events are kept (capped) to be streamed from
//! the start to every subscriber, so a page that subscribes late misses nothing; before each
//! node runs, the variables it gets are kept (redacted, size capped): the node's input.
//!
//! Nothing secret is kept: trace values are redacted by the executor, inputs and results here
//! by the same rule, and inputs are scrubbed of the run's known secret values too.

use super::access::random_token;
use super::reply::ApiError;
use crate::exec::RunReport;
use crate::pool::RunPool;
use crate::trace::{Event, TraceSink, redact, to_line};
use axum::http::StatusCode;
use rhai::Dynamic;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;
use weft_nodes::expr::dynamic_to_json;
use weft_nodes::{Credentials, Interrupt, Vars, clip};

/// The most events a run keeps, and their most bytes; later node events are dropped (the end
/// is always kept), so a long paging loop can't fill the memory.
pub(super) const MAX_EVENTS: usize = 20_000;
pub(super) const MAX_LOG_BYTES: usize = 64 * 1024 * 1024;
/// Of those, the most the runs of child flows may take: a wide fan-out leaves its parent's own
/// events room, and the studio shows its first children.
const MAX_CHILD_EVENTS: usize = 5_000;
/// A trace line longer than this has its large written values replaced by a note.
const MAX_LINE: usize = 512 * 1024;
/// A written value (or result) longer than this, in JSON, is replaced by a note.
const MAX_VALUE: usize = 256 * 1024;
/// How many JSON values an input snapshot holds at most, and how long its strings may be.
const INPUT_BUDGET: usize = 4_000;
const INPUT_STRING: usize = 2_000;

/// An entry of a run's log: `(SSE event name, data)`.
pub(super) type Entry = (&'static str, Arc<str>);

/// The runs of this studio: the last one of each flow file, and where they execute.
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
    pub(super) fn find(&self, id: &str) -> Result<Arc<RunState>, ApiError> {
        self.lock()
            .values()
            .find(|r| r.id == id)
            .cloned()
            .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no run `{}`", clip(id))))
    }

    /// The run of this studio that runs `id` of the store (its id in its trace), while it runs.
    pub(super) fn traced(&self, id: &str) -> Option<Arc<RunState>> {
        self.lock().values().find(|r| !r.done() && r.traced.get().is_some_and(|t| t == id)).cloned()
    }

    /// A new run of `file`, which replaces its last one; `Ok(Err(id))` when the last one, `id`,
    /// is still running.
    pub(super) fn begin(&self, file: &str) -> Result<Result<Arc<RunState>, String>, ApiError> {
        let mut runs = self.lock();
        if let Some(current) = runs.get(file)
            && !current.done()
        {
            return Ok(Err(current.id.clone()));
        }
        let id = random_token().map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e))?;
        let run = Arc::new(RunState::new(id.chars().take(16).collect()));
        runs.insert(file.to_owned(), run.clone());
        Ok(Ok(run))
    }

    /// Executes `work`, the run `run`, in the pool; its report ends the run's log (a run whose
    /// task ends without one, by a panic, is marked finished all the same).
    pub(super) fn spawn<F>(&self, run: Arc<RunState>, work: F)
    where
        F: Future<Output = RunReport> + Send + 'static,
    {
        let finisher = Finisher(run);
        self.pool.spawn(async move {
            let report = work.await;
            finisher.0.finish(Some(&report));
        });
    }
}

/// One studio run: its event log, the inputs of its nodes, and its stop switch.
pub(super) struct RunState {
    id: String,
    log: Mutex<Log>,
    /// Bumped after every change of the log, for the streams waiting on it.
    changed: watch::Sender<u64>,
    stop: Interrupt,
    /// Its id in its trace (and in the store), once its sink is made.
    traced: std::sync::OnceLock<String>,
}

#[derive(Default)]
struct Log {
    /// `trace` events (a `weft.trace/1` line), then one `report`.
    entries: Vec<Entry>,
    bytes: usize,
    dropped: u64,
    done: bool,
    /// Each node's variables before it last ran.
    inputs: HashMap<String, Value>,
}

impl RunState {
    fn new(id: String) -> Self {
        Self {
            id,
            log: Mutex::new(Log::default()),
            changed: watch::channel(0).0,
            stop: Interrupt::new(),
            traced: std::sync::OnceLock::new(),
        }
    }

    pub(super) fn id(&self) -> &str {
        &self.id
    }

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

    /// Starts the log with `lines` of trace: what a resumed run did before.
    pub(super) fn seed(&self, lines: Vec<String>) {
        for line in lines {
            self.push("trace", line, false, false);
        }
    }

    /// Whether the run ended (its log has its report).
    pub(super) fn done(&self) -> bool {
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

    /// Told of every change of the log from now on.
    pub(super) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Appends the entries from `next` on to `into`; answers where the next read starts and
    /// whether the log is complete.
    pub(super) fn read_from(&self, next: usize, into: &mut VecDeque<Entry>) -> (usize, bool) {
        let log = self.log();
        into.extend(log.entries.get(next..).unwrap_or_default().iter().cloned());
        (log.entries.len(), log.done)
    }

    /// The variables node `node` got the last time it ran, if it ran.
    pub(super) fn input(&self, node: &str) -> Option<Value> {
        self.log().inputs.get(node).cloned()
    }

    /// The run's stop switch, for the executor.
    pub(super) fn interrupt(&self) -> Interrupt {
        self.stop.clone()
    }

    /// Interrupts the run (its report says `interrupted`); answers whether it was running.
    pub(super) fn stop(&self) -> bool {
        let was_running = !self.done();
        self.stop.cancel();
        was_running
    }

    /// The trace sink that keeps this run's events and inputs; `run_id`: the executor's id for
    /// the run (its `RunOptions::run_id`); `credentials`: the run's, whose secrets the inputs
    /// are scrubbed of.
    pub(super) fn sink(
        self: &Arc<Self>,
        run_id: String,
        credentials: Option<Arc<dyn Credentials>>,
    ) -> Arc<dyn TraceSink> {
        let _ = self.traced.set(run_id.clone());
        Arc::new(Sink {
            state: self.clone(),
            credentials,
            shown: run_id,
            child_events: std::sync::atomic::AtomicUsize::new(0),
        })
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

/// The trace sink of a studio run: the run shown (by the id the executor was given for it), and
/// the credentials whose secrets the inputs it keeps are scrubbed of (the executor scrubs the
/// events themselves).
/// The events of the child runs its `call` nodes start (their own run ids, their `run_started`
/// naming their parent) are kept too, up to [`MAX_CHILD_EVENTS`], for the studio to show a
/// child's run from its parent's; their inputs are not kept.
struct Sink {
    state: Arc<RunState>,
    credentials: Option<Arc<dyn Credentials>>,
    shown: String,
    child_events: std::sync::atomic::AtomicUsize,
}

impl TraceSink for Sink {
    fn record(&self, run: &str, mut event: Event) {
        let own = self.shown == run;
        if !own
            && self.child_events.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                >= MAX_CHILD_EVENTS
        {
            return;
        }
        let always = own && matches!(event, Event::RunFinished { .. });
        let mut line = to_line(run, &event);
        if line.len() > MAX_LINE
            && let Event::NodeFinished { writes, .. } = &mut event
        {
            cap_values(writes.values_mut());
            line = to_line(run, &event);
        }
        self.state.push("trace", line, always, false);
    }

    fn before_node(&self, run: &str, node: &str, vars: &Vars) {
        if self.shown != run {
            return;
        }
        let mut budget = INPUT_BUDGET;
        let mut input = bounded_json(&vars.handle(), &mut budget, 0);
        redact(&mut input);
        if let Some(credentials) = &self.credentials {
            credentials.scrubber().scrub_json(&mut input);
        }
        self.state.log().inputs.insert(node.to_owned(), input);
    }
}

/// Replaces each of `values` (a node's writes) longer than [`MAX_VALUE`] in JSON by a note.
pub(super) fn cap_values<'a>(values: impl Iterator<Item = &'a mut Value>) {
    for value in values {
        *value = capped(std::mem::take(value));
    }
}

/// `value`, or a note saying how large it was when its JSON is longer than [`MAX_VALUE`].
pub(super) fn capped(value: Value) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_log_is_the_run_beginning_without_gaps() {
        let run = RunState::new("r".into());
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
