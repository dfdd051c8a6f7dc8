//! Signing in to `weft sim` as its application, as the `graph-app` profile of
//! `flows/profiles.sim.json` does: what the hand-written examples share. Included with `#[path]`
//! beside `graph.rs`; not an example itself.

use reqwest::Url;
use serde::Deserialize;

use crate::graph::Result;

/// The simulator's registered application (see `weft sim`).
const CLIENT_ID: &str = "11111111-1111-1111-1111-111111111111";
/// The scope the `graph-app` profile asks for.
const SCOPE: &str = "https://graph.microsoft.com/.default";

/// The token endpoint's answer (only what is used).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

/// Signs in to the simulator at `base` as its application (client credentials, the secret from
/// `WEFT_SIM_SECRET`, default `sim-app-secret`, in the form body) and returns the
/// `Authorization` header's value.
pub async fn sign_in(client: &reqwest::Client, base: &str) -> Result<String> {
    let secret = std::env::var("WEFT_SIM_SECRET").unwrap_or_else(|_| "sim-app-secret".to_owned());
    let mut form = Url::parse("http://form.invalid/")?;
    form.query_pairs_mut().extend_pairs([
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", &secret),
        ("scope", SCOPE),
    ]);
    let response = client
        .post(format!("{base}/weft-sim/oauth2/v2.0/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", "application/json")
        .body(form.query().unwrap_or_default().to_owned())
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(format!("sign-in failed: HTTP {}", response.status()).into());
    }
    let token: TokenResponse = serde_json::from_slice(&response.bytes().await?)?;
    Ok(format!("Bearer {}", token.access_token))
}

/// The exit code of a hand-written program: success, or failure with the error on stderr.
pub fn exit_code(result: Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
