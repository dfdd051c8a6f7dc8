//! The node reference: each kind's fields (type, default, description, and which hold
//! expressions, templates, profile names and exit names), its exits, what it writes and an
//! example — read from the same places as its JSON Schema: the config's schema with its doc
//! comments, the kind's [`KindInfo`] and its [`KindDoc`]. `weft explain` prints it; the node
//! reference in the docs is [`markdown`] of it.

use super::{Kind, KindDoc, KindInfo, Registry, Writes, escape_token};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Nested objects and arrays deeper than this are shown as one field.
const MAX_DEPTH: usize = 4;

/// Everything the reference says about one kind.
#[derive(Debug, Clone, Serialize)]
pub struct KindReference {
    /// The kind's name, the `type` of its nodes.
    pub kind: &'static str,
    /// One line for people.
    pub description: &'static str,
    /// The glyph that stands for it.
    pub glyph: &'static str,
    /// How its nodes are drawn.
    pub shape: &'static str,
    /// Its fields besides `id`, `type`, `title` and `position`; a nested field is named by its
    /// path (`retry.max_attempts`, `conditions[].when`).
    pub fields: Vec<FieldReference>,
    /// Its exits, in the order its nodes list them.
    pub exits: Vec<ExitReference>,
    /// What its nodes write into `vars`.
    pub writes: Vec<Writes>,
    /// A node of the kind, when the kind gives one.
    pub example: Option<Value>,
    /// The example as the kind wrote it.
    #[serde(skip)]
    pub example_text: &'static str,
}

/// One field of a kind.
#[derive(Debug, Clone, Serialize)]
pub struct FieldReference {
    /// Its name, or its path in the node for a nested field.
    pub name: String,
    /// Its type, as a person reads it (`string`, `array of integers`, `"GET" | "POST"`).
    #[serde(rename = "type")]
    pub type_name: String,
    /// Whether a node (or the object holding the field) must have it.
    pub required: bool,
    /// Its value when it is left out, when the schema says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// What its strings are: `expression`, `template`, `profile name` or `exit name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holds: Option<&'static str>,
    /// What it is for.
    pub description: String,
}

/// One exit of a kind, or a family of them.
#[derive(Debug, Clone, Serialize)]
pub struct ExitReference {
    /// The exit's name, when it is fixed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The field whose strings name these exits (`conditions[].exit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named_by: Option<String>,
    /// Whether these are the HTTP status exits (`404`, `4xx`).
    pub status: bool,
    /// Whether the exit starts a body that comes back to the node.
    pub loops_back: bool,
    /// When it is taken.
    pub when: String,
}

impl ExitReference {
    /// How the exit is shown to people: its name, the field naming it, or the status exits.
    pub fn label(&self) -> String {
        match (&self.name, &self.named_by) {
            (Some(name), _) => format!("`{name}`"),
            (None, Some(field)) => format!("exits named by `{field}`"),
            (None, None) => "status exits: `100`…`599`, `1xx`…`5xx`".to_owned(),
        }
    }
}

/// When a status exit is taken: the same for every kind that accepts them.
const STATUS_EXITS: &str = "An exact HTTP status (`404`) or a class (`4xx`), when the flow \
    wires it: the exact status wins over its class, and both over `ok` and `error`. They are \
    chosen for the last response, after retries, and the response is written as for `ok`.";

/// When `error` is taken: the same for every kind that has it.
const ERROR_EXIT: &str = "`vars.error` then holds `{ node, type, category, message, status?, \
    code? }`; unwired, `error` fails the run.";

/// What the reference says of `kind`.
pub fn reference(kind: &dyn Kind) -> KindReference {
    let info = kind.info();
    let doc = kind.doc();
    KindReference {
        kind: kind.name(),
        description: kind.description(),
        glyph: info.glyph,
        shape: info.shape.name(),
        fields: fields(&kind.schema(), info),
        exits: exits(info, doc),
        writes: doc.writes.to_vec(),
        example: serde_json::from_str(doc.example).ok(),
        example_text: doc.example,
    }
}

fn fields(schema: &Value, info: &KindInfo) -> Vec<FieldReference> {
    let defs = schema.get("$defs").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut out = Vec::new();
    object_fields(schema, &defs, info, ("", ""), 0, &mut out);
    out
}

/// The fields of an object schema, each followed by its own fields when it is an object or an
/// array of objects. The recursion is bounded by [`MAX_DEPTH`], and schemas come from Rust
/// types, not from input.
fn object_fields(
    object: &Value,
    defs: &Map<String, Value>,
    info: &KindInfo,
    (name_prefix, pointer_prefix): (&str, &str),
    depth: usize,
    out: &mut Vec<FieldReference>,
) {
    let required: Vec<&str> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = object.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (key, property) in properties {
        let resolved = resolve(property, defs);
        let name = format!("{name_prefix}{key}");
        let pointer = format!("{pointer_prefix}/{}", escape_token(key));
        let description = property
            .get("description")
            .or_else(|| resolved.get("description"))
            .and_then(Value::as_str)
            .map(one_line)
            .unwrap_or_default();
        out.push(FieldReference {
            name: name.clone(),
            type_name: type_text(property, defs, 0),
            required: required.contains(&key.as_str()),
            default: property.get("default").or_else(|| resolved.get("default")).cloned(),
            holds: holds(info, &pointer),
            description,
        });
        if depth >= MAX_DEPTH {
            continue;
        }
        if resolved.get("properties").is_some() {
            object_fields(resolved, defs, info, (&format!("{name}."), &pointer), depth + 1, out);
        } else if let Some(items) = resolved.get("items").map(|i| resolve(i, defs))
            && items.get("properties").is_some()
        {
            let prefixes = (format!("{name}[]."), format!("{pointer}/*"));
            object_fields(items, defs, info, (&prefixes.0, &prefixes.1), depth + 1, out);
        }
    }
}

/// The schema a `$ref` names (`#/$defs/Name`), or the schema itself.
fn resolve<'s>(schema: &'s Value, defs: &'s Map<String, Value>) -> &'s Value {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
        .and_then(|name| defs.get(name))
        .unwrap_or(schema)
}

/// A schema's type as a person reads it.
fn type_text(schema: &Value, defs: &Map<String, Value>, depth: usize) -> String {
    let schema = resolve(schema, defs);
    if depth > MAX_DEPTH {
        return "any JSON value".into();
    }
    if let Some(Value::Array(values)) = schema.get("enum") {
        return values.iter().map(Value::to_string).collect::<Vec<_>>().join(" | ");
    }
    if let Some(value) = schema.get("const") {
        return value.to_string();
    }
    if let Some(Value::Array(options)) = schema.get("oneOf").or_else(|| schema.get("anyOf")) {
        let options: Vec<String> = options.iter().map(|o| type_text(o, defs, depth + 1)).collect();
        return options.join(" | ");
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => {
            let items = schema.get("items").map(|i| type_text(i, defs, depth + 1));
            match items.as_deref() {
                Some(word) if word.chars().all(|c| c.is_ascii_alphabetic()) => {
                    format!("array of {word}s")
                }
                Some(other) => format!("array of ({other})"),
                None => "array".into(),
            }
        }
        Some("object") => match schema.get("additionalProperties") {
            Some(values @ Value::Object(_)) => {
                format!("object: name → {}", type_text(values, defs, depth + 1))
            }
            _ => "object".into(),
        },
        Some(name) => name.to_owned(),
        None => "any JSON value".into(),
    }
}

/// What the strings of the field at `pointer` are, by the kind's field patterns.
fn holds(info: &KindInfo, pointer: &str) -> Option<&'static str> {
    let roles = [
        (info.profiles, "profile name"),
        (info.exit_fields, "exit name"),
        (info.expressions, "expression"),
        (info.templates, "template"),
    ];
    let tokens: Vec<&str> = pointer.split('/').skip(1).collect();
    roles.into_iter().find_map(|(patterns, role)| {
        let named = patterns.iter().any(|pattern| {
            let pattern: Vec<&str> = pattern.split('/').skip(1).collect();
            pattern.len() <= tokens.len()
                && pattern.iter().zip(&tokens).all(|(p, t)| p == t || *p == "*")
        });
        named.then_some(role)
    })
}

/// A field pattern as a field's name in the reference (`/conditions/*/exit` → `conditions[].exit`).
fn pattern_name(pattern: &str) -> String {
    let tokens: Vec<String> = pattern
        .split('/')
        .skip(1)
        .map(|t| if t == "*" { "[]".to_owned() } else { t.replace("~1", "/").replace("~0", "~") })
        .collect();
    tokens.join(".").replace(".[]", "[]")
}

/// Doc comments keep their line breaks in the schema; the reference flows them.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn exits(info: &KindInfo, doc: &KindDoc) -> Vec<ExitReference> {
    let mut out: Vec<ExitReference> = info
        .exit_fields
        .iter()
        .map(|pattern| ExitReference {
            name: None,
            named_by: Some(pattern_name(pattern)),
            status: false,
            loops_back: false,
            when: doc.exit(pattern).unwrap_or_default().to_owned(),
        })
        .collect();
    for exit in info.exits {
        if *exit == "error" && info.status_exits {
            out.push(ExitReference {
                name: None,
                named_by: None,
                status: true,
                loops_back: false,
                when: STATUS_EXITS.to_owned(),
            });
        }
        let own = doc.exit(exit).unwrap_or_default();
        let when = match *exit {
            "error" if own.is_empty() => format!("The node failed. {ERROR_EXIT}"),
            "error" => format!("{own} {ERROR_EXIT}"),
            _ => own.to_owned(),
        };
        out.push(ExitReference {
            name: Some((*exit).to_owned()),
            named_by: None,
            status: false,
            loops_back: info.loop_exits.contains(exit),
            when,
        });
    }
    out
}

/// The reference of every kind in `registry`, as Markdown: the node reference of the docs.
pub fn markdown(registry: &Registry) -> String {
    let mut out = String::from(
        "# Node reference\n\n\
         <!-- Generated from the node kinds' own types by `weft explain --format markdown`; \
         `UPDATE_DOCS=1 cargo test --test integration schemas` rewrites it. -->\n\n\
         Every field of every node kind, its exits, what it writes into `vars` and an example. \
         How kinds work together, templates and expressions are in [FLOWS.md](FLOWS.md); \
         `weft explain KIND` prints the same in a terminal.\n\n\
         Besides the fields of its kind, every node has `id` (unique; letters, digits and `_`, \
         not starting with a digit), `type` (its kind), and may have `title` and `position` (for \
         the studio; they never change what the flow does).\n\n\
         | kind | does |\n|---|---|\n",
    );
    let kinds: Vec<KindReference> = registry.kinds().map(reference).collect();
    for kind in &kinds {
        let _ = writeln!(out, "| [`{}`](#{}) | {} |", kind.kind, kind.kind, cell(kind.description));
    }
    for kind in &kinds {
        out.push('\n');
        out.push_str(&kind_markdown(kind));
    }
    out
}

/// One kind's reference as a Markdown section.
pub fn kind_markdown(kind: &KindReference) -> String {
    let mut out = format!("## {}\n\n{} {}.\n\n", kind.kind, kind.glyph, kind.description);
    out.push_str("| field | type | default | description |\n|---|---|---|---|\n");
    for field in &kind.fields {
        let mut type_name = format!("`{}`", field.type_name);
        if let Some(holds) = field.holds {
            let _ = write!(type_name, ", {holds}");
        }
        let default = match (&field.default, field.required) {
            (Some(value), _) => format!("`{value}`"),
            (None, true) => "required".to_owned(),
            (None, false) => String::new(),
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            field.name,
            cell(&type_name),
            cell(&default),
            cell(&field.description)
        );
    }
    out.push_str("\n**Exits**\n\n");
    if kind.exits.is_empty() {
        out.push_str("None: a node of this kind ends the run.\n");
    } else {
        out.push_str("| exit | taken when |\n|---|---|\n");
        for exit in &kind.exits {
            let _ = writeln!(out, "| {} | {} |", cell(&exit.label()), cell(&exit_when(exit)));
        }
    }
    out.push_str("\n**Writes into `vars`**\n\n");
    if kind.writes.is_empty() {
        out.push_str("Nothing.\n");
    } else {
        out.push_str("| where | holds |\n|---|---|\n");
        for writes in &kind.writes {
            let _ = writeln!(out, "| {} | {} |", cell(&writes_at(writes)), cell(writes.value));
        }
    }
    if !kind.example_text.is_empty() {
        let _ = write!(out, "\n**Example**\n\n```json\n{}\n```\n", kind.example_text.trim_end());
    }
    out
}

/// When an exit is taken, with a note on exits that loop back.
pub fn exit_when(exit: &ExitReference) -> String {
    if exit.loops_back {
        format!(
            "{} The nodes it leads to that lead back to this node are its body: arriving from \
             the body continues the walk, arriving from elsewhere starts it afresh.",
            exit.when
        )
    } else {
        exit.when.clone()
    }
}

/// Where a write goes: the field naming the variable, with its default.
pub fn writes_at(writes: &Writes) -> String {
    match writes.default {
        Some(default) => format!("{} (default `{default}`)", writes.at),
        None => writes.at.to_owned(),
    }
}

/// Text for a Markdown table cell: a `|` would end the cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::ExprEngine;
    use crate::kind::CompileCx;

    /// The reference of every built-in kind is complete: every field described, every exit
    /// said when it is taken, and an example node that compiles without a warning.
    #[test]
    fn every_builtin_kind_is_documented_and_its_example_compiles() {
        let registry = Registry::builtin();
        let engine = ExprEngine::new();
        for kind in registry.kinds() {
            let name = kind.name();
            let reference = reference(kind);
            for field in &reference.fields {
                assert!(
                    !field.description.is_empty(),
                    "{name}: `{}` has no description",
                    field.name
                );
            }
            for exit in &reference.exits {
                assert!(!exit.when.is_empty(), "{name}: {} says not when", exit.label());
            }
            let Some(Value::Object(mut example)) = reference.example else {
                panic!("{name}: the example is not a JSON object");
            };
            assert_eq!(example.remove("type"), Some(Value::from(name)), "{name}: example's type");
            assert!(example.remove("id").is_some(), "{name}: the example has no id");
            let mut diagnostics = Vec::new();
            let node =
                kind.compile(example, &mut CompileCx::new(&engine, "n", "", &mut diagnostics));
            assert!(node.is_some() && diagnostics.is_empty(), "{name}: {diagnostics:?}");
        }
    }

    #[test]
    fn fields_carry_types_defaults_roles_and_nesting() {
        let registry = Registry::builtin();
        let http = reference(registry.get("http_request").unwrap());
        let field = |name: &str| http.fields.iter().find(|f| f.name == name).unwrap();
        assert_eq!(field("url").holds, Some("template"));
        assert!(field("url").required);
        assert_eq!(field("auth").holds, Some("profile name"));
        assert_eq!(field("paginate.next").holds, Some("expression"));
        assert!(field("paginate.next").required && !field("paginate").required);
        assert_eq!(field("retry.on").type_name, "array of integers");
        assert_eq!(field("retry.on").default, Some(serde_json::json!([429, 502, 503, 504])));
        assert_eq!(field("headers").type_name, "object: name → string");
        assert!(field("method").type_name.starts_with("\"GET\" | \"POST\""));
        assert_eq!(field("body").type_name, "any JSON value");
        assert!(http.exits.iter().any(|e| e.status), "status exits");
        let decision = reference(registry.get("decision").unwrap());
        let names: Vec<&str> = decision.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["conditions", "conditions[].exit", "conditions[].when", "otherwise"]);
        assert_eq!(decision.fields[1].holds, Some("exit name"));
        assert_eq!(decision.exits[0].named_by.as_deref(), Some("conditions[].exit"));
        let looping = reference(registry.get("loop").unwrap());
        assert!(looping.exits.iter().any(|e| e.name.as_deref() == Some("next") && e.loops_back));
    }
}
