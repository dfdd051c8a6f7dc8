//! Validating flow files of 1 and 2 MB: a normal flow against pathological ones (thousands of
//! diagnostics, huge templates, wide objects), and the studio's save of such a flow. Every case
//! is generated here at the same size, so the cost per MB of each compares with the normal
//! flow's measured in the same run, and the two sizes show whether the cost is linear.
//!
//! `cargo bench --bench validate`

#![allow(clippy::expect_used)]

use serde_json::{Value, json};
use weft::flow::Loader;
use weft::studio::format::{flow_text, flow_text_keeping};

/// The allocator the `weft` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

/// A megabyte.
const MB: usize = 1 << 20;

/// The text `build(n)` gives for the `n` that makes it about `size` bytes.
fn sized(size: usize, build: impl Fn(usize) -> String) -> String {
    let (mut n, mut text) = (100, build(100));
    // Sizes grow a little faster than `n` (longer ids): a few corrections.
    for _ in 0..4 {
        n = (n * size / text.len()).max(1);
        text = build(n);
    }
    assert!(text.len().abs_diff(size) < size / 20, "{}", text.len());
    text
}

fn flow(nodes: Vec<Value>, edges: Vec<Value>) -> Value {
    let start = nodes[0]["id"].clone();
    json!({ "format": "weft.flow/1", "name": "bench", "parameters": { "base": { "type": "string",
        "default": "https://graph.example/v1.0" } }, "variables": { "total": 0 }, "start": start,
        "nodes": nodes, "edges": edges })
}

/// A flow as people write them: assignments, decisions and HTTP requests in a chain, wired
/// completely, in the studio's layout.
fn normal(n: usize) -> Value {
    let mut nodes = Vec::with_capacity(n + 1);
    let mut edges = Vec::with_capacity(2 * n);
    for i in 0..n {
        let (id, next) = (format!("n{i}"), format!("n{}", i + 1));
        let position = json!([(i % 10) * 200, (i / 10) * 120]);
        match i % 3 {
            0 => nodes.push(json!({ "id": id, "type": "assign", "title": format!("Step {i}"),
                "position": position, "set": { "vars.total": format!("vars.total + {i}"),
                "vars.last": "`item ${vars.total} of ${params.base}`" } })),
            1 => {
                nodes.push(json!({ "id": id, "type": "decision", "position": position,
                    "conditions": [ { "exit": "big", "when": format!("vars.total > {i}") } ],
                    "otherwise": "small" }));
                edges.push(json!({ "from": id, "exit": "big", "to": next }));
                edges.push(json!({ "from": id, "exit": "small", "to": next }));
                continue;
            }
            _ => nodes.push(json!({ "id": id, "type": "http_request", "position": position,
                "url": format!("${{params.base}}/items/${{vars.total}}?page={i}"),
                "headers": { "accept": "application/json" }, "into": format!("page{}", i % 7) })),
        }
        edges.push(json!({ "from": id, "to": next }));
    }
    nodes.push(json!({ "id": format!("n{n}"), "type": "end", "result": "vars.total" }));
    flow(nodes, edges)
}

/// The input `name`, `size` bytes long.
fn case(name: &str, size: usize) -> String {
    let end = || json!({ "id": "z", "type": "end", "result": "1" });
    match name {
        "normal" => sized(size, |n| flow_text(&normal(n))),
        // Every edge after the first an error: "exit `ok` of node `a` already has an edge".
        "duplicate_edges" => sized(size, |n| {
            let a = json!({ "id": "a", "type": "assign", "set": { "vars.x": "1" } });
            let edges = vec![json!({ "from": "a", "to": "z" }); n];
            flow_text(&flow(vec![a, end()], edges))
        }),
        // Decisions with 100 exits, none wired: a warning per exit.
        "unwired_exits" => sized(size, |n| {
            let mut nodes: Vec<Value> = (0..n.div_ceil(100))
                .map(|i| {
                    let conditions: Vec<Value> = (0..100)
                        .map(|j| json!({ "exit": format!("e{j}"), "when": "true" }))
                        .collect();
                    json!({ "id": format!("d{i}"), "type": "decision", "conditions": conditions })
                })
                .collect();
            nodes.push(end());
            flow_text(&flow(nodes, vec![]))
        }),
        // One decision with thousands of exits, and as many edges through exits it doesn't
        // have: each error lists its exits.
        "wrong_exits" => sized(size, |n| {
            let conditions: Vec<Value> =
                (0..n).map(|j| json!({ "exit": format!("e{j}"), "when": "true" })).collect();
            let d = json!({ "id": "d", "type": "decision", "conditions": conditions });
            let edges: Vec<Value> = (0..n)
                .map(|j| json!({ "from": "d", "exit": format!("x{j}"), "to": "z" }))
                .collect();
            flow_text(&flow(vec![d, end()], edges))
        }),
        // One URL template of `${1}` holes.
        "template_holes" => sized(size, |n| {
            let url = "${1}".repeat(n * 10);
            let a = json!({ "id": "a", "type": "http_request", "url": url });
            flow_text(&flow(vec![a, end()], vec![json!({ "from": "a", "to": "z" })]))
        }),
        // A node with thousands of fields its kind doesn't have: an error each.
        "unknown_fields" => sized(size, |n| {
            let mut a = json!({ "id": "a", "type": "assign", "set": {} });
            for j in 0..n * 10 {
                a[format!("f{j}")] = json!(j);
            }
            flow_text(&flow(vec![a, end()], vec![json!({ "from": "a", "to": "z" })]))
        }),
        // A node whose id (in the node and in an edge) is half the file, with an error for
        // each of thousands of fields: each names the node.
        "long_id" => sized(size, |n| {
            let id = "x".repeat(n * 5);
            let mut a = json!({ "id": id, "type": "assign", "set": {} });
            for j in 0..n / 2 {
                a[format!("f{j}")] = json!(j);
            }
            let edge = json!({ "from": id, "to": "z" });
            flow_text(&flow(vec![a, end()], vec![edge]))
        }),
        // A body whose key is half the file over thousands of broken templates: each error's
        // pointer runs through the key.
        "long_key_body" => sized(size, |n| {
            let key = "k".repeat(n * 5);
            let a = json!({ "id": "a", "type": "http_request", "url": "http://x/",
                "body": { key: vec!["${"; n] } });
            flow_text(&flow(vec![a, end()], vec![json!({ "from": "a", "to": "z" })]))
        }),
        // One object with tens of thousands of keys (each checked for a duplicate).
        "wide_variables" => sized(size, |n| {
            let mut value = normal(2);
            for j in 0..n * 10 {
                value["variables"][format!("v{j}")] = json!(j);
            }
            flow_text(&value)
        }),
        other => panic!("no case {other}"),
    }
}

const CASES: [&str; 9] = [
    "normal",
    "duplicate_edges",
    "unwired_exits",
    "wrong_exits",
    "template_holes",
    "unknown_fields",
    "long_id",
    "long_key_body",
    "wide_variables",
];

/// `weft validate`'s work on a file of `size` bytes: parse, check, compile, locate every
/// diagnostic.
fn validate(bencher: divan::Bencher, name: &str, size: usize) {
    let loader = Loader::builtin();
    let bytes = case(name, size).into_bytes();
    // The normal flow is valid; whatever the other cases find is located.
    let loaded = loader.load_bytes(&bytes, "bench");
    assert!(name != "normal" || loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics.first());
    assert!(loaded.diagnostics.iter().all(|d| d.line.is_some()));
    bencher
        .counter(divan::counter::BytesCount::new(bytes.len()))
        .bench(|| loader.load_bytes(&bytes, "bench"));
}

#[divan::bench(args = CASES, sample_count = 10)]
fn validate_1mb(bencher: divan::Bencher, name: &str) {
    validate(bencher, name, MB);
}

#[divan::bench(args = CASES, sample_count = 10)]
fn validate_2mb(bencher: divan::Bencher, name: &str) {
    validate(bencher, name, 2 * MB);
}

/// The studio's save of the normal flow of `size` bytes: one node moved, or every node moved;
/// the text keeps the file's own layout where nothing changed.
fn studio_save(bencher: divan::Bencher, change: &str, size: usize) {
    let original = case("normal", size);
    let mut value: Value = serde_json::from_str(&original).expect("JSON");
    let nodes = value["nodes"].as_array_mut().expect("nodes");
    let count = if change == "move_one" { 1 } else { nodes.len() };
    for node in nodes.iter_mut().take(count) {
        node["position"] = json!([7, 7]);
    }
    bencher
        .counter(divan::counter::BytesCount::new(original.len()))
        .bench(|| flow_text_keeping(&value, &original));
}

#[divan::bench(args = ["move_one", "move_all"], sample_count = 10)]
fn studio_save_1mb(bencher: divan::Bencher, change: &str) {
    studio_save(bencher, change, MB);
}

#[divan::bench(args = ["move_one", "move_all"], sample_count = 10)]
fn studio_save_2mb(bencher: divan::Bencher, change: &str) {
    studio_save(bencher, change, 2 * MB);
}
