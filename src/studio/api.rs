//! The studio's API over the flows of its directory: list, open, validate as you type, save
//! with a version check (409 on conflict), draw as SVG, the palette of kinds, the run form's
//! settings, and whether the profiles a flow uses resolve.

use super::analysis::{analyze, kinds_of, used_profiles};
use super::files::{SaveRefused, load_profiles, read_file, version_of};
use super::reply::{error, parse_body};
use super::state::AppState;
use super::{format, svg};
use crate::safe_fs::FsError;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use weft_nodes::Registry;

fn merge(mut a: Value, b: Value) -> Value {
    if let (Value::Object(a), Value::Object(b)) = (&mut a, b) {
        a.extend(b);
    }
    a
}

/// The path of the flow `file` (checked) and its saved text, or the answer that refuses it (404
/// when there is none).
pub(super) async fn saved_flow(
    state: &AppState,
    file: &str,
) -> Result<(PathBuf, Vec<u8>), Response> {
    let path = state.files.flow_path(file).map_err(IntoResponse::into_response)?;
    match read_file(path.clone()).await {
        Ok(bytes) => Ok((path, bytes)),
        Err(FsError::NotFound { .. }) => {
            Err(error(StatusCode::NOT_FOUND, format!("no flow `{file}`")))
        }
        Err(err) => Err(state.files.refused(err).into_response()),
    }
}

/// `GET /api/flows`: `{ flows: [{ file, name, description }] }`.
pub(super) async fn list_flows(State(state): State<Arc<AppState>>) -> Response {
    match state.files.flows().await {
        Ok(flows) => axum::Json(json!({ "flows": flows })).into_response(),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

/// `GET /api/flows/{file}`: `{ file, version, text, flow }` and its analysis.
pub(super) async fn get_flow(
    State(state): State<Arc<AppState>>,
    UrlPath(file): UrlPath<String>,
) -> Response {
    let (path, bytes) = match saved_flow(&state, &file).await {
        Ok(saved) => saved,
        Err(refused) => return refused,
    };
    let value: Option<Value> = serde_json::from_slice(&bytes).ok();
    let analysis = analyze(state.engine.loader(), &bytes, value.as_ref(), &path);
    let text = String::from_utf8_lossy(&bytes);
    axum::Json(merge(
        json!({ "file": file, "version": version_of(&bytes), "text": text, "flow": value }),
        analysis,
    ))
    .into_response()
}

/// `POST /api/validate?file=NAME` with a flow: its text as it would be saved, and its analysis
/// as the file `NAME` of the folder (the flows its `call` nodes name are found beside it).
pub(super) async fn validate(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let value = match parse_body(&body) {
        Ok(value) => value,
        Err(refused) => return refused.into_response(),
    };
    let path = match query.get("file") {
        Some(file) => match state.files.flow_path(file) {
            Ok(path) => path,
            Err(refused) => return refused.into_response(),
        },
        None => state.files.dir().join("flow.flow.json"),
    };
    let text = format::flow_text(&value);
    let analysis = analyze(state.engine.loader(), text.as_bytes(), Some(&value), &path);
    axum::Json(merge(json!({ "text": text }), analysis)).into_response()
}

/// `PUT /api/flows/{file}` with `{ version, flow }`: saves it if the file is still at
/// `version`; answers the new version, the text and its analysis.
pub(super) async fn save_flow(
    State(state): State<Arc<AppState>>,
    UrlPath(file): UrlPath<String>,
    body: Bytes,
) -> Response {
    let path = match state.files.flow_path(&file) {
        Ok(path) => path,
        Err(refused) => return refused.into_response(),
    };
    let request = match parse_body(&body) {
        Ok(value) => value,
        Err(refused) => return refused.into_response(),
    };
    let (Some(expected), Some(flow)) = (request.get("version"), request.get("flow")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected { \"version\": the version opened (null for a new file), \"flow\": {…} }",
        );
    };
    if !flow.is_object() {
        return error(StatusCode::BAD_REQUEST, "`flow` must be a JSON object");
    }
    let text = match state.files.save(&file, path.clone(), expected, flow).await {
        Ok(text) => text,
        Err(SaveRefused::Conflict { message, current }) => {
            let body = json!({ "error": message, "version": current });
            return (StatusCode::CONFLICT, axum::Json(body)).into_response();
        }
        Err(SaveRefused::Failed(refused)) => return refused.into_response(),
    };
    let analysis = analyze(state.engine.loader(), text.as_bytes(), Some(flow), &path);
    axum::Json(merge(json!({ "version": version_of(text.as_bytes()), "text": text }), analysis))
        .into_response()
}

fn svg_response(value: &Value, registry: &Registry) -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg::Drawing::of(value, registry).svg())
        .into_response()
}

/// `GET /api/flows/{file}/svg`: the saved flow's drawing.
pub(super) async fn flow_svg(
    State(state): State<Arc<AppState>>,
    UrlPath(file): UrlPath<String>,
) -> Response {
    match saved_flow(&state, &file).await.map(|(_, b)| serde_json::from_slice::<Value>(&b)) {
        Ok(Ok(value)) => svg_response(&value, state.engine.loader().registry()),
        Ok(Err(err)) => error(StatusCode::UNPROCESSABLE_ENTITY, format!("not JSON: {err}")),
        Err(refused) => refused,
    }
}

/// `POST /api/svg` with a flow: its drawing.
pub(super) async fn post_svg(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    match parse_body(&body) {
        Ok(value) => svg_response(&value, state.engine.loader().registry()),
        Err(refused) => refused.into_response(),
    }
}

/// `GET /api/kinds`: the palette (see [`kinds_of`]).
pub(super) async fn kinds(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(kinds_of(state.engine.loader().registry())).into_response()
}

/// `GET /api/settings`: what the run form starts with, `{ profiles, params, sim, max_steps,
/// store }`
/// (no secret: the environment overlay stays on the server).
pub(super) async fn settings(State(state): State<Arc<AppState>>) -> Response {
    let options = &state.options;
    axum::Json(json!({
        "profiles": options.profiles,
        "params": options.params,
        "sim": options.sim_url,
        "max_steps": crate::exec::DEFAULT_MAX_STEPS,
        "store": options.store_url,
    }))
    .into_response()
}

/// `GET /api/flows/{file}/profiles?profiles=FILE`: whether each profile the flow uses resolves
/// from the chosen profiles file (environment variables and secret files read, never shown:
/// only the names of what is missing are).
pub(super) async fn flow_profiles(
    State(state): State<Arc<AppState>>,
    UrlPath(file): UrlPath<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (path, bytes) = match saved_flow(&state, &file).await {
        Ok(saved) => saved,
        Err(refused) => return refused,
    };
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let names = used_profiles(state.engine.loader(), &bytes, &value, &path);
    let files = state.files.profiles_files().await;
    let chosen = query.get("profiles").cloned().unwrap_or_else(|| "profiles.json".to_owned());
    if !files.contains(&chosen) {
        let profiles: Vec<Value> = names
            .iter()
            .map(|n| json!({ "name": n, "resolves": false, "error": format!("no profiles file `{chosen}` in the directory") }))
            .collect();
        return axum::Json(json!({ "file": chosen, "files": files, "profiles": profiles }))
            .into_response();
    }
    let profiles_path = state.files.dir().join(&chosen);
    let engine = state.engine.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let profiles = load_profiles(&engine, &profiles_path);
        names
            .iter()
            .map(|name| match &profiles {
                Err(err) => json!({ "name": name, "resolves": false, "error": err }),
                Ok(profiles) => match engine.resolve(profiles, name) {
                    Ok(_) => json!({ "name": name, "resolves": true }),
                    Err(err) => {
                        json!({ "name": name, "resolves": false, "error": err.to_string() })
                    }
                },
            })
            .collect::<Vec<Value>>()
    })
    .await
    .unwrap_or_default();
    axum::Json(json!({ "file": chosen, "files": files, "profiles": checked })).into_response()
}
