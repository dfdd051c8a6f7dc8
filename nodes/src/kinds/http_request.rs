//! `http_request`: calls an HTTP API, with retries, status exits and paging.

use crate::clip::{MESSAGE_MAX, clip, clip_to};
use crate::expr::{Expr, Template};
use crate::kind::{CompileCx, NodeConfig, escape_token};
use crate::node::{Node, NodeError, NodeFuture, Outcome, RunCx};
use crate::pointer::JsonPointer;
use crate::scrub::{REDACTED, is_secret_param};
use crate::services::{Http, HttpError, HttpEvent, HttpResponse};
use crate::vars::{JsonText, VarPath};
use indexmap::IndexMap;
use rhai::{Array, Dynamic, Map};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use std::time::{Duration, Instant};
use url::Url;

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
    /// evaluates to `()` is left out. Each rendered value is URL-encoded as it is added.
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
    /// The largest response body accepted, in bytes (default 64 MiB, at most 1 GiB).
    #[serde(default)]
    #[schemars(range(max = MAX_RESPONSE_BYTES))]
    pub max_response_bytes: Option<u64>,
}

/// The default of `max_response_bytes` (64 MiB).
pub const DEFAULT_RESPONSE_BYTES: u64 = 64 << 20;

/// The highest `max_response_bytes` a flow may set (1 GiB): a response body is held in memory
/// whole, and the limit is what keeps a server from making the process allocate without end.
pub const MAX_RESPONSE_BYTES: u64 = 1 << 30;

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

/// Compiles a JSON body whose string leaves are templates; `field` is the pointer of `value`,
/// one buffer extended and cut back for each member, so that a long key doesn't cost its length
/// again for every value below it.
fn compile_json(cx: &mut CompileCx<'_>, field: &mut String, value: Value) -> Option<JsonTemplate> {
    let len = field.len();
    Some(match value {
        Value::String(s) => JsonTemplate::Template(cx.template(field, &s, &[])?),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for (i, item) in items.into_iter().enumerate() {
                field.truncate(len);
                field.push_str(&format!("/{i}"));
                match compile_json(cx, field, item) {
                    Some(t) => out.push(t),
                    None => ok = false,
                }
            }
            field.truncate(len);
            ok.then_some(JsonTemplate::Array(out))?
        }
        Value::Object(map) => {
            let mut out = Vec::with_capacity(map.len());
            let mut ok = true;
            for (key, item) in map {
                field.truncate(len);
                field.push('/');
                field.push_str(&escape_token(&key));
                match compile_json(cx, field, item) {
                    Some(t) => out.push((key, t)),
                    None => ok = false,
                }
            }
            field.truncate(len);
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
            if source.contains("url_encode(") {
                // The value goes in as written and is encoded once, when the URL is built.
                cx.warning(
                    &field,
                    "query values are URL-encoded when the request is built: `url_encode` here \
                     encodes twice (it is for holes in `url`)",
                );
            }
            match cx.template(&field, &source, &[]) {
                Some(t) => query.push((name, t)),
                None => ok = false,
            }
        }
        let mut headers = Vec::new();
        for (name, source) in self.headers {
            let field = format!("/headers/{}", escape_token(&name));
            if !is_header_name(&name) {
                cx.error(&field, format!("`{}` is not a valid HTTP header name", clip(&name)));
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
            (Some(json), None) => compile_json(cx, &mut "/body".to_owned(), json).map(Body::Json),
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
        if let Some(limit) = self.max_response_bytes
            && limit > MAX_RESPONSE_BYTES
        {
            cx.error(
                "/max_response_bytes",
                format!(
                    "{limit} is over the maximum of {MAX_RESPONSE_BYTES} bytes (1 GiB): a response \
                     body is held in memory whole"
                ),
            );
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
            max_response_bytes: self.max_response_bytes.unwrap_or(DEFAULT_RESPONSE_BYTES),
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

    fn run<'a>(&'a self, cx: &'a mut RunCx<'_>) -> NodeFuture<'a> {
        Box::pin(self.execute(cx))
    }
}

/// The longest `Retry-After` honoured: a longer wait is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// A request ready to send, before credentials.
struct Prepared {
    url: Url,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl HttpRequest {
    async fn execute(&self, cx: &mut RunCx<'_>) -> Result<Outcome, NodeError> {
        let http = cx.services().http()?;
        let mut prepared = self.prepare(cx)?;
        let Some(paginate) = &self.paginate else {
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
            return exit;
        };
        let mut items = Array::new();
        let mut pages: rhai::INT = 0;
        loop {
            let response = self.exchange(cx, http, &prepared).await?;
            let status = response.status;
            let (value, _) = self.response_value(response, false)?;
            if !(200..300).contains(&status) {
                let exit = self.status_exit(cx, status, &value);
                cx.write(&self.into, value).map_err(write_failed)?;
                return exit;
            }
            pages += 1;
            // Shared for the expression, then taken back without a copy.
            let shared = value.into_shared();
            let next = cx
                .eval_with(&paginate.next, [("response", shared.clone())])
                .map_err(|e| super::eval_failed("paginate.next", e))?
                .flatten();
            let mut page = shared.flatten().try_cast::<Map>().unwrap_or_default();
            let body = page.remove("body").unwrap_or(Dynamic::UNIT);
            let found = paginate.items.take(body).ok_or_else(|| {
                NodeError::new(
                    "http",
                    format!("page {pages} has nothing at `{}`", clip(paginate.items.as_str())),
                )
            })?;
            let kind = super::type_name(&found);
            let page_items = found.try_cast::<Array>().ok_or_else(|| {
                NodeError::new(
                    "http",
                    format!(
                        "page {pages}: `{}` is {kind}, not a list",
                        clip(paginate.items.as_str())
                    ),
                )
            })?;
            items.extend(page_items);
            let next = if next.is_unit() {
                None
            } else {
                let kind = super::type_name(&next);
                Some(next.into_immutable_string().map_err(|_| {
                    NodeError::expression(format!("`paginate.next` gave {kind}, not a URL or ()"))
                })?)
            };
            let Some(next) = next.filter(|n| !n.is_empty()) else {
                let mut result = page;
                result.insert("pages".into(), Dynamic::from_int(pages));
                result.insert("items".into(), Dynamic::from_array(items));
                cx.write(&self.into, Dynamic::from_map(result)).map_err(write_failed)?;
                // A 2xx: `ok`, unless the flow wires the exact status or its class.
                return self.status_exit(cx, status, &Dynamic::UNIT);
            };
            if pages >= rhai::INT::from(paginate.max_pages) {
                return Err(NodeError::new(
                    "http",
                    format!(
                        "stopped after max_pages ({}) pages with more to fetch; raise `paginate.max_pages`",
                        paginate.max_pages
                    ),
                ));
            }
            prepared.url = prepared
                .url
                .join(&next)
                .map_err(|e| NodeError::new("http", format!("the next link is not a URL ({e})")))?;
        }
    }

    /// Renders the URL, query, headers and body.
    fn prepare(&self, cx: &mut RunCx<'_>) -> Result<Prepared, NodeError> {
        let text = cx.render_string(&self.url).map_err(|e| super::eval_failed("url", e))?;
        let mut url = Url::parse(&text)
            .map_err(|e| NodeError::new("http", format!("`url` is not a valid URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(NodeError::new(
                "http",
                format!("`url` must be http or https, not `{}`", clip(url.scheme())),
            ));
        }
        for (name, template) in &self.query {
            let value =
                cx.render(template).map_err(|e| super::eval_failed(&format!("query.{name}"), e))?;
            if !value.is_unit() {
                url.query_pairs_mut().append_pair(name, &stringify(&value));
            }
        }
        let mut headers = Vec::with_capacity(self.headers.len() + 1);
        for (name, template) in &self.headers {
            let value = cx
                .render_string(template)
                .map_err(|e| super::eval_failed(&format!("headers.{name}"), e))?;
            headers.push((name.clone(), value));
        }
        let body = match &self.body {
            None => None,
            Some(Body::Text(template)) => {
                let text =
                    cx.render_string(template).map_err(|e| super::eval_failed("body_text", e))?;
                default_header(&mut headers, "content-type", "text/plain; charset=utf-8");
                Some(text.into_bytes())
            }
            Some(Body::Json(template)) => {
                let value = render_json(cx, template, "body")?;
                default_header(&mut headers, "content-type", "application/json");
                Some(
                    serde_json::to_vec(&value)
                        .map_err(|e| NodeError::new("http", e.to_string()))?,
                )
            }
        };
        Ok(Prepared { url, headers, body })
    }

    /// Sends one request with retries, credentials and one refresh after a 401.
    async fn exchange(
        &self,
        cx: &mut RunCx<'_>,
        http: &dyn Http,
        prepared: &Prepared,
    ) -> Result<HttpResponse, NodeError> {
        // Redacting the URL re-parses it: done only for a trace, a debug line or an error.
        let shown = || display_url(&prepared.url);
        // A trace or a debug line shows a long URL's start, an error message less.
        let traced = || clip_to(&shown(), MESSAGE_MAX).to_string();
        let host = prepared.url.host_str().unwrap_or_default().to_owned();
        let port = prepared.url.port();
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let mut request = crate::services::HttpRequest {
                method: self.method.as_str(),
                url: prepared.url.to_string(),
                headers: prepared.headers.clone(),
                secret_headers: Vec::new(),
                secret_query: Vec::new(),
                body: prepared.body.clone(),
                timeout: Duration::from_millis(self.timeout_ms),
                max_response_bytes: self.max_response_bytes,
            };
            let mut generation = None;
            let mut _slot = None;
            if let Some(profile) = &self.auth {
                let credentials = cx.services().credentials(profile)?;
                let credential = credentials.credential(profile, &host, port).await?;
                request.secret_headers = credential.headers;
                request.secret_query = credential.query;
                generation = Some(credential.generation);
                _slot = credentials.slot(profile).await;
            }
            let started = Instant::now();
            let result = http.send(request).await;
            let ms = started.elapsed().as_millis().try_into().unwrap_or(u64::MAX);
            let status = result.as_ref().ok().map(|r| r.status);
            // Graph's id of the request, which its support asks for.
            let request_id = result.as_ref().ok().and_then(|r| r.header("request-id"));
            tracing::debug!(node = cx.node_id(), method = self.method.as_str(), url = %traced(), status, attempt, ms, request_id, "http");
            cx.record_http(|| HttpEvent {
                method: self.method.as_str(),
                url: traced(),
                status,
                attempt,
                ms,
                request_id: request_id.map(str::to_owned),
            });
            drop(_slot);
            let wait = match &result {
                Ok(response) if response.status == 401 && !refreshed && self.auth.is_some() => {
                    // The token may have expired or been revoked: one fresh token, one retry.
                    refreshed = true;
                    if let (Some(profile), Some(generation)) = (&self.auth, generation) {
                        cx.services().credentials(profile)?.invalidate(profile, generation);
                    }
                    attempt -= 1;
                    continue;
                }
                Ok(response)
                    if self.retry.on.contains(&response.status)
                        && attempt < self.retry.max_attempts =>
                {
                    retry_after(response).unwrap_or_else(|| self.backoff(attempt))
                }
                Err(err)
                    if err.is_transient()
                        && self.method.is_idempotent()
                        && attempt < self.retry.max_attempts =>
                {
                    self.backoff(attempt)
                }
                _ => {
                    return result.map_err(|err| {
                        let category =
                            if matches!(err, HttpError::Timeout(_)) { "timeout" } else { "http" };
                        NodeError::new(
                            category,
                            format!(
                                "{} {}: {err} (attempt {attempt})",
                                self.method.as_str(),
                                clip(&shown())
                            ),
                        )
                    });
                }
            };
            tracing::debug!(
                node = cx.node_id(),
                wait_ms = wait.as_millis() as u64,
                attempt,
                "retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Exponential backoff with jitter: a random wait between half and all of
    /// `initial · 2^(attempt-1)`, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.retry.initial_ms.saturating_mul(1u64 << (attempt - 1).min(20));
        let capped = exp.min(self.retry.max_ms);
        let jitter = 0.5 + 0.5 * random_fraction();
        Duration::from_millis((capped as f64 * jitter) as u64)
    }

    /// `{ status, headers, body }`, the body parsed as JSON when the response says JSON; with
    /// `keep_text`, JSON is only checked and comes back beside the value (whose `body` is then
    /// `()`) as text to write at `body`.
    fn response_value(
        &self,
        mut response: HttpResponse,
        keep_text: bool,
    ) -> Result<(Dynamic, Option<JsonText>), NodeError> {
        let is_json = response.header("content-type").is_some_and(is_json_type);
        let body = if response.body.is_empty() {
            if is_json { Dynamic::UNIT } else { Dynamic::from(String::new()) }
        } else if is_json {
            if keep_text {
                match JsonText::new(std::mem::take(&mut response.body)) {
                    Ok(text) => {
                        return Ok((Self::response_map(&response, Dynamic::UNIT), Some(text)));
                    }
                    // Not JSON: parsed below, for the error and its position.
                    Err(bytes) => response.body = bytes,
                }
            }
            crate::expr::parse_json(&response.body).map_err(|e| {
                NodeError::new(
                    "http",
                    format!(
                        "the HTTP {} response body is not valid JSON: {} (line {}, column {})",
                        response.status,
                        strip_position(&e.to_string()),
                        e.line(),
                        e.column()
                    ),
                )
                .with_status(response.status)
            })?
        } else {
            Dynamic::from(String::from_utf8_lossy(&response.body).into_owned())
        };
        Ok((Self::response_map(&response, body), None))
    }

    /// `{ status, headers, body }` of a response.
    fn response_map(response: &HttpResponse, body: Dynamic) -> Dynamic {
        let mut headers = Map::new();
        for (name, value) in &response.headers {
            match headers.get_mut(name.as_str()) {
                Some(existing) => {
                    let joined = format!("{existing}, {value}");
                    *existing = joined.into();
                }
                None => {
                    headers.insert(name.as_str().into(), value.clone().into());
                }
            }
        }
        let mut value = Map::new();
        value.insert("status".into(), Dynamic::from_int(response.status.into()));
        value.insert("headers".into(), Dynamic::from_map(headers));
        value.insert("body".into(), body);
        Dynamic::from_map(value)
    }

    /// The exit for a final status: the exact code if wired, then its class, then `ok` for 2xx;
    /// anything else is an error carrying the status and the body's error code.
    fn status_exit(
        &self,
        cx: &RunCx<'_>,
        status: u16,
        value: &Dynamic,
    ) -> Result<Outcome, NodeError> {
        let exact = status.to_string();
        if cx.is_wired(&exact) {
            return Ok(Outcome::Exit(exact.into()));
        }
        let class = format!("{}xx", status / 100);
        if cx.is_wired(&class) {
            return Ok(Outcome::Exit(class.into()));
        }
        if (200..300).contains(&status) {
            return Ok(Outcome::OK);
        }
        let (code, detail) = error_details(value);
        let mut message = format!("{} answered HTTP {status}", self.method.as_str());
        if let Some(code) = &code {
            message.push_str(&format!(" {}", clip(code)));
        }
        if let Some(detail) = detail {
            message.push_str(&format!(": {}", clip(&detail)));
        }
        let err = NodeError::new("http", message).with_status(status);
        Err(match code {
            Some(code) => err.with_code(code),
            None => err,
        })
    }
}

fn write_failed(e: crate::vars::VarsError) -> NodeError {
    NodeError::write_failed("http", &e)
}

/// The error code and message of a Graph (`{ error: { code, message } }`) or OAuth
/// (`{ error, error_description }`) error body.
fn error_details(value: &Dynamic) -> (Option<String>, Option<String>) {
    let text = |d: Option<&Dynamic>| {
        d.and_then(|d| d.clone().into_immutable_string().ok()).map(|s| s.to_string())
    };
    let Some(response) = value.read_lock::<Map>() else { return (None, None) };
    let Some(body) = response.get("body").and_then(|b| b.read_lock::<Map>().map(|m| m.clone()))
    else {
        return (None, None);
    };
    match body.get("error") {
        Some(error) if error.is_map() => {
            let error = error.read_lock::<Map>().map(|m| m.clone()).unwrap_or_default();
            (text(error.get("code")), text(error.get("message")))
        }
        Some(error) => {
            let description = text(body.get("error_description"))
                .map(|d| d.lines().next().unwrap_or("").to_owned());
            (text(Some(error)), description)
        }
        None => (None, None),
    }
}

/// The URL for logs and traces: query values whose names look secret are redacted.
fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_param(&k) { REDACTED.to_owned() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.set_password(None).ok();
    shown.into()
}

fn is_json_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json") || essence == "text/json"
}

fn strip_position(message: &str) -> &str {
    message.find(" at line ").map_or(message, |i| &message[..i])
}

fn default_header(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
        headers.push((name.to_owned(), value.to_owned()));
    }
}

/// A template value as query text: strings as they are, everything else as JSON.
fn stringify(value: &Dynamic) -> String {
    if let Ok(s) = value.clone().into_immutable_string() {
        return s.to_string();
    }
    crate::expr::dynamic_to_json(value).map(|v| v.to_string()).unwrap_or_default()
}

fn render_json(
    cx: &mut RunCx<'_>,
    template: &JsonTemplate,
    field: &str,
) -> Result<Value, NodeError> {
    Ok(match template {
        JsonTemplate::Value(v) => v.clone(),
        JsonTemplate::Template(t) => {
            let value = cx.render(t).map_err(|e| super::eval_failed(field, e))?;
            crate::expr::dynamic_to_json(&value)
                .map_err(|e| NodeError::expression(format!("`{}`: {e}", clip(field))))?
        }
        JsonTemplate::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, t)| render_json(cx, t, &format!("{field}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        JsonTemplate::Object(members) => Value::Object(
            members
                .iter()
                .map(|(k, t)| Ok((k.clone(), render_json(cx, t, &format!("{field}.{k}"))?)))
                .collect::<Result<_, NodeError>>()?,
        ),
    })
}

/// `Retry-After` as seconds, fractional seconds or an HTTP date, capped.
pub fn retry_after(response: &HttpResponse) -> Option<Duration> {
    let value = response.header("retry-after")?.trim();
    let wait = if let Ok(secs) = value.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64()))
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        let delta = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
        delta.to_std().unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// A fraction in [0, 1) from the hasher's random keys: enough for jitter.
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, RandomState};
    let nanos = Instant::now().elapsed().as_nanos();
    (RandomState::new().hash_one(nanos) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &[(&str, &str)]) -> HttpResponse {
        HttpResponse {
            status: 429,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: Vec::new(),
        }
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(retry_after(&response(&[("retry-after", "2")])), Some(Duration::from_secs(2)));
        assert_eq!(
            retry_after(&response(&[("retry-after", "2.128")])),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(retry_after(&response(&[("retry-after", "9999")])), Some(MAX_RETRY_AFTER));
        assert_eq!(
            retry_after(&response(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")])),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&response(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&response(&[])), None);
    }

    #[test]
    fn urls_for_traces_hide_secret_query_values() {
        let url =
            Url::parse("https://x.test/a?startDateTime=2026&api_key=k1&access_token=t&$top=10")
                .unwrap();
        let shown = display_url(&url);
        assert!(!shown.contains("k1") && !shown.contains("=t&"), "{shown}");
        assert!(shown.contains("startDateTime=2026"), "{shown}");
    }

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
