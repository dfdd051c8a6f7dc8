//! The architecture's rules, checked on the source: a layer that reaches where it must not, or
//! two modules that import each other, fail this test (as rust-analyzer's tidy tests do).
//!
//! - The command line is the binary's: only `src/main.rs` and `src/cli/` name it.
//! - The library never prints: stdout and stderr belong to the command line.
//! - The node kit knows nothing of the engine or the simulator; the simulator knows nothing of
//!   the engine or the node kit (their manifests don't depend on them, their code doesn't name
//!   them).
//! - No module imports from a module that imports from it (parents and their children aside).
//! - The repository cites no file outside it.

use crate::util::root;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every file under `dir` (relative to the repository) whose name ends with `suffix`.
fn files(dir: &str, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root().join(dir)];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | "node_modules" | ".git" | "corpus") {
                    pending.push(path);
                }
            } else if name.ends_with(suffix) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn shown(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

/// The code of a file before its first `#[cfg(test)]`: what the crate is built from (unit tests
/// may use what the crate itself must not), or nothing for a file that is a test module.
fn production(path: &Path) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let text = read(path);
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// Lines of `text` that are code, not comments, without the text of string literals (a
/// `tracing` target `"weft::expr"` names nothing).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, String)> + '_ {
    text.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with("//")).map(|(n, l)| {
        let mut code = String::with_capacity(l.len());
        let mut quoted = false;
        let mut escaped = false;
        for c in l.chars() {
            match (quoted, escaped, c) {
                (true, false, '\\') => escaped = true,
                (true, true, _) => escaped = false,
                (_, _, '"') => {
                    quoted = !quoted;
                    code.push('"');
                }
                (true, false, _) => {}
                (false, _, c) => code.push(c),
            }
        }
        (n, code)
    })
}

#[test]
fn only_the_binary_names_the_command_line() {
    let mut offenders = Vec::new();
    for path in files("src", ".rs") {
        let name = shown(&path);
        if name == "src/main.rs" || name.starts_with("src/cli/") {
            continue;
        }
        for (n, line) in code_lines(&read(&path)) {
            if line.contains("crate::cli") || line.contains("weft::cli") || line.contains("mod cli")
            {
                offenders.push(format!("{name}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "the command line is the binary's own:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_library_never_prints() {
    let mut offenders = Vec::new();
    for path in files("src", ".rs").into_iter().chain(files("nodes/src", ".rs")) {
        let name = shown(&path);
        if name == "src/main.rs" || name.starts_with("src/cli/") {
            continue;
        }
        for (n, line) in code_lines(&production(&path)) {
            if ["println!", "eprintln!", "print!(", "eprint!(", "dbg!("]
                .iter()
                .any(|m| line.contains(m))
            {
                offenders.push(format!("{name}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "only the command line prints:\n{}", offenders.join("\n"));
}

/// The packages a manifest's `[section]` lists (`dependencies`, `dev-dependencies`).
fn dependencies(manifest: &str, section: &str) -> BTreeSet<String> {
    let header = format!("[{section}]");
    let mut inside = false;
    let mut names = BTreeSet::new();
    for line in read(&root().join(manifest)).lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == header;
        } else if inside && let Some((name, _)) = line.split_once('=') {
            names.insert(name.trim().trim_end_matches(".workspace").to_owned());
        }
    }
    names
}

#[test]
fn the_node_kit_knows_nothing_of_the_engine() {
    // Its unit tests may use the engine's test harness (a dev-dependency); the kit may not.
    let manifest = dependencies("nodes/Cargo.toml", "dependencies");
    for forbidden in ["weft", "weft-sim", "petgraph"] {
        assert!(!manifest.contains(forbidden), "nodes/Cargo.toml depends on {forbidden}");
    }
    let mut offenders = Vec::new();
    for path in files("nodes/src", ".rs") {
        for (n, line) in code_lines(&production(&path)) {
            if line.contains("weft::") || line.contains("weft_sim") || line.contains("petgraph") {
                offenders.push(format!("{}:{}: {}", shown(&path), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "the node kit reaches into the engine:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_simulator_knows_nothing_of_the_engine_or_the_node_kit() {
    for section in ["dependencies", "dev-dependencies"] {
        let manifest = dependencies("sim/Cargo.toml", section);
        for forbidden in ["weft", "weft-nodes"] {
            assert!(!manifest.contains(forbidden), "sim/Cargo.toml's {section} list {forbidden}");
        }
    }
    let mut offenders = Vec::new();
    for path in files("sim/src", ".rs") {
        for (n, line) in code_lines(&read(&path)) {
            if line.contains("weft::") || line.contains("weft_nodes") {
                offenders.push(format!("{}:{}: {}", shown(&path), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "the simulator reaches into Weft:\n{}", offenders.join("\n"));
}

/// A crate's modules (by path, `kinds::http_request::retry`) and the modules each one names
/// through `crate::…` or `super::…`.
fn module_graph(src: &str) -> BTreeMap<String, BTreeSet<String>> {
    let base = root().join(src);
    let mut modules: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in files(src, ".rs") {
        let relative = path.strip_prefix(&base).unwrap().with_extension("");
        let mut parts: Vec<String> =
            relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
            parts.pop();
        }
        modules.insert(parts.join("::"), path);
    }
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, path) in &modules {
        let parent = module.rsplit_once("::").map_or("", |(p, _)| p).to_owned();
        let mut uses = BTreeSet::new();
        for (_, line) in code_lines(&production(path)) {
            for (marker, base) in [("crate::", String::new()), ("super::", parent.clone())] {
                let mut rest = line.as_str();
                while let Some(at) = rest.find(marker) {
                    rest = &rest[at + marker.len()..];
                    let path: Vec<&str> = rest
                        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                        .next()
                        .unwrap_or_default()
                        .split("::")
                        .filter(|s| !s.is_empty())
                        .collect();
                    // The longest prefix that is a module: the module named.
                    let mut target = base.clone();
                    let mut best = base.clone();
                    for segment in path {
                        target = if target.is_empty() {
                            segment.to_owned()
                        } else {
                            format!("{target}::{segment}")
                        };
                        if known.contains(&target) {
                            best = target.clone();
                        }
                    }
                    uses.insert(best);
                }
            }
        }
        uses.remove(module);
        graph.insert(module.clone(), uses);
    }
    graph
}

/// Whether one module contains the other (a parent declares its children and re-exports them).
fn related(a: &str, b: &str) -> bool {
    let inside =
        |outer: &str, inner: &str| outer.is_empty() || inner.starts_with(&format!("{outer}::"));
    inside(a, b) || inside(b, a)
}

/// Pairs of modules that reach each other through imports, parents and children aside.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut pending = vec![from.to_owned()];
        while let Some(m) = pending.pop() {
            for next in graph.get(&m).into_iter().flatten() {
                if !related(from, next) && seen.insert(next.clone()) {
                    pending.push(next.clone());
                }
            }
        }
        seen
    };
    let mut found = Vec::new();
    for (a, uses) in graph {
        for b in uses {
            if a < b && !related(a, b) && reach(b).contains(a) {
                found.push(format!("{a} ↔ {b}"));
            }
        }
    }
    found
}

#[test]
fn no_module_imports_from_one_that_imports_from_it() {
    for src in ["src", "nodes/src", "sim/src"] {
        let found = cycles(&module_graph(src));
        assert!(found.is_empty(), "module cycles in {src}:\n{}", found.join("\n"));
    }
}

/// The Markdown files a line names (`docs/FLOWS.md#anchor` names `FLOWS.md`).
fn cited_documents(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')))
        .filter_map(|word| word.rsplit('/').next())
        .filter(|name| name.len() > ".md".len() && name.ends_with(".md"))
}

#[test]
fn the_repository_cites_no_file_outside_it() {
    let all = files(".", "");
    let ends_with = |path: &Path, suffix: &str| path.to_string_lossy().ends_with(suffix);
    let documents: BTreeSet<String> = all
        .iter()
        .filter(|p| ends_with(p, ".md"))
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let mut offenders = Vec::new();
    let sources = [".rs", ".md", ".js", ".sh", ".toml"];
    for path in all.iter().filter(|p| sources.iter().any(|s| ends_with(p, s))) {
        let name = shown(path);
        let text = read(path);
        let mut previous = "";
        for (n, line) in text.lines().enumerate() {
            // A document named must be one of ours; a numbered section, a published
            // standard's, named on that line or the one before.
            let standard =
                ["RFC", "OpenID"].iter().any(|s| line.contains(s) || previous.contains(s));
            let elsewhere = cited_documents(line).any(|doc| !documents.contains(doc))
                || (line.contains('\u{a7}') && !standard);
            if elsewhere {
                offenders.push(format!("{name}:{}: {}", n + 1, line.trim()));
            }
            previous = line;
        }
    }
    assert!(offenders.is_empty(), "cites a file outside the repository:\n{}", offenders.join("\n"));
}
