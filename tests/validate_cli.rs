//! `weft validate` on bad input, written from the contract in DESIGN.md §1, §2 and §5: each case
//! asserts exit 2 and that an error names the JSON pointer and node id it should; warnings keep
//! exit 0; `--format json` is machine-readable.

use crate::util::{Dir, Outcome, diagnostics};
use serde_json::{Value, json};

/// Validates `flow` (written as `case.flow.json`) with `--format json`.
fn validate_json(flow: impl AsRef<[u8]>) -> (Outcome, Vec<Value>) {
    let dir = Dir::new();
    dir.write("case.flow.json", flow);
    let out = dir.weft(["validate", "--format", "json", "case.flow.json"]);
    let diags = if out.stdout.trim().is_empty() { Vec::new() } else { diagnostics(&out.json()) };
    (out, diags)
}

/// Validates `flow` in the default (human) format.
fn validate_text(flow: impl AsRef<[u8]>) -> Outcome {
    let dir = Dir::new();
    dir.write("case.flow.json", flow);
    dir.weft(["validate", "case.flow.json"])
}

fn severity(d: &Value) -> &str {
    d["severity"].as_str().unwrap_or("")
}

fn errors(diags: &[Value]) -> Vec<&Value> {
    diags.iter().filter(|d| severity(d) == "error").collect()
}

fn warnings(diags: &[Value]) -> Vec<&Value> {
    diags.iter().filter(|d| severity(d) == "warning").collect()
}

/// Asserts exit 2 and an error at one of `pointers` naming `node` (when given); returns it.
#[track_caller]
fn expect_error(flow: &str, pointers: &[&str], node: Option<&str>) -> Value {
    let (out, diags) = validate_json(flow);
    out.assert_code(2);
    let found = errors(&diags).into_iter().find(|d| {
        pointers.iter().any(|p| d["pointer"] == *p)
            && node.is_none_or(|n| d["node"].as_str() == Some(n))
    });
    match found {
        Some(d) => d.clone(),
        None => panic!(
            "expected an error at {pointers:?} naming node {node:?}; got:\n{}",
            serde_json::to_string_pretty(&diags).unwrap()
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Valid flows
// ---------------------------------------------------------------------------------------------

const GOOD: &str = r##"{
  "$schema": "https://example.invalid/flow.schema.json",
  "format": "weft.flow/1",
  "name": "good",
  "description": "every built-in kind that runs, wired completely",
  "parameters": { "n": { "type": "integer", "default": 2, "description": "how many" },
                  "who": { "type": "string", "required": true } },
  "variables": { "list": [1, 2, 3], "seen": [] },
  "start": "init",
  "nodes": [
    { "id": "init", "type": "assign", "title": "Init", "position": [0, 0], "set": { "vars.count": "0" } },
    { "id": "each", "type": "loop", "over": "vars.list", "as": "x" },
    { "id": "check", "type": "decision",
      "conditions": [ { "exit": "big", "when": "vars.x > params.n" } ], "otherwise": "small" },
    { "id": "keep", "type": "assign", "set": { "vars.seen": "vars.seen + [vars.x]" } },
    { "id": "fin", "type": "end", "result": "vars.seen", "status": "succeeded" },
    { "id": "oops", "type": "end", "status": "failed", "result": "vars.error" }
  ],
  "edges": [
    { "from": "init", "to": "each" },
    { "from": "init", "exit": "error", "to": "oops" },
    { "from": "each", "exit": "next", "to": "check" },
    { "from": "each", "exit": "done", "to": "fin" },
    { "from": "check", "exit": "big", "to": "keep" },
    { "from": "check", "exit": "small", "to": "each" },
    { "from": "keep", "to": "each" }
  ]
}"##;

#[test]
fn a_good_flow_is_valid_without_diagnostics() {
    let (out, diags) = validate_json(GOOD);
    out.assert_code(0);
    assert!(diags.is_empty(), "no diagnostics expected: {diags:#?}");
    validate_text(GOOD).assert_code(0);
}

#[test]
fn flows_using_later_kinds_validate() {
    // authentication, http_request and json_import are validated from the start.
    let flow = r##"{ "format": "weft.flow/1", "start": "sign_in",
      "parameters": { "user": { "type": "string", "default": "me" } },
      "nodes": [
        { "id": "sign_in", "type": "authentication", "profile": "graph-app", "into": "auth" },
        { "id": "fetch", "type": "http_request", "method": "GET", "auth": "graph-app",
          "url": "https://graph.example/users/${url_encode(params.user)}/events",
          "query": { "top": "${10}", "skip": "$${literal}" }, "headers": { "Prefer": "outlook.timezone=\"UTC\"" },
          "timeout_ms": 5000, "retry": { "max_attempts": 3, "on": [429, 503], "initial_ms": 100, "max_ms": 1000 },
          "into": "page",
          "paginate": { "next": "response.body[\"@odata.nextLink\"]", "items": "/value", "max_pages": 5 } },
        { "id": "post", "type": "http_request", "method": "POST", "url": "https://graph.example/x",
          "body": { "a": "${params.user}", "n": [1, "${1 + 1}"] } },
        { "id": "import", "type": "json_import", "from": "vars.page.items", "select": "/0",
          "map": "#{ subject: item.subject }", "fields": { "subject": "string", "start": "datetime?" },
          "append_to": "events" },
        { "id": "fin", "type": "end", "result": "vars.events" }
      ],
      "edges": [ { "from": "sign_in", "to": "fetch" }, { "from": "fetch", "to": "post" },
                 { "from": "post", "to": "import" }, { "from": "import", "to": "fin" },
                 { "from": "sign_in", "exit": "unauthenticated", "to": "fin" },
                 { "from": "fetch", "exit": "404", "to": "fin" }, { "from": "fetch", "exit": "5xx", "to": "fin" } ] }"##;
    let (out, diags) = validate_json(flow);
    out.assert_code(0);
    assert!(errors(&diags).is_empty(), "{diags:#?}");
}

#[test]
fn several_valid_files_are_exit_0_and_one_bad_file_makes_exit_2() {
    let dir = Dir::new();
    dir.write("a.flow.json", GOOD);
    dir.write("b.flow.json", GOOD);
    dir.write(
        "bad.flow.json",
        r#"{ "format": "weft.flow/1", "start": "x", "nodes": [ { "id": "x", "type": "bogus_kind" } ] }"#,
    );
    dir.weft(["validate", "a.flow.json", "b.flow.json"]).assert_code(0);
    let out =
        dir.weft(["validate", "--format", "json", "a.flow.json", "bad.flow.json", "b.flow.json"]);
    out.assert_code(2);
    assert!(out.stdout.contains("bad.flow.json"), "the JSON names the file: {}", out.stdout);
    let text = dir.weft(["validate", "a.flow.json", "bad.flow.json"]);
    text.assert_code(2);
    assert!(text.all().contains("bad.flow.json"), "{}", text.all());
}

// ---------------------------------------------------------------------------------------------
// JSON, encoding, format
// ---------------------------------------------------------------------------------------------

#[test]
fn json_syntax_error_has_line_and_column() {
    // Line 3 lacks the colon after "start": the parser stops at `"a"` (line 3, column 12).
    let flow = "{\n  \"format\": \"weft.flow/1\",\n  \"start\" \"a\",\n  \"nodes\": []\n}\n";
    let (out, diags) = validate_json(flow);
    out.assert_code(2);
    let d = errors(&diags).into_iter().next().expect("one error").clone();
    assert_eq!(d["line"], 3, "{d}");
    let column = d["column"].as_u64().expect("a column");
    assert!((10..=13).contains(&column), "column near 12: {d}");
    let text = validate_text(flow);
    text.assert_code(2);
    assert!(
        text.all().contains("case.flow.json:3:"),
        "the text names file and line: {}",
        text.all()
    );
}

#[test]
fn truncated_json_is_exit_2_with_a_line() {
    let flow = "{\n  \"format\": \"weft.flow/1\",\n  \"nodes\": [ { \"id\": \"a\"";
    let (out, diags) = validate_json(flow);
    out.assert_code(2);
    let d = errors(&diags).into_iter().next().expect("one error").clone();
    assert_eq!(d["line"], 3, "{d}");
}

#[test]
fn eof_error_right_after_a_newline_has_line_and_column() {
    // A file cut off after a complete line: the error is at the end, line 3, column 1.
    let (out, diags) = validate_json("{\n  \"format\": \"weft.flow/1\",\n");
    out.assert_code(2);
    let d = errors(&diags).into_iter().next().expect("one error").clone();
    assert!(d["line"].as_u64().is_some(), "a line: {d}");
    assert!(d["column"].as_u64().is_some(), "a column: {d}");
}

#[test]
fn trailing_garbage_after_the_object_is_an_error() {
    let flow = format!("{GOOD}\n{{}}");
    let (out, diags) = validate_json(flow);
    out.assert_code(2);
    assert!(!errors(&diags).is_empty());
}

#[test]
fn empty_file_and_non_object_are_errors() {
    for flow in ["", "   \n", "[]", "null", "\"weft.flow/1\"", "42"] {
        let (out, _) = validate_json(flow);
        assert_eq!(out.code, Some(2), "input {flow:?}: {}", out.all());
    }
}

#[test]
fn non_utf8_input_is_an_error() {
    let mut bytes = GOOD.as_bytes().to_vec();
    // Put an invalid UTF-8 byte inside the `name` string.
    let at = GOOD.find("\"good\"").unwrap() + 2;
    bytes[at] = 0xff;
    let (out, _) = validate_json(&bytes);
    out.assert_code(2);
    // UTF-16 with a BOM is not UTF-8 JSON either.
    let utf16: Vec<u8> =
        [0xff_u8, 0xfe].into_iter().chain(GOOD.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    let (out, _) = validate_json(&utf16);
    out.assert_code(2);
}

#[test]
fn wrong_format_names_the_format_field() {
    expect_error(
        r#"{ "format": "weft.flow/2", "start": "e", "nodes": [ { "id": "e", "type": "end" } ] }"#,
        &["/format"],
        None,
    );
    expect_error(
        r#"{ "format": "weft.profiles/1", "start": "e", "nodes": [ { "id": "e", "type": "end" } ] }"#,
        &["/format"],
        None,
    );
    expect_error(
        r#"{ "format": 1, "start": "e", "nodes": [ { "id": "e", "type": "end" } ] }"#,
        &["/format"],
        None,
    );
}

#[test]
fn missing_format_is_an_error() {
    let d = expect_error(
        r#"{ "start": "e", "nodes": [ { "id": "e", "type": "end" } ] }"#,
        &["", "/format"],
        None,
    );
    assert!(d["message"].as_str().unwrap().contains("format"), "{d}");
}

#[test]
fn unknown_top_level_field_is_an_error() {
    let d = expect_error(
        r#"{ "format": "weft.flow/1", "start": "e", "nodes": [ { "id": "e", "type": "end" } ], "colour": "red" }"#,
        &["/colour"],
        None,
    );
    assert!(d["message"].as_str().unwrap().contains("colour"), "{d}");
}

// ---------------------------------------------------------------------------------------------
// Node ids and kinds
// ---------------------------------------------------------------------------------------------

#[test]
fn duplicate_node_id_names_the_second() {
    expect_error(
        r#"{ "format": "weft.flow/1", "start": "twin",
             "nodes": [ { "id": "twin", "type": "end" }, { "id": "other", "type": "end" },
                        { "id": "twin", "type": "end" } ] }"#,
        &["/nodes/2/id"],
        Some("twin"),
    );
}

#[test]
fn malformed_node_ids_are_errors() {
    for bad in ["1abc", "a-b", "", "has space", "é", "a.b"] {
        let flow = format!(
            r#"{{ "format": "weft.flow/1", "start": "ok_one",
                 "nodes": [ {{ "id": "ok_one", "type": "end" }}, {{ "id": {}, "type": "end" }} ] }}"#,
            serde_json::to_string(bad).unwrap()
        );
        let (out, diags) = validate_json(&flow);
        assert_eq!(out.code, Some(2), "id {bad:?}: {}", out.all());
        assert!(
            errors(&diags).iter().any(|d| d["pointer"] == "/nodes/1/id"),
            "id {bad:?}: an error at /nodes/1/id: {diags:#?}"
        );
    }
}

#[test]
fn valid_node_id_shapes_are_accepted() {
    let (out, diags) = validate_json(
        r#"{ "format": "weft.flow/1", "start": "_a",
             "nodes": [ { "id": "_a", "type": "assign", "set": { "vars.x": "1" } },
                        { "id": "Z9_z", "type": "end" } ],
             "edges": [ { "from": "_a", "to": "Z9_z" } ] }"#,
    );
    out.assert_code(0);
    assert!(errors(&diags).is_empty(), "{diags:#?}");
}

#[test]
fn missing_node_id_is_an_error() {
    expect_error(
        r#"{ "format": "weft.flow/1", "start": "e",
             "nodes": [ { "id": "e", "type": "end" }, { "type": "end" } ] }"#,
        &["/nodes/1", "/nodes/1/id"],
        None,
    );
}

#[test]
fn unknown_node_type_names_pointer_and_node() {
    let d = expect_error(
        r#"{ "format": "weft.flow/1", "start": "e",
             "nodes": [ { "id": "e", "type": "end" }, { "id": "frob", "type": "frobnicate" } ] }"#,
        &["/nodes/1/type"],
        Some("frob"),
    );
    assert!(d["message"].as_str().unwrap().contains("frobnicate"), "{d}");
}

#[test]
fn missing_node_type_is_an_error() {
    expect_error(
        r#"{ "format": "weft.flow/1", "start": "e",
             "nodes": [ { "id": "e", "type": "end" }, { "id": "typeless" } ] }"#,
        &["/nodes/1", "/nodes/1/type"],
        Some("typeless"),
    );
}

// ---------------------------------------------------------------------------------------------
// Fields per kind
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_fields_per_kind_are_errors() {
    for (node, pointer) in [
        (
            r#"{ "id": "n", "type": "assign", "set": { "vars.x": "1" }, "when": "true" }"#,
            "/nodes/0/when",
        ),
        (r#"{ "id": "n", "type": "end", "over": "[]" }"#, "/nodes/0/over"),
        (r#"{ "id": "n", "type": "loop", "over": "[]", "into": "x" }"#, "/nodes/0/into"),
        (
            r#"{ "id": "n", "type": "decision", "conditions": [], "otherwise": "o", "result": "1" }"#,
            "/nodes/0/result",
        ),
        (
            r#"{ "id": "n", "type": "decision", "conditions": [ { "exit": "a", "when": "true", "label": "A" } ], "otherwise": "o" }"#,
            "/nodes/0/conditions/0/label",
        ),
        (
            r#"{ "id": "n", "type": "authentication", "profile": "p", "url": "https://x" }"#,
            "/nodes/0/url",
        ),
        (
            r#"{ "id": "n", "type": "http_request", "method": "GET", "url": "https://x", "profile": "p" }"#,
            "/nodes/0/profile",
        ),
        (
            r#"{ "id": "n", "type": "http_request", "method": "GET", "url": "https://x", "retry": { "max_attempts": 2, "backoff": 3 } }"#,
            "/nodes/0/retry/backoff",
        ),
        (
            r#"{ "id": "n", "type": "http_request", "method": "GET", "url": "https://x", "paginate": { "next": "()", "limit": 3 } }"#,
            "/nodes/0/paginate/limit",
        ),
        (
            r#"{ "id": "n", "type": "json_import", "from": "[]", "into": "x", "method": "GET" }"#,
            "/nodes/0/method",
        ),
    ] {
        let flow = format!(r#"{{ "format": "weft.flow/1", "start": "n", "nodes": [ {node} ] }}"#);
        let (out, diags) = validate_json(&flow);
        assert_eq!(out.code, Some(2), "{node}: {}", out.all());
        assert!(
            errors(&diags).iter().any(|d| d["pointer"] == pointer && d["node"] == "n"),
            "{node}: expected an error at {pointer} naming node n: {diags:#?}"
        );
    }
}

#[test]
fn unknown_fields_in_parameters_and_edges_are_errors() {
    expect_error(
        r#"{ "format": "weft.flow/1", "start": "e",
             "parameters": { "p": { "type": "string", "default": "x", "secret": true } },
             "nodes": [ { "id": "e", "type": "end" } ] }"#,
        &["/parameters/p/secret"],
        None,
    );
    expect_error(
        r#"{ "format": "weft.flow/1", "start": "a",
             "nodes": [ { "id": "a", "type": "assign", "set": { "vars.x": "1" } }, { "id": "e", "type": "end" } ],
             "edges": [ { "from": "a", "to": "e", "label": "go" } ] }"#,
        &["/edges/0/label"],
        None,
    );
}

#[test]
fn missing_required_fields_per_kind_are_errors() {
    for (node, field) in [
        (r#"{ "id": "n", "type": "assign" }"#, "set"),
        (r#"{ "id": "n", "type": "loop" }"#, "over"),
        (
            r#"{ "id": "n", "type": "decision", "conditions": [ { "exit": "a" } ], "otherwise": "o" }"#,
            "when",
        ),
        (r#"{ "id": "n", "type": "authentication" }"#, "profile"),
        (r#"{ "id": "n", "type": "http_request", "method": "GET" }"#, "url"),
        (r#"{ "id": "n", "type": "json_import", "into": "x" }"#, "from"),
    ] {
        let flow = format!(r#"{{ "format": "weft.flow/1", "start": "n", "nodes": [ {node} ] }}"#);
        let (out, diags) = validate_json(&flow);
        assert_eq!(out.code, Some(2), "{node}: {}", out.all());
        assert!(
            errors(&diags).iter().any(|d| d["node"] == "n"
                && d["pointer"].as_str().is_some_and(|p| p.starts_with("/nodes/0"))
                && (d["pointer"].as_str().unwrap().ends_with(field)
                    || d["message"].as_str().unwrap().contains(field))),
            "{node}: expected an error under /nodes/0 naming node n and `{field}`: {diags:#?}"
        );
    }
}

#[test]
fn end_status_must_be_succeeded_or_failed() {
    expect_error(
        r#"{ "format": "weft.flow/1", "start": "e",
             "nodes": [ { "id": "e", "type": "end", "status": "cancelled" } ] }"#,
        &["/nodes/0/status"],
        Some("e"),
    );
}

#[test]
fn wrong_field_types_are_errors() {
    for (node, pointer) in [
        (r#"{ "id": "n", "type": "assign", "set": [ "vars.x" ] }"#, "/nodes/0/set"),
        (r#"{ "id": "n", "type": "assign", "set": { "vars.x": 1 } }"#, "/nodes/0/set/vars.x"),
        (r#"{ "id": "n", "type": "loop", "over": "[]", "as": 3 }"#, "/nodes/0/as"),
        (r#"{ "id": "n", "type": "end", "position": "left" }"#, "/nodes/0/position"),
        (
            r#"{ "id": "n", "type": "http_request", "method": "GET", "url": "https://x", "timeout_ms": "soon" }"#,
            "/nodes/0/timeout_ms",
        ),
    ] {
        let flow = format!(r#"{{ "format": "weft.flow/1", "start": "n", "nodes": [ {node} ] }}"#);
        let (out, diags) = validate_json(&flow);
        assert_eq!(out.code, Some(2), "{node}: {}", out.all());
        assert!(
            errors(&diags).iter().any(|d| d["pointer"] == pointer && d["node"] == "n"),
            "{node}: expected an error at {pointer} naming node n: {diags:#?}"
        );
    }
}

#[test]
fn write_targets_must_be_variable_paths_under_vars() {
    for (node, pointer) in [
        (r#"{ "id": "n", "type": "assign", "set": { "params.x": "1" } }"#, "/nodes/0/set/params.x"),
        (r#"{ "id": "n", "type": "assign", "set": { "x": "1" } }"#, "/nodes/0/set/x"),
        (r#"{ "id": "n", "type": "assign", "set": { "vars.": "1" } }"#, "/nodes/0/set/vars."),
        (r#"{ "id": "n", "type": "assign", "set": { "vars.a-b": "1" } }"#, "/nodes/0/set/vars.a-b"),
        (r#"{ "id": "n", "type": "loop", "over": "[]", "as": "1x" }"#, "/nodes/0/as"),
        (
            r#"{ "id": "n", "type": "authentication", "profile": "p", "into": "a b" }"#,
            "/nodes/0/into",
        ),
        (
            r#"{ "id": "n", "type": "json_import", "from": "[]", "append_to": "events..x" }"#,
            "/nodes/0/append_to",
        ),
    ] {
        let flow = format!(r#"{{ "format": "weft.flow/1", "start": "n", "nodes": [ {node} ] }}"#);
        let (out, diags) = validate_json(&flow);
        assert_eq!(out.code, Some(2), "{node}: {}", out.all());
        assert!(
            errors(&diags).iter().any(|d| d["pointer"] == pointer && d["node"] == "n"),
            "{node}: expected an error at {pointer} naming node n: {diags:#?}"
        );
    }
}

#[test]
fn unknown_http_method_names_the_method_field() {
    let d = expect_error(
        r#"{ "format": "weft.flow/1", "start": "call",
             "nodes": [ { "id": "call", "type": "http_request", "method": "FETCH", "url": "https://x" } ] }"#,
        &["/nodes/0/method"],
        Some("call"),
    );
    assert!(d["message"].as_str().unwrap().contains("FETCH"), "{d}");
}

#[test]
fn malformed_json_pointer_names_the_select_field() {
    for select in ["value", "/a~2b", "/a~"] {
        let flow = format!(
            r#"{{ "format": "weft.flow/1", "start": "imp",
                 "nodes": [ {{ "id": "imp", "type": "json_import", "from": "[]", "select": "{select}", "into": "x" }} ] }}"#
        );
        let (out, diags) = validate_json(&flow);
        assert_eq!(out.code, Some(2), "select {select:?}: {}", out.all());
        assert!(
            errors(&diags).iter().any(|d| d["pointer"] == "/nodes/0/select" && d["node"] == "imp"),
            "select {select:?}: {diags:#?}"
        );
    }
    // The paginate `items` pointer too.
    expect_error(
        r#"{ "format": "weft.flow/1", "start": "h",
             "nodes": [ { "id": "h", "type": "http_request", "method": "GET", "url": "https://x",
                          "paginate": { "next": "()", "items": "value" } } ] }"#,
        &["/nodes/0/paginate/items"],
        Some("h"),
    );
}

#[test]
fn json_import_field_types_are_checked() {
    expect_error(
        r#"{ "format": "weft.flow/1", "start": "imp",
             "nodes": [ { "id": "imp", "type": "json_import", "from": "[]", "into": "x",
                          "fields": { "when": "date" } } ] }"#,
        &["/nodes/0/fields/when"],
        Some("imp"),
    );
}

// ---------------------------------------------------------------------------------------------
// Edges and start
// ---------------------------------------------------------------------------------------------

#[test]
fn edge_from_unknown_node_is_an_error() {
    let d = expect_error(
        r#"{ "format": "weft.flow/1", "start": "e",
             "nodes": [ { "id": "e", "type": "end" } ],
             "edges": [ { "from": "ghost", "to": "e" } ] }"#,
        &["/edges/0/from"],
        None,
    );
    assert!(d["message"].as_str().unwrap().contains("ghost"), "{d}");
}

#[test]
fn edge_to_unknown_node_is_an_error_naming_the_source_node() {
    let d = expect_error(
        r#"{ "format": "weft.flow/1", "start": "a",
             "nodes": [ { "id": "a", "type": "assign", "set": { "vars.x": "1" } } ],
             "edges": [ { "from": "a", "to": "phantom" } ] }"#,
        &["/edges/0/to"],
        Some("a"),
    );
    assert!(d["message"].as_str().unwrap().contains("phantom"), "{d}");
}

#[test]
fn edge_on_an_undeclared_exit_is_an_error() {
    for (node, exit) in [
        (r#"{ "id": "a", "type": "assign", "set": { "vars.x": "1" } }"#, "next"),
        (r#"{ "id": "a", "type": "loop", "over": "[]" }"#, "ok"),
        (r#"{ "id": "a", "type": "end" }"#, "ok"),
        (r#"{ "id": "a", "type": "end" }"#, "error"),
        (
            r#"{ "id": "a", "type": "decision", "conditions": [ { "exit": "yes", "when": "true" } ], "otherwise": "no" }"#,
            "maybe",
        ),
        (r#"{ "id": "a", "type": "authentication", "profile": "p" }"#, "404"),
    ] {
        let flow = format!(
            r#"{{ "format": "weft.flow/1", "start": "a",
                 "nodes": [ {node}, {{ "id": "z", "type": "end" }} ],
                 "edges": [ {{ "from": "a", "exit": "{exit}", "to": "z" }} ] }}"#
        );
        let (out, diags) = validate_json(&flow);
        assert_eq!(out.code, Some(2), "{node} exit {exit}: {}", out.all());
        assert!(
            errors(&diags).iter().any(|d| d["node"] == "a"
                && (d["pointer"] == "/edges/0/exit" || d["pointer"] == "/edges/0")),
            "{node} exit {exit}: expected an error at /edges/0/exit naming node a: {diags:#?}"
        );
    }
}

#[test]
fn edge_without_exit_on_an_end_node_is_an_error() {
    // `exit` defaults to `ok`, which `end` does not have.
    expect_error(
        r#"{ "format": "weft.flow/1", "start": "a",
             "nodes": [ { "id": "a", "type": "end" }, { "id": "z", "type": "end" } ],
             "edges": [ { "from": "a", "to": "z" } ] }"#,
        &["/edges/0", "/edges/0/exit", "/edges/0/from"],
        Some("a"),
    );
}

#[test]
fn http_status_exits_are_declared() {
    let (out, diags) = validate_json(
        r#"{ "format": "weft.flow/1", "start": "h",
             "nodes": [ { "id": "h", "type": "http_request", "method": "GET", "url": "https://x" },
                        { "id": "z", "type": "end" } ],
             "edges": [ { "from": "h", "exit": "404", "to": "z" }, { "from": "h", "exit": "4xx", "to": "z" },
                        { "from": "h", "exit": "5xx", "to": "z" }, { "from": "h", "to": "z" },
                        { "from": "h", "exit": "error", "to": "z" } ] }"#,
    );
    out.assert_code(0);
    assert!(errors(&diags).is_empty(), "{diags:#?}");
    for bad in ["4yy", "99", "6xx", "1000"] {
        let flow = format!(
            r#"{{ "format": "weft.flow/1", "start": "h",
                 "nodes": [ {{ "id": "h", "type": "http_request", "method": "GET", "url": "https://x" }},
                            {{ "id": "z", "type": "end" }} ],
                 "edges": [ {{ "from": "h", "exit": "{bad}", "to": "z" }} ] }}"#
        );
        let (out, _) = validate_json(&flow);
        assert_eq!(out.code, Some(2), "exit {bad:?}: {}", out.all());
    }
}

#[test]
fn two_edges_on_one_exit_is_an_error() {
    expect_error(
        r#"{ "format": "weft.flow/1", "start": "a",
             "nodes": [ { "id": "a", "type": "assign", "set": { "vars.x": "1" } },
                        { "id": "b", "type": "end" }, { "id": "c", "type": "end" } ],
             "edges": [ { "from": "a", "to": "b" }, { "from": "a", "exit": "ok", "to": "c" } ] }"#,
        &["/edges/1", "/edges/1/exit", "/edges/1/from"],
        Some("a"),
    );
}

#[test]
fn missing_start_is_an_error() {
    expect_error(
        r#"{ "format": "weft.flow/1", "nodes": [ { "id": "e", "type": "end" } ] }"#,
        &["", "/start"],
        None,
    );
}

#[test]
fn start_naming_an_unknown_node_is_an_error() {
    let d = expect_error(
        r#"{ "format": "weft.flow/1", "start": "nowhere", "nodes": [ { "id": "e", "type": "end" } ] }"#,
        &["/start"],
        None,
    );
    assert!(d["message"].as_str().unwrap().contains("nowhere"), "{d}");
}

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

#[test]
fn parameter_default_of_the_wrong_type_is_an_error() {
    for (ty, default) in [
        ("integer", r#""seven""#),
        ("integer", "1.5"),
        ("number", r#""1.5""#),
        ("string", "5"),
        ("boolean", r#""true""#),
        ("array", "{}"),
        ("object", "[]"),
    ] {
        let flow = format!(
            r#"{{ "format": "weft.flow/1", "start": "e",
                 "parameters": {{ "p": {{ "type": "{ty}", "default": {default} }} }},
                 "nodes": [ {{ "id": "e", "type": "end" }} ] }}"#
        );
        let (out, diags) = validate_json(&flow);
        assert_eq!(out.code, Some(2), "{ty} default {default}: {}", out.all());
        assert!(
            errors(&diags).iter().any(|d| d["pointer"] == "/parameters/p/default"),
            "{ty} default {default}: {diags:#?}"
        );
    }
}

#[test]
fn unknown_parameter_type_is_an_error() {
    expect_error(
        r#"{ "format": "weft.flow/1", "start": "e",
             "parameters": { "p": { "type": "date" } },
             "nodes": [ { "id": "e", "type": "end" } ] }"#,
        &["/parameters/p/type"],
        None,
    );
}

#[test]
fn parameter_without_type_is_an_error() {
    expect_error(
        r#"{ "format": "weft.flow/1", "start": "e",
             "parameters": { "p": { "default": 1 } },
             "nodes": [ { "id": "e", "type": "end" } ] }"#,
        &["/parameters/p", "/parameters/p/type"],
        None,
    );
}

// ---------------------------------------------------------------------------------------------
// Nesting depth
// ---------------------------------------------------------------------------------------------

/// A valid flow whose JSON nests `depth` levels in total (the top-level object is level 1,
/// `variables` level 2, then arrays).
fn nested_flow(depth: usize) -> String {
    let arrays = depth - 2;
    format!(
        r#"{{"format":"weft.flow/1","start":"e","nodes":[{{"id":"e","type":"end"}}],"variables":{{"deep":{}1{}}}}}"#,
        "[".repeat(arrays),
        "]".repeat(arrays)
    )
}

#[test]
fn nesting_of_exactly_128_levels_is_accepted() {
    let (out, diags) = validate_json(nested_flow(128));
    out.assert_code(0);
    assert!(errors(&diags).is_empty(), "{diags:#?}");
}

#[test]
fn nesting_deeper_than_128_levels_is_rejected() {
    let (out, diags) = validate_json(nested_flow(129));
    out.assert_code(2);
    let all = serde_json::to_string(&diags).unwrap();
    assert!(all.contains("128"), "the error names the 128-level limit: {all}");
}

#[test]
fn nesting_inside_a_node_field_deeper_than_128_is_rejected() {
    let arrays = 130;
    let flow = format!(
        r#"{{"format":"weft.flow/1","start":"h","nodes":[{{"id":"h","type":"http_request","method":"POST","url":"https://x","body":{}1{}}}]}}"#,
        "[".repeat(arrays),
        "]".repeat(arrays)
    );
    let (out, _) = validate_json(flow);
    out.assert_code(2);
}

// ---------------------------------------------------------------------------------------------
// Rhai: expressions and templates
// ---------------------------------------------------------------------------------------------

#[test]
fn rhai_syntax_errors_in_expressions_name_node_and_field() {
    for (node, pointer) in [
        (
            r#"{ "id": "n", "type": "decision", "conditions": [ { "exit": "a", "when": "true" }, { "exit": "b", "when": "vars.x >" } ], "otherwise": "o" }"#,
            "/nodes/0/conditions/1/when",
        ),
        (
            r#"{ "id": "n", "type": "assign", "set": { "vars.ok": "1", "vars.bad": "(1 + " } }"#,
            "/nodes/0/set/vars.bad",
        ),
        (r##"{ "id": "n", "type": "end", "result": "#{ a: }" }"##, "/nodes/0/result"),
        (r#"{ "id": "n", "type": "loop", "over": "[1, 2" }"#, "/nodes/0/over"),
        (
            r#"{ "id": "n", "type": "json_import", "from": "vars..x", "into": "x" }"#,
            "/nodes/0/from",
        ),
        (
            r#"{ "id": "n", "type": "json_import", "from": "[]", "map": "item.", "into": "x" }"#,
            "/nodes/0/map",
        ),
        (
            r#"{ "id": "n", "type": "http_request", "method": "GET", "url": "https://x", "paginate": { "next": "response.body[", "items": "/value" } }"#,
            "/nodes/0/paginate/next",
        ),
    ] {
        let flow = format!(r#"{{ "format": "weft.flow/1", "start": "n", "nodes": [ {node} ] }}"#);
        let (out, diags) = validate_json(&flow);
        assert_eq!(out.code, Some(2), "{node}: {}", out.all());
        assert!(
            errors(&diags).iter().any(|d| d["pointer"] == pointer && d["node"] == "n"),
            "{node}: expected an error at {pointer} naming node n: {diags:#?}"
        );
    }
}

#[test]
fn rhai_syntax_errors_in_templates_name_node_and_field() {
    for (fields, pointer) in [
        (r#""url": "https://x/${ 1 + }""#, "/nodes/0/url"),
        (r#""url": "https://x/${ params.a""#, "/nodes/0/url"),
        (r#""url": "https://x", "query": { "q": "${ ) }" }"#, "/nodes/0/query/q"),
        (
            r#""url": "https://x", "headers": { "X-Trace": "id-${ [ }" }"#,
            "/nodes/0/headers/X-Trace",
        ),
        (r##""url": "https://x", "body": { "a": [ "ok", "${ #{ }" ] }"##, "/nodes/0/body/a/1"),
        (r#""url": "https://x", "body_text": "hello ${ 1 + }""#, "/nodes/0/body_text"),
    ] {
        let flow = format!(
            r#"{{ "format": "weft.flow/1", "start": "n",
                 "nodes": [ {{ "id": "n", "type": "http_request", "method": "POST", {fields} }} ] }}"#
        );
        let (out, diags) = validate_json(&flow);
        assert_eq!(out.code, Some(2), "{fields}: {}", out.all());
        assert!(
            errors(&diags).iter().any(|d| d["pointer"] == pointer && d["node"] == "n"),
            "{fields}: expected an error at {pointer} naming node n: {diags:#?}"
        );
    }
}

#[test]
fn escaped_template_hole_is_not_compiled() {
    // `$${` is a literal `${`: what follows is not Rhai, so it can't be a syntax error.
    let (out, diags) = validate_json(
        r#"{ "format": "weft.flow/1", "start": "n",
             "nodes": [ { "id": "n", "type": "http_request", "method": "GET",
                          "url": "https://x/$${ not rhai ( }" } ] }"#,
    );
    out.assert_code(0);
    assert!(errors(&diags).is_empty(), "{diags:#?}");
}

#[test]
fn undefined_variable_in_an_expression_is_an_error() {
    let d = expect_error(
        r#"{ "format": "weft.flow/1", "start": "d",
             "nodes": [ { "id": "d", "type": "decision",
                          "conditions": [ { "exit": "a", "when": "mystery_var > 1" } ], "otherwise": "o" } ] }"#,
        &["/nodes/0/conditions/0/when"],
        Some("d"),
    );
    assert!(d["message"].as_str().unwrap().contains("mystery_var"), "{d}");
}

#[test]
fn env_is_not_visible_to_flows() {
    expect_error(
        r#"{ "format": "weft.flow/1", "start": "e",
             "nodes": [ { "id": "e", "type": "end", "result": "env.HOME" } ] }"#,
        &["/nodes/0/result"],
        Some("e"),
    );
}

#[test]
fn undefined_variable_in_a_template_is_an_error() {
    expect_error(
        r#"{ "format": "weft.flow/1", "start": "h",
             "nodes": [ { "id": "h", "type": "http_request", "method": "GET", "url": "https://x/${ user_name }" } ] }"#,
        &["/nodes/0/url"],
        Some("h"),
    );
}

#[test]
fn every_problem_is_collected() {
    let (out, diags) = validate_json(
        r#"{ "format": "weft.flow/1", "start": "a",
             "nodes": [ { "id": "a", "type": "assign", "set": { "vars.x": "1 +" } },
                        { "id": "b", "type": "nope" },
                        { "id": "c", "type": "http_request", "method": "BREW", "url": "https://x" },
                        { "id": "a", "type": "end" } ],
             "edges": [ { "from": "a", "to": "ghost" } ] }"#,
    );
    out.assert_code(2);
    let pointers: Vec<&str> =
        errors(&diags).iter().map(|d| d["pointer"].as_str().unwrap()).collect();
    for p in
        ["/nodes/0/set/vars.x", "/nodes/1/type", "/nodes/2/method", "/nodes/3/id", "/edges/0/to"]
    {
        assert!(pointers.contains(&p), "missing an error at {p}: {pointers:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Warnings
// ---------------------------------------------------------------------------------------------

#[test]
fn unreachable_node_is_a_warning_and_exit_0() {
    let (out, diags) = validate_json(
        r#"{ "format": "weft.flow/1", "start": "a",
             "nodes": [ { "id": "a", "type": "end" }, { "id": "island", "type": "end" } ] }"#,
    );
    out.assert_code(0);
    assert!(errors(&diags).is_empty(), "{diags:#?}");
    assert!(
        warnings(&diags).iter().any(|d| d["node"] == "island"
            && d["pointer"].as_str().is_some_and(|p| p.starts_with("/nodes/1"))),
        "a warning naming the unreachable node: {diags:#?}"
    );
}

#[test]
fn url_encode_in_a_query_value_is_a_warning() {
    let (out, diags) = validate_json(
        r#"{ "format": "weft.flow/1", "start": "get",
             "nodes": [ { "id": "get", "type": "http_request", "url": "https://example.com/${url_encode(params.q)}",
                          "query": { "q": "${url_encode(params.q)}", "plain": "${params.q}" } } ],
             "parameters": { "q": { "type": "string" } } }"#,
    );
    out.assert_code(0);
    let found = warnings(&diags);
    assert_eq!(found.len(), 1, "one warning, for the query value only: {diags:#?}");
    assert_eq!(found[0]["pointer"], "/nodes/0/query/q", "{diags:#?}");
    assert!(found[0]["message"].as_str().unwrap().contains("encodes twice"), "{diags:#?}");
}

#[test]
fn unwired_decision_exit_is_a_warning_and_exit_0() {
    let (out, diags) = validate_json(
        r#"{ "format": "weft.flow/1", "start": "d",
             "nodes": [ { "id": "d", "type": "decision",
                          "conditions": [ { "exit": "left_way", "when": "true" } ], "otherwise": "right_way" },
                        { "id": "e", "type": "end" } ],
             "edges": [ { "from": "d", "exit": "right_way", "to": "e" } ] }"#,
    );
    out.assert_code(0);
    assert!(errors(&diags).is_empty(), "{diags:#?}");
    let w = warnings(&diags);
    assert!(
        w.iter().any(|d| d["node"] == "d" && d["message"].as_str().unwrap().contains("left_way")),
        "a warning naming node d and exit left_way: {diags:#?}"
    );
    assert!(
        !w.iter().any(|d| d["message"].as_str().unwrap().contains("right_way")),
        "the wired exit is not warned about: {diags:#?}"
    );
}

#[test]
fn unwired_otherwise_and_loop_exits_are_warnings() {
    let (out, diags) = validate_json(
        r#"{ "format": "weft.flow/1", "start": "l",
             "nodes": [ { "id": "l", "type": "loop", "over": "[1]" },
                        { "id": "d", "type": "decision", "conditions": [ { "exit": "yes", "when": "true" } ],
                          "otherwise": "fallback_exit" } ],
             "edges": [ { "from": "l", "exit": "next", "to": "d" }, { "from": "d", "exit": "yes", "to": "l" } ] }"#,
    );
    out.assert_code(0);
    let w = warnings(&diags);
    assert!(
        w.iter()
            .any(|d| d["node"] == "d" && d["message"].as_str().unwrap().contains("fallback_exit")),
        "{diags:#?}"
    );
    assert!(
        w.iter().any(|d| d["node"] == "l" && d["message"].as_str().unwrap().contains("done")),
        "{diags:#?}"
    );
}

#[test]
fn unwired_ok_and_error_are_not_warned_about() {
    let (out, diags) = validate_json(
        r#"{ "format": "weft.flow/1", "start": "a",
             "nodes": [ { "id": "a", "type": "assign", "set": { "vars.x": "1" } } ] }"#,
    );
    out.assert_code(0);
    assert!(diags.is_empty(), "{diags:#?}");
}

#[test]
fn warnings_in_text_output_keep_exit_0() {
    let out = validate_text(
        r#"{ "format": "weft.flow/1", "start": "a",
             "nodes": [ { "id": "a", "type": "end" }, { "id": "island", "type": "end" } ] }"#,
    );
    out.assert_code(0);
    assert!(out.all().contains("island"), "{}", out.all());
}

// ---------------------------------------------------------------------------------------------
// Output formats
// ---------------------------------------------------------------------------------------------

#[test]
fn json_format_carries_pointer_node_line_column_severity_message() {
    let flow = "{\n  \"format\": \"weft.flow/1\",\n  \"start\": \"a\",\n  \"nodes\": [\n    { \"id\": \"a\", \"type\": \"loop\", \"over\": \"[1, \" }\n  ]\n}\n";
    let (out, diags) = validate_json(flow);
    out.assert_code(2);
    let value = out.json();
    assert!(value.is_object() || value.is_array(), "{value}");
    assert!(out.stdout.contains("case.flow.json"), "the JSON names the file: {}", out.stdout);
    let d = errors(&diags)
        .into_iter()
        .find(|d| d["pointer"] == "/nodes/0/over")
        .unwrap_or_else(|| panic!("{diags:#?}"))
        .clone();
    assert_eq!(d["severity"], "error");
    assert_eq!(d["node"], "a");
    assert_eq!(d["line"], 5, "the line of the `over` value: {d}");
    assert!(d["column"].as_u64().is_some_and(|c| c > 1), "{d}");
    assert!(d["message"].as_str().is_some_and(|m| !m.is_empty()), "{d}");
}

#[test]
fn json_format_for_a_valid_flow_is_json_too() {
    let (out, diags) = validate_json(GOOD);
    out.assert_code(0);
    let _ = out.json();
    assert!(diags.is_empty());
}

#[test]
fn text_format_names_file_pointer_and_node() {
    let out = validate_text(
        r#"{ "format": "weft.flow/1", "start": "e",
             "nodes": [ { "id": "e", "type": "end" }, { "id": "frob", "type": "frobnicate" } ] }"#,
    );
    out.assert_code(2);
    let all = out.all();
    assert!(all.contains("case.flow.json"), "{all}");
    assert!(all.contains("/nodes/1/type"), "{all}");
    assert!(all.contains("frob"), "{all}");
}

/// DESIGN §3: a profile without `hosts` works, and `weft validate` warns about it.
#[test]
fn a_used_profile_without_hosts_is_a_warning() {
    let dir = Dir::new();
    dir.write(
        "case.flow.json",
        r#"{ "format": "weft.flow/1", "start": "s",
             "nodes": [ { "id": "s", "type": "authentication", "profile": "open" },
                        { "id": "t", "type": "authentication", "profile": "fenced" } ],
             "edges": [ { "from": "s", "to": "t" } ] }"#,
    );
    dir.write(
        "profiles.json",
        r#"{ "format": "weft.profiles/1", "profiles": {
             "open": { "type": "bearer", "token": "${env.T}" },
             "fenced": { "type": "bearer", "token": "${env.T}", "hosts": ["api.example.com"] },
             "unused": { "type": "bearer", "token": "${env.T}" } } }"#,
    );
    let out = dir.weft(["validate", "--format", "json", "case.flow.json"]);
    out.assert_code(0);
    let diags = diagnostics(&out.json());
    let about_hosts: Vec<&str> = warnings(&diags)
        .iter()
        .filter_map(|d| d["message"].as_str())
        .filter(|m| m.contains("hosts"))
        .collect();
    assert_eq!(about_hosts.len(), 1, "{diags:?}");
    assert!(about_hosts[0].contains("profile `open`"), "{}", about_hosts[0]);
}

// ---------------------------------------------------------------------------------------------
// Hardening
// ---------------------------------------------------------------------------------------------

/// Item 12: a key given twice used to be read as its last value.
#[test]
fn regression_duplicate_keys_in_a_flow_are_an_error_naming_both_places() {
    let flow = "{ \"format\": \"weft.flow/1\", \"start\": \"e\",\n  \"nodes\": [ { \"id\": \"e\", \"type\": \"end\",\n    \"result\": \"1\", \"result\": \"vars.secret\" } ] }";
    let d = expect_error(flow, &["/nodes/0/result"], None);
    assert_eq!(
        d["message"],
        "duplicate key `result` at /nodes/0/result: first at line 3, column 5, again at line 3, \
         column 20; an object holds each key once"
    );
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(3), Some(20)), "{d}");
    let out = validate_text(flow);
    out.assert_code(2);
    assert!(out.stderr.contains("case.flow.json:3:20: error [/nodes/0/result]"), "{}", out.stderr);
}

/// Item 12: a byte order mark was reported as "invalid JSON: expected value".
#[test]
fn regression_a_byte_order_mark_is_named() {
    let mut flow = b"\xEF\xBB\xBF".to_vec();
    flow.extend_from_slice(GOOD.as_bytes());
    let (out, diags) = validate_json(&flow);
    out.assert_code(2);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(
        diags[0]["message"],
        "the file starts with a UTF-8 byte order mark; save it without one"
    );
    assert_eq!((diags[0]["line"].as_u64(), diags[0]["column"].as_u64()), (Some(1), Some(1)));
}

/// Item 10: a 100 000-segment JSON pointer was quoted whole (200 KB on stderr).
#[test]
fn regression_a_100_000_segment_pointer_is_clipped_in_messages() {
    let pointer = format!("{}~", "/a".repeat(100_000));
    let flow = json!({ "format": "weft.flow/1", "start": "get",
        "nodes": [ { "id": "get", "type": "http_request", "url": "http://127.0.0.1:9/",
                     "paginate": { "next": "()", "items": pointer } },
                   { "id": "e", "type": "end", "result": "1" } ],
        "edges": [ { "from": "get", "to": "e" } ] });
    let out = validate_text(flow.to_string());
    out.assert_code(2);
    assert!(out.stderr.len() < 2_000, "{} bytes on stderr", out.stderr.len());
    assert!(out.stderr.contains("JSON pointer `/a/a/a/a"), "{}", out.stderr);
    let kept = out.stderr.find('…').unwrap() - out.stderr.find("JSON pointer `").unwrap() - 14;
    assert!(
        out.stderr.contains(&format!("… [+{} bytes]`", pointer.len() - kept)),
        "{}",
        out.stderr
    );
}

/// Item 10: a key of a megabyte is quoted in the message and in the pointer of the diagnostic:
/// both are clipped, and the diagnostic is located at the node that has the key.
#[test]
fn regression_a_huge_key_is_clipped_in_diagnostics() {
    let key = "k".repeat(1_000_000);
    let flow = json!({ "format": "weft.flow/1", "start": "e",
        "nodes": [ { "id": "e", "type": "end", "result": "1", key: 1 } ] });
    let out = validate_text(flow.to_string());
    out.assert_code(2);
    assert!(out.stderr.len() < 2_000, "{} bytes on stderr", out.stderr.len());
    assert!(out.stderr.contains("unknown field `kkkk"), "{}", out.stderr);
    let (_, diags) = validate_json(flow.to_string());
    let pointer = diags[0]["pointer"].as_str().unwrap();
    assert!(pointer.starts_with("/nodes/0/kkkk") && pointer.len() <= 400, "{pointer}");
    let kept = pointer.find('…').unwrap();
    assert!(pointer.ends_with(&format!("… [+{} bytes]", 1_000_009 - kept)), "{pointer}");
    assert!(diags[0]["message"].as_str().unwrap().len() < 1_000);
    assert_eq!(diags[0]["column"], flow.to_string().find("{\"id\"").unwrap() + 1);
}
