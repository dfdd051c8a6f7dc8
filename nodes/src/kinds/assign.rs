//! `assign`: sets variables from expressions, in file order, all or nothing.

use super::eval_failed;
use crate::clip::clip;
use crate::expr::Expr;
use crate::kind::{CompileCx, KindDoc, KindInfo, NodeConfig, Writes, escape_token};
use crate::node::{Node, NodeError, NodeFuture, Outcome, RunCx};
use crate::vars::{VarPath, VarsError};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

/// Fields of an `assign` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignConfig {
    /// `"vars.<path>": expression`, evaluated in order, each seeing the writes before it. All
    /// or nothing: when one fails, none is written.
    pub set: IndexMap<String, String>,
}

/// A built `assign` node.
pub struct Assign {
    set: Vec<(String, VarPath, Expr)>,
}

impl NodeConfig for AssignConfig {
    const KIND: &'static str = "assign";
    const DESCRIPTION: &'static str = "Sets variables from expressions";
    const INFO: &'static KindInfo =
        &KindInfo { glyph: "≔", expressions: &["/set"], ..KindInfo::DEFAULT };
    const DOC: &'static KindDoc = &KindDoc {
        exits: &[
            ("ok", "Every entry was written."),
            ("error", "An expression failed, or its value could not be written: nothing is."),
        ],
        writes: &[Writes {
            at: "each key of `set`",
            default: None,
            value: "The value of its expression.",
        }],
        example: r#"{
  "id": "window",
  "type": "assign",
  "set": { "vars.from": "now()", "vars.to": "add_hours(vars.from, params.hours)" }
}"#,
    };

    fn build(self, cx: &mut CompileCx<'_>) -> Option<Box<dyn Node>> {
        let mut ok = true;
        let mut set = Vec::with_capacity(self.set.len());
        for (key, source) in self.set {
            let field = format!("/set/{}", escape_token(&key));
            let path = match key.strip_prefix("vars.") {
                Some(rest) => cx.var_path(&field, rest),
                None => {
                    cx.error(
                        &field,
                        format!("`{}`: keys of `set` name a variable as `vars.<name>`", clip(&key)),
                    );
                    None
                }
            };
            let expr = cx.expression(&field, &source, &[]);
            match (path, expr) {
                (Some(path), Some(expr)) => set.push((key, path, expr)),
                _ => ok = false,
            }
        }
        if set.is_empty() && ok {
            cx.warning("/set", "this assign sets nothing");
        }
        ok.then(|| Box::new(Assign { set }) as Box<dyn Node>)
    }
}

impl Node for Assign {
    fn exits(&self) -> Vec<String> {
        vec!["ok".into()]
    }

    fn run<'a>(&'a self, cx: &'a mut RunCx<'_>) -> NodeFuture<'a> {
        Box::pin(async move {
            let mut undo = Vec::with_capacity(self.set.len());
            for (key, path, expr) in &self.set {
                let written = cx
                    .eval(expr)
                    .map_err(|e| eval_failed(&format!("set.{key}"), e))
                    .and_then(|value| {
                        cx.replace(path, value)
                            .map_err(|e: VarsError| NodeError::write_failed("expression", &e))
                    });
                match written {
                    Ok(old) => undo.push((path, old)),
                    Err(err) => {
                        for (path, old) in undo.into_iter().rev() {
                            cx.restore(path, old);
                        }
                        return Err(err);
                    }
                }
            }
            Ok(Outcome::OK)
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use weft::testing::check_case;

    #[test]
    fn entries_run_in_order_each_seeing_the_last() {
        let flow = json!({ "format": "weft.flow/1", "start": "a", "nodes": [
            { "id": "a", "type": "assign", "set": {
                "vars.x": "1", "vars.y": "vars.x + 1", "vars.deep.z": "vars.y * 10" } } ] });
        check_case(
            &flow,
            &json!({ "name": "order", "node": "a",
            "expect": { "exit": "ok", "vars": { "x": 1, "y": 2, "deep": { "z": 20 } } } }),
        )
        .unwrap();
    }

    #[test]
    fn a_failing_entry_writes_nothing() {
        let flow = json!({ "format": "weft.flow/1", "start": "a", "variables": { "x": 0 },
            "nodes": [ { "id": "a", "type": "assign", "set": {
                "vars.x": "5", "vars.y": "vars.missing.field + 1" } } ] });
        check_case(
            &flow,
            &json!({ "name": "rollback", "node": "a",
            "expect": { "exit": "error", "vars": { "x": 0, "y": null,
                "error": { "node": "a", "type": "assign", "category": "expression" } } } }),
        )
        .unwrap();
    }
}
