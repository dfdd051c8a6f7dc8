//! The calendar flow (`flows/graph-calendar.flow.json`) written by hand with `reqwest` and
//! `serde`, as the baseline of `bench/calendar-vs-handwritten.sh`.
//!
//! It makes the same requests as the flow run with `flows/profiles.sim.json`: one client
//! credentials token request (client id and secret in the form body), then calendarView with the
//! same query (`startDateTime`, `endDateTime`, `$top`, `$orderby`, `$select`) and `Prefer`
//! header, following `@odata.nextLink` to the last page. It maps each item to the same fields
//! (`start`/`end` as UTC RFC 3339, written the way Weft writes instants) and prints the same
//! pretty-printed JSON array as `weft run`.
//!
//! ```text
//! cargo run --release --example calendar_handwritten -- \
//!     http://127.0.0.1:8900 adele@weft.test 2025-01-01T00:00:00Z 2025-02-01T00:00:00Z 10
//! ```
//!
//! The client secret is read from `WEFT_SIM_SECRET` (default: the simulator's `sim-app-secret`).

use std::error::Error;

use reqwest::Url;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use weft::nodes::expr::time::{format_instant, graph_to_utc};

/// The simulator's registered application (see `weft sim`).
const CLIENT_ID: &str = "11111111-1111-1111-1111-111111111111";
/// The scope the `graph-app` profile asks for.
const SCOPE: &str = "https://graph.microsoft.com/.default";

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// The token endpoint's answer (only what is used).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

/// One calendarView page.
#[derive(Deserialize)]
struct Page {
    value: Vec<GraphEvent>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
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
struct GraphEvent {
    id: String,
    subject: String,
    start: DateTimeTimeZone,
    end: DateTimeTimeZone,
    is_all_day: bool,
    location: Option<Location>,
    organizer: Option<Recipient>,
}

/// One mapped item. Fields in the order `weft run` prints them (sorted by name).
#[derive(Serialize)]
struct Event {
    end: String,
    id: String,
    is_all_day: bool,
    location: Option<String>,
    organizer: Option<String>,
    start: String,
    subject: String,
}

/// A Graph date-time as UTC RFC 3339.
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

/// Sends a request and parses the body of a 2xx answer, or returns an error naming the status.
async fn fetch<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T> {
    let response = request.send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        return Err(format!("HTTP {status}: {text}").into());
    }
    Ok(serde_json::from_slice(&body)?)
}

/// A URL-encoded form body.
fn form(pairs: &[(&str, &str)]) -> Result<String> {
    let mut url = Url::parse("http://form.invalid/")?;
    url.query_pairs_mut().extend_pairs(pairs);
    Ok(url.query().unwrap_or_default().to_owned())
}

/// Parses the arguments, fetches every page and prints the mapped items.
async fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, user, from, to, page_size] = args.as_slice() else {
        return Err("usage: calendar_handwritten SIM_BASE_URL USER FROM TO PAGE_SIZE".into());
    };
    let page_size: u32 = page_size.parse().map_err(|e| format!("bad page size: {e}"))?;
    let secret = std::env::var("WEFT_SIM_SECRET").unwrap_or_else(|_| "sim-app-secret".to_owned());
    let base = base.trim_end_matches('/');

    weft::http::ensure_crypto_provider();
    let client = reqwest::Client::builder().build()?;

    // Sign in: client credentials, the secret in the form body.
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", &secret),
        ("scope", SCOPE),
    ])?;
    let token: TokenResponse = fetch(
        client
            .post(format!("{base}/weft-sim/oauth2/v2.0/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body(body),
    )
    .await?;
    let bearer = format!("Bearer {}", token.access_token);

    // calendarView, every page.
    let mut url = Url::parse(&format!("{base}/v1.0/users"))?;
    url.path_segments_mut()
        .map_err(|()| "base URL cannot have a path")?
        .push(user)
        .push("calendarView");
    url.query_pairs_mut()
        .append_pair("startDateTime", from)
        .append_pair("endDateTime", to)
        .append_pair("$top", &page_size.to_string())
        .append_pair("$orderby", "start/dateTime")
        .append_pair("$select", "id,subject,start,end,isAllDay,location,organizer");
    let mut next = Some(url.to_string());
    let mut events = Vec::new();
    while let Some(url) = next.take() {
        let page: Page = fetch(
            client
                .get(url)
                .header("Authorization", &bearer)
                .header("Prefer", "outlook.timezone=\"UTC\""),
        )
        .await?;
        for item in page.value {
            events.push(Event::try_from(item)?);
        }
        next = page.next_link;
    }

    println!("{}", serde_json::to_string_pretty(&events)?);
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
