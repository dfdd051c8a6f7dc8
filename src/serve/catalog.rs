//! The served flows: every `*.flow.json` of the directory, loaded and compiled once, with the
//! profiles they use resolved into one token manager.

use super::{ServeConfig, ServeError};
use crate::Engine;
use crate::auth::{Profile, TokenManager};
use crate::engine::SetupError;
use crate::flow::Flow;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weft_nodes::Diagnostic;

const SUFFIX: &str = ".flow.json";

/// A flow file that is not served.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The name it would be served under (its file name without `.flow.json`).
    pub name: String,
    /// The file.
    pub file: PathBuf,
    /// Why: its errors, or the profile that could not be resolved.
    pub reason: String,
}

/// A served flow.
pub(super) struct Entry {
    /// The compiled flow.
    pub flow: Flow,
    /// The text's content hash, as the run store keys it.
    pub hash: String,
    /// Its file.
    pub file: PathBuf,
    /// The `GET /flows/{flow}` answer, serialised once.
    pub detail: axum::body::Bytes,
    /// Its summary in `GET /flows`.
    pub summary: Value,
}

/// Every served flow and the shared token manager.
pub(super) struct Catalog {
    pub flows: HashMap<String, Arc<Entry>>,
    pub skipped: Vec<Skipped>,
    pub tokens: Option<Arc<TokenManager>>,
}

/// A flow that loaded, before its profiles are checked.
struct Candidate {
    name: String,
    file: PathBuf,
    flow: Flow,
    json: Value,
    diagnostics: Vec<Diagnostic>,
    profiles: Vec<String>,
}

impl Catalog {
    /// Loads the flows of `config.dir` with `engine` and resolves their profiles.
    pub fn load(config: &ServeConfig, engine: &Engine) -> Result<Self, ServeError> {
        let dir_error = |message: String| ServeError::Dir { dir: config.dir.clone(), message };
        let mut files: Vec<PathBuf> = std::fs::read_dir(&config.dir)
            .map_err(|e| dir_error(e.to_string()))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.len() > SUFFIX.len() && n.ends_with(SUFFIX))
                    && path.is_file()
            })
            .collect();
        files.sort();
        let loader = engine.loader();
        let mut skipped = Vec::new();
        let mut candidates = Vec::new();
        for file in files {
            match load_one(loader, &file) {
                Ok(candidate) if candidate.flow.state.is_some() && config.store.is_none() => {
                    skipped.push(Skipped {
                        name: candidate.name,
                        file,
                        reason: "it keeps state between runs (`state`), which needs a run \
                                 store: serve with a --store other than none"
                            .into(),
                    });
                }
                Ok(candidate) => candidates.push(candidate),
                Err(reason) => skipped.push(Skipped { name: flow_name(&file), file, reason }),
            }
        }
        let (resolved, profile_errors) = resolve_profiles(config, engine, &candidates);
        let mut served = Vec::new();
        for candidate in candidates {
            let missing: Vec<&String> =
                candidate.profiles.iter().filter(|p| !resolved.contains_key(*p)).collect();
            if missing.is_empty() {
                served.push(candidate);
            } else {
                let reasons: Vec<String> =
                    missing.iter().filter_map(|p| profile_errors.get(*p)).cloned().collect();
                skipped.push(Skipped {
                    name: candidate.name,
                    file: candidate.file,
                    reason: reasons.join("; "),
                });
            }
        }
        if served.is_empty() {
            return Err(ServeError::NoFlows { dir: config.dir.clone(), skipped });
        }
        let tokens = if resolved.is_empty() {
            None
        } else {
            let profiles: Vec<Profile> = resolved.into_values().collect();
            Some(engine.token_manager(profiles).map_err(|e| ServeError::Services(e.to_string()))?)
        };
        let flows = served
            .into_iter()
            .map(|c| {
                let entry = Entry {
                    summary: summary(&c.name, &c.flow, &c.profiles),
                    detail: detail(&c),
                    hash: c.flow.pinned().hash(),
                    flow: c.flow,
                    file: std::path::absolute(&c.file).unwrap_or(c.file),
                };
                (c.name, Arc::new(entry))
            })
            .collect();
        Ok(Self { flows, skipped, tokens })
    }

    /// The served flows' names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.flows.keys().cloned().collect();
        names.sort();
        names
    }
}

fn load_one(loader: &crate::flow::Loader, file: &Path) -> Result<Candidate, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read the file: {e}"))?;
    let name = flow_name(file);
    // As a file of the directory: the flows its `call` nodes name are found beside it.
    let loaded = loader.load_file(&bytes, file);
    let shown = file.display().to_string();
    let Some(flow) = loaded.flow else {
        let errors: Vec<String> =
            loaded.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.located(&shown)).collect();
        return Err(if errors.is_empty() {
            "it does not load".to_owned()
        } else {
            errors.join("\n  ")
        });
    };
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let profiles = flow.profiles();
    Ok(Candidate {
        name,
        file: file.to_owned(),
        flow,
        json,
        diagnostics: loaded.diagnostics,
        profiles,
    })
}

/// The name a flow file is served under: its file name without `.flow.json`.
fn flow_name(file: &Path) -> String {
    file.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(SUFFIX))
        .unwrap_or_default()
        .to_owned()
}

/// Resolves every profile the candidates use, once each: the resolved ones, and why the others
/// failed.
fn resolve_profiles(
    config: &ServeConfig,
    engine: &Engine,
    candidates: &[Candidate],
) -> (HashMap<String, Profile>, HashMap<String, String>) {
    let mut names: Vec<&String> = candidates.iter().flat_map(|c| &c.profiles).collect();
    names.sort();
    names.dedup();
    let mut resolved = HashMap::new();
    let mut errors = HashMap::new();
    if names.is_empty() {
        return (resolved, errors);
    }
    let path = crate::engine::folder_profiles_path(&config.dir, config.profiles.as_deref());
    let all: Vec<String> = names.iter().map(|n| (*n).clone()).collect();
    let profiles = match engine.load_profiles(&path, &all) {
        Ok(profiles) => profiles,
        Err(err) => {
            let message = match err {
                SetupError::NoProfilesFile { path, .. } => format!(
                    "it uses profiles but there is no profiles file at {} (pass --profiles FILE)",
                    path.display()
                ),
                other => other.to_string(),
            };
            for name in names {
                errors.insert(name.clone(), message.clone());
            }
            return (resolved, errors);
        }
    };
    for name in names {
        match engine.resolve(&profiles, name) {
            Ok(profile) => {
                resolved.insert(name.clone(), profile);
            }
            Err(err) => {
                errors.insert(name.clone(), err.to_string());
            }
        }
    }
    (resolved, errors)
}

fn parameters(flow: &Flow) -> Value {
    let mut out = Map::new();
    for (name, p) in &flow.parameters {
        let mut param = Map::new();
        param.insert("type".into(), p.ty.name().into());
        param.insert("required".into(), p.required.into());
        if let Some(default) = &p.default {
            param.insert("default".into(), default.clone());
        }
        if let Some(description) = &p.description {
            param.insert("description".into(), description.clone().into());
        }
        out.insert(name.clone(), Value::Object(param));
    }
    Value::Object(out)
}

fn summary(name: &str, flow: &Flow, profiles: &[String]) -> Value {
    json!({
        "name": name,
        "description": flow.description,
        "parameters": parameters(flow),
        "profiles": profiles,
    })
}

fn detail(c: &Candidate) -> axum::body::Bytes {
    let file = c.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let body = json!({
        "name": c.name,
        "file": file,
        "description": c.flow.description,
        "parameters": parameters(&c.flow),
        "profiles": c.profiles,
        "flow": c.json,
        "diagnostics": c.diagnostics,
    });
    serde_json::to_vec(&body).unwrap_or_default().into()
}
