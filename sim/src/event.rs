//! One calendar event as the simulator keeps it (instants in UTC) and its Graph JSON form.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::time::{self, Tz};

/// Graph's `type` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    SingleInstance,
    Occurrence,
    Exception,
    SeriesMaster,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            Self::SingleInstance => "singleInstance",
            Self::Occurrence => "occurrence",
            Self::Exception => "exception",
            Self::SeriesMaster => "seriesMaster",
        }
    }
}

/// A name and a mail address.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub(crate) name: String,
    pub(crate) address: String,
}

impl Person {
    fn email(&self) -> Value {
        json!({ "emailAddress": { "name": self.name, "address": self.address } })
    }
}

/// An invitee and their answer.
#[derive(Debug, Clone)]
pub(crate) struct Attendee {
    pub(crate) person: Person,
    /// `required`, `optional` or `resource`.
    pub(crate) kind: &'static str,
    pub(crate) response: &'static str,
    pub(crate) responded: Option<DateTime<Utc>>,
}

/// The recurrence of a series master.
#[derive(Debug, Clone)]
pub(crate) struct Recurrence {
    /// `daily` or `weekly`.
    pub(crate) pattern: &'static str,
    pub(crate) days_of_week: Vec<&'static str>,
    pub(crate) start_date: NaiveDate,
    pub(crate) end_date: NaiveDate,
}

/// A place.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    pub(crate) name: String,
    pub(crate) kind: &'static str,
}

/// One event, instants in UTC.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) id: String,
    pub(crate) kind: EventType,
    pub(crate) series_master_id: Option<String>,
    pub(crate) subject: String,
    pub(crate) body: String,
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    /// The Windows time zone the event was scheduled in.
    pub(crate) zone: String,
    pub(crate) all_day: bool,
    pub(crate) cancelled: bool,
    pub(crate) show_as: &'static str,
    pub(crate) importance: &'static str,
    pub(crate) sensitivity: &'static str,
    pub(crate) location: Place,
    pub(crate) organizer: Person,
    pub(crate) is_organizer: bool,
    pub(crate) response: &'static str,
    pub(crate) attendees: Vec<Attendee>,
    pub(crate) categories: Vec<&'static str>,
    pub(crate) created: DateTime<Utc>,
    pub(crate) modified: DateTime<Utc>,
    pub(crate) online: bool,
    pub(crate) reminder_minutes: i64,
    pub(crate) recurrence: Option<Recurrence>,
    pub(crate) original_start: Option<DateTime<Utc>>,
    /// What the client that created it named its POST (`transactionId`).
    pub(crate) transaction_id: Option<String>,
}

/// The event properties `$select` may name (Graph's `microsoft.graph.event`).
pub(crate) const PROPERTIES: &[&str] = &[
    "@odata.etag",
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "transactionId",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "iCalUId",
    "uid",
    "reminderMinutesBeforeStart",
    "isReminderOn",
    "hasAttachments",
    "subject",
    "bodyPreview",
    "importance",
    "sensitivity",
    "isAllDay",
    "isCancelled",
    "isOrganizer",
    "responseRequested",
    "seriesMasterId",
    "showAs",
    "type",
    "webLink",
    "onlineMeetingUrl",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "allowNewTimeProposals",
    "occurrenceId",
    "isDraft",
    "hideAttendees",
    "originalStart",
    "responseStatus",
    "body",
    "start",
    "end",
    "location",
    "locations",
    "recurrence",
    "attendees",
    "organizer",
    "onlineMeeting",
];

/// Graph's `dateTime` text: local wall clock with seven fractional digits.
pub(crate) fn graph_date_time(local: &NaiveDateTime) -> String {
    format!("{}.{:07}", local.format("%Y-%m-%dT%H:%M:%S"), local.nanosecond() / 100)
}

/// Graph's instant text (`createdDateTime`…): UTC, seven fractional digits, `Z`.
pub(crate) fn graph_instant(at: &DateTime<Utc>) -> String {
    format!("{}Z", graph_date_time(&at.naive_utc()))
}

/// A `dateTimeTimeZone` in `zone` (its name as the client gave it, and the zone) or in UTC.
fn date_time_tz(at: &DateTime<Utc>, zone: Option<(&str, Tz)>) -> Value {
    match zone {
        Some((name, zone)) => {
            json!({ "dateTime": graph_date_time(&time::to_local(at, zone)), "timeZone": name })
        }
        None => json!({ "dateTime": graph_date_time(&at.naive_utc()), "timeZone": "UTC" }),
    }
}

/// A short deterministic hash of text, base64.
fn digest(parts: &[&str], len: usize) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let s = STANDARD.encode(h.finalize());
    s.chars().take(len).collect()
}

/// A Graph-looking event id (`AAMkA…`), stable for a key.
pub(crate) fn make_id(seed: u64, user: &str, key: &str) -> String {
    let s = seed.to_string();
    let body = digest(&[&s, user, key], 40).replace('/', "-").replace('+', "_");
    format!("AAMkAG{body}AAA=")
}

impl Event {
    /// Changes with every edit (it hashes the id and the last modification time).
    pub(crate) fn change_key(&self) -> String {
        let modified = self.modified.to_rfc3339();
        digest(&[&self.id, &modified], 28)
    }

    fn web_link(&self) -> String {
        format!(
            "https://outlook.office365.com/owa/?itemid={}&exvsurl=1&path=/calendar/item",
            super::urlenc::encode(&self.id)
        )
    }

    fn attendees_json(&self) -> Value {
        Value::Array(
            self.attendees
                .iter()
                .map(|a| {
                    let time = a
                        .responded
                        .map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), |t| graph_instant(&t));
                    json!({
                        "type": a.kind,
                        "status": { "response": a.response, "time": time },
                        "emailAddress": { "name": a.person.name, "address": a.person.address },
                    })
                })
                .collect(),
        )
    }

    fn recurrence_json(&self) -> Value {
        let Some(r) = &self.recurrence else {
            return Value::Null;
        };
        json!({
            "pattern": {
                "type": r.pattern, "interval": 1, "month": 0, "dayOfMonth": 0,
                "daysOfWeek": r.days_of_week, "firstDayOfWeek": "sunday", "index": "first",
            },
            "range": {
                "type": "endDate",
                "startDate": r.start_date.format("%Y-%m-%d").to_string(),
                "endDate": r.end_date.format("%Y-%m-%d").to_string(),
                "recurrenceTimeZone": self.zone, "numberOfOccurrences": 0,
            },
        })
    }

    /// The event as Graph returns it, start and end in `zone` (its name as the client gave it,
    /// and the zone; UTC when `None`).
    pub(crate) fn to_json(&self, zone: Option<(&str, Tz)>) -> Value {
        let change_key = self.change_key();
        let location = json!({
            "displayName": self.location.name,
            "locationType": self.location.kind,
            "uniqueIdType": "unknown",
        });
        let locations = if self.location.name.is_empty() { json!([]) } else { json!([location]) };
        let online_meeting = if self.online {
            json!({ "joinUrl": format!("https://teams.microsoft.com/l/meetup-join/{}", digest(&[&self.id], 16).replace(['/', '+'], "x")) })
        } else {
            Value::Null
        };
        let body_html = format!(
            "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head><body><p>{}</p></body></html>",
            self.body
        );
        let uid = format!(
            "040000008200E00074C5B7101A82E008{}",
            digest(&[&self.series_master_id.clone().unwrap_or_else(|| self.id.clone())], 16)
        );
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_owned(), v);
        };
        put("@odata.etag", json!(format!("W/\"{change_key}\"")));
        put("id", json!(self.id));
        put("createdDateTime", json!(graph_instant(&self.created)));
        put("lastModifiedDateTime", json!(graph_instant(&self.modified)));
        put("changeKey", json!(change_key));
        put("categories", json!(self.categories));
        put("transactionId", json!(self.transaction_id));
        put("originalStartTimeZone", json!(self.zone));
        put("originalEndTimeZone", json!(self.zone));
        put("iCalUId", json!(uid));
        put("uid", json!(uid));
        put("reminderMinutesBeforeStart", json!(self.reminder_minutes));
        put("isReminderOn", json!(!self.all_day));
        put("hasAttachments", json!(false));
        put("subject", json!(self.subject));
        put("bodyPreview", json!(self.body));
        put("importance", json!(self.importance));
        put("sensitivity", json!(self.sensitivity));
        put("isAllDay", json!(self.all_day));
        put("isCancelled", json!(self.cancelled));
        put("isOrganizer", json!(self.is_organizer));
        put("responseRequested", json!(true));
        put("seriesMasterId", json!(self.series_master_id));
        put("showAs", json!(self.show_as));
        put("type", json!(self.kind.as_str()));
        put("webLink", json!(self.web_link()));
        put("onlineMeetingUrl", Value::Null);
        put("isOnlineMeeting", json!(self.online));
        put(
            "onlineMeetingProvider",
            json!(if self.online { "teamsForBusiness" } else { "unknown" }),
        );
        put("allowNewTimeProposals", json!(true));
        put("occurrenceId", Value::Null);
        put("isDraft", json!(false));
        put("hideAttendees", json!(false));
        if let Some(original) = &self.original_start {
            put(
                "originalStart",
                json!(original.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            );
        }
        let response_time = if self.response == "none" || self.response == "organizer" {
            "0001-01-01T00:00:00Z".to_owned()
        } else {
            graph_instant(&self.modified)
        };
        put("responseStatus", json!({ "response": self.response, "time": response_time }));
        put("body", json!({ "contentType": "html", "content": body_html }));
        put("start", date_time_tz(&self.start, zone));
        put("end", date_time_tz(&self.end, zone));
        put("location", location);
        put("locations", locations);
        put("recurrence", self.recurrence_json());
        put("attendees", self.attendees_json());
        put("organizer", self.organizer.email());
        put("onlineMeeting", online_meeting);
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_digit_fractions() {
        let t = DateTime::parse_from_rfc3339("2026-11-23T09:00:00.5Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(graph_date_time(&t.naive_utc()), "2026-11-23T09:00:00.5000000");
        assert_eq!(graph_instant(&t), "2026-11-23T09:00:00.5000000Z");
        let v = date_time_tz(&t, Some(("Pacific Standard Time", Tz::America__Los_Angeles)));
        assert_eq!(v["dateTime"], "2026-11-23T01:00:00.5000000");
        assert_eq!(v["timeZone"], "Pacific Standard Time");
    }
}
