//! HTTP from the tests' side: a client for servers on 127.0.0.1, form bodies, answers read
//! whole, raw bytes on a socket, and waiting for a server to come up.

use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::{Duration, Instant};

/// A client for the servers tests start on 127.0.0.1: no proxy, redirects not followed, and a
/// request that takes longer than [`crate::util::DEADLINE`] fails its test rather than hang it.
pub fn client() -> reqwest::Client {
    weft::http::ensure_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(crate::util::DEADLINE)
        .build()
        .unwrap()
}

/// `application/x-www-form-urlencoded` of `pairs`, as browsers encode it.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let pair = |(k, v): &(&str, &str)| format!("{}={}", form_encode(k), form_encode(v));
    pairs.iter().map(pair).collect::<Vec<_>>().join("&")
}

/// One name or value of a form, encoded as browsers encode it.
pub fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Sends `request` and reads the answer whole: the status, the headers and the body, which must
/// be JSON (the test fails with the text when it is not).
pub async fn read(request: reqwest::RequestBuilder) -> (u16, HeaderMap, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the answer ({status}) is not JSON ({e}): {text}"));
    (status, headers, value)
}

/// POSTs `body` as `content_type` and reads the JSON answer (see [`read`]).
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, HeaderMap, Value) {
    read(client.post(url).header("content-type", content_type).body(body)).await
}

/// Sends raw bytes to `addr` and reads the answer until the server closes the connection (at
/// most 5 s).
pub async fn raw(addr: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Waits until `GET url` answers with a success status; fails the test after `limit`.
pub async fn wait_until_up(client: &reqwest::Client, url: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(response) = client.get(url).send().await
            && response.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "{url} did not answer within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `upstream` has received `n` requests (a run calling it is then in flight), within
/// 10 s.
pub async fn until_called(upstream: &wiremock::MockServer, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while upstream.received_requests().await.map_or(0, |r| r.len()) < n {
        assert!(Instant::now() < deadline, "{} got fewer than {n} requests", upstream.uri());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
