//! What nodes may ask of the process they run in: sign-ins and credentials (the token
//! manager). The executor provides implementations; a test harness may provide stand-ins.

use crate::node::NodeError;
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

    /// Holds one of the profile's `max_concurrent` request slots until the guard drops.
    fn slot<'a>(&'a self, profile: &'a str) -> BoxFuture<'a, Option<SlotGuard>>;
}

/// A held request slot of a profile.
pub type SlotGuard = Box<dyn Send + Sync>;

/// The services of a run.
#[derive(Clone, Default)]
pub struct Services {
    /// Sign-ins and credentials, when profiles are loaded.
    pub credentials: Option<Arc<dyn Credentials>>,
}

impl Services {
    /// The credentials service, or a node error saying profiles are needed.
    pub fn credentials(&self, profile: &str) -> Result<&dyn Credentials, NodeError> {
        self.credentials.as_deref().ok_or_else(|| {
            NodeError::new(
                "auth",
                format!("profile `{profile}` is needed, but no profiles file was loaded"),
            )
        })
    }
}
