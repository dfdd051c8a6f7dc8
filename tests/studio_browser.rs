//! Weft Studio in a real browser: headless Chromium driven over WebDriver (chromedriver).
//! Requires Debian's `chromium` and `chromium-driver` packages; fails when they are missing.
//! Screenshots of each step are kept in `target/studio-screenshots/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use weft::studio::Studio;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "chromedriver";

/// A chromedriver process of this test, in a process group of its own with the browser it
/// starts: the whole group is ended when dropped, so a failing test leaves no browser behind.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A WebDriver session: the wire protocol over HTTP, just what this test needs.
struct Browser {
    http: reqwest::Client,
    session: String,
    shots: PathBuf,
    step: usize,
}

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = response.status();
        let value: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert!(status.is_success(), "WebDriver {path}: {status} {value}");
        value["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn script(&self, source: &str) -> Value {
        self.post("/execute/sync", json!({ "script": source, "args": [] })).await
    }

    async fn find(&self, css: &str) -> String {
        let found = self.post("/element", json!({ "using": "css selector", "value": css })).await;
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {found}")).to_owned()
    }

    /// Waits until `source` (a script's body) returns true.
    async fn until(&self, what: &str, source: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if self.script(source).await == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                self.screenshot(&format!("timeout-{what}")).await;
                panic!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The centre of an element, in viewport pixels (found afresh: the canvas is redrawn often).
    async fn centre(&self, css: &str) -> (i64, i64) {
        let at = self
            .script(&format!(
                "const r = document.querySelector(\"{css}\").getBoundingClientRect(); \
                 return [Math.round(r.x + r.width / 2), Math.round(r.y + r.height / 2)];"
            ))
            .await;
        (at[0].as_i64().unwrap(), at[1].as_i64().unwrap())
    }

    /// Presses on `from`'s centre and releases on `to`'s centre (or `by` pixels further).
    async fn drag(&self, from: &str, to: Option<&str>, by: (i64, i64)) {
        let start = self.centre(from).await;
        let (tx, ty) = match to {
            Some(css) => self.centre(css).await,
            None => start,
        };
        self.drag_points(start, (tx + by.0, ty + by.1)).await;
    }

    /// Presses at `from` and releases at `to` (viewport pixels), moving in between.
    async fn drag_points(&self, (x, y): (i64, i64), (tx, ty): (i64, i64)) {
        let actions = vec![
            json!({ "type": "pointerMove", "duration": 0, "origin": "viewport", "x": x, "y": y }),
            json!({ "type": "pointerDown", "button": 0 }),
            json!({ "type": "pointerMove", "duration": 100, "origin": "viewport", "x": x + 5, "y": y + 5 }),
            json!({ "type": "pointerMove", "duration": 200, "origin": "viewport", "x": tx, "y": ty }),
            json!({ "type": "pointerUp", "button": 0 }),
        ];
        let body = json!({ "actions": [ { "type": "pointer", "id": "mouse",
                           "parameters": { "pointerType": "mouse" }, "actions": actions } ] });
        self.post("/actions", body).await;
        self.call(reqwest::Method::DELETE, "/actions", None).await;
    }

    /// Clicks the centre of an element with the mouse.
    async fn click(&self, css: &str) {
        let (x, y) = self.centre(css).await;
        let actions = json!([
            { "type": "pointerMove", "duration": 0, "origin": "viewport", "x": x, "y": y },
            { "type": "pointerDown", "button": 0 },
            { "type": "pointerUp", "button": 0 }
        ]);
        let body = json!({ "actions": [ { "type": "pointer", "id": "mouse",
                           "parameters": { "pointerType": "mouse" }, "actions": actions } ] });
        // Not released afterwards: the click may open a dialog, which refuses other commands.
        self.post("/actions", body).await;
    }

    /// Replaces the text of a field by typing (select all, then the keys).
    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        let keys = format!("\u{E009}a\u{E000}\u{E017}{text}");
        self.post(&format!("/element/{id}/value"), json!({ "text": keys })).await;
    }

    async fn screenshot(&self, name: &str) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        std::fs::write(self.shots.join(format!("{:02}-{name}.png", self.step)), bytes).unwrap();
    }

    async fn shot(&mut self, name: &str) {
        self.step += 1;
        self.screenshot(name).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn open_browser(profile: &Path) -> (Driver, Browser) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the studio's browser test needs Debian's `chromium` and \
         `chromium-driver` packages (apt-get install -y chromium chromium-driver)"
    );
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {CHROMEDRIVER} ({e}): install Debian's `chromium-driver` package")
        });
    let driver = Driver(child);
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = http.get(format!("{base}/status")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,900",
        &format!("--user-data-dir={}", profile.display()),
    ];
    let capabilities = json!({ "capabilities": { "alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": CHROMIUM, "args": args }
    } } });
    let response = http
        .post(format!("{base}/session"))
        .header("content-type", "application/json")
        .body(capabilities.to_string())
        .send()
        .await
        .unwrap();
    let created: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let id = created["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
        .to_owned();
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/studio-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let browser = Browser { http, session: format!("{base}/session/{id}"), shots, step: 0 };
    (driver, browser)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_a_flow_in_the_browser() {
    weft::http::ensure_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("countdown.flow.json");
    std::fs::copy("flows/countdown.flow.json", &file).unwrap();
    let original: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();

    let studio = Studio::bind(dir.path(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = studio.url();
    tokio::spawn(studio.run());

    let profile = tempfile::tempdir().unwrap();
    let (_driver, mut b) = open_browser(profile.path()).await;
    b.post("/url", json!({ "url": url })).await;
    b.until("the app", "return document.body.dataset.ready === 'true'").await;
    b.until("the nodes", "return document.querySelectorAll('g.node').length === 4").await;
    b.shot("opened").await;

    // Move `finish` 200 px to the right.
    b.drag("g.node[data-id=finish] rect", None, (200, 0)).await;
    b.until(
        "the move",
        "return document.querySelector('g.node[data-id=finish]').getAttribute('transform') \
         === 'translate(240,240)'",
    )
    .await;
    b.shot("moved").await;

    // Wire init's error exit to `finish`.
    b.drag(
        "g.node[data-id=init] circle.handle[data-exit=error]",
        Some("g.node[data-id=finish] rect"),
        (0, 0),
    )
    .await;
    b.until(
        "the new edge",
        "return !!document.querySelector('g.edge[data-from=init][data-exit=error][data-to=finish]')",
    )
    .await;
    b.shot("connected").await;

    // Edit `finish`'s result: a syntax error shows on the node and the field, then clears.
    b.click("g.node[data-id=finish] rect").await;
    let field = "#panel textarea[data-pointer='/nodes/3/result']";
    b.until("the form", &format!("return !!document.querySelector(\"{field}\")")).await;
    b.type_into(field, "vars.seen +").await;
    b.until(
        "the error",
        &format!(
            "return !!document.querySelector('g.node.bad[data-id=finish]') && \
             document.querySelector(\"{field}\").classList.contains('bad') && \
             document.getElementById('validity').textContent === '1 error'"
        ),
    )
    .await;
    b.shot("invalid").await;
    b.type_into(field, "vars.seen").await;
    b.until(
        "the error to clear",
        &format!(
            "return !document.querySelector('g.node.bad') && \
             !document.querySelector(\"{field}\").classList.contains('bad') && \
             document.getElementById('validity').textContent === 'valid'"
        ),
    )
    .await;
    b.shot("valid").await;

    // Undo and redo the edit (one step per visit of the field).
    b.click("#undo").await;
    b.until(
        "undo",
        &format!("return document.querySelector(\"{field}\").value === '#{{ seen: vars.seen, last: vars.n }}'"),
    )
    .await;
    b.click("#redo").await;
    b.until("redo", &format!("return document.querySelector(\"{field}\").value === 'vars.seen'"))
        .await;

    // A node from the palette, then deleted again.
    b.click("#palette button[data-kind=decision]").await;
    b.until(
        "the new node",
        "return !!document.querySelector('g.node.selected[data-id=decision_1]')",
    )
    .await;
    b.shot("added").await;
    b.click("#delete").await;
    b.until("the deletion", "return !document.querySelector('g.node[data-id=decision_1]')").await;

    b.click("#save").await;
    b.until("the save", "return document.getElementById('status').textContent.startsWith('saved')")
        .await;
    b.shot("saved").await;

    let text = std::fs::read_to_string(&file).unwrap();
    let saved: Value = serde_json::from_str(&text).unwrap();
    let mut expected = original.clone();
    expected["nodes"][3]["position"] = json!([240, 240]);
    expected["nodes"][3]["result"] = json!("vars.seen");
    expected["edges"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "from": "init", "exit": "error", "to": "finish" }));
    assert_eq!(saved, expected, "{text}");
    assert_eq!(text, weft::studio::format::flow_text(&expected));
    let loaded = weft::cli::loader().load_path(&file);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);

    // A change on disk meanwhile: the next save is refused with a message, the file kept.
    std::fs::write(&file, text.replace("countdown", "elsewhere")).unwrap();
    b.drag("g.node[data-id=tick] rect", None, (0, 60)).await;
    b.click("#save").await;
    b.until(
        "the conflict",
        "return document.getElementById('status').textContent.includes('changed on disk')",
    )
    .await;
    b.shot("conflict").await;
    assert!(std::fs::read_to_string(&file).unwrap().contains("elsewhere"));
    b.click("#reopen").await;
    b.until(
        "the reopened file",
        "return document.getElementById('status').textContent.startsWith('opened')",
    )
    .await;
    b.until(
        "the file's contents",
        "return document.querySelector('#flows').selectedOptions[0].textContent.startsWith('elsewhere') \
         || document.querySelector('#panel input[data-pointer=\"/name\"]').value === 'elsewhere'",
    )
    .await;

    // The flow's panel lists the profiles it uses: none here.
    b.until(
        "the profiles",
        "return (document.getElementById('profiles')?.textContent || '').includes('no authorization profile')",
    )
    .await;

    // A new flow from an empty canvas, created by its first save.
    b.click("#new").await;
    b.post("/alert/text", json!({ "text": "built" })).await;
    b.post("/alert/accept", json!({})).await;
    b.click("#palette button[data-kind=end]").await;
    b.until("the end node", "return !!document.querySelector('g.node.start[data-id=end_1]')").await;
    b.click("#save").await;
    b.until(
        "the new file",
        "return document.getElementById('status').textContent.startsWith('saved')",
    )
    .await;
    b.shot("new-flow").await;

    // Zoom with the wheel, pan by dragging the background.
    let transform = "return document.getElementById('viewport').getAttribute('transform')";
    assert_eq!(b.script(transform).await, json!("translate(0,0) scale(1)"));
    let (x, y) = b.centre("#canvas").await;
    let wheel = json!({ "actions": [ { "type": "wheel", "id": "wheel", "actions": [
        { "type": "scroll", "origin": "viewport", "x": x, "y": y, "deltaX": 0, "deltaY": 300 } ] } ] });
    b.post("/actions", wheel).await;
    b.until("the zoom", "return !document.getElementById('viewport').getAttribute('transform').endsWith('scale(1)')")
        .await;
    let zoomed = b.script(transform).await;
    let corner = b
        .script("const r = document.getElementById('canvas').getBoundingClientRect(); return [r.x + 30, r.y + 30];")
        .await;
    let corner = (corner[0].as_f64().unwrap() as i64, corner[1].as_f64().unwrap() as i64);
    b.drag_points(corner, (corner.0 + 100, corner.1 + 50)).await;
    b.until("the pan", &format!("{transform} !== {zoomed}")).await;
    b.shot("panned").await;

    let built = dir.path().join("built.flow.json");
    let loaded = weft::cli::loader().load_path(&built);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);

    b.call(reqwest::Method::DELETE, "", None).await;
}
