//! The built-in node kinds, one file each.

pub mod assign;
pub mod authentication;
pub mod decision;
pub mod end;
pub mod http_request;
pub mod json_import;
pub mod r#loop;

use crate::expr::EvalError;
use crate::node::NodeError;

/// A node error for an expression in `field` that failed to evaluate.
pub(crate) fn eval_failed(field: &str, err: EvalError) -> NodeError {
    NodeError::expression(format!("`{}`: {err}", crate::clip::clip(field)))
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
