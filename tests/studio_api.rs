//! Weft Studio's HTTP API, in process: access checks, path confinement, validation, saving.

use crate::util::{Weft, http, root};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use weft::studio::Studio;

struct Running {
    base: String,
    token: String,
    client: reqwest::Client,
}

async fn start(dir: &Path) -> Running {
    start_with(dir, weft::studio::StudioOptions::default()).await
}

async fn start_with(dir: &Path, options: weft::studio::StudioOptions) -> Running {
    let studio = Studio::bind_with(dir, "127.0.0.1:0".parse().unwrap(), options).await.unwrap();
    let base = format!("http://{}", studio.local_addr());
    let token = studio.token().to_owned();
    assert_eq!(studio.url(), format!("{base}/?token={token}"));
    tokio::spawn(studio.run());
    Running { base, token, client: http::client() }
}

impl Running {
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{path}", self.base)).header("x-weft-token", &self.token)
    }

    async fn json(&self, path: &str) -> (StatusCode, Value) {
        let response = self.get(path).send().await.unwrap();
        let status = response.status();
        (status, serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("x-weft-token", &self.token)
            .header("origin", &self.base)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
    }
}

fn flows_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["countdown.flow.json", "graph-calendar.flow.json", "profiles.json"] {
        std::fs::copy(Path::new("flows").join(name), dir.path().join(name)).unwrap();
    }
    dir
}

#[tokio::test]
async fn token_host_and_origin_are_checked() {
    let dir = flows_dir();
    let s = start(dir.path()).await;
    let url = format!("{}/api/flows", s.base);

    let none = s.client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let wrong = s.client.get(&url).header("x-weft-token", "nope").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(s.get("/api/flows").send().await.unwrap().status(), StatusCode::OK);

    // DNS rebinding: the right token but another host name.
    let port = s.base.rsplit(':').next().unwrap();
    let rebound =
        s.get("/api/flows").header("host", format!("evil.example:{port}")).send().await.unwrap();
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
    let localhost =
        s.get("/api/flows").header("host", format!("localhost:{port}")).send().await.unwrap();
    assert_eq!(localhost.status(), StatusCode::OK);

    // The printed URL trades the token for a cookie and drops it from the address.
    let open = s.client.get(format!("{}/?token={}", s.base, s.token)).send().await.unwrap();
    assert_eq!(open.status(), StatusCode::SEE_OTHER);
    assert_eq!(open.headers()["location"], "/");
    let cookie = open.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let bad = s.client.get(format!("{}/?token=x{}", s.base, s.token)).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let page = s.client.get(format!("{}/", s.base)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("<script type=\"module\""));

    // CSRF: a state-changing request by cookie needs our own Origin.
    let flow = json!({ "format": "weft.flow/1" });
    let post = |origin: Option<&str>| {
        let mut request = s
            .client
            .post(format!("{}/api/validate", s.base))
            .header("cookie", &cookie)
            .body(flow.to_string());
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    assert_eq!(post(None).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(post(Some("http://evil.example")).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(post(Some(&s.base)).await.unwrap().status(), StatusCode::OK);
    // A foreign Origin is refused even with the token.
    let foreign = s
        .client
        .post(format!("{}/api/validate", s.base))
        .header("x-weft-token", &s.token)
        .header("origin", "http://evil.example")
        .body(flow.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn files_are_confined_to_the_directory() {
    let dir = flows_dir();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.flow.json"), "{}").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        outside.path().join("secret.flow.json"),
        dir.path().join("link.flow.json"),
    )
    .unwrap();
    let s = start(dir.path()).await;

    let (status, list) = s.json("/api/flows").await;
    assert_eq!(status, StatusCode::OK);
    let files: Vec<&str> =
        list["flows"].as_array().unwrap().iter().map(|f| f["file"].as_str().unwrap()).collect();
    assert_eq!(files, ["countdown.flow.json", "graph-calendar.flow.json"]);

    for bad in ["profiles.json", "..%2Fsecret.flow.json", "..flow.json", ".hidden.flow.json"] {
        let status = s.get(&format!("/api/flows/{bad}")).send().await.unwrap().status();
        assert!(status.is_client_error(), "{bad}: {status}");
    }
    #[cfg(unix)]
    assert_eq!(
        s.get("/api/flows/link.flow.json").send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let (status, _) = s.send(reqwest::Method::PUT, "/api/flows/profiles.json", &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(s.get("/api/flows/missing.flow.json").send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn get_validate_and_kinds() {
    let dir = flows_dir();
    let s = start(dir.path()).await;
    let (status, flow) = s.json("/api/flows/countdown.flow.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(flow["valid"], true);
    assert_eq!(flow["flow"]["name"], "countdown");
    assert!(flow["text"].as_str().unwrap().starts_with('{'));
    assert_eq!(flow["version"].as_str().unwrap().len(), 32);
    assert_eq!(flow["exits"]["more"], json!(["tick", "done", "error"]));

    let mut broken = flow["flow"].clone();
    broken["nodes"][1]["conditions"][0]["when"] = json!("vars.n >");
    let (status, report) = s.send(reqwest::Method::POST, "/api/validate", &broken).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["valid"], false);
    let d = &report["diagnostics"][0];
    assert_eq!(d["severity"], "error");
    assert_eq!(d["node"], "more");
    assert_eq!(d["pointer"], "/nodes/1/conditions/0/when");
    assert!(d["line"].as_u64().unwrap() > 0 && d["column"].as_u64().unwrap() > 0, "{d}");
    // The other nodes still report their exits.
    assert_eq!(report["exits"]["init"], json!(["ok", "error"]));

    let (status, kinds) = s.json("/api/kinds").await;
    assert_eq!(status, StatusCode::OK);
    let http = kinds["kinds"].as_array().unwrap().iter().find(|k| k["name"] == "http_request");
    let http = http.unwrap();
    assert!(http["schema"]["properties"]["url"].is_object());
    assert!(!http["description"].as_str().unwrap().is_empty());
    // What the kind says about itself, for the editor.
    assert_eq!(http["glyph"], "⇄");
    assert_eq!(http["schema"]["x-weft-status-exits"], true);
    assert_eq!(http["schema"]["x-weft-templates"][0], "/url");

    let svg = s.get("/api/flows/countdown.flow.json/svg").send().await.unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().contains(">tick</text>"));
}

/// Flow JSON sent over HTTP gets the checks a file gets (a duplicate key was
/// read as its last value, and saved without it).
#[tokio::test]
async fn regression_flow_json_over_http_is_checked_for_duplicate_keys_and_a_bom() {
    let dir = flows_dir();
    let s = start(dir.path()).await;
    let raw = |method: reqwest::Method, path: &str, body: Vec<u8>| {
        s.client
            .request(method, format!("{}{path}", s.base))
            .header("x-weft-token", &s.token)
            .header("origin", &s.base)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let flow = r#"{ "format": "weft.flow/1", "start": "e",
        "nodes": [ { "id": "e", "type": "end", "result": "1", "result": "2" } ] }"#;
    let response = raw(reqwest::Method::POST, "/api/validate", flow.into()).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let text = response.text().await.unwrap();
    assert!(text.contains("duplicate key `result` at /nodes/0/result"), "{text}");

    let save = format!(r#"{{ "version": null, "flow": {flow} }}"#);
    let response =
        raw(reqwest::Method::PUT, "/api/flows/dup.flow.json", save.into()).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(!dir.path().join("dup.flow.json").exists());

    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(br#"{ "format": "weft.flow/1" }"#);
    let response = raw(reqwest::Method::POST, "/api/validate", bom).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let text = response.text().await.unwrap();
    assert!(text.contains("byte order mark"), "{text}");
}

#[tokio::test]
async fn save_detects_conflicts_and_keeps_diffs_small() {
    let dir = flows_dir();
    let s = start(dir.path()).await;
    let path = dir.path().join("graph-calendar.flow.json");
    let (_, opened) = s.json("/api/flows/graph-calendar.flow.json").await;
    let version = opened["version"].clone();
    let flow = opened["flow"].clone();

    let original = std::fs::read_to_string(&path).unwrap();
    let (status, saved) = s
        .send(
            reqwest::Method::PUT,
            "/api/flows/graph-calendar.flow.json",
            &json!({ "version": version, "flow": flow }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    // Saving the hand-formatted file unchanged keeps it byte for byte (and its version).
    let first = std::fs::read_to_string(&path).unwrap();
    assert_eq!(first, original);
    assert_eq!(saved["text"], first);
    assert_eq!(saved["version"], version);
    let loaded = weft::flow::Loader::builtin().load_path(&path);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);

    // Moving one node changes one line, even in a hand-formatted file.
    let mut moved = flow.clone();
    moved["nodes"][2]["position"] = json!([300, 260]);
    let (status, second) = s
        .send(
            reqwest::Method::PUT,
            "/api/flows/graph-calendar.flow.json",
            &json!({ "version": saved["version"], "flow": moved }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let after = std::fs::read_to_string(&path).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&after).unwrap(), moved);
    let (a, b): (Vec<&str>, Vec<&str>) = (first.lines().collect(), after.lines().collect());
    assert_eq!(a.len(), b.len());
    let changed: Vec<(&&str, &&str)> = a.iter().zip(&b).filter(|(x, y)| x != y).collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].1.contains("\"id\": \"fetch\"") && changed[0].1.contains("[300, 260]"));

    // Saving against the version opened before is a conflict.
    let (status, conflict) = s
        .send(
            reqwest::Method::PUT,
            "/api/flows/graph-calendar.flow.json",
            &json!({ "version": version, "flow": flow }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(conflict["version"], second["version"]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), after);

    // Keys a browser puts first ("404") keep the file's order when they did not change.
    let mut reordered = moved.clone();
    let query = reordered["nodes"][2]["query"].as_object().unwrap().clone();
    let mut backwards = serde_json::Map::new();
    for (k, v) in query.iter().rev() {
        backwards.insert(k.clone(), v.clone());
    }
    reordered["nodes"][2]["query"] = Value::Object(backwards);
    let (status, third) = s
        .send(
            reqwest::Method::PUT,
            "/api/flows/graph-calendar.flow.json",
            &json!({ "version": second["version"], "flow": reordered }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(third["version"], second["version"]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), after);

    // A change on disk since opening is detected, not overwritten.
    std::fs::write(&path, after.replace("graph-calendar", "changed")).unwrap();
    let (status, _) = s
        .send(
            reqwest::Method::PUT,
            "/api/flows/graph-calendar.flow.json",
            &json!({ "version": second["version"], "flow": flow }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(std::fs::read_to_string(&path).unwrap().contains("changed"));

    // A new file is created with version null, once.
    let new = json!({ "format": "weft.flow/1", "start": "a",
                      "nodes": [ { "id": "a", "type": "end" } ], "edges": [] });
    let body = json!({ "version": null, "flow": new });
    let (status, _) = s.send(reqwest::Method::PUT, "/api/flows/new.flow.json", &body).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s.send(reqwest::Method::PUT, "/api/flows/new.flow.json", &body).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // No temporary files left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[tokio::test]
async fn the_command_prints_a_url_with_the_token() {
    let (dir, state) = (flows_dir(), tempfile::tempdir().unwrap());
    let mut child = Weft::new(&root(), ["studio", "--listen", "127.0.0.1:0", "--state-dir"])
        .args([state.path(), dir.path()])
        .spawn();
    let line = child.stdout_line();
    let url = line.rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:") && url.contains("/?token="), "{line}");
    let client = http::client();
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let base = url.split("/?").next().unwrap();
    assert_eq!(client.get(base).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    let refused = Weft::new(&root(), ["studio", "--listen", "0.0.0.0:0"]).arg(dir.path()).run();
    refused.assert_code(2);
    assert!(refused.stderr.contains("loopback"));
}

#[test]
fn graph_draws_svg() {
    let output =
        Weft::new(&root(), ["graph", "--format", "svg", "flows/graph-calendar.flow.json"]).run();
    output.assert_code(0);
    let svg = output.stdout;
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
    assert!(svg.contains(">Sign in (app)</text>") && svg.trim_end().ends_with("</svg>"));
}

#[tokio::test]
async fn profiles_are_listed_without_secrets() {
    let dir = flows_dir();
    std::fs::write(
        dir.path().join("local.json"),
        r#"{ "format": "weft.profiles/1", "profiles": {
             "graph-app": { "type": "bearer", "token": "s3cr3t-canary-value", "hosts": ["127.0.0.1:*"] } } }"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("missing.json"),
        r#"{ "format": "weft.profiles/1", "profiles": {
             "graph-app": { "type": "bearer", "token": "${env.WEFT_STUDIO_TEST_NEVER_SET}" } } }"#,
    )
    .unwrap();
    let s = start(dir.path()).await;

    let path = "/api/flows/graph-calendar.flow.json/profiles";
    let response = s.get(&format!("{path}?profiles=local.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(!text.contains("s3cr3t-canary-value"), "{text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["files"], json!(["local.json", "missing.json", "profiles.json"]));
    assert_eq!(report["profiles"], json!([ { "name": "graph-app", "resolves": true } ]));

    let (_, report) = s.json(&format!("{path}?profiles=missing.json")).await;
    assert_eq!(report["profiles"][0]["resolves"], false);
    let message = report["profiles"][0]["error"].as_str().unwrap();
    assert!(message.contains("WEFT_STUDIO_TEST_NEVER_SET"), "{message}");

    // Only the directory's profiles files may be read.
    let (_, report) = s.json(&format!("{path}?profiles=..%2Fprofiles.json")).await;
    assert_eq!(report["profiles"][0]["resolves"], false);
    let (_, report) = s.json(&format!("{path}?profiles=countdown.flow.json")).await;
    assert!(report["profiles"][0]["error"].as_str().unwrap().contains("no profiles file"));
}

/// Reads a server-sent event stream to its end: `(event name, data as JSON)` pairs.
async fn read_events(s: &Running, path: &str) -> Vec<(String, Value)> {
    let response = s.get(path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"),
        "{:?}",
        response.headers()
    );
    let text = tokio::time::timeout(std::time::Duration::from_secs(30), response.text())
        .await
        .expect("the stream ends with the run")
        .unwrap();
    let mut events = Vec::new();
    for block in text.split("\n\n") {
        let mut name = "message".to_owned();
        let mut data = String::new();
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("event: ") {
                name = n.to_owned();
            } else if let Some(d) = line.strip_prefix("data: ") {
                data.push_str(d);
            }
        }
        if !data.is_empty() {
            events.push((name, serde_json::from_str(&data).unwrap()));
        }
    }
    events
}

fn run_dir() -> tempfile::TempDir {
    let dir = flows_dir();
    for name in ["countdown.test.json", "greet-all.flow.json", "greet-all.test.json"] {
        std::fs::copy(Path::new("flows").join(name), dir.path().join(name)).unwrap();
    }
    // A flow that loops until it is stopped or passes its step limit.
    std::fs::write(
        dir.path().join("forever.flow.json"),
        r#"{ "format": "weft.flow/1", "name": "forever", "variables": { "n": 0 }, "start": "again",
             "nodes": [ { "id": "again", "type": "assign", "set": { "vars.n": "vars.n + 1" } } ],
             "edges": [ { "from": "again", "to": "again" } ] }"#,
    )
    .unwrap();
    dir
}

#[tokio::test]
async fn runs_stream_their_trace_and_end_with_a_report() {
    let dir = run_dir();
    let s = start(dir.path()).await;
    let (status, started) = s
        .send(
            reqwest::Method::POST,
            "/api/flows/countdown.flow.json/runs",
            &json!({ "params": { "from": 3 } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let id = started["run"].as_str().unwrap().to_owned();
    assert_eq!(started["events"], format!("/api/runs/{id}/events"));
    let events = read_events(&s, &format!("/api/runs/{id}/events")).await;

    let (last, report) = events.last().unwrap();
    assert_eq!(last, "report");
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["node"], "finish");
    let trace: Vec<&Value> =
        events.iter().filter(|(name, _)| name == "trace").map(|(_, e)| e).collect();
    assert_eq!(trace.len(), events.len() - 1);
    assert_eq!(trace[0]["event"], "run_started");
    assert_eq!(trace[0]["params"]["from"], 3);
    let finished = trace.last().unwrap();
    assert_eq!(finished["event"], "run_finished");
    assert_eq!(finished["status"], "succeeded");
    assert_eq!(finished["steps"], report["steps"]);
    // Every node that started finished, with its exit and duration.
    let started = trace.iter().filter(|e| e["event"] == "node_started").count();
    let ended: Vec<&&Value> = trace.iter().filter(|e| e["event"] == "node_finished").collect();
    assert_eq!(started, ended.len());
    assert!(ended.iter().all(|e| e["ms"].is_u64()));
    let ticks: Vec<&str> =
        ended.iter().filter(|e| e["node"] == "tick").map(|e| e["exit"].as_str().unwrap()).collect();
    assert!(!ticks.is_empty());

    // Each node's input: the variables before it last ran.
    let (status, input) = s.json(&format!("/api/runs/{id}/input/finish")).await;
    assert_eq!(status, StatusCode::OK, "{input}");
    assert_eq!(input["node"], "finish");
    assert!(input["vars"].is_object(), "{input}");
    let (status, _) = s.json(&format!("/api/runs/{id}/input/nowhere")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A late subscriber gets the whole run again.
    let again = read_events(&s, &format!("/api/runs/{id}/events")).await;
    assert_eq!(again.len(), events.len());
    assert_eq!(s.get("/api/runs/nope/events").send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn runs_refuse_bad_input_with_json_errors() {
    let dir = run_dir();
    std::fs::write(
        dir.path().join("missing.json"),
        r#"{ "format": "weft.profiles/1", "profiles": {
             "graph-app": { "type": "bearer", "token": "${env.WEFT_STUDIO_TEST_NEVER_SET}" } } }"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("broken.flow.json"), r#"{ "format": "weft.flow/1" }"#).unwrap();
    let s = start(dir.path()).await;
    let post = |file: &str, body: Value| {
        let path = format!("/api/flows/{file}/runs");
        let s = &s;
        async move { s.send(reqwest::Method::POST, &path, &body).await }
    };
    let cases = [
        ("countdown.flow.json", json!({ "params": { "from": "three" } }), 400, "from"),
        ("countdown.flow.json", json!({ "params": { "nope": 1 } }), 400, "nope"),
        ("countdown.flow.json", json!({ "params": [1] }), 400, "params"),
        ("countdown.flow.json", json!({ "max_steps": 0 }), 400, "max_steps"),
        ("countdown.flow.json", json!({ "timeout_secs": -1 }), 400, "timeout_secs"),
        ("graph-calendar.flow.json", json!({ "params": { "user": "a" } }), 400, "graph-app"),
        (
            "graph-calendar.flow.json",
            json!({ "profiles": "missing.json", "params": { "user": "a" } }),
            400,
            "WEFT_STUDIO_TEST_NEVER_SET",
        ),
        (
            "graph-calendar.flow.json",
            json!({ "profiles": "../profiles.json", "params": { "user": "a" } }),
            400,
            "no profiles file",
        ),
        ("graph-calendar.flow.json", json!({ "profiles": "missing.json" }), 400, "user"),
        ("broken.flow.json", json!({}), 422, "errors"),
        ("missing.flow.json", json!({}), 404, "missing"),
        ("profiles.json", json!({}), 400, "not a flow file name"),
    ];
    for (file, body, want, mentions) in cases {
        let (status, answer) = post(file, body.clone()).await;
        assert_eq!(status.as_u16(), want, "{file} {body}: {answer}");
        let message = answer["error"].as_str().unwrap_or_else(|| panic!("{answer}"));
        assert!(message.contains(mentions), "{file} {body}: {message}");
    }
    // The environment variable is named, never a value; the broken flow's diagnostics come along.
    let (_, answer) = post("broken.flow.json", json!({})).await;
    assert!(!answer["diagnostics"].as_array().unwrap().is_empty(), "{answer}");
    // A body that is not JSON.
    let response = s
        .client
        .post(format!("{}/api/flows/countdown.flow.json/runs", s.base))
        .header("x-weft-token", &s.token)
        .header("origin", &s.base)
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("not JSON"));
}

#[tokio::test]
async fn one_run_per_flow_a_step_limit_and_stop() {
    let dir = run_dir();
    let s = start(dir.path()).await;
    // The step limit fails the run and is named.
    let (status, started) = s
        .send(
            reqwest::Method::POST,
            "/api/flows/forever.flow.json/runs",
            &json!({ "max_steps": 50 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let events =
        read_events(&s, &format!("/api/runs/{}/events", started["run"].as_str().unwrap())).await;
    let report = &events.last().unwrap().1;
    assert_eq!(report["status"], "failed");
    assert_eq!(report["steps"], 50);
    assert!(report["error"]["message"].as_str().unwrap().contains("step limit of 50"), "{report}");

    // A long run: a second start is refused while it runs; stopping it ends it as interrupted.
    let body = json!({ "max_steps": 1_000_000, "timeout_secs": 60 });
    let (status, started) =
        s.send(reqwest::Method::POST, "/api/flows/forever.flow.json/runs", &body).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let id = started["run"].as_str().unwrap().to_owned();
    let (status, refused) =
        s.send(reqwest::Method::POST, "/api/flows/forever.flow.json/runs", &body).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["run"], id.as_str());
    // Another flow may run meanwhile.
    let (status, _) =
        s.send(reqwest::Method::POST, "/api/flows/countdown.flow.json/runs", &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, stopped) =
        s.send(reqwest::Method::POST, &format!("/api/runs/{id}/stop"), &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stopped["stopped"], true);
    let events = read_events(&s, &format!("/api/runs/{id}/events")).await;
    assert_eq!(events.last().unwrap().1["status"], "interrupted");
    // Stopped: it may run again.
    let (status, _) = s
        .send(
            reqwest::Method::POST,
            "/api/flows/forever.flow.json/runs",
            &json!({ "max_steps": 5 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn run_routes_are_guarded() {
    let dir = run_dir();
    let s = start(dir.path()).await;
    let url = format!("{}/api/flows/countdown.flow.json/runs", s.base);
    // No token; a foreign Origin with the token; a rebound Host.
    let none = s.client.post(&url).header("origin", &s.base).body("{}").send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let foreign = s
        .client
        .post(&url)
        .header("x-weft-token", &s.token)
        .header("origin", "http://evil.example")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let port = s.base.rsplit(':').next().unwrap();
    let rebound = s
        .client
        .post(&url)
        .header("x-weft-token", &s.token)
        .header("host", format!("evil.example:{port}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
    let (status, started) =
        s.send(reqwest::Method::POST, "/api/flows/countdown.flow.json/runs", &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let id = started["run"].as_str().unwrap();
    for path in [
        format!("/api/runs/{id}/events"),
        format!("/api/runs/{id}/input/init"),
        "/api/flows/countdown.flow.json/tests".to_owned(),
        "/api/settings".to_owned(),
    ] {
        let response = s.client.get(format!("{}{path}", s.base)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let stop = s
        .client
        .post(format!("{}/api/runs/{id}/stop", s.base))
        .header("x-weft-token", &s.token)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status(), StatusCode::FORBIDDEN);
    let tests = s
        .client
        .post(format!("{}/api/flows/countdown.flow.json/tests", s.base))
        .header("x-weft-token", &s.token)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(tests.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_calendar_runs_against_the_simulator_without_leaking_its_secret() {
    let sim = weft_sim::Simulator::start(weft_sim::SimConfig::default()).await.unwrap();
    let dir = run_dir();
    std::fs::copy("flows/profiles.sim.json", dir.path().join("profiles.sim.json")).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut options = weft::studio::StudioOptions::simulator(&sim);
    options.state_dir = Some(state.path().to_owned());
    let s = start_with(dir.path(), options).await;

    let (_, settings) = s.json("/api/settings").await;
    assert_eq!(settings["profiles"], "profiles.sim.json");
    assert_eq!(settings["params"]["graph_base"], sim.graph_base());
    assert!(!settings.to_string().contains(weft_sim::APP_CLIENT_SECRET));
    let (_, profiles) =
        s.json("/api/flows/graph-calendar.flow.json/profiles?profiles=profiles.sim.json").await;
    assert_eq!(profiles["profiles"][0]["resolves"], true, "{profiles}");

    let body = json!({ "profiles": "profiles.sim.json",
                       "params": { "user": "adele@weft.test", "graph_base": sim.graph_base() } });
    let (status, started) =
        s.send(reqwest::Method::POST, "/api/flows/graph-calendar.flow.json/runs", &body).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let id = started["run"].as_str().unwrap();
    let response = s.get(&format!("/api/runs/{id}/events")).send().await.unwrap();
    let text = response.text().await.unwrap();
    assert!(!text.contains(weft_sim::APP_CLIENT_SECRET));
    let events = read_events(&s, &format!("/api/runs/{id}/events")).await;
    let report = &events.last().unwrap().1;
    assert_eq!(report["status"], "succeeded", "{report}");
    let items = report["result"].as_array().unwrap();
    assert!(!items.is_empty());
    let exits: Vec<(String, Value)> = events
        .iter()
        .filter(|(_, e)| e["event"] == "node_finished")
        .map(|(_, e)| (e["node"].as_str().unwrap().to_owned(), e["exit"].clone()))
        .collect();
    let nodes: Vec<&str> = exits.iter().map(|(n, _)| n.as_str()).collect();
    // One page of a week: `more` finds no next link.
    assert_eq!(nodes, ["window", "sign_in", "fetch", "import", "more", "done"]);
    let import =
        events.iter().find(|(_, e)| e["event"] == "node_finished" && e["node"] == "import");
    assert_eq!(import.unwrap().1["writes"]["events"].as_array().unwrap().len(), items.len());
    let http: Vec<&Value> =
        events.iter().map(|(_, e)| e).filter(|e| e["event"] == "http").collect();
    assert!(http.iter().all(|e| e["node"] == "fetch" && e["status"] == 200), "{http:?}");
    // The input of `import` holds the page `fetch` wrote.
    let (_, input) = s.json(&format!("/api/runs/{id}/input/import")).await;
    assert!(input["vars"]["page"]["body"]["value"].is_array(), "{input}");
    assert!(!input.to_string().contains(weft_sim::APP_CLIENT_SECRET));
    sim.shutdown().await;
}

#[tokio::test]
async fn test_cases_run_from_the_studio() {
    let dir = run_dir();
    // A failing case, in a test file of its own.
    std::fs::write(
        dir.path().join("countdown-broken.test.json"),
        r#"{ "format": "weft.test/1", "flow": "countdown.flow.json", "cases": [
             { "name": "init sets n wrongly", "node": "init", "given": { "params": { "from": 2 } },
               "expect": { "exit": "ok", "vars": { "n": 99 } } } ] }"#,
    )
    .unwrap();
    let s = start(dir.path()).await;
    let (status, listed) = s.json("/api/flows/countdown.flow.json/tests").await;
    assert_eq!(status, StatusCode::OK);
    let files: Vec<&str> =
        listed["files"].as_array().unwrap().iter().map(|f| f["file"].as_str().unwrap()).collect();
    assert_eq!(files, ["countdown-broken.test.json", "countdown.test.json"]);

    let (status, all) =
        s.send(reqwest::Method::POST, "/api/flows/countdown.flow.json/tests", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["failed"], 1, "{all}");
    let total = listed["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["cases"].as_array().unwrap().len())
        .sum::<usize>();
    assert_eq!(all["passed"].as_u64().unwrap() as usize + 1, total);
    let broken = &all["files"][0]["cases"][0];
    assert_eq!(broken["passed"], false);
    let diff = broken["failures"][0].as_str().unwrap();
    assert!(diff.contains("99"), "{diff}");

    let (_, init) = s
        .send(
            reqwest::Method::POST,
            "/api/flows/countdown.flow.json/tests",
            &json!({ "node": "init" }),
        )
        .await;
    let cases: Vec<&Value> = init["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["cases"].as_array().unwrap())
        .collect();
    assert!(!cases.is_empty());
    assert!(cases.iter().all(|c| c["node"] == "init"), "{init}");
    // greet-all's tests are not countdown's.
    assert!(!init.to_string().contains("greet"));
    let (status, _) = s
        .send(reqwest::Method::POST, "/api/flows/countdown.flow.json/tests", &json!({ "node": 3 }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Runs graph-calendar with the run form's `body`; its report.
async fn calendar_report(s: &Running, body: &Value) -> Value {
    let path = "/api/flows/graph-calendar.flow.json/runs";
    let (status, started) = s.send(reqwest::Method::POST, path, body).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let events =
        read_events(s, &format!("/api/runs/{}/events", started["run"].as_str().unwrap())).await;
    events.last().unwrap().1.clone()
}

#[tokio::test]
async fn the_command_with_sim_runs_the_simulator() {
    let dir = flows_dir();
    std::fs::copy("flows/profiles.sim.json", dir.path().join("profiles.sim.json")).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut child =
        Weft::new(&root(), ["studio", "--sim", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(state.path())
            .arg(dir.path())
            .spawn();
    let (first, second) = (child.stdout_line(), child.stdout_line());
    let url = first.rsplit(' ').next().unwrap().to_owned();
    let (base, token) = url.split_once("/?token=").unwrap();
    assert!(second.starts_with("Simulator (Entra ID + Graph) on http://127.0.0.1:"), "{second}");
    let mut addresses = second.split_whitespace().filter(|w| w.starts_with("http"));
    let mut address = || addresses.next().unwrap().trim_end_matches([',', ':']).to_owned();
    let (sim, graph) = (address(), address());
    assert_eq!(graph, format!("{sim}/v1.0"));
    let s = Running { base: base.to_owned(), token: token.to_owned(), client: http::client() };
    let (_, settings) = s.json("/api/settings").await;
    assert_eq!(settings["sim"], sim.as_str());
    assert_eq!(settings["params"]["graph_base"], format!("{sim}/v1.0"));
    let body = json!({ "profiles": "profiles.sim.json",
                       "params": { "user": "megan@weft.test", "graph_base": format!("{sim}/v1.0") } });
    let report = calendar_report(&s, &body).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert!(!report["result"].as_array().unwrap().is_empty());

    // As with `weft run --sim`, the real profiles and Graph's own address run against it too.
    let body = json!({ "profiles": "profiles.json", "params": { "user": "megan@weft.test" } });
    let again = calendar_report(&s, &body).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(again["result"], report["result"]);
}

/// The studio's answer to `GET path` within 5 s. A read blocked on one of `fifos` fails the
/// test instead of hanging it: the pipes are opened for writing, which ends the blocked read,
/// and the test runtime can stop.
#[cfg(unix)]
async fn answer_in_time(
    s: &Running,
    path: &str,
    fifos: &[std::path::PathBuf],
) -> (StatusCode, Value) {
    use std::os::unix::fs::OpenOptionsExt;
    match tokio::time::timeout(std::time::Duration::from_secs(5), s.json(path)).await {
        Ok(answer) => answer,
        Err(_) => {
            for fifo in fifos {
                let mut options = std::fs::OpenOptions::new();
                let _ = options.write(true).custom_flags(libc::O_NONBLOCK).open(fifo);
            }
            panic!("GET {path} blocked for 5 s");
        }
    }
}

#[cfg(unix)]
#[tokio::test]
async fn regression_studio_save_follows_planted_symlink() {
    let dir = flows_dir();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.txt");
    std::fs::write(&victim, "untouched").unwrap();
    let plant = |name: &str| std::os::unix::fs::symlink(&victim, dir.path().join(name)).unwrap();
    // The temporary name a save used to take (this process is the studio's), and the flow's
    // own name.
    plant(&format!(".target.flow.json.{}.tmp", std::process::id()));
    plant("linked.flow.json");
    let s = start(dir.path()).await;
    let flow = json!({ "format": "weft.flow/1", "start": "a",
                       "nodes": [ { "id": "a", "type": "end" } ], "edges": [] });
    let body = json!({ "version": null, "flow": flow });

    // The temporary file gets a fresh name of its own, created exclusively: the link planted
    // at the old name is neither followed nor touched.
    let (status, saved) = s.send(reqwest::Method::PUT, "/api/flows/target.flow.json", &body).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let target = std::fs::symlink_metadata(dir.path().join("target.flow.json")).unwrap();
    assert!(target.file_type().is_file(), "the flow is a regular file");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("target.flow.json")).unwrap(),
        saved["text"]
    );

    // A link at the flow's own name: the save is refused (the file behind it can't be read for
    // its version without following it, and replacing the link would drop it silently).
    let (status, refused) =
        s.send(reqwest::Method::PUT, "/api/flows/linked.flow.json", &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let message = refused["error"].as_str().unwrap();
    assert!(message.starts_with("linked.flow.json: refused, it is a symbolic link"), "{message}");
    let linked = std::fs::symlink_metadata(dir.path().join("linked.flow.json")).unwrap();
    assert!(linked.file_type().is_symlink(), "the link is left as it was");

    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
}

#[cfg(unix)]
#[tokio::test]
async fn regression_studio_reads_follow_links_and_block_on_special_files() {
    let dir = flows_dir();
    let path = |name: &str| dir.path().join(name);
    // A link that stays inside the directory is not followed either.
    std::os::unix::fs::symlink(path("countdown.flow.json"), path("inside.flow.json")).unwrap();
    let fifos = ["pipe.flow.json", "pipe.json", "pipe.test.json"].map(path);
    for fifo in &fifos {
        assert!(std::process::Command::new("mkfifo").arg(fifo).status().unwrap().success());
    }
    std::os::unix::fs::symlink("/dev/zero", path("zero.test.json")).unwrap();
    let huge = format!("{{\"format\":\"weft.flow/1\"}}{}", " ".repeat(16 << 20));
    std::fs::write(path("huge.flow.json"), huge).unwrap();
    let s = start(dir.path()).await;

    // Lists leave out what is not a regular file, at once.
    let (status, list) = answer_in_time(&s, "/api/flows", &fifos).await;
    assert_eq!(status, StatusCode::OK);
    let files: Vec<&str> =
        list["flows"].as_array().unwrap().iter().map(|f| f["file"].as_str().unwrap()).collect();
    assert_eq!(files, ["countdown.flow.json", "graph-calendar.flow.json", "huge.flow.json"]);
    let (status, profiles) =
        answer_in_time(&s, "/api/flows/graph-calendar.flow.json/profiles", &fifos).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(profiles["files"], json!(["profiles.json"]));
    let (status, tests) = answer_in_time(&s, "/api/flows/countdown.flow.json/tests", &fifos).await;
    assert_eq!((status, tests), (StatusCode::OK, json!({ "files": [] })));

    // Opening one is refused with a clear message.
    for (file, status, expected) in [
        ("inside.flow.json", StatusCode::FORBIDDEN, "refused, it is a symbolic link"),
        ("pipe.flow.json", StatusCode::FORBIDDEN, "refused, it is a named pipe (FIFO)"),
        ("huge.flow.json", StatusCode::PAYLOAD_TOO_LARGE, "larger than 16 MiB"),
    ] {
        for route in ["", "/svg", "/profiles"] {
            let (got, body) =
                answer_in_time(&s, &format!("/api/flows/{file}{route}"), &fifos).await;
            assert_eq!(got, status, "{file}{route}: {body}");
            let message = body["error"].as_str().unwrap();
            assert!(message.starts_with(&format!("{file}: {expected}")), "{message}");
        }
    }
}

#[tokio::test]
async fn regression_loose_host_handling_in_weft_studio() {
    let dir = flows_dir();
    let s = start(dir.path()).await;
    let addr = s.base.strip_prefix("http://").unwrap();
    let port = addr.rsplit(':').next().unwrap();
    let token = format!("x-weft-token: {}\r\n", s.token);
    for (host, status) in [
        (String::new(), "400"),
        ("host: \r\n".to_owned(), "400"),
        (format!("host: 127.0.0.1:{port}\r\nhost: evil.example\r\n"), "400"),
        ("host: localhost:1\r\n".to_owned(), "403"),
        (format!("host: evil.example:{port}\r\n"), "403"),
        (format!("host: localhost:{port}\r\n"), "200"),
        (format!("host: [::1]:{port}\r\n"), "200"),
    ] {
        let request = format!("GET /api/flows HTTP/1.1\r\n{host}{token}connection: close\r\n\r\n");
        let answer = http::raw(addr, request.as_bytes()).await;
        assert!(answer.starts_with(&format!("HTTP/1.1 {status}")), "{host:?}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_slowloris_against_weft_studio() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = flows_dir();
    let s = start(dir.path()).await;
    let addr = s.base.strip_prefix("http://").unwrap().to_owned();
    // More connections with unfinished headers than one client may hold.
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let start = format!("GET /api/flows HTTP/1.1\r\nhost: {addr}\r\n");
        tcp.write_all(start.as_bytes()).await.unwrap();
        slow.push(tcp);
    }
    // The studio still answers, each time in the place of the oldest unfinished connection.
    let probes = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    for _ in 0..20 {
        let response = probes
            .get(format!("{}/api/flows", s.base))
            .header("x-weft-token", &s.token)
            .timeout(Duration::from_secs(3))
            .send()
            .await;
        assert!(response.is_ok_and(|r| r.status() == StatusCode::OK), "a probe went unanswered");
    }
    // And a connection that never finishes its headers is closed within seconds.
    let mut last = slow.pop().unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), last.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "a connection with unfinished headers stayed open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_secret_scrubbing_misses_encodings_in_studio_runs() {
    use base64::Engine;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};
    const TOKEN: &str = "s3cr3t~Tok+/=n x-STUDIO-CANARY";
    // An API that quotes the `Authorization` header back, base64- and percent-encoded.
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(|request: &Request| {
            let auth = request.headers["authorization"].to_str().unwrap();
            let encoded = url::form_urlencoded::byte_serialize(auth.as_bytes()).collect::<String>();
            let b64 = base64::engine::general_purpose::STANDARD.encode(auth);
            ResponseTemplate::new(200).set_body_json(json!({ "seen": [encoded, b64] }))
        })
        .mount(&api)
        .await;
    let dir = run_dir();
    let profiles = json!({ "format": "weft.profiles/1", "profiles": {
        "api": { "type": "bearer", "token": TOKEN, "hosts": ["127.0.0.1:*"] } } });
    std::fs::write(dir.path().join("echo.json"), profiles.to_string()).unwrap();
    let flow = json!({ "format": "weft.flow/1", "start": "call", "nodes": [
        { "id": "call", "type": "http_request", "auth": "api", "url": api.uri() },
        { "id": "done", "type": "end", "result": "vars.response.status" } ],
        "edges": [ { "from": "call", "to": "done" } ] });
    std::fs::write(dir.path().join("echo.flow.json"), flow.to_string()).unwrap();
    let kept = tempfile::tempdir().unwrap();
    let options = weft::studio::StudioOptions {
        store: Some(crate::util::durable(kept.path())),
        ..Default::default()
    };
    let s = start_with(dir.path(), options).await;
    let (status, started) = s
        .send(
            reqwest::Method::POST,
            "/api/flows/echo.flow.json/runs",
            &json!({ "profiles": "echo.json" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let id = started["run"].as_str().unwrap().to_owned();
    let events = read_events(&s, &format!("/api/runs/{id}/events")).await;
    assert_eq!(events.last().unwrap().1["status"], "succeeded", "{events:?}");
    let (status, input) = s.json(&format!("/api/runs/{id}/input/done")).await;
    assert_eq!(status, StatusCode::OK, "{input}");
    let seen = &input["vars"]["response"]["body"]["seen"];
    assert!(seen.as_array().unwrap().iter().all(|s| s.as_str().unwrap().contains("[redacted]")));
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("Bearer {TOKEN}"));
    // The run drawn again from the history: its journaled writes are scrubbed as well.
    let (_, history) = s.json("/api/flows/echo.flow.json/history").await;
    let stored = history["runs"][0]["id"].as_str().unwrap().to_owned();
    let (status, drawn) = s.json(&format!("/api/history/{stored}")).await;
    assert_eq!(status, StatusCode::OK, "{drawn}");
    let body = drawn["events"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e["writes"]["response"]["body"].as_object());
    assert!(body.is_some_and(|b| b["seen"].to_string().contains("[redacted]")), "{drawn}");
    let shown = format!("{events:?} {input} {drawn}");
    for part in ["s3cr3t", "CANARY", &b64[12..36]] {
        assert!(!shown.contains(part), "{part} shown: {shown}");
    }
}

/// A studio with a run store records its runs; each flow's history lists them, draws one from
/// its stored trace, resumes one that never ran to its end, and cancels one; without a store,
/// the history says none are kept.
#[tokio::test]
async fn the_history_lists_draws_resumes_and_cancels_stored_runs() {
    let dir = flows_dir();
    let kept = tempfile::tempdir().unwrap();
    let durable = crate::util::durable(kept.path());
    let options = weft::studio::StudioOptions {
        store: Some(durable.clone()),
        store_url: Some("sqlite:runs.db".into()),
        ..Default::default()
    };
    let s = start_with(dir.path(), options).await;
    assert_eq!(s.json("/api/settings").await.1["store"], "sqlite:runs.db");

    // A run from the studio is recorded: the history lists it under the id of its trace.
    let path = "/api/flows/countdown.flow.json/runs";
    let (status, started) =
        s.send(reqwest::Method::POST, path, &json!({ "params": { "from": 2 } })).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let events = read_events(&s, started["events"].as_str().unwrap()).await;
    let id = events[0].1["run"].as_str().unwrap().to_owned();
    let report = &events.last().unwrap().1;
    assert_eq!(report["result"], json!({ "seen": [2, 1], "last": 0 }));
    let (status, history) = s.json("/api/flows/countdown.flow.json/history").await;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert_eq!(history["flow"], "countdown");
    let runs = history["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{history}");
    assert_eq!(
        (&runs[0]["id"], &runs[0]["status"], &runs[0]["resumable"], &runs[0]["cancellable"]),
        (&json!(id), &json!("succeeded"), &json!(false), &json!(false))
    );

    // Drawn from the store: the same nodes and exits as the live stream, and the result.
    let (status, shown) = s.json(&format!("/api/history/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["run"]["result"], report["result"]);
    assert_eq!(shown["run"]["params"], json!({ "from": 2 }));
    let exits = |events: Vec<&Value>| -> Vec<(Value, Value)> {
        events
            .into_iter()
            .filter(|e| e["event"] == "node_finished")
            .map(|e| (e["node"].clone(), e["exit"].clone()))
            .collect()
    };
    let live = exits(events.iter().map(|(_, e)| e).collect());
    assert_eq!(exits(shown["events"].as_array().unwrap().iter().collect()), live);
    assert_eq!(live.len(), 7);

    // Runs nobody ran to their end (queued here): one resumed from the history, as the live
    // run of its file, one cancelled. A run that is over is neither.
    let file = dir.path().join("countdown.flow.json");
    let engine = weft::Engine::builder().build().unwrap();
    let flow = engine.loader().load_file(&std::fs::read(&file).unwrap(), &file).flow.unwrap();
    let mut queued = Vec::new();
    for from in [1, 3] {
        let params = json!({ "from": from }).as_object().unwrap().clone();
        match durable.record(crate::util::recorded(&flow), &params, false).await.unwrap() {
            weft::store::Created::New { id, claim: None } => queued.push(id),
            other => panic!("{other:?}"),
        }
    }
    let (_, history) = s.json("/api/flows/countdown.flow.json/history").await;
    let first = &history["runs"][0];
    assert_eq!((&first["id"], &first["status"]), (&json!(queued[1]), &json!("queued")));
    // Queued runs wait for the server that queued them: cancelled here, resumed only by asking.
    assert_eq!((&first["resumable"], &first["cancellable"]), (&json!(false), &json!(true)));

    let body = json!({ "file": "countdown.flow.json" });
    let (status, resumed) =
        s.send(reqwest::Method::POST, &format!("/api/history/{}/resume", queued[0]), &body).await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    let events = read_events(&s, resumed["events"].as_str().unwrap()).await;
    let report = &events.last().unwrap().1;
    assert_eq!(report["result"], json!({ "seen": [1], "last": 0 }), "{report}");
    assert_eq!(events[0].1["run"], json!(queued[0]));

    // Resumed on another flow's canvas: refused.
    let elsewhere = json!({ "file": "graph-calendar.flow.json" });
    let path = format!("/api/history/{}/resume", queued[1]);
    let (status, refused) = s.send(reqwest::Method::POST, &path, &elsewhere).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("a run of flow `countdown`"), "{refused}");

    let (status, cancelled) = s
        .send(reqwest::Method::POST, &format!("/api/history/{}/cancel", queued[1]), &json!({}))
        .await;
    assert_eq!((status, &cancelled["status"]), (StatusCode::OK, &json!("cancelled")));
    let (_, history) = s.json("/api/flows/countdown.flow.json/history").await;
    let statuses: Vec<&Value> =
        history["runs"].as_array().unwrap().iter().map(|r| &r["status"]).collect();
    assert_eq!(statuses, [&json!("cancelled"), &json!("succeeded"), &json!("succeeded")]);
    let (status, refused) =
        s.send(reqwest::Method::POST, &format!("/api/history/{}/resume", queued[1]), &body).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    let (status, _) = s.json("/api/history/no-such-run").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A run another process holds is not resumed, and the flow's last run stays as it was.
    let params = json!({ "from": 5 }).as_object().unwrap().clone();
    let held = match durable.record(crate::util::recorded(&flow), &params, true).await.unwrap() {
        weft::store::Created::New { id, claim: Some(_) } => id,
        other => panic!("{other:?}"),
    };
    let (status, refused) =
        s.send(reqwest::Method::POST, &format!("/api/history/{held}/resume"), &body).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    let last = read_events(&s, resumed["events"].as_str().unwrap()).await;
    assert_eq!(last.last().unwrap().1["result"], json!({ "seen": [1], "last": 0 }));

    // Thirty at a time, newest first; `before` gives the older ones.
    for _ in 0..30 {
        durable.record(crate::util::recorded(&flow), &params, false).await.unwrap();
    }
    let (_, page) = s.json("/api/flows/countdown.flow.json/history").await;
    assert_eq!((page["runs"].as_array().unwrap().len(), &page["more"]), (30, &json!(true)));
    let oldest = page["runs"][29]["id"].as_str().unwrap();
    let (_, rest) =
        s.json(&format!("/api/flows/countdown.flow.json/history?before={oldest}")).await;
    assert_eq!(rest["more"], false, "{rest}");
    let ids: Vec<&str> = [&page, &rest]
        .iter()
        .flat_map(|p| p["runs"].as_array().unwrap())
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    // The studio's run, the two queued, the held one, and these thirty: each once, in order.
    assert_eq!(ids.len(), 34, "{ids:?}");
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");

    let without = start(dir.path()).await;
    let (status, refused) = without.json("/api/flows/countdown.flow.json/history").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(refused["error"].as_str().unwrap().contains("--store none"), "{refused}");
}
