//! Canned HTTP: an [`Http`] that answers from a list of canned exchanges, records every request,
//! and never touches the network (but for the simulator on loopback, when it is asked to pass
//! on what no exchange answers).

use super::file::{Canned, RequestMatch};
use crate::simulated::{SimRouted, SimTarget};
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};
use weft_nodes::clip;
use weft_nodes::secret::Secret;
use weft_nodes::services::{BoxFuture, Http, HttpError, HttpRequest, HttpResponse};

/// What stands in for secret values in recorded requests.
pub use weft_nodes::scrub::REDACTED;

/// A request as the canned HTTP received it.
#[derive(Debug, Clone, PartialEq)]
pub struct SentRequest {
    /// The method.
    pub method: String,
    /// The full URL, query included.
    pub url: String,
    /// The headers, names as the node wrote them; credential headers hold the stand-in token,
    /// or `[redacted]` when real profiles are used.
    pub headers: Vec<(String, String)>,
    /// The body, when there is one.
    pub body: Option<Vec<u8>>,
}

impl SentRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, when it is JSON.
    pub fn json(&self) -> Option<Value> {
        self.body.as_deref().and_then(|b| serde_json::from_slice(b).ok())
    }

    /// The body as text (lossy), when there is one.
    pub fn text(&self) -> Option<String> {
        self.body.as_deref().map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// The request as JSON: `{ method, url, headers, json | body }` (header names lower case).
    pub fn to_json(&self) -> Value {
        let mut headers = Map::new();
        for (name, value) in &self.headers {
            headers.insert(name.to_ascii_lowercase(), Value::String(value.clone()));
        }
        let mut out = json!({ "method": self.method, "url": self.url, "headers": headers });
        if let Some(body) = self.json() {
            out["json"] = body;
        } else if let Some(text) = self.text() {
            out["body"] = Value::String(text);
        }
        out
    }

    /// One line for messages: `GET https://…`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.url)
    }
}

struct Entry {
    canned: Canned,
    used: u32,
}

/// Answers requests from canned exchanges, in order of appearance; records what was sent.
pub struct CannedHttp {
    entries: Mutex<Vec<Entry>>,
    sent: Mutex<Vec<SentRequest>>,
    unmatched: Mutex<Vec<(SentRequest, Vec<String>)>>,
    expose_credentials: bool,
    /// Where requests that no entry answers go when they are the simulator's to answer.
    simulator: Option<SimRouted>,
}

impl CannedHttp {
    /// Canned HTTP answering from `canned`. `expose_credentials` keeps credential headers in
    /// the recorded requests (right for stand-in test tokens; real tokens are redacted).
    pub fn new(canned: Vec<Canned>, expose_credentials: bool) -> Self {
        Self {
            entries: Mutex::new(
                canned.into_iter().map(|canned| Entry { canned, used: 0 }).collect(),
            ),
            sent: Mutex::new(Vec::new()),
            unmatched: Mutex::new(Vec::new()),
            expose_credentials,
            simulator: None,
        }
    }

    /// Sends the requests that no entry answers to the simulator at `target` through `http`,
    /// when they are for it (Microsoft's sign-in and Graph hosts, or its own address), instead
    /// of failing them; they are recorded like the others.
    pub fn or_simulator(mut self, target: SimTarget, http: Arc<dyn Http>) -> Self {
        self.simulator = Some(SimRouted::new(http, target));
        self
    }

    /// The requests received so far, in order (answered or not).
    pub fn requests(&self) -> Vec<SentRequest> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Requests no canned entry matched, each with why every entry did not match.
    pub fn unmatched(&self) -> Vec<(SentRequest, Vec<String>)> {
        self.unmatched.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The request as reports show it (credentials redacted unless exposed) and as it was
    /// really sent (for matching).
    fn record(&self, request: &HttpRequest) -> (SentRequest, SentRequest) {
        let shown = |value: &Secret| {
            if self.expose_credentials { value.expose().to_owned() } else { REDACTED.into() }
        };
        let (mut headers, mut real_headers) = (request.headers.clone(), request.headers.clone());
        for (name, value) in &request.secret_headers {
            real_headers.push((name.clone(), value.expose().to_owned()));
            headers.push((name.clone(), shown(value)));
        }
        let with_query = |value: &dyn Fn(&Secret) -> String| match url::Url::parse(&request.url) {
            Ok(mut url) if !request.secret_query.is_empty() => {
                for (name, secret) in &request.secret_query {
                    url.query_pairs_mut().append_pair(name, &value(secret));
                }
                url.into()
            }
            _ => request.url.clone(),
        };
        let body = match &request.body {
            Some(body) if !self.expose_credentials => Some(redact_form(body)),
            other => other.clone(),
        };
        let real = SentRequest {
            method: request.method.to_owned(),
            url: with_query(&|secret| secret.expose().to_owned()),
            headers: real_headers,
            body: request.body.clone(),
        };
        let sent = SentRequest {
            method: request.method.to_owned(),
            url: with_query(&shown),
            headers,
            body,
        };
        (sent, real)
    }
}

/// Replaces secret fields of a form body (a token request) with `[redacted]`.
fn redact_form(body: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(body) else { return body.to_vec() };
    if text.trim_start().starts_with('{') || !text.contains('=') {
        return body.to_vec();
    }
    weft_nodes::scrub::redact_form(text).into_bytes()
}

/// Why `rule` does not match the request, or `None` when it does: what was sent, then what the
/// entry expects. Matched against `real` (credentials as sent), told from `shown` (credentials
/// redacted unless exposed).
fn mismatch(rule: &RequestMatch, real: &SentRequest, shown: &SentRequest) -> Option<String> {
    if let Some(method) = &rule.method
        && !method.eq_ignore_ascii_case(&real.method)
    {
        return Some(format!(
            "sent method {}, the entry expects {}",
            clip(&shown.method),
            clip(method)
        ));
    }
    if let Some(url) = &rule.url
        && *url != real.url
    {
        return Some(format!("sent url {}, the entry expects {}", clip(&shown.url), clip(url)));
    }
    if let Some(prefix) = &rule.url_prefix
        && !real.url.starts_with(prefix.as_str())
    {
        return Some(format!(
            "sent url {}, the entry expects a url starting with {}",
            clip(&shown.url),
            clip(prefix)
        ));
    }
    for (name, want) in &rule.headers {
        let expected = clip(want).to_string();
        match real.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            None => {
                return Some(format!(
                    "sent no `{}` header, the entry expects {expected:?}",
                    clip(name)
                ));
            }
            Some((_, value)) if value != want => {
                let sent = shown.header(name).map(|v| clip(v).to_string()).unwrap_or_default();
                return Some(format!(
                    "sent header `{}` {sent:?}, the entry expects {expected:?}",
                    clip(name)
                ));
            }
            Some(_) => {}
        }
    }
    None
}

/// Describes a canned rule in one line.
pub(crate) fn describe_rule(rule: &RequestMatch) -> String {
    let mut out = rule.method.clone().unwrap_or_else(|| "any method".into());
    match (&rule.url, &rule.url_prefix) {
        (Some(url), _) => out.push_str(&format!(" {}", clip(url))),
        (None, Some(prefix)) => out.push_str(&format!(" {}…", clip(prefix))),
        (None, None) => out.push_str(" any URL"),
    }
    for (name, value) in &rule.headers {
        out.push_str(&format!(" [{}: {}]", clip(name), clip(value)));
    }
    out
}

impl Http for CannedHttp {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, HttpError>> {
        let (sent, real) = self.record(&request);
        if let Ok(mut log) = self.sent.lock() {
            log.push(sent.clone());
        }
        let mut reasons = Vec::new();
        let mut answer = None;
        if let Ok(mut entries) = self.entries.lock() {
            for (i, entry) in entries.iter_mut().enumerate() {
                let rule = describe_rule(&entry.canned.request);
                if let Some(why) = mismatch(&entry.canned.request, &real, &sent) {
                    reasons.push(format!("http[{i}] {rule}: {why}"));
                    continue;
                }
                if entry.canned.times.is_some_and(|times| entry.used >= times) {
                    reasons.push(format!("http[{i}] {rule}: used up ({} times)", entry.used));
                    continue;
                }
                entry.used += 1;
                answer = Some(response(&entry.canned));
                break;
            }
        }
        let result = match answer {
            Some(response) => Ok(response),
            None => {
                if let Some(sim) = self.simulator.as_ref().filter(|s| s.serves(&request.url)) {
                    return sim.send(request);
                }
                let line = sent.line();
                if let Ok(mut unmatched) = self.unmatched.lock() {
                    unmatched.push((sent, reasons));
                }
                Err(HttpError::Invalid(format!(
                    "no canned response matches {line} (nothing was sent)"
                )))
            }
        };
        Box::pin(async move { result })
    }
}

/// The response of a canned entry.
fn response(canned: &Canned) -> HttpResponse {
    let r = &canned.response;
    let mut headers: Vec<(String, String)> =
        r.headers.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.clone())).collect();
    let has_type = headers.iter().any(|(n, _)| n == "content-type");
    let body = match (&r.json, &r.body) {
        (Some(json), _) => {
            if !has_type {
                headers.push(("content-type".into(), "application/json; charset=utf-8".into()));
            }
            serde_json::to_vec(json).unwrap_or_default()
        }
        (None, Some(text)) => {
            if !has_type {
                headers.push(("content-type".into(), "text/plain; charset=utf-8".into()));
            }
            text.clone().into_bytes()
        }
        (None, None) => Vec::new(),
    };
    HttpResponse { status: r.status, headers, body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_secrets_are_redacted() {
        let body = b"grant_type=client_credentials&client_id=abc&client_secret=s3cret&scope=x";
        let out = String::from_utf8(redact_form(body)).unwrap();
        assert_eq!(
            out,
            "grant_type=client_credentials&client_id=abc&client_secret=[redacted]&scope=x"
        );
    }
}
