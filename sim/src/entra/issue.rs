//! Minting tokens: opaque access and refresh tokens, an unsigned id token, and the success
//! body Entra returns.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::config::{SimApp, TENANT_ID};
use crate::state::State;
use crate::sync::lock;

use super::scope::{has, response_scope};
use super::store::{AccessGrant, Principal, RefreshGrant};

/// Prefix of every simulator access token (makes a leak easy to grep for).
pub(crate) const ACCESS_PREFIX: &str = "weftsim-at-";
/// Prefix of every simulator refresh token.
pub(crate) const REFRESH_PREFIX: &str = "weftsim-rt-";

fn lifetime(state: &State) -> (Duration, u64) {
    let life = state.config.token_lifetime;
    (life, life.as_secs())
}

/// An app-only token for client credentials; no refresh token, no `scope` (as Entra does).
pub(crate) fn app_token(state: &State, app: &SimApp) -> Value {
    let (life, secs) = lifetime(state);
    let token = state.opaque(ACCESS_PREFIX);
    lock(&state.store).add_access(
        token.clone(),
        AccessGrant {
            principal: Principal::App { roles: app.roles.clone() },
            client_id: app.client_id.clone(),
            expires: Instant::now() + life,
        },
    );
    json!({
        "token_type": "Bearer",
        "expires_in": secs,
        "ext_expires_in": secs,
        "access_token": token,
    })
}

/// A delegated token for `user_id` with `scopes`; a refresh token (covering
/// `refresh_scopes`) when those include `offline_access`, an id token when `scopes` include
/// `openid`.
pub(crate) fn user_token(
    state: &State,
    app: &SimApp,
    user_id: &str,
    scopes: &[String],
    refresh_scopes: &[String],
) -> Value {
    let (life, secs) = lifetime(state);
    let token = state.opaque(ACCESS_PREFIX);
    let mut body = Map::new();
    body.insert("token_type".into(), json!("Bearer"));
    body.insert("scope".into(), json!(response_scope(scopes)));
    body.insert("expires_in".into(), json!(secs));
    body.insert("ext_expires_in".into(), json!(secs));
    body.insert("access_token".into(), json!(token));
    let mut store = lock(&state.store);
    store.add_access(
        token,
        AccessGrant {
            principal: Principal::User { user_id: user_id.to_owned(), scopes: scopes.to_vec() },
            client_id: app.client_id.clone(),
            expires: Instant::now() + life,
        },
    );
    if has(refresh_scopes, "offline_access") {
        let refresh = state.opaque(REFRESH_PREFIX);
        store.refresh.insert(
            refresh.clone(),
            RefreshGrant {
                client_id: app.client_id.clone(),
                user_id: user_id.to_owned(),
                scopes: refresh_scopes.to_vec(),
                used: false,
            },
        );
        body.insert("refresh_token".into(), json!(refresh));
    }
    drop(store);
    if has(scopes, "openid") {
        body.insert("id_token".into(), json!(id_token(state, app, user_id, secs)));
    }
    Value::Object(body)
}

/// An id token with the usual v2.0 claims. It is unsigned (`alg: none`): the simulator has
/// no keys, and clients only read it.
fn id_token(state: &State, app: &SimApp, user_id: &str, lifetime_secs: u64) -> String {
    let user = state.config.user(user_id);
    let now = Utc::now().timestamp();
    let exp = now.saturating_add(i64::try_from(lifetime_secs).unwrap_or(3599));
    let header = json!({ "typ": "JWT", "alg": "none" });
    let claims = json!({
        "aud": app.client_id,
        "iss": format!("{}/{TENANT_ID}/v2.0", state.base_url),
        "iat": now, "nbf": now, "exp": exp,
        "name": user.map(|u| u.display_name.clone()),
        "preferred_username": user.map(|u| u.upn.clone()),
        "oid": user_id,
        "sub": user_id,
        "tid": TENANT_ID,
        "ver": "2.0",
    });
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.", part(&header), part(&claims))
}
