//! `weft validate`, written from the documented contract. The cases one flow file can state are
//! data, in `tests/cases/` (see its README), checked by one test; here are the rest: several
//! files in one run, bytes that are not UTF-8, generated sizes, the text format, profiles, and
//! the messages of regressions.

use crate::util::{Dir, Outcome, Weft, diagnostics, root};
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::Path;

/// A flow using every built-in kind that runs, wired completely: valid, without diagnostics.
const GOOD: &str = include_str!("cases/valid-every-kind.flow.json");

// ---------------------------------------------------------------------------------------------
// The cases in tests/cases/
// ---------------------------------------------------------------------------------------------

/// What `NAME.expect.json` says `weft validate` reports for `NAME.flow.json`: every error and
/// every warning, in any order.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectation {
    #[serde(default)]
    errors: Vec<Expected>,
    #[serde(default)]
    warnings: Vec<Expected>,
}

/// One diagnostic: its JSON pointer and node (absent when the diagnostic names none), a phrase
/// of its message, and where the file was cut or malformed, its line and column.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    pointer: String,
    node: Option<String>,
    message: String,
    line: Option<u64>,
    column: Option<u64>,
}

impl Expected {
    fn matches(&self, diagnostic: &Value) -> bool {
        diagnostic["pointer"] == self.pointer.as_str()
            && diagnostic["node"].as_str() == self.node.as_deref()
            && diagnostic["message"].as_str().is_some_and(|m| m.contains(&self.message))
            && self.line.is_none_or(|line| diagnostic["line"] == line)
            && self.column.is_none_or(|column| diagnostic["column"] == column)
    }
}

/// Runs `weft validate --format json` on `tests/cases/STEM.flow.json` alone and compares exit
/// code and diagnostics with what the case expects.
fn check_case(dir: &Path, stem: &str) -> Result<(), String> {
    let code = if stem.starts_with("valid-") {
        0
    } else if stem.starts_with("invalid-") {
        2
    } else {
        return Err("a case's name starts with `valid-` or `invalid-`".to_owned());
    };
    let expected: Expectation = match std::fs::read(dir.join(format!("{stem}.expect.json"))) {
        Ok(text) => {
            serde_json::from_slice(&text).map_err(|e| format!("{stem}.expect.json: {e}"))?
        }
        Err(_) if code == 0 => Expectation::default(),
        Err(_) => {
            return Err(format!("an invalid case needs {stem}.expect.json naming its errors"));
        }
    };
    if code == 2 && expected.errors.is_empty() {
        return Err(format!("{stem}.expect.json names no error"));
    }
    let out = Weft::new(dir, ["validate", "--format", "json", &format!("{stem}.flow.json")]).run();
    let reported = || format!("weft validate said:\n{}{}", out.stdout, out.stderr);
    if out.code != Some(code) {
        return Err(format!("exit {:?}, expected {code}; {}", out.code, reported()));
    }
    let value: Value = serde_json::from_str(out.stdout.trim())
        .map_err(|e| format!("stdout is not JSON ({e}); {}", reported()))?;
    let diagnostics = diagnostics(&value);
    for (severity, wanted) in [("error", &expected.errors), ("warning", &expected.warnings)] {
        let mut got: Vec<&Value> =
            diagnostics.iter().filter(|d| d["severity"] == severity).collect();
        for want in wanted {
            match got.iter().position(|d| want.matches(d)) {
                Some(at) => drop(got.remove(at)),
                None => return Err(format!("no {severity} like {want:?}; {}", reported())),
            }
        }
        if !got.is_empty() {
            let got = serde_json::to_string_pretty(&got).unwrap();
            return Err(format!("{severity}s not in the expectation: {got}"));
        }
    }
    Ok(())
}

/// Every flow in `tests/cases/` validates as its name and its expectation say; the failures
/// name their files.
#[test]
fn every_case_gets_exactly_the_diagnostics_it_expects() {
    let dir = root().join("tests/cases");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut failures = Vec::new();
    let mut checked = [0, 0];
    for name in &names {
        if let Some(stem) = name.strip_suffix(".flow.json") {
            checked[usize::from(stem.starts_with("invalid-"))] += 1;
            if let Err(why) = check_case(&dir, stem) {
                failures.push(format!("tests/cases/{name}: {why}"));
            }
        } else if let Some(stem) = name.strip_suffix(".expect.json") {
            if !names.contains(&format!("{stem}.flow.json")) {
                failures.push(format!("tests/cases/{name}: there is no {stem}.flow.json"));
            }
        } else if name != "README.md" {
            failures.push(format!("tests/cases/{name}: not a `.flow.json` or `.expect.json`"));
        }
    }
    assert!(checked[0] > 0 && checked[1] > 0, "valid and invalid cases: {checked:?}");
    assert!(failures.is_empty(), "{} failed:\n\n{}", failures.len(), failures.join("\n\n"));
}

// ---------------------------------------------------------------------------------------------
// Cases that are not one flow file
// ---------------------------------------------------------------------------------------------

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

fn errors(diags: &[Value]) -> Vec<&Value> {
    diags.iter().filter(|d| d["severity"] == "error").collect()
}

fn warnings(diags: &[Value]) -> Vec<&Value> {
    diags.iter().filter(|d| d["severity"] == "warning").collect()
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
// JSON, encoding
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

// ---------------------------------------------------------------------------------------------
// Nesting depth (made by the test)
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

/// A profile without `hosts` works, and `weft validate` warns about it (it needs a profiles file
/// beside the flow).
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

/// A flow whose profile names are checked: `sign_in` names an unknown one, `fetch` a known one.
const NAMES_PROFILES: &str = r#"{ "format": "weft.flow/1", "start": "sign_in",
  "nodes": [ { "id": "sign_in", "type": "authentication", "profile": "graph-ap" },
             { "id": "fetch", "type": "http_request", "url": "https://graph.microsoft.com/v1.0/me",
               "auth": "graph-app", "into": "me" } ],
  "edges": [ { "from": "sign_in", "to": "fetch" } ] }"#;

/// `"profile": "graph-ap"` used to be valid even with a profiles file, and `weft run` then
/// exited 2: it is an error at the field naming it, listing the file's profiles.
#[test]
fn regression_an_unknown_profile_is_an_error_at_its_field_naming_the_choices() {
    let dir = Dir::new();
    dir.write("case.flow.json", NAMES_PROFILES);
    dir.write("profiles.json", std::fs::read(root().join("flows/profiles.json")).unwrap());
    let out = dir.weft(["validate", "--format", "json", "case.flow.json"]);
    out.assert_code(2);
    let diags = diagnostics(&out.json());
    let errors = errors(&diags);
    assert_eq!(errors.len(), 1, "{diags:?}");
    assert_eq!(errors[0]["pointer"], "/nodes/0/profile");
    assert_eq!(errors[0]["node"], "sign_in");
    assert_eq!(errors[0]["line"], 2, "{diags:?}");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.contains("`graph-ap`") && message.contains("`graph-app`, `graph-user`"),
        "{message}"
    );

    // The same with --profiles from elsewhere, and in the text format.
    let other = Dir::new();
    let flow = other.write("case.flow.json", NAMES_PROFILES);
    let out = Weft::new(other.path(), ["validate", "case.flow.json", "--profiles"])
        .arg(dir.join("profiles.json"))
        .run();
    out.assert_code(2);
    assert!(out.stderr.contains("error [/nodes/0/profile] node `sign_in`"), "{}", out.stderr);
    // Without a profiles file the names can't be checked: a warning says so.
    std::fs::remove_file(dir.join("profiles.json")).unwrap();
    let out = Weft::new(other.path(), ["validate", "--format", "json"]).arg(&flow).run();
    out.assert_code(0);
    let diags = diagnostics(&out.json());
    let unchecked: Vec<&str> = warnings(&diags)
        .iter()
        .filter_map(|d| d["message"].as_str())
        .filter(|m| m.contains("can't be checked"))
        .collect();
    assert_eq!(unchecked.len(), 1, "{diags:?}");
    assert!(unchecked[0].contains("`graph-ap`, `graph-app`"), "{}", unchecked[0]);
}

/// An `authentication` node on a profile with nothing to sign in with (`bearer`, `basic`,
/// `api_key`) always takes `ok`: a warning, as runs accept it.
#[test]
fn signing_in_with_a_profile_that_has_no_sign_in_is_a_warning() {
    let dir = Dir::new();
    dir.write(
        "case.flow.json",
        r#"{ "format": "weft.flow/1", "start": "s",
             "nodes": [ { "id": "s", "type": "authentication", "profile": "key" } ] }"#,
    );
    dir.write(
        "profiles.json",
        r#"{ "format": "weft.profiles/1", "profiles": {
             "key": { "type": "api_key", "value": "${env.K}", "header": "X-Key", "hosts": ["a.example"] } } }"#,
    );
    let out = dir.weft(["validate", "--format", "json", "case.flow.json"]);
    out.assert_code(0);
    let diags = diagnostics(&out.json());
    let about: Vec<&Value> = diags.iter().filter(|d| d["pointer"] == "/nodes/0/profile").collect();
    assert_eq!(about.len(), 1, "{diags:?}");
    assert_eq!(about[0]["severity"], "warning");
    assert!(about[0]["message"].as_str().unwrap().contains("type `api_key`"), "{diags:?}");
}

/// `weft validate DIR` checks every `*.flow.json` under it, as `test` and `serve` take
/// folders (it used to fail with "Is a directory"); `-` reads a flow from stdin.
#[test]
fn validate_takes_folders_and_a_flow_on_stdin() {
    let dir = Dir::new();
    dir.write("a.flow.json", GOOD);
    std::fs::create_dir(dir.join("sub")).unwrap();
    dir.write("sub/b.flow.json", "{}");
    dir.write("sub/notes.json", "{}");
    let out = dir.weft(["validate", "--format", "json", "."]);
    out.assert_code(2);
    let files: Vec<String> = out.json()["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap().replace('\\', "/"))
        .collect();
    assert_eq!(files, ["./a.flow.json", "./sub/b.flow.json"]);

    let out = Weft::new(dir.path(), ["validate", "-"]).stdin(&dir.join("a.flow.json")).run();
    out.assert_code(0);
    assert!(out.stdout.contains("<stdin>: valid"), "{}", out.stdout);
}

// ---------------------------------------------------------------------------------------------
// Hardening
// ---------------------------------------------------------------------------------------------

/// A key given twice used to be read as its last value.
#[test]
fn regression_duplicate_keys_in_a_flow_are_an_error_naming_both_places() {
    let flow = "{ \"format\": \"weft.flow/1\", \"start\": \"e\",\n  \"nodes\": [ { \"id\": \"e\", \"type\": \"end\",\n    \"result\": \"1\", \"result\": \"vars.secret\" } ] }";
    let (out, diags) = validate_json(flow);
    out.assert_code(2);
    let d = errors(&diags)
        .into_iter()
        .find(|d| d["pointer"] == "/nodes/0/result")
        .unwrap_or_else(|| panic!("{diags:#?}"));
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

/// A byte order mark was reported as "invalid JSON: expected value".
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

/// A 100 000-segment JSON pointer was quoted whole (200 KB on stderr).
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

/// A key of a megabyte is quoted in the message and in the pointer of the diagnostic:
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
