//! The built-in node kinds, one file each.

pub mod assign;
pub mod authentication;
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
