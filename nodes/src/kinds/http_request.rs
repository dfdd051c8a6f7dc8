//! `http_request`: calls an HTTP API, with retries, status exits and paging.

use crate::expr::{Expr, Template};
use crate::kind::{CompileCx, NodeConfig, escape_token};
use crate::node::{Node, NodeError, NodeFuture, RunCx};
use crate::pointer::JsonPointer;
use crate::vars::VarPath;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// Fields of an `http_request` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpRequestConfig {
    /// The HTTP method.
    #[serde(default)]
    pub method: Method,
    /// Template: the URL.
    pub url: String,
    /// Query parameters (templates), merged with a query already in the URL; a value that
    /// evaluates to `()` is left out.
    #[serde(default)]
    pub query: IndexMap<String, String>,
    /// Request headers (templates).
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// A JSON body whose string leaves are templates.
    #[serde(default)]
    pub body: Option<Value>,
    /// Template: a text body.
    #[serde(default)]
    pub body_text: Option<String>,
    /// The authorization profile whose credentials the request carries.
    #[serde(default)]
    pub auth: Option<String>,
    /// The time allowed for one attempt, in milliseconds (default 30 000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// When and how to retry.
    #[serde(default)]
    pub retry: Option<RetryConfig>,
    /// Where to write the response (default `response`).
    #[serde(default)]
    pub into: Option<String>,
    /// Following next links and collecting the items of every page.
    #[serde(default)]
    pub paginate: Option<PaginateConfig>,
    /// The largest response body accepted, in bytes (default 64 MiB).
    #[serde(default)]
    pub max_response_bytes: Option<u64>,
}

/// HTTP methods an `http_request` node can send.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[allow(missing_docs)]
pub enum Method {
    #[default]
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "PUT")]
    Put,
    #[serde(rename = "PATCH")]
    Patch,
    #[serde(rename = "DELETE")]
    Delete,
    #[serde(rename = "HEAD")]
    Head,
    #[serde(rename = "OPTIONS")]
    Options,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
        }
    }

    /// Whether repeating the request is safe (retried on connection failures and timeouts).
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Method::Post | Method::Patch)
    }
}

/// Retry settings.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all, the first included (default 4).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Statuses that are retried (default 429, 502, 503, 504).
    #[serde(default)]
    pub on: Option<Vec<u16>>,
    /// The first backoff, in milliseconds (default 500).
    #[serde(default)]
    pub initial_ms: Option<u64>,
    /// The longest backoff, in milliseconds (default 30 000).
    #[serde(default)]
    pub max_ms: Option<u64>,
}

/// Paging settings.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaginateConfig {
    /// Expression over `response` (the current page): the next URL, or `()` to stop.
    pub next: String,
    /// JSON pointer to the items in each page's body.
    pub items: String,
    /// The most pages fetched (default 1000).
    #[serde(default)]
    pub max_pages: Option<u32>,
}

/// A body to send.
#[derive(Debug, Clone)]
pub enum Body {
    /// JSON with templates at its string leaves.
    Json(JsonTemplate),
    /// A text template.
    Text(Template),
}

/// A JSON value whose string leaves are templates.
#[derive(Debug, Clone)]
pub enum JsonTemplate {
    /// A non-string leaf, sent as is.
    Value(Value),
    /// A string leaf.
    Template(Template),
    /// An array.
    Array(Vec<JsonTemplate>),
    /// An object.
    Object(Vec<(String, JsonTemplate)>),
}

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

/// Checked retry settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all.
    pub max_attempts: u32,
    /// Retried statuses.
    pub on: Vec<u16>,
    /// First backoff.
    pub initial_ms: u64,
    /// Backoff cap.
    pub max_ms: u64,
}

/// Checked paging settings.
#[derive(Debug, Clone)]
pub struct Paginate {
    /// The next-link expression over `response`.
    pub next: Expr,
    /// Where the items are in each page.
    pub items: JsonPointer,
    /// The most pages.
    pub max_pages: u32,
}

/// Whether `exit` is an HTTP status exit: `404` or `4xx`.
pub fn is_status_exit(exit: &str) -> bool {
    let b = exit.as_bytes();
    b.len() == 3
        && (b'1'..=b'5').contains(&b[0])
        && ((b[1].is_ascii_digit() && b[2].is_ascii_digit()) || (b[1] == b'x' && b[2] == b'x'))
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn compile_json(cx: &mut CompileCx<'_>, field: &str, value: Value) -> Option<JsonTemplate> {
    Some(match value {
        Value::String(s) => JsonTemplate::Template(cx.template(field, &s, &[])?),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for (i, item) in items.into_iter().enumerate() {
                match compile_json(cx, &format!("{field}/{i}"), item) {
                    Some(t) => out.push(t),
                    None => ok = false,
                }
            }
            ok.then_some(JsonTemplate::Array(out))?
        }
        Value::Object(map) => {
            let mut out = Vec::with_capacity(map.len());
            let mut ok = true;
            for (key, item) in map {
                match compile_json(cx, &format!("{field}/{}", escape_token(&key)), item) {
                    Some(t) => out.push((key, t)),
                    None => ok = false,
                }
            }
            ok.then_some(JsonTemplate::Object(out))?
        }
        other => JsonTemplate::Value(other),
    })
}

impl NodeConfig for HttpRequestConfig {
    const KIND: &'static str = "http_request";
    const DESCRIPTION: &'static str = "Calls an HTTP API";

    fn build(self, cx: &mut CompileCx<'_>) -> Option<Box<dyn Node>> {
        let mut ok = true;
        let url = cx.template("/url", &self.url, &[]);
        let mut query = Vec::new();
        for (name, source) in self.query {
            let field = format!("/query/{}", escape_token(&name));
            match cx.template(&field, &source, &[]) {
                Some(t) => query.push((name, t)),
                None => ok = false,
            }
        }
        let mut headers = Vec::new();
        for (name, source) in self.headers {
            let field = format!("/headers/{}", escape_token(&name));
            if !is_header_name(&name) {
                cx.error(&field, format!("`{name}` is not a valid HTTP header name"));
                ok = false;
                continue;
            }
            match cx.template(&field, &source, &[]) {
                Some(t) => headers.push((name, t)),
                None => ok = false,
            }
        }
        let body = match (self.body, self.body_text) {
            (Some(_), Some(_)) => {
                cx.error("/body_text", "set `body` or `body_text`, not both");
                ok = false;
                None
            }
            (Some(json), None) => compile_json(cx, "/body", json).map(Body::Json),
            (None, Some(text)) => cx.template("/body_text", &text, &[]).map(Body::Text),
            (None, None) => None,
        };
        if let Some(auth) = &self.auth
            && auth.trim().is_empty()
        {
            cx.error("/auth", "the profile name is empty");
            ok = false;
        }
        if self.timeout_ms == Some(0) {
            cx.error("/timeout_ms", "the timeout must be at least 1 ms");
            ok = false;
        }
        let retry = self.retry.unwrap_or(RetryConfig {
            max_attempts: None,
            on: None,
            initial_ms: None,
            max_ms: None,
        });
        if retry.max_attempts == Some(0) {
            cx.error("/retry/max_attempts", "at least one attempt is needed");
            ok = false;
        }
        for (i, status) in retry.on.iter().flatten().enumerate() {
            if !(100..=599).contains(status) {
                cx.error(&format!("/retry/on/{i}"), format!("{status} is not an HTTP status"));
                ok = false;
            }
        }
        let retry = Retry {
            max_attempts: retry.max_attempts.unwrap_or(4),
            on: retry.on.unwrap_or_else(|| vec![429, 502, 503, 504]),
            initial_ms: retry.initial_ms.unwrap_or(500),
            max_ms: retry.max_ms.unwrap_or(30_000),
        };
        let into = cx.var_path("/into", self.into.as_deref().unwrap_or("response"));
        let paginate = match self.paginate {
            Some(p) => {
                let next = cx.expression("/paginate/next", &p.next, &["response"]);
                let items = cx.pointer("/paginate/items", &p.items);
                if p.max_pages == Some(0) {
                    cx.error("/paginate/max_pages", "at least one page is needed");
                    ok = false;
                }
                match (next, items) {
                    (Some(next), Some(items)) => {
                        Some(Paginate { next, items, max_pages: p.max_pages.unwrap_or(1000) })
                    }
                    _ => {
                        ok = false;
                        None
                    }
                }
            }
            None => None,
        };
        let (Some(url), Some(into), true) = (url, into, ok) else {
            return None;
        };
        Some(Box::new(HttpRequest {
            method: self.method,
            url,
            query,
            headers,
            body,
            auth: self.auth,
            timeout_ms: self.timeout_ms.unwrap_or(30_000),
            retry,
            into,
            paginate,
            max_response_bytes: self.max_response_bytes.unwrap_or(64 << 20),
        }))
    }
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

    fn run<'a>(&'a self, _cx: &'a mut RunCx<'_>) -> NodeFuture<'a> {
        Box::pin(async move {
            Err(NodeError::new(
                "unsupported",
                "http_request nodes can be validated but not run yet: this build has no HTTP client",
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_exits() {
        for exit in ["404", "4xx", "200", "5xx", "599"] {
            assert!(is_status_exit(exit), "{exit}");
        }
        for exit in ["600", "4x", "xx4", "40", "4044", "ok", "0xx"] {
            assert!(!is_status_exit(exit), "{exit}");
        }
    }
}
