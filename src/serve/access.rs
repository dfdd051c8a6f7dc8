//! The access token: every request carries `Authorization: Bearer <token>` when one is set.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
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
