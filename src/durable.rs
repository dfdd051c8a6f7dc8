//! Durable runs: a run recorded in a [`Store`], each finished node journaled before the next
//! starts, held under a lease that a task renews while it runs — and a run resumed from its
//! journal by whoever claims it next.
//!
//! The executor does the stepping (`exec::run` with a [`Journal`]); this module only connects
//! it to the store: it records the run, keeps its lease, hands the journal its claim, and
//! records the end. Whatever ran the run (`weft run`, `weft runs resume`, `weft serve`) gets
//! the [`RunReport`] back, as from any run.

use crate::exec::ChildRun;
use crate::exec::{self, Journal, JournalError, Resume, RunOptions, RunReport, RunStatus, Runtime};
use crate::flow::{Flow, FlowState};
use crate::result::RunResult;
use crate::store::{
    ChildOf, Claim, Claimed, Created, Finish, Holder, NewRun, RunDetail, Status, Step, Store,
    StoreError,
};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, PoisonError};
use weft_nodes::Interrupt;

/// What an interruption of a stored run (Ctrl-C, a server shutting down) leaves in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInterrupt {
    /// The run is cancelled (a person stopped it).
    Cancel,
    /// The run is handed back, to be resumed from its journal (a process stopping).
    Release,
}

/// Why a stored run could not be run.
#[derive(Debug, thiserror::Error)]
pub enum DurableError {
    /// The store refused.
    #[error(transparent)]
    Store(StoreError),
    /// The flow's `state.key` gave no key for the run's parameters (the run failed at once).
    #[error("{0}")]
    StateKey(String),
    /// Another process took the run over while this one ran it: it stopped, and recorded
    /// nothing more.
    #[error("run `{0}` was taken over by another process (its lease expired); this one stopped")]
    Lost(String),
}

/// The store and how this process holds runs in it.
#[derive(Clone)]
pub struct Durable {
    /// The store.
    pub store: Arc<dyn Store>,
    /// This process, and its lease.
    pub holder: Holder,
}

/// A new run to record and run (it pins the texts of the flow and of every flow it calls).
pub struct Recorded<'a> {
    /// The flow.
    pub flow: &'a Flow,
    /// The file it came from.
    pub flow_path: Option<String>,
    /// The profiles file it runs with.
    pub profiles_path: Option<String>,
    /// Makes a repeated request find this run.
    pub idempotency_key: Option<String>,
    /// The run whose `call` node runs it.
    pub parent: Option<ChildOf>,
}

impl Durable {
    /// Records a new run of `flow` with `params`: started by this process now (`start`), or
    /// queued. Finds the run with the same idempotency key instead, when there is one.
    ///
    /// # Errors
    ///
    /// When the store refuses.
    pub async fn record(
        &self,
        recorded: Recorded<'_>,
        params: &serde_json::Map<String, Value>,
        start: bool,
    ) -> Result<Created, DurableError> {
        let created = self
            .store
            .create(NewRun {
                flow: recorded.flow.name.clone(),
                pinned: recorded.flow.pinned(),
                flow_path: recorded.flow_path,
                profiles_path: recorded.profiles_path,
                params: Value::Object(params.clone()),
                idempotency_key: recorded.idempotency_key,
                start: start.then(|| self.holder.clone()),
                parent: recorded.parent,
            })
            .await?;
        Ok(created)
    }

    /// Records a new run of `flow` and runs it to its end.
    ///
    /// # Errors
    ///
    /// When the store refuses, or the run is taken over while it runs.
    pub async fn run(
        &self,
        recorded: Recorded<'_>,
        runtime: &Runtime,
        options: RunOptions,
        on_interrupt: OnInterrupt,
    ) -> Result<RunReport, DurableError> {
        let flow = recorded.flow;
        let claim = match self.record(recorded, &options.params, true).await? {
            Created::New { claim: Some(claim), .. } => claim,
            Created::New { id, claim: None } | Created::Existing { id, .. } => {
                return Err(DurableError::Store(StoreError::Held { run: id, left_ms: 0 }));
            }
        };
        self.drive(flow, runtime, claim, options, on_interrupt).await
    }

    /// Claims run `id` (queued, interrupted, or failed) and runs the rest of it.
    ///
    /// # Errors
    ///
    /// As [`Durable::run`]; and when the run is held by a live process, or is over.
    pub async fn claim(&self, id: &str) -> Result<Claimed, DurableError> {
        Ok(self.store.claim(id, self.holder.clone()).await?)
    }

    /// Runs the rest of a claimed run of `flow` (loaded from the claim's flow text).
    ///
    /// # Errors
    ///
    /// As [`Durable::run`].
    pub async fn resume(
        &self,
        claimed: Claimed,
        flow: &Flow,
        runtime: &Runtime,
        mut options: RunOptions,
        on_interrupt: OnInterrupt,
    ) -> Result<RunReport, DurableError> {
        if let Value::Object(params) = &claimed.detail.params {
            options.params = params.clone();
        }
        options.resume = Some(resume_point(&claimed.detail));
        self.drive(flow, runtime, claimed.claim, options, on_interrupt).await
    }

    /// Runs a claimed attempt under its lease, journaling each step, and records its end.
    ///
    /// # Errors
    ///
    /// As [`Durable::run`].
    pub async fn drive(
        &self,
        flow: &Flow,
        runtime: &Runtime,
        claim: Claim,
        mut options: RunOptions,
        on_interrupt: OnInterrupt,
    ) -> Result<RunReport, DurableError> {
        let broken = Broken::default();
        let renewal = AbortOnDrop(tokio::spawn(keep_lease(
            self.store.clone(),
            claim.clone(),
            options.interrupt.clone(),
            broken.clone(),
        )));
        let journal =
            StoreJournal { durable: self.clone(), claim: claim.clone(), broken: broken.clone() };
        options.run_id = Some(claim.run.clone());
        options.journal = Some(Arc::new(journal));
        if let Some(state) = &flow.state {
            let held = self.hold_state(flow, state, runtime, &claim, &options).await;
            let kept = match held {
                Ok(Some(kept)) => kept,
                // Stopped while it waited for its key: nothing ran.
                Ok(None) => serde_json::Map::new(),
                Err(err) => return Err(err),
            };
            options.vars.get_or_insert_with(serde_json::Map::new).extend(kept);
        }
        let mut report = exec::run(flow, runtime, options).await;
        drop(renewal);
        if let Some(err) = broken.take() {
            return Err(err.into());
        }
        let status = match report.status {
            RunStatus::Succeeded => Status::Succeeded,
            RunStatus::Failed => Status::Failed,
            RunStatus::Interrupted => {
                // Whoever asked the run to stop through the store meant to cancel it (the
                // request stays on the run until its next claim); a process stopping hands it
                // back.
                let cancelled = self.store.renew(&claim).await?.cancel_requested;
                if on_interrupt == OnInterrupt::Release && !cancelled {
                    self.settle_children(flow, &claim, false).await?;
                    self.store.release(&claim).await?;
                    return Ok(report);
                }
                Status::Cancelled
            }
        };
        // Children stopped with their parent (a timeout, a cancel) are cancelled with it, or
        // left for its next attempt to resume.
        self.settle_children(flow, &claim, status == Status::Cancelled).await?;
        let result = serde_json::to_string(&report.result).unwrap_or_else(|_| "null".into());
        let state = match &flow.state {
            Some(state) if status == Status::Succeeded => Some(kept_values(state, &report)),
            _ => None,
        };
        let finish = Finish { status, result, error: report.error.clone(), state };
        match self.store.finish(&claim, finish).await {
            Ok(()) => Ok(report),
            Err(conflict @ StoreError::StateConflict { .. }) => {
                let error = json!({
                    "node": report.node, "category": "state", "code": "state_conflict",
                    "message": conflict.to_string(),
                });
                self.store.finish(&claim, failed(error.clone())).await?;
                report.status = RunStatus::Failed;
                report.error = Some(error);
                report.result = Default::default();
                Ok(report)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Ends what the children of a claimed run of `flow` left unfinished when it stopped.
    async fn settle_children(
        &self,
        flow: &Flow,
        claim: &Claim,
        cancel: bool,
    ) -> Result<(), DurableError> {
        if flow.children.is_empty() {
            return Ok(());
        }
        Ok(self.store.settle_children(claim, cancel).await?)
    }

    /// Runs a child of a durable run: the one that succeeded at the same step and element in
    /// an earlier attempt of the parent gives its result again; one that did not finish, or
    /// failed, goes on from its journal; else a new child run is recorded and run.
    async fn run_child(
        &self,
        parent: &Claim,
        child: ChildRun<'_>,
    ) -> Result<RunReport, DurableError> {
        let ChildRun { flow, runtime, options, node, step, index } = child;
        let key = ChildOf {
            run: parent.run.clone(),
            node: node.to_owned(),
            step,
            index: index.map(|i| u64::try_from(i).unwrap_or(u64::MAX)),
        };
        // The first attempt of a parent has no children yet.
        let found = if parent.attempt > 1 { self.store.child(&key).await? } else { None };
        match found {
            Some(found) if found.status == Status::Succeeded => Ok(RunReport {
                id: found.id,
                status: RunStatus::Succeeded,
                result: RunResult::from_json(&found.result),
                error: None,
                node: None,
                steps: 0,
                vars: weft_nodes::Vars::new(rhai::Map::new()),
            }),
            Some(found) if found.status != Status::Cancelled => {
                let interrupt = options.interrupt.clone();
                let claimed = loop {
                    match self.store.claim_child(&found.id, self.holder.clone()).await {
                        Ok(claimed) => break claimed,
                        // Its holder (this parent's last process) died: its lease runs out
                        // soon.
                        Err(StoreError::Held { left_ms, .. }) => {
                            let wait = u64::try_from(left_ms.clamp(10, 60_000)).unwrap_or(10);
                            tokio::select! {
                                () = tokio::time::sleep(std::time::Duration::from_millis(wait)) => {}
                                _ = interrupt.stopped() => {
                                    return Err(DurableError::Store(StoreError::Held {
                                        run: found.id,
                                        left_ms,
                                    }));
                                }
                            }
                        }
                        Err(err) => return Err(err.into()),
                    }
                };
                self.resume(claimed, flow, runtime, options, OnInterrupt::Release).await
            }
            _ => {
                let recorded = Recorded {
                    flow,
                    flow_path: None,
                    profiles_path: None,
                    idempotency_key: None,
                    parent: Some(key),
                };
                self.run(recorded, runtime, options, OnInterrupt::Release).await
            }
        }
    }

    /// Takes the claimed run's state key — waiting while another run of the flow holds it —
    /// and gives the kept variables to start with (none the first time: the declared
    /// defaults); `None` when the run was stopped while it waited.
    async fn hold_state(
        &self,
        flow: &Flow,
        state: &FlowState,
        runtime: &Runtime,
        claim: &Claim,
        options: &RunOptions,
    ) -> Result<Option<serde_json::Map<String, Value>>, DurableError> {
        let key = match state.key_of(runtime.engine(), &options.params) {
            Ok(key) => key,
            Err(message) => {
                let error = json!({ "category": "state", "code": "state_key", "message": message });
                self.store.finish(claim, failed(error)).await?;
                return Err(DurableError::StateKey(message));
            }
        };
        loop {
            if let Some(held) = self.store.hold_state(claim, &flow.name, &key).await? {
                let Some(Value::Object(mut stored)) = held.vars else {
                    return Ok(Some(serde_json::Map::new()));
                };
                stored.retain(|name, _| state.keep.contains(name));
                return Ok(Some(stored));
            }
            tokio::select! {
                () = tokio::time::sleep(STATE_POLL) => {}
                _ = options.interrupt.stopped() => return Ok(None),
            }
        }
    }
}

/// Stops the lease's renewals when the run ends — also when whoever drove it stopped waiting
/// (a dropped future must not keep a lease alive).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The end of an attempt that failed with `error` before or after its steps, with no result.
fn failed(error: Value) -> Finish {
    Finish { status: Status::Failed, result: "null".into(), error: Some(error), state: None }
}

/// How often a run waiting for its state key looks again.
const STATE_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// The final values of the kept variables of a run that succeeded.
fn kept_values(state: &FlowState, report: &RunReport) -> serde_json::Map<String, Value> {
    state
        .keep
        .iter()
        .filter_map(|name| {
            let path = weft_nodes::VarPath::parse(name).ok()?;
            let value = report.vars.get(&path)?;
            Some((name.clone(), weft_nodes::expr::dynamic_to_json(&value).ok()?))
        })
        .collect()
}

impl From<StoreError> for DurableError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Fenced(run) => Self::Lost(run),
            other => Self::Store(other),
        }
    }
}

/// Why a run's claim broke while it ran (the first reason), shared by its journal and its
/// lease's renewals.
#[derive(Clone, Default)]
struct Broken(Arc<Mutex<Option<StoreError>>>);

impl Broken {
    fn set(&self, err: StoreError) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(err);
    }

    fn take(&self) -> Option<StoreError> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// Where a claimed run goes on: after its last finished step, or — for a failed run's new
/// attempt — at the node that failed, with the `vars` it had before it.
fn resume_point(detail: &RunDetail) -> Resume {
    let mut steps = detail.steps.clone();
    if detail.run.status != Status::Failed {
        return Resume { steps, retry: None };
    }
    let failed_node = detail.error.as_ref().and_then(|e| e.get("node")).and_then(Value::as_str);
    let failed_at = failed_node
        .and_then(|node| steps.iter().rposition(|s| s.node == node && s.error.is_some()));
    if let Some(at) = failed_at {
        let retry = steps[at].node.clone();
        steps.truncate(at);
        return Resume { steps, retry: Some(retry) };
    }
    // No node failed: an `end` that reports failure, or a limit reached between steps.
    match steps.last() {
        Some(last) if last.exit.is_none() => {
            let retry = last.node.clone();
            steps.pop();
            Resume { steps, retry: Some(retry) }
        }
        _ => Resume { steps, retry: None },
    }
}

/// Renews the claim's lease three times per lease period until the run ends (the task is
/// aborted then). A run asked to stop is cancelled; a run whose claim is gone is stopped and
/// marked lost.
async fn keep_lease(store: Arc<dyn Store>, claim: Claim, interrupt: Interrupt, broken: Broken) {
    let period = (claim.holder.lease / 3).max(std::time::Duration::from_millis(50));
    loop {
        tokio::time::sleep(period).await;
        match store.renew(&claim).await {
            Ok(renewed) => {
                if renewed.cancel_requested {
                    interrupt.cancel();
                }
            }
            Err(err @ StoreError::Fenced(_)) => {
                broken.set(err);
                interrupt.cancel();
                return;
            }
            // A busy or failing store: the next renewal tries again; should the lease lapse
            // meanwhile, the next journal write finds out.
            Err(err) => tracing::warn!(run = %claim.run, "cannot renew the lease: {err}"),
        }
    }
}

/// The journal of one claimed attempt, in the store.
struct StoreJournal {
    durable: Durable,
    claim: Claim,
    broken: Broken,
}

impl Journal for StoreJournal {
    fn record(&self, mut step: Step) -> BoxFuture<'_, Result<(), JournalError>> {
        step.attempt = self.claim.attempt;
        Box::pin(async move {
            match self.durable.store.record_step(&self.claim, step).await {
                Ok(()) => Ok(()),
                Err(err) => {
                    let message = err.to_string();
                    self.broken.set(err);
                    Err(JournalError(message))
                }
            }
        })
    }

    fn child<'a>(&'a self, child: ChildRun<'a>) -> BoxFuture<'a, Result<RunReport, JournalError>> {
        Box::pin(async move {
            self.durable
                .run_child(&self.claim, child)
                .await
                .map_err(|err| JournalError(err.to_string()))
        })
    }
}
