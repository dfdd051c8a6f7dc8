//! The run store: the history of runs, their journals (what each finished node wrote), the
//! flow texts they pin, and the state flows keep between runs.
//!
//! [`Store`] is the one interface every command uses; [`open`] picks the backend from a
//! `--store` URL. The first backend is SQLite ([`sqlite`]); the schema and its queries are
//! written in SQL PostgreSQL speaks too, so a PostgreSQL backend adds a connection pool and
//! its queue, not a redesign.
//!
//! Who may write a run is decided here: each claim of a run (its start, a resume, a takeover)
//! adds one to its `attempts`, which is the fencing token. Every journal write, renewal and
//! finish names the attempt it holds ([`Claim`]) and succeeds only while that attempt is the
//! run's current one and its lease is live by the store's clock.

mod duration;
pub mod sqlite;
mod trace;

pub use crate::flow::Pinned;
pub use duration::parse_age;
pub use trace::{trace_tree, trace_tree_within};

use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The default lease: a run whose holder stops renewing is free to take over this long after.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// How long runs are kept by default (`weft serve --keep`).
pub const DEFAULT_KEEP: Duration = Duration::from_secs(30 * 24 * 3600);

/// Where runs are kept: a `--store` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// Nothing is kept (`none`).
    None,
    /// An SQLite file (`sqlite:PATH`).
    Sqlite(PathBuf),
}

impl FromStr for StoreUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "none" {
            return Ok(Self::None);
        }
        if let Some(path) = s.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err("`sqlite:` needs a file path, e.g. `sqlite:runs.db`".into());
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Err("PostgreSQL stores are not supported yet: use `sqlite:PATH`".into());
        }
        Err(format!("`{}` is not a store: use `none` or `sqlite:PATH`", weft_nodes::clip::clip(s)))
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
        }
    }
}

/// Opens the store at `url`; `None` for `none`.
///
/// # Errors
///
/// The store can't be opened or migrated, or was written by a newer Weft.
pub fn open(url: &StoreUrl) -> Result<Option<std::sync::Arc<dyn Store>>, StoreError> {
    match url {
        StoreUrl::None => Ok(None),
        StoreUrl::Sqlite(path) => Ok(Some(std::sync::Arc::new(sqlite::SqliteStore::open(path)?))),
    }
}

/// Why the store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened, read or written.
    #[error("the run store {place}: {message}")]
    Backend {
        /// What was being done (e.g. `at runs.db cannot be opened`).
        place: String,
        /// The backend's message.
        message: String,
    },
    /// The store was written by a newer version of Weft.
    #[error(
        "the run store at {path} was written by a newer version of Weft (schema {found}, this \
         one knows up to {known}); it was left untouched: use that version, or another --store"
    )]
    TooNew {
        /// The store.
        path: String,
        /// Its schema version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// No run has that id.
    #[error("there is no run `{run}` in the store {store}")]
    NoSuchRun {
        /// The id asked for.
        run: String,
        /// Where the store is (`at runs.db`), for people who looked in another.
        store: String,
    },
    /// The claim is no longer the run's current one, or its lease expired: another process
    /// may have taken the run over, and this one must not write it.
    #[error("run `{0}` is no longer held by this process (its lease expired or it was taken over)")]
    Fenced(String),
    /// The run is held by a live lease of another process.
    #[error("run `{run}` is running in another process (its lease is live for {left_ms} ms more)")]
    Held {
        /// The run.
        run: String,
        /// How long the lease has left.
        left_ms: i64,
    },
    /// The run is a child run: its parent runs it, resumes it and cancels it.
    #[error(
        "run `{run}` is a child of run `{parent}` (its `call` node runs it): it is resumed and \
         cancelled with run `{parent}`, not on its own"
    )]
    Child {
        /// The run.
        run: String,
        /// Its parent.
        parent: String,
    },
    /// The run is over in a status that allows no more (it succeeded, or was cancelled; or,
    /// to cancel, failed too).
    #[error("run `{run}` has {status} and can't be {what}")]
    Finished {
        /// The run.
        run: String,
        /// Its status.
        status: Status,
        /// What was asked: `resumed` or `cancelled`.
        what: &'static str,
    },
    /// Another run stored state for the key since this one started.
    #[error(
        "another run stored the state of flow `{flow}`{} since this run started; this run's \
         state would overwrite it with older values",
        if .key.is_empty() { String::new() } else { format!(" (key `{}`)", .key) }
    )]
    StateConflict {
        /// The flow.
        flow: String,
        /// The key.
        key: String,
    },
}

/// A run's status in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Accepted, not started.
    Queued,
    /// Started and not finished (or its holder died and its lease is running out).
    Running,
    /// It succeeded.
    Succeeded,
    /// It failed.
    Failed,
    /// It was cancelled.
    Cancelled,
}

impl Status {
    /// The name the store and the JSON shapes use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the run is over.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    /// Whether the run is over for good: it succeeded or was cancelled (a failed run can still
    /// be run again, or cancelled).
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Succeeded | Self::Cancelled)
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => {
                return Err(format!(
                    "`{}` is not a status: queued, running, succeeded, failed or cancelled",
                    weft_nodes::clip::clip(s)
                ));
            }
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who holds a claim, and for how long each renewal keeps it.
#[derive(Debug, Clone)]
pub struct Holder {
    /// Names the process (host and pid), for people reading the store.
    pub owner: String,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
}

impl Holder {
    /// This process, with `lease`.
    pub fn this_process(lease: Duration) -> Self {
        Self { owner: format!("pid {}", std::process::id()), lease }
    }
}

/// The right to write one attempt of a run.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The run.
    pub run: String,
    /// The attempt, the fencing token.
    pub attempt: i64,
    /// The holder.
    pub holder: Holder,
}

/// A run to record.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The flow's name.
    pub flow: String,
    /// The flow's exact text, with those of the flows it calls.
    pub pinned: Pinned,
    /// The file it was loaded from.
    pub flow_path: Option<String>,
    /// The profiles file it runs with.
    pub profiles_path: Option<String>,
    /// Its parameters (a JSON object).
    pub params: Value,
    /// Makes a repeated request return this run instead of starting another.
    pub idempotency_key: Option<String>,
    /// Claim it at once (it starts now); `None` leaves it queued.
    pub start: Option<Holder>,
    /// The run whose `call` node runs it.
    pub parent: Option<ChildOf>,
}

/// Where a child run was called: a `call` node's step in its parent, and the element's index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildOf {
    /// The parent run.
    pub run: String,
    /// The `call` node.
    pub node: String,
    /// The parent's step that ran it.
    pub step: u64,
    /// With `for_each`, the element's index.
    pub index: Option<u64>,
}

/// A child run a resumed parent finds in the store.
#[derive(Debug, Clone)]
pub struct FoundChild {
    /// Its id.
    pub id: String,
    /// Its status.
    pub status: Status,
    /// Its result (JSON), when it succeeded.
    pub result: Value,
}

/// What [`Store::create`] did.
#[derive(Debug)]
pub enum Created {
    /// A new run, claimed when it was asked to start.
    New {
        /// Its id.
        id: String,
        /// The claim, when it starts now.
        claim: Option<Claim>,
    },
    /// A run with the same idempotency key exists.
    Existing {
        /// Its id.
        id: String,
        /// Whether it was started with the same parameters.
        same_params: bool,
    },
}

/// A run as the store keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// UUIDv7.
    pub id: String,
    /// The flow's name.
    pub flow: String,
    /// Its status.
    pub status: Status,
    /// When it was accepted (RFC 3339).
    pub created_at: String,
    /// When it started, last.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Claims so far.
    pub attempts: i64,
    /// The run that called it.
    pub parent: Option<String>,
    /// The parent's `call` node that called it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_node: Option<String>,
    /// The element of the parent's `for_each` it ran for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_index: Option<u64>,
    /// Its idempotency key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The content hash of its flow text.
    pub flow_hash: String,
    /// Until when its holder's lease runs (RFC 3339), while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<String>,
    /// Whether a lease is live now.
    #[serde(skip)]
    pub lease_live: bool,
    /// The file the flow was loaded from.
    #[serde(skip)]
    pub flow_path: Option<String>,
    /// The profiles file it was started with.
    #[serde(skip)]
    pub profiles_path: Option<String>,
}

/// A run with its parameters, result and steps: `weft runs show`, `GET /runs/{id}`.
#[derive(Debug, Clone, Serialize)]
pub struct RunDetail {
    /// The run.
    #[serde(flatten)]
    pub run: RunRecord,
    /// Its parameters.
    pub params: Value,
    /// Its result (`null` until it ends, or when it has none).
    pub result: Value,
    /// Its error, as `vars.error`, when it failed.
    pub error: Option<Value>,
    /// Its journal.
    pub steps: Vec<Step>,
}

impl RunRecord {
    /// The file the run's flow came from, or one named after the flow: where its pinned text
    /// is loaded as (its file name names a flow that has no `name`).
    pub fn flow_file(&self) -> std::path::PathBuf {
        let file = self.flow_path.clone().unwrap_or_else(|| format!("{}.flow.json", self.flow));
        std::path::PathBuf::from(file)
    }

    /// Why the run can't be resumed by itself, before anything is claimed: it is a child run
    /// (its parent resumes it), or it is settled. The store's claim says the rest (a live
    /// holder).
    pub fn resume_refused(&self) -> Option<StoreError> {
        if let Some(parent) = &self.parent {
            return Some(StoreError::Child { run: self.id.clone(), parent: parent.clone() });
        }
        let (run, status) = (self.id.clone(), self.status);
        status.is_settled().then_some(StoreError::Finished { run, status, what: "resumed" })
    }
}

impl RunDetail {
    /// The run as people and programs outside see it: parameters under keys that name a
    /// credential redacted, as in traces (the store keeps the real values for resuming).
    #[must_use]
    pub fn redacted(mut self) -> Self {
        crate::trace::redact(&mut self.params);
        self
    }
}

/// One finished node of a run, as the journal keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Its number in the run, from 1.
    pub step: u64,
    /// The attempt that ran it.
    pub attempt: i64,
    /// The node.
    pub node: String,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: String,
    /// The exit it took (`None`: it ended the run).
    pub exit: Option<String>,
    /// What it wrote: `[{ path, set }]` and `[{ path, append }]` in order.
    #[serde(skip)]
    pub writes: String,
    /// Its state, the members that changed.
    #[serde(skip)]
    pub state: Option<String>,
    /// Its error, when it failed.
    pub error: Option<Value>,
    /// Its HTTP events, as a trace has them.
    #[serde(skip)]
    pub http: Vec<Value>,
    /// When it started (ms since the epoch).
    #[serde(skip)]
    pub started_ms: i64,
    /// How long it took.
    pub ms: u64,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct Finish {
    /// `succeeded`, `failed` or `cancelled`.
    pub status: Status,
    /// The result, as JSON text.
    pub result: String,
    /// The error, as `vars.error`.
    pub error: Option<Value>,
    /// The kept variables to store (only for a run that succeeded and keeps state).
    pub state: Option<serde_json::Map<String, Value>>,
}

/// A run to continue: its record, its flow's text and its journal so far.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The claim.
    pub claim: Claim,
    /// The run, before this claim.
    pub detail: RunDetail,
    /// The state version it started from.
    pub state_version: Option<i64>,
}

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Of this flow.
    pub flow: Option<String>,
    /// In this status.
    pub status: Option<Status>,
    /// Created at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// At most this many (newest first).
    pub limit: Option<u32>,
    /// The children of this run (`None`: the runs nobody called).
    pub parent: Option<String>,
    /// Older than this run (the next page of a listing, newest first).
    pub before: Option<String>,
}

/// What [`Store::cancel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// The run was not running anywhere: it is cancelled now.
    Now,
    /// A live process holds it: it was asked to stop, and will at its next renewal.
    Requested,
}

/// A flow's kept state for one key.
#[derive(Debug, Clone, Serialize)]
pub struct KeptState {
    /// The key (`""`: the flow has none).
    pub key: String,
    /// The kept variables.
    pub vars: Value,
    /// One more at each store.
    pub version: i64,
    /// The run that stored it.
    pub run: Option<String>,
    /// When (RFC 3339).
    pub updated_at: String,
}

/// The state a run holds the key of.
#[derive(Debug, Clone)]
pub struct HeldState {
    /// The kept variables (`None`: nothing kept yet, the declared defaults apply).
    pub vars: Option<Value>,
    /// Their version (0: nothing kept yet).
    pub version: i64,
}

/// What a renewal learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renewed {
    /// Someone asked the run to stop.
    pub cancel_requested: bool,
}

/// A store's answer.
pub type StoreResult<T> = Result<T, StoreError>;

/// The run store, whatever its backend. Every method is one transaction.
pub trait Store: Send + Sync + 'static {
    /// Records a new run (and its flow text), or finds the run with its idempotency key.
    fn create(&self, run: NewRun) -> BoxFuture<'_, StoreResult<Created>>;

    /// Claims run `id` to run it: a queued run, or a running one whose lease expired
    /// (`takeover`), or a failed one (a new attempt). Adds one to its attempts. A child run is
    /// refused ([`StoreError::Child`]): only its parent claims it, with [`Store::claim_child`].
    fn claim(&self, id: &str, holder: Holder) -> BoxFuture<'_, StoreResult<Claimed>>;

    /// Claims child run `id` for its parent, as [`Store::claim`] claims a run.
    fn claim_child(&self, id: &str, holder: Holder) -> BoxFuture<'_, StoreResult<Claimed>>;

    /// The texts kept under `hash` (a run's `flow_hash`), with those of the flows they call.
    fn pinned<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, StoreResult<Pinned>>;

    /// The newest child run called at `child`'s step and index of its parent.
    fn child<'a>(&'a self, child: &'a ChildOf) -> BoxFuture<'a, StoreResult<Option<FoundChild>>>;

    /// Ends what the claimed run's children (and theirs) left unfinished when it stopped:
    /// cancels them (`cancel`), or hands them back for the parent's next attempt to resume.
    fn settle_children<'a>(
        &'a self,
        claim: &'a Claim,
        cancel: bool,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// Extends the claim's lease; says whether the run was asked to stop.
    fn renew<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, StoreResult<Renewed>>;

    /// Journals one finished node of the claimed attempt.
    fn record_step<'a>(&'a self, claim: &'a Claim, step: Step) -> BoxFuture<'a, StoreResult<()>>;

    /// Ends the claimed attempt; with kept state, stores it in the same transaction unless
    /// another run stored state for the key since this one started.
    fn finish<'a>(&'a self, claim: &'a Claim, finish: Finish) -> BoxFuture<'a, StoreResult<()>>;

    /// Gives the run back (its lease ends now) for another process to continue.
    fn release<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, StoreResult<()>>;

    /// Runs, newest first.
    fn list(&self, filter: Filter) -> BoxFuture<'_, StoreResult<Vec<RunRecord>>>;

    /// One run with its journal.
    fn get(&self, id: &str) -> BoxFuture<'_, StoreResult<RunDetail>>;

    /// Cancels a run that is not over (not a child run: its parent's cancel reaches it).
    fn cancel(&self, id: &str) -> BoxFuture<'_, StoreResult<Cancelled>>;

    /// Deletes runs that ended before `before_ms` and gives their space back.
    fn prune(&self, before_ms: i64) -> BoxFuture<'_, StoreResult<u64>>;

    /// Runs of `flows` no live process holds: queued, or running with an expired lease (child
    /// runs aside: their parent resumes them).
    fn orphans(&self, flows: Vec<String>) -> BoxFuture<'_, StoreResult<Vec<String>>>;

    /// Takes the state key of the claimed run, if no other live run holds it; `Ok(false)`
    /// while one does. Returns the kept variables and their version when it got it.
    fn hold_state<'a>(
        &'a self,
        claim: &'a Claim,
        flow: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<HeldState>>>;

    /// The kept state of `flow`: every key, or the one given.
    fn states<'a>(
        &'a self,
        flow: &'a str,
        key: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<Vec<KeptState>>>;

    /// Forgets the kept state of `flow` (every key, or the one given); how many were removed.
    fn reset_state<'a>(
        &'a self,
        flow: &'a str,
        key: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<u64>>;
}

/// A new run id: a UUIDv7, ordered by time.
pub fn new_run_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Milliseconds since the epoch as RFC 3339 (UTC, milliseconds).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
