//! Generated files are current: the JSON Schemas under `docs/schema/` are what `weft schema`
//! prints, `docs/NODES.md` is what `weft explain --format markdown` prints, and
//! `docs/EXPRESSIONS.md` lists the functions expressions can call.

use crate::util::{Weft, root};

fn check(format: &str) {
    let out = Weft::new(&root(), ["schema", format]).run();
    out.assert_code(0);
    let printed = out.json();
    let path = format!("{}/docs/schema/{format}.schema.json", env!("CARGO_MANIFEST_DIR"));
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(
        printed == committed,
        "{path} is stale: run `cargo run -- schema {format} > docs/schema/{format}.schema.json`"
    );
}

#[test]
fn flow_schema_is_current() {
    check("flow");
}

#[test]
fn profiles_schema_is_current() {
    check("profiles");
}

#[test]
fn test_schema_is_current() {
    check("test");
}

/// `docs/EXPRESSIONS.md` lists every function an expression can call: a new Rhai version that
/// offers more (or a helper added or removed) changes the list, and the sandbox is looked at
/// again. `UPDATE_DOCS=1` rewrites the list.
#[test]
fn expression_functions_are_documented() {
    const START: &str =
        "<!-- functions:start (generated: UPDATE_DOCS=1 cargo test --test integration schemas) -->";
    const END: &str = "<!-- functions:end -->";
    let names = weft_nodes::expr::ExprEngine::new().function_names();
    let list: String = names.iter().map(|n| format!("`{n}` ")).collect::<String>();
    let block = format!("{START}\n{}\n{END}", list.trim_end());
    let path = format!("{}/docs/EXPRESSIONS.md", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let (Some(start), Some(end)) = (text.find(START), text.find(END)) else {
        panic!("{path} lacks the generated block");
    };
    let current = &text[start..end + END.len()];
    if current != block {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, text.replace(current, &block)).unwrap();
        } else {
            panic!("{path} is stale: run `UPDATE_DOCS=1 cargo test --test integration schemas`");
        }
    }
}

/// `docs/NODES.md`, the node reference, is generated from the kinds' own types (their configs'
/// schemas and doc comments, `KindInfo`, `KindDoc`): a changed field, default or exit shows
/// here. `UPDATE_DOCS=1` rewrites it.
#[test]
fn node_reference_is_current() {
    let out = Weft::new(&root(), ["explain", "--format", "markdown"]).run();
    out.assert_code(0);
    let path = format!("{}/docs/NODES.md", env!("CARGO_MANIFEST_DIR"));
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if out.stdout != committed {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, &out.stdout).unwrap();
        } else {
            panic!("{path} is stale: run `UPDATE_DOCS=1 cargo test --test integration schemas`");
        }
    }
}

/// `weft explain KIND` says a kind's fields, exits and what it writes; `--format json` gives
/// the same to tools; an unknown kind is bad input naming the kinds there are.
#[test]
fn explain_prints_a_kind_and_refuses_an_unknown_one() {
    let out = Weft::new(&root(), ["explain", "http_request"]).run();
    out.assert_code(0);
    for says in [
        "url  string, template; required",
        "retry.on",
        "status exits",
        "{ status, headers, pages, items }",
        "Example:",
    ] {
        assert!(out.stdout.contains(says), "no `{says}` in:\n{}", out.stdout);
    }
    let listed = Weft::new(&root(), ["explain"]).run();
    listed.assert_code(0);
    assert!(listed.stdout.contains("Walks a list"), "{}", listed.stdout);
    let json = Weft::new(&root(), ["explain", "decision", "--format", "json"]).run();
    json.assert_code(0);
    let value = json.json();
    assert_eq!(value["kind"], "decision");
    assert_eq!(value["exits"][0]["named_by"], "conditions[].exit");
    let unknown = Weft::new(&root(), ["explain", "http"]).run();
    unknown.assert_code(2);
    assert!(unknown.stderr.contains("http_request, json_import"), "{}", unknown.stderr);
}
