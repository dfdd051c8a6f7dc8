//! Bearer token checks and permissions.

use std::time::Instant;

use axum::http::{HeaderMap, header};

use crate::entra::store::{AccessGrant, Principal};
use crate::state::State;
use crate::sync::lock;

use super::error::GraphError;

/// The 401 message for an expired token.
pub(crate) const EXPIRED: &str = "Access token has expired or is not yet valid.";

/// The principal of the request's bearer token.
pub(crate) fn authenticate(state: &State, headers: &HeaderMap) -> Result<Principal, GraphError> {
    grant(state, headers).map(|grant| grant.principal)
}

/// The grant behind the request's bearer token.
pub(crate) fn grant(state: &State, headers: &HeaderMap) -> Result<AccessGrant, GraphError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| GraphError::unauthenticated("Access token is empty."))?;
    let store = lock(&state.store);
    let grant = store
        .access
        .get(token)
        .ok_or_else(|| GraphError::unauthenticated("Access token validation failure."))?;
    if Instant::now() >= grant.expires {
        return Err(GraphError::unauthenticated(EXPIRED));
    }
    Ok(grant.clone())
}

fn any_of(granted: &[String], wanted: &[&str]) -> bool {
    granted.iter().any(|g| wanted.iter().any(|w| g.eq_ignore_ascii_case(w)))
}

/// True when the principal may read its own (delegated) or any (app) calendar.
pub(crate) fn can_read_calendars(principal: &Principal) -> bool {
    match principal {
        Principal::App { roles } => {
            any_of(roles, &["Calendars.Read", "Calendars.ReadBasic.All", "Calendars.ReadWrite"])
        }
        Principal::User { scopes, .. } => any_of(
            scopes,
            &[
                "Calendars.Read",
                "Calendars.ReadBasic",
                "Calendars.ReadWrite",
                "Calendars.Read.Shared",
                "Calendars.ReadWrite.Shared",
            ],
        ),
    }
}

/// True when a delegated principal may read another user's calendar.
pub(crate) fn can_read_shared(principal: &Principal) -> bool {
    match principal {
        Principal::App { .. } => true,
        Principal::User { scopes, .. } => {
            any_of(scopes, &["Calendars.Read.Shared", "Calendars.ReadWrite.Shared"])
        }
    }
}

/// Whether the principal may change the calendar of the user `owner` (`Calendars.ReadWrite`;
/// when delegated, another user's needs `Calendars.ReadWrite.Shared`).
pub(crate) fn can_write_calendar(principal: &Principal, owner: &str) -> bool {
    match principal {
        Principal::App { roles } => any_of(roles, &["Calendars.ReadWrite"]),
        Principal::User { scopes, user_id } if user_id == owner => {
            any_of(scopes, &["Calendars.ReadWrite", "Calendars.ReadWrite.Shared"])
        }
        Principal::User { scopes, .. } => any_of(scopes, &["Calendars.ReadWrite.Shared"]),
    }
}

/// Whether the principal may read a resource of the mailbox of `owner` that needs one of
/// `roles` (app-only) or one of `scopes` (delegated: the signed-in user's own mailbox only).
pub(crate) fn may_read(
    principal: &Principal,
    owner: &str,
    roles: &[&str],
    scopes: &[&str],
) -> bool {
    match principal {
        Principal::App { roles: granted } => any_of(granted, roles),
        Principal::User { scopes: granted, user_id } => user_id == owner && any_of(granted, scopes),
    }
}
