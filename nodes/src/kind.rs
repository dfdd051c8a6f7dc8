//! The load-time half of the node contract: a kind's config is parsed from the flow file and
//! builds a [`Node`], reporting every problem it finds into a [`CompileCx`].

use crate::clip::{QUOTE_MAX, clip, clip_to};
use crate::diagnostic::Diagnostic;
use crate::expr::{Expr, ExprEngine, Template, VarReads};
use crate::node::Node;
use crate::pointer::JsonPointer;
use crate::vars::VarPath;
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
    /// The JSON Schema of its fields (an object schema, possibly with `$defs`).
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
        let schema = schema_of::<C>();
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

/// Converts a serde path (`retry.max_attempts`, `conditions[1].when`) to a JSON pointer suffix.
pub fn serde_path_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } => {
                pointer.push('/');
                pointer.push_str(&escape_token(key));
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    pointer
}

/// The JSON Schema of `T` as every Weft format generates it: draft 2020-12, with optional
/// fields simply optional (`null` is not a value the formats accept for them).
pub fn schema_of<T: JsonSchema>() -> Value {
    let mut schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    strip_null(&mut schema);
    schema
}

/// Removes the `null` alternatives schemars adds for `Option` fields.
fn strip_null(value: &mut Value) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if map.get("default") == Some(&Value::Null) {
                    map.remove("default");
                }
                if let Some(Value::Array(types)) = map.get_mut("type") {
                    types.retain(|t| t != "null");
                    if let [only] = types.as_slice() {
                        let only = only.clone();
                        map.insert("type".into(), only);
                    }
                }
                if let Some(Value::Array(options)) = map.get_mut("anyOf") {
                    options.retain(|o| o.get("type").and_then(Value::as_str) != Some("null"));
                    if options.len() == 1
                        && let Some(Value::Object(only)) = options.pop()
                    {
                        map.remove("anyOf");
                        for (k, v) in only {
                            map.entry(k).or_insert(v);
                        }
                    }
                }
                stack.extend(map.values_mut());
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

/// Escapes a JSON pointer reference token (`~` → `~0`, `/` → `~1`).
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
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

/// Where a node is built: compiles its expressions and collects its problems.
pub struct CompileCx<'a> {
    engine: &'a ExprEngine,
    node: &'a str,
    base: &'a str,
    diagnostics: &'a mut Vec<Diagnostic>,
    reads: VarReads,
}

impl<'a> CompileCx<'a> {
    /// A context for node `node`, whose object is at JSON pointer `base` (`/nodes/3`).
    pub fn new(
        engine: &'a ExprEngine,
        node: &'a str,
        base: &'a str,
        diagnostics: &'a mut Vec<Diagnostic>,
    ) -> Self {
        Self { engine, node, base, diagnostics, reads: VarReads::default() }
    }

    /// What the node's expressions and templates can read of `vars`, for
    /// [`crate::node::RunParts::reads`] (the union over a flow's nodes).
    pub fn reads(&self) -> &VarReads {
        &self.reads
    }

    /// The expression engine.
    pub fn engine(&self) -> &ExprEngine {
        self.engine
    }

    /// The node's id.
    pub fn node_id(&self) -> &str {
        self.node
    }

    /// The pointer of `field`, copying no more of a long one than a diagnostic keeps.
    fn pointer_of(&self, field: &str) -> String {
        format!("{}{}", self.base, clip_to(field, QUOTE_MAX.saturating_sub(self.base.len())))
    }

    /// Reports an error at `field` (a pointer suffix such as `/conditions/0/when`).
    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        let d = Diagnostic::error(self.pointer_of(field), message).at_node(self.node);
        self.diagnostics.push(d);
    }

    /// Reports a warning at `field`.
    pub fn warning(&mut self, field: &str, message: impl Into<String>) {
        let d = Diagnostic::warning(self.pointer_of(field), message).at_node(self.node);
        self.diagnostics.push(d);
    }

    /// Compiles an expression; `names` are the variables it may use besides `params` and `vars`.
    pub fn expression(&mut self, field: &str, source: &str, names: &[&str]) -> Option<Expr> {
        let expr = self.expression_read_by_node(field, source, names)?;
        self.reads.extend(expr.reads());
        Some(expr)
    }

    /// Compiles an expression whose reads of `vars` the node takes care of itself (a JSON
    /// Import reads a variable that waits as JSON text straight from the text), so they don't
    /// count in [`CompileCx::reads`]; the node adds them with [`CompileCx::add_reads`] when it
    /// can't.
    pub fn expression_read_by_node(
        &mut self,
        field: &str,
        source: &str,
        names: &[&str],
    ) -> Option<Expr> {
        match self.engine.compile_expression(source, names) {
            Ok(expr) => Some(expr),
            Err(err) => {
                self.error(field, format!("expression does not compile: {err}"));
                None
            }
        }
    }

    /// Counts `reads` among what the node reads of `vars`.
    pub fn add_reads(&mut self, reads: &VarReads) {
        self.reads.extend(reads);
    }

    /// Compiles a `${…}` template.
    pub fn template(&mut self, field: &str, source: &str, names: &[&str]) -> Option<Template> {
        match self.engine.compile_template(source, names) {
            Ok(template) => {
                self.reads.extend(template.reads());
                Some(template)
            }
            Err(err) => {
                self.error(field, format!("template does not compile: {err}"));
                None
            }
        }
    }

    /// Checks a variable path (`page`, `calendar.items`).
    pub fn var_path(&mut self, field: &str, source: &str) -> Option<VarPath> {
        VarPath::parse(source).map_err(|message| self.error(field, message)).ok()
    }

    /// Checks a JSON pointer.
    pub fn pointer(&mut self, field: &str, source: &str) -> Option<JsonPointer> {
        JsonPointer::parse(source).map_err(|message| self.error(field, message)).ok()
    }
}
