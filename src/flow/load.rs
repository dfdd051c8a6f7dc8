//! Loading a flow: JSON text → checked wire values → a compiled [`Flow`], collecting every
//! problem on the way instead of stopping at the first. Loading does no I/O beyond reading the
//! file it is given.

use super::json;
use super::model::{Flow, FlowNode, FlowState, ParamType, Parameter};
use super::pinned::Pinned;
use super::wire::{EdgeWire, FORMAT, NODE_COMMON_FIELDS, ParameterWire, StateWire};
use indexmap::IndexMap;
use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Bfs, EdgeRef};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weft_nodes::clip::{self, clip};
use weft_nodes::expr::{ExprEngine, VarReads, json_to_dynamic};
use weft_nodes::kind::{CompileCx, KindInfo, escape_token, serde_path_pointer as serde_pointer};
use weft_nodes::vars::is_identifier;
use weft_nodes::{Diagnostic, Node, Registry};

/// The result of loading: the flow when there was no error, and every diagnostic.
pub struct Loaded {
    /// The flow, when no diagnostic is an error.
    pub flow: Option<Flow>,
    /// Errors and warnings, located in the file when possible.
    pub diagnostics: Vec<Diagnostic>,
}

/// Gives each diagnostic the line and column of its pointer in `text`, where it has one.
fn locate(diagnostics: &mut [Diagnostic], text: &str) {
    let positions = json::locate_all(text, diagnostics.iter().map(|d| d.pointer.as_str()));
    for (d, position) in diagnostics.iter_mut().zip(positions) {
        if let Some((line, column)) = position {
            d.line = Some(line);
            d.column = Some(column);
        }
    }
}

impl Loaded {
    /// Adds diagnostics found beside the loader's (`weft validate`'s profile checks), located
    /// in `text`, the file's text; all of them stay in the file's order.
    pub fn add_located(&mut self, mut found: Vec<Diagnostic>, text: &str) {
        locate(&mut found, text);
        self.diagnostics.extend(found);
        self.diagnostics.sort_by_key(|d| (d.line, d.column));
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Loads flows with a registry of node kinds and an expression engine.
#[derive(Clone)]
pub struct Loader {
    registry: Arc<Registry>,
    engine: Arc<ExprEngine>,
}

const TOP_FIELDS: [&str; 10] = [
    "$schema",
    "format",
    "name",
    "description",
    "parameters",
    "variables",
    "start",
    "nodes",
    "edges",
    "state",
];

impl Loader {
    /// A loader for the given kinds and engine.
    pub fn new(registry: Arc<Registry>, engine: Arc<ExprEngine>) -> Self {
        Self { registry, engine }
    }

    /// A loader for the built-in kinds, with an expression engine of the default limits.
    pub fn builtin() -> Self {
        Self::new(Arc::new(Registry::builtin()), Arc::new(ExprEngine::new()))
    }

    /// The node kinds this loader knows.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The expression engine flows are compiled with.
    pub fn engine(&self) -> &Arc<ExprEngine> {
        &self.engine
    }

    /// Reads and loads a flow file.
    pub fn load_path(&self, path: &Path) -> Loaded {
        match std::fs::read(path) {
            Ok(bytes) => self.load_file(&bytes, path),
            Err(err) => Loaded {
                flow: None,
                diagnostics: vec![Diagnostic::error("", format!("cannot read the file: {err}"))],
            },
        }
    }

    /// Loads a flow file read by the caller: its file name names the flow when it has no `name`,
    /// and the flows its `call` nodes name are found beside it.
    pub fn load_file(&self, bytes: &[u8], path: &Path) -> Loaded {
        self.load_at(bytes, path, None)
    }

    /// Loads a flow a stored run pinned, as the file at `path`: the flows its `call` nodes name
    /// are the texts pinned with it, not the files beside it now.
    pub fn load_pinned(&self, pinned: &Pinned, path: &Path) -> Loaded {
        self.load_at(pinned.text.as_bytes(), path, Some(pinned))
    }

    /// Loads the flow file at `path` (its name names the flow when it has no `name`).
    fn load_at(&self, bytes: &[u8], path: &Path, pinned: Option<&Pinned>) -> Loaded {
        let chain = [std::path::absolute(path).unwrap_or_else(|_| path.to_owned())];
        self.load(bytes, &file_stem(path), &chain, pinned)
    }

    /// Loads a flow from its text; `fallback_name` names it when the file has no `name`. The
    /// flows its `call` nodes name are found relative to the working directory.
    pub fn load_bytes(&self, bytes: &[u8], fallback_name: &str) -> Loaded {
        self.load(bytes, fallback_name, &[], None)
    }

    /// Loads a flow whose file is the last of `chain` (the files calling it come before it),
    /// its children from `pinned` when it is one a stored run pinned.
    fn load(
        &self,
        bytes: &[u8],
        fallback_name: &str,
        chain: &[PathBuf],
        pinned: Option<&Pinned>,
    ) -> Loaded {
        let value = match json::parse(bytes) {
            Ok(value) => value,
            Err(err) => {
                let mut d = Diagnostic::error(err.pointer, err.message);
                d.line = err.line;
                d.column = err.column;
                return Loaded { flow: None, diagnostics: vec![d] };
            }
        };
        let mut build = Build {
            loader: self,
            diagnostics: Vec::new(),
            reads: VarReads::default(),
            declared: Vec::new(),
            chain,
            pinned,
        };
        let flow = build.flow(value, fallback_name);
        let mut diagnostics = build.diagnostics;
        let text = String::from_utf8_lossy(bytes);
        locate(&mut diagnostics, &text);
        diagnostics.sort_by_key(|d| (d.line, d.column));
        let flow =
            flow.filter(|_| !diagnostics.iter().any(Diagnostic::is_error)).map(|mut flow| {
                flow.source = text.into();
                flow
            });
        Loaded { flow, diagnostics }
    }
}

struct Build<'l> {
    loader: &'l Loader,
    diagnostics: Vec<Diagnostic>,
    /// What the nodes built so far can read of `vars`.
    reads: VarReads,
    /// The names of the flow's declared parameters, which are all `params` holds.
    declared: Vec<String>,
    /// The flow files being loaded, this one last: a call of one of them is a cycle.
    chain: &'l [PathBuf],
    /// The texts a stored run pinned, when the flow is loaded from them.
    pinned: Option<&'l Pinned>,
}

/// A node as far as it could be read: id, kind (its name and what it says about itself), and the
/// built node when that worked.
struct Partial {
    id: Option<String>,
    kind: Option<(&'static str, &'static KindInfo)>,
    title: Option<String>,
    position: Option<[f64; 2]>,
    node: Option<Box<dyn Node>>,
}

impl Build<'_> {
    fn error(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::error(pointer, message));
    }

    fn flow(&mut self, value: Value, fallback_name: &str) -> Option<Flow> {
        let Value::Object(mut top) = value else {
            self.error("", "a flow file holds a JSON object");
            return None;
        };
        for key in top.keys() {
            if !TOP_FIELDS.contains(&key.as_str()) {
                self.error(
                    format!("/{}", escape_token(key)),
                    format!("unknown field `{}`; a flow has: {}", clip(key), TOP_FIELDS.join(", ")),
                );
            }
        }
        match top.get("format") {
            Some(Value::String(f)) if f == FORMAT => {}
            Some(other) => self.error(
                "/format",
                format!("`format` is {}, expected \"{FORMAT}\"", clip(&other.to_string())),
            ),
            None => self.error("", format!("missing `format`: expected \"{FORMAT}\"")),
        }
        let name = self.optional_string(&top, "name");
        let description = self.optional_string(&top, "description");
        let parameters = self.parameters(top.remove("parameters"));
        self.declared = parameters.keys().cloned().collect();
        let variables = match top.remove("variables") {
            None => Map::new(),
            Some(Value::Object(map)) => map,
            Some(_) => {
                self.error("/variables", "`variables` must be an object of initial values");
                Map::new()
            }
        };
        let nodes = self.nodes(top.remove("nodes"));
        let index: HashMap<&str, usize> = {
            let mut index = HashMap::with_capacity(nodes.len());
            for (i, node) in nodes.iter().enumerate() {
                if let Some(id) = &node.id
                    && index.insert(id.as_str(), i).is_some()
                {
                    self.diagnostics.push(
                        Diagnostic::error(
                            format!("/nodes/{i}/id"),
                            format!("duplicate node id `{}`", clip(id)),
                        )
                        .at_node(id),
                    );
                }
            }
            index
        };
        let start = match top.get("start") {
            None => {
                self.error("", "missing `start`: the id of the node the run starts at");
                None
            }
            Some(Value::String(start)) => match index.get(start.as_str()) {
                Some(&i) => Some(i),
                None => {
                    self.error(
                        "/start",
                        format!("`start` names node `{}`, which does not exist", clip(start)),
                    );
                    None
                }
            },
            Some(_) => {
                self.error("/start", "`start` must be a node id (a string)");
                None
            }
        };
        let edges = self.edges(top.remove("edges"), &nodes, &index);
        let state = self.state(top.remove("state"), &variables);
        if self.diagnostics.iter().any(Diagnostic::is_error) {
            return None;
        }
        let start = start?;
        let mut graph = DiGraph::with_capacity(nodes.len(), edges.len());
        for partial in nodes {
            let (Some(id), Some((kind, info)), Some(node)) =
                (partial.id, partial.kind, partial.node)
            else {
                return None;
            };
            graph.add_node(FlowNode {
                id,
                kind,
                info,
                title: partial.title,
                position: partial.position,
                node,
                loop_body: None,
            });
        }
        for (from, exit, to) in edges {
            graph.add_edge(NodeIndex::new(from), NodeIndex::new(to), exit);
        }
        let start = NodeIndex::new(start);
        let children = self.children(&graph);
        self.graph_warnings(&graph, start);
        find_loop_bodies(&mut graph);
        let by_id = graph.node_indices().map(|ix| (graph[ix].id.clone(), ix)).collect();
        let seed = variables.iter().map(|(k, v)| (k.into(), json_to_dynamic(v))).collect();
        Some(Flow {
            name: name.unwrap_or_else(|| fallback_name.to_owned()),
            description,
            parameters,
            variables,
            seed,
            graph,
            start,
            by_id,
            reads: std::mem::take(&mut self.reads),
            state,
            children,
            source: Arc::from(""),
        })
    }

    /// Loads the flows the `call` nodes name, relative to this flow's file, with their own
    /// children; refuses a cycle of calls (naming it) and parameters the child does not
    /// declare or misses.
    fn children(&mut self, graph: &DiGraph<FlowNode, String>) -> HashMap<String, Arc<Flow>> {
        let mut children: HashMap<String, Arc<Flow>> = HashMap::new();
        let dir = match self.chain.last() {
            Some(file) => file.parent().map(Path::to_owned).unwrap_or_default(),
            None => std::env::current_dir().unwrap_or_default(),
        };
        for ix in graph.node_indices() {
            let node = &graph[ix];
            let pointer = format!("/nodes/{}/flow", ix.index());
            for call in node.node.calls() {
                let error =
                    |message: String| Diagnostic::error(pointer.clone(), message).at_node(&node.id);
                let path = dir.join(call.flow);
                let path = std::path::absolute(&path).unwrap_or(path);
                if let Some(at) = self.chain.iter().position(|p| *p == path) {
                    let cycle: Vec<String> = self.chain[at..]
                        .iter()
                        .chain([&path])
                        .map(|p| p.file_name().unwrap_or_default().to_string_lossy().into_owned())
                        .collect();
                    self.diagnostics.push(error(format!(
                        "the flows call each other in a cycle: {}",
                        cycle.join(" → ")
                    )));
                    continue;
                }
                let child = match children.get(call.flow) {
                    Some(child) => child.clone(),
                    None => match self.child(&path, call.flow) {
                        Ok(child) => {
                            children.insert(call.flow.to_owned(), child.clone());
                            child
                        }
                        Err(message) => {
                            self.diagnostics.push(error(format!(
                                "the flow `{}` it calls {message}",
                                clip(call.flow)
                            )));
                            continue;
                        }
                    },
                };
                for given in &call.params {
                    if !child.parameters.contains_key(*given) {
                        let declared: Vec<&str> =
                            child.parameters.keys().map(String::as_str).collect();
                        self.diagnostics.push(error(format!(
                            "`params.{}`: the flow `{}` declares no such parameter (it has: {})",
                            clip(given),
                            clip(call.flow),
                            clip::list(&declared)
                        )));
                    }
                }
                for (name, parameter) in &child.parameters {
                    if parameter.required
                        && parameter.default.is_none()
                        && !call.params.contains(&name.as_str())
                    {
                        self.diagnostics.push(error(format!(
                            "the flow `{}` requires parameter `{name}`, which `params` does not give",
                            clip(call.flow)
                        )));
                    }
                }
            }
        }
        children
    }

    /// Reads and loads the child flow at `path` (`name` as the calling node names it), its own
    /// calls resolved beside it — or, for a pinned flow, the text pinned under `name`.
    fn child(&self, path: &Path, name: &str) -> Result<Arc<Flow>, String> {
        let pinned = match self.pinned {
            Some(pinned) => {
                Some(pinned.calls.get(name).ok_or("is not among the flows the run pinned")?)
            }
            None => None,
        };
        let bytes: std::borrow::Cow<'_, [u8]> = match pinned {
            Some(pinned) => pinned.text.as_bytes().into(),
            None => std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?.into(),
        };
        let fallback = file_stem(path);
        let mut chain = self.chain.to_vec();
        chain.push(path.to_owned());
        let loaded = self.loader.load(&bytes, &fallback, &chain, pinned);
        match loaded.flow {
            Some(flow) => Ok(Arc::new(flow)),
            None => {
                let shown = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
                let first = loaded.diagnostics.iter().find(|d| d.is_error());
                Err(format!(
                    "does not load: {}",
                    first.map_or_else(|| "it has errors".to_owned(), |d| d.located(&shown))
                ))
            }
        }
    }

    /// `state`: kept variables that are declared, and a key that is an expression over
    /// `params` alone.
    fn state(&mut self, value: Option<Value>, variables: &Map<String, Value>) -> Option<FlowState> {
        let wire: StateWire = match serde_path_to_error::deserialize(value?) {
            Ok(wire) => wire,
            Err(err) => {
                let at = format!("/state{}", serde_pointer(err.path()));
                self.error(at, err.into_inner().to_string());
                return None;
            }
        };
        if wire.keep.is_empty() {
            self.error("/state/keep", "`keep` names no variable: name those the flow keeps");
        }
        for (i, name) in wire.keep.iter().enumerate() {
            if !variables.contains_key(name) {
                self.error(
                    format!("/state/keep/{i}"),
                    format!(
                        "`{}` is not a declared variable: kept variables are declared in \
                         `variables`, with the value the first run starts with",
                        clip(name)
                    ),
                );
            }
        }
        let key = match &wire.key {
            None => None,
            Some(source) => match self.loader.engine.compile_expression(source, &[]) {
                Ok(expr) if expr.reads().members().next().is_some() || expr.reads().is_all() => {
                    self.error("/state/key", "`state.key` may read only `params`, not `vars`");
                    None
                }
                Ok(expr) => Some(expr),
                Err(err) => {
                    self.error("/state/key", format!("`state.key` does not compile: {err}"));
                    None
                }
            },
        };
        Some(FlowState { keep: wire.keep, key })
    }

    fn optional_string(&mut self, top: &Map<String, Value>, key: &str) -> Option<String> {
        match top.get(key) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.error(format!("/{key}"), format!("`{key}` must be a string"));
                None
            }
        }
    }

    fn parameters(&mut self, value: Option<Value>) -> IndexMap<String, Parameter> {
        let mut parameters = IndexMap::new();
        let entries = match value {
            None => return parameters,
            Some(Value::Object(map)) => map,
            Some(_) => {
                self.error(
                    "/parameters",
                    "`parameters` must be an object: name → { type, default? }",
                );
                return parameters;
            }
        };
        for (name, value) in entries {
            let pointer = format!("/parameters/{}", escape_token(&name));
            if !is_identifier(&name) {
                self.error(
                    pointer.clone(),
                    format!("`{}` is not a parameter name (letters, digits and `_`, not starting with a digit)", clip(&name)),
                );
            }
            let wire: ParameterWire = match serde_path_to_error::deserialize(value) {
                Ok(wire) => wire,
                Err(err) => {
                    let at = format!("{pointer}{}", serde_pointer(err.path()));
                    self.error(at, err.into_inner().to_string());
                    continue;
                }
            };
            let ty = ParamType::from(wire.ty);
            if let Some(default) = &wire.default
                && !ty.accepts(default)
            {
                self.error(
                    format!("{pointer}/default"),
                    format!("the default of `{}` is not of its type `{}`", clip(&name), ty.name()),
                );
            }
            if wire.required == Some(true) && wire.default.is_some() {
                self.diagnostics.push(Diagnostic::warning(
                    format!("{pointer}/required"),
                    format!("`{}` is required, so its default is never used", clip(&name)),
                ));
            }
            let required = wire.required.unwrap_or(wire.default.is_none());
            parameters.insert(
                name,
                Parameter { ty, default: wire.default, required, description: wire.description },
            );
        }
        parameters
    }

    fn nodes(&mut self, value: Option<Value>) -> Vec<Partial> {
        let items = match value {
            None => {
                self.error("", "missing `nodes`: a flow needs at least one node");
                return Vec::new();
            }
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.error("/nodes", "`nodes` must be an array of node objects");
                return Vec::new();
            }
        };
        if items.is_empty() {
            self.error("/nodes", "a flow needs at least one node");
        }
        items.into_iter().enumerate().map(|(i, item)| self.node(i, item)).collect()
    }

    fn node(&mut self, i: usize, item: Value) -> Partial {
        let base = format!("/nodes/{i}");
        let mut partial = Partial { id: None, kind: None, title: None, position: None, node: None };
        let Value::Object(mut fields) = item else {
            self.error(base, "a node must be an object with `id` and `type`");
            return partial;
        };
        match fields.remove("id") {
            Some(Value::String(id)) if is_identifier(&id) => partial.id = Some(id),
            Some(Value::String(id)) => self.error(
                format!("{base}/id"),
                format!(
                    "`{}` is not a node id: use letters, digits and `_`, not starting with a digit",
                    clip(&id)
                ),
            ),
            Some(_) => self.error(format!("{base}/id"), "a node id must be a string"),
            None => self.error(base.clone(), "missing `id`"),
        }
        let node_name = partial.id.clone().unwrap_or_default();
        let at_node = |d: Diagnostic| {
            if node_name.is_empty() { d } else { d.at_node(&node_name) }
        };
        match fields.remove("title") {
            None | Some(Value::String(_)) => {}
            Some(_) => self.diagnostics.push(at_node(Diagnostic::error(
                format!("{base}/title"),
                "`title` must be a string",
            ))),
        }
        match fields.remove("position") {
            None => {}
            Some(value) => match serde_json::from_value::<[f64; 2]>(value) {
                Ok(p) => partial.position = Some(p),
                Err(_) => self.diagnostics.push(at_node(Diagnostic::error(
                    format!("{base}/position"),
                    "`position` must be two numbers: [x, y]",
                ))),
            },
        }
        let kind = match fields.remove("type") {
            Some(Value::String(kind)) => match self.loader.registry.get(&kind) {
                Some(kind) => Some(kind),
                None => {
                    let known = self.loader.registry.names().join(", ");
                    self.diagnostics.push(at_node(Diagnostic::error(
                        format!("{base}/type"),
                        format!("unknown node type `{}`; the kinds are: {known}", clip(&kind)),
                    )));
                    None
                }
            },
            Some(_) => {
                self.diagnostics.push(at_node(Diagnostic::error(
                    format!("{base}/type"),
                    "`type` must be a string",
                )));
                None
            }
            None => {
                self.diagnostics.push(at_node(Diagnostic::error(base.clone(), "missing `type`")));
                None
            }
        };
        debug_assert!(NODE_COMMON_FIELDS.iter().all(|f| !fields.contains_key(*f)));
        if let Some(kind) = kind {
            partial.kind = Some((kind.name(), kind.info()));
            let mut cx =
                CompileCx::new(&self.loader.engine, &node_name, &base, &mut self.diagnostics)
                    .with_parameters(&self.declared);
            partial.node = kind.compile(fields, &mut cx);
            self.reads.extend(cx.reads());
        }
        partial
    }

    fn edges(
        &mut self,
        value: Option<Value>,
        nodes: &[Partial],
        index: &HashMap<&str, usize>,
    ) -> Vec<(usize, String, usize)> {
        let items = match value {
            None => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.error("/edges", "`edges` must be an array of { from, exit?, to }");
                return Vec::new();
            }
        };
        let mut edges = Vec::with_capacity(items.len());
        let mut seen: HashMap<(usize, String), usize> = HashMap::new();
        let mut hints: HashMap<usize, String> = HashMap::new();
        for (i, item) in items.into_iter().enumerate() {
            let base = format!("/edges/{i}");
            let wire: EdgeWire = match serde_path_to_error::deserialize(item) {
                Ok(wire) => wire,
                Err(err) => {
                    let at = format!("{base}{}", serde_pointer(err.path()));
                    self.error(at, err.into_inner().to_string());
                    continue;
                }
            };
            let exit_pointer =
                if wire.exit.is_some() { format!("{base}/exit") } else { base.clone() };
            let exit = wire.exit.unwrap_or_else(|| "ok".to_owned());
            let from = index.get(wire.from.as_str()).copied();
            let to = index.get(wire.to.as_str()).copied();
            for (field, id, found) in [("from", &wire.from, from), ("to", &wire.to, to)] {
                if found.is_none() {
                    let d = Diagnostic::error(
                        format!("{base}/{field}"),
                        format!("edge {field} `{}`: no node has this id", clip(id)),
                    );
                    // Name the edge's source node when it exists: that is where the edge is drawn.
                    self.diagnostics.push(if from.is_some() { d.at_node(&wire.from) } else { d });
                }
            }
            let (Some(from), Some(to)) = (from, to) else {
                continue;
            };
            let source = &nodes[from];
            if let (Some(node), Some((kind, info))) = (&source.node, source.kind)
                && !node.accepts_exit(&exit)
            {
                // Once per node: listing a node's exits costs as many as it has.
                let hint = hints.entry(from).or_insert_with(|| {
                    if node.is_terminal() {
                        "it has no exits".to_owned()
                    } else {
                        let mut all = node.exits();
                        all.push("error".into());
                        let status = if info.status_exits {
                            ", and HTTP status exits: a status (`404`) or its class, in lower case \
                             (`4xx`)"
                        } else {
                            ""
                        };
                        format!("its exits are: {}{status}", clip::list(&all))
                    }
                });
                let unnamed =
                    if exit_pointer == base { " (an edge without `exit` is for `ok`)" } else { "" };
                self.diagnostics.push(
                    Diagnostic::error(
                        exit_pointer,
                        format!(
                            "node `{}` ({kind}) has no exit `{}`{unnamed}; {hint}",
                            clip(&wire.from),
                            clip(&exit)
                        ),
                    )
                    .at_node(&wire.from),
                );
                continue;
            }
            if let Some(first) = seen.insert((from, exit.clone()), i) {
                self.diagnostics.push(
                    Diagnostic::error(
                        base.clone(),
                        format!(
                            "exit `{}` of node `{}` already has an edge (/edges/{first}); an exit leads to one node",
                            clip(&exit),
                            clip(&wire.from)
                        ),
                    )
                    .at_node(&wire.from),
                );
                continue;
            }
            edges.push((from, exit, to));
        }
        edges
    }

    fn graph_warnings(&mut self, graph: &DiGraph<FlowNode, String>, start: NodeIndex) {
        let mut reached = vec![false; graph.node_count()];
        let mut bfs = Bfs::new(graph, start);
        while let Some(ix) = bfs.next(graph) {
            reached[ix.index()] = true;
        }
        for ix in graph.node_indices() {
            let node = &graph[ix];
            let base = format!("/nodes/{}", ix.index());
            if !reached[ix.index()] {
                self.diagnostics.push(
                    Diagnostic::warning(
                        base.clone(),
                        format!("node `{}` can't be reached from `start`", clip(&node.id)),
                    )
                    .at_node(&node.id),
                );
            }
            let wired: HashSet<&str> = graph.edges(ix).map(|e| e.weight().as_str()).collect();
            for exit in node.node.exits() {
                if exit == "ok" || exit == "error" {
                    continue;
                }
                if !wired.contains(exit.as_str()) {
                    self.diagnostics.push(
                        Diagnostic::warning(
                            base.clone(),
                            format!(
                                "exit `{}` of node `{}` is not wired: taking it ends the run",
                                clip(&exit),
                                clip(&node.id)
                            ),
                        )
                        .at_node(&node.id),
                    );
                }
            }
        }
    }
}

/// Works out the body of each node whose kind has exits that loop back (a loop's `next`): the
/// nodes reachable from those exits that lead back to it without passing through it. Such nodes
/// share the node's strongly connected component, so the search stays inside it.
fn find_loop_bodies(graph: &mut DiGraph<FlowNode, String>) {
    let loops: Vec<NodeIndex> =
        graph.node_indices().filter(|&ix| !graph[ix].info.loop_exits.is_empty()).collect();
    if loops.is_empty() {
        return;
    }
    let mut component = vec![0usize; graph.node_count()];
    for (c, members) in kosaraju_scc(&*graph).into_iter().enumerate() {
        for ix in members {
            component[ix.index()] = c;
        }
    }
    for l in loops {
        let loop_exits = graph[l].info.loop_exits;
        let firsts: Vec<NodeIndex> = graph
            .edges(l)
            .filter(|e| loop_exits.contains(&e.weight().as_str()))
            .map(|e| e.target())
            .collect();
        let mut body = Vec::new();
        let mut seen: Option<Vec<bool>> = None;
        for first in firsts {
            if first == l {
                if !body.contains(&l) {
                    body.push(l);
                }
                continue;
            }
            if component[first.index()] != component[l.index()] {
                continue;
            }
            let seen = seen.get_or_insert_with(|| vec![false; graph.node_count()]);
            if seen[first.index()] {
                continue;
            }
            let mut stack = vec![first];
            seen[first.index()] = true;
            while let Some(ix) = stack.pop() {
                body.push(ix);
                for e in graph.edges(ix) {
                    let t = e.target();
                    if t == l {
                        continue;
                    }
                    if !seen[t.index()] && component[t.index()] == component[l.index()] {
                        seen[t.index()] = true;
                        stack.push(t);
                    }
                }
            }
        }
        body.sort_unstable();
        graph[l].loop_body = Some(body);
    }
}

/// A flow file's name without `.flow.json`: the flow's name when the file gives none.
fn file_stem(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".json").trim_end_matches(".flow").to_owned())
        .unwrap_or_default()
}
