//! `decision`: takes the exit of the first condition whose `when` holds, else `otherwise`.

use super::{eval_failed, type_name};
use crate::expr::Expr;
use crate::kind::{CompileCx, KindDoc, KindInfo, NodeConfig, Shape};
use crate::node::{Node, NodeError, NodeFuture, Outcome, RunCx};
use indexmap::IndexSet;
use schemars::JsonSchema;
use serde::Deserialize;
use std::borrow::Cow;

/// Fields of a `decision` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionConfig {
    /// Tried in order: the first whose `when` is `true` gives the exit.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The exit taken when no condition holds. Without it, that case fails the node.
    #[serde(default)]
    pub otherwise: Option<String>,
}

/// One branch of a decision.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The exit taken when `when` holds (any name but `error`).
    pub exit: String,
    /// A boolean; anything else fails the node.
    pub when: String,
}

/// A built `decision` node.
pub struct Decision {
    conditions: Vec<(Expr, String)>,
    otherwise: Option<String>,
    /// Its exits, each once, in order: the loader asks about each edge.
    exits: IndexSet<String>,
}

fn check_exit(cx: &mut CompileCx<'_>, field: &str, exit: &str) -> bool {
    if exit.is_empty() || exit == "error" {
        cx.error(field, format!("`{exit}` can't be a decision's exit name"));
        return false;
    }
    true
}

impl NodeConfig for DecisionConfig {
    const KIND: &'static str = "decision";
    const DESCRIPTION: &'static str = "Branches: the first condition that holds picks the exit";
    const INFO: &'static KindInfo = &KindInfo {
        exits: &["error"],
        exit_fields: &["/conditions/*/exit", "/otherwise"],
        shape: Shape::Diamond,
        glyph: "◇",
        expressions: &["/conditions/*/when"],
        ..KindInfo::DEFAULT
    };
    const DOC: &'static KindDoc = &KindDoc {
        exits: &[
            ("/conditions/*/exit", "Its condition is the first whose `when` is `true`."),
            ("/otherwise", "No condition holds."),
            (
                "error",
                "A `when` failed or gave something other than a boolean, or no condition held \
                 and there is no `otherwise`.",
            ),
        ],
        writes: &[],
        example: r#"{
  "id": "classify",
  "type": "decision",
  "conditions": [
    { "exit": "away", "when": "vars.view.body.value.some(|e| e.showAs == \"oof\")" },
    { "exit": "busy", "when": "vars.view.body.value.some(|e| e.showAs == \"busy\")" }
  ],
  "otherwise": "free"
}"#,
    };

    fn build(self, cx: &mut CompileCx<'_>) -> Option<Box<dyn Node>> {
        let mut ok = true;
        let mut conditions = Vec::with_capacity(self.conditions.len());
        for (i, condition) in self.conditions.into_iter().enumerate() {
            ok &= check_exit(cx, &format!("/conditions/{i}/exit"), &condition.exit);
            match cx.expression(&format!("/conditions/{i}/when"), &condition.when, &[]) {
                Some(expr) => conditions.push((expr, condition.exit)),
                None => ok = false,
            }
        }
        if let Some(otherwise) = &self.otherwise {
            ok &= check_exit(cx, "/otherwise", otherwise);
        }
        if conditions.is_empty() && self.otherwise.is_none() && ok {
            cx.error("", "a decision needs at least one condition or an `otherwise` exit");
            return None;
        }
        let all = conditions.iter().map(|(_, exit)| exit).chain(&self.otherwise);
        let exits = all.cloned().collect();
        ok.then(|| {
            Box::new(Decision { conditions, otherwise: self.otherwise, exits }) as Box<dyn Node>
        })
    }
}

impl Node for Decision {
    fn exits(&self) -> Vec<String> {
        self.exits.iter().cloned().collect()
    }

    fn accepts_exit(&self, exit: &str) -> bool {
        exit == "error" || self.exits.contains(exit)
    }

    fn run<'a>(&'a self, cx: &'a mut RunCx<'_>) -> NodeFuture<'a> {
        Box::pin(async move {
            for (i, (when, exit)) in self.conditions.iter().enumerate() {
                let field = format!("conditions[{i}].when");
                let value = cx.eval(when).map_err(|e| eval_failed(&field, e))?;
                match value.as_bool() {
                    Ok(true) => return Ok(Outcome::Exit(Cow::Owned(exit.clone()))),
                    Ok(false) => {}
                    Err(_) => {
                        return Err(NodeError::expression(format!(
                            "`{field}` gave {}, not a boolean",
                            type_name(&value)
                        )));
                    }
                }
            }
            match &self.otherwise {
                Some(exit) => Ok(Outcome::Exit(Cow::Owned(exit.clone()))),
                None => Err(NodeError::expression(
                    "no condition held and the decision has no `otherwise` exit",
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use weft::testing::check_case;

    fn flow() -> Value {
        json!({ "format": "weft.flow/1", "start": "d", "nodes": [
            { "id": "d", "type": "decision", "otherwise": "small", "conditions": [
                { "exit": "big", "when": "vars.n > 100" },
                { "exit": "medium", "when": "vars.n > 10" } ] } ] })
    }

    fn exit_for(vars: Value, exit: &str) {
        let case = json!({ "name": exit, "node": "d", "given": { "vars": vars },
                           "expect": { "exit": exit } });
        check_case(&flow(), &case).unwrap();
    }

    #[test]
    fn the_first_condition_that_holds_wins() {
        exit_for(json!({ "n": 500 }), "big");
        exit_for(json!({ "n": 50 }), "medium");
        exit_for(json!({ "n": 5 }), "small");
    }

    #[test]
    fn a_condition_that_is_not_a_boolean_is_an_error() {
        let flow = json!({ "format": "weft.flow/1", "start": "d", "nodes": [
            { "id": "d", "type": "decision", "conditions": [ { "exit": "x", "when": "vars.n" } ] } ] });
        check_case(&flow, &json!({ "name": "not bool", "node": "d", "given": { "vars": { "n": 1 } },
            "expect": { "exit": "error", "vars": { "error": { "type": "decision",
                "category": "expression", "message": "`conditions[0].when` gave integer, not a boolean" } } } }))
        .unwrap();
    }

    #[test]
    fn no_condition_and_no_otherwise_is_an_error() {
        let flow = json!({ "format": "weft.flow/1", "start": "d", "nodes": [
            { "id": "d", "type": "decision", "conditions": [ { "exit": "x", "when": "false" } ] } ] });
        check_case(
            &flow,
            &json!({ "name": "none", "node": "d",
            "expect": { "exit": "error", "vars": { "error": { "category": "expression" } } } }),
        )
        .unwrap();
    }
}
