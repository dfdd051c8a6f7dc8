//! Drawings of a flow's graph: Mermaid and Graphviz DOT.

use crate::flow::Flow;
use std::fmt::Write;

fn label(flow: &Flow, id: &str) -> String {
    let node = flow.node(id);
    let kind = node.map_or("", |n| n.kind);
    match node.and_then(|n| n.title.as_deref()) {
        Some(title) => format!("{title} ({kind})"),
        None => format!("{id} ({kind})"),
    }
}

/// A Mermaid flowchart.
pub fn mermaid(flow: &Flow) -> String {
    let escape = |s: &str| s.replace('"', "#quot;");
    let mut out = String::from("flowchart TD\n");
    let start = &flow.start().id;
    for node in flow.nodes() {
        let text = escape(&label(flow, &node.id));
        let _ = if node.kind == "decision" {
            writeln!(out, "    {}{{\"{text}\"}}", node.id)
        } else if node.kind == "end" || node.id == *start {
            writeln!(out, "    {}([\"{text}\"])", node.id)
        } else {
            writeln!(out, "    {}[\"{text}\"]", node.id)
        };
    }
    for (from, exit, to) in flow.edges() {
        let _ = writeln!(out, "    {from} -->|{}| {to}", escape(exit));
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
        let shape = match node.kind {
            "decision" => ", shape=diamond",
            "end" => ", shape=oval",
            _ => "",
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
