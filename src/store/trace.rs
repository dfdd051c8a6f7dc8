//! The trace of a stored run: its journal and HTTP events, as `weft.trace/1` events — with
//! those of the runs it called, nested by their `run_started`'s `parent`.

use super::{Filter, RunDetail, Status, Store, StoreResult};
use crate::trace::redact;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};

/// The events of run `detail` and of every run it called (and they called), in time order.
///
/// # Errors
///
/// When the store can't be read.
pub async fn trace_tree(store: &dyn Store, detail: RunDetail) -> StoreResult<Vec<Value>> {
    Ok(trace_tree_within(store, detail, usize::MAX).await?.0)
}

/// [`trace_tree`], with at most about `most` events: the runs called are read only while
/// fewer have been gathered (a wide fan-out is not read whole to be cut). Also answers whether
/// it is the whole trace.
///
/// # Errors
///
/// When the store can't be read.
pub async fn trace_tree_within(
    store: &dyn Store,
    detail: RunDetail,
    most: usize,
) -> StoreResult<(Vec<Value>, bool)> {
    let mut events = Vec::new();
    let mut whole = true;
    if gather(store, detail, &mut events, most, &mut whole).await? {
        // RFC 3339 times of one form (UTC, milliseconds) sort as text; a stable sort keeps each
        // run's own order among events of the same millisecond.
        events.sort_by(|a, b| at(a).cmp(at(b)));
    }
    whole &= events.len() <= most;
    events.truncate(most);
    Ok((events, whole))
}

/// Adds the events of run `detail` and of the runs it called to `events`, reading no more
/// runs once there are `most` (`whole` then becomes false); whether it called any.
fn gather<'a>(
    store: &'a dyn Store,
    detail: RunDetail,
    events: &'a mut Vec<Value>,
    most: usize,
    whole: &'a mut bool,
) -> BoxFuture<'a, StoreResult<bool>> {
    Box::pin(async move {
        events.extend(trace_of(&detail));
        let filter = Filter { parent: Some(detail.run.id), ..Filter::default() };
        let children = store.list(filter).await?;
        for child in &children {
            if events.len() >= most {
                *whole = false;
                break;
            }
            gather(store, store.get(&child.id).await?, events, most, whole).await?;
        }
        Ok(!children.is_empty())
    })
}

fn at(event: &Value) -> &str {
    event.get("at").and_then(Value::as_str).unwrap_or_default()
}

/// The `weft.trace/1` events of a stored run, in order; redacted as every trace is.
fn trace_of(detail: &RunDetail) -> Vec<Value> {
    let run = &detail.run;
    let mut params = detail.params.clone();
    redact(&mut params);
    let mut started = json!({
        "event": "run_started", "run": run.id, "at": run.created_at,
        "flow": run.flow, "params": params,
    });
    if let (Some(parent), Value::Object(fields)) = (&run.parent, &mut started) {
        let mut called = json!({ "run": parent, "node": run.parent_node });
        if let (Some(index), Value::Object(called)) = (run.parent_index, &mut called) {
            called.insert("index".into(), index.into());
        }
        fields.insert("parent".into(), called);
    }
    let mut events = vec![started];
    for step in &detail.steps {
        let started = super::rfc3339(step.started_ms);
        let finished =
            super::rfc3339(step.started_ms.saturating_add(i64::try_from(step.ms).unwrap_or(0)));
        events.push(json!({
            "event": "node_started", "run": run.id, "at": started,
            "node": step.node, "type": step.kind, "step": step.step,
        }));
        for http in &step.http {
            let mut http = http.clone();
            if let Value::Object(fields) = &mut http {
                fields.insert("run".into(), run.id.clone().into());
            }
            events.push(http);
        }
        let mut writes = Value::Object(writes_of(&step.writes));
        redact(&mut writes);
        let mut finished = json!({
            "event": "node_finished", "run": run.id, "at": finished,
            "node": step.node, "exit": step.exit, "ms": step.ms, "writes": writes,
        });
        if let (Some(error), Value::Object(fields)) = (&step.error, &mut finished) {
            fields.insert("error".into(), error.clone());
        }
        events.push(finished);
    }
    if run.status.is_final() {
        let status = match run.status {
            Status::Cancelled => "interrupted",
            other => other.as_str(),
        };
        let ms = match (&run.started_at, &run.finished_at) {
            (Some(start), Some(end)) => millis_between(start, end),
            _ => 0,
        };
        let steps = detail.steps.last().map_or(0, |s| s.step);
        events.push(json!({
            "event": "run_finished", "run": run.id, "at": run.finished_at,
            "status": status, "ms": ms, "steps": steps,
        }));
    }
    events
}

/// A step's journaled writes as a trace shows them: path → the value set, or the items
/// appended.
fn writes_of(journaled: &str) -> Map<String, Value> {
    let writes: Vec<Value> = serde_json::from_str(journaled).unwrap_or_default();
    writes
        .into_iter()
        .filter_map(|mut write| {
            let path = write.get("path")?.as_str()?.to_owned();
            let value = match write.get_mut("set") {
                Some(value) => value.take(),
                None => write.get_mut("append")?.take(),
            };
            Some((path, value))
        })
        .collect()
}

fn millis_between(start: &str, end: &str) -> u64 {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    match (parse(start), parse(end)) {
        (Some(s), Some(e)) => u64::try_from((e - s).num_milliseconds()).unwrap_or(0),
        _ => 0,
    }
}
