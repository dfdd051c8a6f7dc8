//! The typed model of a loaded flow: checked, compiled, ready to run any number of times.
//!
//! Not `Serialize`: the wire format is [`super::wire`]; this is what the executor walks.

use super::wire::ParamTypeWire;
use indexmap::IndexMap;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use serde_json::Value;
use std::collections::HashMap;
use weft_nodes::Node;
use weft_nodes::expr::VarReads;
use weft_nodes::kind::KindInfo;

/// A loaded flow.
pub struct Flow {
    /// The flow's name (from the file, else the file name).
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// Declared parameters, in file order.
    pub parameters: IndexMap<String, Parameter>,
    /// Initial `vars`, as in the file.
    pub variables: serde_json::Map<String, Value>,
    /// Initial `vars` as Rhai values, converted once; each run starts from a copy.
    pub(crate) seed: rhai::Map,
    pub(crate) graph: DiGraph<FlowNode, String>,
    pub(crate) start: NodeIndex,
    pub(crate) by_id: HashMap<String, NodeIndex>,
    /// What the flow's expressions can read of `vars`: a response body outside it waits as
    /// JSON text until something else reads it.
    pub(crate) reads: VarReads,
    /// What it keeps between runs.
    pub state: Option<FlowState>,
    /// The flows its `call` nodes run, loaded with it, by the path the node names.
    pub children: HashMap<String, std::sync::Arc<Flow>>,
    /// The text it was loaded from.
    pub(crate) source: std::sync::Arc<str>,
}

/// What a flow keeps between runs: the final values of some variables, after each run that
/// succeeds, one set per key.
pub struct FlowState {
    /// The kept variables (declared in `variables`).
    pub keep: Vec<String>,
    /// Picks the key from `params`; `None`: one state for the flow.
    pub key: Option<weft_nodes::expr::Expr>,
}

impl FlowState {
    /// The key for a run with `params`: the key expression's value, as text (a string as it
    /// is, anything else as JSON); `""` for a flow without a key.
    ///
    /// # Errors
    ///
    /// The expression fails, or gives `()`.
    pub fn key_of(
        &self,
        engine: &weft_nodes::expr::ExprEngine,
        params: &serde_json::Map<String, Value>,
    ) -> Result<String, String> {
        let Some(key) = &self.key else { return Ok(String::new()) };
        let params = weft_nodes::expr::json_to_dynamic(&Value::Object(params.clone()));
        let vars = rhai::Dynamic::from_map(rhai::Map::new());
        let mut scope = weft_nodes::expr::ExprScope::new(params.into_shared(), vars.into_shared());
        let value = engine.eval(key, &mut scope).map_err(|e| format!("`state.key` failed: {e}"))?;
        if value.is_unit() {
            return Err("`state.key` gave nothing (`()`): the key must be a value".into());
        }
        match value.clone().into_immutable_string() {
            Ok(text) => Ok(text.to_string()),
            Err(_) => weft_nodes::expr::dynamic_to_json(&value)
                .map(|json| json.to_string())
                .map_err(|e| format!("`state.key` gave a value with no JSON form: {e}")),
        }
    }
}

/// A node of a loaded flow.
pub struct FlowNode {
    /// Its id.
    pub id: String,
    /// Its kind's name.
    pub kind: &'static str,
    /// What its kind says about itself (exits that loop back, how it is drawn, …).
    pub info: &'static KindInfo,
    /// Its label, if any.
    pub title: Option<String>,
    /// Where the modeler draws it.
    pub position: Option<[f64; 2]>,
    /// The built node.
    pub node: Box<dyn Node>,
    /// For a node whose kind has exits that loop back (a `loop`'s `next`): the nodes of its
    /// body (sorted), from which an arrival continues it.
    pub loop_body: Option<Vec<NodeIndex>>,
}

/// A declared parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// Its type.
    pub ty: ParamType,
    /// Its default value.
    pub default: Option<Value>,
    /// Whether a value must be given.
    pub required: bool,
    /// What it is for.
    pub description: Option<String>,
}

/// A parameter's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// Text.
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A JSON array.
    Array,
    /// A JSON object.
    Object,
}

impl From<ParamTypeWire> for ParamType {
    fn from(wire: ParamTypeWire) -> Self {
        match wire {
            ParamTypeWire::String => Self::String,
            ParamTypeWire::Integer => Self::Integer,
            ParamTypeWire::Number => Self::Number,
            ParamTypeWire::Boolean => Self::Boolean,
            ParamTypeWire::Array => Self::Array,
            ParamTypeWire::Object => Self::Object,
        }
    }
}

impl ParamType {
    /// The type's name in flow files.
    pub fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Array => "array",
            Self::Object => "object",
        }
    }

    /// Whether `value` is of this type.
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            Self::String => value.is_string(),
            Self::Integer => value.is_i64(),
            Self::Number => value.is_number(),
            Self::Boolean => value.is_boolean(),
            Self::Array => value.is_array(),
            Self::Object => value.is_object(),
        }
    }

    /// Parses a command-line value (`--param k=v`) as this type.
    pub fn parse_text(self, text: &str) -> Result<Value, String> {
        let value = match self {
            Self::String => return Ok(Value::String(text.to_owned())),
            Self::Integer => text.trim().parse::<i64>().ok().map(Value::from),
            Self::Number => {
                serde_json::from_str::<Value>(text.trim()).ok().filter(Value::is_number)
            }
            Self::Boolean => match text.trim() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            Self::Array | Self::Object => {
                serde_json::from_str::<Value>(text).ok().filter(|v| self.accepts(v))
            }
        };
        value.ok_or_else(|| match self {
            Self::Array => {
                format!("expected {}, written as JSON: `[\"a\", \"b\"]`", self.described())
            }
            Self::Object => {
                format!("expected {}, written as JSON: `{{\"k\": 1}}`", self.described())
            }
            _ => format!("expected {}", self.described()),
        })
    }

    /// The type's name with its article, for messages: `an integer`.
    #[must_use]
    pub fn described(self) -> String {
        format!("{} {}", article(self), self.name())
    }
}

fn article(ty: ParamType) -> &'static str {
    match ty {
        ParamType::Integer | ParamType::Array | ParamType::Object => "an",
        _ => "a",
    }
}

impl Flow {
    /// Its text and those of the flows it calls, as a stored run pins them.
    pub fn pinned(&self) -> super::Pinned {
        super::Pinned {
            text: self.source.to_string(),
            calls: self
                .children
                .iter()
                .map(|(name, child)| (name.clone(), child.pinned()))
                .collect(),
        }
    }

    /// The node the run starts at.
    pub fn start(&self) -> &FlowNode {
        &self.graph[self.start]
    }

    /// The nodes, in file order.
    pub fn nodes(&self) -> impl Iterator<Item = &FlowNode> {
        self.graph.node_weights()
    }

    /// The node with id `id`.
    pub fn node(&self, id: &str) -> Option<&FlowNode> {
        self.by_id.get(id).map(|&ix| &self.graph[ix])
    }

    /// The edges as `(from, exit, to)` node ids, in file order.
    pub fn edges(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.graph.edge_references().map(|e| {
            (
                self.graph[e.source()].id.as_str(),
                e.weight().as_str(),
                self.graph[e.target()].id.as_str(),
            )
        })
    }

    /// The authorization profiles the flow's nodes use, and those of the flows it calls, in
    /// order, without repeats.
    pub fn profiles(&self) -> Vec<String> {
        let mut names: indexmap::IndexSet<String> = indexmap::IndexSet::new();
        for node in self.nodes() {
            names.extend(node.node.profiles().into_iter().map(str::to_owned));
        }
        for child in self.children.values() {
            names.extend(child.profiles());
        }
        names.into_iter().collect()
    }

    /// The graph, for the executor and drawings.
    pub fn graph(&self) -> &DiGraph<FlowNode, String> {
        &self.graph
    }

    /// The index of the start node.
    pub fn start_index(&self) -> NodeIndex {
        self.start
    }
}
