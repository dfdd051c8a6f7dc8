//! The sandboxed Rhai engine, compiled expressions and the scope they run against.

use std::fmt;
use std::sync::Arc;

use rhai::module_resolvers::DummyModuleResolver;
use rhai::{Dynamic, Engine, EvalAltResult, ParseError, Scope};

use super::assign;
use super::budget::{self, Exceeded};
use crate::interrupt::{Interrupt, Stop};

use super::compiled::{Expr, SyntaxError};
use super::convert::stringify;
use super::helpers::{self, clock::Clock, clock::with_clock};
use super::limits::Limits;
use super::plain::PlainPath;
use super::reads::VarReads;
use super::sandbox;
use super::template::{self, Part, RawPart, Template};

/// Longest error message an evaluation reports (messages never carry whole values).
const MESSAGE_MAX: usize = 500;

/// Why an evaluation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalErrorKind {
    /// A sandbox limit was reached (operations, call depth, string/array/map size).
    Limit,
    /// Anything else: a type mismatch, a missing function, an index out of bounds, a helper
    /// that rejected its input…
    Runtime,
    /// The run was stopped meanwhile (cancelled, or past its deadline): not the expression's
    /// fault, and not worth reporting as its failure.
    Stopped(Stop),
}

/// An evaluation that failed. The message is for humans and never holds whole values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    /// Which kind of failure.
    pub kind: EvalErrorKind,
    /// What happened, with the line and column inside the expression for runtime errors.
    pub message: String,
}

impl EvalError {
    fn runtime(message: impl Into<String>) -> Self {
        Self { kind: EvalErrorKind::Runtime, message: message.into() }
    }

    fn limit(message: impl Into<String>) -> Self {
        Self { kind: EvalErrorKind::Limit, message: message.into() }
    }
}

/// The variables expressions see during one run: `params`, `vars` (both read-only to
/// expressions) and the run's [`Clock`].
///
/// Create one per run and evaluate any number of expressions against it: the Rhai scope is
/// built once, extra variables (`item`, `response`…) are pushed per evaluation and removed
/// after it.
pub struct ExprScope {
    scope: Scope<'static>,
    base: usize,
    clock: Clock,
    interrupt: Option<Interrupt>,
}

impl ExprScope {
    /// A scope over `params` and `vars`, normally *shared* values ([`Dynamic::into_shared`])
    /// holding a [`rhai::Map`], so the scope holds pointers, not copies, and sees the run's
    /// writes. Both are constants to expressions: methods that would modify them fail.
    ///
    /// Put only the top-level values in shared cells: Rhai expects the data inside arrays and
    /// maps not to be shared.
    ///
    /// `new` marks both values read-only throughout (once, O(size)), so methods that would
    /// modify them (`vars.list.push(1)`) fail even inside the shared cells; values written into
    /// `vars` later must be marked too ([`Dynamic::into_read_only`]), as [`crate::vars::Vars`] does.
    #[must_use]
    pub fn new(params: Dynamic, vars: Dynamic) -> Self {
        let (params, vars) = (read_only(params), read_only(vars));
        let mut scope = Scope::new();
        scope.push_constant_dynamic("params", params);
        scope.push_constant_dynamic("vars", vars);
        let base = scope.len();
        Self { scope, base, clock: Clock::System, interrupt: None }
    }

    /// The same scope with `clock` as the clock of `now()` and `today()`.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the clock `now()` and `today()` read.
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// The clock `now()` and `today()` read.
    #[must_use]
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Makes every evaluation in this scope end early when `interrupt` says the run must stop,
    /// with [`EvalErrorKind::Stopped`].
    pub fn set_interrupt(&mut self, interrupt: Interrupt) {
        self.interrupt = Some(interrupt);
    }

    /// Replaces `vars` (e.g. with a new shared cell).
    pub fn set_vars(&mut self, vars: Dynamic) {
        let params = self.get("params");
        self.reset(params, vars);
    }

    /// Replaces `params`.
    pub fn set_params(&mut self, params: Dynamic) {
        let vars = self.get("vars");
        self.reset(params, vars);
    }

    /// The value of `params` or `vars` (a pointer clone when shared).
    fn get(&self, name: &str) -> Dynamic {
        self.scope.get(name).map_or(Dynamic::UNIT, Clone::clone)
    }

    fn reset(&mut self, params: Dynamic, vars: Dynamic) {
        let (params, vars) = (read_only(params), read_only(vars));
        self.scope.clear();
        self.scope.push_constant_dynamic("params", params);
        self.scope.push_constant_dynamic("vars", vars);
        self.base = self.scope.len();
    }
}

/// Marks a value read-only throughout, inside its shared cell if it has one.
fn read_only(value: Dynamic) -> Dynamic {
    if !value.is_shared() {
        return value.into_read_only();
    }
    let mut value = value;
    if let Some(mut inner) = value.write_lock::<Dynamic>() {
        let taken = std::mem::take(&mut *inner);
        *inner = taken.into_read_only();
    }
    value
}

impl fmt::Debug for ExprScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExprScope").field("clock", &self.clock).finish_non_exhaustive()
    }
}

/// The sandboxed Rhai engine: one per process, shared by every flow and run (`Send + Sync`).
///
/// Sandbox: strict variables (an unknown name is a compile error), no modules (`import`
/// fails), no `eval`, `print` and `debug` go to `tracing` at debug level (never stdout), limits
/// on operations, call depth, expression depth and the size of strings, arrays and maps. Rhai
/// itself has no file, network, process or environment access and the helpers add none. A
/// missing map property reads as `()`.
pub struct ExprEngine {
    engine: Engine,
    limits: Limits,
}

impl fmt::Debug for ExprEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExprEngine").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Default for ExprEngine {
    fn default() -> Self {
        Self::new()
    }
}

/// Shortens a message to [`MESSAGE_MAX`] bytes.
fn clip(message: String) -> String {
    crate::clip::clip_message_to(message, MESSAGE_MAX)
}

/// Maps a position inside an expression to the text it came from.
fn place(origin: (usize, usize), line: usize, column: usize) -> (usize, usize) {
    if line <= 1 {
        (origin.0, origin.1 + column.saturating_sub(1))
    } else {
        (origin.0 + line - 1, column)
    }
}

/// The line and column just past the end of `source`.
fn end_of(source: &str) -> (usize, usize) {
    let line = source.matches('\n').count() + 1;
    let last = source.rsplit('\n').next().unwrap_or("");
    (line, last.chars().count() + 1)
}

impl ExprEngine {
    /// An engine with the default [`Limits`].
    #[must_use]
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    /// An engine with the given limits.
    #[must_use]
    pub fn with_limits(limits: Limits) -> Self {
        let mut engine = Engine::new_raw();
        sandbox::install(&mut engine);
        // As `Engine::new` does: property names are interned instead of allocated per read.
        engine.set_max_strings_interned(256);
        // `PlainPath` (plain.rs) reads `root.a.b` from the maps itself and must agree with the
        // interpreter: a missing member is `()` (`fail_on_invalid_map_property(false)`) and no
        // variable resolver stands between a name and the scope. Changing either here means
        // changing it there; `plain_paths_read_what_the_interpreter_reads` checks they agree.
        engine
            .set_strict_variables(true)
            .set_fail_on_invalid_map_property(false)
            .set_max_operations(limits.max_operations)
            .set_max_call_levels(limits.max_call_levels)
            .set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth)
            .set_max_string_size(limits.max_string_size)
            .set_max_array_size(limits.max_array_size)
            .set_max_map_size(limits.max_map_size)
            .set_module_resolver(DummyModuleResolver::new());
        engine.disable_symbol("eval");
        engine.on_print(|text| {
            tracing::debug!(target: "weft::expr", "print: {}", clip(text.to_owned()));
        });
        engine.on_debug(|text, _source, pos| {
            tracing::debug!(target: "weft::expr", "debug at {pos}: {}", clip(text.to_owned()));
        });
        // Rhai loses the operations of closures called from native functions (`map`, `filter`,
        // `reduce`…) from its own count; count every operation here instead, with the time,
        // memory and stop checks.
        engine.on_progress(move |_| budget::progress(&limits));
        helpers::register(&mut engine);
        Self { engine, limits }
    }

    /// The limits this engine enforces.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The names of the functions expressions can call, sorted, without operators and
    /// property accessors: Rhai's standard library less what the sandbox removes, and the
    /// helpers. For the documentation, and for a test that notices when an upgrade of Rhai
    /// offers something new.
    #[must_use]
    pub fn function_names(&self) -> Vec<String> {
        let mut names = self.engine.collect_fn_metadata(
            None,
            |info| {
                let name = info.metadata.name.as_str();
                let plain = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !name.starts_with("get$")
                    && !name.starts_with("set$");
                plain.then(|| name.to_owned())
            },
            true,
        );
        names.sort();
        names.dedup();
        names
    }

    /// Compiles a Rhai *expression* (no statements) that may use `params`, `vars` and the
    /// variables in `names` (e.g. `["item", "index"]`); any other variable is a compile error.
    ///
    /// # Errors
    ///
    /// [`SyntaxError`] with the line and column inside `source`.
    pub fn compile_expression(&self, source: &str, names: &[&str]) -> Result<Expr, SyntaxError> {
        self.compile_at(source, names, (1, 1))
    }

    /// Compiles an expression that starts at `origin` in the text it came from.
    fn compile_at(
        &self,
        source: &str,
        names: &[&str],
        origin: (usize, usize),
    ) -> Result<Expr, SyntaxError> {
        if source.trim().is_empty() {
            return Err(SyntaxError {
                message: "expected an expression, found nothing".to_owned(),
                line: origin.0,
                column: origin.1,
            });
        }
        // Plain (not constant) variables: the optimizer must not fold their placeholder values.
        let mut scope = Scope::new();
        scope.push_dynamic("params", Dynamic::UNIT);
        scope.push_dynamic("vars", Dynamic::UNIT);
        for name in names {
            scope.push_dynamic(*name, Dynamic::UNIT);
        }
        let ast = self
            .engine
            .compile_expression_with_scope(&scope, source)
            .map_err(|e| Self::syntax_error(&e, source, origin))?;
        if let Some(at) = assign::first_assignment(&ast) {
            let (line, column) = match (at.line(), at.position()) {
                (Some(line), Some(column)) => place(origin, line, column),
                _ => origin,
            };
            return Err(SyntaxError {
                message: "an expression can't assign (`=`): it computes a value, and only nodes \
                          change `vars` (an `assign` node's `set`)"
                    .to_owned(),
                line,
                column,
            });
        }
        let (reads, param_reads) = VarReads::of(&ast);
        let reads = Arc::new(reads);
        let param_reads = (!param_reads.is_nothing()).then(|| Arc::new(param_reads));
        let plain = PlainPath::of(&ast).map(Arc::new);
        Ok(Expr {
            ast: Arc::new(ast),
            source: Arc::from(source),
            origin,
            reads,
            param_reads,
            plain,
        })
    }

    fn syntax_error(error: &ParseError, source: &str, origin: (usize, usize)) -> SyntaxError {
        let (line, column) = match (error.1.line(), error.1.position()) {
            (Some(line), Some(column)) => (line, column),
            (Some(line), None) => (line, 1),
            _ => end_of(source),
        };
        let (line, column) = place(origin, line, column);
        SyntaxError { message: clip(error.0.to_string()), line, column }
    }

    /// Compiles a template: text with `${ expr }` holes (`$${` is a literal `${`). Each hole is
    /// an expression over `params`, `vars` and `names`.
    ///
    /// # Errors
    ///
    /// [`SyntaxError`] with the line and column inside the template (an unterminated or
    /// empty hole, or a hole that doesn't compile).
    pub fn compile_template(&self, source: &str, names: &[&str]) -> Result<Template, SyntaxError> {
        let raw = template::split(source)?;
        let mut parts = Vec::with_capacity(raw.len());
        for part in raw {
            parts.push(match part {
                RawPart::Text(text) => Part::Text(text),
                RawPart::Hole { source: hole, line, column } => {
                    Part::Hole(self.compile_at(hole, names, (line, column))?)
                }
            });
        }
        Ok(Template::new(source, parts))
    }

    /// Evaluates `expr` against `scope`.
    ///
    /// # Errors
    ///
    /// [`EvalError`]: [`EvalErrorKind::Limit`] when a sandbox limit is reached, otherwise
    /// [`EvalErrorKind::Runtime`].
    pub fn eval(&self, expr: &Expr, scope: &mut ExprScope) -> Result<Dynamic, EvalError> {
        self.eval_with(expr, scope, [])
    }

    /// Evaluates `expr` with extra variables (`item`, `index`, `response`…), pushed for this
    /// evaluation only (the scope is rewound afterwards, also on error). A shared value goes in
    /// as a read-only pointer, so the caller can take it back afterwards without a copy.
    ///
    /// # Errors
    ///
    /// As [`ExprEngine::eval`].
    pub fn eval_with(
        &self,
        expr: &Expr,
        scope: &mut ExprScope,
        extra: impl IntoIterator<Item = (&'static str, Dynamic)>,
    ) -> Result<Dynamic, EvalError> {
        push_extra(scope, extra);
        let result = self.eval_raw(expr, scope);
        scope.scope.rewind(scope.base);
        result
    }

    /// Evaluates with whatever is in the scope now. The result is never a shared value.
    fn eval_raw(&self, expr: &Expr, scope: &mut ExprScope) -> Result<Dynamic, EvalError> {
        if let Some(value) = expr.plain.as_ref().and_then(|plain| plain.read(&scope.scope)) {
            return Ok(value.flatten());
        }
        let clock = scope.clock;
        with_clock(clock, || {
            budget::evaluation(scope.interrupt.as_ref(), || {
                self.engine.eval_ast_with_scope::<Dynamic>(&mut scope.scope, &expr.ast)
            })
        })
        .map(Dynamic::flatten)
        .map_err(|e| self.eval_error(*e, expr.origin))
    }

    /// Renders a template. A template that is exactly one hole returns the hole's value with its
    /// type; otherwise a string: strings as they are, numbers and booleans as JSON text, `()`
    /// as nothing, arrays and maps as compact JSON.
    ///
    /// # Errors
    ///
    /// As [`ExprEngine::eval`]; also a hole whose value has no text form (a function pointer,
    /// a NaN…), and a result longer than the string limit.
    pub fn render(&self, template: &Template, scope: &mut ExprScope) -> Result<Dynamic, EvalError> {
        self.render_with(template, scope, [])
    }

    /// Renders a template with extra variables, as [`ExprEngine::eval_with`].
    ///
    /// # Errors
    ///
    /// As [`ExprEngine::render`].
    pub fn render_with(
        &self,
        template: &Template,
        scope: &mut ExprScope,
        extra: impl IntoIterator<Item = (&'static str, Dynamic)>,
    ) -> Result<Dynamic, EvalError> {
        if let Some(text) = template.literal() {
            return Ok(Dynamic::from(text.to_owned()));
        }
        push_extra(scope, extra);
        let result = self.render_raw(template, scope);
        scope.scope.rewind(scope.base);
        result
    }

    fn render_raw(&self, template: &Template, scope: &mut ExprScope) -> Result<Dynamic, EvalError> {
        let parts = template.parts();
        if let [Part::Hole(expr)] = parts {
            return self.eval_raw(expr, scope);
        }
        let mut out = String::new();
        for part in parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Hole(expr) => {
                    let value = self.eval_raw(expr, scope)?;
                    let text = stringify(&value).map_err(|e| {
                        let (line, column) = expr.origin;
                        EvalError::runtime(format!(
                            "the template hole at line {line}, column {column} can't be written \
                             as text: {e}"
                        ))
                    })?;
                    out.push_str(&text);
                }
            }
            let max = self.limits.max_string_size;
            if max > 0 && out.len() > max {
                return Err(EvalError::limit(format!(
                    "string length exceeds the limit of {max} bytes"
                )));
            }
        }
        Ok(Dynamic::from(out))
    }

    /// Renders a template to a string, stringifying even a single hole's value.
    ///
    /// # Errors
    ///
    /// As [`ExprEngine::render`].
    pub fn render_string(
        &self,
        template: &Template,
        scope: &mut ExprScope,
    ) -> Result<String, EvalError> {
        self.render_string_with(template, scope, [])
    }

    /// Renders a template to a string with extra variables.
    ///
    /// # Errors
    ///
    /// As [`ExprEngine::render`].
    pub fn render_string_with(
        &self,
        template: &Template,
        scope: &mut ExprScope,
        extra: impl IntoIterator<Item = (&'static str, Dynamic)>,
    ) -> Result<String, EvalError> {
        let value = self.render_with(template, scope, extra)?;
        stringify(&value)
            .map_err(|e| EvalError::runtime(format!("the template can't be written as text: {e}")))
    }

    /// Turns Rhai's error into an [`EvalError`], positions mapped to the source text.
    fn eval_error(&self, error: EvalAltResult, origin: (usize, usize)) -> EvalError {
        // The innermost cause (errors inside closures are wrapped) and the innermost position.
        let mut cause = error;
        let mut position = cause.position();
        loop {
            match cause {
                EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
                | EvalAltResult::ErrorInModule(_, inner, _) => {
                    if !inner.position().is_none() {
                        position = inner.position();
                    }
                    cause = *inner;
                }
                other => {
                    cause = other;
                    break;
                }
            }
        }
        let limits = &self.limits;
        match &cause {
            EvalAltResult::ErrorTerminated(token, _) => match Exceeded::from_token(token) {
                Some(Exceeded::Operations) => {
                    return EvalError::limit(format!(
                        "expression exceeded the limit of {} operations",
                        limits.max_operations
                    ));
                }
                Some(Exceeded::Time) => {
                    let max = limits.max_duration.unwrap_or_default();
                    return EvalError::limit(format!(
                        "expression exceeded the time limit of {} ms",
                        max.as_millis()
                    ));
                }
                Some(Exceeded::Memory) => {
                    return EvalError::limit(format!(
                        "expression exceeded the memory limit of {} MiB",
                        limits.max_memory / (1024 * 1024)
                    ));
                }
                Some(Exceeded::Stopped(stop)) => {
                    let message = match stop {
                        Stop::Cancelled => "the run was cancelled",
                        Stop::TimedOut => "the run timed out",
                    };
                    return EvalError {
                        kind: EvalErrorKind::Stopped(stop),
                        message: message.into(),
                    };
                }
                None => {}
            },
            EvalAltResult::ErrorTooManyOperations(_) => {
                return EvalError::limit(format!(
                    "expression exceeded the limit of {} operations",
                    limits.max_operations
                ));
            }
            EvalAltResult::ErrorStackOverflow(_) => {
                return EvalError::limit(format!(
                    "expression exceeded the limit of {} nested calls",
                    limits.max_call_levels
                ));
            }
            EvalAltResult::ErrorTooManyVariables(_) | EvalAltResult::ErrorTooManyModules(_) => {
                return EvalError::limit(format!("expression exceeded a limit: {}", bare(cause)));
            }
            EvalAltResult::ErrorDataTooLarge(what, _) => {
                let message = if what.starts_with("Length of string") {
                    format!("string length exceeds the limit of {} bytes", limits.max_string_size)
                } else if what.starts_with("Size of array") {
                    format!("array size exceeds the limit of {} elements", limits.max_array_size)
                } else if what.starts_with("Size of object map") {
                    format!("map size exceeds the limit of {} entries", limits.max_map_size)
                } else {
                    format!("{what} exceeds its limit")
                };
                return EvalError::limit(message);
            }
            _ => {}
        }
        let mut message = bare(cause);
        if let (Some(line), Some(column)) = (position.line(), position.position()) {
            let (line, column) = place(origin, line, column);
            message = format!("{message} (line {line}, column {column})");
        } else if let Some(line) = position.line() {
            let (line, _) = place(origin, line, 1);
            message = format!("{message} (line {line})");
        }
        EvalError::runtime(clip(message))
    }
}

/// Rhai's message for one error, without position, with thrown values reduced to their type
/// unless they are strings.
fn bare(mut error: EvalAltResult) -> String {
    match &error {
        EvalAltResult::ErrorRuntime(value, _) => {
            if let Ok(text) = value.as_immutable_string_ref()
                && !text.is_empty()
            {
                return text.as_str().to_owned();
            }
            if value.is_unit() || value.is_string() {
                "runtime error".to_owned()
            } else {
                format!("runtime error: a value of type {} was thrown", value.type_name())
            }
        }
        EvalAltResult::ErrorTerminated(_, _) => "the expression was terminated".to_owned(),
        // A closure that captures `vars` (or `params`, or an extra) shares it, and a method
        // running on a value inside it holds it meanwhile: Rhai refuses rather than deadlock,
        // with a message about threads that means nothing here. A copy is not held.
        EvalAltResult::ErrorDataRace(what, _) if what.starts_with("argument #") => {
            match what.split('\'').nth(1) {
                Some(function) => format!(
                    "`{function}` runs on a value inside `vars` (or another input) while a \
                     closure given to it reads that input too, which expressions can't do: call \
                     it on a copy, such as `(vars.items + []).{function}(|x| x + vars.n)` for a \
                     list"
                ),
                None => format!("a closure reads a value that is in use meanwhile ({what})"),
            }
        }
        _ => {
            error.clear_position();
            error.to_string()
        }
    }
}

/// A shared extra value goes in as a read-only pointer, like `vars`, so the caller can take it
/// back afterwards without a copy; any other value goes in as it is.
fn push_extra(scope: &mut ExprScope, extra: impl IntoIterator<Item = (&'static str, Dynamic)>) {
    scope.scope.rewind(scope.base);
    for (name, value) in extra {
        if value.is_shared() {
            scope.scope.push_constant_dynamic(name, read_only(value));
        } else {
            scope.scope.push_dynamic(name, value);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::expr::{dynamic_to_json, json_to_dynamic};
    use chrono::{TimeZone, Utc};
    use serde_json::{Value, json};
    use std::time::Duration;
    use std::time::Instant;

    fn engine() -> ExprEngine {
        ExprEngine::new()
    }

    fn scope(params: Value, vars: Value) -> ExprScope {
        ExprScope::new(json_to_dynamic(&params).into_shared(), json_to_dynamic(&vars).into_shared())
    }

    fn empty() -> ExprScope {
        scope(json!({}), json!({}))
    }

    fn eval_in(source: &str, scope: &mut ExprScope) -> Result<Value, EvalError> {
        let e = engine();
        let expr = e.compile_expression(source, &[]).unwrap();
        e.eval(&expr, scope).map(|v| dynamic_to_json(&v).unwrap())
    }

    fn eval(source: &str) -> Result<Value, EvalError> {
        eval_in(source, &mut empty())
    }

    fn ok(source: &str) -> Value {
        eval(source).unwrap_or_else(|e| panic!("{source}: {e}"))
    }

    fn limit(source: &str) -> EvalError {
        let err = eval(source).expect_err(source);
        assert_eq!(err.kind, EvalErrorKind::Limit, "{source}: {err}");
        err
    }

    #[test]
    fn plain_paths_read_what_the_interpreter_reads() {
        let e = engine();
        let params =
            json!({ "user": "me", "days": 7, "deep": { "a": { "b": [1, { "c": null }] } } });
        let vars = json!({ "page": { "status": 200, "body": "text" }, "n": 1.5, "nothing": null });
        let item = json_to_dynamic(&json!({ "id": "x", "start": { "dateTime": "2026" } }));
        // (source, compiled to a plain path, read without Rhai)
        let cases = [
            ("params.user", true, true),
            ("params.deep.a.b", true, true),
            ("vars.page.status", true, true),
            ("vars.missing", true, true),
            ("item.start.dateTime", true, true),
            ("item.absent", true, true),
            // Left to the interpreter, which errs or finds a property getter:
            ("vars.page.missing.deeper", true, false),
            ("vars.page.body.len", true, false),
            ("vars.nothing.x", true, false),
            ("vars.n.x", true, false),
            ("params.deep.a.b.len", true, false),
            // Not plain paths at all:
            ("vars.page?.status", false, false),
            ("vars.page.body.len()", false, false),
            ("vars[\"page\"].status", false, false),
            ("params.deep.a.b[1].c", false, false),
            ("vars", false, false),
            ("vars.page.status == 200", false, false),
        ];
        for (source, plain, fast_path) in cases {
            let expr = e.compile_expression(source, &["item"]).unwrap();
            assert_eq!(expr.plain.is_some(), plain, "{source}");
            let mut s = scope(params.clone(), vars.clone());
            push_extra(&mut s, [("item", item.clone())]);
            let read = expr.plain.as_ref().and_then(|p| p.read(&s.scope));
            assert_eq!(read.is_some(), fast_path, "{source}");
            let mut s = scope(params.clone(), vars.clone());
            let fast = e.eval_with(&expr, &mut s, [("item", item.clone())]);
            let mut s = scope(params.clone(), vars.clone());
            push_extra(&mut s, [("item", item.clone())]);
            let interpreted = e
                .engine
                .eval_ast_with_scope::<Dynamic>(&mut s.scope, &expr.ast)
                .map(Dynamic::flatten)
                .map_err(|err| e.eval_error(*err, expr.origin));
            match (fast, interpreted) {
                (Ok(fast), Ok(interpreted)) => {
                    assert_eq!(dynamic_to_json(&fast), dynamic_to_json(&interpreted), "{source}");
                    assert_eq!(fast.is_read_only(), interpreted.is_read_only(), "{source}");
                }
                (Err(fast), Err(interpreted)) => assert_eq!(fast, interpreted, "{source}"),
                (fast, interpreted) => panic!("{source}: {fast:?} vs {interpreted:?}"),
            }
        }
    }

    fn is_send_sync<T: Send + Sync>() {}

    #[test]
    fn types_are_send_and_sync() {
        is_send_sync::<ExprEngine>();
        is_send_sync::<Expr>();
        is_send_sync::<Template>();
        fn is_send<T: Send>() {}
        is_send::<ExprScope>();
    }

    #[test]
    fn evaluates_against_params_and_vars() {
        let mut s =
            scope(json!({"user": "me", "days": 7}), json!({"page": {"body": {"value": [1, 2]}}}));
        assert_eq!(eval_in("params.user", &mut s).unwrap(), json!("me"));
        assert_eq!(eval_in("params.days * 2", &mut s).unwrap(), json!(14));
        assert_eq!(eval_in("vars.page.body.value.len()", &mut s).unwrap(), json!(2));
        assert_eq!(eval_in("vars.missing", &mut s).unwrap(), json!(null));
        assert!(eval_in("vars.page.missing.deeper", &mut s).is_err());
        assert_eq!(eval_in("vars.page?.missing?.deeper", &mut s).unwrap(), json!(null));
        assert_eq!(eval_in("#{ n: vars.page.body.value[1] }", &mut s).unwrap(), json!({"n": 2}));
    }

    #[test]
    fn results_are_never_shared() {
        let e = engine();
        let mut s = scope(json!({}), json!({"a": [1, 2]}));
        for source in ["vars", "[vars, params]", "#{ v: vars }", "[1].map(|x| vars)", "vars.a"] {
            let expr = e.compile_expression(source, &[]).unwrap();
            let value = e.eval(&expr, &mut s).unwrap();
            assert!(!value.is_shared(), "{source}");
            // Rhai's size check panics on shared values nested in data: it must not see any.
            let expr = e.compile_expression(&format!("[{source}, {source}].len()"), &[]).unwrap();
            assert_eq!(e.eval(&expr, &mut s).unwrap().as_int(), Ok(2), "{source}");
        }
    }

    #[test]
    fn vars_are_read_only() {
        let mut s = scope(json!({}), json!({"list": [3, 1, 2]}));
        let err = eval_in("vars.list.push(4)", &mut s).unwrap_err();
        assert_eq!(err.kind, EvalErrorKind::Runtime);
        assert!(err.message.contains("constant"), "{err}");
        assert_eq!(eval_in("vars.list", &mut s).unwrap(), json!([3, 1, 2]));
        assert!(engine().compile_expression("vars.x = 1", &[]).is_err());
    }

    /// An expression is one expression, but Rhai parses assignments inside a string's `${…}`,
    /// an `if`'s blocks and a closure's body; assigning a member that isn't there yet went past
    /// the read-only marks (fuzzing found `` `${vars.x = 0}` `` adding `x` to `vars`). None of
    /// these compiles now, and nothing else that compiles changes `vars`, `params` or a shared
    /// input.
    #[test]
    fn no_expression_changes_vars_not_even_by_adding_a_member() {
        let e = engine();
        for source in [
            "`${vars.x = 0}`",
            "`${vars.m.x = 0}`",
            "`${vars[\"x\"] = 0}`",
            "`${vars.m.x += 1}`",
            "`${params.x = 0}`",
            "`${response.x = 0}`",
            "if true { vars.x = 0 } else { 1 }",
            "|y| vars.x = 0",
            "[1].map(|y| `${vars.x = 0}`)",
        ] {
            let err = e.compile_expression(source, &["response"]).unwrap_err();
            assert!(err.message.starts_with("an expression can't assign"), "{source}: {err}");
        }
        let err = e.compile_template("a ${`${\n vars.x = 0}`}", &[]).unwrap_err();
        assert_eq!((err.line, err.column), (2, 9), "{err}");
        for source in [
            "`${vars.m.mixin(#{x: 0})}`",
            "vars.m.call(|| { this.x = 0; 1 })",
            "`${let v = vars; v.x = 0}`",
            "`${vars.m}`.len() + [vars.m].len() + vars.m.keys().len()",
        ] {
            let Ok(expr) = e.compile_expression(source, &["response"]) else { continue };
            let mut s = scope(json!({"p": 1}), json!({"m": {"a": 1}}));
            let response = json_to_dynamic(&json!({"r": 1})).into_shared();
            let _ = e.eval_with(&expr, &mut s, [("response", response.clone())]);
            assert_eq!(
                dynamic_to_json(&s.get("vars")).unwrap(),
                json!({"m": {"a": 1}}),
                "{source}"
            );
            assert_eq!(dynamic_to_json(&s.get("params")).unwrap(), json!({"p": 1}), "{source}");
            assert_eq!(dynamic_to_json(&response).unwrap(), json!({"r": 1}), "{source}");
        }
    }

    #[test]
    fn shared_extras_are_read_only_and_taken_back_without_a_copy() {
        let e = engine();
        let mut s = empty();
        let shared =
            Dynamic::from_array(vec![Dynamic::from_int(1), Dynamic::from_int(2)]).into_shared();
        let buffer = shared.read_lock::<rhai::Array>().map(|list| list.as_ptr()).unwrap();
        let len = e.compile_expression("response.len()", &["response"]).unwrap();
        let value = e.eval_with(&len, &mut s, [("response", shared.clone())]).unwrap();
        assert_eq!(value.as_int(), Ok(2));
        let push = e.compile_expression("response.push(3)", &["response"]).unwrap();
        let err = e.eval_with(&push, &mut s, [("response", shared.clone())]).unwrap_err();
        assert!(err.message.contains("constant"), "{err}");
        let back = shared.flatten().into_array().unwrap();
        assert_eq!((back.len(), back.as_ptr()), (2, buffer));
    }

    #[test]
    fn a_closure_reading_vars_while_a_method_runs_inside_them_is_explained() {
        let mut s = scope(json!({}), json!({"list": [1, 2, 3], "n": 10}));
        let err = eval_in("vars.list.map(|x| x + vars.n)", &mut s).unwrap_err();
        assert!(err.message.starts_with("`map` runs on a value inside `vars`"), "{err}");
        assert!(!err.message.contains("Data race"), "{err}");
        // The way out the message gives works.
        let copy = eval_in("(vars.list + []).map(|x| x + vars.n)", &mut s).unwrap();
        assert_eq!(copy, json!([11, 12, 13]));
    }

    #[test]
    fn strict_variables() {
        let e = engine();
        let err = e.compile_expression("params.a + nope", &[]).unwrap_err();
        assert!(err.message.contains("nope"), "{err}");
        assert_eq!((err.line, err.column), (1, 12));
        assert!(e.compile_expression("item.subject", &[]).is_err());
        let expr = e.compile_expression("item.subject + index", &["item", "index"]).unwrap();
        assert_eq!(expr.source(), "item.subject + index");
        let mut s = empty();
        let v = e
            .eval_with(
                &expr,
                &mut s,
                [
                    ("item", json_to_dynamic(&json!({"subject": "x"}))),
                    ("index", Dynamic::from_int(1)),
                ],
            )
            .unwrap();
        assert_eq!(v.into_string().unwrap(), "x1");
        // The extra variables are gone afterwards, also after an error.
        let bad = e.compile_expression("item.subject - 1", &["item"]).unwrap();
        assert!(e.eval_with(&bad, &mut s, [("item", Dynamic::UNIT)]).is_err());
        assert_eq!(s.scope.len(), 2);
        let err = e.compile_expression("1 +\n  (2 *", &[]).unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(e.compile_expression("", &[]).is_err());
        assert!(e.compile_expression("let x = 1; x", &[]).is_err());
    }

    #[test]
    fn sandbox() {
        let e = engine();
        assert!(e.compile_expression(r#"eval("1")"#, &[]).is_err());
        assert!(e.compile_expression(r#"import "std" as s"#, &[]).is_err());
        assert!(e.compile_expression("fn f() { 1 }", &[]).is_err());
        // print and debug are swallowed (not written to stdout) and return ().
        assert_eq!(ok(r#"print("leak")"#), json!(null));
        assert_eq!(ok(r#"debug("leak")"#), json!(null));
        for source in [r#"open_file("/etc/passwd")"#, r#"system("ls")"#, r#"env("HOME")"#] {
            let err = eval(source).unwrap_err();
            assert!(err.message.contains("Function not found"), "{source}: {err}");
        }
    }

    #[test]
    fn regression_sleep_escapes_every_time_limit() {
        // `sleep(15)` held the thread for 15 s whatever the run's time limit. Nothing that
        // blocks, exits or reads the system clock behind the run's own clock is offered.
        for source in ["sleep(15)", "sleep(0.5)", "timestamp()", "exit()", "exit(1)"] {
            let err = eval(source).unwrap_err();
            assert_eq!(err.kind, EvalErrorKind::Runtime, "{source}");
            assert!(err.message.starts_with("Function not found"), "{source}: {err}");
        }
        let offered = engine().function_names();
        for name in ["sleep", "timestamp", "elapsed", "exit", "take", "tag", "set_tag"] {
            assert!(!offered.iter().any(|n| n == name), "{name} is offered");
        }
        for name in ["len", "map", "reduce", "parse_json", "now", "url_encode"] {
            assert!(offered.iter().any(|n| n == name), "{name} is missing");
        }
    }

    #[test]
    fn regression_pad_with_an_empty_string_never_returns() {
        // Rhai's `pad(len, "")` looped for ever inside one native call, where no limit is
        // checked (found by fuzzing).
        let err = eval(r#""ab".pad(9538875, "")"#).unwrap_err();
        assert!(err.message.contains("padding is empty"), "{err}");
        assert_eq!(ok(r#""ab".pad(7, "xyz")"#), json!(null));
    }

    #[test]
    fn regression_few_operations_build_gigabytes() {
        // Each step doubles the map: 23 steps built 9.5 GB in 60 s. The memory limit (the unit
        // tests run with the counting allocator) stops it at once.
        let source = format!(
            "[{}].reduce(|a, x| #{{a: a, b: a}}, #{{}}).len()",
            (0..=22).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
        );
        let e = ExprEngine::with_limits(Limits { max_memory: 32 << 20, ..Limits::default() });
        let expr = e.compile_expression(&source, &[]).unwrap();
        let started = Instant::now();
        let err = e.eval(&expr, &mut empty()).unwrap_err();
        assert_eq!(err.kind, EvalErrorKind::Limit, "{err}");
        assert_eq!(err.message, "expression exceeded the memory limit of 32 MiB");
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        // Shared data the expression only reads costs it nothing.
        let big: Vec<Value> = (0..200_000).map(|i| json!({"n": i, "s": "some text"})).collect();
        let mut s = scope(json!({}), json!({ "big": big }));
        let count = e.compile_expression("vars.big.len() + vars.big[7].n", &[]).unwrap();
        assert_eq!(e.eval(&count, &mut s).unwrap().as_int().unwrap(), 200_007);
    }

    #[test]
    fn a_stopped_run_ends_a_busy_evaluation() {
        // No operation or time limit of its own: only the run's signal can end it.
        let e = ExprEngine::with_limits(Limits {
            max_operations: 0,
            max_duration: None,
            ..Limits::default()
        });
        let busy =
            e.compile_expression("blob(10000000).to_array().reduce(|a, i| a + i, 0)", &[]).unwrap();
        for stop in [Stop::Cancelled, Stop::TimedOut] {
            let interrupt = Interrupt::new();
            let mut s = empty();
            s.set_interrupt(interrupt.clone());
            let stopper = std::thread::spawn({
                let interrupt = interrupt.clone();
                move || match stop {
                    Stop::Cancelled => {
                        std::thread::sleep(Duration::from_millis(100));
                        interrupt.cancel();
                    }
                    Stop::TimedOut => interrupt.limit_to(Duration::from_millis(100)),
                }
            });
            let started = Instant::now();
            let err = e.eval(&busy, &mut s).unwrap_err();
            stopper.join().unwrap();
            assert_eq!(err.kind, EvalErrorKind::Stopped(stop), "{err}");
            assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        }
    }

    #[test]
    fn runaway_expressions_hit_limits() {
        let err = limit(r#""x".pad(100000000, "y")"#);
        assert_eq!(err.message, "string length exceeds the limit of 67108864 bytes");
        // (A lower operation limit keeps the debug-build test quick.)
        let small = ExprEngine::with_limits(Limits { max_operations: 50_000, ..Limits::default() });
        for source in [
            "blob(100000).to_array().map(|x| x + 1).len()",
            // Closures called from native functions count too (Rhai's own count misses them).
            "blob(300).to_array().map(|a| blob(300).to_array().map(|b| b + 1).len()).len()",
        ] {
            let expr = small.compile_expression(source, &[]).unwrap();
            let err = small.eval(&expr, &mut empty()).unwrap_err();
            assert_eq!(err.kind, EvalErrorKind::Limit, "{source}: {err}");
            assert_eq!(err.message, "expression exceeded the limit of 50000 operations");
        }
        let err = limit("[0].pad(100000000, 0)");
        assert_eq!(err.message, "array size exceeds the limit of 10000000 elements");
        let err = limit("blob(100000000)");
        assert!(err.message.starts_with("array size exceeds the limit"), "{err}");
        limit(r#"blob(30).to_array().reduce(|s, i| s + s, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")"#);
        // Closure bodies are expressions too: no loops, no `let`.
        assert!(
            engine()
                .compile_expression("(|| { let n = 0; loop { n += 1; } }).call()", &[])
                .is_err()
        );
        // Quadratic work is stopped by the time limit.
        let e = ExprEngine::with_limits(Limits {
            max_duration: Some(Duration::from_millis(300)),
            max_operations: 0,
            ..Limits::default()
        });
        let expr = e
            .compile_expression("blob(1000000).to_array().reduce(|a, i| a + [i], [])", &[])
            .unwrap();
        let started = Instant::now();
        let err = e.eval(&expr, &mut empty()).unwrap_err();
        assert_eq!(err.kind, EvalErrorKind::Limit, "{err}");
        assert_eq!(err.message, "expression exceeded the time limit of 300 ms");
        assert!(started.elapsed() < Duration::from_secs(5));
        // Deep nesting of the source itself is a compile error.
        let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
        assert!(engine().compile_expression(&deep, &[]).is_err());
        // Runaway recursion through function pointers hits the call-depth limit.
        let err = limit("(|f| f.call(f)).call(|f| f.call(f))");
        assert!(err.message.contains("nested calls"), "{err}");
    }

    #[test]
    fn big_shared_data_is_usable() {
        let events: Vec<Value> =
            (0..100_000).map(|i| json!({"subject": format!("s{i}"), "n": i})).collect();
        let mut s = scope(json!({}), json!({"events": events}));
        let e = engine();
        for (source, want) in [
            ("vars.events.len()", json!(100_000)),
            ("vars.events[99999].subject", json!("s99999")),
            ("vars.events[5].subject", json!("s5")),
            ("vars.events[-1].n", json!(99_999)),
        ] {
            let expr = e.compile_expression(source, &[]).unwrap();
            let started = std::time::Instant::now();
            for _ in 0..100 {
                let v = e.eval(&expr, &mut s).unwrap();
                assert_eq!(dynamic_to_json(&v).unwrap(), want, "{source}");
            }
            assert!(started.elapsed().as_secs() < 20, "{source} is slow");
        }
        let expr =
            e.compile_expression("vars.events.filter(|e| e.n % 1000 == 0).len()", &[]).unwrap();
        assert_eq!(e.eval(&expr, &mut s).unwrap().as_int(), Ok(100));
    }

    #[test]
    fn runtime_errors_are_clear() {
        let err = eval("1 + \"a\" - 2").unwrap_err();
        assert_eq!(err.kind, EvalErrorKind::Runtime);
        assert!(err.message.contains("line 1, column"), "{err}");
        let err = eval("[1, 2][5]").unwrap_err();
        assert!(err.message.contains("out of bounds"), "{err}");
        let err = eval(r#"[1].map(|x| x.nope())"#).unwrap_err();
        assert!(err.message.contains("nope"), "{err}");
        let err = eval(r#"(|| throw #{ secret: "hidden value" }).call()"#).unwrap_err();
        assert!(!err.message.contains("hidden"), "{err}");
        assert!(err.message.contains("map"), "{err}");
        let err = eval(r#"(|| throw "custom message").call()"#).unwrap_err();
        assert!(err.message.starts_with("custom message"), "{err}");
    }

    #[test]
    fn fixed_clock() {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 9, 30, 0).unwrap();
        let mut s = empty().with_clock(Clock::Fixed(at));
        assert_eq!(eval_in("now()", &mut s).unwrap(), json!("2026-11-23T09:30:00Z"));
        assert_eq!(eval_in("today()", &mut s).unwrap(), json!("2026-11-23"));
        s.set_clock(Clock::Fixed(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()));
        assert_eq!(eval_in("add_days(now(), 7)", &mut s).unwrap(), json!("2027-01-08T00:00:00Z"));
        // Outside an evaluation the system clock is back.
        assert_eq!(crate::expr::helpers::clock::current(), Clock::System);
        let system = eval("now()").unwrap();
        assert!(crate::expr::time::parse_datetime(system.as_str().unwrap()).is_ok());
    }

    #[test]
    fn time_helpers() {
        assert_eq!(
            ok(r#"parse_datetime("2026-11-23T10:00:00+01:00")"#),
            json!("2026-11-23T09:00:00Z")
        );
        assert_eq!(
            ok(r#"parse_datetime("2026-11-23T09:00:00.1234567")"#),
            json!("2026-11-23T09:00:00.123456700Z")
        );
        assert_eq!(
            ok(
                r#"graph_datetime(#{ dateTime: "2026-11-23T09:00:00.0000000", timeZone: "Pacific Standard Time" })"#
            ),
            json!("2026-11-23T17:00:00Z")
        );
        assert_eq!(
            ok(r#"to_utc("2026-07-01T09:00:00.0000000", "Pacific Standard Time")"#),
            json!("2026-07-01T16:00:00Z")
        );
        assert_eq!(
            ok(r#"to_utc("2026-07-01T09:00:00", "W. Europe Standard Time")"#),
            json!("2026-07-01T07:00:00Z")
        );
        assert_eq!(
            ok(r#"to_utc("2026-11-23T09:00:00", "India Standard Time")"#),
            json!("2026-11-23T03:30:00Z")
        );
        assert_eq!(
            ok(r#"format_datetime("2026-11-23T09:00:00Z", "%d/%m/%Y %H:%M")"#),
            json!("23/11/2026 09:00")
        );
        assert_eq!(
            ok(r#"format_datetime("2026-07-01T07:00:00Z", "%H:%M %z", "W. Europe Standard Time")"#),
            json!("09:00 +0200")
        );
        let err = eval(r#"format_datetime("2026-11-23T09:00:00Z", "%Q %")"#).unwrap_err();
        assert!(err.message.contains("invalid format"), "{err}");
        assert_eq!(ok(r#"add_hours("2026-11-23T09:00:00Z", -10)"#), json!("2026-11-22T23:00:00Z"));
        assert_eq!(ok(r#"add_minutes("2026-11-23T09:00:00Z", 90)"#), json!("2026-11-23T10:30:00Z"));
        assert_eq!(ok(r#"add_seconds("2026-11-23T09:00:00Z", 1)"#), json!("2026-11-23T09:00:01Z"));
        assert_eq!(ok(r#"add_days("2026-11-23", 1)"#), json!("2026-11-24T00:00:00Z"));
        let err = eval(r#"add_days("2026-11-23", 9223372036854775807)"#).unwrap_err();
        assert!(err.message.contains("add_days"), "{err}");
        assert_eq!(ok(r#"start_of_day("2026-11-23T17:45:12.5Z")"#), json!("2026-11-23T00:00:00Z"));
        // 2026-11-26 is a Thursday.
        assert_eq!(ok(r#"start_of_week("2026-11-26T17:45:00Z")"#), json!("2026-11-23T00:00:00Z"));
        assert_eq!(ok(r#"start_of_week("2026-11-23T00:00:00Z")"#), json!("2026-11-23T00:00:00Z"));
        let err = eval(r#"parse_datetime("next tuesday")"#).unwrap_err();
        assert_eq!(err.kind, EvalErrorKind::Runtime);
        assert!(err.message.starts_with("parse_datetime: invalid date-time"), "{err}");
        assert!(err.message.contains("line 1, column 1"), "{err}");
        let err = eval(r#"to_utc("2026-11-23T09:00:00", "Atlantis")"#).unwrap_err();
        assert!(err.message.contains("unknown time zone"), "{err}");
    }

    #[test]
    fn url_and_json_helpers() {
        assert_eq!(ok(r#"url_encode("a b&c=d/é~._-")"#), json!("a%20b%26c%3Dd%2F%C3%A9~._-"));
        assert_eq!(ok("url_encode(42)"), json!("42"));
        assert_eq!(
            ok(r#"sha256("abc")"#),
            json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(ok(r#"sha256(#{ a: 1 })"#), ok(r#"sha256("{\"a\":1}")"#), "JSON of a map");
        assert_eq!(
            ok(r#"to_json(#{ a: [1, 2.5, "x", ()], b: true })"#),
            json!(r#"{"a":[1,2.5,"x",null],"b":true}"#)
        );
        assert_eq!(ok("to_json([1, 2])"), json!("[1,2]"));
        assert_eq!(ok(r#"to_json("q\"")"#), json!(r#""q\"""#));
        assert_eq!(
            ok(r#"parse_json("{\"a\": [1, null, 9223372036854775808]}")"#),
            json!({"a": [1, null, 9_223_372_036_854_775_808.0_f64]})
        );
        let err = eval(r#"parse_json("{\n  \"a\": }")"#).unwrap_err();
        assert!(err.message.contains("line 2 column"), "{err}");
        let err = eval("to_json(|x| x)").unwrap_err();
        assert!(err.message.contains("Fn"), "{err}");
    }

    /// Keys that come from data, which neither a map literal nor (expressions can't assign) an
    /// index can give.
    #[test]
    fn to_map_builds_a_map_whose_keys_come_from_data() {
        let mut s = scope(json!({}), json!({"users": [{"id": "a", "n": 1}, {"id": 7, "n": 2}]}));
        assert_eq!(
            eval_in("vars.users.reduce(|m, u| m + to_map([[u.id, u.n]]), #{})", &mut s).unwrap(),
            json!({"a": 1, "7": 2})
        );
        assert_eq!(eval_in(r#"to_map([["k", 1], ["k", 2]])"#, &mut s).unwrap(), json!({"k": 2}));
        for bad in [r#"to_map([["k"]])"#, "to_map([1])", r#"to_map([[[1], 2]])"#] {
            let err = eval_in(bad, &mut s).unwrap_err();
            assert!(err.message.contains("to_map"), "{bad}: {err}");
        }
    }

    #[test]
    fn templates_render() {
        let e = engine();
        let mut s = scope(
            json!({"user": "a b", "days": 7, "on": true}),
            json!({"list": [1, "x"], "nothing": null, "f": 1.5}),
        );
        let render = |src: &str, s: &mut ExprScope| -> Value {
            let t = e.compile_template(src, &[]).unwrap();
            dynamic_to_json(&e.render(&t, s).unwrap()).unwrap()
        };
        assert_eq!(render("plain text", &mut s), json!("plain text"));
        assert_eq!(render("", &mut s), json!(""));
        assert_eq!(render("cost: $${x}", &mut s), json!("cost: ${x}"));
        assert_eq!(render("${params.days}", &mut s), json!(7));
        assert_eq!(render("${vars.list}", &mut s), json!([1, "x"]));
        assert_eq!(render("${vars.nothing}", &mut s), json!(null));
        assert_eq!(
            render(
                "/users/${params.user}/d=${params.days}&on=${params.on}&f=${vars.f}&n=${vars.nothing}&l=${vars.list}",
                &mut s
            ),
            json!(r#"/users/a b/d=7&on=true&f=1.5&n=&l=[1,"x"]"#)
        );
        assert_eq!(render("${url_encode(params.user)}", &mut s), json!("a%20b"));
        assert_eq!(render(r#"<${ #{k: "}"}.k }>"#, &mut s), json!("<}>"));
        assert_eq!(render(r#"${ if params.on { "yes" } else { "no" } }!"#, &mut s), json!("yes!"));
        assert_eq!(render(" ${params.days}", &mut s), json!(" 7"));
        let t = e.compile_template("${params.days}", &[]).unwrap();
        assert!(t.is_single_hole() && !t.is_literal());
        assert_eq!(e.render_string(&t, &mut s).unwrap(), "7");
        let t = e.compile_template("a $${b}", &[]).unwrap();
        assert_eq!(t.literal(), Some("a ${b}"));
        assert_eq!(t.source(), "a $${b}");
        let t = e.compile_template("${item.id}-${index}", &["item", "index"]).unwrap();
        let v = e
            .render_with(
                &t,
                &mut s,
                [("item", json_to_dynamic(&json!({"id": "z"}))), ("index", Dynamic::from_int(3))],
            )
            .unwrap();
        assert_eq!(v.into_string().unwrap(), "z-3");
        assert_eq!(s.scope.len(), 2);
    }

    #[test]
    fn template_errors_point_into_the_template() {
        let e = engine();
        let err = e.compile_template("https://x/${params.user", &[]).unwrap_err();
        assert_eq!((err.line, err.column), (1, 11), "{err}");
        let err = e.compile_template("line one\nthen ${ nope } end", &[]).unwrap_err();
        assert_eq!((err.line, err.column), (2, 9), "{err}");
        let err = e.compile_template("ab ${ 1 + } cd", &[]).unwrap_err();
        assert_eq!(err.line, 1, "{err}");
        assert!(err.column >= 6 && err.column <= 12, "{err}");
        assert!(e.compile_template("x ${ } y", &[]).is_err());
        let t = e.compile_template("x\n  ${ 1 + \"a\" - 1 }", &[]).unwrap();
        let err = e.render(&t, &mut empty()).unwrap_err();
        assert!(err.message.contains("line 2, column"), "{err}");
        let t = e.compile_template("f: ${ |x| x }", &[]).unwrap();
        let err = e.render(&t, &mut empty()).unwrap_err();
        assert!(err.message.contains("can't be written as text"), "{err}");
    }

    #[test]
    fn rendered_templates_respect_the_string_limit() {
        let e = ExprEngine::with_limits(Limits { max_string_size: 100, ..Limits::default() });
        let t = e.compile_template("${ params.s }${ params.s }", &[]).unwrap();
        let mut s = scope(json!({"s": "x".repeat(60)}), json!({}));
        let err = e.render(&t, &mut s).unwrap_err();
        assert_eq!(err.kind, EvalErrorKind::Limit);
        assert_eq!(err.message, "string length exceeds the limit of 100 bytes");
    }

    #[test]
    fn scope_can_swap_vars() {
        let mut s = scope(json!({"p": 1}), json!({"v": 1}));
        s.set_vars(json_to_dynamic(&json!({"v": 2})).into_shared());
        assert_eq!(eval_in("params.p + vars.v", &mut s).unwrap(), json!(3));
        s.set_params(json_to_dynamic(&json!({"p": 10})));
        assert_eq!(eval_in("params.p + vars.v", &mut s).unwrap(), json!(12));
        // Writes through the shared cell are seen by the next evaluation.
        let mut vars = json_to_dynamic(&json!({"v": 1})).into_shared();
        let mut s = ExprScope::new(Dynamic::from_map(rhai::Map::new()), vars.clone());
        assert_eq!(eval_in("vars.v", &mut s).unwrap(), json!(1));
        if let Some(mut map) = vars.write_lock::<rhai::Map>() {
            map.insert("v".into(), Dynamic::from_int(5));
        }
        assert_eq!(eval_in("vars.v", &mut s).unwrap(), json!(5));
    }
}
