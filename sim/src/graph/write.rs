//! Writes to a calendar: `POST …/events` (201; a repeated `transactionId` answers with the
//! event it created first and creates nothing), and `GET`, `PATCH` (partial; a new
//! `changeKey`) and `DELETE` (204) of `…/events/{id}`, with `If-Match` checked against the
//! event's `@odata.etag` (412 when stale).

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDateTime, Utc};
use serde_json::{Map, Value};

use crate::config::SimUser;
use crate::event::{Attendee, Event, EventType, Person, Place, make_id};
use crate::state::State;
use crate::time;

use super::error::GraphError;
use super::list::ok_json;
use super::options::Prefer;

/// `POST …/events`: the created event (or the one a repeated `transactionId` names), 201.
pub(super) fn create(
    state: &State,
    user: &SimUser,
    body: &[u8],
    prefer: &Prefer,
) -> Result<Response, GraphError> {
    let created = create_event(state, user, &object(body)?)?;
    Ok(event_response(StatusCode::CREATED, &created, prefer))
}

/// Creates the event `fields` describe in `user`'s calendar (Graph's writable event
/// properties); with a `transactionId` already used, gives the event it created instead.
pub(crate) fn create_event(
    state: &State,
    user: &SimUser,
    fields: &Map<String, Value>,
) -> Result<Event, GraphError> {
    let transaction = match fields.get("transactionId") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if !t.is_empty() => Some(t.clone()),
        Some(_) => return Err(invalid("`transactionId` must be a non-empty string.")),
    };
    if let Some(transaction) = &transaction
        && let Some(first) = state.calendar(user).by_transaction(transaction)
    {
        state.count(|c| c.events_repeated += 1);
        return Ok(first.clone());
    }
    for required in ["start", "end"] {
        if !fields.contains_key(required) {
            return Err(invalid(format!("The event needs `{required}`.")));
        }
    }
    let now = Utc::now();
    let key = format!("created:{}", state.guid());
    let mut event = Event {
        id: make_id(state.config.seed, &user.id, &key),
        kind: EventType::SingleInstance,
        series_master_id: None,
        subject: String::new(),
        body: String::new(),
        start: now,
        end: now,
        zone: "UTC".into(),
        all_day: false,
        cancelled: false,
        show_as: "busy",
        importance: "normal",
        sensitivity: "normal",
        location: Place { name: String::new(), kind: "default" },
        organizer: Person { name: user.display_name.clone(), address: user.upn.clone() },
        is_organizer: true,
        response: "organizer",
        attendees: Vec::new(),
        categories: Vec::new(),
        created: now,
        modified: now,
        online: false,
        reminder_minutes: 15,
        recurrence: None,
        original_start: None,
        transaction_id: transaction,
    };
    apply(&mut event, fields)?;
    // Two POSTs with one transactionId racing: the second finds the first's event.
    let created = state.edit_calendar(user, |calendar| {
        if let Some(transaction) = &event.transaction_id
            && let Some(first) = calendar.by_transaction(transaction)
        {
            return first.clone();
        }
        calendar.create(event.clone());
        event
    });
    state.count(|c| c.events_created += 1);
    Ok(created)
}

/// `GET …/events/{id}`.
pub(super) fn get(
    state: &State,
    user: &SimUser,
    id: &str,
    prefer: &Prefer,
) -> Result<Response, GraphError> {
    let calendar = state.calendar(user);
    let event = calendar.event(id).ok_or_else(GraphError::item_not_found)?;
    Ok(event_response(StatusCode::OK, event, prefer))
}

/// `PATCH …/events/{id}`.
pub(super) fn update(
    state: &State,
    user: &SimUser,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
    prefer: &Prefer,
) -> Result<Response, GraphError> {
    let updated = update_event(state, user, id, if_match_of(headers), &object(body)?)?;
    Ok(event_response(StatusCode::OK, &updated, prefer))
}

/// Changes the fields `fields` gives of event `id`, the others staying; `if_match`, when
/// given, must name the event's current version.
pub(crate) fn update_event(
    state: &State,
    user: &SimUser,
    id: &str,
    if_match: Option<&str>,
    fields: &Map<String, Value>,
) -> Result<Event, GraphError> {
    let updated = state.edit_calendar(user, |calendar| {
        let mut event = calendar.event(id).ok_or_else(GraphError::item_not_found)?.clone();
        check_match(if_match, &event)?;
        apply(&mut event, fields)?;
        // A new modification time, so a new change key, even within one clock tick.
        event.modified = Utc::now().max(event.modified + chrono::Duration::microseconds(1));
        calendar.replace(event.clone());
        Ok::<_, GraphError>(event)
    })?;
    state.count(|c| c.events_updated += 1);
    Ok(updated)
}

/// `DELETE …/events/{id}`: 204.
pub(super) fn delete(
    state: &State,
    user: &SimUser,
    id: &str,
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    delete_event(state, user, id, if_match_of(headers))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Deletes event `id`; `if_match` as for [`update_event`].
pub(crate) fn delete_event(
    state: &State,
    user: &SimUser,
    id: &str,
    if_match: Option<&str>,
) -> Result<(), GraphError> {
    state.edit_calendar(user, |calendar| {
        let event = calendar.event(id).ok_or_else(GraphError::item_not_found)?;
        check_match(if_match, event)?;
        calendar.delete(id);
        Ok::<_, GraphError>(())
    })?;
    state.count(|c| c.events_deleted += 1);
    Ok(())
}

fn if_match_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::IF_MATCH).map(|v| v.to_str().unwrap_or_default())
}

/// 412 unless `If-Match` (when given) names the event's current `@odata.etag` (or `*`).
fn check_match(given: Option<&str>, event: &Event) -> Result<(), GraphError> {
    let Some(given) = given.map(str::trim) else { return Ok(()) };
    let bare = |tag: &str| tag.trim_start_matches("W/").trim_matches('"').to_owned();
    if given == "*" || given.split(',').any(|tag| bare(tag.trim()) == event.change_key()) {
        return Ok(());
    }
    Err(GraphError::new(
        StatusCode::PRECONDITION_FAILED,
        "ErrorIrresolvableConflict",
        "The send or update operation could not be performed because the change key passed in \
         the request does not match the current change key for the item.",
    ))
}

/// The event, answered with `status`, its times in the preferred zone.
fn event_response(status: StatusCode, event: &Event, prefer: &Prefer) -> Response {
    let zone = prefer.zone();
    let mut response = ok_json(&event.to_json(zone), prefer.applied());
    *response.status_mut() = status;
    response
}

fn invalid(message: impl Into<String>) -> GraphError {
    GraphError::bad_request("ErrorInvalidRequest", message)
}

/// The request body: a JSON object.
fn object(body: &[u8]) -> Result<Map<String, Value>, GraphError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        _ => Err(GraphError::bad_request(
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and \
             payload is of valid JSON format.",
        )),
    }
}

/// Sets the fields of `event` that `fields` names (Graph's writable event properties; the
/// others are ignored, as read-only ones are by Graph).
fn apply(event: &mut Event, fields: &Map<String, Value>) -> Result<(), GraphError> {
    for (name, value) in fields {
        match name.as_str() {
            "subject" => event.subject = text(name, value)?,
            "body" => {
                event.body =
                    value.get("content").map(|c| text(name, c)).transpose()?.unwrap_or_default();
            }
            "start" => {
                let (at, zone) = date_time_tz(name, value)?;
                event.start = at;
                event.zone = zone;
            }
            "end" => event.end = date_time_tz(name, value)?.0,
            "isAllDay" => event.all_day = flag(name, value)?,
            "isOnlineMeeting" => event.online = flag(name, value)?,
            "location" => {
                let name_given = value.get("displayName").map(|n| text(name, n)).transpose()?;
                event.location.name = name_given.unwrap_or_default();
            }
            "showAs" => {
                event.show_as = one_of(
                    name,
                    value,
                    &["free", "tentative", "busy", "oof", "workingElsewhere", "unknown"],
                )?;
            }
            "importance" => event.importance = one_of(name, value, &["low", "normal", "high"])?,
            "sensitivity" => {
                event.sensitivity =
                    one_of(name, value, &["normal", "personal", "private", "confidential"])?;
            }
            "attendees" => event.attendees = attendees(value)?,
            _ => {}
        }
    }
    if event.end < event.start {
        return Err(invalid("The event's end is before its start."));
    }
    Ok(())
}

fn text(name: &str, value: &Value) -> Result<String, GraphError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Ok(String::new()),
        _ => Err(invalid(format!("`{name}` must be a string."))),
    }
}

fn flag(name: &str, value: &Value) -> Result<bool, GraphError> {
    value.as_bool().ok_or_else(|| invalid(format!("`{name}` must be true or false.")))
}

fn one_of(name: &str, value: &Value, allowed: &[&'static str]) -> Result<&'static str, GraphError> {
    let given = value.as_str().unwrap_or_default();
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(given))
        .copied()
        .ok_or_else(|| invalid(format!("`{name}` must be one of {}.", allowed.join(", "))))
}

/// A `dateTimeTimeZone`: `{ dateTime: "2026-12-03T09:00:00", timeZone: "W. Europe Standard
/// Time" }` (a Windows or IANA name), as an instant and the zone's name.
fn date_time_tz(name: &str, value: &Value) -> Result<(chrono::DateTime<Utc>, String), GraphError> {
    let local = value.get("dateTime").and_then(Value::as_str).unwrap_or_default();
    let zone_name = value.get("timeZone").and_then(Value::as_str).unwrap_or("UTC");
    let zone = time::zone(zone_name).ok_or_else(|| {
        GraphError::bad_request(
            "TimeZoneNotSupportedException",
            format!("A valid TimeZone value must be specified. The following TimeZone value is not supported: '{zone_name}'."),
        )
    })?;
    let local = local.trim();
    let parsed = NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M"))
        .map_err(|_| {
            invalid(format!(
                "`{name}.dateTime` must be a date and time, such as 2026-12-03T09:00:00."
            ))
        })?;
    let at = time::to_utc(&parsed, zone)
        .ok_or_else(|| invalid(format!("`{name}.dateTime` is out of range.")))?;
    Ok((at, zone_name.to_owned()))
}

fn attendees(value: &Value) -> Result<Vec<Attendee>, GraphError> {
    let list = value.as_array().ok_or_else(|| invalid("`attendees` must be a list."))?;
    list.iter()
        .map(|a| {
            let email = a.get("emailAddress");
            let address = email.and_then(|e| e.get("address")).and_then(Value::as_str);
            let address =
                address.ok_or_else(|| invalid("Each attendee needs `emailAddress.address`."))?;
            let name = email.and_then(|e| e.get("name")).and_then(Value::as_str).unwrap_or(address);
            let kind = match a.get("type") {
                None | Some(Value::Null) => "required",
                Some(kind) => {
                    one_of("attendees.type", kind, &["required", "optional", "resource"])?
                }
            };
            Ok(Attendee {
                person: Person { name: name.to_owned(), address: address.to_owned() },
                kind,
                response: "none",
                responded: None,
            })
        })
        .collect()
}
