//! `end`: ends the run, with a result and a status.

use super::eval_failed;
use crate::expr::Expr;
use crate::kind::{CompileCx, KindDoc, KindInfo, NodeConfig, Shape};
use crate::node::{Node, NodeFuture, Outcome, RunCx};
use crate::vars::VarPath;
use schemars::JsonSchema;
use serde::Deserialize;

/// Fields of an `end` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndConfig {
    /// The run's result (`null` without one). An `end` that an `error` exit leads to can
    /// give `vars.error`.
    #[serde(default)]
    pub result: Option<String>,
    /// How the run ends: `failed` fails the run (`weft run` exits 1), with this result.
    #[serde(default)]
    #[schemars(extend("default" = "succeeded"))]
    pub status: EndStatus,
}

/// How an `end` node ends the run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EndStatus {
    /// The run succeeded.
    #[default]
    Succeeded,
    /// The run failed.
    Failed,
}

/// A built `end` node.
pub struct End {
    result: Option<Expr>,
    /// The variable `result` names, when it is just `vars.<path>`: read without a copy.
    result_var: Option<VarPath>,
    failed: bool,
}

impl NodeConfig for EndConfig {
    const KIND: &'static str = "end";
    const DESCRIPTION: &'static str = "Ends the run with a result";
    const INFO: &'static KindInfo = &KindInfo {
        exits: &[],
        shape: Shape::Oval,
        glyph: "■",
        expressions: &["/result"],
        ..KindInfo::DEFAULT
    };
    const DOC: &'static KindDoc = &KindDoc {
        exits: &[],
        writes: &[],
        example: r#"{ "id": "failed", "type": "end", "status": "failed", "result": "vars.error" }"#,
    };

    fn build(self, cx: &mut CompileCx<'_>) -> Option<Box<dyn Node>> {
        let result = match &self.result {
            Some(source) => Some(cx.expression("/result", source, &[])?),
            None => None,
        };
        let result_var = self
            .result
            .as_deref()
            .and_then(|source| source.trim().strip_prefix("vars."))
            .and_then(|path| VarPath::parse(path).ok());
        Some(Box::new(End { result, result_var, failed: self.status == EndStatus::Failed }))
    }
}

impl Node for End {
    fn exits(&self) -> Vec<String> {
        Vec::new()
    }

    fn accepts_exit(&self, _exit: &str) -> bool {
        false
    }

    fn is_terminal(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, cx: &'a mut RunCx<'_>) -> NodeFuture<'a> {
        Box::pin(async move {
            // Nothing runs after an end node, so its result may share the variable it names
            // instead of copying it; when the variable is not there, the expression decides.
            let shared = self.result_var.as_ref().and_then(|path| cx.vars().share(path));
            let result = match (shared, &self.result) {
                (Some(shared), _) => shared,
                (None, Some(expr)) => cx.eval(expr).map_err(|e| eval_failed("result", e))?,
                (None, None) => rhai::Dynamic::UNIT,
            };
            Ok(Outcome::End { result, failed: self.failed })
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use weft::testing::check_case;

    #[test]
    fn end_gives_the_result_and_status() {
        let flow = json!({ "format": "weft.flow/1", "start": "e", "nodes": [
            { "id": "e", "type": "end", "result": "#{ n: vars.n * 2 }" },
            { "id": "f", "type": "end", "status": "failed", "result": "vars.error" },
            { "id": "g", "type": "end" } ] });
        check_case(
            &flow,
            &json!({ "name": "ok", "node": "e", "given": { "vars": { "n": 4 } },
            "expect": { "status": "succeeded", "result": { "n": 8 } } }),
        )
        .unwrap();
        check_case(
            &flow,
            &json!({ "name": "failed", "node": "f",
            "given": { "vars": { "error": { "message": "boom" } } },
            "expect": { "status": "failed", "result": { "message": "boom" } } }),
        )
        .unwrap();
        check_case(
            &flow,
            &json!({ "name": "null", "node": "g",
            "expect": { "status": "succeeded", "result": null } }),
        )
        .unwrap();
    }
}
