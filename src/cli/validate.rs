//! `weft validate`.

use clap::{Args, ValueEnum};
use serde::Serialize;
use std::path::{Path, PathBuf};
use weft::flow::{Flow, Loaded, Loader};
use weft_nodes::Diagnostic;

use super::EXIT_BAD_INPUT;

mod profiles;

#[derive(Debug, Args)]
pub(super) struct ValidateArgs {
    /// Flow files to check, folders searched recursively for `*.flow.json`, or `-` for a flow
    /// on stdin.
    #[arg(required = true, value_name = "FLOW|DIR")]
    flows: Vec<PathBuf>,
    /// The profiles file the flows' profile names are checked against (default:
    /// `profiles.json` beside each flow, or in the working directory for `-`). Without one,
    /// they can't be checked: a warning says so.
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
    let files = match flow_files(&args.flows) {
        Ok(files) => files,
        Err(err) => {
            eprintln!("error: {err}");
            return EXIT_BAD_INPUT;
        }
    };
    let mut profiles_files = profiles::ProfilesFiles::default();
    for path in &files {
        let (mut loaded, bytes) = load_flow(&loader, path);
        if let Some(flow) = &loaded.flow {
            let text = String::from_utf8_lossy(&bytes);
            let profiles = weft::engine::profiles_path(path, args.profiles.as_deref());
            let found = profiles::check(flow, &text, &profiles, &mut profiles_files);
            loaded.add_located(found, &text);
        }
        any_error |= loaded.has_errors();
        all.push((shown(path), loaded.has_errors(), loaded.diagnostics));
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
            let colour = super::colour::on_stderr();
            for (file, errors, diagnostics) in &all {
                for d in diagnostics {
                    eprintln!("{}", super::colour::diagnostic(&d.located(file), colour));
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

/// The flow files the arguments name: files (and `-`) as given, folders searched recursively
/// for `*.flow.json` (as `weft test` and `weft serve` take folders).
fn flow_files(args: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in args {
        if path.is_dir() {
            let found = weft::testing::suite::files_under(path, ".flow.json")
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if found.is_empty() {
                return Err(format!("there is no *.flow.json under {}", path.display()));
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Whether `path` stands for stdin.
pub(super) fn is_stdin(path: &Path) -> bool {
    path == Path::new("-")
}

/// How a flow argument is named in messages.
fn shown(path: &Path) -> String {
    if is_stdin(path) { "<stdin>".to_owned() } else { path.display().to_string() }
}

/// Loads the flow at `path` (`-`: stdin), with its text (for locating diagnostics).
fn load_flow(loader: &Loader, path: &Path) -> (Loaded, Vec<u8>) {
    let bytes = if is_stdin(path) {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes).map(|_| bytes)
    } else {
        std::fs::read(path)
    };
    match bytes {
        Ok(bytes) => {
            let loaded = if is_stdin(path) {
                loader.load_bytes(&bytes, "stdin")
            } else {
                loader.load_file(&bytes, path)
            };
            (loaded, bytes)
        }
        Err(err) => {
            let d = Diagnostic::error("", format!("cannot read the file: {err}"));
            (Loaded { flow: None, diagnostics: vec![d] }, Vec::new())
        }
    }
}

/// Loads a flow (`-`: from stdin), printing its diagnostics: the flow and the bytes it was
/// read from, `None` when it has errors.
pub(super) fn load_or_report(loader: &Loader, path: &Path) -> Option<(Flow, Vec<u8>)> {
    let (loaded, bytes) = load_flow(loader, path);
    let file = shown(path);
    let colour = super::colour::on_stderr();
    for d in &loaded.diagnostics {
        eprintln!("{}", super::colour::diagnostic(&d.located(&file), colour));
    }
    loaded.flow.map(|flow| (flow, bytes))
}
