//! The simulator's writes and incremental sync over real HTTP: events created (a repeated
//! `transactionId` creating nothing), read, patched with `If-Match` (412 when stale) and
//! deleted; `calendarView/delta` rounds — the first equal to the ground truth in pages, later
//! ones exactly the changes, deletions and moves out of the window as `@removed` — and an
//! expired delta token answered 410 `SyncStateNotFound`.

use crate::sim::{app_token, client, collect, get};
use crate::util::at;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use weft_sim::{
    APP_CLIENT_ID, APP_CLIENT_SECRET, NOPERM_CLIENT_ID, NOPERM_CLIENT_SECRET, SimConfig, SimHandle,
    Simulator,
};

const USER: &str = "adele@weft.test";

/// A calendar of 30 days around 23 November 2026, the same for every test.
fn config() -> SimConfig {
    SimConfig {
        seed: 11,
        anchor: at("2026-11-23T12:00:00Z"),
        span_days: 30,
        ..SimConfig::default()
    }
}

async fn sim() -> SimHandle {
    Simulator::start(config()).await.unwrap()
}

/// Sends a Graph request; the status and the JSON body (`null` when empty).
async fn call(
    method: Method,
    url: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client().request(method, url).bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn new_event(subject: &str, transaction: Option<&str>) -> Value {
    let mut event = json!({
        "subject": subject,
        "start": { "dateTime": "2026-11-24T09:00:00", "timeZone": "W. Europe Standard Time" },
        "end": { "dateTime": "2026-11-24T09:30:00", "timeZone": "W. Europe Standard Time" },
        "attendees": [ { "emailAddress": { "address": "megan@weft.test" }, "type": "required" } ],
    });
    if let Some(t) = transaction {
        event["transactionId"] = json!(t);
    }
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_created_once_read_patched_with_if_match_and_deleted() {
    let sim = sim().await;
    let token = app_token(&sim, APP_CLIENT_ID, APP_CLIENT_SECRET).await;
    let events = format!("{}/users/{USER}/events", sim.graph_base());

    let (status, created) =
        call(Method::POST, &events, &token, &[], Some(new_event("Plan", Some("tx-1")))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["start"]["dateTime"], "2026-11-24T08:00:00.0000000", "UTC by default");
    assert_eq!(created["transactionId"], "tx-1");
    assert_eq!(
        created["@odata.etag"],
        json!(format!("W/\"{}\"", created["changeKey"].as_str().unwrap()))
    );
    // A retried POST: the same event, nothing new.
    let (status, again) =
        call(Method::POST, &events, &token, &[], Some(new_event("Plan", Some("tx-1")))).await;
    assert_eq!((status, &again["id"]), (StatusCode::CREATED, &created["id"]));
    assert_eq!((sim.counters().events_created, sim.counters().events_repeated), (1, 1));
    let window = (at("2026-11-24T00:00:00Z"), at("2026-11-25T00:00:00Z"));
    let truth = sim.ground_truth(USER, window.0, window.1);
    assert_eq!(truth.iter().filter(|e| e["id"] == created["id"]).count(), 1);

    let one = format!("{events}/{id}");
    // Immutable ids asked for, and said to be applied (the simulator's ids never change).
    let (_, headers, _) = get(&one, Some(&token), &[("prefer", "IdType=\"ImmutableId\"")]).await;
    assert_eq!(headers["preference-applied"], "IdType=\"ImmutableId\"");
    let (status, read) = call(Method::GET, &one, &token, &[], None).await;
    assert_eq!((status, &read["subject"]), (StatusCode::OK, &json!("Plan")));
    let etag = read["@odata.etag"].as_str().unwrap().to_owned();
    let patch = json!({ "subject": "Plan, moved" });
    let (status, patched) =
        call(Method::PATCH, &one, &token, &[("if-match", &etag)], Some(patch.clone())).await;
    assert_eq!((status, &patched["subject"]), (StatusCode::OK, &json!("Plan, moved")));
    assert_ne!(patched["changeKey"], read["changeKey"], "a new change key");
    assert_eq!(patched["start"], read["start"], "fields not given stay");
    let (status, stale) =
        call(Method::PATCH, &one, &token, &[("if-match", &etag)], Some(patch)).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{stale}");
    assert_eq!(stale["error"]["code"], "ErrorIrresolvableConflict");

    // An app without Calendars.ReadWrite may not write.
    let reader = app_token(&sim, NOPERM_CLIENT_ID, NOPERM_CLIENT_SECRET).await;
    let (status, _) = call(Method::DELETE, &one, &reader, &[], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, gone) = call(Method::DELETE, &one, &token, &[], None).await;
    assert_eq!((status, gone), (StatusCode::NO_CONTENT, Value::Null));
    let (status, missing) = call(Method::GET, &one, &token, &[], None).await;
    assert_eq!(
        (status, &missing["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("ErrorItemNotFound"))
    );
    sim.shutdown().await;
}

/// Every item of a delta round, seven a page, following next links; the delta link it ends
/// with; the number of pages.
async fn round(url: &str, token: &str) -> (Vec<Value>, String, usize) {
    let (items, pages, delta) = collect(url, token, &[("prefer", "odata.maxpagesize=7")]).await;
    (items, delta.expect("a delta round ends with a delta link"), pages)
}

fn ids(items: &[Value]) -> BTreeSet<String> {
    items.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_rounds_report_the_window_then_exactly_its_changes() {
    let sim = sim().await;
    let token = app_token(&sim, APP_CLIENT_ID, APP_CLIENT_SECRET).await;
    let (from, to) = (at("2026-11-23T00:00:00Z"), at("2026-11-30T00:00:00Z"));
    let first = format!(
        "{}/users/{USER}/calendarView/delta?startDateTime=2026-11-23T00:00:00Z&endDateTime=2026-11-30T00:00:00Z",
        sim.graph_base()
    );
    let (items, delta, pages) = round(&first, &token).await;
    let truth = sim.ground_truth(USER, from, to);
    assert!(truth.len() > 7, "more than one page: {}", truth.len());
    assert_eq!(items, truth, "the first round is the window, every property");
    assert_eq!(pages, truth.len().div_ceil(7));

    // Nothing changed: one request, nothing in it.
    let (items, delta, pages) = round(&delta, &token).await;
    assert_eq!((items.len(), pages), (0, 1));

    // Changes from outside: a create and an update inside the window, a delete, a move out of
    // it, and a create outside it.
    let inside = json!({
        "subject": "New", "start": { "dateTime": "2026-11-25T10:00:00", "timeZone": "UTC" },
        "end": { "dateTime": "2026-11-25T11:00:00", "timeZone": "UTC" } });
    let created = sim.create_event(USER, inside).unwrap();
    let singles: Vec<String> = truth
        .iter()
        .filter(|e| e["type"] == "singleInstance")
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let (updated, deleted, moved) = (&singles[0], &singles[1], &singles[2]);
    sim.update_event(USER, updated, json!({ "subject": "Renamed" })).unwrap();
    sim.delete_event(USER, deleted).unwrap();
    sim.update_event(
        USER,
        moved,
        json!({
        "start": { "dateTime": "2027-01-05T10:00:00", "timeZone": "UTC" },
        "end": { "dateTime": "2027-01-05T11:00:00", "timeZone": "UTC" } }),
    )
    .unwrap();
    let outside = sim
        .create_event(
            USER,
            json!({
        "subject": "Far", "start": { "dateTime": "2027-02-01T10:00:00", "timeZone": "UTC" },
        "end": { "dateTime": "2027-02-01T11:00:00", "timeZone": "UTC" } }),
        )
        .unwrap();

    let (items, delta, _) = round(&delta, &token).await;
    assert_eq!(items.len(), 5, "{items:#?}");
    let (removed, upserted): (Vec<Value>, Vec<Value>) =
        items.into_iter().partition(|e| e.get("@removed").is_some());
    assert_eq!(
        ids(&upserted),
        [created["id"].as_str().unwrap().to_owned(), updated.clone()].into_iter().collect()
    );
    assert!(upserted.iter().any(|e| e["subject"] == "Renamed"));
    assert_eq!(
        ids(&removed),
        [deleted.clone(), moved.clone(), outside["id"].as_str().unwrap().to_owned()]
            .into_iter()
            .collect(),
        "deletions and events outside the window come as @removed"
    );
    assert!(removed.iter().all(|e| e["@removed"]["reason"] == "deleted"));

    // The token expires: 410, and a new first round starts over.
    sim.expire_delta_tokens();
    let (status, expired) = call(Method::GET, &delta, &token, &[], None).await;
    assert_eq!(status, StatusCode::GONE, "{expired}");
    assert_eq!(expired["error"]["code"], "SyncStateNotFound");
    assert_eq!(sim.counters().delta_expired, 1);
    let (items, _, _) = round(&first, &token).await;
    assert_eq!(items, sim.ground_truth(USER, from, to));
    sim.shutdown().await;
}

/// With churn, calendars change from outside by themselves, and a delta round reports it;
/// every request answered reaches the request log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_changes_calendars_and_every_request_is_logged() {
    let sim = Simulator::start(SimConfig { churn_per_second: 200.0, ..config() }).await.unwrap();
    let mut log = sim.requests();
    let token = app_token(&sim, APP_CLIENT_ID, APP_CLIENT_SECRET).await;
    let first = format!(
        "{}/users/{USER}/calendarView/delta?startDateTime=2026-11-09T00:00:00Z&endDateTime=2026-12-07T00:00:00Z",
        sim.graph_base()
    );
    let (_, delta, _) = round(&first, &token).await;
    // Changes pile up (about 200 a second, over the three users).
    for waited in 0.. {
        let c = sim.counters();
        if c.events_created + c.events_updated + c.events_deleted >= 60 {
            break;
        }
        assert!(waited < 1500, "the churn made too few changes in 30 s: {c:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (changes, _, _) = round(&delta, &token).await;
    assert!(!changes.is_empty(), "the churn changed the user's window");
    let mut lines = Vec::new();
    while let Ok(line) = log.try_recv() {
        lines.push(line);
    }
    assert!(
        lines.iter().any(|l| l.starts_with("POST /weft-sim/oauth2/v2.0/token → 200")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l
            .starts_with(&format!("GET /v1.0/users/{USER}/calendarView/delta?startDateTime="))
            && l.contains("→ 200")),
        "{lines:?}"
    );
    sim.shutdown().await;
}

/// `weft sim` prints a line per request on stderr, and none with `--quiet`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weft_sim_prints_each_request_unless_quiet() {
    for quiet in [false, true] {
        let mut args = vec!["sim", "--port", "0"];
        if quiet {
            args.push("--quiet");
        }
        let mut running = crate::util::Weft::new(&crate::util::root(), &args).spawn();
        let banner = tokio::task::block_in_place(|| running.stdout_line());
        let url = banner.rsplit(' ').next().unwrap().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{banner}");
        let status = client().get(format!("{url}/v1.0/me")).send().await.unwrap().status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        running.signal("-INT");
        let out = tokio::task::block_in_place(|| running.finish());
        assert_eq!(out.stderr.contains("GET /v1.0/me → 401"), !quiet, "{}", out.stderr);
    }
}
