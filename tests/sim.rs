//! The Entra ID + Graph simulator over real HTTP on 127.0.0.1: token grants and their errors,
//! calendarView paging against the ground truth, Graph errors, time zones, and faults.

use crate::util::at;
use crate::util::http::{self, form, form_encode};
use std::collections::HashSet;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};
use weft_sim::{
    APP_CLIENT_ID, APP_CLIENT_SECRET, FaultConfig, FaultKind, NOPERM_CLIENT_ID,
    NOPERM_CLIENT_SECRET, PUBLIC_CLIENT_ID, SimConfig, SimHandle, Simulator,
};

const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";
const REDIRECT: &str = "http://localhost:8765/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn config() -> SimConfig {
    SimConfig {
        seed: 7,
        anchor: at("2026-11-23T12:00:00Z"),
        span_days: 120,
        ..SimConfig::default()
    }
}

async fn start(config: SimConfig) -> SimHandle {
    Simulator::start(config).await.unwrap()
}

thread_local! {
    // Building a client costs tens of milliseconds in debug builds; each #[tokio::test] runs
    // on its own thread and runtime, so a per-thread client never outlives its runtime.
    static CLIENT: reqwest::Client = http::client();
}

pub(crate) fn client() -> reqwest::Client {
    CLIENT.with(Clone::clone)
}

/// The value of `name` in a URL's query.
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            let bytes = v.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'%' {
                    out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        })
    })
}

async fn post_form(url: &str, body: String) -> (u16, HeaderMap, Value) {
    http::post(&client(), url, "application/x-www-form-urlencoded", body).await
}

/// An app's token (client credentials) for Graph.
pub(crate) async fn app_token(sim: &SimHandle, id: &str, secret: &str) -> String {
    let body = form(&[
        ("client_id", id),
        ("client_secret", secret),
        ("grant_type", "client_credentials"),
        ("scope", GRAPH_DEFAULT),
    ]);
    let (status, _, json) = post_form(&sim.token_url(), body).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    json["access_token"].as_str().unwrap().to_owned()
}

pub(crate) async fn get(
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    let mut req = client().get(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Asserts an Entra error body: `error`, the AADSTS code first in the description, and the
/// trace lines, ids and timestamp Entra adds.
fn assert_entra_error(json: &Value, error: &str, code: u64) {
    assert_eq!(json["error"], error, "{json}");
    let description = json["error_description"].as_str().unwrap();
    assert!(description.starts_with(&format!("AADSTS{code}: ")), "{description}");
    assert!(description.contains("\r\nTrace ID: "), "{description}");
    assert!(description.contains("\r\nCorrelation ID: "), "{description}");
    assert!(description.contains("\r\nTimestamp: "), "{description}");
    assert_eq!(json["error_codes"], serde_json::json!([code]));
    let ts = json["timestamp"].as_str().unwrap();
    assert!(chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%d %H:%M:%SZ").is_ok(), "{ts}");
    assert_eq!(json["trace_id"].as_str().unwrap().len(), 36);
    assert_eq!(json["correlation_id"].as_str().unwrap().len(), 36);
    assert!(json["error_uri"].as_str().unwrap().contains(&code.to_string()));
}

fn assert_graph_error(json: &Value, code: &str) {
    assert_eq!(json["error"]["code"], code, "{json}");
    assert!(json["error"]["message"].is_string());
    let inner = &json["error"]["innerError"];
    assert!(inner["date"].is_string() && inner["request-id"].is_string(), "{json}");
    assert!(inner["client-request-id"].is_string(), "{json}");
}

/// Follows every next link verbatim, returning all items, the number of pages and the last
/// page's delta link (a delta round ends with one).
pub(crate) async fn collect(
    first: &str,
    token: &str,
    headers: &[(&str, &str)],
) -> (Vec<Value>, usize, Option<String>) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut url = first.to_owned();
    loop {
        let (status, _, body) = get(&url, Some(token), headers).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages += 1;
        items.extend(body["value"].as_array().unwrap().iter().cloned());
        match body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => return (items, pages, body["@odata.deltaLink"].as_str().map(str::to_owned)),
        }
    }
}

/// Runs authorize for the public client and returns the code.
async fn authorize(sim: &SimHandle, scope: &str, challenge: &str) -> String {
    let url = format!(
        "{}?{}",
        sim.authorize_url(),
        form(&[
            ("client_id", PUBLIC_CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("state", "xyz 1"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ])
    );
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(query_param(&location, "state").as_deref(), Some("xyz 1"));
    query_param(&location, "code").unwrap()
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn redeem(sim: &SimHandle, code: &str, verifier: &str) -> (u16, Value) {
    let body = form(&[
        ("client_id", PUBLIC_CLIENT_ID),
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ]);
    let (status, _, json) = post_form(&sim.token_url(), body).await;
    (status, json)
}

#[tokio::test]
async fn client_credentials_with_secret_in_body_and_basic() {
    let sim = start(config()).await;
    let body = form(&[
        ("client_id", APP_CLIENT_ID),
        ("client_secret", APP_CLIENT_SECRET),
        ("grant_type", "client_credentials"),
        ("scope", GRAPH_DEFAULT),
    ]);
    let (status, headers, json) = post_form(&sim.token_url(), body).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"], 3599);
    assert_eq!(json["ext_expires_in"], 3599);
    assert!(json["access_token"].as_str().unwrap().len() > 20);
    assert!(json.get("refresh_token").is_none());
    assert!(headers["cache-control"].to_str().unwrap().contains("no-store"));

    // RFC 6749 §2.3.1: form-urlencode id and secret, then base64.
    let basic = STANDARD.encode(format!(
        "{}:{}",
        form_encode(APP_CLIENT_ID),
        form_encode(APP_CLIENT_SECRET)
    ));
    let r = client()
        .post(sim.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {basic}"))
        .body(form(&[("grant_type", "client_credentials"), ("scope", GRAPH_DEFAULT)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let c = sim.counters();
    assert_eq!((c.token_requests, c.tokens_client_credentials, c.token_errors), (2, 2, 0));
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_secret_is_401_invalid_client_without_echoing_it() {
    let sim = start(config()).await;
    let body = form(&[
        ("client_id", APP_CLIENT_ID),
        ("client_secret", "not-the-secret-42"),
        ("grant_type", "client_credentials"),
        ("scope", GRAPH_DEFAULT),
    ]);
    let (status, _, json) = post_form(&sim.token_url(), body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_entra_error(&json, "invalid_client", 7_000_215);
    assert!(!json.to_string().contains("not-the-secret-42"));

    let body = form(&[
        ("client_id", "99999999-9999-9999-9999-999999999999"),
        ("client_secret", "x"),
        ("grant_type", "client_credentials"),
        ("scope", GRAPH_DEFAULT),
    ]);
    let (status, _, json) = post_form(&sim.token_url(), body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_entra_error(&json, "unauthorized_client", 700_016);
    assert_eq!(sim.counters().token_errors, 2);
}

#[tokio::test]
async fn bad_scope_tenant_and_content_type() {
    let sim = start(config()).await;
    let with_scope = |scope: &str| {
        form(&[
            ("client_id", APP_CLIENT_ID),
            ("client_secret", APP_CLIENT_SECRET),
            ("grant_type", "client_credentials"),
            ("scope", scope),
        ])
    };
    let (status, _, json) = post_form(&sim.token_url(), with_scope("Calendars.Read")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_entra_error(&json, "invalid_scope", 1_002_012);
    let two = format!("{GRAPH_DEFAULT} https://management.azure.com/.default");
    let (_, _, json) = post_form(&sim.token_url(), with_scope(&two)).await;
    assert_entra_error(&json, "invalid_scope", 700_022);
    // The simulator also answers to its own base URL as the resource.
    let own = format!("{}/.default", sim.base_url());
    let (status, _, _) = post_form(&sim.token_url(), with_scope(&own)).await;
    assert_eq!(status, StatusCode::OK);

    let other_tenant = format!("{}/nope.test/oauth2/v2.0/token", sim.base_url());
    let (status, _, json) = post_form(&other_tenant, with_scope(GRAPH_DEFAULT)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_entra_error(&json, "invalid_request", 90002);

    let r = client()
        .post(sim.token_url())
        .header("content-type", "application/json")
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let json: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_entra_error(&json, "invalid_request", 900_144);
}

#[tokio::test]
async fn authorization_code_with_pkce() {
    let sim = start(config()).await;
    let scope = "openid offline_access https://graph.microsoft.com/Calendars.Read";
    let code = authorize(&sim, scope, &challenge(VERIFIER)).await;
    let (status, token) = redeem(&sim, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(token["token_type"], "Bearer");
    assert!(token["scope"].as_str().unwrap().contains("Calendars.Read"));
    assert!(token["refresh_token"].is_string());
    assert!(token["id_token"].is_string());

    // One use only.
    let (status, json) = redeem(&sim, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_entra_error(&json, "invalid_grant", 54005);

    // The verifier must hash to the challenge.
    let code = authorize(&sim, scope, &challenge(VERIFIER)).await;
    let (status, json) = redeem(&sim, &code, &format!("{VERIFIER}x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_entra_error(&json, "invalid_grant", 501_481);

    // A public client must not send a secret.
    let body = form(&[
        ("client_id", PUBLIC_CLIENT_ID),
        ("client_secret", "s"),
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]);
    let (status, _, json) = post_form(&sim.token_url(), body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_entra_error(&json, "invalid_client", 700_025);

    // The redirect URI must be the one used at authorize.
    let body = form(&[
        ("client_id", PUBLIC_CLIENT_ID),
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", "http://localhost:9999/other"),
        ("code_verifier", VERIFIER),
    ]);
    let (_, _, json) = post_form(&sim.token_url(), body).await;
    assert_entra_error(&json, "invalid_grant", 500_112);

    // The delegated token reads the signed-in user's calendar through /me.
    let access = token["access_token"].as_str().unwrap();
    let url = format!(
        "{}/me/calendarView?startDateTime=2026-11-23T00:00:00Z&endDateTime=2026-11-30T00:00:00Z&$top=50",
        sim.graph_base()
    );
    let (items, _, _) = collect(&url, access, &[]).await;
    let truth =
        sim.ground_truth("adele@weft.test", at("2026-11-23T00:00:00Z"), at("2026-11-30T00:00:00Z"));
    assert_eq!(items, truth);

    // A non-loopback redirect URI is refused with a page, not a redirect.
    let url = format!(
        "{}?{}",
        sim.authorize_url(),
        form(&[
            ("client_id", PUBLIC_CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", "https://evil.test/cb"),
            ("scope", scope),
        ])
    );
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("AADSTS50011"));
}

#[tokio::test]
async fn refresh_tokens_rotate() {
    let sim = start(config()).await;
    let code = authorize(&sim, "offline_access Calendars.Read", &challenge(VERIFIER)).await;
    let (_, token) = redeem(&sim, &code, VERIFIER).await;
    let first = token["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |rt: String| {
        let url = sim.token_url();
        async move {
            let body = form(&[
                ("client_id", PUBLIC_CLIENT_ID),
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("scope", "Calendars.Read offline_access"),
            ]);
            let (status, _, json) = post_form(&url, body).await;
            (status, json)
        }
    };
    let (status, json) = refresh(first.clone()).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let second = json["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let (status, json) = refresh(first).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_entra_error(&json, "invalid_grant", 70008);
    let (status, _) = refresh(second).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sim.counters().tokens_refresh_token, 2);

    // Without offline_access there is no refresh token.
    let code = authorize(&sim, "Calendars.Read", &challenge(VERIFIER)).await;
    let (_, token) = redeem(&sim, &code, VERIFIER).await;
    assert!(token.get("refresh_token").is_none(), "{token}");
}

#[tokio::test]
async fn device_code_pending_then_approved() {
    let sim = start(SimConfig { device_interval: 1, ..config() }).await;
    let start_flow = || {
        let url = sim.device_url();
        async move {
            let body = form(&[
                ("client_id", PUBLIC_CLIENT_ID),
                ("scope", "offline_access Calendars.Read"),
            ]);
            post_form(&url, body).await.2
        }
    };
    let device = start_flow().await;
    assert_eq!(device["expires_in"], 900);
    assert_eq!(device["interval"], 1);
    assert!(device["message"].as_str().unwrap().contains(device["user_code"].as_str().unwrap()));
    let device_code = device["device_code"].as_str().unwrap().to_owned();
    let poll = |code: String| {
        let url = sim.token_url();
        async move {
            let body = form(&[
                ("client_id", PUBLIC_CLIENT_ID),
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", &code),
            ]);
            let (status, _, json) = post_form(&url, body).await;
            (status, json)
        }
    };
    let (status, json) = poll(device_code.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_entra_error(&json, "authorization_pending", 70016);
    let (_, json) = poll(device_code.clone()).await;
    assert_eq!(json["error"], "slow_down");
    // From now on the interval is 5 s longer (RFC 8628 §3.5): on another device code, a poll
    // 1 s after a slow_down is still too soon.
    assert!(json["error_description"].as_str().unwrap().contains("at least 6 seconds"), "{json}");
    let other = start_flow().await["device_code"].as_str().unwrap().to_owned();
    let _ = poll(other.clone()).await;
    assert_eq!(poll(other.clone()).await.1["error"], "slow_down");
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(poll(other).await.1["error"], "slow_down");

    // The user opens the verification page with the code.
    let page = format!(
        "{}?otc={}",
        device["verification_uri"].as_str().unwrap(),
        device["user_code"].as_str().unwrap()
    );
    assert_eq!(client().get(&page).send().await.unwrap().status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(6050)).await;
    let (status, json) = poll(device_code.clone()).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert!(json["access_token"].is_string() && json["refresh_token"].is_string());
    assert_eq!(sim.counters().tokens_device_code, 1);

    // A declined code stops the flow.
    let device = start_flow().await;
    assert!(sim.decline_device_code(device["user_code"].as_str().unwrap()));
    let (_, json) = poll(device["device_code"].as_str().unwrap().to_owned()).await;
    assert_eq!(json["error"], "authorization_declined");
}

#[tokio::test]
async fn calendar_view_paging_matches_ground_truth() {
    let sim = start(config()).await;
    let token = app_token(&sim, APP_CLIENT_ID, APP_CLIENT_SECRET).await;
    let (from, to) = ("2026-11-02T00:00:00Z", "2026-12-07T00:00:00Z");
    let url = format!(
        "{}/users/megan@weft.test/calendarView?startDateTime={from}&endDateTime={to}&$top=7",
        sim.graph_base()
    );
    let (items, pages, _) =
        collect(&url, &token, &[("client-request-id", "0f9e5a0c-1d2b-4c3d-8e7f-001122334455")])
            .await;
    let truth = sim.ground_truth("megan@weft.test", at(from), at(to));
    assert!(truth.len() > 80, "{}", truth.len());
    assert_eq!(items.len(), truth.len());
    assert_eq!(items, truth);
    let ids: HashSet<_> = items.iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), items.len(), "duplicates");
    assert_eq!(pages, truth.len().div_ceil(7));
    let c = sim.counters();
    assert_eq!(c.calendar_view_pages, pages as u64);
    assert_eq!(c.items_served, truth.len() as u64);
    assert_eq!(c.token_requests, 1);

    // The calendar is realistic: all-day events, series occurrences and exceptions.
    let kinds: HashSet<_> = truth.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert!(kinds.contains("occurrence") && kinds.contains("singleInstance"), "{kinds:?}");
    assert!(truth.iter().any(|i| i["isAllDay"] == true));
    assert!(truth.iter().all(|i| i["start"]["timeZone"] == "UTC"));
    let starts: Vec<_> = truth.iter().map(|i| i["start"]["dateTime"].as_str().unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]));

    // Default page size is 10; `$select` keeps id and etag.
    let url = format!(
        "{}/users/megan@weft.test/calendarView?startDateTime={from}&endDateTime={to}&$select=subject,start",
        sim.graph_base()
    );
    let (status, _, body) = get(&url, Some(&token), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let value = body["value"].as_array().unwrap();
    assert_eq!(value.len(), 10);
    let keys: HashSet<_> = value[0].as_object().unwrap().keys().cloned().collect();
    let want: HashSet<_> = ["@odata.etag", "id", "subject", "start"].map(String::from).into();
    assert_eq!(keys, want);
    let next = body["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains("$select=subject") && next.contains("$skiptoken="), "{next}");

    // A tampered skip token is refused.
    let token_value = query_param(next, "$skiptoken").unwrap();
    let forged = URL_SAFE_NO_PAD.encode(format!("20.{}", "0".repeat(16)));
    let tampered = next.replace(&token_value, &forged);
    let (status, _, body) = get(&tampered, Some(&token), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_graph_error(&body, "BadRequest");
    sim.shutdown().await;
}

#[tokio::test]
async fn graph_errors() {
    let sim = start(config()).await;
    let token = app_token(&sim, APP_CLIENT_ID, APP_CLIENT_SECRET).await;
    let base = sim.graph_base();

    let (status, headers, body) = get(
        &format!("{base}/users/adele@weft.test/calendarView"),
        Some(&token),
        &[("client-request-id", "11112222-3333-4444-5555-666677778888")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_graph_error(&body, "ErrorInvalidParameter");
    assert_eq!(headers["client-request-id"], "11112222-3333-4444-5555-666677778888");
    assert!(headers.contains_key("request-id"));

    let window = "startDateTime=2026-11-23&endDateTime=2026-11-24";
    let url = format!("{base}/users/adele@weft.test/calendarView?{window}");
    let (status, headers, body) = get(&url, None, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_graph_error(&body, "InvalidAuthenticationToken");
    let www = headers["www-authenticate"].to_str().unwrap();
    assert!(www.starts_with("Bearer realm=\"\", authorization_uri=\""), "{www}");
    assert!(www.contains("client_id=\""), "{www}");
    let (status, _, _) = get(&url, Some("made-up"), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let noperm = app_token(&sim, NOPERM_CLIENT_ID, NOPERM_CLIENT_SECRET).await;
    let (status, _, body) = get(&url, Some(&noperm), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_graph_error(&body, "ErrorAccessDenied");

    let (status, _, body) =
        get(&format!("{base}/me/calendarView?{window}"), Some(&token), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().contains("/me request is only valid"));

    let (status, _, body) =
        get(&format!("{base}/users/nobody@weft.test/calendarView?{window}"), Some(&token), &[])
            .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_graph_error(&body, "ErrorInvalidUser");

    for top in ["0", "1001", "x"] {
        let (status, _, _) = get(&format!("{url}&$top={top}"), Some(&token), &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "$top={top}");
    }

    // Tokens expiring mid-run: forced 401s, then every token issued so far expires.
    sim.force_unauthorized(1);
    let (status, _, body) = get(&url, Some(&token), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["message"], "Access token has expired or is not yet valid.");
    let (status, _, _) = get(&url, Some(&token), &[]).await;
    assert_eq!(status, StatusCode::OK);
    sim.expire_tokens();
    let (status, _, _) = get(&url, Some(&token), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let c = sim.counters();
    assert_eq!((c.forced_401, c.graph_401, c.graph_403), (1, 4, 1));
}

#[tokio::test]
async fn events_and_calendars_of_the_signed_in_user() {
    let sim = start(config()).await;
    let code = authorize(&sim, "Calendars.Read", &challenge(VERIFIER)).await;
    let (_, token) = redeem(&sim, &code, VERIFIER).await;
    let token = token["access_token"].as_str().unwrap();
    let (status, _, body) =
        get(&format!("{}/me/calendars", sim.graph_base()), Some(token), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let calendar = &body["value"][0];
    assert_eq!(calendar["name"], "Calendar");
    assert_eq!(calendar["canEdit"], true);
    assert_eq!(calendar["owner"]["address"], "adele@weft.test");
    for key in ["id", "color", "hexColor"] {
        assert!(calendar.get(key).is_some(), "{key}");
    }
    let (status, _, body) =
        get(&format!("{}/me/events?$top=1000", sim.graph_base()), Some(token), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let kinds: HashSet<_> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert!(kinds.contains("seriesMaster"), "{kinds:?}");
    assert!(!kinds.contains("occurrence"), "{kinds:?}");
    // Another user's calendar needs Calendars.Read.Shared.
    let (status, _, _) = get(
        &format!(
            "{}/users/megan@weft.test/calendarView?startDateTime=2026-11-23&endDateTime=2026-11-24",
            sim.graph_base()
        ),
        Some(token),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn prefer_time_zone_converts_start_and_end() {
    let sim = start(config()).await;
    let token = app_token(&sim, APP_CLIENT_ID, APP_CLIENT_SECRET).await;
    let (from, to) = ("2026-11-23T00:00:00Z", "2026-11-28T00:00:00Z");
    let url = format!(
        "{}/users/adele@weft.test/calendarView?startDateTime={from}&endDateTime={to}&$top=1000",
        sim.graph_base()
    );
    let prefer = [("prefer", "outlook.timezone=\"Pacific Standard Time\"")];
    let (status, headers, body) = get(&url, Some(&token), &prefer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["preference-applied"], "outlook.timezone=\"Pacific Standard Time\"");
    let items = body["value"].as_array().unwrap();
    let truth = sim.ground_truth("adele@weft.test", at(from), at(to));
    assert_eq!(items.len(), truth.len());
    for (item, utc) in items.iter().zip(&truth) {
        assert_eq!(item["id"], utc["id"]);
        for edge in ["start", "end"] {
            assert_eq!(item[edge]["timeZone"], "Pacific Standard Time");
            let local = item[edge]["dateTime"].as_str().unwrap();
            assert_eq!(local.len(), "2026-11-23T09:00:00.0000000".len(), "{local}");
            let back =
                weft::nodes::expr::time::graph_to_utc(local, "Pacific Standard Time").unwrap();
            let want = weft::nodes::expr::time::graph_to_utc(
                utc[edge]["dateTime"].as_str().unwrap(),
                "UTC",
            )
            .unwrap();
            assert_eq!(back, want);
        }
    }
    let (_, headers, body) = get(&url, Some(&token), &[]).await;
    assert!(!headers.contains_key("preference-applied"));
    assert_eq!(body["value"][0]["start"]["timeZone"], "UTC");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_four_requests_at_once_on_one_mailbox_are_throttled() {
    // The latency keeps the requests in flight together (they are sent at once).
    let limited = start(SimConfig { latency: Duration::from_secs(5), ..config() }).await;
    let unlimited = start(SimConfig {
        latency: Duration::from_millis(300),
        mailbox_concurrency: 0,
        ..config()
    })
    .await;
    for (sim, throttled) in [(&limited, 2), (&unlimited, 0)] {
        let token = app_token(sim, APP_CLIENT_ID, APP_CLIENT_SECRET).await;
        let url = |user: &str| {
            format!(
                "{}/users/{user}/calendarView?startDateTime=2026-11-01&endDateTime=2026-11-02",
                sim.graph_base()
            )
        };
        // Six on one mailbox, one on another.
        let users = ["adele@weft.test"; 6].into_iter().chain(["megan@weft.test"]);
        let calls: Vec<_> = users
            .map(|user| {
                let (url, token) = (url(user), token.clone());
                tokio::spawn(async move { (user, get(&url, Some(&token), &[]).await) })
            })
            .collect();
        let mut refused = 0;
        for call in calls {
            let (user, (status, headers, body)) = call.await.unwrap();
            if status == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(user, "adele@weft.test");
                assert_eq!(headers["retry-after"], "1");
                assert_graph_error(&body, "ApplicationThrottled");
                refused += 1;
            } else {
                assert_eq!(status, StatusCode::OK, "{body}");
            }
        }
        assert_eq!(refused, throttled);
        assert_eq!(sim.counters().mailbox_throttled, throttled);
    }
}

#[tokio::test]
async fn every_third_request_throttled_and_retry_returns_the_same_page() {
    let sim = start(config()).await;
    let token = app_token(&sim, APP_CLIENT_ID, APP_CLIENT_SECRET).await;
    sim.set_faults(FaultConfig::every(3, vec![FaultKind::throttle("0.1")]));
    let url = format!(
        "{}/users/adele@weft.test/calendarView?startDateTime=2026-11-01&endDateTime=2026-12-01&$top=5",
        sim.graph_base()
    );
    let (s1, _, first) = get(&url, Some(&token), &[]).await;
    let (s2, _, _) = get(&url, Some(&token), &[]).await;
    let (s3, headers, body) = get(&url, Some(&token), &[]).await;
    assert_eq!((s1, s2, s3), (StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(headers["retry-after"], "0.1");
    assert_graph_error(&body, "TooManyRequests");
    let (s4, _, again) = get(&url, Some(&token), &[]).await;
    assert_eq!(s4, StatusCode::OK);
    assert_eq!(first["value"], again["value"]);
    assert_eq!(first["@odata.nextLink"], again["@odata.nextLink"]);

    // Paging straight through the faults (retrying 429s) still yields the ground truth.
    let mut items = Vec::new();
    let mut next = Some(url.clone());
    while let Some(u) = next.take() {
        let (status, headers, body) = get(&u, Some(&token), &[]).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait: f64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            next = Some(u);
            continue;
        }
        items.extend(body["value"].as_array().unwrap().iter().cloned());
        next = body["@odata.nextLink"].as_str().map(str::to_owned);
    }
    assert_eq!(
        items,
        sim.ground_truth("adele@weft.test", at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z"))
    );
    assert!(sim.counters().faults_429 >= 2);
}

#[tokio::test]
async fn dropped_connection_is_a_connection_error() {
    let sim = start(config()).await;
    let token = app_token(&sim, APP_CLIENT_ID, APP_CLIENT_SECRET).await;
    sim.set_faults(FaultConfig::every(1, vec![FaultKind::DropConnection]));
    let url = format!(
        "{}/users/adele@weft.test/calendarView?startDateTime=2026-11-01&endDateTime=2026-11-02",
        sim.graph_base()
    );
    let result = client().get(&url).header("authorization", format!("Bearer {token}")).send().await;
    let error = result.expect_err("the connection should be dropped");
    assert!(!error.is_status(), "{error:?}");
    eprintln!(
        "DROPPED: is_connect={} is_request={} {error:?}",
        error.is_connect(),
        error.is_request()
    );
    assert_eq!(sim.counters().faults_dropped, 1);
    sim.set_faults(FaultConfig::none());
    let (status, _, _) = get(&url, Some(&token), &[]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn token_faults_are_optional_and_entra_shaped() {
    let sim = start(config()).await;
    sim.set_faults(FaultConfig {
        token_requests: true,
        ..FaultConfig::every(
            1,
            vec![FaultKind::ServiceUnavailable { retry_after: Some("0.05".into()) }],
        )
    });
    let body = form(&[
        ("client_id", APP_CLIENT_ID),
        ("client_secret", APP_CLIENT_SECRET),
        ("grant_type", "client_credentials"),
        ("scope", GRAPH_DEFAULT),
    ]);
    let (status, headers, json) = post_form(&sim.token_url(), body).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "0.05");
    assert_entra_error(&json, "temporarily_unavailable", 90033);
    assert_eq!(sim.counters().faults_503, 1);
}

// The simulator converts time zones with its own code (`weft_sim::time`); the node kit with
// its own (`weft::nodes::expr::time`). Neither is the reference: they must agree.

/// IANA zones with unusual transitions, besides every Windows name: half-hour summer time
/// (Lord Howe), a 45-minute offset (Chatham), midnight transitions (Santiago, Beirut, Havana),
/// Morocco's Ramadan changes, the southern hemisphere, and zones without summer time.
const IANA_ZONES: &[&str] = &[
    "America/Los_Angeles",
    "America/New_York",
    "America/St_Johns",
    "America/Santiago",
    "America/Havana",
    "America/Asuncion",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Dublin",
    "Africa/Casablanca",
    "Asia/Beirut",
    "Asia/Jerusalem",
    "Asia/Tehran",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Auckland",
    "Pacific/Apia",
    "US/Pacific",
    "Etc/GMT+12",
    "UTC",
];

fn kit_local(at: &DateTime<Utc>, zone: &str) -> Option<chrono::NaiveDateTime> {
    weft::nodes::expr::time::utc_to_zone(at, zone).ok().map(|t| t.naive_local())
}

fn kit_utc(local: &chrono::NaiveDateTime, zone: &str) -> Option<DateTime<Utc>> {
    let text = local.format("%Y-%m-%dT%H:%M:%S").to_string();
    weft::nodes::expr::time::graph_to_utc(&text, zone).ok()
}

#[test]
fn time_zone_names_resolve_as_the_node_kit_resolves_them() {
    let now = Utc::now();
    let mut names: Vec<String> = Vec::new();
    for (windows, iana) in weft_sim::time::WINDOWS_ZONES {
        names.extend([
            (*windows).to_owned(),
            windows.to_uppercase(),
            windows.to_lowercase(),
            format!(" {windows} "),
            (*iana).to_owned(),
            iana.to_lowercase(),
        ]);
    }
    names.extend(IANA_ZONES.iter().map(|z| (*z).to_owned()));
    for other in [
        "utc",
        "Z",
        "tzone://Microsoft/Utc",
        "GMT",
        "Etc/UTC",
        "EST",
        "EST5EDT",
        "Europe/Kyiv",
        "Coordinated Universal Time",
        "Customized Time Zone",
        "Kamchatka Standard Time",
        "Mid-Atlantic Standard Time",
        "+01:00",
        "UTC+01:00",
        "Pacific",
        "",
        " ",
    ] {
        names.push(other.to_owned());
    }
    for name in &names {
        let sim = weft_sim::time::zone(name).map(|zone| weft_sim::time::to_local(&now, zone));
        assert_eq!(sim, kit_local(&now, name), "zone {name:?}");
    }
}

#[test]
fn time_zone_conversions_agree_with_the_node_kit_across_transitions() {
    use chrono::{NaiveDateTime, TimeDelta};

    let zones = weft_sim::time::WINDOWS_ZONES
        .iter()
        .map(|(windows, _)| *windows)
        .chain(IANA_ZONES.iter().copied());
    let (first, last) = (at("2025-01-01T00:00:00Z"), at("2028-01-01T00:00:00Z"));
    let quarter = TimeDelta::minutes(15);
    let (mut transitions, mut instants, mut wall_times) = (0, 0, 0);
    for name in zones {
        let zone = weft_sim::time::zone(name).unwrap();
        let sim_local = |t: &DateTime<Utc>| weft_sim::time::to_local(t, zone);
        let offset = |t: &DateTime<Utc>| sim_local(t) - t.naive_utc();
        // A day at a time, then every quarter hour across each day whose offset changes.
        let mut day = first;
        while day < last {
            let next = day + TimeDelta::days(1);
            assert_eq!(Some(sim_local(&day)), kit_local(&day, name), "{name} at {day}");
            let local = sim_local(&day);
            assert_eq!(weft_sim::time::to_utc(&local, zone), kit_utc(&local, name), "{name}");
            (instants, wall_times) = (instants + 1, wall_times + 1);
            if offset(&day) != offset(&next) {
                transitions += 1;
                let mut t = day;
                while t <= next {
                    assert_eq!(Some(sim_local(&t)), kit_local(&t, name), "{name} at {t}");
                    instants += 1;
                    t += quarter;
                }
                // Every wall time around it, including the ones it skips or repeats.
                let mut local: NaiveDateTime = sim_local(&day) - TimeDelta::hours(3);
                while local <= sim_local(&next) + TimeDelta::hours(3) {
                    let sim = weft_sim::time::to_utc(&local, zone);
                    assert_eq!(sim, kit_utc(&local, name), "{name} wall time {local}");
                    wall_times += 1;
                    local += quarter;
                }
            }
            day = next;
        }
    }
    // About fifty of these zones change offset twice a year: the walk must have met those days.
    assert!(transitions > 200, "{transitions} transitions");
    assert!(
        instants > 30_000 && wall_times > 30_000,
        "{instants} instants, {wall_times} wall times"
    );
}

#[test]
fn instants_parse_as_the_node_kit_parses_them() {
    for text in [
        "2026-11-23",
        "2026-11-23T09:00:00Z",
        "2026-11-23t09:00:00z",
        "2026-11-23 09:00:00",
        "2026-11-23 09:00:00Z",
        "2026-11-23T09:00",
        "2026-11-23 09:00",
        "2026-11-23t09:00",
        "2026-11-23t09:00:00",
        "2026-11-23t09:00:00.5",
        "2026-11-23 09:00:00.5",
        "2026-11-23 09:00:00+01:00",
        "2026-11-23T09:00:00.5+01:00",
        "2026-11-23T09:00:00.5z",
        "2026-11-23T09:00:00.0000000",
        "2026-11-23T09:00:00",
        "2026-11-23T09:00:00.5",
        "2026-11-23T09:00:00.1234567",
        "2026-11-23T09:00:00.1234567Z",
        "2026-11-23T09:00:00.123456789123Z",
        "2026-11-23T09:00:00+01:00",
        "2026-11-23T09:00:00-08:00",
        "2026-11-23T09:00:00-00:00",
        "2026-11-23T09:00:00+14:00",
        "2026-11-23T09:00:00+23:59",
        "2026-11-23T09:00:00+24:00",
        "2026-11-23T09:00:00+01:60",
        " 2026-11-23T09:00:00Z\t",
        "2026-12-31T23:59:60Z",
        "2026-12-31T23:59:60",
        "2026-11-23T10:15:60Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2024-02-29",
        "2026-02-29",
        "2026-13-01",
        "2026-11-23T24:00:00",
        "2026-11-23T09:60:00",
        "2026-11-23T9:00:00Z",
        "2026-11-23T09:00Z",
        "2026-11-23T09:00:00.Z",
        "2026-11-23T09:00:00.",
        "2026-11-23T09:00:00,5Z",
        "2026-11-23T09:00:00+0100",
        "2026-11-23T09:00:00+01",
        "2026-11-23T09:00:00 +01:00",
        "2026-11-23T09:00:00UTC",
        "2026-11-23T09",
        "2026-11-23Z",
        "2026-11-23T",
        "+2026-11-23T09:00:00Z",
        "20261123",
        "2026-W48-1",
        "",
    ] {
        let kit = weft::nodes::expr::time::parse_datetime(text).ok();
        assert_eq!(weft_sim::time::parse_instant(text), kit, "{text:?}");
    }
}
