//! The Graph write and sync flows through the binary against the simulator: an event created
//! (a retried run creating nothing more), read back, updated with a stale etag (the 412
//! handled), deleted; a sync whose first round is the window's ground truth, whose next round
//! reports exactly the changes made from outside — creates, updates, deletes, moves out of the
//! window, changes outside it — with the new delta link kept in the flow's state; an expired
//! delta link leading to a correct full round; a sync killed mid-round and resumed reporting
//! every change once; the other resources' flows; and what a round costs.

use crate::calendar_e2e::{expected, run_on_sim, weft_with_sim};
use crate::durable_runs::{journaled_at_least, new_run, runs, weft};
use crate::util::{Dir, Weft, anchor, sim_at_anchor};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration as StdDuration;
use weft_sim::{SimConfig, SimHandle};

const USER: &str = "adele@weft.test";

/// `weft run FLOW` (see [`run_on_sim`]) for [`USER`] against `sim`, with sign-ins and the
/// store in `dir`.
fn run(sim: &SimHandle, dir: &Dir, flow: impl AsRef<Path>, params: &[(&str, String)]) -> Weft {
    let mut weft = run_on_sim(sim, flow)
        .args(["--state-dir", dir.path().to_str().unwrap()])
        .args(["--param", &format!("user={USER}")]);
    for (name, value) in params {
        weft = weft.args(["--param", &format!("{name}={value}")]);
    }
    weft
}

/// A round of the sync flow over `window`, which must succeed: its result.
fn sync(sim: &SimHandle, dir: &Dir, window: &[(&str, String)]) -> Value {
    tokio::task::block_in_place(|| {
        run(sim, dir, "graph-sync.flow.json", window).run().assert_code(0).json()
    })
}

/// The two weeks the sync tests keep up with, from the anchor.
fn span() -> (DateTime<Utc>, DateTime<Utc>) {
    (anchor(), anchor() + Duration::days(14))
}

/// graph-sync's parameters for [`span`], in pages of `page_size`.
fn window(page_size: impl ToString) -> [(&'static str, String); 3] {
    let (from, to) = span();
    [("from", from.to_rfc3339()), ("to", to.to_rfc3339()), ("page_size", page_size.to_string())]
}

/// An instant of Graph's shape: `day` at `hour` o'clock, UTC.
fn utc(day: &str, hour: usize) -> Value {
    json!({ "dateTime": format!("{day}T{hour:02}:00:00"), "timeZone": "UTC" })
}

/// Creates `n` events from outside, an hour each, in the last week of November 2026; their ids.
fn create_events(sim: &SimHandle, n: usize) -> BTreeSet<String> {
    (0..n)
        .map(|i| {
            let day = format!("2026-11-{:02}", 23 + i % 7);
            let hour = 6 + i % 12;
            let event = json!({ "subject": format!("Change {i}"), "start": utc(&day, hour), "end": utc(&day, hour + 1) });
            sim.create_event(USER, event).unwrap()["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn ids(items: &Value) -> BTreeSet<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().map_or_else(|| e["id"].as_str().unwrap().to_owned(), str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_created_once_read_back_updated_past_a_conflict_and_deleted() {
    let sim = sim_at_anchor(SimConfig::default()).await;
    let dir = Dir::new();
    let create = [
        ("subject", "Planning".to_owned()),
        ("start", "2026-11-25T09:00:00".to_owned()),
        ("end", "2026-11-25T10:00:00".to_owned()),
        ("time_zone", "W. Europe Standard Time".to_owned()),
        ("attendees", r#"["megan@weft.test"]"#.to_owned()),
    ];
    let (first, again) = tokio::task::block_in_place(|| {
        let first = run(&sim, &dir, "graph-create-event.flow.json", &create).run();
        let again = run(&sim, &dir, "graph-create-event.flow.json", &create).run();
        (first.assert_code(0).json(), again.assert_code(0).json())
    });
    assert_eq!(first["subject"], "Planning");
    assert_eq!(first["start"]["dateTime"], "2026-11-25T08:00:00.0000000", "read back, in UTC");
    assert_eq!(first["attendees"][0]["emailAddress"]["address"], "megan@weft.test");
    // The same run again: its transactionId finds the first event, and nothing is created.
    assert_eq!(again["id"], first["id"]);
    let counters = sim.counters();
    assert_eq!((counters.events_created, counters.events_repeated), (1, 1));
    let id = first["id"].as_str().unwrap().to_owned();
    let stale = first["@odata.etag"].as_str().unwrap().to_owned();

    // Someone else changes it; an update from the stale version reads it again and wins.
    sim.update_event(USER, &id, json!({ "location": { "displayName": "Room 4" } })).unwrap();
    let update = [
        ("id", id.clone()),
        ("etag", stale.clone()),
        ("changes", json!({ "subject": "Planning (moved)" }).to_string()),
    ];
    let updated = tokio::task::block_in_place(|| {
        run(&sim, &dir, "graph-update-event.flow.json", &update).run().assert_code(0).json()
    });
    assert_eq!(updated["subject"], "Planning (moved)");
    assert_eq!(updated["location"]["displayName"], "Room 4", "the other change is kept");
    assert_ne!(updated["@odata.etag"], json!(stale));

    // Deleted with a one-node flow; the event is gone from Graph.
    let delete = dir.path().join("delete.flow.json");
    std::fs::write(
        &delete,
        json!({ "format": "weft.flow/1", "start": "delete",
            "parameters": { "graph_base": { "type": "string" }, "user": { "type": "string" }, "id": { "type": "string" } },
            "nodes": [ { "id": "delete", "type": "http_request", "method": "DELETE", "auth": "graph-app",
                "url": "${params.graph_base}/users/${url_encode(params.user)}/events/${url_encode(params.id)}" } ] })
        .to_string(),
    )
    .unwrap();
    let deleted =
        tokio::task::block_in_place(|| run(&sim, &dir, &delete, &[("id", id.clone())]).run());
    deleted.assert_code(0);
    assert_eq!(sim.counters().events_deleted, 1);
    let window = sim.ground_truth(USER, anchor(), anchor() + Duration::days(7));
    assert!(window.iter().all(|e| e["id"] != id.as_str()), "the event is gone");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_reports_the_window_then_exactly_what_changed_and_survives_an_expired_link() {
    let sim = sim_at_anchor(SimConfig::default()).await;
    let dir = Dir::new();
    let (from, to) = span();
    let window = window(9);
    let state = || {
        tokio::task::block_in_place(|| {
            weft_with_sim(
                &sim,
                weft_sim::APP_CLIENT_SECRET,
                &["state", "show", "graph-sync", "--key", USER],
            )
            .args(["--state-dir", dir.path().to_str().unwrap()])
            .run()
            .assert_code(0)
            .json()
        })
    };

    let first = sync(&sim, &dir, &window);
    assert_eq!(first["full"], true);
    assert_eq!(
        first["upserted"],
        Value::Array(expected(&sim, USER, from, to)),
        "the window, as the calendar flow maps it"
    );
    assert_eq!(first["removed"], json!([]));
    let pages = sim.counters().delta_pages;
    let link = state();
    assert!(link.to_string().contains("$deltatoken"), "{link}");

    // Nothing changed: one request.
    let quiet = sync(&sim, &dir, &window);
    assert_eq!(
        (quiet["full"].clone(), quiet["upserted"].clone(), quiet["removed"].clone()),
        (json!(false), json!([]), json!([]))
    );
    assert_eq!(sim.counters().delta_pages, pages + 1);

    // Outside changes: in the window a create, an update and a delete; a move out of it; a
    // create outside it.
    let singles: Vec<String> = sim
        .ground_truth(USER, from, to)
        .iter()
        .filter(|e| e["type"] == "singleInstance")
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let created = sim
        .create_event(
            USER,
            json!({ "subject": "New", "start": utc("2026-11-26", 10), "end": utc("2026-11-26", 11) }),
        )
        .unwrap();
    sim.update_event(USER, &singles[0], json!({ "subject": "Renamed" })).unwrap();
    sim.delete_event(USER, &singles[1]).unwrap();
    sim.update_event(
        USER,
        &singles[2],
        json!({ "start": utc("2027-03-01", 10), "end": utc("2027-03-01", 11) }),
    )
    .unwrap();
    let outside = sim
        .create_event(
            USER,
            json!({ "subject": "Far", "start": utc("2027-04-01", 10), "end": utc("2027-04-01", 11) }),
        )
        .unwrap();

    let second = sync(&sim, &dir, &window);
    assert_eq!(second["full"], false);
    assert_eq!(
        ids(&second["upserted"]),
        [created["id"].as_str().unwrap().to_owned(), singles[0].clone()].into()
    );
    assert!(second["upserted"].as_array().unwrap().iter().any(|e| e["subject"] == "Renamed"));
    assert_eq!(
        ids(&second["removed"]),
        [singles[1].clone(), singles[2].clone(), outside["id"].as_str().unwrap().to_owned()].into()
    );
    let newer = state();
    assert_ne!(newer, link, "the new delta link is kept");

    // The link expires: the next run starts a full round by itself, and it is right.
    sim.expire_delta_tokens();
    let third = sync(&sim, &dir, &window);
    assert_eq!(third["full"], true);
    assert_eq!(third["upserted"], Value::Array(expected(&sim, USER, from, to)));
    assert_eq!(sim.counters().delta_expired, 1);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_round_and_resumed_reports_every_change_once() {
    let latency = StdDuration::from_millis(4);
    let sim = sim_at_anchor(SimConfig { latency, ..SimConfig::default() }).await;
    let dir = Dir::new();
    let store = dir.store_url();
    let first = tokio::task::block_in_place(|| {
        run(&sim, &dir, "graph-sync.flow.json", &window("50")).args(["--store", &store]).run()
    });
    assert_eq!(first.assert_code(0).json()["full"], true);
    // 120 changes from outside, then a round of them one a page, killed in the middle.
    let changed = create_events(&sim, 120);
    let done = tokio::task::block_in_place(|| {
        let known = runs(&sim, &store, &[]).len();
        let mut running = run(&sim, &dir, "graph-sync.flow.json", &window("1"))
            .args(["--store", &store, "--lease", "1s"])
            .spawn();
        let id = new_run(&mut running, &sim, &store, known);
        journaled_at_least(&mut running, &sim, &store, &id, 60);
        running.signal("-KILL");
        assert_eq!(running.finish().code, None, "killed");
        std::thread::sleep(StdDuration::from_millis(1100));
        weft(&sim, &store, &["runs", "resume", &id]).run()
    });
    let got = done.assert_code(0).json();
    assert_eq!(got["full"], false);
    let upserted = got["upserted"].as_array().unwrap();
    assert_eq!(upserted.len(), 120, "each change once");
    assert_eq!(ids(&got["upserted"]), changed);
    assert_eq!(got["removed"], json!([]));
    sim.shutdown().await;
}

/// The examples of the other resources run against the simulator: a profile, the newest
/// messages, the default To Do list's tasks, the calendars.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_mail_tasks_and_calendars_flows_read_the_simulator() {
    let sim = sim_at_anchor(SimConfig::default()).await;
    let dir = Dir::new();
    let [profile, mail, tasks, calendars] = ["profile", "mail", "tasks", "calendars"].map(|name| {
        tokio::task::block_in_place(|| {
            run(&sim, &dir, format!("graph-{name}.flow.json"), &[]).run().assert_code(0).json()
        })
    });
    assert_eq!(profile["name"], "Adele Vance");
    assert_eq!(profile["mail"], USER);
    let mail = mail.as_array().unwrap();
    assert_eq!(mail.len(), 10, "the ten newest");
    let received: Vec<&str> = mail.iter().map(|m| m["received"].as_str().unwrap()).collect();
    assert!(received.windows(2).all(|w| w[0] >= w[1]), "newest first: {received:?}");
    assert!(mail.iter().all(|m| m["from"].is_string() && m["is_read"].is_boolean()));
    let tasks = tasks.as_array().unwrap();
    assert!(!tasks.is_empty());
    assert!(tasks.iter().all(|t| t["title"].is_string() && t["status"].is_string()));
    let calendars = calendars.as_array().unwrap();
    assert_eq!(calendars.iter().filter(|c| c["is_default"] == true).count(), 1, "{calendars:?}");
    sim.shutdown().await;
}

/// What a sync round costs, from the simulator's counters: one request when nothing changed,
/// ⌈k / page size⌉ for k changed events. Prints the table docs/PERFORMANCE.md quotes
/// (`cargo test --test integration sync_round_costs -- --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_round_costs() {
    let sim = sim_at_anchor(SimConfig::default()).await;
    let dir = Dir::new();
    let size = 10;
    let window = window(size);
    let full = sync(&sim, &dir, &window);
    let events = full["upserted"].as_array().unwrap().len();
    println!("| changed events k | page size | requests | ⌈k / page size⌉ |");
    println!("|---|---|---|---|");
    println!(
        "| first round: {events} events | {size} | {} | {} |",
        sim.counters().delta_pages,
        events.div_ceil(size)
    );
    for k in [0_usize, 1, 10, 11, 25, 100] {
        create_events(&sim, k);
        let before = sim.counters().delta_pages;
        let round = sync(&sim, &dir, &window);
        let requests = usize::try_from(sim.counters().delta_pages - before).unwrap();
        assert_eq!(round["upserted"].as_array().unwrap().len(), k);
        assert_eq!(requests, k.div_ceil(size).max(1), "{k} changes");
        println!("| {k} | {size} | {requests} | {} |", k.div_ceil(size));
    }
    sim.shutdown().await;
}
