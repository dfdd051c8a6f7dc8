//! Helpers shared by the CLI integration tests: write inline flows to a temporary directory and
//! run the `weft` binary on them with a deadline, so a hanging engine fails a test instead of
//! hanging the suite.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The longest any single invocation of the binary may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A temporary directory holding the files of one test.
pub struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    /// A fresh, empty directory.
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("create a temporary directory") }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` to `name` inside the directory and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write a fixture");
        path
    }

    /// A path inside the directory (not created).
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `weft` with `args`, in this directory.
    pub fn weft<I, S>(&self, args: I) -> Outcome
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        weft_in(self.path(), args)
    }
}

/// What one invocation of the binary did.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Outcome {
    /// Standard output parsed as one JSON value; panics with both streams when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|err| {
            panic!(
                "stdout is not one JSON value ({err})\nstdout: {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Standard output and standard error together.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs the `weft` binary with `args` in `cwd`, killing it after [`DEADLINE`].
pub fn weft_in<I, S>(cwd: &Path, args: I) -> Outcome
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = Command::new(env!("CARGO_BIN_EXE_weft"));
    command.args(args).current_dir(cwd).env_remove("RUST_LOG");
    outcome_of(command, DEADLINE)
}

/// Runs `command` to completion with no input and both streams captured, killing it after
/// `deadline`.
pub fn outcome_of(mut command: Command, deadline: Duration) -> Outcome {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weft");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let status = wait_with_deadline(&mut child, deadline);
    let stdout = out_reader.join().expect("read stdout");
    let stderr = err_reader.join().expect("read stderr");
    Outcome {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Waits for `child`, killing it (and failing the test) after `deadline`.
pub fn wait_with_deadline(child: &mut Child, deadline: Duration) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for weft") {
            return status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("weft did not finish within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Writes `flow` as `name` in a fresh directory and runs `weft run` on it with `extra` arguments.
pub fn run_flow(flow: &str, extra: &[&str]) -> Outcome {
    let dir = Dir::new();
    dir.write("test.flow.json", flow);
    let mut args = vec!["run", "test.flow.json"];
    args.extend_from_slice(extra);
    dir.weft(args)
}

/// Every object in `value` (at any depth) that looks like a diagnostic: it has `severity` and
/// `message`.
pub fn diagnostics(value: &Value) -> Vec<Value> {
    let mut found = Vec::new();
    collect(value, &mut found);
    found
}

fn collect(value: &Value, found: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            if map.contains_key("severity") && map.contains_key("message") {
                found.push(value.clone());
            }
            for v in map.values() {
                collect(v, found);
            }
        }
        Value::Array(items) => {
            for v in items {
                collect(v, found);
            }
        }
        _ => {}
    }
}

/// A flow whose one expression computes for much longer than any test waits (each of its
/// 100 000 steps copies a 100 000-item list) while holding little memory: only the
/// expression's own time limit (10 s), the run's deadline or an interruption end it.
pub fn busy_flow() -> String {
    let list = vec!["0"; 100_000].join(",");
    format!(
        r##"{{ "format": "weft.flow/1", "start": "busy", "variables": {{ "l": [{list}] }},
          "nodes": [ {{ "id": "busy", "type": "assign",
                        "set": {{ "vars.n": "(vars.l + []).reduce(|a, x| a + (vars.l + []).len(), 0)" }} }},
                     {{ "id": "done", "type": "end", "result": "vars.n" }} ],
          "edges": [ {{ "from": "busy", "to": "done" }} ] }}"##
    )
}
