//! Who may call `weft serve`: the rules of [`crate::net::access`] as middleware, refusals
//! answered in the service's JSON error shape on a connection then closed, so that refused
//! clients don't hold connections open.
//!
//! With an access token, every request carries `Authorization: Bearer <token>`; without one
//! (loopback only), requests must be addressed to the loopback names on this server's port
//! and come from no other web origin, so that no web page the user visits can start runs with
//! the user's sign-ins, by a cross-site request or by DNS rebinding.

use crate::net::access::{self, Refusal};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

pub(super) use crate::net::access::{AccessToken, LocalOnly};

/// Middleware: 400 for a malformed `Host`, 401 unless the request carries the token.
pub(super) async fn require_token(
    State(token): State<Arc<AccessToken>>,
    request: Request,
    next: Next,
) -> Response {
    if let Err(refusal) = access::host(&request) {
        return refuse(refusal);
    }
    let given = request.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
    if token.accepts_bearer(given) {
        return next.run(request).await;
    }
    let message = if given.is_none() {
        "this server requires an access token: send `Authorization: Bearer <token>`"
    } else {
        "the access token is not valid"
    };
    let mut response = refuse(Refusal { status: StatusCode::UNAUTHORIZED, message });
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Middleware of a tokenless server: 400 for a malformed `Host`, 403 for a request addressed
/// to another name or port (DNS rebinding) or sent from another web origin (a cross-site
/// request).
pub(super) async fn require_local(
    State(local): State<Arc<LocalOnly>>,
    request: Request,
    next: Next,
) -> Response {
    match local.check(&request) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refuse(refusal),
    }
}

/// An error answer after which the connection is closed.
fn refuse(refusal: Refusal) -> Response {
    let mut response = super::reply::error(refusal.status, refusal.message);
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
