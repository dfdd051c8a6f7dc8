//! How the studio's API refuses and reads: a refusal is a status with `{ "error": message }`;
//! a request's JSON is checked as files are (depth, duplicate keys, byte order mark).

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// `{ "error": message }` with `status`.
pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

/// A refusal: status and message, answered as `{ "error": message }`.
pub(super) struct ApiError(pub(super) StatusCode, pub(super) String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

/// A request's JSON, checked as files are (depth, duplicate keys, byte order mark).
pub(super) fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    crate::flow::json::parse(body).map_err(|err| {
        let at = match (err.line, err.column) {
            (Some(line), Some(column)) => format!(" (line {line}, column {column})"),
            _ => String::new(),
        };
        ApiError(StatusCode::BAD_REQUEST, format!("the request is not JSON: {}{at}", err.message))
    })
}
