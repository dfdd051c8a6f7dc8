//! Executor throughput: steps per second through a loop of `decision` and `assign` nodes, with
//! empty `vars` and with 100 000 items in `vars` (the per-step cost must not depend on it).
//!
//! Each case runs at two loop counts: a run also copies the flow's initial `vars` once, so the
//! per-step cost is the difference between the two divided by the extra steps.
//!
//! `cargo bench --bench executor`

#![allow(clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use weft::exec::{self, RunOptions};
use weft::flow::Flow;

/// The allocator the `weft` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

fn counter_flow(items: usize, loops: u64) -> Flow {
    let big: Vec<Value> = (0..items).map(|i| json!({ "id": i, "subject": "Standup" })).collect();
    let flow = json!({
        "format": "weft.flow/1",
        "variables": { "n": 0, "events": big },
        "start": "more",
        "nodes": [
            { "id": "more", "type": "decision",
              "conditions": [ { "exit": "again", "when": format!("vars.n < {loops}") } ],
              "otherwise": "done" },
            { "id": "step", "type": "assign", "set": { "vars.n": "vars.n + 1" } },
            { "id": "finish", "type": "end", "result": "vars.n" }
        ],
        "edges": [
            { "from": "more", "exit": "again", "to": "step" },
            { "from": "step", "to": "more" },
            { "from": "more", "exit": "done", "to": "finish" }
        ]
    });
    let loaded = engine().loader().load_bytes(flow.to_string().as_bytes(), "bench");
    match loaded.flow {
        Some(flow) => flow,
        None => panic!("bench flow invalid: {:?}", loaded.diagnostics),
    }
}

fn steps(items: usize, loops: u64, bencher: divan::Bencher) {
    let flow = counter_flow(items, loops);
    let runtime = engine().runtime(None);
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let steps_per_run = 2 * loops + 2;
    bencher.counter(divan::counter::ItemsCount::new(steps_per_run)).bench_local(|| {
        let options = RunOptions { max_steps: u64::MAX, ..RunOptions::default() };
        let report = rt.block_on(exec::run(&flow, &runtime, options));
        assert_eq!(report.steps, steps_per_run);
        report
    });
}

/// Loop iterations per run (each is two steps: decision + assign).
const LOOPS: [u64; 2] = [2_500, 10_000];

/// Steps/s with `vars` holding only the counter.
#[divan::bench(consts = LOOPS, sample_count = 30)]
fn empty_vars<const N: u64>(bencher: divan::Bencher) {
    steps(0, N, bencher);
}

/// Steps/s with 100 000 events in `vars` besides the counter.
#[divan::bench(consts = LOOPS, sample_count = 30)]
fn items_100k_in_vars<const N: u64>(bencher: divan::Bencher) {
    steps(100_000, N, bencher);
}

/// The engine every command builds its runs with.
fn engine() -> &'static weft::Engine {
    static ENGINE: std::sync::OnceLock<weft::Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| weft::Engine::builder().build().expect("engine"))
}
