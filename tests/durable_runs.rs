//! Durable runs through the `weft` binary: a run killed with SIGKILL — while it pages, and
//! again at random moments, in the middle of its store writes — is resumed from its journal
//! by `weft runs resume` to exactly the simulator's ground truth, fetching at most the page of
//! the node in flight again at each kill; and it is never taken over while its lease is live.
//! A failed run resumed runs again from the node that failed, and the nodes before it do not.

use crate::calendar_e2e::{expected, run_on_sim, weft_with_sim};
use crate::util::{Dir, Outcome, Running, Weft, anchor, durable, recorded, sim_at_anchor};
use chrono::Duration;
use serde_json::{Value, json};
use std::time::Duration as StdDuration;
use weft_sim::{SimConfig, SimHandle};

const USER: &str = "megan@weft.test";

/// `weft ARGS… --store STORE` against `sim`.
pub(crate) fn weft(sim: &SimHandle, store: &str, args: &[&str]) -> Weft {
    weft_with_sim(sim, weft_sim::APP_CLIENT_SECRET, args).args(["--store", store])
}

/// The runs of the store, as `weft runs list --format json FILTER…` gives them.
pub(crate) fn runs(sim: &SimHandle, store: &str, filter: &[&str]) -> Vec<Value> {
    let out = weft(sim, store, &["runs", "list", "--format", "json"]).args(filter).run();
    out.assert_code(0).json().as_array().unwrap().clone()
}

/// The child runs of the run `id`.
fn children(sim: &SimHandle, store: &str, id: &str) -> Vec<Value> {
    runs(sim, store, &["--parent", id])
}

/// Waits until the store lists more than `known` runs: the id of the newest, the one `running`
/// started.
pub(crate) fn new_run(running: &mut Running, sim: &SimHandle, store: &str, known: usize) -> String {
    running.wait_for("its run in the store", || {
        let listed = runs(sim, store, &[]);
        (listed.len() > known).then(|| listed[0]["id"].as_str().unwrap().to_owned())
    })
}

/// Waits until `running` has journaled `steps` steps of the run `id`.
pub(crate) fn journaled_at_least(
    running: &mut Running,
    sim: &SimHandle,
    store: &str,
    id: &str,
    steps: usize,
) {
    running.wait_for(&format!("{steps} journaled steps"), || {
        (journaled(sim, store, id) >= steps).then_some(())
    });
}

/// The run `id`, as `weft runs show --format json` gives it.
fn show(sim: &SimHandle, store: &str, id: &str) -> Value {
    weft(sim, store, &["runs", "show", id, "--format", "json"]).run().assert_code(0).json()
}

/// How many steps the run has journaled.
fn journaled(sim: &SimHandle, store: &str, id: &str) -> usize {
    show(sim, store, id)["steps"].as_array().unwrap().len()
}

/// A small deterministic generator of kill delays, seeded from the clock (printed on failure).
struct Delays(u64);

impl Delays {
    fn next_ms(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_paging_run_resumes_to_the_ground_truth_without_fetching_twice() {
    let latency = StdDuration::from_millis(4);
    let sim = sim_at_anchor(SimConfig { latency, ..SimConfig::default() }).await;
    let dir = Dir::new();
    let store = dir.store_url();
    let (from, to) = (anchor() - Duration::days(21), anchor() + Duration::days(21));
    let want = expected(&sim, USER, from, to);
    assert!(want.len() > 150, "a long paging run: {} items, one a page", want.len());
    let (from_param, to_param) =
        (format!("from={}", from.to_rfc3339()), format!("to={}", to.to_rfc3339()));
    let run = run_on_sim(&sim, "graph-calendar.flow.json")
        .args(["--store", &store, "--lease", "3s", "--param", &format!("user={USER}")])
        .args(["--param", &from_param, "--param", &to_param, "--param", "page_size=1"]);
    let seed = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(7).unsigned_abs();
    let mut delays = Delays(seed);

    let (id, kills, done): (String, u64, Outcome) = tokio::task::block_in_place(|| {
        // The first kill, well into the paging.
        let mut running = run.spawn();
        let id = new_run(&mut running, &sim, &store, 0);
        journaled_at_least(&mut running, &sim, &store, &id, 40);
        running.signal("-KILL");
        assert_eq!(running.finish().code, None, "killed");
        let listed = runs(&sim, &store, &[]);
        assert_eq!(listed[0]["status"], "running", "{listed:?}");

        // Its lease is live for three seconds (two at least since its last renewal, time to
        // spare on a busy machine): nobody may take it over yet.
        let refused = weft(&sim, &store, &["runs", "resume", &id]).run();
        refused.assert_code(2);
        assert!(refused.stderr.contains("running in another process"), "{}", refused.stderr);

        // Then, once the last holder's lease has run out, resumed and killed at random
        // moments, mostly in the middle of a journal write; a resume that outran its kill ends
        // the run.
        let mut kills = 1;
        for lease_ms in [3000, 1000, 1000] {
            std::thread::sleep(StdDuration::from_millis(lease_ms + 100));
            let resumed = weft(&sim, &store, &["runs", "resume", "--lease", "1s", &id]).spawn();
            std::thread::sleep(StdDuration::from_millis(150 + delays.next_ms(400)));
            resumed.signal("-KILL");
            let outcome = resumed.finish();
            if outcome.code.is_some() {
                return (id, kills, outcome);
            }
            kills += 1;
        }
        std::thread::sleep(StdDuration::from_millis(1100));
        let done = weft(&sim, &store, &["runs", "resume", &id]).run();
        (id, kills, done)
    });

    let got = done.assert_code(0).json();
    assert_eq!(got.as_array().unwrap().len(), want.len(), "seed {seed}: no item lost or twice");
    assert_eq!(got, Value::Array(want.clone()), "seed {seed}");
    // One page per `fetch` step: each kill fetched at most the page in flight again.
    let pages = sim.counters().calendar_view_pages;
    let n = u64::try_from(want.len()).unwrap();
    assert!(
        (n..=n + kills).contains(&pages),
        "seed {seed}: {pages} pages for {n} items and {kills} kills"
    );
    let listed = tokio::task::block_in_place(|| runs(&sim, &store, &[]));
    assert_eq!(listed[0]["status"], "succeeded");
    assert_eq!(listed[0]["id"], id.as_str());
    let attempts = listed[0]["attempts"].as_u64().unwrap();
    assert!((2..=kills + 1).contains(&attempts), "seed {seed}: {attempts} attempts, {kills} kills");
    sim.shutdown().await;
}

/// A failed run, resumed, runs again from the node that failed, with the `vars` it had before:
/// the nodes before it don't run again, and its status and result are replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_resumes_at_the_node_that_failed() {
    use weft::durable::OnInterrupt;
    use weft::exec::{RunOptions, RunStatus};
    use weft::store::Status;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    weft::http::ensure_crypto_provider();
    // Down at first, up after.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "n": 7 })))
        .mount(&server)
        .await;
    let text = json!({
        "format": "weft.flow/1", "name": "retry",
        "start": "before",
        "nodes": [
            { "id": "before", "type": "assign", "set": { "vars.seen": "42" } },
            { "id": "ask", "type": "http_request", "method": "GET", "url": server.uri(), "retry": { "max_attempts": 1 } },
            { "id": "done", "type": "end", "result": "vars.seen + vars.response.body.n" }
        ],
        "edges": [ { "from": "before", "to": "ask" }, { "from": "ask", "to": "done" } ]
    })
    .to_string();
    let dir = Dir::new();
    let durable = durable(dir.path());
    let engine = weft::Engine::builder().build().unwrap();
    let flow = engine.loader().load_bytes(text.as_bytes(), "retry").flow.unwrap();
    let runtime = engine.runtime(None);
    let failed = durable
        .run(recorded(&flow), &runtime, RunOptions::default(), OnInterrupt::Cancel)
        .await
        .unwrap();
    assert_eq!(failed.status, RunStatus::Failed, "{:?}", failed.error);
    let id = failed.id.clone();

    let claimed = durable.claim(&id).await.unwrap();
    let resumed = durable
        .resume(claimed, &flow, &runtime, RunOptions::default(), OnInterrupt::Cancel)
        .await
        .unwrap();
    assert_eq!((resumed.status, resumed.result.to_json()), (RunStatus::Succeeded, json!(49)));
    let run = durable.store.get(&id).await.unwrap();
    assert_eq!((run.run.status, run.run.attempts, run.error.clone()), (Status::Succeeded, 2, None));
    let steps: Vec<(&str, i64)> = run.steps.iter().map(|s| (s.node.as_str(), s.attempt)).collect();
    assert_eq!(steps, [("before", 1), ("ask", 2), ("done", 2)], "`before` ran once");
}

/// A fan-out killed with SIGKILL while its children run, resumed: the children that had
/// succeeded are not run again (one child run per element, theirs still at their first
/// attempt), those in flight go on from their own journals, and the result is every user's
/// ground truth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_fan_out_resumes_without_running_finished_children_again() {
    let latency = StdDuration::from_millis(8);
    let sim = sim_at_anchor(SimConfig { latency, ..SimConfig::default() }).await;
    let dir = Dir::new();
    let store = dir.store_url();
    let (from, to) = (anchor() - Duration::days(10), anchor() + Duration::days(10));
    let team = ["adele@weft.test", "megan@weft.test", "alex@weft.test"];
    // Twelve elements, eight children at a time: some end while others wait to start.
    let users: Vec<&str> = team.iter().cycle().take(12).copied().collect();
    let want: Vec<Vec<Value>> = users
        .iter()
        .map(|user| expected(&sim, user, from, to).iter().map(|e| e["id"].clone()).collect())
        .collect();
    let pages_wanted: usize = want.iter().map(Vec::len).sum();
    let run = run_on_sim(&sim, "team-calendars.flow.json")
        .args(["--store", &store, "--lease", "1s"])
        .args(["--param", &format!("users={}", json!(users))])
        .args(["--param", &format!("from={}", from.to_rfc3339())])
        .args(["--param", &format!("to={}", to.to_rfc3339()), "--param", "page_size=1"]);
    let succeeded = |listed: &[Value]| -> Vec<String> {
        listed
            .iter()
            .filter(|c| c["status"] == "succeeded")
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };

    let (id, before, done) = tokio::task::block_in_place(|| {
        let mut running = run.spawn();
        let id = new_run(&mut running, &sim, &store, 0);
        running.wait_for("a child run that succeeded", || {
            (!succeeded(&children(&sim, &store, &id)).is_empty()).then_some(())
        });
        running.signal("-KILL");
        assert_eq!(running.finish().code, None, "killed");
        let before = children(&sim, &store, &id);
        // The children's leases run out with their parent's.
        std::thread::sleep(StdDuration::from_millis(1100));
        let done = weft(&sim, &store, &["runs", "resume", &id]).run();
        (id, before, done)
    });
    let finished_before = succeeded(&before);
    assert!(finished_before.len() < 12, "killed before the fan-out ended: {before:?}");

    let got = done.assert_code(0).json();
    let got: Vec<Vec<Value>> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["events"].as_array().unwrap().iter().map(|e| e["id"].clone()).collect())
        .collect();
    assert_eq!(got, want, "every user's items, in the list's order");
    let after = tokio::task::block_in_place(|| children(&sim, &store, &id));
    assert_eq!(after.len(), 12, "one child run per element: {after:?}");
    for child in &after {
        assert_eq!(child["status"], "succeeded", "{child}");
        if finished_before.iter().any(|f| *f == child["id"]) {
            assert_eq!(child["attempts"], 1, "a finished child ran again: {child}");
        }
    }
    // Pages fetched again: at most the one each child in flight was fetching.
    let pages = usize::try_from(sim.counters().calendar_view_pages).unwrap();
    let in_flight = 12 - finished_before.len();
    assert!(
        (pages_wanted..=pages_wanted + in_flight).contains(&pages),
        "{pages} pages for {pages_wanted} items, {in_flight} children not finished at the kill"
    );
    sim.shutdown().await;
}

/// A resume refused before it starts (here: no such profiles file) leaves the failed run as it
/// was — failed, at its first attempt — so the next resume still retries the node that failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_resume_leaves_a_failed_run_as_it_was() {
    let sim = sim_at_anchor(SimConfig::default()).await;
    let dir = Dir::new();
    let store = dir.store_url();
    // The binary blocks this thread; the simulator keeps serving on the other worker.
    tokio::task::block_in_place(|| {
        let failed = run_on_sim(&sim, "team-calendars.flow.json")
            .args(["--store", &store])
            .args(["--param", r#"users=["adele@weft.test","nobody@weft.test"]"#])
            .run();
        assert_eq!(failed.code, Some(1), "{}", failed.stderr);
        // The hint names the store, so that it can be pasted as it is.
        assert!(failed.stderr.contains(&format!("--store {store}")), "{}", failed.stderr);
        let id = runs(&sim, &store, &[])[0]["id"].as_str().unwrap().to_owned();

        let refused = weft(&sim, &store, &["runs", "resume", &id])
            .args(["--profiles", "/nonexistent/profiles.json"])
            .run();
        assert_eq!(refused.code, Some(2), "{}", refused.stderr);
        let run = show(&sim, &store, &id);
        assert_eq!((run["status"].clone(), run["attempts"].clone()), (json!("failed"), json!(1)));

        let again = weft(&sim, &store, &["runs", "resume", &id]).run();
        assert_eq!(again.code, Some(1), "the unknown user fails again: {}", again.stderr);
        let run = show(&sim, &store, &id);
        assert_eq!(run["attempts"], 2);
        let steps = run["steps"].as_array().unwrap();
        let call = steps.iter().find(|s| s["node"] == "each_user").unwrap();
        assert_eq!(call["attempt"], 2, "the call node ran again: {steps:?}");
    });
    sim.shutdown().await;
}
