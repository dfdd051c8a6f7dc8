//! The Weft node kit: the contract every node kind implements, the built-in kinds, and the
//! expression language their fields are written in.
//!
//! A node kind has two halves, as in Vector's components: a *config* parsed from the flow file
//! and checked once ([`kind::NodeConfig`]), which builds a *node* that runs many times
//! ([`node::Node`]). Building happens in a [`kind::CompileCx`] that collects diagnostics instead of
//! stopping at the first; running happens in a [`node::RunCx`] that gives the node the run's data
//! and services.
//!
//! This crate knows nothing of the executor: it never sees the graph, other nodes or the run loop.

pub mod alloc;
pub mod clip;
pub mod diagnostic;
pub mod error;
pub mod expr;
pub mod interrupt;
pub mod kind;
pub mod kinds;
pub mod node;
pub mod pointer;
pub mod scrub;
pub mod secret;
pub mod services;
pub mod vars;

pub use clip::clip;
pub use diagnostic::{Diagnostic, Severity};
pub use error::NodeError;
pub use interrupt::{Interrupt, Stop};
pub use kind::{CompileCx, Kind, KindInfo, NodeConfig, Registry};
pub use node::{Call, ChildCall, ChildFailure, Children, Node, NodeFuture, Outcome, RunCx};
pub use secret::Secret;
pub use services::{Credentials, Services, SignIn};
pub use vars::{VarPath, Vars, Written};

/// The unit tests run with the counting allocator, as the `weft` binary does, so the expression
/// engine's memory limit is in force in them.
#[cfg(test)]
#[global_allocator]
static ALLOCATOR: alloc::Counting<std::alloc::System> = alloc::Counting::new(std::alloc::System);
