//! Where a node is built: [`CompileCx`] compiles its expressions and collects its problems.

use crate::clip::{self, QUOTE_MAX, clip};
use crate::diagnostic::Diagnostic;
use crate::expr::{Expr, ExprEngine, Template, VarReads};
use crate::pointer::JsonPointer;
use crate::vars::VarPath;
use indexmap::IndexSet;

/// Where a node is built: compiles its expressions and collects its problems.
pub struct CompileCx<'a> {
    engine: &'a ExprEngine,
    node: &'a str,
    base: &'a str,
    diagnostics: &'a mut Vec<Diagnostic>,
    reads: VarReads,
    /// The flow's declared parameters, when known: reading another member of `params` is
    /// warned about.
    parameters: Option<&'a [String]>,
}

impl<'a> CompileCx<'a> {
    /// A context for node `node`, whose object is at JSON pointer `base` (`/nodes/3`).
    pub fn new(
        engine: &'a ExprEngine,
        node: &'a str,
        base: &'a str,
        diagnostics: &'a mut Vec<Diagnostic>,
    ) -> Self {
        Self { engine, node, base, diagnostics, reads: VarReads::default(), parameters: None }
    }

    /// Checks what expressions and templates read of `params` against the flow's declared
    /// `parameters`, which are all `params` holds: reading another member is a warning at the
    /// field.
    #[must_use]
    pub fn with_parameters(mut self, parameters: &'a [String]) -> Self {
        self.parameters = Some(parameters);
        self
    }

    fn check_param_reads(&mut self, field: &str, reads: &VarReads) {
        let Some(declared) = self.parameters else { return };
        // `params.usr.a` and `params.usr.b` are one mistake.
        let undeclared: IndexSet<&str> =
            reads.members().filter(|member| !declared.iter().any(|d| d == member)).collect();
        if undeclared.is_empty() {
            return;
        }
        let declares = if declared.is_empty() {
            "it declares none".to_owned()
        } else {
            let names = declared.iter().map(|n| format!("`{}`", clip(n)));
            format!("it declares {}", clip::list(names))
        };
        for member in undeclared {
            self.warning(
                field,
                format!(
                    "`params.{}` is not a parameter of this flow, so it reads as `()` \
                     ({declares}; add it to `parameters`)",
                    clip(member)
                ),
            );
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
                self.check_param_reads(field, expr.param_reads());
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
                self.check_param_reads(field, &template.param_reads());
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
