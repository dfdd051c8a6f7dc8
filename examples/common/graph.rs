//! A Graph event mapped by hand to the fields the flows map it to: what the hand-written examples
//! and the import benchmark share. Included with `#[path]`; not an example itself.

use std::error::Error;

use serde::{Deserialize, Serialize};
use weft::nodes::expr::time::{format_instant, graph_to_utc};

/// An error of the hand-written programs.
pub type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

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
