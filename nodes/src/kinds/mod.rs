//! The built-in node kinds, one module each, and the registry of them.

pub mod assign;
pub mod authentication;
pub mod call;
pub mod decision;
pub mod end;
pub mod http_request;
pub mod json_import;
pub mod r#loop;

use crate::expr::EvalError;
use crate::kind::Registry;
use crate::node::NodeError;

impl Registry {
    /// The built-in kinds.
    pub fn builtin() -> Self {
        let mut registry = Self::empty();
        registry.register::<authentication::AuthenticationConfig>();
        registry.register::<http_request::HttpRequestConfig>();
        registry.register::<json_import::JsonImportConfig>();
        registry.register::<decision::DecisionConfig>();
        registry.register::<assign::AssignConfig>();
        registry.register::<r#loop::LoopConfig>();
        registry.register::<end::EndConfig>();
        registry.register::<call::CallConfig>();
        registry
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::builtin()
    }
}

/// A node error for an expression in `field` that failed to evaluate.
pub(crate) fn eval_failed(field: &str, err: EvalError) -> NodeError {
    NodeError::expression(format!("`{}`: {err}", crate::clip::clip(field)))
}

/// The list expression `expr` of field `field` gives.
pub(crate) fn eval_list(
    cx: &mut crate::node::RunCx<'_>,
    expr: &crate::expr::Expr,
    field: &str,
) -> Result<rhai::Array, NodeError> {
    let list = cx.eval(expr).map_err(|e| eval_failed(field, e))?.flatten();
    let kind = type_name(&list);
    list.try_cast::<rhai::Array>()
        .ok_or_else(|| NodeError::expression(format!("`{field}` gave {kind}, not a list")))
}

/// The name of a value's type as flow authors know it (JSON's names).
pub fn type_name(value: &rhai::Dynamic) -> &'static str {
    if value.is_unit() {
        "null"
    } else if value.is_bool() {
        "boolean"
    } else if value.is_int() {
        "integer"
    } else if value.is_float() {
        "number"
    } else if value.is_string() || value.is_char() {
        "string"
    } else if value.is_array() {
        "list"
    } else if value.is_map() {
        "object"
    } else {
        "non-JSON value"
    }
}

#[cfg(test)]
mod tests {
    use crate::Diagnostic;
    use crate::expr::ExprEngine;
    use crate::kind::{CompileCx, Kind, Registry, escape_token, strings_at};
    use serde_json::{Value, json};

    /// A node of each built-in kind with every field its info names (`http_request` twice:
    /// `body` and `body_text` exclude each other).
    fn samples() -> Vec<(&'static str, Value)> {
        vec![
            ("authentication", json!({ "profile": "crm", "into": "who" })),
            (
                "http_request",
                json!({ "url": "https://x.test/${vars.a}", "query": { "q": "${vars.q}" },
                    "headers": { "x-h": "v" }, "body": { "k": ["${1}", { "d": "t" }] },
                    "auth": "graph", "concurrency_key": "${vars.user}", "into": "r",
                    "paginate": { "next": "response.body.next", "items": "/value" } }),
            ),
            ("http_request", json!({ "url": "https://x.test", "body_text": "${vars.t}" })),
            ("json_import", json!({ "from": "vars.x", "map": "#{ a: item.a }", "into": "out" })),
            (
                "decision",
                json!({ "conditions": [ { "exit": "big", "when": "vars.n > 9" } ],
                    "otherwise": "small" }),
            ),
            ("assign", json!({ "set": { "vars.x": "1", "vars.y": "2" } })),
            ("loop", json!({ "over": "[1, 2]", "as": "it" })),
            ("end", json!({ "result": "vars.x" })),
            (
                "call",
                json!({ "flow": "child.flow.json", "params": { "a": "item.a", "i": "index" },
                    "for_each": "vars.list", "concurrency": 2, "into": "out" }),
            ),
            ("call", json!({ "flow": "child.flow.json", "params": { "a": "vars.a" } })),
        ]
    }

    fn compile(kind: &dyn Kind, fields: &Value) -> (Option<Box<dyn crate::Node>>, Vec<Diagnostic>) {
        let engine = ExprEngine::new();
        let mut diagnostics = Vec::new();
        let Value::Object(map) = fields.clone() else { panic!("{fields}") };
        let node = kind.compile(map, &mut CompileCx::new(&engine, "n", "", &mut diagnostics));
        (node, diagnostics)
    }

    /// The pointers of the string leaves of `value`.
    fn string_leaves(value: &Value, at: String, out: &mut Vec<String>) {
        match value {
            Value::String(_) => out.push(at),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    string_leaves(item, format!("{at}/{i}"), out);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    string_leaves(item, format!("{at}/{}", escape_token(key)), out);
                }
            }
            _ => {}
        }
    }

    /// Whether a field pattern names the field at `pointer` (or a field it is inside).
    fn covers(patterns: &[&str], pointer: &str) -> bool {
        let tokens: Vec<&str> = pointer.split('/').skip(1).collect();
        patterns.iter().any(|pattern| {
            let pattern: Vec<&str> = pattern.split('/').skip(1).collect();
            pattern.len() <= tokens.len()
                && pattern.iter().zip(&tokens).all(|(p, t)| *p == "*" || p == t)
        })
    }

    /// What each built-in kind says of itself is what its nodes do: the same exits, status
    /// exits and profiles, and exactly the fields it names compile as expressions or templates.
    #[test]
    fn the_builtin_kinds_describe_themselves_truly() {
        let registry = Registry::builtin();
        let mut seen = std::collections::HashSet::new();
        for (name, fields) in samples() {
            seen.insert(name);
            let kind = registry.get(name).unwrap();
            let info = kind.info();
            let (node, diagnostics) = compile(kind, &fields);
            let node = node.unwrap_or_else(|| panic!("{name}: {diagnostics:?}"));
            let mut exits: Vec<String> = info
                .exit_fields
                .iter()
                .flat_map(|pattern| strings_at(pattern, &fields))
                .map(str::to_owned)
                .collect();
            exits.extend(info.exits.iter().map(|e| (*e).to_owned()));
            let mut built = node.exits();
            if !node.is_terminal() {
                built.push("error".into());
            }
            assert_eq!(built, exits, "{name}: exits");
            assert_eq!(node.accepts_exit("404"), info.status_exits, "{name}: status exits");
            assert_eq!(node.profiles(), info.profile_names(&fields), "{name}: profiles");
            let called: Vec<&str> = node.calls().iter().map(|c| c.flow).collect();
            let named: Vec<&str> =
                info.flows.iter().flat_map(|pattern| strings_at(pattern, &fields)).collect();
            assert_eq!(called, named, "{name}: the flows it runs");
            assert!(info.loop_exits.iter().all(|e| info.exits.contains(e)), "{name}: loop exits");
            let properties = kind.schema()["properties"].clone();
            if let Some(m) = info.mapping {
                for field in [m.source, m.select, m.map, m.fields] {
                    assert!(properties.get(field).is_some(), "{name}: mapping {field}");
                }
            }
            for pattern in
                info.expressions.iter().chain(info.templates).chain(info.profiles).chain(info.flows)
            {
                let field = pattern.split('/').nth(1).unwrap_or_default();
                assert!(properties.get(field).is_some(), "{name}: {pattern} is not a field");
            }
            // Break each string in turn: the compile error says what the field is.
            let mut leaves = Vec::new();
            string_leaves(&fields, String::new(), &mut leaves);
            for pointer in leaves {
                let mut broken = fields.clone();
                *broken.pointer_mut(&pointer).unwrap() = json!("${ (");
                let (_, diagnostics) = compile(kind, &broken);
                let says = |what: &str| {
                    diagnostics.iter().any(|d| d.pointer == pointer && d.message.starts_with(what))
                };
                let expression = says("expression does not compile");
                let template = says("template does not compile");
                assert_eq!(expression, covers(info.expressions, &pointer), "{name}: {pointer}");
                assert_eq!(template, covers(info.templates, &pointer), "{name}: {pointer}");
            }
        }
        assert_eq!(seen.len(), registry.names().len(), "a sample of every kind");
    }
}
