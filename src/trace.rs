//! Run traces in the `weft.trace/1` format: JSON Lines, one event per line.
//!
//! Nothing secret reaches a trace: nodes never hold tokens, values under keys named like
//! secrets (`token`, `secret`, `password`, …) are replaced by `"[redacted]"`, and [`Scrubbing`]
//! removes the secrets the credentials know wherever a server echoed them.

use serde::Serialize;
use serde_json::{Map, Value};
use std::io::Write;
use std::sync::{Arc, Mutex};
use weft_nodes::Credentials;

/// One event of a run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run began.
    RunStarted {
        /// The flow's name.
        flow: String,
        /// The parameters it got (redacted).
        params: Value,
        /// For a child run (the `call` kind): the run and the node that called it.
        #[serde(skip_serializing_if = "Option::is_none")]
        parent: Option<Parent>,
    },
    /// A node began.
    NodeStarted {
        /// Its id.
        node: String,
        /// Its kind.
        #[serde(rename = "type")]
        kind: String,
        /// The run's step count, this step included.
        step: u64,
    },
    /// A node made an HTTP request.
    Http {
        /// The node.
        node: String,
        /// The method.
        method: String,
        /// The URL, without query values that look secret.
        url: String,
        /// The response status (none when no response came).
        status: Option<u16>,
        /// The attempt, from 1.
        attempt: u32,
        /// How long it took.
        ms: u64,
        /// The server's id of the request (Graph's `request-id`), when it sent one.
        #[serde(skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        /// When the request is repeated: how long the node waits first, in milliseconds
        /// (`Retry-After` or backoff; 0 after a 401 that fetched a fresh token).
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_in_ms: Option<u64>,
        /// The request's body, when it had one, as text: members and form fields named like
        /// credentials redacted, known secrets scrubbed, at most 2 000 bytes.
        #[serde(skip_serializing_if = "Option::is_none")]
        request_body: Option<String>,
    },
    /// A node ended.
    NodeFinished {
        /// Its id.
        node: String,
        /// The exit it took (none for an `end` node).
        exit: Option<String>,
        /// How long it took.
        ms: u64,
        /// `vars.error`, when it failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<Value>,
        /// The variables it wrote, with their values (redacted).
        writes: Map<String, Value>,
    },
    /// The run ended.
    RunFinished {
        /// `succeeded`, `failed` or `interrupted`.
        status: String,
        /// How long it took.
        ms: u64,
        /// Steps taken.
        steps: u64,
    },
}

/// The run and node that called a child run.
#[derive(Debug, Clone, Serialize)]
pub struct Parent {
    /// The calling run's id.
    pub run: String,
    /// The `call` node.
    pub node: String,
    /// With `for_each`, the element's index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
}

/// Receives a run's events.
pub trait TraceSink: Send + Sync {
    /// Records one event of run `run`.
    fn record(&self, run: &str, event: Event);

    /// Called before each node runs (after its `node_started`), with the run's variables as
    /// they are then, for sinks that show what a node got (the studio). The default ignores
    /// them, so traces pay nothing for it; a sink that looks runs on every step and must stay
    /// cheap, and must redact what it keeps.
    fn before_node(&self, _run: &str, _node: &str, _vars: &weft_nodes::Vars) {}

    /// Whether the sink reads the values a node wrote (`node_finished`'s `writes`). A sink
    /// that doesn't (a progress display) gets an empty `writes`, and the run then copies none
    /// of its values for it.
    fn records_values(&self) -> bool {
        true
    }
}

/// Passes every event to several sinks (a trace file and a progress display).
pub struct Tee(pub Vec<Arc<dyn TraceSink>>);

impl TraceSink for Tee {
    fn record(&self, run: &str, event: Event) {
        if let Some((last, rest)) = self.0.split_last() {
            for sink in rest {
                sink.record(run, event.clone());
            }
            last.record(run, event);
        }
    }

    fn before_node(&self, run: &str, node: &str, vars: &weft_nodes::Vars) {
        for sink in &self.0 {
            sink.before_node(run, node, vars);
        }
    }

    fn records_values(&self) -> bool {
        self.0.iter().any(|sink| sink.records_values())
    }
}

#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    event: &'a Event,
    run: &'a str,
    at: String,
}

/// Serialises an event as one `weft.trace/1` line (no newline).
pub fn to_line(run: &str, event: &Event) -> String {
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    serde_json::to_string(&Line { event, run, at }).unwrap_or_default()
}

/// Writes events as JSON Lines.
pub struct JsonLines {
    out: Mutex<Box<dyn Write + Send>>,
}

impl JsonLines {
    /// Writes to `out` (buffer it yourself if needed; each line is flushed).
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self { out: Mutex::new(out) }
    }
}

impl TraceSink for JsonLines {
    fn record(&self, run: &str, event: Event) {
        let line = to_line(run, &event);
        if let Ok(mut out) = self.out.lock() {
            // A trace that can't be written must not fail the run.
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        }
    }
}

/// Keeps events in memory (the service's `?trace=1`, tests).
#[derive(Default)]
pub struct Memory {
    events: Mutex<Vec<Value>>,
}

impl Memory {
    /// The events so far, as JSON objects.
    pub fn events(&self) -> Vec<Value> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl TraceSink for Memory {
    fn record(&self, run: &str, event: Event) {
        let line = to_line(run, &event);
        if let (Ok(value), Ok(mut events)) = (serde_json::from_str(&line), self.events.lock()) {
            events.push(value);
        }
    }
}

pub use weft_nodes::scrub::{is_secret_name, redact};

/// A sink that scrubs every event before passing it on: every secret the run's credentials
/// know (the profiles' secrets, the tokens in use), in whatever encoding a server echoed it,
/// leaves the parameters, URLs, errors and written values. Asked for the scrubber at each
/// event, so that a token fetched during the run is scrubbed from then on.
pub struct Scrubbing {
    inner: Arc<dyn TraceSink>,
    credentials: Arc<dyn Credentials>,
}

impl Scrubbing {
    /// Scrubs what goes to `inner` of the secrets `credentials` knows.
    pub fn new(inner: Arc<dyn TraceSink>, credentials: Arc<dyn Credentials>) -> Self {
        Self { inner, credentials }
    }
}

impl TraceSink for Scrubbing {
    fn record(&self, run: &str, mut event: Event) {
        let scrubber = self.credentials.scrubber();
        if !scrubber.is_empty() {
            match &mut event {
                Event::RunStarted { params, .. } => scrubber.scrub_json(params),
                Event::Http { url, request_body, .. } => {
                    *url = scrubber.scrub(url).into_owned();
                    if let Some(body) = request_body {
                        *body = scrubber.scrub(body).into_owned();
                    }
                }
                Event::NodeFinished { error, writes, .. } => {
                    if let Some(error) = error {
                        scrubber.scrub_json(error);
                    }
                    let mut written = Value::Object(std::mem::take(writes));
                    scrubber.scrub_json(&mut written);
                    if let Value::Object(written) = written {
                        *writes = written;
                    }
                }
                Event::NodeStarted { .. } | Event::RunFinished { .. } => {}
            }
        }
        self.inner.record(run, event);
    }

    fn before_node(&self, run: &str, node: &str, vars: &weft_nodes::Vars) {
        self.inner.before_node(run, node, vars);
    }

    fn records_values(&self) -> bool {
        self.inner.records_values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_event_run_and_time() {
        let line =
            to_line("r1", &Event::RunFinished { status: "succeeded".into(), ms: 3, steps: 2 });
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"], "run_finished");
        assert_eq!(v["run"], "r1");
        assert_eq!(v["steps"], 2);
        assert!(v["at"].as_str().unwrap().ends_with('Z'));
    }
}
