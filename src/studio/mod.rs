//! Weft Studio: the visual modeler, served to a browser on 127.0.0.1 by `weft studio`.
//!
//! Secure by default: it binds loopback only; every request must carry the per-start access
//! token (the `x-weft-token` header, or the cookie set when the printed URL is opened); the
//! `Host` header must name the server (against DNS rebinding); a request with an `Origin` must
//! come from the studio's own, and a state-changing one must carry the token header or an
//! `Origin` (against CSRF: the cookie alone never suffices); files are confined to the flows
//! directory, by name, and read and written through [`crate::safe_fs`]: regular files only (a
//! symbolic link there is refused, never followed), at most [`MAX_FILE_BYTES`] read, saves
//! atomic under an unpredictable temporary name.
//!
//! The API (JSON):
//! - flows: `GET /api/flows`, `GET|PUT /api/flows/{file}`, `GET /api/flows/{file}/svg`,
//!   `GET /api/flows/{file}/profiles?profiles=FILE`, `POST /api/validate?file=NAME`,
//!   `POST /api/svg`, `GET /api/kinds`, `GET /api/settings`;
//! - runs: `POST /api/flows/{file}/runs` with `{ profiles? (default `profiles.json`), params?,
//!   max_steps?, timeout_secs? }` starts one and answers `{ run, events }`: `run` is the
//!   studio's id of it, for `GET /api/runs/{id}/events` (its trace, server-sent events),
//!   `POST /api/runs/{id}/stop` and `GET /api/runs/{id}/input/{node}`; its id in its trace and
//!   in the store is its `run_started` event's `run`;
//! - the history, from the run store: `GET /api/flows/{file}/history?before=ID`,
//!   `GET /api/history/{id}`, `POST /api/history/{id}/cancel`,
//!   `POST /api/history/{id}/resume` with `{ file, profiles?, max_steps?, timeout_secs? }`;
//! - test cases: `GET|POST /api/flows/{file}/tests`.
//!
//! The web app (plain ES modules and SVG, no build step) is embedded in the binary.
//!
//! This module binds the server and routes requests; each job is a module of its own: who may
//! call (`access`), the web app (`assets`), the directory's files (`files`), what the engine
//! says of a flow and of the kinds (`analysis`), the flow endpoints (`api`), runs (`run`, the
//! endpoints; `runs`, the runs and their logs; `history`, the store's runs), test cases
//! (`cases`), the refusals and request bodies they share (`reply`), the state every handler
//! shares (`state`), and the file layout and the drawing ([`format`](mod@format), [`svg`]).

mod access;
pub(crate) mod analysis;
mod api;
mod assets;
mod cases;
mod files;
pub mod format;
mod history;
mod reply;
mod run;
mod runs;
mod state;
pub mod svg;

pub use access::{TOKEN_COOKIE, TOKEN_HEADER};
pub use files::{MAX_FILE_BYTES, is_flow_name};
pub use state::StudioOptions;

use access::Guard;
use axum::Router;
use axum::routing::{get, post};
use state::AppState;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;

/// A bound, not yet running, studio server.
pub struct Studio {
    listener: TcpListener,
    port: u16,
    token: String,
    guard: Arc<Guard>,
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
        let token = access::random_token()?;
        let guard = Arc::new(Guard::new(&token, addr));
        let state = Arc::new(AppState::new(dir, options)?);
        Ok(Self { listener, port: addr.port(), token, guard, state })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The access token of this start.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The URL to open: it carries the token.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/?token={}", self.port, self.token)
    }

    /// Serves until the process ends.
    pub async fn run(self) -> std::io::Result<()> {
        let router = router(self.state, self.guard);
        let limits = crate::net::listen::Limits::default();
        crate::net::listen::serve(self.listener, router, limits, std::future::pending).await;
        Ok(())
    }
}

fn router(state: Arc<AppState>, guard: Arc<Guard>) -> Router {
    Router::new()
        .merge(assets::routes())
        .route("/api/flows", get(api::list_flows))
        .route("/api/flows/{file}", get(api::get_flow).put(api::save_flow))
        .route("/api/flows/{file}/svg", get(api::flow_svg))
        .route("/api/flows/{file}/profiles", get(api::flow_profiles))
        .route("/api/validate", post(api::validate))
        .route("/api/svg", post(api::post_svg))
        .route("/api/kinds", get(api::kinds))
        .route("/api/settings", get(api::settings))
        .route("/api/flows/{file}/runs", post(run::start))
        .route("/api/flows/{file}/tests", get(cases::list).post(cases::run))
        .route("/api/runs/{id}/events", get(run::events))
        .route("/api/runs/{id}/stop", post(run::stop))
        .route("/api/runs/{id}/input/{node}", get(run::input))
        .route("/api/flows/{file}/history", get(history::list))
        .route("/api/history/{id}", get(history::show))
        .route("/api/history/{id}/cancel", post(history::cancel))
        .route("/api/history/{id}/resume", post(history::resume))
        .layer(axum::middleware::from_fn_with_state(guard, access::guard))
        .with_state(state)
}
