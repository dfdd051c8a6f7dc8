//! The Graph calendar, end to end through the `weft` binary against the project's simulator:
//! results equal the simulator's ground truth, with faults on, with tokens expiring, and the
//! failures a user meets (wrong secret, missing permission) reported clearly without secrets.

use crate::util::{Outcome, Weft, anchor, flows, free_port, root, sim_at_anchor};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use std::path::Path;
use weft::nodes::expr::time;
use weft_sim::{FaultConfig, FaultKind, SimConfig, SimHandle};

const USER: &str = "megan@weft.test";

/// `weft ARGS…` with the simulator's address and `secret` for its profiles (`--profiles` names
/// which).
pub(crate) fn weft_with_sim<S: AsRef<std::ffi::OsStr>>(
    sim: &SimHandle,
    secret: &str,
    args: &[S],
) -> Weft {
    Weft::new(&root(), args).env("WEFT_SIM_URL", sim.base_url()).env("WEFT_SIM_SECRET", secret)
}

/// `weft run --quiet FLOW` against `sim`, with the simulator's profiles and its `graph_base`:
/// FLOW a file of `flows/` by its name, or any flow by its absolute path.
pub(crate) fn run_on_sim(sim: &SimHandle, flow: impl AsRef<Path>) -> Weft {
    weft_with_sim(sim, weft_sim::APP_CLIENT_SECRET, &["run", "--quiet"])
        .arg(flows().join(flow))
        .args(["--profiles", flows().join("profiles.sim.json").to_str().unwrap()])
        .args(["--param", &format!("graph_base={}", sim.graph_base())])
}

/// Runs the calendar flow for a window; `secret` is what the profile's client secret resolves to.
fn run_calendar(sim: &SimHandle, from: &str, to: &str, secret: &str, extra: &[&str]) -> Outcome {
    weft_with_sim(sim, secret, &["run"])
        .arg(flows().join("graph-calendar.flow.json"))
        .arg("--profiles")
        .arg(flows().join("profiles.sim.json"))
        .args(["--param", &format!("graph_base={}", sim.graph_base())])
        .args(["--param", &format!("user={USER}"), "--param", &format!("from={from}")])
        .args(["--param", &format!("to={to}"), "--param", "page_size=7"])
        .args(extra)
        .run()
}

/// The flow's documented result, computed from the simulator's ground truth.
pub(crate) fn expected(
    sim: &SimHandle,
    user: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Value> {
    let utc = |v: &Value| {
        let at =
            time::graph_to_utc(v["dateTime"].as_str().unwrap(), v["timeZone"].as_str().unwrap())
                .unwrap();
        time::format_instant(&at)
    };
    sim.ground_truth(user, from, to)
        .iter()
        .map(|e| {
            json!({
                "id": e["id"], "subject": e["subject"], "start": utc(&e["start"]), "end": utc(&e["end"]),
                "is_all_day": e["isAllDay"], "location": e["location"]["displayName"],
                "organizer": e["organizer"]["emailAddress"]["address"],
            })
        })
        .collect()
}

fn result(output: &Outcome) -> Value {
    output.assert_code(0).json()
}

async fn check_window(sim: &SimHandle, from: DateTime<Utc>, to: DateTime<Utc>) {
    let (f, t) = (from.to_rfc3339(), to.to_rfc3339());
    // The binary blocks this thread; the simulator keeps serving on the other worker.
    let output =
        tokio::task::block_in_place(|| run_calendar(sim, &f, &t, weft_sim::APP_CLIENT_SECRET, &[]));
    let got = result(&output);
    let want = expected(sim, USER, from, to);
    assert!(!want.is_empty(), "the window {f}..{t} should hold items");
    assert_eq!(got.as_array().unwrap().len(), want.len(), "item count for {f}..{t}");
    assert_eq!(got, Value::Array(want), "items for {f}..{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_windows_equal_the_ground_truth() {
    let sim = sim_at_anchor(SimConfig::default()).await;
    let week = anchor();
    check_window(&sim, week, week + Duration::days(7)).await;
    // Five weeks: many pages at 7 items a page.
    check_window(&sim, week - Duration::days(14), week + Duration::days(21)).await;
    // Across the US daylight-saving change (megan's mailbox is in Pacific time).
    let march = Utc.with_ymd_and_hms(2027, 3, 10, 0, 0, 0).unwrap();
    check_window(&sim, march, march + Duration::days(7)).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_faults_lose_and_duplicate_nothing() {
    let faults = FaultConfig::every(
        3,
        vec![
            FaultKind::throttle("0.1"),
            FaultKind::ServiceUnavailable { retry_after: None },
            FaultKind::GatewayTimeout,
            FaultKind::DropConnection,
        ],
    );
    let sim = sim_at_anchor(SimConfig { faults, ..SimConfig::default() }).await;
    check_window(&sim, anchor() - Duration::days(7), anchor() + Duration::days(14)).await;
    let counters = sim.counters();
    assert!(counters.faults_injected() > 0, "faults were injected: {counters:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_expiring_mid_run_is_renewed() {
    // Two-second tokens and a slow Graph: the run outlives its first token.
    let config = SimConfig {
        token_lifetime: std::time::Duration::from_secs(2),
        latency: std::time::Duration::from_millis(150),
        ..SimConfig::default()
    };
    let sim = sim_at_anchor(config).await;
    check_window(&sim, anchor() - Duration::days(14), anchor() + Duration::days(14)).await;
    let counters = sim.counters();
    assert!(counters.tokens_issued() >= 2, "the token was renewed: {counters:?}");
    // A token the server revokes mid-run: one 401, one refresh, the page again.
    sim.force_unauthorized(1);
    check_window(&sim, anchor(), anchor() + Duration::days(7)).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_shows_the_aadsts_code_and_not_the_secret() {
    let sim = sim_at_anchor(SimConfig::default()).await;
    let wrong = "wr0ng-S3cret-value-4711";
    let (from, to) = (anchor().to_rfc3339(), (anchor() + Duration::days(7)).to_rfc3339());
    let trace = tempfile::NamedTempFile::new().unwrap();
    let trace_arg = trace.path().to_str().unwrap().to_owned();
    let output = tokio::task::block_in_place(|| {
        run_calendar(&sim, &from, &to, wrong, &["--trace", &trace_arg])
    });
    output.assert_code(1);
    let stderr = &output.stderr;
    assert!(stderr.contains("AADSTS7000215") && stderr.contains("invalid_client"), "{stderr}");
    let traced = std::fs::read_to_string(trace.path()).unwrap();
    for text in [stderr, &output.stdout, &traced] {
        assert!(!text.contains(wrong), "the secret leaked: {text}");
    }
    // The flow's `failed` end returns vars.error: the code is there for callers.
    let result = output.json();
    assert_eq!(result["code"], "invalid_client");
    assert_eq!(result["node"], "sign_in");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_is_reported_as_403() {
    let sim = sim_at_anchor(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let profiles = std::fs::read_to_string(flows().join("profiles.sim.json"))
        .unwrap()
        .replace(weft_sim::APP_CLIENT_ID, weft_sim::NOPERM_CLIENT_ID);
    let path = dir.path().join("profiles.json");
    std::fs::write(&path, profiles).unwrap();
    let output = tokio::task::block_in_place(|| {
        weft_with_sim(&sim, weft_sim::NOPERM_CLIENT_SECRET, &["run"])
            .arg(flows().join("graph-calendar.flow.json"))
            .arg("--profiles")
            .arg(&path)
            .args(["--param", &format!("graph_base={}", sim.graph_base())])
            .args(["--param", &format!("user={USER}")])
            .run()
    });
    output.assert_code(1);
    let stderr = &output.stderr;
    assert!(stderr.contains("403") && stderr.contains("ErrorAccessDenied"), "{stderr}");
    let result = output.json();
    assert_eq!(result["status"], 403);
    assert_eq!(result["node"], "fetch");
    sim.shutdown().await;
}

#[test]
fn the_demo_prints_this_weeks_calendar() {
    let output = Weft::new(&root(), ["demo", "--json"]).run();
    let items = result(&output);
    let items = items.as_array().unwrap();
    assert!(!items.is_empty());
    for item in items {
        for key in ["id", "subject", "start", "end", "is_all_day", "location", "organizer"] {
            assert!(item.get(key).is_some(), "{key} in {item}");
        }
        assert!(item["start"].as_str().unwrap().ends_with('Z'));
    }
    let table = Weft::new(&root(), ["demo"]).run();
    table.assert_code(0);
    let text = &table.stdout;
    assert!(text.contains(&format!("{} items this week", items.len())), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_user_sign_in_at_an_http_request_takes_its_error_exit() {
    // `http_request` has no `unauthenticated` exit: a lost or missing sign-in is its `error`.
    let sim = sim_at_anchor(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let flow = json!({ "format": "weft.flow/1", "start": "fetch", "nodes": [
        { "id": "fetch", "type": "http_request", "method": "GET", "auth": "graph-user",
          "url": format!("{}/me/calendarView", sim.graph_base()) },
        { "id": "done", "type": "end", "result": "vars.response.status" },
        { "id": "failed", "type": "end", "status": "failed", "result": "vars.error" } ],
        "edges": [ { "from": "fetch", "to": "done" },
                   { "from": "fetch", "exit": "error", "to": "failed" } ] });
    let path = dir.path().join("me.flow.json");
    std::fs::write(&path, flow.to_string()).unwrap();
    let output = tokio::task::block_in_place(|| {
        weft_with_sim(&sim, "unused", &["run"])
            .arg(&path)
            .arg("--profiles")
            .arg(flows().join("profiles.sim.json"))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .run()
    });
    let stderr = &output.stderr;
    output.assert_code(1);
    let error = output.json();
    assert_eq!((error["node"].as_str(), error["category"].as_str()), (Some("fetch"), Some("auth")));
    assert!(error["message"].as_str().unwrap().contains("weft login graph-user"), "{error}");
    // stderr names the node that failed, not the `end` node that reported it.
    assert!(stderr.contains("failed at node `fetch`"), "{stderr}");
    sim.shutdown().await;
}

/// The user flavour: `weft login graph-user` (authorization code + PKCE) driven headlessly —
/// the simulator consents by itself and redirects to the login's loopback listener — then the
/// user calendar flow returns the signed-in user's ground truth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_flavour_signs_in_with_weft_login_then_reads_me_calendarview() {
    let sim = sim_at_anchor(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let profiles = std::fs::read_to_string(flows().join("profiles.sim.json"))
        .unwrap()
        .replace("http://localhost:8765/callback", &format!("http://localhost:{port}/callback"));
    let profiles_path = dir.path().join("profiles.json");
    std::fs::write(&profiles_path, profiles).unwrap();
    let state = dir.path().join("state");
    let mut login = weft_with_sim(&sim, "unused", &["login", "graph-user", "--profiles"])
        .arg(&profiles_path)
        .arg("--state-dir")
        .arg(&state)
        .spawn();
    let url = tokio::task::block_in_place(|| login.wait_for_url());
    let browser = crate::util::http::client();
    let consent = browser.get(&url).send().await.unwrap();
    assert_eq!(consent.status(), 302);
    let back = consent.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with(&format!("http://localhost:{port}/callback?")), "{back}");
    let landing = browser.get(&back).send().await.unwrap();
    assert_eq!(landing.status(), 200);
    tokio::task::block_in_place(|| login.finish()).assert_code(0);

    let (from, to) = (anchor(), anchor() + Duration::days(7));
    let output = tokio::task::block_in_place(|| {
        weft_with_sim(&sim, "unused", &["run"])
            .arg(flows().join("graph-calendar-user.flow.json"))
            .arg("--profiles")
            .arg(&profiles_path)
            .arg("--state-dir")
            .arg(&state)
            .args(["--param", &format!("graph_base={}", sim.graph_base())])
            .args(["--param", &format!("from={}", from.to_rfc3339())])
            .args(["--param", &format!("to={}", to.to_rfc3339())])
            .run()
    });
    let got = result(&output);
    // The simulator signs in its default user, adele.
    let want = expected(&sim, "adele@weft.test", from, to);
    assert!(!want.is_empty());
    assert_eq!(got, Value::Array(want));
    sim.shutdown().await;
}
