//! The documentation's examples are files that run: `docs/examples/` passes `weft test`, every
//! JSON block of `docs/FLOWS.md` marked as an example is byte for byte its file (or one node of
//! it), and every other JSON block at least parses.

use crate::util::{Weft, root};
use serde_json::Value;
use std::path::Path;

#[test]
fn the_examples_pass_their_tests() {
    let outcome = Weft::new(&root(), ["test", "docs/examples"]).run();
    outcome.assert_code(0);
    assert!(outcome.stdout.contains(" passed, 0 failed"), "{}", outcome.stdout);
    let flows = crate::util::flow_files(&root().join("docs/examples"));
    assert!(flows.len() >= 4, "{flows:?}");
    for flow in flows {
        let test = flow.replace(".flow.json", ".test.json");
        assert!(root().join("docs/examples").join(&test).is_file(), "{flow} has no {test}");
    }
}

#[test]
fn the_blocks_flows_md_quotes_are_the_files() {
    let doc = std::fs::read_to_string(root().join("docs/FLOWS.md")).unwrap();
    let mut quoted = 0;
    for block in json_blocks(&doc) {
        match block.source {
            Some(source) => {
                let expected = quote(&root(), source);
                assert_eq!(
                    block.text, expected,
                    "docs/FLOWS.md line {}: the block is not {source}",
                    block.line
                );
                quoted += 1;
            }
            None => {
                let parses = |text: &str| serde_json::from_str::<Value>(text).is_ok();
                assert!(
                    parses(&block.text) || parses(&format!("{{{}}}", block.text)),
                    "docs/FLOWS.md line {}: the block is not JSON (nor members of an object):\n{}",
                    block.line,
                    block.text
                );
            }
        }
    }
    assert!(quoted >= 5, "only {quoted} blocks name their file");
}

/// A fenced `json` block, with the file it quotes when an `<!-- example: … -->` line precedes it.
struct Block<'a> {
    line: usize,
    source: Option<&'a str>,
    text: String,
}

fn json_blocks(doc: &str) -> Vec<Block<'_>> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i] == "```json" {
            let source = i.checked_sub(1).and_then(|above| {
                lines[above].strip_prefix("<!-- example: ")?.strip_suffix(" -->")
            });
            let end = (i + 1..lines.len()).find(|&j| lines[j] == "```").expect("a closed block");
            let text = lines[i + 1..end].iter().map(|line| format!("{line}\n")).collect();
            blocks.push(Block { line: i + 1, source, text });
            i = end;
        }
        i += 1;
    }
    blocks
}

/// What `docs/examples/FILE` or `docs/examples/FILE#ID` quotes: the whole file, or the node with
/// that id from its `{` to its matching `}` with the first line's indentation taken off.
fn quote(root: &Path, source: &str) -> String {
    let (file, id) = match source.split_once('#') {
        Some((file, id)) => (file, Some(id)),
        None => (source, None),
    };
    let text = std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let Some(id) = id else { return text };
    let marker = format!("\"id\": \"{id}\"");
    let at = text.find(&marker).unwrap_or_else(|| panic!("{file} has no node `{id}`"));
    let open = text[..at].rfind('{').unwrap();
    let line_start = text[..open].rfind('\n').map_or(0, |n| n + 1);
    let indent = open - line_start;
    let mut depth = 0;
    let mut in_string = false;
    let mut escaped = false;
    let mut close = open;
    for (offset, c) in text[open..].char_indices() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (false, _, '"') => in_string = true,
            (false, _, '{') => depth += 1,
            (false, _, '}') => {
                depth -= 1;
                if depth == 0 {
                    close = open + offset;
                    break;
                }
            }
            _ => {}
        }
    }
    let node = &text[open..=close];
    let mut out = String::new();
    for (n, line) in node.lines().enumerate() {
        let line = if n == 0 { line } else { line.get(indent..).unwrap_or(line.trim_start()) };
        out.push_str(line);
        out.push('\n');
    }
    out
}
