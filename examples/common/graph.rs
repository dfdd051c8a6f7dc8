//! What the hand-written examples share: signing in to the simulator, and a Graph event mapped to
//! the fields the flows map it to. Included by each example with `#[path]`; not an example itself.

use std::error::Error;

use reqwest::Url;
use serde::{Deserialize, Serialize};
use weft::nodes::expr::time::{format_instant, graph_to_utc};

/// The simulator's registered application (see `weft sim`).
const CLIENT_ID: &str = "11111111-1111-1111-1111-111111111111";
/// The scope the `graph-app` profile asks for.
const SCOPE: &str = "https://graph.microsoft.com/.default";

pub type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

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

/// A Graph `dateTimeTimeZone`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DateTimeTimeZone {
    date_time: String,
    time_zone: String,
}

/// A Graph `location` (only the display name).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    display_name: Option<String>,
}

/// A Graph `emailAddress`.
#[derive(Deserialize)]
struct EmailAddress {
    address: Option<String>,
}

/// A Graph `recipient` (the organizer).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: Option<EmailAddress>,
}

/// The fields of a Graph event the mapping reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphEvent {
    id: String,
    subject: String,
    start: DateTimeTimeZone,
    end: DateTimeTimeZone,
    is_all_day: bool,
    location: Option<Location>,
    organizer: Option<Recipient>,
}

/// One mapped item. Fields in the order Weft writes them (sorted by name).
#[derive(Serialize)]
pub struct Event {
    end: String,
    id: String,
    is_all_day: bool,
    location: Option<String>,
    organizer: Option<String>,
    start: String,
    subject: String,
}

/// A Graph date-time as UTC RFC 3339, written the way Weft writes instants.
fn to_utc(at: &DateTimeTimeZone) -> Result<String> {
    let instant = graph_to_utc(&at.date_time, &at.time_zone)?;
    Ok(format_instant(&instant))
}

impl TryFrom<GraphEvent> for Event {
    type Error = Box<dyn Error + Send + Sync>;

    fn try_from(item: GraphEvent) -> Result<Self> {
        Ok(Self {
            start: to_utc(&item.start)?,
            end: to_utc(&item.end)?,
            id: item.id,
            subject: item.subject,
            is_all_day: item.is_all_day,
            location: item.location.and_then(|l| l.display_name),
            organizer: item.organizer.and_then(|o| o.email_address).and_then(|e| e.address),
        })
    }
}
