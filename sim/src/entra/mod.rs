//! Entra ID v2.0: `token`, `authorize` and `devicecode` under `/{tenant}/oauth2/v2.0/`, and
//! the device login page.

mod authorize;
mod client;
mod device;
mod error;
mod issue;
mod scope;
pub(crate) mod store;
mod token;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub(crate) use device::{approve, decline};

use super::config::TENANT_ID;
use super::state::State;
use error::EntraError;

/// The Entra routes.
pub(crate) fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token::token))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize::authorize))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(device::devicecode))
        .route("/devicelogin", get(device::login_page))
}

/// Request parameters (form or query), first occurrence wins.
pub(crate) struct Params(pub(crate) Vec<(String, String)>);

impl Params {
    /// The value of `name`, if present and not empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// The value of `name`, or Entra's "missing parameter" error.
    pub(crate) fn require(&self, name: &str) -> Result<&str, EntraError> {
        self.get(name).ok_or_else(|| EntraError::missing(name))
    }
}

/// How a tenant segment is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TenantKind {
    /// The configured tenant (by name or id).
    Own,
    /// `common` or `organizations`: delegated grants only.
    MultiTenant,
}

/// Checks the `{tenant}` path segment.
pub(crate) fn check_tenant(state: &State, tenant: &str) -> Result<TenantKind, EntraError> {
    if tenant.eq_ignore_ascii_case(&state.config.tenant) || tenant.eq_ignore_ascii_case(TENANT_ID) {
        Ok(TenantKind::Own)
    } else if tenant.eq_ignore_ascii_case("common") || tenant.eq_ignore_ascii_case("organizations")
    {
        Ok(TenantKind::MultiTenant)
    } else {
        Err(EntraError::bad_request(
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID \
                 and are signing into the correct cloud. Check with your subscription \
                 administrator, this may happen if there are no active subscriptions for the \
                 tenant."
            ),
        ))
    }
}

/// The user who signs in: the one `login_hint` names, else the configured default, else the
/// first user.
pub(crate) fn signed_in_user(state: &State, login_hint: Option<&str>) -> Option<String> {
    let config = &state.config;
    login_hint
        .and_then(|h| config.user(h))
        .or_else(|| config.user(&config.default_user))
        .or_else(|| config.users.first())
        .map(|u| u.id.clone())
}
