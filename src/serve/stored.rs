//! `weft serve` with a run store: every run recorded and journaled, and the `/runs` routes
//! that read and steer them — `GET /runs`, `GET /runs/{id}`, `GET /runs/{id}/trace`,
//! `POST /runs/{id}/cancel`, `POST /runs/{id}/resume` — plus what runs in the background:
//! asynchronous runs (`Prefer: respond-async`) waiting for a slot, runs of its flows whose
//! process died (taken over once their lease expires), and pruning by retention.

use super::Phase;
use super::app::{App, Stored};
use super::catalog::Entry;
use super::reply::{answer, answer_stored, error, interrupted, json_value};
use crate::durable::{DurableError, OnInterrupt, Recorded};
use crate::exec::{RunOptions, RunReport};
use crate::flow::Flow;
use crate::store::{
    Cancelled, Claim, Claimed, Created, Filter, RunDetail, RunRecord, Status, StoreError,
    trace_tree,
};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;
use weft_nodes::Interrupt;

/// How often a waiting request looks at a run it waits for.
const POLL: Duration = Duration::from_millis(50);

/// Whether the request asks for an answer before the run ends (`Prefer: respond-async`).
pub(super) fn wants_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split([',', ';']).any(|pref| pref.trim().eq_ignore_ascii_case("respond-async")))
}

/// The 202 of an asynchronous request: the run's id and status, where to look.
pub(super) fn accepted(id: &str, status: Status) -> Response {
    let mut response =
        json_value(StatusCode::ACCEPTED, &json!({ "id": id, "status": status.as_str() }));
    if let Ok(location) = HeaderValue::from_str(&format!("/runs/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// How a store failure is answered.
pub(super) fn store_failed(err: &DurableError) -> Response {
    match err {
        DurableError::Store(StoreError::NoSuchRun { .. }) => {
            error(StatusCode::NOT_FOUND, &err.to_string())
        }
        DurableError::Store(
            StoreError::Held { .. } | StoreError::Finished { .. } | StoreError::Child { .. },
        ) => error(StatusCode::CONFLICT, &err.to_string()),
        DurableError::Lost(_) => error(StatusCode::SERVICE_UNAVAILABLE, &err.to_string()),
        _ => {
            tracing::error!("{err}");
            error(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string())
        }
    }
}

/// Waits for run `id` to end (at most `limit`), then answers as a synchronous POST does.
pub(super) async fn wait_for(app: &App, stored: &Stored, id: &str) -> Response {
    let store = &stored.durable.store;
    let deadline = app.timeout.map(|t| tokio::time::Instant::now() + t);
    loop {
        match store.get(id).await {
            Ok(detail) if detail.run.status.is_final() => return answer_stored(&detail),
            Ok(_) => {}
            Err(err) => return store_failed(&err.into()),
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            return error(
                StatusCode::GATEWAY_TIMEOUT,
                &format!("run `{id}` did not end within the time limit; see GET /runs/{id}"),
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Runs run `id` (queued, interrupted or failed) in the background: it waits for a slot,
/// is claimed, runs in the pool, and is handed back if the server shuts down first.
pub(super) fn execute_in_background(app: Arc<App>, id: String) {
    let Some(stored) = app.stored.clone() else { return };
    let interrupt = Interrupt::new();
    let in_flight = stored.executing(&id, interrupt.clone());
    let handle = app.pool.handle().clone();
    handle.spawn(async move {
        let permit = tokio::select! {
            permit = app.slots.clone().acquire_owned() => permit.ok(),
            () = phase_reaches(&app, Phase::Draining) => None,
        };
        // Not claimed yet: a run left waiting stays as it is for the next process.
        let Some(permit) = permit else { return };
        let ran = match stored.durable.claim(&id).await {
            Ok(claimed) => execute(&app, &stored, claimed, interrupt).await,
            Err(err) => Err(err),
        };
        drop((permit, in_flight));
        if let Err(err) = ran {
            tracing::warn!(run = %id, "the run could not go on: {err}");
        }
    });
}

/// Loads the flow texts `run` pinned, as the file it came from.
async fn load_pinned(stored: &Stored, run: &RunRecord) -> Result<Flow, StoreError> {
    let shown = run.flow_file();
    let texts = stored.durable.store.pinned(&run.flow_hash).await?;
    let loaded = stored.loader.load_pinned(&texts, &shown);
    loaded.flow.ok_or_else(|| StoreError::Backend {
        place: format!("run `{}`'s flow", run.id),
        message: loaded
            .diagnostics
            .first()
            .map(|d| d.located(&shown.display().to_string()))
            .unwrap_or_default(),
    })
}

/// Runs a claimed run to its end here (its slot already taken), from the flow text it pinned.
pub(super) async fn execute(
    app: &Arc<App>,
    stored: &Stored,
    claimed: Claimed,
    interrupt: Interrupt,
) -> Result<RunReport, DurableError> {
    let durable = &stored.durable;
    let run = &claimed.detail.run;
    // A run of a flow as it is served (most are: queued asynchronous runs) uses the flow
    // compiled at start; one started with another version loads the text it pinned.
    let served = app.flows.values().find(|entry| entry.hash == run.flow_hash).cloned();
    let pinned;
    let flow = match &served {
        Some(entry) => &entry.flow,
        None => match load_pinned(stored, run).await {
            Ok(flow) => {
                pinned = flow;
                &pinned
            }
            Err(err) => {
                durable.store.release(&claimed.claim).await?;
                return Err(DurableError::Store(err));
            }
        },
    };
    let options = RunOptions {
        max_steps: app.max_steps,
        max_vars_bytes: app.max_vars_bytes,
        timeout: app.timeout,
        interrupt: interrupt.clone(),
        ..RunOptions::default()
    };
    let runtime = app.runtime.clone();
    let run = durable.resume(claimed, flow, &runtime, options, OnInterrupt::Release);
    tokio::pin!(run);
    tokio::select! {
        report = &mut run => report,
        () = phase_reaches(app, Phase::Cancelling) => {
            interrupt.cancel();
            run.await
        }
    }
}

async fn phase_reaches(app: &App, phase: Phase) {
    let mut watch = app.phase.clone();
    if watch.wait_for(|p| *p >= phase).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Takes over the runs of the served flows that no live process holds, now and every lease
/// period, and prunes finished runs older than the retention period once an hour.
pub(super) fn keep_watch(app: Arc<App>) {
    let Some(stored) = app.stored.clone() else { return };
    let handle = app.pool.handle().clone();
    handle.spawn(async move {
        let period = stored.durable.holder.lease.max(Duration::from_millis(200));
        let mut last_prune: Option<tokio::time::Instant> = None;
        loop {
            if *app.phase.borrow() >= Phase::Draining {
                return;
            }
            match stored.durable.store.orphans(stored.flows.clone()).await {
                Ok(ids) => {
                    for id in ids {
                        if !stored.runs().contains_key(&id) {
                            tracing::info!(run = %id, "taking the run over");
                            execute_in_background(app.clone(), id);
                        }
                    }
                }
                Err(err) => tracing::warn!("cannot look for runs to take over: {err}"),
            }
            if let Some(keep) = stored.keep
                && last_prune.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600))
            {
                last_prune = Some(tokio::time::Instant::now());
                let before = chrono::Utc::now().timestamp_millis()
                    - i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
                match stored.durable.store.prune(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(runs = n, "pruned finished runs past retention"),
                    Err(err) => tracing::warn!("cannot prune: {err}"),
                }
            }
            tokio::select! {
                () = tokio::time::sleep(period) => {}
                () = phase_reaches(&app, Phase::Draining) => return,
            }
        }
    });
}

fn no_store() -> Response {
    error(StatusCode::NOT_FOUND, "this server keeps no runs (it was started with --store none)")
}

fn run_id(id: Result<Path<String>, PathRejection>) -> Result<String, Box<Response>> {
    id.map(|Path(id)| id).map_err(|_| {
        Box::new(error(StatusCode::BAD_REQUEST, "the run id in the path is not valid"))
    })
}

/// The query of `GET /runs`.
#[derive(Deserialize)]
pub(super) struct ListQuery {
    flow: Option<String>,
    status: Option<String>,
    since: Option<String>,
    limit: Option<u32>,
    parent: Option<String>,
}

/// `GET /runs`: runs, newest first.
pub(super) async fn list(
    State(app): State<Arc<App>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let Some(stored) = &app.stored else { return no_store() };
    let Ok(Query(query)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "the query must be flow=, status=, since=, limit=, parent=",
        );
    };
    let status = match query.status.as_deref().map(str::parse::<Status>).transpose() {
        Ok(status) => status,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let since_ms = match query.since.as_deref().map(crate::store::parse_age).transpose() {
        Ok(age) => age.map(|age| {
            chrono::Utc::now().timestamp_millis() - i64::try_from(age.as_millis()).unwrap_or(0)
        }),
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let limit = Some(query.limit.unwrap_or(100).min(1000));
    let filter = Filter {
        flow: query.flow,
        status,
        since_ms,
        limit,
        parent: query.parent,
        ..Filter::default()
    };
    match stored.durable.store.list(filter).await {
        Ok(runs) => json_value(StatusCode::OK, &serde_json::to_value(runs).unwrap_or_default()),
        Err(err) => store_failed(&err.into()),
    }
}

/// The store and the run the path names, or the answer saying why there is none.
async fn stored_run(
    app: &App,
    id: Result<Path<String>, PathRejection>,
) -> Result<(&Stored, RunDetail), Box<Response>> {
    let Some(stored) = &app.stored else { return Err(Box::new(no_store())) };
    let id = run_id(id)?;
    match stored.durable.store.get(&id).await {
        Ok(detail) => Ok((stored, detail)),
        Err(err) => Err(Box::new(store_failed(&err.into()))),
    }
}

/// `GET /runs/{id}`: the run with its parameters, result, error and steps.
pub(super) async fn show(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    match stored_run(&app, id).await {
        Ok((_, detail)) => {
            json_value(StatusCode::OK, &serde_json::to_value(detail.redacted()).unwrap_or_default())
        }
        Err(response) => *response,
    }
}

/// `GET /runs/{id}/trace`: its `weft.trace/1` events, JSON Lines.
pub(super) async fn trace(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let (stored, detail) = match stored_run(&app, id).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let events = match trace_tree(&*stored.durable.store, detail).await {
        Ok(events) => events,
        Err(err) => return store_failed(&err.into()),
    };
    let mut body = String::new();
    for event in events {
        body.push_str(&event.to_string());
        body.push('\n');
    }
    let mut response = Response::new(axum::body::Body::from(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/jsonl"));
    response
}

/// Cancels run `id` (its time limit passed), saying in the log when the store refuses.
pub(super) async fn cancel_quietly(stored: &Stored, id: &str) {
    if let Err(err) = stored.durable.store.cancel(id).await {
        tracing::warn!(run = %id, "cannot cancel the run past its time limit: {err}");
    }
}

/// `POST /runs/{id}/cancel`.
pub(super) async fn cancel(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let Some(stored) = &app.stored else { return no_store() };
    let id = match run_id(id) {
        Ok(id) => id,
        Err(response) => return *response,
    };
    match stored.durable.store.cancel(&id).await {
        Ok(Cancelled::Now) => {
            json_value(StatusCode::OK, &json!({ "id": id, "status": "cancelled" }))
        }
        Ok(Cancelled::Requested) => {
            // Here: stopped at once. Elsewhere: at its holder's next lease renewal.
            if let Some(interrupt) = stored.runs().get(&id) {
                interrupt.cancel();
            }
            json_value(StatusCode::ACCEPTED, &json!({ "id": id, "status": "cancelling" }))
        }
        Err(err) => store_failed(&err.into()),
    }
}

/// `POST /runs/{id}/resume`: an interrupted run goes on, a failed one runs again from the
/// node that failed; answered when it ends, or at once with `Prefer: respond-async`.
pub(super) async fn resume(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Some(stored) = app.stored.clone() else { return no_store() };
    let id = match run_id(id) {
        Ok(id) => id,
        Err(response) => return *response,
    };
    if *app.phase.borrow() >= Phase::Draining {
        return interrupted();
    }
    if wants_async(&headers) {
        return match stored.durable.store.get(&id).await {
            Ok(detail) if !detail.run.status.is_settled() => {
                execute_in_background(app.clone(), id.clone());
                accepted(&id, detail.run.status)
            }
            Ok(detail) => store_failed(&DurableError::Store(StoreError::Finished {
                run: id,
                status: detail.run.status,
                what: "resumed",
            })),
            Err(err) => store_failed(&err.into()),
        };
    }
    let Ok(permit) = app.slots.clone().try_acquire_owned() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "all run slots are busy: retry shortly");
    };
    let claimed = match stored.durable.claim(&id).await {
        Ok(claimed) => claimed,
        Err(err) => return store_failed(&err),
    };
    let interrupt = Interrupt::new();
    let in_flight = stored.executing(&id, interrupt.clone());
    let running = {
        let app = app.clone();
        app.pool.handle().clone().spawn(async move {
            let ran = execute(&app, &stored, claimed, interrupt).await;
            drop((permit, in_flight));
            ran
        })
    };
    match running.await {
        Ok(Ok(report)) => answer(report, true, |_| false, None),
        Ok(Err(err)) => store_failed(&err),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    }
}

/// A run with the same `Idempotency-Key` exists: its answer.
pub(super) enum Existing {
    /// With the same parameters: wait for its end like any synchronous request.
    Same(String),
    /// With other parameters: 422.
    Mismatch(String),
}

impl Existing {
    pub(super) async fn answer(self, app: &App, stored: &Stored) -> Response {
        match self {
            Self::Same(id) => wait_for(app, stored, &id).await,
            Self::Mismatch(id) => mismatch(&id),
        }
    }
}

fn mismatch(id: &str) -> Response {
    json_value(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({ "id": id, "error": {
            "code": "idempotency_mismatch",
            "message": format!("this Idempotency-Key was used for run `{id}` with other parameters"),
        } }),
    )
}

fn recorded<'a>(stored: &Stored, entry: &'a Entry, key: Option<String>) -> Recorded<'a> {
    Recorded {
        flow: &entry.flow,
        flow_path: Some(entry.file.display().to_string()),
        profiles_path: Some(stored.profiles.clone()),
        idempotency_key: key,
        parent: None,
    }
}

/// Records a run this request runs now: its claim, or the run its idempotency key names.
pub(super) async fn record_started(
    stored: &Stored,
    entry: &Entry,
    params: &Map<String, Value>,
    key: Option<String>,
) -> Result<Result<Claim, Existing>, Response> {
    match stored.durable.record(recorded(stored, entry, key), params, true).await {
        Ok(Created::New { claim: Some(claim), .. }) => Ok(Ok(claim)),
        Ok(Created::New { id, claim: None }) => Ok(Err(Existing::Same(id))),
        Ok(Created::Existing { id, same_params: true }) => Ok(Err(Existing::Same(id))),
        Ok(Created::Existing { id, same_params: false }) => Ok(Err(Existing::Mismatch(id))),
        Err(err) => Err(store_failed(&err)),
    }
}

/// `POST /runs/{flow}` with `Prefer: respond-async`: 202 at once, the run queued for a slot.
pub(super) async fn start_async(
    app: Arc<App>,
    stored: Arc<Stored>,
    entry: &Entry,
    params: Map<String, Value>,
    key: Option<String>,
) -> Response {
    if *app.phase.borrow() >= Phase::Draining {
        return interrupted();
    }
    match stored.durable.record(recorded(&stored, entry, key), &params, false).await {
        Ok(Created::New { id, .. }) => {
            execute_in_background(app, id.clone());
            accepted(&id, Status::Queued)
        }
        Ok(Created::Existing { id, same_params: true }) => {
            match stored.durable.store.get(&id).await {
                Ok(detail) => accepted(&id, detail.run.status),
                Err(err) => store_failed(&err.into()),
            }
        }
        Ok(Created::Existing { id, same_params: false }) => mismatch(&id),
        Err(err) => store_failed(&err),
    }
}
