//! `GET /{tenant}/oauth2/v2.0/authorize`: signs in the default user (or the `login_hint`
//! one), consents to everything, and redirects back with a one-time code.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::state::State;
use crate::sync::lock;
use crate::urlenc::append_query;

use super::error::{EntraError, no_store};
use super::store::CodeGrant;
use super::{Params, check_tenant, scope, signed_in_user};

/// True for redirect URIs Entra accepts for any loopback port: `http://localhost…`,
/// `http://127.0.0.1…`, `http://[::1]…`.
pub(crate) fn loopback_redirect(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = if authority.starts_with("[::1]") {
        "[::1]"
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    let port = authority[host.len()..].strip_prefix(':');
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "[::1]";
    host_ok && port_ok && !uri.contains('#')
}

/// The authorize endpoint.
pub(crate) async fn authorize(
    AxState(state): AxState<Arc<State>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    state.count(|c| c.authorize_requests += 1);
    let page = |e: EntraError| e.page(&state, &headers);
    if let Err(e) = check_tenant(&state, &tenant) {
        return page(e);
    }
    let params = match Query::<Vec<(String, String)>>::try_from_uri(&uri) {
        Ok(Query(pairs)) => Params(pairs),
        Err(_) => {
            return page(EntraError::bad_request(
                "invalid_request",
                9_002_313,
                "Invalid request. Request is malformed or invalid.",
            ));
        }
    };
    let client_id = match params.require("client_id") {
        Ok(id) => id,
        Err(e) => return page(e),
    };
    let Some(app) = state.config.app(client_id).cloned() else {
        return page(EntraError::bad_request(
            "unauthorized_client",
            700_016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory \
                 '{tenant}'."
            ),
        ));
    };
    let redirect_uri = params.get("redirect_uri").unwrap_or_default().to_owned();
    if !loopback_redirect(&redirect_uri) {
        return page(EntraError::bad_request(
            "invalid_request",
            50011,
            format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the \
                 redirect URIs configured for the application '{client_id}'. (The simulator \
                 accepts http://localhost and http://127.0.0.1 on any port.)"
            ),
        ));
    }
    let mut pairs = match issue_code(&state, &app, &params, &redirect_uri) {
        Ok(code) => vec![("code".to_owned(), code)],
        Err(e) => e.redirect_pairs(&state, &headers),
    };
    if let Some(s) = params.get("state") {
        pairs.push(("state".to_owned(), s.to_owned()));
    }
    let location = append_query(&redirect_uri, &pairs);
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    no_store(response.headers_mut());
    response
}

/// Validates the rest of the request and records a code for the signed-in user.
fn issue_code(
    state: &State,
    app: &crate::config::SimApp,
    params: &Params,
    redirect_uri: &str,
) -> Result<String, EntraError> {
    match params.require("response_type")? {
        "code" => {}
        other => {
            return Err(EntraError::bad_request(
                "unsupported_response_type",
                700_054,
                format!("response_type '{other}' is not enabled for the application."),
            ));
        }
    }
    let scopes = scope::delegated(params.require("scope")?, app, &state.base_url)?;
    let challenge = match (params.get("code_challenge"), params.get("code_challenge_method")) {
        (None, None) => None,
        (None, Some(_)) => return Err(EntraError::missing("code_challenge")),
        // RFC 7636 §4.3: the method defaults to plain.
        (Some(c), None | Some("plain")) => Some((c.to_owned(), "plain".to_owned())),
        (Some(c), Some("S256")) => Some((c.to_owned(), "S256".to_owned())),
        (Some(_), Some(other)) => {
            return Err(EntraError::bad_request(
                "invalid_request",
                501_491,
                format!("Invalid code_challenge_method '{other}': use S256."),
            ));
        }
    };
    let user_id = signed_in_user(state, params.get("login_hint")).ok_or_else(|| {
        EntraError::bad_request(
            "invalid_request",
            50034,
            "The user account does not exist in the directory.",
        )
    })?;
    let code = state.opaque("weftsim-code-");
    lock(&state.store).codes.insert(
        code.clone(),
        CodeGrant {
            client_id: app.client_id.clone(),
            user_id,
            scopes,
            redirect_uri: redirect_uri.to_owned(),
            challenge,
            expires: Instant::now() + state.config.code_lifetime,
            used: false,
        },
    );
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only() {
        assert!(loopback_redirect("http://localhost:8765/callback"));
        assert!(loopback_redirect("http://127.0.0.1:1/cb?x=1"));
        assert!(loopback_redirect("http://localhost/cb"));
        assert!(loopback_redirect("http://[::1]:9/cb"));
        assert!(!loopback_redirect("https://localhost:8765/callback"));
        assert!(!loopback_redirect("http://evil.test/cb"));
        assert!(!loopback_redirect("http://localhost.evil.test/cb"));
        assert!(!loopback_redirect("http://127.0.0.1:80@evil.test/"));
        assert!(!loopback_redirect("http://localhost:1/cb#frag"));
    }
}
