//! The fuzz targets' bodies: one plain function per target, taking the input bytes and panicking
//! when an invariant breaks. The libFuzzer binaries (`fuzz/fuzz_targets/*.rs`) and the stable
//! replay test (`tests/fuzz_corpus.rs`, every file of `fuzz/corpus/<target>/`) both include this
//! file, so a corpus file checks exactly what the fuzzer checks.
//!
//! Only the public API of `weft` and `weft-nodes` is used.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde::de::{self, Deserialize, IgnoredAny};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use weft::flow::Loader;
use weft_nodes::clip::{MESSAGE_MAX, clip};
use weft_nodes::expr::{ExprEngine, ExprScope, Limits, Streamed, dynamic_to_json, json_to_dynamic};
use weft_nodes::kinds::http_request::MAX_RESPONSE_BYTES;
use weft_nodes::pointer::JsonPointer;

/// The allocator the `weft` binary counts each thread's heap with, so that the expression
/// engine's memory limit holds here as it does there (without it there is no memory limit).
#[global_allocator]
static ALLOCATOR: weft_nodes::alloc::Counting<std::alloc::System> =
    weft_nodes::alloc::Counting::new(std::alloc::System);

/// A target: takes the input, panics when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus folder (`fuzz/corpus/<name>/`) and binary.
pub const ALL: &[(&str, Target)] = &[
    ("flow_loader", flow_loader),
    ("profiles", profiles),
    ("test_file", test_file),
    ("expression", expression),
    ("template", template),
    ("json_stream", json_stream),
    ("retry_after", retry_after),
    ("redactor", redactor),
];

fn loader() -> &'static Loader {
    static LOADER: OnceLock<Loader> = OnceLock::new();
    LOADER.get_or_init(weft::flow::Loader::builtin)
}

/// How long one evaluation may take here: the production limits but this, and fewer
/// operations, so that the fuzzer is not slowed by inputs that run to the limit.
const EVAL_TIME: Duration = Duration::from_secs(1);

/// How much later than [`EVAL_TIME`] an evaluation may end: the engine stops one within 1 s of
/// its limit (issue 15); the rest is room for a busy machine and a debug build.
const EVAL_SLACK: Duration = Duration::from_secs(4);

fn engine() -> &'static ExprEngine {
    static ENGINE: OnceLock<ExprEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        ExprEngine::with_limits(Limits {
            max_operations: 100_000,
            max_duration: Some(EVAL_TIME),
            ..Limits::default()
        })
    })
}

/// A diagnostic's pointer is a JSON pointer: empty (the whole file) or `/`-separated tokens
/// with only `~0` and `~1` escapes.
fn assert_pointer(pointer: &str, what: &str) {
    assert!(JsonPointer::parse(pointer).is_ok(), "{what}: not a JSON pointer: {pointer:?}");
}

fn line_count(data: &[u8]) -> usize {
    data.iter().filter(|&&b| b == b'\n').count() + 1
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn names_bom(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("bom") || m.contains("byte order mark")
}

/// The flow loader: bytes → diagnostics. Never panics; every diagnostic names a JSON pointer,
/// has a message, and (once the text is JSON) a line and column inside the file; a flow comes
/// back exactly when no diagnostic is an error, and a loaded flow's edges join existing nodes
/// through exits those nodes accept.
pub fn flow_loader(data: &[u8]) {
    let loaded = loader().load_bytes(data, "fuzz");
    let is_json = weft::flow::json::parse(data).is_ok();
    let lines = line_count(data);
    for d in &loaded.diagnostics {
        assert_pointer(&d.pointer, "flow diagnostic");
        assert!(!d.message.is_empty(), "a diagnostic without a message at {:?}", d.pointer);
        if is_json {
            assert!(d.line.is_some() && d.column.is_some(), "diagnostic not located: {d:?}");
        }
        assert!(d.line.is_none_or(|l| (1..=lines).contains(&l)), "line out of the file: {d:?}");
        assert!(d.column.is_none_or(|c| c >= 1), "column 0: {d:?}");
        let _ = d.located("fuzz.flow.json");
        assert!(d.message.len() <= MESSAGE_MAX, "unclipped: {}…", clip(&d.message));
    }
    assert_eq!(
        loaded.flow.is_some(),
        !loaded.has_errors(),
        "a flow must load exactly when there is no error: {:?}",
        loaded.diagnostics
    );
    if let Some(flow) = &loaded.flow {
        for (from, exit, to) in flow.edges() {
            let node = flow.node(from).expect("an edge leaves a node of the flow");
            assert!(node.node.accepts_exit(exit), "edge {from} -[{exit}]-> {to}: no such exit");
            assert!(flow.node(to).is_some(), "edge {from} -[{exit}]-> {to}: no such node");
        }
        let drawn = weft::draw::mermaid(flow);
        for node in flow.nodes() {
            assert!(drawn.contains(&format!("n_{}", node.id)), "{} not drawn", node.id);
        }
        let _ = weft::draw::dot(flow);
        assert!(!over_max_response_bytes(data), "a max_response_bytes over the maximum loaded");
    }
    let messages = || loaded.diagnostics.iter().map(|d| d.message.as_str());
    if has_duplicate_keys(data) {
        assert!(messages().any(|m| m.contains("duplicate")), "duplicate key accepted");
    }
    if data.starts_with(BOM) {
        assert!(messages().any(names_bom), "BOM not named: {:?}", loaded.diagnostics);
    }
}

/// Whether some `max_response_bytes` in the text (JSON) is over the documented maximum.
fn over_max_response_bytes(data: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return false };
    let mut stack = vec![&value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if map
                    .get("max_response_bytes")
                    .and_then(Value::as_f64)
                    .is_some_and(|n| n > MAX_RESPONSE_BYTES as f64)
                {
                    return true;
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    false
}

/// Whether any object in the JSON text repeats a key (`false` when the text is not JSON).
fn has_duplicate_keys(data: &[u8]) -> bool {
    struct Dups(bool);
    impl<'de> Deserialize<'de> for Dups {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(DupVisitor)
        }
    }
    struct DupVisitor;
    impl<'de> de::Visitor<'de> for DupVisitor {
        type Value = Dups;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Dups, E> {
            Ok(Dups(false))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Dups, E> {
            Ok(Dups(false))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Dups, E> {
            Ok(Dups(false))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Dups, E> {
            Ok(Dups(false))
        }
        fn visit_str<E>(self, _: &str) -> Result<Dups, E> {
            Ok(Dups(false))
        }
        fn visit_unit<E>(self) -> Result<Dups, E> {
            Ok(Dups(false))
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Dups, A::Error> {
            let mut any = false;
            while let Some(Dups(d)) = seq.next_element()? {
                any |= d;
            }
            Ok(Dups(any))
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Dups, A::Error> {
            let (mut seen, mut any) = (HashSet::new(), false);
            while let Some(key) = map.next_key::<String>()? {
                any |= !seen.insert(key);
                let Dups(d) = map.next_value()?;
                any |= d;
            }
            Ok(Dups(any))
        }
    }
    serde_json::from_slice::<Dups>(data).is_ok_and(|Dups(d)| d)
}

/// A secret the targets plant in their input, to check that it never comes out. Its characters
/// are those of real client secrets (`~` and `.` encode differently in URLs and forms).
pub const PLANTED_SECRET: &str = "Pl4nt~ed.Secr3t_Xq8Q";

/// The forms a secret takes on the wire: as it is, form-encoded, percent-encoded, in a Basic
/// `Authorization` value (base64 of `client-id:secret`), base64 alone and JSON-escaped.
pub fn secret_forms(secret: &str, client_id: &str) -> Vec<String> {
    let encode = |keep: &[u8], space_plus: bool| {
        let mut out = String::new();
        for b in secret.bytes() {
            match b {
                b' ' if space_plus => out.push('+'),
                _ if b.is_ascii_alphanumeric() || keep.contains(&b) => out.push(b as char),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    // application/x-www-form-urlencoded keeps `*-._` and turns a space into `+`.
    let form = encode(b"*-._", true);
    let percent = encode(b"", false);
    let escaped: String = secret.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
    vec![
        secret.to_owned(),
        form,
        percent,
        base64(format!("{client_id}:{secret}").as_bytes()),
        base64(secret.as_bytes()),
        escaped,
    ]
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Fields of a profile that hold a secret.
const SECRET_FIELDS: &[&str] = &["client_secret", "refresh_token", "token", "password", "value"];

/// The profiles loader. Never panics; names a duplicate key and a byte order mark; then, with
/// [`PLANTED_SECRET`] put in every secret field (and as the client certificate's private key),
/// parsing and resolving every profile (with `${env.NAME}` set and unset, never reading files)
/// never shows the secret: not in an error, not in a resolved profile's `Debug`; and a resolved
/// profile's scrubber removes it from an echoed request.
pub fn profiles(data: &[u8]) {
    let path = Path::new("fuzz.profiles.json");
    match weft::auth::Profiles::parse(data, path) {
        Ok(parsed) => {
            let _ = parsed.without_hosts();
        }
        Err(err) => assert!(!err.to_string().is_empty()),
    }
    if has_duplicate_keys(data) {
        let err = weft::auth::Profiles::parse(data, path).err().expect("duplicate key accepted");
        assert!(err.to_string().contains("duplicate"), "{err}");
    }
    if data.starts_with(BOM) {
        let err = weft::auth::Profiles::parse(data, path).err().expect("BOM accepted");
        assert!(names_bom(&err.to_string()), "BOM not named: {err}");
    }

    let Ok(mut value) = serde_json::from_slice::<Value>(data) else { return };
    if String::from_utf8_lossy(data).contains(PLANTED_SECRET) {
        return;
    }
    let Some(Value::Object(all)) = value.get_mut("profiles") else { return };
    let (mut names, mut holds_secret) = (Vec::new(), HashSet::new());
    for (name, profile) in all.iter_mut() {
        let Value::Object(fields) = profile else { continue };
        for field in SECRET_FIELDS {
            if fields.contains_key(*field) {
                fields.insert((*field).to_owned(), Value::from(PLANTED_SECRET));
                holds_secret.insert(name.clone());
            }
        }
        if let Some(Value::Object(cert)) = fields.get_mut("client_certificate") {
            cert.insert("private_key".into(), Value::from(PLANTED_SECRET));
        }
        // Resolving a `{ "file": … }` reference reads the file: not here.
        if !mentions_key(profile, "file") {
            names.push(name.clone());
        }
    }
    let text = serde_json::to_vec(&value).expect("a JSON value serialises");
    let shown = |what: &str, text: String| {
        assert!(!text.contains(PLANTED_SECRET), "the secret shows in {what}: {text}");
    };
    let parsed = match weft::auth::Profiles::parse(&text, path) {
        Ok(parsed) => parsed,
        Err(err) => return shown("a parse error", err.to_string()),
    };
    let set = |name: &str| Some(format!("env-{name}"));
    let unset = |_: &str| None;
    names.push("no-such-profile".into());
    for name in &names {
        for lookup in [&set as &dyn Fn(&str) -> Option<String>, &unset] {
            match parsed.resolve(name, lookup) {
                Ok(profile) => {
                    shown("a profile's Debug", format!("{profile:?}"));
                    if holds_secret.contains(name) {
                        let scrubber = profile.known_secrets().scrubber();
                        let echo = format!("client_secret={PLANTED_SECRET}&x=1");
                        shown("a message the profile scrubbed", scrubber.scrub(&echo).into_owned());
                    }
                }
                Err(err) => shown("a resolve error", format!("{err} {err:?}")),
            }
        }
    }
}

fn mentions_key(value: &Value, key: &str) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(k, v)| k == key || mentions_key(v, key)),
        Value::Array(items) => items.iter().any(|v| mentions_key(v, key)),
        _ => false,
    }
}

/// The test-file loader. Never panics; an error names a JSON pointer, has a message and a
/// position of at least 1:1; a file that loads has expectations that match themselves, and also
/// match actual values with more members or without the members expected `null` (partial
/// matching as documented).
pub fn test_file(data: &[u8]) {
    let path = Path::new("fuzz.test.json");
    let file = match weft::testing::file::parse(data, path) {
        Ok(file) => file,
        Err(err) => {
            assert_pointer(&err.pointer, "test file error");
            assert!(!err.message.is_empty());
            assert!(err.position.is_none_or(|(l, c)| l >= 1 && c >= 1), "{err:?}");
            let _ = err.to_string();
            if has_duplicate_keys(data) {
                assert!(err.message.contains("duplicate"), "duplicate key not named: {err}");
            }
            if data.starts_with(BOM) {
                assert!(names_bom(&err.message), "BOM not named: {err}");
            }
            return;
        }
    };
    assert!(!has_duplicate_keys(data), "duplicate key accepted");
    use weft::testing::matching::{matches, show};
    for case in &file.cases {
        let expected = [&case.expect.vars, &case.expect.result]
            .into_iter()
            .flatten()
            .chain(case.expect.requests.iter().flatten().filter_map(|r| r.json.as_ref()));
        for want in expected {
            assert!(matches(want, want), "does not match itself: {}", show(want));
            let wider = widen(want);
            assert!(matches(want, &wider), "{} does not match {}", show(want), show(&wider));
            assert!(show(want).chars().count() <= 400, "show() is not cut");
        }
    }
}

/// `value` with a member added to every object and the `null` members dropped: what a partial
/// match still accepts.
fn widen(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out: Map<String, Value> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), widen(v)))
                .collect();
            if !map.contains_key("fuzz extra") {
                out.insert("fuzz extra".into(), Value::from(1));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(widen).collect()),
        other => other.clone(),
    }
}

/// `params` and `vars` that expressions are evaluated against.
fn scope_values() -> (Value, Value) {
    let params = serde_json::json!({ "user": "ada@contoso.com", "days": 7, "on": true });
    let vars = serde_json::json!({
        "n": 3, "s": "text", "list": [1, 2.5, "x", null, [true]],
        "m": { "a": 1, "b": { "c": [1, 2] }, "odd key": "v" },
        "events": [
            { "subject": "s", "start": { "dateTime": "2026-01-05T09:00:00", "timeZone": "UTC" } }
        ]
    });
    (params, vars)
}

/// Checks an evaluation's outcome: it ended soon after its time limit, an error has a bounded
/// message, and `params` and `vars` are as they were (expressions can't change them).
fn check_evaluation(
    outcome: Result<rhai::Dynamic, weft_nodes::expr::EvalError>,
    took: Duration,
    params: (&rhai::Dynamic, &Value),
    vars: (&rhai::Dynamic, &Value),
) {
    assert!(took <= EVAL_TIME + EVAL_SLACK, "an evaluation took {took:?}");
    match outcome {
        Ok(value) => {
            let _ = dynamic_to_json(&value);
        }
        Err(err) => {
            assert!(!err.message.is_empty());
            assert!(err.message.len() <= MESSAGE_MAX, "unclipped: {}", clip(&err.message));
        }
    }
    for ((shared, before), name) in [(params, "params"), (vars, "vars")] {
        let after = dynamic_to_json(shared).expect("params and vars stay JSON");
        assert_eq!(&after, before, "an expression changed `{name}`");
    }
}

/// Expression compilation (and evaluation). Never panics; a syntax error has a position inside
/// the source and a bounded message; an expression that compiles evaluates, under the
/// production limits (but [`EVAL_TIME`]), to a value or an error soon after the time limit at
/// the latest, leaving `params` and `vars` unchanged.
pub fn expression(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else { return };
    let engine = engine();
    let expr = match engine.compile_expression(source, &["item", "index"]) {
        Ok(expr) => expr,
        Err(err) => return check_syntax_error(&err, source),
    };
    assert_eq!(expr.source(), source);
    let _ = expr.reads();
    let (params_json, vars_json) = scope_values();
    let (params, vars) =
        (json_to_dynamic(&params_json).into_shared(), json_to_dynamic(&vars_json).into_shared());
    let mut scope = ExprScope::new(params.clone(), vars.clone());
    let item = json_to_dynamic(&serde_json::json!({ "id": 1, "tags": ["a"] }));
    let started = Instant::now();
    let outcome = engine.eval_with(
        &expr,
        &mut scope,
        [("item", item), ("index", rhai::Dynamic::from_int(0))],
    );
    check_evaluation(outcome, started.elapsed(), (&params, &params_json), (&vars, &vars_json));
}

fn check_syntax_error(err: &weft_nodes::expr::SyntaxError, source: &str) {
    assert!(!err.message.is_empty());
    assert!(err.message.len() <= MESSAGE_MAX, "unclipped: {}", clip(&err.message));
    assert!(err.line >= 1 && err.column >= 1, "{err:?}");
    // Rhai also ends lines at `\r`; a position may be one past the last line's end.
    let lines = source.matches(['\n', '\r']).count() + 1;
    assert!(err.line <= lines, "line {} of {lines}: {err:?}", err.line);
}

/// Template compilation and rendering. Never panics; a syntax error is positioned inside the
/// template; a template that compiles keeps its source, its holes are pieces of it, a template
/// without `${` is the literal text, and rendering gives a string within the string limit or
/// an error, as an expression's evaluation does.
pub fn template(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else { return };
    let engine = engine();
    let template = match engine.compile_template(source, &["item"]) {
        Ok(template) => template,
        Err(err) => return check_syntax_error(&err, source),
    };
    assert_eq!(template.source(), source);
    for hole in template.holes() {
        assert!(source.contains(hole.source()), "hole {:?} not in the template", hole.source());
    }
    if !source.contains("${") {
        assert_eq!(template.literal(), Some(source), "text without holes is literal");
    }
    let (params_json, vars_json) = scope_values();
    let (params, vars) =
        (json_to_dynamic(&params_json).into_shared(), json_to_dynamic(&vars_json).into_shared());
    let mut scope = ExprScope::new(params.clone(), vars.clone());
    let started = Instant::now();
    let rendered =
        engine.render_string_with(&template, &mut scope, [("item", rhai::Dynamic::from_int(7))]);
    let took = started.elapsed();
    if let Ok(text) = &rendered {
        assert!(text.len() <= engine.limits().max_string_size, "rendered past the string limit");
        if let Some(literal) = template.literal() {
            assert_eq!(text, literal);
        }
    }
    check_evaluation(
        rendered.map(rhai::Dynamic::from),
        took,
        (&params, &params_json),
        (&vars, &vars_json),
    );
}

/// The input of [`json_stream`]: an optional header of two lines, a JSON pointer (the array to
/// stream) and a comma-separated list of member paths to pick (`start.dateTime`; a trailing `@`
/// picks an instant, `!` only follows the path), then the JSON text. Without a header (the
/// first line is not a pointer) the whole input is the text and the root is streamed.
struct StreamInput<'a> {
    path: Vec<String>,
    picks: Vec<(Vec<&'a str>, weft_nodes::expr::pick::Capture)>,
    text: &'a str,
}

fn stream_input(input: &str) -> StreamInput<'_> {
    use weft_nodes::expr::pick::Capture;
    let mut parts = input.splitn(3, '\n');
    if let (Some(pointer), Some(spec), Some(text)) = (parts.next(), parts.next(), parts.next())
        && let Ok(pointer) = JsonPointer::parse(pointer)
    {
        let picks = spec
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (p, capture) = if let Some(p) = p.strip_suffix('@') {
                    (p, Capture::Datetime)
                } else if let Some(p) = p.strip_suffix('!') {
                    (p, Capture::Nothing)
                } else {
                    (p, Capture::Value)
                };
                (p.split('.').collect(), capture)
            })
            .collect();
        return StreamInput { path: pointer.tokens().to_vec(), picks, text };
    }
    StreamInput { path: Vec::new(), picks: Vec::new(), text: input }
}

/// JSON as the Rhai conversion gives it back: integers above `i64::MAX` become floats.
fn normalise(value: &Value) -> Value {
    match value {
        Value::Number(n) if n.is_u64() && n.as_i64().is_none() => {
            Value::from(n.as_f64().expect("a u64 has an f64 value"))
        }
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), normalise(v))).collect())
        }
        other => other.clone(),
    }
}

/// The value at `path` (RFC 6901 tokens: members by name, elements by decimal index without a
/// leading zero), as JSON's last occurrence of a repeated member decides.
fn at<'v>(mut value: &'v Value, path: &[String]) -> Option<&'v Value> {
    for token in path {
        value = match value {
            Value::Object(map) => map.get(token)?,
            Value::Array(items) => {
                let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
                if !digits || (token.len() > 1 && token.starts_with('0')) {
                    return None;
                }
                items.get(token.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some(value)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// JSON Import's streaming parsers against serde_json. For UTF-8 text: the Rhai parser
/// (`parse_json`) and the check behind waiting bodies (`JsonText::new`) accept exactly what
/// serde_json accepts, with the same values; where serde_json reads the document,
/// `stream_array` finds the same JSON type at the pointer and streams the same elements (also
/// keeping only some members), and `stream_picks` fills each element's slots as the document
/// says (or gives up on a member repeated on the path, as documented); where serde_json fails,
/// `stream_array` fails too unless the text is well-formed JSON that only serde_json's value
/// checks reject in a part the stream skips.
pub fn json_stream(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else { return };
    let StreamInput { path, picks, text } = stream_input(input);
    let oracle = serde_json::from_str::<Value>(text);
    let parsed = weft_nodes::expr::parse_json(text.as_bytes());
    match (&oracle, &parsed) {
        (Ok(v), Ok(d)) => assert_eq!(dynamic_to_json(d).ok(), Some(normalise(v))),
        (Err(_), Err(_)) => {}
        (o, p) => panic!("serde_json: {:?}, parse_json: {:?}", o.as_ref().err(), p.as_ref().err()),
    }
    let waits = weft_nodes::vars::JsonText::new(text.as_bytes().to_vec()).is_ok();
    assert_eq!(waits, parsed.is_ok(), "JsonText::new and parse_json disagree");

    let target = oracle.as_ref().ok().map(|doc| at(doc, &path));
    let mut keep: Vec<String> =
        picks.iter().filter_map(|(p, _)| Some(p.first()?.to_string())).collect();
    keep.dedup();
    for keep in [None, Some(keep.as_slice())] {
        let mut items: Vec<Value> = Vec::new();
        let found = weft_nodes::expr::stream_array(text.as_bytes(), &path, keep, &mut |s| {
            match s {
                Streamed::Element(index, item) => {
                    assert_eq!(index, items.len(), "elements out of order");
                    items.push(dynamic_to_json(&item).expect("a streamed element is JSON"));
                }
                Streamed::Restart => items.clear(),
            }
            Ok(())
        });
        match target {
            Some(target) => {
                let found = found.expect("serde_json reads the text, the stream must too");
                assert_eq!(found, target.map(kind), "the stream found another type");
                if let Some(Value::Array(expected)) = target {
                    let expected: Vec<Value> = expected
                        .iter()
                        .map(|item| match (item, keep) {
                            (Value::Object(map), Some(keep)) => Value::Object(
                                map.iter()
                                    .filter(|(k, _)| keep.contains(k))
                                    .map(|(k, v)| (k.clone(), v.clone()))
                                    .collect(),
                            ),
                            _ => item.clone(),
                        })
                        .map(|v| normalise(&v))
                        .collect();
                    assert_eq!(items, expected, "the stream gave other elements");
                }
            }
            None if found.is_ok() => {
                assert!(
                    serde_json::from_str::<IgnoredAny>(text).is_ok(),
                    "the stream accepted text that is not JSON"
                );
            }
            None => {}
        }
    }
    check_picks(text, &path, &picks, target);
}

/// How a trie node is read, from its capture and whether paths go deeper (as `pick.rs` says).
#[derive(Clone, Copy)]
enum Mode {
    Skip,
    Object,
    Instant,
    Value,
}

/// What [`check_picks`] expects in a slot (instants only by whether one was read).
#[derive(Debug, PartialEq)]
enum Got {
    Absent,
    Null,
    Object,
    Other,
    Value(Value),
    Instant(bool),
}

fn check_picks(
    text: &str,
    path: &[String],
    picks: &[(Vec<&str>, weft_nodes::expr::pick::Capture)],
    target: Option<Option<&Value>>,
) {
    use weft_nodes::expr::pick::{Capture, PathTrie, Slot, stream_picks};
    // The trie, mirrored: each node's parent, name and merged capture.
    let mut trie = PathTrie::new();
    let mut nodes: Vec<(usize, String, Capture, bool)> =
        vec![(0, String::new(), Capture::Nothing, false)];
    for (names, capture) in picks {
        let ids = trie.insert(names, *capture);
        let mut parent = 0;
        for (id, name) in ids.iter().zip(names) {
            if *id == nodes.len() {
                nodes.push((parent, (*name).to_owned(), Capture::Nothing, false));
                nodes[parent].3 = true;
            }
            parent = *id;
        }
        if let Some(&last) = ids.last() {
            let merged = match (nodes[last].2, *capture) {
                (Capture::Nothing, x) | (x, Capture::Nothing) => x,
                (Capture::Datetime, Capture::Datetime) => Capture::Datetime,
                _ => Capture::Value,
            };
            nodes[last].2 = merged;
        }
    }
    assert_eq!(trie.len(), nodes.len());
    let mut got: Vec<Vec<Got>> = Vec::new();
    let found = stream_picks(text, path, &trie, &mut |index, slots| {
        assert_eq!(index, got.len());
        got.push(
            slots
                .iter()
                .map(|slot| match slot {
                    Slot::Absent => Got::Absent,
                    Slot::Null => Got::Null,
                    Slot::Object => Got::Object,
                    Slot::Other => Got::Other,
                    Slot::Value(v) => {
                        Got::Value(dynamic_to_json(v).expect("a picked value is JSON"))
                    }
                    Slot::Instant(at) => Got::Instant(at.is_some()),
                })
                .collect(),
        );
        Ok(())
    });
    let Some(target) = target else { return };
    let found = match found {
        Ok(found) => found,
        Err(err) => {
            assert!(err.to_string().contains("repeated"), "serde_json reads it, picks fail: {err}");
            return;
        }
    };
    assert_eq!(found, target.map(kind), "the picks found another type");
    let Some(Value::Array(items)) = target else { return };
    assert_eq!(got.len(), items.len(), "the picks saw another number of elements");
    for (item, got) in items.iter().zip(&got) {
        // Each node's expected slot, parents first (ids grow from the root).
        let mut expected: Vec<(Got, Option<&Value>)> = Vec::with_capacity(nodes.len());
        for (id, (parent, name, capture, has_children)) in nodes.iter().enumerate() {
            let value = if id == 0 {
                Some(item)
            } else {
                match &expected[*parent] {
                    (Got::Object, Some(Value::Object(map))) => map.get(name),
                    _ => None,
                }
            };
            let mode = match (capture, has_children) {
                (Capture::Nothing, false) => Mode::Skip,
                (Capture::Nothing, true) => Mode::Object,
                (Capture::Datetime, false) => Mode::Instant,
                _ => Mode::Value,
            };
            let slot = match (value, mode) {
                (None, _) | (_, Mode::Skip) => Got::Absent,
                (Some(v), Mode::Value) => Got::Value(normalise(v)),
                (Some(Value::Null), Mode::Instant | Mode::Object) => Got::Null,
                // Whether the text is an instant is the time module's to say.
                (Some(_), Mode::Instant) => Got::Instant(matches!(got[id], Got::Instant(true))),
                (Some(Value::Object(_)), Mode::Object) => Got::Object,
                (Some(_), Mode::Object) => Got::Other,
            };
            expected.push((slot, value));
        }
        let expected: Vec<Got> = expected.into_iter().map(|(g, _)| g).collect();
        assert_eq!(got, &expected, "slots of {item}");
    }
}

/// The `Retry-After` parser. Never panics; a wait is never longer than the documented cap;
/// whole seconds are taken exactly (up to the cap), and a negative or non-finite number is no
/// wait at all; only the first `Retry-After` header counts.
pub fn retry_after(data: &[u8]) {
    use weft_nodes::kinds::http_request::{MAX_RETRY_AFTER, retry_after};
    use weft_nodes::services::HttpResponse;
    let value = String::from_utf8_lossy(data).into_owned();
    let mut response = HttpResponse {
        status: 429,
        headers: vec![("retry-after".into(), value.clone())],
        body: Vec::new(),
    };
    let wait = retry_after(&response);
    if let Some(wait) = wait {
        assert!(wait <= MAX_RETRY_AFTER, "{value:?} waits {wait:?}");
    }
    let trimmed = value.trim();
    if let Ok(secs) = trimmed.parse::<u64>() {
        assert_eq!(wait, Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER)), "{value:?}");
    }
    if let Ok(secs) = trimmed.parse::<f64>() {
        assert_eq!(wait.is_some(), secs.is_finite() && secs >= 0.0, "{value:?} gave {wait:?}");
    }
    response.headers.push(("retry-after".into(), "7".into()));
    let again = retry_after(&response);
    // A date's wait is measured from now, which moved: compare only whether there is one.
    assert_eq!(again.is_some(), wait.is_some(), "a second header changed {value:?}");
}

/// Keys the redactor is documented to treat as secret, in the cases they come in.
const PLANTED_KEYS: &[&str] =
    &["client_secret", "Access_Token", "refresh_token", "Authorization", "password", "api_key"];

/// The client id the planted secret belongs to (for its HTTP Basic form).
const PLANTED_CLIENT: &str = "fuzz-client";

/// Credentials that know only the planted secret: what a trace is scrubbed of.
struct Planted;

impl weft_nodes::Credentials for Planted {
    fn sign_in<'a>(
        &'a self,
        _: &'a str,
    ) -> weft_nodes::services::BoxFuture<'a, Result<weft_nodes::SignIn, weft_nodes::NodeError>>
    {
        Box::pin(async { Err(weft_nodes::NodeError::new("auth", "no sign-in here")) })
    }

    fn credential<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: Option<u16>,
    ) -> weft_nodes::services::BoxFuture<
        'a,
        Result<weft_nodes::services::Credential, weft_nodes::NodeError>,
    > {
        Box::pin(async { Err(weft_nodes::NodeError::new("auth", "no credential here")) })
    }

    fn invalidate(&self, _: &str, _: u64) {}

    fn slot<'a>(
        &'a self,
        _: &'a str,
        _: Option<&'a str>,
    ) -> weft_nodes::services::BoxFuture<'a, Option<weft_nodes::services::SlotGuard>> {
        Box::pin(async { None })
    }

    fn scrubber(&self) -> weft_nodes::scrub::Scrubber {
        // Built once: building one is what costs, a clone is cheap.
        static SCRUBBER: OnceLock<weft_nodes::scrub::Scrubber> = OnceLock::new();
        SCRUBBER
            .get_or_init(|| {
                let secret = weft_nodes::Secret::new(PLANTED_SECRET);
                weft_nodes::scrub::KnownSecrets::new()
                    .add_client(PLANTED_CLIENT, &secret)
                    .scrubber()
            })
            .clone()
    }
}

/// The trace redactor and scrubber. Input: JSON (anything else is taken as a string).
/// [`PLANTED_SECRET`], in each of its wire forms, is planted in every object, under a
/// secret-looking key and inside the text of another member, as a server echoing it would. After
/// `redact`, every value under a secret-looking key is `"[redacted]"` and everything else is as
/// it was; after the trace's scrubbing sink, no form of the secret is left anywhere in the
/// events (parameters, written values, errors, URLs), however the input surrounds it.
pub fn redactor(data: &[u8]) {
    use weft::trace::{Event, Memory, Scrubbing, TraceSink};
    let value = serde_json::from_slice::<Value>(data)
        .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(data).into_owned()));
    let forms = secret_forms(PLANTED_SECRET, PLANTED_CLIENT);
    let mut planted = value;
    plant(&mut planted, &forms);
    let mut redacted = planted.clone();
    weft::trace::redact(&mut redacted);
    check_redacted(&planted, &redacted);

    // What the executor records: redacted parameters and writes, the error as it is.
    let memory = std::sync::Arc::new(Memory::default());
    let sink = Scrubbing::new(memory.clone(), std::sync::Arc::new(Planted));
    sink.record(
        "run",
        Event::RunStarted { flow: "fuzz".into(), params: redacted.clone(), parent: None },
    );
    sink.record(
        "run",
        Event::Http {
            node: "n".into(),
            method: "GET".into(),
            url: format!("https://example.invalid/?q={}&r={}", forms[1], forms[2]),
            status: Some(400),
            attempt: 1,
            ms: 1,
            request_id: None,
            retry_in_ms: None,
            request_body: Some(format!("{{\"q\":\"{}\",\"r\":\"{}\"}}", forms[1], forms[2])),
        },
    );
    let writes = Map::from_iter([("page".to_owned(), redacted)]);
    sink.record(
        "run",
        Event::NodeFinished {
            node: "n".into(),
            exit: Some("error".into()),
            ms: 1,
            error: Some(planted),
            writes,
        },
    );
    for event in memory.events() {
        let mut stack = vec![&event];
        while let Some(value) = stack.pop() {
            let texts: Vec<&str> = match value {
                Value::String(text) => vec![text],
                Value::Object(map) => {
                    stack.extend(map.values());
                    map.keys().map(String::as_str).collect()
                }
                Value::Array(items) => {
                    stack.extend(items);
                    Vec::new()
                }
                _ => Vec::new(),
            };
            for text in texts {
                for form in &forms {
                    assert!(!text.contains(form.as_str()), "secret form {form:?} left in {text:?}");
                }
            }
        }
    }
}

/// Puts a form of the secret in every object: under a secret-looking key, and inside the text
/// of a member that is not secret, as an echoed request would have it.
fn plant(value: &mut Value, forms: &[String]) {
    let mut stack = vec![value];
    let mut n = 0usize;
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                let key = PLANTED_KEYS[n % PLANTED_KEYS.len()];
                let form = &forms[n % forms.len()];
                let secret =
                    if key == "Authorization" { format!("Basic {form}") } else { form.clone() };
                map.insert(key.to_owned(), Value::from(secret));
                let echo = &forms[(n + 1) % forms.len()];
                map.insert("echo".into(), Value::from(format!("request: x={echo}&y=1")));
                n += 1;
                stack.extend(map.values_mut());
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

/// `after` is `before` with the value of every secret-looking key replaced by `"[redacted]"`
/// and nothing else changed.
fn check_redacted(before: &Value, after: &Value) {
    let mut stack = vec![(before, after)];
    while let Some((before, after)) = stack.pop() {
        match (before, after) {
            (Value::Object(b), Value::Object(a)) => {
                assert!(b.keys().eq(a.keys()), "members changed");
                for ((key, b), a) in b.iter().zip(a.values()) {
                    if weft::trace::is_secret_name(key) {
                        assert_eq!(a, "[redacted]", "`{key}` not redacted");
                    } else {
                        stack.push((b, a));
                    }
                }
            }
            (Value::Array(b), Value::Array(a)) => {
                assert_eq!(b.len(), a.len(), "array length changed");
                stack.extend(b.iter().zip(a));
            }
            (b, a) => assert_eq!(b, a, "a value outside secret keys changed"),
        }
    }
}
