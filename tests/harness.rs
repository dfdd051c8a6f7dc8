//! The Rust harness, `weft::testing`: a custom node kind tested in code (the example of
//! docs/TESTING.md), nodes of a loaded flow, and the JSON-only `check_case`.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use weft::testing::{Canned, Harness};
use weft_nodes::expr::Template;
use weft_nodes::services::HttpRequest;
use weft_nodes::{
    CompileCx, Node, NodeConfig, NodeError, NodeFuture, Outcome, Registry, RunCx, VarPath,
};

// ---- A custom node kind: the current temperature of a city from a weather API ----------------

/// Fields of a `weather` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WeatherConfig {
    /// Template: the city.
    city: String,
    /// The profile whose token the API wants.
    auth: String,
    /// Where the temperature goes (default `weather`).
    #[serde(default)]
    into: Option<String>,
}

struct Weather {
    city: Template,
    auth: String,
    into: VarPath,
}

impl NodeConfig for WeatherConfig {
    const KIND: &'static str = "weather";
    const DESCRIPTION: &'static str = "Reads the current temperature of a city";

    fn build(self, cx: &mut CompileCx<'_>) -> Option<Box<dyn Node>> {
        let city = cx.template("/city", &self.city, &[]);
        let into = cx.var_path("/into", self.into.as_deref().unwrap_or("weather"));
        Some(Box::new(Weather { city: city?, auth: self.auth, into: into? }))
    }
}

impl Node for Weather {
    fn exits(&self) -> Vec<String> {
        vec!["ok".into(), "freezing".into()]
    }

    fn profiles(&self) -> Vec<&str> {
        vec![&self.auth]
    }

    fn run<'a>(&'a self, cx: &'a mut RunCx<'_>) -> NodeFuture<'a> {
        Box::pin(async move {
            let city =
                cx.render_string(&self.city).map_err(|e| NodeError::expression(e.to_string()))?;
            let host = "api.weather.example";
            let credential =
                cx.services().credentials(&self.auth)?.credential(&self.auth, host, None).await?;
            let request = HttpRequest {
                method: "GET",
                url: format!("https://{host}/v1/now?city={city}"),
                headers: vec![("Accept".into(), "application/json".into())],
                secret_headers: credential.headers,
                secret_query: credential.query,
                body: None,
                timeout: Duration::from_secs(10),
                max_response_bytes: 1 << 20,
            };
            let response = cx
                .services()
                .http()?
                .send(request)
                .await
                .map_err(|e| NodeError::new("http", e.to_string()))?;
            if response.status != 200 {
                return Err(
                    NodeError::new("http", "the weather API failed").with_status(response.status)
                );
            }
            let body: serde_json::Value = serde_json::from_slice(&response.body)
                .map_err(|e| NodeError::new("http", e.to_string()))?;
            let celsius = body["celsius"].as_f64().unwrap_or(f64::NAN);
            cx.write(&self.into, rhai::Dynamic::from_float(celsius))
                .map_err(|e| NodeError::new("weather", e.to_string()))?;
            Ok(Outcome::Exit(if celsius < 0.0 { "freezing" } else { "ok" }.into()))
        })
    }
}

fn harness() -> Harness {
    let mut registry = Registry::builtin();
    registry.register::<WeatherConfig>();
    Harness::with_registry(registry)
}

#[test]
fn a_custom_kind_runs_with_canned_http_and_the_stand_in_token() {
    let harness = harness();
    let flow = harness
        .single_node(
            json!({ "id": "now", "type": "weather", "city": "${vars.city}", "auth": "meteo" }),
        )
        .unwrap();
    let run = harness
        .node(&flow, "now")
        .vars(json!({ "city": "Oslo" }))
        .respond(Canned::json(
            "GET",
            "https://api.weather.example/",
            200,
            json!({ "celsius": -3.5 }),
        ))
        .run_blocking()
        .unwrap();
    assert_eq!(run.exit.as_deref(), Some("freezing"));
    assert_eq!(run.var("weather"), Some(&json!(-3.5)));
    assert_eq!(run.requests.len(), 1);
    assert_eq!(run.requests[0].url, "https://api.weather.example/v1/now?city=Oslo");
    assert_eq!(run.requests[0].header("authorization"), Some("Bearer test-token-meteo"));
}

#[test]
fn a_custom_kind_failing_takes_the_error_exit() {
    let harness = harness();
    let flow = harness
        .single_node(json!({ "id": "now", "type": "weather", "city": "Oslo", "auth": "meteo" }))
        .unwrap();
    let run = harness
        .node(&flow, "now")
        .respond(Canned::json("GET", "https://api.weather.example/", 503, json!({})))
        .run_blocking()
        .unwrap();
    assert_eq!(run.exit.as_deref(), Some("error"));
    let error = run.error.as_ref().unwrap();
    assert_eq!(error["type"], "weather");
    assert_eq!(error["status"], 503);
    assert_eq!(run.var("error.node"), Some(&json!("now")));
}

#[test]
fn an_unmatched_request_is_reported_and_fails_check() {
    let harness = harness();
    let flow = harness
        .single_node(json!({ "id": "now", "type": "weather", "city": "Oslo", "auth": "meteo" }))
        .unwrap();
    let run = harness.node(&flow, "now").run_blocking().unwrap();
    assert_eq!(run.unmatched.len(), 1);
    assert_eq!(run.unmatched[0].0.line(), "GET https://api.weather.example/v1/now?city=Oslo");
    let failures = run.check(&Default::default());
    assert_eq!(failures.len(), 1);
    assert!(failures[0].0.starts_with("no canned response matches"), "{}", failures[0]);
}

#[test]
fn expectations_check_partially() {
    let harness = harness();
    let flow = harness
        .single_node(json!({ "id": "now", "type": "weather", "city": "Oslo", "auth": "meteo" }))
        .unwrap();
    let run = harness
        .node(&flow, "now")
        .respond(Canned::json("GET", "https://api.weather.example/", 200, json!({ "celsius": 12 })))
        .run_blocking()
        .unwrap();
    let expect: weft::testing::Expect =
        serde_json::from_value(json!({ "exit": "ok", "vars": { "weather": 12.0 } })).unwrap();
    assert!(run.check(&expect).is_empty());
    let wrong: weft::testing::Expect =
        serde_json::from_value(json!({ "exit": "freezing", "vars": { "weather": 13 } })).unwrap();
    let failures: Vec<String> = run.check(&wrong).into_iter().map(|f| f.0).collect();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures[0].starts_with("exit"));
    assert!(failures[1].starts_with("vars.weather"));
}

#[test]
fn nodes_of_the_shipped_calendar_flow() {
    let harness = Harness::new();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/flows/graph-calendar.flow.json");
    let flow = harness.load_flow(path.as_ref()).unwrap();
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-25T15:30:00Z").unwrap().to_utc();
    let window = harness.node(&flow, "window").now(now).run_blocking().unwrap();
    assert_eq!(window.var("from"), Some(&json!("2026-11-23T00:00:00Z")));
    let fetch = harness
        .node(&flow, "fetch")
        .params(json!({ "user": "ada@contoso.com" }))
        .vars(window.vars.clone())
        .respond(Canned::json("GET", "https://graph.microsoft.com/", 200, json!({ "value": [1] })))
        .run_blocking()
        .unwrap();
    assert_eq!(fetch.exit.as_deref(), Some("ok"));
    assert_eq!(fetch.var("page.body.value"), Some(&json!([1])));
    assert!(fetch.requests[0].url.contains("startDateTime=2026-11-23T00%3A00%3A00Z"));
    // The whole flow needs `user`.
    let err = harness.flow(&flow).run_blocking().unwrap_err();
    assert!(err.to_string().contains("`user` is required"), "{err}");
    assert!(harness.node(&flow, "nope").run_blocking().is_err());
}

#[test]
fn check_case_speaks_json_only() {
    let flow = json!({ "format": "weft.flow/1", "start": "set", "nodes": [
        { "id": "set", "type": "assign", "set": { "vars.total": "vars.a + vars.b" } } ] });
    weft::testing::check_case(
        &flow,
        &json!({
            "name": "adds", "node": "set", "given": { "vars": { "a": 1, "b": 2 } },
            "expect": { "exit": "ok", "vars": { "total": 3 } }
        }),
    )
    .unwrap();
    let err = weft::testing::check_case(
        &flow,
        &json!({
            "name": "adds wrong", "node": "set", "given": { "vars": { "a": 1, "b": 2 } },
            "expect": { "vars": { "total": 4 } }
        }),
    )
    .unwrap_err();
    assert!(
        err.contains("vars.total") && err.contains("expected: 4") && err.contains("actual: 3"),
        "{err}"
    );
}
