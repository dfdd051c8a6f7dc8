//! The studio's drawing of a flow — boxes at their `position` (laid out in layers from `start`
//! where a node has none), edges labelled with their exit — as a standalone SVG.

use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write;
use weft_nodes::Registry;
use weft_nodes::kind::KindInfo;

/// Width of a node's box.
pub const NODE_WIDTH: f64 = 170.0;
/// Height of a node's box.
pub const NODE_HEIGHT: f64 = 52.0;
/// Distance between layers (rows) of the automatic layout.
pub const LAYER_GAP: f64 = 100.0;
/// Distance between columns of the automatic layout.
pub const COLUMN_GAP: f64 = 210.0;

/// A node as drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct DrawNode {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Its kind's glyph (`•` for a kind the registry doesn't know).
    pub glyph: &'static str,
    /// Its title, if any.
    pub title: Option<String>,
    /// Its top-left corner: the file's `position`, or the automatic layout's.
    pub position: [f64; 2],
}

/// A flow as drawn: nodes and `(from, exit, to)` edges.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Drawing {
    /// The nodes, in file order.
    pub nodes: Vec<DrawNode>,
    /// The edges, in file order.
    pub edges: Vec<(String, String, String)>,
}

/// Positions for the nodes that have none: layers by distance from `start` (breadth first,
/// following edges), then the unreachable nodes in a last layer; columns in file order.
fn layout(value: &Value) -> HashMap<String, [f64; 2]> {
    let nodes: Vec<&serde_json::Map<String, Value>> = value
        .get("nodes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let ids: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let edges = edges_of(value);
    let mut depth: HashMap<&str, usize> = HashMap::new();
    let mut queue = VecDeque::new();
    let start = value.get("start").and_then(Value::as_str).or(ids.first().map(String::as_str));
    if let Some(start) = start.filter(|s| ids.iter().any(|id| id == s)) {
        depth.insert(start, 0);
        queue.push_back(start);
    }
    while let Some(id) = queue.pop_front() {
        let next = depth[id] + 1;
        for (from, _, to) in &edges {
            if from == id && ids.contains(to) && !depth.contains_key(to.as_str()) {
                depth.insert(to.as_str(), next);
                queue.push_back(to.as_str());
            }
        }
    }
    let last = depth.values().max().map_or(0, |d| d + 1);
    let mut columns: HashMap<usize, usize> = HashMap::new();
    let mut out = HashMap::new();
    for node in &nodes {
        let Some(id) = node.get("id").and_then(Value::as_str) else { continue };
        if position_of(node).is_some() {
            continue;
        }
        let layer = depth.get(id).copied().unwrap_or(last);
        let column = columns.entry(layer).or_insert(0);
        out.insert(
            id.to_owned(),
            [40.0 + *column as f64 * COLUMN_GAP, 40.0 + layer as f64 * LAYER_GAP],
        );
        *column += 1;
    }
    out
}

fn position_of(node: &serde_json::Map<String, Value>) -> Option<[f64; 2]> {
    match node.get("position")?.as_array()?.as_slice() {
        [x, y] => Some([x.as_f64()?, y.as_f64()?]),
        _ => None,
    }
}

fn edges_of(value: &Value) -> Vec<(String, String, String)> {
    let text = |e: &Value, key: &str| e.get(key).and_then(Value::as_str).map(str::to_owned);
    value
        .get("edges")
        .and_then(Value::as_array)
        .map(|edges| {
            edges
                .iter()
                .filter_map(|e| {
                    Some((text(e, "from")?, text(e, "exit").unwrap_or("ok".into()), text(e, "to")?))
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Drawing {
    /// The drawing of a flow document (checked or not: what can't be read is left out), with
    /// the glyphs of the kinds in `registry`.
    pub fn of(value: &Value, registry: &Registry) -> Self {
        let auto = layout(value);
        let nodes = value
            .get("nodes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_object).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|n| {
                let id = n.get("id")?.as_str()?.to_owned();
                let position = position_of(n).or_else(|| auto.get(&id).copied())?;
                let kind = n.get("type").and_then(Value::as_str).unwrap_or("?");
                let info = registry.get(kind).map_or(&KindInfo::DEFAULT, |k| k.info());
                Some(DrawNode {
                    kind: kind.to_owned(),
                    glyph: info.glyph,
                    title: n.get("title").and_then(Value::as_str).map(str::to_owned),
                    id,
                    position,
                })
            })
            .collect();
        Self { nodes, edges: edges_of(value) }
    }

    /// The drawing as a standalone SVG document.
    pub fn svg(&self) -> String {
        let at: HashMap<&str, [f64; 2]> =
            self.nodes.iter().map(|n| (n.id.as_str(), n.position)).collect();
        let (mut max_x, mut max_y) = (0.0f64, 0.0f64);
        for n in &self.nodes {
            max_x = max_x.max(n.position[0] + NODE_WIDTH);
            max_y = max_y.max(n.position[1] + NODE_HEIGHT);
        }
        let (w, h) = (max_x + 40.0, max_y + 40.0);
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
             viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"13\">\n\
             <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
             markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\">\
             <path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>\n"
        );
        for (from, exit, to) in &self.edges {
            let (Some(a), Some(b)) = (at.get(from.as_str()), at.get(to.as_str())) else {
                continue;
            };
            let (x1, y1, x2, y2, lx, ly) = edge_geometry(*a, *b);
            let _ = writeln!(
                out,
                "<g class=\"edge\"><path d=\"M{x1},{y1} C{x1},{c1} {x2},{c2} {x2},{y2}\" \
                 fill=\"none\" stroke=\"#555\" marker-end=\"url(#arrow)\"/>\
                 <text x=\"{lx}\" y=\"{ly}\" fill=\"#333\" font-size=\"11\">{}</text></g>",
                escape(exit),
                c1 = y1 + (y2 - y1).abs().max(40.0) / 2.0,
                c2 = y2 - (y2 - y1).abs().max(40.0) / 2.0,
            );
        }
        for n in &self.nodes {
            let [x, y] = n.position;
            let label = n.title.as_deref().unwrap_or(&n.id);
            let _ = writeln!(
                out,
                "<g class=\"node\"><rect x=\"{x}\" y=\"{y}\" width=\"{NODE_WIDTH}\" \
                 height=\"{NODE_HEIGHT}\" rx=\"8\" fill=\"#fff\" stroke=\"#345\"/>\
                 <text x=\"{}\" y=\"{}\" font-size=\"18\">{}</text>\
                 <text x=\"{}\" y=\"{}\" font-weight=\"bold\">{}</text>\
                 <text x=\"{}\" y=\"{}\" fill=\"#666\" font-size=\"11\">{}</text></g>",
                x + 10.0,
                y + 32.0,
                n.glyph,
                x + 36.0,
                y + 22.0,
                escape(label),
                x + 36.0,
                y + 40.0,
                escape(&n.kind),
            );
        }
        out.push_str("</svg>\n");
        out
    }
}

/// From the bottom middle of `a` to the top middle of `b`, and where the exit label goes.
fn edge_geometry(a: [f64; 2], b: [f64; 2]) -> (f64, f64, f64, f64, f64, f64) {
    let x1 = a[0] + NODE_WIDTH / 2.0;
    let y1 = a[1] + NODE_HEIGHT;
    let x2 = b[0] + NODE_WIDTH / 2.0;
    let y2 = b[1];
    (x1, y1, x2, y2, (x1 + x2) / 2.0 + 4.0, (y1 + y2) / 2.0)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_layers_from_start_and_keeps_positions() {
        let flow = serde_json::json!({
            "start": "a",
            "nodes": [ { "id": "c", "type": "end" }, { "id": "a", "type": "assign" },
                       { "id": "b", "type": "end", "position": [5, 6] }, { "id": "d", "type": "end" } ],
            "edges": [ { "from": "a", "to": "c" }, { "from": "a", "exit": "error", "to": "b" } ]
        });
        let auto = layout(&flow);
        assert_eq!(auto["a"], [40.0, 40.0]);
        assert_eq!(auto["c"], [40.0, 140.0]);
        assert_eq!(auto["d"], [40.0, 240.0]);
        assert!(!auto.contains_key("b"));
        let svg = Drawing::of(&flow, &Registry::builtin()).svg();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains(">error</text>"));
    }
}
