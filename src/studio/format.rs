//! The studio's file format: stable key order (the file's own) and a layout in which every
//! node, edge and parameter sits on one line, so that moving a node changes one line.

use serde_json::Value;

/// Formats a flow document: the top-level keys one per line; each element of `nodes` and
/// `edges` and each entry of `parameters` on a line of its own; everything else compact (with
/// spaces after `:` and `,`). Keys keep the order they have in `value`. Ends with a newline.
pub fn flow_text(value: &Value) -> String {
    let Value::Object(top) = value else {
        let mut out = String::new();
        inline(value, &mut out);
        out.push('\n');
        return out;
    };
    if top.is_empty() {
        return "{}\n".to_owned();
    }
    let mut out = String::from("{\n");
    let count = top.len();
    for (i, (key, item)) in top.iter().enumerate() {
        out.push_str("  ");
        out.push_str(&quote(key));
        out.push_str(": ");
        match (key.as_str(), item) {
            ("nodes" | "edges", Value::Array(items)) if !items.is_empty() => {
                out.push_str("[\n");
                for (j, element) in items.iter().enumerate() {
                    out.push_str("    ");
                    inline(element, &mut out);
                    out.push_str(if j + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str("  ]");
            }
            ("parameters", Value::Object(map)) if !map.is_empty() => {
                out.push_str("{\n");
                for (j, (name, param)) in map.iter().enumerate() {
                    out.push_str("    ");
                    out.push_str(&quote(name));
                    out.push_str(": ");
                    inline(param, &mut out);
                    out.push_str(if j + 1 < map.len() { ",\n" } else { "\n" });
                }
                out.push_str("  }");
            }
            _ => inline(item, &mut out),
        }
        out.push_str(if i + 1 < count { ",\n" } else { "\n" });
    }
    out.push_str("}\n");
    out
}

fn quote(text: &str) -> String {
    // Serialising a string can't fail.
    serde_json::to_string(text).unwrap_or_default()
}

/// One-line JSON: `{ "a": 1, "b": [1, 2] }`.
fn inline(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            out.push_str("{ ");
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&quote(key));
                out.push_str(": ");
                inline(item, out);
            }
            out.push_str(" }");
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                inline(item, out);
            }
            out.push(']');
        }
        Value::String(text) => out.push_str(&quote(text)),
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_and_edges_one_per_line_keys_in_file_order() {
        let value: Value = serde_json::from_str(
            r#"{"format":"weft.flow/1","start":"a","nodes":[{"type":"end","id":"a","position":[1,2]}],
               "edges":[],"parameters":{"p":{"type":"string"}},"variables":{"x":[1,{"y":"z"}]}}"#,
        )
        .unwrap();
        let text = flow_text(&value);
        assert_eq!(
            text,
            "{\n  \"format\": \"weft.flow/1\",\n  \"start\": \"a\",\n  \"nodes\": [\n    \
             { \"type\": \"end\", \"id\": \"a\", \"position\": [1, 2] }\n  ],\n  \"edges\": [],\n  \
             \"parameters\": {\n    \"p\": { \"type\": \"string\" }\n  },\n  \
             \"variables\": { \"x\": [1, { \"y\": \"z\" }] }\n}\n"
        );
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }
}
