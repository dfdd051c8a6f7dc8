//! `loop`: takes `next` once per element of a list, then `done`.
//!
//! The loop keeps its position while its iterations come back to it; an arrival from outside
//! its body starts it afresh. Its body is what `next` leads to that comes back: the loader works
//! it out when the flow loads, since the kind declares that `next` loops back.

use super::eval_list;
use crate::expr::{Expr, dynamic_to_json, json_to_dynamic};
use crate::kind::{CompileCx, KindDoc, KindInfo, NodeConfig, Writes};
use crate::node::{Node, NodeError, NodeFuture, Outcome, Persist, RunCx};
use crate::vars::VarPath;
use rhai::{Array, Dynamic};
use schemars::JsonSchema;
use serde::Deserialize;
use std::borrow::Cow;

/// The default of `as`.
pub const DEFAULT_AS: &str = "item";

/// Fields of a `loop` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoopConfig {
    /// The list to walk, evaluated when the loop starts (an arrival from outside its body).
    pub over: String,
    /// The variable that holds the current element; its position, from 0, goes in
    /// `<as>_index`.
    #[serde(default, rename = "as")]
    #[schemars(extend("default" = DEFAULT_AS))]
    pub var: Option<String>,
}

/// A built `loop` node.
pub struct Loop {
    over: Expr,
    item: VarPath,
    index: VarPath,
}

#[derive(Default)]
struct Position {
    items: Array,
    next: usize,
    active: bool,
    /// Whether `items` was saved since the loop last started: a journal keeps the list once
    /// per start, and only the position at each step.
    items_saved: bool,
}

impl Persist for Position {
    fn save(&mut self) -> serde_json::Map<String, serde_json::Value> {
        let mut saved = serde_json::Map::new();
        saved.insert("next".into(), self.next.into());
        saved.insert("active".into(), self.active.into());
        if !self.items_saved {
            let items = self.items.iter().map(|i| dynamic_to_json(i).unwrap_or_default());
            saved.insert("items".into(), serde_json::Value::Array(items.collect()));
            self.items_saved = true;
        }
        saved
    }

    fn restore(saved: serde_json::Map<String, serde_json::Value>) -> Option<Self> {
        let items = saved.get("items")?.as_array()?.iter().map(json_to_dynamic).collect();
        let next = usize::try_from(saved.get("next")?.as_u64()?).ok()?;
        let active = saved.get("active")?.as_bool()?;
        Some(Self { items, next, active, items_saved: true })
    }
}

impl NodeConfig for LoopConfig {
    const KIND: &'static str = "loop";
    const DESCRIPTION: &'static str = "Walks a list: `next` per element, then `done`";
    const INFO: &'static KindInfo = &KindInfo {
        exits: &["next", "done", "error"],
        loop_exits: &["next"],
        glyph: "↻",
        expressions: &["/over"],
        ..KindInfo::DEFAULT
    };
    const DOC: &'static KindDoc = &KindDoc {
        exits: &[
            (
                "next",
                "An element is left: it is in `vars.<as>`, its position in `vars.<as>_index`.",
            ),
            ("done", "The list is used up (at once when it is empty)."),
            ("error", "`over` failed or gave something other than a list."),
        ],
        writes: &[
            Writes {
                at: "`as`",
                default: Some(DEFAULT_AS),
                value: "The current element, at each `next`.",
            },
            Writes {
                at: "`as` + `_index`",
                default: Some("item_index"),
                value: "The current element's position, counting from 0.",
            },
        ],
        example: r#"{ "id": "each", "type": "loop", "over": "params.users", "as": "user" }"#,
    };

    fn build(self, cx: &mut CompileCx<'_>) -> Option<Box<dyn Node>> {
        let over = cx.expression("/over", &self.over, &[]);
        let item = cx.var_path("/as", self.var.as_deref().unwrap_or(DEFAULT_AS));
        let (over, item) = (over?, item?);
        let index = item.with_suffix("_index");
        Some(Box::new(Loop { over, item, index }))
    }
}

impl Node for Loop {
    fn exits(&self) -> Vec<String> {
        vec!["next".into(), "done".into()]
    }

    fn run<'a>(&'a self, cx: &'a mut RunCx<'_>) -> NodeFuture<'a> {
        Box::pin(async move {
            let fresh = !cx.arrived_from_body() || !cx.state::<Position>().active;
            if fresh {
                let items = eval_list(cx, &self.over, "over")?;
                *cx.state::<Position>() =
                    Position { items, next: 0, active: true, items_saved: false };
            }
            let position = cx.state::<Position>();
            let Some(item) = position.items.get(position.next).cloned() else {
                *position = Position::default();
                return Ok(Outcome::Exit(Cow::Borrowed("done")));
            };
            let index = position.next as rhai::INT;
            position.next += 1;
            let write = |e: crate::vars::VarsError| NodeError::write_failed("expression", &e);
            cx.write(&self.item, item).map_err(write)?;
            cx.write(&self.index, Dynamic::from_int(index)).map_err(write)?;
            Ok(Outcome::Exit(Cow::Borrowed("next")))
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use weft::testing::check_case;

    #[test]
    fn the_first_visit_takes_next_with_the_first_element() {
        let flow = json!({ "format": "weft.flow/1", "start": "l", "nodes": [
            { "id": "l", "type": "loop", "over": "vars.list", "as": "it" } ] });
        check_case(
            &flow,
            &json!({ "name": "first", "node": "l",
            "given": { "vars": { "list": ["a", "b"] } },
            "expect": { "exit": "next", "vars": { "it": "a", "it_index": 0 } } }),
        )
        .unwrap();
        check_case(
            &flow,
            &json!({ "name": "empty", "node": "l",
            "given": { "vars": { "list": [] } }, "expect": { "exit": "done" } }),
        )
        .unwrap();
        check_case(
            &flow,
            &json!({ "name": "not a list", "node": "l",
            "given": { "vars": { "list": 3 } },
            "expect": { "exit": "error", "vars": { "error": { "category": "expression" } } } }),
        )
        .unwrap();
    }

    #[test]
    fn a_whole_loop_visits_every_element_then_is_done() {
        let flow = json!({ "format": "weft.flow/1", "start": "l", "variables": { "seen": [] },
            "nodes": [
                { "id": "l", "type": "loop", "over": "[10, 20, 30]" },
                { "id": "add", "type": "assign", "set": { "vars.seen": "vars.seen + [vars.item + vars.item_index]" } },
                { "id": "end", "type": "end", "result": "vars.seen" } ],
            "edges": [ { "from": "l", "exit": "next", "to": "add" }, { "from": "add", "to": "l" },
                       { "from": "l", "exit": "done", "to": "end" } ] });
        check_case(
            &flow,
            &json!({ "name": "all", "expect": { "status": "succeeded", "result": [10, 21, 32] } }),
        )
        .unwrap();
    }
}
