//! Flow files: the `weft.flow/1` wire format, loading and validation, and the typed model the
//! executor runs.

pub mod json;
pub mod load;
pub mod model;
mod pinned;
pub mod schema;
pub mod wire;

pub use load::{Loaded, Loader};
pub use model::{Flow, FlowNode, FlowState, ParamType, Parameter};
pub use pinned::Pinned;
