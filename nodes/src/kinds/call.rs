//! `call`: runs another flow — once, or once per element of a list, several at a time — and
//! writes its result (or the list of results, in input order).
//!
//! The kit knows no executor: the node asks the run's [`Children`] to run the child, which the
//! engine loaded with the calling flow (a cycle of calls is a load error there).

use super::{eval_failed, eval_list};
use crate::expr::{Expr, dynamic_to_json};
use crate::kind::{CompileCx, KindDoc, KindInfo, NodeConfig, Writes};
use crate::node::{
    Call, ChildCall, ChildFailure, Children, Node, NodeError, NodeFuture, Outcome, RunCx,
};
use crate::vars::VarPath;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use indexmap::IndexMap;
use rhai::Dynamic;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The default of `into`.
pub const DEFAULT_INTO: &str = "result";

/// Fields of a `call` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallConfig {
    /// The flow file to run, relative to this flow's file; loaded and checked with it.
    pub flow: String,
    /// The child's parameters: name → expression. With `for_each`, `item` (the element) and
    /// `index` (its position, from 0) are in scope.
    #[serde(default)]
    pub params: IndexMap<String, String>,
    /// A list: the child runs once per element, and the node writes the list of results in
    /// the list's order.
    #[serde(default)]
    pub for_each: Option<String>,
    /// With `for_each`, how many children run at once.
    #[serde(default)]
    #[schemars(extend("default" = 1))]
    pub concurrency: Option<u32>,
    /// The variable that receives the result, or the list of results.
    #[serde(default)]
    #[schemars(extend("default" = DEFAULT_INTO))]
    pub into: Option<String>,
}

/// A built `call` node.
pub struct CallNode {
    flow: String,
    params: Vec<(String, Expr)>,
    for_each: Option<Expr>,
    concurrency: usize,
    into: VarPath,
}

impl NodeConfig for CallConfig {
    const KIND: &'static str = "call";
    const DESCRIPTION: &'static str =
        "Runs another flow, or one per element of a list several at a time, and keeps the results";
    const INFO: &'static KindInfo = &KindInfo {
        glyph: "⤷",
        expressions: &["/params/*", "/for_each"],
        flows: &["/flow"],
        ..KindInfo::DEFAULT
    };
    const DOC: &'static KindDoc = &KindDoc {
        exits: &[
            ("ok", "Every child run succeeded (at once for `for_each` over an empty list)."),
            (
                "error",
                "A child failed (the node waits for the children already running, and starts no \
                 more): `vars.error.message` names the child flow and the element's index, \
                 `vars.error.child` holds the child's own error. Or `for_each` or a parameter \
                 failed.",
            ),
        ],
        writes: &[Writes {
            at: "`into`",
            default: Some(DEFAULT_INTO),
            value: "The child's result; with `for_each`, the list of results in the list's order.",
        }],
        example: r#"{ "id": "each_user", "type": "call", "flow": "user-calendar.flow.json",
  "for_each": "params.users", "params": { "user": "item" }, "concurrency": 8, "into": "calendars" }"#,
    };

    fn build(self, cx: &mut CompileCx<'_>) -> Option<Box<dyn Node>> {
        let names: &[&str] = if self.for_each.is_some() { &["item", "index"] } else { &[] };
        let mut ok = true;
        if self.flow.trim().is_empty() {
            cx.error("/flow", "name the flow file to run, relative to this one");
            ok = false;
        }
        let mut params = Vec::with_capacity(self.params.len());
        for (name, source) in &self.params {
            let field = format!("/params/{}", crate::kind::escape_token(name));
            match cx.expression(&field, source, names) {
                Some(expr) => params.push((name.clone(), expr)),
                None => ok = false,
            }
        }
        let for_each = match &self.for_each {
            Some(source) => {
                let expr = cx.expression("/for_each", source, &[]);
                ok &= expr.is_some();
                expr
            }
            None => None,
        };
        if self.concurrency.is_some() && self.for_each.is_none() {
            cx.error("/concurrency", "`concurrency` is for `for_each`: one call runs one child");
            ok = false;
        }
        if self.concurrency == Some(0) {
            cx.error("/concurrency", "at least one child must run at a time");
            ok = false;
        }
        let into = cx.var_path("/into", self.into.as_deref().unwrap_or(DEFAULT_INTO));
        let into = into?;
        ok.then(|| {
            Box::new(CallNode {
                flow: self.flow,
                params,
                for_each,
                concurrency: self.concurrency.unwrap_or(1) as usize,
                into,
            }) as Box<dyn Node>
        })
    }
}

impl CallNode {
    /// The child's parameters, for the element `item` at `index` when there is one.
    fn params_for(
        &self,
        cx: &mut RunCx<'_>,
        element: Option<(Dynamic, usize)>,
    ) -> Result<Map<String, Value>, NodeError> {
        let mut params = Map::with_capacity(self.params.len());
        for (name, expr) in &self.params {
            let value = match &element {
                Some((item, index)) => {
                    let index = Dynamic::from_int(i64::try_from(*index).unwrap_or(i64::MAX));
                    cx.eval_with(expr, [("item", item.clone()), ("index", index)])
                }
                None => cx.eval(expr),
            }
            .map_err(|e| eval_failed(&format!("params.{name}"), e))?;
            let value = dynamic_to_json(&value.flatten()).map_err(|e| {
                NodeError::expression(format!("`params.{name}` has no JSON form: {e}"))
            })?;
            params.insert(name.clone(), value);
        }
        Ok(params)
    }

    /// The error of the child that failed first in the list's order.
    fn failed(&self, index: Option<usize>, failure: ChildFailure) -> NodeError {
        let which = match index {
            Some(i) => format!(" for element {i}"),
            None => String::new(),
        };
        NodeError::new(
            "call",
            format!(
                "the child flow `{}` failed{which}: {}",
                crate::clip::clip(&self.flow),
                failure.message
            ),
        )
        .with_child(failure.error)
    }
}

impl Node for CallNode {
    fn exits(&self) -> Vec<String> {
        vec!["ok".into()]
    }

    fn calls(&self) -> Vec<Call<'_>> {
        vec![Call {
            flow: &self.flow,
            params: self.params.iter().map(|(n, _)| n.as_str()).collect(),
        }]
    }

    fn run<'a>(&'a self, cx: &'a mut RunCx<'_>) -> NodeFuture<'a> {
        Box::pin(async move {
            let children = cx
                .children()
                .ok_or_else(|| NodeError::new("call", "this run can't call other flows"))?;
            let result = match &self.for_each {
                None => {
                    let params = self.params_for(cx, None)?;
                    let call =
                        ChildCall { node: cx.node_id(), flow: &self.flow, index: None, params };
                    children.run(call).await.map_err(|f| self.failed(None, f))?
                }
                Some(for_each) => {
                    let items = eval_list(cx, for_each, "for_each")?;
                    let mut calls = Vec::with_capacity(items.len());
                    for (index, item) in items.into_iter().enumerate() {
                        calls.push(self.params_for(cx, Some((item, index)))?);
                    }
                    let node = cx.node_id().to_owned();
                    let results =
                        run_all(children, &node, &self.flow, calls, self.concurrency).await;
                    let mut out = Vec::with_capacity(results.len());
                    for (index, result) in results.into_iter().enumerate() {
                        match result {
                            Some(Ok(value)) => out.push(value),
                            Some(Err(failure)) => return Err(self.failed(Some(index), failure)),
                            // Not started: an earlier child failed (whose error comes first).
                            None => {}
                        }
                    }
                    Dynamic::from_array(out)
                }
            };
            cx.write(&self.into, result).map_err(|e| NodeError::write_failed("call", &e))?;
            Ok(Outcome::Exit(Cow::Borrowed("ok")))
        })
    }
}

/// Runs the children of `calls`, at most `concurrency` at a time, in the list's order of
/// starting; after a failure, starts no more and lets those running end. The results by index
/// (`None`: never started).
///
/// Only the children woken since the last poll are polled again: a wide fan-out spends its time
/// in its children, not in looking at those still waiting.
async fn run_all<'a>(
    children: &'a dyn Children,
    node: &'a str,
    flow: &'a str,
    calls: Vec<Map<String, Value>>,
    concurrency: usize,
) -> Vec<Option<Result<Dynamic, ChildFailure>>> {
    let mut results: Vec<Option<Result<Dynamic, ChildFailure>>> =
        std::iter::repeat_with(|| None).take(calls.len()).collect();
    let mut waiting = calls.into_iter().enumerate();
    let mut running = FuturesUnordered::new();
    let mut failed = false;
    loop {
        while !failed && running.len() < concurrency {
            let Some((index, params)) = waiting.next() else { break };
            let call = ChildCall { node, flow, index: Some(index), params };
            running.push(async move { (index, children.run(call).await) });
        }
        let Some((index, result)) = running.next().await else {
            return results;
        };
        failed |= result.is_err();
        results[index] = Some(result);
    }
}
