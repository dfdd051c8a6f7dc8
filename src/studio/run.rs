//! Runs from the studio: the saved flow, with a profiles file of the directory and parameters
//! from the run form, through the same executor as `weft run`; its events streamed to the
//! browser as server-sent events, its nodes' inputs on request, a stop switch. With a run
//! store, each run is recorded and journaled there (as `weft run --store` does), and stopping
//! it cancels it. The runs themselves are kept by [`super::runs`]; those of the store are read
//! by [`super::history`].
//!
//! Nothing secret reaches the browser: see [`super::runs`] for the events and inputs; profile
//! errors name the profile, field and variable, never a value.

use super::files::{load_profiles, read_file};
use super::reply::{ApiError, parse_body};
use super::runs::{Entry, RunState};
use super::state::AppState;
use crate::durable::{OnInterrupt, Recorded};
use crate::exec::{self, RunOptions, RunReport, RunStatus};
use crate::flow::Flow;
use crate::result::RunResult;
use crate::safe_fs::FsError;
use crate::store::Created;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use weft_nodes::{Credentials, Vars, clip};

/// The default and the largest time limit of a studio run.
const DEFAULT_TIMEOUT_SECS: f64 = 120.0;
const MAX_TIMEOUT_SECS: f64 = 3_600.0;
/// The largest step limit the form may ask for.
const MAX_STEPS: u64 = 1_000_000;

/// `POST /api/flows/{file}/runs` with `{ profiles?, params?, max_steps?, timeout_secs? }`:
/// starts a run of the saved flow; answers `{ run, events }` (the stream's address).
pub(super) async fn start(
    State(state): State<Arc<AppState>>,
    UrlPath(file): UrlPath<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let path = state.files.flow_path(&file)?;
    let request = if body.is_empty() { json!({}) } else { parse_body(&body)? };
    let bad = |message: String| ApiError(StatusCode::BAD_REQUEST, message);
    if !request.is_object() {
        return Err(bad(
            "expected { \"profiles\", \"params\", \"max_steps\", \"timeout_secs\" }".into()
        ));
    }
    let bytes = read_file(path.clone()).await.map_err(|err| match err {
        FsError::NotFound { .. } => {
            ApiError(StatusCode::NOT_FOUND, format!("no flow `{file}` (save it first)"))
        }
        err => state.files.refused(err),
    })?;
    // As a file of its folder: the flows its `call` nodes name are found beside it.
    let loaded = state.engine.loader().load_file(&bytes, &path);
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
    let limited = limits(&request)?;
    let credentials = credentials_for(&state, &flow, request.get("profiles")).await?;
    let run = match state.runs.begin(&file)? {
        Ok(run) => run,
        Err(current) => return Ok(running_already(&file, &current)),
    };
    let options = RunOptions { params, interrupt: run.interrupt(), ..limited };
    let runtime = state.engine.runtime(credentials.as_ref().map(|(c, _)| c.clone()));
    let sink = {
        let run = run.clone();
        let credentials = credentials.as_ref().map(|(c, _)| c.clone());
        move |id: String| run.sink(id, credentials)
    };
    let work: BoxFuture<'static, RunReport> = match state.options.store.clone() {
        // Recorded and journaled: the store gives the run its id, and the history keeps it.
        Some(durable) => Box::pin(async move {
            let recorded = Recorded {
                flow: &flow,
                flow_path: Some(path.display().to_string()),
                profiles_path: credentials.map(|(_, p)| p.display().to_string()),
                idempotency_key: None,
                parent: None,
            };
            let claim = match durable.record(recorded, &options.params, true).await {
                Ok(Created::New { claim: Some(claim), .. }) => claim,
                Ok(_) => return store_failed("the store did not start the run".into()),
                Err(err) => return store_failed(err.to_string()),
            };
            let options = RunOptions { trace: Some(sink(claim.run.clone())), ..options };
            durable
                .drive(&flow, &runtime, claim, options, OnInterrupt::Cancel)
                .await
                .unwrap_or_else(|err| store_failed(err.to_string()))
        }),
        None => Box::pin(async move {
            // The run's id in its trace, made here (as the executor makes one) so that the
            // sink knows the run's own events from those of the child runs its `call` nodes
            // start.
            let run_id = crate::store::new_run_id();
            let options =
                RunOptions { trace: Some(sink(run_id.clone())), run_id: Some(run_id), ..options };
            exec::run(&flow, &runtime, options).await
        }),
    };
    Ok(launched(&state, run, work))
}

/// The options a request's `max_steps` and `timeout_secs` ask for (the defaults when absent).
pub(super) fn limits(request: &Value) -> Result<RunOptions, ApiError> {
    let bad = |message: String| ApiError(StatusCode::BAD_REQUEST, message);
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
    Ok(RunOptions {
        max_steps,
        timeout: Some(Duration::from_secs_f64(timeout)),
        ..RunOptions::default()
    })
}

/// The 409 of a flow whose last run, `current`, still runs.
pub(super) fn running_already(file: &str, current: &str) -> Response {
    let body = json!({
        "error": format!("`{file}` is running already: stop it or wait for its end"),
        "run": current,
    });
    (StatusCode::CONFLICT, axum::Json(body)).into_response()
}

/// Executes `work`, the studio run `run`, and answers where its events are streamed.
pub(super) fn launched(
    state: &AppState,
    run: Arc<RunState>,
    work: BoxFuture<'static, RunReport>,
) -> Response {
    state.runs.spawn(run.clone(), work);
    let body = json!({ "run": run.id(), "events": format!("/api/runs/{}/events", run.id()) });
    axum::Json(body).into_response()
}

/// The report of a run the store refused to record or to go on with.
pub(super) fn store_failed(message: String) -> RunReport {
    RunReport {
        id: String::new(),
        status: RunStatus::Failed,
        result: RunResult::default(),
        error: Some(json!({ "category": "store", "message": message })),
        node: None,
        steps: 0,
        vars: Vars::new(rhai::Map::new()),
    }
}

/// The credentials of the profiles `flow` uses, read from the profiles file `chosen` of the
/// directory (`profiles.json` when none is), with that file's path; `None` when it uses none.
pub(super) async fn credentials_for(
    state: &AppState,
    flow: &Flow,
    chosen: Option<&Value>,
) -> Result<Option<(Arc<dyn Credentials>, PathBuf)>, ApiError> {
    let bad = |message: String| ApiError(StatusCode::BAD_REQUEST, message);
    let names = flow.profiles();
    if names.is_empty() {
        return Ok(None);
    }
    let chosen = match chosen {
        Some(Value::String(name)) => name.clone(),
        None | Some(Value::Null) => "profiles.json".to_owned(),
        Some(_) => return Err(bad("`profiles` must be a file name".into())),
    };
    if !state.files.profiles_files().await.contains(&chosen) {
        return Err(bad(format!("no profiles file `{chosen}` in the directory")));
    }
    let profiles_path = state.files.dir().join(&chosen);
    let engine = state.engine.clone();
    let read = profiles_path.clone();
    let manager = tokio::task::spawn_blocking(move || {
        let profiles = load_profiles(&engine, &read)?;
        engine.credentials_of(&profiles, &names).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| bad(format!("{chosen}: {e}")))?;
    Ok(manager.map(|m| (m as Arc<dyn Credentials>, profiles_path)))
}

/// Where a stream is in a run's log.
struct Cursor {
    run: Arc<RunState>,
    next: usize,
    changed: watch::Receiver<u64>,
    pending: VecDeque<Entry>,
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
    let changed = run.subscribe();
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
            let (next, done) = c.run.read_from(c.next, &mut c.pending);
            c.next = next;
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
    let stopped = state.runs.find(&id)?.stop();
    Ok(axum::Json(json!({ "run": id, "stopped": stopped })).into_response())
}

/// `GET /api/runs/{id}/input/{node}`: the variables the node got the last time it ran
/// (redacted; large values cut).
pub(super) async fn input(
    State(state): State<Arc<AppState>>,
    UrlPath((id, node)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    let run = state.runs.find(&id)?;
    let vars = run.input(&node).ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("node `{}` has not run in run `{}`", clip(&node), clip(&id)),
        )
    })?;
    Ok(axum::Json(json!({ "node": node, "vars": vars })).into_response())
}
