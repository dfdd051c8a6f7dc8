//! Templates: text with `${ expr }` holes.
//!
//! A hole ends at the `}` that closes it; braces inside Rhai strings (`"…"`, `'…'`, `` `…` ``
//! with their own `${ }`), comments, object map literals (`#{…}`) and blocks don't count.
//! `$${` is a literal `${`. Compile with [`ExprEngine::compile_template`]
//! (super::ExprEngine::compile_template), render with [`ExprEngine::render`]
//! (super::ExprEngine::render).

use std::fmt;
use std::sync::Arc;

use super::compiled::{Expr, SyntaxError};
use super::reads::VarReads;

/// One piece of a compiled template.
#[derive(Clone, Debug)]
pub(crate) enum Part {
    /// Literal text (with `$${` already turned into `${`).
    Text(String),
    /// A compiled hole.
    Hole(Expr),
}

/// One piece of a template before its holes are compiled.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RawPart<'a> {
    /// Literal text.
    Text(String),
    /// A hole's source, and where it starts in the template (1-based line and column).
    Hole {
        /// The expression between `${` and `}`.
        source: &'a str,
        /// Line of the hole's first character.
        line: usize,
        /// Column of the hole's first character.
        column: usize,
    },
}

/// A compiled template: cheap to clone.
#[derive(Clone)]
pub struct Template {
    source: Arc<str>,
    parts: Arc<[Part]>,
    /// What its holes can read of `vars`, together.
    reads: Arc<VarReads>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template").field("source", &self.source).finish_non_exhaustive()
    }
}

impl Template {
    pub(crate) fn new(source: &str, parts: Vec<Part>) -> Self {
        let mut reads = VarReads::default();
        for part in &parts {
            if let Part::Hole(expr) = part {
                reads.extend(expr.reads());
            }
        }
        Self { source: Arc::from(source), parts: parts.into(), reads: Arc::new(reads) }
    }

    /// The parts of `vars` the template's holes can read.
    #[must_use]
    pub fn reads(&self) -> &VarReads {
        &self.reads
    }

    /// The parts of `params` the template's holes can read (worked out when asked: only
    /// validation asks, once).
    #[must_use]
    pub fn param_reads(&self) -> VarReads {
        let mut reads = VarReads::default();
        for part in self.parts.iter() {
            if let Part::Hole(expr) = part {
                reads.extend(expr.param_reads());
            }
        }
        reads
    }

    pub(crate) fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The template's source text.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the template has no holes.
    #[must_use]
    pub fn is_literal(&self) -> bool {
        self.literal().is_some()
    }

    /// The text of a template without holes (`$${` turned into `${`).
    #[must_use]
    pub fn literal(&self) -> Option<&str> {
        match &*self.parts {
            [] => Some(""),
            [Part::Text(text)] => Some(text),
            _ => None,
        }
    }

    /// Whether the template is exactly one hole (and so renders to the hole's value, typed).
    #[must_use]
    pub fn is_single_hole(&self) -> bool {
        matches!(&*self.parts, [Part::Hole(_)])
    }

    /// The compiled holes, in order.
    pub fn holes(&self) -> impl Iterator<Item = &Expr> {
        self.parts.iter().filter_map(|part| match part {
            Part::Hole(expr) => Some(expr),
            Part::Text(_) => None,
        })
    }
}

/// Line and column (1-based, in characters) of byte offsets met in increasing order: each
/// step counts only the text since the last one, so placing every hole of a template costs one
/// pass over it.
struct Place<'s> {
    source: &'s str,
    at: usize,
    line: usize,
    column: usize,
}

impl<'s> Place<'s> {
    fn new(source: &'s str) -> Self {
        Self { source, at: 0, line: 1, column: 1 }
    }

    /// The line and column of byte offset `to` (not before the last one asked for).
    fn of(&mut self, to: usize) -> (usize, usize) {
        let between = self.source.get(self.at..to).unwrap_or_default();
        for c in between.chars() {
            if c == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        self.at = self.at.max(to);
        (self.line, self.column)
    }
}

/// What the hole scanner is inside of.
enum Mode {
    /// Rhai code with this many unclosed `{`.
    Code(usize),
    /// A backtick string (whose `${` opens code again).
    Backtick,
}

/// The byte offset of the `}` closing the hole whose code starts at `start`, or `None` if the
/// hole never closes.
fn hole_end(source: &str, start: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut stack = vec![Mode::Code(0)];
    let mut i = start;
    while i < bytes.len() {
        let b = bytes[i];
        match stack.last_mut()? {
            Mode::Code(depth) => match b {
                b'"' | b'\'' => i = skip_quoted(bytes, i, b)?,
                b'`' => stack.push(Mode::Backtick),
                b'/' if bytes.get(i + 1) == Some(&b'/') => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                    continue;
                }
                b'/' if bytes.get(i + 1) == Some(&b'*') => {
                    i = skip_block_comment(bytes, i)?;
                    continue;
                }
                b'{' => *depth += 1,
                b'}' if *depth == 0 => {
                    stack.pop();
                    if stack.is_empty() {
                        return Some(i);
                    }
                }
                b'}' => *depth -= 1,
                _ => {}
            },
            Mode::Backtick => match b {
                b'`' if bytes.get(i + 1) == Some(&b'`') => i += 1,
                b'`' => {
                    stack.pop();
                }
                b'$' if bytes.get(i + 1) == Some(&b'{') => {
                    stack.push(Mode::Code(0));
                    i += 1;
                }
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// Skips a `"…"` or `'…'` literal starting at `open`; returns the offset of its closing quote.
fn skip_quoted(bytes: &[u8], open: usize, quote: u8) -> Option<usize> {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == quote => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Skips a (nestable) `/* … */` comment starting at `open`; returns the offset just past it.
fn skip_block_comment(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// Splits a template into literal text and hole sources.
pub(crate) fn split(source: &str) -> Result<Vec<RawPart<'_>>, SyntaxError> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut rest_start = 0; // start of text not yet copied into `text`
    let mut i = 0;
    let bytes = source.as_bytes();
    let mut place = Place::new(source);
    while i < bytes.len() {
        if bytes[i] == b'$' && source[i..].starts_with("$${") {
            text.push_str(&source[rest_start..i]);
            text.push_str("${");
            i += 3;
            rest_start = i;
        } else if bytes[i] == b'$' && source[i..].starts_with("${") {
            text.push_str(&source[rest_start..i]);
            if !text.is_empty() {
                parts.push(RawPart::Text(std::mem::take(&mut text)));
            }
            let code = i + 2;
            let Some(end) = hole_end(source, code) else {
                let (line, column) = place.of(i);
                return Err(SyntaxError {
                    message: "unterminated `${` hole: no closing `}`".to_owned(),
                    line,
                    column,
                });
            };
            let (line, column) = place.of(code);
            parts.push(RawPart::Hole { source: &source[code..end], line, column });
            i = end + 1;
            rest_start = i;
        } else {
            i += 1;
        }
    }
    text.push_str(&source[rest_start..]);
    if !text.is_empty() {
        parts.push(RawPart::Text(text));
    }
    Ok(parts)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn hole(source: &str, line: usize, column: usize) -> RawPart<'_> {
        RawPart::Hole { source, line, column }
    }

    #[test]
    fn splits_text_and_holes() {
        assert_eq!(split("").unwrap(), vec![]);
        assert_eq!(split("plain").unwrap(), vec![RawPart::Text("plain".into())]);
        assert_eq!(
            split("a ${x} b").unwrap(),
            vec![RawPart::Text("a ".into()), hole("x", 1, 5), RawPart::Text(" b".into())]
        );
        assert_eq!(split("${x}${y}").unwrap(), vec![hole("x", 1, 3), hole("y", 1, 7)]);
        assert_eq!(
            split("$${x} and $$ and $").unwrap(),
            vec![RawPart::Text("${x} and $$ and $".into())]
        );
        assert_eq!(
            split("line\n  ${ é }").unwrap(),
            vec![RawPart::Text("line\n  ".into()), hole(" é ", 2, 5)]
        );
    }

    #[test]
    fn braces_inside_holes() {
        let cases = [
            r#"${ #{a: 1}.a }"#,
            r#"${ "}" + '}' }"#,
            r#"${ "a\"}" }"#,
            r#"${ if x { 1 } else { 2 } }"#,
            r#"${ `x ${ #{b: "}"}.b } y` }"#,
            r#"${ `a``}` }"#,
            "${ x /* } */ }",
            "${ x // }\n }",
        ];
        for case in cases {
            let parts = split(case).unwrap();
            assert_eq!(parts.len(), 1, "{case}");
            let RawPart::Hole { source, .. } = &parts[0] else { panic!("{case}") };
            assert_eq!(*source, &case[2..case.len() - 1], "{case}");
        }
    }

    #[test]
    fn unterminated_holes() {
        for (case, line, column) in [
            ("abc ${ x", 1, 5),
            ("a\nbc ${ \"}", 2, 4),
            ("${ #{a: 1 }", 1, 1),
            ("ok ${x} then\n  ${ `${ y }", 2, 3),
        ] {
            let err = split(case).unwrap_err();
            assert_eq!((err.line, err.column), (line, column), "{case}");
            assert!(err.message.contains("unterminated"));
        }
    }
}
