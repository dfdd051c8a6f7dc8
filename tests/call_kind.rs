//! The `call` kind: children loaded and checked with their parent (a cycle refused, naming it;
//! parameters checked), results in input order whatever the children's latencies, `for_each`
//! over `[]`, a child failing in the middle of a fan-out, and the parent's deadline stopping
//! its children.

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use weft::exec::{RunOptions, RunStatus};
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

/// Loads `parent` (written beside the child in `dir`) and runs it with `base`.
async fn run(
    dir: &Path,
    parent: &str,
    base: &str,
    timeout: Option<Duration>,
) -> weft::exec::RunReport {
    weft::http::ensure_crypto_provider();
    std::fs::write(dir.join("child.flow.json"), CHILD).unwrap();
    std::fs::write(dir.join("parent.flow.json"), parent).unwrap();
    let engine = weft::Engine::builder().build().unwrap();
    let loaded = engine.loader().load_path(&dir.join("parent.flow.json"));
    let flow = loaded.flow.unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
    let params = serde_json::Map::from_iter([("base".to_owned(), json!(base))]);
    let options = RunOptions { params, timeout, ..RunOptions::default() };
    weft::exec::run(&flow, &engine.runtime(None), options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_come_in_input_order_whatever_the_latencies() {
    let (dir, server) = (tempfile::tempdir().unwrap(), server().await);
    let report = run(
        dir.path(),
        &parent(&format!("{:?}", (0..12).collect::<Vec<_>>()), 4),
        &server.uri(),
        None,
    )
    .await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(report.result.to_json(), json!((0..12).collect::<Vec<_>>()));
    assert_eq!(server.received_requests().await.unwrap().len(), 12);
    let report = run(dir.path(), &parent("[]", 4), &server.uri(), None).await;
    assert_eq!((report.status, report.result.to_json()), (RunStatus::Succeeded, json!([])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_failing_mid_fan_out_fails_the_node_naming_the_element() {
    let (dir, server) = (tempfile::tempdir().unwrap(), server().await);
    let report = run(
        dir.path(),
        &parent(&format!("{:?}", (10..30).collect::<Vec<_>>()), 3),
        &server.uri(),
        None,
    )
    .await;
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
    let hanging = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(60)))
        .mount(&hanging)
        .await;
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
    weft::http::ensure_crypto_provider();
    let (dir, server) = (tempfile::tempdir().unwrap(), server().await);
    std::fs::write(dir.path().join("child.flow.json"), CHILD).unwrap();
    std::fs::write(dir.path().join("parent.flow.json"), parent("[1, 2]", 2)).unwrap();
    let engine = weft::Engine::builder().build().unwrap();
    let flow = engine.loader().load_path(&dir.path().join("parent.flow.json")).flow.unwrap();
    let memory = std::sync::Arc::new(weft::trace::Memory::default());
    let params = serde_json::Map::from_iter([("base".to_owned(), json!(server.uri()))]);
    let options = RunOptions { params, trace: Some(memory.clone()), ..RunOptions::default() };
    let report = weft::exec::run(&flow, &engine.runtime(None), options).await;
    assert_eq!(report.status, RunStatus::Succeeded);
    let events = memory.events();
    let started: Vec<&Value> = events.iter().filter(|e| e["event"] == "run_started").collect();
    assert_eq!(started.len(), 3, "the parent and two children");
    assert_eq!(started[0]["run"], json!(report.id));
    for child in &started[1..] {
        assert_eq!(child["parent"], json!({ "run": report.id, "node": "each" }));
        assert_ne!(child["run"], json!(report.id));
        let requests = events.iter().filter(|e| e["event"] == "http" && e["run"] == child["run"]);
        assert_eq!(requests.count(), 1, "each child's request under its own run id");
    }
}
