//! `POST /{tenant}/oauth2/v2.0/token`: the four grants.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Path, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::SimApp;
use crate::conn::ConnTag;
use crate::inject::{Injected, inject};
use crate::state::{State, client_request_id};
use crate::sync::lock;

use super::error::{EntraError, no_store};
use super::issue::{app_token, user_token};
use super::scope::{self, has};
use super::store::DeviceStatus;
use super::{Params, TenantKind, check_tenant, signed_in_user};

/// The device code grant type (RFC 8628).
pub(crate) const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The token endpoint.
pub(crate) async fn token(
    AxState(state): AxState<Arc<State>>,
    Path(tenant): Path<String>,
    ConnectInfo(conn): ConnectInfo<ConnTag>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    state.count(|c| c.token_requests += 1);
    if let Some(injected) = inject(&state, &conn, true).await {
        return match injected {
            Injected::Dropped => StatusCode::OK.into_response(),
            Injected::Status(status, retry_after) => {
                let error = EntraError {
                    status,
                    error: "temporarily_unavailable",
                    code: 90033,
                    message: "A transient error has occurred. Please try again.".to_owned(),
                };
                let mut response = error.respond(&state, &headers);
                if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
                response
            }
        };
    }
    let mut response = match grant(&state, &tenant, &headers, form) {
        Ok(body) => {
            let mut response = axum::Json(body).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(error) => {
            state.count(|c| c.token_errors += 1);
            tracing::debug!(error = error.error, code = error.code, "sim: token request refused");
            error.respond(&state, &headers)
        }
    };
    if let Some(id) = client_request_id(&headers).and_then(|v| HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert("client-request-id", id);
    }
    response
}

fn grant(
    state: &State,
    tenant: &str,
    headers: &HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Value, EntraError> {
    let tenant_kind = check_tenant(state, tenant)?;
    let Form(pairs) = form.map_err(|rejection| match rejection {
        // Entra reads nothing from a body that isn't a form, so grant_type is "missing".
        FormRejection::InvalidFormContentType(_) => EntraError::missing("grant_type"),
        _ => EntraError::bad_request(
            "invalid_request",
            9_002_313,
            "Invalid request. Request is malformed or invalid.",
        ),
    })?;
    let params = Params(pairs);
    let grant_type = params.require("grant_type")?.to_owned();
    let app = super::client::authenticate(state, tenant, &params, headers)?;
    match grant_type.as_str() {
        "client_credentials" => client_credentials(state, tenant, tenant_kind, &app, &params),
        "authorization_code" => authorization_code(state, &app, &params),
        "refresh_token" => refresh_token(state, &app, &params),
        DEVICE_GRANT => device_code(state, &app, &params),
        other => Err(EntraError::bad_request(
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{other}'."),
        )),
    }
}

fn client_credentials(
    state: &State,
    tenant: &str,
    tenant_kind: TenantKind,
    app: &SimApp,
    params: &Params,
) -> Result<Value, EntraError> {
    if tenant_kind == TenantKind::MultiTenant {
        return Err(EntraError::bad_request(
            "invalid_request",
            50059,
            "No tenant-identifying information found in either the request or implied by any \
             provided credentials.",
        ));
    }
    if app.is_public() {
        return Err(EntraError::invalid_client(
            7_000_218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    }
    let scope = params.require("scope")?;
    scope::client_credentials(scope, &state.base_url, tenant)?;
    let body = app_token(state, app);
    state.count(|c| c.tokens_client_credentials += 1);
    Ok(body)
}

/// BASE64URL-NOPAD(SHA256(verifier)), the S256 challenge (RFC 7636 §4.2).
pub(crate) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn authorization_code(state: &State, app: &SimApp, params: &Params) -> Result<Value, EntraError> {
    let code = params.require("code")?;
    let redirect_uri = params.require("redirect_uri")?;
    let verifier = params.get("code_verifier");
    let mut store = lock(&state.store);
    let grant = store.codes.get_mut(code).ok_or_else(malformed)?;
    if !grant.client_id.eq_ignore_ascii_case(&app.client_id) {
        return Err(EntraError::invalid_grant(
            70000,
            "The provided value for the 'code' parameter is not valid: it was issued to another client.",
        ));
    }
    if grant.used {
        return Err(EntraError::invalid_grant(
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code \
             or use an existing refresh token.",
        ));
    }
    if Instant::now() > grant.expires {
        return Err(EntraError::invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. \
             Send a new interactive authorization request for this user and resource.",
        ));
    }
    if grant.redirect_uri != redirect_uri {
        return Err(EntraError::invalid_grant(
            500_112,
            format!(
                "The reply address '{redirect_uri}' does not match the reply address '{}' \
                 provided when requesting Authorization code.",
                grant.redirect_uri
            ),
        ));
    }
    if let Some((challenge, method)) = &grant.challenge {
        let verifier = verifier.ok_or_else(|| EntraError::missing("code_verifier"))?;
        let computed = if method == "S256" { s256(verifier) } else { verifier.to_owned() };
        if &computed != challenge {
            return Err(EntraError::invalid_grant(
                501_481,
                "The Code_Verifier does not match the code_challenge supplied in the \
                 authorization request.",
            ));
        }
    }
    grant.used = true;
    let (user_id, scopes) = (grant.user_id.clone(), grant.scopes.clone());
    drop(store);
    let body = user_token(state, app, &user_id, &scopes, &scopes);
    state.count(|c| c.tokens_authorization_code += 1);
    Ok(body)
}

fn malformed() -> EntraError {
    EntraError::invalid_grant(9_002_313, "Invalid request. Request is malformed or invalid.")
}

fn refresh_token(state: &State, app: &SimApp, params: &Params) -> Result<Value, EntraError> {
    let presented = params.require("refresh_token")?;
    let requested =
        params.get("scope").map(|s| scope::delegated(s, app, &state.base_url)).transpose()?;
    let mut store = lock(&state.store);
    let grant = store.refresh.get_mut(presented).ok_or_else(malformed)?;
    if !grant.client_id.eq_ignore_ascii_case(&app.client_id) {
        return Err(EntraError::invalid_grant(
            70000,
            "The provided value for the 'refresh_token' parameter is not valid: it was issued to \
             another client.",
        ));
    }
    if grant.used {
        return Err(EntraError::invalid_grant(
            70008,
            "The refresh token was already redeemed and has been replaced by a newer one; use \
             the refresh token returned last.",
        ));
    }
    let scopes = match requested {
        Some(requested) => {
            if let Some(extra) = requested.iter().find(|s| !has(&grant.scopes, s)) {
                return Err(EntraError::bad_request(
                    "invalid_grant",
                    65001,
                    format!(
                        "The user or administrator has not consented to use the application \
                         with ID '{}' for the scope '{extra}'. Send an interactive authorization \
                         request for this user and resource.",
                        app.client_id
                    ),
                ));
            }
            requested
        }
        None => grant.scopes.clone(),
    };
    grant.used = true;
    let (user_id, refresh_scopes) = (grant.user_id.clone(), grant.scopes.clone());
    drop(store);
    let body = user_token(state, app, &user_id, &scopes, &refresh_scopes);
    state.count(|c| c.tokens_refresh_token += 1);
    Ok(body)
}

/// Polls closer than this to the interval still count as on time (clock granularity).
const POLL_SLACK: Duration = Duration::from_millis(100);

fn device_code(state: &State, app: &SimApp, params: &Params) -> Result<Value, EntraError> {
    let presented = params.require("device_code")?;
    let now = Instant::now();
    let interval = Duration::from_secs(state.config.device_interval);
    let auto_after = state.config.device_auto_approve_after;
    let default_user = signed_in_user(state, None);
    let mut store = lock(&state.store);
    let device = store
        .devices
        .get_mut(presented)
        .filter(|d| d.client_id.eq_ignore_ascii_case(&app.client_id))
        .ok_or_else(|| {
            EntraError::bad_request(
                "bad_verification_code",
                70019,
                "The provided value for the input parameter 'device_code' is not valid.",
            )
        })?;
    if now > device.expires {
        return Err(EntraError::bad_request(
            "expired_token",
            70020,
            "The provided value for the input parameter 'device_code' is not valid. Device codes \
             expire after 15 minutes; start over.",
        ));
    }
    match device.status {
        DeviceStatus::Redeemed => {
            return Err(EntraError::invalid_grant(54005, "The device code was already redeemed."));
        }
        DeviceStatus::Declined => {
            return Err(EntraError::bad_request(
                "authorization_declined",
                70000,
                "The end user denied the authorization request.",
            ));
        }
        DeviceStatus::Pending | DeviceStatus::Approved(_) => {}
    }
    let interval = interval + Duration::from_secs(5) * device.slow_downs;
    let too_fast =
        device.last_poll.is_some_and(|last| now.duration_since(last) + POLL_SLACK < interval);
    device.last_poll = Some(now);
    if too_fast {
        device.slow_downs += 1;
        return Err(EntraError::bad_request(
            "slow_down",
            70016,
            format!(
                "OAuth 2.0 device flow error. Polling too fast: wait at least {} seconds between \
                 polls.",
                interval.as_secs() + 5
            ),
        ));
    }
    device.polls += 1;
    if device.status == DeviceStatus::Pending
        && auto_after.is_some_and(|n| device.polls >= n)
        && let Some(user) = default_user
    {
        device.status = DeviceStatus::Approved(user);
    }
    let DeviceStatus::Approved(user_id) = device.status.clone() else {
        return Err(EntraError::bad_request(
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        ));
    };
    device.status = DeviceStatus::Redeemed;
    let scopes = device.scopes.clone();
    drop(store);
    let body = user_token(state, app, &user_id, &scopes, &scopes);
    state.count(|c| c.tokens_device_code += 1);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_vector() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
