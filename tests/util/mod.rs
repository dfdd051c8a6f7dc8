//! Helpers shared by every integration test: the repository's paths, temporary directories of
//! fixtures, the `weft` binary run (or started) with a deadline, so a hanging engine fails a test
//! instead of hanging the suite, and small checks several tests make.

pub mod auth;
pub mod http;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest any single invocation of the binary may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// The repository root (the tests' working directory too).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped example flows and profiles.
pub fn flows() -> PathBuf {
    root().join("flows")
}

/// The names of the `*.flow.json` files in `dir`, sorted.
pub fn flow_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".flow.json"))
        .collect();
    names.sort();
    names
}

/// Monday 23 November 2026, 00:00 UTC: the week the calendar tests read.
pub fn anchor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
}

/// An RFC 3339 instant.
pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The simulator with `config`, but a calendar of 30 days: quick to generate, and enough for
/// tests about signing in.
pub async fn sign_in_sim(config: weft_sim::SimConfig) -> weft_sim::SimHandle {
    weft_sim::Simulator::start(weft_sim::SimConfig { span_days: 30, ..config }).await.unwrap()
}

/// The simulator with `config`, its clock at [`anchor`]: the week the tests' expectations are
/// computed for.
pub async fn sim_at_anchor(config: weft_sim::SimConfig) -> weft_sim::SimHandle {
    weft_sim::Simulator::start(weft_sim::SimConfig { anchor: anchor(), ..config }).await.unwrap()
}

/// A run store in `dir` (`runs.db`), and this process holding runs in it.
pub fn durable(dir: &Path) -> weft::durable::Durable {
    let store = weft::store::sqlite::SqliteStore::open(&dir.join("runs.db")).unwrap();
    weft::durable::Durable {
        store: std::sync::Arc::new(store),
        holder: weft::store::Holder::this_process(Duration::from_secs(10)),
    }
}

/// `flow` recorded as a new run: no file behind it, no idempotency key, no parent.
pub fn recorded(flow: &weft::flow::Flow) -> weft::durable::Recorded<'_> {
    weft::durable::Recorded {
        flow,
        flow_path: None,
        profiles_path: None,
        idempotency_key: None,
        parent: None,
    }
}

/// A free TCP port on 127.0.0.1 (for a listener a child process opens).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

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

    /// The run store [`durable`] opens in the directory, as `--store` names it.
    pub fn store_url(&self) -> String {
        format!("sqlite:{}", self.join("runs.db").display())
    }

    /// Runs `weft` with `args`, in this directory.
    pub fn weft<I, S>(&self, args: I) -> Outcome
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Weft::new(self.path(), args).run()
    }
}

/// Writes `flow` in a fresh directory and runs `weft run` on it with `extra` arguments.
pub fn run_flow(flow: &str, extra: &[&str]) -> Outcome {
    let dir = Dir::new();
    dir.write("test.flow.json", flow);
    let mut args = vec!["run", "test.flow.json"];
    args.extend_from_slice(extra);
    dir.weft(args)
}

/// The `weft` binary with arguments and environment, run in a directory with no input and
/// `RUST_LOG` unset.
pub struct Weft {
    command: Command,
}

impl Weft {
    /// `weft ARGS…` in `cwd`.
    pub fn new<I, S>(cwd: &Path, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(env!("CARGO_BIN_EXE_weft"));
        command.args(args).current_dir(cwd).env_remove("RUST_LOG").stdin(Stdio::null());
        Self { command }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    /// Feeds the file at `path` to its stdin.
    pub fn stdin(mut self, path: &Path) -> Self {
        self.command.stdin(std::fs::File::open(path).expect("open the stdin file"));
        self
    }

    /// Unsets an environment variable.
    pub fn env_remove(mut self, key: &str) -> Self {
        self.command.env_remove(key);
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Runs to completion, killed (and the test failed) after [`DEADLINE`].
    pub fn run(self) -> Outcome {
        self.spawn().finish()
    }

    /// Starts it, both streams read line by line; killed when dropped.
    pub fn spawn(mut self) -> Running {
        let mut child =
            self.command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start weft");
        Running {
            stdout: lines_of(child.stdout.take().unwrap()),
            stderr: lines_of(child.stderr.take().unwrap()),
            child: Some(child),
            seen_stdout: String::new(),
            seen_stderr: String::new(),
        }
    }
}

/// A thread sending each line (with its newline) read from `stream`, until its end.
fn lines_of(stream: impl Read + Send + 'static) -> Lines {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stream = BufReader::new(stream);
        loop {
            let mut line = Vec::new();
            match stream.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if tx.send(line).is_err() => return,
                Ok(_) => {}
            }
        }
    });
    rx
}

type Lines = mpsc::Receiver<Vec<u8>>;

/// `line` as text: weft writes UTF-8.
fn text(line: Vec<u8>, stream: &str) -> String {
    String::from_utf8(line).unwrap_or_else(|e| panic!("weft's {stream} is not UTF-8: {e}"))
}

/// A running `weft` (killed when dropped).
pub struct Running {
    child: Option<Child>,
    stdout: Lines,
    stderr: Lines,
    seen_stdout: String,
    seen_stderr: String,
}

impl Running {
    /// Sends `signal` (`-INT`, `-TERM`) to the process.
    #[cfg(unix)]
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let sent = Command::new("kill").args([signal, &pid]).status().expect("run kill");
        assert!(sent.success(), "kill {signal} {pid}");
    }

    /// The next line on stdout (without its newline), within 60 s.
    pub fn stdout_line(&mut self) -> String {
        next_line(&self.stdout, &mut self.seen_stdout, "stdout", |_| true)
    }

    /// Waits for the first stderr line that starts with `http` (the URL `weft login` prints).
    pub fn wait_for_url(&mut self) -> String {
        self.stderr_line(|line| line.trim_start().starts_with("http"))
    }

    /// Waits for the first stderr line (trimmed) that `wanted` accepts, within 60 s.
    pub fn stderr_line(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        next_line(&self.stderr, &mut self.seen_stderr, "stderr", wanted)
    }

    /// Polls `ready` every 20 ms while the process runs, until it gives a value. Fails the
    /// test, with what the process printed, should it exit first or [`DEADLINE`] pass.
    pub fn wait_for<T>(&mut self, what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            if let Some(value) = ready() {
                return value;
            }
            let child = self.child.as_mut().unwrap();
            let exited = child.try_wait().expect("wait for weft").is_some();
            // What it did just before it exited counts.
            if exited && let Some(value) = ready() {
                return value;
            }
            if exited || started.elapsed() > DEADLINE {
                let _ = child.kill();
                let outcome = self.collect();
                let why = if exited { "weft exited" } else { "the deadline passed" };
                panic!("{why} while waiting for {what}: {outcome:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the exit (killing it after [`DEADLINE`]) and collects the rest of the output.
    pub fn finish(mut self) -> Outcome {
        self.collect()
    }

    /// [`Running::finish`], leaving `self` without its process.
    fn collect(&mut self) -> Outcome {
        let mut child = self.child.take().unwrap();
        let status = wait_with_deadline(&mut child, DEADLINE);
        // The streams end with the process, unless a child of its own holds them open.
        for (lines, seen, stream) in [
            (&self.stdout, &mut self.seen_stdout, "stdout"),
            (&self.stderr, &mut self.seen_stderr, "stderr"),
        ] {
            while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
                seen.push_str(&text(line, stream));
            }
        }
        Outcome {
            code: status.code(),
            stdout: std::mem::take(&mut self.seen_stdout),
            stderr: std::mem::take(&mut self.seen_stderr),
        }
    }
}

/// The first line on `stream` that `wanted` accepts (trimmed), every line read kept in `seen`;
/// fails the test when the stream ends or 60 s pass first.
fn next_line(
    lines: &Lines,
    seen: &mut String,
    stream: &str,
    wanted: impl Fn(&str) -> bool,
) -> String {
    let started = Instant::now();
    loop {
        match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let line = text(line, stream);
                seen.push_str(&line);
                if wanted(&line) {
                    return line.trim().to_owned();
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("weft's {stream} ended before the line awaited:\n{seen}")
            }
        }
        let waited = started.elapsed();
        assert!(waited < Duration::from_secs(60), "no awaited line on {stream} in 60 s:\n{seen}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits for `child`, killing it (and failing the test) after `deadline`.
fn wait_with_deadline(child: &mut Child, deadline: Duration) -> ExitStatus {
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

/// What one invocation of the binary did.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
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

/// Every object in `value` (at any depth) that looks like a diagnostic: it has `severity` and
/// `message`.
pub fn diagnostics(value: &Value) -> Vec<Value> {
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
    let mut found = Vec::new();
    collect(value, &mut found);
    found
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

/// Asserts that none of `secrets` appears in `haystack` (naming `what` on failure, never printing
/// the secret itself in full).
#[track_caller]
pub fn assert_no_secret(what: &str, haystack: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!secret.is_empty());
        if let Some(at) = haystack.find(secret) {
            let prefix: String = secret.chars().take(6).collect();
            panic!(
                "{what} holds a secret ({prefix}…) at byte {at}; context: {}",
                &haystack[at.saturating_sub(80)..at]
            );
        }
    }
}
