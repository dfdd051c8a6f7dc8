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

use std::time::Duration;
use weft_nodes::services::{BoxFuture, Http, HttpError, HttpRequest, HttpResponse};

/// The HTTP client every `http_request` node of the process shares: rustls, connection
/// pooling, at most 10 redirects. reqwest drops `Authorization` (and cookies) when a redirect
/// leaves the original host.
#[derive(Clone)]
pub struct ReqwestHttp {
    client: reqwest::Client,
}

impl ReqwestHttp {
    /// Builds the client.
    pub fn new() -> Result<Self, String> {
        ensure_crypto_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("weft/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { client })
    }

    async fn exchange(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|_| {
            HttpError::Invalid(format!("`{}` is not an HTTP method", request.method))
        })?;
        let timeout = request.timeout;
        let mut builder = self.client.request(method, &request.url).timeout(timeout);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        for (name, value) in &request.secret_headers {
            let mut value =
                reqwest::header::HeaderValue::from_str(value.expose()).map_err(|_| {
                    HttpError::Invalid(format!(
                        "the credential for header `{name}` is not a valid header value"
                    ))
                })?;
            value.set_sensitive(true);
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let millis = timeout.as_millis().try_into().unwrap_or(u64::MAX);
        let fail = |e: reqwest::Error| {
            if e.is_timeout() {
                HttpError::Timeout(millis)
            } else {
                HttpError::Connection(describe(&e))
            }
        };
        let mut response = builder.send().await.map_err(fail)?;
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
        let mut body =
            Vec::with_capacity(response.content_length().unwrap_or(0).min(limit) as usize);
        while let Some(chunk) = response.chunk().await.map_err(fail)? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(HttpError::TooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse { status, headers, body })
    }
}

impl Http for ReqwestHttp {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, HttpError>> {
        Box::pin(self.exchange(request))
    }
}

/// A transport error with its causes; never the request's headers or body.
fn describe(err: &reqwest::Error) -> String {
    let mut message = if err.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the connection failed".to_owned()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
