//! What a `map` reads, and a `map` of field paths (`#{ id: item.id, at: item.start?.dateTime }`)
//! applied without Rhai.

use rhai::{Dynamic, ImmutableString, Map};

/// A `map` of the form `#{ key: item.a?.b, other: index, … }`, applied without Rhai: the
/// common case of an import, and most of its cost when done through the interpreter.
#[derive(Debug)]
pub(super) struct FieldMapping {
    pub(super) entries: Vec<(ImmutableString, Source)>,
}

#[derive(Debug, Clone)]
pub(super) enum Source {
    Index,
    /// Property names, each with whether it was reached with `?.`.
    Path(Vec<Step>),
}

/// One property access of a field path.
#[derive(Debug, Clone)]
pub(super) struct Step {
    pub(super) name: String,
    /// Reached with `?.`.
    pub(super) optional: bool,
    /// The node of this step in the plan's [`PathTrie`] (0 outside a plan).
    pub(super) node: usize,
}

/// Runs `f` on the value a field path leads to in `value`, as Rhai reads `item.a?.b`: a missing
/// member is `()`, `?.` on `()` makes the whole path `()`. `None` when Rhai must decide (a `.`
/// on `()`, a non-object on the way: Rhai reports those as errors, with its own messages).
pub(super) fn with_leaf<R>(
    value: &Dynamic,
    path: &[Step],
    f: &mut dyn FnMut(&Dynamic) -> R,
) -> Option<R> {
    let Some((step, rest)) = path.split_first() else {
        return Some(f(value));
    };
    if value.is_unit() {
        return step.optional.then(|| f(&Dynamic::UNIT));
    }
    let map = value.as_map_ref().ok()?;
    match map.get(step.name.as_str()) {
        Some(next) => with_leaf(next, rest, f),
        None => with_leaf(&Dynamic::UNIT, rest, f),
    }
}

impl FieldMapping {
    /// Recognises the form; anything else (`None`) is evaluated by Rhai.
    pub(super) fn parse(source: &str) -> Option<Self> {
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
                    path.push(Step { name: name.to_owned(), optional, node: 0 });
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

    /// The mapped item, or `None` when Rhai must decide (see [`with_leaf`]).
    pub(super) fn apply(&self, item: &Dynamic, index: usize) -> Option<Dynamic> {
        let mut out = Map::new();
        for (key, source) in &self.entries {
            let value = match source {
                Source::Index => Dynamic::from_int(index as rhai::INT),
                Source::Path(path) => with_leaf(item, path, &mut Dynamic::clone)?,
            };
            out.insert(key.as_str().into(), value);
        }
        Some(Dynamic::from_map(out))
    }
}

/// The properties of `item` that an expression reads, when every use of `item` is a plain
/// property access (`item.subject`, `item?.location`); `None` when anything else uses it (a
/// method call, an index, the bare item), so the whole item must be built.
pub(super) fn item_properties(source: &str) -> Option<Vec<String>> {
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

#[cfg(test)]
mod tests {
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
