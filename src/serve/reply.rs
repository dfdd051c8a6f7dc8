//! The service's JSON answers, errors included: `{ "error": { "message": … } }`.

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
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
