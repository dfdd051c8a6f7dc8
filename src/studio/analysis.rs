//! What the studio learns of a flow and of the kinds from the engine, reading no file but the
//! flows its `call` nodes name (beside it in the folder): a flow's diagnostics as it is typed,
//! the exits of each node (also of nodes in a flow that doesn't load), the profiles it uses, and
//! the palette — every kind with what it says of itself. (The page lays out nodes without a
//! position itself.)

use super::format;
use crate::flow::Loader;
use serde_json::{Value, json};
use std::path::Path;
use weft_nodes::Registry;

/// `{ valid, diagnostics, exits }` of a flow's text (`value`: the same, parsed, if it is JSON),
/// as the file at `path`: its diagnostics, and the exits of each node that compiles.
pub(super) fn analyze(loader: &Loader, bytes: &[u8], value: Option<&Value>, path: &Path) -> Value {
    let loaded = loader.load_file(bytes, path);
    let exits_of = |node: &dyn weft_nodes::Node| {
        let mut exits = node.exits();
        if !node.is_terminal() && !exits.iter().any(|e| e == "error") {
            exits.push("error".to_owned());
        }
        json!(exits)
    };
    let mut exits = serde_json::Map::new();
    if let Some(flow) = &loaded.flow {
        for node in flow.nodes() {
            exits.insert(node.id.clone(), exits_of(node.node.as_ref()));
        }
    } else if let Some(Value::Object(top)) = value {
        // Compile each node on its own, so that a broken node doesn't hide the others' exits.
        let nodes = top.get("nodes").and_then(Value::as_array).cloned().unwrap_or_default();
        for node in nodes {
            let Some(id) = node.get("id").and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            // Only what a node needs: copying the whole flow for each node is quadratic.
            let mut single = serde_json::Map::new();
            single.insert("format".into(), json!(crate::flow::wire::FORMAT));
            single.insert("start".into(), json!(id));
            single.insert("nodes".into(), json!([node]));
            single.insert("edges".into(), json!([]));
            let text = format::flow_text(&Value::Object(single));
            if let Some(flow) = loader.load_file(text.as_bytes(), path).flow
                && let Some(built) = flow.node(&id)
            {
                exits.insert(id, exits_of(built.node.as_ref()));
            }
        }
    }
    json!({ "valid": !loaded.has_errors(), "diagnostics": loaded.diagnostics, "exits": exits })
}

/// The profiles a flow (the file at `path`) uses and the flows it calls use, by name in file
/// order: from its built nodes when it loads, else from the fields their kinds say name
/// profiles.
pub(crate) fn used_profiles(
    loader: &Loader,
    bytes: &[u8],
    value: &Value,
    path: &Path,
) -> Vec<String> {
    if let Some(flow) = loader.load_file(bytes, path).flow {
        return flow.profiles();
    }
    let mut names: Vec<String> = Vec::new();
    for node in value.get("nodes").and_then(Value::as_array).into_iter().flatten() {
        let kind = node.get("type").and_then(Value::as_str);
        if let Some(kind) = kind.and_then(|kind| loader.registry().get(kind)) {
            for name in kind.info().profile_names(node) {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
            }
        }
    }
    names
}

/// `{ kinds: [{ name, description, glyph, schema, fields }] }`: the palette, in each schema what
/// the kind says about itself (`x-weft-*`: exits, expression fields, status exits, …), and the
/// generated reference of each field (type, default, what its strings are).
pub(crate) fn kinds_of(registry: &Registry) -> Value {
    let kinds: Vec<Value> = registry
        .kinds()
        .map(|k| {
            json!({
                "name": k.name(),
                "description": k.description(),
                "glyph": k.info().glyph,
                "schema": k.schema(),
                // The reference `weft explain` prints, field by field, for the panels.
                "fields": weft_nodes::kind::reference::reference(k).fields,
            })
        })
        .collect();
    json!({ "kinds": kinds })
}
