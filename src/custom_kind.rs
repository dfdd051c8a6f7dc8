//! A kind from outside the built-in set, as a program embedding Weft registers it: what the
//! loader, the executor, the drawings and the studio need to know of it comes from what it
//! declares in the node kit, so adding a kind touches the kit and nothing else.

use crate::exec::{self, RunOptions, RunStatus, Runtime};
use crate::flow::{Flow, Loader};
use crate::studio::svg::Drawing;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use weft_nodes::expr::ExprEngine;
use weft_nodes::kind::{CompileCx, KindInfo, NodeConfig, Shape};
use weft_nodes::{Node, NodeError, NodeFuture, Outcome, Registry, RunCx, VarPath};

/// Fields of a `poll` node: takes `again` `times` times (counting in `vars.polls`), then
/// `done`; entered from outside its body, it starts counting afresh.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PollConfig {
    /// The profile it polls with.
    profile: String,
    /// How many times it takes `again`.
    times: i64,
}

struct Poll {
    profile: String,
    times: i64,
    count: VarPath,
}

impl NodeConfig for PollConfig {
    const KIND: &'static str = "poll";
    const DESCRIPTION: &'static str = "Polls until done";
    const INFO: &'static KindInfo = &KindInfo {
        exits: &["again", "done", "error"],
        loop_exits: &["again"],
        shape: Shape::Diamond,
        glyph: "⟳",
        profiles: &["/profile"],
        ..KindInfo::DEFAULT
    };

    fn build(self, cx: &mut CompileCx<'_>) -> Option<Box<dyn Node>> {
        let count = cx.var_path("", "polls")?;
        Some(Box::new(Poll { profile: self.profile, times: self.times, count }))
    }
}

impl Node for Poll {
    fn exits(&self) -> Vec<String> {
        vec!["again".into(), "done".into()]
    }

    fn profiles(&self) -> Vec<&str> {
        vec![&self.profile]
    }

    fn run<'a>(&'a self, cx: &'a mut RunCx<'_>) -> NodeFuture<'a> {
        Box::pin(async move {
            if !cx.arrived_from_body() {
                *cx.state::<i64>() = 0;
            }
            let polls = *cx.state::<i64>();
            if polls >= self.times {
                return Ok(Outcome::Exit("done".into()));
            }
            *cx.state::<i64>() = polls + 1;
            cx.write(&self.count, rhai::Dynamic::from_int(polls + 1))
                .map_err(|e| NodeError::write_failed("poll", &e))?;
            Ok(Outcome::Exit("again".into()))
        })
    }
}

fn registry() -> Registry {
    let mut registry = Registry::builtin();
    registry.register::<PollConfig>();
    registry
}

fn flow_value() -> Value {
    json!({ "format": "weft.flow/1", "start": "p", "variables": { "seen": [] },
        "nodes": [
            { "id": "p", "type": "poll", "profile": "crm", "times": 3 },
            { "id": "tick", "type": "assign", "set": { "vars.seen": "vars.seen + [vars.polls]" } },
            { "id": "end", "type": "end", "result": "vars.seen" } ],
        "edges": [ { "from": "p", "exit": "again", "to": "tick" }, { "from": "tick", "to": "p" },
                   { "from": "p", "exit": "done", "to": "end" } ] })
}

fn load(loader: &Loader, value: &Value) -> Flow {
    let loaded = loader.load_bytes(value.to_string().as_bytes(), "poll");
    match loaded.flow {
        Some(flow) => flow,
        None => panic!("{:?}", loaded.diagnostics),
    }
}

#[tokio::test]
async fn a_custom_kind_is_loaded_run_drawn_and_described_from_what_it_declares() {
    let registry = Arc::new(registry());
    let loader = Loader::new(registry.clone(), Arc::new(ExprEngine::new()));
    let value = flow_value();
    let flow = load(&loader, &value);

    // The loader found the body of `again`: coming back from it continues the count.
    let runtime = Runtime::new(loader.engine().clone());
    let report =
        exec::run(&flow, &runtime, RunOptions { max_steps: 50, ..RunOptions::default() }).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(report.result, json!([1, 2, 3]));
    assert_eq!(flow.profiles(), ["crm"]);

    // Its shape and glyph.
    assert!(crate::draw::mermaid(&flow).contains("    n_p{\"p (poll)\"}\n"));
    assert!(crate::draw::dot(&flow).contains("\"p\" [label=\"p (poll)\", shape=diamond];"));
    assert!(Drawing::of(&value, &registry).svg().contains(">⟳</text>"));

    // The studio's palette and the flow schema carry what it says of itself.
    let kinds = crate::studio::analysis::kinds_of(&registry);
    let poll = kinds["kinds"].as_array().and_then(|k| k.iter().find(|k| k["name"] == "poll"));
    let poll = poll.unwrap_or_else(|| panic!("{kinds}"));
    assert_eq!(poll["glyph"], "⟳");
    assert_eq!(poll["schema"]["x-weft-loop-exits"], json!(["again"]));
    assert_eq!(poll["schema"]["x-weft-profiles"], json!(["/profile"]));
    assert_eq!(poll["schema"]["x-weft-exits"], json!(["again", "done", "error"]));
    let schema = crate::flow::schema::flow_schema(&registry);
    let variants = schema.pointer("/properties/nodes/items/oneOf").and_then(Value::as_array);
    let variant = variants.and_then(|v| v.iter().find(|v| v["title"] == "poll"));
    assert_eq!(variant.map(|v| &v["x-weft-shape"]), Some(&json!("diamond")));

    // A flow that doesn't load still names the profile its `poll` node uses.
    let mut broken = value.clone();
    broken["edges"][0]["to"] = json!("nowhere");
    let text = broken.to_string();
    let path = std::path::Path::new("crm.flow.json");
    assert_eq!(
        crate::studio::analysis::used_profiles(&loader, text.as_bytes(), &broken, path),
        ["crm"]
    );
}

/// Without its loop-back exit, every arrival starts it afresh: the same flow never ends.
#[tokio::test]
async fn without_a_loop_back_exit_each_arrival_starts_afresh() {
    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct PlainPoll {
        profile: String,
        times: i64,
    }
    impl NodeConfig for PlainPoll {
        const KIND: &'static str = "poll";
        const DESCRIPTION: &'static str = "Polls, without saying which exit loops back";
        const INFO: &'static KindInfo =
            &KindInfo { exits: &["again", "done", "error"], ..KindInfo::DEFAULT };

        fn build(self, cx: &mut CompileCx<'_>) -> Option<Box<dyn Node>> {
            PollConfig { profile: self.profile, times: self.times }.build(cx)
        }
    }
    let mut registry = Registry::builtin();
    registry.register::<PlainPoll>();
    let loader = Loader::new(Arc::new(registry), Arc::new(ExprEngine::new()));
    let flow = load(&loader, &flow_value());
    let runtime = Runtime::new(loader.engine().clone());
    let report =
        exec::run(&flow, &runtime, RunOptions { max_steps: 50, ..RunOptions::default() }).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.steps, 50);
}
