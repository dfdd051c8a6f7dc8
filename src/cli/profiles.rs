//! Finding, resolving and serving the profiles a flow uses.

use crate::auth::state::StateDir;
use crate::auth::{Profiles, TokenManager};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `--profiles`, else `profiles.json` beside the flow.
pub fn profiles_path(flow_path: &Path, given: Option<&Path>) -> PathBuf {
    match given {
        Some(path) => path.to_owned(),
        None => flow_path.parent().unwrap_or(Path::new(".")).join("profiles.json"),
    }
}

/// The state directory: `--state-dir`, else the platform's.
pub fn state_dir(given: Option<&Path>) -> StateDir {
    given.map_or_else(StateDir::default_location, StateDir::new)
}

/// Resolves the profiles `names` from the profiles file; errors name the file, profile, field
/// and variable.
pub fn token_manager(
    path: &Path,
    names: &[String],
    state: StateDir,
) -> Result<Arc<TokenManager>, String> {
    token_manager_with(path, names, state, &|name: &str| std::env::var(name).ok())
}

/// [`token_manager`] with `${env.NAME}` looked up by `env` instead of the process environment
/// (the studio overlays the simulator's address and secret this way).
pub fn token_manager_with(
    path: &Path,
    names: &[String],
    state: StateDir,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<TokenManager>, String> {
    let profiles = Profiles::load(path).map_err(|e| {
        if !path.exists() {
            format!(
                "the flow uses profile{} {} but there is no profiles file at {} (pass --profiles FILE)",
                if names.len() == 1 { "" } else { "s" },
                names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
                path.display()
            )
        } else {
            e.to_string()
        }
    })?;
    token_manager_of(&profiles, names, state, env)
}

/// [`token_manager_with`] for a profiles file already read (the studio reads those of its
/// directory itself, never through a link).
pub fn token_manager_of(
    profiles: &Profiles,
    names: &[String],
    state: StateDir,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<TokenManager>, String> {
    let resolved = names
        .iter()
        .map(|name| profiles.resolve(name, env))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    TokenManager::new(resolved, state).map(Arc::new)
}
