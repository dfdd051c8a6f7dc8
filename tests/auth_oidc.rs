//! Signing in against a real OAuth 2.0 authorization server: panva's certified `oidc-provider`
//! (tests/oidc, installed by `scripts/test`), started as a child process on 127.0.0.1.
//!
//! Client credentials with `client_secret_post` and `client_secret_basic`, the authorization
//! code grant with PKCE driven headlessly through oidc-provider's development login and consent
//! pages (`weft login` as a child process), refresh with rotation, and the failures: a bad
//! secret, an invalid scope, a revoked, replayed or expired refresh token.

use crate::util::auth::{
    BASIC_CLIENT, BASIC_SECRET, Browser, CLI_CLIENT, OidcServer, POST_CLIENT, POST_SECRET,
    SHORT_CLIENT, mode, signin_file, stored_refresh_token,
};
use crate::util::{Outcome, Weft, assert_no_secret, free_port};
use serde_json::{Value, json};
use std::path::Path;
use weft::auth::state::StateDir;
use weft::auth::{Profiles, TokenManager};
use weft::nodes::Credentials;

/// A flow that signs in with `profiles` (each into `vars.<profile>`) and returns what it wrote.
fn sign_in_flow(profiles: &[&str]) -> String {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for (i, profile) in profiles.iter().enumerate() {
        let id = format!("sign_in_{i}");
        nodes.push(json!({ "id": id, "type": "authentication", "profile": profile,
                           "into": profile.replace('-', "_") }));
        let next =
            if i + 1 < profiles.len() { format!("sign_in_{}", i + 1) } else { "done".into() };
        edges.push(json!({ "from": id, "to": next }));
        edges.push(json!({ "from": id, "exit": "unauthenticated", "to": "login_needed" }));
    }
    let result = profiles
        .iter()
        .map(|p| format!("\"{p}\": vars.{}", p.replace('-', "_")))
        .collect::<Vec<_>>()
        .join(", ");
    nodes.push(json!({ "id": "done", "type": "end", "result": format!("#{{ {result} }}") }));
    nodes.push(json!({ "id": "login_needed", "type": "end",
                       "result": "#{ unauthenticated: vars.error.message, code: vars.error.code }" }));
    json!({ "format": "weft.flow/1", "start": "sign_in_0", "nodes": nodes, "edges": edges })
        .to_string()
}

/// A flow that signs in with the user profile `user`, calls the userinfo endpoint with its
/// token, and returns the sign-in record and the `sub` the server saw.
fn user_flow() -> String {
    json!({
        "format": "weft.flow/1",
        "parameters": { "userinfo": { "type": "string" } },
        "start": "sign_in",
        "nodes": [
            { "id": "sign_in", "type": "authentication", "profile": "user" },
            { "id": "me", "type": "http_request", "method": "GET", "auth": "user",
              "url": "${params.userinfo}", "into": "me" },
            { "id": "done", "type": "end", "result": "#{ auth: vars.auth, sub: vars.me.body.sub }" },
            { "id": "login_needed", "type": "end",
              "result": "#{ unauthenticated: vars.error.message, code: vars.error.code }" }
        ],
        "edges": [
            { "from": "sign_in", "to": "me" },
            { "from": "sign_in", "exit": "unauthenticated", "to": "login_needed" },
            { "from": "me", "to": "done" }
        ]
    })
    .to_string()
}

fn machine_profile(
    server: &OidcServer,
    client: &str,
    secret: &str,
    auth: &str,
    scopes: &[&str],
) -> Value {
    json!({ "type": "oauth2", "grant": "client_credentials", "token_url": server.token_url(),
            "client_id": client, "client_secret": secret, "client_auth": auth,
            "scopes": scopes, "hosts": ["127.0.0.1:*"] })
}

fn user_profile(server: &OidcServer, client: &str, redirect_port: u16) -> Value {
    json!({ "type": "oauth2", "grant": "authorization_code", "pkce": true,
            "auth_url": server.auth_url(), "token_url": server.token_url(),
            "client_id": client,
            "redirect_url": format!("http://127.0.0.1:{redirect_port}/callback"),
            "scopes": ["openid", "api:read"], "hosts": ["127.0.0.1:*"] })
}

fn write_profiles(dir: &Path, profiles: Value) -> std::path::PathBuf {
    let path = dir.join("profiles.json");
    let file = json!({ "format": "weft.profiles/1", "profiles": profiles });
    std::fs::write(&path, file.to_string()).unwrap();
    path
}

/// `weft run FLOW --profiles profiles.json --state-dir state` in `dir`.
fn run(dir: &Path, flow: &str, extra: &[&str]) -> Outcome {
    std::fs::write(dir.join("test.flow.json"), flow).unwrap();
    let mut args =
        vec!["run", "test.flow.json", "--profiles", "profiles.json", "--state-dir", "state"];
    args.extend_from_slice(extra);
    Weft::new(dir, &args).run()
}

#[test]
fn client_credentials_post_and_basic_through_the_binary() {
    let server = OidcServer::start();
    let dir = tempfile::tempdir().unwrap();
    write_profiles(
        dir.path(),
        json!({
            "post": machine_profile(&server, POST_CLIENT, POST_SECRET, "post", &["api:read"]),
            "basic": machine_profile(&server, BASIC_CLIENT, BASIC_SECRET, "basic", &["api:read", "api:write"]),
        }),
    );
    let out = run(dir.path(), &sign_in_flow(&["post", "basic"]), &["--trace", "trace.jsonl"]);
    out.assert_code(0);
    let result = out.json();
    assert_eq!(result["post"]["profile"], "post");
    assert_eq!(result["post"]["token_type"], "Bearer");
    assert_eq!(result["post"]["scopes"], json!(["api:read"]));
    assert_eq!(result["basic"]["scopes"], json!(["api:read", "api:write"]));
    for p in ["post", "basic"] {
        let expires = result[p]["expires_at"].as_str().unwrap();
        let at = chrono::DateTime::parse_from_rfc3339(expires).unwrap();
        let left = at.signed_duration_since(chrono::Utc::now()).num_seconds();
        assert!((200..=301).contains(&left), "{p} expires in {left} s");
    }
    let trace = std::fs::read_to_string(dir.path().join("trace.jsonl")).unwrap();
    for text in [&out.stdout, &out.stderr, &trace] {
        assert_no_secret("the run's output", text, &[POST_SECRET, BASIC_SECRET]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_tokens_are_accepted_by_the_server_and_cached() {
    let server = OidcServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = write_profiles(
        dir.path(),
        json!({
            "post": machine_profile(&server, POST_CLIENT, POST_SECRET, "post", &["api:read"]),
            "basic": machine_profile(&server, BASIC_CLIENT, BASIC_SECRET, "basic", &["api:write"]),
        }),
    );
    let profiles = Profiles::load(&path).unwrap();
    let resolved = ["post", "basic"].map(|n| profiles.resolve(n, &|_| None).unwrap()).to_vec();
    let manager = TokenManager::new(resolved, StateDir::new(dir.path().join("state"))).unwrap();
    let port = server.issuer.rsplit(':').next().unwrap().parse::<u16>().ok();
    for (profile, client, scope) in
        [("post", POST_CLIENT, "api:read"), ("basic", BASIC_CLIENT, "api:write")]
    {
        let credential = manager.credential(profile, "127.0.0.1", port).await.unwrap();
        let (name, value) = &credential.headers[0];
        assert_eq!(name, "Authorization");
        let token = value.expose().strip_prefix("Bearer ").unwrap().to_owned();
        assert!(!format!("{credential:?}").contains(&token), "Debug shows the token");
        let info = server.introspect(&token).await;
        assert_eq!(info["active"], true, "{info}");
        assert_eq!(info["client_id"], client, "{info}");
        assert_eq!(info["scope"], scope, "{info}");
        // Cached: the same token again, no second request.
        let again = manager.credential(profile, "127.0.0.1", port).await.unwrap();
        assert_eq!(again.headers[0].1.expose(), value.expose());
        // Not to another host.
        let err = manager.credential(profile, "evil.example", None).await.unwrap_err();
        assert!(err.message.contains("nothing was sent"), "{}", err.message);
    }
    assert_eq!(manager.token_requests(), 2);
}

#[test]
fn bad_secret_is_invalid_client_and_the_secret_is_shown_nowhere() {
    let server = OidcServer::start();
    let dir = tempfile::tempdir().unwrap();
    let wrong = "wrong-secret-CANARY-7f3a9c";
    write_profiles(
        dir.path(),
        json!({
            "post": machine_profile(&server, POST_CLIENT, wrong, "post", &["api:read"]),
            "basic": machine_profile(&server, BASIC_CLIENT, wrong, "basic", &["api:read"]),
        }),
    );
    for profile in ["post", "basic"] {
        std::fs::write(dir.path().join("test.flow.json"), sign_in_flow(&[profile])).unwrap();
        let out = Weft::new(
            dir.path(),
            [
                "run",
                "test.flow.json",
                "--profiles",
                "profiles.json",
                "--state-dir",
                "state",
                "--trace",
                "trace.jsonl",
            ],
        )
        .env("RUST_LOG", "trace")
        .run();
        out.assert_code(1);
        assert!(out.stderr.contains("invalid_client"), "{}", out.stderr);
        assert!(out.stderr.contains(&format!("profile `{profile}`")), "{}", out.stderr);
        assert!(out.stderr.contains("sign_in_0"), "names the node: {}", out.stderr);
        let trace = std::fs::read_to_string(dir.path().join("trace.jsonl")).unwrap();
        assert!(trace.contains("invalid_client"), "{trace}");
        for text in [&out.stdout, &out.stderr, &trace] {
            assert_no_secret("a failed run's output", text, &[wrong]);
        }
    }
}

#[test]
fn invalid_scope_is_reported_with_the_oauth_error() {
    let server = OidcServer::start();
    let dir = tempfile::tempdir().unwrap();
    write_profiles(
        dir.path(),
        json!({ "post": machine_profile(&server, POST_CLIENT, POST_SECRET, "post", &["api:admin"]) }),
    );
    let out = run(dir.path(), &sign_in_flow(&["post"]), &[]);
    out.assert_code(1);
    assert!(out.stderr.contains("invalid_scope"), "{}", out.stderr);
    assert!(out.stderr.contains("requested scope is not allowed"), "{}", out.stderr);
    assert_no_secret("stderr", &out.all(), &[POST_SECRET]);
}

/// Runs `weft login user` in `dir` and signs in as `user_name` through the development pages;
/// returns the login's output.
async fn login(dir: &Path, redirect_port: u16, user_name: &str) -> Outcome {
    let mut child =
        Weft::new(dir, ["login", "user", "--profiles", "profiles.json", "--state-dir", "state"])
            .spawn();
    let url = child.wait_for_url();
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(url.contains("code_challenge="), "{url}");
    let redirect = format!("http://127.0.0.1:{redirect_port}/callback");
    // An answer with another `state` is refused and the login keeps waiting (RFC 6749 §10.12).
    let forged =
        Browser::new().fetch(&format!("{redirect}?code=forged&state=not-the-one"), None).await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    let mut browser = Browser::new();
    let landing = browser.sign_in(&url, &redirect, user_name).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    assert!(landing.body.contains("Signed in"), "{}", landing.body);
    let out = tokio::task::spawn_blocking(move || child.finish()).await.unwrap();
    out.assert_code(0);
    assert!(out.stderr.contains("Signed in with profile `user`"), "{}", out.stderr);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_code_with_pkce_then_refresh_with_rotation() {
    let server = OidcServer::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    write_profiles(dir.path(), json!({ "user": user_profile(&server, CLI_CLIENT, port) }));
    std::fs::write(dir.path().join("test.flow.json"), user_flow()).unwrap();
    let userinfo = format!("userinfo={}", server.userinfo_url());
    let run_user = |dir: std::path::PathBuf, userinfo: String| {
        tokio::task::spawn_blocking(move || {
            Weft::new(
                &dir,
                [
                    "run",
                    "test.flow.json",
                    "--profiles",
                    "profiles.json",
                    "--state-dir",
                    "state",
                    "--param",
                    userinfo.as_str(),
                ],
            )
            .run()
        })
    };

    // Before any sign-in: the unauthenticated exit, telling what to do.
    let out = run_user(dir.path().to_owned(), userinfo.clone()).await.unwrap();
    out.assert_code(0);
    let message = out.json()["unauthenticated"].as_str().unwrap().to_owned();
    assert!(message.contains("weft login user"), "{message}");

    let login_out = login(dir.path(), port, "ada@example.test").await;
    let file = signin_file(&dir.path().join("state"));
    #[cfg(unix)]
    {
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir.path().join("state/signins")), 0o700);
    }
    let first = stored_refresh_token(&file);
    assert_no_secret("weft login's output", &login_out.all(), &[&first]);

    let mut seen = vec![first];
    for round in 0..2 {
        let out = run_user(dir.path().to_owned(), userinfo.clone()).await.unwrap();
        out.assert_code(0);
        let result = out.json();
        assert_eq!(result["sub"], "ada@example.test", "round {round}: {result}");
        assert_eq!(result["auth"]["profile"], "user");
        assert_eq!(result["auth"]["token_type"], "Bearer");
        let scopes = result["auth"]["scopes"].as_array().unwrap();
        assert!(scopes.contains(&json!("api:read")), "{result}");
        // The server rotated the refresh token and the new one was stored, privately.
        let now = stored_refresh_token(&file);
        assert!(!seen.contains(&now), "round {round}: the refresh token did not change");
        #[cfg(unix)]
        assert_eq!(mode(&file), 0o600);
        let secrets: Vec<&str> = seen.iter().map(String::as_str).chain([now.as_str()]).collect();
        assert_no_secret("a run's output", &out.all(), &secrets);
        seen.push(now);
    }
    // No temporary files left behind.
    let entries = std::fs::read_dir(dir.path().join("state/signins")).unwrap().count();
    assert_eq!(entries, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_refresh_token_takes_the_unauthenticated_exit() {
    let server = OidcServer::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    write_profiles(dir.path(), json!({ "user": user_profile(&server, CLI_CLIENT, port) }));
    login(dir.path(), port, "bob@example.test").await;
    let file = signin_file(&dir.path().join("state"));
    let token = stored_refresh_token(&file);
    server.revoke(&token, CLI_CLIENT).await;
    let path = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || run(&path, &sign_in_flow(&["user"]), &[]))
        .await
        .unwrap();
    out.assert_code(0);
    let result = out.json();
    let message = result["unauthenticated"].as_str().unwrap();
    assert_eq!(result["code"], "invalid_grant", "{result}");
    assert!(message.contains("run `weft login user`"), "{message}");
    assert_no_secret("the run's output", &out.all(), &[&token]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_rotated_refresh_token_is_refused_and_asks_to_log_in() {
    let server = OidcServer::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    write_profiles(dir.path(), json!({ "user": user_profile(&server, CLI_CLIENT, port) }));
    login(dir.path(), port, "cy@example.test").await;
    let file = signin_file(&dir.path().join("state"));
    let old = std::fs::read(&file).unwrap();
    let flow = sign_in_flow(&["user"]);
    let path = dir.path().to_owned();
    let flow2 = flow.clone();
    let out = tokio::task::spawn_blocking(move || run(&path, &flow2, &[])).await.unwrap();
    out.assert_code(0);
    assert_eq!(out.json()["user"]["profile"], "user", "{}", out.stdout);
    // Put the used (rotated-out) refresh token back, as a stale copy of the state would.
    std::fs::write(&file, &old).unwrap();
    let path = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || run(&path, &flow, &[])).await.unwrap();
    out.assert_code(0);
    let result = out.json();
    assert_eq!(result["code"], "invalid_grant", "{result}");
    assert!(result["unauthenticated"].as_str().unwrap().contains("weft login user"), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_refresh_token_takes_the_unauthenticated_exit() {
    let server = OidcServer::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    write_profiles(dir.path(), json!({ "user": user_profile(&server, SHORT_CLIENT, port) }));
    login(dir.path(), port, "dee@example.test").await;
    // The server's refresh tokens for this client live 3 seconds.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let path = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || run(&path, &sign_in_flow(&["user"]), &[]))
        .await
        .unwrap();
    out.assert_code(0);
    let result = out.json();
    assert_eq!(result["code"], "invalid_grant", "{result}");
    let message = result["unauthenticated"].as_str().unwrap();
    assert!(
        message.contains("expired or was revoked") && message.contains("weft login user"),
        "{message}"
    );
}

#[test]
fn unwired_unauthenticated_exit_fails_the_run_naming_weft_login() {
    let server = OidcServer::start();
    let dir = tempfile::tempdir().unwrap();
    write_profiles(dir.path(), json!({ "user": user_profile(&server, CLI_CLIENT, free_port()) }));
    let flow = json!({ "format": "weft.flow/1", "start": "sign_in", "nodes": [
        { "id": "sign_in", "type": "authentication", "profile": "user" },
        { "id": "done", "type": "end", "result": "vars.auth" } ],
        "edges": [ { "from": "sign_in", "to": "done" } ] });
    let out = run(dir.path(), &flow.to_string(), &[]);
    out.assert_code(1);
    assert!(
        out.stderr.contains("sign_in") && out.stderr.contains("weft login user"),
        "{}",
        out.stderr
    );
}
