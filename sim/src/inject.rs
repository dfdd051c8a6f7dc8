//! Applies the configured faults to one request.

use axum::http::StatusCode;

use super::conn::ConnTag;
use super::faults::FaultKind;
use super::state::State;
use super::sync::lock;

/// A fault the caller must answer with.
pub(crate) enum Injected {
    /// Answer with this status and optional `Retry-After`.
    Status(StatusCode, Option<String>),
    /// The connection is already cut; whatever is returned is never written.
    Dropped,
}

/// Draws the fault for this request. Latency is served here (the request then proceeds);
/// other kinds are counted and returned for the caller to render in its own error shape.
pub(crate) async fn inject(state: &State, conn: &ConnTag, token: bool) -> Option<Injected> {
    let kind = lock(&state.faults).next(token)?;
    tracing::debug!(?kind, token, "sim: injecting fault");
    match kind {
        FaultKind::Latency(delay) => {
            state.count(|c| c.faults_latency += 1);
            tokio::time::sleep(delay).await;
            None
        }
        FaultKind::DropConnection => {
            state.count(|c| c.faults_dropped += 1);
            conn.kill();
            Some(Injected::Dropped)
        }
        FaultKind::TooManyRequests { retry_after } => {
            state.count(|c| c.faults_429 += 1);
            Some(Injected::Status(StatusCode::TOO_MANY_REQUESTS, retry_after))
        }
        FaultKind::ServiceUnavailable { retry_after } => {
            state.count(|c| c.faults_503 += 1);
            Some(Injected::Status(StatusCode::SERVICE_UNAVAILABLE, retry_after))
        }
        FaultKind::GatewayTimeout => {
            state.count(|c| c.faults_504 += 1);
            Some(Injected::Status(StatusCode::GATEWAY_TIMEOUT, None))
        }
    }
}
