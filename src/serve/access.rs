//! Who may call: with an access token, every request carries `Authorization: Bearer <token>`;
//! without one (loopback only), requests must be addressed to the loopback names and come from
//! no other web origin, so that no web page the user visits can start runs with the user's
//! sign-ins, by a cross-site request or by DNS rebinding.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;

/// The expected token, kept as its SHA-256 digest so comparisons take the same time whatever
/// the given token's length and content.
pub(super) struct AccessToken {
    digest: [u8; 32],
}

impl AccessToken {
    pub(super) fn new(token: &str) -> Self {
        Self { digest: Sha256::digest(token.as_bytes()).into() }
    }

    fn accepts(&self, given: &[u8]) -> bool {
        let given: [u8; 32] = Sha256::digest(given).into();
        constant_time_eq(&self.digest, &given)
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Whether the `Authorization` header value `header` carries `token` as a bearer token; the
/// comparison takes constant time.
pub fn token_matches(header: Option<&[u8]>, token: &str) -> bool {
    bearer(header).is_some_and(|given| AccessToken::new(token).accepts(given))
}

/// The credentials of `Bearer <credentials>` (scheme case-insensitive).
fn bearer(header: Option<&[u8]>) -> Option<&[u8]> {
    let header = header?;
    let scheme = header.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let rest = &header[7..];
    let start = rest.iter().position(|b| *b != b' ')?;
    let end = rest.iter().rposition(|b| *b != b' ')? + 1;
    rest.get(start..end)
}

/// Middleware: 401 unless the request carries the token.
pub(super) async fn require_token(
    State(token): State<Arc<AccessToken>>,
    request: Request,
    next: Next,
) -> Response {
    let given = request.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
    match bearer(given) {
        Some(given) if token.accepts(given) => next.run(request).await,
        _ => {
            let message = if given.is_none() {
                "this server requires an access token: send `Authorization: Bearer <token>`"
            } else {
                "the access token is not valid"
            };
            let mut response = super::api::error(StatusCode::UNAUTHORIZED, message);
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

/// The `Host` values a tokenless server answers to: its port on `127.0.0.1`, `localhost` and
/// `[::1]` (and the bare names on port 80, where clients leave the port out).
pub(super) struct LocalOnly {
    hosts: Vec<String>,
}

impl LocalOnly {
    pub(super) fn new(addr: SocketAddr) -> Self {
        let port = addr.port();
        let names = ["127.0.0.1", "localhost", "[::1]"];
        let mut hosts: Vec<String> = names.iter().map(|name| format!("{name}:{port}")).collect();
        if port == 80 {
            hosts.extend(names.iter().map(|name| (*name).to_owned()));
        }
        Self { hosts }
    }

    fn allows_host(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    fn allows_origin(&self, origin: &str) -> bool {
        origin.strip_prefix("http://").is_some_and(|host| self.allows_host(host))
    }
}

/// Middleware of a tokenless server: 403 for a request addressed to another name (DNS
/// rebinding) or sent from another web origin (a cross-site request).
pub(super) async fn require_local(
    State(local): State<Arc<LocalOnly>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if !host.is_some_and(|host| local.allows_host(host)) {
        return super::api::error(
            StatusCode::FORBIDDEN,
            "without an access token this server only answers requests addressed to \
             127.0.0.1, localhost or [::1] on its port",
        );
    }
    if let Some(origin) = headers.get(header::ORIGIN)
        && !origin.to_str().is_ok_and(|origin| local.allows_origin(origin))
    {
        return super::api::error(
            StatusCode::FORBIDDEN,
            "cross-origin request refused: without an access token this server does not answer \
             requests sent by web pages",
        );
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_compared_exactly() {
        assert!(token_matches(Some(b"Bearer s3cret-token"), "s3cret-token"));
        assert!(token_matches(Some(b"bearer  s3cret-token "), "s3cret-token"));
        assert!(!token_matches(Some(b"Bearer s3cret-toke"), "s3cret-token"));
        assert!(!token_matches(Some(b"Bearer s3cret-token2"), "s3cret-token"));
        assert!(!token_matches(Some(b"Basic s3cret-token"), "s3cret-token"));
        assert!(!token_matches(Some(b"Bearer "), "s3cret-token"));
        assert!(!token_matches(Some(b"Bearer"), "s3cret-token"));
        assert!(!token_matches(None, "s3cret-token"));
    }
}
