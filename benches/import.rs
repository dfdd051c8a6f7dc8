//! JSON Import of 100 000 Graph events against a hand-written `serde_json` + struct mapping of
//! the same data to the same fields: the calendar flow's `import` node, from JSON text.
//!
//! `cargo bench --bench import`. Before timing, the two sides' outputs for the whole page are
//! checked to be the same JSON.

#![allow(clippy::expect_used, clippy::panic)]

#[path = "../examples/common/graph.rs"]
mod graph;

use serde::Deserialize;
use serde_json::json;
use weft::exec::{self, RunOptions, Runtime};

/// The allocator the `weft` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

const EVENTS: usize = 100_000;

/// A calendarView page body with `EVENTS` events, as Graph sends them.
fn page() -> String {
    let zones = ["UTC", "Pacific Standard Time", "W. Europe Standard Time"];
    let value: Vec<_> = (0..EVENTS)
        .map(|i| {
            let day = 1 + i % 28;
            let hour = 8 + i % 9;
            json!({
                "@odata.etag": format!("W/\"{i}\""),
                "id": format!("AAMkAG{i:08}"),
                "subject": format!("Meeting {i} ✨"),
                "bodyPreview": "Agenda: updates, questions",
                "start": { "dateTime": format!("2026-11-{day:02}T{hour:02}:00:00.0000000"), "timeZone": zones[i % 3] },
                "end": { "dateTime": format!("2026-11-{day:02}T{hour:02}:30:00.0000000"), "timeZone": zones[i % 3] },
                "isAllDay": false,
                "location": { "displayName": "Room 4", "locationType": "default" },
                "organizer": { "emailAddress": { "name": "Adele Vance", "address": "adele@contoso.test" } },
                "attendees": [ { "type": "required", "status": { "response": "accepted", "time": "2026-11-01T00:00:00Z" },
                                 "emailAddress": { "name": "Megan", "address": "megan@contoso.test" } } ]
            })
        })
        .collect();
    json!({ "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('x')/calendarView", "value": value })
        .to_string()
}

const MAP: &str = "#{ id: item.id, subject: item.subject, start: item.start, end: item.end, is_all_day: item.isAllDay, location: item.location?.displayName, organizer: item.organizer?.emailAddress?.address }";

/// A flow with the calendar flow's `import` node reading `from`, after the nodes `before`,
/// ending with `result`.
fn flow(
    loader: &weft::flow::Loader,
    before: &[serde_json::Value],
    from: &str,
    result: &str,
) -> weft::flow::Flow {
    let mut nodes = before.to_vec();
    nodes.push(json!(
        { "id": "import", "type": "json_import", "from": from, "select": "/value", "map": MAP,
          "fields": { "id": "string", "subject": "string", "start": "datetime", "end": "datetime", "is_all_day": "boolean", "location": "string?", "organizer": "string?" },
          "into": "events" }));
    nodes.push(json!({ "id": "done", "type": "end", "result": result }));
    let mut edges: Vec<_> = nodes
        .windows(2)
        .map(|pair| json!({ "from": pair[0]["id"], "to": pair[1]["id"] }))
        .collect();
    if before.is_empty() {
        edges = vec![json!({ "from": "import", "to": "done" })];
    }
    let flow = json!({
        "format": "weft.flow/1",
        "parameters": { "page": { "type": "string" } },
        "start": nodes[0]["id"],
        "nodes": nodes,
        "edges": edges
    });
    loader.load_bytes(flow.to_string().as_bytes(), "import").flow.expect("bench flow")
}

fn run(
    rt: &tokio::runtime::Runtime,
    runtime: &Runtime,
    flow: &weft::flow::Flow,
    text: &str,
) -> exec::RunReport {
    let mut params = serde_json::Map::new();
    params.insert("page".into(), text.into());
    let options = RunOptions { params, ..RunOptions::default() };
    rt.block_on(exec::run(flow, runtime, options))
}

/// Times runs of `flow` on the page `text`, each of which must answer `EVENTS`.
fn time_runs(
    bencher: divan::Bencher,
    rt: &tokio::runtime::Runtime,
    runtime: &Runtime,
    flow: &weft::flow::Flow,
    text: &str,
) {
    bencher.counter(divan::counter::ItemsCount::new(EVENTS)).bench_local(|| {
        let report = run(rt, runtime, flow, text);
        assert_eq!(report.result, json!(EVENTS), "{:?}", report.error);
        report
    });
}

fn setup() -> (tokio::runtime::Runtime, weft::flow::Loader, Runtime) {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let engine = weft::Engine::builder().build().expect("engine");
    (rt, engine.loader().clone(), engine.runtime(None))
}

/// Both sides must produce the same items: checked on the whole page before timing.
fn assert_same_output(
    rt: &tokio::runtime::Runtime,
    loader: &weft::flow::Loader,
    runtime: &Runtime,
    text: &str,
) {
    let report = run(rt, runtime, &flow(loader, &[], "params.page", "vars.events"), text);
    let by_hand = serde_json::to_value(handwritten(text)).expect("items");
    let imported = report.result.to_json();
    assert_eq!(imported.as_array().map(Vec::len), Some(EVENTS), "{:?}", report.error);
    assert!(imported == by_hand, "json_import and the hand-written mapping differ");
}

/// `json_import` of the page text, mapped and shaped as the calendar flow does.
#[divan::bench(sample_count = 10)]
fn weft_json_import(bencher: divan::Bencher) {
    let (rt, loader, runtime) = setup();
    let text = page();
    assert_same_output(&rt, &loader, &runtime, &text);
    let flow = flow(&loader, &[], "params.page", "vars.events.len()");
    time_runs(bencher, &rt, &runtime, &flow, &text);
}

/// The page parsed by an `assign` node (`parse_json`) and imported from `vars`, as the calendar
/// flow imports the items a paginating `http_request` collected; compare with
/// `weft_parse_only` for the import's share.
#[divan::bench(sample_count = 10)]
fn weft_json_import_parsed(bencher: divan::Bencher) {
    let (rt, loader, runtime) = setup();
    let text = page();
    let parse = json!({ "id": "parse", "type": "assign", "set": { "vars.page": "parse_json(params.page)" } });
    let flow = flow(&loader, &[parse], "vars.page", "vars.events.len()");
    time_runs(bencher, &rt, &runtime, &flow, &text);
}

/// Only the `assign` node of `weft_json_import_parsed`.
#[divan::bench(sample_count = 10)]
fn weft_parse_only(bencher: divan::Bencher) {
    let (rt, loader, runtime) = setup();
    let text = page();
    let flow = json!({
        "format": "weft.flow/1",
        "parameters": { "page": { "type": "string" } },
        "start": "parse",
        "nodes": [
            { "id": "parse", "type": "assign", "set": { "vars.page": "parse_json(params.page)" } },
            { "id": "done", "type": "end", "result": "vars.page.value.len()" }
        ],
        "edges": [ { "from": "parse", "to": "done" } ]
    });
    let flow = loader.load_bytes(flow.to_string().as_bytes(), "parse").flow.expect("flow");
    time_runs(bencher, &rt, &runtime, &flow, &text);
}

#[derive(Deserialize)]
struct Page {
    value: Vec<graph::GraphEvent>,
}

/// The same mapping written by hand: serde into structs, then the fields, times in UTC (the
/// hand-written examples' mapping).
fn handwritten(text: &str) -> Vec<graph::Event> {
    let page: Page = serde_json::from_str(text).expect("page");
    page.value.into_iter().map(|e| graph::Event::try_from(e).expect("event")).collect()
}

#[divan::bench(sample_count = 10)]
fn handwritten_serde(bencher: divan::Bencher) {
    let text = page();
    bencher.counter(divan::counter::ItemsCount::new(EVENTS)).bench_local(|| {
        let items = handwritten(&text);
        assert_eq!(items.len(), EVENTS);
        items
    });
}
