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
fn select(item: Value, keep: Option<&[&'static str]>) -> Value {
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
    let zone = opts.prefer.time_zone.as_ref().map(|(name, tz)| (name.as_str(), *tz));
    let start = opts.offset.min(events.len());
    let end = start.saturating_add(opts.top).min(events.len());
    let items: Vec<Value> = events
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|e| select(e.to_json(zone), opts.select.as_deref()))
        .collect();
    let served = items.len();
    let context = match &opts.select {
        Some(fields) => format!("{}({})", cx.context, fields.join(",")),
        None => cx.context.clone(),
    };
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(context));
    if opts.count {
        body.insert("@odata.count".into(), json!(events.len()));
    }
    body.insert("value".into(), Value::Array(items));
    if end < events.len() {
        let mut pairs = opts.carried.clone();
        pairs.push(("$skiptoken".to_owned(), skiptoken::encode(cx.seed, &opts.canonical, end)));
        body.insert("@odata.nextLink".into(), json!(format!("{}?{}", cx.url, query(&pairs))));
    }
    Page { text: Value::Object(body).to_string().into(), applied: opts.prefer.applied(), served }
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
