//! The expression language of flows: Rhai, sandboxed.
//!
//! One [`ExprEngine`] serves every flow and every run in the process. Every expression and
//! template is compiled when its flow loads ([`ExprEngine::compile_expression`],
//! [`ExprEngine::compile_template`]); a run evaluates the cached ASTs against an [`ExprScope`]
//! holding `params` and `vars`, which are *shared* Rhai values, so an evaluation never copies the
//! flow's data.

mod assign;
mod budget;
mod compiled;
mod convert;
mod engine;
mod helpers;
mod limits;
// Public for the fuzz targets (`fuzz/targets.rs`) only.
#[doc(hidden)]
pub mod pick;
mod plain;
mod reads;
mod sandbox;
mod template;
pub mod time;
mod write_json;

pub use compiled::{Expr, SyntaxError};
pub use convert::{
    ConvertError, Streamed, dynamic_to_json, json_to_dynamic, parse_json, stream_array,
};
pub use engine::{EvalError, EvalErrorKind, ExprEngine, ExprScope};
pub use helpers::clock::{Clock, with_clock};
pub use limits::Limits;
pub use reads::VarReads;
pub use template::Template;
pub use write_json::{AsJson, check_json};
