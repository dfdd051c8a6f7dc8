//! `weft validate`.

use clap::{Args, ValueEnum};
use serde::Serialize;
use std::path::{Path, PathBuf};
use weft::flow::{Flow, Loader};
use weft_nodes::Diagnostic;

use super::EXIT_BAD_INPUT;

#[derive(Debug, Args)]
pub(super) struct ValidateArgs {
    /// Flow files to check.
    #[arg(required = true)]
    flows: Vec<PathBuf>,
    /// The profiles file to check the flows' profiles against (default: `profiles.json`
    /// beside each flow, when there is one).
    #[arg(long, value_name = "FILE")]
    profiles: Option<PathBuf>,
    /// How to report: for people, or JSON for editors and tools.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Serialize)]
struct FileReport<'a> {
    file: String,
    valid: bool,
    diagnostics: &'a [Diagnostic],
}

pub(super) fn validate(args: ValidateArgs) -> u8 {
    let loader = Loader::builtin();
    let mut any_error = false;
    let mut reports = Vec::new();
    let mut all = Vec::new();
    for path in &args.flows {
        let mut loaded = loader.load_path(path);
        if let Some(flow) = &loaded.flow {
            let profiles = weft::engine::profiles_path(path, args.profiles.as_deref());
            loaded.diagnostics.extend(profile_warnings(flow, &profiles));
        }
        any_error |= loaded.has_errors();
        all.push((path.display().to_string(), loaded.has_errors(), loaded.diagnostics));
    }
    match args.format {
        Format::Json => {
            for (file, errors, diagnostics) in &all {
                reports.push(FileReport { file: file.clone(), valid: !errors, diagnostics });
            }
            let out = serde_json::json!({ "valid": !any_error, "files": reports });
            println!("{}", super::pretty(&out));
        }
        Format::Text => {
            for (file, errors, diagnostics) in &all {
                for d in diagnostics {
                    eprintln!("{}", d.located(file));
                }
                let warnings =
                    diagnostics.len() - diagnostics.iter().filter(|d| d.is_error()).count();
                if *errors {
                    let count = diagnostics.len() - warnings;
                    eprintln!(
                        "{file}: invalid ({count} error{}, {warnings} warning{})",
                        plural(count),
                        plural(warnings)
                    );
                } else {
                    println!("{file}: valid ({warnings} warning{})", plural(warnings));
                }
            }
        }
    }
    if any_error { EXIT_BAD_INPUT } else { 0 }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Warnings about the profiles a flow uses: those without `hosts` may send their credentials
/// anywhere. Missing profiles are `weft run`'s errors (they depend on the files given then).
fn profile_warnings(flow: &Flow, path: &Path) -> Vec<Diagnostic> {
    let used = flow.profiles();
    if used.is_empty() || !path.exists() {
        return Vec::new();
    }
    let profiles = match weft::auth::Profiles::load(path) {
        Ok(profiles) => profiles,
        Err(err) => return vec![Diagnostic::warning("", err.to_string())],
    };
    let open: std::collections::HashSet<&str> = profiles.without_hosts().into_iter().collect();
    used.iter()
        .filter(|name| open.contains(name.as_str()))
        .map(|name| {
            Diagnostic::warning(
                "",
                format!(
                    "profile `{}` ({}) has no `hosts`: its credentials may be sent to any host a URL names",
                    weft_nodes::clip(name),
                    path.display()
                ),
            )
        })
        .collect()
}

/// Loads a flow, printing its diagnostics; `None` when it has errors.
pub(super) fn load_or_report(loader: &Loader, path: &Path) -> Option<Flow> {
    let loaded = loader.load_path(path);
    let file = path.display().to_string();
    for d in &loaded.diagnostics {
        eprintln!("{}", d.located(&file));
    }
    loaded.flow
}
