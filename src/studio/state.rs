//! What every handler of the studio shares: the directory's files, the engine that loads and
//! runs flows, how runs are made ([`StudioOptions`]) and the runs themselves.

use super::files::Files;
use super::runs::Runs;
use crate::Engine;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

pub(super) struct AppState {
    pub(super) files: Files,
    /// The node kinds, the expression engine, profiles read with `options.env` over the
    /// process environment, sign-ins kept in `options.state_dir`.
    pub(super) engine: Engine,
    pub(super) options: StudioOptions,
    pub(super) runs: Runs,
}

impl AppState {
    /// The state of a studio over the directory `dir` (canonical).
    pub(super) fn new(dir: PathBuf, options: StudioOptions) -> Result<Self, String> {
        Ok(Self { files: Files::new(dir), engine: engine(&options)?, options, runs: Runs::new()? })
    }
}

/// How the studio runs flows.
#[derive(Clone, Default)]
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
    /// The simulator that stands in for Microsoft in runs (see [`crate::simulated`]).
    pub sim: Option<crate::simulated::SimTarget>,
    /// Where runs are recorded and journaled, and the history read from (`None`: runs are not
    /// kept beyond each flow's last one, in memory).
    pub store: Option<crate::durable::Durable>,
    /// The store's address, as the app shows it.
    pub store_url: Option<String>,
}

impl StudioOptions {
    /// Runs against the simulator `sim`, as `--sim` does: requests for Microsoft's sign-in and
    /// Graph hosts go to it and its app stands in for every `oauth2` profile;
    /// `WEFT_SIM_URL` and `WEFT_SIM_SECRET` resolve to it in profiles (as
    /// `flows/profiles.sim.json` uses them); the run form picks `profiles.sim.json` and starts
    /// `graph_base` at the simulator's Graph.
    pub fn simulator(sim: &weft_sim::SimHandle) -> Self {
        let mut options = Self::default();
        options.env.insert("WEFT_SIM_URL".into(), sim.base_url());
        options.env.insert("WEFT_SIM_SECRET".into(), weft_sim::APP_CLIENT_SECRET.to_owned());
        options.params.insert("graph_base".into(), sim.graph_base().into());
        options.profiles = Some("profiles.sim.json".into());
        options.sim_url = Some(sim.base_url());
        options.sim = Some(crate::simulated::SimTarget::of(sim));
        options
    }
}

/// The studio's engine: profiles read with `options.env` over the process environment (the
/// simulator's address and secret with `--sim`), sign-ins kept in `options.state_dir`, the
/// simulator standing in for Microsoft with `--sim`.
fn engine(options: &StudioOptions) -> Result<Engine, String> {
    let overlay = options.env.clone();
    let env = move |name: &str| overlay.get(name).cloned().or_else(|| std::env::var(name).ok());
    let mut engine = Engine::builder().env(Arc::new(env));
    if let Some(dir) = &options.state_dir {
        engine = engine.state_dir(dir);
    }
    if let Some(sim) = &options.sim {
        engine = engine.simulator(sim.clone());
    }
    engine.build().map_err(|e| e.to_string())
}
