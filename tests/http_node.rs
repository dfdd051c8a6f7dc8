//! The `http_request` node end to end: real flows run by the executor, the real reqwest client,
//! and servers on 127.0.0.1 (wiremock, a raw TCP server that drops connections, and the
//! project's Entra ID + Graph simulator). Retries, throttling, paging, token refresh, status
//! exits, limits, redirects, templates and traces.
//!
//! Waits are real but short (`Retry-After: 0.2`, backoffs of a few milliseconds): the weft
//! package's tokio has no `test-util`, so tokio's paused clock is not available here.

use crate::util::at;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use weft::auth::TokenManager;
use weft::auth::state::StateDir;
use weft::exec::{RunOptions, RunReport, RunStatus, Runtime};
use weft::http::ReqwestHttp;
use weft::nodes::expr::dynamic_to_json;
use weft::nodes::secret::Secret;
use weft::nodes::services::{BoxFuture, Credential, Credentials, Http, SignIn, SlotGuard};
use weft::nodes::{NodeError, Services};
use weft::trace::{Memory, TraceSink};
use weft_sim::{APP_CLIENT_SECRET, FaultConfig, FaultKind, SimConfig, Simulator};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

// ---------------------------------------------------------------------------------------------
// Harness

/// What a run left behind.
struct Ran {
    report: RunReport,
    /// `vars` at the end, as JSON.
    vars: Value,
    /// The trace's events.
    trace: Vec<Value>,
    /// Whether `vars.page.body` still waited as JSON text when the run ended (nothing read it).
    body_was_text: bool,
}

impl Ran {
    fn var(&self, name: &str) -> &Value {
        &self.vars[name]
    }

    /// The `http` events of the trace.
    fn http_events(&self) -> Vec<&Value> {
        self.trace.iter().filter(|e| e["event"] == "http").collect()
    }

    #[track_caller]
    fn assert_succeeded(&self) {
        assert_eq!(
            self.report.status,
            RunStatus::Succeeded,
            "error: {:?}\nvars: {}",
            self.report.error,
            self.vars
        );
    }

    /// `vars.error`, asserting the run failed with one.
    #[track_caller]
    fn error(&self) -> &Value {
        assert_eq!(self.report.status, RunStatus::Failed, "vars: {}", self.vars);
        &self.vars["error"]
    }
}

fn http() -> Arc<dyn Http> {
    Arc::new(ReqwestHttp::new().unwrap())
}

fn services(credentials: Option<Arc<dyn Credentials>>) -> Services {
    Services { http: Some(http()), credentials }
}

async fn run_with(flow: Value, services: Services, params: Value) -> Ran {
    run_traced(flow, services, params, true).await
}

/// A run, with a trace (which records every write, so response bodies are parsed at once) or
/// without one (as `weft serve` runs flows).
async fn run_traced(flow: Value, services: Services, params: Value, traced: bool) -> Ran {
    let loader = weft::flow::Loader::builtin();
    let loaded = loader.load_bytes(&serde_json::to_vec(&flow).unwrap(), "test");
    let Some(flow) = loaded.flow else {
        panic!("the flow does not load: {:#?}", loaded.diagnostics);
    };
    let runtime = Runtime::new(loader.engine().clone()).with_services(services);
    let trace = Arc::new(Memory::default());
    // Declared defaults, overridden by `params`, as `weft run --params FILE` does.
    let params = weft::params::resolve(&flow, params.as_object().cloned(), &[]).unwrap();
    let options = RunOptions {
        params,
        trace: traced.then(|| trace.clone() as Arc<dyn TraceSink>),
        ..RunOptions::default()
    };
    let report =
        tokio::time::timeout(Duration::from_secs(120), weft::exec::run(&flow, &runtime, options))
            .await
            .expect("the run finishes within two minutes");
    let body_was_text = report.vars.json_text_at(&["page", "body"]).is_some();
    let vars = dynamic_to_json(&rhai::Dynamic::from_map(report.vars.snapshot())).unwrap();
    Ran { report, vars, trace: trace.events(), body_was_text }
}

async fn run(flow: Value, services: Services) -> Ran {
    run_with(flow, services, json!({})).await
}

/// A flow of the one node `call` (its `id` and `type` filled in), nothing wired.
fn single(mut node: Value) -> Value {
    node["id"] = json!("call");
    node["type"] = json!("http_request");
    json!({ "format": "weft.flow/1", "name": "single", "start": "call", "nodes": [node] })
}

/// A 200 with a JSON body.
fn ok_json(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

/// Credentials of one profile `api` that rotate: `Bearer tok-N`, N growing on each
/// invalidation; sent only to 127.0.0.1. Counts what the node asks of it.
#[derive(Default)]
struct Rotating {
    generation: AtomicU64,
    credentials: AtomicU64,
    invalidations: AtomicU64,
}

impl Rotating {
    fn new() -> Arc<Self> {
        let rotating = Self::default();
        rotating.generation.store(1, Ordering::SeqCst);
        Arc::new(rotating)
    }
}

impl Credentials for Rotating {
    fn sign_in<'a>(&'a self, profile: &'a str) -> BoxFuture<'a, Result<SignIn, NodeError>> {
        Box::pin(async move {
            Ok(SignIn {
                profile: profile.to_owned(),
                token_type: "Bearer".into(),
                expires_at: None,
                scopes: Vec::new(),
            })
        })
    }

    fn credential<'a>(
        &'a self,
        _profile: &'a str,
        host: &'a str,
        _port: Option<u16>,
    ) -> BoxFuture<'a, Result<Credential, NodeError>> {
        Box::pin(async move {
            if host != "127.0.0.1" {
                return Err(NodeError::new("auth", format!("not to {host}")));
            }
            self.credentials.fetch_add(1, Ordering::SeqCst);
            let generation = self.generation.load(Ordering::SeqCst);
            Ok(Credential {
                headers: vec![(
                    "Authorization".into(),
                    Secret::new(format!("Bearer tok-{generation}")),
                )],
                query: Vec::new(),
                generation,
            })
        })
    }

    fn invalidate(&self, _profile: &str, generation: u64) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        let _ = self.generation.compare_exchange(
            generation,
            generation + 1,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    fn slot<'a>(
        &'a self,
        _profile: &'a str,
        _key: Option<&'a str>,
    ) -> BoxFuture<'a, Option<SlotGuard>> {
        Box::pin(async { None })
    }
}

/// A real token manager over a profiles file written for the test; `${env.X}` reads `env`.
fn token_manager(
    dir: &tempfile::TempDir,
    profiles: Value,
    names: &[&str],
    env: &[(&str, &str)],
) -> Arc<TokenManager> {
    let file = dir.path().join("profiles.json");
    let doc = json!({ "format": "weft.profiles/1", "profiles": profiles });
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let loaded = weft::auth::Profiles::load(&file).unwrap();
    let env: Vec<(String, String)> =
        env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let lookup = move |var: &str| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone());
    let resolved = names.iter().map(|n| loaded.resolve(n, &lookup).unwrap()).collect();
    Arc::new(TokenManager::new(resolved, StateDir::new(dir.path().join("state"))).unwrap())
}

/// A server that speaks just enough HTTP/1.1, for what wiremock can't do: it counts
/// connections and, per connection number (from 1), either closes the socket after reading
/// the request (no response at all) or answers.
#[derive(Clone, Copy)]
enum Raw {
    /// Drop the first `n` connections, then answer `200 {"ok": true}`.
    DropFirst(usize),
    /// Answer 200 with a chunked JSON-ish body of `n` bytes (no `Content-Length`).
    Chunked(usize),
    /// Answer 200 announcing `Content-Length: i64::MAX`, send a few bytes and close.
    HugeLength,
}

async fn raw_server(mode: Raw) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::spawn(async move {
                // Read the head and a `Content-Length` body.
                let mut data = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(read) = socket.read(&mut buf).await else { return };
                    if read == 0 {
                        return;
                    }
                    data.extend_from_slice(&buf[..read]);
                    if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if data.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                match mode {
                    Raw::DropFirst(first) if n <= first => drop_socket(socket),
                    Raw::DropFirst(_) => {
                        let body = br#"{"ok":true}"#;
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = socket.write_all(head.as_bytes()).await;
                        let _ = socket.write_all(body).await;
                    }
                    Raw::Chunked(size) => {
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
                        if socket.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        let chunk = vec![b' '; 64 * 1024];
                        let mut sent = 0;
                        while sent < size {
                            let piece = &chunk[..chunk.len().min(size - sent)];
                            let frame = format!("{:x}\r\n", piece.len());
                            if socket.write_all(frame.as_bytes()).await.is_err()
                                || socket.write_all(piece).await.is_err()
                                || socket.write_all(b"\r\n").await.is_err()
                            {
                                return; // the client gave up: as it should
                            }
                            sent += piece.len();
                        }
                        let _ = socket.write_all(b"0\r\n\r\n").await;
                    }
                    Raw::HugeLength => {
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9223372036854775807\r\n\r\n[1, 2, 3";
                        let _ = socket.write_all(head.as_bytes()).await;
                    }
                }
            });
        }
    });
    (url, count)
}

fn drop_socket(socket: tokio::net::TcpStream) {
    // Close without a response.
    drop(socket);
}

// ---------------------------------------------------------------------------------------------
// Retries and throttling

#[tokio::test]
async fn throttled_with_a_fractional_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429).insert_header("retry-after", "0.2").set_body_json(
                json!({ "error": { "code": "TooManyRequests", "message": "slow" } }),
            ),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(ok_json(json!({ "n": 1 }))).mount(&server).await;

    let started = Instant::now();
    // A backoff of a minute would fail the test: `Retry-After` must replace it.
    let ran = run(
        single(json!({ "url": format!("{}/x", server.uri()),
                        "retry": { "initial_ms": 60000, "max_ms": 60000 } })),
        services(None),
    )
    .await;
    let elapsed = started.elapsed();
    ran.assert_succeeded();
    assert_eq!(ran.var("response")["status"], 200);
    assert_eq!(ran.var("response")["body"], json!({ "n": 1 }));
    assert!(elapsed >= Duration::from_millis(200), "waited only {elapsed:?}");
    assert!(elapsed < Duration::from_secs(20), "waited {elapsed:?}");
    assert_eq!(requests(&server).await.len(), 2);
    let events = ran.http_events();
    assert_eq!(events.len(), 2);
    assert_eq!((events[0]["status"].clone(), events[0]["attempt"].clone()), (json!(429), json!(1)));
    assert_eq!((events[1]["status"].clone(), events[1]["attempt"].clone()), (json!(200), json!(2)));
}

#[tokio::test]
async fn service_unavailable_twice_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(ok_json(json!([1, 2]))).mount(&server).await;

    let ran = run(
        single(json!({ "url": server.uri(), "retry": { "initial_ms": 5, "max_ms": 20 } })),
        services(None),
    )
    .await;
    ran.assert_succeeded();
    assert_eq!(ran.var("response")["body"], json!([1, 2]));
    assert_eq!(requests(&server).await.len(), 3);
    let statuses: Vec<Value> = ran.http_events().iter().map(|e| e["status"].clone()).collect();
    assert_eq!(statuses, [json!(503), json!(503), json!(200)]);
}

#[tokio::test]
async fn exhausted_retries_give_the_final_response_to_the_status_exits() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).set_body_json(
            json!({ "error": { "code": "serviceNotAvailable", "message": "Try later" } }),
        ))
        .mount(&server)
        .await;
    let node = json!({ "id": "call", "type": "http_request", "url": server.uri(),
                       "retry": { "max_attempts": 3, "initial_ms": 5, "max_ms": 10 } });

    // Wired `5xx`: taken after the last attempt, with the response in vars.
    let wired = json!({ "format": "weft.flow/1", "start": "call", "nodes": [
        node, { "id": "busy", "type": "end", "result": "vars.response.status" } ],
        "edges": [ { "from": "call", "exit": "5xx", "to": "busy" } ] });
    let ran = run(wired, services(None)).await;
    ran.assert_succeeded();
    assert_eq!(ran.report.result, json!(503));
    assert_eq!(requests(&server).await.len(), 3);
    let attempts: Vec<Value> = ran.http_events().iter().map(|e| e["attempt"].clone()).collect();
    assert_eq!(attempts, [json!(1), json!(2), json!(3)]);

    // Unwired: the error exit, with the status and Graph's code and message.
    server.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).set_body_json(
            json!({ "error": { "code": "serviceNotAvailable", "message": "Try later" } }),
        ))
        .mount(&server)
        .await;
    let ran = run(
        single(json!({ "url": server.uri(),
                        "retry": { "max_attempts": 2, "initial_ms": 5, "max_ms": 10 } })),
        services(None),
    )
    .await;
    let error = ran.error();
    assert_eq!(error["node"], "call");
    assert_eq!(error["category"], "http");
    assert_eq!(error["status"], 503);
    assert_eq!(error["code"], "serviceNotAvailable");
    assert!(error["message"].as_str().unwrap().contains("Try later"), "{error}");
    assert_eq!(ran.var("response")["status"], 503);
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn statuses_not_in_retry_on_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(500)).mount(&server).await;
    let ran = run(single(json!({ "url": server.uri() })), services(None)).await;
    assert_eq!(ran.error()["status"], 500);
    assert_eq!(requests(&server).await.len(), 1);

    // …unless the flow says so.
    server.reset().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(500)).mount(&server).await;
    let ran = run(
        single(json!({ "url": server.uri(),
                        "retry": { "on": [500], "max_attempts": 2, "initial_ms": 1 } })),
        services(None),
    )
    .await;
    assert_eq!(ran.error()["status"], 500);
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn a_dropped_connection_is_retried_for_get() {
    let (url, connections) = raw_server(Raw::DropFirst(2)).await;
    let ran = run(
        single(json!({ "url": format!("{url}/x"), "retry": { "initial_ms": 5, "max_ms": 10 } })),
        services(None),
    )
    .await;
    ran.assert_succeeded();
    assert_eq!(ran.var("response")["body"], json!({ "ok": true }));
    assert_eq!(connections.load(Ordering::SeqCst), 3);
    let events = ran.http_events();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["status"], Value::Null, "no response came: {}", events[0]);
    assert_eq!(events[2]["status"], 200);
}

#[tokio::test]
async fn a_dropped_connection_is_not_retried_for_post() {
    let (url, connections) = raw_server(Raw::DropFirst(1)).await;
    let ran = run(
        single(json!({ "method": "POST", "url": format!("{url}/orders"),
                        "body": { "item": 1 }, "retry": { "initial_ms": 5 } })),
        services(None),
    )
    .await;
    let error = ran.error();
    assert_eq!(error["category"], "http");
    assert!(error["message"].as_str().unwrap().contains("POST"), "{error}");
    assert!(error.get("status").is_none(), "{error}");
    // Give a wrongly retried request the time to arrive.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_slow_response_times_out_and_is_retried_for_get() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ok_json(json!({})).set_delay(Duration::from_millis(1500)))
        .mount(&server)
        .await;
    let ran = run(
        single(json!({ "url": server.uri(), "timeout_ms": 100,
                        "retry": { "max_attempts": 2, "initial_ms": 1 } })),
        services(None),
    )
    .await;
    let error = ran.error();
    assert_eq!(error["category"], "timeout");
    assert!(error["message"].as_str().unwrap().contains("100 ms"), "{error}");
    assert_eq!(requests(&server).await.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Paging and token refresh

/// Serves `pages` pages of three items at `/items?page=N`, each linking the next.
async fn paged_server(pages: u32) -> MockServer {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path("/items"))
        .respond_with(move |request: &Request| {
            let page: u32 = request
                .url
                .query_pairs()
                .find(|(k, _)| k == "page")
                .map_or(1, |(_, v)| v.parse().unwrap());
            let items: Vec<Value> =
                (0..3).map(|i| json!({ "id": format!("p{page}-{i}"), "page": page })).collect();
            let mut body = json!({ "value": items });
            if page < pages {
                body["@odata.nextLink"] = json!(format!("{base}/items?page={}", page + 1));
            }
            ResponseTemplate::new(200)
                .set_body_json(body)
                .insert_header("x-page", page.to_string().as_str())
        })
        .mount(&server)
        .await;
    server
}

fn expected_items(pages: u32) -> Vec<Value> {
    (1..=pages)
        .flat_map(|p| (0..3).map(move |i| json!({ "id": format!("p{p}-{i}"), "page": p })))
        .collect()
}

fn paging_node(url: String) -> Value {
    json!({ "url": url, "into": "page",
            "paginate": { "next": "response.body[\"@odata.nextLink\"]", "items": "/value" } })
}

#[tokio::test]
async fn fifty_pages_yield_every_item_exactly_once() {
    let server = paged_server(50).await;
    let ran = run(single(paging_node(format!("{}/items", server.uri()))), services(None)).await;
    ran.assert_succeeded();
    let page = ran.var("page");
    let mut keys: Vec<&str> = page.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["headers", "items", "pages", "status"]);
    assert_eq!(page["status"], 200);
    assert_eq!(page["pages"], 50);
    assert_eq!(page["headers"]["x-page"], "50", "the last page's headers");
    assert_eq!(page["items"], Value::Array(expected_items(50)));
    assert_eq!(requests(&server).await.len(), 50);
    assert_eq!(ran.http_events().len(), 50);
}

#[tokio::test]
async fn max_pages_stops_a_runaway_paging_loop_with_an_error() {
    let server = paged_server(1000).await;
    let mut node = paging_node(format!("{}/items", server.uri()));
    node["paginate"]["max_pages"] = json!(5);
    let ran = run(single(node), services(None)).await;
    let error = ran.error();
    assert!(error["message"].as_str().unwrap().contains("max_pages"), "{error}");
    assert_eq!(requests(&server).await.len(), 5);
}

#[tokio::test]
async fn a_token_expiring_between_pages_is_refreshed_once_and_paging_continues() {
    let server = paged_server(5).await;
    // Page 3 refuses the first token, as Graph does when it expired in the meantime.
    Mock::given(method("GET"))
        .and(path("/items"))
        .and(wiremock::matchers::query_param("page", "3"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({ "error": {
            "code": "InvalidAuthenticationToken",
            "message": "Access token has expired or is not yet valid." } })))
        .with_priority(1)
        .mount(&server)
        .await;
    let credentials = Rotating::new();
    let mut node = paging_node(format!("{}/items", server.uri()));
    node["auth"] = json!("api");
    let ran = run(single(node), services(Some(credentials.clone()))).await;
    ran.assert_succeeded();
    assert_eq!(ran.var("page")["items"], Value::Array(expected_items(5)));
    assert_eq!(ran.var("page")["pages"], 5);
    assert_eq!(credentials.invalidations.load(Ordering::SeqCst), 1);
    let seen: Vec<(String, String)> = requests(&server)
        .await
        .iter()
        .map(|r| {
            let page = r.url.query_pairs().find(|(k, _)| k == "page").map(|(_, v)| v.into_owned());
            let auth = r.headers.get("authorization").unwrap().to_str().unwrap().to_owned();
            (page.unwrap_or_else(|| "1".into()), auth)
        })
        .collect();
    let expect = |p: &str, t: u32| (p.to_owned(), format!("Bearer tok-{t}"));
    assert_eq!(
        seen,
        [
            expect("1", 1),
            expect("2", 1),
            expect("3", 1),
            expect("3", 2),
            expect("4", 2),
            expect("5", 2)
        ]
    );
    let statuses: Vec<Value> = ran.http_events().iter().map(|e| e["status"].clone()).collect();
    assert_eq!(statuses, [json!(200), json!(200), json!(401), json!(200), json!(200), json!(200)]);
    assert_no_token_in(&ran, Some("tok-"));
}

#[tokio::test]
async fn a_second_401_after_the_refresh_is_final() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({ "error": {
            "code": "InvalidAuthenticationToken", "message": "Access token is empty." } })))
        .mount(&server)
        .await;
    let credentials = Rotating::new();
    let ran = run(
        single(json!({ "url": server.uri(), "auth": "api" })),
        services(Some(credentials.clone())),
    )
    .await;
    let error = ran.error();
    assert_eq!(error["status"], 401);
    assert_eq!(error["code"], "InvalidAuthenticationToken");
    assert_eq!(requests(&server).await.len(), 2, "one refresh, one repeat");
    assert_eq!(credentials.invalidations.load(Ordering::SeqCst), 1);
}

/// Neither `vars` nor the trace holds `token` (when given) or an `Authorization` header.
#[track_caller]
fn assert_no_token_in(ran: &Ran, token: Option<&str>) {
    let vars = ran.vars.to_string();
    let trace = serde_json::to_string(&ran.trace).unwrap();
    for (what, text) in [("vars", &vars), ("trace", &trace)] {
        if let Some(token) = token {
            assert!(!text.contains(token), "the token shows in {what}");
        }
        assert!(
            !text.to_ascii_lowercase().contains("authorization"),
            "an Authorization header shows in {what}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Status exits

fn status_flow(url: &str, exits: &[&str]) -> Value {
    let mut nodes = vec![json!({ "id": "call", "type": "http_request", "url": url })];
    let mut edges = Vec::new();
    for exit in exits {
        let id = format!("took_{exit}");
        nodes.push(json!({ "id": id, "type": "end", "result": format!("\"{exit}\"") }));
        edges.push(json!({ "from": "call", "exit": exit, "to": id }));
    }
    json!({ "format": "weft.flow/1", "start": "call", "nodes": nodes, "edges": edges })
}

async fn not_found_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "error": {
            "code": "ErrorItemNotFound",
            "message": "The specified object was not found in the store.",
            "innerError": { "date": "2026-11-23T09:00:00", "request-id": "r1" } } })))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn the_exact_status_exit_wins_over_its_class() {
    let server = not_found_server().await;
    let ran = run(status_flow(&server.uri(), &["4xx", "404", "error"]), services(None)).await;
    ran.assert_succeeded();
    assert_eq!(ran.report.result, json!("404"));
    assert_eq!(ran.var("response")["status"], 404);
    assert_eq!(ran.var("response")["body"]["error"]["code"], "ErrorItemNotFound");

    let ran = run(status_flow(&server.uri(), &["4xx", "5xx", "error"]), services(None)).await;
    assert_eq!(ran.report.result, json!("4xx"));
    let ran = run(status_flow(&server.uri(), &["5xx", "error"]), services(None)).await;
    assert_eq!(ran.report.result, json!("error"));
}

#[tokio::test]
async fn an_unwired_404_is_an_error_with_graphs_code_and_message() {
    let server = not_found_server().await;
    let ran = run(status_flow(&server.uri(), &["5xx"]), services(None)).await;
    let error = ran.error();
    assert_eq!(error["node"], "call");
    assert_eq!(error["type"], "http_request");
    assert_eq!(error["category"], "http");
    assert_eq!(error["status"], 404);
    assert_eq!(error["code"], "ErrorItemNotFound");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("404"), "{message}");
    assert!(message.contains("The specified object was not found in the store."), "{message}");
    assert_eq!(ran.var("response")["status"], 404, "the response is written before the error");
}

#[tokio::test]
async fn an_oauth_error_body_gives_code_and_first_line_of_the_description() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_scope",
            "error_description": "AADSTS70011: The provided value for scope is not valid.\r\nTrace ID: x\r\nCorrelation ID: y" })))
        .mount(&server)
        .await;
    let ran = run(single(json!({ "url": server.uri() })), services(None)).await;
    let error = ran.error();
    assert_eq!(error["code"], "invalid_scope");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("AADSTS70011"), "{message}");
    assert!(!message.contains("Trace ID"), "{message}");
}

#[tokio::test]
async fn an_unwired_3xx_without_location_is_an_error_and_2xx_is_ok() {
    let server = MockServer::start().await;
    Mock::given(path("/304")).respond_with(ResponseTemplate::new(304)).mount(&server).await;
    Mock::given(path("/204")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let ran = run(single(json!({ "url": format!("{}/304", server.uri()) })), services(None)).await;
    assert_eq!(ran.error()["status"], 304);
    let ran = run(single(json!({ "url": format!("{}/204", server.uri()) })), services(None)).await;
    ran.assert_succeeded();
    assert_eq!(ran.var("response")["status"], 204);
    assert_eq!(ran.var("response")["body"], "");
}

// ---------------------------------------------------------------------------------------------
// Response bodies: limits and malformed JSON

#[tokio::test]
async fn a_body_over_the_size_limit_is_a_clear_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(vec![b'x'; 300_000], "text/plain"))
        .mount(&server)
        .await;
    let ran =
        run(single(json!({ "url": server.uri(), "max_response_bytes": 100_000 })), services(None))
            .await;
    let error = ran.error();
    assert_eq!(error["category"], "http");
    assert!(error["message"].as_str().unwrap().contains("limit of 100000 bytes"), "{error}");
    assert_eq!(requests(&server).await.len(), 1, "not retried");
    assert_eq!(ran.var("response"), &Value::Null);
}

#[tokio::test]
async fn a_streamed_body_over_the_size_limit_stops_reading() {
    // 512 MiB, chunked, no Content-Length: reading it all would take long and a lot of memory.
    let (url, connections) = raw_server(Raw::Chunked(512 << 20)).await;
    let started = Instant::now();
    let ran =
        run(single(json!({ "url": url, "max_response_bytes": 1 << 20 })), services(None)).await;
    let error = ran.error();
    assert!(error["message"].as_str().unwrap().contains("limit of 1048576 bytes"), "{error}");
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
}

#[tokio::test]
async fn regression_huge_content_length_aborts_the_process() {
    // A limit beyond the documented maximum is a load diagnostic.
    let flow = single(json!({ "url": "http://127.0.0.1:1", "max_response_bytes": u64::MAX }));
    let loaded =
        weft::flow::Loader::builtin().load_bytes(&serde_json::to_vec(&flow).unwrap(), "test");
    assert!(loaded.flow.is_none());
    let diagnostic = loaded.diagnostics.iter().find(|d| d.pointer == "/nodes/0/max_response_bytes");
    let diagnostic = diagnostic.unwrap_or_else(|| panic!("{:#?}", loaded.diagnostics));
    assert!(diagnostic.message.contains("maximum of 1073741824 bytes"), "{}", diagnostic.message);

    // At the maximum, a server announcing 8 EiB: a clear error.
    let (url, _) = raw_server(Raw::HugeLength).await;
    let max = weft::nodes::kinds::http_request::MAX_RESPONSE_BYTES;
    let ran = run(single(json!({ "url": url, "max_response_bytes": max })), services(None)).await;
    let error = ran.error();
    assert!(error["message"].as_str().unwrap().contains("limit of 1073741824 bytes"), "{error}");

    // The client itself sizes nothing from the header, whatever limit it is given: the body
    // ends early, an error, and the process lives on.
    let request = weft::nodes::services::HttpRequest {
        method: "GET",
        url: url.clone(),
        headers: Vec::new(),
        secret_headers: Vec::new(),
        secret_query: Vec::new(),
        body: None,
        timeout: Duration::from_secs(10),
        max_response_bytes: u64::MAX,
    };
    let result = http().send(request).await;
    assert!(matches!(result, Err(weft::nodes::services::HttpError::Connection(_))), "{result:?}");
}

#[tokio::test]
async fn malformed_json_names_node_status_and_position() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(b"{\n  \"value\": [1, 2,, 3]\n}".to_vec(), "application/json"),
        )
        .mount(&server)
        .await;
    let ran = run(single(json!({ "url": server.uri() })), services(None)).await;
    let error = ran.error();
    assert_eq!(error["node"], "call");
    assert_eq!(error["status"], 200);
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("200") && message.contains("not valid JSON"), "{message}");
    assert!(message.contains("line 2, column 18"), "{message}");
}

#[tokio::test]
async fn bodies_are_parsed_by_content_type() {
    let server = MockServer::start().await;
    Mock::given(path("/problem"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(
                br#"{"title":"t"}"#.to_vec(),
                "application/problem+json; charset=utf-8",
            ),
        )
        .mount(&server)
        .await;
    Mock::given(path("/text"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(b"{not json".to_vec(), "text/plain"))
        .mount(&server)
        .await;
    let ran =
        run(single(json!({ "url": format!("{}/problem", server.uri()) })), services(None)).await;
    assert_eq!(ran.var("response")["body"], json!({ "title": "t" }));
    assert_eq!(
        ran.var("response")["headers"]["content-type"],
        "application/problem+json; charset=utf-8"
    );
    let ran = run(single(json!({ "url": format!("{}/text", server.uri()) })), services(None)).await;
    assert_eq!(ran.var("response")["body"], "{not json");
}

// ---------------------------------------------------------------------------------------------
// Redirects and where credentials may go

/// Runs a GET of `A/start` with `profile`, where `A/start` → `A/same` → `B/other` → `A/back`
/// → 200, and returns for each hop the credential headers it received.
async fn redirect_chain(
    profile: Value,
    secret_headers: &[&str],
) -> (Ran, Vec<(String, Vec<Option<String>>)>) {
    let a = MockServer::start().await;
    let b = MockServer::start().await;
    let redirect = |status: u16, to: String| {
        ResponseTemplate::new(status).insert_header("location", to.as_str())
    };
    Mock::given(path("/start")).respond_with(redirect(302, "/same".into())).mount(&a).await;
    Mock::given(path("/same"))
        .respond_with(redirect(307, format!("{}/other", b.uri())))
        .mount(&a)
        .await;
    Mock::given(path("/other"))
        .respond_with(redirect(308, format!("{}/back", a.uri())))
        .mount(&b)
        .await;
    Mock::given(path("/back")).respond_with(ok_json(json!({ "done": true }))).mount(&a).await;

    let dir = tempfile::tempdir().unwrap();
    let manager =
        token_manager(&dir, json!({ "p": profile }), &["p"], &[("SECRET", "s3cr3t-value")]);
    let ran = run(
        single(json!({ "url": format!("{}/start", a.uri()), "auth": "p" })),
        services(Some(manager)),
    )
    .await;
    let mut hops = Vec::new();
    for (server, name) in [(&a, "A"), (&b, "B")] {
        for r in requests(server).await {
            let found = secret_headers
                .iter()
                .map(|h| r.headers.get(*h).map(|v| v.to_str().unwrap().to_owned()))
                .collect();
            hops.push((format!("{name}{}", r.url.path()), found));
        }
    }
    (ran, hops)
}

#[tokio::test]
async fn redirects_are_followed_and_authorization_stays_on_the_original_host() {
    let profile = json!({ "type": "bearer", "token": "${env.SECRET}", "hosts": ["127.0.0.1:*"] });
    let (ran, hops) = redirect_chain(profile, &["authorization"]).await;
    ran.assert_succeeded();
    assert_eq!(ran.var("response")["body"], json!({ "done": true }));
    let bearer = Some("Bearer s3cr3t-value".to_owned());
    assert_eq!(
        hops,
        [
            ("A/start".to_owned(), vec![bearer.clone()]),
            ("A/same".to_owned(), vec![bearer]),
            // Another port is another host: the credentials stay behind, and once left
            // behind they don't come back.
            ("A/back".to_owned(), vec![None]),
            ("B/other".to_owned(), vec![None]),
        ]
    );
    assert_no_token_in(&ran, Some("s3cr3t-value"));
    // One request as far as the node is concerned.
    assert_eq!(ran.http_events().len(), 1);
}

#[tokio::test]
async fn an_api_key_header_is_dropped_like_authorization_on_leaving_the_host() {
    let profile = json!({ "type": "api_key", "value": "${env.SECRET}", "header": "X-Api-Key",
                          "hosts": ["127.0.0.1:*"] });
    let (ran, hops) = redirect_chain(profile, &["x-api-key"]).await;
    ran.assert_succeeded();
    let key = Some("s3cr3t-value".to_owned());
    assert_eq!(
        hops,
        [
            ("A/start".to_owned(), vec![key.clone()]),
            ("A/same".to_owned(), vec![key]),
            ("A/back".to_owned(), vec![None]),
            ("B/other".to_owned(), vec![None]),
        ]
    );
    assert!(!ran.vars.to_string().contains("s3cr3t-value"));
}

#[tokio::test]
async fn redirect_methods_and_limits() {
    let server = MockServer::start().await;
    let to = |status: u16, location: &str| {
        ResponseTemplate::new(status).insert_header("location", location)
    };
    Mock::given(path("/p307")).respond_with(to(307, "/echo")).mount(&server).await;
    Mock::given(path("/p303")).respond_with(to(303, "/echo")).mount(&server).await;
    Mock::given(path("/loop")).respond_with(to(302, "/loop")).mount(&server).await;
    Mock::given(path("/echo"))
        .respond_with(|r: &Request| {
            ok_json(json!({ "method": r.method.as_str(),
                            "body": String::from_utf8_lossy(&r.body) }))
        })
        .mount(&server)
        .await;
    let post = |p: &str| {
        single(json!({ "method": "POST", "url": format!("{}{p}", server.uri()),
                        "body": { "a": 1 } }))
    };
    let ran = run(post("/p307"), services(None)).await;
    assert_eq!(ran.var("response")["body"], json!({ "method": "POST", "body": "{\"a\":1}" }));
    let ran = run(post("/p303"), services(None)).await;
    assert_eq!(ran.var("response")["body"], json!({ "method": "GET", "body": "" }));

    server.reset().await;
    Mock::given(path("/loop")).respond_with(to(302, "/loop")).mount(&server).await;
    let ran = run(single(json!({ "url": format!("{}/loop", server.uri()) })), services(None)).await;
    let error = ran.error();
    assert!(error["message"].as_str().unwrap().contains("too many redirects"), "{error}");
    assert_eq!(requests(&server).await.len(), 11, "the first request and 10 redirects");
}

#[tokio::test]
async fn credentials_are_refused_for_a_host_outside_the_allow_list_before_sending() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ok_json(json!({}))).mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let manager = token_manager(
        &dir,
        json!({ "p": { "type": "bearer", "token": "${env.SECRET}", "hosts": ["127.0.0.1:*"] } }),
        &["p"],
        &[("SECRET", "s3cr3t-value")],
    );
    // `localhost` reaches the same server, but it is not an allowed host.
    let url = format!("http://localhost:{}/x", server.address().port());
    let ran =
        run(single(json!({ "url": url, "auth": "p" })), services(Some(manager.clone()))).await;
    let error = ran.error();
    assert_eq!(error["category"], "auth");
    assert!(error["message"].as_str().unwrap().contains("localhost"), "{error}");
    assert!(!error.to_string().contains("s3cr3t-value"));
    assert!(requests(&server).await.is_empty(), "nothing may be sent");
    assert!(ran.http_events().is_empty());

    // The allowed spelling goes through.
    let ran = run(
        single(json!({ "url": format!("{}/x", server.uri()), "auth": "p" })),
        services(Some(manager)),
    )
    .await;
    ran.assert_succeeded();
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused_before_sending() {
    let evil = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ok_json(json!({ "value": [] }))).mount(&evil).await;
    let server = MockServer::start().await;
    let next = format!("http://localhost:{}/steal", evil.address().port());
    Mock::given(method("GET"))
        .respond_with(ok_json(json!({ "value": [1], "@odata.nextLink": next })))
        .mount(&server)
        .await;
    let mut node = paging_node(server.uri());
    node["auth"] = json!("api");
    let ran = run(single(node), services(Some(Rotating::new()))).await;
    assert_eq!(ran.error()["category"], "auth");
    assert!(requests(&evil).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Templates: query, headers, bodies

#[tokio::test]
async fn query_values_are_encoded_and_merged_with_the_urls_query() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ok_json(json!({}))).mount(&server).await;
    let flow = single(json!({
        "url": format!("{}/search?fixed=a%20b&x=1", server.uri()),
        "query": {
            "q": "${params.q}",
            "u": "naïve ☃ ${params.n}",
            "n": "${params.n}",
            "none": "${()}",
            "$top": "10",
            "eq": "a=b+c/d?e#f"
        },
        "headers": { "X-Note": "n=${params.n}" }
    }));
    let flow = {
        let mut flow = flow;
        flow["parameters"] = json!({ "q": { "type": "string", "default": "rock & roll" },
                                     "n": { "type": "integer", "default": 42 } });
        flow
    };
    let ran = run(flow, services(None)).await;
    ran.assert_succeeded();
    let received = requests(&server).await;
    let request = &received[0];
    let pairs: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
    let expect: Vec<(String, String)> = [
        ("fixed", "a b"),
        ("x", "1"),
        ("q", "rock & roll"),
        ("u", "naïve ☃ 42"),
        ("n", "42"),
        ("$top", "10"),
        ("eq", "a=b+c/d?e#f"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(pairs, expect, "raw query: {:?}", request.url.query());
    assert_eq!(request.url.path(), "/search");
    assert_eq!(request.headers.get("x-note").unwrap(), "n=42");
}

#[tokio::test]
async fn json_body_templates_keep_the_type_of_a_lone_hole() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ok_json(json!({}))).mount(&server).await;
    let mut flow = single(json!({
        "method": "POST",
        "url": server.uri(),
        "body": {
            "name": "${params.name}",
            "count": "${params.n}",
            "ratio": "${params.n / 2.0}",
            "flag": "${params.n > 1}",
            "list": "${params.list}",
            "nothing": "${()}",
            "text": "n=${params.n}, ok=${params.n > 1}",
            "nested": { "x": ["${params.n}", 1, null, false] },
            "literal": "$${not a hole}"
        }
    }));
    flow["parameters"] = json!({ "name": { "type": "string", "default": "Ann" },
                                 "n": { "type": "integer", "default": 3 },
                                 "list": { "type": "array", "default": [1, "two"] } });
    let ran = run(flow, services(None)).await;
    ran.assert_succeeded();
    let received = requests(&server).await;
    let request = &received[0];
    assert_eq!(request.headers.get("content-type").unwrap(), "application/json");
    let body: Value = request.body_json().unwrap();
    assert_eq!(
        body,
        json!({ "name": "Ann", "count": 3, "ratio": 1.5, "flag": true, "list": [1, "two"],
                "nothing": null, "text": "n=3, ok=true",
                "nested": { "x": [3, 1, null, false] }, "literal": "${not a hole}" })
    );
}

#[tokio::test]
async fn body_text_is_a_template_sent_as_text() {
    let server = MockServer::start().await;
    Mock::given(method("PUT")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let mut flow = single(json!({
        "method": "PUT", "url": server.uri(),
        "body_text": "Hello ${params.name}, ${params.n} $${x}",
        "headers": { "Content-Type": "text/markdown" }
    }));
    flow["parameters"] = json!({ "name": { "type": "string", "default": "Ann" },
                                 "n": { "type": "integer", "default": 3 } });
    let ran = run(flow, services(None)).await;
    ran.assert_succeeded();
    let received = requests(&server).await;
    assert_eq!(String::from_utf8_lossy(&received[0].body), "Hello Ann, 3 ${x}");
    // The flow's own content type wins over the default.
    let types: Vec<_> = received[0].headers.get_all("content-type").iter().collect();
    assert_eq!(types, ["text/markdown"]);

    // Without one, text/plain.
    let mut flow = single(json!({ "method": "POST", "url": server.uri(), "body_text": "x" }));
    flow["nodes"][0]["retry"] = json!({ "max_attempts": 1 });
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    run(flow, services(None)).await.assert_succeeded();
    let received = requests(&server).await;
    assert_eq!(received[1].headers.get("content-type").unwrap(), "text/plain; charset=utf-8");
}

// ---------------------------------------------------------------------------------------------
// Traces

#[tokio::test]
async fn http_trace_events_hold_no_secrets_and_graphs_request_ids() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ok_json(json!({ "fine": 1 })).insert_header("request-id", "rid-2"))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let manager = token_manager(
        &dir,
        json!({ "k": { "type": "api_key", "value": "${env.SECRET}", "query": "subscription-key",
                       "hosts": ["127.0.0.1:*"] } }),
        &["k"],
        &[("SECRET", "s3cr3t-value")],
    );
    let ran = run(
        single(json!({ "url": format!("{}/data", server.uri()), "auth": "k",
                        "query": { "q": "visible", "access_token": "flow-secret" },
                        "retry": { "initial_ms": 1 } })),
        services(Some(manager)),
    )
    .await;
    ran.assert_succeeded();
    // The key did go to the server, in the query.
    let received = requests(&server).await;
    assert!(
        received.iter().all(|r| r.url.query().unwrap().contains("subscription-key=s3cr3t-value"))
    );
    let events = ran.http_events();
    assert_eq!(events.len(), 2);
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["node"], "call");
        assert_eq!(event["method"], "GET");
        assert_eq!(event["attempt"], i + 1);
        assert!(event["ms"].is_u64(), "{event}");
        let url = event["url"].as_str().unwrap();
        assert!(url.starts_with(&format!("{}/data?", server.uri())), "{url}");
        assert!(url.contains("q=visible"), "{url}");
        assert!(!url.contains("flow-secret"), "{url}");
    }
    assert_eq!(events[0]["status"], 503);
    assert_eq!(events[1]["status"], 200);
    // Graph's request-id is kept when it comes; every attempt sent a fresh client-request-id.
    assert!(events[0].get("request_id").is_none(), "{}", events[0]);
    assert_eq!(events[1]["request_id"], "rid-2");
    let ids: Vec<String> = received
        .iter()
        .map(|r| r.headers.get("client-request-id").unwrap().to_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    for id in &ids {
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
        assert_eq!(&id[14..15], "4", "version 4: {id}");
    }
    let all = format!("{} {}", ran.vars, serde_json::to_string(&ran.trace).unwrap());
    assert!(!all.contains("s3cr3t-value"), "{all}");
    assert!(!all.contains("flow-secret"), "{all}");
}

// ---------------------------------------------------------------------------------------------
// Done when: the Graph calendar through the simulator, with throttling, 5xx, dropped
// connections and a token that expires mid-run, yields exactly the ground truth.

struct Graph {
    sim: Arc<weft_sim::SimHandle>,
    manager: Arc<TokenManager>,
    _dir: tempfile::TempDir,
}

async fn graph(span_days: u32) -> Graph {
    let sim = Simulator::start(SimConfig {
        seed: 11,
        anchor: at("2026-11-23T12:00:00Z"),
        span_days,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let profiles = json!({ "graph-app": {
        "type": "oauth2", "grant": "client_credentials",
        "token_url": sim.token_url(),
        "client_id": weft_sim::APP_CLIENT_ID,
        "client_secret": "${env.GRAPH_SECRET}",
        "scopes": ["https://graph.microsoft.com/.default"],
        "max_concurrent": 4,
        "hosts": ["127.0.0.1:*"] } });
    let manager =
        token_manager(&dir, profiles, &["graph-app"], &[("GRAPH_SECRET", APP_CLIENT_SECRET)]);
    Graph { sim: Arc::new(sim), manager, _dir: dir }
}

/// Expires every access token once the simulator has seen `after` Graph requests.
fn expire_tokens_after(sim: &Arc<weft_sim::SimHandle>, after: u64) -> tokio::task::JoinHandle<()> {
    let sim = sim.clone();
    tokio::spawn(async move {
        while sim.counters().graph_requests < after {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        sim.expire_tokens();
    })
}

/// Waits for the task of [`expire_tokens_after`]: done by the time a run that made enough
/// requests ended.
async fn expired(expiry: tokio::task::JoinHandle<()>) {
    let done = tokio::time::timeout(Duration::from_secs(10), expiry).await;
    done.expect("the run made fewer requests than the expiry waits for").unwrap();
}

const USER: &str = "adele@weft.test";

/// The calendar flow the way the documentation draws it: sign in, fetch, import into `events`
/// (append), a decision on `@odata.nextLink`, and a fetch of the next link in a loop.
fn design_calendar_flow() -> Value {
    let retry = json!({ "initial_ms": 20, "max_ms": 200 });
    json!({
        "format": "weft.flow/1",
        "name": "graph-calendar-loop",
        "parameters": { "graph_base": { "type": "string" }, "user": { "type": "string" },
                        "from": { "type": "string" }, "to": { "type": "string" },
                        "top": { "type": "integer", "default": 10 } },
        "variables": { "events": [] },
        "start": "sign_in",
        "nodes": [
            { "id": "sign_in", "type": "authentication", "profile": "graph-app" },
            { "id": "fetch", "type": "http_request", "method": "GET", "auth": "graph-app",
              "url": "${params.graph_base}/users/${url_encode(params.user)}/calendarView",
              "query": { "startDateTime": "${params.from}", "endDateTime": "${params.to}",
                         "$top": "${params.top}" },
              "headers": { "Prefer": "outlook.timezone=\"UTC\"" },
              "retry": retry, "into": "page" },
            { "id": "import", "type": "json_import", "from": "vars.page.body", "select": "/value",
              "append_to": "events" },
            { "id": "more", "type": "decision",
              "conditions": [ { "exit": "next_page",
                                "when": "vars.page.body.contains(\"@odata.nextLink\")" } ],
              "otherwise": "done" },
            { "id": "next", "type": "http_request", "method": "GET", "auth": "graph-app",
              "url": "${vars.page.body[\"@odata.nextLink\"]}",
              "headers": { "Prefer": "outlook.timezone=\"UTC\"" },
              "retry": retry, "into": "page" },
            { "id": "finish", "type": "end", "result": "vars.events" },
            { "id": "failed", "type": "end", "status": "failed", "result": "vars.error" }
        ],
        "edges": [
            { "from": "sign_in", "to": "fetch" },
            { "from": "sign_in", "exit": "error", "to": "failed" },
            { "from": "fetch", "to": "import" },
            { "from": "fetch", "exit": "error", "to": "failed" },
            { "from": "import", "to": "more" },
            { "from": "import", "exit": "error", "to": "failed" },
            { "from": "more", "exit": "next_page", "to": "next" },
            { "from": "more", "exit": "done", "to": "finish" },
            { "from": "next", "to": "import" },
            { "from": "next", "exit": "error", "to": "failed" }
        ]
    })
}

/// The same with one paginating `http_request`.
fn paginated_calendar_flow() -> Value {
    let mut flow = design_calendar_flow();
    flow["name"] = json!("graph-calendar-paged");
    flow["nodes"] = json!([
        { "id": "sign_in", "type": "authentication", "profile": "graph-app" },
        { "id": "fetch", "type": "http_request", "method": "GET", "auth": "graph-app",
          "url": "${params.graph_base}/users/${url_encode(params.user)}/calendarView",
          "query": { "startDateTime": "${params.from}", "endDateTime": "${params.to}",
                     "$top": "${params.top}" },
          "retry": { "initial_ms": 20, "max_ms": 200 },
          "paginate": { "next": "response.body[\"@odata.nextLink\"]", "items": "/value" },
          "into": "page" },
        { "id": "finish", "type": "end", "result": "vars.page.items" },
        { "id": "failed", "type": "end", "status": "failed", "result": "vars.error" }
    ]);
    flow["edges"] = json!([
        { "from": "sign_in", "to": "fetch" },
        { "from": "sign_in", "exit": "error", "to": "failed" },
        { "from": "fetch", "to": "finish" },
        { "from": "fetch", "exit": "error", "to": "failed" }
    ]);
    flow
}

fn ids(items: &[Value]) -> Vec<&str> {
    items.iter().map(|i| i["id"].as_str().unwrap()).collect()
}

#[track_caller]
fn assert_exactly(got: &Value, truth: &[Value]) {
    let got = got.as_array().unwrap_or_else(|| panic!("not a list: {got}"));
    let unique: std::collections::HashSet<&str> = ids(got).into_iter().collect();
    assert_eq!(unique.len(), got.len(), "duplicated items");
    assert_eq!(ids(got), ids(truth), "items lost, duplicated or out of order");
    assert_eq!(got, truth, "items differ from the ground truth");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn design_calendar_flow_yields_the_ground_truth_through_faults_and_expiry() {
    let g = graph(60).await;
    g.sim.set_faults(FaultConfig::every(
        3,
        vec![
            FaultKind::throttle("0.1"),
            FaultKind::ServiceUnavailable { retry_after: None },
            FaultKind::DropConnection,
            FaultKind::GatewayTimeout,
        ],
    ));
    let (from, to) = ("2026-11-02T00:00:00Z", "2026-12-14T00:00:00Z");
    let truth = g.sim.ground_truth(USER, at(from), at(to));
    assert!(truth.len() > 100, "a window of many pages ({} items)", truth.len());
    let expiry = expire_tokens_after(&g.sim, 12);
    let ran = run_with(
        design_calendar_flow(),
        services(Some(g.manager.clone())),
        json!({ "graph_base": g.sim.graph_base(), "user": USER, "from": from, "to": to,
                "top": 10 }),
    )
    .await;
    ran.assert_succeeded();
    expired(expiry).await;
    assert_exactly(&ran.report.result.to_json(), &truth);
    let c = g.sim.counters();
    assert!(c.faults_429 > 0 && c.faults_503 > 0 && c.faults_dropped > 0, "{c:?}");
    assert_eq!(c.graph_401, 1, "exactly one request met the expired token: {c:?}");
    assert_eq!(c.tokens_client_credentials, 2, "one sign-in and one renewal: {c:?}");
    assert_eq!(c.calendar_view_pages as usize, truth.len().div_ceil(10));
    assert_no_token_in(&ran, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_160_page_window_completes_with_exactly_the_ground_truth() {
    let g = graph(400).await;
    g.sim.set_faults(FaultConfig::every(3, vec![FaultKind::throttle("0.1")]));
    let (from, to) = ("2026-06-01T00:00:00Z", "2027-05-01T00:00:00Z");
    let truth = g.sim.ground_truth(USER, at(from), at(to));
    let top = truth.len() / 160;
    assert!(top >= 2, "enough items for 160 pages of at least 2 ({})", truth.len());
    let pages = truth.len().div_ceil(top);
    assert!(pages >= 160);
    let expiry = expire_tokens_after(&g.sim, 100);
    let started = Instant::now();
    let ran = run_with(
        paginated_calendar_flow(),
        services(Some(g.manager.clone())),
        json!({ "graph_base": g.sim.graph_base(), "user": USER, "from": from, "to": to,
                "top": top }),
    )
    .await;
    let elapsed = started.elapsed();
    ran.assert_succeeded();
    expired(expiry).await;
    assert_exactly(&ran.report.result.to_json(), &truth);
    assert_eq!(ran.var("page")["pages"], pages);
    let c = g.sim.counters();
    assert_eq!(c.calendar_view_pages as usize, pages);
    assert_eq!(c.graph_401, 1, "{c:?}");
    eprintln!(
        "160-page window: {pages} pages, {} items, {} throttled, {elapsed:?} ({:?} per page)",
        truth.len(),
        c.faults_429,
        elapsed / pages as u32
    );
}

// ---------------------------------------------------------------------------------------------
// Response bodies that wait as JSON text

/// fetch → 200? → import `from` → end, the shape of the page flow `weft serve` is measured with.
fn import_flow(url: &str, from: &str, select: Option<&str>) -> Value {
    let mut import = json!({ "id": "import", "type": "json_import", "from": from,
        "map": "#{ id: item.id, subject: item.subject, start: item.start, where: item.location?.displayName }",
        "fields": { "id": "string", "subject": "string?", "start": "datetime", "where": "string?" },
        "into": "events" });
    if let Some(select) = select {
        import["select"] = json!(select);
    }
    json!({ "format": "weft.flow/1", "name": "import", "start": "fetch", "nodes": [
        { "id": "fetch", "type": "http_request", "url": url, "into": "page" },
        { "id": "check", "type": "decision",
          "conditions": [ { "exit": "ok", "when": "vars.page.status == 200" } ], "otherwise": "no" },
        import,
        { "id": "done", "type": "end", "result": "vars.events" },
        { "id": "no", "type": "end", "status": "failed", "result": "vars.page.status" }
    ], "edges": [
        { "from": "fetch", "to": "check" }, { "from": "check", "exit": "ok", "to": "import" },
        { "from": "check", "exit": "no", "to": "no" }, { "from": "import", "to": "done" }
    ] })
}

async fn json_server(body: &'static str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(body.as_bytes(), "application/json; charset=utf-8"),
        )
        .mount(&server)
        .await;
    server
}

/// `vars` without the response's `date` header, which two runs a second apart don't share.
fn undated(vars: &Value) -> Value {
    let mut vars = vars.clone();
    vars["page"]["headers"].as_object_mut().unwrap().remove("date");
    vars
}

#[tokio::test]
async fn a_body_only_an_import_reads_waits_as_text_with_the_same_results() {
    const PAGE: &str = r#"{"@odata.context":"x","value":[
        {"id":"a","subject":"Stand-up","start":{"dateTime":"2026-11-23T09:00:00.0000000","timeZone":"UTC"},"location":{"displayName":"Room 1"},"extra":[1,2,{"deep":true}]},
        {"id":"b","subject":null,"start":{"dateTime":"2026-11-23T10:30:00.0000000","timeZone":"W. Europe Standard Time"}}],
        "@odata.nextLink":"https://graph.test/next"}"#;
    let server = json_server(PAGE).await;
    let url = format!("{}/page", server.uri());
    for (from, select) in [
        ("vars.page.body.value", None),
        ("vars.page.body", Some("/value")),
        ("vars.page", Some("/body/value")),
    ] {
        let flow = import_flow(&url, from, select);
        let lazy = run_traced(flow.clone(), services(None), json!({}), false).await;
        let eager = run_traced(flow, services(None), json!({}), true).await;
        lazy.assert_succeeded();
        eager.assert_succeeded();
        assert!(lazy.body_was_text, "{from}: nothing read the body as values");
        assert!(!eager.body_was_text, "{from}: a trace records the parsed body");
        assert_eq!(lazy.report.result.to_json(), eager.report.result.to_json(), "{from}");
        assert_eq!(lazy.report.result.to_json()[1]["start"], "2026-11-23T09:30:00Z");
        // Read afterwards, the body is the parsed value, as if it had never waited.
        assert_eq!(undated(&lazy.vars), undated(&eager.vars), "{from}");
        assert_eq!(lazy.vars["page"]["body"]["value"][0]["extra"][2]["deep"], true);
    }
}

#[tokio::test]
async fn a_body_read_by_an_expression_or_an_unsure_import_is_parsed_first() {
    // Item b's start is no datetime: the import's plan steps aside and the general path reads
    // `from` through Rhai, which must see the parsed body and report the same error.
    const PAGE: &str = r#"{"value":[{"id":"a","start":{"dateTime":"2026-11-23T09:00:00","timeZone":"UTC"}},
        {"id":"b","start":"soon"}]}"#;
    let server = json_server(PAGE).await;
    let url = format!("{}/page", server.uri());
    let flow = import_flow(&url, "vars.page.body.value", None);
    let lazy = run_traced(flow.clone(), services(None), json!({}), false).await;
    let eager = run_traced(flow, services(None), json!({}), true).await;
    assert_eq!(lazy.error()["message"], eager.error()["message"]);
    assert!(
        lazy.error()["message"].as_str().unwrap().starts_with("/1/start: expected datetime"),
        "{}",
        lazy.vars
    );
    assert!(!lazy.body_was_text);
    assert_eq!(undated(&lazy.vars), undated(&eager.vars));

    // A decision that reads the body makes the flow parse it as it arrives.
    const GOOD: &str =
        r#"{"value":[{"id":"a","start":{"dateTime":"2026-11-23T09:00:00","timeZone":"UTC"}}]}"#;
    let server = json_server(GOOD).await;
    let mut flow = import_flow(&format!("{}/page", server.uri()), "vars.page.body.value", None);
    flow["nodes"][1]["conditions"][0]["when"] = json!("vars.page.body.value.len() == 1");
    let ran = run_traced(flow, services(None), json!({}), false).await;
    ran.assert_succeeded();
    assert!(!ran.body_was_text);
    assert_eq!(ran.report.result.to_json()[0]["id"], "a");
}

#[tokio::test]
async fn a_body_that_is_not_json_fails_at_the_fetch_as_before() {
    let server = json_server(r#"{"value": [1, 2,]}"#).await;
    let flow = import_flow(&format!("{}/page", server.uri()), "vars.page.body.value", None);
    let lazy = run_traced(flow.clone(), services(None), json!({}), false).await;
    let eager = run_traced(flow, services(None), json!({}), true).await;
    assert_eq!(lazy.error()["node"], "fetch");
    assert_eq!(lazy.error()["message"], eager.error()["message"]);
    assert!(lazy.error()["message"].as_str().unwrap().contains("not valid JSON"));
}
