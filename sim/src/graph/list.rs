//! One page of a Graph collection: slicing, `$select`, time zone, the next link.

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::event::Event;
use crate::urlenc::query;

use super::options::ListOptions;
use super::skiptoken;
use crate::pages::Page;

/// Graph's JSON content type.
pub(crate) const ODATA_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// Keeps `id`, `@odata.etag` and the selected properties.
fn select(item: Value, keep: Option<&[&str]>) -> Value {
    let (Some(keep), Value::Object(map)) = (keep, &item) else {
        return item;
    };
    let kept: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| {
            k.as_str() == "id" || k.as_str() == "@odata.etag" || keep.contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(kept)
}

/// Everything a page response needs besides the events.
pub(crate) struct PageContext<'a> {
    /// `@odata.context` without the `$select` suffix.
    pub(crate) context: String,
    /// The absolute URL of this request without its query (`http://127.0.0.1:1/v1.0/me/events`).
    pub(crate) url: &'a str,
    pub(crate) seed: u64,
}

impl Page {
    /// The 200 that carries it.
    pub(crate) fn response(&self) -> Response {
        ok_text(self.text.clone(), self.applied.clone())
    }
}

/// The page of `events` the options ask for.
pub(crate) fn page(events: &[&Event], opts: &ListOptions, cx: &PageContext<'_>) -> Page {
    let zone = opts.prefer.zone();
    let context = match &opts.select {
        Some(fields) => format!("{}({})", cx.context, fields.join(",")),
        None => cx.context.clone(),
    };
    Listing {
        context,
        offset: opts.offset,
        top: opts.top,
        select: opts.select.as_deref(),
        count: opts.count,
        carried: &opts.carried,
        canonical: &opts.canonical,
        url: cx.url,
        seed: cx.seed,
        applied: opts.prefer.applied(),
    }
    .page(events, |e| e.to_json(zone))
}

/// How one page of a collection is cut and linked, once its request's options are read.
pub(crate) struct Listing<'a> {
    /// `@odata.context`, as written.
    pub(crate) context: String,
    /// Where the page starts.
    pub(crate) offset: usize,
    /// Page size.
    pub(crate) top: usize,
    /// Properties to keep besides `id` and `@odata.etag`; `None` keeps all.
    pub(crate) select: Option<&'a [&'a str]>,
    /// Whether to give `@odata.count`.
    pub(crate) count: bool,
    /// The query pairs the next link carries besides its `$skiptoken`.
    pub(crate) carried: &'a [(String, String)],
    /// What the next link's skip token is bound to.
    pub(crate) canonical: &'a str,
    /// The absolute URL of the request without its query.
    pub(crate) url: &'a str,
    /// The seed skip tokens are signed with.
    pub(crate) seed: u64,
    /// The `Preference-Applied` value.
    pub(crate) applied: Option<String>,
}

impl Listing<'_> {
    /// The page of `items`, each written by `to_json`.
    pub(crate) fn page<T>(self, items: &[T], to_json: impl Fn(&T) -> Value) -> Page {
        let start = self.offset.min(items.len());
        let end = start.saturating_add(self.top).min(items.len());
        let value: Vec<Value> = items
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .map(|item| select(to_json(item), self.select))
            .collect();
        let served = value.len();
        let mut body = Map::new();
        body.insert("@odata.context".into(), json!(self.context));
        if self.count {
            body.insert("@odata.count".into(), json!(items.len()));
        }
        body.insert("value".into(), Value::Array(value));
        if end < items.len() {
            let mut pairs = self.carried.to_vec();
            let token = skiptoken::encode(self.seed, self.canonical, end);
            pairs.push(("$skiptoken".to_owned(), token));
            body.insert("@odata.nextLink".into(), json!(format!("{}?{}", self.url, query(&pairs))));
        }
        Page { text: Value::Object(body).to_string().into(), applied: self.applied, served }
    }
}

/// A 200 with Graph's content type and the applied preferences.
pub(crate) fn ok_json(body: &Value, applied: Option<String>) -> Response {
    ok_text(body.to_string().into(), applied)
}

fn ok_text(text: Bytes, applied: Option<String>) -> Response {
    let mut response = (StatusCode::OK, text).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ODATA_JSON));
    headers.insert("odata-version", HeaderValue::from_static("4.0"));
    if let Some(v) = applied.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert("preference-applied", v);
    }
    response
}
