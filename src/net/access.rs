//! Who may call `weft serve` and `weft studio`: the access token, compared in constant time,
//! and the `Host` and `Origin` rules that keep web pages out of a server on loopback.
//!
//! A browser page can reach a loopback server two ways: by a cross-site request (its `Origin`
//! is the page's) or by DNS rebinding (its own name made to resolve to 127.0.0.1: the `Host`
//! is that name). So a loopback server without an access token answers only requests whose
//! `Host` is one of the loopback names (or the address it listens on) with its own port, and
//! whose `Origin`, if any, is the server itself. Ports are checked too: a browser always sends
//! the port it connected to, so another port means a forwarder or a hand-made request, and one
//! exact rule is easier to trust than a loose one. An SSH tunnel keeps working when it uses the
//! same port on both ends, or with an access token (which settles every request on its own).
//!
//! Whatever the mode, the `Host` header must be well formed: one of it, not empty (RFC 9112
//! §3.2: a request with none, more than one, or an invalid one is answered 400).

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, Version, header};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;

/// Why a request is refused: the status and a message for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// 400, 401 or 403.
    pub status: StatusCode,
    /// What the client should know.
    pub message: &'static str,
}

impl Refusal {
    const fn new(status: StatusCode, message: &'static str) -> Self {
        Self { status, message }
    }
}

/// An access token, kept as its SHA-256 digest so comparisons take the same time whatever the
/// given token's length and content.
pub struct AccessToken {
    digest: [u8; 32],
}

impl AccessToken {
    /// The token `token`.
    pub fn new(token: &str) -> Self {
        Self { digest: Sha256::digest(token.as_bytes()).into() }
    }

    /// Whether `given` is the token; takes the same time whatever `given` is.
    pub fn accepts(&self, given: &[u8]) -> bool {
        let given: [u8; 32] = Sha256::digest(given).into();
        let diff = self.digest.iter().zip(&given).fold(0u8, |acc, (x, y)| acc | (x ^ y));
        std::hint::black_box(diff) == 0
    }

    /// Whether the `Authorization` header value `header` carries the token as a bearer token.
    pub fn accepts_bearer(&self, header: Option<&[u8]>) -> bool {
        bearer(header).is_some_and(|given| self.accepts(given))
    }
}

/// Whether the `Authorization` header value `header` carries `token` as a bearer token; the
/// comparison takes constant time.
pub fn token_matches(header: Option<&[u8]>, token: &str) -> bool {
    AccessToken::new(token).accepts_bearer(header)
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

/// The request's `Host`: exactly one, not empty, valid text. A request without one passes only
/// in HTTP/1.0, which did not require it (and no browser sends).
pub fn host(request: &Request) -> Result<Option<&str>, Refusal> {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => host,
        (Some(_), Some(_)) => {
            return Err(Refusal::new(StatusCode::BAD_REQUEST, "more than one Host header"));
        }
        (None, _) if request.version() <= Version::HTTP_10 => return Ok(None),
        (None, _) => return Err(Refusal::new(StatusCode::BAD_REQUEST, "no Host header")),
    };
    match host.to_str() {
        Ok(host) if !host.trim().is_empty() => Ok(Some(host)),
        _ => Err(Refusal::new(StatusCode::BAD_REQUEST, "an empty or invalid Host header")),
    }
}

/// The names a loopback server answers to without a token, on its own port: `127.0.0.1`,
/// `localhost`, `[::1]` and the address it listens on; and the web origins it takes requests
/// from: itself under those names (`http://localhost:8787`).
pub struct LocalOnly {
    names: Vec<String>,
    port: u16,
}

const OTHER_HOST: Refusal = Refusal::new(
    StatusCode::FORBIDDEN,
    "without an access token this server only answers requests addressed to 127.0.0.1, \
     localhost, [::1] or the address it listens on, with its port",
);
const OTHER_ORIGIN: Refusal = Refusal::new(
    StatusCode::FORBIDDEN,
    "cross-origin request refused: this server does not answer requests sent by other web \
     pages",
);

impl LocalOnly {
    /// The rules of a server listening on `addr`.
    pub fn new(addr: SocketAddr) -> Self {
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

    /// `name[:port]`, one of our names with our port (none: 80).
    fn allows_host(&self, host: &str) -> bool {
        let (name, port) = split_port(host);
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name)) && self.is_our_port(port)
    }

    /// `http://name[:port]`, one of our names with our port.
    fn allows_origin(&self, origin: &str) -> bool {
        origin.strip_prefix("http://").is_some_and(|host| self.allows_host(host))
    }

    fn is_our_port(&self, port: Option<&str>) -> bool {
        let port = port.unwrap_or("80");
        !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p == self.port)
    }

    /// Checks a request's `Host` (and the authority of an absolute request target) and
    /// `Origin`.
    pub fn check(&self, request: &Request) -> Result<(), Refusal> {
        if let Some(host) = host(request)?
            && !self.allows_host(host)
        {
            return Err(OTHER_HOST);
        }
        if let Some(authority) = request.uri().authority()
            && !self.allows_host(authority.as_str())
        {
            return Err(OTHER_HOST);
        }
        match origin(request.headers())? {
            Some(origin) if !self.allows_origin(origin) => Err(OTHER_ORIGIN),
            _ => Ok(()),
        }
    }
}

/// The request's `Origin`, when it has one: more than one, or one that is not text, is refused.
pub fn origin(headers: &HeaderMap) -> Result<Option<&str>, Refusal> {
    let mut origins = headers.get_all(header::ORIGIN).iter();
    match (origins.next(), origins.next()) {
        (None, _) => Ok(None),
        (Some(origin), None) => origin.to_str().map(Some).map_err(|_| OTHER_ORIGIN),
        (Some(_), Some(_)) => {
            Err(Refusal::new(StatusCode::BAD_REQUEST, "more than one Origin header"))
        }
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
    fn local_names_and_origins_on_this_port_only() {
        let local = LocalOnly::new("127.0.0.2:8787".parse().unwrap());
        for host in ["127.0.0.1:8787", "LOCALHOST:8787", "[::1]:8787", "127.0.0.2:8787"] {
            assert!(local.allows_host(host), "{host}");
        }
        for host in [
            "evil.example:8787",
            "127.0.0.1.evil.example",
            "[::2]:8787",
            "localhost.:8787",
            "",
            "localhost:1",
            "localhost",
            "[::1]",
            "localhost:+8787",
            "localhost:08787x",
            "localhost:",
        ] {
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
        assert!(on_80.allows_host("localhost") && on_80.allows_host("[::1]:80"));
    }

    #[test]
    fn host_headers_must_be_one_and_not_empty() {
        let request = |version: Version, hosts: &[&str]| {
            let mut builder = Request::builder().uri("/health").version(version);
            for host in hosts {
                builder = builder.header(header::HOST, *host);
            }
            builder.body(axum::body::Body::empty()).unwrap()
        };
        let local = LocalOnly::new("127.0.0.1:8787".parse().unwrap());
        assert_eq!(local.check(&request(Version::HTTP_11, &["localhost:8787"])), Ok(()));
        assert_eq!(local.check(&request(Version::HTTP_10, &[])), Ok(()));
        for (version, hosts) in [
            (Version::HTTP_11, &[][..]),
            (Version::HTTP_11, &[""][..]),
            (Version::HTTP_11, &[" "][..]),
            (Version::HTTP_11, &["localhost:8787", "evil.example"][..]),
            (Version::HTTP_11, &["localhost:8787", "localhost:8787"][..]),
        ] {
            let refused = local.check(&request(version, hosts)).unwrap_err();
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{hosts:?}");
        }
        let absolute = Request::builder()
            .uri("http://evil.example:8787/health")
            .header(header::HOST, "localhost:8787")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(local.check(&absolute), Err(OTHER_HOST));
    }
}
