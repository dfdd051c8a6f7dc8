//! `weft explain [KIND]`: the node reference, generated from the kinds' own types (their
//! configs' schemas and doc comments, `KindInfo`, `KindDoc`), as the committed node reference is.

use super::{EXIT_BAD_INPUT, pretty};
use clap::{Args, ValueEnum};
use weft_nodes::Registry;
use weft_nodes::kind::reference::{self, KindReference};

/// The width text is wrapped to.
const WIDTH: usize = 100;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The node kind to explain (`http_request`); without it, the list of kinds.
    kind: Option<String>,
    /// How to print it: text, Markdown (the node reference of the docs) or JSON.
    #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
    format: ExplainFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExplainFormat {
    Text,
    Markdown,
    Json,
}

pub fn explain(args: ExplainArgs) -> u8 {
    let registry = Registry::builtin();
    let Some(name) = args.kind else {
        let kinds: Vec<KindReference> = registry.kinds().map(reference::reference).collect();
        match args.format {
            ExplainFormat::Text => print!("{}", list_text(&kinds)),
            ExplainFormat::Markdown => print!("{}", reference::markdown(&registry)),
            ExplainFormat::Json => println!("{}", pretty(&serde_json::json!(kinds))),
        }
        return 0;
    };
    let Some(kind) = registry.get(&name) else {
        eprintln!(
            "error: no node kind is named `{}`; the kinds are: {}",
            weft_nodes::clip(&name),
            registry.names().join(", ")
        );
        return EXIT_BAD_INPUT;
    };
    let kind = reference::reference(kind);
    match args.format {
        ExplainFormat::Text => print!("{}", kind_text(&kind)),
        ExplainFormat::Markdown => print!("{}", reference::kind_markdown(&kind)),
        ExplainFormat::Json => println!("{}", pretty(&serde_json::json!(kind))),
    }
    0
}

fn list_text(kinds: &[KindReference]) -> String {
    let width = kinds.iter().map(|k| k.kind.len()).max().unwrap_or(0);
    let mut out = String::from("Node kinds (`weft explain KIND` for one's fields and exits):\n\n");
    for kind in kinds {
        out.push_str(&format!("  {:width$}  {}  {}\n", kind.kind, kind.glyph, kind.description));
    }
    out
}

fn kind_text(kind: &KindReference) -> String {
    let mut out = format!("{} {}  {}\n", kind.kind, kind.glyph, kind.description);
    out.push_str("\nFields (besides `id`, `type`, `title` and `position`):\n");
    for field in &kind.fields {
        let mut head = format!("  {}  {}", field.name, field.type_name);
        if let Some(holds) = field.holds {
            head.push_str(&format!(", {holds}"));
        }
        match (&field.default, field.required) {
            (Some(default), _) => head.push_str(&format!("; default {default}")),
            (None, true) => head.push_str("; required"),
            (None, false) => {}
        }
        out.push_str(&head);
        out.push('\n');
        out.push_str(&wrap(&field.description, 6));
    }
    out.push_str("\nExits:\n");
    if kind.exits.is_empty() {
        out.push_str("  none: a node of this kind ends the run\n");
    }
    for exit in &kind.exits {
        out.push_str(&format!("  {}\n", exit.label()));
        out.push_str(&wrap(&reference::exit_when(exit), 6));
    }
    out.push_str("\nWrites into `vars`:\n");
    if kind.writes.is_empty() {
        out.push_str("  nothing\n");
    }
    for writes in &kind.writes {
        out.push_str(&format!("  {}\n", reference::writes_at(writes)));
        out.push_str(&wrap(writes.value, 6));
    }
    if !kind.example_text.is_empty() {
        out.push_str("\nExample:\n");
        for line in kind.example_text.lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

/// `text` in lines of at most [`WIDTH`] columns (a longer word stands alone), indented.
fn wrap(text: &str, indent: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.chars().count() + 1 + word.chars().count() > WIDTH {
            out.push_str(&format!("{:indent$}{line}\n", ""));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{:indent$}{line}\n", ""));
    }
    out
}
