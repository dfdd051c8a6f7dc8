//! The SQLite backend: one file, one machine (`sqlite:PATH`).
//!
//! The file runs in WAL mode with `synchronous=NORMAL`: a killed process loses nothing that
//! was committed, a power loss may lose the last commits. It is created with incremental
//! auto-vacuum, so pruning gives the space of deleted runs back to the file system. Every
//! write is an `IMMEDIATE` transaction (the write lock taken at its start), so two processes
//! sharing the file queue on the lock rather than fail half-way.
//!
//! Reads and occasional writes use the connection from blocking threads (`spawn_blocking`).
//! The writes a run makes as it goes (its creation, journal steps, renewals, finish) are
//! grouped and run on the caller's thread: a run waits for its journal at every step, and a
//! hop to a blocking thread and back would cost more than the write. Such a write can hold a
//! runtime worker while another process has the file's write lock (up to the busy timeout).

use super::{
    Cancelled, ChildOf, Claim, Claimed, Created, Filter, Finish, FoundChild, HeldState, Holder,
    KeptState, NewRun, Renewed, RunDetail, RunRecord, Status, Step, StoreError, StoreResult,
    rfc3339,
};
use futures_util::future::BoxFuture;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior, params};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// The schema's migrations, oldest first; the schema version (`user_version`) is the count of
/// those applied.
const MIGRATIONS: &[&str] =
    &[include_str!("schema/001-runs.sql"), include_str!("schema/002-children.sql")];

/// This version's schema version: every migration applied.
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a store waits for another process's write lock before it gives up.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The columns of a [`RunRecord`], in the order [`record`] reads them.
const RUN_COLUMNS: &str = "id, flow, status, created_at, started_at, finished_at, attempts, \
     parent, idempotency_key, flow_hash, lease_until, flow_path, profiles_path, parent_node, \
     parent_index";

/// An SQLite run store.
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// Writes waiting for the next batch (see [`SqliteStore::grouped`]).
    queue: Arc<Mutex<Vec<Job>>>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating it when missing) the store at `path`, migrating it to this version's
    /// schema.
    ///
    /// # Errors
    ///
    /// The file can't be opened or migrated, or a newer Weft wrote it ([`StoreError::TooNew`]).
    pub fn open(path: &Path) -> StoreResult<Self> {
        let shown = path.display().to_string();
        let fail = |what: &str, err: &dyn std::fmt::Display| StoreError::Backend {
            place: format!("at {shown} {what}"),
            message: err.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail("cannot be created", &e))?;
        }
        let fresh = !path.exists();
        let mut conn = Connection::open(path).map_err(|e| fail("cannot be opened", &e))?;
        #[cfg(unix)]
        if fresh {
            // Runs hold parameters, results and journaled values: for its owner only.
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        conn.set_prepared_statement_cache_capacity(64);
        // Workers started together may all find the store missing: while one creates it, the
        // others' setting up finds the file locked, which SQLite's busy timeout does not cover
        // for every step (the switch to WAL). They wait and try again, each attempt within
        // what is left of the busy timeout: each step is one that can run twice.
        let waited = std::time::Instant::now();
        loop {
            let left = BUSY_TIMEOUT.saturating_sub(waited.elapsed());
            conn.busy_timeout(left).map_err(|e| fail("cannot be opened", &e))?;
            match set_up(&mut conn) {
                Ok(()) => break,
                Err(SetUp::Failed(what, err)) => {
                    if is_busy(&err) && !left.is_zero() {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        continue;
                    }
                    return Err(fail(what, &err));
                }
                Err(SetUp::Unknown(found)) if found > SCHEMA_VERSION => {
                    return Err(StoreError::TooNew { path: shown, found, known: SCHEMA_VERSION });
                }
                Err(SetUp::Unknown(found)) => {
                    let why = format!("schema version {found} is none Weft ever wrote");
                    return Err(fail("cannot be read", &why));
                }
            }
        }
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| fail("cannot be opened", &e))?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)), queue: Arc::default(), path: path.to_owned() })
    }

    /// Runs `f` with the connection on a blocking thread.
    fn call<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    ) -> BoxFuture<'static, StoreResult<T>> {
        let (conn, queue, path) = (self.conn.clone(), self.queue.clone(), self.path.clone());
        Box::pin(async move {
            let joined = tokio::task::spawn_blocking(move || {
                let result = f(&mut conn.lock().unwrap_or_else(PoisonError::into_inner));
                // Writes queued meanwhile by callers that found the connection busy.
                lead(&conn, &queue);
                result
            })
            .await;
            match joined {
                Ok(result) => result.map_err(|err| placed(err, &path, what)),
                Err(err) => Err(placed(db_message(err.to_string()), &path, what)),
            }
        })
    }
}

/// Why a store could not be set up.
enum SetUp {
    /// A step (named) failed.
    Failed(&'static str, rusqlite::Error),
    /// Its schema version is not one this version knows (a newer Weft wrote it).
    Unknown(i64),
}

/// Sets the connection up and brings the schema to this version's.
fn set_up(conn: &mut Connection) -> Result<(), SetUp> {
    let failed = |what| move |err| SetUp::Failed(what, err);
    // Auto-vacuum can only be chosen before the file's first page is written, by whichever
    // process writes it: each that finds the file empty chooses it (not only the one that
    // created the file: another may write the first page, switching to WAL).
    let pages: i64 = conn
        .pragma_query_value(None, "page_count", |row| row.get(0))
        .map_err(failed("cannot be read"))?;
    if pages == 0 {
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(failed("cannot be set up"))?;
    }
    for (pragma, value) in
        [("journal_mode", "WAL"), ("synchronous", "NORMAL"), ("foreign_keys", "ON")]
    {
        conn.pragma_update(None, pragma, value).map_err(failed("cannot be set up"))?;
    }
    let version = |conn: &Connection| -> Result<usize, SetUp> {
        let found: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(failed("cannot be read"))?;
        match usize::try_from(found) {
            Ok(found) if found <= MIGRATIONS.len() => Ok(found),
            _ => Err(SetUp::Unknown(found)),
        }
    };
    // Most opens find the schema current and need no write lock.
    if version(conn)? == MIGRATIONS.len() {
        return Ok(());
    }
    // The write lock first, then the version again: another process may have migrated the
    // store while this one waited for the lock.
    let migrating = failed("cannot be migrated");
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(migrating)?;
    let found = version(&tx)?;
    for migration in &MIGRATIONS[found..] {
        tx.execute_batch(migration).map_err(migrating)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(migrating)?;
    tx.commit().map_err(migrating)
}

/// Whether `err` is another connection holding a lock this one needs.
fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(err.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

/// Runs one statement, prepared once per connection (the journal runs the same few statements
/// at every step).
fn exec(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// The one row of a query, prepared once per connection.
fn row<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(params, f)
}

/// A write waiting for a batch: it runs inside the batch's transaction and gives back what
/// tells its caller the outcome once the batch committed (or failed to).
type Job = Box<dyn FnOnce(&mut Connection) -> Reply + Send>;

/// Tells a grouped write's caller its outcome: the batch's failure, if it failed.
type Reply = Box<dyn FnOnce(Option<&StoreError>) + Send>;

impl SqliteStore {
    /// Runs the write `f` in a batch with the writes other runs are waiting for: one
    /// transaction, one commit for them all (group commit). Nobody waits for a batch to fill:
    /// the caller that finds the connection free runs every write queued so far, its own
    /// included, on its own thread; a caller that finds it busy leaves its write for the
    /// holder, which looks for queued writes each time it lets the connection go. One run alone
    /// writes at once, on its own thread; many runs share their commits.
    fn grouped<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    ) -> BoxFuture<'static, StoreResult<T>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let path = self.path.clone();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            Box::new(move |failed: Option<&StoreError>| {
                let result = match failed {
                    Some(err) => Err(err.clone()),
                    None => result,
                };
                let _ = tx.send(result.map_err(|err| placed(err, &path, what)));
            })
        });
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).push(job);
        lead(&self.conn, &self.queue);
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| {
                Err(StoreError::Backend {
                    place: String::new(),
                    message: "the write was dropped".into(),
                })
            })
        })
    }
}

/// Runs `jobs` in one transaction; what tells each caller its outcome. Should the batch's
/// transaction not begin, each runs in a transaction of its own and reports its own outcome.
fn run_batch(conn: &mut Connection, jobs: Vec<Job>) -> impl FnOnce() + use<> {
    let batched = exec(conn, "BEGIN IMMEDIATE", []).is_ok();
    let replies: Vec<Reply> = jobs.into_iter().map(|job| job(conn)).collect();
    let failed = if batched { exec(conn, "COMMIT", []).map_err(db).err() } else { None };
    if failed.is_some() && !conn.is_autocommit() {
        let _ = exec(conn, "ROLLBACK", []);
    }
    move || {
        for reply in replies {
            reply(failed.as_ref());
        }
    }
}

/// Runs the queued writes in batches while the connection is free; returns when it is busy
/// (its holder runs them when it lets it go) or nothing is queued.
fn lead(conn: &Mutex<Connection>, queue: &Mutex<Vec<Job>>) {
    let queued = || queue.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        {
            let mut conn = match conn.try_lock() {
                Ok(conn) => conn,
                // A write that panicked left nothing half-done: SQLite rolls its transaction
                // back when the next one begins.
                Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return,
            };
            let jobs = std::mem::take(&mut *queued());
            if !jobs.is_empty() {
                let reply = run_batch(&mut conn, jobs);
                drop(conn);
                reply();
            }
        }
        // A write queued while the connection was held, by a caller that found it busy.
        if queued().is_empty() {
            return;
        }
    }
}

/// `err` said of the store at `path`: a backend error names what was being done there, a
/// missing run the store it is missing from.
fn placed(err: StoreError, path: &Path, what: &str) -> StoreError {
    match err {
        StoreError::Backend { message, .. } => {
            StoreError::Backend { place: format!("at {} {what}", path.display()), message }
        }
        StoreError::NoSuchRun { run, .. } => {
            StoreError::NoSuchRun { run, store: format!("at {}", path.display()) }
        }
        other => other,
    }
}

/// A backend error, placed by [`placed`].
fn db(err: rusqlite::Error) -> StoreError {
    db_message(err.to_string())
}

fn db_message(message: String) -> StoreError {
    StoreError::Backend { place: String::new(), message }
}

/// A write transaction, `IMMEDIATE` (the write lock taken at its start), rolled back unless
/// committed — or, inside a batch of grouped writes (see [`SqliteStore::grouped`]), a savepoint
/// of the batch's transaction, so that a write that fails (a fenced holder) takes back only its
/// own changes. Its statements are prepared once per connection, like every statement.
struct Write<'c> {
    conn: &'c Connection,
    open: bool,
    nested: bool,
}

impl Write<'_> {
    fn commit(mut self) -> rusqlite::Result<()> {
        self.open = false;
        exec(self.conn, if self.nested { "RELEASE write" } else { "COMMIT" }, []).map(drop)
    }
}

impl std::ops::Deref for Write<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Write<'_> {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        if self.nested {
            let _ = exec(self.conn, "ROLLBACK TO write", []);
            let _ = exec(self.conn, "RELEASE write", []);
        } else {
            let _ = exec(self.conn, "ROLLBACK", []);
        }
    }
}

fn write_txn(conn: &mut Connection) -> StoreResult<Write<'_>> {
    let nested = !conn.is_autocommit();
    exec(conn, if nested { "SAVEPOINT write" } else { "BEGIN IMMEDIATE" }, []).map_err(db)?;
    Ok(Write { conn, open: true, nested })
}

/// The store's clock, in milliseconds since the epoch.
fn now(conn: &Connection) -> StoreResult<i64> {
    row(conn, "SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER)", [], |r| r.get(0)).map_err(db)
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn json(text: Option<String>) -> Value {
    text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null)
}

fn record(row: &Row<'_>, now: i64) -> rusqlite::Result<RunRecord> {
    let status: String = row.get(2)?;
    let lease_until: Option<i64> = row.get(10)?;
    let status = status.parse().unwrap_or(Status::Failed);
    let running = status == Status::Running;
    Ok(RunRecord {
        id: row.get(0)?,
        flow: row.get(1)?,
        status,
        created_at: rfc3339(row.get(3)?),
        started_at: row.get::<_, Option<i64>>(4)?.map(rfc3339),
        finished_at: row.get::<_, Option<i64>>(5)?.map(rfc3339),
        attempts: row.get(6)?,
        parent: row.get(7)?,
        idempotency_key: row.get(8)?,
        flow_hash: row.get(9)?,
        lease_until: lease_until.filter(|_| running).map(rfc3339),
        lease_live: running && lease_until.is_some_and(|until| until >= now),
        flow_path: row.get(11)?,
        profiles_path: row.get(12)?,
        parent_node: row.get(13)?,
        parent_index: row.get::<_, Option<i64>>(14)?.and_then(|i| u64::try_from(i).ok()),
    })
}

fn detail(conn: &Connection, id: &str) -> StoreResult<(RunDetail, Option<i64>)> {
    let now = now(conn)?;
    let sql = format!(
        "SELECT {RUN_COLUMNS}, params, result, error, state_version FROM runs WHERE id = ?1"
    );
    let found = conn
        .query_row(&sql, [id], |row| {
            let run = record(row, now)?;
            let params: String = row.get(15)?;
            let result: Option<String> = row.get(16)?;
            let error: Option<String> = row.get(17)?;
            let state_version: Option<i64> = row.get(18)?;
            Ok((run, params, result, error, state_version))
        })
        .optional()
        .map_err(db)?;
    let Some((run, params, result, error, state_version)) = found else {
        return Err(StoreError::NoSuchRun { run: id.to_owned(), store: String::new() });
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT step, attempt, node, kind, exit, writes, state, error, http, started_at, ms \
             FROM steps WHERE run = ?1 ORDER BY step",
        )
        .map_err(db)?;
    let steps = stmt
        .query_map([id], |row| {
            let http: Option<String> = row.get(8)?;
            let http = match json(http) {
                Value::Array(events) => events,
                _ => Vec::new(),
            };
            Ok(Step {
                step: u64::try_from(row.get::<_, i64>(0)?).unwrap_or_default(),
                attempt: row.get(1)?,
                node: row.get(2)?,
                kind: row.get(3)?,
                exit: row.get(4)?,
                writes: row.get(5)?,
                state: row.get(6)?,
                error: Some(json(row.get(7)?)).filter(|e| !e.is_null()),
                http,
                started_ms: row.get(9)?,
                ms: u64::try_from(row.get::<_, i64>(10)?).unwrap_or_default(),
            })
        })
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    let detail = RunDetail {
        run,
        params: json(Some(params)),
        result: json(result),
        error: Some(json(error)).filter(|e| !e.is_null()),
        steps,
    };
    Ok((detail, state_version))
}

/// Keeps the texts of `pinned` (each once, by its hash) under the flow name `name`; its hash.
fn pin(txn: &Connection, name: &str, pinned: &super::Pinned, now: i64) -> StoreResult<String> {
    let mut calls = Vec::with_capacity(pinned.calls.len());
    for (called, child) in &pinned.calls {
        calls.push((called.as_str(), pin(txn, called, child, now)?));
    }
    let hash = pinned.hash_with(&calls);
    let calls = (!calls.is_empty()).then(|| {
        Value::Object(
            calls.into_iter().map(|(name, hash)| (name.to_owned(), hash.into())).collect(),
        )
        .to_string()
    });
    exec(
        txn,
        "INSERT INTO flows (hash, name, text, calls, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (hash) DO NOTHING",
        params![hash, name, pinned.text, calls, now],
    )
    .map_err(db)?;
    Ok(hash)
}

/// The texts kept under `hash`, with those of the flows they call.
fn pinned(conn: &Connection, hash: &str) -> StoreResult<super::Pinned> {
    let found: Option<(String, Option<String>)> =
        row(conn, "SELECT text, calls FROM flows WHERE hash = ?1", [hash], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .map_err(db)?;
    let Some((text, calls)) = found else {
        return Err(db(rusqlite::Error::QueryReturnedNoRows));
    };
    let mut pinned = super::Pinned { text, calls: Default::default() };
    if let Value::Object(calls) = json(calls) {
        for (called, hash) in calls {
            let hash = hash.as_str().unwrap_or_default().to_owned();
            pinned.calls.insert(called, self::pinned(conn, &hash)?);
        }
    }
    Ok(pinned)
}

/// The runs `run` called, and theirs: `WITH tree AS (…)` before a statement about them.
const CHILD_TREE: &str = "WITH RECURSIVE tree (id) AS (\
     SELECT id FROM runs WHERE parent = ?1 \
     UNION ALL SELECT runs.id FROM runs JOIN tree ON runs.parent = tree.id)";

/// The runs below run `?1` (in [`CHILD_TREE`]) that are not over.
const UNFINISHED_BELOW: &str = "id IN (SELECT id FROM tree) AND status IN ('queued', 'running')";

/// Cancels the runs `which` selects (a condition on `runs`, in which `?1` is run `id` and
/// `tree` its [`CHILD_TREE`]) and frees the flow state they hold.
fn cancel_runs(txn: &Connection, which: &str, id: &str, now: i64) -> StoreResult<()> {
    exec(
        txn,
        &format!(
            "{CHILD_TREE} UPDATE flow_state SET holder = NULL WHERE holder IN \
             (SELECT id FROM runs WHERE {which})"
        ),
        params![id],
    )
    .map_err(db)?;
    exec(
        txn,
        &format!(
            "{CHILD_TREE} UPDATE runs SET status = 'cancelled', \
             finished_at = COALESCE(finished_at, ?2), lease_until = NULL, lease_owner = NULL \
             WHERE {which}"
        ),
        params![id, now],
    )
    .map_err(db)?;
    Ok(())
}

/// Checks that `claim` still holds its run (its attempt is the current one, its lease live by
/// the store's clock).
fn held(txn: &Connection, claim: &Claim) -> StoreResult<()> {
    row(
        txn,
        "SELECT 1 FROM runs WHERE id = ?1 AND attempts = ?2 AND status = 'running' \
         AND lease_until >= CAST(unixepoch('subsec') * 1000 AS INTEGER)",
        params![claim.run, claim.attempt],
        |_| Ok(()),
    )
    .optional()
    .map_err(db)?
    .ok_or_else(|| StoreError::Fenced(claim.run.clone()))
}

/// Checks that `claim` still holds its run and extends its lease; what the run's
/// `cancel_requested` says.
fn fence(txn: &Connection, claim: &Claim, now: i64) -> StoreResult<bool> {
    row(
        txn,
        "UPDATE runs SET lease_until = ?1 \
         WHERE id = ?2 AND attempts = ?3 AND status = 'running' AND lease_until >= ?4 \
         RETURNING cancel_requested",
        params![now + millis(claim.holder.lease), claim.run, claim.attempt, now],
        |row| row.get::<_, i64>(0),
    )
    .optional()
    .map_err(db)?
    .map(|cancel| cancel != 0)
    .ok_or_else(|| StoreError::Fenced(claim.run.clone()))
}

/// Claims run `id` for `holder`: a child run only when `child` (its parent claims it).
fn claim(conn: &mut Connection, id: &str, holder: Holder, child: bool) -> StoreResult<Claimed> {
    let txn = write_txn(conn)?;
    let now = now(&txn)?;
    let (detail, state_version) = detail(&txn, id)?;
    let run = &detail.run;
    if let (Some(parent), false) = (&run.parent, child) {
        return Err(StoreError::Child { run: id.to_owned(), parent: parent.clone() });
    }
    match run.status {
        Status::Succeeded | Status::Cancelled => {
            return Err(StoreError::Finished {
                run: id.to_owned(),
                status: run.status,
                what: "resumed",
            });
        }
        Status::Running if run.lease_live => {
            let until: i64 = txn
                .query_row("SELECT lease_until FROM runs WHERE id = ?1", [id], |r| r.get(0))
                .map_err(db)?;
            return Err(StoreError::Held { run: id.to_owned(), left_ms: until - now });
        }
        Status::Queued | Status::Running | Status::Failed => {}
    }
    let attempt = run.attempts + 1;
    exec(
        &txn,
        "UPDATE runs SET status = 'running', attempts = ?1, lease_owner = ?2, \
         lease_until = ?3, started_at = ?4, finished_at = NULL, cancel_requested = 0 \
         WHERE id = ?5",
        params![attempt, holder.owner, now + millis(holder.lease), now, id],
    )
    .map_err(db)?;
    txn.commit().map_err(db)?;
    Ok(Claimed { claim: Claim { run: id.to_owned(), attempt, holder }, detail, state_version })
}

impl super::Store for SqliteStore {
    fn create(&self, run: NewRun) -> BoxFuture<'_, StoreResult<Created>> {
        self.grouped("cannot record a run", move |conn| {
            let txn = write_txn(conn)?;
            let now = now(&txn)?;
            let params_text = run.params.to_string();
            if let Some(key) = &run.idempotency_key {
                let existing: Option<(String, String)> = txn
                    .query_row(
                        "SELECT id, params FROM runs WHERE flow = ?1 AND idempotency_key = ?2",
                        params![run.flow, key],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()
                    .map_err(db)?;
                if let Some((id, params)) = existing {
                    let same_params = json(Some(params)) == run.params;
                    return Ok(Created::Existing { id, same_params });
                }
            }
            let hash = pin(&txn, &run.flow, &run.pinned, now)?;
            let id = super::new_run_id();
            let (status, attempts, lease_owner, lease_until, started) = match &run.start {
                Some(holder) => (
                    Status::Running,
                    1,
                    Some(holder.owner.clone()),
                    Some(now + millis(holder.lease)),
                    Some(now),
                ),
                None => (Status::Queued, 0, None, None, None),
            };
            exec(
                &txn,
                "INSERT INTO runs (id, flow, flow_hash, flow_path, profiles_path, params, \
                 status, attempts, lease_owner, lease_until, created_at, started_at, \
                 idempotency_key, parent, parent_node, parent_step, parent_index) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
                 ?17)",
                params![
                    id,
                    run.flow,
                    hash,
                    run.flow_path,
                    run.profiles_path,
                    params_text,
                    status.as_str(),
                    attempts,
                    lease_owner,
                    lease_until,
                    now,
                    started,
                    run.idempotency_key,
                    run.parent.as_ref().map(|p| &p.run),
                    run.parent.as_ref().map(|p| &p.node),
                    run.parent.as_ref().map(|p| i64::try_from(p.step).unwrap_or(i64::MAX)),
                    run.parent
                        .as_ref()
                        .and_then(|p| p.index)
                        .map(|i| i64::try_from(i).unwrap_or(i64::MAX)),
                ],
            )
            .map_err(db)?;
            txn.commit().map_err(db)?;
            let claim = run.start.map(|holder| Claim { run: id.clone(), attempt: 1, holder });
            Ok(Created::New { id, claim })
        })
    }

    fn claim(&self, id: &str, holder: Holder) -> BoxFuture<'_, StoreResult<Claimed>> {
        let id = id.to_owned();
        self.call("cannot claim a run", move |conn| claim(conn, &id, holder, false))
    }

    fn claim_child(&self, id: &str, holder: Holder) -> BoxFuture<'_, StoreResult<Claimed>> {
        let id = id.to_owned();
        self.call("cannot claim a run", move |conn| claim(conn, &id, holder, true))
    }

    fn pinned<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, StoreResult<super::Pinned>> {
        let hash = hash.to_owned();
        self.call("cannot be read", move |conn| pinned(conn, &hash))
    }

    fn child<'a>(&'a self, child: &'a ChildOf) -> BoxFuture<'a, StoreResult<Option<FoundChild>>> {
        let child = child.clone();
        self.call("cannot be read", move |conn| {
            let step = i64::try_from(child.step).unwrap_or(i64::MAX);
            let index = child.index.map(|i| i64::try_from(i).unwrap_or(i64::MAX));
            row(
                conn,
                "SELECT id, status, result FROM runs WHERE parent = ?1 AND parent_step = ?2 \
                 AND parent_index IS ?3 ORDER BY id DESC LIMIT 1",
                params![child.run, step, index],
                |row| {
                    let status: String = row.get(1)?;
                    Ok(FoundChild {
                        id: row.get(0)?,
                        status: status.parse().unwrap_or(Status::Failed),
                        result: json(row.get(2)?),
                    })
                },
            )
            .optional()
            .map_err(db)
        })
    }

    fn settle_children<'a>(
        &'a self,
        claim: &'a Claim,
        cancel: bool,
    ) -> BoxFuture<'a, StoreResult<()>> {
        let claim = claim.clone();
        self.call("cannot settle a run's children", move |conn| {
            let txn = write_txn(conn)?;
            let now = now(&txn)?;
            fence(&txn, &claim, now)?;
            if cancel {
                cancel_runs(&txn, UNFINISHED_BELOW, &claim.run, now)?;
            } else {
                exec(
                    &txn,
                    &format!(
                        "{CHILD_TREE} UPDATE runs SET lease_until = 0 WHERE {UNFINISHED_BELOW}"
                    ),
                    params![claim.run],
                )
                .map_err(db)?;
            }
            txn.commit().map_err(db)
        })
    }

    fn renew<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, StoreResult<Renewed>> {
        let claim = claim.clone();
        self.grouped("cannot renew a lease", move |conn| {
            let txn = write_txn(conn)?;
            let now = now(&txn)?;
            let cancel_requested = fence(&txn, &claim, now)?;
            txn.commit().map_err(db)?;
            Ok(Renewed { cancel_requested })
        })
    }

    fn record_step<'a>(&'a self, claim: &'a Claim, step: Step) -> BoxFuture<'a, StoreResult<()>> {
        let claim = claim.clone();
        // Grouped, on the caller's thread: the run waits for its journal at every step, and a
        // hop to a blocking thread and back would cost more than the write.
        self.grouped("cannot journal a step", move |conn| {
            let txn = write_txn(conn)?;
            // Only the renewals extend the lease: a step's write changes nothing in `runs`.
            held(&txn, &claim)?;
            let number = i64::try_from(step.step).unwrap_or(i64::MAX);
            // A new attempt of a failed run goes again from an earlier step: what the failed
            // attempt journaled from there on is replaced.
            exec(
                &txn,
                "DELETE FROM steps WHERE run = ?1 AND step >= ?2",
                params![claim.run, number],
            )
            .map_err(db)?;
            let http = (!step.http.is_empty()).then(|| Value::Array(step.http).to_string());
            exec(
                &txn,
                "INSERT INTO steps (run, step, attempt, node, kind, exit, writes, state, error, \
                 http, started_at, ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    claim.run,
                    number,
                    claim.attempt,
                    step.node,
                    step.kind,
                    step.exit,
                    step.writes,
                    step.state,
                    step.error.map(|e| e.to_string()),
                    http,
                    step.started_ms,
                    i64::try_from(step.ms).unwrap_or(i64::MAX),
                ],
            )
            .map_err(db)?;
            txn.commit().map_err(db)
        })
    }

    fn finish<'a>(&'a self, claim: &'a Claim, finish: Finish) -> BoxFuture<'a, StoreResult<()>> {
        let claim = claim.clone();
        self.grouped("cannot record the end of a run", move |conn| {
            let txn = write_txn(conn)?;
            let now = now(&txn)?;
            fence(&txn, &claim, now)?;
            if let Some(vars) = &finish.state {
                let (flow, key, started_from): (String, Option<String>, Option<i64>) = txn
                    .query_row(
                        "SELECT flow, state_key, state_version FROM runs WHERE id = ?1",
                        [&claim.run],
                        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                    )
                    .map_err(db)?;
                let key = key.unwrap_or_default();
                let current: Option<i64> = txn
                    .query_row(
                        "SELECT version FROM flow_state WHERE flow = ?1 AND key = ?2",
                        params![flow, key],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(db)?;
                if current.unwrap_or(0) != started_from.unwrap_or(0) {
                    return Err(StoreError::StateConflict { flow, key });
                }
                let vars = Value::Object(vars.clone()).to_string();
                exec(
                    &txn,
                    "INSERT INTO flow_state (flow, key, vars, version, run, updated_at) \
                     VALUES (?1, ?2, ?3, 1, ?4, ?5) \
                     ON CONFLICT (flow, key) DO UPDATE SET vars = ?3, \
                     version = flow_state.version + 1, run = ?4, updated_at = ?5",
                    params![flow, key, vars, claim.run, now],
                )
                .map_err(db)?;
            }
            exec(&txn, "UPDATE flow_state SET holder = NULL WHERE holder = ?1", [&claim.run])
                .map_err(db)?;
            exec(
                &txn,
                "UPDATE runs SET status = ?1, result = ?2, error = ?3, finished_at = ?4, \
                 lease_until = NULL, lease_owner = NULL WHERE id = ?5",
                params![
                    finish.status.as_str(),
                    finish.result,
                    finish.error.map(|e| e.to_string()),
                    now,
                    claim.run
                ],
            )
            .map_err(db)?;
            txn.commit().map_err(db)
        })
    }

    fn release<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, StoreResult<()>> {
        let claim = claim.clone();
        self.call("cannot hand a run back", move |conn| {
            let txn = write_txn(conn)?;
            exec(
                &txn,
                "UPDATE runs SET lease_until = 0 WHERE id = ?1 AND attempts = ?2 \
                 AND status = 'running'",
                params![claim.run, claim.attempt],
            )
            .map_err(db)?;
            txn.commit().map_err(db)
        })
    }

    fn list(&self, filter: Filter) -> BoxFuture<'_, StoreResult<Vec<RunRecord>>> {
        self.call("cannot be read", move |conn| {
            let now = now(conn)?;
            let sql = format!(
                "SELECT {RUN_COLUMNS} FROM runs \
                 WHERE (?1 IS NULL OR flow = ?1) AND (?2 IS NULL OR status = ?2) \
                 AND (?3 IS NULL OR created_at >= ?3) \
                 AND parent IS ?5 AND (?6 IS NULL OR id < ?6) \
                 ORDER BY id DESC LIMIT ?4"
            );
            let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
            let limit = filter.limit.map_or(-1, i64::from);
            let rows = stmt
                .query_map(
                    params![
                        filter.flow,
                        filter.status.map(Status::as_str),
                        filter.since_ms,
                        limit,
                        filter.parent,
                        filter.before
                    ],
                    |row| record(row, now),
                )
                .map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
    }

    fn get(&self, id: &str) -> BoxFuture<'_, StoreResult<RunDetail>> {
        let id = id.to_owned();
        self.call("cannot be read", move |conn| detail(conn, &id).map(|(detail, _)| detail))
    }

    fn cancel(&self, id: &str) -> BoxFuture<'_, StoreResult<Cancelled>> {
        let id = id.to_owned();
        self.call("cannot cancel a run", move |conn| {
            let txn = write_txn(conn)?;
            let now = now(&txn)?;
            let found: Option<(String, Option<i64>, Option<String>)> = txn
                .query_row(
                    "SELECT status, lease_until, parent FROM runs WHERE id = ?1",
                    [&id],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()
                .map_err(db)?;
            let Some((status, lease_until, parent)) = found else {
                return Err(StoreError::NoSuchRun { run: id, store: String::new() });
            };
            if let Some(parent) = parent {
                return Err(StoreError::Child { run: id, parent });
            }
            let status: Status = status.parse().unwrap_or(Status::Failed);
            if status.is_settled() {
                return Err(StoreError::Finished { run: id, status, what: "cancelled" });
            }
            let live = status == Status::Running && lease_until.is_some_and(|u| u >= now);
            let outcome = if live {
                exec(&txn, "UPDATE runs SET cancel_requested = 1 WHERE id = ?1", [&id])
                    .map_err(db)?;
                Cancelled::Requested
            } else {
                // Nobody holds it to cancel its children: they go with it.
                cancel_runs(&txn, &format!("id = ?1 OR ({UNFINISHED_BELOW})"), &id, now)?;
                Cancelled::Now
            };
            txn.commit().map_err(db)?;
            Ok(outcome)
        })
    }

    fn prune(&self, before_ms: i64) -> BoxFuture<'_, StoreResult<u64>> {
        self.call("cannot be pruned", move |conn| {
            let txn = write_txn(conn)?;
            let old = "SELECT id FROM runs WHERE finished_at < ?1 \
                       AND status IN ('succeeded', 'failed', 'cancelled')";
            exec(&txn, &format!("DELETE FROM steps WHERE run IN ({old})"), [before_ms])
                .map_err(db)?;
            let pruned = txn
                .execute(&format!("DELETE FROM runs WHERE id IN ({old})"), [before_ms])
                .map_err(db)?;
            exec(
                &txn,
                // A flow that a kept flow calls stays, even if none of its runs is kept; one
                // called by a flow deleted here goes at the next pruning.
                "DELETE FROM flows WHERE NOT EXISTS (SELECT 1 FROM runs WHERE flow_hash = hash) \
                 AND NOT EXISTS (SELECT 1 FROM flows AS caller \
                 WHERE caller.calls LIKE '%\"' || flows.hash || '\"%')",
                [],
            )
            .map_err(db)?;
            txn.commit().map_err(db)?;
            // Free pages back to the file system (the pragma frees a page per step: it is
            // stepped to its end), and the write-ahead log back to nothing.
            let mut vacuum = conn.prepare("PRAGMA incremental_vacuum").map_err(db)?;
            let mut steps = vacuum.query([]).map_err(db)?;
            while steps.next().map_err(db)?.is_some() {}
            drop(steps);
            drop(vacuum);
            conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").map_err(db)?;
            Ok(u64::try_from(pruned).unwrap_or_default())
        })
    }

    fn orphans(&self, flows: Vec<String>) -> BoxFuture<'_, StoreResult<Vec<String>>> {
        self.call("cannot be read", move |conn| {
            let now = now(conn)?;
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, flow FROM runs WHERE status IN ('queued', 'running') \
                     AND (status = 'queued' OR lease_until < ?1) AND parent IS NULL ORDER BY id",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map([now], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
                .map_err(db)?;
            let mut ids = Vec::new();
            for row in rows {
                let (id, flow) = row.map_err(db)?;
                if flows.contains(&flow) {
                    ids.push(id);
                }
            }
            Ok(ids)
        })
    }

    fn hold_state<'a>(
        &'a self,
        claim: &'a Claim,
        flow: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<HeldState>>> {
        let (claim, flow, key) = (claim.clone(), flow.to_owned(), key.to_owned());
        self.grouped("cannot hold flow state", move |conn| {
            let txn = write_txn(conn)?;
            let now = now(&txn)?;
            fence(&txn, &claim, now)?;
            exec(
                &txn,
                "INSERT INTO flow_state (flow, key, vars, version, updated_at) \
                 VALUES (?1, ?2, '{}', 0, ?3) ON CONFLICT (flow, key) DO NOTHING",
                params![flow, key, now],
            )
            .map_err(db)?;
            // The key is free unless another run that is still running under a live lease
            // holds it.
            let taken = txn
                .execute(
                    "UPDATE flow_state SET holder = ?1 WHERE flow = ?2 AND key = ?3 AND \
                     (holder IS NULL OR holder = ?1 OR NOT EXISTS (SELECT 1 FROM runs \
                      WHERE runs.id = flow_state.holder AND status = 'running' \
                      AND lease_until >= ?4))",
                    params![claim.run, flow, key, now],
                )
                .map_err(db)?;
            if taken == 0 {
                return Ok(None);
            }
            let (vars, version): (String, i64) = txn
                .query_row(
                    "SELECT vars, version FROM flow_state WHERE flow = ?1 AND key = ?2",
                    params![flow, key],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .map_err(db)?;
            // A resumed run keeps the version it first started from.
            exec(
                &txn,
                "UPDATE runs SET state_key = ?1, state_version = COALESCE(state_version, ?2) \
                 WHERE id = ?3",
                params![key, version, claim.run],
            )
            .map_err(db)?;
            txn.commit().map_err(db)?;
            let vars = (version > 0).then(|| json(Some(vars)));
            Ok(Some(HeldState { vars, version }))
        })
    }

    fn states<'a>(
        &'a self,
        flow: &'a str,
        key: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<Vec<KeptState>>> {
        let (flow, key) = (flow.to_owned(), key.map(str::to_owned));
        self.call("cannot be read", move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT key, vars, version, run, updated_at FROM flow_state \
                     WHERE flow = ?1 AND (?2 IS NULL OR key = ?2) AND version > 0 ORDER BY key",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![flow, key], |row| {
                    Ok(KeptState {
                        key: row.get(0)?,
                        vars: json(row.get(1)?),
                        version: row.get(2)?,
                        run: row.get(3)?,
                        updated_at: rfc3339(row.get(4)?),
                    })
                })
                .map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
    }

    fn reset_state<'a>(
        &'a self,
        flow: &'a str,
        key: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<u64>> {
        let (flow, key) = (flow.to_owned(), key.map(str::to_owned));
        self.call("cannot reset flow state", move |conn| {
            let txn = write_txn(conn)?;
            let removed = txn
                .execute(
                    "DELETE FROM flow_state WHERE flow = ?1 AND (?2 IS NULL OR key = ?2) \
                     AND version > 0",
                    params![flow, key],
                )
                .map_err(db)?;
            txn.commit().map_err(db)?;
            Ok(u64::try_from(removed).unwrap_or_default())
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::Store;
    use serde_json::json;
    use std::time::Duration;

    fn holder(name: &str, lease_ms: u64) -> Holder {
        Holder { owner: name.into(), lease: Duration::from_millis(lease_ms) }
    }

    fn new_run(key: Option<&str>, params: Value, start: Option<Holder>) -> NewRun {
        NewRun {
            flow: "f".into(),
            pinned: crate::flow::Pinned {
                text: r#"{"format":"weft.flow/1"}"#.into(),
                calls: Default::default(),
            },
            flow_path: None,
            profiles_path: None,
            params,
            idempotency_key: key.map(str::to_owned),
            start,
            parent: None,
        }
    }

    fn step(n: u64) -> Step {
        Step {
            step: n,
            attempt: 0,
            node: "a".into(),
            kind: "assign".into(),
            exit: Some("ok".into()),
            writes: format!(r#"[{{"path":"x","set":"{}"}}]"#, "y".repeat(200)),
            state: None,
            error: None,
            http: Vec::new(),
            started_ms: 0,
            ms: 1,
        }
    }

    async fn started(store: &SqliteStore, lease_ms: u64) -> Claim {
        match store.create(new_run(None, json!({}), Some(holder("one", lease_ms)))).await.unwrap() {
            Created::New { claim: Some(claim), .. } => claim,
            other => panic!("{other:?}"),
        }
    }

    fn finish(status: Status) -> Finish {
        Finish { status, result: "null".into(), error: None, state: None }
    }

    #[tokio::test]
    async fn a_run_is_taken_over_only_once_its_lease_expires_and_the_stale_holder_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("runs.db")).unwrap();
        let first = started(&store, 300).await;
        store.record_step(&first, step(1)).await.unwrap();
        let held = store.claim(&first.run, holder("two", 10_000)).await.unwrap_err();
        assert!(matches!(held, StoreError::Held { .. }), "{held:?}");
        tokio::time::sleep(Duration::from_millis(400)).await;
        let second = store.claim(&first.run, holder("two", 10_000)).await.unwrap();
        assert_eq!(second.claim.attempt, 2);
        assert_eq!(second.detail.steps.len(), 1, "the journal comes with the claim");
        // The first holder woke up: none of its writes lands.
        for refused in [
            store.record_step(&first, step(2)).await,
            store.finish(&first, finish(Status::Succeeded)).await,
            store.renew(&first).await.map(|_| ()),
        ] {
            assert!(matches!(refused, Err(StoreError::Fenced(_))), "{refused:?}");
        }
        store.record_step(&second.claim, step(2)).await.unwrap();
        store.finish(&second.claim, finish(Status::Succeeded)).await.unwrap();
        let run = store.get(&first.run).await.unwrap();
        assert_eq!((run.run.status, run.run.attempts, run.steps.len()), (Status::Succeeded, 2, 2));
        let over = store.claim(&first.run, holder("three", 1000)).await.unwrap_err();
        assert!(matches!(over, StoreError::Finished { .. }), "{over:?}");
    }

    #[tokio::test]
    async fn an_idempotency_key_finds_the_first_run_and_tells_other_parameters_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("runs.db")).unwrap();
        let Created::New { id, .. } =
            store.create(new_run(Some("k"), json!({"a": 1}), None)).await.unwrap()
        else {
            panic!("the first is new")
        };
        match store.create(new_run(Some("k"), json!({"a": 1}), None)).await.unwrap() {
            Created::Existing { id: again, same_params: true } => assert_eq!(again, id),
            other => panic!("{other:?}"),
        }
        match store.create(new_run(Some("k"), json!({"a": 2}), None)).await.unwrap() {
            Created::Existing { same_params: false, .. } => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(store.list(Filter::default()).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn pruning_ten_thousand_runs_makes_the_file_smaller() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db");
        let store = SqliteStore::open(&path).unwrap();
        store
            .call("fills", |conn| {
                let txn = write_txn(conn)?;
                let text = r#"{"format":"weft.flow/1"}"#;
                exec(&txn,
                    "INSERT INTO flows (hash, name, text, created_at) VALUES ('h', 'f', ?1, 0)",
                    [text],
                )
                .map_err(db)?;
                for i in 0..10_000 {
                    let id = format!("run-{i}");
                    exec(&txn,
                        "INSERT INTO runs (id, flow, flow_hash, params, status, attempts, \
                         created_at, finished_at, result) \
                         VALUES (?1, 'f', 'h', '{}', 'succeeded', 1, 0, 1, ?2)",
                        params![id, "r".repeat(300)],
                    )
                    .map_err(db)?;
                    exec(&txn,
                        "INSERT INTO steps (run, step, attempt, node, kind, writes, started_at, ms) \
                         VALUES (?1, 1, 1, 'a', 'assign', ?2, 0, 1)",
                        params![id, "w".repeat(300)],
                    )
                    .map_err(db)?;
                }
                txn.commit().map_err(db)?;
                conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").map_err(db)
            })
            .await
            .unwrap();
        let full = std::fs::metadata(&path).unwrap().len();
        let kept = started(&store, 10_000).await;
        assert_eq!(store.prune(1000).await.unwrap(), 10_000);
        let pruned = std::fs::metadata(&path).unwrap().len();
        assert!(pruned * 10 < full, "{full} bytes before pruning, {pruned} after");
        assert_eq!(
            store.list(Filter::default()).await.unwrap()[0].id,
            kept.run,
            "running runs stay"
        );
    }

    #[tokio::test]
    async fn a_store_from_a_newer_version_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db");
        drop(SqliteStore::open(&path).unwrap());
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let err = SqliteStore::open(&path).err().unwrap();
        assert!(matches!(err, StoreError::TooNew { found: 99, known: 2, .. }), "{err:?}");
        assert!(err.to_string().contains("newer version of Weft"), "{err}");
        let version: i64 = Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 99);
    }

    /// Workers started together on a store that doesn't exist yet: one creates it, the others
    /// wait for it rather than fail half-way through its creation.
    #[test]
    fn processes_opening_a_new_store_at_once_all_open_it() {
        for _ in 0..10 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("runs.db");
            let opened: Vec<StoreResult<SqliteStore>> = std::thread::scope(|scope| {
                let openers: Vec<_> =
                    (0..4).map(|_| scope.spawn(|| SqliteStore::open(&path))).collect();
                openers.into_iter().map(|o| o.join().unwrap()).collect()
            });
            for store in opened {
                let store = store.unwrap();
                let conn = store.conn.lock().unwrap();
                let pragma = |name| conn.pragma_query_value(None, name, |r| r.get::<_, i64>(0));
                assert_eq!(pragma("user_version").unwrap(), SCHEMA_VERSION);
                assert_eq!(pragma("auto_vacuum").unwrap(), 2, "incremental, whoever created it");
            }
        }
    }

    #[tokio::test]
    async fn state_is_stored_once_and_a_stale_run_gets_a_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("runs.db")).unwrap();
        let (first, second) = (started(&store, 10_000).await, started(&store, 10_000).await);
        let held = store.hold_state(&first, "f", "u").await.unwrap().unwrap();
        assert_eq!((held.vars, held.version), (None, 0));
        assert!(
            store.hold_state(&second, "f", "u").await.unwrap().is_none(),
            "runs of a key don't overlap"
        );
        let keep = |n: i64| Finish {
            state: Some(serde_json::Map::from_iter([("n".to_owned(), json!(n))])),
            ..finish(Status::Succeeded)
        };
        store.finish(&first, keep(1)).await.unwrap();
        let held = store.hold_state(&second, "f", "u").await.unwrap().unwrap();
        assert_eq!((held.vars, held.version), (Some(json!({"n": 1})), 1));
        // A third run started from version 1 too; the second stores first, the third is stale.
        let third = started(&store, 10_000).await;
        store.finish(&second, keep(2)).await.unwrap();
        store.hold_state(&third, "f", "u").await.unwrap().unwrap();
        store
            .call("rewinds", move |conn| {
                conn.execute("UPDATE runs SET state_version = 1 WHERE id = ?1", [&third.run])
                    .map_err(db)
                    .map(|_| ())
            })
            .await
            .unwrap();
        let third = store.list(Filter::default()).await.unwrap()[0].id.clone();
        let third = Claim { run: third, attempt: 1, holder: holder("one", 10_000) };
        let conflict = store.finish(&third, keep(3)).await.unwrap_err();
        assert!(matches!(conflict, StoreError::StateConflict { .. }), "{conflict:?}");
        let kept = store.states("f", None).await.unwrap();
        assert_eq!((kept[0].vars.clone(), kept[0].version), (json!({"n": 2}), 2));
        assert_eq!(store.reset_state("f", Some("u")).await.unwrap(), 1);
        assert!(store.states("f", None).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_store_of_the_first_schema_is_migrated_with_its_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            "INSERT INTO flows (hash, name, text, created_at) VALUES ('h', 'f', '{}', 1); \
             INSERT INTO runs (id, flow, flow_hash, params, status, created_at, result) \
             VALUES ('r1', 'f', 'h', '{}', 'succeeded', 1, '42');",
        )
        .unwrap();
        drop(conn);
        let store = SqliteStore::open(&path).unwrap();
        let kept = store.get("r1").await.unwrap();
        assert_eq!((kept.run.status, kept.result), (Status::Succeeded, json!(42)));
        assert_eq!(kept.run.parent, None);
    }

    #[tokio::test]
    async fn child_runs_are_found_by_step_and_element_and_only_their_parent_claims_or_ends_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("runs.db")).unwrap();
        let mut parent_run = new_run(None, json!({}), Some(holder("one", 10_000)));
        let child_text = crate::flow::Pinned { text: "child".into(), calls: Default::default() };
        parent_run.pinned.calls.insert("c.flow.json".into(), child_text.clone());
        let parent = match store.create(parent_run).await.unwrap() {
            Created::New { claim: Some(claim), .. } => claim,
            other => panic!("{other:?}"),
        };
        let key = |index| ChildOf { run: parent.run.clone(), node: "each".into(), step: 3, index };
        let mut children = Vec::new();
        for index in [Some(0), Some(1)] {
            let mut child = new_run(None, json!({ "i": index }), Some(holder("one", 10_000)));
            child.pinned = child_text.clone();
            child.parent = Some(key(index));
            match store.create(child).await.unwrap() {
                Created::New { claim: Some(claim), .. } => children.push(claim),
                other => panic!("{other:?}"),
            }
        }
        store
            .finish(&children[0], Finish { result: "7".into(), ..finish(Status::Succeeded) })
            .await
            .unwrap();
        let found = store.child(&key(Some(0))).await.unwrap().unwrap();
        assert_eq!(
            (found.id.as_str(), found.status, found.result),
            (children[0].run.as_str(), Status::Succeeded, json!(7))
        );
        assert!(store.child(&key(None)).await.unwrap().is_none(), "no single call at that step");
        // Listed under their parent only; never an orphan for a server to take over alone.
        assert_eq!(store.list(Filter::default()).await.unwrap().len(), 1);
        let listed = store
            .list(Filter { parent: Some(parent.run.clone()), ..Filter::default() })
            .await
            .unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[1].parent_index, Some(0));
        store.release(&children[1]).await.unwrap();
        assert!(store.orphans(vec!["f".into()]).await.unwrap().is_empty());
        // By hand, a child is neither resumed nor cancelled: its parent is.
        let by_hand = store.claim(&children[1].run, holder("two", 10_000)).await.unwrap_err();
        assert!(
            matches!(&by_hand, StoreError::Child { parent: p, .. } if *p == parent.run),
            "{by_hand:?}"
        );
        assert!(matches!(store.cancel(&children[1].run).await, Err(StoreError::Child { .. })));
        let claimed = store.claim_child(&children[1].run, holder("one", 10_000)).await.unwrap();
        let pinned = store.pinned(&claimed.detail.run.flow_hash).await.unwrap();
        assert_eq!(pinned, child_text);
        // The parent's claim pins the child's text with its own.
        let again = store.claim(&parent.run, holder("two", 10_000)).await;
        assert!(matches!(again, Err(StoreError::Held { .. })));
        store.settle_children(&parent, true).await.unwrap();
        let cancelled = store.get(&children[1].run).await.unwrap();
        assert_eq!(cancelled.run.status, Status::Cancelled);
        assert_eq!(store.get(&children[0].run).await.unwrap().run.status, Status::Succeeded);
        store.release(&parent).await.unwrap();
        let parent_again = store.claim(&parent.run, holder("two", 10_000)).await.unwrap();
        let pinned = store.pinned(&parent_again.detail.run.flow_hash).await.unwrap();
        assert_eq!(pinned.calls["c.flow.json"], child_text);
    }

    #[tokio::test]
    async fn cancelling_a_parent_nobody_holds_cancels_its_unfinished_children_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("runs.db")).unwrap();
        let parent = match store.create(new_run(None, json!({}), Some(holder("one", 10_000)))).await
        {
            Ok(Created::New { claim: Some(claim), .. }) => claim,
            other => panic!("{other:?}"),
        };
        let mut children = Vec::new();
        for index in [Some(0), Some(1)] {
            let mut child = new_run(None, json!({}), Some(holder("one", 10_000)));
            child.parent =
                Some(ChildOf { run: parent.run.clone(), node: "each".into(), step: 1, index });
            match store.create(child).await.unwrap() {
                Created::New { claim: Some(claim), .. } => children.push(claim),
                other => panic!("{other:?}"),
            }
        }
        store.finish(&children[0], finish(Status::Succeeded)).await.unwrap();
        // The parent's process stopped: it and its unfinished child are handed back.
        store.release(&children[1]).await.unwrap();
        store.release(&parent).await.unwrap();

        assert!(matches!(store.cancel(&parent.run).await.unwrap(), Cancelled::Now));
        let status = |id: String| {
            let store = &store;
            async move { store.get(&id).await.unwrap().run.status }
        };
        assert_eq!(status(parent.run.clone()).await, Status::Cancelled);
        assert_eq!(status(children[1].run.clone()).await, Status::Cancelled, "none left running");
        assert_eq!(
            status(children[0].run.clone()).await,
            Status::Succeeded,
            "a finished one stays"
        );
    }
}
