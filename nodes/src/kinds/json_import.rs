//! `json_import`: maps a JSON document (or part of it) into a list in `vars`.
//!
//! The whole list is built before anything is written, so a failure at item 17 leaves `vars`
//! as it was.

use super::{eval_failed, type_name};
use crate::expr::{Expr, stream_array, time};
use crate::kind::{CompileCx, NodeConfig, escape_token};
use crate::node::{Node, NodeError, NodeFuture, Outcome, RunCx};
use crate::pointer::JsonPointer;
use crate::vars::VarPath;
use indexmap::IndexMap;
use rhai::{Array, Dynamic, ImmutableString, Map};
use schemars::JsonSchema;
use serde::Deserialize;

/// Fields of a `json_import` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonImportConfig {
    /// Expression: a JSON value, or a string holding JSON text.
    pub from: String,
    /// JSON pointer to the list to import (default: the whole document).
    #[serde(default)]
    pub select: Option<String>,
    /// Expression over `item` (and `index`): what each element becomes.
    #[serde(default)]
    pub map: Option<String>,
    /// The shape of each imported item: name → `string`, `number`, `integer`, `boolean`,
    /// `datetime`, `object` or `array`, with `?` for optional. Items are reduced to these fields.
    #[serde(default)]
    pub fields: Option<IndexMap<String, String>>,
    /// The variable that receives the list (replacing it).
    #[serde(default)]
    pub into: Option<String>,
    /// The list variable the items are appended to.
    #[serde(default)]
    pub append_to: Option<String>,
}

/// The type of one field of an imported item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Text; numbers and booleans are turned into text.
    String,
    /// Any number; numeric text is parsed.
    Number,
    /// A whole number; integral floats and numeric text are converted.
    Integer,
    /// `true`/`false` (also as text).
    Boolean,
    /// An instant, RFC 3339 or Graph's `{ dateTime, timeZone }`, stored as RFC 3339 UTC.
    Datetime,
    /// An object.
    Object,
    /// A list.
    Array,
}

impl FieldType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "string" => Self::String,
            "number" => Self::Number,
            "integer" => Self::Integer,
            "boolean" => Self::Boolean,
            "datetime" => Self::Datetime,
            "object" => Self::Object,
            "array" => Self::Array,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::Datetime => "datetime",
            Self::Object => "object",
            Self::Array => "array",
        }
    }

    /// Converts `value` to this type, or says why it can't.
    fn coerce(self, value: Dynamic) -> Result<Dynamic, String> {
        let found = type_name(&value);
        let fail = |extra: &str| Err(format!("expected {}{extra}, found {found}", self.name()));
        match self {
            Self::String if value.is_string() => Ok(value),
            Self::String if value.is_int() || value.is_float() || value.is_bool() => {
                Ok(Dynamic::from(value.to_string()))
            }
            Self::Number if value.is_int() || value.is_float() => Ok(value),
            Self::Integer if value.is_int() => Ok(value),
            Self::Integer if value.is_float() => match value.as_float() {
                Ok(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    Ok(Dynamic::from_int(f as rhai::INT))
                }
                _ => fail(" (a whole number)"),
            },
            Self::Number | Self::Integer if value.is_string() => {
                let text = value.into_immutable_string().unwrap_or_default();
                let text = text.trim();
                if let Ok(i) = text.parse::<rhai::INT>() {
                    Ok(Dynamic::from_int(i))
                } else if self == Self::Number
                    && let Ok(f) = text.parse::<f64>()
                    && f.is_finite()
                {
                    Ok(Dynamic::from_float(f))
                } else {
                    fail(" (text that is not a number)")
                }
            }
            Self::Boolean if value.is_bool() => Ok(value),
            Self::Boolean if value.is_string() => {
                match value.into_immutable_string().unwrap_or_default().as_str() {
                    "true" => Ok(Dynamic::TRUE),
                    "false" => Ok(Dynamic::FALSE),
                    _ => fail(" (text other than true/false)"),
                }
            }
            Self::Datetime => datetime(value).map_err(|why| format!("expected datetime: {why}")),
            Self::Object if value.is_map() => Ok(value),
            Self::Array if value.is_array() => Ok(value),
            _ => fail(""),
        }
    }
}

fn datetime(value: Dynamic) -> Result<Dynamic, String> {
    let found = type_name(&value);
    let instant = if value.is_string() {
        let text = value.into_immutable_string().unwrap_or_default();
        time::parse_datetime(&text)?
    } else if let Some(map) = value.read_lock::<Map>() {
        let date_time =
            map.get("dateTime").and_then(|v| v.read_lock::<ImmutableString>().map(|s| s.clone()));
        let time_zone =
            map.get("timeZone").and_then(|v| v.read_lock::<ImmutableString>().map(|s| s.clone()));
        match (date_time, time_zone) {
            (Some(dt), Some(tz)) => time::graph_to_utc(&dt, &tz)?,
            (Some(dt), None) => time::parse_datetime(&dt)?,
            _ => return Err("an object needs `dateTime` (and `timeZone`)".into()),
        }
    } else {
        return Err(format!("found {found}"));
    };
    Ok(Dynamic::from(time::format_instant(&instant)))
}

/// A built `json_import` node.
pub struct JsonImport {
    from: Expr,
    select: Option<JsonPointer>,
    map: Option<Expr>,
    fields: Vec<(ImmutableString, FieldType, bool)>,
    target: Target,
    /// The members of each item the import reads, when that is known: JSON text is then
    /// parsed only as far as they go.
    keep: Option<Vec<String>>,
    /// The `map` done natively, when it is a map literal of field paths.
    native: Option<FieldMapping>,
}

/// A `map` of the form `#{ key: item.a?.b, other: index, … }`, applied without Rhai: the
/// common case of an import, and most of its cost when done through the interpreter.
#[derive(Debug)]
struct FieldMapping {
    entries: Vec<(ImmutableString, Source)>,
}

#[derive(Debug)]
enum Source {
    Index,
    /// Property names, each with whether it was reached with `?.`.
    Path(Vec<(String, bool)>),
}

impl FieldMapping {
    /// Recognises the form; anything else (`None`) is evaluated by Rhai.
    fn parse(source: &str) -> Option<Self> {
        let body = source.trim().strip_prefix("#{")?.strip_suffix('}')?;
        if body.contains(['"', '\'', '`', '{', '}', '(', '[', '/']) {
            return None;
        }
        let is_ident = |s: &str| crate::vars::is_identifier(s);
        let mut entries = Vec::new();
        for entry in body.split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let (key, value) = entry.split_once(':')?;
            let (key, value) = (key.trim(), value.trim());
            if !is_ident(key)
                || entries.iter().any(|(k, _): &(ImmutableString, Source)| k.as_str() == key)
            {
                return None;
            }
            let source = if value == "index" {
                Source::Index
            } else {
                let mut rest = value.strip_prefix("item")?;
                let mut path = Vec::new();
                while !rest.is_empty() {
                    let (optional, after) = match rest.strip_prefix("?.") {
                        Some(after) => (true, after),
                        None => (false, rest.strip_prefix('.')?),
                    };
                    let len = after
                        .bytes()
                        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                        .count();
                    let name = &after[..len];
                    if !is_ident(name) {
                        return None;
                    }
                    path.push((name.to_owned(), optional));
                    rest = &after[len..];
                }
                if path.is_empty() {
                    return None;
                }
                Source::Path(path)
            };
            entries.push((ImmutableString::from(key), source));
        }
        Some(Self { entries })
    }

    /// The mapped item, or `None` when Rhai must decide (a `.` on `()`, a non-object on the
    /// way: Rhai reports those as errors, with its own messages).
    fn apply(&self, item: &Dynamic, index: usize) -> Option<Dynamic> {
        fn walk(value: &Dynamic, path: &[(String, bool)]) -> Option<Dynamic> {
            let Some(((name, optional), rest)) = path.split_first() else {
                return Some(value.clone());
            };
            if value.is_unit() {
                return optional.then_some(Dynamic::UNIT);
            }
            let map = value.as_map_ref().ok()?;
            match map.get(name.as_str()) {
                Some(next) => walk(next, rest),
                None => walk(&Dynamic::UNIT, rest),
            }
        }
        let mut out = Map::new();
        for (key, source) in &self.entries {
            let value = match source {
                Source::Index => Dynamic::from_int(index as rhai::INT),
                Source::Path(path) => walk(item, path)?,
            };
            out.insert(key.as_str().into(), value);
        }
        Some(Dynamic::from_map(out))
    }
}

/// The properties of `item` that an expression reads, when every use of `item` is a plain
/// property access (`item.subject`, `item?.location`); `None` when anything else uses it (a
/// method call, an index, the bare item), so the whole item must be built.
fn item_properties(source: &str) -> Option<Vec<String>> {
    let bytes = source.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut properties: Vec<String> = Vec::new();
    let mut at = 0;
    while let Some(found) = source[at..].find("item") {
        let start = at + found;
        let end = start + 4;
        at = end;
        let before = start.checked_sub(1).map(|i| bytes[i]);
        if before.is_some_and(|b| is_ident(b) || b == b'.')
            || bytes.get(end).is_some_and(|&b| is_ident(b))
        {
            continue; // part of another name, or a property called `item`
        }
        let rest = &source[end..];
        let rest = rest.strip_prefix("?.").or_else(|| rest.strip_prefix('.'))?;
        let name_len = rest.bytes().take_while(|&b| is_ident(b)).count();
        if name_len == 0 || rest[name_len..].trim_start().starts_with('(') {
            return None;
        }
        let name = &rest[..name_len];
        if !properties.iter().any(|p| p == name) {
            properties.push(name.to_owned());
        }
    }
    Some(properties)
}

enum Target {
    Into(VarPath),
    AppendTo(VarPath),
}

impl NodeConfig for JsonImportConfig {
    const KIND: &'static str = "json_import";
    const DESCRIPTION: &'static str = "Maps a JSON document into a list in the flow's data";

    fn build(self, cx: &mut CompileCx<'_>) -> Option<Box<dyn Node>> {
        let mut ok = true;
        let from = cx.expression("/from", &self.from, &[]);
        let select = match &self.select {
            Some(source) => cx.pointer("/select", source).map(Some),
            None => Some(None),
        };
        let map = match &self.map {
            Some(source) => cx.expression("/map", source, &["item", "index"]).map(Some),
            None => Some(None),
        };
        let mut fields = Vec::new();
        for (name, spec) in self.fields.into_iter().flatten() {
            let (base, optional) = match spec.strip_suffix('?') {
                Some(base) => (base, true),
                None => (spec.as_str(), false),
            };
            match FieldType::parse(base) {
                Some(t) => fields.push((ImmutableString::from(name.as_str()), t, optional)),
                None => {
                    ok = false;
                    cx.error(
                        &format!("/fields/{}", escape_token(&name)),
                        format!(
                            "`{spec}` is not a field type; use string, number, integer, boolean, \
                             datetime, object or array, with `?` for optional"
                        ),
                    );
                }
            }
        }
        let target = match (&self.into, &self.append_to) {
            (Some(into), None) => cx.var_path("/into", into).map(Target::Into),
            (None, Some(append)) => cx.var_path("/append_to", append).map(Target::AppendTo),
            (Some(_), Some(_)) => {
                cx.error("/append_to", "set `into` or `append_to`, not both");
                None
            }
            (None, None) => {
                cx.error("", "say where the items go: `into` (replace) or `append_to` (append)");
                None
            }
        };
        let (Some(from), Some(select), Some(map), Some(target), true) =
            (from, select, map, target, ok)
        else {
            return None;
        };
        let keep = match (&self.map, fields.is_empty()) {
            (Some(source), _) => item_properties(source),
            (None, false) => Some(fields.iter().map(|(name, _, _)| name.to_string()).collect()),
            (None, true) => None,
        };
        let native = self.map.as_deref().and_then(FieldMapping::parse);
        Some(Box::new(JsonImport { from, select, map, fields, target, keep, native }))
    }
}

impl JsonImport {
    fn import(&self, cx: &mut RunCx<'_>) -> Result<Array, NodeError> {
        let import_error = |message: String| NodeError::new("import", message);
        let document = cx.eval(&self.from).map_err(|e| eval_failed("from", e))?.flatten();
        let base = self.select.as_ref().map(|p| p.as_str()).unwrap_or("");
        let not_a_list = |found: &str| {
            import_error(format!(
                "`{}` is {found}, not a list",
                if base.is_empty() { "/" } else { base }
            ))
        };
        let missing = || import_error(format!("`{base}` is not in the document"));
        let mut out = Array::new();
        if document.is_string() {
            // JSON text is streamed: one item at a time is a Rhai value, never the whole document.
            let text = document.into_immutable_string().unwrap_or_default();
            let path = self.select.as_ref().map(|p| p.tokens()).unwrap_or_default();
            let mut failure = None;
            let found =
                stream_array(text.as_bytes(), path, self.keep.as_deref(), &mut |index, item| {
                    match self.item(cx, base, index, item) {
                        Ok(value) => {
                            out.push(value);
                            Ok(())
                        }
                        Err(err) => {
                            let message = err.message.clone();
                            failure = Some(err);
                            Err(message)
                        }
                    }
                });
            if let Some(err) = failure {
                return Err(err);
            }
            let found =
                found.map_err(|e| import_error(format!("`from` is text but not JSON: {e}")))?;
            return match found {
                Some("array") => Ok(out),
                Some(found) => Err(not_a_list(found)),
                None => Err(missing()),
            };
        }
        let document = match &self.select {
            Some(select) => select.take(document).ok_or_else(missing)?,
            None => document,
        };
        let found = type_name(&document);
        let items = document.try_cast::<Array>().ok_or_else(|| not_a_list(found))?;
        out.reserve(items.len());
        for (index, item) in items.into_iter().enumerate() {
            out.push(self.item(cx, base, index, item)?);
        }
        Ok(out)
    }

    /// Maps and shapes one item; errors name the item (and field) by JSON pointer.
    fn item(
        &self,
        cx: &mut RunCx<'_>,
        base: &str,
        index: usize,
        item: Dynamic,
    ) -> Result<Dynamic, NodeError> {
        let native = self.native.as_ref().and_then(|native| native.apply(&item, index));
        let value = match (&self.map, native) {
            (_, Some(value)) => value,
            (Some(map), None) => cx
                .eval_with(map, [("item", item), ("index", Dynamic::from_int(index as rhai::INT))])
                .map_err(|e| eval_failed(&format!("map` of item `{base}/{index}"), e))?,
            (None, None) => item,
        };
        self.shape(value).map_err(|(field, why)| {
            let at = match field {
                Some(field) => format!("{base}/{index}/{}", escape_token(&field)),
                None => format!("{base}/{index}"),
            };
            NodeError::new("import", format!("{at}: {why}"))
        })
    }

    /// Reduces an item to the declared fields, converting each.
    fn shape(&self, value: Dynamic) -> Result<Dynamic, (Option<String>, String)> {
        if self.fields.is_empty() {
            return Ok(value);
        }
        let found = type_name(&value);
        let mut source = value
            .flatten()
            .try_cast::<Map>()
            .ok_or_else(|| (None, format!("expected an object, found {found}")))?;
        let mut shaped = Map::new();
        for (name, field_type, optional) in &self.fields {
            let value = source.remove(name.as_str()).unwrap_or(Dynamic::UNIT);
            if value.is_unit() {
                if *optional {
                    shaped.insert(name.as_str().into(), Dynamic::UNIT);
                    continue;
                }
                return Err((
                    Some(name.to_string()),
                    format!("missing (expected {})", field_type.name()),
                ));
            }
            let value = field_type.coerce(value).map_err(|why| (Some(name.to_string()), why))?;
            shaped.insert(name.as_str().into(), value);
        }
        Ok(Dynamic::from_map(shaped))
    }
}

impl Node for JsonImport {
    fn exits(&self) -> Vec<String> {
        vec!["ok".into()]
    }

    fn run<'a>(&'a self, cx: &'a mut RunCx<'_>) -> NodeFuture<'a> {
        Box::pin(async move {
            let items = self.import(cx)?;
            let written = match &self.target {
                Target::Into(path) => cx.write(path, Dynamic::from_array(items)),
                Target::AppendTo(path) => cx.append(path, items),
            };
            written.map_err(|e| NodeError::new("import", e.to_string()))?;
            Ok(Outcome::OK)
        })
    }
}

#[cfg(test)]
mod keep_tests {
    use super::{FieldMapping, item_properties};
    use crate::expr::{ExprEngine, ExprScope, dynamic_to_json, json_to_dynamic};
    use rhai::{Dynamic, Map};

    /// The native mapping gives what Rhai gives, or steps aside.
    #[test]
    fn native_field_mappings_agree_with_rhai() {
        let source = "#{ id: item.id, at: item.start?.dateTime, who: item?.organizer?.emailAddress?.address, n: index, }";
        let native = FieldMapping::parse(source).unwrap();
        let engine = ExprEngine::new();
        let expr = engine.compile_expression(source, &["item", "index"]).unwrap();
        let mut scope =
            ExprScope::new(Dynamic::from_map(Map::new()), Dynamic::from_map(Map::new()));
        for item in [
            serde_json::json!({ "id": "a", "start": { "dateTime": "x" }, "organizer": { "emailAddress": { "address": "o@x" } } }),
            serde_json::json!({ "id": 1 }),
            serde_json::json!({ "organizer": null }),
        ] {
            let item = json_to_dynamic(&item);
            let by_rhai = engine.eval_with(
                &expr,
                &mut scope,
                [("item", item.clone()), ("index", Dynamic::from_int(3))],
            );
            let by_native = native.apply(&item, 3).unwrap();
            assert_eq!(
                dynamic_to_json(&by_native).unwrap(),
                dynamic_to_json(&by_rhai.unwrap()).unwrap()
            );
        }
        // `.` on a missing member is Rhai's error to report.
        let strict = FieldMapping::parse("#{ a: item.x.y }").unwrap();
        assert!(strict.apply(&json_to_dynamic(&serde_json::json!({})), 0).is_none());
        assert!(strict.apply(&json_to_dynamic(&serde_json::json!("text")), 0).is_none());
        for other in [
            "#{ a: item.x + 1 }",
            "#{ a: \"s\" }",
            "#{ a: item }",
            "#{ a: item.f() }",
            "item.a",
            "#{ a: vars.x }",
            "#{ a: item.x, a: item.y }",
        ] {
            assert!(FieldMapping::parse(other).is_none(), "{other}");
        }
    }

    #[test]
    fn reads_the_properties_a_mapping_uses() {
        let map = "#{ id: item.id, start: item.start, org: item?.organizer?.emailAddress?.address, n: index, items: 1 }";
        assert_eq!(item_properties(map).unwrap(), ["id", "start", "organizer"]);
        assert_eq!(item_properties("`${item.subject} (${item.id})`").unwrap(), ["subject", "id"]);
        for whole in
            ["item", "item.keys()", "item[\"a b\"]", "item.len ()", "#{ x: item }", "[item].len()"]
        {
            assert_eq!(item_properties(whole), None, "{whole}");
        }
        assert_eq!(item_properties("#{ a: vars.item.x, b: items }").unwrap(), Vec::<String>::new());
    }
}

#[cfg(test)]
mod tests {
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
}
