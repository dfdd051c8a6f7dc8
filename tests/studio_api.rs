//! Weft Studio's HTTP API, in process: access checks, path confinement, validation, saving.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use weft::studio::Studio;

struct Running {
    base: String,
    token: String,
    client: reqwest::Client,
}

async fn start(dir: &Path) -> Running {
    weft::http::ensure_crypto_provider();
    let studio = Studio::bind(dir, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", studio.local_addr());
    let token = studio.token().to_owned();
    assert_eq!(studio.url(), format!("{base}/?token={token}"));
    tokio::spawn(studio.run());
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    Running { base, token, client }
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

    let svg = s.get("/api/flows/countdown.flow.json/svg").send().await.unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().contains(">tick</text>"));
}

#[tokio::test]
async fn save_detects_conflicts_and_keeps_diffs_small() {
    let dir = flows_dir();
    let s = start(dir.path()).await;
    let path = dir.path().join("graph-calendar.flow.json");
    let (_, opened) = s.json("/api/flows/graph-calendar.flow.json").await;
    let version = opened["version"].clone();
    let flow = opened["flow"].clone();

    let (status, saved) = s
        .send(
            reqwest::Method::PUT,
            "/api/flows/graph-calendar.flow.json",
            &json!({ "version": version, "flow": flow }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let first = std::fs::read_to_string(&path).unwrap();
    assert_eq!(saved["text"], first);
    // Same document, same keys in the same order; accepted by the loader.
    assert_eq!(serde_json::from_str::<Value>(&first).unwrap(), flow);
    let loaded = weft::cli::loader().load_path(&path);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);

    // Saving against the version opened before is a conflict.
    let (status, conflict) = s
        .send(
            reqwest::Method::PUT,
            "/api/flows/graph-calendar.flow.json",
            &json!({ "version": version, "flow": flow }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(conflict["version"], saved["version"]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), first);

    // Moving one node changes one line.
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
    let (a, b): (Vec<&str>, Vec<&str>) = (first.lines().collect(), after.lines().collect());
    assert_eq!(a.len(), b.len());
    let changed: Vec<(&&str, &&str)> = a.iter().zip(&b).filter(|(x, y)| x != y).collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].1.contains("\"id\": \"fetch\"") && changed[0].1.contains("[300, 260]"));

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

/// Kills the child process when dropped.
struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_command_prints_a_url_with_the_token() {
    use std::io::BufRead;
    weft::http::ensure_crypto_provider();
    let dir = flows_dir();
    let mut child = Kill(
        std::process::Command::new(env!("CARGO_BIN_EXE_weft"))
            .args(["studio", "--listen", "127.0.0.1:0"])
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufReader::new(child.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:") && url.contains("/?token="), "{line}");
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let base = url.split("/?").next().unwrap();
    assert_eq!(client.get(base).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["studio", "--listen", "0.0.0.0:0"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("loopback"));
}

#[test]
fn graph_draws_svg() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["graph", "--format", "svg", "flows/graph-calendar.flow.json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let svg = String::from_utf8(output.stdout).unwrap();
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
