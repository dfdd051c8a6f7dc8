//! `weft serve` with a run store: run ids in answers, `Prefer: respond-async`, the `/runs`
//! routes, `Idempotency-Key`, cancellation, and runs taken over — once their lease expires,
//! never before — when the process that held them stopped.

use crate::util::http::{client, read, until_called};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use weft::serve::{ServeConfig, Server, ServerHandle};
use weft::store::sqlite::SqliteStore;
use weft::store::{Created, Holder, NewRun, Store};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const ECHO: &str = r#"{
  "format": "weft.flow/1",
  "parameters": { "n": { "type": "integer", "default": 1 } },
  "start": "double",
  "nodes": [
    { "id": "double", "type": "assign", "set": { "vars.twice": "params.n * 2" } },
    { "id": "done", "type": "end", "result": "vars.twice" }
  ],
  "edges": [ { "from": "double", "to": "done" } ]
}"#;

const SLOW: &str = r#"{
  "format": "weft.flow/1",
  "parameters": { "url": { "type": "string", "required": true } },
  "start": "call",
  "nodes": [
    { "id": "call", "type": "http_request", "method": "GET", "url": "${params.url}" },
    { "id": "done", "type": "end", "result": "vars.response.status" }
  ],
  "edges": [ { "from": "call", "to": "done" } ]
}"#;

struct Fixture {
    dir: tempfile::TempDir,
    store: Arc<dyn Store>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("echo.flow.json"), ECHO).unwrap();
    std::fs::write(dir.path().join("slow.flow.json"), SLOW).unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("runs.db")).unwrap());
    Fixture { dir, store }
}

fn config(fixture: &Fixture, lease: Duration) -> ServeConfig {
    let mut config = ServeConfig::new(fixture.dir.path());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.state_dir = Some(fixture.dir.path().join("state"));
    config.store = Some(fixture.store.clone());
    config.lease = lease;
    config
}

async fn start(config: ServeConfig) -> ServerHandle {
    weft::http::ensure_crypto_provider();
    Server::bind(config).await.unwrap()
}

async fn post(
    url: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = client().post(url).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    read(request.body(body.to_string())).await
}

async fn get(url: &str) -> (u16, Value) {
    let (status, _, body) = read(client().get(url)).await;
    (status, body)
}

/// Polls `GET /runs/{id}` until the run is over (at most 20 s).
async fn ended(server: &ServerHandle, id: &str) -> Value {
    for _ in 0..400 {
        let (status, run) = get(&format!("{}/runs/{id}", server.url())).await;
        assert_eq!(status, 200, "{run}");
        if !matches!(run["status"].as_str(), Some("queued" | "running")) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {id} did not end");
}

/// A mock server answering 200 after `delay`.
async fn slow_server(delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(delay))
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_recorded_answered_with_their_id_and_read_back() {
    let fixture = fixture();
    let server = start(config(&fixture, Duration::from_secs(10))).await;
    let url = server.url();

    let (status, _, body) = post(&format!("{url}/runs/echo"), json!({ "n": 21 }), &[]).await;
    assert_eq!((status, &body["result"]), (200, &json!(42)), "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let (status, run) = get(&format!("{url}/runs/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (run["status"].as_str(), run["params"].clone()),
        (Some("succeeded"), json!({"n": 21}))
    );
    let nodes: Vec<&str> =
        run["steps"].as_array().unwrap().iter().map(|s| s["node"].as_str().unwrap()).collect();
    assert_eq!(nodes, ["double", "done"]);

    let response = client().get(format!("{url}/runs/{id}/trace")).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/jsonl");
    let text = response.text().await.unwrap();
    let events: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.first().unwrap()["event"], "run_started");
    assert_eq!(events.last().unwrap()["event"], "run_finished");
    assert!(events.iter().all(|e| e["run"] == id.as_str()));

    // Asynchronously: 202 at once, the run where `Location` says.
    let (status, headers, body) =
        post(&format!("{url}/runs/echo"), json!({ "n": 2 }), &[("prefer", "respond-async")]).await;
    assert_eq!((status, body["status"].as_str()), (202, Some("queued")), "{body}");
    let location = headers["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/runs/{}", body["id"].as_str().unwrap()));
    let run = ended(&server, body["id"].as_str().unwrap()).await;
    assert_eq!((run["status"].as_str(), &run["result"]), (Some("succeeded"), &json!(4)));

    let (status, runs) = get(&format!("{url}/runs?flow=echo&status=succeeded")).await;
    assert_eq!((status, runs.as_array().unwrap().len()), (200, 2), "{runs}");
    assert_eq!(runs[0]["id"], body["id"], "newest first");
    let (status, body) = get(&format!("{url}/runs/no-such-run")).await;
    assert_eq!(status, 404, "{body}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_never_starts_a_second_run() {
    let fixture = fixture();
    let server = start(config(&fixture, Duration::from_secs(10))).await;
    let url = format!("{}/runs/echo", server.url());
    let key = [("idempotency-key", "order-17")];
    let (first_status, _, first) = post(&url, json!({ "n": 5 }), &key).await;
    let (again_status, _, again) = post(&url, json!({ "n": 5 }), &key).await;
    assert_eq!((first_status, again_status), (200, 200));
    assert_eq!(first, again, "the same run, the same answer");
    let (status, _, queued) =
        post(&url, json!({ "n": 5 }), &[key[0], ("prefer", "respond-async")]).await;
    assert_eq!((status, &queued["id"]), (202, &first["id"]), "{queued}");
    let (status, _, other) = post(&url, json!({ "n": 6 }), &key).await;
    assert_eq!(
        (status, other["error"]["code"].as_str()),
        (422, Some("idempotency_mismatch")),
        "{other}"
    );
    let (_, runs) = get(&format!("{}/runs", server.url())).await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_run_is_cancelled() {
    let fixture = fixture();
    let slow = slow_server(Duration::from_secs(20)).await;
    let server = start(config(&fixture, Duration::from_secs(10))).await;
    let (_, _, body) = post(
        &format!("{}/runs/slow", server.url()),
        json!({ "url": slow.uri() }),
        &[("prefer", "respond-async")],
    )
    .await;
    let id = body["id"].as_str().unwrap();
    until_called(&slow, 1).await;
    let (status, _, body) =
        post(&format!("{}/runs/{id}/cancel", server.url()), json!({}), &[]).await;
    assert_eq!((status, body["status"].as_str()), (202, Some("cancelling")), "{body}");
    let run = ended(&server, id).await;
    assert_eq!(run["status"], "cancelled", "{run}");
    let (status, _, body) =
        post(&format!("{}/runs/{id}/cancel", server.url()), json!({}), &[]).await;
    assert_eq!(status, 409, "a cancelled run stays cancelled: {body}");
    server.shutdown().await;
}

/// At `--timeout` a synchronous POST answers 504 and the run is cancelled, not left failed to
/// be run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_its_time_limit_is_cancelled() {
    let fixture = fixture();
    let slow = slow_server(Duration::from_secs(20)).await;
    let mut config = config(&fixture, Duration::from_secs(10));
    config.timeout = Some(Duration::from_millis(300));
    let server = start(config).await;
    let (status, _, body) =
        post(&format!("{}/runs/slow", server.url()), json!({ "url": slow.uri() }), &[]).await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["category"], "timeout", "{body}");
    let run = ended(&server, body["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "cancelled", "{run}");
    server.shutdown().await;
}

/// Records a run of `echo` as a process that then died would have left it: running, under a
/// lease of `lease`, with nothing journaled.
async fn orphan(fixture: &Fixture, lease: Duration) -> String {
    let created = fixture
        .store
        .create(NewRun {
            flow: "echo".into(),
            pinned: weft::flow::Pinned { text: ECHO.into(), calls: Default::default() },
            flow_path: Some(fixture.dir.path().join("echo.flow.json").display().to_string()),
            profiles_path: None,
            params: json!({ "n": 50 }),
            idempotency_key: None,
            start: Some(Holder { owner: "a process that died".into(), lease }),
            parent: None,
        })
        .await
        .unwrap();
    match created {
        Created::New { id, .. } => id,
        Created::Existing { .. } => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_of_a_dead_process_are_taken_over_once_their_lease_expires() {
    let fixture = fixture();
    let id = orphan(&fixture, Duration::from_secs(4)).await;
    let server = start(config(&fixture, Duration::from_millis(300))).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, run) = get(&format!("{}/runs/{id}", server.url())).await;
    assert_eq!(
        (run["status"].as_str(), run["attempts"].as_i64()),
        (Some("running"), Some(1)),
        "not while its lease is live: {run}"
    );
    let run = ended(&server, &id).await;
    assert_eq!(
        (run["status"].as_str(), &run["result"], run["attempts"].as_i64()),
        (Some("succeeded"), &json!(100), Some(2)),
        "{run}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_interrupted_by_a_shutdown_is_handed_back_and_finished_by_the_next_server() {
    let fixture = fixture();
    // Answered long after the first server's grace period of half a second.
    let slow = slow_server(Duration::from_secs(3)).await;
    let mut first = config(&fixture, Duration::from_millis(300));
    first.shutdown_grace = Duration::from_millis(500);
    let server = start(first).await;
    let (_, _, body) = post(
        &format!("{}/runs/slow", server.url()),
        json!({ "url": slow.uri() }),
        &[("prefer", "respond-async")],
    )
    .await;
    let id = body["id"].as_str().unwrap().to_owned();
    until_called(&slow, 1).await;
    server.shutdown().await;
    let held = fixture.store.get(&id).await.unwrap();
    assert_eq!(held.run.status.as_str(), "running", "handed back, not failed: {held:?}");
    assert!(!held.run.lease_live, "its lease ended with the server");

    let server = start(config(&fixture, Duration::from_millis(300))).await;
    let run = ended(&server, &id).await;
    assert_eq!(
        (run["status"].as_str(), &run["result"], run["attempts"].as_i64()),
        (Some("succeeded"), &json!(200), Some(2)),
        "{run}"
    );
    server.shutdown().await;
}
