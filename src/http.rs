//! The process's HTTP clients: TLS set up once, with rustls and the ring provider.

use std::sync::Once;

/// Installs rustls' ring crypto provider for the process (once; later calls do nothing).
pub fn ensure_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Fails only when another provider is already installed, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::time::{Duration, Instant};
use weft_nodes::clip;
use weft_nodes::services::{BoxFuture, Http, HttpError, HttpRequest, HttpResponse};

/// The most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 10;

/// The HTTP client every `http_request` node of the process shares: rustls, connection
/// pooling, at most [`MAX_REDIRECTS`] redirects, followed here rather than by reqwest so that
/// *every* credential header (`Authorization`, an API key header) is dropped once a redirect
/// leaves the original scheme, host and port, and stays dropped; no `Referer` is sent.
#[derive(Clone)]
pub struct ReqwestHttp {
    client: reqwest::Client,
}

impl ReqwestHttp {
    /// Builds the client.
    pub fn new() -> Result<Self, String> {
        ensure_crypto_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("weft/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { client })
    }

    async fn exchange(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let mut method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|_| {
            HttpError::Invalid(format!("`{}` is not an HTTP method", clip(request.method)))
        })?;
        let mut original = Url::parse(&request.url).map_err(|e| {
            HttpError::Invalid(format!("`{}` is not a valid URL ({e})", clip(&request.url)))
        })?;
        if !request.secret_query.is_empty() {
            let mut query = original.query_pairs_mut();
            for (name, value) in &request.secret_query {
                query.append_pair(name, value.expose());
            }
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                HttpError::Invalid(format!("`{}` is not a valid header name", clip(name)))
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                HttpError::Invalid(format!(
                    "the value of header `{}` is not a valid header value",
                    clip(name)
                ))
            })?;
            headers.append(header, value);
        }
        // Graph asks for one per request, to find it in its logs (unless the flow set its own).
        if !headers.contains_key(CLIENT_REQUEST_ID)
            && let Ok(id) = HeaderValue::from_str(&client_request_id())
        {
            headers.insert(CLIENT_REQUEST_ID, id);
        }
        let mut secret = HeaderMap::new();
        for (name, value) in &request.secret_headers {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                HttpError::Invalid(format!("`{}` is not a valid header name", clip(name)))
            })?;
            let mut value = HeaderValue::from_str(value.expose()).map_err(|_| {
                HttpError::Invalid(format!(
                    "the credential for header `{}` is not a valid header value",
                    clip(name)
                ))
            })?;
            value.set_sensitive(true);
            secret.insert(header, value);
        }
        let timeout = request.timeout;
        let millis = timeout.as_millis().try_into().unwrap_or(u64::MAX);
        let deadline = Instant::now() + timeout;
        let fail = |e: reqwest::Error| {
            if e.is_timeout() {
                HttpError::Timeout(millis)
            } else if e.is_builder() {
                HttpError::Invalid(describe(&e))
            } else {
                HttpError::Connection(describe(&e))
            }
        };
        let mut url = original.clone();
        let mut body = request.body;
        let mut redirects = 0;
        let mut response = loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(HttpError::Timeout(millis));
            }
            let mut all = headers.clone();
            if same_origin(&url, &original) {
                all.extend(secret.clone());
            }
            let mut builder =
                self.client.request(method.clone(), url.clone()).headers(all).timeout(remaining);
            if let Some(body) = &body {
                builder = builder.body(body.clone());
            }
            let response = builder.send().await.map_err(fail)?;
            let status = response.status();
            if !status.is_redirection() {
                break response;
            }
            let Some(location) = response.headers().get(reqwest::header::LOCATION) else {
                break response;
            };
            let next = location
                .to_str()
                .ok()
                .and_then(|l| url.join(l).ok())
                .filter(|next| matches!(next.scheme(), "http" | "https"));
            let Some(next) = next else {
                return Err(HttpError::Invalid(format!(
                    "HTTP {} redirects to a location that is not an http(s) URL",
                    status.as_u16()
                )));
            };
            match status.as_u16() {
                301..=303 => {
                    // As browsers do: the body is dropped and POST (303: anything) becomes GET.
                    if status.as_u16() == 303 || method == reqwest::Method::POST {
                        if method != reqwest::Method::HEAD {
                            method = reqwest::Method::GET;
                        }
                        body = None;
                        for name in ["content-type", "content-length", "content-encoding"] {
                            headers.remove(name);
                        }
                    }
                }
                307 | 308 => {}
                _ => break response,
            }
            redirects += 1;
            if redirects > MAX_REDIRECTS {
                return Err(HttpError::Invalid(format!(
                    "too many redirects (more than {MAX_REDIRECTS})"
                )));
            }
            if !same_origin(&next, &original) {
                // Once the credentials are left behind they stay behind, even if a later
                // redirect comes back.
                secret.clear();
            }
            url = next;
        };
        let limit = request.max_response_bytes;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(HttpError::TooLarge(limit));
        }
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned())
            })
            .collect();
        // Grown as bytes arrive, never sized from the header: a server may announce any length.
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(fail)? {
            if (body.len() as u64).saturating_add(chunk.len() as u64) > limit {
                return Err(HttpError::TooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse { status, headers, body })
    }
}

/// Whether `a` and `b` share scheme, host and port (credentials may go from one to the other).
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

impl Http for ReqwestHttp {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, HttpError>> {
        Box::pin(self.exchange(request))
    }
}

const CLIENT_REQUEST_ID: &str = "client-request-id";

/// A fresh `client-request-id`, a version-4 GUID: random once per process, then counted, so
/// that each is unique without a system call per request.
fn client_request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEED: OnceLock<[u8; 16]> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let mut bytes = *SEED.get_or_init(|| {
        use ring::rand::SecureRandom;
        let mut seed = [0u8; 16];
        // Without system randomness the ids are still unique within the process.
        let _ = ring::rand::SystemRandom::new().fill(&mut seed);
        seed
    });
    let count = COUNT.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    for (byte, c) in bytes[8..].iter_mut().zip(count) {
        *byte ^= c;
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// A transport error with its causes; never the request's URL, headers or body.
fn describe(err: &reqwest::Error) -> String {
    let what = if err.is_connect() {
        "cannot connect"
    } else if err.is_builder() {
        "the request could not be built"
    } else {
        "the connection failed"
    };
    with_causes(what, err)
}

/// `what: cause: cause…` — an error's causes without its own text, which for reqwest includes
/// the URL (and so possibly a secret query value).
pub fn with_causes(what: &str, err: &dyn std::error::Error) -> String {
    let mut message = what.to_owned();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
