//! `json_import`: maps a JSON document (or part of it) into a list in `vars`.
//!
//! The whole list is built before anything is written, so a failure at item 17 leaves `vars`
//! as it was.
//!
//! Its parts: the fields and their checks (`config`); the general path, here: each item through
//! `map` (by Rhai, or natively for a map of field paths, `mapping`), then shaped to `fields`
//! (`shape`); and the fast path, `map` and `fields` together straight from JSON text or parsed
//! items (`fast`), which only ever gives what the general path gives (`tests`).

mod config;
mod fast;
mod mapping;
mod shape;
#[cfg(test)]
mod tests;

pub use config::JsonImportConfig;
pub use shape::FieldType;

use crate::clip::clip;
use crate::expr::{EvalError, Expr, Streamed, stream_array};
use crate::kind::escape_token;
use crate::kinds::{eval_failed, type_name};
use crate::node::{Node, NodeError, NodeFuture, Outcome, RunCx};
use crate::pointer::JsonPointer;
use crate::vars::{VarPath, Vars, at_path};
use fast::Plan;
use mapping::FieldMapping;
use rhai::{Array, Dynamic, ImmutableString};

/// A built `json_import` node.
pub struct JsonImport {
    from: Expr,
    /// `from` when it is a plain variable path (`vars.page.items`): the value is then read in
    /// place instead of being copied out by Rhai.
    from_vars: Option<VarPath>,
    select: Option<JsonPointer>,
    map: Option<Expr>,
    fields: Vec<(ImmutableString, FieldType, bool)>,
    target: Target,
    /// The members of each item the import reads, when that is known: JSON text is then
    /// parsed only as far as they go.
    keep: Option<Vec<String>>,
    /// The `map` done natively, when it is a map literal of field paths.
    native: Option<FieldMapping>,
    /// `map` and `fields` together without Rhai or intermediate maps, when `map` is a
    /// field-path map (or absent with `fields`).
    plan: Option<Plan>,
}

enum Target {
    Into(VarPath),
    AppendTo(VarPath),
}

/// Evaluates `map` for one item (`item`, `index`).
type MapEval<'a> = dyn FnMut(&Expr, Dynamic, usize) -> Result<Dynamic, EvalError> + 'a;

impl JsonImport {
    fn import(&self, cx: &mut RunCx<'_>) -> Result<Array, NodeError> {
        if let Some(items) = self.import_in_place(cx.vars()) {
            return Ok(items);
        }
        let document = cx.eval(&self.from).map_err(|e| eval_failed("from", e))?.flatten();
        if document.is_unit() {
            return Err(self.empty_from_error(cx.vars()));
        }
        self.import_document(document, true, &mut |map, item, index| {
            cx.eval_with(map, [("item", item), ("index", Dynamic::from_int(index as rhai::INT))])
        })
    }

    /// The import of a `from` that names a variable, done by the plan on the variable where it
    /// lies (no copy of a 100 000-item list; straight from the text when it, or what holds it,
    /// waits as JSON text); `None` when anything needs the general path.
    fn import_in_place(&self, vars: &Vars) -> Option<Array> {
        let (plan, path) = (self.plan.as_ref()?, self.from_vars.as_ref()?);
        let tokens = self.select.as_ref().map(|p| p.tokens()).unwrap_or_default();
        // `from`'s path, then `select` into it: the text may wait anywhere along the two.
        let whole: Vec<&str> = path
            .segments()
            .iter()
            .map(|s| s.as_str())
            .chain(tokens.iter().map(String::as_str))
            .collect();
        if let Some((text, depth)) = vars.json_text_at(&whole) {
            let inside: Vec<String> = whole[depth..].iter().map(|s| s.to_string()).collect();
            return plan.text(text.as_str(), &inside);
        }
        vars.read(path, |document| {
            if let Ok(text) = document.as_immutable_string_ref() {
                return plan.text(text.as_str(), tokens);
            }
            if tokens.is_empty() {
                return plan.items(&document.as_array_ref().ok()?);
            }
            let map = document.as_map_ref().ok()?;
            // `select` into maps only; anything else is the general path's to read.
            at_path(&map, tokens, |list| plan.items(&list.as_array_ref().ok()?))
        })
    }

    /// The error of a `from` that gave `()`: what `from` is and, for a variable path, where
    /// along it the value ran out, rather than a `select` that found nothing in nothing.
    fn empty_from_error(&self, vars: &Vars) -> NodeError {
        let mut message =
            format!("`from` (`{}`) gave () (null, or nothing there)", clip(self.from.source()));
        if let Some(why) = self.from_vars.as_ref().map(|path| why_unset(vars, path)) {
            message.push_str(": ");
            message.push_str(&why);
        }
        NodeError::new("import", message)
    }

    /// Imports `document` (the value of `from`), by the plan when `fast` and it can be sure,
    /// otherwise by Rhai and shaping.
    fn import_document(
        &self,
        document: Dynamic,
        fast: bool,
        eval: &mut MapEval<'_>,
    ) -> Result<Array, NodeError> {
        let plan = self.plan.as_ref().filter(|_| fast);
        let import_error = |message: String| NodeError::new("import", message);
        let base = self.select.as_ref().map(|p| p.as_str()).unwrap_or("");
        let not_a_list = |found: &str| {
            import_error(format!(
                "`{}` is {found}, not a list",
                clip(if base.is_empty() { "/" } else { base })
            ))
        };
        let missing = || import_error(format!("`{}` is not in the document", clip(base)));
        let mut out = Array::new();
        if document.is_string() {
            // JSON text is streamed: one item at a time is a Rhai value, never the whole document.
            let text = document.into_immutable_string().unwrap_or_default();
            let path = self.select.as_ref().map(|p| p.tokens()).unwrap_or_default();
            if let Some(out) = plan.and_then(|plan| plan.text(text.as_str(), path)) {
                return Ok(out);
            }
            let mut failure = None;
            let found =
                stream_array(text.as_bytes(), path, self.keep.as_deref(), &mut |streamed| {
                    let (index, item) = match streamed {
                        Streamed::Element(index, item) => (index, item),
                        Streamed::Restart => {
                            out.clear();
                            return Ok(());
                        }
                    };
                    match self.item(eval, base, index, item) {
                        Ok(value) => {
                            out.push(value);
                            Ok(())
                        }
                        Err(err) => {
                            let message = err.message.clone();
                            failure = Some(err);
                            Err(message)
                        }
                    }
                });
            if let Some(err) = failure {
                return Err(err);
            }
            let found =
                found.map_err(|e| import_error(format!("`from` is text but not JSON: {e}")))?;
            return match found {
                Some("array") => Ok(out),
                Some(found) => Err(not_a_list(found)),
                None => Err(missing()),
            };
        }
        let document = match &self.select {
            Some(select) => select.take(document).ok_or_else(missing)?,
            None => document,
        };
        let found = type_name(&document);
        let items = document.try_cast::<Array>().ok_or_else(|| not_a_list(found))?;
        if let Some(out) = plan.and_then(|plan| plan.items(&items)) {
            return Ok(out);
        }
        out.reserve(items.len());
        for (index, item) in items.into_iter().enumerate() {
            out.push(self.item(eval, base, index, item)?);
        }
        Ok(out)
    }

    /// Maps and shapes one item; errors name the item (and field) by JSON pointer.
    fn item(
        &self,
        eval: &mut MapEval<'_>,
        base: &str,
        index: usize,
        item: Dynamic,
    ) -> Result<Dynamic, NodeError> {
        let native = self.native.as_ref().and_then(|native| native.apply(&item, index));
        let value = match (&self.map, native) {
            (_, Some(value)) => value,
            (Some(map), None) => eval(map, item, index)
                .map_err(|e| eval_failed(&format!("map` of item `{base}/{index}"), e))?,
            (None, None) => item,
        };
        self.shape(value).map_err(|(field, why)| {
            let at = match field {
                Some(field) => format!("{base}/{index}/{}", escape_token(&field)),
                None => format!("{base}/{index}"),
            };
            NodeError::new("import", format!("{}: {why}", clip(&at)))
        })
    }
}

/// Why `path` gives `()`: the first member missing along it (and the members its parent
/// has), a value in the way that is not an object, or the variable itself holding null.
fn why_unset(vars: &Vars, path: &VarPath) -> String {
    let segments = path.segments();
    for depth in 0..segments.len() {
        let shown = std::iter::once("vars")
            .chain(segments[..depth].iter().map(|s| s.as_str()))
            .collect::<Vec<_>>()
            .join(".");
        let member = segments[depth].as_str();
        let missing = |parent: &Dynamic| -> Option<String> {
            let Ok(map) = parent.as_map_ref() else {
                return Some(format!("`{}` is {}, not an object", clip(&shown), type_name(parent)));
            };
            if map.contains_key(member) {
                return None;
            }
            let names: Vec<&str> = map.keys().map(|k| k.as_str()).collect();
            let has = if names.is_empty() {
                "it is empty".to_owned()
            } else {
                format!("it has: {}", crate::clip::list(&names))
            };
            Some(format!("`{}` has no member `{}`; {has}", clip(&shown), clip(member)))
        };
        let why = if depth == 0 {
            missing(&vars.handle())
        } else {
            let parent = segments[..depth].iter().map(|s| s.as_str()).collect::<Vec<_>>();
            VarPath::parse(&parent.join(".")).ok().and_then(|p| vars.read(&p, missing))
        };
        if let Some(why) = why {
            return why;
        }
    }
    format!("`vars.{}` is null", clip(&segments.join(".")))
}

impl Node for JsonImport {
    fn exits(&self) -> Vec<String> {
        vec!["ok".into()]
    }

    fn run<'a>(&'a self, cx: &'a mut RunCx<'_>) -> NodeFuture<'a> {
        Box::pin(async move {
            let items = self.import(cx)?;
            let written = match &self.target {
                Target::Into(path) => cx.write(path, Dynamic::from_array(items)),
                Target::AppendTo(path) => cx.append(path, items),
            };
            written.map_err(|e| NodeError::write_failed("import", &e))?;
            Ok(Outcome::OK)
        })
    }
}
