//! The node in flows, and the fast path against the general path (Rhai, then shaping) on the
//! same input: same items, or the same error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::{JsonImport, JsonImportConfig};
use crate::expr::{ExprEngine, ExprScope, dynamic_to_json, parse_json};
use crate::kind::CompileCx;
use crate::vars::{JsonText, VarPath, Vars};
use proptest::prelude::*;
use rhai::{Dynamic, Map};
use serde_json::{Value, json};
use weft::testing::check_case;

fn flow(node: Value) -> Value {
    json!({ "format": "weft.flow/1", "start": "i", "nodes": [ node ] })
}

#[test]
fn text_is_parsed_selected_mapped_and_shaped() {
    let flow = flow(
        json!({ "id": "i", "type": "json_import", "from": "vars.text", "select": "/data/items",
        "map": "#{ n: item.n, when: item.at, tag: item.tag }",
        "fields": { "n": "integer", "when": "datetime", "tag": "string?" }, "into": "out" }),
    );
    check_case(&flow, &json!({ "name": "shape", "node": "i",
        "given": { "vars": { "text": "{\"data\":{\"items\":[{\"n\":\"7\",\"at\":{\"dateTime\":\"2026-01-05T08:00:00\",\"timeZone\":\"Tokyo Standard Time\"}}]}}" } },
        "expect": { "exit": "ok", "vars": { "out": [ { "n": 7, "when": "2026-01-04T23:00:00Z", "tag": null } ] } } }))
    .unwrap();
}

#[test]
fn append_to_extends_and_failures_write_nothing() {
    let flow = flow(json!({ "id": "i", "type": "json_import", "from": "vars.doc",
        "fields": { "id": "integer" }, "append_to": "all" }));
    check_case(
        &flow,
        &json!({ "name": "append", "node": "i",
        "given": { "vars": { "all": [ { "id": 1 } ], "doc": [ { "id": 2, "x": 0 } ] } },
        "expect": { "exit": "ok", "vars": { "all": [ { "id": 1 }, { "id": 2 } ] } } }),
    )
    .unwrap();
    check_case(
        &flow,
        &json!({ "name": "bad item", "node": "i",
        "given": { "vars": { "all": [], "doc": [ { "id": 2 }, { "id": "x" } ] } },
        "expect": { "exit": "error", "vars": { "all": [],
            "error": { "type": "json_import", "category": "import" } } } }),
    )
    .unwrap();
}

#[test]
fn items_in_vars_are_imported_in_place_with_the_same_errors() {
    let flow = flow(json!({ "id": "i", "type": "json_import", "from": "vars.page.items",
        "map": "#{ id: item.id, start: item.start, who: item.organizer?.emailAddress?.address }",
        "fields": { "id": "string", "start": "datetime", "who": "string?" }, "into": "events" }));
    let start = json!({ "dateTime": "2026-01-05T08:00:00", "timeZone": "Tokyo Standard Time" });
    check_case(&flow, &json!({ "name": "in place", "node": "i",
        "given": { "vars": { "page": { "items": [ { "id": 1, "start": start, "x": [1] },
            { "id": "b", "start": "2026-01-05T08:00:00Z", "organizer": { "emailAddress": { "address": "o@x" } } } ] } } },
        "expect": { "exit": "ok", "vars": { "events": [
            { "id": "1", "start": "2026-01-04T23:00:00Z", "who": null },
            { "id": "b", "start": "2026-01-05T08:00:00Z", "who": "o@x" } ] } } }))
    .unwrap();
    check_case(&flow, &json!({ "name": "bad start", "node": "i",
        "given": { "vars": { "events": "before", "page": { "items": [ { "id": 1, "start": start }, { "id": 2, "start": 5 } ] } } },
        "expect": { "exit": "error", "vars": { "events": "before", "error": { "category": "import",
            "message": "/1/start: expected datetime: found integer" } } } }))
    .unwrap();
    check_case(
        &flow,
        &json!({ "name": "not a list", "node": "i",
        "given": { "vars": { "page": { "items": { "id": 1 } } } },
        "expect": { "exit": "error", "vars": { "error": { "category": "import",
            "message": "`/` is object, not a list" } } } }),
    )
    .unwrap();
}

const CALENDAR: &str = "#{ id: item.id, subject: item.subject, start: item.start, end: item.end, is_all_day: item.isAllDay, location: item.location?.displayName, organizer: item.organizer?.emailAddress?.address }";

#[test]
fn from_that_gives_nothing_says_so_and_where_the_path_ran_out() {
    // Was: "`/value` is not in the document", about a document that was never there.
    let flow = flow(json!({ "id": "i", "type": "json_import", "from": "vars.resp.bdy",
        "select": "/value", "into": "out" }));
    let resp = json!({ "status": 200, "headers": {}, "body": { "value": [] } });
    check_case(&flow, &json!({ "name": "typo", "node": "i", "given": { "vars": { "resp": resp } },
        "expect": { "exit": "error", "vars": { "error": { "category": "import", "message":
            "`from` (`vars.resp.bdy`) gave () (null, or nothing there): `vars.resp` has no member `bdy`; it has: body, headers, status" } } } }))
    .unwrap();
    let flow = self::flow(json!({ "id": "i", "type": "json_import", "from": "vars.resp",
        "into": "out" }));
    check_case(&flow, &json!({ "name": "no resp", "node": "i", "given": { "vars": { "x": 1 } },
        "expect": { "exit": "error", "vars": { "error": { "message":
            "`from` (`vars.resp`) gave () (null, or nothing there): `vars` has no member `resp`; it has: x" } } } }))
    .unwrap();
    let flow = self::flow(json!({ "id": "i", "type": "json_import",
        "from": "vars.resp?.bdy", "into": "out" }));
    check_case(
        &flow,
        &json!({ "name": "an expression", "node": "i",
        "expect": { "exit": "error", "vars": { "error": { "message":
            "`from` (`vars.resp?.bdy`) gave () (null, or nothing there)" } } } }),
    )
    .unwrap();
}

fn calendar_fields() -> Value {
    json!({ "id": "string", "subject": "string", "start": "datetime", "end": "datetime",
            "is_all_day": "boolean", "location": "string?", "organizer": "string?" })
}

struct Case {
    engine: ExprEngine,
    node: JsonImport,
    /// The same node with neither the plan nor the native field mapping: every `map` by
    /// Rhai itself.
    by_rhai: JsonImport,
}

impl Case {
    fn new(map: Option<&str>, fields: Option<Value>, select: Option<&str>) -> Self {
        let engine = ExprEngine::new();
        let mut config = json!({ "from": "vars.page.items", "into": "out" });
        if let Some(map) = map {
            config["map"] = json!(map);
        }
        if let Some(fields) = fields {
            config["fields"] = fields;
        }
        if let Some(select) = select {
            config["select"] = json!(select);
        }
        let compile = |config: &Value| {
            let config: JsonImportConfig = serde_json::from_value(config.clone()).unwrap();
            let mut diagnostics = Vec::new();
            config.compile(&mut CompileCx::new(&engine, "i", "/nodes/0", &mut diagnostics)).unwrap()
        };
        let node = compile(&config);
        let mut by_rhai = compile(&config);
        by_rhai.native = None;
        by_rhai.plan = None;
        Self { engine, node, by_rhai }
    }

    /// With `fast`, the node as it runs; otherwise Rhai for every item.
    fn run(&self, document: Dynamic, fast: bool) -> Result<Value, String> {
        let mut scope =
            ExprScope::new(Dynamic::from_map(Map::new()), Dynamic::from_map(Map::new()));
        let node = if fast { &self.node } else { &self.by_rhai };
        node.import_document(document, fast, &mut |map, item, index| {
            let index = Dynamic::from_int(index as rhai::INT);
            self.engine.eval_with(map, &mut scope, [("item", item), ("index", index)])
        })
        .map(|items| dynamic_to_json(&Dynamic::from_array(items)).unwrap())
        .map_err(|e| e.message)
    }

    /// Every way in agrees with the general path on `text`, a document holding the items at
    /// `/value`; returns the general path's answer, and whether the plan took the text.
    fn check(&self, text: &str) -> (Result<Value, String>, bool) {
        let general = self.run(Dynamic::from(text.to_owned()), false);
        assert_eq!(self.run(Dynamic::from(text.to_owned()), true), general, "text: {text}");
        let planned = self.node.plan.as_ref().expect("a plan");
        let tokens = self.node.select.as_ref().map(|p| p.tokens()).unwrap_or_default();
        let took = planned.text(text, tokens);
        if let Some(items) = &took {
            let items = dynamic_to_json(&Dynamic::from_array(items.clone())).unwrap();
            assert_eq!(Ok(items), general, "plan on text: {text}");
        }
        // The same document already parsed, and in `vars`, read in place.
        let Ok(parsed) = parse_json(text.as_bytes()) else {
            return (general, took.is_some());
        };
        let general_parsed = self.run(parsed.clone(), false);
        assert_eq!(self.run(parsed.clone(), true), general_parsed, "parsed: {text}");
        if let Ok(items) = &general {
            assert_eq!(general_parsed.as_ref(), Ok(items), "text vs parsed: {text}");
        }
        let mut page = Map::new();
        page.insert("items".into(), parsed);
        let mut root = Map::new();
        root.insert("page".into(), Dynamic::from_map(page));
        if let Some(items) = self.node.import_in_place(&Vars::new(root)) {
            let items = dynamic_to_json(&Dynamic::from_array(items)).unwrap();
            assert_eq!(Ok(items), general_parsed, "in place: {text}");
        }
        // The same document waiting in `vars` as JSON text, as a response body may.
        let waiting = Vars::new(Map::new());
        let json = JsonText::new(text.as_bytes().to_vec()).expect("parsed, so it checks");
        waiting.set_json_text(&VarPath::parse("page.items").unwrap(), json).unwrap();
        if let Some(items) = self.node.import_in_place(&waiting) {
            let items = dynamic_to_json(&Dynamic::from_array(items)).unwrap();
            assert_eq!(Ok(items), general_parsed, "waiting as text: {text}");
        }
        (general, took.is_some())
    }
}

fn page(items: &[&str]) -> String {
    format!("{{\"@odata.context\": \"x\", \"value\": [{}], \"after\": [1]}}", items.join(","))
}

const EVENT: &str = r#"{"@odata.etag": "W/\"1\"", "id": "AAMk1", "subject": "Standup ✨",
        "bodyPreview": "x", "start": {"dateTime": "2026-11-01T08:00:00.0000000", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2026-11-01T08:30:00.0000000", "timeZone": "W. Europe Standard Time"},
        "isAllDay": false, "location": {"displayName": "Room 4", "locationType": "default"},
        "organizer": {"emailAddress": {"name": "Adele", "address": "adele@contoso.test"}},
        "attendees": [{"type": "required", "emailAddress": {"address": "m@x"}}]}"#;

/// `EVENT` with members replaced (`"key": value` pairs appended: JSON's last one counts).
fn event(extra: &str) -> String {
    format!("{}, {extra}}}", EVENT.trim_end().strip_suffix('}').unwrap())
}

fn tricky() -> Vec<String> {
    let mut items: Vec<String> = [
        "\"location\": null, \"organizer\": {\"emailAddress\": null}",
        "\"organizer\": {}",
        "\"organizer\": \"text\"",
        "\"organizer\": {\"emailAddress\": \"text\"}",
        "\"organizer\": {\"emailAddress\": [1, 2]}",
        "\"organizer\": 5",
        "\"location\": {\"displayName\": 5}",
        "\"location\": {\"displayName\": 2.5}",
        "\"location\": {\"displayName\": [1]}",
        "\"location\": {\"displayName\": {\"a\": 1}}",
        "\"location\": []",
        "\"id\": 12",
        "\"id\": 1.5",
        "\"id\": 1e3",
        "\"id\": -0.0",
        "\"id\": 9223372036854775808",
        "\"id\": true",
        "\"id\": null",
        "\"id\": {}",
        "\"isAllDay\": \"true\"",
        "\"isAllDay\": \"yes\"",
        "\"isAllDay\": 1",
        "\"start\": \"2026-11-01T08:00:00Z\"",
        "\"start\": \"2026-11-01\"",
        "\"start\": \"tomorrow\"",
        "\"start\": 5",
        "\"start\": null",
        "\"start\": [\"2026-11-01T08:00:00Z\"]",
        "\"start\": {\"dateTime\": \"bad\", \"timeZone\": \"UTC\"}",
        "\"start\": {\"timeZone\": \"UTC\"}",
        "\"start\": {\"dateTime\": 5, \"timeZone\": \"UTC\"}",
        "\"start\": {\"dateTime\": \"2026-11-01T08:00:00\", \"timeZone\": 5}",
        "\"start\": {\"dateTime\": \"2026-11-01T08:00:00\"}",
        "\"start\": {\"dateTime\": \"2026-11-01T08:00:00\", \"timeZone\": \"Mars Standard Time\"}",
        "\"start\": {\"dateTime\": \"2026-11-01T08:00:00+02:00\", \"timeZone\": \"Tokyo Standard Time\"}",
        "\"start\": {\"dateTime\": \"2026-03-29T02:30:00\", \"timeZone\": \"Europe/Berlin\"}",
        "\"start\": {\"dateTime\": \"2026-11-01T08:00:00\\u002e5\", \"timeZone\": \"UTC\", \"timeZone\": \"Tokyo\\u0020Standard Time\"}",
        "\"start\": {\"dateTime\": \"2026-11-01T08:00:00\", \"dateTime\": null}",
        "\"start\": \"2026-11-01T08:00:00Z\", \"start\": {\"dateTime\": \"2026-11-02T08:00:00\", \"timeZone\": \"UTC\"}",
        "\"organizer\": {\"emailAddress\": {\"address\": \"a@x\"}}, \"organizer\": {}",
        "\"organizer\": {\"emailAddress\": {\"address\": \"a@x\"}, \"emailAddress\": {\"name\": \"n\"}}",
        "\"subject\": \"line\\nnext \\u00e9 \\ud83d\\ude00 \\\"q\\\"\"",
        "\"s\\u0075bject\": \"escaped key\"",
        "\"subject\": \"\"",
        "\"location\": {\"displayName\": \"R\", \"nested\": {\"deep\": [1, [2, [3, {\"x\": null}]]]}}",
    ]
    .iter()
    .map(|extra| event(extra))
    .collect();
    items.extend(["5", "null", "\"s\"", "[1]", "{}", "{\"id\": \"only\"}"].map(str::to_owned));
    items.push(EVENT.to_owned());
    items
}

#[test]
fn the_calendar_import_is_planned_and_agrees() {
    let case = Case::new(Some(CALENDAR), Some(calendar_fields()), Some("/value"));
    let (result, took) = case.check(&page(&[EVENT, EVENT]));
    assert!(took, "the plan reads the calendar page");
    assert_eq!(
        result.unwrap()[0],
        json!({ "id": "AAMk1", "subject": "Standup ✨", "start": "2026-11-01T16:00:00Z",
                "end": "2026-11-01T07:30:00Z", "is_all_day": false, "location": "Room 4",
                "organizer": "adele@contoso.test" })
    );
}

#[test]
fn tricky_items_agree_one_by_one_and_together() {
    let maps: [(Option<&str>, Option<Value>); 7] = [
        (Some(CALENDAR), Some(calendar_fields())),
        (Some(CALENDAR), None),
        (
            Some(
                "#{ n: index, id: item.id, deep: item.organizer.emailAddress.address, opt: item.nothing?.a.b, x: item?.nope }",
            ),
            None,
        ),
        (
            None,
            Some(
                json!({ "id": "string", "start": "datetime?", "isAllDay": "boolean?", "location": "object?", "attendees": "array?" }),
            ),
        ),
        (
            Some("#{ id: item.id, extra: item.organizer.emailAddress.address }"),
            Some(json!({ "id": "string" })),
        ),
        (
            Some("#{ s: item.start, dt: item.start.dateTime, tz: item.start?.timeZone }"),
            Some(json!({ "s": "datetime", "dt": "string", "tz": "string?" })),
        ),
        (
            Some("#{ a: item.id, b: item.id, n: index }"),
            Some(json!({ "a": "string", "b": "string?", "n": "string", "missing": "boolean?" })),
        ),
    ];
    let items = tricky();
    for (map, fields) in maps {
        let case = Case::new(map, fields.clone(), Some("/value"));
        let mut planned = 0;
        for item in &items {
            let (result, took) = case.check(&page(&[EVENT, item]));
            planned += usize::from(took);
            if let Err(message) = result {
                assert!(!took, "{message}");
                assert!(message.contains("/value/1"), "{message}");
            }
        }
        assert!(planned > 0, "{map:?} {fields:?}");
        let all: Vec<&str> = items.iter().map(String::as_str).collect();
        let _ = case.check(&page(&all));
    }
}

#[test]
fn documents_that_are_not_lists_or_not_json_agree() {
    let case = Case::new(Some(CALENDAR), Some(calendar_fields()), Some("/value"));
    for text in [
        "{\"value\": 5}",
        "{\"other\": []}",
        "[]",
        "{\"value\": [",
        "{\"value\": []} x",
        "{\"value\": []}",
        "{\"value\": 5, \"value\": []}",
    ] {
        let _ = case.check(text);
    }
    // A repeated member on the path: the last one counts, on every path.
    let twice = format!("{{\"value\": [{EVENT}], \"value\": [{EVENT}, {EVENT}]}}");
    assert_eq!(case.check(&twice).0.unwrap().as_array().map(Vec::len), Some(2));
    let then_empty = format!("{{\"value\": [{EVENT}], \"value\": []}}");
    assert_eq!(case.check(&then_empty).0, Ok(json!([])));
    // Text the general path refuses inside a member it builds: the plan must refuse it too,
    // even where it skips the member's parts nothing reads.
    let deep = format!("\"start\": {}{}", "[".repeat(140), "]".repeat(140));
    for extra in [
        "\"start\": {\"dateTime\": \"2026-01-01T00:00:00\", \"timeZone\": \"UTC\", \"x\": 1e400}",
        "\"organizer\": {\"emailAddress\": {\"address\": \"a@x\", \"name\": \"\\udc00\"}}",
        "\"location\": {\"displayName\": \"R\", \"x\": [1e400]}",
        "\"start\": {\"dateTime\": {\"x\": 1e400}, \"timeZone\": \"UTC\"}",
        deep.as_str(),
    ] {
        let (result, took) = case.check(&page(&[EVENT, &event(extra)]));
        assert!(result.is_err() && !took, "{extra}: {result:?}");
    }
    // Array indices in `select` are read as a JSON Pointer reads them, on text as on values:
    // `+1` and `01` name no element.
    for select in ["/pages/+1/value", "/pages/01/value", "/pages/1/value"] {
        let case = Case::new(Some("#{ id: item.id }"), None, Some(select));
        let (result, _) =
            case.check("{\"pages\": [{\"value\": []}, {\"value\": [{\"id\": \"a\"}]}]}");
        assert_eq!(result.is_ok(), select == "/pages/1/value", "{select}: {result:?}");
    }
    let nested = Case::new(Some("#{ id: item.id }"), None, Some("/data/0/items"));
    let _ = nested.check("{\"data\": [{\"items\": [{\"id\": 1}, {\"id\": null}]}]}");
    let whole = Case::new(Some("#{ id: item.id }"), None, None);
    let (result, took) = whole.check("[{\"id\": 1}, {\"x\": 2}]");
    assert!(took);
    assert_eq!(result.unwrap(), json!([{ "id": 1 }, { "id": null }]));
}

#[test]
fn an_error_names_the_item_and_field_and_vars_keep_their_value() {
    let case = Case::new(Some(CALENDAR), Some(calendar_fields()), Some("/value"));
    let mut items = vec![EVENT.to_owned(); 20];
    items[17] = event("\"start\": 5");
    let items: Vec<&str> = items.iter().map(String::as_str).collect();
    let (result, took) = case.check(&page(&items));
    assert!(!took);
    assert_eq!(result.unwrap_err(), "/value/17/start: expected datetime: found integer");
}

#[test]
fn only_field_path_maps_are_planned() {
    for (map, fields) in [
        (Some("#{ a: item.x + 1 }"), None),
        (Some("item.a"), Some(json!({ "a": "string" }))),
        (None, None),
    ] {
        assert!(Case::new(map, fields, None).node.plan.is_none());
    }
    let case = Case::new(None, None, None);
    assert!(case.node.plan.is_none());
    assert_eq!(case.run(Dynamic::from("[1, {\"a\": 2}]"), true), Ok(json!([1, { "a": 2 }])));
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("2026-11-01T08:00:00".to_owned()),
        Just("2026-03-29T02:30:00.1234567".to_owned()),
        Just("2026-11-01T08:00:00Z".to_owned()),
        Just("UTC".to_owned()),
        Just("Pacific Standard Time".to_owned()),
        Just("Mars".to_owned()),
        Just("true".to_owned()),
        Just("12".to_owned()),
        ".{0,6}",
    ]
}

fn arb_value() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "id",
        "subject",
        "start",
        "end",
        "isAllDay",
        "location",
        "organizer",
        "displayName",
        "emailAddress",
        "address",
        "dateTime",
        "timeZone",
        "len",
        "x",
    ]);
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<u64>().prop_map(|u| u.to_string()),
        (-1e6f64..1e6).prop_map(|f| serde_json::to_string(&f).unwrap()),
        arb_text().prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3)
                .prop_map(|items| format!("[{}]", items.join(","))),
            // Members may repeat: JSON's last one counts.
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|members| {
                let members: Vec<String> =
                    members.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
                format!("{{{}}}", members.join(", "))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn prop_plan_agrees_with_the_general_path(items in prop::collection::vec(arb_value(), 1..4)) {
        let items: Vec<&str> = items.iter().map(String::as_str).collect();
        let text = page(&items);
        for (map, fields) in [
            (Some(CALENDAR), Some(calendar_fields())),
            (Some("#{ n: index, a: item.start?.dateTime, b: item.organizer?.emailAddress.address, c: item.x?.len }"), None),
            (None, Some(json!({ "id": "integer?", "start": "datetime?", "x": "number?", "len": "string?" }))),
        ] {
            let _ = Case::new(map, fields, Some("/value")).check(&text);
        }
    }
}
