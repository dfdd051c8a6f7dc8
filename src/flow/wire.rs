//! The wire format `weft.flow/1`: what a flow file holds, as serde and JSON Schema see it.
//!
//! These types are read, never run: the loader checks them and builds the typed
//! [`Flow`](super::Flow). A node's own fields belong to its kind (`weft_nodes::kinds`), so a node
//! here is its common part plus the rest of its object.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The one format string this version reads.
pub const FORMAT: &str = "weft.flow/1";

/// A flow file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Weft flow (weft.flow/1)")]
pub struct FlowFile {
    /// A JSON Schema reference for editors; ignored.
    #[serde(default, rename = "$schema")]
    pub schema: Option<String>,
    /// Always `weft.flow/1`.
    pub format: FormatTag,
    /// The flow's name.
    #[serde(default)]
    pub name: Option<String>,
    /// What the flow does.
    #[serde(default)]
    pub description: Option<String>,
    /// The flow's inputs, read-only in expressions as `params`.
    #[serde(default)]
    pub parameters: IndexMap<String, ParameterWire>,
    /// Initial values of the flow's data (`vars`).
    #[serde(default)]
    pub variables: Map<String, Value>,
    /// The id of the node the run starts at.
    pub start: String,
    /// The nodes.
    pub nodes: Vec<NodeWire>,
    /// The connections: an exit of one node to another node.
    #[serde(default)]
    pub edges: Vec<EdgeWire>,
    /// What the flow keeps between runs (in a run store): some of its variables, per key.
    #[serde(default)]
    pub state: Option<StateWire>,
}

/// What a flow keeps between runs.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateWire {
    /// Declared variables whose final values a successful run stores, and the next run
    /// starts with (e.g. a delta link).
    pub keep: Vec<String>,
    /// An expression over `params` that picks one state among many (e.g. `params.user`);
    /// without it the flow keeps one state.
    #[serde(default)]
    pub key: Option<String>,
}

/// The `format` tag.
#[derive(Debug, Deserialize, JsonSchema)]
pub enum FormatTag {
    /// Version 1.
    #[serde(rename = "weft.flow/1")]
    V1,
}

/// A declared parameter.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParameterWire {
    /// The value's type.
    #[serde(rename = "type")]
    pub ty: ParamTypeWire,
    /// The value when none is given; a parameter without a default is required.
    #[serde(default)]
    pub default: Option<Value>,
    /// Whether a value must be given (default: when there is no default).
    #[serde(default)]
    pub required: Option<bool>,
    /// What the parameter is for.
    #[serde(default)]
    pub description: Option<String>,
}

/// The type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum ParamTypeWire {
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Object,
}

/// A node: the fields every node has; the rest belong to its kind.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NodeWire {
    /// Unique, `[A-Za-z_][A-Za-z0-9_]*`.
    pub id: String,
    /// The node's kind.
    #[serde(rename = "type")]
    pub kind: String,
    /// A label for the modeler.
    #[serde(default)]
    pub title: Option<String>,
    /// Where the modeler draws it; never changes behaviour.
    #[serde(default)]
    pub position: Option<[f64; 2]>,
    /// The kind's own fields.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// The common fields of a node, which are not the kind's.
pub const NODE_COMMON_FIELDS: [&str; 4] = ["id", "type", "title", "position"];

/// An edge.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgeWire {
    /// The node it leaves.
    pub from: String,
    /// The exit it leaves through (default `ok`).
    #[serde(default)]
    pub exit: Option<String>,
    /// The node it reaches.
    pub to: String,
}
