//! Unit-testing nodes: the harness behind `weft test`, usable from Rust.
//!
//! A test runs one node of a flow (or the whole flow) with given `vars`, `params` and `now`,
//! answers its HTTP requests from canned exchanges (nothing leaves the machine), stands in for
//! every authorization profile with the test token `test-token-<profile>`, and reports the exit
//! taken, the variables afterwards and the requests sent. [`TestRun::check`] compares that with
//! the expectations of a `weft.test/1` case (partial matching, see [`matching`]).
//!
//! ```no_run
//! use serde_json::json;
//! use weft::testing::{Canned, Harness};
//!
//! let harness = Harness::new();
//! let flow = harness.load_flow("flows/graph-calendar.flow.json".as_ref()).unwrap();
//! let run = harness
//!     .node(&flow, "fetch")
//!     .params(json!({ "user": "ada@contoso.com" }))
//!     .vars(json!({ "from": "2026-11-23T00:00:00Z", "to": "2026-11-30T00:00:00Z" }))
//!     .respond(Canned::json("GET", "https://graph.microsoft.com/", 200, json!({ "value": [] })))
//!     .run_blocking()
//!     .unwrap();
//! assert_eq!(run.exit.as_deref(), Some("ok"));
//! assert_eq!(run.requests[0].header("authorization"), Some("Bearer test-token-graph-app"));
//! ```
//!
//! For callers that only speak JSON (such as the node kit's own unit tests, which can't share
//! this crate's types), [`check_case`] runs one case written exactly as in a test file.

mod creds;
pub mod file;
mod http;
pub mod matching;
mod run;
pub mod suite;

pub use creds::{StandInCredentials, test_token};
pub use file::{
    Canned, CannedResponse, Case, Expect, ExpectedRequest, FileError, Malformed, RequestMatch,
    TestFile,
};
pub use http::{CannedHttp, REDACTED, SentRequest};
pub use run::{DEFAULT_CASE_TIMEOUT, Failure, Harness, HarnessError, NodeTest, TestRun};

use serde_json::Value;

/// The one format string test files have.
pub const FORMAT: &str = "weft.test/1";

/// The JSON Schema of `weft.test/1`.
pub fn schema() -> Value {
    weft_nodes::kind::schema_of::<TestFile>()
}

impl Canned {
    /// Answers requests of `method` whose URL starts with `url_prefix` with a JSON body.
    pub fn json(method: &str, url_prefix: &str, status: u16, body: Value) -> Self {
        Self {
            request: RequestMatch {
                method: Some(method.to_owned()),
                url_prefix: Some(url_prefix.to_owned()),
                ..RequestMatch::default()
            },
            response: CannedResponse { status, json: Some(body), ..CannedResponse::default() },
            times: None,
        }
    }

    /// Limits how many requests this entry answers.
    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    /// A canned exchange from its test-file JSON (`{ request, response, times? }`).
    pub fn from_json(value: Value) -> Result<Self, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }
}

/// Runs one test case, written as in a `weft.test/1` file, against a flow given as JSON (with
/// the built-in kinds and stand-in credentials). `Ok(())` when it passes; otherwise every
/// failure, one after another, as `weft test` prints them.
///
/// ```
/// use serde_json::json;
/// let flow = json!({ "format": "weft.flow/1", "start": "d", "nodes": [
///     { "id": "d", "type": "decision", "otherwise": "no",
///       "conditions": [ { "exit": "yes", "when": "vars.n > 1" } ] } ] });
/// weft::testing::check_case(&flow, &json!({
///     "name": "big", "node": "d", "given": { "vars": { "n": 2 } }, "expect": { "exit": "yes" }
/// })).unwrap();
/// ```
pub fn check_case(flow: &Value, case: &Value) -> Result<(), String> {
    let harness = Harness::new();
    let flow = harness.flow_from_json(flow).map_err(|e| e.to_string())?;
    let case: Case = serde_json::from_value(case.clone()).map_err(|e| format!("the case: {e}"))?;
    let mut test = match &case.node {
        Some(node) => harness.node(&flow, node),
        None => harness.flow(&flow),
    };
    if let Some(vars) = case.given.start_vars() {
        test = test.vars(Value::Object(vars));
    }
    for (flow, child) in &case.children {
        test = test.child(flow, child.outcome());
    }
    if let Some(params) = case.given.params {
        test = test.params(Value::Object(params));
    }
    if let Some(now) = &case.given.now {
        test = test.now(suite::parse_now(now).map_err(|e| e.to_string())?);
    }
    let run = test.http(case.http).run_blocking().map_err(|e| e.to_string())?;
    let failures = run.check(&case.expect);
    if failures.is_empty() {
        return Ok(());
    }
    let text: Vec<String> = failures.iter().map(|f| f.0.clone()).collect();
    Err(format!("case `{}` failed:\n{}", case.name, text.join("\n")))
}
