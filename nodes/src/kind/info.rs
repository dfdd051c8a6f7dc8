//! What a kind says about itself beyond the types of its fields: its exits, how it is drawn,
//! which fields hold expressions, templates and profile names. The loader, the drawings and the
//! studio read this instead of knowing kinds by name, so adding a kind touches only the kit.
//!
//! Fields are named by *field patterns*: JSON pointers into a node's object in which a `*`
//! token stands for any member or index (`/conditions/*/when`). A pattern names the values at
//! its places and everything inside them: `/body` names every string of a JSON body.

use super::escape_token;
use crate::pointer::array_index;
use serde_json::{Map, Value, json};

/// How a kind's nodes are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A box: a step.
    Box,
    /// A diamond: a branch.
    Diamond,
    /// An oval: where a run ends.
    Oval,
}

impl Shape {
    /// Its name in the schema's `x-weft-shape`.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Box => "box",
            Shape::Diamond => "diamond",
            Shape::Oval => "oval",
        }
    }
}

/// What a kind says about itself, declared by its config ([`super::NodeConfig::INFO`]) and
/// published in its schema as `x-weft-*` annotations ([`KindInfo::annotations`]).
///
/// Everything here is read when a flow loads, by drawings and by the studio; nothing per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// The exits of a node of this kind before it is built, `error` included when it has it,
    /// after the exits its `exit_fields` name: what an editor shows while the node is
    /// incomplete. A built node's own list is [`crate::Node::exits`].
    pub exits: &'static [&'static str],
    /// Field patterns whose strings name more exits (a decision's `/conditions/*/exit`).
    pub exit_fields: &'static [&'static str],
    /// Exits that start a body which comes back to the node (a loop's `next`): an arrival
    /// from inside such a body continues the node instead of starting it afresh
    /// ([`crate::RunCx::arrived_from_body`]).
    pub loop_exits: &'static [&'static str],
    /// Whether edges may leave through HTTP status exits (`404`, `4xx`).
    pub status_exits: bool,
    /// How its nodes are drawn.
    pub shape: Shape,
    /// The text glyph that stands for the kind (`⇄`).
    pub glyph: &'static str,
    /// Field patterns of the expressions among its fields.
    pub expressions: &'static [&'static str],
    /// Field patterns of the `${…}` templates among its fields.
    pub templates: &'static [&'static str],
    /// Field patterns of the fields that name an authorization profile.
    pub profiles: &'static [&'static str],
    /// Field patterns of the fields that name a flow file the node runs (a `call`'s `/flow`),
    /// relative to the flow's own file: an editor opens it from the node.
    pub flows: &'static [&'static str],
    /// The fields an editor writes when it builds the node's mapping from a sample document
    /// (a JSON Import's), when the kind maps JSON.
    pub mapping: Option<MappingFields>,
}

/// The fields of a kind that maps a list of JSON items, by name: what an editor fills from a
/// sample document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingFields {
    /// The expression that gives the document (`vars.page.body`): where an editor finds the
    /// sample a run read.
    pub source: &'static str,
    /// JSON pointer to the list in the document (`/value`).
    pub select: &'static str,
    /// The expression over `item` that gives each imported item.
    pub map: &'static str,
    /// The typed shape of each item: name → type.
    pub fields: &'static str,
}

impl KindInfo {
    /// A kind that says nothing special: exits `ok` and `error`, drawn as a box with `•`.
    pub const DEFAULT: KindInfo = KindInfo {
        exits: &["ok", "error"],
        exit_fields: &[],
        loop_exits: &[],
        status_exits: false,
        shape: Shape::Box,
        glyph: "•",
        expressions: &[],
        templates: &[],
        profiles: &[],
        flows: &[],
        mapping: None,
    };

    /// The `x-weft-*` annotations of the kind's schema: every member, always.
    pub fn annotations(&self) -> Map<String, Value> {
        let mut map = Map::new();
        let mut put = |key: &str, value: Value| {
            map.insert(format!("x-weft-{key}"), value);
        };
        put("exits", json!(self.exits));
        put("exit-fields", json!(self.exit_fields));
        put("loop-exits", json!(self.loop_exits));
        put("status-exits", json!(self.status_exits));
        put("shape", json!(self.shape.name()));
        put("glyph", json!(self.glyph));
        put("expressions", json!(self.expressions));
        put("templates", json!(self.templates));
        put("profiles", json!(self.profiles));
        put("flows", json!(self.flows));
        put(
            "mapping",
            self.mapping.map_or(
                Value::Null,
                |m| json!({ "source": m.source, "select": m.select, "map": m.map, "fields": m.fields }),
            ),
        );
        map
    }

    /// The profile names in a node's fields (possibly not checked yet), in document order.
    pub fn profile_names<'v>(&self, fields: &'v Value) -> Vec<&'v str> {
        self.profiles.iter().flat_map(|pattern| strings_at(pattern, fields)).collect()
    }
}

impl Default for KindInfo {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The strings a field pattern names in `fields` (a node's object): at its places and inside
/// them, in document order.
pub fn strings_at<'v>(pattern: &str, fields: &'v Value) -> Vec<&'v str> {
    strings_with_pointers_at(pattern, fields).into_iter().map(|(_, s)| s).collect()
}

/// [`strings_at`], each string with its JSON pointer inside `fields` (`/conditions/1/exit`).
pub fn strings_with_pointers_at<'v>(pattern: &str, fields: &'v Value) -> Vec<(String, &'v str)> {
    let mut places = vec![(String::new(), fields)];
    for token in pattern.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        places = places
            .into_iter()
            .flat_map(|(at, value)| {
                members(value, &token)
                    .into_iter()
                    .map(move |(key, v)| (format!("{at}/{}", escape_token(&key)), v))
            })
            .collect();
    }
    // Iterative: a value may be as deep as the JSON reader allows.
    let mut out = Vec::new();
    let mut stack: Vec<(String, &Value)> = places.into_iter().rev().collect();
    while let Some((at, value)) = stack.pop() {
        match value {
            Value::String(s) => out.push((at, s.as_str())),
            Value::Array(items) => {
                stack.extend(items.iter().enumerate().rev().map(|(i, v)| (format!("{at}/{i}"), v)))
            }
            Value::Object(map) => stack
                .extend(map.iter().rev().map(|(k, v)| (format!("{at}/{}", escape_token(k)), v))),
            _ => {}
        }
    }
    out
}

/// The members of `value` that `token` names (all of them for `*`), with their keys.
fn members<'v>(value: &'v Value, token: &str) -> Vec<(String, &'v Value)> {
    match value {
        Value::Object(map) if token == "*" => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Object(map) => map.get(token).map(|v| (token.to_owned(), v)).into_iter().collect(),
        Value::Array(items) if token == "*" => {
            items.iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect()
        }
        Value::Array(items) => array_index(token)
            .and_then(|i| items.get(i))
            .map(|v| (token.to_owned(), v))
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_name_their_places_and_what_is_inside() {
        let fields = json!({
            "conditions": [ { "exit": "a", "when": "x" }, { "exit": "b", "when": "y" }, 5 ],
            "otherwise": "c",
            "body": { "k": ["${one}", 2, { "deep": "${two}" }] },
            "a/b": "slash",
        });
        assert_eq!(strings_at("/conditions/*/exit", &fields), ["a", "b"]);
        assert_eq!(strings_at("/conditions/1/when", &fields), ["y"]);
        assert_eq!(strings_at("/otherwise", &fields), ["c"]);
        assert_eq!(strings_at("/body", &fields), ["${one}", "${two}"]);
        assert_eq!(strings_at("/a~1b", &fields), ["slash"]);
        assert!(strings_at("/missing/*", &fields).is_empty());
        assert!(strings_at("/conditions/01/exit", &fields).is_empty());
    }

    #[test]
    fn pointers_of_the_strings_a_pattern_names() {
        let node = json!({ "auth": "a", "more": { "x": "b", "y": ["c", 1] } });
        assert_eq!(strings_with_pointers_at("/auth", &node), [("/auth".to_owned(), "a")]);
        assert_eq!(
            strings_with_pointers_at("/more/*", &node),
            [("/more/x".to_owned(), "b"), ("/more/y/0".to_owned(), "c")]
        );
        assert!(strings_with_pointers_at("/none", &node).is_empty());
    }

    #[test]
    fn annotations_carry_every_member() {
        let info = KindInfo { loop_exits: &["next"], glyph: "↻", ..KindInfo::DEFAULT };
        let annotations = Value::Object(info.annotations());
        assert_eq!(annotations["x-weft-loop-exits"], json!(["next"]));
        assert_eq!(annotations["x-weft-shape"], "box");
        assert_eq!(annotations["x-weft-status-exits"], false);
        assert_eq!(annotations.as_object().map(Map::len), Some(11));
    }
}
