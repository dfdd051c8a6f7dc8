//! Problems found while loading a flow: errors stop it from running, warnings do not.

use crate::clip::{QUOTE_MAX, clip, clip_message, clip_to};
use serde::Serialize;
use std::fmt;

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The flow runs, but probably not as meant.
    Warning,
    /// The flow cannot run.
    Error,
}

/// One problem in a flow file, located by JSON pointer (and line/column once the loader knows
/// the source text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// JSON pointer to the offending value, e.g. `/nodes/3/when` (empty for the whole file);
    /// one longer than [`QUOTE_MAX`] bytes (a key that long) is [`clip`]ped like a quotation,
    /// and then locates the nearest ancestor whose pointer fits.
    pub pointer: String,
    /// The id of the node concerned, when there is one ([`clip`]ped: ids are input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// What is wrong, and where useful what to check.
    pub message: String,
    /// 1-based line in the file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column in the file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Diagnostic {
    /// An error at `pointer`.
    pub fn error(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, pointer, message)
    }

    /// A warning at `pointer`.
    pub fn warning(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, pointer, message)
    }

    /// The message is bounded ([`clip_message`]): it may quote input through serde or Rhai.
    fn new(severity: Severity, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity,
            pointer: bounded(pointer.into()),
            node: None,
            message: clip_message(message.into()),
            line: None,
            column: None,
        }
    }

    /// Names the node this diagnostic concerns. Only a bounded part of a long id is copied:
    /// a node's thousand diagnostics must not cost a thousand times its id.
    pub fn at_node(mut self, node: &str) -> Self {
        self.node = Some(clip(node).to_string());
        self
    }

    /// `file:line:column: error [pointer] node `x`: message`, for people (the pointer and the
    /// id clipped: they are input).
    pub fn located(&self, file: &str) -> String {
        match (self.line, self.column) {
            (Some(line), Some(column)) => format!("{file}:{line}:{column}: {self}"),
            _ => format!("{file}: {self}"),
        }
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A pointer of at most [`QUOTE_MAX`] bytes, marker included (see [`clip_pointer`]).
fn bounded(pointer: String) -> String {
    if pointer.len() <= QUOTE_MAX { pointer } else { clip_pointer(&pointer, QUOTE_MAX) }
}

/// A pointer (or a pointer's suffix) in at most `max` bytes, marker included. The cut never
/// splits an escape (`~0`, `~1`), so a clipped pointer still parses as one.
pub(crate) fn clip_pointer(pointer: &str, max: usize) -> String {
    let clipped = clip_to(pointer, max);
    // In a pointer every `~` starts an escape, and its second byte is ASCII: one byte less
    // leaves the whole escape out.
    if pointer[..pointer.len() - clipped.cut()].ends_with('~') {
        return clip_to(pointer, max.saturating_sub(1)).to_string();
    }
    clipped.to_string()
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}")?;
        let pointer = if self.pointer.is_empty() { "/" } else { &self.pointer };
        write!(f, " [{}]", clip(pointer))?;
        if let Some(node) = &self.node {
            write!(f, " node `{}`", clip(node))?;
        }
        write!(f, ": {}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pointer::JsonPointer;

    #[test]
    fn regression_a_clipped_pointer_is_still_a_json_pointer() {
        // A key of `~`s is `~0~0…` in a pointer; whichever length, the cut falls between two
        // escapes, never inside one.
        for n in 200..210 {
            let pointer = format!("/{}", "~0".repeat(n));
            let d = Diagnostic::error(pointer, "unknown field");
            assert!(d.pointer.len() <= QUOTE_MAX && d.pointer.contains('…'), "{}", d.pointer);
            assert!(JsonPointer::parse(&d.pointer).is_ok(), "{n}: {}", d.pointer);
        }
    }

    #[test]
    fn regression_a_clipped_field_pointer_under_a_node_is_still_a_json_pointer() {
        // A node's field is clipped on its own, to fit after the node's pointer (fuzzing found
        // `/nodes/0/posi…a~1a~… [+8407 bytes]`): the same rule applies there.
        let engine = crate::expr::ExprEngine::new();
        for shift in 0..3 {
            let mut diagnostics = Vec::new();
            let mut cx = crate::kind::CompileCx::new(&engine, "a", "/nodes/0", &mut diagnostics);
            cx.error(&format!("/{}{}", "x".repeat(shift), "a~1".repeat(200)), "unknown field");
            let pointer = &diagnostics[0].pointer;
            assert!(pointer.len() <= QUOTE_MAX && pointer.contains('…'), "{pointer}");
            assert!(JsonPointer::parse(pointer).is_ok(), "{shift}: {pointer}");
        }
    }
}
