//! `weft serve`, started in-process on a free port and driven over HTTP: the documented
//! answers (200, 422, 400, 404, 413, 503 with Retry-After, 504, 401), traces, the flow listing,
//! and the calendar flow against the simulator with many concurrent runs sharing one token.

use crate::util::http::{client, read, until_called};
use crate::util::{Running, Weft, anchor, busy_flow, flows, root, sim_at_anchor};
use chrono::Duration as Days;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft::serve::{ServeConfig, ServeError, Server, ServerHandle};
use weft_sim::{APP_CLIENT_SECRET, SimConfig};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ECHO: &str = r##"{
  "format": "weft.flow/1",
  "description": "Greets someone",
  "parameters": {
    "name": { "type": "string", "required": true, "description": "Who" },
    "n": { "type": "integer", "default": 1 }
  },
  "start": "double",
  "nodes": [
    { "id": "double", "type": "assign", "set": { "vars.twice": "params.n * 2" } },
    { "id": "done", "type": "end", "result": "#{ greeting: `hello ${params.name}`, twice: vars.twice }" }
  ],
  "edges": [ { "from": "double", "to": "done" } ]
}"##;

const FAIL: &str = r#"{
  "format": "weft.flow/1",
  "parameters": { "n": { "type": "integer", "default": 0 } },
  "start": "divide",
  "nodes": [
    { "id": "divide", "type": "assign", "set": { "vars.x": "10 / params.n" } },
    { "id": "done", "type": "end", "result": "vars.x" }
  ],
  "edges": [ { "from": "divide", "to": "done" } ]
}"#;

const SLOW: &str = r#"{
  "format": "weft.flow/1",
  "description": "Calls a URL and answers its status",
  "parameters": { "url": { "type": "string", "required": true } },
  "start": "call",
  "nodes": [
    { "id": "call", "type": "http_request", "method": "GET", "url": "${params.url}" },
    { "id": "done", "type": "end", "result": "vars.response.status" }
  ],
  "edges": [ { "from": "call", "to": "done" } ]
}"#;

const BROKEN: &str = r#"{ "format": "weft.flow/1", "start": "nowhere", "nodes": [] }"#;

const NEEDS_PROFILE: &str = r#"{
  "format": "weft.flow/1",
  "start": "sign_in",
  "nodes": [ { "id": "sign_in", "type": "authentication", "profile": "nobody" } ]
}"#;

/// A directory of test flows.
fn flow_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("echo.flow.json", ECHO),
        ("fail.flow.json", FAIL),
        ("slow.flow.json", SLOW),
        ("broken.flow.json", BROKEN),
        ("needs-profile.flow.json", NEEDS_PROFILE),
        ("notes.txt", "not a flow"),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn config(dir: &Path) -> ServeConfig {
    let mut config = ServeConfig::new(dir);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.state_dir = Some(dir.join("state"));
    config
}

async fn start(config: ServeConfig) -> ServerHandle {
    weft::http::ensure_crypto_provider();
    Server::bind(config).await.unwrap()
}

/// POSTs `body` (raw text) as JSON and returns the status, the headers and the JSON answer.
async fn post(
    client: &reqwest::Client,
    url: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    crate::util::http::post(client, url, "application/json", body).await
}

/// GETs `url`: the status and the JSON answer.
async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let (status, _, body) = read(client.get(url)).await;
    (status, body)
}

/// The address a `weft serve` started on port 0 serves on, once it serves (from the first
/// line of its summary: "Serving N of M flows on URL: …").
fn served_url(server: &mut Running) -> String {
    let line = tokio::task::block_in_place(|| server.stderr_line(|l| l.starts_with("Serving ")));
    let from = line.find("http://").unwrap_or_else(|| panic!("no address in {line:?}"));
    line[from..].split(": ").next().unwrap().to_owned()
}

/// Waits, within 10 s, until the `/health` of the server at `url` counts `n` runs in flight;
/// each of its answers comes within 5 s, also while runs compute (they run apart from the
/// server's own threads).
async fn until_in_flight(http: &reqwest::Client, url: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let health = http.get(format!("{url}/health")).timeout(Duration::from_secs(5)).send();
        let body: Value = match health.await {
            Ok(r) if r.status() == 200 => serde_json::from_str(&r.text().await.unwrap()).unwrap(),
            Ok(r) => panic!("/health answered {}", r.status()),
            Err(err) => panic!("/health did not answer while runs compute: {err}"),
        };
        if body["runs_in_flight"] == n {
            return;
        }
        assert!(Instant::now() < deadline, "{n} runs never got going: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What `flows/profiles.sim.json` reads from the environment, for `sim`.
fn sim_env(sim: &weft_sim::SimHandle) -> weft::engine::EnvLookup {
    let sim_url = sim.base_url();
    Arc::new(move |name: &str| match name {
        "WEFT_SIM_URL" => Some(sim_url.clone()),
        "WEFT_SIM_SECRET" => Some(APP_CLIENT_SECRET.to_owned()),
        _ => None,
    })
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_else(|| panic!("no error message: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_answer_with_their_result_or_a_json_error() {
    let dir = flow_dir();
    let server = start(config(dir.path())).await;
    let url = server.url();
    let http = client();

    assert_eq!(server.flows(), ["echo", "fail", "slow"]);
    let skipped: Vec<String> = server
        .skipped()
        .iter()
        .map(|s| s.file.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(skipped, ["broken.flow.json", "needs-profile.flow.json"]);
    let no_profiles = &server.skipped()[1].reason;
    assert!(no_profiles.contains("profiles file"), "{no_profiles}");
    // A flow that is not served is named with its reason, in the list and in the 404.
    let (status, body) = get(&http, &format!("{url}/flows")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["skipped"][1]["name"], "needs-profile", "{body}");
    assert_eq!(body["skipped"][1]["reason"].as_str(), Some(no_profiles.as_str()), "{body}");
    let (status, _, body) = post(&http, &format!("{url}/runs/needs-profile"), "{}").await;
    assert_eq!(status, 404, "{body}");
    assert!(message(&body).starts_with("flow `needs-profile` is not served: "), "{body}");
    assert!(message(&body).contains("profiles file"), "{body}");

    // Success.
    let (status, _, body) =
        post(&http, &format!("{url}/runs/echo"), r#"{"name": "Ada", "n": 21}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "status": "succeeded", "result": { "greeting": "hello Ada", "twice": 42 } })
    );

    // A failing flow: 422 with the error.
    let (status, _, body) = post(&http, &format!("{url}/runs/fail"), "{}").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["status"], "failed");
    assert_eq!(body["result"], Value::Null);
    assert_eq!(body["error"]["node"], "divide");
    assert_eq!(body["error"]["category"], "expression");

    // Bad parameters: 400 naming the parameter.
    let (status, _, body) = post(&http, &format!("{url}/runs/echo"), r#"{"n": 2}"#).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["parameter"], "name");
    assert!(message(&body).contains("`name`"), "{body}");
    let (status, _, body) =
        post(&http, &format!("{url}/runs/echo"), r#"{"name": "Ada", "n": "two"}"#).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["parameter"], "n");
    assert!(message(&body).contains("expected an integer"), "{body}");
    let (status, _, body) =
        post(&http, &format!("{url}/runs/echo"), r#"{"name": "Ada", "colour": "red"}"#).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["parameter"], "colour");
    // What the request says is echoed only in part.
    let long = "p".repeat(5000);
    let (status, _, body) =
        post(&http, &format!("{url}/runs/echo"), format!(r#"{{"name": "Ada", "{long}": 1}}"#))
            .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().len() < 1000, "{body}");
    assert!(body["error"]["parameter"].as_str().unwrap().starts_with("ppp"), "{body}");
    let (status, _, body) = post(&http, &format!("{url}/runs/echo"), "[1, 2]").await;
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("JSON object"), "{body}");
    let (status, _, body) = post(&http, &format!("{url}/runs/echo"), r#"{"name": "#).await;
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("not valid JSON"), "{body}");
    let (status, _, body) =
        post(&http, &format!("{url}/runs/echo"), vec![0xffu8, 0x00, 0x7b]).await;
    assert_eq!(status, 400, "{body}");
    let deep = "[".repeat(100_000);
    let (status, _, body) = post(&http, &format!("{url}/runs/echo"), deep).await;
    assert_eq!(status, 400, "{body}");

    // Unknown flows and routes: 404; wrong methods: 405; all JSON.
    let (status, _, body) = post(&http, &format!("{url}/runs/nope"), "{}").await;
    assert_eq!(status, 404, "{body}");
    assert!(message(&body).contains("`nope`") && message(&body).contains("echo"), "{body}");
    let (status, _, body) = post(&http, &format!("{url}/runs/broken"), "{}").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = get(&http, &format!("{url}/elsewhere")).await;
    assert_eq!(status, 404, "{body}");
    // `GET /runs/{id}` reads a stored run; this server keeps none.
    let (status, body) = get(&http, &format!("{url}/runs/echo")).await;
    assert_eq!(status, 404, "{body}");
    assert!(message(&body).contains("keeps no runs"), "{body}");
    let (status, _, body) = read(http.delete(format!("{url}/runs/echo"))).await;
    assert_eq!(status, 405, "{body}");

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413() {
    let dir = flow_dir();
    let mut config = config(dir.path());
    config.max_body = 1024;
    let server = start(config).await;
    let http = client();
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(2000));
    let (status, _, body) = post(&http, &format!("{}/runs/echo", server.url()), big).await;
    assert_eq!(status, 413, "{body}");
    assert!(message(&body).contains("larger"), "{body}");
    // Chunked, without a Content-Length.
    let chunk = "x".repeat(100);
    let mut request = String::from(
        "POST /runs/echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
    );
    for _ in 0..20 {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    let answer = raw(server.addr(), request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#"{"error":{"message":"#), "{answer}");
    // A declared length over the limit is refused without waiting for the body.
    let answer = raw(
        server.addr(),
        b"POST /runs/echo HTTP/1.1\r\nhost: x\r\ncontent-length: 99999999999\r\nconnection: close\r\n\r\n{}",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Just under the limit is fine.
    let fits = format!(r#"{{"name": "{}"}}"#, "x".repeat(1000));
    let (status, _, body) = post(&http, &format!("{}/runs/echo", server.url()), fits).await;
    assert_eq!(status, 200, "{body}");
    server.shutdown().await;
}

/// Sends raw bytes (`host: x` becomes the server's address) and reads the answer until the
/// server closes the connection.
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let request = String::from_utf8_lossy(request).replace("host: x", &format!("host: {addr}"));
    crate::util::http::raw(&addr.to_string(), request.as_bytes()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_never_brings_the_server_down() {
    let dir = flow_dir();
    let server = start(config(dir.path())).await;
    for request in [
        &b"\x00\x01\x02 nonsense\r\n\r\n"[..],
        b"POST /runs/echo HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\nconnection: close\r\n\r\n{\"na",
        b"POST /runs/%ff%fe HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
        b"POST /runs/echo HTTP/1.1\r\nhost: x\r\ncontent-length: 99999999999\r\nconnection: close\r\n\r\n{}",
    ] {
        let answer = raw(server.addr(), request).await;
        assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
        assert!(!answer.starts_with("HTTP/1.1 403"), "not what this test is about: {answer}");
    }
    let answer = raw(
        server.addr(),
        b"POST /runs/%ff%fe HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    let (status, body) = get(&client(), &format!("{}/health", server.url())).await;
    assert_eq!(status, 200, "{body}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_only_loopback_names_and_no_foreign_pages_are_answered() {
    let dir = flow_dir();
    let server = start(config(dir.path())).await;
    let url = format!("{}/runs/echo", server.url());
    let http = client();
    let ada = r#"{"name": "Ada"}"#;
    let send = |host: Option<String>, origin: Option<&'static str>| {
        let mut request = http.post(&url).header("content-type", "text/plain").body(ada);
        if let Some(host) = host {
            request = request.header("host", host);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };
    let port = server.addr().port();
    // DNS rebinding: the page's own name reaches the server's address.
    let (status, body) = send(Some(format!("attacker.example:{port}")), None).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains(r#"{"error":{"message":"#), "{body}");
    // A cross-site request from a page elsewhere (a "simple" request: no preflight).
    let (status, body) = send(None, Some("http://evil.example")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("cross-origin"), "{body}");
    let (status, _) = send(None, Some("null")).await;
    assert_eq!(status, 403);
    // The loopback names, with or without a same-server origin, are answered.
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let (status, body) = send(Some(host), None).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = send(None, Some("http://localhost")).await;
    assert_eq!(status, 403, "another port is another origin: {body}");
    let origin: &'static str = format!("http://127.0.0.1:{port}").leak();
    let (status, body) = send(None, Some(origin)).await;
    assert_eq!(status, 200, "{body}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_gets_408() {
    let dir = flow_dir();
    let mut config = config(dir.path());
    config.body_timeout = Duration::from_millis(200);
    let server = start(config).await;
    let answer = raw(
        server.addr(),
        b"POST /runs/echo HTTP/1.1\r\nhost: x\r\ncontent-length: 20\r\n\r\n{\"na",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive"), "{answer}");
    let (status, _) = get(&client(), &format!("{}/health", server.url())).await;
    assert_eq!(status, 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_bounded() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = flow_dir();
    // Headers that never end: the connection is closed.
    let mut config = config(dir.path());
    config.header_timeout = Duration::from_millis(200);
    let server = start(config).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let half = format!("POST /runs/echo HTTP/1.1\r\nhost: {}\r\n", server.addr());
    tcp.write_all(half.as_bytes()).await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection was left open");
    server.shutdown().await;

    // At most `max_connections` open: a new one takes the place of the oldest that has not sent
    // a request, and is closed at once only when every connection has a request in flight.
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&upstream)
        .await;
    let mut config = self::config(dir.path());
    config.max_connections = 2;
    let server = start(config).await;
    let mut idle = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let _younger = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _) = get(&client(), &format!("{}/health", server.url())).await;
    assert_eq!(status, 200, "no room was made");
    let mut nothing = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), idle.read_to_end(&mut nothing));
    assert!(matches!(closed.await, Ok(Ok(0)) | Ok(Err(_))), "the oldest idle connection stayed");
    // Two runs in flight hold both connections: a third is closed, not one of theirs. Each
    // run starts once the one before is in flight (its request reached the upstream): a
    // connection that has not sent its request yet is one a newcomer may take the place of.
    let slow = json!({ "url": format!("{}/slow", upstream.uri()) }).to_string();
    let mut runs = Vec::new();
    for n in 1..=2 {
        let (url, slow) = (format!("{}/runs/slow", server.url()), slow.clone());
        runs.push(tokio::spawn(async move { post(&client(), &url, slow).await }));
        until_called(&upstream, n).await;
    }
    let mut extra = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(1), extra.read_to_end(&mut nothing));
    assert!(matches!(refused.await, Ok(Ok(0)) | Ok(Err(_))), "a third connection was served");
    for run in runs {
        let (status, _, body) = run.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    server.shutdown().await;
}

/// Opens a connection, sends the start of a request and then one more header line every
/// `pace`, until the server closes the connection or answers; then, after a quarter of
/// `pace`, starts over, until `stop`.
async fn trickle(
    addr: std::net::SocketAddr,
    pace: Duration,
    stop: Arc<std::sync::atomic::AtomicBool>,
    closed: Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut tcp) = tokio::net::TcpStream::connect(addr).await else {
            tokio::time::sleep(pace).await;
            continue;
        };
        let start = format!("GET /health HTTP/1.1\r\nhost: {addr}\r\n");
        let mut open = tcp.write_all(start.as_bytes()).await.is_ok();
        while open && !stop.load(Ordering::Relaxed) {
            let mut buf = [0u8; 256];
            open = match tokio::time::timeout(pace, tcp.read(&mut buf)).await {
                Err(_) => tcp.write_all(b"x-slow: 1\r\n").await.is_ok(),
                // Closed, or answered (an error): start over.
                Ok(_) => false,
            };
        }
        closed.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(pace / 4).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_slowloris_against_weft_serve() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let dir = flow_dir();
    let mut config = config(dir.path());
    config.max_connections = 256;
    let server = start(config).await;
    // More clients trickling headers than there are connections, reconnecting when cut off.
    let (stop, closed) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let attackers: Vec<_> = (0..300)
        .map(|_| {
            let pace = Duration::from_millis(400);
            tokio::spawn(trickle(server.addr(), pace, stop.clone(), closed.clone()))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Probes, each on a new connection, as a load balancer's health checks come.
    let probes = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let mut answered = 0;
    for _ in 0..40 {
        let response = probes.get(format!("{}/health", server.url())).send().await;
        answered += usize::from(response.is_ok_and(|r| r.status() == 200));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker.await.unwrap();
    }
    assert!(closed.load(Ordering::Relaxed) >= 40, "the attack never filled the server");
    assert!(answered >= 36, "only {answered} of 40 health probes were answered");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_loose_host_handling_in_weft_serve() {
    let dir = flow_dir();
    let server = start(config(dir.path())).await;
    let (addr, port) = (server.addr(), server.addr().port());
    let health = |head: &str| format!("GET /health HTTP/1.1\r\n{head}connection: close\r\n\r\n");
    for (head, status) in [
        (String::new(), "400"),
        ("host: \r\n".to_owned(), "400"),
        (format!("host: 127.0.0.1:{port}\r\nhost: evil.example\r\n"), "400"),
        (format!("host: evil.example\r\nhost: 127.0.0.1:{port}\r\n"), "400"),
        // The loopback names on another port: a forwarder or a hand-made request.
        ("host: localhost:1\r\n".to_owned(), "403"),
        ("host: localhost\r\n".to_owned(), "403"),
        (
            format!(
                "host: localhost:{port}\r\norigin: http://localhost:{port}\r\norigin: http://evil.example\r\n"
            ),
            "400",
        ),
        (format!("host: localhost:{port}\r\n"), "200"),
        (format!("host: [::1]:{port}\r\n"), "200"),
    ] {
        let answer = raw(addr, health(&head).as_bytes()).await;
        assert!(answer.starts_with(&format!("HTTP/1.1 {status}")), "{head:?}: {answer}");
    }
    // HTTP/1.0 did not require a Host (and no browser sends it).
    let answer = raw(addr, b"GET /health HTTP/1.0\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.shutdown().await;

    // With a token any name will do, but the Host must still be one and not empty.
    let mut config = config(dir.path());
    config.token = Some("a-long-access-token".into());
    let server = start(config).await;
    let bearer = "authorization: Bearer a-long-access-token\r\n";
    for (head, status) in [
        (format!("host: weft.example.org\r\n{bearer}"), "200"),
        (format!("host: \r\n{bearer}"), "400"),
        (format!("host: a.example\r\nhost: b.example\r\n{bearer}"), "400"),
    ] {
        let answer = raw(server.addr(), health(&head).as_bytes()).await;
        assert!(answer.starts_with(&format!("HTTP/1.1 {status}")), "{head:?}: {answer}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturation_gets_503_with_retry_after_and_slow_runs_time_out() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&upstream)
        .await;
    let slow = json!({ "url": format!("{}/slow", upstream.uri()) }).to_string();
    let dir = flow_dir();
    let mut config = config(dir.path());
    config.max_runs = 2;
    let server = start(config).await;
    let url = server.url();
    let http = client();

    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (http, url, slow) = (http.clone(), url.clone(), slow.clone());
            tokio::spawn(async move { post(&http, &format!("{url}/runs/slow"), slow).await })
        })
        .collect();
    until_in_flight(&http, &url, 2).await;
    let (status, headers, body) = post(&http, &format!("{url}/runs/slow"), slow.clone()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    assert!(message(&body).contains("busy"), "{body}");
    // Cheap requests still answer while the slots are taken.
    let (status, body) = get(&http, &format!("{url}/flows")).await;
    assert_eq!(status, 200, "{body}");
    for run in runs {
        let (status, _, body) = run.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], 200);
    }
    let (status, _, body) = post(&http, &format!("{url}/runs/slow"), slow.clone()).await;
    assert_eq!(status, 200, "slots are given back: {body}");
    server.shutdown().await;

    // The per-run time limit: 504.
    let mut config = self::config(dir.path());
    config.timeout = Some(Duration::from_millis(300));
    let server = start(config).await;
    let started = Instant::now();
    let (status, _, body) = post(&http, &format!("{}/runs/slow?trace=1", server.url()), slow).await;
    assert_eq!(status, 504, "{body}");
    // Well before the upstream's 3 s.
    assert!(started.elapsed() < Duration::from_millis(2500), "{:?}", started.elapsed());
    assert_eq!(body["status"], "failed");
    assert_eq!(body["error"]["category"], "timeout");
    assert_eq!(body["error"]["node"], "call");
    assert_eq!(body["trace"].as_array().unwrap().last().unwrap()["event"], "run_finished");
    // A fast flow on the same server is unaffected.
    let (status, _, body) =
        post(&http, &format!("{}/runs/echo", server.url()), r#"{"name": "Ada"}"#).await;
    assert_eq!(status, 200, "{body}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_flows_and_health() {
    let dir = flow_dir();
    let server = start(config(dir.path())).await;
    let url = server.url();
    let http = client();

    let (status, _, body) =
        post(&http, &format!("{url}/runs/echo?trace=1"), r#"{"name": "Ada"}"#).await;
    assert_eq!(status, 200, "{body}");
    let events: Vec<&str> =
        body["trace"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "run_started",
            "node_started",
            "node_finished",
            "node_started",
            "node_finished",
            "run_finished"
        ]
    );
    let first = &body["trace"][0];
    assert_eq!(first["params"], json!({ "name": "Ada", "n": 1 }));
    assert!(first["run"].is_string() && first["at"].is_string());
    assert_eq!(body["trace"][2]["writes"], json!({ "twice": 2 }));
    // Without the flag there is no trace.
    let (_, _, body) = post(&http, &format!("{url}/runs/echo"), r#"{"name": "Ada"}"#).await;
    assert!(body.get("trace").is_none(), "{body}");
    // A failed run carries its trace too.
    let (status, _, body) = post(&http, &format!("{url}/runs/fail?trace=1"), "").await;
    assert_eq!(status, 422, "{body}");
    assert!(body["trace"].as_array().unwrap().len() >= 3, "{body}");

    let (status, body) = get(&http, &format!("{url}/flows")).await;
    assert_eq!(status, 200, "{body}");
    let flows = body["flows"].as_array().unwrap();
    let names: Vec<&str> = flows.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["echo", "fail", "slow"]);
    assert_eq!(flows[0]["description"], "Greets someone");
    assert_eq!(
        flows[0]["parameters"],
        json!({
            "name": { "type": "string", "required": true, "description": "Who" },
            "n": { "type": "integer", "required": false, "default": 1 }
        })
    );
    assert_eq!(body["skipped"].as_array().unwrap().len(), 2, "{body}");

    let (status, body) = get(&http, &format!("{url}/flows/echo")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "echo");
    assert_eq!(body["flow"], serde_json::from_str::<Value>(ECHO).unwrap());
    assert!(body["diagnostics"].is_array(), "{body}");
    let (status, body) = get(&http, &format!("{url}/flows/broken")).await;
    assert_eq!(status, 404, "{body}");

    let (status, body) = get(&http, &format!("{url}/health")).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["flows"], 3);
    assert_eq!(body["runs_in_flight"], 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_is_required_off_loopback_and_checked_on_every_request() {
    let dir = flow_dir();
    // Off loopback without a token: refused before binding anything.
    let mut public = config(dir.path());
    public.listen = "0.0.0.0:0".parse().unwrap();
    assert!(matches!(public.check(), Err(ServeError::TokenRequired(_))));
    let err = Server::bind(public.clone()).await.err().unwrap();
    assert!(err.to_string().contains("WEFT_SERVE_TOKEN"), "{err}");
    public.token = Some("  ".into());
    assert!(matches!(public.check(), Err(ServeError::EmptyToken)));
    public.token = Some("a-long-access-token".into());
    assert!(public.check().is_ok());
    let debug = format!("{public:?}");
    assert!(!debug.contains("a-long-access-token"), "{debug}");

    // With a token (here on loopback), every request must carry it.
    let mut config = config(dir.path());
    config.token = Some("a-long-access-token".into());
    let server = start(config).await;
    let url = server.url();
    let http = client();
    for path in ["/health", "/flows", "/flows/echo", "/nowhere"] {
        let response = http.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert!(!body.to_string().contains("a-long-access-token"));
    }
    for wrong in
        ["Bearer a-long-access-toke", "Bearer a-long-access-token-", "Basic a-long-access-token"]
    {
        let response = http
            .post(format!("{url}/runs/echo"))
            .header("authorization", wrong)
            .body(r#"{"name": "Ada"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{wrong}");
    }
    // The token decides, whatever name the request is addressed to (a proxy's, say).
    let response = http
        .post(format!("{url}/runs/echo"))
        .header("host", "weft.example.org")
        .header("authorization", "Bearer a-long-access-token")
        .body(r#"{"name": "Ada"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_are_independent() {
    let dir = flow_dir();
    let server = start(config(dir.path())).await;
    let url = server.url();
    let http = client();
    let runs: Vec<_> = (0..50)
        .map(|i| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                let body = json!({ "name": format!("user{i}"), "n": i }).to_string();
                (i, post(&http, &format!("{url}/runs/echo"), body).await)
            })
        })
        .collect();
    for run in runs {
        let (i, (status, _, body)) = run.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], json!({ "greeting": format!("hello user{i}"), "twice": 2 * i }));
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_runs_in_flight_finish() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(400)))
        .mount(&upstream)
        .await;
    let dir = flow_dir();
    let server = start(config(dir.path())).await;
    let url = server.url();
    let http = client();
    let slow = json!({ "url": upstream.uri() }).to_string();
    let run = {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move { post(&http, &format!("{url}/runs/slow"), slow).await })
    };
    until_called(&upstream, 1).await;
    server.shutdown().await;
    let (status, _, body) = run.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(http.get(format!("{url}/health")).send().await.is_err(), "no longer listening");

    // A run still going when the grace period ends is interrupted: 503, to be retried.
    let slower = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(20)))
        .mount(&slower)
        .await;
    let mut hasty = config(dir.path());
    hasty.shutdown_grace = Duration::from_millis(100);
    let server = start(hasty).await;
    let url = server.url();
    let slow = json!({ "url": slower.uri() }).to_string();
    let run = tokio::spawn(async move { post(&http, &format!("{url}/runs/slow"), slow).await });
    until_called(&slower, 1).await;
    server.shutdown().await;
    let (status, headers, body) = run.await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers["retry-after"], "1");
    assert!(message(&body).contains("interrupted"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_calendar_flow_runs_against_the_simulator_with_one_token_for_all_runs() {
    let sim = sim_at_anchor(SimConfig::default()).await;
    let flows = flows();
    let state = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::new(&flows);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.profiles = Some(flows.join("profiles.sim.json"));
    config.state_dir = Some(state.path().to_owned());
    config.env = sim_env(&sim);
    let server = start(config).await;
    assert!(server.flows().iter().any(|f| f == "graph-calendar"), "{:?}", server.flows());
    let url = server.url();
    let http = client();

    let user = "megan@weft.test";
    let (from, to) = (anchor(), anchor() + Days::days(7));
    let want = sim.ground_truth(user, from, to);
    assert!(!want.is_empty());
    let params = json!({
        "graph_base": sim.graph_base(), "user": user, "from": from.to_rfc3339(),
        "to": to.to_rfc3339(), "page_size": 7,
    })
    .to_string();
    let runs: Vec<_> = (0..20)
        .map(|_| {
            let (http, url, params) = (http.clone(), url.clone(), params.clone());
            tokio::spawn(
                async move { post(&http, &format!("{url}/runs/graph-calendar"), params).await },
            )
        })
        .collect();
    for run in runs {
        let (status, _, body) = run.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let items = body["result"].as_array().unwrap();
        assert_eq!(items.len(), want.len());
        let ids: Vec<&Value> = items.iter().map(|i| &i["id"]).collect();
        let want_ids: Vec<&Value> = want.iter().map(|i| &i["id"]).collect();
        assert_eq!(ids, want_ids);
    }
    assert_eq!(server.token_manager().unwrap().token_requests(), 1, "one token for all runs");

    // The trace shows the requests, and neither it nor the answer holds the token or secret.
    let (status, _, body) =
        post(&http, &format!("{url}/runs/graph-calendar?trace=1"), params).await;
    assert_eq!(status, 200);
    let text = body.to_string();
    assert!(text.contains(r#""event":"http""#), "{text}");
    assert!(!text.contains(APP_CLIENT_SECRET));
    assert!(!text.to_ascii_lowercase().contains("bearer "));
    server.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_cpu_bound_runs_block_health_and_lose_answers_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("busy.flow.json"), busy_flow()).unwrap();
    let mut config = config(dir.path());
    config.shutdown_grace = Duration::from_secs(2);
    let server = start(config).await;
    let url = server.url();
    let http = client();
    // As many computing runs as there are cores (this machine's and the test's runtime's).
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move { post(&http, &format!("{url}/runs/busy"), "{}").await })
        })
        .collect();
    until_in_flight(&http, &url, 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Shutting down: both requests get an answer, within the grace period.
    let started = Instant::now();
    server.shutdown().await;
    let took = started.elapsed();
    for run in runs {
        let (status, headers, body) = run.await.unwrap();
        assert_eq!(status, 503, "{body}");
        assert_eq!(headers["retry-after"], "1");
        assert!(message(&body).contains("interrupted"), "{body}");
    }
    // The grace, and time to spare on a busy machine; before the fix it was the expressions'
    // own 10 s limit.
    assert!(took <= Duration::from_secs(5), "shutdown took {took:?} of a 2 s grace");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_sigterm_while_runs_compute_drops_requests() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("busy.flow.json"), busy_flow()).unwrap();
    let mut server =
        Weft::new(dir.path(), ["serve", ".", "--listen", "127.0.0.1:0", "--grace", "3"])
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .spawn();
    let url = served_url(&mut server);
    let http = client();
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                let sent = http.post(format!("{url}/runs/busy")).body("{}").send().await;
                let response = sent.expect("every accepted request gets an answer");
                let status = response.status().as_u16();
                let retry = response.headers().get("retry-after").cloned();
                (status, retry, response.text().await.unwrap())
            })
        })
        .collect();
    until_in_flight(&http, &url, 2).await;
    server.signal("-TERM");
    let signalled = Instant::now();
    let out = tokio::task::spawn_blocking(move || server.finish()).await.unwrap();
    let took = signalled.elapsed();
    out.assert_code(0);
    for run in runs {
        let (status, retry, body) = run.await.unwrap();
        assert_eq!(status, 503, "{body}");
        assert!(retry.is_some(), "503 without Retry-After: {body}");
    }
    // 3 s of grace, and time for the process to end on a busy machine (not the expressions'
    // own 10 s limit).
    assert!(took < Duration::from_secs(6), "exit took {took:?} of a 3 s grace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_busy_run_outlives_the_per_run_timeout() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("busy.flow.json"), busy_flow()).unwrap();
    let mut config = config(dir.path());
    config.timeout = Some(Duration::from_secs(1));
    let server = start(config).await;
    let (status, _, body) = post(&client(), &format!("{}/runs/busy", server.url()), "{}").await;
    // The run's own deadline stopped the expression: the run's timeout error, not the
    // expression's 10 s limit.
    assert_eq!(status, 504, "{body}");
    assert!(message(&body).contains("the run timed out after 1 s"), "{body}");
    server.shutdown().await;
}

/// `weft serve flows --sim`, as the README says: the Graph flow is served and runs offline, with
/// no variable exported; the startup summary on stderr says what is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_sim_serves_the_graph_flows_of_the_readme() {
    let state = tempfile::tempdir().unwrap();
    let mut server = Weft::new(&root(), ["serve", "flows", "--sim", "--listen", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(state.path())
        .env_remove("TENANT_ID")
        .env_remove("GRAPH_CLIENT_ID")
        .env_remove("GRAPH_CLIENT_SECRET")
        .spawn();
    let url = served_url(&mut server);
    let http = client();
    let (status, _, body) =
        post(&http, &format!("{url}/runs/graph-calendar"), r#"{"user": "adele@weft.test"}"#).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body["result"].as_array().unwrap().is_empty(), "{body}");
    server.signal("-TERM");
    let out = tokio::task::spawn_blocking(move || server.finish()).await.unwrap();
    let shipped = crate::util::flow_files(&flows()).len();
    let serving = format!("Serving {shipped} of {shipped} flows");
    assert!(out.stderr.contains(&serving), "{}", out.stderr);
    assert!(!out.stderr.contains("Not serving"), "{}", out.stderr);
}

/// Graph answers a fifth request in flight for one app and mailbox with 429 (the simulator
/// too). The shipped profiles hold each mailbox to 4 (`max_concurrent_per_key`, keyed by the
/// calendar flow's `concurrency_key: ${params.user}`) across every run of the server, however
/// many runs go at once over several mailboxes; without that limit the simulator throttles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_over_many_mailboxes_never_send_a_fifth_request_to_one() {
    let latency = Duration::from_millis(20);
    let sim = sim_at_anchor(SimConfig { latency, ..SimConfig::default() }).await;
    let shipped = std::fs::read_to_string(flows().join("profiles.sim.json")).unwrap();
    assert!(shipped.contains(r#""max_concurrent_per_key": 4"#), "the shipped Graph profiles");
    let unlimited = shipped.replace(r#""max_concurrent_per_key": 4,"#, "");
    let mut throttled = Vec::new();
    for profiles in [shipped, unlimited] {
        sim.reset_counters();
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            flows().join("graph-calendar.flow.json"),
            dir.path().join("graph-calendar.flow.json"),
        )
        .unwrap();
        std::fs::write(dir.path().join("profiles.json"), profiles).unwrap();
        let mut config = config(dir.path());
        config.env = sim_env(&sim);
        let server = start(config).await;
        let (url, http) = (server.url(), client());
        let (from, to) = (anchor(), anchor() + Days::days(7));
        let runs: Vec<_> = ["adele@weft.test", "megan@weft.test", "alex@weft.test"]
            .iter()
            .flat_map(|user| std::iter::repeat_n(*user, 8))
            .map(|user| {
                let params = json!({
                    "graph_base": sim.graph_base(), "user": user, "from": from.to_rfc3339(),
                    "to": to.to_rfc3339(), "page_size": 7,
                })
                .to_string();
                let (http, url) = (http.clone(), url.clone());
                tokio::spawn(async move {
                    post(&http, &format!("{url}/runs/graph-calendar"), params).await
                })
            })
            .collect();
        for run in runs {
            let (status, _, body) = run.await.unwrap();
            assert_eq!(status, 200, "{body}");
        }
        throttled.push(sim.counters().mailbox_throttled);
        server.shutdown().await;
    }
    assert_eq!(throttled[0], 0, "with max_concurrent_per_key: 4, no mailbox is ever throttled");
    assert!(throttled[1] > 0, "without it, 24 runs at once are throttled (the check can fail)");
    sim.shutdown().await;
}
