//! A flow's test cases in the studio: the `*.test.json` files of the directory whose `flow` is
//! the open flow, listed and run through the harness behind `weft test` (canned HTTP, stand-in
//! credentials: nothing leaves the machine).

use super::files::{MAX_FILE_BYTES, read_file, shown};
use super::reply::{ApiError, parse_body};
use super::state::AppState;
use crate::safe_fs;
use crate::testing::{Harness, file, suite};
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A test file of the directory: its name, path and contents.
struct TestFile {
    name: String,
    path: PathBuf,
    bytes: Vec<u8>,
}

/// The test files of `dir` (not its subdirectories) whose flow is `flow`, by name. Links are
/// left out: they are never followed.
async fn test_files_of(dir: &Path, flow: &Path) -> Vec<TestFile> {
    let mut found = Vec::new();
    let Ok(flow) = tokio::fs::canonicalize(flow).await else {
        return found;
    };
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return found;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".test.json") || name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let Ok(bytes) = read_file(path.clone()).await else {
            continue;
        };
        let target = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("flow").and_then(Value::as_str).map(str::to_owned));
        let Some(target) = target else {
            continue;
        };
        if tokio::fs::canonicalize(dir.join(target)).await.is_ok_and(|t| t == flow) {
            found.push(TestFile { name, path, bytes });
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// `GET /api/flows/{file}/tests`: `{ files: [ { file, cases: [ { name, node } ] | error } ] }`.
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    UrlPath(file): UrlPath<String>,
) -> Result<Response, ApiError> {
    let path = state.files.flow_path(&file)?;
    let mut files = Vec::new();
    for TestFile { name, path, bytes } in test_files_of(state.files.dir(), &path).await {
        files.push(match file::parse(&bytes, &path) {
            Ok(parsed) => {
                let cases: Vec<Value> = parsed
                    .cases
                    .iter()
                    .map(|c| json!({ "name": c.name, "node": c.node }))
                    .collect();
                json!({ "file": name, "cases": cases })
            }
            Err(err) => {
                json!({ "file": name, "error": shown(&err.to_string(), state.files.dir()) })
            }
        });
    }
    Ok(axum::Json(json!({ "files": files })).into_response())
}

/// `POST /api/flows/{file}/tests` with `{ node? }`: runs the cases of the flow's test files
/// (those of `node` only, when given); answers `{ files: [ { file, cases: [ { name, node,
/// passed, failures, ms } ] | error } ], passed, failed }`.
pub(super) async fn run(
    State(state): State<Arc<AppState>>,
    UrlPath(file): UrlPath<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let path = state.files.flow_path(&file)?;
    if !path.is_file() {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no flow `{file}` (save it first)")));
    }
    let request = if body.is_empty() { json!({}) } else { parse_body(&body)? };
    let node = match request.get("node") {
        None | Some(Value::Null) => None,
        Some(Value::String(node)) => Some(node.clone()),
        Some(_) => {
            return Err(ApiError(StatusCode::BAD_REQUEST, "`node` must be a node id".into()));
        }
    };
    let tests = test_files_of(state.files.dir(), &path).await;
    let dir = state.files.dir().to_owned();
    // The harness runs each case on a runtime of its own thread: cases are short, and this
    // keeps the server's workers free while they run.
    let report = tokio::task::spawn_blocking(move || run_files(&dir, &tests, node.as_deref()))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(axum::Json(report).into_response())
}

fn run_files(dir: &Path, tests: &[TestFile], node: Option<&str>) -> Result<Value, ApiError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let harness = Harness::new();
    let (mut passed, mut failed) = (0, 0);
    let mut files = Vec::new();
    let read = |path: &Path| safe_fs::read(path, MAX_FILE_BYTES).map_err(|e| e.to_string());
    for TestFile { name, path, .. } in tests {
        let prepared = match suite::prepare_with(&harness, path, &read) {
            Ok(prepared) => prepared,
            Err(err) => {
                files.push(json!({ "file": name, "error": shown(&err.to_string(), dir) }));
                continue;
            }
        };
        let mut cases = Vec::new();
        for case in &prepared.file.cases {
            if node.is_some() && case.node.as_deref() != node {
                continue;
            }
            let report = runtime.block_on(suite::run_case(&harness, &prepared, case));
            if report.passed() {
                passed += 1;
            } else {
                failed += 1;
            }
            let failures: Vec<String> = report.failures.iter().map(|f| f.0.clone()).collect();
            cases.push(json!({
                "name": report.name,
                "node": case.node,
                "passed": report.passed(),
                "failures": failures,
                "ms": report.duration.as_millis() as u64,
            }));
        }
        files.push(json!({ "file": name, "cases": cases }));
    }
    Ok(json!({ "files": files, "passed": passed, "failed": failed }))
}
