//! Stand-in credentials: every profile signs in at once and sends the test token
//! `test-token-<profile>`, so node tests need no secrets and no token endpoint.

use chrono::{DateTime, Utc};
use weft_nodes::services::{BoxFuture, Credential, SignIn, SlotGuard};
use weft_nodes::{Credentials, NodeError, Secret};

/// The test token of `profile`: `test-token-<profile>`.
pub fn test_token(profile: &str) -> String {
    format!("test-token-{profile}")
}

/// Credentials that stand in for every profile (see the module docs).
#[derive(Debug, Clone)]
pub struct StandInCredentials {
    now: DateTime<Utc>,
}

impl StandInCredentials {
    /// Stand-ins whose sign-ins expire one hour after `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self { now }
    }
}

impl Credentials for StandInCredentials {
    fn sign_in<'a>(&'a self, profile: &'a str) -> BoxFuture<'a, Result<SignIn, NodeError>> {
        let expires = self.now + chrono::Duration::hours(1);
        Box::pin(async move {
            Ok(SignIn {
                profile: profile.to_owned(),
                token_type: "Bearer".into(),
                expires_at: Some(expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                scopes: Vec::new(),
            })
        })
    }

    fn credential<'a>(
        &'a self,
        profile: &'a str,
        _host: &'a str,
        _port: Option<u16>,
    ) -> BoxFuture<'a, Result<Credential, NodeError>> {
        Box::pin(async move {
            Ok(Credential {
                headers: vec![(
                    "Authorization".into(),
                    Secret::new(format!("Bearer {}", test_token(profile))),
                )],
                query: Vec::new(),
                generation: 1,
            })
        })
    }

    fn invalidate(&self, _profile: &str, _generation: u64) {}

    fn slot<'a>(
        &'a self,
        _profile: &'a str,
        _key: Option<&'a str>,
    ) -> BoxFuture<'a, Option<SlotGuard>> {
        Box::pin(async { None })
    }
}
