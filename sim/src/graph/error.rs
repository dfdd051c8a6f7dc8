//! Graph-shaped errors: `{ "error": { "code", "message", "innerError": { "date",
//! "request-id", "client-request-id" } } }`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use serde_json::json;

use crate::config::GRAPH_APP_ID;
use crate::state::State;

use super::RequestIds;

/// A Graph error.
#[derive(Debug, Clone)]
pub(crate) struct GraphError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) retry_after: Option<String>,
}

impl GraphError {
    /// An error with this status, code and message.
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }

    /// 400 with this code.
    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401 `InvalidAuthenticationToken`.
    pub(crate) fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message)
    }

    /// 403 `ErrorAccessDenied`.
    pub(crate) fn access_denied() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
    }

    /// 404 `ErrorItemNotFound`: no such event, calendar or list.
    pub(crate) fn item_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    }

    /// The response, counted.
    pub(crate) fn respond(&self, state: &State, ids: &RequestIds) -> Response {
        match self.status.as_u16() {
            401 => state.count(|c| c.graph_401 += 1),
            403 => state.count(|c| c.graph_403 += 1),
            400 | 404 => state.count(|c| c.graph_client_errors += 1),
            _ => {}
        }
        let body = json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
                    "request-id": ids.request_id,
                    "client-request-id": ids.client_request_id,
                },
            },
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            let value = format!(
                "Bearer realm=\"\", authorization_uri=\"{}/common/oauth2/authorize\", client_id=\"{GRAPH_APP_ID}\"",
                state.base_url
            );
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        if let Some(v) = self.retry_after.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(header::RETRY_AFTER, v);
        }
        response
    }
}
