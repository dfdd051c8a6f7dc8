//! The test file format `weft.test/1`: the wire types (which also generate its JSON Schema) and
//! reading a file with errors located by JSON pointer.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};
use weft_nodes::clip;

/// A node test file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Weft node tests (weft.test/1)")]
pub struct TestFile {
    /// A JSON Schema reference for editors; ignored.
    #[serde(default, rename = "$schema")]
    pub schema: Option<String>,
    /// Always `weft.test/1`.
    pub format: TestFormatTag,
    /// The flow under test, relative to this file.
    pub flow: String,
    /// What these tests are about.
    #[serde(default)]
    pub description: Option<String>,
    /// A profiles file (relative to this file) whose profiles are used for real, their token
    /// requests answered from the case's `http` list. Without it every profile is stood in by
    /// the test token `test-token-<profile>`.
    #[serde(default)]
    pub profiles: Option<String>,
    /// The cases, run in order, each on fresh data.
    pub cases: Vec<Case>,
}

/// The `format` tag.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
pub enum TestFormatTag {
    /// Version 1.
    #[serde(rename = "weft.test/1")]
    V1,
}

/// One test case: one node run alone (`node`), or the whole flow from `start`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The case's name, shown in the report.
    pub name: String,
    /// The node to run alone; without it the whole flow runs from `start`.
    #[serde(default)]
    pub node: Option<String>,
    /// The data the run starts with.
    #[serde(default)]
    pub given: Given,
    /// Canned HTTP: requests are answered by the first entry that matches; a request that
    /// matches none fails the case.
    #[serde(default)]
    pub http: Vec<Canned>,
    /// Child flows stood in: by the flow a `call` node names, what every call of it gives,
    /// without running it (the other children run, with the case's canned HTTP).
    #[serde(default)]
    pub children: IndexMap<String, CannedChild>,
    /// What must hold afterwards.
    #[serde(default)]
    pub expect: Expect,
}

/// What a stood-in child flow gives: its `result`, or (it failed) its `error`, as
/// `vars.error` would hold it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedChild {
    /// The child's result.
    #[serde(default)]
    pub result: Option<Value>,
    /// The child's error: `{ message, code?, … }`.
    #[serde(default)]
    pub error: Option<Value>,
}

impl CannedChild {
    /// As the executor takes it: the result, or the error.
    pub fn outcome(&self) -> Result<Value, Value> {
        match &self.error {
            Some(error) => Err(error.clone()),
            None => Ok(self.result.clone().unwrap_or(Value::Null)),
        }
    }
}

/// The starting data of a case.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Given {
    /// Variables: each top-level key replaces the flow's `variables` entry of that name.
    #[serde(default)]
    pub vars: Option<Map<String, Value>>,
    /// Parameters, over the flow's defaults.
    #[serde(default)]
    pub params: Option<Map<String, Value>>,
    /// The instant `now()` returns (RFC 3339), so time windows are repeatable.
    #[serde(default)]
    pub now: Option<String>,
    /// What the flow kept from earlier runs (its `state.keep` variables), as a store would
    /// give it; applied after `vars`.
    #[serde(default)]
    pub state: Option<Map<String, Value>>,
}

impl Given {
    /// The top-level variables the case starts with: `vars`, then `state` over them.
    pub fn start_vars(&self) -> Option<Map<String, Value>> {
        match (&self.vars, &self.state) {
            (None, None) => None,
            (vars, state) => {
                let mut all = vars.clone().unwrap_or_default();
                all.extend(state.clone().unwrap_or_default());
                Some(all)
            }
        }
    }
}

/// A canned HTTP exchange.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Canned {
    /// Which requests it answers.
    #[serde(default)]
    pub request: RequestMatch,
    /// The answer.
    #[serde(default)]
    pub response: CannedResponse,
    /// How many requests it may answer (unlimited without).
    #[serde(default)]
    pub times: Option<u32>,
}

/// What a request must look like to be answered by a canned entry. Every field given must
/// match; an empty match answers every request.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestMatch {
    /// The method (`GET`, `POST`, …), any when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// The full URL as sent, query included, exactly.
    #[serde(default)]
    pub url: Option<String>,
    /// The start of the URL as sent.
    #[serde(default)]
    pub url_prefix: Option<String>,
    /// Headers the request must carry (names case-insensitive, values exact); others are free.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
}

/// A canned response.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedResponse {
    /// The status code (default 200).
    #[serde(default = "default_status")]
    pub status: u16,
    /// Response headers (`content-type` defaults by body).
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// A JSON body (sent as `application/json`).
    #[serde(default)]
    pub json: Option<Value>,
    /// A text body (sent as `text/plain` unless `headers` says otherwise).
    #[serde(default)]
    pub body: Option<String>,
}

fn default_status() -> u16 {
    200
}

impl Default for CannedResponse {
    fn default() -> Self {
        Self { status: 200, headers: IndexMap::new(), json: None, body: None }
    }
}

/// What a case checks. Everything is optional; `vars`, `result` and the request bodies match
/// partially.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The exit the node takes (node cases).
    #[serde(default)]
    pub exit: Option<String>,
    /// Variables after the run, matched partially: objects by the keys named, arrays element
    /// by element with the same length, scalars equal.
    #[serde(default)]
    pub vars: Option<Value>,
    /// The run's result (whole-flow cases, or a node case of an `end` node), matched partially.
    #[serde(default)]
    pub result: Option<Value>,
    /// How the run ended (whole-flow cases, or a node case of an `end` node).
    #[serde(default)]
    pub status: Option<ExpectedStatus>,
    /// The requests sent, in order: the same count, each matched partially.
    #[serde(default)]
    pub requests: Option<Vec<ExpectedRequest>>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExpectedStatus {
    /// It reached an `end` node or an unwired non-error exit.
    Succeeded,
    /// It failed.
    Failed,
}

impl ExpectedStatus {
    /// `succeeded` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

/// A request a case expects to have been sent.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedRequest {
    /// The method.
    #[serde(default)]
    pub method: Option<String>,
    /// The full URL as sent, query included.
    #[serde(default)]
    pub url: Option<String>,
    /// Headers it must carry (names case-insensitive, values exact).
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// The JSON body, matched partially.
    #[serde(default)]
    pub json: Option<Value>,
    /// The text body, exactly.
    #[serde(default)]
    pub body: Option<String>,
}

/// A problem with a test file: the file, a JSON pointer into it and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The test file.
    pub file: PathBuf,
    /// Where in it (a JSON pointer, empty for the whole file).
    pub pointer: String,
    /// Line and column of the pointer's target, when known.
    pub position: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl FileError {
    /// An error at `pointer` of `file`.
    pub fn new(file: &Path, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            pointer: pointer.into(),
            position: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        let pointer = if self.pointer.is_empty() { "/" } else { &self.pointer };
        write!(f, ": at {pointer}: {}", self.message)
    }
}

impl std::error::Error for FileError {}

/// Every problem found with a test file (never empty): the JSON's syntax and shape stop at the
/// first, the checks against the flow report them all, so one edit fixes one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub Vec<FileError>);

impl Malformed {
    /// The first problem.
    pub fn first(&self) -> Option<&FileError> {
        self.0.first()
    }
}

impl From<FileError> for Malformed {
    fn from(error: FileError) -> Self {
        Self(vec![error])
    }
}

impl fmt::Display for Malformed {
    /// One problem per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Malformed {}

/// Parses a test file's text; `path` names it in errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<TestFile, FileError> {
    let value = crate::flow::json::parse(bytes).map_err(|e| FileError {
        file: path.to_owned(),
        pointer: e.pointer,
        position: e.line.zip(e.column),
        message: e.message,
    })?;
    let located = |pointer: String, message: String| {
        let text = String::from_utf8_lossy(bytes);
        FileError {
            file: path.to_owned(),
            position: crate::flow::json::locate(&text, &pointer),
            pointer,
            message,
        }
    };
    if let Some(format) = value.get("format")
        && format != super::FORMAT
    {
        return Err(located(
            "/format".into(),
            format!("expected \"{}\", found {}", super::FORMAT, clip(&format.to_string())),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let pointer = weft_nodes::kind::serde_path_pointer(e.path());
        located(pointer, e.into_inner().to_string())
    })
}

/// Reads and parses a test file.
pub fn read(path: &Path) -> Result<TestFile, FileError> {
    let bytes = std::fs::read(path)
        .map_err(|e| FileError::new(path, "", format!("cannot read the test file: {e}")))?;
    parse(&bytes, path)
}
