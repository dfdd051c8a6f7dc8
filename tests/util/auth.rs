//! Signing in: panva's oidc-provider (`tests/oidc/server.js`) as a child process, a small
//! headless browser that keeps cookies and follows redirects by hand through its (or the
//! simulator's) pages, and the sign-ins `weft` stores.

use super::http::{client, form};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one request to a sign-in server may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// panva's oidc-provider (`tests/oidc/server.js`) running as a child process; killed on drop.
pub struct OidcServer {
    child: Child,
    /// Closing it also stops the server, should the kill be missed.
    _stdin: Option<ChildStdin>,
    /// `http://127.0.0.1:PORT`.
    pub issuer: String,
}

/// Confidential client using `client_secret_post`.
pub const POST_CLIENT: &str = "weft-post";
/// Its secret.
pub const POST_SECRET: &str = "weft-post-secret-0123456789";
/// Confidential client using `client_secret_basic`.
pub const BASIC_CLIENT: &str = "weft-basic";
/// Its secret (characters that must be form-encoded in the Basic header).
pub const BASIC_SECRET: &str = "weft-basic-secret/with+odd&chars=";
/// Public native client (authorization code + PKCE, rotating refresh tokens).
pub const CLI_CLIENT: &str = "weft-cli";
/// Like [`CLI_CLIENT`], with refresh tokens that expire after 3 seconds.
pub const SHORT_CLIENT: &str = "weft-cli-short";

impl OidcServer {
    /// Starts `node tests/oidc/server.js 0` and waits until it listens.
    pub fn start() -> Self {
        let dir = super::root().join("tests/oidc");
        assert!(
            dir.join("node_modules/oidc-provider/package.json").is_file(),
            "oidc-provider is not installed: run `npm ci --prefix tests/oidc` (scripts/test does)"
        );
        let mut child = Command::new("node")
            .arg(dir.join("server.js"))
            .arg("0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start `node` (Node.js 18 or later is needed for the OAuth tests)");
        let stdin = child.stdin.take();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let started = Instant::now();
        let port = loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    if let Some(port) = line.strip_prefix("listening ") {
                        break port.trim().parse::<u16>().unwrap();
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(200));
                    panic!("oidc-provider exited: {}", log.lock().unwrap());
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "oidc-provider did not start within 60 s: {}",
                log.lock().unwrap()
            );
        };
        Self { child, _stdin: stdin, issuer: format!("http://127.0.0.1:{port}") }
    }

    /// The token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// The authorization endpoint.
    pub fn auth_url(&self) -> String {
        format!("{}/auth", self.issuer)
    }

    /// The userinfo endpoint (accepts the access tokens of the code flow).
    pub fn userinfo_url(&self) -> String {
        format!("{}/me", self.issuer)
    }

    /// Revokes a token (RFC 7009) as the public client `client_id`.
    pub async fn revoke(&self, token: &str, client_id: &str) {
        let response = client()
            .post(format!("{}/token/revocation", self.issuer))
            .timeout(REQUEST_TIMEOUT)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("token", token),
                ("token_type_hint", "refresh_token"),
                ("client_id", client_id),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "revocation: {}", response.text().await.unwrap());
    }

    /// Token introspection (RFC 7662) as a confidential client: the JSON answer.
    pub async fn introspect(&self, token: &str) -> serde_json::Value {
        let response = client()
            .post(format!("{}/token/introspection", self.issuer))
            .timeout(REQUEST_TIMEOUT)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("token", token),
                ("client_id", POST_CLIENT),
                ("client_secret", POST_SECRET),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        serde_json::from_str(&response.text().await.unwrap()).unwrap()
    }
}

impl Drop for OidcServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless browser: keeps cookies (by name and path, for 127.0.0.1 only), follows redirects
/// by hand and fills in oidc-provider's development login and consent forms.
pub struct Browser {
    http: reqwest::Client,
    /// `(name, path, value)`.
    cookies: Vec<(String, String, String)>,
    /// Every URL visited, in order (for failure messages).
    pub visited: Vec<String>,
}

/// One answer.
pub struct Page {
    /// The URL fetched.
    pub url: reqwest::Url,
    /// The status.
    pub status: u16,
    /// `Location`, resolved against the URL.
    pub location: Option<reqwest::Url>,
    /// The body as text.
    pub body: String,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    /// A browser with no cookies.
    pub fn new() -> Self {
        Self { http: client(), cookies: Vec::new(), visited: Vec::new() }
    }

    fn cookie_header(&self, url: &reqwest::Url) -> Option<String> {
        let path = url.path();
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .filter(|(_, p, _)| {
                path == p || path.starts_with(&format!("{}/", p.trim_end_matches('/')))
            })
            .map(|(n, _, v)| format!("{n}={v}"))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    fn store_cookies(&mut self, headers: &reqwest::header::HeaderMap) {
        for value in headers.get_all(reqwest::header::SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let mut parts = text.split(';').map(str::trim);
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let mut path = "/".to_owned();
            let mut expired = value.is_empty();
            for attr in parts {
                let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
                match k.to_ascii_lowercase().as_str() {
                    "path" => path = v.to_owned(),
                    "max-age" => expired |= v.trim().starts_with('-') || v.trim() == "0",
                    "expires" => {
                        expired |=
                            chrono::DateTime::parse_from_rfc2822(&v.replace(" GMT", " +0000"))
                                .is_ok_and(|at| at < chrono::Utc::now());
                    }
                    _ => {}
                }
            }
            self.cookies.retain(|(n, p, _)| !(n == name && *p == path));
            if !expired {
                self.cookies.push((name.to_owned(), path, value.to_owned()));
            }
        }
    }

    /// Sends one request (a GET, or a POST of `form`) without following redirects.
    pub async fn fetch(&mut self, url: &str, post: Option<&[(&str, &str)]>) -> Page {
        let url = reqwest::Url::parse(url).unwrap();
        self.visited.push(url.to_string());
        let mut request = match post {
            Some(pairs) => self
                .http
                .post(url.clone())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(pairs)),
            None => self.http.get(url.clone()),
        }
        .timeout(REQUEST_TIMEOUT);
        if let Some(cookie) = self.cookie_header(&url) {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        self.store_cookies(response.headers());
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| url.join(l).unwrap());
        let body = response.text().await.unwrap_or_default();
        Page { url, status, location, body }
    }

    /// Opens `start` and goes through redirects and oidc-provider's login (as `user`) and consent
    /// forms until a redirect to a URL starting with `redirect_prefix`; fetches that URL (the
    /// `weft login` listener) and returns its answer.
    pub async fn sign_in(&mut self, start: &str, redirect_prefix: &str, user: &str) -> Page {
        let mut page = self.fetch(start, None).await;
        for _ in 0..20 {
            if let Some(next) = page.location.clone() {
                assert!((300..400).contains(&page.status), "{} {}", page.status, page.url);
                if next.as_str().starts_with(redirect_prefix) {
                    return self.fetch(next.as_str(), None).await;
                }
                page = self.fetch(next.as_str(), None).await;
                continue;
            }
            assert_eq!(page.status, 200, "{}: {}", page.url, page.body);
            let action = attribute(&page.body, "action=\"")
                .unwrap_or_else(|| panic!("{}: no form and no redirect: {}", page.url, page.body));
            let action = page.url.join(&html_unescape(&action)).unwrap();
            let prompt = attribute(&page.body, "name=\"prompt\" value=\"").unwrap_or_default();
            page = match prompt.as_str() {
                "login" => {
                    let fields = [("prompt", "login"), ("login", user), ("password", "any")];
                    self.fetch(action.as_str(), Some(&fields)).await
                }
                "consent" => self.fetch(action.as_str(), Some(&[("prompt", "consent")])).await,
                other => panic!("{}: unexpected form `{other}`: {}", page.url, page.body),
            };
        }
        panic!("no redirect to {redirect_prefix} after 20 steps: {:#?}", self.visited)
    }
}

/// The text after the first `marker` up to the next `"`.
fn attribute(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_owned())
}

fn html_unescape(s: &str) -> String {
    s.replace("&amp;", "&").replace("&#x2F;", "/").replace("&#47;", "/").replace("&quot;", "\"")
}

/// The single sign-in file in `state_dir`.
pub fn signin_file(state_dir: &Path) -> PathBuf {
    let dir = state_dir.join("signins");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

/// The refresh token stored in a sign-in file.
pub fn stored_refresh_token(file: &Path) -> String {
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    value["refresh_token"].as_str().unwrap().to_owned()
}

/// The permission bits of a file.
#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
