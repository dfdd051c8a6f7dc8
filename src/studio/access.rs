//! Who may call the studio: the rules of [`crate::net::access`] (the `Host` and `Origin` of a
//! server on loopback, the token compared in constant time) as the studio's middleware, with
//! the token carried by the [`TOKEN_HEADER`] header or by the cookie the printed URL sets.
//!
//! The printed URL (`/?token=…`) trades the token for an `HttpOnly`, `SameSite=Strict` cookie
//! named after the port, so that the page never holds it; a request changing something must
//! carry the header or come with an `Origin` (which the `Origin` rule has checked is the
//! studio's own), so a cookie alone never lets another site's form post to it.

use super::reply::error;
use crate::net::access::{AccessToken, LocalOnly};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;

/// The header that carries the access token.
pub const TOKEN_HEADER: &str = "x-weft-token";
/// The cookie that carries the access token once the printed URL was opened, suffixed with
/// the port (`weft_studio_8790`): cookies don't tell ports apart, studios on one host must.
pub const TOKEN_COOKIE: &str = "weft_studio";

/// What the guard checks requests against: the token and the server's address.
pub(super) struct Guard {
    /// The token, for comparisons in constant time.
    access: AccessToken,
    /// The `Host` and `Origin` rules of a loopback server.
    local: LocalOnly,
    port: u16,
}

impl Guard {
    /// The guard of a studio listening on `addr` with the access token `token`.
    pub(super) fn new(token: &str, addr: SocketAddr) -> Self {
        Self { access: AccessToken::new(token), local: LocalOnly::new(addr), port: addr.port() }
    }
}

/// A fresh random token of 48 hex digits: the access token, and (cut) the ids of runs.
pub(super) fn random_token() -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 24];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "no system randomness for the access token".to_owned())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn cookie_name(port: u16) -> String {
    format!("{TOKEN_COOKIE}_{port}")
}

fn cookie_token(headers: &HeaderMap, port: u16) -> Option<String> {
    let wanted = cookie_name(port);
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        v.split(';').find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == wanted).then(|| value.to_owned())
        })
    })
}

/// Middleware: host, token and origin checks; `/?token=…` trades the token for a cookie.
pub(super) async fn guard(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    if let Err(refusal) = guard.local.check(&request) {
        return error(refusal.status, refusal.message);
    }
    let port = guard.port;
    let headers = request.headers();
    let by_header = headers.get(TOKEN_HEADER).is_some_and(|t| guard.access.accepts(t.as_bytes()));
    let by_cookie = cookie_token(headers, port).is_some_and(|t| guard.access.accepts(t.as_bytes()));
    let origin = headers.contains_key(header::ORIGIN);
    let state_changing = !matches!(*request.method(), Method::GET | Method::HEAD);
    if request.uri().path() == "/"
        && let Some(token) = request.uri().query().and_then(|q| {
            q.split('&').find_map(|pair| pair.strip_prefix("token=").map(str::to_owned))
        })
    {
        if !guard.access.accepts(token.as_bytes()) {
            return error(StatusCode::UNAUTHORIZED, "wrong access token");
        }
        let cookie = format!("{}={token}; Path=/; HttpOnly; SameSite=Strict", cookie_name(port));
        return match HeaderValue::from_str(&cookie) {
            Ok(cookie) => (
                StatusCode::SEE_OTHER,
                [(header::SET_COOKIE, cookie), (header::LOCATION, HeaderValue::from_static("/"))],
            )
                .into_response(),
            Err(_) => error(StatusCode::BAD_REQUEST, "bad token"),
        };
    }
    if !by_header && !by_cookie {
        return error(
            StatusCode::UNAUTHORIZED,
            "open the URL `weft studio` printed (it carries the access token)",
        );
    }
    if state_changing && !by_header && !origin {
        return error(StatusCode::FORBIDDEN, "state-changing requests need an Origin header");
    }
    next.run(request).await
}
