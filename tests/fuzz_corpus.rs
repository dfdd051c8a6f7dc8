//! Replays the fuzz corpus on stable: every file under `fuzz/corpus/<target>/` goes through the
//! same target function the libFuzzer binary runs (`fuzz/targets.rs`), so a regression input
//! found once by fuzzing stays checked by `cargo test`. Inputs too large to commit are made
//! here.

#[path = "../fuzz/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};

/// The stack of the thread inputs run on: what the main thread of a libFuzzer binary has.
const STACK: usize = 8 << 20;

/// Runs `input` through `target` on a thread of its own; the panic message when it fails.
fn run(target: targets::Target, input: Vec<u8>) -> Result<(), String> {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || target(&input))
        .expect("spawn")
        .join()
        .map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic".to_owned())
        })
}

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_file_passes_its_target() {
    let mut failures = Vec::new();
    for (name, target) in targets::ALL {
        let files = corpus(name);
        assert!(!files.is_empty(), "fuzz/corpus/{name}/ is empty");
        for file in files {
            if let Err(message) = run(*target, std::fs::read(&file).unwrap()) {
                failures.push(format!("{name}: {}: {message}", file.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_corpus_folder_is_a_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for entry in std::fs::read_dir(root).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(targets::ALL.iter().any(|(n, _)| *n == name), "fuzz/corpus/{name}: no such target");
    }
}

/// A flow with `n` copies of one edge (40 000 took 85 s to validate).
fn duplicate_edges(n: usize) -> Vec<u8> {
    let edges = vec![r#"{"from":"a","to":"z"}"#; n].join(",");
    format!(
        r#"{{"format":"weft.flow/1","start":"a","nodes":[{{"id":"a","type":"assign","set":{{"vars.x":"1"}}}},{{"id":"z","type":"end"}}],"edges":[{edges}]}}"#
    )
    .into_bytes()
}

/// A template of `n` `${1}` holes (200 000 took 23.6 s to compile).
fn many_holes(n: usize) -> Vec<u8> {
    "${1}".repeat(n).into_bytes()
}

/// A `json_import` whose `select` pointer has `n` segments (messages quoting it were
/// not clipped).
fn long_pointer(n: usize) -> Vec<u8> {
    let pointer = "/a".repeat(n);
    format!(
        r#"{{"format":"weft.flow/1","start":"i","nodes":[{{"id":"i","type":"json_import","from":"vars.x","select":"{pointer}x~"}}],"edges":[]}}"#
    )
    .into_bytes()
}

/// The sizes once reported slow: validation and template scanning are linear in size.
#[test]
fn large_inputs_pass_their_targets() {
    for (name, target, input) in [
        ("flow_loader", targets::flow_loader as targets::Target, duplicate_edges(40_000)),
        ("template", targets::template, many_holes(200_000)),
        ("flow_loader", targets::flow_loader, long_pointer(100_000)),
    ] {
        run(target, input).unwrap_or_else(|message| panic!("{name}: {message}"));
    }
}
