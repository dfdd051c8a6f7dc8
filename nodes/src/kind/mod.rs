//! The load-time half of the node contract: a kind's config is parsed from the flow file and
//! builds a [`Node`], reporting every problem it finds into a [`CompileCx`]; the kind says what
//! else the loader, drawings and editors need to know of it in its [`KindInfo`], and what people
//! need to know in its [`KindDoc`].

mod compile;
mod doc;
mod info;
pub mod reference;
mod schema;

pub use compile::CompileCx;
pub use doc::{KindDoc, Writes};
pub use info::{KindInfo, MappingFields, Shape, strings_at, strings_with_pointers_at};
pub use schema::{escape_token, schema_of, serde_path_pointer};

use crate::clip::clip;
use crate::node::Node;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::marker::PhantomData;

/// A node kind's config: the fields of its nodes in a flow file (besides `id`, `type`, `title`
/// and `position`), deserialised with unknown fields rejected.
pub trait NodeConfig: DeserializeOwned + JsonSchema + Sized + 'static {
    /// The kind's name, the `type` of its nodes (`http_request`).
    const KIND: &'static str;
    /// One line for people (the studio's palette, `weft schema`).
    const DESCRIPTION: &'static str;
    /// What the kind says about itself beyond its fields' types: its exits, how it is drawn,
    /// which fields hold expressions, templates and profile names.
    const INFO: &'static KindInfo = &KindInfo::DEFAULT;
    /// What the kind tells people beyond its fields' doc comments: when its exits are taken,
    /// what it writes, an example (the node reference, `weft explain`).
    const DOC: &'static KindDoc = &KindDoc::EMPTY;

    /// Checks what serde could not (expressions, pointers, variable paths) and builds the node;
    /// `None` when a problem was reported into `cx`.
    fn build(self, cx: &mut CompileCx<'_>) -> Option<Box<dyn Node>>;
}

/// A registered node kind, as the loader sees it.
pub trait Kind: Send + Sync {
    /// The `type` of its nodes.
    fn name(&self) -> &'static str;
    /// One line for people.
    fn description(&self) -> &'static str;
    /// What the kind says about itself.
    fn info(&self) -> &'static KindInfo;
    /// What the kind tells people beyond its schema.
    fn doc(&self) -> &'static KindDoc {
        &KindDoc::EMPTY
    }
    /// The JSON Schema of its fields (an object schema, possibly with `$defs`), with the
    /// [`KindInfo::annotations`] (`x-weft-*`) at its root.
    fn schema(&self) -> Value;
    /// Builds a node from its fields, reporting problems into `cx`.
    fn compile(&self, fields: Map<String, Value>, cx: &mut CompileCx<'_>) -> Option<Box<dyn Node>>;
}

/// The [`Kind`] of a [`NodeConfig`].
struct Typed<C> {
    schema: Value,
    known: Vec<String>,
    required: Vec<String>,
    config: PhantomData<fn() -> C>,
}

impl<C: NodeConfig> Typed<C> {
    fn new() -> Self {
        let mut schema = schema_of::<C>();
        if let Value::Object(root) = &mut schema {
            root.extend(C::INFO.annotations());
        }
        let names = |key: &str| -> Vec<String> {
            match schema.get(key) {
                Some(Value::Object(map)) => map.keys().cloned().collect(),
                Some(Value::Array(items)) => {
                    items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
                }
                _ => Vec::new(),
            }
        };
        let known = names("properties");
        let required = names("required");
        Self { schema, known, required, config: PhantomData }
    }
}

impl<C: NodeConfig> Kind for Typed<C> {
    fn name(&self) -> &'static str {
        C::KIND
    }

    fn description(&self) -> &'static str {
        C::DESCRIPTION
    }

    fn info(&self) -> &'static KindInfo {
        C::INFO
    }

    fn doc(&self) -> &'static KindDoc {
        C::DOC
    }

    fn schema(&self) -> Value {
        self.schema.clone()
    }

    fn compile(&self, fields: Map<String, Value>, cx: &mut CompileCx<'_>) -> Option<Box<dyn Node>> {
        // serde stops at the first unknown or missing field: report them all, then let serde
        // check the rest so that one stray field doesn't hide a broken expression.
        let mut fields = fields;
        let unknown: Vec<String> =
            fields.keys().filter(|k| !self.known.contains(k)).cloned().collect();
        for key in unknown {
            fields.remove(&key);
            let expected = if self.known.is_empty() {
                "it has no fields".to_owned()
            } else {
                format!("expected one of: {}", self.known.join(", "))
            };
            cx.error(
                &format!("/{}", escape_token(&key)),
                format!("unknown field `{}` for a `{}` node; {expected}", clip(&key), C::KIND),
            );
        }
        let mut complete = true;
        for key in &self.required {
            if !fields.contains_key(key) {
                complete = false;
                cx.error("", format!("missing field `{key}` (required by `{}` nodes)", C::KIND));
            }
        }
        if !complete {
            return None;
        }
        let config: C = match serde_path_to_error::deserialize(Value::Object(fields)) {
            Ok(config) => config,
            Err(err) => {
                let pointer = serde_path_pointer(err.path());
                cx.error(&pointer, err.into_inner().to_string());
                return None;
            }
        };
        config.build(cx)
    }
}

/// The node kinds a loader knows, by name, in registration order.
pub struct Registry {
    kinds: IndexMap<&'static str, Box<dyn Kind>>,
}

impl Registry {
    /// A registry without any kind.
    pub fn empty() -> Self {
        Self { kinds: IndexMap::new() }
    }

    /// Adds (or replaces) the kind of config `C`.
    pub fn register<C: NodeConfig>(&mut self) {
        self.kinds.insert(C::KIND, Box::new(Typed::<C>::new()));
    }

    /// The kind named `name`.
    pub fn get(&self, name: &str) -> Option<&dyn Kind> {
        self.kinds.get(name).map(|k| &**k)
    }

    /// All kinds, in registration order.
    pub fn kinds(&self) -> impl Iterator<Item = &dyn Kind> {
        self.kinds.values().map(|k| &**k)
    }

    /// The names of all kinds.
    pub fn names(&self) -> Vec<&'static str> {
        self.kinds.keys().copied().collect()
    }
}
