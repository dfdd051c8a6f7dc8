//! A local stand-in for Microsoft Entra ID and the Microsoft Graph calendar API, on 127.0.0.1.
//!
//! It is faithful to what Microsoft documents: the Entra ID v2.0 token, authorize and
//! devicecode endpoints with their grants and AADSTS-coded errors, and Graph's `calendarView`,
//! `events` and `calendars` with bearer checks, paging by opaque next links,
//! `$top`/`$select`/`$orderby`, `Prefer: outlook.timezone` and Graph's error shape. Calendars
//! are generated from a seed, so a test can ask for the [`SimHandle::ground_truth`] of any
//! window and compare. Faults (throttling, 5xx, dropped connections, latency, forced 401s)
//! are injected on demand and everything is counted ([`Counters`]).
//!
//! The crate stands alone: it knows nothing of the engine or the node kit, and converts time
//! zones with its own [`time`] module, so its calendars are an independent witness of a flow's
//! conversions.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use weft_sim::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default()).await?;
//! println!("token URL {}, Graph at {}", sim.token_url(), sim.graph_base());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Decisions where Entra or Graph leave room:
//! * Client credentials accept exactly one scope `<resource>/.default` where the resource is
//!   `https://graph.microsoft.com`, Graph's app id, or the simulator's own base URL.
//! * Client credentials responses carry no `scope` and never a refresh token (as Entra's).
//! * Refresh tokens rotate: each use returns a new one and the old one is refused
//!   (`invalid_grant`, AADSTS70008).
//! * Client assertions are checked for `iss`/`sub` only; their signature is not verified.
//! * `$orderby` accepts only `start/dateTime` ascending; `$filter`, `$search`, `$expand` are
//!   refused with 400 rather than ignored.

mod catalog;
mod churn;
mod config;
mod conn;
mod counters;
mod data;
mod delay;
mod entra;
mod event;
mod faults;
mod graph;
mod inject;
mod mailbox;
mod pages;
mod requests;
mod rng;
mod state;
mod sync;
pub mod time;
mod urlenc;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{
    APP_CLIENT_ID, APP_CLIENT_SECRET, DEFAULT_TENANT, GRAPH_APP_ID, GRAPH_RESOURCE,
    NOPERM_CLIENT_ID, NOPERM_CLIENT_SECRET, PUBLIC_CLIENT_ID, SimApp, SimConfig, SimUser,
    TENANT_ID,
};
pub use counters::Counters;
pub use faults::{FaultConfig, FaultKind};

use conn::{ConnTag, KillableListener};
use state::State;
use sync::lock;

/// Starts simulators.
#[derive(Debug, Clone, Copy)]
pub struct Simulator;

impl Simulator {
    /// Binds 127.0.0.1:`config.port` (0: any free port) and serves in the background on the
    /// current tokio runtime until [`SimHandle::shutdown`] or the handle is dropped.
    ///
    /// # Errors
    ///
    /// When the port can't be bound.
    pub async fn start(config: SimConfig) -> Result<SimHandle, io::Error> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).await?;
        let listener = KillableListener::new(listener);
        let addr = listener.addr()?;
        let base_url = format!("http://{addr}");
        let state = Arc::new(State::new(config, base_url));
        let app: Router = entra::routes()
            .merge(graph::routes())
            .layer(axum::middleware::from_fn_with_state(Arc::clone(&state), requests::log))
            .with_state(Arc::clone(&state));
        if state.config.churn_per_second.is_finite() && state.config.churn_per_second > 0.0 {
            tokio::spawn(churn::run(Arc::downgrade(&state)));
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let server = axum::serve(listener, app.into_make_service_with_connect_info::<ConnTag>())
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            });
        let task = tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::warn!("sim: server stopped: {e}");
            }
        });
        tracing::info!(%addr, "sim: Entra ID and Graph simulator listening");
        Ok(SimHandle { state, addr, stop: Some(stop), task: Some(task) })
    }
}

/// A running simulator. Dropping it stops the server (without waiting for it); prefer
/// [`SimHandle::shutdown`] to wait until it has stopped.
#[derive(Debug)]
pub struct SimHandle {
    state: Arc<State>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The bound address (always on 127.0.0.1).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    /// Graph's base, `http://127.0.0.1:PORT/v1.0`.
    #[must_use]
    pub fn graph_base(&self) -> String {
        format!("{}/v1.0", self.state.base_url)
    }

    /// The configured tenant.
    #[must_use]
    pub fn tenant(&self) -> &str {
        &self.state.config.tenant
    }

    /// The configuration the simulator runs with (faults as at start).
    #[must_use]
    pub fn config(&self) -> &SimConfig {
        &self.state.config
    }

    /// `http://127.0.0.1:PORT/{tenant}/oauth2/v2.0/token`.
    #[must_use]
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.state.base_url, self.tenant())
    }

    /// `http://127.0.0.1:PORT/{tenant}/oauth2/v2.0/authorize`.
    #[must_use]
    pub fn authorize_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/authorize", self.state.base_url, self.tenant())
    }

    /// `http://127.0.0.1:PORT/{tenant}/oauth2/v2.0/devicecode`.
    #[must_use]
    pub fn device_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/devicecode", self.state.base_url, self.tenant())
    }

    /// The device verification page, `http://127.0.0.1:PORT/devicelogin`; a GET with
    /// `?otc=USER_CODE` approves that code as the default user.
    #[must_use]
    pub fn verification_url(&self) -> String {
        format!("{}/devicelogin", self.state.base_url)
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn counters(&self) -> Counters {
        self.state.counters()
    }

    /// Sets every counter back to zero.
    pub fn reset_counters(&self) {
        self.state.reset_counters();
    }

    /// Replaces the fault configuration; `every_nth` counts from this call.
    pub fn set_faults(&self, faults: FaultConfig) {
        lock(&self.state.faults).set(faults);
    }

    /// Answers the next `n` Graph requests 401 `InvalidAuthenticationToken` ("Access token
    /// has expired…") whatever their token, as when a token expires mid-run.
    pub fn force_unauthorized(&self, n: u32) {
        self.state.forced_401.store(n, Ordering::SeqCst);
    }

    /// Makes every access token issued so far expire now (refresh tokens stay valid).
    pub fn expire_tokens(&self) {
        lock(&self.state.store).expire_all();
    }

    /// Approves a pending device code as the default user; false when no pending code has
    /// this user code.
    pub fn approve_device_code(&self, user_code: &str) -> bool {
        entra::approve(&self.state, user_code, None)
    }

    /// Declines a pending device code; false when no pending code has this user code.
    pub fn decline_device_code(&self, user_code: &str) -> bool {
        entra::decline(&self.state, user_code)
    }

    /// The request log from now on: one line per request answered (method, path — with its
    /// query for Graph —, status, milliseconds), and one per change the churn makes. Lines a
    /// slow reader falls far behind on are skipped.
    #[must_use]
    pub fn requests(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.state.requests.subscribe()
    }

    /// Makes every `calendarView/delta` token issued so far expire: the next round started
    /// from one gets 410 `SyncStateNotFound`.
    pub fn expire_delta_tokens(&self) {
        self.state.expire_delta_tokens();
    }

    /// Creates an event in `user`'s calendar from outside (as another client would), from
    /// the fields a `POST …/events` takes; the event as Graph returns it.
    ///
    /// # Errors
    ///
    /// The user is unknown, or the fields are not a valid event (Graph's message).
    pub fn create_event(
        &self,
        user: &str,
        fields: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let user = self.user(user)?;
        graph::write::create_event(&self.state, user, &object(fields)?)
            .map(|e| e.to_json(None))
            .map_err(|e| e.message)
    }

    /// Changes the fields `fields` gives of event `id` in `user`'s calendar from outside; the
    /// event as Graph returns it.
    ///
    /// # Errors
    ///
    /// The user or the event is unknown, or the fields are not valid (Graph's message).
    pub fn update_event(
        &self,
        user: &str,
        id: &str,
        fields: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let user = self.user(user)?;
        graph::write::update_event(&self.state, user, id, None, &object(fields)?)
            .map(|e| e.to_json(None))
            .map_err(|e| e.message)
    }

    /// Deletes event `id` from `user`'s calendar from outside.
    ///
    /// # Errors
    ///
    /// The user or the event is unknown.
    pub fn delete_event(&self, user: &str, id: &str) -> Result<(), String> {
        let user = self.user(user)?;
        graph::write::delete_event(&self.state, user, id, None).map_err(|e| e.message)
    }

    fn user(&self, user: &str) -> Result<&SimUser, String> {
        self.state.config.user(user).ok_or_else(|| format!("no user `{user}` in the simulator"))
    }

    /// The items `GET /users/{user}/calendarView?startDateTime=start&endDateTime=end` returns
    /// over all its pages, in the server's order, times in UTC, all properties. `user` is an
    /// id or UPN; an unknown user has no events.
    #[must_use]
    pub fn ground_truth(
        &self,
        user: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Vec<serde_json::Value> {
        let Some(user) = self.state.config.user(user) else {
            return Vec::new();
        };
        self.state.calendar(user).view(start, end).into_iter().map(|e| e.to_json(None)).collect()
    }

    /// Stops accepting connections, lets requests in flight finish, and waits (at most 5 s)
    /// for the server to stop.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Idle keep-alive connections could hold a graceful shutdown open; a dropped handle
        // means nobody waits, so end the server outright.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The members of `fields`, which must be a JSON object.
fn object(fields: serde_json::Value) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match fields {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err("the fields must be a JSON object".into()),
    }
}
