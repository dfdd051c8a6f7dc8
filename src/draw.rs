//! Drawings of a flow's graph: Mermaid and Graphviz DOT.

use crate::flow::Flow;
use std::fmt::Write;
use weft_nodes::kind::Shape;

fn label(flow: &Flow, id: &str) -> String {
    let node = flow.node(id);
    let kind = node.map_or("", |n| n.kind);
    match node.and_then(|n| n.title.as_deref()) {
        Some(title) => format!("{title} ({kind})"),
        None => format!("{id} ({kind})"),
    }
}

/// A Mermaid flowchart. Node ids are prefixed (`n_end`): a flow's ids may be Mermaid keywords
/// (`end`) or start like an edge's head (`o`, `x`); the labels keep the ids as written.
pub fn mermaid(flow: &Flow) -> String {
    let escape = |s: &str| s.replace('"', "#quot;");
    let mut out = String::from("flowchart TD\n");
    let start = &flow.start().id;
    for node in flow.nodes() {
        let (id, text) = (&node.id, escape(&label(flow, &node.id)));
        let _ = match node.info.shape {
            Shape::Diamond => writeln!(out, "    n_{id}{{\"{text}\"}}"),
            Shape::Oval => writeln!(out, "    n_{id}([\"{text}\"])"),
            Shape::Box if node.id == *start => writeln!(out, "    n_{id}([\"{text}\"])"),
            Shape::Box => writeln!(out, "    n_{id}[\"{text}\"]"),
        };
    }
    for (from, exit, to) in flow.edges() {
        let _ = writeln!(out, "    n_{from} -->|\"{}\"| n_{to}", escape(exit));
    }
    out
}

/// A Graphviz DOT digraph.
pub fn dot(flow: &Flow) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out = format!(
        "digraph {} {{\n    rankdir=TB;\n    node [shape=box, style=rounded];\n",
        quote(&flow.name)
    );
    for node in flow.nodes() {
        let shape = match node.info.shape {
            Shape::Diamond => ", shape=diamond",
            Shape::Oval => ", shape=oval",
            Shape::Box => "",
        };
        let _ = writeln!(
            out,
            "    {} [label={}{shape}];",
            quote(&node.id),
            quote(&label(flow, &node.id))
        );
    }
    for (from, exit, to) in flow.edges() {
        let _ = writeln!(out, "    {} -> {} [label={}];", quote(from), quote(to), quote(exit));
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mermaid_ids_never_clash_with_its_keywords() {
        let flow = br#"{ "format": "weft.flow/1", "start": "start",
            "nodes": [ { "id": "start", "type": "assign", "set": { "vars.x": "1" } },
                       { "id": "end", "type": "end" } ],
            "edges": [ { "from": "start", "to": "end" } ] }"#;
        let loaded = crate::flow::Loader::builtin().load_bytes(flow, "keywords");
        let Some(flow) = loaded.flow else { panic!("{:?}", loaded.diagnostics) };
        let drawn = mermaid(&flow);
        assert!(drawn.contains("    n_end([\"end (end)\"])\n"), "{drawn}");
        assert!(drawn.contains("    n_start -->|\"ok\"| n_end\n"), "{drawn}");
    }
}
