//! The service's JSON answers, errors included: `{ "error": { "message": … } }`.

use crate::exec::{RunReport, RunStatus};
use crate::result::RunResult;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

/// A JSON answer from already serialised bytes.
pub(super) fn json_bytes(status: StatusCode, body: impl Into<Bytes>) -> Response {
    let json = [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))];
    (status, json, body.into()).into_response()
}

/// A JSON answer.
pub(super) fn json_value(status: StatusCode, body: &Value) -> Response {
    json_bytes(status, serde_json::to_vec(body).unwrap_or_default())
}

/// `{ "error": { "message": … } }`.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    json_value(status, &json!({ "error": { "message": message } }))
}

/// The answer to a run that ended: its status, result and error (and its id, when the store
/// recorded it).
pub(super) fn answer(
    report: RunReport,
    recorded: bool,
    timed_out: impl Fn(&RunReport) -> bool,
    trace: Option<Vec<Value>>,
) -> Response {
    let status = match report.status {
        RunStatus::Succeeded => StatusCode::OK,
        RunStatus::Failed if timed_out(&report) => StatusCode::GATEWAY_TIMEOUT,
        RunStatus::Failed => StatusCode::UNPROCESSABLE_ENTITY,
        RunStatus::Interrupted => StatusCode::SERVICE_UNAVAILABLE,
    };
    let error = match report.status {
        RunStatus::Succeeded => None,
        RunStatus::Failed => Some(report.error.clone().unwrap_or(Value::Null)),
        RunStatus::Interrupted => Some(json!({ "message": INTERRUPTED })),
    };
    // Serialised straight from the run's result: no JSON tree of it is built.
    let answer = Answer {
        id: recorded.then_some(report.id.as_str()),
        status: report.status.as_str(),
        result: &report.result,
        error,
        trace,
    };
    match serde_json::to_vec(&answer) {
        Ok(body) => json_bytes(status, body),
        // `RunResult` only holds values with a JSON form, so this is not expected; if it happens
        // the client gets an error, not an empty body under a success status.
        Err(err) => self::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("the run's answer could not be written as JSON: {err}"),
        ),
    }
}

/// The body of a run's answer.
#[derive(Serialize)]
struct Answer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    status: &'static str,
    result: &'a RunResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace: Option<Vec<Value>>,
}

/// The answer to a stored run that ended, read back from the store (a repeated request with
/// the same `Idempotency-Key`).
pub(super) fn answer_stored(detail: &crate::store::RunDetail) -> Response {
    use crate::store::Status;
    let status = match detail.run.status {
        Status::Succeeded => StatusCode::OK,
        Status::Failed => StatusCode::UNPROCESSABLE_ENTITY,
        Status::Cancelled | Status::Queued | Status::Running => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut body = json!({
        "id": detail.run.id, "status": detail.run.status.as_str(), "result": detail.result,
    });
    if let (Some(error), Value::Object(fields)) = (&detail.error, &mut body) {
        fields.insert("error".into(), error.clone());
    }
    json_value(status, &body)
}

/// The answer to a run interrupted by a shutdown.
pub(super) fn interrupted() -> Response {
    json_value(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({ "status": "interrupted", "result": null, "error": { "message": INTERRUPTED } }),
    )
}

const INTERRUPTED: &str = "the run was interrupted: the server is shutting down";
