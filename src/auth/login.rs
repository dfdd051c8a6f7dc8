//! `weft login`: the interactive grants. Authorization code with PKCE through a loopback
//! redirect listener (the `state` checked), or the device code grant.

use super::grants::{Grants, TokenSet};
use super::profiles::{Grant, Profile, ProfileKind};
use super::tokens::TokenManager;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use weft_nodes::{NodeError, Secret, clip};

/// How long `weft login` waits for the browser to come back.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

/// Signs in with a user profile and stores the sign-in. `show` receives what the user must do
/// (the URL to open, or the device code message).
pub async fn login(
    manager: &TokenManager,
    profile: &Profile,
    show: impl Fn(&str),
) -> Result<(), NodeError> {
    let ProfileKind::OAuth2(oauth) = &profile.kind else {
        return Err(NodeError::new(
            "auth",
            format!("profile `{}` is not an oauth2 profile: nothing to log in to", profile.name),
        ));
    };
    let http = super::grants::token_http_client().map_err(|e| NodeError::new("auth", e))?;
    let grants = Grants::new(&profile.name, oauth, &http, profile.known_secrets());
    let set = match oauth.grant {
        Grant::AuthorizationCode => {
            authorization_code(&grants, oauth.redirect_url.as_deref().unwrap_or(""), &show).await?
        }
        Grant::DeviceCode => {
            grants
                .device_code(|uri, code| {
                    show(&format!("To sign in, open {uri} and enter the code {code}"))
                })
                .await?
        }
        Grant::ClientCredentials | Grant::RefreshToken => {
            return Err(NodeError::new(
                "auth",
                format!(
                    "profile `{}` signs in by itself (no user sign-in): `weft login` is not needed",
                    profile.name
                ),
            ));
        }
    };
    manager.store_login(&profile.name, set).await
}

async fn authorization_code(
    grants: &Grants<'_>,
    redirect: &str,
    show: &impl Fn(&str),
) -> Result<TokenSet, NodeError> {
    let fail = |m: String| NodeError::new("auth", m);
    let (host, port, path) = loopback_parts(redirect).ok_or_else(|| {
        fail(format!(
            "redirect_url `{}` must be a loopback URL such as http://localhost:8765/callback",
            clip(redirect)
        ))
    })?;
    let listener = TcpListener::bind((host.as_str(), port))
        .await
        .map_err(|e| fail(format!("cannot listen on {host}:{port} for the redirect: {e}")))?;
    let (url, state, verifier) = grants.authorize_url()?;
    show(&format!("Open this URL in a browser to sign in:\n{url}"));
    let code = tokio::time::timeout(LOGIN_TIMEOUT, wait_for_code(&listener, &path, &state))
        .await
        .map_err(|_| {
            fail(format!("no sign-in came back within {} s", LOGIN_TIMEOUT.as_secs()))
        })??;
    grants.redeem_code(code, verifier, redirect).await
}

/// `(host, port, path)` of a loopback `http://` URL.
fn loopback_parts(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) =
        rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (authority, 80),
    };
    let host = match host {
        "localhost" => "127.0.0.1",
        "127.0.0.1" | "[::1]" => host,
        _ => return None,
    };
    Some((host.trim_matches(['[', ']']).to_owned(), port, path))
}

/// Serves the loopback redirect until a request with the right `state` arrives.
async fn wait_for_code(
    listener: &TcpListener,
    path: &str,
    state: &str,
) -> Result<Secret, NodeError> {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        let mut buf = vec![0u8; 16 * 1024];
        let Ok(n) = stream.read(&mut buf).await else { continue };
        let request = String::from_utf8_lossy(&buf[..n]);
        let target =
            request.lines().next().and_then(|line| line.split_whitespace().nth(1)).unwrap_or("");
        let (req_path, query) = target.split_once('?').unwrap_or((target, ""));
        if req_path != path {
            let _ = respond(&mut stream, "404 Not Found", "Not the sign-in callback.").await;
            continue;
        }
        let params: Vec<(String, String)> = form_urlencoded_pairs(query);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if get("state").as_deref() != Some(state) {
            // RFC 6749 §10.12: an answer to a request we didn't make is ignored.
            let _ = respond(
                &mut stream,
                "400 Bad Request",
                "The sign-in answer does not match this login (state). Ignored.",
            )
            .await;
            continue;
        }
        if let Some(error) = get("error") {
            let description = get("error_description").unwrap_or_default();
            let _ = respond(&mut stream, "200 OK", "Sign-in failed; see the terminal.").await;
            let first = description.lines().next().unwrap_or("");
            return Err(NodeError::new(
                "auth",
                format!("sign-in refused: {}: {}", clip(&error), clip(first)),
            )
            .with_code(error));
        }
        let Some(code) = get("code") else {
            let _ = respond(&mut stream, "400 Bad Request", "No code in the sign-in answer.").await;
            continue;
        };
        let _ =
            respond(&mut stream, "200 OK", "Signed in to Weft. You can close this window.").await;
        return Ok(Secret::new(code));
    }
}

async fn respond(
    stream: &mut tokio::net::TcpStream,
    status: &str,
    text: &str,
) -> std::io::Result<()> {
    let body = format!("<!doctype html><meta charset=utf-8><title>Weft</title><p>{text}</p>");
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// Decodes `application/x-www-form-urlencoded` pairs (the `url` crate's decoder; invalid
/// escapes are kept as they are).
pub fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_only() {
        assert_eq!(
            loopback_parts("http://localhost:8765/callback"),
            Some(("127.0.0.1".into(), 8765, "/callback".into()))
        );
        assert_eq!(
            loopback_parts("http://127.0.0.1:9/"),
            Some(("127.0.0.1".into(), 9, "/".into()))
        );
        assert!(loopback_parts("https://localhost:8765/cb").is_none());
        assert!(loopback_parts("http://example.com:8765/cb").is_none());
    }

    #[test]
    fn decodes_forms() {
        let pairs = form_urlencoded_pairs("code=a%2Fb+c&state=x&bad=%zz&end=%4");
        assert_eq!(pairs[0], ("code".into(), "a/b c".into()));
        assert_eq!(pairs[2], ("bad".into(), "%zz".into()));
        assert_eq!(pairs[3], ("end".into(), "%4".into()));
    }
}
