//! `weft serve`: the runner as a long-running HTTP service.
//!
//! Every `*.flow.json` in a directory is loaded and compiled once at start; the compiled flows,
//! the token manager, the HTTP client and the expression engine are shared by every run, and
//! each run has its own variables, so concurrent runs are independent. The hot path takes no
//! lock: the flows sit in an immutable map behind an `Arc`, and the concurrency limit is a
//! semaphore whose permits are taken with `try_acquire` (a saturated server answers 503 with
//! `Retry-After` instead of queueing).
//!
//! ```text
//! POST /runs/{flow}[?trace=1]   a JSON object of parameters → 200 / 422 / 400 / 404 / 408 / 413 / 503 / 504
//! GET  /flows                   names, descriptions and parameters of the served flows
//! GET  /flows/{flow}            the flow file's JSON and its diagnostics
//! GET  /health                  liveness, flows served, runs in flight
//! ```
//!
//! With a run store (`--store`, [`ServeConfig::store`]) every run is recorded and journaled,
//! answers carry its `id`, and `Prefer: respond-async`, `Idempotency-Key` and the `/runs`
//! routes of `stored.rs` come into play.
//!
//! Start one in-process with [`Server::bind`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), weft::serve::ServeError> {
//! let config = weft::serve::ServeConfig::new("flows");
//! let server = weft::serve::Server::bind(config).await?;
//! println!("listening on {}", server.url());
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod access;
mod api;
mod app;
mod catalog;
mod reply;
mod stored;

use crate::Engine;
use crate::auth::TokenManager;
use std::fmt;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub use crate::net::access::token_matches;
pub use catalog::Skipped;

/// The address served when none is given.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8787);
/// The largest request body accepted by default (1 MiB).
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// The concurrent runs allowed by default.
pub const DEFAULT_MAX_RUNS: usize = 256;
/// The per-run time limit by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The environment variable holding the access token.
pub const TOKEN_VAR: &str = "WEFT_SERVE_TOKEN";

pub use crate::engine::EnvLookup;

/// How to serve.
#[derive(Clone)]
pub struct ServeConfig {
    /// The directory whose `*.flow.json` files are served.
    pub dir: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The profiles file (default: `profiles.json` in `dir`).
    pub profiles: Option<PathBuf>,
    /// Where sign-ins are kept (default: the platform's data directory).
    pub state_dir: Option<PathBuf>,
    /// The most runs in flight at once; more get 503.
    pub max_runs: usize,
    /// How long one run may take before the request gets 504 (`None`: no limit).
    pub timeout: Option<Duration>,
    /// The largest request body, in bytes; larger ones get 413.
    pub max_body: usize,
    /// How long a request's body may take to arrive before the request gets 408.
    pub body_timeout: Duration,
    /// How long a client may take to send a request's headers before its connection is closed;
    /// also how long an idle keep-alive connection stays open.
    pub header_timeout: Duration,
    /// The most connections open at once. When all are open, one not in the middle of a
    /// request is closed to make room (see [`crate::net::listen`]); when every one is busy,
    /// the new one is closed.
    pub max_connections: usize,
    /// The most connections open at once from one client address, made room for the same way.
    pub max_connections_per_client: usize,
    /// The step limit of each run.
    pub max_steps: u64,
    /// How large each run's variables may grow, all together (estimated bytes).
    pub max_vars_bytes: usize,
    /// The access token every request must carry as `Authorization: Bearer …`. Required when
    /// `listen` is not a loopback address.
    pub token: Option<String>,
    /// How profile resolution reads `${env.NAME}` (default: the process environment).
    pub env: EnvLookup,
    /// The `Retry-After` of a 503, in seconds.
    pub retry_after: u32,
    /// On shutdown, how long runs in flight may take to finish before they are interrupted.
    pub shutdown_grace: Duration,
    /// The simulator that stands in for Microsoft (see [`crate::simulated`]), if any.
    pub sim: Option<crate::simulated::SimTarget>,
    /// Where runs are recorded and journaled (`None`: nothing is kept, as in version 1).
    pub store: Option<Arc<dyn crate::store::Store>>,
    /// How long this server's hold on a run lasts without renewal.
    pub lease: Duration,
    /// How long finished runs are kept before the server prunes them (`None`: for ever).
    pub keep: Option<Duration>,
}

impl ServeConfig {
    /// Serves `dir` on [`DEFAULT_LISTEN`] with the defaults.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            listen: DEFAULT_LISTEN,
            profiles: None,
            state_dir: None,
            max_runs: DEFAULT_MAX_RUNS,
            timeout: Some(DEFAULT_TIMEOUT),
            max_body: DEFAULT_MAX_BODY,
            body_timeout: Duration::from_secs(30),
            header_timeout: crate::net::listen::DEFAULT_HEADER_TIMEOUT,
            max_connections: crate::net::listen::DEFAULT_MAX_CONNECTIONS,
            max_connections_per_client: crate::net::listen::DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
            max_steps: crate::exec::DEFAULT_MAX_STEPS,
            max_vars_bytes: weft_nodes::vars::DEFAULT_MAX_BYTES,
            token: None,
            env: Arc::new(|name: &str| std::env::var(name).ok()),
            retry_after: 1,
            shutdown_grace: Duration::from_secs(10),
            sim: None,
            store: None,
            lease: crate::store::DEFAULT_LEASE,
            keep: Some(crate::store::DEFAULT_KEEP),
        }
    }

    /// Checks the settings without binding: a non-loopback address needs a token, the token
    /// must not be empty, limits must be positive.
    pub fn check(&self) -> Result<(), ServeError> {
        match &self.token {
            Some(token) if token.trim().is_empty() => return Err(ServeError::EmptyToken),
            None if !self.listen.ip().is_loopback() => {
                return Err(ServeError::TokenRequired(self.listen));
            }
            _ => {}
        }
        if self.max_runs == 0 || self.max_runs > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(ServeError::Config(format!(
                "--max-runs must be between 1 and {}",
                tokio::sync::Semaphore::MAX_PERMITS
            )));
        }
        if self.max_body == 0 {
            return Err(ServeError::Config("the body limit must be at least 1 byte".into()));
        }
        if self.timeout.is_some_and(|t| t.is_zero()) {
            return Err(ServeError::Config("--timeout must be positive".into()));
        }
        if self.body_timeout.is_zero() || self.header_timeout.is_zero() {
            return Err(ServeError::Config("the body and header timeouts must be positive".into()));
        }
        if self.max_connections == 0 || self.max_connections_per_client == 0 {
            return Err(ServeError::Config("the connection limits must be at least 1".into()));
        }
        Ok(())
    }
}

impl fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeConfig")
            .field("dir", &self.dir)
            .field("listen", &self.listen)
            .field("profiles", &self.profiles)
            .field("state_dir", &self.state_dir)
            .field("max_runs", &self.max_runs)
            .field("timeout", &self.timeout)
            .field("max_body", &self.max_body)
            .field("body_timeout", &self.body_timeout)
            .field("header_timeout", &self.header_timeout)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_client", &self.max_connections_per_client)
            .field("max_steps", &self.max_steps)
            .field("max_vars_bytes", &self.max_vars_bytes)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("retry_after", &self.retry_after)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("store", &self.store.is_some())
            .field("lease", &self.lease)
            .field("keep", &self.keep)
            .finish_non_exhaustive()
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A non-loopback address without an access token.
    #[error("listening on {0} (not a loopback address) requires an access token: set {TOKEN_VAR}")]
    TokenRequired(SocketAddr),
    /// An empty access token.
    #[error("the access token ({TOKEN_VAR}) is empty")]
    EmptyToken,
    /// A bad setting.
    #[error("{0}")]
    Config(String),
    /// The flow directory can't be read.
    #[error("cannot read the flow directory {dir}: {message}")]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// No flow could be served.
    #[error(
        "no flow to serve in {}: {}",
        .dir.display(),
        if .skipped.is_empty() {
            "there is no *.flow.json".to_owned()
        } else {
            .skipped.iter().map(|s| format!("\n  {} is not served: {}", s.file.display(), s.reason)).collect()
        }
    )]
    NoFlows {
        /// The directory.
        dir: PathBuf,
        /// Its flow files, and why each is not served.
        skipped: Vec<Skipped>,
    },
    /// The shared services could not be built.
    #[error("{0}")]
    Services(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server stopped by itself, not because it was asked to.
    #[error("the server stopped: {0}")]
    Stopped(String),
}

/// The server's life: running, no longer accepting (runs finish), interrupting runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Running,
    Draining,
    Cancelling,
}

/// Starts servers.
pub struct Server;

impl Server {
    /// Loads the flows, resolves their profiles, binds `config.listen` and starts serving on
    /// the current (multi-thread) tokio runtime.
    pub async fn bind(config: ServeConfig) -> Result<ServerHandle, ServeError> {
        config.check()?;
        let mut engine = Engine::builder().env(config.env.clone());
        if let Some(dir) = &config.state_dir {
            engine = engine.state_dir(dir);
        }
        if let Some(sim) = &config.sim {
            engine = engine.simulator(sim.clone());
        }
        let engine = engine.build().map_err(|e| ServeError::Services(e.to_string()))?;
        let catalog = catalog::Catalog::load(&config, &engine)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServeError::Bind { addr: config.listen, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr: config.listen, source })?;
        let (phase_tx, phase_rx) = watch::channel(Phase::Running);
        let names = catalog.names();
        let skipped = catalog.skipped.clone();
        let tokens = catalog.tokens.clone();
        let runtime = engine.runtime(tokens.clone().map(|t| t as Arc<dyn weft_nodes::Credentials>));
        let pool = crate::pool::RunPool::new("weft-run")
            .map_err(|e| ServeError::Services(format!("cannot start the run threads: {e}")))?;
        let pool = Arc::new(pool);
        let stored = config.store.clone().map(|store| {
            let flows = catalog.flows.values().map(|entry| entry.flow.name.clone()).collect();
            let profiles =
                crate::engine::folder_profiles_path(&config.dir, config.profiles.as_deref());
            let profiles = std::path::absolute(&profiles).unwrap_or(profiles);
            let holder = crate::store::Holder::this_process(config.lease);
            app::Stored::new(
                crate::durable::Durable { store, holder },
                engine.loader().clone(),
                flows,
                profiles.display().to_string(),
                config.keep,
            )
        });
        let (router, app) =
            api::router(&config, addr, catalog, runtime, pool.clone(), phase_rx.clone(), stored);
        let stored = app.stored.clone();
        // Runs of these flows whose process died are taken over, now and from time to time.
        stored::keep_watch(app);
        let limits = crate::net::listen::Limits {
            header_timeout: config.header_timeout,
            max_connections: config.max_connections,
            max_per_client: config.max_connections_per_client,
        };
        let draining = move || {
            let mut phase = phase_rx.clone();
            // The guard `wait_for` returns is not `Send`: dropped at once.
            async move { drop(phase.wait_for(|p| *p >= Phase::Draining).await) }
        };
        let task = tokio::spawn(crate::net::listen::serve(listener, router, limits, draining));
        tracing::info!(%addr, flows = names.len(), "serving");
        Ok(ServerHandle {
            addr,
            names,
            skipped,
            tokens,
            phase: phase_tx,
            task,
            pool,
            grace: config.shutdown_grace,
            stored,
        })
    }
}

/// A running server.
pub struct ServerHandle {
    addr: SocketAddr,
    names: Vec<String>,
    skipped: Vec<Skipped>,
    tokens: Option<Arc<TokenManager>>,
    phase: watch::Sender<Phase>,
    task: tokio::task::JoinHandle<()>,
    pool: Arc<crate::pool::RunPool>,
    grace: Duration,
    stored: Option<Arc<app::Stored>>,
}

impl ServerHandle {
    /// The address it listens on (the actual port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The names of the flows served, sorted.
    pub fn flows(&self) -> &[String] {
        &self.names
    }

    /// The flow files that are not served, and why.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// The token manager shared by every run (none when no served flow uses a profile).
    pub fn token_manager(&self) -> Option<&Arc<TokenManager>> {
        self.tokens.as_ref()
    }

    /// Serves until `signal` resolves, then shuts down gracefully.
    ///
    /// # Errors
    ///
    /// [`ServeError::Stopped`] when the server stops before `signal` resolves.
    pub async fn serve_until(self, signal: impl Future<Output = ()>) -> Result<(), ServeError> {
        let mut this = self;
        tokio::select! {
            () = signal => {}
            ended = &mut this.task => {
                let why = match ended {
                    Ok(()) => "it ended without being asked to".to_owned(),
                    Err(err) => err.to_string(),
                };
                return Err(ServeError::Stopped(why));
            }
        }
        this.shutdown().await;
        Ok(())
    }

    /// Stops accepting connections, lets runs in flight finish, and returns within the
    /// configured grace period: near its end the runs still going are interrupted and answered
    /// 503 with `Retry-After` (stored runs are handed back to the store, to be taken over), and
    /// what is left at its end is dropped.
    pub async fn shutdown(self) {
        let mut task = self.task;
        let stored = self.stored.as_deref();
        self.phase.send_replace(Phase::Draining);
        // The last part of the grace period (a fifth, at most 2 s) is for the interrupted runs
        // to be answered and their connections to close.
        let answering = (self.grace / 5).min(Duration::from_secs(2));
        let drained = tokio::time::timeout(self.grace - answering, settled(&mut task, stored));
        if drained.await.is_err() {
            self.phase.send_replace(Phase::Cancelling);
            if tokio::time::timeout(answering, settled(&mut task, stored)).await.is_err() {
                task.abort();
            }
        }
        // Runs still in the pool were interrupted; they are not waited for.
        drop(self.pool);
    }
}

/// Waits for the connections to close and the stored runs executing here to end or be handed
/// back.
async fn settled(task: &mut tokio::task::JoinHandle<()>, stored: Option<&app::Stored>) {
    if !task.is_finished() {
        let _ = (&mut *task).await;
    }
    if let Some(stored) = stored {
        stored.idle().await;
    }
}
