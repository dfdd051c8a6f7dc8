//! Flow state in a store: kept only by runs that succeed, runs of one key one after another
//! (never a lost update), and a resumed run that would overwrite newer state fails with
//! `state_conflict`. And through the binary: `weft run` keeps state in the default store,
//! `weft state` shows and resets it.

use crate::util::http::until_called;
use crate::util::recorded;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use weft::durable::{Durable, OnInterrupt};
use weft::exec::{RunOptions, RunStatus};
use weft::flow::Flow;
use weft::store::sqlite::SqliteStore;
use weft::store::{Holder, Status, Store};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Counts per `who`, after asking `url` (slow, or failing, as the test wants).
fn counter(url: &str) -> String {
    json!({
        "format": "weft.flow/1", "name": "slow-counter",
        "parameters": { "who": { "type": "string", "default": "ada" } },
        "variables": { "count": 0 },
        "state": { "keep": ["count"], "key": "params.who" },
        "start": "ask",
        "nodes": [
            { "id": "ask", "type": "http_request", "method": "GET", "url": url },
            { "id": "add", "type": "assign", "set": { "vars.count": "vars.count + 1" } },
            { "id": "done", "type": "end", "result": "vars.count" }
        ],
        "edges": [ { "from": "ask", "to": "add" }, { "from": "add", "to": "done" } ]
    })
    .to_string()
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    engine: weft::Engine,
}

fn fixture() -> Fixture {
    weft::http::ensure_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("runs.db")).unwrap());
    Fixture { _dir: dir, store, engine: weft::Engine::builder().build().unwrap() }
}

impl Fixture {
    fn durable(&self, lease: Duration) -> Durable {
        Durable { store: self.store.clone(), holder: Holder { owner: "test".into(), lease } }
    }

    fn flow(&self, text: &str) -> Flow {
        self.engine.loader().load_bytes(text.as_bytes(), "counter").flow.unwrap()
    }

    async fn run(&self, durable: &Durable, text: &str) -> weft::exec::RunReport {
        let flow = self.flow(text);
        let options = RunOptions {
            params: serde_json::Map::from_iter([("who".to_owned(), json!("ada"))]),
            ..RunOptions::default()
        };
        let runtime = self.engine.runtime(None);
        durable.run(recorded(&flow), &runtime, options, OnInterrupt::Cancel).await.unwrap()
    }

    async fn kept(&self) -> Option<Value> {
        let states = self.store.states("slow-counter", Some("ada")).await.unwrap();
        states.first().map(|s| s.vars["count"].clone())
    }
}

async fn answering(status: u16, delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(status).set_delay(delay))
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_keeps_nothing_and_a_run_that_succeeds_keeps_its_values() {
    let fixture = fixture();
    let durable = fixture.durable(Duration::from_secs(10));
    let down = answering(500, Duration::ZERO).await;
    let report = fixture.run(&durable, &counter(&down.uri())).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(fixture.kept().await, None, "a failed run stores nothing");
    let up = answering(200, Duration::ZERO).await;
    for want in 1..=2 {
        let report = fixture.run(&durable, &counter(&up.uri())).await;
        assert_eq!((report.status, report.result.to_json()), (RunStatus::Succeeded, json!(want)));
        assert_eq!(fixture.kept().await, Some(json!(want)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_of_one_key_take_turns_and_lose_no_update() {
    let fixture = fixture();
    let durable = fixture.durable(Duration::from_secs(10));
    let slow = answering(200, Duration::from_millis(400)).await;
    let text = counter(&slow.uri());
    let (a, b) = tokio::join!(fixture.run(&durable, &text), fixture.run(&durable, &text));
    let mut counts = [a.result.to_json(), b.result.to_json()];
    counts.sort_by_key(|c| c.as_i64());
    assert_eq!((a.status, b.status), (RunStatus::Succeeded, RunStatus::Succeeded), "{:?}", a.error);
    assert_eq!(counts, [json!(1), json!(2)], "the second started from what the first kept");
    assert_eq!(fixture.kept().await, Some(json!(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_run_that_would_overwrite_newer_state_fails_with_state_conflict() {
    let fixture = fixture();
    // The first request hangs; every later one is answered at once.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(60)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let text = counter(&server.uri());
    // Run A takes the key and waits on the hanging request; its process "dies" (the future is
    // dropped, its lease lapses).
    let short = fixture.durable(Duration::from_millis(300));
    tokio::select! {
        a = fixture.run(&short, &text) => panic!("run A did not wait: {:?}", a.status),
        () = until_called(&server, 1) => {}
    }
    let a_id = fixture.store.list(Default::default()).await.unwrap()[0].id.clone();
    // Run B of the same key gets the key once A's lease expired, and keeps its count.
    let durable = fixture.durable(Duration::from_secs(10));
    let b = fixture.run(&durable, &text).await;
    assert_eq!((b.status, b.result.to_json()), (RunStatus::Succeeded, json!(1)));
    // A is resumed: it started from the state before B's, so it must not store.
    let claimed = durable.claim(&a_id).await.unwrap();
    let flow = fixture.flow(&text);
    let runtime = fixture.engine.runtime(None);
    let options = RunOptions::default();
    let a = durable.resume(claimed, &flow, &runtime, options, OnInterrupt::Cancel).await.unwrap();
    assert_eq!(a.status, RunStatus::Failed);
    assert_eq!(a.error.as_ref().unwrap()["code"], "state_conflict", "{:?}", a.error);
    let stored = fixture.store.get(&a_id).await.unwrap();
    assert_eq!(
        (stored.run.status, stored.error.unwrap()["code"].clone()),
        (Status::Failed, json!("state_conflict"))
    );
    assert_eq!(fixture.kept().await, Some(json!(1)), "B's state stands");
}

/// The command line: `weft run` keeps a stateful flow's state in the default store (and refuses
/// `--store none` for it), `weft state` lists, shows and resets it.
#[test]
fn weft_run_keeps_state_in_the_default_store_and_weft_state_shows_and_resets_it() {
    let dir = crate::util::Dir::new();
    let flow = crate::util::flows().join("counter.flow.json");
    let flow = flow.to_str().unwrap();
    let state = ["--state-dir", "state"];
    let run = |who: &str| {
        let out = dir
            .weft(["run", flow, "--quiet", "--param", &format!("who={who}")].iter().chain(&state));
        out.assert_code(0).json()["count"].clone()
    };
    assert_eq!((run("ada"), run("ada"), run("alan")), (json!(1), json!(2), json!(1)));
    assert!(dir.join("state/weft.db").is_file(), "the default store, in the state directory");

    let listed = dir.weft(["state", "list", "counter", "--json"].iter().chain(&state));
    let keys: Vec<Value> =
        listed.assert_code(0).json().as_array().unwrap().iter().map(|s| s["key"].clone()).collect();
    assert_eq!(keys, [json!("ada"), json!("alan")]);
    let shown = dir.weft(["state", "show", flow, "--key", "ada"].iter().chain(&state));
    assert_eq!(
        shown.assert_code(0).json()[0]["vars"],
        json!({ "count": 2 }),
        "FLOW may be the file"
    );
    dir.weft(["state", "reset", "counter", "--key", "ada"].iter().chain(&state)).assert_code(0);
    assert_eq!(run("ada"), json!(1), "reset: the declared value again");

    let refused = dir.weft(["run", flow, "--store", "none"]);
    refused.assert_code(2);
    assert!(refused.stderr.contains("keeps state between runs"), "{}", refused.stderr);
}
