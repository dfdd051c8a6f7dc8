//! The HTTP API: routes, handlers and their JSON answers.

use super::access::{AccessToken, LocalOnly, require_local, require_token};
use super::app::{App, Stored};
use super::catalog::Catalog;
use super::reply::{answer, error, interrupted, json_bytes, json_value};
use super::stored;
use super::{Phase, ServeConfig};
use crate::durable::OnInterrupt;
use crate::exec::{self, RunOptions, RunReport, RunStatus, Runtime};
use crate::params::{self, ParamError};
use crate::pool::RunPool;
use crate::trace::{Memory, TraceSink};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};
use weft_nodes::Interrupt;
use weft_nodes::clip::{self, clip_message, clip_to};

/// How long a handler waits for a run it interrupted to come back with its own answer (at a
/// timeout or a shutdown) before it answers for it: an interrupted run stops at its next
/// operation, so this is only a net for one stuck inside a single long operation.
const STOP_WAIT: Duration = Duration::from_millis(500);

/// Builds the router over the loaded catalog.
pub(super) fn router(
    config: &ServeConfig,
    addr: SocketAddr,
    catalog: Catalog,
    runtime: Runtime,
    pool: Arc<RunPool>,
    phase: watch::Receiver<Phase>,
    stored: Option<Stored>,
) -> (Router, Arc<App>) {
    let names = catalog.names();
    let list = json!({
        "flows": names.iter().filter_map(|n| catalog.flows.get(n)).map(|e| &e.summary).collect::<Vec<_>>(),
        "skipped": catalog.skipped.iter().map(|s| json!({
            "name": s.name,
            "file": s.file.file_name().map(|n| n.to_string_lossy().into_owned()),
            "reason": s.reason,
        })).collect::<Vec<_>>(),
    });
    let app = Arc::new(App {
        flows: catalog.flows,
        skipped: catalog
            .skipped
            .into_iter()
            .map(|s| {
                let message = format!(
                    "flow `{}` is not served: {}",
                    clip_to(&s.name, 100),
                    clip_message(s.reason)
                );
                (s.name, message)
            })
            .collect(),
        list: Bytes::from(serde_json::to_vec(&list).unwrap_or_default()),
        runtime,
        pool,
        slots: Arc::new(Semaphore::new(config.max_runs)),
        max_runs: config.max_runs,
        max_body: u64::try_from(config.max_body).unwrap_or(u64::MAX),
        timeout: config.timeout,
        body_timeout: config.body_timeout,
        max_steps: config.max_steps,
        max_vars_bytes: config.max_vars_bytes,
        retry_after: HeaderValue::from(config.retry_after),
        phase,
        stored: stored.map(Arc::new),
    });
    // One parameter name for the segment after `/runs/`: a flow to POST to, a run to GET.
    let router = Router::new()
        .route("/runs", get(stored::list))
        .route("/runs/{key}", post(run).get(stored::show))
        .route("/runs/{key}/trace", get(stored::trace))
        .route("/runs/{key}/cancel", post(stored::cancel))
        .route("/runs/{key}/resume", post(stored::resume))
        .route("/flows", get(list_flows))
        .route("/flows/{flow}", get(show_flow))
        .route("/health", get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(config.max_body))
        .with_state(app.clone());
    let router = match &config.token {
        Some(token) => router.layer(axum::middleware::from_fn_with_state(
            Arc::new(AccessToken::new(token)),
            require_token,
        )),
        None => router.layer(axum::middleware::from_fn_with_state(
            Arc::new(LocalOnly::new(addr)),
            require_local,
        )),
    };
    (router, app)
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such resource: try GET /flows, GET /flows/{flow}, POST /runs/{flow}, GET /runs, \
         GET /runs/{id} or GET /health",
    )
}

async fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed: runs are started with POST /runs/{flow} and steered with POST \
         /runs/{id}/cancel or /resume; /flows, /runs and /health take GET",
    )
}

fn unknown_flow(app: &App, name: &str) -> Response {
    if let Some(message) = app.skipped.get(name) {
        return error(StatusCode::NOT_FOUND, message);
    }
    let mut names: Vec<&str> = app.flows.keys().map(String::as_str).collect();
    names.sort_unstable();
    error(
        StatusCode::NOT_FOUND,
        &format!("no flow named `{}` (served: {})", clip_to(name, 100), clip::list(&names)),
    )
}

async fn list_flows(State(app): State<Arc<App>>) -> Response {
    json_bytes(StatusCode::OK, app.list.clone())
}

async fn show_flow(
    State(app): State<Arc<App>>,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(name)) = name else {
        return error(StatusCode::BAD_REQUEST, "the flow name in the path is not valid");
    };
    match app.flows.get(&name) {
        Some(entry) => json_bytes(StatusCode::OK, entry.detail.clone()),
        None => unknown_flow(&app, &name),
    }
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let in_flight = app.max_runs.saturating_sub(app.slots.available_permits());
    json_value(
        StatusCode::OK,
        &json!({
            "status": "ok",
            "flows": app.flows.len(),
            "runs_in_flight": in_flight,
            "max_runs": app.max_runs,
        }),
    )
}

/// Whether the query asks for the trace: `trace`, `trace=1`, `trace=true`, `trace=yes`.
fn wants_trace(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, "1"));
            key == "trace" && matches!(value, "1" | "true" | "yes" | "on")
        })
    })
}

/// The parameters in the body: a JSON object (an empty body is an empty object).
fn body_params(body: &[u8]) -> Result<Map<String, Value>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    // The reader of every Weft file: bounded depth, no key twice, no byte order mark.
    match crate::flow::json::parse(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => {
            Err("the body must be a JSON object of parameters, such as {\"user\": \"me\"}".into())
        }
        Err(err) => Err(format!("the body is not valid JSON: {err}")),
    }
}

/// A 413.
fn too_large() -> Response {
    error(StatusCode::PAYLOAD_TOO_LARGE, "the body is larger than this server accepts")
}

/// A 400 naming the parameter.
fn bad_params(err: &ParamError) -> Response {
    let (message, name) = match err {
        ParamError::Missing(name) => (format!("parameter `{name}` is required"), Some(name)),
        ParamError::Undeclared { name, .. } | ParamError::Type { name, .. } => {
            (err.to_string(), Some(name))
        }
        ParamError::Syntax(_) | ParamError::File(_) => (err.to_string(), None),
    };
    // A parameter name comes from the request: echo a bounded part of it.
    let mut body = Map::new();
    body.insert("message".into(), clip_message(message).into());
    if let Some(name) = name {
        body.insert("parameter".into(), clip_to(name, 100).to_string().into());
    }
    json_value(StatusCode::BAD_REQUEST, &json!({ "error": body }))
}

async fn run(
    State(app): State<Arc<App>>,
    name: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    let Ok(Path(name)) = name else {
        return error(StatusCode::BAD_REQUEST, "the flow name in the path is not valid");
    };
    let Some(entry) = app.flows.get(&name).cloned() else {
        return unknown_flow(&app, &name);
    };
    let prefer_async = stored::wants_async(request.headers());
    let Ok(key) = idempotency_key(request.headers()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Idempotency-Key must be one header of 1 to 255 visible ASCII characters",
        );
    };
    if app.stored.is_none() && (prefer_async || key.is_some()) {
        return error(
            StatusCode::BAD_REQUEST,
            "Prefer: respond-async and Idempotency-Key need a run store: this server was \
             started with --store none",
        );
    }
    // A declared length over the limit is refused before waiting for the body.
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > app.max_body) {
        return too_large();
    }
    // A client that stops sending holds no more than its connection, and not for long.
    let body = match tokio::time::timeout(app.body_timeout, Bytes::from_request(request, &())).await
    {
        Err(_) => {
            let secs = app.body_timeout.as_secs_f64();
            return error(
                StatusCode::REQUEST_TIMEOUT,
                &format!("the body did not arrive within {secs} s"),
            );
        }
        Ok(Ok(body)) => body,
        Ok(Err(rejection)) => {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                return too_large();
            }
            return error(status, &format!("cannot read the body: {}", rejection.body_text()));
        }
    };
    let given = match body_params(&body) {
        Ok(given) => given,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    drop(body);
    let params = match params::resolve(&entry.flow, Some(given), &[]) {
        Ok(params) => params,
        Err(err) => return bad_params(&err),
    };
    if let Some(stored) = app.stored.clone()
        && prefer_async
    {
        return stored::start_async(app, stored, &entry, params, key).await;
    }
    let Ok(permit) = app.slots.clone().try_acquire_owned() else {
        let mut response = error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("all {} run slots are busy: retry shortly", app.max_runs),
        );
        response.headers_mut().insert(header::RETRY_AFTER, app.retry_after.clone());
        return response;
    };
    let memory = wants_trace(query.as_deref()).then(|| Arc::new(Memory::default()));
    let interrupt = Interrupt::new();
    let options = RunOptions {
        params,
        max_steps: app.max_steps,
        max_vars_bytes: app.max_vars_bytes,
        timeout: app.timeout,
        trace: memory.clone().map(|m| m as Arc<dyn TraceSink>),
        interrupt: interrupt.clone(),
        ..RunOptions::default()
    };
    let started = Instant::now();
    // The run holds its slot until it really ends, also when it is answered for before. Its
    // answer is written in the pool too, so what the run built is freed on the thread that
    // built it.
    let (runtime, timeout) = (app.runtime.clone(), app.timeout);
    let trace = move |memory: Option<Arc<Memory>>| memory.map(|m| m.events());
    // The stored run's id, to cancel it at its time limit.
    let mut stored_id = None;
    let mut running = match app.stored.clone() {
        None => app.pool.spawn(async move {
            let report = exec::run(&entry.flow, &runtime, options).await;
            drop(permit);
            let elapsed = started.elapsed();
            tracing::debug!(flow = %name, status = report.status.as_str(), ms = elapsed.as_millis() as u64, "run");
            answer(report, false, timed_out(timeout, elapsed), trace(memory))
        }),
        Some(stored) => {
            let claim = match stored::record_started(&stored, &entry, &options.params, key).await {
                Ok(Ok(claim)) => claim,
                Ok(Err(existing)) => {
                    drop(permit);
                    return existing.answer(&app, &stored).await;
                }
                Err(response) => return response,
            };
            let in_flight = stored.executing(&claim.run, interrupt.clone());
            stored_id = Some((stored.clone(), claim.run.clone()));
            app.pool.spawn(async move {
                let ran = stored
                    .durable
                    .drive(&entry.flow, &runtime, claim, options, OnInterrupt::Release)
                    .await;
                drop((permit, in_flight));
                match ran {
                    Ok(report) => {
                        let timed_out = timed_out(timeout, started.elapsed());
                        // Past its time limit a run is cancelled, not left failed for a retry.
                        if timed_out(&report) {
                            stored::cancel_quietly(&stored, &report.id).await;
                        }
                        answer(report, true, timed_out, trace(memory))
                    }
                    Err(err) => stored::store_failed(&err),
                }
            })
        }
    };
    let mut phase = app.phase.clone();
    let shutdown = async move {
        if phase.wait_for(|p| *p >= Phase::Cancelling).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    // The run's own deadline answers first; this is the net for a run that can't.
    let net = async {
        match app.timeout.and_then(|t| t.checked_add(STOP_WAIT)) {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    let ended = tokio::select! {
        ended = &mut running => Some(ended),
        () = shutdown => None,
        () = net => {
            // Past its time limit: cancelled (a shutdown hands the run back instead).
            if let Some((stored, id)) = &stored_id {
                stored::cancel_quietly(stored, id).await;
            }
            None
        }
    };
    let ended = match ended {
        Some(ended) => Some(ended),
        None => {
            interrupt.cancel();
            tokio::time::timeout(STOP_WAIT, &mut running).await.ok()
        }
    };
    let elapsed = started.elapsed();
    let mut response = match ended {
        Some(Ok(response)) => response,
        Some(Err(err)) => {
            tracing::error!(%err, "a run ended abnormally");
            error(StatusCode::INTERNAL_SERVER_ERROR, "the run ended abnormally")
        }
        // Still computing after it was told to stop: answered for, stopped at its next
        // operation.
        None if app.timeout.is_some_and(|t| elapsed >= t) => error(
            StatusCode::GATEWAY_TIMEOUT,
            &format!("the run timed out after {:.3} s", elapsed.as_secs_f64()),
        ),
        None => interrupted(),
    };
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        // Interrupted by a shutdown: another instance (or this one restarted) may take it.
        response.headers_mut().insert(header::RETRY_AFTER, app.retry_after.clone());
    }
    response
}

/// The `Idempotency-Key` header: at most one, of 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, ()> {
    let mut keys = headers.get_all("idempotency-key").iter();
    let Some(key) = keys.next() else { return Ok(None) };
    let valid = keys.next().is_none()
        && (1..=255).contains(&key.len())
        && key.as_bytes().iter().all(|b| b.is_ascii_graphic() || *b == b' ');
    match key.to_str() {
        Ok(key) if valid => Ok(Some(key.trim().to_owned())),
        _ => Err(()),
    }
}

/// Whether a failed run failed because its time limit passed.
fn timed_out(limit: Option<Duration>, elapsed: Duration) -> impl Fn(&RunReport) -> bool {
    move |report| {
        report.status == RunStatus::Failed
            && limit.is_some_and(|limit| elapsed >= limit)
            && report.error.as_ref().and_then(|e| e.get("category")).and_then(Value::as_str)
                == Some("timeout")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_query() {
        assert!(wants_trace(Some("trace=1")));
        assert!(wants_trace(Some("a=b&trace=true")));
        assert!(wants_trace(Some("trace")));
        assert!(!wants_trace(Some("trace=0")));
        assert!(!wants_trace(Some("tracer=1")));
        assert!(!wants_trace(None));
    }

    #[test]
    fn bodies() {
        assert!(body_params(b"").unwrap().is_empty());
        assert!(body_params(b" \n").unwrap().is_empty());
        assert_eq!(body_params(br#"{"a":1}"#).unwrap()["a"], 1);
        assert!(body_params(b"[1]").unwrap_err().contains("JSON object"));
        assert!(body_params(b"{").unwrap_err().contains("not valid JSON"));
        assert!(body_params(&[0xff, 0xfe]).unwrap_err().contains("not valid JSON"));
        assert!(body_params(br#"{"a":1,"a":2}"#).unwrap_err().contains("`a`"));
    }
}
