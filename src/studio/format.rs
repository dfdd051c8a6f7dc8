//! The studio's file format: stable key order (the file's own) and a layout in which every
//! node, edge and parameter sits on one line, so that moving a node changes one line.
//!
//! A file that exists is not reformatted: [`flow_text_keeping`] keeps the text of every part
//! whose value did not change, byte for byte, and writes only what changed, so that a
//! hand-formatted file also gets a one-line diff for a one-node move.

use serde_json::Value;
use std::collections::HashMap;

/// Formats a flow document: the top-level keys one per line; each element of `nodes` and
/// `edges` and each entry of `parameters` on a line of its own; everything else compact (with
/// spaces after `:` and `,`). Keys keep the order they have in `value`. Ends with a newline.
pub fn flow_text(value: &Value) -> String {
    let Value::Object(top) = value else {
        let mut out = String::new();
        inline(value, &mut out);
        out.push('\n');
        return out;
    };
    if top.is_empty() {
        return "{}\n".to_owned();
    }
    let mut out = String::from("{\n");
    let count = top.len();
    for (i, (key, item)) in top.iter().enumerate() {
        out.push_str("  ");
        out.push_str(&quote(key));
        out.push_str(": ");
        top_value(key, item, &mut out);
        out.push_str(if i + 1 < count { ",\n" } else { "\n" });
    }
    out.push_str("}\n");
    out
}

/// A top-level member's value as [`flow_text`] lays it out.
fn top_value(key: &str, item: &Value, out: &mut String) {
    match (key, item) {
        ("nodes" | "edges", Value::Array(items)) if !items.is_empty() => {
            out.push_str("[\n");
            for (j, element) in items.iter().enumerate() {
                out.push_str("    ");
                inline(element, out);
                out.push_str(if j + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str("  ]");
        }
        ("parameters", Value::Object(map)) if !map.is_empty() => {
            out.push_str("{\n");
            for (j, (name, param)) in map.iter().enumerate() {
                out.push_str("    ");
                out.push_str(&quote(name));
                out.push_str(": ");
                inline(param, out);
                out.push_str(if j + 1 < map.len() { ",\n" } else { "\n" });
            }
            out.push_str("  }");
        }
        _ => inline(item, out),
    }
}

fn quote(text: &str) -> String {
    // Serialising a string can't fail.
    serde_json::to_string(text).unwrap_or_default()
}

/// One-line JSON: `{ "a": 1, "b": [1, 2] }`.
fn inline(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            out.push_str("{ ");
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&quote(key));
                out.push_str(": ");
                inline(item, out);
            }
            out.push_str(" }");
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                inline(item, out);
            }
            out.push(']');
        }
        Value::String(text) => out.push_str(&quote(text)),
        other => out.push_str(&other.to_string()),
    }
}

/// Formats `value` as the new text of a file that held `original`: every part whose value is
/// unchanged keeps its text byte for byte (so do the spaces and line breaks between members and
/// elements), changed scalars are written in place, and only new members and elements take
/// [`flow_text`]'s layout. Objects whose keys did not change keep the file's key order (a
/// browser moves keys like `"404"` first; the studio never reorders keys on purpose), and nodes
/// are matched by `id`, other elements by position. Falls back to [`flow_text`] when `original`
/// is not JSON.
pub fn flow_text_keeping(value: &Value, original: &str) -> String {
    let Some(root) = Spans::parse(original) else {
        return flow_text(value);
    };
    let keep = Keep { text: original };
    let mut out = String::with_capacity(original.len() + 64);
    out.push_str(keep.cut(0, root.start));
    keep.emit(value, &root, Place::Root, &mut out);
    out.push_str(keep.cut(root.end, original.len()));
    // Whatever was kept, the text must say exactly `value`; if not, the canonical layout does.
    match serde_json::from_str::<Value>(&out) {
        Ok(back) if back == *value => out,
        _ => flow_text(value),
    }
}

/// Where a JSON value sits in a text.
struct Span {
    start: usize,
    end: usize,
    kind: SpanKind,
}

enum SpanKind {
    Scalar,
    /// Members: the key's start, the key, the value.
    Object(Vec<(usize, String, Span)>),
    Array(Vec<Span>),
}

/// A small parser of JSON text that records where each value is.
struct Spans<'t> {
    bytes: &'t [u8],
    at: usize,
}

impl<'t> Spans<'t> {
    fn parse(text: &'t str) -> Option<Span> {
        let mut p = Spans { bytes: text.as_bytes(), at: 0 };
        p.space();
        let root = p.value(0)?;
        p.space();
        (p.at == p.bytes.len()).then_some(root)
    }

    fn space(&mut self) {
        while self.bytes.get(self.at).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.bytes.get(self.at) == Some(&byte)).then(|| self.at += 1)
    }

    fn string(&mut self) -> Option<String> {
        let start = self.at;
        self.eat(b'"')?;
        loop {
            match self.bytes.get(self.at)? {
                b'"' => break,
                b'\\' => self.at += 2,
                _ => self.at += 1,
            }
        }
        self.at += 1;
        let raw = std::str::from_utf8(self.bytes.get(start..self.at)?).ok()?;
        serde_json::from_str(raw).ok()
    }

    fn value(&mut self, depth: usize) -> Option<Span> {
        // Deeper than any Weft file may be: not kept (and serde never sees it).
        if depth > crate::flow::json::MAX_DEPTH {
            return None;
        }
        let start = self.at;
        let kind =
            match self.bytes.get(self.at)? {
                b'{' => {
                    self.at += 1;
                    let mut members = Vec::new();
                    self.space();
                    if self.eat(b'}').is_none() {
                        loop {
                            self.space();
                            let key_start = self.at;
                            let key = self.string()?;
                            self.space();
                            self.eat(b':')?;
                            self.space();
                            members.push((key_start, key, self.value(depth + 1)?));
                            self.space();
                            if self.eat(b',').is_none() {
                                self.eat(b'}')?;
                                break;
                            }
                        }
                    }
                    SpanKind::Object(members)
                }
                b'[' => {
                    self.at += 1;
                    let mut items = Vec::new();
                    self.space();
                    if self.eat(b']').is_none() {
                        loop {
                            self.space();
                            items.push(self.value(depth + 1)?);
                            self.space();
                            if self.eat(b',').is_none() {
                                self.eat(b']')?;
                                break;
                            }
                        }
                    }
                    SpanKind::Array(items)
                }
                b'"' => {
                    self.string()?;
                    SpanKind::Scalar
                }
                _ => {
                    while self.bytes.get(self.at).is_some_and(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')
                    }) {
                        self.at += 1;
                    }
                    if self.at == start {
                        return None;
                    }
                    SpanKind::Scalar
                }
            };
        Some(Span { start, end: self.at, kind })
    }
}

/// Where a value is in the document: its layout when it is written anew depends on it.
#[derive(Clone, Copy)]
enum Place<'k> {
    /// The whole document.
    Root,
    /// The value of the top-level member named so.
    Member(&'k str),
    /// Anywhere deeper.
    Inner,
}

/// Writes new values over an original text, keeping what did not change.
struct Keep<'t> {
    text: &'t str,
}

impl Keep<'_> {
    /// The original text from `from` to `to` (span ends are always at ASCII characters).
    fn cut(&self, from: usize, to: usize) -> &str {
        self.text.get(from..to).unwrap_or_default()
    }

    fn original(&self, span: &Span) -> Option<Value> {
        serde_json::from_str(self.cut(span.start, span.end)).ok()
    }

    /// Writes `value` where `span` was.
    fn emit(&self, value: &Value, span: &Span, place: Place<'_>, out: &mut String) {
        // Equal as JSON (key order aside): the original text stays, key order included.
        if self.original(span).as_ref() == Some(value) {
            out.push_str(self.cut(span.start, span.end));
            return;
        }
        let top = matches!(place, Place::Root);
        match (value, &span.kind) {
            (Value::Object(map), SpanKind::Object(members))
                if !members.is_empty() && !map.is_empty() =>
            {
                let starts: Vec<(usize, usize)> =
                    members.iter().map(|(key_start, _, v)| (*key_start, v.end)).collect();
                out.push_str(self.cut(span.start, starts[0].0));
                let same_keys = map.len() == members.len()
                    && members.iter().all(|(_, key, _)| map.contains_key(key));
                let order: Vec<&String> = if same_keys {
                    members.iter().map(|(_, key, _)| key).collect()
                } else {
                    map.keys().collect()
                };
                // Where each key was (its first place): one look-up per member, not a search.
                let mut places: HashMap<&str, usize> = HashMap::with_capacity(members.len());
                for (k, (_, key, _)) in members.iter().enumerate() {
                    places.entry(key.as_str()).or_insert(k);
                }
                for (i, name) in order.into_iter().enumerate() {
                    let was = places.get(name.as_str()).copied();
                    if i > 0 {
                        out.push_str(&self.separator(span, &starts, was, i));
                    }
                    let Some(item) = map.get(name) else { continue };
                    match was.map(|k| &members[k]) {
                        Some((key_start, _, old)) => {
                            out.push_str(self.cut(*key_start, old.start));
                            let inner = if top { Place::Member(name) } else { Place::Inner };
                            self.emit(item, old, inner, out);
                        }
                        None => {
                            out.push_str(&quote(name));
                            out.push_str(": ");
                            if top {
                                top_value(name, item, out);
                            } else {
                                inline(item, out);
                            }
                        }
                    }
                }
                out.push_str(self.cut(starts[starts.len() - 1].1, span.end));
            }
            (Value::Array(items), SpanKind::Array(olds))
                if !olds.is_empty() && !items.is_empty() =>
            {
                let starts: Vec<(usize, usize)> = olds.iter().map(|o| (o.start, o.end)).collect();
                out.push_str(self.cut(span.start, starts[0].0));
                let ids = self.ids(olds);
                for (i, item) in items.iter().enumerate() {
                    let was = counterpart(item, i, olds, &ids);
                    if i > 0 {
                        out.push_str(&self.separator(span, &starts, was, i));
                    }
                    match was.and_then(|k| olds.get(k)) {
                        Some(old) => self.emit(item, old, Place::Inner, out),
                        None => inline(item, out),
                    }
                }
                out.push_str(self.cut(starts[starts.len() - 1].1, span.end));
            }
            _ => match place {
                Place::Root => out.push_str(flow_text(value).trim_end()),
                Place::Member(key) => top_value(key, value, out),
                Place::Inner => inline(value, out),
            },
        }
    }

    /// The separator before the `i`-th member or element of `span` (`parts`: the original's
    /// starts and ends; `was`: where it was in the original): the one it had, else the one at
    /// its position, else the last one; with no separator in the original, a line break when
    /// the first element is on a line of its own.
    fn separator(
        &self,
        span: &Span,
        parts: &[(usize, usize)],
        was: Option<usize>,
        i: usize,
    ) -> String {
        let between = |k: usize| self.cut(parts[k - 1].1, parts[k].0).to_owned();
        match was {
            Some(k) if k > 0 => between(k),
            _ if i < parts.len() => between(i),
            _ if parts.len() >= 2 => between(parts.len() - 1),
            _ => {
                let lead = self.cut(span.start + 1, parts.first().map_or(span.start + 1, |p| p.0));
                if lead.contains('\n') { format!(",{lead}") } else { ", ".to_owned() }
            }
        }
    }

    /// Where each `id` is among an array's original elements (the first element with it).
    fn ids(&self, olds: &[Span]) -> HashMap<String, usize> {
        let mut ids = HashMap::new();
        for (k, old) in olds.iter().enumerate() {
            let SpanKind::Object(members) = &old.kind else { continue };
            let id = members.iter().find(|(_, key, _)| key == "id");
            if let Some(Value::String(id)) = id.and_then(|(_, _, v)| self.original(v)) {
                ids.entry(id).or_insert(k);
            }
        }
        ids
    }
}

/// Where the element an array's `i`-th element replaces was: the node with the same `id`
/// (`ids`: [`Keep::ids`] of the original elements), else the element at the same position.
fn counterpart(
    item: &Value,
    i: usize,
    olds: &[Span],
    ids: &HashMap<String, usize>,
) -> Option<usize> {
    if let Some(id) = item.get("id").and_then(Value::as_str) {
        return ids.get(id).copied();
    }
    (i < olds.len()).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_and_edges_one_per_line_keys_in_file_order() {
        let value: Value = serde_json::from_str(
            r#"{"format":"weft.flow/1","start":"a","nodes":[{"type":"end","id":"a","position":[1,2]}],
               "edges":[],"parameters":{"p":{"type":"string"}},"variables":{"x":[1,{"y":"z"}]}}"#,
        )
        .unwrap();
        let text = flow_text(&value);
        assert_eq!(
            text,
            "{\n  \"format\": \"weft.flow/1\",\n  \"start\": \"a\",\n  \"nodes\": [\n    \
             { \"type\": \"end\", \"id\": \"a\", \"position\": [1, 2] }\n  ],\n  \"edges\": [],\n  \
             \"parameters\": {\n    \"p\": { \"type\": \"string\" }\n  },\n  \
             \"variables\": { \"x\": [1, { \"y\": \"z\" }] }\n}\n"
        );
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }

    const HAND: &str = "{\n  \"format\": \"weft.flow/1\",\n  \"name\": \"hand\",\n  \"start\": \"a\",\n  \"nodes\": [\n    { \"id\": \"a\", \"type\": \"assign\", \"position\": [40, 40],\n      \"set\": {\n        \"vars.x\": \"1\"\n      } },\n    { \"id\": \"b\", \"type\": \"end\",\n      \"position\": [40, 140] }\n  ],\n  \"edges\": [\n    { \"from\": \"a\", \"to\": \"b\" }\n  ],\n  \"variables\": { \"codes\": { \"b\": 1, \"404\": 2 } }\n}\n";

    fn changed_lines(a: &str, b: &str) -> Vec<(String, String)> {
        assert_eq!(a.lines().count(), b.lines().count(), "{b}");
        a.lines()
            .zip(b.lines())
            .filter(|(x, y)| x != y)
            .map(|(x, y)| (x.into(), y.into()))
            .collect()
    }

    #[test]
    fn keeping_an_unchanged_file_keeps_every_byte() {
        let value: Value = serde_json::from_str(HAND).unwrap();
        assert_eq!(flow_text_keeping(&value, HAND), HAND);
        // Keys a browser reorders ("404" before "b") keep the file's order.
        let mut reordered = value.clone();
        reordered["variables"]["codes"] = serde_json::json!({ "404": 2, "b": 1 });
        assert_eq!(flow_text_keeping(&reordered, HAND), HAND);
    }

    #[test]
    fn a_move_in_a_hand_formatted_file_changes_one_line() {
        let mut value: Value = serde_json::from_str(HAND).unwrap();
        value["nodes"][1]["position"] = serde_json::json!([300, 260]);
        let text = flow_text_keeping(&value, HAND);
        assert_eq!(
            changed_lines(HAND, &text),
            [("      \"position\": [40, 140] }".into(), "      \"position\": [300, 260] }".into())]
        );
        // A changed expression is written in place; the other lines stay.
        value["nodes"][0]["set"]["vars.x"] = "2".into();
        let text = flow_text_keeping(&value, HAND);
        assert_eq!(changed_lines(HAND, &text).len(), 2, "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
    }

    #[test]
    fn new_nodes_edges_and_members_take_the_canonical_layout() {
        let mut value: Value = serde_json::from_str(HAND).unwrap();
        let nodes = value["nodes"].as_array_mut().unwrap();
        nodes.push(serde_json::json!({ "id": "c", "type": "end" }));
        value["edges"].as_array_mut().unwrap().push(serde_json::json!({ "from": "b", "to": "c" }));
        value["description"] = "new".into();
        value["nodes"][0].as_object_mut().unwrap().remove("position");
        let text = flow_text_keeping(&value, HAND);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
        assert!(text.contains(",\n    { \"id\": \"c\", \"type\": \"end\" }\n  ]"), "{text}");
        assert!(
            text.contains(
                "    { \"from\": \"a\", \"to\": \"b\" },\n    { \"from\": \"b\", \"to\": \"c\" }\n"
            ),
            "{text}"
        );
        assert!(text.contains(",\n  \"description\": \"new\"\n}"), "{text}");
        assert!(text.contains("{ \"id\": \"a\", \"type\": \"assign\",\n      \"set\""), "{text}");
        // A node list that was empty gets one node a line.
        let empty = "{ \"format\": \"weft.flow/1\", \"nodes\": [] }";
        let value = serde_json::json!({ "format": "weft.flow/1",
            "nodes": [ { "id": "a", "type": "end" }, { "id": "b", "type": "end" } ] });
        let text = flow_text_keeping(&value, empty);
        assert!(
            text.contains("[\n    { \"id\": \"a\", \"type\": \"end\" },\n    { \"id\": \"b\""),
            "{text}"
        );
        // Not JSON: the canonical layout.
        assert_eq!(flow_text_keeping(&value, "{ nope"), flow_text(&value));
    }
}
