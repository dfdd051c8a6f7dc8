//! Entra-shaped OAuth errors: `error`, an `AADSTSnnnnn: …` description with trace and
//! correlation ids, `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;

use crate::state::{State, client_request_id};

/// An OAuth error as Entra ID reports it.
#[derive(Debug, Clone)]
pub(crate) struct EntraError {
    pub(crate) status: StatusCode,
    /// The OAuth `error` value clients branch on.
    pub(crate) error: &'static str,
    /// The AADSTS number.
    pub(crate) code: u32,
    pub(crate) message: String,
}

impl EntraError {
    /// A 400 error.
    pub(crate) fn bad_request(error: &'static str, code: u32, message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, error, code, message: message.into() }
    }

    /// A 401 `invalid_client` error.
    pub(crate) fn invalid_client(code: u32, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            code,
            message: message.into(),
        }
    }

    /// AADSTS900144: a required parameter is missing.
    pub(crate) fn missing(name: &str) -> Self {
        Self::bad_request(
            "invalid_request",
            900_144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    /// An `invalid_grant` error.
    pub(crate) fn invalid_grant(code: u32, message: impl Into<String>) -> Self {
        Self::bad_request("invalid_grant", code, message)
    }

    /// The description line, ids and timestamp as Entra writes them.
    fn parts(&self, state: &State, headers: &HeaderMap) -> (String, String, String, String) {
        let trace_id = state.guid();
        let correlation_id = client_request_id(headers).unwrap_or_else(|| state.guid());
        let timestamp = Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
        let description = format!(
            "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
            self.code, self.message
        );
        (description, trace_id, correlation_id, timestamp)
    }

    /// The JSON error response.
    pub(crate) fn respond(&self, state: &State, headers: &HeaderMap) -> Response {
        let (description, trace_id, correlation_id, timestamp) = self.parts(state, headers);
        let body = json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("{}/error?code={}", state.base_url, self.code),
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        no_store(response.headers_mut());
        response
    }

    /// The `error` and `error_description` pairs for a redirect back to the client.
    pub(crate) fn redirect_pairs(
        &self,
        state: &State,
        headers: &HeaderMap,
    ) -> Vec<(String, String)> {
        let (description, _, _, _) = self.parts(state, headers);
        vec![
            ("error".to_owned(), self.error.to_owned()),
            ("error_description".to_owned(), description),
            ("error_uri".to_owned(), format!("{}/error?code={}", state.base_url, self.code)),
        ]
    }

    /// A plain HTML error page, for authorize errors that can't be redirected.
    pub(crate) fn page(&self, state: &State, headers: &HeaderMap) -> Response {
        let (description, _, _, _) = self.parts(state, headers);
        let html = format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Sign in</title></head>\
             <body><h1>Sorry, but we’re having trouble signing you in.</h1><pre>{}</pre></body></html>",
            escape_html(&description)
        );
        let mut response = (self.status, axum::response::Html(html)).into_response();
        no_store(response.headers_mut());
        response
    }
}

/// Token responses must not be cached (RFC 6749 §5.1).
pub(crate) fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// Escapes text for HTML.
pub(crate) fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
