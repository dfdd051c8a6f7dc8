//! Weft: a flow-node engine. Flows are JSON graphs of nodes (`weft.flow/1`), loaded and checked
//! by [`flow::Loader`], and walked by the petgraph [`exec`]utor with Rhai expressions.
//!
//! The node kinds and the expression language live in the node kit, [`weft_nodes`].

pub mod auth;
pub mod draw;
pub mod durable;
pub mod engine;
pub mod exec;
pub mod flow;
pub mod http;
pub mod net;
pub mod params;
pub mod pool;
pub mod result;
pub mod safe_fs;
pub mod serve;
pub mod simulated;
pub mod store;
pub mod studio;
pub mod testing;
pub mod trace;

pub use weft_nodes as nodes;

#[cfg(test)]
mod custom_kind;

pub use engine::Engine;
