//! The studio's run history, read from the run store: a flow's recent runs, one run's stored
//! trace (drawn on the canvas as a live run's is), and cancelling or resuming a run from there.
//!
//! What reaches the browser is what `weft runs trace` shows, within the live runs' budget
//! (events and bytes; large written values replaced by a note): values under keys that name a
//! credential redacted, and the secrets of the profiles the run used (those its profiles file
//! still resolves to) scrubbed wherever they stand, as in a live run's events.

use super::api::saved_flow;
use super::reply::{ApiError, parse_body};
use super::run::{credentials_for, launched, limits, running_already, store_failed};
use super::runs::{MAX_EVENTS, MAX_LOG_BYTES, cap_values, capped};
use super::state::AppState;
use crate::durable::{Durable, DurableError, OnInterrupt};
use crate::exec::{RunOptions, RunReport};
use crate::flow::Flow;
use crate::store::{
    Cancelled, Filter, RunDetail, RunRecord, Status, Store, StoreError, trace_tree_within,
};
use crate::trace::redact;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use weft_nodes::clip;

/// How many runs a flow's history lists at a time, newest first.
const LISTED: u32 = 30;

/// The studio's store, or the 404 saying it keeps none.
fn durable(state: &AppState) -> Result<&Durable, ApiError> {
    state.options.store.as_ref().ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "this studio keeps no runs (it was started with --store none)".into(),
        )
    })
}

/// How a store's refusal is answered.
fn refused(err: StoreError) -> ApiError {
    let status = match err {
        StoreError::NoSuchRun { .. } => StatusCode::NOT_FOUND,
        StoreError::Held { .. } | StoreError::Finished { .. } | StoreError::Child { .. } => {
            StatusCode::CONFLICT
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError(status, err.to_string())
}

/// A run as the history lists it: the record, whether a live process holds it, and whether it
/// can be resumed (interrupted or failed; a queued one waits for the server that queued it) or
/// cancelled (not over, or failed: given up, it is not run again).
fn listed(run: &RunRecord) -> Value {
    let mut shown = serde_json::to_value(run).unwrap_or_default();
    let resumable = match run.status {
        Status::Failed => true,
        Status::Running => !run.lease_live,
        Status::Queued | Status::Succeeded | Status::Cancelled => false,
    };
    if let Value::Object(fields) = &mut shown {
        fields.insert("live".into(), run.lease_live.into());
        fields.insert("resumable".into(), (resumable && run.parent.is_none()).into());
        let cancellable = !run.status.is_settled() && run.parent.is_none();
        fields.insert("cancellable".into(), cancellable.into());
    }
    shown
}

/// `GET /api/flows/{file}/history?before=ID`: `{ flow, runs, more }`, the newest runs of the
/// saved flow (by its name, as the store knows flows), each as [`listed`] — older than run
/// `ID` when it is given; `more`: whether older ones are left.
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    UrlPath(file): UrlPath<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Response> {
    let durable = durable(&state).map_err(IntoResponse::into_response)?;
    let (_, bytes) = saved_flow(&state, &file).await?;
    let flow = flow_name(&file, &bytes);
    // One more than shown says whether older ones are left.
    let filter = Filter {
        flow: Some(flow.clone()),
        limit: Some(LISTED + 1),
        before: query.get("before").cloned(),
        ..Filter::default()
    };
    let mut runs = durable.store.list(filter).await.map_err(|e| refused(e).into_response())?;
    let more = runs.len() > LISTED as usize;
    runs.truncate(LISTED as usize);
    let runs: Vec<Value> = runs.iter().map(listed).collect();
    Ok(axum::Json(json!({ "flow": flow, "runs": runs, "more": more })).into_response())
}

/// The name the store knows the flow of `file` (its text `bytes`) by: its `name`, else the
/// file's name without `.flow.json`.
fn flow_name(file: &str, bytes: &[u8]) -> String {
    let named = serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|flow| flow.get("name")?.as_str().map(str::to_owned));
    named.unwrap_or_else(|| file.trim_end_matches(".flow.json").to_owned())
}

/// `GET /api/history/{id}`: `{ run, events }`, the run (as [`listed`], with its parameters,
/// result and error) and its trace with its children's, as `weft.trace/1` events.
pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let store = &durable(&state)?.store;
    let detail = store.get(&id).await.map_err(refused)?;
    // The run's secrets, as far as its profiles file still resolves them (else only the keys
    // that name a credential are redacted).
    let flow = pinned_flow(&state, store, &detail.run, None).await.ok();
    let scrub = match flow {
        Some(flow) => {
            let chosen = started_with(&state, &detail.run).await.map(Value::String);
            credentials_for(&state, &flow, chosen.as_ref()).await.ok().flatten()
        }
        None => None,
    };
    let mut run = listed(&detail.run);
    let mut shown = json!({
        "params": detail.params, "result": capped(detail.result.clone()), "error": detail.error,
    });
    redact(&mut shown);
    let (mut events, dropped) = stored_trace(&**store, detail, MAX_EVENTS).await?;
    if let Some((credentials, _)) = scrub {
        let scrubber = credentials.scrubber();
        scrubber.scrub_json(&mut shown);
        events.iter_mut().for_each(|event| scrubber.scrub_json(event));
    }
    if let (Value::Object(run), Value::Object(shown)) = (&mut run, shown) {
        run.extend(shown);
    }
    Ok(axum::Json(json!({ "run": run, "events": events, "dropped_events": dropped }))
        .into_response())
}

/// The trace of a stored run and of the runs it called, as the browser gets it: at most `most`
/// events and [`MAX_LOG_BYTES`] of them, large written values replaced by a note; and how many
/// were left out (at least that many: the runs called past the budget are not read).
async fn stored_trace(
    store: &dyn Store,
    detail: RunDetail,
    most: usize,
) -> Result<(Vec<Value>, usize), ApiError> {
    let (mut events, whole) = trace_tree_within(store, detail, most).await.map_err(refused)?;
    let mut bytes = 0;
    let mut kept = 0;
    for event in &mut events {
        if let Some(Value::Object(writes)) = event.get_mut("writes") {
            cap_values(writes.values_mut());
        }
        bytes += serde_json::to_string(event).map_or(0, |text| text.len());
        if bytes > MAX_LOG_BYTES {
            break;
        }
        kept += 1;
    }
    let dropped = events.len() - kept + usize::from(!whole);
    events.truncate(kept);
    Ok((events, dropped))
}

/// The flow texts run `run` pinned, loaded as the file `path` of the directory (by default the
/// file it was started from, or one named after the flow).
async fn pinned_flow(
    state: &AppState,
    store: &Arc<dyn Store>,
    run: &RunRecord,
    path: Option<&std::path::Path>,
) -> Result<Flow, ApiError> {
    let pinned = store.pinned(&run.flow_hash).await.map_err(refused)?;
    let path = path.map_or_else(|| run.flow_file(), std::path::Path::to_owned);
    let loaded = state.engine.loader().load_pinned(&pinned, &path);
    loaded.flow.ok_or_else(|| {
        let shown = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let first = loaded.diagnostics.first().map(|d| d.located(&shown)).unwrap_or_default();
        ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("run `{}`'s flow can't be loaded: {first}", clip(&run.id)),
        )
    })
}

/// `POST /api/history/{id}/cancel`: cancels a run that is not over (or failed): at once when
/// nobody holds it or this studio runs it, else at its holder's next lease renewal.
pub(super) async fn cancel(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let store = &durable(&state)?.store;
    let status = match store.cancel(&id).await.map_err(refused)? {
        Cancelled::Now => "cancelled",
        Cancelled::Requested => {
            if let Some(run) = state.runs.traced(&id) {
                run.stop();
            }
            "cancelling"
        }
    };
    Ok(axum::Json(json!({ "id": id, "status": status })).into_response())
}

/// `POST /api/history/{id}/resume` with `{ file, profiles?, max_steps?, timeout_secs? }`: the
/// run goes on (an interrupted one after its last finished step, a failed one from the node
/// that failed) as the live run of `file`, from the flow texts it pinned; its stored trace
/// comes first in the stream.
/// Profiles: the file given, else the one it was started with when it is in the directory.
pub(super) async fn resume(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let durable = durable(&state)?.clone();
    let request = parse_body(&body)?;
    let limited = limits(&request)?;
    let Some(file) = request.get("file").and_then(Value::as_str) else {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "expected { \"file\", \"profiles\"? }".into(),
        ));
    };
    let path = state.files.flow_path(file)?;
    // What can refuse the run is checked before it is claimed, and the claim is given back
    // when the file's last run still runs: a refused resume leaves the run as it was.
    let detail = durable.store.get(&id).await.map_err(refused)?;
    let run = &detail.run;
    if let Some(err) = run.resume_refused() {
        return Err(refused(err));
    }
    let flow = pinned_flow(&state, &durable.store, run, Some(&path)).await?;
    // Drawn on the file's canvas: the run must be one of the file's flow.
    let (_, saved) = saved_flow(&state, file).await.map_err(|_| {
        ApiError(StatusCode::NOT_FOUND, format!("no flow `{file}` (save it first)"))
    })?;
    if flow_name(file, &saved) != run.flow {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("run `{}` is a run of flow `{}`, not of `{file}`", clip(&id), clip(&run.flow)),
        ));
    }
    let chosen = match request.get("profiles") {
        Some(chosen @ Value::String(_)) => Some(chosen.clone()),
        _ => started_with(&state, run).await.map(Value::String),
    };
    let credentials = credentials_for(&state, &flow, chosen.as_ref()).await?.map(|(c, _)| c);
    let claimed = durable.claim(&id).await.map_err(|err| match err {
        DurableError::Store(err) => refused(err),
        other => ApiError(StatusCode::CONFLICT, other.to_string()),
    })?;
    let live = match state.runs.begin(file)? {
        Ok(live) => live,
        Err(current) => {
            durable.store.release(&claimed.claim).await.map_err(refused)?;
            return Ok(running_already(file, &current));
        }
    };
    // The stream starts with what the run did before, within half the live budget.
    match stored_trace(&*durable.store, claimed.detail.clone(), MAX_EVENTS / 2).await {
        Ok((events, _)) => live.seed(
            events
                .into_iter()
                .filter(|e| !(e["event"] == "run_finished" && e["run"] == id.as_str()))
                .map(|e| e.to_string())
                .collect(),
        ),
        Err(err) => tracing::warn!(run = %id, "cannot read the run's trace: {}", err.1),
    }
    let runtime = state.engine.runtime(credentials.clone());
    let options = RunOptions {
        interrupt: live.interrupt(),
        trace: Some(live.sink(id.clone(), credentials)),
        ..limited
    };
    let work: BoxFuture<'static, RunReport> = Box::pin(async move {
        durable
            .resume(claimed, &flow, &runtime, options, OnInterrupt::Cancel)
            .await
            .unwrap_or_else(|err| store_failed(err.to_string()))
    });
    Ok(launched(&state, live, work))
}

/// The profiles file of the directory run `run` was started with, if it is one.
async fn started_with(state: &AppState, run: &RunRecord) -> Option<String> {
    let path = std::path::PathBuf::from(run.profiles_path.as_ref()?);
    let name = path.file_name()?.to_string_lossy().into_owned();
    let here = path.parent()? == state.files.dir();
    (here && state.files.profiles_files().await.contains(&name)).then_some(name)
}
