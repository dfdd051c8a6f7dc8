//! What nodes may ask of the process they run in: sign-ins and credentials (the token
//! manager). The executor provides implementations; a test harness may provide stand-ins.

use crate::error::NodeError;
use crate::scrub::Scrubber;
use crate::secret::Secret;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who is signed in with a profile: what the `authentication` node records. Never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    /// The profile's name.
    pub profile: String,
    /// `Bearer`, `Basic`, …
    pub token_type: String,
    /// When the credential expires, RFC 3339 UTC, if it does.
    pub expires_at: Option<String>,
    /// The scopes granted.
    pub scopes: Vec<String>,
}

/// A credential to attach to one request.
#[derive(Debug, Clone)]
pub struct Credential {
    /// Headers to set (`Authorization`, an API key header).
    pub headers: Vec<(String, Secret)>,
    /// Query parameters to add (an API key in the query).
    pub query: Vec<(String, Secret)>,
    /// Identifies the token, so a 401 invalidates this one and not a newer one.
    pub generation: u64,
}

/// Sign-ins and credentials by profile name, shared by every run in the process.
pub trait Credentials: Send + Sync {
    /// Signs in (or reuses a cached sign-in). A user profile without a sign-in yields a
    /// [`NodeError`] taking the `unauthenticated` exit.
    fn sign_in<'a>(&'a self, profile: &'a str) -> BoxFuture<'a, Result<SignIn, NodeError>>;

    /// The credential for a request to `host` (`port` is `None` for the scheme's default
    /// port); fails before anything is sent when the profile may not send credentials there.
    fn credential<'a>(
        &'a self,
        profile: &'a str,
        host: &'a str,
        port: Option<u16>,
    ) -> BoxFuture<'a, Result<Credential, NodeError>>;

    /// Forgets the token of `generation` (after a 401), so the next call fetches a new one.
    fn invalidate(&self, profile: &str, generation: u64);

    /// Holds one of the profile's `max_concurrent` request slots and, for a request with a
    /// concurrency `key` (a mailbox), one of the profile's `max_concurrent_per_key` slots of
    /// that key, until the guard drops.
    fn slot<'a>(
        &'a self,
        profile: &'a str,
        key: Option<&'a str>,
    ) -> BoxFuture<'a, Option<SlotGuard>>;

    /// What removes the secrets this service knows (the profiles' secrets, the tokens it
    /// handed out) from text a server sent back, in whatever encoding. The default knows none.
    fn scrubber(&self) -> Scrubber {
        Scrubber::default()
    }
}

/// A held request slot of a profile.
pub type SlotGuard = Box<dyn Send + Sync>;

/// An HTTP request as a node sends it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// The method (`GET`, …).
    pub method: &'static str,
    /// The full URL, query included.
    pub url: String,
    /// Headers that are not secret.
    pub headers: Vec<(String, String)>,
    /// Headers that carry credentials: sent, never logged or traced.
    pub secret_headers: Vec<(String, Secret)>,
    /// Query parameters that carry credentials (an API key in the query): added to `url` only
    /// when the request is sent, so that `url` itself never holds them.
    pub secret_query: Vec<(String, Secret)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
    /// The time allowed for this attempt.
    pub timeout: std::time::Duration,
    /// The largest response body accepted.
    pub max_response_bytes: u64,
}

/// An HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Why no response came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The attempt took longer than its timeout.
    #[error("the request timed out after {0} ms")]
    Timeout(u64),
    /// No connection, or it broke before a response.
    #[error("{0}")]
    Connection(String),
    /// The response body is larger than allowed.
    #[error("the response body is larger than the limit of {0} bytes")]
    TooLarge(u64),
    /// The request could not be made at all (nothing was sent).
    #[error("{0}")]
    Invalid(String),
}

impl HttpError {
    /// Whether repeating the request may help (for idempotent methods).
    pub fn is_transient(&self) -> bool {
        matches!(self, HttpError::Timeout(_) | HttpError::Connection(_))
    }
}

/// Sends HTTP requests: the real client, or canned answers in tests.
pub trait Http: Send + Sync {
    /// Sends one request (following redirects, dropping credentials when a redirect leaves
    /// the host) and reads the response.
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, HttpError>>;
}

/// One HTTP exchange, for traces: never holds headers, nor a response body; the request body
/// only as traces show it (secret-looking members redacted, bounded).
#[derive(Debug, Clone)]
pub struct HttpEvent {
    /// The method.
    pub method: &'static str,
    /// The URL, query values that look secret redacted.
    pub url: String,
    /// The status, when a response came.
    pub status: Option<u16>,
    /// The attempt, from 1.
    pub attempt: u32,
    /// How long it took.
    pub ms: u64,
    /// The server's id of the request (Graph's `request-id` header), to quote to its operator.
    pub request_id: Option<String>,
    /// When the request is about to be repeated, how long the node waits first (`Retry-After`
    /// or backoff; zero after a 401 that fetched a fresh token).
    pub retry_in_ms: Option<u64>,
    /// The request's body, when it has one: JSON or form fields whose names look secret
    /// redacted, at most 2 000 bytes.
    pub body: Option<String>,
}

/// The services of a run.
#[derive(Clone, Default)]
pub struct Services {
    /// Sign-ins and credentials, when profiles are loaded.
    pub credentials: Option<Arc<dyn Credentials>>,
    /// The HTTP client.
    pub http: Option<Arc<dyn Http>>,
}

impl Services {
    /// The HTTP client, or a node error when there is none.
    pub fn http(&self) -> Result<&dyn Http, NodeError> {
        self.http
            .as_deref()
            .ok_or_else(|| NodeError::new("http", "no HTTP client is available to this run"))
    }

    /// The credentials service, or a node error saying profiles are needed.
    pub fn credentials(&self, profile: &str) -> Result<&dyn Credentials, NodeError> {
        self.credentials.as_deref().ok_or_else(|| {
            NodeError::new(
                "auth",
                format!(
                    "profile `{}` is needed, but no profiles file was loaded",
                    crate::clip::clip(profile)
                ),
            )
        })
    }
}
