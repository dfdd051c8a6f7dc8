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

/// Middleware: 401 unless the request carries the token (and the connection closed, so that
/// clients without it don't hold connections open).
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
            let mut response = refuse(StatusCode::UNAUTHORIZED, message);
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

/// The names a tokenless server answers to: `127.0.0.1`, `localhost`, `[::1]` and the address it
/// listens on. A `Host` may name any port (an SSH tunnel's, say): DNS rebinding shows in the
/// name. An `Origin` must be this server exactly, port included: a page served on another local
/// port is another site.
pub(super) struct LocalOnly {
    names: Vec<String>,
    port: u16,
}

impl LocalOnly {
    pub(super) fn new(addr: SocketAddr) -> Self {
        let own = match addr.ip() {
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let mut names: Vec<String> = ["127.0.0.1", "localhost", "[::1]"].map(String::from).into();
        if !names.contains(&own) {
            names.push(own);
        }
        Self { names, port: addr.port() }
    }

    fn is_local(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// `name[:port]`, the name one of ours.
    fn allows_host(&self, host: &str) -> bool {
        self.is_local(split_port(host).0)
    }

    /// `http://name:port` with one of our names and our port (no port: 80).
    fn allows_origin(&self, origin: &str) -> bool {
        let Some(host) = origin.strip_prefix("http://") else { return false };
        let (name, port) = split_port(host);
        self.is_local(name) && port.unwrap_or("80").parse::<u16>().is_ok_and(|p| p == self.port)
    }
}

/// `name[:port]` as name and port: `[::1]:8787`, `localhost:8787`; a bare `[::1]` has its last
/// colon inside the brackets.
fn split_port(host: &str) -> (&str, Option<&str>) {
    match host.rfind(':') {
        Some(colon) if !host[colon..].contains(']') => (&host[..colon], Some(&host[colon + 1..])),
        _ => (host, None),
    }
}

/// Middleware of a tokenless server: 403 for a request addressed to another name (DNS
/// rebinding) or sent from another web origin (a cross-site request). A request without a
/// `Host` (HTTP/1.0) comes from no browser and passes. A refused connection is closed, so that
/// refused clients don't hold connections open.
pub(super) async fn require_local(
    State(local): State<Arc<LocalOnly>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    if let Some(host) = headers.get(header::HOST)
        && !host.to_str().is_ok_and(|host| local.allows_host(host))
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "without an access token this server only answers requests addressed to \
             127.0.0.1, localhost, [::1] or the address it listens on",
        );
    }
    if let Some(origin) = headers.get(header::ORIGIN)
        && !origin.to_str().is_ok_and(|origin| local.allows_origin(origin))
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "cross-origin request refused: without an access token this server does not answer \
             requests sent by web pages",
        );
    }
    next.run(request).await
}

/// An error answer after which the connection is closed.
fn refuse(status: StatusCode, message: &str) -> Response {
    let mut response = super::api::error(status, message);
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
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

    #[test]
    fn local_names_on_any_port_and_local_origins_on_this_port() {
        let local = LocalOnly::new("127.0.0.2:8787".parse().unwrap());
        for host in
            ["127.0.0.1:8787", "LOCALHOST:9000", "[::1]:8787", "[::1]", "127.0.0.2:1", "localhost"]
        {
            assert!(local.allows_host(host), "{host}");
        }
        for host in
            ["evil.example:8787", "127.0.0.1.evil.example", "[::2]:8787", "localhost.:8787", ""]
        {
            assert!(!local.allows_host(host), "{host}");
        }
        for origin in ["http://127.0.0.1:8787", "http://localhost:8787", "http://[::1]:8787"] {
            assert!(local.allows_origin(origin), "{origin}");
        }
        for origin in [
            "http://localhost:9000",
            "http://localhost",
            "https://localhost:8787",
            "http://evil.example:8787",
            "null",
        ] {
            assert!(!local.allows_origin(origin), "{origin}");
        }
        let on_80 = LocalOnly::new("[::1]:80".parse().unwrap());
        assert!(on_80.allows_origin("http://[::1]") && on_80.allows_origin("http://localhost"));
    }
}
