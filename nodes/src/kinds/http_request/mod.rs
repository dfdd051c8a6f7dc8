//! `http_request`: calls an HTTP API, with retries, status exits and paging.
//!
//! The node's parts, each in its own module: the fields and their checks (`config`), the
//! request as rendered for each run (`request`), sending it with retries and credentials
//! (`retry`), the response as a value (`response`), the exit a status takes (`status`),
//! following next links (`paging`) and the URL as logs and traces show it (`redact`).

mod config;
mod paging;
mod redact;
mod request;
mod response;
mod retry;
mod status;

pub use config::{
    DEFAULT_RESPONSE_BYTES, HttpRequestConfig, MAX_RESPONSE_BYTES, Method, PaginateConfig,
    RetryConfig,
};
pub use paging::Paginate;
pub use request::{Body, JsonTemplate};
pub use retry::{MAX_RETRY_AFTER, Retry, retry_after};
pub use status::is_status_exit;

use crate::expr::Template;
use crate::node::{Node, NodeError, NodeFuture, Outcome, RunCx};
use crate::vars::VarPath;

/// A built `http_request` node: everything checked and compiled.
#[derive(Debug)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The URL template.
    pub url: Template,
    /// Query templates.
    pub query: Vec<(String, Template)>,
    /// Header templates.
    pub headers: Vec<(String, Template)>,
    /// The body.
    pub body: Option<Body>,
    /// The profile whose credentials go with the request.
    pub auth: Option<String>,
    /// The key whose requests in flight the profile's `max_concurrent_per_key` bounds.
    pub concurrency_key: Option<Template>,
    /// Per-attempt timeout.
    pub timeout_ms: u64,
    /// Retries.
    pub retry: Retry,
    /// The response variable.
    pub into: VarPath,
    /// Paging.
    pub paginate: Option<Paginate>,
    /// Response size limit.
    pub max_response_bytes: u64,
}

impl Node for HttpRequest {
    fn exits(&self) -> Vec<String> {
        vec!["ok".into()]
    }

    fn accepts_exit(&self, exit: &str) -> bool {
        matches!(exit, "ok" | "error") || is_status_exit(exit)
    }

    fn profiles(&self) -> Vec<&str> {
        self.auth.iter().map(String::as_str).collect()
    }

    fn run<'a>(&'a self, cx: &'a mut RunCx<'_>) -> NodeFuture<'a> {
        Box::pin(self.execute(cx))
    }
}

impl HttpRequest {
    async fn execute(&self, cx: &mut RunCx<'_>) -> Result<Outcome, NodeError> {
        let http = cx.services().http()?;
        let prepared = self.prepare(cx)?;
        if let Some(paginate) = &self.paginate {
            return self.paged(cx, http, prepared, paginate).await;
        }
        let response = self.exchange(cx, http, &prepared).await?;
        let status = response.status;
        let body = self.into.member("body");
        // A 2xx body nothing in the flow reads as values waits as text (checked now).
        let keep_text = (200..300).contains(&status) && cx.keeps_text(&body);
        let (value, text) = self.response_value(response, keep_text)?;
        // The exit is decided before the response moves into `vars` (no copy of the body).
        let exit = self.status_exit(cx, status, &value);
        cx.write(&self.into, value).map_err(write_failed)?;
        if let Some(text) = text {
            cx.write_json_text(&body, text).map_err(write_failed)?;
        }
        exit
    }
}

fn write_failed(e: crate::vars::VarsError) -> NodeError {
    NodeError::write_failed("http", &e)
}
