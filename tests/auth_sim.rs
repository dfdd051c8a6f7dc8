//! Signing in against the built-in Entra ID + Graph simulator (in-process, on 127.0.0.1): the
//! device code grant through the library (pending, approval on the `/devicelogin` page, decline,
//! expiry, and `slow_down` against a scripted token endpoint; a refresh that needs the user
//! again against a wiremock one), the certificate client assertion
//! (a self-signed certificate made with the `openssl` CLI; the JWT checked piece by piece and
//! its signature verified with the certificate's public key), and `weft login` for the
//! simulator's public client driven headlessly.

use crate::util::auth::{Browser, mode, signin_file, stored_refresh_token};
use crate::util::{Weft, assert_no_secret, free_port, http, sign_in_sim};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weft::auth::assertion::{ClientCertificate, SignatureAlgorithm};
use weft::auth::login::login;
use weft::auth::state::StateDir;
use weft::auth::{Profile, Profiles, TokenManager};
use weft::nodes::Credentials;
use weft_sim::{APP_CLIENT_ID, PUBLIC_CLIENT_ID, SimConfig, SimHandle};

const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";

/// Writes a profiles file holding `profiles` in `dir` and resolves `name` from it.
fn resolve(dir: &Path, profiles: Value, name: &str) -> Profile {
    let path = dir.join("profiles.json");
    let file = json!({ "format": "weft.profiles/1", "profiles": profiles });
    std::fs::write(&path, file.to_string()).unwrap();
    Profiles::load(&path).unwrap().resolve(name, &|_| None).unwrap()
}

fn device_profile(sim: &SimHandle) -> Value {
    json!({ "type": "oauth2", "grant": "device_code", "device_url": sim.device_url(),
            "token_url": sim.token_url(), "client_id": PUBLIC_CLIENT_ID,
            "scopes": ["offline_access", "Calendars.Read"], "hosts": ["127.0.0.1:*"] })
}

/// Starts a device code login in the background; returns the task and the user code shown.
async fn start_device_login(
    manager: Arc<TokenManager>,
    profile: Profile,
) -> (tokio::task::JoinHandle<Result<(), weft::nodes::NodeError>>, String, String) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let task = tokio::spawn(async move {
        login(&manager, &profile, move |message| {
            let _ = tx.send(message.to_owned());
        })
        .await
    });
    let message = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.unwrap().unwrap();
    assert!(message.starts_with("To sign in, open "), "{message}");
    let code = message.rsplit(' ').next().unwrap().to_owned();
    (task, code, message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_pending_then_approved_on_the_devicelogin_page() {
    let sim = sign_in_sim(SimConfig { device_interval: 1, ..SimConfig::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let profile = resolve(dir.path(), json!({ "user": device_profile(&sim) }), "user");
    let state = StateDir::new(dir.path().join("state"));
    let manager = Arc::new(TokenManager::new(vec![profile.clone()], state.clone()).unwrap());

    // Before signing in: the unauthenticated exit, naming `weft login`.
    let err = manager.sign_in("user").await.unwrap_err();
    assert_eq!(err.exit, "unauthenticated");
    assert!(err.message.contains("weft login user"), "{}", err.message);

    let (task, code, message) = start_device_login(Arc::clone(&manager), profile.clone()).await;
    assert!(message.contains(&sim.verification_url()), "{message}");
    // Let it poll (authorization_pending) a few times before the user approves.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!task.is_finished());
    let pending = sim.counters().token_errors;
    assert!(pending >= 2, "{pending} pending polls");
    let page = Browser::new().fetch(&format!("{}?otc={code}", sim.verification_url()), None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap().unwrap();
    let counters = sim.counters();
    assert_eq!(counters.tokens_device_code, 1);
    // Polls came no faster than the interval: none was told to slow down (all errors pending).
    assert_eq!(counters.token_errors, pending);

    // Signed in: the token is cached, the refresh token kept privately.
    let signed = manager.sign_in("user").await.unwrap();
    assert_eq!(signed.token_type, "Bearer");
    assert_eq!(sim.counters().token_requests, counters.token_requests);
    let file = signin_file(&dir.path().join("state"));
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    let first = stored_refresh_token(&file);
    assert!(first.starts_with("weftsim-rt-"));

    // Another process (a new manager) renews through the stored refresh token, which rotates.
    let fresh = TokenManager::new(vec![profile], state).unwrap();
    let credential = fresh.credential("user", "127.0.0.1", Some(sim.addr().port())).await.unwrap();
    assert!(credential.headers[0].1.expose().starts_with("Bearer weftsim-at-"));
    assert_eq!(sim.counters().tokens_refresh_token, 1);
    assert_ne!(stored_refresh_token(&file), first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_declined_or_expired_is_an_error_and_stores_nothing() {
    let sim = sign_in_sim(SimConfig {
        device_interval: 1,
        device_code_lifetime: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let profile = resolve(dir.path(), json!({ "user": device_profile(&sim) }), "user");
    let manager = Arc::new(
        TokenManager::new(vec![profile.clone()], StateDir::new(dir.path().join("state"))).unwrap(),
    );

    let (task, code, _) = start_device_login(Arc::clone(&manager), profile.clone()).await;
    assert!(sim.decline_device_code(&code));
    let err = tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap();
    let err = err.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("authorization_declined"), "{}", err.message);
    assert!(err.message.contains("profile `user`"), "{}", err.message);

    let started = Instant::now();
    let (task, _code, _) = start_device_login(Arc::clone(&manager), profile).await;
    let err = tokio::time::timeout(Duration::from_secs(20), task).await.unwrap().unwrap();
    let err = err.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("expired_token"), "{}", err.message);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!dir.path().join("state/signins").exists());
}

/// A scripted device authorization server: `/devicecode` hands out a code with `interval` 1,
/// `/token` answers the polls with the statuses in turn and records when each came.
#[derive(Clone)]
struct Scripted {
    answers: Arc<Vec<&'static str>>,
    polls: Arc<Mutex<Vec<Instant>>>,
}

async fn scripted_device_server(answers: Vec<&'static str>) -> (String, Scripted) {
    use axum::routing::post;
    let script = Scripted { answers: Arc::new(answers), polls: Arc::default() };
    let app = axum::Router::new()
        .route(
            "/devicecode",
            post(|| async {
                axum::Json(json!({ "device_code": "dc-1", "user_code": "UC-1",
                    "verification_uri": "http://127.0.0.1/verify", "expires_in": 120,
                    "interval": 1 }))
            }),
        )
        .route(
            "/token",
            post(|axum::extract::State(s): axum::extract::State<Scripted>| async move {
                let n = {
                    let mut polls = s.polls.lock().unwrap();
                    polls.push(Instant::now());
                    polls.len() - 1
                };
                let answer = s.answers.get(n).copied().unwrap_or("ok");
                let (status, body) = if answer == "ok" {
                    (
                        200,
                        json!({ "access_token": "scripted-at", "token_type": "Bearer",
                                  "expires_in": 3600, "refresh_token": "scripted-rt" }),
                    )
                } else {
                    (400, json!({ "error": answer, "error_description": "scripted" }))
                };
                (axum::http::StatusCode::from_u16(status).unwrap(), axum::Json(body))
            }),
        )
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, script)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_slow_down_adds_five_seconds_to_the_interval() {
    let (base, script) =
        scripted_device_server(vec!["authorization_pending", "slow_down", "ok"]).await;
    let dir = tempfile::tempdir().unwrap();
    let profile = resolve(
        dir.path(),
        json!({ "user": { "type": "oauth2", "grant": "device_code",
            "device_url": format!("{base}/devicecode"), "token_url": format!("{base}/token"),
            "client_id": "scripted", "scopes": ["offline_access"] } }),
        "user",
    );
    let manager = Arc::new(
        TokenManager::new(vec![profile.clone()], StateDir::new(dir.path().join("state"))).unwrap(),
    );
    let (task, code, _) = start_device_login(manager, profile).await;
    assert_eq!(code, "UC-1");
    tokio::time::timeout(Duration::from_secs(30), task).await.unwrap().unwrap().unwrap();
    let polls = script.polls.lock().unwrap().clone();
    assert_eq!(polls.len(), 3);
    let pending_gap = polls[1] - polls[0];
    let slowed_gap = polls[2] - polls[1];
    assert!(pending_gap >= Duration::from_millis(950), "{pending_gap:?} after pending");
    assert!(pending_gap < Duration::from_secs(3), "{pending_gap:?} after pending");
    assert!(slowed_gap >= Duration::from_millis(5950), "{slowed_gap:?} after slow_down");
    assert!(slowed_gap < Duration::from_secs(9), "{slowed_gap:?} after slow_down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_needs_the_user_again_is_a_lost_sign_in() {
    use wiremock::matchers::{body_string_contains, method};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let entra = MockServer::start().await;
    for (code, aadsts) in [("interaction_required", 50076), ("consent_required", 65001)] {
        Mock::given(method("POST"))
            .and(body_string_contains(format!("refresh_token=rt-{code}")))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "error": code, "error_codes": [aadsts],
                "error_description": format!("AADSTS{aadsts}: the user must be present.") })))
            .mount(&entra)
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    for code in ["interaction_required", "consent_required"] {
        let profile = resolve(
            dir.path(),
            json!({ "user": { "type": "oauth2", "grant": "device_code",
                "device_url": format!("{}/devicecode", entra.uri()),
                "token_url": format!("{}/token", entra.uri()), "client_id": "scripted",
                "refresh_token": format!("rt-{code}"), "scopes": ["offline_access"] } }),
            "user",
        );
        let state = StateDir::new(dir.path().join(format!("state-{code}")));
        let manager = TokenManager::new(vec![profile], state).unwrap();
        let err = manager.sign_in("user").await.unwrap_err();
        assert_eq!((err.exit, err.code.as_deref()), ("unauthenticated", Some(code)), "{err:?}");
        assert!(err.message.contains("run `weft login user`"), "{}", err.message);
        assert!(!err.message.contains(&format!("rt-{code}")), "{}", err.message);
    }
}

/// A self-signed RSA certificate and key made with the `openssl` CLI: (cert PEM, PKCS#8 key
/// PEM, PKCS#1 key PEM, certificate DER, the public key as PKCS#1 RSAPublicKey DER).
struct TestCert {
    cert: PathBuf,
    key_pkcs8: PathBuf,
    key_pkcs1: PathBuf,
    der: Vec<u8>,
    public_key: Vec<u8>,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run the openssl CLI");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn make_cert(dir: &Path) -> TestCert {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=weft-test-client",
        ],
    );
    openssl(dir, &["rsa", "-in", "key.pem", "-traditional", "-out", "key-pkcs1.pem"]);
    openssl(dir, &["x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der"]);
    openssl(dir, &["x509", "-in", "cert.pem", "-pubkey", "-noout", "-out", "pub.pem"]);
    openssl(
        dir,
        &[
            "rsa",
            "-pubin",
            "-in",
            "pub.pem",
            "-RSAPublicKey_out",
            "-outform",
            "DER",
            "-out",
            "pub.der",
        ],
    );
    let pkcs1 = std::fs::read_to_string(dir.join("key-pkcs1.pem")).unwrap();
    assert!(pkcs1.contains("BEGIN RSA PRIVATE KEY"), "openssl wrote {pkcs1:.40}");
    TestCert {
        cert: dir.join("cert.pem"),
        key_pkcs8: dir.join("key.pem"),
        key_pkcs1: dir.join("key-pkcs1.pem"),
        der: std::fs::read(dir.join("cert.der")).unwrap(),
        public_key: std::fs::read(dir.join("pub.der")).unwrap(),
    }
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[test]
fn client_assertion_jwt_shape_and_signature() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(dir.path());
    let pem = std::fs::read_to_string(&cert.cert).unwrap();
    let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(&cert.der));
    let audience = "https://login.example/tenant/oauth2/v2.0/token";
    for (key, algorithm, name, verify) in [
        (
            &cert.key_pkcs8,
            SignatureAlgorithm::PS256,
            "PS256",
            &ring::signature::RSA_PSS_2048_8192_SHA256
                as &dyn ring::signature::VerificationAlgorithm,
        ),
        (
            &cert.key_pkcs1,
            SignatureAlgorithm::RS256,
            "RS256",
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        ),
        (
            &cert.key_pkcs1,
            SignatureAlgorithm::PS256,
            "PS256",
            &ring::signature::RSA_PSS_2048_8192_SHA256,
        ),
    ] {
        let key_pem = std::fs::read_to_string(key).unwrap();
        let certificate = ClientCertificate::from_pem(&pem, &key_pem, algorithm).unwrap();
        assert_eq!(certificate.thumbprint(), thumbprint);
        assert!(!format!("{certificate:?}").contains("PRIVATE"));
        let before = chrono::Utc::now().timestamp();
        let jwt = certificate.assertion("client-1", audience).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3, "{jwt}");
        let header = decode_part(parts[0]);
        assert_eq!(header["alg"], name);
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["x5t#S256"], thumbprint.as_str());
        let claims = decode_part(parts[1]);
        assert_eq!(claims["aud"], audience);
        assert_eq!(claims["iss"], "client-1");
        assert_eq!(claims["sub"], "client-1");
        assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16), "{claims}");
        let (iat, nbf, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["nbf"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert!((before..=before + 5).contains(&iat), "{claims}");
        assert!(nbf <= iat && exp > iat && exp - iat <= 3600, "{claims}");
        // The signature verifies with the certificate's public key (from openssl, not from us).
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        ring::signature::UnparsedPublicKey::new(verify, &cert.public_key)
            .verify(signed.as_bytes(), &signature)
            .unwrap_or_else(|_| panic!("{name} signature does not verify"));
        let mut tampered = signed.clone().into_bytes();
        tampered[5] ^= 1;
        assert!(
            ring::signature::UnparsedPublicKey::new(verify, &cert.public_key)
                .verify(&tampered, &signature)
                .is_err()
        );
        // Every assertion is new (fresh jti).
        let again = certificate.assertion("client-1", audience).unwrap();
        assert_ne!(decode_part(again.split('.').nth(1).unwrap())["jti"], claims["jti"]);
    }
    // Not a key: a clear message, no panic.
    let err = ClientCertificate::from_pem(&pem, &pem, SignatureAlgorithm::PS256).unwrap_err();
    assert!(err.contains("PRIVATE KEY"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_client_assertion_gets_a_token_from_the_simulator() {
    let sim = sign_in_sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(dir.path());
    let profile = |key: &Path, alg: &str| {
        json!({ "type": "oauth2", "grant": "client_credentials", "token_url": sim.token_url(),
                "client_id": APP_CLIENT_ID, "scopes": [GRAPH_DEFAULT], "hosts": ["127.0.0.1:*"],
                "client_certificate": { "certificate": { "file": cert.cert.file_name().unwrap().to_str().unwrap() },
                                        "private_key": { "file": key.file_name().unwrap().to_str().unwrap() },
                                        "algorithm": alg } })
    };
    let profiles =
        json!({ "ps": profile(&cert.key_pkcs8, "PS256"), "rs": profile(&cert.key_pkcs1, "RS256") });
    let ps = resolve(dir.path(), profiles.clone(), "ps");
    let rs = resolve(dir.path(), profiles, "rs");
    let manager = TokenManager::new(vec![ps, rs], StateDir::new(dir.path().join("state"))).unwrap();
    for name in ["ps", "rs"] {
        let signed = manager.sign_in(name).await.unwrap();
        assert_eq!(signed.token_type, "Bearer", "{name}");
        assert!(signed.expires_at.is_some());
    }
    assert_eq!(sim.counters().tokens_client_credentials, 2);
    // And the token works on Graph.
    let credential = manager.credential("ps", "127.0.0.1", Some(sim.addr().port())).await.unwrap();
    let response = http::client()
        .get(format!("{}/users/adele@weft.test/calendars", sim.graph_base()))
        .header("authorization", credential.headers[0].1.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weft_login_with_the_simulators_public_client_then_a_run_uses_the_sign_in() {
    let sim = sign_in_sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let redirect = format!("http://localhost:{port}/callback");
    let profiles = json!({ "format": "weft.profiles/1", "profiles": { "user": {
        "type": "oauth2", "grant": "authorization_code", "pkce": true,
        "auth_url": sim.authorize_url(), "token_url": sim.token_url(),
        "client_id": PUBLIC_CLIENT_ID, "redirect_url": redirect,
        "scopes": ["offline_access", "Calendars.Read"], "hosts": ["127.0.0.1:*"] } } });
    std::fs::write(dir.path().join("profiles.json"), profiles.to_string()).unwrap();
    let flow = json!({ "format": "weft.flow/1",
        "parameters": { "graph": { "type": "string" } }, "start": "sign_in",
        "nodes": [
            { "id": "sign_in", "type": "authentication", "profile": "user" },
            { "id": "calendars", "type": "http_request", "method": "GET", "auth": "user",
              "url": "${params.graph}/me/calendars", "into": "calendars" },
            { "id": "done", "type": "end",
              "result": "#{ auth: vars.auth, status: vars.calendars.status, calendars: vars.calendars.body.value.len() }" } ],
        "edges": [ { "from": "sign_in", "to": "calendars" }, { "from": "calendars", "to": "done" } ] });
    std::fs::write(dir.path().join("user.flow.json"), flow.to_string()).unwrap();

    let mut child = Weft::new(
        dir.path(),
        ["login", "user", "--profiles", "profiles.json", "--state-dir", "state"],
    )
    .spawn();
    let url = child.wait_for_url();
    assert!(url.starts_with(&sim.authorize_url()), "{url}");
    // The simulator consents by itself and redirects (302) to the login's loopback listener.
    let landing = Browser::new().sign_in(&url, &redirect, "adele@weft.test").await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    let out = tokio::task::spawn_blocking(move || child.finish()).await.unwrap();
    out.assert_code(0);
    assert_eq!(sim.counters().tokens_authorization_code, 1);
    let file = signin_file(&dir.path().join("state"));
    let first = stored_refresh_token(&file);
    assert_no_secret("weft login's output", &out.all(), &[&first, "weftsim-at-", "weftsim-rt-"]);

    let path = dir.path().to_owned();
    let graph = format!("graph={}", sim.graph_base());
    let out = tokio::task::spawn_blocking(move || {
        Weft::new(
            &path,
            [
                "run",
                "user.flow.json",
                "--profiles",
                "profiles.json",
                "--state-dir",
                "state",
                "--param",
                graph.as_str(),
            ],
        )
        .run()
    })
    .await
    .unwrap();
    out.assert_code(0);
    let result = out.json();
    assert_eq!(result["status"], 200, "{result}");
    assert!(result["calendars"].as_i64().unwrap() >= 1, "{result}");
    assert_eq!(result["auth"]["profile"], "user");
    assert_eq!(sim.counters().tokens_refresh_token, 1);
    assert_ne!(stored_refresh_token(&file), first);
    assert_no_secret("the run's output", &out.all(), &["weftsim-at-", "weftsim-rt-"]);
}

fn app_profile(sim: &SimHandle, secret: &str) -> Value {
    json!({ "type": "oauth2", "grant": "client_credentials", "token_url": sim.token_url(),
            "client_id": APP_CLIENT_ID, "client_secret": secret, "scopes": [GRAPH_DEFAULT],
            "hosts": ["127.0.0.1:*"] })
}

fn app_manager(sim: &SimHandle, secret: &str, dir: &Path) -> Arc<TokenManager> {
    let profile = resolve(dir, json!({ "app": app_profile(sim, secret) }), "app");
    Arc::new(TokenManager::new(vec![profile], StateDir::new(dir.join("state"))).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_after_a_401_fetches_one_new_token_for_everyone() {
    let sim = sign_in_sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let manager = app_manager(&sim, weft_sim::APP_CLIENT_SECRET, dir.path());
    let port = Some(sim.addr().port());
    let first = manager.credential("app", "127.0.0.1", port).await.unwrap();
    // Twenty callers saw a 401 with the first token and invalidate it, while others read.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let manager = Arc::clone(&manager);
        let generation = first.generation;
        tasks.spawn(async move {
            if i % 2 == 0 {
                manager.invalidate("app", generation);
            }
            manager.credential("app", "127.0.0.1", port).await.unwrap()
        });
    }
    let mut after = Vec::new();
    while let Some(c) = tasks.join_next().await {
        after.push(c.unwrap());
    }
    let second = manager.credential("app", "127.0.0.1", port).await.unwrap();
    assert_ne!(second.generation, first.generation);
    assert_ne!(second.headers[0].1.expose(), first.headers[0].1.expose());
    assert_eq!(sim.counters().token_requests, 2, "one new token for all");
    // A late invalidation of the old generation does not throw the new token away.
    manager.invalidate("app", first.generation);
    let third = manager.credential("app", "127.0.0.1", port).await.unwrap();
    assert_eq!(third.generation, second.generation);
    assert_eq!(sim.counters().token_requests, 2);
    assert!(
        after.iter().all(|c| c.generation == first.generation || c.generation == second.generation)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_waiting_for_a_failed_request_share_its_failure() {
    use weft_sim::{FaultConfig, FaultKind};
    let sim = sign_in_sim(SimConfig::default().with_app_secret("the-right-secret")).await;
    // Token requests take 300 ms, so all callers are waiting while the first one is answered.
    sim.set_faults(FaultConfig {
        token_requests: true,
        ..FaultConfig::every(1, vec![FaultKind::Latency(Duration::from_millis(300))])
    });
    let dir = tempfile::tempdir().unwrap();
    let manager = app_manager(&sim, "a-wrong-secret-000", dir.path());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let manager = Arc::clone(&manager);
        tasks.spawn(async move { manager.sign_in("app").await });
    }
    while let Some(result) = tasks.join_next().await {
        let err = result.unwrap().unwrap_err();
        assert_eq!(err.code.as_deref(), Some("invalid_client"), "{}", err.message);
        assert!(err.message.contains("AADSTS7000215"), "{}", err.message);
        assert!(!err.message.contains("a-wrong-secret-000"));
    }
    assert_eq!(sim.counters().token_requests, 1);
    // A caller that comes later asks again.
    assert!(manager.sign_in("app").await.is_err());
    assert_eq!(sim.counters().token_requests, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_renewal_keeps_the_still_valid_token_until_near_expiry() {
    use weft_sim::{FaultConfig, FaultKind};
    let sim =
        sign_in_sim(SimConfig { token_lifetime: Duration::from_secs(20), ..SimConfig::default() })
            .await;
    let dir = tempfile::tempdir().unwrap();
    let manager = app_manager(&sim, weft_sim::APP_CLIENT_SECRET, dir.path());
    let port = Some(sim.addr().port());
    let first = manager.credential("app", "127.0.0.1", port).await.unwrap();
    let got = Instant::now();
    // The token endpoint goes down. Renewal is due at 18 s (skew 2 s); until 19 s the current
    // token is still handed out, after that the failure shows. (A lifetime this long leaves
    // the failed renewal most of a second to fit in, on a busy machine too.)
    sim.set_faults(FaultConfig {
        token_requests: true,
        ..FaultConfig::every(1, vec![FaultKind::ServiceUnavailable { retry_after: None }])
    });
    tokio::time::sleep_until((got + Duration::from_millis(18_150)).into()).await;
    let still = manager.credential("app", "127.0.0.1", port).await.unwrap();
    assert_eq!(still.headers[0].1.expose(), first.headers[0].1.expose());
    assert_eq!(sim.counters().token_requests, 2, "the renewal was tried");
    tokio::time::sleep_until((got + Duration::from_millis(19_300)).into()).await;
    let err = manager.credential("app", "127.0.0.1", port).await.unwrap_err();
    assert!(err.message.contains("profile `app`"), "{}", err.message);
    // The endpoint is back: a new token.
    sim.set_faults(FaultConfig::none());
    let fresh = manager.credential("app", "127.0.0.1", port).await.unwrap();
    assert_ne!(fresh.headers[0].1.expose(), first.headers[0].1.expose());
}
