//! The request log: one line per request answered — method, path, status, milliseconds — for
//! whoever listens ([`crate::SimHandle::requests`]; `weft sim` prints them unless `--quiet`).
//! Graph requests show their query (the window, paging tokens); Entra's show their path alone,
//! and no body is ever logged: nothing secret reaches the log.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State as AxState};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::State;

/// Answers the request, then logs it when someone listens.
pub(crate) async fn log(
    AxState(state): AxState<Arc<State>>,
    request: Request,
    next: Next,
) -> Response {
    let log = &state.requests;
    if log.receiver_count() == 0 {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let uri = request.uri();
    let shown = match uri.query() {
        Some(query) if uri.path().starts_with("/v1.0/") => format!("{}?{query}", uri.path()),
        _ => uri.path().to_owned(),
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let ms = started.elapsed().as_millis();
    let _ = log.send(format!("{method} {shown} → {} · {ms} ms", response.status().as_u16()));
    response
}
