//! Where a node is built: [`CompileCx`] compiles its expressions and collects its problems.

use crate::clip::QUOTE_MAX;
use crate::diagnostic::Diagnostic;
use crate::expr::{Expr, ExprEngine, Template, VarReads};
use crate::pointer::JsonPointer;
use crate::vars::VarPath;

/// Where a node is built: compiles its expressions and collects its problems.
pub struct CompileCx<'a> {
    engine: &'a ExprEngine,
    node: &'a str,
    base: &'a str,
    diagnostics: &'a mut Vec<Diagnostic>,
    reads: VarReads,
    param_reads: Vec<(String, String)>,
}

impl<'a> CompileCx<'a> {
    /// A context for node `node`, whose object is at JSON pointer `base` (`/nodes/3`).
    pub fn new(
        engine: &'a ExprEngine,
        node: &'a str,
        base: &'a str,
        diagnostics: &'a mut Vec<Diagnostic>,
    ) -> Self {
        Self {
            engine,
            node,
            base,
            diagnostics,
            reads: VarReads::default(),
            param_reads: Vec::new(),
        }
    }

    /// The members of `params` the node's expressions and templates read, each with the
    /// pointer of the field that reads it, for the loader to check against the flow's
    /// declared parameters.
    pub fn param_reads(&self) -> &[(String, String)] {
        &self.param_reads
    }

    fn note_param_reads(&mut self, field: &str, reads: &VarReads) {
        let pointer = self.pointer_of(field);
        for member in reads.members() {
            if !self.param_reads.iter().any(|(p, m)| *p == pointer && m == member) {
                self.param_reads.push((pointer.clone(), member.to_owned()));
            }
        }
    }

    /// What the node's expressions and templates can read of `vars`, for
    /// [`crate::node::RunParts::reads`] (the union over a flow's nodes).
    pub fn reads(&self) -> &VarReads {
        &self.reads
    }

    /// The expression engine.
    pub fn engine(&self) -> &ExprEngine {
        self.engine
    }

    /// The node's id.
    pub fn node_id(&self) -> &str {
        self.node
    }

    /// The pointer of `field`, copying no more of a long one than a diagnostic keeps.
    fn pointer_of(&self, field: &str) -> String {
        let room = QUOTE_MAX.saturating_sub(self.base.len());
        format!("{}{}", self.base, crate::diagnostic::clip_pointer(field, room))
    }

    /// Reports an error at `field` (a pointer suffix such as `/conditions/0/when`).
    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        let d = Diagnostic::error(self.pointer_of(field), message).at_node(self.node);
        self.diagnostics.push(d);
    }

    /// Reports a warning at `field`.
    pub fn warning(&mut self, field: &str, message: impl Into<String>) {
        let d = Diagnostic::warning(self.pointer_of(field), message).at_node(self.node);
        self.diagnostics.push(d);
    }

    /// Compiles an expression; `names` are the variables it may use besides `params` and `vars`.
    pub fn expression(&mut self, field: &str, source: &str, names: &[&str]) -> Option<Expr> {
        let expr = self.expression_read_by_node(field, source, names)?;
        self.reads.extend(expr.reads());
        Some(expr)
    }

    /// Compiles an expression whose reads of `vars` the node takes care of itself (a JSON
    /// Import reads a variable that waits as JSON text straight from the text), so they don't
    /// count in [`CompileCx::reads`]; the node adds them with [`CompileCx::add_reads`] when it
    /// can't.
    pub fn expression_read_by_node(
        &mut self,
        field: &str,
        source: &str,
        names: &[&str],
    ) -> Option<Expr> {
        match self.engine.compile_expression(source, names) {
            Ok(expr) => {
                self.note_param_reads(field, expr.param_reads());
                Some(expr)
            }
            Err(err) => {
                self.error(field, format!("expression does not compile: {err}"));
                None
            }
        }
    }

    /// Counts `reads` among what the node reads of `vars`.
    pub fn add_reads(&mut self, reads: &VarReads) {
        self.reads.extend(reads);
    }

    /// Compiles a `${…}` template.
    pub fn template(&mut self, field: &str, source: &str, names: &[&str]) -> Option<Template> {
        match self.engine.compile_template(source, names) {
            Ok(template) => {
                self.reads.extend(template.reads());
                self.note_param_reads(field, template.param_reads());
                Some(template)
            }
            Err(err) => {
                self.error(field, format!("template does not compile: {err}"));
                None
            }
        }
    }

    /// Checks a variable path (`page`, `calendar.items`).
    pub fn var_path(&mut self, field: &str, source: &str) -> Option<VarPath> {
        VarPath::parse(source).map_err(|message| self.error(field, message)).ok()
    }

    /// Checks a JSON pointer.
    pub fn pointer(&mut self, field: &str, source: &str) -> Option<JsonPointer> {
        JsonPointer::parse(source).map_err(|message| self.error(field, message)).ok()
    }
}
