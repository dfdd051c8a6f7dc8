//! `weft run` on good flows, written from the documented contract (not from the engine's own
//! examples): exact results on stdout, exit codes, parameters, `--out`, `--trace`,
//! `--max-steps`, `--timeout`, and the semantics of the built-in kinds.

use crate::util::{self, Dir, Weft, run_flow};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Results and exit codes
// ---------------------------------------------------------------------------------------------

#[test]
fn end_result_is_printed_as_json_with_exit_0() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "e",
             "nodes": [ { "id": "e", "type": "end", "result": "1 + 2" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!(3));
}

#[test]
fn end_without_result_prints_null() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "e",
             "nodes": [ { "id": "e", "type": "end" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), Value::Null);
}

#[test]
fn values_convert_exactly_between_json_and_rhai() {
    // Integers stay integers, floats stay floats, `()` and `null` become JSON null, nested
    // structures keep their shape and key order does not matter.
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "e",
             "variables": { "nothing": null, "big": 9007199254740993, "half": 0.5,
                            "deep": { "list": [1, "two", [true, null]] } },
             "nodes": [ { "id": "e", "type": "end",
               "result": "#{ sum: 2 + 3, prod: vars.big, half: vars.half, unit: (), nothing: vars.nothing, deep: vars.deep, flag: false, text: \"h\" + \"i\" }" } ] }"##,
        &[],
    );
    out.assert_code(0);
    let result = out.json();
    assert_eq!(
        result,
        json!({ "sum": 5, "prod": 9007199254740993_i64, "half": 0.5, "unit": null, "nothing": null,
                "deep": { "list": [1, "two", [true, null]] }, "flag": false, "text": "hi" })
    );
    assert!(result["sum"].is_i64(), "2 + 3 must stay an integer: {result}");
    assert!(result["half"].is_f64());
}

#[test]
fn integer_arithmetic_on_variables_stays_integer() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "e", "variables": { "n": 5 },
             "nodes": [ { "id": "e", "type": "end", "result": "vars.n * 2" } ] }"##,
        &[],
    );
    out.assert_code(0);
    let v = out.json();
    assert_eq!(v, json!(10));
    assert!(v.is_i64(), "expected the integer 10, got {v}");
}

#[test]
fn end_with_status_failed_exits_1_and_still_prints_its_result() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "e",
             "nodes": [ { "id": "e", "type": "end", "status": "failed", "result": "\"gave up\"" } ] }"##,
        &[],
    );
    out.assert_code(1);
    assert_eq!(out.json(), json!("gave up"));
}

#[test]
fn end_with_status_succeeded_exits_0() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "e",
             "nodes": [ { "id": "e", "type": "end", "status": "succeeded", "result": "[1]" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!([1]));
}

#[test]
fn unwired_ok_ends_succeeded_with_null() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "a",
             "nodes": [ { "id": "a", "type": "assign", "set": { "vars.x": "1" } } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), Value::Null);
}

#[test]
fn unwired_decision_exit_ends_succeeded_with_null() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "d",
             "nodes": [ { "id": "d", "type": "decision",
                          "conditions": [ { "exit": "big", "when": "2 > 1" } ], "otherwise": "small" },
                        { "id": "e", "type": "end", "result": "\"small\"" } ],
             "edges": [ { "from": "d", "exit": "small", "to": "e" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), Value::Null);
}

#[test]
fn unwired_loop_done_ends_succeeded_with_null() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "l",
             "nodes": [ { "id": "l", "type": "loop", "over": "[1, 2]" },
                        { "id": "body", "type": "assign", "set": { "vars.seen": "true" } } ],
             "edges": [ { "from": "l", "exit": "next", "to": "body" }, { "from": "body", "to": "l" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), Value::Null);
}

#[test]
fn unwired_error_fails_the_run_naming_node_and_message() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "boom_node",
             "nodes": [ { "id": "boom_node", "type": "assign", "set": { "vars.x": "kaboom_4711()" } },
                        { "id": "e", "type": "end", "result": "1" } ],
             "edges": [ { "from": "boom_node", "to": "e" } ] }"##,
        &[],
    );
    out.assert_code(1);
    assert!(out.stderr.contains("boom_node"), "stderr names the node: {}", out.stderr);
    assert!(
        out.stderr.contains("kaboom_4711"),
        "stderr carries vars.error.message: {}",
        out.stderr
    );
    // `run` always prints a result as JSON on stdout, even for a failed run.
    let _ = out.json();
}

#[test]
fn stderr_of_a_failed_run_carries_the_same_message_as_vars_error() {
    // Same failing node twice: once with `error` wired (to read vars.error.message), once unwired.
    let wired = run_flow(
        r##"{ "format": "weft.flow/1", "start": "div",
             "nodes": [ { "id": "div", "type": "assign", "set": { "vars.x": "10 / 0" } },
                        { "id": "e", "type": "end", "result": "vars.error.message" } ],
             "edges": [ { "from": "div", "exit": "error", "to": "e" } ] }"##,
        &[],
    );
    wired.assert_code(0);
    let message = wired.json();
    let message = message.as_str().expect("vars.error.message is a string");
    assert!(!message.is_empty());
    let unwired = run_flow(
        r##"{ "format": "weft.flow/1", "start": "div",
             "nodes": [ { "id": "div", "type": "assign", "set": { "vars.x": "10 / 0" } } ] }"##,
        &[],
    );
    unwired.assert_code(1);
    assert!(unwired.stderr.contains("div"), "{}", unwired.stderr);
    assert!(
        unwired.stderr.contains(message),
        "stderr {:?} should contain vars.error.message {message:?}",
        unwired.stderr
    );
}

#[test]
fn a_failing_node_sets_vars_error_and_takes_its_error_exit() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "calc",
             "nodes": [ { "id": "calc", "type": "assign", "set": { "vars.x": "nope_fn()" } },
                        { "id": "fine", "type": "end", "result": "\"ok-path\"" },
                        { "id": "caught", "type": "end",
                          "result": "#{ node: vars.error.node, type: vars.error.type, category: vars.error.category, has_message: type_of(vars.error.message) == \"string\" }" } ],
             "edges": [ { "from": "calc", "to": "fine" },
                        { "from": "calc", "exit": "error", "to": "caught" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(
        out.json(),
        json!({ "node": "calc", "type": "assign", "category": "expression", "has_message": true })
    );
}

#[test]
fn decision_error_exit_is_taken_when_a_condition_fails_to_evaluate() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "d",
             "nodes": [ { "id": "d", "type": "decision",
                          "conditions": [ { "exit": "yes", "when": "1 / 0 > 0" } ], "otherwise": "no" },
                        { "id": "y", "type": "end", "result": "\"yes\"" },
                        { "id": "n", "type": "end", "result": "\"no\"" },
                        { "id": "err", "type": "end", "result": "vars.error.node" } ],
             "edges": [ { "from": "d", "exit": "yes", "to": "y" }, { "from": "d", "exit": "no", "to": "n" },
                        { "from": "d", "exit": "error", "to": "err" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!("d"));
}

#[test]
fn end_result_expression_failing_fails_the_run() {
    // A user expects a failed run naming the node.
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "fin",
             "nodes": [ { "id": "fin", "type": "end", "result": "bad_result_99()" } ] }"##,
        &[],
    );
    out.assert_code(1);
    assert!(out.stderr.contains("fin"), "{}", out.stderr);
    assert!(out.stderr.contains("bad_result_99"), "{}", out.stderr);
}

#[test]
fn an_invalid_flow_is_exit_2_on_run() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "a",
             "nodes": [ { "id": "a", "type": "no_such_kind" } ] }"##,
        &[],
    );
    out.assert_code(2);
    assert!(out.stderr.contains("no_such_kind"), "{}", out.stderr);
}

#[test]
fn a_missing_flow_file_is_exit_2() {
    let dir = Dir::new();
    let out = dir.weft(["run", "does-not-exist.flow.json"]);
    out.assert_code(2);
    assert!(out.stderr.contains("does-not-exist.flow.json"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

const TYPED_PARAMS: &str = r##"{ "format": "weft.flow/1", "start": "e",
  "parameters": {
    "s": { "type": "string", "default": "me" },
    "i": { "type": "integer", "default": 7 },
    "f": { "type": "number", "default": 1.5 },
    "b": { "type": "boolean", "default": false },
    "a": { "type": "array", "default": [] },
    "o": { "type": "object", "default": {} }
  },
  "nodes": [ { "id": "e", "type": "end", "result": "params" } ] }"##;

#[test]
fn parameter_defaults_are_used() {
    let out = run_flow(TYPED_PARAMS, &[]);
    out.assert_code(0);
    assert_eq!(out.json(), json!({ "s": "me", "i": 7, "f": 1.5, "b": false, "a": [], "o": {} }));
}

#[test]
fn param_values_are_parsed_by_declared_type() {
    let out = run_flow(
        TYPED_PARAMS,
        &[
            "--param",
            "s=42",
            "--param",
            "i=-3",
            "--param",
            "f=2.25",
            "--param",
            "b=true",
            "--param",
            "a=[1,\"x\",null]",
            "--param",
            r##"o={"k":{"n":1}}"##,
        ],
    );
    out.assert_code(0);
    let v = out.json();
    assert_eq!(
        v,
        json!({ "s": "42", "i": -3, "f": 2.25, "b": true, "a": [1, "x", null], "o": { "k": { "n": 1 } } })
    );
    assert!(v["s"].is_string(), "a string parameter stays a string: {v}");
    assert!(v["i"].is_i64());
}

#[test]
fn string_param_keeps_equals_signs_and_spaces_verbatim() {
    let out = run_flow(TYPED_PARAMS, &["--param", "s=a = b=c "]);
    out.assert_code(0);
    assert_eq!(out.json()["s"], json!("a = b=c "));
}

#[test]
fn integer_param_round_trips_exactly_beyond_f64_precision() {
    let out = run_flow(TYPED_PARAMS, &["--param", "i=9007199254740993"]);
    out.assert_code(0);
    assert_eq!(out.json()["i"], json!(9007199254740993_i64));
}

#[test]
fn number_param_accepts_an_integer_literal() {
    let out = run_flow(TYPED_PARAMS, &["--param", "f=3"]);
    out.assert_code(0);
    assert_eq!(out.json()["f"].as_f64(), Some(3.0));
}

#[test]
fn params_file_supplies_typed_values() {
    let dir = Dir::new();
    dir.write("test.flow.json", TYPED_PARAMS);
    dir.write("p.json", r##"{ "s": "from-file", "i": 12, "a": [1, 2], "o": { "x": true } }"##);
    let out = dir.weft(["run", "test.flow.json", "--params", "p.json"]);
    out.assert_code(0);
    assert_eq!(
        out.json(),
        json!({ "s": "from-file", "i": 12, "f": 1.5, "b": false, "a": [1, 2], "o": { "x": true } })
    );
}

#[test]
fn param_flag_and_params_file_combine() {
    // Both sources must at least be applied together.
    let dir = Dir::new();
    dir.write("test.flow.json", TYPED_PARAMS);
    dir.write("p.json", r##"{ "s": "file" }"##);
    let out = dir.weft(["run", "test.flow.json", "--params", "p.json", "--param", "i=99"]);
    out.assert_code(0);
    let v = out.json();
    assert_eq!(v["s"], json!("file"));
    assert_eq!(v["i"], json!(99));
}

#[test]
fn params_are_visible_to_expressions() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "e",
             "parameters": { "who": { "type": "string", "default": "me" }, "n": { "type": "integer" } },
             "nodes": [ { "id": "e", "type": "end", "result": "params.who + \":\" + (params.n * 2)" } ] }"##,
        &["--param", "who=ann", "--param", "n=21"],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!("ann:42"));
}

#[test]
fn undeclared_param_is_exit_2_naming_it() {
    let out = run_flow(TYPED_PARAMS, &["--param", "colour=blue"]);
    out.assert_code(2);
    assert!(out.stderr.contains("colour"), "{}", out.stderr);
}

#[test]
fn undeclared_param_in_params_file_is_exit_2_naming_it() {
    let dir = Dir::new();
    dir.write("test.flow.json", TYPED_PARAMS);
    dir.write("p.json", r##"{ "mystery_param": 1 }"##);
    let out = dir.weft(["run", "test.flow.json", "--params", "p.json"]);
    out.assert_code(2);
    assert!(out.stderr.contains("mystery_param"), "{}", out.stderr);
}

#[test]
fn missing_required_param_is_exit_2_naming_it() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "e",
             "parameters": { "needed_thing": { "type": "string" }, "opt": { "type": "integer", "default": 1 } },
             "nodes": [ { "id": "e", "type": "end", "result": "params.needed_thing" } ] }"##,
        &[],
    );
    out.assert_code(2);
    assert!(out.stderr.contains("needed_thing"), "{}", out.stderr);
    // stdout is JSON even when nothing ran.
    assert!(out.json().is_null(), "{}", out.stdout);
}

#[test]
fn explicitly_required_param_without_value_is_exit_2() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "e",
             "parameters": { "must": { "type": "integer", "required": true } },
             "nodes": [ { "id": "e", "type": "end", "result": "params.must" } ] }"##,
        &[],
    );
    out.assert_code(2);
    assert!(out.stderr.contains("must"), "{}", out.stderr);
}

#[test]
fn wrong_typed_param_values_are_exit_2_naming_the_parameter() {
    for (arg, name) in [
        ("i=abc", "i"),
        ("i=1.5", "i"),
        ("f=fast", "f"),
        ("b=yes-please", "b"),
        ("a={\"not\":\"array\"}", "a"),
        ("a=[1,", "a"),
        ("o=[1]", "o"),
    ] {
        let out = run_flow(TYPED_PARAMS, &["--param", arg]);
        assert_eq!(out.code, Some(2), "--param {arg}: stdout {} stderr {}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains(&format!("`{name}`"))
                || out.stderr.contains(&format!("'{name}'"))
                || out.stderr.contains(&format!("\"{name}\""))
                || out.stderr.contains(&format!("{name}=")),
            "--param {arg}: stderr should name parameter {name}: {}",
            out.stderr
        );
    }
}

#[test]
fn wrong_typed_value_in_params_file_is_exit_2_naming_it() {
    let dir = Dir::new();
    dir.write("test.flow.json", TYPED_PARAMS);
    dir.write("p.json", r##"{ "b": "true" }"##);
    let out = dir.weft(["run", "test.flow.json", "--params", "p.json"]);
    out.assert_code(2);
    assert!(out.stderr.contains('b'), "{}", out.stderr);
    let dir2 = Dir::new();
    dir2.write(
        "test.flow.json",
        r##"{ "format": "weft.flow/1", "start": "e",
             "parameters": { "count_of_things": { "type": "integer", "default": 1 } },
             "nodes": [ { "id": "e", "type": "end", "result": "params.count_of_things" } ] }"##,
    );
    dir2.write("p.json", r##"{ "count_of_things": 1.5 }"##);
    let out = dir2.weft(["run", "test.flow.json", "--params", "p.json"]);
    out.assert_code(2);
    assert!(out.stderr.contains("count_of_things"), "{}", out.stderr);
}

#[test]
fn params_file_that_is_not_an_object_is_exit_2() {
    let dir = Dir::new();
    dir.write("test.flow.json", TYPED_PARAMS);
    dir.write("p.json", "[1, 2]");
    dir.write("broken.json", "{ \"s\": ");
    dir.weft(["run", "test.flow.json", "--params", "p.json"]).assert_code(2);
    dir.weft(["run", "test.flow.json", "--params", "broken.json"]).assert_code(2);
    dir.weft(["run", "test.flow.json", "--params", "missing.json"]).assert_code(2);
}

#[test]
fn param_without_equals_sign_is_exit_2() {
    let out = run_flow(TYPED_PARAMS, &["--param", "s"]);
    out.assert_code(2);
}

#[test]
fn params_are_read_only_for_flows() {
    // `set` keys are `vars.` paths; writing `params` is refused when the flow is loaded.
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "a",
             "parameters": { "p": { "type": "integer", "default": 1 } },
             "nodes": [ { "id": "a", "type": "assign", "set": { "params.p": "2" } } ] }"##,
        &[],
    );
    out.assert_code(2);
}

// ---------------------------------------------------------------------------------------------
// --out and --trace
// ---------------------------------------------------------------------------------------------

#[test]
fn out_writes_the_result_json_to_a_file() {
    let dir = Dir::new();
    dir.write(
        "test.flow.json",
        r##"{ "format": "weft.flow/1", "start": "e",
             "nodes": [ { "id": "e", "type": "end", "result": "#{ answer: 42, list: [1, 2] }" } ] }"##,
    );
    let out = dir.weft(["run", "test.flow.json", "--out", "result.json"]);
    out.assert_code(0);
    let text = std::fs::read_to_string(dir.join("result.json")).expect("--out file written");
    let v: Value = serde_json::from_str(&text).expect("--out holds JSON");
    assert_eq!(v, json!({ "answer": 42, "list": [1, 2] }));
}

#[test]
fn out_writes_null_for_a_run_without_result() {
    let dir = Dir::new();
    dir.write(
        "test.flow.json",
        r##"{ "format": "weft.flow/1", "start": "a",
             "nodes": [ { "id": "a", "type": "assign", "set": { "vars.x": "1" } } ] }"##,
    );
    let out = dir.weft(["run", "test.flow.json", "--out", "result.json"]);
    out.assert_code(0);
    let text = std::fs::read_to_string(dir.join("result.json")).expect("--out file written");
    let v: Value = serde_json::from_str(&text).expect("--out holds JSON");
    assert_eq!(v, Value::Null);
}

fn read_trace(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("trace file written");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .unwrap_or_else(|e| panic!("trace line is not JSON ({e}): {l}"))
        })
        .collect()
}

fn events<'a>(trace: &'a [Value], name: &str) -> Vec<&'a Value> {
    trace.iter().filter(|e| e["event"] == name).collect()
}

fn wrote(writes: &Value, var: &str) -> bool {
    match writes {
        Value::Object(map) => map.contains_key(var) || map.contains_key(&format!("vars.{var}")),
        Value::Array(items) => {
            items.iter().any(|i| i == var || *i == Value::String(format!("vars.{var}")))
        }
        _ => false,
    }
}

#[test]
fn trace_is_weft_trace_1_json_lines_with_the_documented_fields() {
    let dir = Dir::new();
    dir.write(
        "test.flow.json",
        r##"{ "format": "weft.flow/1", "name": "traced", "start": "set_it",
             "parameters": { "n": { "type": "integer", "default": 2 } },
             "nodes": [ { "id": "set_it", "type": "assign", "set": { "vars.total": "params.n + 1" } },
                        { "id": "check", "type": "decision",
                          "conditions": [ { "exit": "big", "when": "vars.total > 2" } ], "otherwise": "small" },
                        { "id": "fin", "type": "end", "result": "vars.total" } ],
             "edges": [ { "from": "set_it", "to": "check" }, { "from": "check", "exit": "big", "to": "fin" },
                        { "from": "check", "exit": "small", "to": "fin" } ] }"##,
    );
    let out = dir.weft(["run", "test.flow.json", "--param", "n=5", "--trace", "run.trace.jsonl"]);
    out.assert_code(0);
    assert_eq!(out.json(), json!(6));
    let trace = read_trace(&dir.join("run.trace.jsonl"));
    assert!(trace.len() >= 8, "{trace:#?}");

    // Every event: `event`, `run` (one id for the whole run), `at` (RFC 3339).
    let run_id = trace[0]["run"].clone();
    assert!(run_id.is_string() && !run_id.as_str().unwrap().is_empty(), "run id: {run_id}");
    for e in &trace {
        assert!(e["event"].is_string(), "{e}");
        assert_eq!(e["run"], run_id, "one run id: {e}");
        let at = e["at"].as_str().unwrap_or_else(|| panic!("`at` missing: {e}"));
        chrono::DateTime::parse_from_rfc3339(at)
            .unwrap_or_else(|err| panic!("`at` is not RFC 3339 ({err}): {at}"));
    }

    // First run_started, last run_finished.
    assert_eq!(trace.first().unwrap()["event"], "run_started");
    assert_eq!(trace.last().unwrap()["event"], "run_finished");
    let started = &trace[0];
    assert_eq!(started["flow"], "traced");
    assert_eq!(started["params"], json!({ "n": 5 }));

    // node_started / node_finished pairs in order, steps increasing.
    let node_started = events(&trace, "node_started");
    let node_finished = events(&trace, "node_finished");
    let order: Vec<&str> = node_started.iter().map(|e| e["node"].as_str().unwrap()).collect();
    assert_eq!(order, ["set_it", "check", "fin"]);
    let types: Vec<&str> = node_started.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["assign", "decision", "end"]);
    let steps: Vec<u64> =
        node_started.iter().map(|e| e["step"].as_u64().expect("step is an integer")).collect();
    assert!(steps.windows(2).all(|w| w[1] == w[0] + 1), "steps count up by one: {steps:?}");
    assert_eq!(node_finished.len(), 3);
    for (s, f) in node_started.iter().zip(&node_finished) {
        assert_eq!(s["node"], f["node"]);
        assert!(f["ms"].is_number(), "ms: {f}");
        assert!(f.get("writes").is_some(), "node_finished carries writes: {f}");
    }
    assert_eq!(node_finished[0]["exit"], "ok");
    assert!(
        wrote(&node_finished[0]["writes"], "total"),
        "assign's writes name vars.total: {}",
        node_finished[0]
    );
    assert_eq!(node_finished[1]["exit"], "big");
    assert!(!wrote(&node_finished[1]["writes"], "total"));
    assert!(node_finished[0].get("error").is_none_or(Value::is_null));

    // Events interleave: each node_started is followed by its node_finished.
    let kinds: Vec<&str> = trace.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "run_started",
            "node_started",
            "node_finished",
            "node_started",
            "node_finished",
            "node_started",
            "node_finished",
            "run_finished"
        ]
    );

    let finished = trace.last().unwrap();
    assert_eq!(finished["status"], "succeeded");
    assert!(finished["ms"].is_number());
    assert_eq!(finished["steps"], json!(3));
}

#[test]
fn trace_of_a_failed_run_records_the_error_and_failed_status() {
    let dir = Dir::new();
    dir.write(
        "test.flow.json",
        r##"{ "format": "weft.flow/1", "start": "bad",
             "nodes": [ { "id": "bad", "type": "assign", "set": { "vars.x": "trace_me()" } } ] }"##,
    );
    let out = dir.weft(["run", "test.flow.json", "--trace", "t.jsonl"]);
    out.assert_code(1);
    let trace = read_trace(&dir.join("t.jsonl"));
    let finished = events(&trace, "node_finished");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["node"], "bad");
    assert_eq!(finished[0]["exit"], "error");
    let error = &finished[0]["error"];
    assert!(error.is_object() || error.is_string(), "error recorded: {}", finished[0]);
    assert!(error.to_string().contains("trace_me"), "{error}");
    let last = trace.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["status"], "failed");
    assert_eq!(last["steps"], json!(1));
}

#[test]
fn trace_of_a_loop_counts_every_step() {
    let dir = Dir::new();
    dir.write(
        "test.flow.json",
        r##"{ "format": "weft.flow/1", "start": "l", "variables": { "acc": [] },
             "nodes": [ { "id": "l", "type": "loop", "over": "[\"a\", \"b\"]", "as": "letter" },
                        { "id": "add", "type": "assign", "set": { "vars.acc": "vars.acc + [vars.letter]" } },
                        { "id": "fin", "type": "end", "result": "vars.acc" } ],
             "edges": [ { "from": "l", "exit": "next", "to": "add" }, { "from": "add", "to": "l" },
                        { "from": "l", "exit": "done", "to": "fin" } ] }"##,
    );
    let out = dir.weft(["run", "test.flow.json", "--trace", "t.jsonl"]);
    out.assert_code(0);
    assert_eq!(out.json(), json!(["a", "b"]));
    let trace = read_trace(&dir.join("t.jsonl"));
    let order: Vec<&str> =
        events(&trace, "node_started").iter().map(|e| e["node"].as_str().unwrap()).collect();
    assert_eq!(order, ["l", "add", "l", "add", "l", "fin"]);
    let loop_exits: Vec<&str> = events(&trace, "node_finished")
        .iter()
        .filter(|e| e["node"] == "l")
        .map(|e| e["exit"].as_str().unwrap())
        .collect();
    assert_eq!(loop_exits, ["next", "next", "done"]);
    let first_loop = events(&trace, "node_finished")[0];
    assert!(wrote(&first_loop["writes"], "letter"), "{first_loop}");
    assert!(wrote(&first_loop["writes"], "letter_index"), "{first_loop}");
    assert_eq!(trace.last().unwrap()["steps"], json!(6));
}

// ---------------------------------------------------------------------------------------------
// Step limit and timeout
// ---------------------------------------------------------------------------------------------

const SPIN: &str = r##"{ "format": "weft.flow/1", "start": "spin", "variables": { "n": 0 },
  "nodes": [ { "id": "spin", "type": "assign", "set": { "vars.n": "vars.n + 1" } } ],
  "edges": [ { "from": "spin", "to": "spin" } ] }"##;

#[test]
fn max_steps_stops_a_cycle_naming_the_limit() {
    let out = run_flow(SPIN, &["--max-steps", "37"]);
    out.assert_code(1);
    assert!(out.stderr.contains("37"), "stderr names the limit: {}", out.stderr);
}

#[test]
fn default_step_limit_is_10000() {
    let out = run_flow(SPIN, &[]);
    out.assert_code(1);
    assert!(
        out.stderr.contains("10000")
            || out.stderr.contains("10 000")
            || out.stderr.contains("10,000")
            || out.stderr.contains("10_000"),
        "stderr names the default limit: {}",
        out.stderr
    );
}

#[test]
fn step_limit_counts_node_executions_and_only_passing_it_fails() {
    // Three nodes, three steps: a limit of 3 is not passed, a limit of 2 is.
    let flow = r##"{ "format": "weft.flow/1", "start": "a",
      "nodes": [ { "id": "a", "type": "assign", "set": { "vars.x": "1" } },
                 { "id": "b", "type": "assign", "set": { "vars.y": "vars.x + 1" } },
                 { "id": "c", "type": "end", "result": "vars.y" } ],
      "edges": [ { "from": "a", "to": "b" }, { "from": "b", "to": "c" } ] }"##;
    let ok = run_flow(flow, &["--max-steps", "3"]);
    ok.assert_code(0);
    assert_eq!(ok.json(), json!(2));
    let over = run_flow(flow, &["--max-steps", "2"]);
    over.assert_code(1);
    assert!(over.stderr.contains('2'), "{}", over.stderr);
}

#[test]
fn a_higher_max_steps_lets_a_long_loop_finish() {
    let flow = r##"{ "format": "weft.flow/1", "start": "more", "variables": { "n": 0 },
      "nodes": [ { "id": "more", "type": "decision",
                   "conditions": [ { "exit": "again", "when": "vars.n < 6000" } ], "otherwise": "stop" },
                 { "id": "inc", "type": "assign", "set": { "vars.n": "vars.n + 1" } },
                 { "id": "fin", "type": "end", "result": "vars.n" } ],
      "edges": [ { "from": "more", "exit": "again", "to": "inc" }, { "from": "inc", "to": "more" },
                 { "from": "more", "exit": "stop", "to": "fin" } ] }"##;
    // 12 002 steps: over the default limit, under 20 000.
    run_flow(flow, &[]).assert_code(1);
    let out = run_flow(flow, &["--max-steps", "20000"]);
    out.assert_code(0);
    assert_eq!(out.json(), json!(6000));
}

#[test]
fn timeout_fails_a_long_run_and_says_so() {
    let started = std::time::Instant::now();
    let out = run_flow(SPIN, &["--max-steps", "4000000000", "--timeout", "1"]);
    out.assert_code(1);
    let lower = out.stderr.to_lowercase();
    assert!(
        lower.contains("timeout") || lower.contains("timed out") || lower.contains("time limit"),
        "stderr says the run timed out: {}",
        out.stderr
    );
    // Not a timing assertion on the engine's speed: only that the timeout ended it, not the
    // (enormous) step limit.
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

#[test]
fn a_run_within_its_timeout_succeeds() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "e",
             "nodes": [ { "id": "e", "type": "end", "result": "\"quick\"" } ] }"##,
        &["--timeout", "30"],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!("quick"));
}

#[test]
fn a_timeout_out_of_range_is_bad_input_not_a_crash() {
    let flow =
        r##"{ "format": "weft.flow/1", "start": "e", "nodes": [ { "id": "e", "type": "end" } ] }"##;
    for bad in ["1e20", "1e-12", "-1", "NaN"] {
        let out = run_flow(flow, &[&format!("--timeout={bad}")]);
        out.assert_code(2);
        assert!(out.stderr.contains("--timeout"), "{bad}: {}", out.stderr);
    }
}

// ---------------------------------------------------------------------------------------------
// assign
// ---------------------------------------------------------------------------------------------

#[test]
fn assign_entries_run_in_file_order_seeing_earlier_writes() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "a", "variables": { "a": 1 },
             "nodes": [ { "id": "a", "type": "assign",
                          "set": { "vars.b": "vars.a + 1", "vars.a": "10", "vars.c": "vars.a + vars.b" } },
                        { "id": "e", "type": "end", "result": "[vars.a, vars.b, vars.c]" } ],
             "edges": [ { "from": "a", "to": "e" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!([10, 2, 12]));
}

#[test]
fn assign_is_all_or_nothing() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "a", "variables": { "a": 0, "b": "keep" },
             "nodes": [ { "id": "a", "type": "assign",
                          "set": { "vars.a": "1", "vars.b": "\"changed\"", "vars.c": "stop_here()" } },
                        { "id": "ok_end", "type": "end", "result": "\"wrong\"" },
                        { "id": "err_end", "type": "end",
                          "result": "#{ a: vars.a, b: vars.b, has_c: \"c\" in vars, failed: vars.error.node }" } ],
             "edges": [ { "from": "a", "to": "ok_end" }, { "from": "a", "exit": "error", "to": "err_end" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!({ "a": 0, "b": "keep", "has_c": false, "failed": "a" }));
}

#[test]
fn assign_writes_dotted_paths_under_vars() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "a", "variables": { "calendar": { "owner": "me" } },
             "nodes": [ { "id": "a", "type": "assign",
                          "set": { "vars.calendar.items": "[1, 2]", "vars.count": "vars.calendar.items.len()" } },
                        { "id": "e", "type": "end", "result": "vars" } ],
             "edges": [ { "from": "a", "to": "e" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!({ "calendar": { "owner": "me", "items": [1, 2] }, "count": 2 }));
}

#[test]
fn variables_seed_vars_and_unset_writes_create_new_ones() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "a", "variables": { "seed": [1, { "k": "v" }] },
             "nodes": [ { "id": "a", "type": "assign", "set": { "vars.fresh": "vars.seed[1].k" } },
                        { "id": "e", "type": "end", "result": "vars" } ],
             "edges": [ { "from": "a", "to": "e" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!({ "seed": [1, { "k": "v" }], "fresh": "v" }));
}

// ---------------------------------------------------------------------------------------------
// decision
// ---------------------------------------------------------------------------------------------

const DECIDE: &str = r##"{ "format": "weft.flow/1", "start": "d",
  "parameters": { "n": { "type": "integer" } },
  "nodes": [ { "id": "d", "type": "decision",
               "conditions": [ { "exit": "neg", "when": "params.n < 0" },
                               { "exit": "small", "when": "params.n < 10" },
                               { "exit": "also_small", "when": "params.n < 100" } ],
               "otherwise": "huge" },
             { "id": "e_neg", "type": "end", "result": "\"neg\"" },
             { "id": "e_small", "type": "end", "result": "\"small\"" },
             { "id": "e_also", "type": "end", "result": "\"also_small\"" },
             { "id": "e_huge", "type": "end", "result": "\"huge\"" } ],
  "edges": [ { "from": "d", "exit": "neg", "to": "e_neg" }, { "from": "d", "exit": "small", "to": "e_small" },
             { "from": "d", "exit": "also_small", "to": "e_also" }, { "from": "d", "exit": "huge", "to": "e_huge" } ] }"##;

#[test]
fn decision_takes_the_first_true_condition_in_order() {
    for (n, expected) in [("-5", "neg"), ("3", "small"), ("50", "also_small"), ("1000", "huge")] {
        let out = run_flow(DECIDE, &["--param", &format!("n={n}")]);
        out.assert_code(0);
        assert_eq!(out.json(), json!(expected), "n = {n}");
    }
}

#[test]
fn decision_otherwise_is_taken_when_no_condition_holds() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "d",
             "nodes": [ { "id": "d", "type": "decision",
                          "conditions": [ { "exit": "a", "when": "false" }, { "exit": "b", "when": "1 > 2" } ],
                          "otherwise": "fallback" },
                        { "id": "ea", "type": "end", "result": "\"a\"" },
                        { "id": "eb", "type": "end", "result": "\"b\"" },
                        { "id": "ef", "type": "end", "result": "\"fallback\"" } ],
             "edges": [ { "from": "d", "exit": "a", "to": "ea" }, { "from": "d", "exit": "b", "to": "eb" },
                        { "from": "d", "exit": "fallback", "to": "ef" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!("fallback"));
}

// ---------------------------------------------------------------------------------------------
// loop
// ---------------------------------------------------------------------------------------------

#[test]
fn loop_visits_each_element_with_as_and_index_then_done() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "each", "variables": { "seen": [] },
             "nodes": [ { "id": "each", "type": "loop", "over": "[\"x\", \"y\", \"z\"]", "as": "letter" },
                        { "id": "note", "type": "assign",
                          "set": { "vars.seen": "vars.seen + [[vars.letter, vars.letter_index]]" } },
                        { "id": "fin", "type": "end", "result": "vars.seen" } ],
             "edges": [ { "from": "each", "exit": "next", "to": "note" }, { "from": "note", "to": "each" },
                        { "from": "each", "exit": "done", "to": "fin" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!([["x", 0], ["y", 1], ["z", 2]]));
}

#[test]
fn loop_as_defaults_to_item() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "each", "variables": { "sum": 0, "idx": 0 },
             "nodes": [ { "id": "each", "type": "loop", "over": "[5, 6]" },
                        { "id": "add", "type": "assign",
                          "set": { "vars.sum": "vars.sum + vars.item", "vars.idx": "vars.idx + vars.item_index" } },
                        { "id": "fin", "type": "end", "result": "[vars.sum, vars.idx]" } ],
             "edges": [ { "from": "each", "exit": "next", "to": "add" }, { "from": "add", "to": "each" },
                        { "from": "each", "exit": "done", "to": "fin" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!([11, 1]));
}

#[test]
fn loop_over_an_empty_list_takes_done_at_once() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "each", "variables": { "hits": 0 },
             "nodes": [ { "id": "each", "type": "loop", "over": "[]" },
                        { "id": "hit", "type": "assign", "set": { "vars.hits": "vars.hits + 1" } },
                        { "id": "fin", "type": "end", "result": "vars.hits" } ],
             "edges": [ { "from": "each", "exit": "next", "to": "hit" }, { "from": "hit", "to": "each" },
                        { "from": "each", "exit": "done", "to": "fin" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!(0));
}

#[test]
fn loop_evaluates_over_once_when_it_starts() {
    // The body grows the list it loops over; the loop still sees the list as it was at the start.
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "each", "variables": { "list": [1, 2, 3], "count": 0 },
             "nodes": [ { "id": "each", "type": "loop", "over": "vars.list" },
                        { "id": "grow", "type": "assign",
                          "set": { "vars.list": "vars.list + [99]", "vars.count": "vars.count + 1" } },
                        { "id": "fin", "type": "end", "result": "[vars.count, vars.list.len()]" } ],
             "edges": [ { "from": "each", "exit": "next", "to": "grow" }, { "from": "grow", "to": "each" },
                        { "from": "each", "exit": "done", "to": "fin" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!([3, 6]));
}

#[test]
fn loop_body_may_span_several_nodes_and_branch() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "each", "variables": { "evens": [], "odds": [] },
             "nodes": [ { "id": "each", "type": "loop", "over": "[1, 2, 3, 4, 5]", "as": "n" },
                        { "id": "parity", "type": "decision",
                          "conditions": [ { "exit": "even", "when": "vars.n % 2 == 0" } ], "otherwise": "odd" },
                        { "id": "keep_even", "type": "assign", "set": { "vars.evens": "vars.evens + [vars.n]" } },
                        { "id": "keep_odd", "type": "assign", "set": { "vars.odds": "vars.odds + [vars.n]" } },
                        { "id": "fin", "type": "end", "result": "#{ evens: vars.evens, odds: vars.odds }" } ],
             "edges": [ { "from": "each", "exit": "next", "to": "parity" },
                        { "from": "parity", "exit": "even", "to": "keep_even" },
                        { "from": "parity", "exit": "odd", "to": "keep_odd" },
                        { "from": "keep_even", "to": "each" }, { "from": "keep_odd", "to": "each" },
                        { "from": "each", "exit": "done", "to": "fin" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!({ "evens": [2, 4], "odds": [1, 3, 5] }));
}

#[test]
fn nested_loop_starts_afresh_on_each_outer_iteration() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "outer", "variables": { "pairs": [] },
             "nodes": [ { "id": "outer", "type": "loop", "over": "[1, 2]", "as": "o" },
                        { "id": "inner", "type": "loop", "over": "[\"a\", \"b\", \"c\"]", "as": "i" },
                        { "id": "pair", "type": "assign",
                          "set": { "vars.pairs": "vars.pairs + [`${vars.o}${vars.i}${vars.i_index}`]" } },
                        { "id": "fin", "type": "end", "result": "vars.pairs" } ],
             "edges": [ { "from": "outer", "exit": "next", "to": "inner" },
                        { "from": "inner", "exit": "next", "to": "pair" },
                        { "from": "pair", "to": "inner" },
                        { "from": "inner", "exit": "done", "to": "outer" },
                        { "from": "outer", "exit": "done", "to": "fin" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!(["1a0", "1b1", "1c2", "2a0", "2b1", "2c2"]));
}

#[test]
fn inner_loop_reevaluates_over_when_reentered() {
    // The inner list depends on the outer element: `over` is evaluated afresh on each arrival
    // from outside the inner loop's body.
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "outer", "variables": { "out": [] },
             "nodes": [ { "id": "outer", "type": "loop", "over": "[1, 3]", "as": "o" },
                        { "id": "inner", "type": "loop", "over": "#{ \"1\": [0], \"3\": [0, 1, 2] }[`${vars.o}`]", "as": "i" },
                        { "id": "rec", "type": "assign", "set": { "vars.out": "vars.out + [vars.o * 10 + vars.i]" } },
                        { "id": "fin", "type": "end", "result": "vars.out" } ],
             "edges": [ { "from": "outer", "exit": "next", "to": "inner" },
                        { "from": "inner", "exit": "next", "to": "rec" },
                        { "from": "rec", "to": "inner" },
                        { "from": "inner", "exit": "done", "to": "outer" },
                        { "from": "outer", "exit": "done", "to": "fin" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!([10, 30, 31, 32]));
}

#[test]
fn loop_reentered_after_done_starts_afresh() {
    // After `done`, the flow comes back to the loop from outside its body (a retry round): the
    // loop must start again from the first element instead of taking `done` straight away.
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "each", "variables": { "log": [], "round": 0 },
             "nodes": [ { "id": "each", "type": "loop", "over": "[\"p\", \"q\"]", "as": "x" },
                        { "id": "rec", "type": "assign", "set": { "vars.log": "vars.log + [`${vars.round}${vars.x}`]" } },
                        { "id": "bump", "type": "assign", "set": { "vars.round": "vars.round + 1" } },
                        { "id": "again", "type": "decision",
                          "conditions": [ { "exit": "yes", "when": "vars.round < 2" } ], "otherwise": "no" },
                        { "id": "fin", "type": "end", "result": "vars.log" } ],
             "edges": [ { "from": "each", "exit": "next", "to": "rec" }, { "from": "rec", "to": "each" },
                        { "from": "each", "exit": "done", "to": "bump" }, { "from": "bump", "to": "again" },
                        { "from": "again", "exit": "yes", "to": "each" }, { "from": "again", "exit": "no", "to": "fin" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!(["0p", "0q", "1p", "1q"]));
}

#[test]
fn loop_over_a_non_list_takes_error() {
    // `over` is an expression giving a list; anything else is a failure of the node.
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "each",
             "nodes": [ { "id": "each", "type": "loop", "over": "42" },
                        { "id": "body", "type": "assign", "set": { "vars.x": "1" } },
                        { "id": "err", "type": "end", "result": "vars.error.node" } ],
             "edges": [ { "from": "each", "exit": "next", "to": "body" }, { "from": "body", "to": "each" },
                        { "from": "each", "exit": "error", "to": "err" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!("each"));
}

// ---------------------------------------------------------------------------------------------
// Sandbox and limits
// ---------------------------------------------------------------------------------------------

#[test]
fn runaway_string_stops_with_an_error_naming_the_node() {
    // Expressions are single Rhai expressions (no statements); `pad` builds a huge string in
    // one call.
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "grow",
             "nodes": [ { "id": "grow", "type": "assign",
                          "set": { "vars.s": "\"x\".pad(2000000000, \"x\")" } } ] }"##,
        &[],
    );
    out.assert_code(1);
    assert!(out.stderr.contains("grow"), "{}", out.stderr);
}

#[test]
fn runaway_array_stops_with_an_error_naming_the_node() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "huge",
             "nodes": [ { "id": "huge", "type": "end", "result": "[0].pad(2000000000, 0)" } ] }"##,
        &[],
    );
    out.assert_code(1);
    assert!(out.stderr.contains("huge"), "{}", out.stderr);
}

#[test]
fn a_large_list_in_variables_is_fine() {
    let items: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
    let flow = format!(
        r##"{{ "format": "weft.flow/1", "start": "a", "variables": {{ "big": [{}] }},
             "nodes": [ {{ "id": "a", "type": "assign", "set": {{ "vars.n": "vars.big.len()" }} }},
                        {{ "id": "e", "type": "end", "result": "[vars.n, vars.big[99999]]" }} ],
             "edges": [ {{ "from": "a", "to": "e" }} ] }}"##,
        items.join(",")
    );
    let out = run_flow(&flow, &[]);
    out.assert_code(0);
    assert_eq!(out.json(), json!([100_000, 99_999]));
}

#[test]
fn position_and_title_do_not_change_behaviour() {
    let out = run_flow(
        r##"{ "format": "weft.flow/1", "start": "a",
             "nodes": [ { "id": "a", "type": "assign", "title": "Set it", "position": [10, 20],
                          "set": { "vars.x": "7" } },
                        { "id": "e", "type": "end", "title": "Done", "position": [0.5, -3], "result": "vars.x" } ],
             "edges": [ { "from": "a", "to": "e" } ] }"##,
        &[],
    );
    out.assert_code(0);
    assert_eq!(out.json(), json!(7));
}

/// Waits until `child` (run with `--progress`) tells its first step: its flow is loaded and
/// its signal handlers installed (a signal before that would kill it, not interrupt the run).
#[cfg(unix)]
fn running_its_first_step(child: &mut util::Running) {
    child.stderr_line(|line| line.contains("step 1"));
}

#[cfg(unix)]
#[test]
fn ctrl_c_interrupts_a_run_with_exit_130() {
    use std::time::{Duration, Instant};
    let dir = Dir::new();
    dir.write("test.flow.json", SPIN);
    let mut child = Weft::new(dir.path(), ["run", "test.flow.json", "--max-steps", "4000000000"])
        .arg("--progress")
        .spawn();
    running_its_first_step(&mut child);
    child.signal("-INT");
    let signalled = Instant::now();
    let out = child.finish();
    assert!(
        signalled.elapsed() < Duration::from_secs(30),
        "weft run did not stop within 30 s of SIGINT"
    );
    out.assert_code(130);
}

// ---------------------------------------------------------------------------------------------
// Limits that hold against any flow (regressions)
// ---------------------------------------------------------------------------------------------

#[test]
fn regression_sleep_escapes_every_time_limit() {
    // `sleep(15)` held the run for 15 s past `--timeout 2` and exited 0.
    let out = run_flow(
        r##"{"format":"weft.flow/1","start":"a","nodes":[
          {"id":"a","type":"assign","set":{"vars.r":"sleep(15)"}},
          {"id":"z","type":"end","result":"\"done\""}],
          "edges":[{"from":"a","to":"z"}]}"##,
        &["--timeout", "2"],
    );
    out.assert_code(1);
    assert!(out.stderr.contains("Function not found: sleep"), "{}", out.stderr);
}

#[test]
fn regression_few_operations_build_gigabytes() {
    // 23 doublings of a map: 60 s and 9.5 GB, then success. Now the expression's memory limit
    // stops it.
    let elements = (0..=22).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    let flow = format!(
        r##"{{"format":"weft.flow/1","start":"a","nodes":[
          {{"id":"a","type":"assign","set":{{"vars.r":"[{elements}].reduce(|a, x| #{{a: a, b: a}}, #{{}}).len()"}}}},
          {{"id":"z","type":"end","result":"vars.r"}}],
          "edges":[{{"from":"a","to":"z"}}]}}"##
    );
    let out = run_flow(&flow, &[]);
    out.assert_code(1);
    assert!(out.stderr.contains("memory limit of 256 MiB"), "{}", out.stderr);
}

#[test]
fn regression_a_busy_expression_ignores_the_timeout() {
    // The run's deadline ends the expression, rather than the expression's own time limit
    // (10 s) ending it later.
    let out = run_flow(&util::busy_flow(), &["--timeout", "1"]);
    out.assert_code(1);
    assert!(out.stderr.contains("the run timed out after 1 s"), "{}", out.stderr);
    assert!(!out.stderr.contains("time limit of 10000 ms"), "{}", out.stderr);
}

#[cfg(unix)]
#[test]
fn regression_a_busy_expression_ignores_ctrl_c_and_sigterm() {
    use std::time::{Duration, Instant};
    let dir = Dir::new();
    dir.write("busy.flow.json", util::busy_flow());
    for signal in ["-INT", "-TERM"] {
        let mut child = Weft::new(dir.path(), ["run", "busy.flow.json", "--progress"]).spawn();
        running_its_first_step(&mut child);
        child.signal(signal);
        let signalled = Instant::now();
        let out = child.finish();
        assert_eq!(out.code, Some(130), "{signal}: {}", out.stderr);
        // Before the fix the signal was seen only when the expression gave up, 10 s in.
        assert!(
            signalled.elapsed() < Duration::from_secs(8),
            "{signal}: {:?}",
            signalled.elapsed()
        );
    }
}

#[test]
fn regression_vars_grow_without_a_limit() {
    // Each step adds a 1 MB string; 20 MiB of variables is passed after about 20 steps.
    let flow = r##"{"format":"weft.flow/1","start":"a","variables":{"n":0,"blobs":[]},"nodes":[
      {"id":"a","type":"assign","set":{"vars.blobs":"vars.blobs + [blob(1000000).as_string()]","vars.n":"vars.n + 1"}},
      {"id":"d","type":"decision","conditions":[{"exit":"again","when":"vars.n < 50"}],"otherwise":"done"},
      {"id":"z","type":"end","result":"vars.n"}],
      "edges":[{"from":"a","to":"d"},{"from":"d","exit":"again","to":"a"},{"from":"d","exit":"done","to":"z"}]}"##;
    let out = run_flow(flow, &["--max-vars-bytes", "20MiB"]);
    out.assert_code(1);
    assert!(out.stderr.contains("node `a`"), "{}", out.stderr);
    assert!(out.stderr.contains("past their limit of 20.0 MiB"), "{}", out.stderr);
    assert!(out.stderr.contains("--max-vars-bytes"), "{}", out.stderr);
    // Within the default limit (1 GiB) it runs to the end.
    let out = run_flow(flow, &[]);
    out.assert_code(0);
    assert_eq!(out.json(), json!(50));
    let out = run_flow(flow, &["--max-vars-bytes", "lots"]);
    out.assert_code(2);
}

/// A 10 MB URL was quoted whole in the error (a 10 MB line on stderr).
#[test]
fn regression_a_10_mb_url_is_clipped_in_the_error() {
    let url = format!("http://127.0.0.1:9/{}${{params.tail}}", "a".repeat(10_000_000));
    let flow = json!({ "format": "weft.flow/1", "start": "get",
        "parameters": { "tail": { "type": "string", "default": "z" } },
        "nodes": [ { "id": "get", "type": "http_request", "url": url, "retry": { "max_attempts": 1 } },
                   { "id": "e", "type": "end", "result": "1" } ],
        "edges": [ { "from": "get", "to": "e" } ] });
    let out = run_flow(&flow.to_string(), &[]);
    out.assert_code(1);
    assert!(out.stderr.len() < 3_000, "{} bytes on stderr", out.stderr.len());
    assert!(out.stderr.contains("GET http://127.0.0.1:9/aaaa"), "{}", out.stderr);
    // The marker says how much of the URL was left out: nearly all of it.
    let cut = out.stderr.split("… [+").nth(1).and_then(|rest| rest.split(' ').next());
    assert!(
        cut.and_then(|n| n.parse::<usize>().ok()).is_some_and(|n| n > 9_999_000),
        "{}",
        out.stderr
    );
    assert!(out.stdout.len() < 3_000, "{} bytes on stdout", out.stdout.len());
}

// ---------------------------------------------------------------------------------------------
// The flow on stdin, and --sim
// ---------------------------------------------------------------------------------------------

/// `weft run -` reads the flow from stdin; its profiles file is then `profiles.json` in the
/// working directory.
#[test]
fn run_reads_the_flow_from_stdin_with_the_profiles_of_the_working_directory() {
    let dir = Dir::new();
    let flow = dir.write(
        "in.json",
        r#"{ "format": "weft.flow/1", "start": "s",
             "nodes": [ { "id": "s", "type": "authentication", "profile": "p" },
                        { "id": "e", "type": "end", "result": "vars.auth.token_type" } ],
             "edges": [ { "from": "s", "to": "e" } ] }"#,
    );
    let out = Weft::new(dir.path(), ["run", "-"]).stdin(&flow).run();
    out.assert_code(2);
    assert!(out.stderr.contains("no profiles file at ./profiles.json"), "{}", out.stderr);
    dir.write(
        "profiles.json",
        r#"{ "format": "weft.profiles/1", "profiles": {
             "p": { "type": "bearer", "token": "t", "hosts": ["a.example"] } } }"#,
    );
    let out = Weft::new(dir.path(), ["run", "-"]).stdin(&flow).run();
    out.assert_code(0);
    assert_eq!(out.json(), json!("Bearer"));
}

/// `weft run --sim`: the README's Graph flow, with its real profiles file, runs offline with no
/// variable exported; the simulator's links read as Graph's, so paging keeps its credentials.
#[test]
fn run_sim_runs_the_graph_flow_offline_with_no_setup() {
    let state = Dir::new();
    let out = Weft::new(&util::root(), ["run", "flows/graph-calendar.flow.json", "--sim"])
        .args(["--param", "user=adele@weft.test", "--param", "page_size=3", "--state-dir"])
        .arg(state.path())
        .env_remove("TENANT_ID")
        .env_remove("GRAPH_CLIENT_ID")
        .env_remove("GRAPH_CLIENT_SECRET")
        .run();
    out.assert_code(0);
    let items = out.json();
    assert!(items.as_array().unwrap().len() > 3, "one page only: {items}");
    assert!(
        items
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["organizer"].is_string() || i["organizer"].is_null())
    );
}

// ---------------------------------------------------------------------------------------------
// Progress on stderr
// ---------------------------------------------------------------------------------------------

/// A throttled server (three 429s with `Retry-After`, then a 200) and a flow that GETs it,
/// with a token in the query that must show nowhere.
async fn throttled() -> (wiremock::MockServer, Dir) {
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0.1"))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "n": 1 })))
        .mount(&server)
        .await;
    let dir = Dir::new();
    let flow = json!({ "format": "weft.flow/1", "start": "get", "nodes": [
        { "id": "get", "type": "http_request", "method": "GET",
          "url": format!("{}/items", server.uri()), "query": { "code": "progress-canary-4711" } },
        { "id": "done", "type": "end", "result": "vars.response.body.n" } ],
        "edges": [ { "from": "get", "to": "done" } ] });
    dir.write("throttled.flow.json", flow.to_string());
    (server, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_on_long_runs_progress_shows_retries_and_their_waits() {
    let (_server, dir) = throttled().await;
    let path = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Weft::new(&path, ["run", "throttled.flow.json", "--progress", "--trace", "t.jsonl"]).run()
    })
    .await
    .unwrap();
    out.assert_code(0);
    assert_eq!(out.json(), json!(1));
    let retries: Vec<&str> = out.stderr.lines().filter(|l| l.contains("retrying in")).collect();
    assert_eq!(retries.len(), 3, "{}", out.stderr);
    for (i, line) in retries.iter().enumerate() {
        assert!(line.starts_with("weft: ["), "{line}");
        assert!(line.contains("step 1: get GET http://127.0.0.1:"), "{line}");
        assert!(line.contains("/items → 429 in "), "{line}");
        assert!(line.ends_with("; retrying in 0.1 s"), "{line}");
        if i > 0 {
            assert!(line.contains(&format!("attempt {}", i + 1)), "{line}");
        }
    }
    assert!(out.stderr.lines().last().unwrap().ends_with("run succeeded after 2 steps"));
    assert!(!out.stderr.contains("progress-canary-4711"), "{}", out.stderr);
    // The trace, written beside the progress, tells the waits too, and still every write.
    let trace = read_trace(&dir.join("t.jsonl"));
    let http = events(&trace, "http");
    assert_eq!(http.len(), 4);
    assert_eq!(http[0]["retry_in_ms"], 100);
    assert!(http[3].get("retry_in_ms").is_none(), "{}", http[3]);
    assert!(wrote(&events(&trace, "node_finished")[0]["writes"], "response"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_terminal_or_with_no_progress_stderr_stays_quiet() {
    let (_server, dir) = throttled().await;
    let path = dir.path().to_owned();
    let (piped, off) = tokio::task::spawn_blocking(move || {
        let piped = Weft::new(&path, ["run", "throttled.flow.json"]).run();
        let off =
            Weft::new(&path, ["run", "throttled.flow.json", "--progress", "--no-progress"]).run();
        let quiet = Weft::new(&path, ["run", "throttled.flow.json", "--quiet"]).run();
        quiet.assert_code(0);
        assert_eq!(quiet.stderr, "");
        (piped, off)
    })
    .await
    .unwrap();
    piped.assert_code(0);
    assert_eq!(piped.json(), json!(1));
    assert_eq!(piped.stderr, "", "nothing extra when stderr is not a terminal");
    // The two flags contradict each other: a usage error.
    assert_eq!(off.code, Some(2), "{}", off.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_never_recorded_request_bodies() {
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 7 })))
        .mount(&server)
        .await;
    let dir = Dir::new();
    let flow = json!({ "format": "weft.flow/1", "start": "post", "nodes": [
        { "id": "post", "type": "http_request", "method": "POST", "url": server.uri(),
          "body": { "subject": "Standup", "password": "hunter2-canary", "n": 2 } } ] });
    dir.write("post.flow.json", flow.to_string());
    let path = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Weft::new(&path, ["run", "post.flow.json", "--trace", "t.jsonl"]).run()
    })
    .await
    .unwrap();
    out.assert_code(0);
    let trace = read_trace(&dir.join("t.jsonl"));
    let http = events(&trace, "http");
    let body: Value = serde_json::from_str(http[0]["request_body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({ "subject": "Standup", "password": "[redacted]", "n": 2 }));
    assert!(!std::fs::read_to_string(dir.join("t.jsonl")).unwrap().contains("hunter2-canary"));
}
