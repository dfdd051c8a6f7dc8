//! The loader never panics, hangs or overflows the stack, whatever the input (bad input is exit 2,
//! never a crash): property tests on arbitrary bytes, truncations and
//! mutations of a valid flow and random JSON values spliced into it, plus deterministic extremes
//! (200 000 levels of nesting, binary noise, a 50 000-node flow).

use crate::util::Dir;
use proptest::prelude::*;
use serde_json::{Value, json};
use weft::flow::Loaded;

/// A valid flow using every kind, with templates, pointers and parameters, so mutations reach
/// every part of the loader.
const VALID: &str = r##"{
  "$schema": "https://example.invalid/flow.schema.json",
  "format": "weft.flow/1",
  "name": "props",
  "description": "a flow for property tests",
  "parameters": { "user": { "type": "string", "default": "me" },
                  "days": { "type": "integer", "default": 7, "description": "window" },
                  "flags": { "type": "array", "default": [true] },
                  "opts": { "type": "object", "default": { "a": 1.5 } },
                  "on": { "type": "boolean", "default": false },
                  "ratio": { "type": "number", "required": false, "default": 0.5 } },
  "variables": { "events": [], "n": 0, "deep": { "a": [1, { "b": null }] } },
  "start": "sign_in",
  "nodes": [
    { "id": "sign_in", "type": "authentication", "profile": "graph-app", "into": "auth", "position": [40, 80] },
    { "id": "fetch", "type": "http_request", "method": "GET", "auth": "graph-app",
      "url": "https://graph.example/v1.0/users/${url_encode(params.user)}/calendarView",
      "query": { "top": "${params.days}", "literal": "$${x}" },
      "headers": { "Prefer": "outlook.timezone=\"UTC\"" }, "into": "page", "timeout_ms": 1000,
      "retry": { "max_attempts": 2, "on": [429], "initial_ms": 10, "max_ms": 100 },
      "paginate": { "next": "response.body[\"@odata.nextLink\"]", "items": "/value", "max_pages": 3 } },
    { "id": "import", "type": "json_import", "from": "vars.page.items", "select": "/0",
      "map": "#{ subject: item.subject }", "fields": { "subject": "string", "start": "datetime?" },
      "append_to": "events" },
    { "id": "each", "type": "loop", "over": "vars.events", "as": "ev" },
    { "id": "count", "type": "assign", "title": "Count", "set": { "vars.n": "vars.n + 1", "vars.last": "vars.ev" } },
    { "id": "more", "type": "decision",
      "conditions": [ { "exit": "many", "when": "vars.n > 10" } ], "otherwise": "few" },
    { "id": "finish", "type": "end", "result": "#{ n: vars.n, events: vars.events }" },
    { "id": "failed", "type": "end", "status": "failed", "result": "vars.error" }
  ],
  "edges": [
    { "from": "sign_in", "to": "fetch" }, { "from": "sign_in", "exit": "unauthenticated", "to": "failed" },
    { "from": "fetch", "to": "import" }, { "from": "fetch", "exit": "4xx", "to": "failed" },
    { "from": "import", "to": "each" },
    { "from": "each", "exit": "next", "to": "count" }, { "from": "count", "to": "each" },
    { "from": "each", "exit": "done", "to": "more" },
    { "from": "more", "exit": "many", "to": "finish" }, { "from": "more", "exit": "few", "to": "finish" },
    { "from": "count", "exit": "error", "to": "failed" }
  ]
}"##;

fn load(bytes: &[u8]) -> Loaded {
    weft::flow::Loader::builtin().load_bytes(bytes, "props")
}

/// Runs `f` on a thread with a 2 MiB stack (what test threads get by default; less than a
/// program's main thread), as a guard that the loader does not lean on deep recursion.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the loader panicked or overflowed")
}

#[test]
fn the_fixture_is_valid() {
    let loaded = load(VALID.as_bytes());
    let errors: Vec<_> = loaded.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(loaded.flow.is_some());
}

/// Every diagnostic the loader returns is well formed: a pointer that is empty or starts with
/// `/`, a message, a 1-based line and column when present.
fn check_diagnostics(loaded: &Loaded) {
    for d in &loaded.diagnostics {
        assert!(d.pointer.is_empty() || d.pointer.starts_with('/'), "pointer {:?}", d.pointer);
        assert!(!d.message.is_empty());
        assert!(d.line.is_none_or(|l| l >= 1));
        assert!(d.column.is_none_or(|c| c >= 1));
    }
    if loaded.flow.is_none() {
        assert!(loaded.has_errors(), "no flow but no error either: {:#?}", loaded.diagnostics);
    }
}

/// Arbitrary JSON values, a few levels deep.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "[a-z_${}#. ()\\[\\]\"/~0-9+-]{0,24}".prop_map(Value::String),
        prop_oneof![
            Just("weft.flow/1"),
            Just("vars.n"),
            Just("ok"),
            Just("error"),
            Just("next"),
            Just("GET"),
            Just("/value"),
            Just("count"),
            Just("string"),
            Just("integer"),
            Just("${"),
            Just("#{"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        "[a-z_]{1,8}",
                        Just("id".to_owned()),
                        Just("type".to_owned()),
                        Just("exit".to_owned()),
                        Just("when".to_owned()),
                        Just("set".to_owned()),
                        Just("from".to_owned()),
                        Just("to".to_owned()),
                        Just("default".to_owned()),
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer (as a path of keys/indices) in `value`.
fn paths(value: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                prefix.push(PathStep::Key(k.clone()));
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(PathStep::Index(i));
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn at_mut<'v>(value: &'v mut Value, path: &[PathStep]) -> &'v mut Value {
    path.iter().fold(value, |v, step| match step {
        PathStep::Key(k) => &mut v[k.as_str()],
        PathStep::Index(i) => &mut v[*i],
    })
}

fn valid_value() -> Value {
    serde_json::from_str(VALID).unwrap()
}

fn all_paths() -> Vec<Vec<PathStep>> {
    let mut out = Vec::new();
    paths(&valid_value(), &mut Vec::new(), &mut out);
    out
}

/// The JSON pointer of `path`.
fn pointer(path: &[PathStep]) -> String {
    path.iter()
        .map(|step| match step {
            PathStep::Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
            PathStep::Index(i) => format!("/{i}"),
        })
        .collect()
}

/// `value` as compact JSON text with the object member at `path` written twice.
fn with_duplicate(value: &Value, path: &[PathStep]) -> String {
    fn write(value: &Value, path: Option<&[PathStep]>, out: &mut String) {
        let next = |step: &PathStep| match (path?.split_first()?, step) {
            ((PathStep::Key(a), rest), PathStep::Key(b)) if a == b => Some(rest),
            ((PathStep::Index(a), rest), PathStep::Index(b)) if a == b => Some(rest),
            _ => None,
        };
        match value {
            Value::Object(map) => {
                out.push('{');
                for (i, (k, v)) in map.iter().enumerate() {
                    let here = next(&PathStep::Key(k.clone()));
                    let times = if here.is_some_and(<[PathStep]>::is_empty) { 2 } else { 1 };
                    for j in 0..times {
                        if i + j > 0 {
                            out.push(',');
                        }
                        out.push_str(&Value::String(k.clone()).to_string());
                        out.push(':');
                        write(v, here, out);
                    }
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, next(&PathStep::Index(i)), out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, Some(path), &mut out);
    out
}

/// The byte offset of a 1-based line and column (in characters) of `text`.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text.split_inclusive('\n').take(line - 1).map(str::len).sum();
    start + text[start..].chars().take(column - 1).map(char::len_utf8).sum::<usize>()
}

/// Every value of the valid flow, in its own layout, compact and pretty, is located where its
/// text starts, all pointers at once.
#[test]
fn every_pointer_is_located_at_its_value() {
    let value = valid_value();
    let targets = all_paths();
    let pointers: Vec<String> = targets.iter().map(|p| pointer(p)).collect();
    for text in [VALID.to_owned(), value.to_string(), serde_json::to_string_pretty(&value).unwrap()]
    {
        let found = weft::flow::json::locate_all(&text, pointers.iter().map(String::as_str));
        for ((path, pointer), place) in targets.iter().zip(&pointers).zip(found) {
            let (line, column) = place.unwrap_or_else(|| panic!("{pointer} not found"));
            let at = offset_of(&text, line, column);
            let there = serde_json::Deserializer::from_str(&text[at..]).into_iter::<Value>().next();
            let mut expected = value.clone();
            assert_eq!(there.unwrap().unwrap(), *at_mut(&mut expected, path), "{pointer}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// A valid flow with any one member written twice is rejected, with one error that names
    /// the key at its pointer and points at its second place.
    #[test]
    fn any_member_written_twice_is_an_error_at_its_second_place(at in any::<prop::sample::Index>()) {
        let targets: Vec<_> = all_paths()
            .into_iter()
            .filter(|p| matches!(p.last(), Some(PathStep::Key(_))))
            .collect();
        let path = &targets[at.index(targets.len())];
        let text = with_duplicate(&valid_value(), path);
        let loaded = load(text.as_bytes());
        check_diagnostics(&loaded);
        prop_assert!(loaded.flow.is_none());
        prop_assert_eq!(loaded.diagnostics.len(), 1, "{:#?}", loaded.diagnostics);
        let d = &loaded.diagnostics[0];
        let Some(PathStep::Key(key)) = path.last() else { unreachable!() };
        prop_assert_eq!(&d.pointer, &pointer(path));
        prop_assert!(d.message.starts_with(&format!("duplicate key `{key}` at ")), "{}", d.message);
        let at = offset_of(&text, d.line.unwrap(), d.column.unwrap());
        let member = format!("{}:", Value::String(key.clone()));
        prop_assert!(text[at..].starts_with(&member), "{}", &text[at..]);
        // The first place is before it: this is the second.
        prop_assert!(text[..at].contains(&member));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let loaded = load(&bytes);
        check_diagnostics(&loaded);
    }

    #[test]
    fn arbitrary_json_text_never_panics(value in arb_json()) {
        let loaded = load(value.to_string().as_bytes());
        check_diagnostics(&loaded);
    }

    #[test]
    fn truncations_of_a_valid_flow_are_errors_not_panics(cut in 0..VALID.trim_end().len()) {
        let loaded = load(&VALID.as_bytes()[..cut]);
        check_diagnostics(&loaded);
        prop_assert!(loaded.has_errors(), "a strict prefix is not a whole JSON object (cut at {})", cut);
        prop_assert!(loaded.flow.is_none());
        // A syntax error is located (its column is checked in validate_cli.rs; a cut right after
        // a newline is a known case without one).
        let d = loaded.diagnostics.iter().find(|d| d.is_error()).unwrap();
        prop_assert!(d.line.is_some(), "{:?}", d);
    }

    #[test]
    fn byte_mutations_of_a_valid_flow_never_panic(
        edits in prop::collection::vec((0usize..4, any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let mut bytes = VALID.as_bytes().to_vec();
        for (op, at, byte) in edits {
            if bytes.is_empty() {
                bytes.push(byte);
                continue;
            }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                2 => { bytes.remove(i); }
                _ => {
                    // Duplicate a slice: creates repeated keys, nodes and brackets.
                    let end = (i + usize::from(byte)).min(bytes.len());
                    let chunk = bytes[i..end].to_vec();
                    bytes.splice(i..i, chunk);
                }
            }
        }
        let loaded = load(&bytes);
        check_diagnostics(&loaded);
    }

    #[test]
    fn json_values_spliced_into_a_valid_flow_never_panic(
        at in any::<prop::sample::Index>(),
        replacement in arb_json(),
    ) {
        let targets = all_paths();
        let path = &targets[at.index(targets.len())];
        let mut flow = valid_value();
        *at_mut(&mut flow, path) = replacement;
        let loaded = load(flow.to_string().as_bytes());
        check_diagnostics(&loaded);
    }

    #[test]
    fn removing_any_member_never_panics(at in any::<prop::sample::Index>()) {
        let targets: Vec<_> = all_paths().into_iter().filter(|p| !p.is_empty()).collect();
        let path = &targets[at.index(targets.len())];
        let mut flow = valid_value();
        let (last, parent) = path.split_last().unwrap();
        match (at_mut(&mut flow, parent), last) {
            (Value::Object(map), PathStep::Key(k)) => { map.shift_remove(k); }
            (Value::Array(items), PathStep::Index(i)) => { items.remove(*i); }
            _ => unreachable!(),
        }
        let loaded = load(flow.to_string().as_bytes());
        check_diagnostics(&loaded);
    }
}

// ---------------------------------------------------------------------------------------------
// Deterministic extremes
// ---------------------------------------------------------------------------------------------

#[test]
fn two_hundred_thousand_levels_of_arrays() {
    let loaded = on_small_stack(|| {
        let mut text = "[".repeat(200_000);
        text.push_str(&"]".repeat(200_000));
        load(text.as_bytes())
    });
    assert!(loaded.has_errors());
    assert!(loaded.flow.is_none());
}

#[test]
fn two_hundred_thousand_levels_of_objects_unclosed() {
    let loaded = on_small_stack(|| load(r#"{"a":"#.repeat(200_000).as_bytes()));
    assert!(loaded.has_errors());
}

#[test]
fn two_hundred_thousand_levels_inside_a_valid_flow() {
    let loaded = on_small_stack(|| {
        let text = format!(
            r#"{{"format":"weft.flow/1","start":"e","nodes":[{{"id":"e","type":"end"}}],"variables":{{"deep":{}0{}}}}}"#,
            "[".repeat(200_000),
            "]".repeat(200_000)
        );
        load(text.as_bytes())
    });
    assert!(loaded.has_errors());
    assert!(
        loaded.diagnostics.iter().any(|d| d.message.contains("128")),
        "the nesting limit is named: {:#?}",
        loaded.diagnostics
    );
}

#[test]
fn deep_nesting_in_expressions_does_not_overflow() {
    // Rhai source nested very deeply: the expression compiler must refuse, not crash.
    let loaded = on_small_stack(|| {
        let expr = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
        let text = json!({
            "format": "weft.flow/1", "start": "e",
            "nodes": [ { "id": "e", "type": "end", "result": expr } ]
        })
        .to_string();
        load(text.as_bytes())
    });
    assert!(loaded.has_errors());
    assert!(
        loaded
            .diagnostics
            .iter()
            .any(|d| d.pointer == "/nodes/0/result" && d.node.as_deref() == Some("e")),
        "{:#?}",
        loaded.diagnostics
    );
}

#[test]
fn binary_noise_is_an_error() {
    // A fixed pseudo-random megabyte (xorshift), so the test is repeatable.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: Vec<u8> = (0..1 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    let loaded = load(&noise);
    assert!(loaded.has_errors());
    assert!(loaded.flow.is_none());
    // Noise after a valid prefix too.
    let mut bytes = VALID.as_bytes()[..VALID.len() / 2].to_vec();
    bytes.extend_from_slice(&noise[..4096]);
    assert!(load(&bytes).has_errors());
}

#[test]
fn nul_bytes_and_invalid_utf8_are_errors() {
    assert!(load(b"\0\0\0\0").has_errors());
    assert!(load(&[0xef, 0xbb]).has_errors());
    let mut bytes = VALID.as_bytes().to_vec();
    let at = VALID.find("props").unwrap();
    bytes[at] = 0xc3; // a lone lead byte inside a string
    assert!(load(&bytes).has_errors());
}

#[test]
fn empty_input_is_an_error() {
    let loaded = load(b"");
    assert!(loaded.has_errors());
    assert!(loaded.flow.is_none());
}

#[test]
fn huge_numbers_and_long_strings_do_not_panic() {
    for text in [
        format!(
            r#"{{"format":"weft.flow/1","start":"e","nodes":[{{"id":"e","type":"end"}}],"variables":{{"n":1{}}}}}"#,
            "0".repeat(10_000)
        ),
        format!(
            r#"{{"format":"weft.flow/1","start":"e","nodes":[{{"id":"e","type":"end"}}],"variables":{{"n":1e{}}}}}"#,
            "9".repeat(400)
        ),
        format!(
            r#"{{"format":"weft.flow/1","start":"{0}","nodes":[{{"id":"{0}","type":"end"}}]}}"#,
            "x".repeat(1 << 20)
        ),
        r#"{"format":"weft.flow/1","start":"e","parameters":{"p":{"type":"integer","default":1e400}},"nodes":[{"id":"e","type":"end"}]}"#.to_owned(),
        r#"{"format":"weft.flow/1","start":"e","parameters":{"p":{"type":"integer","default":18446744073709551616}},"nodes":[{"id":"e","type":"end"}]}"#.to_owned(),
    ] {
        check_diagnostics(&load(text.as_bytes()));
    }
}

#[test]
fn fifty_thousand_node_flow_validates() {
    const N: usize = 50_000;
    let mut nodes = Vec::with_capacity(N + 1);
    let mut edges = Vec::with_capacity(N);
    for i in 0..N {
        nodes.push(json!({
            "id": format!("n{i}"), "type": "assign", "set": { "vars.i": "vars.i + 1" }
        }));
        let to = if i + 1 < N { format!("n{}", i + 1) } else { "fin".to_owned() };
        edges.push(json!({ "from": format!("n{i}"), "to": to }));
    }
    nodes.push(json!({ "id": "fin", "type": "end", "result": "vars.i" }));
    let text = json!({
        "format": "weft.flow/1", "name": "chain", "variables": { "i": 0 },
        "start": "n0", "nodes": nodes, "edges": edges
    })
    .to_string();
    let loaded = load(text.as_bytes());
    let errors: Vec<_> = loaded.diagnostics.iter().filter(|d| d.is_error()).take(5).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(loaded.flow.is_some());
    assert!(
        loaded.diagnostics.is_empty(),
        "a fully wired chain has no warnings: {:#?}",
        loaded.diagnostics.iter().take(5).collect::<Vec<_>>()
    );
}

/// A flow whose `start` is a loop whose body is a chain of `n` assign nodes leading back to it.
fn long_loop_body(n: usize) -> String {
    let mut nodes = Vec::with_capacity(n + 2);
    let mut edges = Vec::with_capacity(n + 2);
    nodes.push(json!({ "id": "l", "type": "loop", "over": "[1, 2]" }));
    for i in 0..n {
        nodes.push(
            json!({ "id": format!("n{i}"), "type": "assign", "set": { "vars.i": "vars.item" } }),
        );
        let to = if i + 1 < n { format!("n{}", i + 1) } else { "l".to_owned() };
        edges.push(json!({ "from": format!("n{i}"), "to": to }));
    }
    nodes.push(json!({ "id": "fin", "type": "end" }));
    edges.push(json!({ "from": "l", "exit": "next", "to": "n0" }));
    edges.push(json!({ "from": "l", "exit": "done", "to": "fin" }));
    json!({ "format": "weft.flow/1", "start": "l", "nodes": nodes, "edges": edges }).to_string()
}

#[test]
fn fifty_thousand_node_loop_body_validates() {
    // A loop whose body is 50 000 nodes long. Checked through the binary (in a child process)
    // because a stack overflow aborts the whole process and would take this test harness with
    // it; the binary's main thread has the platform's full stack, more than the loader should
    // need.
    let dir = Dir::new();
    dir.write("long-loop.flow.json", long_loop_body(50_000));
    let out = dir.weft(["validate", "long-loop.flow.json"]);
    assert_eq!(
        out.code,
        Some(0),
        "weft validate on a 50 000-node loop body: stderr: {}",
        out.stderr
    );
}

#[test]
fn a_modest_loop_body_validates_in_process() {
    let text = long_loop_body(2_000);
    let loaded = on_small_stack(move || load(text.as_bytes()));
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics.first());
    assert!(loaded.flow.is_some());
}
