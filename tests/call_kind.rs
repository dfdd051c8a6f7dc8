//! The `call` kind: children loaded and checked with their parent (a cycle refused, naming it;
//! parameters checked), results in input order whatever the children's latencies, `for_each`
//! over `[]`, a child failing in the middle of a fan-out, and the parent's deadline stopping
//! its children.

use crate::util::http::until_called;
use crate::util::{durable, recorded};
use serde_json::{Value, json};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;
use weft::exec::{RunOptions, RunReport, RunStatus};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A child that asks `${params.base}/n/${params.n}` and gives back `n`.
const CHILD: &str = r#"{
  "format": "weft.flow/1",
  "parameters": { "base": { "type": "string", "required": true }, "n": { "type": "integer", "required": true } },
  "start": "ask",
  "nodes": [
    { "id": "ask", "type": "http_request", "method": "GET", "url": "${params.base}/n/${params.n}",
      "retry": { "max_attempts": 1 } },
    { "id": "done", "type": "end", "result": "params.n" }
  ],
  "edges": [ { "from": "ask", "to": "done" } ]
}"#;

fn parent(list: &str, concurrency: u32) -> String {
    json!({
        "format": "weft.flow/1",
        "parameters": { "base": { "type": "string", "required": true } },
        "start": "each",
        "nodes": [
            { "id": "each", "type": "call", "flow": "child.flow.json", "for_each": list,
              "params": { "base": "params.base", "n": "item" }, "concurrency": concurrency,
              "into": "got" },
            { "id": "done", "type": "end", "result": "vars.got" }
        ],
        "edges": [ { "from": "each", "to": "done" } ]
    })
    .to_string()
}

/// Answers `/n/N` after a delay that depends on N (so children end out of order), and 500 for
/// N = 13.
struct Scrambled;

impl Respond for Scrambled {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let n: u64 = request.url.path().rsplit('/').next().unwrap_or("0").parse().unwrap_or(0);
        if n == 13 {
            return ResponseTemplate::new(500);
        }
        ResponseTemplate::new(200).set_delay(Duration::from_millis((n * 37) % 90))
    }
}

async fn server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path_regex("^/n/")).respond_with(Scrambled).mount(&server).await;
    server
}

/// A server that answers every GET a minute late: its children only end when stopped.
async fn hanging() -> MockServer {
    let hanging = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(60)))
        .mount(&hanging)
        .await;
    hanging
}

/// Writes the child and `parent` into `dir` and loads the parent: the engine and the flow.
fn load(dir: &Path, parent: &str) -> (weft::Engine, weft::flow::Flow) {
    weft::http::ensure_crypto_provider();
    std::fs::write(dir.join("child.flow.json"), CHILD).unwrap();
    std::fs::write(dir.join("parent.flow.json"), parent).unwrap();
    let engine = weft::Engine::builder().build().unwrap();
    let loaded = engine.loader().load_path(&dir.join("parent.flow.json"));
    let flow = loaded.flow.unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
    (engine, flow)
}

/// The parent's parameters: the children ask `base`.
fn options(base: &str) -> RunOptions {
    let params = serde_json::Map::from_iter([("base".to_owned(), json!(base))]);
    RunOptions { params, ..RunOptions::default() }
}

/// Loads `parent` (written beside the child in `dir`) and runs it with `base`.
async fn run(dir: &Path, parent: &str, base: &str, timeout: Option<Duration>) -> RunReport {
    let (engine, flow) = load(dir, parent);
    weft::exec::run(&flow, &engine.runtime(None), RunOptions { timeout, ..options(base) }).await
}

/// A fan-out over the numbers of `range`, `concurrency` at a time, against a fresh [`server`]:
/// the folder of the flows, the server and the run's report.
async fn fan_out(
    range: Range<u32>,
    concurrency: u32,
) -> (tempfile::TempDir, MockServer, RunReport) {
    let (dir, server) = (tempfile::tempdir().unwrap(), server().await);
    let list = format!("{:?}", range.collect::<Vec<_>>());
    let report = run(dir.path(), &parent(&list, concurrency), &server.uri(), None).await;
    (dir, server, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_come_in_input_order_whatever_the_latencies() {
    let (dir, server, report) = fan_out(0..12, 4).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(report.result.to_json(), json!((0..12).collect::<Vec<_>>()));
    assert_eq!(server.received_requests().await.unwrap().len(), 12);
    let report = run(dir.path(), &parent("[]", 4), &server.uri(), None).await;
    assert_eq!((report.status, report.result.to_json()), (RunStatus::Succeeded, json!([])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_failing_mid_fan_out_fails_the_node_naming_the_element() {
    let (_dir, server, report) = fan_out(10..30, 3).await;
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.unwrap();
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("child.flow.json") && message.contains("element 3"), "{message}");
    assert_eq!(error["child"]["status"], json!(500), "the child's own error: {error}");
    assert_eq!(error["child"]["node"], json!("ask"));
    // No child starts after the failure: at most those already running end.
    let asked = server.received_requests().await.unwrap().len();
    assert!(asked <= 4 + 3, "{asked} children ran for a failure at element 3 with 3 at a time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parents_deadline_stops_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let hanging = hanging().await;
    let ran = tokio::time::timeout(
        Duration::from_secs(20),
        run(
            dir.path(),
            &parent("[1, 2, 3, 4]", 4),
            &hanging.uri(),
            Some(Duration::from_millis(300)),
        ),
    )
    .await
    .expect("the children were stopped with their parent");
    assert_eq!(ran.status, RunStatus::Failed);
    assert_eq!(ran.error.unwrap()["category"], json!("timeout"));
}

#[test]
fn children_are_checked_with_their_parent() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("child.flow.json"), CHILD).unwrap();
    let call = |name: &str, flow: &str, params: Value| {
        let text = json!({ "format": "weft.flow/1", "start": "c", "nodes": [
            { "id": "c", "type": "call", "flow": flow, "params": params } ] });
        std::fs::write(dir.path().join(name), text.to_string()).unwrap();
    };
    call("a.flow.json", "b.flow.json", json!({}));
    call("b.flow.json", "a.flow.json", json!({}));
    call("wrong.flow.json", "child.flow.json", json!({ "base": "\"x\"", "m": "1" }));
    let loader = weft::flow::Loader::builtin();
    let messages = |file: &str| -> Vec<String> {
        let loaded = loader.load_path(&dir.path().join(file));
        assert!(loaded.flow.is_none(), "{file} must not load");
        loaded.diagnostics.iter().map(|d| format!("{} {}", d.pointer, d.message)).collect()
    };
    let cycle = messages("a.flow.json").join("\n");
    assert!(cycle.contains("a.flow.json → b.flow.json → a.flow.json"), "{cycle}");
    let wrong = messages("wrong.flow.json");
    assert!(
        wrong.iter().any(|m| m.contains("/nodes/0/flow") && m.contains("`params.m`")),
        "{wrong:?}"
    );
    assert!(wrong.iter().any(|m| m.contains("requires parameter `n`")), "{wrong:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_shows_each_child_run_under_its_parent() {
    let (dir, server) = (tempfile::tempdir().unwrap(), server().await);
    let (engine, flow) = load(dir.path(), &parent("[1, 2]", 2));
    let memory = std::sync::Arc::new(weft::trace::Memory::default());
    let options = RunOptions { trace: Some(memory.clone()), ..options(&server.uri()) };
    let report = weft::exec::run(&flow, &engine.runtime(None), options).await;
    assert_eq!(report.status, RunStatus::Succeeded);
    let events = memory.events();
    let started: Vec<&Value> = events.iter().filter(|e| e["event"] == "run_started").collect();
    assert_eq!(started.len(), 3, "the parent and two children");
    assert_eq!(started[0]["run"], json!(report.id));
    for child in &started[1..] {
        assert_eq!(child["parent"]["run"], json!(report.id));
        assert_eq!(child["parent"]["node"], "each");
        assert!(child["parent"]["index"].is_u64(), "the element: {child}");
        assert_ne!(child["run"], json!(report.id));
        let requests = events.iter().filter(|e| e["event"] == "http" && e["run"] == child["run"]);
        assert_eq!(requests.count(), 1, "each child's request under its own run id");
    }
}

/// The children of `parent` in the store: (element, status, attempts), in element order.
async fn children_of(
    durable: &weft::durable::Durable,
    parent: &str,
) -> Vec<(u64, weft::store::Status, i64)> {
    let filter = weft::store::Filter { parent: Some(parent.to_owned()), ..Default::default() };
    let mut children: Vec<_> = durable
        .store
        .list(filter)
        .await
        .unwrap()
        .into_iter()
        .map(|run| (run.parent_index.unwrap(), run.status, run.attempts))
        .collect();
    children.sort_by_key(|c| c.0);
    children
}

/// In a store, each child is a run of its own under its parent. A parent that failed at its
/// fan-out, resumed, gives the children that succeeded their results again without running
/// them, runs the failed one again — from the flow texts the run pinned, whatever the files
/// say now — and its trace nests every child's run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_parent_reuses_the_children_that_succeeded_from_the_texts_it_pinned() {
    use weft::durable::OnInterrupt;
    use weft::store::Status;
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    // Element 3's request fails once: its child fails, and the parent with it.
    Mock::given(method("GET"))
        .and(path_regex("^/n/3$"))
        .respond_with(ResponseTemplate::new(404))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).and(path_regex("^/n/")).respond_with(Scrambled).mount(&server).await;
    let (engine, flow) = load(dir.path(), &parent("[0, 1, 2, 3, 4, 5]", 2));
    let runtime = engine.runtime(None);
    let durable = durable(dir.path());
    let base = server.uri();
    let failed =
        durable.run(recorded(&flow), &runtime, options(&base), OnInterrupt::Cancel).await.unwrap();
    assert_eq!(failed.status, RunStatus::Failed, "{:?}", failed.error);
    let first = children_of(&durable, &failed.id).await;
    assert!(first.contains(&(3, Status::Failed, 1)), "element 3's child failed: {first:?}");
    let succeeded: Vec<u64> =
        first.iter().filter(|c| c.1 == Status::Succeeded).map(|c| c.0).collect();
    assert!(succeeded.contains(&0) && succeeded.contains(&1), "{first:?}");
    // The child's file breaks after the run started: the run goes on with the text it pinned.
    std::fs::write(dir.path().join("child.flow.json"), "{ not a flow").unwrap();

    let claimed = durable.claim(&failed.id).await.unwrap();
    let texts = durable.store.pinned(&claimed.detail.run.flow_hash).await.unwrap();
    let pinned = engine.loader().load_pinned(&texts, &dir.path().join("parent.flow.json"));
    let flow = pinned.flow.unwrap_or_else(|| panic!("{:?}", pinned.diagnostics));
    let resumed = durable
        .resume(claimed, &flow, &runtime, options(&base), OnInterrupt::Cancel)
        .await
        .unwrap();
    assert_eq!(resumed.status, RunStatus::Succeeded, "{:?}", resumed.error);
    assert_eq!(resumed.result.to_json(), json!([0, 1, 2, 3, 4, 5]));
    let second = children_of(&durable, &failed.id).await;
    assert_eq!(second.len(), 6, "one child run per element, none twice: {second:?}");
    for (element, status, attempts) in &second {
        assert_eq!(*status, Status::Succeeded);
        // Element 3 failed, so it ran again; those that had succeeded did not, and the rest
        // first ran on the resume.
        let expected = if *element == 3 { 2 } else { 1 };
        assert_eq!(*attempts, expected, "element {element}: {second:?}");
    }
    // Each element was asked for once, and element 3 once more.
    let asked = server.received_requests().await.unwrap();
    for n in 0..6 {
        let times = asked.iter().filter(|r| r.url.path() == format!("/n/{n}")).count();
        assert_eq!(times, if n == 3 { 2 } else { 1 }, "element {n}");
    }
    let detail = durable.store.get(&failed.id).await.unwrap();
    let events = weft::store::trace_tree(&*durable.store, detail).await.unwrap();
    let started: Vec<&Value> = events.iter().filter(|e| e["event"] == "run_started").collect();
    assert_eq!(started.len(), 7, "the parent and its six children");
    for child in &started[1..] {
        assert_eq!(child["parent"]["run"], json!(failed.id));
        assert!(child["parent"]["index"].as_u64().is_some_and(|i| i < 6), "{child}");
    }
}

/// Cancelling a stored parent ends its children with it: none is left running for nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_parent_leaves_no_child_running() {
    use weft::durable::OnInterrupt;
    use weft::store::Status;
    let dir = tempfile::tempdir().unwrap();
    let hanging = hanging().await;
    let (engine, flow) = load(dir.path(), &parent("[1, 2, 3, 4]", 2));
    let runtime = engine.runtime(None);
    let durable = durable(dir.path());
    let interrupt = weft_nodes::Interrupt::new();
    let options = RunOptions { interrupt: interrupt.clone(), ..options(&hanging.uri()) };
    // Cancelled once both children of the first two elements wait on the server.
    let stop = async {
        until_called(&hanging, 2).await;
        interrupt.cancel();
    };
    let run = tokio::time::timeout(
        Duration::from_secs(20),
        durable.run(recorded(&flow), &runtime, options, OnInterrupt::Cancel),
    );
    let (report, ()) = tokio::join!(run, stop);
    let report = report.expect("the children stopped with their parent").unwrap();
    assert_eq!(report.status, RunStatus::Interrupted);
    let parent = durable.store.get(&report.id).await.unwrap();
    assert_eq!(parent.run.status, Status::Cancelled);
    let children = children_of(&durable, &report.id).await;
    assert_eq!(children.len(), 2, "two were running: {children:?}");
    assert!(children.iter().all(|c| c.1 == Status::Cancelled), "{children:?}");
}
