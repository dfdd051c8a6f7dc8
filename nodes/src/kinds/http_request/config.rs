//! The fields of an `http_request` node and their checks: the config, built into an
//! [`HttpRequest`].

use super::HttpRequest;
use super::paging::Paginate;
use super::request::{Body, compile_json};
use super::retry::Retry;
use crate::clip::clip;
use crate::kind::{CompileCx, KindDoc, KindInfo, NodeConfig, Writes, escape_token};
use crate::node::Node;
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
    #[schemars(extend("default" = "GET"))]
    pub method: Method,
    /// The URL to call. Holes are inserted verbatim: wrap a value that may hold `/`, `?`, `#`,
    /// `&` or a space in `url_encode(…)`.
    pub url: String,
    /// Query parameters, name → value, added after a query already in `url`. Each value is
    /// URL-encoded for you; a value that is exactly one hole and gives `()` leaves the
    /// parameter out.
    #[serde(default)]
    pub query: IndexMap<String, String>,
    /// Request headers, name → value (`()` gives an empty value).
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// A JSON body, sent as `application/json` unless a `Content-Type` header says otherwise.
    /// Its string leaves are templates; a leaf that is exactly one hole keeps its JSON type
    /// (a number, a list, an object). Not with `body_text`.
    #[serde(default)]
    pub body: Option<Value>,
    /// A text body, sent as `text/plain; charset=utf-8` unless a `Content-Type` header says
    /// otherwise. Not with `body`.
    #[serde(default)]
    pub body_text: Option<String>,
    /// The authorization profile whose credentials the request carries (`Authorization:
    /// Bearer …` for OAuth 2.0), only to the profile's `hosts`; after a 401 the node gets a
    /// fresh token and tries once more.
    #[serde(default)]
    pub auth: Option<String>,
    /// Holds the request to the profile's `max_concurrent_per_key` requests in flight for the
    /// key this template gives (`${params.user}`: Graph allows four at once per app and
    /// mailbox), across every run of the process. Needs `auth`.
    #[serde(default)]
    pub concurrency_key: Option<String>,
    /// The time allowed for one attempt, in milliseconds: past it the attempt fails (category
    /// `timeout`), and is retried unless the method is POST or PATCH.
    #[serde(default)]
    #[schemars(extend("default" = DEFAULT_TIMEOUT_MS))]
    pub timeout_ms: Option<u64>,
    /// When and how to retry: the statuses of `retry.on`, and failures to get an answer
    /// unless the method is POST or PATCH, with exponential backoff and `Retry-After`
    /// honoured up to 120 s.
    #[serde(default)]
    pub retry: Option<RetryConfig>,
    /// The variable that receives the response, 2xx or not: `{ status, headers, body }`, or
    /// with `paginate` `{ status, headers, pages, items }`.
    #[serde(default)]
    #[schemars(extend("default" = DEFAULT_INTO))]
    pub into: Option<String>,
    /// Follows next links and collects the items of every page into `items`.
    #[serde(default)]
    pub paginate: Option<PaginateConfig>,
    /// The largest response body accepted, in bytes (64 MiB by default, at most 1 GiB); a
    /// larger one fails the node.
    #[serde(default)]
    #[schemars(range(max = MAX_RESPONSE_BYTES), extend("default" = DEFAULT_RESPONSE_BYTES))]
    pub max_response_bytes: Option<u64>,
}

/// The default of `timeout_ms`.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// The default of `into`.
pub const DEFAULT_INTO: &str = "response";

/// The defaults of `retry`: attempts in all, the statuses retried, the first and the longest
/// backoff in milliseconds.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;
/// See [`DEFAULT_MAX_ATTEMPTS`].
pub const DEFAULT_RETRY_ON: [u16; 4] = [429, 502, 503, 504];
/// See [`DEFAULT_MAX_ATTEMPTS`].
pub const DEFAULT_INITIAL_MS: u64 = 500;
/// See [`DEFAULT_MAX_ATTEMPTS`].
pub const DEFAULT_MAX_MS: u64 = 30_000;

/// The default of `paginate.max_pages`.
pub const DEFAULT_MAX_PAGES: u32 = 1000;

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
    /// Attempts in all, the first included.
    #[serde(default)]
    #[schemars(extend("default" = DEFAULT_MAX_ATTEMPTS))]
    pub max_attempts: Option<u32>,
    /// The statuses that are retried.
    #[serde(default)]
    #[schemars(extend("default" = DEFAULT_RETRY_ON))]
    pub on: Option<Vec<u16>>,
    /// The first backoff, in milliseconds; each next one doubles, up to `max_ms`, and waits a
    /// random half to all of it.
    #[serde(default)]
    #[schemars(extend("default" = DEFAULT_INITIAL_MS))]
    pub initial_ms: Option<u64>,
    /// The longest backoff, in milliseconds.
    #[serde(default)]
    #[schemars(extend("default" = DEFAULT_MAX_MS))]
    pub max_ms: Option<u64>,
}

/// Paging settings.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaginateConfig {
    /// Over `response`, the page just fetched (`{ status, headers, body }`): the next page's
    /// URL, or `()` to stop. For Graph: `response.body["@odata.nextLink"]`.
    pub next: String,
    /// JSON pointer to the list of items in each page's body (`/value`).
    pub items: String,
    /// The most pages fetched: a next link after that many fails the node.
    #[serde(default)]
    #[schemars(extend("default" = DEFAULT_MAX_PAGES))]
    pub max_pages: Option<u32>,
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl NodeConfig for HttpRequestConfig {
    const KIND: &'static str = "http_request";
    const DESCRIPTION: &'static str = "Calls an HTTP API";
    const INFO: &'static KindInfo = &KindInfo {
        status_exits: true,
        glyph: "⇄",
        expressions: &["/paginate/next"],
        templates: &["/url", "/query", "/headers", "/body", "/body_text", "/concurrency_key"],
        profiles: &["/auth"],
        ..KindInfo::DEFAULT
    };
    const DOC: &'static KindDoc = &KindDoc {
        exits: &[
            ("ok", "A 2xx response that no status exit takes (after retries)."),
            (
                "error",
                "No answer (connection refused, a timeout), a status of 300 or more that no \
                 status exit takes (after retries), a body that claims to be JSON and isn't, or a \
                 paging problem. With a response, `into` holds it.",
            ),
        ],
        writes: &[
            Writes {
                at: "`into`",
                default: Some(DEFAULT_INTO),
                value: "`{ status, headers, body }` for every response, 2xx or not: the status (a \
                        number), the headers (lower-case names; a repeated header's values \
                        joined with `, `), the body (parsed JSON when the `Content-Type` is JSON, \
                        else a string; an empty JSON body is `()`).",
            },
            Writes {
                at: "`into`, with `paginate`",
                default: Some(DEFAULT_INTO),
                value: "`{ status, headers, pages, items }`: the items of every page in order, \
                        how many pages were fetched, and the last page's status and headers. \
                        There is no `body`.",
            },
        ],
        example: r#"{
  "id": "list",
  "type": "http_request",
  "url": "${params.graph_base}/users/${url_encode(params.user)}/calendars",
  "query": { "$select": "id,name" },
  "auth": "graph-app",
  "paginate": { "next": "response.body[\"@odata.nextLink\"]", "items": "/value" },
  "into": "calendars"
}"#,
    };

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
        let concurrency_key = match &self.concurrency_key {
            None => None,
            Some(_) if self.auth.is_none() => {
                cx.error(
                    "/concurrency_key",
                    "`concurrency_key` counts requests per key against the `auth` profile's \
                     `max_concurrent_per_key`: it needs `auth`",
                );
                ok = false;
                None
            }
            Some(source) => {
                let template = cx.template("/concurrency_key", source, &[]);
                ok &= template.is_some();
                template
            }
        };
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
            max_attempts: retry.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
            on: retry.on.unwrap_or_else(|| DEFAULT_RETRY_ON.to_vec()),
            initial_ms: retry.initial_ms.unwrap_or(DEFAULT_INITIAL_MS),
            max_ms: retry.max_ms.unwrap_or(DEFAULT_MAX_MS),
        };
        let into = cx.var_path("/into", self.into.as_deref().unwrap_or(DEFAULT_INTO));
        let paginate = match self.paginate {
            Some(p) => {
                let next = cx.expression("/paginate/next", &p.next, &["response"]);
                let items = cx.pointer("/paginate/items", &p.items);
                if p.max_pages == Some(0) {
                    cx.error("/paginate/max_pages", "at least one page is needed");
                    ok = false;
                }
                match (next, items) {
                    (Some(next), Some(items)) => Some(Paginate {
                        next,
                        items,
                        max_pages: p.max_pages.unwrap_or(DEFAULT_MAX_PAGES),
                    }),
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
            concurrency_key,
            timeout_ms: self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
            retry,
            into,
            paginate,
            max_response_bytes: self.max_response_bytes.unwrap_or(DEFAULT_RESPONSE_BYTES),
        }))
    }
}
