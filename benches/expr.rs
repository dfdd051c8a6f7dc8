//! Rhai expression and template evaluation, as nodes do it: compiled once, evaluated against a
//! run's scope.
//!
//! `cargo bench --bench expr`

#![allow(clippy::expect_used)]

use rhai::{Dynamic, Map};
use weft::nodes::expr::{ExprEngine, ExprScope, json_to_dynamic};

/// The allocator the `weft` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

fn scope(items: usize) -> ExprScope {
    let vars = serde_json::json!({
        "n": 41,
        "page": { "body": { "@odata.nextLink": "https://graph.microsoft.com/v1.0/me/calendarView?$skiptoken=abc" } },
        "events": (0..items).map(|i| serde_json::json!({ "id": i })).collect::<Vec<_>>(),
    });
    let params = serde_json::json!({ "user": "adele@contoso.test", "graph_base": "https://graph.microsoft.com/v1.0" });
    let map = |v: serde_json::Value| json_to_dynamic(&v).try_cast::<Map>().expect("object");
    ExprScope::new(
        Dynamic::from_map(map(params)).into_shared(),
        Dynamic::from_map(map(vars)).into_shared(),
    )
}

/// A comparison, as a decision's `when`.
#[divan::bench]
fn condition(bencher: divan::Bencher) {
    let engine = ExprEngine::new();
    let expr = engine.compile_expression("vars.n < 100", &[]).expect("compiles");
    let mut scope = scope(0);
    bencher.bench_local(|| engine.eval(&expr, &mut scope).expect("evaluates"));
}

/// The same with 100 000 items elsewhere in `vars`.
#[divan::bench]
fn condition_100k_items_in_vars(bencher: divan::Bencher) {
    let engine = ExprEngine::new();
    let expr = engine.compile_expression("vars.n < 100", &[]).expect("compiles");
    let mut scope = scope(100_000);
    bencher.bench_local(|| engine.eval(&expr, &mut scope).expect("evaluates"));
}

/// A map literal over `item`, as a JSON Import's `map`.
#[divan::bench]
fn item_mapping(bencher: divan::Bencher) {
    let engine = ExprEngine::new();
    let expr = engine
        .compile_expression(
            "#{ id: item.id, subject: item.subject, organizer: item.organizer?.emailAddress?.address }",
            &["item", "index"],
        )
        .expect("compiles");
    let item = json_to_dynamic(&serde_json::json!({
        "id": "AAMkAG1", "subject": "Standup",
        "organizer": { "emailAddress": { "address": "adele@contoso.test" } }
    }));
    let mut scope = scope(0);
    bencher.bench_local(|| {
        engine
            .eval_with(&expr, &mut scope, [("item", item.clone()), ("index", Dynamic::from_int(1))])
            .expect("evaluates")
    });
}

/// A URL template with two holes, as an HTTP Request's `url`.
#[divan::bench]
fn url_template(bencher: divan::Bencher) {
    let engine = ExprEngine::new();
    let template = engine
        .compile_template("${params.graph_base}/users/${url_encode(params.user)}/calendarView", &[])
        .expect("compiles");
    let mut scope = scope(0);
    bencher.bench_local(|| engine.render_string(&template, &mut scope).expect("renders"));
}

/// A member read alone, as most template holes (`${params.from}`): no interpreter since the
/// expression is a plain path.
#[divan::bench]
fn member_read(bencher: divan::Bencher) {
    let engine = ExprEngine::new();
    let expr = engine.compile_expression("vars.page.body", &[]).expect("compiles");
    let mut scope = scope(0);
    bencher.bench_local(|| engine.eval(&expr, &mut scope).expect("evaluates"));
}
