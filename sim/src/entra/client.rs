//! Client authentication at the token endpoint: secret in the body (`client_secret_post`),
//! HTTP Basic (RFC 6749 §2.3.1), a client assertion, or none for public clients.

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::config::SimApp;
use crate::state::State;
use crate::urlenc::decode_form;

use super::Params;
use super::error::EntraError;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The id and secret of an `Authorization: Basic` header, each form-urldecoded.
fn basic(headers: &HeaderMap) -> Result<Option<(String, String)>, EntraError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || {
        EntraError::bad_request(
            "invalid_request",
            900_023,
            "The Authorization header could not be read as HTTP Basic client credentials.",
        )
    };
    let value = value.to_str().map_err(|_| bad())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let id = decode_form(id).ok_or_else(bad)?;
    let secret = decode_form(secret).ok_or_else(bad)?;
    Ok(Some((id, secret)))
}

/// Checks a client assertion's claims (issuer and subject are the client). The simulator
/// does not verify the signature: it has no certificates.
fn check_assertion(params: &Params, client_id: &str) -> Result<(), EntraError> {
    let bad =
        |msg: &str| EntraError::invalid_client(700_027, format!("Client assertion failed: {msg}."));
    if params.get("client_assertion_type") != Some(JWT_BEARER) {
        return Err(EntraError::bad_request(
            "invalid_request",
            700_024,
            format!("Client assertion type must be '{JWT_BEARER}'."),
        ));
    }
    let assertion = params.get("client_assertion").unwrap_or_default();
    let payload = assertion.split('.').nth(1).ok_or_else(|| bad("not a JWT"))?;
    let json = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| bad("payload is not base64url"))?;
    let claims: serde_json::Value =
        serde_json::from_slice(&json).map_err(|_| bad("payload is not JSON"))?;
    let is_client = |name: &str| claims.get(name).and_then(|v| v.as_str()) == Some(client_id);
    if is_client("iss") && is_client("sub") {
        Ok(())
    } else {
        Err(bad("iss and sub must be the client id"))
    }
}

/// Identifies and authenticates the calling client.
pub(crate) fn authenticate(
    state: &State,
    tenant: &str,
    params: &Params,
    headers: &HeaderMap,
) -> Result<SimApp, EntraError> {
    let basic = basic(headers)?;
    let body_id = params.get("client_id");
    let client_id = match (&basic, body_id) {
        (Some((id, _)), Some(body)) if id != body => {
            return Err(EntraError::bad_request(
                "invalid_request",
                900_144,
                "The client_id in the Authorization header does not match the one in the request body.",
            ));
        }
        (Some((id, _)), _) => id.clone(),
        (None, Some(body)) => body.to_owned(),
        (None, None) => return Err(EntraError::missing("client_id")),
    };
    let app = state.config.app(&client_id).cloned().ok_or_else(|| {
        EntraError::bad_request(
            "unauthorized_client",
            700_016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory \
                 '{tenant}'. This can happen if the application has not been installed by the \
                 administrator of the tenant or consented to by any user in the tenant. You may \
                 have sent your authentication request to the wrong tenant."
            ),
        )
    })?;
    let secret = basic.as_ref().map(|(_, s)| s.as_str()).or_else(|| params.get("client_secret"));
    let assertion = params.get("client_assertion").is_some();
    match (&app.secret, secret) {
        (None, Some(_)) => Err(EntraError::invalid_client(
            700_025,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        )),
        (None, None) if assertion => Err(EntraError::invalid_client(
            700_025,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        )),
        (None, None) => Ok(app),
        (Some(_), None) if assertion => check_assertion(params, &app.client_id).map(|()| app),
        (Some(_), None) => Err(EntraError::invalid_client(
            7_000_218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )),
        (Some(expected), Some(given)) if expected == given => Ok(app),
        (Some(_), Some(_)) => Err(EntraError::invalid_client(
            7_000_215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is \
                 the client secret value, not the client secret ID, for a secret added to app \
                 '{}'.",
                app.client_id
            ),
        )),
    }
}
