//! One user's calendarView, every page, mapped as the calendar flows map it: what the
//! hand-written examples share. Included with `#[path]` beside `graph.rs`; not an example
//! itself.

use reqwest::Url;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::graph::{Event, GraphEvent, Result};

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

/// The URL of the first calendarView page of `user` between `from` and `to` on the Graph API
/// at `graph` (`…/v1.0`), `page_size` a page, with the flows' query: the window, `$top`,
/// `$orderby` and `$select`.
pub fn calendar_view_url(
    graph: &str,
    user: &str,
    (from, to): (&str, &str),
    page_size: u32,
) -> Result<Url> {
    let mut url = Url::parse(&format!("{graph}/users"))?;
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
    Ok(url)
}

/// The items of `user` between `from` and `to`, `page_size` a page, with the same query and
/// `Prefer` header as the flows, following `@odata.nextLink` to the last page.
pub async fn user_events(
    client: &reqwest::Client,
    base: &str,
    bearer: &str,
    user: &str,
    window: (&str, &str),
    page_size: u32,
) -> Result<Vec<Event>> {
    let url = calendar_view_url(&format!("{base}/v1.0"), user, window, page_size)?;
    let mut next = Some(url.to_string());
    let mut events = Vec::new();
    while let Some(url) = next.take() {
        let page: Page = fetch(
            client
                .get(url)
                .header("Authorization", bearer)
                .header("Prefer", "outlook.timezone=\"UTC\", IdType=\"ImmutableId\""),
        )
        .await?;
        for item in page.value {
            events.push(Event::try_from(item)?);
        }
        next = page.next_link;
    }
    Ok(events)
}
