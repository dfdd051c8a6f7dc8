//! Sending a request: credentials, one fresh token after a 401, retries with backoff and
//! `Retry-After`.

use super::HttpRequest;
use super::redact::{display_body, display_url};
use super::request::Prepared;
use crate::clip::{MESSAGE_MAX, clip, clip_to};
use crate::node::{NodeError, RunCx};
use crate::services::{Http, HttpError, HttpEvent, HttpResponse};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

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

/// The longest `Retry-After` honoured: a longer wait is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

impl HttpRequest {
    /// Sends one request with retries, credentials and one refresh after a 401.
    pub(super) async fn exchange(
        &self,
        cx: &mut RunCx<'_>,
        http: &dyn Http,
        prepared: &Prepared,
    ) -> Result<HttpResponse, NodeError> {
        // Redacting the URL re-parses it, redacting the body parses it: done only for a trace,
        // a debug line or an error, and once however many attempts there are.
        let shown = || display_url(&prepared.url);
        // A trace or a debug line shows a long URL's start, an error message less.
        let traced_url = OnceLock::new();
        let traced =
            || traced_url.get_or_init(|| clip_to(&shown(), MESSAGE_MAX).to_string()).clone();
        let traced_body = OnceLock::new();
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
                _slot = credentials.slot(profile, prepared.concurrency_key.as_deref()).await;
            }
            let started = Instant::now();
            let result = http.send(request).await;
            let ms = started.elapsed().as_millis().try_into().unwrap_or(u64::MAX);
            let status = result.as_ref().ok().map(|r| r.status);
            // Graph's id of the request, which its support asks for.
            let request_id = result.as_ref().ok().and_then(|r| r.header("request-id"));
            tracing::debug!(node = cx.node_id(), method = self.method.as_str(), url = %traced(), status, attempt, ms, request_id, "http");
            // The token may have expired or been revoked: one fresh token, one retry at once.
            let refresh = !refreshed
                && self.auth.is_some()
                && matches!(&result, Ok(response) if response.status == 401);
            let wait = match &result {
                _ if refresh => Some(Duration::ZERO),
                Ok(response)
                    if self.retry.on.contains(&response.status)
                        && attempt < self.retry.max_attempts =>
                {
                    Some(retry_after(response).unwrap_or_else(|| self.backoff(attempt)))
                }
                Err(err)
                    if err.is_transient()
                        && self.method.is_idempotent()
                        && attempt < self.retry.max_attempts =>
                {
                    Some(self.backoff(attempt))
                }
                _ => None,
            };
            cx.record_http(|| HttpEvent {
                method: self.method.as_str(),
                url: traced(),
                status,
                attempt,
                ms,
                request_id: request_id.map(str::to_owned),
                retry_in_ms: wait.map(|w| w.as_millis().try_into().unwrap_or(u64::MAX)),
                body: prepared
                    .body
                    .as_deref()
                    .map(|body| traced_body.get_or_init(|| display_body(body)).clone()),
            });
            drop(_slot);
            if refresh {
                refreshed = true;
                if let (Some(profile), Some(generation)) = (&self.auth, generation) {
                    cx.services().credentials(profile)?.invalidate(profile, generation);
                }
                attempt -= 1;
                continue;
            }
            let Some(wait) = wait else {
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
}
