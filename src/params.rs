//! Parameters of a run: the flow's defaults, then a `--params` file, then `--param k=v`, each
//! checked against the declared types.

use crate::flow::Flow;
use serde_json::{Map, Value};
use weft_nodes::clip;

/// A problem with the parameters given to a run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A `--param` without `=`.
    #[error("`--param {}`: expected NAME=VALUE", clip(.0))]
    Syntax(String),
    /// A name the flow does not declare.
    #[error("parameter `{}` is not declared by the flow{hint}", clip(.name))]
    Undeclared {
        /// The name.
        name: String,
        /// The declared names, for the message.
        hint: String,
    },
    /// A value of the wrong type.
    #[error("parameter `{}`: {why}", clip(.name))]
    Type {
        /// The name.
        name: String,
        /// What was expected.
        why: String,
    },
    /// A required parameter without a value.
    #[error("parameter `{}` is required (pass --param {}=VALUE)", clip(.0), clip(.0))]
    Missing(String),
    /// The `--params` file is not a JSON object.
    #[error("{0}")]
    File(String),
}

/// Whether a run's required parameters must all have a value: a whole run's must; a test of
/// one node gets only what it is given and the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    /// Every required parameter must be given ([`ParamError::Missing`] otherwise).
    Enforced,
    /// Missing ones are left out.
    NotChecked,
}

/// Builds the run's parameters: declared defaults, overridden by `file` (a JSON object), then by
/// `pairs` (`NAME=VALUE`, parsed by the declared type). Every required parameter must have a
/// value.
pub fn resolve(
    flow: &Flow,
    file: Option<Map<String, Value>>,
    pairs: &[String],
) -> Result<Map<String, Value>, ParamError> {
    resolve_with(flow, file.unwrap_or_default(), pairs, Required::Enforced)
}

/// The one rule for every way parameters arrive (`weft run`, `weft serve`'s request bodies,
/// `weft test`'s `given.params`): `given` (JSON values) and then `pairs` (`NAME=VALUE` text)
/// over the declared defaults, each checked against its declaration.
///
/// A parameter is required when it says so, or when it has no default. A required parameter
/// must be given: its default, if it has one, is never used (`weft validate` warns about it).
/// An optional parameter that is neither given nor defaulted is left out of `params` (reading
/// it gives `()`).
pub fn resolve_with(
    flow: &Flow,
    given: Map<String, Value>,
    pairs: &[String],
    required: Required,
) -> Result<Map<String, Value>, ParamError> {
    let undeclared = |name: &str| {
        let names: Vec<&str> = flow.parameters.keys().map(String::as_str).collect();
        let hint = if names.is_empty() {
            " (it declares none)".to_owned()
        } else {
            format!(" (it declares: {})", weft_nodes::clip::list(&names))
        };
        ParamError::Undeclared { name: name.to_owned(), hint }
    };
    let mut values = Map::new();
    for (name, value) in given {
        let declared = flow.parameters.get(&name).ok_or_else(|| undeclared(&name))?;
        if !declared.ty.accepts(&value) {
            return Err(ParamError::Type {
                why: format!("expected {}, got {}", declared.ty.described(), json_type(&value)),
                name,
            });
        }
        values.insert(name, value);
    }
    for pair in pairs {
        let (name, text) = pair.split_once('=').ok_or_else(|| ParamError::Syntax(pair.clone()))?;
        let declared = flow.parameters.get(name).ok_or_else(|| undeclared(name))?;
        let value = declared
            .ty
            .parse_text(text)
            .map_err(|why| ParamError::Type { name: name.to_owned(), why })?;
        values.insert(name.to_owned(), value);
    }
    let mut params = Map::new();
    for (name, declared) in &flow.parameters {
        let value = values
            .remove(name)
            .or_else(|| if declared.required { None } else { declared.default.clone() });
        match value {
            Some(value) => {
                params.insert(name.clone(), value);
            }
            None if declared.required && required == Required::Enforced => {
                return Err(ParamError::Missing(name.clone()));
            }
            None => {}
        }
    }
    Ok(params)
}

/// Reads a `--params` file's JSON object.
pub fn parse_file(bytes: &[u8]) -> Result<Map<String, Value>, ParamError> {
    match crate::flow::json::parse(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ParamError::File("the parameters file must hold a JSON object".into())),
        Err(err) => Err(ParamError::File(match (err.line, err.column) {
            (Some(l), Some(c)) => format!("{} at line {l}, column {c}", err.message),
            _ => err.message,
        })),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
