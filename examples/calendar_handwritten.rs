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

#[path = "common/graph.rs"]
mod graph;
#[path = "common/sim.rs"]
mod sim;

use reqwest::Url;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use graph::{Event, GraphEvent, Result};
use sim::sign_in;

/// One calendarView page.
#[derive(Deserialize)]
struct Page {
    value: Vec<GraphEvent>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
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

/// Parses the arguments, fetches every page and prints the mapped items.
async fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, user, from, to, page_size] = args.as_slice() else {
        return Err("usage: calendar_handwritten SIM_BASE_URL USER FROM TO PAGE_SIZE".into());
    };
    let page_size: u32 = page_size.parse().map_err(|e| format!("bad page size: {e}"))?;
    let base = base.trim_end_matches('/');

    weft::http::ensure_crypto_provider();
    let client = reqwest::Client::builder().build()?;

    let bearer = sign_in(&client, base).await?;

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
