//! Weft Studio in a real browser: headless Chromium driven over WebDriver (chromedriver).
//! Requires Debian's `chromium` and `chromium-driver` packages; fails when they are missing.
//! Screenshots of each step are kept in `target/studio-screenshots/`.

use crate::util::http::{client, wait_until_up};
use crate::util::{Weft, free_port, root};
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
/// A script expression: the ids of the selected nodes, joined with commas.
const SELECTED_IDS: &str =
    "[...document.querySelectorAll('g.node.selected')].map((g) => g.dataset.id).join()";

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

    /// Waits until an element `css` is on the page.
    async fn present(&self, css: &str) {
        let source = format!("return !!document.querySelector(\"{css}\")");
        self.until(&format!("element {css}"), &source).await;
    }

    /// Waits until `source` (a script's body) returns true.
    async fn until(&self, what: &str, source: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if self.script(source).await == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                let name: String =
                    what.chars().map(|c| if c.is_alphanumeric() { c } else { '-' }).collect();
                self.screenshot(&format!("timeout-{name}")).await;
                let errors = self.script("return window.__errors || []").await;
                panic!("timed out waiting for {what} (errors in the page: {errors})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page says the flow is valid.
    async fn until_valid(&self, what: &str) {
        self.until(what, "return document.getElementById('validity').textContent === 'valid'")
            .await;
    }

    /// Waits until the status line says the flow was saved.
    async fn until_saved(&self) {
        self.until(
            "saved",
            "return (document.getElementById('status')?.textContent || '').startsWith('saved')",
        )
        .await;
    }

    /// The centre of an element, in viewport pixels (found afresh: the canvas is redrawn often),
    /// once it is on the page (a click waits for its target, as a person would).
    async fn centre(&self, css: &str) -> (i64, i64) {
        self.present(css).await;
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
    async fn drag_points(&self, from: (i64, i64), to: (i64, i64)) {
        self.pointer(&Self::drag_actions(from, to), false).await;
    }

    /// The pointer actions of a drag from `(x, y)` to `(tx, ty)`.
    fn drag_actions((x, y): (i64, i64), (tx, ty): (i64, i64)) -> Vec<Value> {
        vec![
            json!({ "type": "pointerMove", "duration": 0, "origin": "viewport", "x": x, "y": y }),
            json!({ "type": "pointerDown", "button": 0 }),
            json!({ "type": "pointerMove", "duration": 100, "origin": "viewport", "x": x + 5, "y": y + 5 }),
            json!({ "type": "pointerMove", "duration": 200, "origin": "viewport", "x": tx, "y": ty }),
            json!({ "type": "pointerUp", "button": 0 }),
        ]
    }

    /// The pointer actions of a click at `(x, y)`.
    fn click_actions((x, y): (i64, i64)) -> Vec<Value> {
        vec![
            json!({ "type": "pointerMove", "duration": 0, "origin": "viewport", "x": x, "y": y }),
            json!({ "type": "pointerDown", "button": 0 }),
            json!({ "type": "pointerUp", "button": 0 }),
        ]
    }

    /// Performs the mouse's `actions`, Shift held down throughout when `shift`, and releases
    /// everything.
    async fn pointer(&self, actions: &[Value], shift: bool) {
        self.perform(actions, shift).await;
        self.call(reqwest::Method::DELETE, "/actions", None).await;
    }

    /// Performs the mouse's `actions`, Shift held down throughout when `shift`; nothing is
    /// released afterwards.
    async fn perform(&self, actions: &[Value], shift: bool) {
        let mut sources = vec![json!({ "type": "pointer", "id": "mouse",
                                       "parameters": { "pointerType": "mouse" }, "actions": actions })];
        if shift {
            // One key action per tick of the mouse's, and one more: Shift is down for all of them.
            let mut keys = vec![json!({ "type": "keyDown", "value": "\u{E008}" })];
            keys.extend((1..actions.len()).map(|_| json!({ "type": "pause", "duration": 0 })));
            keys.push(json!({ "type": "keyUp", "value": "\u{E008}" }));
            sources.push(json!({ "type": "key", "id": "keyboard", "actions": keys }));
        }
        self.post("/actions", json!({ "actions": sources })).await;
    }

    /// Clicks the centre of an element with Shift held down.
    async fn shift_click(&self, css: &str) {
        self.pointer(&Self::click_actions(self.centre(css).await), true).await;
    }

    /// Clicks the centre of an element with the mouse.
    async fn click(&self, css: &str) {
        // Controls low in the side panel are scrolled to first, as a user would.
        self.present(css).await;
        self.script(&format!(
            "document.querySelector(\"{css}\").scrollIntoView({{ block: 'nearest' }})"
        ))
        .await;
        // Not released afterwards: the click may open a dialog, which refuses other commands.
        self.perform(&Self::click_actions(self.centre(css).await), false).await;
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

/// One browser at a time: the machines are small, and two headless Chromiums slow both.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Opens a browser whose screenshots go to `target/studio-screenshots/<scenario>/`.
async fn open_browser(profile: &Path, scenario: &str) -> (Driver, Browser) {
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
    let http = client();
    let base = format!("http://127.0.0.1:{port}");
    wait_until_up(&http, &format!("{base}/status"), Duration::from_secs(20)).await;
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
    let shots =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/studio-screenshots").join(scenario);
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let browser = Browser { http, session: format!("{base}/session/{id}"), shots, step: 0 };
    (driver, browser)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_a_flow_in_the_browser() {
    let _one = ONE_BROWSER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("countdown.flow.json");
    std::fs::copy("flows/countdown.flow.json", &file).unwrap();
    let original: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();

    let studio = Studio::bind(dir.path(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = studio.url();
    tokio::spawn(studio.run());

    let profile = tempfile::tempdir().unwrap();
    let (_driver, mut b) = open_browser(profile.path(), "edit").await;
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

    // A decision that doesn't compile still shows the exits its fields name (what its kind
    // says of itself), and its conditions are expressions: text areas.
    b.click("g.node[data-id=more] rect").await;
    let when = "#panel textarea[data-pointer='/nodes/1/conditions/0/when']";
    b.until("the decision's form", &format!("return !!document.querySelector(\"{when}\")")).await;
    b.type_into(when, "vars.n >").await;
    b.until(
        "the decision's exits",
        "return document.getElementById('validity').textContent === '1 error' && \
         [...document.querySelectorAll('g.node[data-id=more] circle.handle')] \
         .map((c) => c.dataset.exit).join() === 'tick,done,error'",
    )
    .await;
    b.type_into(when, "vars.n > 0").await;
    b.until_valid("valid again").await;

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

    // Copy and paste (Ctrl+C, Ctrl+V), and duplicate (Ctrl+D): a new node with the fields of
    // the one copied, beside it, selected; Undo takes it away.
    let key = |k: &str| {
        format!(
            "document.dispatchEvent(new KeyboardEvent('keydown', {{ key: '{k}', ctrlKey: true, bubbles: true }}))"
        )
    };
    b.click("g.node[data-id=tick] rect").await;
    b.script(&format!("{}; {}", key("c"), key("v"))).await;
    b.until(
        "the pasted node",
        "return !!document.querySelector('g.node.selected[data-id=tick_2]')",
    )
    .await;
    b.script(&key("d")).await;
    b.until("the duplicate", "return !!document.querySelector('g.node.selected[data-id=tick_3]')")
        .await;
    let copies = drawn_positions(&b).await;
    let (tick, pasted, duplicated) = (copies["tick"], copies["tick_2"], copies["tick_3"]);
    assert_eq!((pasted.0 - tick.0, pasted.1 - tick.1), (30.0, 30.0), "{copies:?}");
    assert_eq!((duplicated.0 - pasted.0, duplicated.1 - pasted.1), (30.0, 30.0), "{copies:?}");
    for _ in 0..2 {
        b.click("#undo").await;
    }
    b.until("the copies undone", "return !document.querySelector('g.node[data-id^=tick_]')").await;

    // Several nodes: Shift+click selects more and tick; copied and pasted, the copies keep the
    // edges between them; dragging one moves both; Delete removes both. A Shift+drag rectangle
    // selects the nodes it holds.
    b.click("g.node[data-id=more] rect").await;
    b.shift_click("g.node[data-id=tick] rect").await;
    b.until(
        "two selected",
        "return document.getElementById('selection-count')?.textContent === '2 nodes selected'",
    )
    .await;
    b.script(&format!("{}; {}", key("c"), key("v"))).await;
    b.until(
        "the pasted pair",
        "return document.querySelectorAll('g.node.selected').length === 2 && \
         !!document.querySelector('g.node.selected[data-id=more_2]') && \
         !!document.querySelector('g.edge[data-from=more_2][data-exit=tick][data-to=tick_2]') && \
         !!document.querySelector('g.edge[data-from=tick_2][data-to=more_2]')",
    )
    .await;
    let before = drawn_positions(&b).await;
    b.drag("g.node[data-id=tick_2] rect", None, (40, 0)).await;
    let after = drawn_positions(&b).await;
    for id in ["more_2", "tick_2"] {
        assert!((after[id].0 - before[id].0 - 40.0).abs() < 2.0, "{id}: {before:?} → {after:?}");
    }
    assert_eq!(after["more"], before["more"], "a node not selected stays");
    b.shot("several").await;
    b.click("#delete").await;
    b.until("the pair deleted", "return !document.querySelector('g.node[data-id$=_2]')").await;
    let (l, t) = b.centre("g.node[data-id=finish] rect").await;
    let corner = b
        .script(
            "const r = document.querySelector('g.node[data-id=finish] rect').getBoundingClientRect(); \
             return [Math.round(r.width), Math.round(r.height)];",
        )
        .await;
    let (w, h) = (corner[0].as_i64().unwrap(), corner[1].as_i64().unwrap());
    // From below and right of it, where nothing is drawn, to above and left of it.
    let lasso =
        Browser::drag_actions((l + w / 2 + 24, t + h / 2 + 24), (l - w / 2 - 8, t - h / 2 - 8));
    b.pointer(&lasso, true).await;
    b.until("the rectangle's node", &format!("return {SELECTED_IDS} === 'finish'")).await;
    // A click without Shift on one of several selected nodes selects it alone.
    b.shift_click("g.node[data-id=more] rect").await;
    b.until("two again", "return document.querySelectorAll('g.node.selected').length === 2").await;
    b.click("g.node[data-id=more] rect").await;
    b.until("more alone", &format!("return {SELECTED_IDS} === 'more'")).await;

    b.click("#save").await;
    b.until_saved().await;
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
    // The hand-formatted file keeps its layout: the changed node's line, the edge before the
    // new one (its comma) and the new edge are the only new lines.
    let before = std::fs::read_to_string("flows/countdown.flow.json").unwrap();
    assert_eq!(text, weft::studio::format::flow_text_keeping(&expected, &before));
    let new_lines: Vec<&str> = text.lines().filter(|l| !before.lines().any(|b| b == *l)).collect();
    assert_eq!(
        new_lines,
        [
            r#"    { "id": "finish", "type": "end", "result": "vars.seen", "position": [240, 240] }"#,
            r#"    { "from": "more", "exit": "done", "to": "finish" },"#,
            r#"    { "from": "init", "exit": "error", "to": "finish" }"#,
        ],
        "{text}"
    );
    assert_eq!(text.lines().count(), before.lines().count() + 1);
    let loaded = weft::flow::Loader::builtin().load_path(&file);
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
    b.until_saved().await;
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
    let loaded = weft::flow::Loader::builtin().load_path(&built);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);

    b.call(reqwest::Method::DELETE, "", None).await;
}

/// A studio over a folder of `files` from `flows/`, with a simulator of its own (what `weft
/// studio --sim` does), and a browser on it at `hash`, the page's errors collected in
/// `window.__errors`; what it holds lives as long as it does.
struct SimStudio {
    sim: weft_sim::SimHandle,
    b: Browser,
    /// The studio's folder.
    dir: PathBuf,
    /// Its run store's database.
    store: PathBuf,
    kept: (Driver, [tempfile::TempDir; 3]),
}

async fn sim_studio(files: &[&str], scenario: &str, hash: &str) -> SimStudio {
    sim_studio_with(files, &[], scenario, hash).await
}

/// As [`sim_studio`], with `written` files (name, text) in the folder too.
async fn sim_studio_with(
    files: &[&str],
    written: &[(&str, String)],
    scenario: &str,
    hash: &str,
) -> SimStudio {
    let sim = weft_sim::Simulator::start(weft_sim::SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for name in files {
        std::fs::copy(Path::new("flows").join(name), dir.path().join(name)).unwrap();
    }
    for (name, text) in written {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let state = tempfile::tempdir().unwrap();
    let mut options = weft::studio::StudioOptions::simulator(&sim);
    options.state_dir = Some(state.path().to_owned());
    let store = state.path().join("runs.db");
    options.store = Some(crate::util::durable(state.path()));
    options.store_url = Some(format!("sqlite:{}", store.display()));
    let studio =
        Studio::bind_with(dir.path(), "127.0.0.1:0".parse().unwrap(), options).await.unwrap();
    let url = format!("{}{hash}", studio.url());
    tokio::spawn(studio.run());
    let profile = tempfile::tempdir().unwrap();
    let (driver, b) = open_browser(profile.path(), scenario).await;
    b.post("/url", json!({ "url": url })).await;
    b.until("the app", "return document.body.dataset.ready === 'true'").await;
    b.script(
        "window.__errors = []; window.addEventListener('error', (e) => window.__errors.push(e.message)); \
         window.addEventListener('unhandledrejection', (e) => window.__errors.push(String(e.reason)));",
    )
    .await;
    let dir_path = dir.path().to_owned();
    SimStudio { sim, b, dir: dir_path, store, kept: (driver, [dir, state, profile]) }
}

/// Checks that the page (of [`sim_studio_with`]) logged no error, and ends the browser's
/// session.
async fn close_clean(b: &Browser) {
    let errors = b.script("return window.__errors").await;
    assert_eq!(errors, json!([]), "errors in the page");
    b.call(reqwest::Method::DELETE, "", None).await;
}

/// Waits until the mapping panel lists the fields of its sample, and checks it found the list
/// at `/value` (as Graph's pages hold it).
async fn until_sample(b: &Browser) {
    b.until(
        "the sample's fields",
        "return document.querySelectorAll('#mapping-fields tr[data-path]').length > 0",
    )
    .await;
    let list = b.script("return document.getElementById('mapping-list').value").await;
    assert_eq!(list, json!("/value"));
}

/// Pastes `sample` into the mapping panel of the selected JSON Import node, and waits for its
/// fields (see [`until_sample`]).
async fn paste_sample(b: &Browser, sample: &Value) {
    b.script(&format!(
        "const t = document.getElementById('mapping-sample'); t.value = {}; \
         t.dispatchEvent(new Event('input'));",
        serde_json::to_string(&sample.to_string()).unwrap()
    ))
    .await;
    until_sample(b).await;
}

/// With a JSON Import node of the calendar selected after a run, takes the page the run read
/// as the mapping panel's sample: the calendarView page's `/value` and its fields.
async fn sample_from_run(b: &Browser) {
    b.click("#mapping-from-run").await;
    until_sample(b).await;
    let paths = b
        .script("return [...document.querySelectorAll('#mapping-fields tr[data-path]')].map((r) => r.dataset.path)")
        .await;
    assert!(paths.as_array().unwrap().contains(&json!("subject")), "{paths}");
}

/// The text of an element (empty when there is none).
async fn text_of(b: &Browser, css: &str) -> String {
    let text =
        b.script(&format!("return document.querySelector(\"{css}\")?.textContent ?? ''")).await;
    text.as_str().unwrap().to_owned()
}

/// Waits for the run to end and checks that it succeeded and every node of `nodes` shows the
/// exit it took on the canvas.
async fn wait_for_run(b: &mut Browser, nodes: &[(&str, &str)], what: &str) {
    b.until(
        &format!("{what}: the run's end"),
        "return /^(succeeded|failed|interrupted)/.test(document.getElementById('run-status')?.textContent || '')",
    )
    .await;
    b.shot(&format!("{what}-ran")).await;
    let status = text_of(b, "#run-status").await;
    assert!(status.starts_with("succeeded"), "{status}");
    assert_exits(b, nodes).await;
}

/// Checks that every node of `nodes` shows the exit it took in the run drawn.
async fn assert_exits(b: &Browser, nodes: &[(&str, &str)]) {
    for (node, exit) in nodes {
        let shown = b
            .script(&format!(
                "const g = document.querySelector('g.node[data-id={node}]'); \
                 return [g.dataset.runExit, g.querySelector('.run-info').textContent, g.classList.contains('run-done')];"
            ))
            .await;
        assert_eq!(shown[0], json!(exit), "{node}: {shown}");
        assert!(shown[1].as_str().unwrap().starts_with(&format!("→ {exit} · ")), "{node}: {shown}");
        assert_eq!(shown[2], json!(true), "{node}: {shown}");
    }
}

/// Clicks a node and reads the items its last run wrote into `vars.<var>`, as its panel shows.
async fn output_of(b: &mut Browser, node: &str, var: &str) -> Vec<Value> {
    b.click(&format!("g.node[data-id={node}] rect")).await;
    b.until(&format!("{node}'s output"), "return !!document.getElementById('node-run-output')")
        .await;
    b.until(
        &format!("{node}'s input"),
        "return !(document.getElementById('node-run-input')?.textContent || '…').startsWith('…')",
    )
    .await;
    let output: Value = serde_json::from_str(&text_of(b, "#node-run-output").await).unwrap();
    let input: Value = serde_json::from_str(&text_of(b, "#node-run-input").await).unwrap();
    // Before the node ran, the variable was unset or the flow's empty list.
    assert!(
        input.get(var).is_none_or(|v| v == &json!([])),
        "{node} had {var} before it ran: {input}"
    );
    output[var].as_array().unwrap_or_else(|| panic!("{output}")).clone()
}

/// A node added from the palette: kind, id, where it is dragged, fields typed in.
type NodeSpec<'a> = (&'a str, &'a str, (i64, i64), &'a [(&'a str, &'a str)]);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_and_run_the_calendar_flow_against_the_simulator() {
    let _one = ONE_BROWSER.lock().await;
    let files = ["graph-calendar.flow.json", "graph-calendar.test.json", "profiles.sim.json"];
    let SimStudio { sim, mut b, dir, store, kept: _kept } =
        sim_studio(&files, "calendar", "").await;
    b.until("the calendar", "return document.querySelectorAll('g.node').length === 8").await;
    b.shot("calendar-opened").await;

    // Run the example calendar flow: the form starts at the simulator's Graph and profiles.
    b.click("#run").await;
    b.until("the run form", "return !!document.querySelector('#run-form [data-param=user]')").await;
    let graph_base =
        b.script("return document.querySelector('#run-form [data-param=graph_base]').value").await;
    assert_eq!(graph_base, json!(sim.graph_base()));
    b.until(
        "the profiles",
        "return (document.getElementById('profiles')?.textContent || '').includes('✓ graph-app')",
    )
    .await;
    b.type_into("#run-form [data-param=user]", "adele@weft.test").await;
    b.shot("calendar-form").await;
    b.click("#run-start").await;
    let exits = [
        ("window", "ok"),
        ("sign_in", "ok"),
        ("fetch", "ok"),
        ("import", "ok"),
        ("more", "done"),
        ("done", "end"),
    ];
    wait_for_run(&mut b, &exits, "calendar").await;
    // `failed` did not run.
    let failed = b
        .script("return document.querySelector('g.node[data-id=failed]').dataset.runState ?? null")
        .await;
    assert_eq!(failed, Value::Null);
    let result: Value = serde_json::from_str(&text_of(&b, "#run-result").await).unwrap();
    let expected = result.as_array().unwrap().clone();
    assert!(!expected.is_empty());

    // The import node shows the imported items, its input and the fetch its requests.
    let items = output_of(&mut b, "import", "events").await;
    b.shot("calendar-import").await;
    assert_eq!(items, expected);
    assert!(items.iter().all(|i| i["subject"].is_string() && i["start"].is_string()), "{items:?}");
    // Its mapping panel takes the page the last run read as its sample.
    sample_from_run(&b).await;
    b.click("g.node[data-id=fetch] rect").await;
    b.until("fetch's requests", "return !!document.querySelector('#node-run-http li')").await;
    // Each field with its line of the generated reference; the palette says what each kind does.
    let refs = b
        .script("return [...document.querySelectorAll('#panel .ref')].map((r) => r.textContent)")
        .await;
    let refs: Vec<&str> = refs.as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(refs.contains(&"string, template"), "{refs:?}");
    assert!(
        refs.iter().any(|r| r.starts_with("\"GET\" | \"POST\"") && r.ends_with("default \"GET\"")),
        "{refs:?}"
    );
    let palette = text_of(&b, "#palette button[data-kind=http_request] small").await;
    assert_eq!(palette, "Calls an HTTP API");
    let request = text_of(&b, "#node-run-http li").await;
    assert!(
        request.starts_with(&format!(
            "GET {}/users/adele%40weft.test/calendarView?",
            sim.graph_base()
        )),
        "{request}"
    );
    assert!(request.contains("→ 200"), "{request}");
    let page = text_of(&b, "#node-run-output").await;
    assert!(!page.contains(weft_sim::APP_CLIENT_SECRET));
    // The page Graph answered: the sample the built flow's mapping starts from below.
    let sample = serde_json::from_str::<Value>(&page).unwrap()["page"]["body"].clone();
    assert!(sample["value"].is_array(), "{sample}");

    // fetch's test cases, from its panel.
    b.click("#node-tests-run").await;
    b.until("fetch's cases", "return !!document.querySelector('#node-tests .tests-total')").await;
    let total = text_of(&b, "#node-tests .tests-total").await;
    assert!(total.ends_with(" passed, 0 failed") && !total.starts_with("0 "), "{total}");
    let lines = b
        .script(
            "return [...document.querySelectorAll('#node-tests .case')].map((e) => e.textContent)",
        )
        .await;
    assert!(
        lines.as_array().unwrap().iter().all(|l| l.as_str().unwrap().starts_with("✓ fetch")),
        "{lines}"
    );
    b.shot("calendar-tests").await;

    // A status exit, dragged to `failed`.
    b.type_into("#status-exit-code", "404").await;
    b.click("#status-exit-add").await;
    b.until(
        "the 404 port",
        "return !!document.querySelector('g.node[data-id=fetch] circle.handle[data-exit=\"404\"]')",
    )
    .await;
    b.drag(
        "g.node[data-id=fetch] circle.handle[data-exit='404']",
        Some("g.node[data-id=failed] rect"),
        (0, 0),
    )
    .await;
    b.until(
        "the 404 edge",
        "return !!document.querySelector('g.edge[data-from=fetch][data-exit=\"404\"][data-to=failed]')",
    )
    .await;
    b.until_valid("validation").await;
    b.shot("calendar-404").await;
    b.click("#save").await;
    b.until_saved().await;
    let saved: Value =
        serde_json::from_slice(&std::fs::read(dir.join("graph-calendar.flow.json")).unwrap())
            .unwrap();
    assert!(
        saved["edges"]
            .as_array()
            .unwrap()
            .contains(&json!({ "from": "fetch", "exit": "404", "to": "failed" }))
    );

    // Now from an empty canvas: a new flow, built from the palette and the forms.
    b.click("#new").await;
    b.post("/alert/text", json!({ "text": "my-calendar" })).await;
    b.post("/alert/accept", json!({})).await;
    b.until(
        "the empty flow",
        "return document.getElementById('status').textContent.startsWith('new flow')",
    )
    .await;
    b.click("#canvas").await;
    b.until(
        "the flow's panel",
        "return !!document.querySelector('#panel textarea[data-pointer=\"/parameters\"]')",
    )
    .await;
    b.type_into(
        "#panel textarea[data-pointer='/parameters']",
        r#"{ "graph_base": { "type": "string" }, "user": { "type": "string", "default": "adele@weft.test" } }"#,
    )
    .await;
    // Each node from the palette, moved to a place of its own, its fields typed in.
    let url = "${params.graph_base}/users/${url_encode(params.user)}/calendarView\
               ?startDateTime=${url_encode(start_of_week(now()))}\
               &endDateTime=${url_encode(add_days(start_of_week(now()), 7))}";
    let nodes: [NodeSpec; 4] = [
        ("authentication", "authentication_1", (-320, -260), &[("profile", "graph-app")]),
        (
            "http_request",
            "http_request_1",
            (-320, -150),
            &[("url", url), ("auth", "graph-app"), ("into", "page")],
        ),
        (
            "json_import",
            "json_import_1",
            (-320, -40),
            &[("from", "vars.page.body"), ("into", "events")],
        ),
        ("end", "end_1", (-320, 70), &[("result", "vars.events")]),
    ];
    for (i, (kind, id, by, fields)) in nodes.iter().enumerate() {
        b.click(&format!("#palette button[data-kind={kind}]")).await;
        b.until(id, &format!("return !!document.querySelector('g.node.selected[data-id={id}]')"))
            .await;
        b.drag(&format!("g.node[data-id={id}] rect"), None, *by).await;
        for (field, value) in *fields {
            let css = format!("#panel [data-pointer='/nodes/{i}/{field}']");
            b.present(&css).await;
            b.type_into(&css, value).await;
        }
    }
    // Its mapping from the sample response: keep the subject and the start.
    b.click("g.node[data-id=json_import_1] rect").await;
    b.until("the mapping panel", "return !!document.getElementById('mapping-sample')").await;
    paste_sample(&b, &sample).await;
    b.script(
        "for (const row of document.querySelectorAll('#mapping-fields tr[data-path]')) { \
           const keep = row.querySelector('.mapping-keep'); \
           if (keep.checked !== ['subject', 'start'].includes(row.dataset.path)) keep.click(); }",
    )
    .await;
    b.click("#mapping-apply").await;
    b.shot("built-nodes").await;
    for (from, to) in [
        ("authentication_1", "http_request_1"),
        ("http_request_1", "json_import_1"),
        ("json_import_1", "end_1"),
    ] {
        b.drag(
            &format!("g.node[data-id={from}] circle.handle[data-exit=ok]"),
            Some(&format!("g.node[data-id={to}] rect")),
            (0, 0),
        )
        .await;
        b.until(
            &format!("{from} → {to}"),
            &format!("return !!document.querySelector('g.edge[data-from={from}][data-exit=ok][data-to={to}]')"),
        )
        .await;
    }
    b.until_valid("a valid flow").await;
    b.shot("built-connected").await;
    b.click("#save").await;
    b.until_saved().await;
    let built = dir.join("my-calendar.flow.json");
    Weft::new(&root(), ["validate"]).arg(&built).run().assert_code(0);
    let saved: Value = serde_json::from_slice(&std::fs::read(&built).unwrap()).unwrap();
    let import = &saved["nodes"][2];
    assert_eq!(import["select"], "/value", "{import}");
    assert_eq!(import["map"], "#{ start: item.start, subject: item.subject }", "{import}");
    assert_eq!(import["fields"]["start"], "datetime", "{import}");

    // Run it: graph_base comes from the simulator, user from its default.
    b.click("#run").await;
    b.until("the run form", "return !!document.querySelector('#run-form [data-param=user]')").await;
    let form = b
        .script("return [...document.querySelectorAll('#run-form [data-param]')].map((e) => [e.dataset.param, e.value])")
        .await;
    assert_eq!(form, json!([["graph_base", sim.graph_base()], ["user", "adele@weft.test"]]));
    b.click("#run-start").await;
    let exits = [
        ("authentication_1", "ok"),
        ("http_request_1", "ok"),
        ("json_import_1", "ok"),
        ("end_1", "end"),
    ];
    wait_for_run(&mut b, &exits, "built").await;
    let result: Value = serde_json::from_str(&text_of(&b, "#run-result").await).unwrap();
    let items = output_of(&mut b, "json_import_1", "events").await;
    b.shot("built-import").await;
    assert!(!items.is_empty());
    assert_eq!(Value::Array(items.clone()), result);
    assert!(items.iter().all(|i| i["subject"].is_string() && i["start"].is_string()), "{items:?}");
    // Its mapping panel takes the page the last run read as its sample.
    sample_from_run(&b).await;

    // A user Graph does not know: the request's node fails, in red, with Graph's error.
    b.click("#run").await;
    b.until("the run form", "return !!document.querySelector('#run-form [data-param=user]')").await;
    b.type_into("#run-form [data-param=user]", "nobody@weft.test").await;
    b.click("#run-start").await;
    b.until(
        "the failed run",
        "return (document.getElementById('run-status')?.textContent || '').startsWith('failed at http_request_1')",
    )
    .await;
    b.until(
        "the failed node",
        "return !!document.querySelector('g.node.run-failed[data-id=http_request_1]') && \
         document.querySelector('g.node[data-id=http_request_1]').dataset.runExit === 'error' && \
         !document.querySelector('g.node[data-id=json_import_1]').dataset.runState",
    )
    .await;
    b.click("g.node[data-id=http_request_1] rect").await;
    b.until("the node's error", "return !!document.getElementById('node-run-error')").await;
    let error: Value = serde_json::from_str(&text_of(&b, "#node-run-error").await).unwrap();
    assert_eq!(error["status"], 404, "{error}");
    assert_eq!(error["node"], "http_request_1");
    assert!(text_of(&b, "#node-run-http li").await.contains("→ 404"));
    b.shot("built-failed").await;

    // Yesterday's run: the built flow's first run, moved a day back in the store.
    let db = rusqlite::Connection::open(&store).unwrap();
    let yesterday: String = db
        .query_row(
            "SELECT id FROM runs WHERE status = 'succeeded' AND flow_path LIKE '%my-calendar.flow.json'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let day = "- 86400000";
    db.execute(
        &format!(
            "UPDATE runs SET created_at = created_at {day}, started_at = started_at {day}, \
             finished_at = finished_at {day} WHERE id = ?1"
        ),
        [&yesterday],
    )
    .unwrap();
    b.click("#run").await;
    b.until(
        "the history",
        "return document.querySelectorAll('#history-runs .history-run').length === 2",
    )
    .await;
    let listed = b
        .script("return [...document.querySelectorAll('.history-run')].map((b) => [b.dataset.id, b.textContent])")
        .await;
    let (failed, old) = (&listed[0], &listed[1]);
    assert_eq!(old[0], json!(yesterday), "{listed}");
    assert!(old[1].as_str().unwrap().starts_with("✓ yesterday "), "{listed}");
    assert!(old[1].as_str().unwrap().contains(" · succeeded"), "{listed}");
    assert!(failed[1].as_str().unwrap().starts_with("✗ today "), "{listed}");
    b.click(&format!(".history-run[data-id='{yesterday}']")).await;
    b.until(
        "yesterday's run drawn",
        "return (document.getElementById('history-drawn')?.textContent || '').startsWith('Drawn: the run of yesterday')",
    )
    .await;
    assert!(text_of(&b, "#run-status").await.starts_with("succeeded"));
    assert_exits(&b, &exits).await;
    let drawn: Value = serde_json::from_str(&text_of(&b, "#run-result").await).unwrap();
    assert_eq!(drawn, result);
    assert!(text_of(&b, "#history-params").await.contains("\"user\": \"adele@weft.test\""));
    b.script("document.getElementById('history').scrollIntoView({ block: 'start' })").await;
    b.shot("history-yesterday").await;

    // The failed run, drawn and run again from the node that failed: the user is still
    // unknown, so it fails there again, in its second attempt.
    let failed = failed[0].as_str().unwrap().to_owned();
    b.click(&format!(".history-run[data-id='{failed}']")).await;
    b.until("the failed run drawn", "return !!document.getElementById('history-resume')").await;
    assert!(text_of(&b, "#history-drawn").await.contains(", failed"));
    b.click("#history-resume").await;
    b.until(
        "the run again",
        "return !document.getElementById('history-drawn') && \
         (document.getElementById('run-status')?.textContent || '').startsWith('failed at http_request_1')",
    )
    .await;
    let attempts: (i64, String) = db
        .query_row("SELECT attempts, status FROM runs WHERE id = ?1", [&failed], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!(attempts, (2, "failed".to_owned()));
    close_clean(&b).await;
    sim.shutdown().await;
}

/// A `call` node opens the flow it runs, and after a run lists its child runs: one opens the
/// child's flow with that child's run drawn on it, and Back returns to the parent. The run
/// drawn again from the history lists its children the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_node_opens_its_child_flow_and_the_child_runs() {
    let _one = ONE_BROWSER.lock().await;
    let files = ["team-calendars.flow.json", "user-calendar.flow.json", "profiles.sim.json"];
    let SimStudio { sim: _sim, mut b, kept: _kept, .. } =
        sim_studio(&files, "children", "#team-calendars.flow.json").await;
    b.until("the team flow", "return !!document.querySelector('g.node[data-id=each_user]')").await;
    // The child it calls is found beside it in the folder, as it is typed too.
    b.until_valid("validation").await;
    b.click("g.node[data-id=window] rect").await;
    b.drag("g.node[data-id=window] rect", None, (0, 12)).await;
    b.until_valid("validation").await;
    b.click("#save").await;
    b.until_saved().await;

    b.click("#run").await;
    b.until("the run form", "return !!document.querySelector('#run-form [data-param=users]')")
        .await;
    b.type_into("#run-form [data-param=users]", r#"["adele@weft.test", "megan@weft.test"]"#).await;
    b.click("#run-start").await;
    wait_for_run(&mut b, &[("window", "ok"), ("each_user", "ok"), ("done", "end")], "team").await;
    let result: Value = serde_json::from_str(&text_of(&b, "#run-result").await).unwrap();
    assert_eq!(result.as_array().unwrap().len(), 2, "{result}");

    // The call node's panel: the flow it runs, and one child run per user.
    b.click("g.node[data-id=each_user] rect").await;
    b.until("the open button", "return !!document.querySelector('button.open-flow')").await;
    assert_eq!(text_of(&b, "button.open-flow").await, "Open user-calendar.flow.json");
    b.until("two child runs", "return document.querySelectorAll('#child-runs li').length === 2")
        .await;
    let children = b
        .script(
            "return [...document.querySelectorAll('#child-runs button')].map((e) => e.textContent)",
        )
        .await;
    for child in children.as_array().unwrap() {
        assert!(child.as_str().unwrap().starts_with("succeeded · "), "{children}");
    }
    b.shot("team-children").await;

    // The second child's run, drawn on the child flow.
    b.click("#child-runs li:nth-child(2) button").await;
    // `done` ran in the parent too: the child's own `fetch` says the child is drawn.
    b.until(
        "the child flow",
        "return document.getElementById('flows').value === 'user-calendar.flow.json' \
         && !!document.querySelector('g.node[data-id=fetch]') \
         && !!document.querySelector('g.node[data-id=done].run-done')",
    )
    .await;
    assert_eq!(b.script("return location.hash").await, json!("#user-calendar.flow.json"));
    let exit =
        b.script("return document.querySelector('g.node[data-id=done]').dataset.runExit").await;
    assert_eq!(exit, json!("end"));
    // Its requests are the second user's.
    assert_second_users_requests(&mut b, "team-child-run").await;

    // Back returns to the parent, its run still drawn.
    b.script("history.back()").await;
    b.until(
        "the parent again",
        "return document.getElementById('flows').value === 'team-calendars.flow.json' \
         && !!document.querySelector('g.node[data-id=each_user].run-done')",
    )
    .await;

    // The same run from the history: drawn from the store, its child runs with it.
    b.click("#run").await;
    b.until("the history", "return document.querySelectorAll('.history-run').length === 1").await;
    b.click(".history-run").await;
    b.until("the stored run", "return !!document.getElementById('history-drawn')").await;
    b.click("g.node[data-id=each_user] rect").await;
    b.until(
        "two stored child runs",
        "return document.querySelectorAll('#child-runs li').length === 2",
    )
    .await;
    b.click("#child-runs li:nth-child(2) button").await;
    b.until(
        "the stored child",
        "return document.getElementById('flows').value === 'user-calendar.flow.json' \
         && !!document.querySelector('g.node[data-id=fetch]') \
         && !!document.querySelector('g.node[data-id=done].run-done')",
    )
    .await;
    assert_second_users_requests(&mut b, "team-stored-child-run").await;
    close_clean(&b).await;
}

/// With the second child of the team flow drawn, checks that its `fetch` node's requests are
/// the second user's, and takes the screenshot `shot`.
async fn assert_second_users_requests(b: &mut Browser, shot: &str) {
    b.click("g.node[data-id=fetch] rect").await;
    b.until("the child's requests", "return !!document.querySelector('#node-run-http li')").await;
    let request = text_of(b, "#node-run-http li").await;
    assert!(request.contains("/users/megan%40weft.test/calendarView?"), "{request}");
    b.shot(shot).await;
}

/// A JSON Import's mapping built from a pasted sample, as WEM's modeler does: the list found,
/// its fields listed with their types (Graph's `{ dateTime, timeZone }` as one instant), some
/// left out and one renamed; the studio writes `select`, `map` and `fields`, the flow
/// validates, and the saved flow maps the sample as the panel said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_import_mapping_is_built_from_a_sample() {
    let _one = ONE_BROWSER.lock().await;
    let flow = json!({
        "format": "weft.flow/1", "name": "import-sample",
        "parameters": { "doc": { "type": "object" } },
        "start": "import",
        "nodes": [
            { "id": "import", "type": "json_import", "from": "params.doc", "into": "items", "position": [40, 40] },
            { "id": "done", "type": "end", "result": "vars.items", "position": [40, 140] }
        ],
        "edges": [ { "from": "import", "to": "done" } ]
    });
    let written = [("import-sample.flow.json", flow.to_string())];
    let SimStudio { mut b, dir, kept: _kept, .. } =
        sim_studio_with(&[], &written, "mapping", "#import-sample.flow.json").await;
    b.until("the flow", "return !!document.querySelector('g.node[data-id=import]')").await;
    b.click("g.node[data-id=import] rect").await;
    b.until("the mapping panel", "return !!document.getElementById('mapping-sample')").await;
    let sample = json!({ "@odata.context": "…", "value": [
        { "@odata.etag": "W/\"1\"", "id": "e1", "subject": "Standup", "isAllDay": false,
          "start": { "dateTime": "2026-11-23T09:00:00.0000000", "timeZone": "UTC" },
          "organizer": { "emailAddress": { "name": "Ada", "address": "ada@contoso.com" } } },
        { "@odata.etag": "W/\"2\"", "id": "e2", "subject": "Retro", "isAllDay": true,
          "start": { "dateTime": "2026-11-27T00:00:00.0000000", "timeZone": "UTC" } } ] });
    paste_sample(&b, &sample).await;
    let rows = b
        .script(
            "return [...document.querySelectorAll('#mapping-fields tr[data-path]')].map((r) => \
             [r.dataset.path, r.querySelector('.mapping-name').value, r.querySelector('.mapping-type').value, \
              r.querySelector('.mapping-optional').checked])",
        )
        .await;
    assert_eq!(
        rows,
        json!([
            ["@odata.etag", "odata_etag", "string", false],
            ["id", "id", "string", false],
            ["subject", "subject", "string", false],
            ["isAllDay", "is_all_day", "boolean", false],
            ["start", "start", "datetime", false],
            ["organizer.emailAddress.name", "name", "string", true],
            ["organizer.emailAddress.address", "address", "string", true]
        ]),
        "the fields, their names and types, optional where an item lacks them"
    );
    // Leave out the etag and the organizer's name; call the address `organizer`.
    b.script(
        "const row = (p) => document.querySelector(`#mapping-fields tr[data-path=\"${p}\"]`); \
         for (const p of ['@odata.etag', 'organizer.emailAddress.name']) row(p).querySelector('.mapping-keep').click(); \
         const name = row('organizer.emailAddress.address').querySelector('.mapping-name'); \
         name.value = 'organizer'; name.dispatchEvent(new Event('input'));",
    )
    .await;
    b.script("document.getElementById('mapping').scrollIntoView({ block: 'start' })").await;
    b.shot("mapping-panel").await;
    b.click("#mapping-apply").await;
    b.until_valid("validation").await;
    b.click("#save").await;
    b.until_saved().await;
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("import-sample.flow.json")).unwrap(),
    )
    .unwrap();
    let import = &saved["nodes"][0];
    assert_eq!(import["select"], "/value");
    assert_eq!(
        import["map"],
        "#{ id: item.id, subject: item.subject, is_all_day: item.isAllDay, start: item.start, organizer: item.organizer?.emailAddress?.address }"
    );
    assert_eq!(
        import["fields"],
        json!({ "id": "string", "subject": "string", "is_all_day": "boolean", "start": "datetime", "organizer": "string?" })
    );
    let params = dir.join("params.json");
    std::fs::write(&params, json!({ "doc": sample }).to_string()).unwrap();
    let ran = tokio::task::block_in_place(|| {
        Weft::new(&root(), ["run", "--quiet"])
            .arg(dir.join("import-sample.flow.json"))
            .arg("--params")
            .arg(&params)
            .run()
    });
    assert_eq!(
        ran.assert_code(0).json(),
        json!([
            { "id": "e1", "subject": "Standup", "is_all_day": false, "start": "2026-11-23T09:00:00Z", "organizer": "ada@contoso.com" },
            { "id": "e2", "subject": "Retro", "is_all_day": true, "start": "2026-11-27T00:00:00Z", "organizer": null }
        ])
    );
    close_clean(&b).await;
}

/// The positions of the drawn nodes, by id, from their `transform`.
async fn drawn_positions(b: &Browser) -> std::collections::BTreeMap<String, (f64, f64)> {
    let drawn = b
        .script(
            "return [...document.querySelectorAll('g.node')].map((g) => { \
             const m = /translate\\(([-\\d.]+),([-\\d.]+)\\)/.exec(g.getAttribute('transform')); \
             return [g.dataset.id, Number(m[1]), Number(m[2])]; })",
        )
        .await;
    drawn
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (n[0].as_str().unwrap().to_owned(), (n[1].as_f64().unwrap(), n[2].as_f64().unwrap()))
        })
        .collect()
}

/// No two node boxes (170 × 52) overlap.
fn assert_apart(positions: &std::collections::BTreeMap<String, (f64, f64)>) {
    let all: Vec<(&String, &(f64, f64))> = positions.iter().collect();
    for (i, (a, (ax, ay))) in all.iter().enumerate() {
        for (b, (bx, by)) in &all[i + 1..] {
            let apart = (ax - bx).abs() >= 170.0 || (ay - by).abs() >= 52.0;
            assert!(apart, "{a} at ({ax}, {ay}) overlaps {b} at ({bx}, {by})");
        }
    }
}

/// "Tidy up" lays a flow out in layers from its start (undoably), and a flow without positions —
/// 40 nodes, each with an error edge to one failure node — is laid out so on opening: no node
/// over another, every step below the one before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_are_laid_out_in_layers() {
    let _one = ONE_BROWSER.lock().await;
    let mut nodes = vec![];
    let mut edges = vec![];
    for i in 0..39 {
        nodes.push(json!({ "id": format!("step{i:02}"), "type": "assign", "set": { "vars.n": format!("{i}") } }));
        if i > 0 {
            edges.push(json!({ "from": format!("step{:02}", i - 1), "to": format!("step{i:02}") }));
        }
        edges.push(json!({ "from": format!("step{i:02}"), "exit": "error", "to": "failed" }));
    }
    nodes
        .push(json!({ "id": "failed", "type": "end", "status": "failed", "result": "vars.error" }));
    let wide = json!({ "format": "weft.flow/1", "name": "forty", "start": "step00", "nodes": nodes, "edges": edges });
    let written = [("forty.flow.json", wide.to_string())];
    let files = ["graph-calendar.flow.json", "profiles.sim.json"];
    let SimStudio { mut b, kept: _kept, .. } =
        sim_studio_with(&files, &written, "layout", "#forty.flow.json").await;
    b.until("the forty nodes", "return document.querySelectorAll('g.node').length === 40").await;
    let forty = drawn_positions(&b).await;
    assert_apart(&forty);
    for i in 1..39 {
        let (above, below) = (&forty[&format!("step{:02}", i - 1)], &forty[&format!("step{i:02}")]);
        assert!(below.1 > above.1, "step{i:02} is below the step before it: {forty:?}");
    }
    // The 39 failures into one end are badges at their exits; "All edges" draws them.
    let badges =
        "return document.querySelectorAll('g.edge.badge[data-exit=error][data-to=failed]').length";
    assert_eq!(b.script(badges).await, json!(39));
    b.shot("forty-nodes").await;
    // Larger than the canvas: a minimap of every node, and a click on it goes there.
    let minimap = "return getComputedStyle(document.getElementById('minimap')).display !== 'none' \
                   && document.querySelectorAll('#minimap rect.mini-node').length === 40";
    b.until("the minimap", minimap).await;
    let last_visible = "const r = document.querySelector('g.node[data-id=failed]').getBoundingClientRect(); \
                        const c = document.getElementById('canvas').getBoundingClientRect(); \
                        return r.top >= c.top && r.bottom <= c.bottom && r.left >= c.left && r.right <= c.right;";
    // The failure node, the flow's last, drawn last in the minimap: a click on it goes there.
    let dot = b
        .script(
            "const r = [...document.querySelectorAll('#minimap rect.mini-node')].pop().getBoundingClientRect(); \
             return [Math.round(r.x + r.width / 2), Math.round(r.y + r.height / 2)];",
        )
        .await;
    let before = b.script(last_visible).await;
    let dot = (dot[0].as_i64().unwrap(), dot[1].as_i64().unwrap());
    b.pointer(&Browser::click_actions(dot), false).await;
    b.until("the end in view", last_visible).await;
    assert_eq!(before, json!(false), "the end was out of view before the click");
    b.shot("forty-nodes-minimap").await;
    // Fit shows the whole flow at once: clicked and looked at in one script, so no later
    // redraw can be what shows it.
    let first_visible = last_visible.replace("data-id=failed", "data-id=step00");
    assert_eq!(b.script(&first_visible).await, json!(false), "the start was out of view");
    let fitted =
        b.script(&format!("document.getElementById('fit').click(); {first_visible}")).await;
    assert_eq!(fitted, json!(true), "Fit shows the whole flow at once");
    b.click("#edges-all").await;
    b.until("every edge", "return document.querySelectorAll('g.edge.badge').length === 0").await;
    b.shot("forty-nodes-all-edges").await;
    b.click("#edges-all").await;

    // The calendar flow, tidied up: the start on top, the end below the steps, and Undo.
    b.script("location.hash = '#graph-calendar.flow.json'").await;
    b.until("the calendar", "return document.querySelectorAll('g.node').length === 8").await;
    let before = drawn_positions(&b).await;
    b.click("#tidy").await;
    b.until("tidied", "return document.getElementById('undo').disabled === false").await;
    let tidy = drawn_positions(&b).await;
    assert_apart(&tidy);
    let top = tidy.values().map(|p| p.1).fold(f64::MAX, f64::min);
    assert_eq!(tidy["window"].1, top, "the start on top: {tidy:?}");
    assert!(tidy["done"].1 > tidy["more"].1 && tidy["more"].1 > tidy["import"].1, "{tidy:?}");
    b.shot("calendar-tidy").await;
    b.click("#undo").await;
    b.until("undone", "return document.getElementById('undo').disabled === true").await;
    assert_eq!(drawn_positions(&b).await, before, "Undo puts every node back");
    b.call(reqwest::Method::DELETE, "", None).await;
}

/// What makes a drawn flow hard to read, as the page finds it: an edge through a node other
/// than its ends or through a badge (its path sampled every 4 px), and labels
/// (edges', exits', badges') over one another or over a node.
const READING_PROBLEMS: &str = r#"
const problems = [];
const boxes = (sel) => [...document.querySelectorAll(sel)];
const nodes = boxes('g.node').map((g) => ({ id: g.dataset.id, r: g.querySelector('rect').getBoundingClientRect() }));
const badges = boxes('g.edge.badge rect').map((b) => ({ id: `${b.parentNode.dataset.from}'s badge`, from: b.parentNode.dataset.from, r: b.getBoundingClientRect() }));
const inside = (p, r, m) => p.x > r.left + m && p.x < r.right - m && p.y > r.top + m && p.y < r.bottom - m;
for (const g of boxes('g.edge:not(.badge)')) {
  const path = g.querySelector('path:not(.hit)');
  const m = path.getScreenCTM();
  const length = path.getTotalLength();
  const name = `${g.dataset.from} -${g.dataset.exit}-> ${g.dataset.to}`;
  for (const n of [...nodes, ...badges]) {
    if (n.id === g.dataset.from || n.id === g.dataset.to) continue;
    for (let at = 0; at <= length; at += 4) {
      const p = path.getPointAtLength(at).matrixTransform(m);
      if (inside(p, n.r, 2)) { problems.push(`${name} crosses ${n.id}`); break; }
    }
  }
}
const labels = [
  ...boxes('g.edge:not(.badge) text').map((t) => ({ what: `label ${t.parentNode.dataset.from} -${t.textContent}->`, r: t.getBoundingClientRect() })),
  ...boxes('g.edge.badge rect').map((t) => ({ what: `badge ${t.parentNode.dataset.from} -${t.parentNode.dataset.exit}->`, r: t.getBoundingClientRect() })),
  ...boxes('g.node .handle-label').map((t) => ({ what: `exit ${t.closest('g.node').dataset.id}.${t.textContent}`, node: t.closest('g.node').dataset.id, r: t.getBoundingClientRect() })),
];
const overlap = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
labels.forEach((a, i) => {
  for (const b of labels.slice(i + 1)) if (overlap(a.r, b.r)) problems.push(`${a.what} over ${b.what}`);
  for (const n of nodes) if (n.id !== a.node && overlap(a.r, n.r)) problems.push(`${a.what} over node ${n.id}`);
});
return problems;
"#;

/// Every shipped flow, opened as it is (no node moved), reads at a glance: no edge through a
/// node, no label over another or over a node, no node over another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_flow_reads_at_a_glance() {
    let _one = ONE_BROWSER.lock().await;
    let files = crate::util::flow_files(&crate::util::flows());
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    let SimStudio { mut b, kept: _kept, .. } = sim_studio(&names, "shipped", "").await;
    let mut problems = vec![];
    for file in &files {
        b.script(&format!("location.hash = '#{file}'")).await;
        let count = serde_json::from_str::<Value>(
            &std::fs::read_to_string(Path::new("flows").join(file)).unwrap(),
        )
        .unwrap()["nodes"]
            .as_array()
            .unwrap()
            .len();
        b.until(
            file,
            &format!(
                "return document.getElementById('flows').value === '{file}' && \
                 document.querySelectorAll('g.node').length === {count}"
            ),
        )
        .await;
        b.click("#fit").await;
        b.shot(file.trim_end_matches(".flow.json")).await;
        assert_apart(&drawn_positions(&b).await);
        for problem in b.script(READING_PROBLEMS).await.as_array().unwrap() {
            problems.push(format!("{file}: {}", problem.as_str().unwrap()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    b.call(reqwest::Method::DELETE, "", None).await;
}
