//! What compiling gives: an [`Expr`], or a [`SyntaxError`] saying where the source is wrong.
//! The engine builds and evaluates them; templates hold them as their holes.

use std::fmt;
use std::sync::Arc;

use rhai::AST;

use super::plain::PlainPath;
use super::reads::VarReads;

/// An expression or template that doesn't compile.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (line {line}, column {column})")]
pub struct SyntaxError {
    /// What is wrong, in Rhai's words.
    pub message: String,
    /// 1-based line inside the source (the expression or the whole template).
    pub line: usize,
    /// 1-based column (in characters) inside that line.
    pub column: usize,
}

/// A compiled expression: cheap to clone, shareable between threads and runs.
#[derive(Clone)]
pub struct Expr {
    pub(super) ast: Arc<AST>,
    pub(super) source: Arc<str>,
    /// Where the source starts in the text it came from (1-based line and column): `(1, 1)`
    /// for a plain expression, the hole's place for a template hole.
    pub(super) origin: (usize, usize),
    pub(super) reads: Arc<VarReads>,
    /// What it reads of `params`; `None` for nothing, which most expressions read (no
    /// allocation for them).
    pub(super) param_reads: Option<Arc<VarReads>>,
    /// Set when the expression only reads members (`params.from`): read without Rhai.
    pub(super) plain: Option<Arc<PlainPath>>,
}

impl Expr {
    /// The Rhai source it was compiled from.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The parts of `vars` the expression can read.
    #[must_use]
    pub fn reads(&self) -> &VarReads {
        &self.reads
    }

    /// The parts of `params` the expression can read (to check them against the flow's
    /// declared parameters).
    #[must_use]
    pub fn param_reads(&self) -> &VarReads {
        static NOTHING: std::sync::LazyLock<VarReads> = std::sync::LazyLock::new(VarReads::default);
        self.param_reads.as_deref().unwrap_or(&NOTHING)
    }
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expr").field("source", &self.source).finish_non_exhaustive()
    }
}
