//! The device code flow: `POST /{tenant}/oauth2/v2.0/devicecode` and the verification page
//! where a user code is approved (`GET /devicelogin?otc=CODE`).

use std::sync::Arc;
use std::time::Instant;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use crate::state::State;
use crate::sync::lock;

use super::error::{EntraError, escape_html, no_store};
use super::store::{DeviceGrant, DeviceStatus};
use super::{Params, check_tenant, scope, signed_in_user};

/// Letters and digits a user code is made of (no look-alikes such as 0/O, 1/I).
const USER_CODE_CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// The devicecode endpoint.
pub(crate) async fn devicecode(
    AxState(state): AxState<Arc<State>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    state.count(|c| c.devicecode_requests += 1);
    match start(&state, &tenant, form) {
        Ok(body) => {
            let mut response = axum::Json(body).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(e) => e.respond(&state, &headers),
    }
}

fn start(
    state: &State,
    tenant: &str,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<serde_json::Value, EntraError> {
    check_tenant(state, tenant)?;
    let Form(pairs) = form.map_err(|_| EntraError::missing("client_id"))?;
    let params = Params(pairs);
    let client_id = params.require("client_id")?;
    let app = state.config.app(client_id).cloned().ok_or_else(|| {
        EntraError::bad_request(
            "unauthorized_client",
            700_016,
            format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."),
        )
    })?;
    let scopes = scope::delegated(params.require("scope")?, &app, &state.base_url)?;
    let device_code = state.opaque("weftsim-dc-");
    let user_code = user_code(state);
    let verification_uri = format!("{}/devicelogin", state.base_url);
    let lifetime = state.config.device_code_lifetime;
    lock(&state.store).devices.insert(
        device_code.clone(),
        DeviceGrant {
            client_id: app.client_id.clone(),
            scopes,
            user_code: user_code.clone(),
            expires: Instant::now() + lifetime,
            last_poll: None,
            slow_downs: 0,
            polls: 0,
            status: DeviceStatus::Pending,
        },
    );
    Ok(json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": verification_uri,
        "expires_in": lifetime.as_secs(),
        "interval": state.config.device_interval,
        "message": format!(
            "To sign in, use a web browser to open the page {verification_uri} and enter the \
             code {user_code} to authenticate."
        ),
    }))
}

fn user_code(state: &State) -> String {
    let raw = state.opaque("");
    raw.bytes()
        .take(9)
        .map(|b| {
            let i = usize::from(b) % USER_CODE_CHARS.len();
            char::from(USER_CODE_CHARS.get(i).copied().unwrap_or(b'A'))
        })
        .collect()
}

/// Approves a pending user code as `user` (the default user when `None`). False when no
/// pending code matches.
pub(crate) fn approve(state: &State, user_code: &str, user: Option<&str>) -> bool {
    let Some(user_id) = signed_in_user(state, user) else {
        return false;
    };
    let mut store = lock(&state.store);
    match store.device_by_user_code(user_code) {
        Some(d) if d.status == DeviceStatus::Pending && Instant::now() <= d.expires => {
            d.status = DeviceStatus::Approved(user_id);
            true
        }
        _ => false,
    }
}

/// Declines a pending user code. False when no pending code matches.
pub(crate) fn decline(state: &State, user_code: &str) -> bool {
    let mut store = lock(&state.store);
    match store.device_by_user_code(user_code) {
        Some(d) if d.status == DeviceStatus::Pending => {
            d.status = DeviceStatus::Declined;
            true
        }
        _ => false,
    }
}

/// The verification page: with `otc` (or `user_code`) it approves the code at once
/// (`decline=1` declines it; `login_hint` picks the user); without, it shows a form.
pub(crate) async fn login_page(
    AxState(state): AxState<Arc<State>>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let params = Params(pairs);
    let Some(code) = params.get("otc").or_else(|| params.get("user_code")) else {
        return Html(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Enter code</title></head>\
             <body><h1>Enter code</h1><form method=\"get\"><input name=\"otc\" autofocus>\
             <button>Next</button></form></body></html>",
        )
        .into_response();
    };
    let declined = params.get("decline").is_some_and(|v| v != "0" && v != "false");
    let done = if declined {
        decline(&state, code)
    } else {
        approve(&state, code, params.get("login_hint"))
    };
    let code = escape_html(code);
    if !done {
        let html = format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Sign in</title></head>\
             <body><h1>That code didn't work</h1><p>{code} is unknown, expired or already used.</p></body></html>"
        );
        return (StatusCode::BAD_REQUEST, Html(html)).into_response();
    }
    let what = if declined { "declined" } else { "signed in" };
    Html(format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Sign in</title></head>\
         <body><h1>You have {what}</h1><p>Code {code}. You may close this window.</p></body></html>"
    ))
    .into_response()
}
