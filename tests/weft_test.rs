//! `weft test`, run as a binary on test files written from the documented format against a flow
//! of its own (an order service, not one of the shipped flows): verdicts, messages, the summary
//! line, exit codes, `--filter`, folders, JUnit XML, malformed files; and the shipped `flows/`
//! tests.

use crate::util::{Outcome, Weft};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const FLOW: &str = r##"{
  "format": "weft.flow/1",
  "name": "orders",
  "parameters": { "shop": { "type": "string", "default": "https://shop.example.com/api" },
                  "limit": { "type": "integer", "default": 2 } },
  "variables": { "orders": [] },
  "start": "login",
  "nodes": [
    { "id": "login", "type": "authentication", "profile": "shop" },
    { "id": "list", "type": "http_request", "method": "GET", "auth": "shop",
      "url": "${params.shop}/orders", "query": { "limit": "${params.limit}", "since": "${vars.since}" },
      "into": "reply" },
    { "id": "create", "type": "http_request", "method": "POST", "auth": "shop",
      "url": "${params.shop}/orders", "body": { "sku": "${vars.sku}", "qty": "${vars.qty}", "note": "by weft" },
      "into": "created" },
    { "id": "keep", "type": "json_import", "from": "vars.reply.body", "select": "/orders",
      "map": "#{ id: item.id, total: item.total }", "append_to": "orders" },
    { "id": "any", "type": "decision",
      "conditions": [ { "exit": "some", "when": "vars.orders.len() > 0" } ], "otherwise": "none" },
    { "id": "found", "type": "end", "result": "vars.orders" },
    { "id": "empty", "type": "end", "result": "[]" }
  ],
  "edges": [
    { "from": "login", "to": "list" }, { "from": "list", "to": "keep" },
    { "from": "keep", "to": "any" },
    { "from": "any", "exit": "some", "to": "found" }, { "from": "any", "exit": "none", "to": "empty" }
  ]
}"##;

fn passing_cases() -> Value {
    json!([
      { "name": "list sends the limit and the bearer token", "node": "list",
        "given": { "vars": { "since": "2026-11-01" } },
        "http": [ { "request": { "method": "GET", "url_prefix": "https://shop.example.com/api/orders" },
                    "response": { "status": 200, "json": { "orders": [ { "id": 1, "total": 9.5 } ] } } } ],
        "expect": { "exit": "ok",
          "vars": { "reply": { "status": 200, "body": { "orders": [ { "id": 1 } ] } } },
          "requests": [ { "method": "GET",
            "url": "https://shop.example.com/api/orders?limit=2&since=2026-11-01",
            "headers": { "AUTHORIZATION": "Bearer test-token-shop" } } ] } },
      { "name": "create posts a JSON body", "node": "create",
        "given": { "vars": { "sku": "A-1", "qty": 3 } },
        "http": [ { "request": { "method": "POST", "url": "https://shop.example.com/api/orders",
                                 "headers": { "content-type": "application/json" } },
                    "response": { "status": 201, "json": { "id": 7 } } } ],
        "expect": { "exit": "ok", "vars": { "created": { "status": 201, "body": { "id": 7 } } },
          "requests": [ { "method": "POST", "json": { "sku": "A-1", "qty": 3 } } ] } },
      { "name": "keep appends the mapped orders", "node": "keep",
        "given": { "vars": { "orders": [ { "id": 0 } ],
                             "reply": { "body": { "orders": [ { "id": 1, "total": 9.5, "x": true } ] } } } },
        "expect": { "exit": "ok", "vars": { "orders": [ { "id": 0 }, { "id": 1, "total": 9.5 } ] } } },
      { "name": "login writes the stand-in sign-in", "node": "login",
        "given": { "now": "2026-11-23T09:00:00+01:00" },
        "expect": { "exit": "ok", "vars": { "auth": { "profile": "shop", "token_type": "Bearer",
                    "expires_at": "2026-11-23T09:00:00Z", "scopes": [] } } } },
      { "name": "a 500 takes the error exit with the status", "node": "list",
        "http": [ { "request": { "url_prefix": "https://shop.example.com/" },
                    "response": { "status": 500, "body": "oops" } } ],
        "expect": { "exit": "error", "vars": { "error": { "node": "list", "status": 500 },
                                               "reply": { "status": 500, "body": "oops" } } } },
      { "name": "the whole flow with one order", "given": { "params": { "limit": 5 } },
        "http": [ { "request": { "method": "GET", "url": "https://shop.example.com/api/orders?limit=5" },
                    "times": 1,
                    "response": { "json": { "orders": [ { "id": 4, "total": 1 } ] } } } ],
        "expect": { "status": "succeeded", "result": [ { "id": 4, "total": 1.0 } ] } }
    ])
}

fn weft(args: &[&str], dir: &Path) -> Outcome {
    Weft::new(dir, args).run()
}

/// A folder with the flow and a test file holding `cases`.
fn setup(cases: Value) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("flows")).unwrap();
    std::fs::write(dir.path().join("flows/orders.flow.json"), FLOW).unwrap();
    let tests = dir.path().join("tests");
    std::fs::create_dir(&tests).unwrap();
    let file = tests.join("orders.test.json");
    let test =
        json!({ "format": "weft.test/1", "flow": "../flows/orders.flow.json", "cases": cases });
    std::fs::write(&file, serde_json::to_string_pretty(&test).unwrap()).unwrap();
    (dir, file)
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or_default()
}

#[test]
fn passing_cases_pass() {
    let (dir, _) = setup(passing_cases());
    let out = weft(&["test", "tests/orders.test.json"], dir.path());
    out.assert_code(0);
    for case in passing_cases().as_array().unwrap() {
        let line = format!("✓ {}", case["name"].as_str().unwrap());
        assert!(out.stdout.lines().any(|l| l == line), "{line} missing:\n{}", out.stdout);
    }
    assert_eq!(last_line(&out.stdout), "6 passed, 0 failed");
}

#[test]
fn a_wrong_expectation_fails_with_the_path_expected_and_actual() {
    let mut cases = passing_cases();
    cases[2]["expect"]["vars"]["orders"][1]["total"] = json!(10);
    cases[0]["expect"]["exit"] = json!("error");
    let (dir, _) = setup(cases);
    let out = weft(&["test", "tests"], dir.path());
    out.assert_code(1);
    assert!(out.stdout.contains("✗ keep appends the mapped orders"), "{}", out.stdout);
    assert!(out.stdout.contains("vars.orders[1].total"), "{}", out.stdout);
    assert!(out.stdout.contains("expected: 10"), "{}", out.stdout);
    assert!(out.stdout.contains("actual: 9.5"), "{}", out.stdout);
    assert!(out.stdout.contains("✗ list sends the limit and the bearer token"), "{}", out.stdout);
    assert_eq!(last_line(&out.stdout), "4 passed, 2 failed");
}

/// A case that expected the run to fail, and it did, but its result differs: the reason the run
/// failed used to go unsaid, though it is the likeliest cause (a newcomer's `end` whose result
/// read a member of a text body).
#[test]
fn a_whole_flow_case_with_the_expected_failure_but_another_result_says_why_it_failed() {
    let (dir, _) = setup(json!([
      { "name": "the whole flow fails", "given": { "params": { "limit": 5 } },
        "http": [ { "request": { "url_prefix": "https://shop.example.com/" },
                    "response": { "status": 500, "body": "oops" } } ],
        "expect": { "status": "failed", "result": { "reason": "x" } } }
    ]));
    let out = weft(&["test", "tests"], dir.path());
    out.assert_code(1);
    assert!(out.stdout.contains("note: the run failed: vars.error = "), "{}", out.stdout);
    assert!(out.stdout.contains("HTTP 500"), "{}", out.stdout);
}

#[test]
fn an_unmatched_request_fails_the_case_and_shows_the_request() {
    let cases = json!([
      { "name": "wrong host", "node": "list",
        "http": [ { "request": { "method": "GET", "url_prefix": "https://other.example.com/" },
                    "response": { "json": {} } } ],
        "expect": { "exit": "error" } }
    ]);
    let (dir, _) = setup(cases);
    let out = weft(&["test", "tests/orders.test.json"], dir.path());
    out.assert_code(1);
    assert!(out.stdout.contains("✗ wrong host"), "{}", out.stdout);
    assert!(out.stdout.contains("no canned response matches"), "{}", out.stdout);
    assert!(
        out.stdout.contains("GET https://shop.example.com/api/orders?limit=2"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "sent url https://shop.example.com/api/orders?limit=2, the entry expects a url starting with https://other.example.com/"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(last_line(&out.stdout), "0 passed, 1 failed");
}

#[test]
fn unmatched_canned_requests_read_what_was_sent_then_what_was_expected() {
    let cases = json!([
      { "name": "wrong url", "node": "list",
        "http": [ { "request": { "method": "GET", "url": "https://shop.example.com/api/orders?limit=3" },
                    "response": { "json": {} } },
                  { "request": { "method": "GET", "headers": { "accept": "text/csv" } },
                    "response": { "json": {} } },
                  { "request": { "method": "POST" }, "response": { "json": {} } } ],
        "expect": { "exit": "error" } }
    ]);
    let (dir, _) = setup(cases);
    let out = weft(&["test", "tests/orders.test.json"], dir.path());
    out.assert_code(1);
    for said in [
        "sent url https://shop.example.com/api/orders?limit=2, the entry expects https://shop.example.com/api/orders?limit=3",
        "sent no `accept` header, the entry expects \"text/csv\"",
        "sent method GET, the entry expects POST",
    ] {
        assert!(out.stdout.contains(said), "{said}\n{}", out.stdout);
    }
}

#[test]
fn an_api_key_in_the_query_shows_in_no_report() {
    let dir = tempfile::tempdir().unwrap();
    let flow = json!({ "format": "weft.flow/1", "start": "get", "nodes": [
        { "id": "get", "type": "http_request", "method": "GET", "auth": "key",
          "url": "https://api.test/data", "query": { "page": "1" } },
        { "id": "done", "type": "end", "result": "vars.response.body" } ],
        "edges": [ { "from": "get", "to": "done" } ] });
    let profiles = json!({ "format": "weft.profiles/1", "profiles": {
        "key": { "type": "api_key", "value": "SUPERSECRETKEY123", "query": "subscription",
                 "hosts": ["api.test"] } } });
    let cases = json!([
      { "name": "answered", "node": "get",
        "http": [ { "request": { "method": "GET",
                                 "url": "https://api.test/data?page=1&subscription=SUPERSECRETKEY123" },
                    "response": { "json": { "ok": true } } } ],
        "expect": { "exit": "ok" } },
      { "name": "unanswered", "node": "get",
        "http": [ { "request": { "url_prefix": "https://elsewhere.test/" },
                    "response": { "json": {} } } ],
        "expect": { "exit": "ok" } }
    ]);
    let test = json!({ "format": "weft.test/1", "flow": "key.flow.json",
                       "profiles": "profiles.json", "cases": cases });
    std::fs::write(dir.path().join("key.flow.json"), flow.to_string()).unwrap();
    std::fs::write(dir.path().join("profiles.json"), profiles.to_string()).unwrap();
    std::fs::write(dir.path().join("key.test.json"), test.to_string()).unwrap();
    for format in ["text", "junit"] {
        let out = weft(&["test", "key.test.json", "--format", format], dir.path());
        out.assert_code(1);
        // The key was sent (the first case matched on it) and is shown nowhere.
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(all.contains("subscription=%5Bredacted%5D"), "{all}");
        assert!(!all.contains("SUPERSECRETKEY123"), "{all}");
        if format == "text" {
            assert!(out.stdout.contains("✓ answered"), "{}", out.stdout);
            assert_eq!(last_line(&out.stdout), "1 passed, 1 failed");
        }
    }
}

#[test]
fn times_limits_how_often_an_entry_answers() {
    let cases = json!([
      { "name": "second request unanswered", "node": "list",
        "http": [ { "request": { "url_prefix": "https://shop.example.com/" }, "times": 1,
                    "response": { "status": 503, "headers": { "retry-after": "0" } } } ],
        "expect": { "exit": "error" } }
    ]);
    let (dir, _) = setup(cases);
    let out = weft(&["test", "tests"], dir.path());
    out.assert_code(1);
    assert!(out.stdout.contains("used up (1 times)"), "{}", out.stdout);
}

#[test]
fn wrong_request_expectations_are_reported() {
    let mut cases = passing_cases();
    cases[1]["expect"]["requests"][0]["json"]["qty"] = json!(4);
    cases[1]["expect"]["requests"][0]["headers"] = json!({ "x-missing": "1" });
    let (dir, _) = setup(json!([cases[1].clone()]));
    let out = weft(&["test"], dir.path());
    out.assert_code(1);
    assert!(out.stdout.contains("requests[0].json.qty"), "{}", out.stdout);
    assert!(out.stdout.contains("requests[0].headers.x-missing"), "{}", out.stdout);
}

#[test]
fn filter_runs_only_matching_cases() {
    let (dir, _) = setup(passing_cases());
    let out = weft(&["test", "--filter", "whole flow", "tests"], dir.path());
    out.assert_code(0);
    assert!(out.stdout.contains("✓ the whole flow with one order"));
    assert!(!out.stdout.contains("✓ keep"));
    assert_eq!(last_line(&out.stdout), "1 passed, 0 failed");
}

#[test]
fn folders_are_searched_recursively() {
    let (dir, file) = setup(passing_cases());
    let nested = dir.path().join("tests/deeper/still");
    std::fs::create_dir_all(&nested).unwrap();
    let mut test: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    test["flow"] = json!("../../../flows/orders.flow.json");
    std::fs::write(nested.join("more.test.json"), test.to_string()).unwrap();
    std::fs::write(nested.join("ignored.json"), "not a test").unwrap();
    let out = weft(&["test", "."], dir.path());
    out.assert_code(0);
    assert_eq!(last_line(&out.stdout), "12 passed, 0 failed");
}

fn malformed(test: Value) -> Outcome {
    let (dir, file) = setup(json!([]));
    std::fs::write(&file, serde_json::to_string_pretty(&test).unwrap()).unwrap();
    let out = weft(&["test", "tests"], dir.path());
    drop(dir);
    out
}

#[test]
fn malformed_files_exit_2_naming_the_file_and_pointer() {
    let flow = "../flows/orders.flow.json";
    let out = malformed(json!({ "format": "weft.test/1", "flow": flow,
        "cases": [ { "name": "a", "expect": {} }, { "name": "b", "expectt": {} } ] }));
    out.assert_code(2);
    assert!(out.stderr.contains("orders.test.json"), "{}", out.stderr);
    assert!(out.stderr.contains("/cases/1/expectt"), "{}", out.stderr);

    let out = malformed(json!({ "format": "weft.test/1", "flow": flow,
        "cases": [ { "name": "a", "node": "nope" } ] }));
    out.assert_code(2);
    assert!(out.stderr.contains("/cases/0/node"), "{}", out.stderr);
    assert!(out.stderr.contains("nope"), "{}", out.stderr);

    let out = malformed(json!({ "format": "weft.test/2", "flow": flow, "cases": [] }));
    out.assert_code(2);
    assert!(out.stderr.contains("/format"), "{}", out.stderr);

    let out =
        malformed(json!({ "format": "weft.test/1", "flow": "missing.flow.json", "cases": [] }));
    out.assert_code(2);
    assert!(out.stderr.contains("/flow"), "{}", out.stderr);

    let out = malformed(json!({ "format": "weft.test/1", "flow": flow,
        "cases": [ { "name": "a", "given": { "now": "yesterday" } } ] }));
    out.assert_code(2);
    assert!(out.stderr.contains("/cases/0/given/now"), "{}", out.stderr);

    let out = malformed(json!({ "format": "weft.test/1", "flow": flow,
        "cases": [ { "name": "a", "given": { "params": { "limit": "ten" } } } ] }));
    out.assert_code(2);
    assert!(out.stderr.contains("/cases/0/given/params/limit"), "{}", out.stderr);

    let out = malformed(json!({ "format": "weft.test/1", "flow": flow,
        "cases": [ { "name": "a", "http": [ { "request": { "method": "GET" }, "response": { "status": "200" } } ] } ] }));
    out.assert_code(2);
    assert!(out.stderr.contains("/cases/0/http/0/response/status"), "{}", out.stderr);
}

#[test]
fn every_problem_of_a_malformed_file_is_reported_not_just_the_first() {
    let out = malformed(json!({ "format": "weft.test/1", "flow": "../flows/orders.flow.json",
        "profiles": "nowhere.json",
        "cases": [
            { "name": "a", "node": "nope", "given": { "now": "yesterday" } },
            { "name": "b", "http": [ { "request": { "method": "GET" }, "response": { "status": 99 }, "times": 0 } ] }
        ] }));
    out.assert_code(2);
    for pointer in [
        "/profiles",
        "/cases/0/node",
        "/cases/0/given/now",
        "/cases/1/http/0/response/status",
        "/cases/1/http/0/times",
    ] {
        assert!(out.stderr.contains(&format!("at {pointer}:")), "{pointer} in {}", out.stderr);
    }
    assert_eq!(out.stderr.matches("error: malformed test file").count(), 5, "{}", out.stderr);
    assert_eq!(last_line(&out.stdout), "0 passed, 0 failed, 1 file malformed");
}

#[test]
fn a_malformed_file_was_summed_up_as_0_passed_0_failed() {
    let out = malformed(json!({ "format": "weft.test/1", "flow": "../flows/orders.flow.json",
        "cases": [ { "name": "a", "node": "nope" } ] }));
    out.assert_code(2);
    assert_eq!(last_line(&out.stdout), "0 passed, 0 failed, 1 file malformed");
}

#[test]
fn invalid_json_exits_2_with_a_position() {
    let (dir, file) = setup(json!([]));
    std::fs::write(&file, "{ \"format\": \"weft.test/1\",\n  \"cases\": [ }").unwrap();
    let out = weft(&["test", "tests"], dir.path());
    out.assert_code(2);
    assert!(out.stderr.contains("orders.test.json:2:"), "{}", out.stderr);
}

/// A key given twice used to be read as its last value.
#[test]
fn regression_duplicate_keys_and_a_byte_order_mark_in_a_test_file_are_named() {
    let (dir, file) = setup(json!([]));
    std::fs::write(
        &file,
        "{ \"format\": \"weft.test/1\", \"flow\": \"../flows/orders.flow.json\",\n  \"cases\": [],\n  \"flow\": \"../flows/other.flow.json\" }",
    )
    .unwrap();
    let out = weft(&["test", "tests"], dir.path());
    out.assert_code(2);
    assert!(
        out.stderr.contains(
            "orders.test.json:3:3: at /flow: duplicate key `flow` at /flow: first at line 1, \
             column 28, again at line 3, column 3"
        ),
        "{}",
        out.stderr
    );
    std::fs::write(&file, b"\xEF\xBB\xBF{ \"format\": \"weft.test/1\" }").unwrap();
    let out = weft(&["test", "tests"], dir.path());
    out.assert_code(2);
    assert!(
        out.stderr.contains("the file starts with a UTF-8 byte order mark; save it without one"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_missing_path_exits_2() {
    let (dir, _) = setup(json!([]));
    let out = weft(&["test", "nowhere"], dir.path());
    out.assert_code(2);
    assert!(out.stderr.contains("nowhere"));
}

/// Checks that `xml` is a sequence of properly nested elements (enough to catch broken output).
fn assert_well_formed(xml: &str) {
    let body =
        xml.strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n").expect("declaration");
    let mut stack: Vec<String> = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find('<') {
        let text = &rest[..start];
        assert!(!text.contains('>'), "stray > in {text:?}");
        let end = rest[start..].find('>').expect("unclosed tag") + start;
        let tag = &rest[start + 1..end];
        assert!(!tag.contains('<'), "< inside a tag: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().unwrap().to_owned());
        }
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    assert!(rest.trim().is_empty());
}

#[test]
fn junit_goes_to_stdout_and_is_well_formed() {
    let mut cases = passing_cases();
    cases[2]["name"] = json!("keep <orders> & \"totals\"");
    cases[2]["expect"]["vars"]["orders"][1]["total"] = json!(10);
    let (dir, _) = setup(cases);
    let out = weft(&["test", "--format", "junit", "tests"], dir.path());
    out.assert_code(1);
    assert_well_formed(&out.stdout);
    assert!(out.stdout.contains("<testsuites name=\"weft test\" tests=\"6\" failures=\"1\""));
    assert_eq!(out.stdout.matches("<testcase ").count(), 6);
    assert_eq!(out.stdout.matches("<failure ").count(), 1);
    assert!(out.stdout.contains("keep &lt;orders&gt; &amp; &quot;totals&quot;"));
    // The text report moves to stderr.
    assert_eq!(last_line(&out.stderr), "5 passed, 1 failed");
}

#[test]
fn junit_out_writes_a_file_and_keeps_text_on_stdout() {
    let (dir, _) = setup(passing_cases());
    let out = weft(&["test", "--format", "junit", "--out", "report.xml", "tests"], dir.path());
    out.assert_code(0);
    assert_eq!(last_line(&out.stdout), "6 passed, 0 failed");
    let xml = std::fs::read_to_string(dir.path().join("report.xml")).unwrap();
    assert_well_formed(&xml);
    assert!(!xml.contains("<failure"));
}

#[test]
fn junit_reports_a_malformed_file_as_an_error() {
    let (dir, file) = setup(json!([]));
    std::fs::write(&file, r#"{ "format": "weft.test/1", "flow": "x.json", "cases": [] }"#).unwrap();
    let out = weft(&["test", "--format", "junit", "tests"], dir.path());
    out.assert_code(2);
    assert_well_formed(&out.stdout);
    assert!(out.stdout.contains("<error "), "{}", out.stdout);
}

#[test]
fn test_schema_is_printed() {
    let out = weft(&["schema", "test"], Path::new("."));
    out.assert_code(0);
    let schema: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(schema["properties"]["cases"].is_object());
}

#[test]
fn the_shipped_flow_tests_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = weft(&["test", "flows"], root);
    out.assert_code(0);
    let summary = last_line(&out.stdout);
    let passed: usize = summary.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 12, "{summary}");
    assert!(summary.ends_with(" passed, 0 failed"));
    // No secret of the test profiles shows, ever.
    assert!(!out.stdout.contains("not-a-real-secret"));
}

/// `weft run` and `weft test` give a flow the same parameters: a required parameter must be
/// given even when it has a default (which is then never used), and an optional one without a
/// default is left out, not `null`.
#[test]
fn parameters_follow_one_rule_in_weft_run_and_weft_test() {
    let flow = json!({ "format": "weft.flow/1", "start": "e",
        "parameters": { "pinned": { "type": "integer", "required": true, "default": 1 },
                        "maybe": { "type": "string", "required": false } },
        "nodes": [ { "id": "e", "type": "end",
                     "result": "#{ pinned: params.pinned, maybe_given: \"maybe\" in params }" } ] });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.flow.json"), flow.to_string()).unwrap();

    let run = weft(&["run", "p.flow.json"], dir.path());
    run.assert_code(2);
    assert!(run.stderr.contains("parameter `pinned` is required"), "{}", run.stderr);
    let run = weft(&["run", "p.flow.json", "--param", "pinned=5"], dir.path());
    run.assert_code(0);
    let expected = json!({ "pinned": 5, "maybe_given": false });
    assert_eq!(serde_json::from_str::<Value>(&run.stdout).unwrap(), expected);

    let cases = |given: Value| {
        json!({ "format": "weft.test/1", "flow": "p.flow.json", "cases": [
            { "name": "whole flow", "given": given, "expect": { "status": "succeeded", "result": expected } } ] })
    };
    std::fs::write(
        dir.path().join("given.test.json"),
        cases(json!({ "params": { "pinned": 5 } })).to_string(),
    )
    .unwrap();
    let test = weft(&["test", "given.test.json"], dir.path());
    test.assert_code(0);
    std::fs::write(dir.path().join("missing.test.json"), cases(json!({})).to_string()).unwrap();
    let test = weft(&["test", "missing.test.json"], dir.path());
    assert_ne!(test.code, Some(0), "{}{}", test.stdout, test.stderr);
    let all = format!("{}{}", test.stdout, test.stderr);
    assert!(all.contains("parameter `pinned` is required"), "{all}");
}

/// `--sim`: a whole-flow case with nothing canned runs the shipped Graph flow against the
/// simulator, signing in with its app for real; node cases and canned cases run as without it.
#[test]
fn with_sim_a_whole_flow_case_with_nothing_canned_runs_against_the_simulator() {
    let dir = crate::util::Dir::new();
    for name in ["graph-calendar.flow.json", "profiles.json"] {
        std::fs::copy(crate::util::flows().join(name), dir.join(name)).unwrap();
    }
    let params = json!({ "user": "adele@weft.test", "from": "2026-11-30T00:00:00Z",
                         "to": "2026-12-07T00:00:00Z" });
    // What the same flow returns from the simulator when run.
    let mut run = vec!["run".to_owned(), "graph-calendar.flow.json".into(), "--sim".into()];
    for (name, value) in params.as_object().unwrap() {
        run.extend(["--param".into(), format!("{name}={}", value.as_str().unwrap())]);
    }
    let out = dir.weft(&run);
    out.assert_code(0);
    let events: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(events.as_array().is_some_and(|e| e.len() > 1), "{events}");

    let whole = |name: &str, result: Value| {
        json!({ "name": name, "given": { "params": params },
                "expect": { "status": "succeeded", "result": result } })
    };
    let test = json!({ "format": "weft.test/1", "flow": "graph-calendar.flow.json", "cases": [
        whole("the week from the simulator", events.clone()),
        whole("a wrong expectation still fails", json!([])),
        { "name": "sign_in alone keeps the stand-in", "node": "sign_in",
          "expect": { "exit": "ok", "vars": { "auth": { "profile": "graph-app" } } } }
    ] });
    dir.write("calendar.test.json", test.to_string());
    let out = dir.weft(["test", "--sim", "calendar.test.json"]);
    out.assert_code(1);
    assert!(out.stdout.contains("✓ the week from the simulator"), "{}", out.stdout);
    assert!(out.stdout.contains("✗ a wrong expectation still fails"), "{}", out.stdout);
    assert!(out.stdout.contains("✓ sign_in alone keeps the stand-in"), "{}", out.stdout);
    assert!(out.stdout.contains("Café with Zoë"), "the diff shows the simulator's data");
    assert!(!out.stdout.contains(weft_sim::APP_CLIENT_SECRET), "{}", out.stdout);
    assert_eq!(last_line(&out.stdout), "2 passed, 1 failed");

    // Without it, the first request of the whole flow finds nothing canned.
    let out = dir.weft(["test", "calendar.test.json"]);
    assert!(out.stdout.contains("✗ the week from the simulator"), "{}", out.stdout);
    assert!(out.stdout.contains("no canned response"), "{}", out.stdout);
    assert!(out.stdout.contains("with `weft test --sim`"), "{}", out.stdout);

    // The simulator's app stands in for profiles of a file: without one, the case says so.
    std::fs::remove_file(dir.join("profiles.json")).unwrap();
    let out = dir.weft(["test", "--sim", "calendar.test.json"]);
    assert!(out.stdout.contains("needs a profiles file"), "{}", out.stdout);
}
