//! `json_import`: maps a JSON document (or part of it) into a list in `vars`.
//!
//! The whole list is built before anything is written, so a failure at item 17 leaves `vars`
//! as it was.

use super::{eval_failed, type_name};
use crate::clip::clip;
use crate::expr::pick::{Capture, PathTrie, Slot, stream_picks};
use crate::expr::{EvalError, Expr, Streamed, stream_array, time};
use crate::kind::{CompileCx, NodeConfig, escape_token};
use crate::node::{Node, NodeError, NodeFuture, Outcome, RunCx};
use crate::pointer::JsonPointer;
use crate::vars::{VarPath, Vars, at_path};
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
            Self::Datetime => datetime(&value),
            Self::Object if value.is_map() => Ok(value),
            Self::Array if value.is_array() => Ok(value),
            _ => fail(""),
        }
    }
}

/// Converts an instant as the `datetime` type does; read by reference, so an already-parsed
/// item's `{ dateTime, timeZone }` map is not copied.
fn datetime(value: &Dynamic) -> Result<Dynamic, String> {
    let instant = if let Ok(text) = value.as_immutable_string_ref() {
        time::parse_datetime(&text)
    } else if let Some(map) = value.read_lock::<Map>() {
        let member = |name: &str| map.get(name).and_then(|v| v.as_immutable_string_ref().ok());
        match (member("dateTime"), member("timeZone")) {
            (Some(dt), Some(tz)) => time::graph_to_utc(&dt, &tz),
            (Some(dt), None) => time::parse_datetime(&dt),
            _ => Err("an object needs `dateTime` (and `timeZone`)".into()),
        }
    } else {
        Err(format!("found {}", type_name(value)))
    };
    instant
        .map(|at| Dynamic::from(time::format_instant(&at)))
        .map_err(|why| format!("expected datetime: {why}"))
}

/// A built `json_import` node.
pub struct JsonImport {
    from: Expr,
    /// `from` when it is a plain variable path (`vars.page.items`): the value is then read in
    /// place instead of being copied out by Rhai.
    from_vars: Option<VarPath>,
    select: Option<JsonPointer>,
    map: Option<Expr>,
    fields: Vec<(ImmutableString, FieldType, bool)>,
    target: Target,
    /// The members of each item the import reads, when that is known: JSON text is then
    /// parsed only as far as they go.
    keep: Option<Vec<String>>,
    /// The `map` done natively, when it is a map literal of field paths.
    native: Option<FieldMapping>,
    /// `map` and `fields` together without Rhai or intermediate maps, when `map` is a
    /// field-path map (or absent with `fields`).
    plan: Option<Plan>,
}

/// A `map` of the form `#{ key: item.a?.b, other: index, … }`, applied without Rhai: the
/// common case of an import, and most of its cost when done through the interpreter.
#[derive(Debug)]
struct FieldMapping {
    entries: Vec<(ImmutableString, Source)>,
}

#[derive(Debug, Clone)]
enum Source {
    Index,
    /// Property names, each with whether it was reached with `?.`.
    Path(Vec<Step>),
}

/// One property access of a field path.
#[derive(Debug, Clone)]
struct Step {
    name: String,
    /// Reached with `?.`.
    optional: bool,
    /// The node of this step in the plan's [`PathTrie`] (0 outside a plan).
    node: usize,
}

/// Runs `f` on the value a field path leads to in `value`, as Rhai reads `item.a?.b`: a missing
/// member is `()`, `?.` on `()` makes the whole path `()`. `None` when Rhai must decide (a `.`
/// on `()`, a non-object on the way: Rhai reports those as errors, with its own messages).
fn with_leaf<R>(value: &Dynamic, path: &[Step], f: &mut dyn FnMut(&Dynamic) -> R) -> Option<R> {
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
    fn apply(&self, item: &Dynamic, index: usize) -> Option<Dynamic> {
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

/// `map` and `fields` applied in one go, natively: each output value is read straight from the
/// item (from the JSON text by a [`PathTrie`], or from an already-parsed item by reference),
/// with no Rhai map built for the item or its sub-objects.
///
/// It only ever produces what the general path (Rhai, then shaping) would: whenever an item
/// holds anything that path would report as an error, or that Rhai would decide itself, the
/// plan answers `None` and the whole import is done the general way, which then reports the
/// error with its own message and location.
#[derive(Debug)]
struct Plan {
    trie: PathTrie,
    /// Ordered by key, as the result map holds them, so that values are set in order.
    outputs: Vec<Output>,
    /// The result map with every key and `()` values: cloning it and filling in the values is
    /// cheaper than inserting each into a fresh map.
    template: Map,
}

/// One value a plan computes per item.
#[derive(Debug)]
struct Output {
    /// The key in the result; `None` for a `map` entry that `fields` drops, which is still
    /// followed because Rhai would fail on it.
    key: Option<smartstring::SmartString<smartstring::LazyCompact>>,
    source: Pick,
    /// The declared type and whether it is optional, when `fields` is given.
    typed: Option<(FieldType, bool)>,
    /// The only reader of its trie node: the value can be moved out of the slot.
    take: bool,
}

#[derive(Debug)]
enum Pick {
    Index,
    /// A field `map` does not produce.
    Unit,
    Path(Vec<Step>),
}

/// A value a plan read, before its field type is applied.
enum Leaf<'a> {
    Ref(&'a Dynamic),
    Owned(Dynamic),
    /// Already converted by the `datetime` rules.
    Instant(Dynamic),
}

impl Plan {
    /// The plan for a field-path `map` (`native`), or for `fields` alone; `None` for any other
    /// `map` or when there is nothing to shape.
    fn new(
        map_given: bool,
        native: Option<&FieldMapping>,
        fields: &[(ImmutableString, FieldType, bool)],
    ) -> Option<Self> {
        let entries: Vec<(ImmutableString, Source)> = match native {
            Some(native) => native.entries.clone(),
            None if map_given || fields.is_empty() => return None,
            // Without `map` the item itself is shaped: `fields` reads its members.
            None => fields
                .iter()
                .map(|(name, _, _)| {
                    let step = Step { name: name.to_string(), optional: false, node: 0 };
                    (name.clone(), Source::Path(vec![step]))
                })
                .collect(),
        };
        let mut outputs = Vec::new();
        if fields.is_empty() {
            for (key, source) in &entries {
                outputs.push((Some(key.clone()), Some(source.clone()), None));
            }
        } else {
            for (name, field_type, optional) in fields {
                let source = entries.iter().find(|(k, _)| k == name).map(|(_, s)| s.clone());
                outputs.push((Some(name.clone()), source, Some((*field_type, *optional))));
            }
            for (key, source) in &entries {
                if !fields.iter().any(|(name, _, _)| name == key) {
                    outputs.push((None, Some(source.clone()), None));
                }
            }
        }
        let mut trie = PathTrie::new();
        let mut built = Vec::with_capacity(outputs.len());
        for (key, source, typed) in outputs {
            let source = match source {
                None => Pick::Unit,
                Some(Source::Index) => Pick::Index,
                Some(Source::Path(mut steps)) => {
                    let capture = match (&key, typed) {
                        (None, _) => Capture::Nothing,
                        (Some(_), Some((FieldType::Datetime, _))) => Capture::Datetime,
                        (Some(_), _) => Capture::Value,
                    };
                    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
                    let nodes = trie.insert(&names, capture);
                    for (step, node) in steps.iter_mut().zip(nodes) {
                        step.node = node;
                    }
                    Pick::Path(steps)
                }
            };
            built.push(Output { key: key.map(|k| k.as_str().into()), source, typed, take: false });
        }
        // A value may be moved out of its slot when nothing else reads that node: no other
        // output ends there and no path goes on below it.
        let ends = |node: usize| {
            built
                .iter()
                .filter(|o| matches!(&o.source, Pick::Path(p) if p.last().is_some_and(|s| s.node == node)))
                .count()
        };
        let passed = |node: usize| {
            built.iter().any(|o| {
                matches!(&o.source, Pick::Path(p) if p.iter().rev().skip(1).any(|s| s.node == node))
            })
        };
        let takes: Vec<bool> = built
            .iter()
            .map(|o| match &o.source {
                Pick::Path(p) => p.last().is_some_and(|s| ends(s.node) == 1 && !passed(s.node)),
                _ => false,
            })
            .collect();
        for (output, take) in built.iter_mut().zip(takes) {
            output.take = take;
        }
        built.sort_by(|a, b| a.key.as_deref().cmp(&b.key.as_deref()));
        let template = built.iter().filter_map(|o| Some((o.key.clone()?, Dynamic::UNIT))).collect();
        Some(Self { trie, outputs: built, template })
    }

    /// Imports the array at `path` in JSON text; `None` when the general path must do it (an
    /// item it can't be sure of, text that is not JSON, no array there).
    fn text(&self, text: &str, path: &[String]) -> Option<Array> {
        let mut out = Array::new();
        let mut sure = true;
        let found = stream_picks(text, path, &self.trie, &mut |index, slots| match self
            .of_slots(slots, index)
        {
            Some(item) => {
                out.push(item);
                Ok(())
            }
            None => {
                sure = false;
                Err(String::new())
            }
        });
        (sure && matches!(found, Ok(Some("array")))).then_some(out)
    }

    /// Imports already-parsed items; `None` when the general path must do it.
    fn items(&self, items: &[Dynamic]) -> Option<Array> {
        let mut out = Array::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            out.push(self.of_item(item, index)?);
        }
        Some(out)
    }

    fn of_item(&self, item: &Dynamic, index: usize) -> Option<Dynamic> {
        let mut out = self.template.clone();
        let mut values = out.values_mut();
        for output in &self.outputs {
            let value = match &output.source {
                Pick::Index => output.finish(Leaf::Owned(Dynamic::from_int(index as rhai::INT))),
                Pick::Unit => output.finish(Leaf::Owned(Dynamic::UNIT)),
                Pick::Path(steps) => {
                    with_leaf(item, steps, &mut |leaf| output.finish(Leaf::Ref(leaf)))?
                }
            }?;
            if output.key.is_some()
                && let Some(slot) = values.next()
            {
                *slot = value;
            }
        }
        Some(Dynamic::from_map(out))
    }

    fn of_slots(&self, slots: &mut [Slot], index: usize) -> Option<Dynamic> {
        let mut out = self.template.clone();
        let mut values = out.values_mut();
        for output in &self.outputs {
            let leaf = match &output.source {
                Pick::Index => Leaf::Owned(Dynamic::from_int(index as rhai::INT)),
                Pick::Unit => Leaf::Owned(Dynamic::UNIT),
                Pick::Path(steps) => match Self::read(slots, steps, output) {
                    Some(Ok(leaf)) => leaf,
                    // The path continues inside a value kept whole.
                    Some(Err((value, rest))) => {
                        let value = with_leaf(&value, rest, &mut Dynamic::clone)?;
                        Leaf::Owned(value)
                    }
                    None => return None,
                },
            };
            let value = output.finish(leaf)?;
            if output.key.is_some()
                && let Some(slot) = values.next()
            {
                *slot = value;
            }
        }
        Some(Dynamic::from_map(out))
    }

    /// Follows `steps` through an item's slots, as [`with_leaf`] follows them through a value;
    /// `Err` with a kept value and the steps still to take inside it.
    #[allow(clippy::type_complexity)]
    fn read<'s>(
        slots: &mut [Slot],
        steps: &'s [Step],
        output: &Output,
    ) -> Option<Result<Leaf<'static>, (Dynamic, &'s [Step])>> {
        let mut at = 0;
        for (i, step) in steps.iter().enumerate() {
            match &slots[at] {
                Slot::Absent | Slot::Null => {
                    return step.optional.then_some(Ok(Leaf::Owned(Dynamic::UNIT)));
                }
                Slot::Object => at = step.node,
                Slot::Value(value) => return Some(Err((value.clone(), &steps[i..]))),
                Slot::Other | Slot::Instant(_) => return None,
            }
        }
        let leaf = match &mut slots[at] {
            Slot::Absent | Slot::Null => Leaf::Owned(Dynamic::UNIT),
            // Only paths nobody reads end at a node followed into.
            Slot::Object | Slot::Other => {
                return output.key.is_none().then_some(Ok(Leaf::Owned(Dynamic::UNIT)));
            }
            Slot::Value(value) if output.take => Leaf::Owned(std::mem::take(value)),
            Slot::Value(value) => Leaf::Owned(value.clone()),
            Slot::Instant(Some(value)) if output.take => Leaf::Instant(std::mem::take(value)),
            Slot::Instant(Some(value)) => Leaf::Instant(value.clone()),
            Slot::Instant(None) => return None,
        };
        Some(Ok(leaf))
    }
}

impl Output {
    /// The output value for what its path led to, as shaping would make it; `None` where
    /// shaping would fail.
    fn finish(&self, leaf: Leaf<'_>) -> Option<Dynamic> {
        if self.key.is_none() {
            return Some(Dynamic::UNIT);
        }
        let Some((field_type, optional)) = self.typed else {
            return match leaf {
                Leaf::Ref(value) => Some(value.clone()),
                Leaf::Owned(value) => Some(value),
                Leaf::Instant(_) => None,
            };
        };
        let is_unit = match &leaf {
            Leaf::Ref(value) => value.is_unit(),
            Leaf::Owned(value) | Leaf::Instant(value) => value.is_unit(),
        };
        if is_unit {
            return optional.then_some(Dynamic::UNIT);
        }
        match leaf {
            Leaf::Instant(value) => (field_type == FieldType::Datetime).then_some(value),
            Leaf::Ref(value) if field_type == FieldType::Datetime => datetime(value).ok(),
            Leaf::Ref(value) => field_type.coerce(value.clone()).ok(),
            Leaf::Owned(value) => field_type.coerce(value).ok(),
        }
    }
}

/// `from` as a variable path (`vars.page.items` → `page.items`), when it is one.
fn vars_path(source: &str) -> Option<VarPath> {
    VarPath::parse(source.trim().strip_prefix("vars.")?).ok()
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
        self.compile(cx).map(|node| Box::new(node) as Box<dyn Node>)
    }
}

impl JsonImportConfig {
    fn compile(self, cx: &mut CompileCx<'_>) -> Option<JsonImport> {
        let mut ok = true;
        // Read from where it lies when the plan can do it (as text when it waits as text).
        let from = cx.expression_read_by_node("/from", &self.from, &[]);
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
        let plan = Plan::new(self.map.is_some(), native.as_ref(), &fields);
        let from_vars = vars_path(&self.from);
        if plan.is_none() || from_vars.is_none() {
            cx.add_reads(from.reads());
        }
        Some(JsonImport { from, from_vars, select, map, fields, target, keep, native, plan })
    }
}

/// Evaluates `map` for one item (`item`, `index`).
type MapEval<'a> = dyn FnMut(&Expr, Dynamic, usize) -> Result<Dynamic, EvalError> + 'a;

impl JsonImport {
    fn import(&self, cx: &mut RunCx<'_>) -> Result<Array, NodeError> {
        if let Some(items) = self.import_in_place(cx.vars()) {
            return Ok(items);
        }
        let document = cx.eval(&self.from).map_err(|e| eval_failed("from", e))?.flatten();
        self.import_document(document, true, &mut |map, item, index| {
            cx.eval_with(map, [("item", item), ("index", Dynamic::from_int(index as rhai::INT))])
        })
    }

    /// The import of a `from` that names a variable, done by the plan on the variable where it
    /// lies (no copy of a 100 000-item list; straight from the text when it, or what holds it,
    /// waits as JSON text); `None` when anything needs the general path.
    fn import_in_place(&self, vars: &Vars) -> Option<Array> {
        let (plan, path) = (self.plan.as_ref()?, self.from_vars.as_ref()?);
        let tokens = self.select.as_ref().map(|p| p.tokens()).unwrap_or_default();
        // `from`'s path, then `select` into it: the text may wait anywhere along the two.
        let whole: Vec<&str> = path
            .segments()
            .iter()
            .map(|s| s.as_str())
            .chain(tokens.iter().map(String::as_str))
            .collect();
        if let Some((text, depth)) = vars.json_text_at(&whole) {
            let inside: Vec<String> = whole[depth..].iter().map(|s| s.to_string()).collect();
            return plan.text(text.as_str(), &inside);
        }
        vars.read(path, |document| {
            if let Ok(text) = document.as_immutable_string_ref() {
                return plan.text(text.as_str(), tokens);
            }
            if tokens.is_empty() {
                return plan.items(&document.as_array_ref().ok()?);
            }
            let map = document.as_map_ref().ok()?;
            // `select` into maps only; anything else is the general path's to read.
            at_path(&map, tokens, |list| plan.items(&list.as_array_ref().ok()?))
        })
    }

    /// Imports `document` (the value of `from`), by the plan when `fast` and it can be sure,
    /// otherwise by Rhai and shaping.
    fn import_document(
        &self,
        document: Dynamic,
        fast: bool,
        eval: &mut MapEval<'_>,
    ) -> Result<Array, NodeError> {
        let plan = self.plan.as_ref().filter(|_| fast);
        let import_error = |message: String| NodeError::new("import", message);
        let base = self.select.as_ref().map(|p| p.as_str()).unwrap_or("");
        let not_a_list = |found: &str| {
            import_error(format!(
                "`{}` is {found}, not a list",
                clip(if base.is_empty() { "/" } else { base })
            ))
        };
        let missing = || import_error(format!("`{}` is not in the document", clip(base)));
        let mut out = Array::new();
        if document.is_string() {
            // JSON text is streamed: one item at a time is a Rhai value, never the whole document.
            let text = document.into_immutable_string().unwrap_or_default();
            let path = self.select.as_ref().map(|p| p.tokens()).unwrap_or_default();
            if let Some(out) = plan.and_then(|plan| plan.text(text.as_str(), path)) {
                return Ok(out);
            }
            let mut failure = None;
            let found =
                stream_array(text.as_bytes(), path, self.keep.as_deref(), &mut |streamed| {
                    let (index, item) = match streamed {
                        Streamed::Element(index, item) => (index, item),
                        Streamed::Restart => {
                            out.clear();
                            return Ok(());
                        }
                    };
                    match self.item(eval, base, index, item) {
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
        if let Some(out) = plan.and_then(|plan| plan.items(&items)) {
            return Ok(out);
        }
        out.reserve(items.len());
        for (index, item) in items.into_iter().enumerate() {
            out.push(self.item(eval, base, index, item)?);
        }
        Ok(out)
    }

    /// Maps and shapes one item; errors name the item (and field) by JSON pointer.
    fn item(
        &self,
        eval: &mut MapEval<'_>,
        base: &str,
        index: usize,
        item: Dynamic,
    ) -> Result<Dynamic, NodeError> {
        let native = self.native.as_ref().and_then(|native| native.apply(&item, index));
        let value = match (&self.map, native) {
            (_, Some(value)) => value,
            (Some(map), None) => eval(map, item, index)
                .map_err(|e| eval_failed(&format!("map` of item `{base}/{index}"), e))?,
            (None, None) => item,
        };
        self.shape(value).map_err(|(field, why)| {
            let at = match field {
                Some(field) => format!("{base}/{index}/{}", escape_token(&field)),
                None => format!("{base}/{index}"),
            };
            NodeError::new("import", format!("{}: {why}", clip(&at)))
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
            written.map_err(|e| NodeError::write_failed("import", &e))?;
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
}

/// The plan (fast path) against the general path (Rhai, then shaping) on the same input: same
/// items, or the same error.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod plan_tests {
    use super::{JsonImport, JsonImportConfig};
    use crate::expr::{ExprEngine, ExprScope, dynamic_to_json, parse_json};
    use crate::kind::CompileCx;
    use crate::vars::{JsonText, VarPath, Vars};
    use proptest::prelude::*;
    use rhai::{Dynamic, Map};
    use serde_json::{Value, json};

    const CALENDAR: &str = "#{ id: item.id, subject: item.subject, start: item.start, end: item.end, is_all_day: item.isAllDay, location: item.location?.displayName, organizer: item.organizer?.emailAddress?.address }";

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
                config
                    .compile(&mut CompileCx::new(&engine, "i", "/nodes/0", &mut diagnostics))
                    .unwrap()
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
                Some(
                    json!({ "a": "string", "b": "string?", "n": "string", "missing": "boolean?" }),
                ),
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
}
