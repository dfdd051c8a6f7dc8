//! No secret ever shows: the calendar flow run through the binary at `RUST_LOG=trace` with a
//! trace file and a run store, against the simulator holding a recognisable client secret, must
//! not print the secret, an access token (`weftsim-at-…`) or a refresh token (`weftsim-rt-…`) on
//! stdout, stderr, in the trace or in the store's file; nor may a run with a wrong secret show
//! the wrong secret. And the token
//! manager is cheap: 200 runs at once make one token request, short-lived tokens are renewed
//! once per lifetime. Servers that echo what they were sent (a token endpoint its form body
//! and `Authorization` header, an API the bearer token) get every encoding of the secret
//! scrubbed from stderr, the trace and `vars.error`.

use crate::util::{Outcome, Weft, assert_no_secret, flows, root, sign_in_sim};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft::auth::state::StateDir;
use weft::auth::{Profiles, TokenManager};
use weft::exec::{RunOptions, RunStatus, Runtime};
use weft_sim::{FaultConfig, PUBLIC_CLIENT_ID, SimConfig, SimHandle};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

const CANARY: &str = "CANARY-s3cr3t-9d1e5f-do-not-print";
const WRONG: &str = "WRONG-CANARY-77ab21-never-shown";
const TOKEN_PREFIXES: [&str; 2] = ["weftsim-at-", "weftsim-rt-"];

/// `weft run flows/graph-calendar.flow.json` with the simulator's profiles, at trace level.
async fn run_calendar(sim: &SimHandle, secret: &str, dir: &Path) -> (Outcome, String) {
    let trace = dir.join("trace.jsonl");
    let (base, graph, secret, trace2) =
        (sim.base_url(), sim.graph_base(), secret.to_owned(), trace.clone());
    let out = tokio::task::spawn_blocking(move || {
        let flow = flows().join("graph-calendar.flow.json");
        let profiles = flows().join("profiles.sim.json");
        Weft::new(
            &root(),
            &[
                "run".as_ref(),
                flow.as_os_str(),
                "--profiles".as_ref(),
                profiles.as_os_str(),
                "--param".as_ref(),
                format!("graph_base={graph}").as_ref(),
                "--param".as_ref(),
                "user=adele@weft.test".as_ref(),
                "--trace".as_ref(),
                trace2.as_os_str(),
                "--state-dir".as_ref(),
                trace2.with_file_name("state").as_os_str(),
                "--store".as_ref(),
                format!("sqlite:{}", trace2.with_file_name("runs.db").display()).as_ref(),
            ] as &[&std::ffi::OsStr],
        )
        .env("RUST_LOG", "trace")
        .env("WEFT_SIM_URL", &base)
        .env("WEFT_SIM_SECRET", &secret)
        .run()
    })
    .await
    .unwrap();
    let mut trace = std::fs::read_to_string(&trace).unwrap_or_default();
    // The run store too: every byte of the database (and of its log, if one is left), which
    // holds the run's journal — what each node wrote and its HTTP events.
    for file in ["runs.db", "runs.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.join(file)) {
            trace.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    (out, trace)
}

fn assert_clean(out: &Outcome, trace: &str, secrets: &[&str]) {
    let mut all: Vec<&str> = secrets.to_vec();
    all.extend(TOKEN_PREFIXES);
    assert_no_secret("stdout", &out.stdout, &all);
    assert_no_secret("stderr", &out.stderr, &all);
    assert_no_secret("the trace or the run store", trace, &all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_flow_at_trace_level_shows_no_secret_and_no_token() {
    let sim = sign_in_sim(SimConfig::default().with_app_secret(CANARY)).await;
    let dir = tempfile::tempdir().unwrap();
    let (out, trace) = run_calendar(&sim, CANARY, dir.path()).await;
    out.assert_code(0);
    let events = out.json();
    assert!(events.as_array().is_some_and(|e| !e.is_empty()), "{events}");
    // The canary is only meaningful if trace logging and the trace file were on.
    assert!(out.stderr.contains("TRACE"), "no trace-level logs: {:.400}", out.stderr);
    assert!(trace.lines().count() >= 4, "{trace}");
    assert!(trace.contains("calendarView"), "the store journaled the run's requests");
    assert!(sim.counters().tokens_client_credentials >= 1);
    assert_clean(&out, &trace, &[CANARY]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_fails_with_the_entra_error_and_is_shown_nowhere() {
    let sim = sign_in_sim(SimConfig::default().with_app_secret(CANARY)).await;
    let dir = tempfile::tempdir().unwrap();
    let (out, trace) = run_calendar(&sim, WRONG, dir.path()).await;
    out.assert_code(1);
    assert!(
        out.stderr.contains("AADSTS7000215") || out.stderr.contains("invalid_client"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("sign_in"), "names the node: {}", out.stderr);
    assert!(trace.contains("invalid_client"), "{trace}");
    assert_clean(&out, &trace, &[WRONG, CANARY]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_sign_in_at_trace_level_shows_no_refresh_token() {
    let sim =
        sign_in_sim(SimConfig { device_auto_approve_after: Some(1), ..SimConfig::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let profiles = json!({ "format": "weft.profiles/1", "profiles": { "user": {
        "type": "oauth2", "grant": "device_code", "device_url": sim.device_url(),
        "token_url": sim.token_url(), "client_id": PUBLIC_CLIENT_ID,
        "scopes": ["offline_access", "Calendars.Read"], "hosts": ["127.0.0.1:*"] } } });
    let path = dir.path().join("profiles.json");
    std::fs::write(&path, profiles.to_string()).unwrap();
    let profile = Profiles::load(&path).unwrap().resolve("user", &|_| None).unwrap();
    let manager =
        TokenManager::new(vec![profile.clone()], StateDir::new(dir.path().join("state"))).unwrap();
    weft::auth::login::login(&manager, &profile, |_| {}).await.unwrap();
    let flow = json!({ "format": "weft.flow/1", "parameters": { "graph": { "type": "string" } },
        "start": "sign_in", "nodes": [
            { "id": "sign_in", "type": "authentication", "profile": "user" },
            { "id": "events", "type": "http_request", "method": "GET", "auth": "user",
              "url": "${params.graph}/me/events", "query": { "$top": "3" }, "into": "events" },
            { "id": "done", "type": "end", "result": "vars.events.status" } ],
        "edges": [ { "from": "sign_in", "to": "events" }, { "from": "events", "to": "done" } ] });
    std::fs::write(dir.path().join("user.flow.json"), flow.to_string()).unwrap();
    let cwd = dir.path().to_owned();
    let graph = format!("graph={}", sim.graph_base());
    let out = tokio::task::spawn_blocking(move || {
        Weft::new(
            &cwd,
            [
                "run",
                "user.flow.json",
                "--profiles",
                "profiles.json",
                "--state-dir",
                "state",
                "--trace",
                "trace.jsonl",
                "--param",
                graph.as_str(),
            ],
        )
        .env("RUST_LOG", "trace")
        .run()
    })
    .await
    .unwrap();
    out.assert_code(0);
    assert_eq!(out.json(), json!(200));
    assert_eq!(sim.counters().tokens_refresh_token, 1);
    let trace = std::fs::read_to_string(dir.path().join("trace.jsonl")).unwrap();
    assert_clean(&out, &trace, &[]);
}

/// The calendar flow loaded through the library, and a runtime whose one token manager holds
/// the simulator's app profile.
fn calendar_runtime(sim: &SimHandle, dir: &Path) -> (weft::flow::Flow, Runtime, Arc<TokenManager>) {
    let loader = weft::flow::Loader::builtin();
    let loaded = loader.load_path(&flows().join("graph-calendar.flow.json"));
    let flow = loaded.flow.unwrap_or_else(|| panic!("{:#?}", loaded.diagnostics));
    let env = |name: &str| match name {
        "WEFT_SIM_URL" => Some(sim.base_url()),
        "WEFT_SIM_SECRET" => Some(weft_sim::APP_CLIENT_SECRET.to_owned()),
        _ => None,
    };
    let profile = Profiles::load(&flows().join("profiles.sim.json"))
        .unwrap()
        .resolve("graph-app", &env)
        .unwrap();
    let manager = Arc::new(TokenManager::new(vec![profile], StateDir::new(dir)).unwrap());
    let services = weft::nodes::Services {
        credentials: Some(manager.clone()),
        http: Some(Arc::new(weft::http::ReqwestHttp::new().unwrap())),
    };
    (flow, Runtime::new(loader.engine().clone()).with_services(services), manager)
}

fn calendar_params(flow: &weft::flow::Flow, sim: &SimHandle) -> serde_json::Map<String, Value> {
    let given = json!({ "graph_base": sim.graph_base(), "user": "megan@weft.test",
                        "from": "2026-01-05T00:00:00Z", "to": "2026-01-06T00:00:00Z" });
    weft::params::resolve(flow, given.as_object().cloned(), &[]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_runs_make_one_token_request() {
    let sim = sign_in_sim(SimConfig {
        anchor: "2026-01-05T12:00:00Z".parse().unwrap(),
        faults: FaultConfig::none(),
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (flow, runtime, manager) = calendar_runtime(&sim, dir.path());
    let flow = Arc::new(flow);
    let runtime = Arc::new(runtime);
    let params = calendar_params(&flow, &sim);
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let (flow, runtime, params) = (flow.clone(), runtime.clone(), params.clone());
        runs.spawn(async move {
            let options = RunOptions { params, ..RunOptions::default() };
            weft::exec::run(&flow, &runtime, options).await
        });
    }
    let mut results = Vec::new();
    let all = tokio::time::timeout(Duration::from_secs(240), async {
        while let Some(report) = runs.join_next().await {
            results.push(report.unwrap());
        }
    });
    all.await.expect("200 runs finish within four minutes");
    assert_eq!(results.len(), 200);
    for report in &results {
        assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
        assert_eq!(report.result, results[0].result.to_json());
    }
    assert!(results[0].result.to_json().as_array().is_some_and(|a| !a.is_empty()));
    let counters = sim.counters();
    assert_eq!(counters.token_requests, 1, "{counters:?}");
    assert_eq!(counters.tokens_client_credentials, 1);
    assert_eq!(manager.token_requests(), 1);
    assert_eq!(counters.graph_401, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn short_lived_tokens_are_renewed_once_per_lifetime() {
    let sim = sign_in_sim(SimConfig {
        anchor: "2026-01-05T12:00:00Z".parse().unwrap(),
        // Four seconds: a request that took its token just before renewal has 0.4 s to reach
        // Graph before the token expires, time to spare on a busy machine.
        token_lifetime: Duration::from_secs(4),
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (flow, runtime, manager) = calendar_runtime(&sim, dir.path());
    let (flow, runtime) = (Arc::new(flow), Arc::new(runtime));
    let params = calendar_params(&flow, &sim);
    // Four workers run the flow back to back for nine seconds: two and a quarter lifetimes.
    let started = Instant::now();
    let span = Duration::from_secs(9);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (flow, runtime, params) = (flow.clone(), runtime.clone(), params.clone());
        workers.spawn(async move {
            let mut runs = 0u32;
            while started.elapsed() < span {
                let options = RunOptions { params: params.clone(), ..RunOptions::default() };
                let report = weft::exec::run(&flow, &runtime, options).await;
                assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
                runs += 1;
            }
            runs
        });
    }
    let mut total = 0;
    while let Some(runs) = workers.join_next().await {
        total += runs.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let counters = sim.counters();
    // Renewed 0.4 s (a tenth of the lifetime) before each expiry: one request per 3.6 s.
    let expected = (elapsed / 3.6).ceil() as u64;
    assert!(total >= 16, "only {total} runs");
    assert!(
        (expected.saturating_sub(1)..=expected + 1).contains(&counters.token_requests),
        "{} token requests in {elapsed:.1} s (expected about {expected}), {total} runs",
        counters.token_requests
    );
    assert_eq!(manager.token_requests(), counters.token_requests);
    // Renewed before expiry: Graph never saw an expired token.
    assert_eq!(counters.graph_401, 0, "{counters:?}");
}

// ---------------------------------------------------------------------------------------------
// Servers that echo what they were sent

/// A client secret with characters that every encoding changes.
const ECHOED_SECRET: &str = "Xy8Q~Ab+/= Cd-é-ünï-ECHO-CANARY";
const ECHO_CLIENT: &str = "weft-echo-client";
/// An access token with characters that percent-encoding and base64 change (a header value
/// must be ASCII).
const ECHOED_TOKEN: &str = "at~Q+b/c=d e-TOKEN-CANARY";

fn percent_encoded(text: &str, lower: bool, space_as_plus: bool) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            b' ' if space_as_plus => "+".into(),
            _ if lower => format!("%{b:02x}"),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// JSON string content with every non-ASCII character and `/` escaped.
fn json_ascii(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '"' | '\\' | '/' => out.extend(['\\', c]),
            c if c.is_ascii() => out.push(c),
            c => out.extend(c.encode_utf16(&mut [0; 2]).iter().map(|u| format!("\\u{u:04x}"))),
        }
    }
    out
}

/// What a secret may look like once a server has echoed it.
fn echoed_forms(secret: &str, id: &str) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let form = percent_encoded(secret, false, true);
    vec![
        secret.to_owned(),
        form.clone(),
        percent_encoded(secret, true, true),
        percent_encoded(secret, false, false),
        percent_encoded(secret, true, false),
        serde_json::to_string(secret).unwrap(),
        json_ascii(secret),
        STANDARD.encode(secret),
        URL_SAFE.encode(secret),
        STANDARD.encode(format!("{id}:{secret}")),
        STANDARD.encode(format!("{id}:{form}")),
        // Recognisable pieces, whatever the encoding around them.
        secret[..4].to_owned(),
        "CANARY".to_owned(),
    ]
}

/// Answers every request 400 quoting it back, each part in several encodings, on one line:
/// as an OAuth error (`error_description`) or a Graph one (`error.message`).
struct Echo {
    oauth: bool,
}

impl Respond for Echo {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD;
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let auth = request.headers.get("authorization").and_then(|v| v.to_str().ok());
        let auth = auth.unwrap_or("none").to_owned();
        // What the server decoded: the secret from the form or the Basic value, the token.
        let mut decoded: Vec<String> = url::form_urlencoded::parse(body.as_bytes())
            .filter(|(k, _)| k == "client_secret")
            .map(|(_, v)| v.into_owned())
            .collect();
        if let Some(basic) = auth.strip_prefix("Basic ") {
            let pair = String::from_utf8(STANDARD.decode(basic).unwrap()).unwrap();
            let secret = pair.split_once(':').unwrap().1;
            decoded.extend(
                url::form_urlencoded::parse(format!("s={secret}").as_bytes())
                    .map(|(_, v)| v.into_owned()),
            );
        }
        if let Some(token) = auth.strip_prefix("Bearer ") {
            decoded.push(token.to_owned());
        }
        let mut said = format!(
            "you sent body={body} (lower: {}) authorization={auth} ({})",
            body.to_lowercase(),
            percent_encoded(&auth, true, false)
        );
        for secret in decoded {
            said.push_str(&format!(
                "; decoded {} = {} = {}",
                json_ascii(&secret),
                STANDARD.encode(&secret),
                serde_json::to_string(&secret).unwrap()
            ));
        }
        let body = if self.oauth {
            json!({ "error": "invalid_client", "error_description": said })
        } else {
            json!({ "error": { "code": "BadRequest", "message": said } })
        };
        ResponseTemplate::new(400).set_body_json(body)
    }
}

/// `weft run FLOW --profiles profiles.json --trace trace.jsonl` in `dir`, at debug level.
async fn run_in(
    dir: &Path,
    flow: Value,
    profiles: Value,
    env: &[(&str, &str)],
) -> (Outcome, String) {
    std::fs::write(dir.join("echo.flow.json"), flow.to_string()).unwrap();
    std::fs::write(dir.join("profiles.json"), profiles.to_string()).unwrap();
    let (cwd, env) = (dir.to_owned(), env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(String, String)> = env.collect();
    let out = tokio::task::spawn_blocking(move || {
        let args = ["run", "echo.flow.json", "--profiles", "profiles.json"];
        let mut weft = Weft::new(
            &cwd,
            [&args[..], &["--trace", "trace.jsonl", "--state-dir", "state"]].concat(),
        );
        for (k, v) in &env {
            weft = weft.env(k, v);
        }
        weft.env("RUST_LOG", "debug").run()
    })
    .await
    .unwrap();
    let trace = std::fs::read_to_string(dir.join("trace.jsonl")).unwrap_or_default();
    (out, trace)
}

/// `vars.error` as the trace recorded it.
fn traced_error(trace: &str) -> Value {
    trace
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find_map(|e| e.get("error").cloned())
        .unwrap_or_else(|| panic!("no error in the trace: {trace}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_secret_scrubbing_misses_encodings() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(Echo { oauth: true })
        .mount(&server)
        .await;
    let forms = echoed_forms(ECHOED_SECRET, ECHO_CLIENT);
    for client_auth in ["post", "basic"] {
        let dir = tempfile::tempdir().unwrap();
        let profiles = json!({ "format": "weft.profiles/1", "profiles": { "api": {
            "type": "oauth2", "grant": "client_credentials",
            "token_url": format!("{}/token", server.uri()), "client_id": ECHO_CLIENT,
            "client_secret": "${env.ECHO_SECRET}", "client_auth": client_auth,
            "scopes": ["api"], "hosts": ["127.0.0.1:*"] } } });
        let flow = json!({ "format": "weft.flow/1", "start": "sign_in", "nodes": [
            { "id": "sign_in", "type": "authentication", "profile": "api" } ] });
        let env = [("ECHO_SECRET", ECHOED_SECRET)];
        let (out, trace) = run_in(dir.path(), flow, profiles, &env).await;
        out.assert_code(1);
        // The server's words are there, the secret is not.
        assert!(
            out.stderr.contains("invalid_client: you sent body="),
            "{client_auth}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("[redacted]"), "{client_auth}: {}", out.stderr);
        let error = traced_error(&trace);
        assert!(error["message"].as_str().unwrap().contains("[redacted]"), "{error}");
        let forms: Vec<&str> = forms.iter().map(String::as_str).collect();
        for (what, text) in
            [("stdout", &out.stdout), ("stderr", &out.stderr), ("the trace", &trace)]
        {
            assert_no_secret(&format!("{what} ({client_auth})"), text, &forms);
        }
        assert_no_secret("vars.error", &error.to_string(), &forms);
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_secret_scrubbing_misses_encodings_of_tokens_an_api_echoes() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": ECHOED_TOKEN, "token_type": "Bearer", "expires_in": 3600 })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/me"))
        .respond_with(Echo { oauth: false })
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let profiles = json!({ "format": "weft.profiles/1", "profiles": { "api": {
        "type": "oauth2", "grant": "client_credentials",
        "token_url": format!("{}/token", server.uri()), "client_id": ECHO_CLIENT,
        "client_secret": "${env.ECHO_SECRET}", "scopes": ["api"], "hosts": ["127.0.0.1:*"] } } });
    let flow = json!({ "format": "weft.flow/1", "start": "me", "nodes": [
        { "id": "me", "type": "http_request", "auth": "api", "url": format!("{}/me", server.uri()) } ] });
    let env = [("ECHO_SECRET", ECHOED_SECRET)];
    let (out, trace) = run_in(dir.path(), flow, profiles, &env).await;
    out.assert_code(1);
    assert!(out.stderr.contains("BadRequest: you sent"), "{}", out.stderr);
    let error = traced_error(&trace);
    assert!(error["message"].as_str().unwrap().contains("[redacted]"), "{error}");
    // The response body went into `vars.response`, and so into the trace's writes: scrubbed.
    assert!(trace.contains("authorization=Bearer [redacted]"), "{trace}");
    let forms = echoed_forms(ECHOED_TOKEN, ECHO_CLIENT);
    let forms: Vec<&str> = forms.iter().map(String::as_str).collect();
    for (what, text) in [("stdout", &out.stdout), ("stderr", &out.stderr), ("the trace", &trace)] {
        assert_no_secret(what, text, &forms);
    }
}
