//! The one place that assembles what runs need, for every command: the node kinds and the
//! expression engine (a [`Loader`]), the HTTP client, how `${env.NAME}` in profiles is read and
//! where sign-ins are kept — and from them, for the flows at hand, their credentials and the
//! [`Runtime`] they run with.
//!
//! `weft run`, `weft demo`, `weft serve`, the studio, `weft test` and the benchmarks all build
//! an [`Engine`] and ask it; none resolves profiles or builds services on its own.
//!
//! ```no_run
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::path::Path;
//! let engine = weft::Engine::builder().build()?;
//! let flow = engine.loader().load_path(Path::new("flows/countdown.flow.json")).flow.unwrap();
//! let runtime = engine.runtime_for(&flow, Path::new("flows/profiles.json"))?;
//! # let _ = runtime; Ok(())
//! # }
//! ```

use crate::auth::state::StateDir;
use crate::auth::{Profile, ProfileError, Profiles, TokenManager};
use crate::exec::Runtime;
use crate::flow::{Flow, Loader};
use crate::simulated::{SimRouted, SimTarget};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weft_nodes::expr::ExprEngine;
use weft_nodes::services::Http;
use weft_nodes::{Credentials, Registry, Services};

/// Reads a variable for `${env.NAME}` in profiles.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What runs are made of; cheap to clone (everything in it is shared).
#[derive(Clone)]
pub struct Engine {
    loader: Loader,
    http: Arc<dyn Http>,
    /// Whether token requests go through `http` too (canned HTTP in tests) rather than the
    /// token manager's own client, which follows no redirects.
    tokens_via_http: bool,
    env: EnvLookup,
    state: StateDir,
    /// The simulator that stands in for Microsoft, with `--sim`.
    sim: Option<SimTarget>,
}

/// Builds an [`Engine`]: by default the built-in node kinds, the default expression limits, a
/// real HTTP client, the process environment and the platform's data directory for sign-ins.
#[derive(Default)]
#[must_use]
pub struct EngineBuilder {
    loader: Option<Loader>,
    registry: Option<Registry>,
    expressions: Option<ExprEngine>,
    http: Option<Arc<dyn Http>>,
    env: Option<EnvLookup>,
    state: Option<PathBuf>,
    sim: Option<SimTarget>,
}

/// Why an engine, or the credentials of a flow, could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client: {0}")]
    Http(String),
    /// The flow uses profiles but the profiles file is not there.
    #[error(
        "the flow uses profile{} {} but there is no profiles file at {} (pass --profiles FILE)",
        if .names.len() == 1 { "" } else { "s" },
        weft_nodes::clip::list(.names.iter().map(|n| format!("`{n}`"))),
        .path.display()
    )]
    NoProfilesFile {
        /// Where it was looked for.
        path: PathBuf,
        /// The profiles the flow uses.
        names: Vec<String>,
    },
    /// The profiles file does not load, or a profile can't be resolved; the message names the
    /// file, the profile, the field and the variable, never a value.
    #[error("{0}")]
    Profiles(String),
}

impl From<ProfileError> for SetupError {
    fn from(err: ProfileError) -> Self {
        Self::Profiles(err.to_string())
    }
}

impl EngineBuilder {
    /// Loads flows with `loader` (its node kinds and expression engine), so flows it loaded
    /// before run with this engine.
    pub fn loader(mut self, loader: Loader) -> Self {
        self.loader = Some(loader);
        self
    }

    /// The node kinds flows may use (default: the built-in ones).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The expression engine (default: [`ExprEngine::new`], the default limits).
    pub fn expressions(mut self, engine: ExprEngine) -> Self {
        self.expressions = Some(engine);
        self
    }

    /// Sends every request through `http`, token requests included (the test harness's canned
    /// HTTP), instead of real clients.
    pub fn http(mut self, http: Arc<dyn Http>) -> Self {
        self.http = Some(http);
        self
    }

    /// Reads `${env.NAME}` in profiles through `env` (default: the process environment).
    pub fn env(mut self, env: EnvLookup) -> Self {
        self.env = Some(env);
        self
    }

    /// Keeps sign-ins in `dir` (default: the platform's data directory).
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state = Some(dir.into());
        self
    }

    /// Runs against the simulator at `target` instead of Microsoft: requests for
    /// [`crate::simulated::SIMULATED_HOSTS`] go to it (token requests included) and its apps
    /// stand in for every `oauth2` profile.
    pub fn simulator(mut self, target: SimTarget) -> Self {
        self.sim = Some(target);
        self
    }

    /// The engine.
    ///
    /// # Errors
    ///
    /// [`SetupError::Http`] when no HTTP client was given and the real one can't be built.
    pub fn build(self) -> Result<Engine, SetupError> {
        let loader = match self.loader {
            Some(loader) => loader,
            None => {
                let registry = self.registry.unwrap_or_else(Registry::builtin);
                let expressions = self.expressions.unwrap_or_default();
                Loader::new(Arc::new(registry), Arc::new(expressions))
            }
        };
        let (http, tokens_via_http) = match self.http {
            Some(http) => (http, true),
            None => {
                let real = crate::http::ReqwestHttp::new().map_err(SetupError::Http)?;
                (Arc::new(real) as Arc<dyn Http>, false)
            }
        };
        let (http, tokens_via_http) = match &self.sim {
            Some(target) => (Arc::new(SimRouted::new(http, target.clone())) as Arc<dyn Http>, true),
            None => (http, tokens_via_http),
        };
        let env = self.env.unwrap_or_else(|| Arc::new(|name: &str| std::env::var(name).ok()));
        let state = self.state.map_or_else(StateDir::default_location, StateDir::new);
        Ok(Engine { loader, http, tokens_via_http, env, state, sim: self.sim })
    }
}

impl Engine {
    /// A builder with the defaults.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The loader flows are loaded with (the node kinds and the expression engine).
    pub fn loader(&self) -> &Loader {
        &self.loader
    }

    /// Where sign-ins are kept.
    pub fn state(&self) -> &StateDir {
        &self.state
    }

    /// Reads the profiles file at `path` for flows that use the profiles `names`.
    ///
    /// # Errors
    ///
    /// [`SetupError::NoProfilesFile`] when there is no file, else the file's own error.
    /// With a simulator, its apps stand in for the file's `oauth2` profiles.
    pub fn load_profiles(&self, path: &Path, names: &[String]) -> Result<Profiles, SetupError> {
        let mut profiles = Profiles::load(path).map_err(|err| {
            if path.exists() {
                SetupError::from(err)
            } else {
                SetupError::NoProfilesFile { path: path.to_owned(), names: names.to_vec() }
            }
        })?;
        self.stand_in(&mut profiles);
        Ok(profiles)
    }

    /// With a simulator, lets its apps stand in for the `oauth2` profiles of `profiles` (read
    /// some other way than [`Engine::load_profiles`]).
    pub fn stand_in(&self, profiles: &mut Profiles) {
        if let Some(sim) = &self.sim {
            sim.stand_in(profiles);
        }
    }

    /// Resolves the profile `name` of `profiles`, reading `${env.NAME}` as this engine does.
    ///
    /// # Errors
    ///
    /// The profile is not there, or a variable or file it names is missing.
    pub fn resolve(&self, profiles: &Profiles, name: &str) -> Result<Profile, ProfileError> {
        profiles.resolve(name, &*self.env)
    }

    /// One token manager for the resolved `profiles`, keeping sign-ins in this engine's state
    /// directory.
    ///
    /// # Errors
    ///
    /// When its HTTP client can't be built.
    pub fn token_manager(&self, profiles: Vec<Profile>) -> Result<Arc<TokenManager>, SetupError> {
        let manager = TokenManager::new(profiles, self.state.clone()).map_err(SetupError::Http)?;
        Ok(Arc::new(if self.tokens_via_http {
            manager.with_http(self.http.clone())
        } else {
            manager
        }))
    }

    /// The credentials for the profiles `names` of `profiles` (none when `names` is empty).
    ///
    /// # Errors
    ///
    /// As [`Engine::resolve`] and [`Engine::token_manager`].
    pub fn credentials_of(
        &self,
        profiles: &Profiles,
        names: &[String],
    ) -> Result<Option<Arc<TokenManager>>, SetupError> {
        if names.is_empty() {
            return Ok(None);
        }
        let resolved =
            names.iter().map(|name| self.resolve(profiles, name)).collect::<Result<Vec<_>, _>>()?;
        self.token_manager(resolved).map(Some)
    }

    /// The credentials for the profiles `names` from the profiles file at `path` (which is not
    /// read when `names` is empty).
    ///
    /// # Errors
    ///
    /// As [`Engine::load_profiles`] and [`Engine::credentials_of`].
    pub fn credentials(
        &self,
        path: &Path,
        names: &[String],
    ) -> Result<Option<Arc<TokenManager>>, SetupError> {
        if names.is_empty() {
            return Ok(None);
        }
        self.credentials_of(&self.load_profiles(path, names)?, names)
    }

    /// A runtime whose nodes use `credentials` and this engine's HTTP client.
    pub fn runtime(&self, credentials: Option<Arc<dyn Credentials>>) -> Runtime {
        let services = Services { credentials, http: Some(self.http.clone()) };
        Runtime::new(self.loader.engine().clone()).with_services(services)
    }

    /// The runtime for `flow`: the profiles it uses resolved from the profiles file at
    /// `profiles` (read only when it uses some).
    ///
    /// # Errors
    ///
    /// As [`Engine::credentials`].
    pub fn runtime_for(&self, flow: &Flow, profiles: &Path) -> Result<Runtime, SetupError> {
        let credentials = self.credentials(profiles, &flow.profiles())?;
        Ok(self.runtime(credentials.map(|m| m as Arc<dyn Credentials>)))
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine").field("state", &self.state).finish_non_exhaustive()
    }
}

/// The profiles file of a flow, the one rule every command follows: the one given
/// (`--profiles FILE`), else `profiles.json` beside the flow — in the working directory for a
/// flow read from stdin (`-`) and for `weft login`, which has no flow. For a folder of flows,
/// see [`folder_profiles_path`].
pub fn profiles_path(flow_path: &Path, given: Option<&Path>) -> PathBuf {
    match given {
        Some(path) => path.to_owned(),
        None => flow_path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join("profiles.json"),
    }
}

/// The profiles file of a folder of flows (`weft serve`, `weft studio`): the one given, else
/// `profiles.json` in the folder, beside its flows as [`profiles_path`] says.
pub fn folder_profiles_path(dir: &Path, given: Option<&Path>) -> PathBuf {
    given.map_or_else(|| dir.join("profiles.json"), Path::to_owned)
}
