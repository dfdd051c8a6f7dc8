//! Weft Studio: the visual modeler, served to a browser on 127.0.0.1 by `weft studio`.
//!
//! Secure by default: it binds loopback only; every request must carry the per-start access
//! token (the `x-weft-token` header, or the cookie set when the printed URL is opened); the
//! `Host` header must name the server (against DNS rebinding) and state-changing requests must
//! come from its own origin (against CSRF); files are confined to the flows directory, by name,
//! and read and written through [`crate::safe_fs`]: regular files only (a symbolic link there is
//! refused, never followed), at most [`MAX_FILE_BYTES`] read, saves atomic under an
//! unpredictable temporary name.
//!
//! API (JSON): `GET /api/flows`, `GET|PUT /api/flows/{file}`, `GET /api/flows/{file}/svg`,
//! `GET /api/flows/{file}/profiles?profiles=FILE`, `POST /api/validate`, `POST /api/svg`,
//! `GET /api/kinds`, `GET /api/settings`; runs: `POST /api/flows/{file}/runs` (starts one),
//! `GET /api/runs/{id}/events` (its trace, server-sent events), `POST /api/runs/{id}/stop`,
//! `GET /api/runs/{id}/input/{node}`; test cases: `GET|POST /api/flows/{file}/tests`. The web
//! app (plain ES modules and SVG, no build step) is embedded in the binary.

mod cases;
pub mod format;
mod run;
pub mod svg;

use crate::Engine;
use crate::flow::Loader;
use crate::net::access::{AccessToken, LocalOnly};
use crate::safe_fs::{self, FsError, Mode};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use weft_nodes::Registry;

/// The header that carries the access token.
pub const TOKEN_HEADER: &str = "x-weft-token";
/// The largest file the studio reads from its directory (16 MiB): flows, test files and
/// profiles files.
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// The cookie that carries the access token once the printed URL was opened, suffixed with
/// the port (`weft_studio_8790`): cookies don't tell ports apart, studios on one host must.
pub const TOKEN_COOKIE: &str = "weft_studio";

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

struct AppState {
    dir: PathBuf,
    token: String,
    /// The token, for comparisons in constant time.
    access: AccessToken,
    /// The `Host` and `Origin` rules of a loopback server.
    local: LocalOnly,
    port: u16,
    /// The node kinds, the expression engine, profiles read with `options.env` over the
    /// process environment, sign-ins kept in `options.state_dir`.
    engine: Engine,
    saving: Mutex<()>,
    options: StudioOptions,
    runs: run::Runs,
}

/// How the studio runs flows.
#[derive(Debug, Clone, Default)]
pub struct StudioOptions {
    /// Values of `${env.NAME}` in profiles that take precedence over the process environment
    /// for studio runs (the simulator's address and secret with `--sim`). Never sent to the
    /// browser.
    pub env: HashMap<String, String>,
    /// Parameter values the run form starts with, over the flow's defaults (for the flows that
    /// declare them).
    pub params: serde_json::Map<String, Value>,
    /// The profiles file the run form picks first (else `profiles.json`).
    pub profiles: Option<String>,
    /// Where sign-ins are kept (default: the platform's data directory, as for `weft run`).
    pub state_dir: Option<PathBuf>,
    /// The simulator's address, shown in the app, when one runs for this studio.
    pub sim_url: Option<String>,
}

impl StudioOptions {
    /// Runs against the simulator at `base_url` (Graph at `graph_base`): `WEFT_SIM_URL` and
    /// `WEFT_SIM_SECRET` resolve to it in profiles (as `flows/profiles.sim.json` uses them), the
    /// run form picks `profiles.sim.json` and starts `graph_base` at the simulator's Graph.
    pub fn simulator(base_url: &str, graph_base: &str) -> Self {
        let mut options = Self::default();
        options.env.insert("WEFT_SIM_URL".into(), base_url.to_owned());
        options.env.insert("WEFT_SIM_SECRET".into(), weft_sim::APP_CLIENT_SECRET.to_owned());
        options.params.insert("graph_base".into(), graph_base.into());
        options.profiles = Some("profiles.sim.json".into());
        options.sim_url = Some(base_url.to_owned());
        options
    }
}

/// A bound, not yet running, studio server.
pub struct Studio {
    listener: TcpListener,
    state: Arc<AppState>,
}

impl Studio {
    /// Binds `listen` (a loopback address; port 0 picks one) to serve the flows of `dir`, with a
    /// fresh random access token.
    pub async fn bind(dir: &Path, listen: SocketAddr) -> Result<Self, String> {
        Self::bind_with(dir, listen, StudioOptions::default()).await
    }

    /// [`Studio::bind`], running flows as `options` say.
    pub async fn bind_with(
        dir: &Path,
        listen: SocketAddr,
        options: StudioOptions,
    ) -> Result<Self, String> {
        if listen.ip() != std::net::Ipv4Addr::LOCALHOST {
            return Err(format!("the studio listens on loopback (127.0.0.1) only, not {listen}"));
        }
        let dir = dir
            .canonicalize()
            .map_err(|err| format!("cannot open the flows directory {}: {err}", dir.display()))?;
        if !dir.is_dir() {
            return Err(format!("{} is not a directory", dir.display()));
        }
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|err| format!("cannot listen on {listen}: {err}"))?;
        let addr = listener.local_addr().map_err(|err| err.to_string())?;
        let token = random_token()?;
        let state = Arc::new(AppState {
            dir,
            access: AccessToken::new(&token),
            token,
            local: LocalOnly::new(addr),
            port: addr.port(),
            engine: engine(&options)?,
            saving: Mutex::new(()),
            options,
            runs: run::Runs::new()?,
        });
        Ok(Self { listener, state })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.state.port))
    }

    /// The access token of this start.
    pub fn token(&self) -> &str {
        &self.state.token
    }

    /// The URL to open: it carries the token.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/?token={}", self.state.port, self.state.token)
    }

    /// Serves until the process ends.
    pub async fn run(self) -> std::io::Result<()> {
        let router = router(self.state);
        let limits = crate::net::listen::Limits::default();
        crate::net::listen::serve(self.listener, router, limits, std::future::pending).await;
        Ok(())
    }
}

fn random_token() -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 24];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "no system randomness for the access token".to_owned())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/assets/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }))
        .route("/api/flows", get(list_flows))
        .route("/api/flows/{file}", get(get_flow).put(save_flow))
        .route("/api/flows/{file}/svg", get(flow_svg))
        .route("/api/flows/{file}/profiles", get(flow_profiles))
        .route("/api/validate", post(validate))
        .route("/api/svg", post(post_svg))
        .route("/api/kinds", get(kinds))
        .route("/api/settings", get(settings))
        .route("/api/flows/{file}/runs", post(run::start))
        .route("/api/flows/{file}/tests", get(cases::list).post(cases::run))
        .route("/api/runs/{id}/events", get(run::events))
        .route("/api/runs/{id}/stop", post(run::stop))
        .route("/api/runs/{id}/input/{node}", get(run::input))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-store")], body)
        .into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

/// A refusal: status and message, answered as `{ "error": message }`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

fn cookie_name(port: u16) -> String {
    format!("{TOKEN_COOKIE}_{port}")
}

fn cookie_token(headers: &HeaderMap, port: u16) -> Option<String> {
    let wanted = cookie_name(port);
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        v.split(';').find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == wanted).then(|| value.to_owned())
        })
    })
}

/// Host, token and origin checks; `/?token=…` trades the token for a cookie.
async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if let Err(refusal) = state.local.check(&request) {
        return error(refusal.status, refusal.message);
    }
    let port = state.port;
    let headers = request.headers();
    let by_header = headers.get(TOKEN_HEADER).is_some_and(|t| state.access.accepts(t.as_bytes()));
    let by_cookie = cookie_token(headers, port).is_some_and(|t| state.access.accepts(t.as_bytes()));
    let origin = headers.contains_key(header::ORIGIN);
    let state_changing = !matches!(*request.method(), Method::GET | Method::HEAD);
    if request.uri().path() == "/"
        && let Some(token) = request.uri().query().and_then(|q| {
            q.split('&').find_map(|pair| pair.strip_prefix("token=").map(str::to_owned))
        })
    {
        if !state.access.accepts(token.as_bytes()) {
            return error(StatusCode::UNAUTHORIZED, "wrong access token");
        }
        let cookie = format!("{}={token}; Path=/; HttpOnly; SameSite=Strict", cookie_name(port));
        return match HeaderValue::from_str(&cookie) {
            Ok(cookie) => (
                StatusCode::SEE_OTHER,
                [(header::SET_COOKIE, cookie), (header::LOCATION, HeaderValue::from_static("/"))],
            )
                .into_response(),
            Err(_) => error(StatusCode::BAD_REQUEST, "bad token"),
        };
    }
    if !by_header && !by_cookie {
        return error(
            StatusCode::UNAUTHORIZED,
            "open the URL `weft studio` printed (it carries the access token)",
        );
    }
    if state_changing && !by_header && !origin {
        return error(StatusCode::FORBIDDEN, "state-changing requests need an Origin header");
    }
    next.run(request).await
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// Whether `name` may be served: a plain `*.flow.json` file name, no directory part.
pub fn is_flow_name(name: &str) -> bool {
    name.len() > ".flow.json".len()
        && name.ends_with(".flow.json")
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.contains("..")
}

fn flow_path(state: &AppState, name: &str) -> Result<PathBuf, ApiError> {
    if !is_flow_name(name) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "`{}` is not a flow file name (NAME.flow.json, in the studio's directory)",
                weft_nodes::clip(name)
            ),
        ));
    }
    let path = state.dir.join(name);
    // Said early and clearly; the reads and the save refuse a link on their own as well.
    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
        let refused = FsError::NotRegular { path, what: "a symbolic link" };
        return Err(file_refused(state, refused));
    }
    Ok(path)
}

/// Reads a file of the studio's directory (see [`MAX_FILE_BYTES`]), off the async workers.
async fn read_file(path: PathBuf) -> Result<Vec<u8>, FsError> {
    let task = tokio::task::spawn_blocking({
        let path = path.clone();
        move || safe_fs::read(&path, MAX_FILE_BYTES)
    });
    task.await.unwrap_or_else(|err| Err(FsError::Io { path, error: std::io::Error::other(err) }))
}

/// A file of the directory that could not be read or written, as an answer.
fn file_refused(state: &AppState, err: FsError) -> ApiError {
    let status = match &err {
        FsError::NotFound { .. } => StatusCode::NOT_FOUND,
        FsError::NotRegular { .. } => StatusCode::FORBIDDEN,
        FsError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        FsError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError(status, shown(&err.to_string(), &state.dir))
}

/// Paths in messages are shown relative to the directory.
fn shown(message: &str, dir: &Path) -> String {
    let prefix = format!("{}/", dir.display());
    message.replace(&prefix, "")
}

fn version_of(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().take(16).map(|b| format!("{b:02x}")).collect()
}

async fn list_flows(State(state): State<Arc<AppState>>) -> Response {
    let mut entries = match tokio::fs::read_dir(&state.dir).await {
        Ok(entries) => entries,
        Err(err) => return error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    };
    let mut flows = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Links are not listed: they are not opened either.
        if !is_flow_name(&name) || !entry.file_type().await.is_ok_and(|t| t.is_file()) {
            continue;
        }
        let parsed: Option<Value> =
            read_file(entry.path()).await.ok().and_then(|b| serde_json::from_slice(&b).ok());
        let text = |key: &str| parsed.as_ref().and_then(|v| v.get(key)).cloned();
        flows.push(
            json!({ "file": name, "name": text("name"), "description": text("description") }),
        );
    }
    flows.sort_by(|a, b| a["file"].as_str().cmp(&b["file"].as_str()));
    axum::Json(json!({ "flows": flows })).into_response()
}

/// Diagnostics of a flow's text, the exits of each node that compiles, and positions for the
/// nodes without one.
fn analyze(loader: &Loader, bytes: &[u8], value: Option<&Value>, name: &str) -> Value {
    let loaded = loader.load_bytes(bytes, name);
    let exits_of = |node: &dyn weft_nodes::Node| {
        let mut exits = node.exits();
        if !node.is_terminal() && !exits.iter().any(|e| e == "error") {
            exits.push("error".to_owned());
        }
        json!(exits)
    };
    let mut exits = serde_json::Map::new();
    if let Some(flow) = &loaded.flow {
        for node in flow.nodes() {
            exits.insert(node.id.clone(), exits_of(node.node.as_ref()));
        }
    } else if let Some(Value::Object(top)) = value {
        // Compile each node on its own, so that a broken node doesn't hide the others' exits.
        let nodes = top.get("nodes").and_then(Value::as_array).cloned().unwrap_or_default();
        for node in nodes {
            let Some(id) = node.get("id").and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            // Only what a node needs: copying the whole flow for each node is quadratic.
            let mut single = serde_json::Map::new();
            single.insert("format".into(), json!(crate::flow::wire::FORMAT));
            single.insert("start".into(), json!(id));
            single.insert("nodes".into(), json!([node]));
            single.insert("edges".into(), json!([]));
            let text = format::flow_text(&Value::Object(single));
            if let Some(flow) = loader.load_bytes(text.as_bytes(), name).flow
                && let Some(built) = flow.node(&id)
            {
                exits.insert(id, exits_of(built.node.as_ref()));
            }
        }
    }
    let layout = value.map(svg::layout).unwrap_or_default();
    json!({
        "valid": !loaded.has_errors(),
        "diagnostics": loaded.diagnostics,
        "exits": exits,
        "layout": layout,
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Value::Object(a), Value::Object(b)) = (&mut a, b) {
        a.extend(b);
    }
    a
}

async fn get_flow(State(state): State<Arc<AppState>>, UrlPath(file): UrlPath<String>) -> Response {
    let path = match flow_path(&state, &file) {
        Ok(path) => path,
        Err(refused) => return refused.into_response(),
    };
    let bytes = match read_file(path).await {
        Ok(bytes) => bytes,
        Err(FsError::NotFound { .. }) => {
            return error(StatusCode::NOT_FOUND, format!("no flow `{file}`"));
        }
        Err(err) => return file_refused(&state, err).into_response(),
    };
    let value: Option<Value> = serde_json::from_slice(&bytes).ok();
    let name = file.trim_end_matches(".flow.json");
    let analysis = analyze(state.engine.loader(), &bytes, value.as_ref(), name);
    let text = String::from_utf8_lossy(&bytes);
    axum::Json(merge(
        json!({ "file": file, "version": version_of(&bytes), "text": text, "flow": value }),
        analysis,
    ))
    .into_response()
}

/// A request's JSON, checked as files are (depth, duplicate keys, byte order mark).
fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    crate::flow::json::parse(body).map_err(|err| {
        let at = match (err.line, err.column) {
            (Some(line), Some(column)) => format!(" (line {line}, column {column})"),
            _ => String::new(),
        };
        ApiError(StatusCode::BAD_REQUEST, format!("the request is not JSON: {}{at}", err.message))
    })
}

async fn validate(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let value = match parse_body(&body) {
        Ok(value) => value,
        Err(refused) => return refused.into_response(),
    };
    let text = format::flow_text(&value);
    let analysis = analyze(state.engine.loader(), text.as_bytes(), Some(&value), "flow");
    axum::Json(merge(json!({ "text": text }), analysis)).into_response()
}

async fn save_flow(
    State(state): State<Arc<AppState>>,
    UrlPath(file): UrlPath<String>,
    body: Bytes,
) -> Response {
    let path = match flow_path(&state, &file) {
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
    let _saving = state.saving.lock().await;
    let opened = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || safe_fs::read_with_mode(&path, MAX_FILE_BYTES)).await
    };
    let (original, mode) = match opened {
        Ok(Ok((bytes, mode))) => (Some(bytes), Mode::Exactly(mode)),
        Ok(Err(FsError::NotFound { .. })) => (None, Mode::New),
        // A link at the flow's name is refused: saving would replace it with a file.
        Ok(Err(err)) => return file_refused(&state, err).into_response(),
        Err(err) => return error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    };
    let current = original.as_deref().map(version_of);
    if current.as_deref() != expected.as_str() {
        let message = match &current {
            Some(_) if expected.is_null() => format!("`{file}` already exists"),
            Some(_) => format!("`{file}` changed on disk since it was opened; reload it first"),
            None => format!("`{file}` was deleted since it was opened"),
        };
        return (StatusCode::CONFLICT, axum::Json(json!({ "error": message, "version": current })))
            .into_response();
    }
    // An existing file keeps its own layout where nothing changed.
    let text = match original.as_deref().map(std::str::from_utf8) {
        Some(Ok(original)) => format::flow_text_keeping(flow, original),
        _ => format::flow_text(flow),
    };
    let written = {
        let text = text.clone();
        tokio::task::spawn_blocking(move || safe_fs::write_atomic(&path, text.as_bytes(), mode))
            .await
    };
    match written {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            let message = format!("cannot save `{file}`: {}", shown(&err.to_string(), &state.dir));
            return error(StatusCode::INTERNAL_SERVER_ERROR, message);
        }
        Err(err) => return error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
    let name = file.trim_end_matches(".flow.json");
    let analysis = analyze(state.engine.loader(), text.as_bytes(), Some(flow), name);
    axum::Json(merge(json!({ "version": version_of(text.as_bytes()), "text": text }), analysis))
        .into_response()
}

fn svg_response(value: &Value, registry: &Registry) -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg::Drawing::of(value, registry).svg())
        .into_response()
}

async fn flow_svg(State(state): State<Arc<AppState>>, UrlPath(file): UrlPath<String>) -> Response {
    let path = match flow_path(&state, &file) {
        Ok(path) => path,
        Err(refused) => return refused.into_response(),
    };
    match read_file(path).await.map(|b| serde_json::from_slice::<Value>(&b)) {
        Ok(Ok(value)) => svg_response(&value, state.engine.loader().registry()),
        Ok(Err(err)) => error(StatusCode::UNPROCESSABLE_ENTITY, format!("not JSON: {err}")),
        Err(FsError::NotFound { .. }) => error(StatusCode::NOT_FOUND, format!("no flow `{file}`")),
        Err(err) => file_refused(&state, err).into_response(),
    }
}

async fn post_svg(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    match parse_body(&body) {
        Ok(value) => svg_response(&value, state.engine.loader().registry()),
        Err(refused) => refused.into_response(),
    }
}

async fn kinds(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(kinds_of(state.engine.loader().registry())).into_response()
}

/// `{ kinds: [{ name, description, glyph, schema }] }`: the palette, and in each schema what the
/// kind says about itself (`x-weft-*`: exits, expression fields, status exits, …).
pub(crate) fn kinds_of(registry: &Registry) -> Value {
    let kinds: Vec<Value> = registry
        .kinds()
        .map(|k| {
            json!({
                "name": k.name(),
                "description": k.description(),
                "glyph": k.info().glyph,
                "schema": k.schema(),
            })
        })
        .collect();
    json!({ "kinds": kinds })
}

/// What the run form starts with: `{ profiles, params, sim }` (no secret: the environment
/// overlay stays on the server).
async fn settings(State(state): State<Arc<AppState>>) -> Response {
    let options = &state.options;
    axum::Json(json!({
        "profiles": options.profiles,
        "params": options.params,
        "sim": options.sim_url,
        "max_steps": crate::exec::DEFAULT_MAX_STEPS,
    }))
    .into_response()
}

/// The profiles files of the directory: `*.json` files whose `format` is `weft.profiles/1`.
async fn profiles_files(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return files;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json")
            || name.starts_with('.')
            || is_flow_name(&name)
            || !entry.file_type().await.is_ok_and(|t| t.is_file())
        {
            continue;
        }
        let format = read_file(entry.path())
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v.get("format").and_then(Value::as_str).map(str::to_owned));
        if format.as_deref() == Some("weft.profiles/1") {
            files.push(name);
        }
    }
    files.sort();
    files
}

/// The profiles a flow uses, by name in file order: from its built nodes when it loads, else
/// from the fields their kinds say name profiles.
pub(crate) fn used_profiles(loader: &Loader, bytes: &[u8], value: &Value) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    };
    if let Some(flow) = loader.load_bytes(bytes, "flow").flow {
        for node in flow.nodes() {
            node.node.profiles().into_iter().for_each(&mut add);
        }
    } else {
        for node in value.get("nodes").and_then(Value::as_array).into_iter().flatten() {
            let kind = node.get("type").and_then(Value::as_str);
            if let Some(kind) = kind.and_then(|kind| loader.registry().get(kind)) {
                kind.info().profile_names(node).into_iter().for_each(&mut add);
            }
        }
    }
    names
}

/// Whether each profile the flow uses resolves from the chosen profiles file (environment
/// variables and secret files read, never shown: only the names of what is missing are).
async fn flow_profiles(
    State(state): State<Arc<AppState>>,
    UrlPath(file): UrlPath<String>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let path = match flow_path(&state, &file) {
        Ok(path) => path,
        Err(refused) => return refused.into_response(),
    };
    let bytes = match read_file(path).await {
        Ok(bytes) => bytes,
        Err(FsError::NotFound { .. }) => {
            return error(StatusCode::NOT_FOUND, format!("no flow `{file}`"));
        }
        Err(err) => return file_refused(&state, err).into_response(),
    };
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let names = used_profiles(state.engine.loader(), &bytes, &value);
    let files = profiles_files(&state.dir).await;
    let chosen = query.get("profiles").cloned().unwrap_or_else(|| "profiles.json".to_owned());
    if !files.contains(&chosen) {
        let profiles: Vec<Value> = names
            .iter()
            .map(|n| json!({ "name": n, "resolves": false, "error": format!("no profiles file `{chosen}` in the directory") }))
            .collect();
        return axum::Json(json!({ "file": chosen, "files": files, "profiles": profiles }))
            .into_response();
    }
    let profiles_path = state.dir.join(&chosen);
    let engine = state.engine.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let profiles = load_profiles(&profiles_path);
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

/// The studio's engine: profiles read with `options.env` over the process environment (the
/// simulator's address and secret with `--sim`), sign-ins kept in `options.state_dir`.
fn engine(options: &StudioOptions) -> Result<Engine, String> {
    let overlay = options.env.clone();
    let env = move |name: &str| overlay.get(name).cloned().or_else(|| std::env::var(name).ok());
    let mut engine = Engine::builder().env(Arc::new(env));
    if let Some(dir) = &options.state_dir {
        engine = engine.state_dir(dir);
    }
    engine.build().map_err(|e| e.to_string())
}

/// Reads and parses a profiles file of the studio's directory (see [`MAX_FILE_BYTES`]).
fn load_profiles(path: &Path) -> Result<crate::auth::Profiles, String> {
    let bytes = safe_fs::read(path, MAX_FILE_BYTES).map_err(|e| e.to_string())?;
    crate::auth::Profiles::parse(&bytes, path).map_err(|e| e.to_string())
}
