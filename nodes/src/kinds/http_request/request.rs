//! The request as each run renders it: URL, query, headers and a body, from templates
//! compiled when the flow loads.

use super::HttpRequest;
use crate::clip::clip;
use crate::expr::Template;
use crate::kind::{CompileCx, escape_token};
use crate::node::{NodeError, RunCx};
use rhai::Dynamic;
use serde_json::Value;
use url::Url;

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

/// Compiles a JSON body whose string leaves are templates; `field` is the pointer of `value`,
/// one buffer extended and cut back for each member, so that a long key doesn't cost its length
/// again for every value below it.
pub(super) fn compile_json(
    cx: &mut CompileCx<'_>,
    field: &mut String,
    value: Value,
) -> Option<JsonTemplate> {
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

/// A request ready to send, before credentials.
pub(super) struct Prepared {
    pub(super) url: Url,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Option<Vec<u8>>,
    /// The key of `concurrency_key`, rendered.
    pub(super) concurrency_key: Option<String>,
}

impl HttpRequest {
    /// Renders the URL, query, headers and body.
    pub(super) fn prepare(&self, cx: &mut RunCx<'_>) -> Result<Prepared, NodeError> {
        let text = cx.render_string(&self.url).map_err(|e| crate::kinds::eval_failed("url", e))?;
        let mut url = Url::parse(&text)
            .map_err(|e| NodeError::new("http", format!("`url` is not a valid URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(NodeError::new(
                "http",
                format!("`url` must be http or https, not `{}`", clip(url.scheme())),
            ));
        }
        for (name, template) in &self.query {
            let value = cx
                .render(template)
                .map_err(|e| crate::kinds::eval_failed(&format!("query.{name}"), e))?;
            if !value.is_unit() {
                url.query_pairs_mut().append_pair(name, &stringify(&value));
            }
        }
        let mut headers = Vec::with_capacity(self.headers.len() + 1);
        for (name, template) in &self.headers {
            let value = cx
                .render_string(template)
                .map_err(|e| crate::kinds::eval_failed(&format!("headers.{name}"), e))?;
            headers.push((name.clone(), value));
        }
        let body = match &self.body {
            None => None,
            Some(Body::Text(template)) => {
                let text = cx
                    .render_string(template)
                    .map_err(|e| crate::kinds::eval_failed("body_text", e))?;
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
        let concurrency_key = match &self.concurrency_key {
            Some(template) => Some(
                cx.render_string(template)
                    .map_err(|e| crate::kinds::eval_failed("concurrency_key", e))?,
            ),
            None => None,
        };
        Ok(Prepared { url, headers, body, concurrency_key })
    }
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
            let value = cx.render(t).map_err(|e| crate::kinds::eval_failed(field, e))?;
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
