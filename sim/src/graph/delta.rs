//! `GET …/calendarView/delta`: incremental sync of a window of the primary calendar.
//!
//! The first round lists every event of the window, in pages (`Prefer: odata.maxpagesize`),
//! the last page carrying an `@odata.deltaLink`. A round started from a delta link lists only
//! what changed since the round that issued it: changed and new events in full, and, as
//! `@removed`, events deleted or changed outside the window. A round sees the changes made
//! up to its first page; later ones come in the next round (some may come twice, as Graph
//! warns). The window and the position are kept in the tokens, which are bound to the user by
//! a MAC; delta tokens expire ([`crate::SimHandle::expire_delta_tokens`], or after
//! `SimConfig::delta_token_lifetime`) with 410 `SyncStateNotFound`.

use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::config::SimUser;
use crate::event::EventType;
use crate::state::State;
use crate::urlenc::query;

use super::error::GraphError;
use super::list::ok_json;
use super::options::{self, DEFAULT_TOP, Prefer};
use super::skiptoken::{open, seal};

/// Where a round is: the window, the changes it reports, and the next item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Round {
    start: i64,
    end: i64,
    /// The calendar version the previous round reached (`None`: a first round, everything).
    since: Option<u64>,
    /// The version this round reports up to.
    upto: u64,
    offset: usize,
    /// When the token was issued (ms), and under which generation of delta tokens.
    issued: i64,
    generation: u64,
}

impl Round {
    fn encode(&self, seed: u64, user: &str) -> String {
        let since = self.since.map_or_else(|| "-".to_owned(), |s| s.to_string());
        let raw = format!(
            "{}.{}.{since}.{}.{}.{}.{}",
            self.start, self.end, self.upto, self.offset, self.issued, self.generation
        );
        seal(seed, user, &raw)
    }

    fn decode(seed: u64, user: &str, token: &str) -> Option<Self> {
        let body = open(seed, user, token)?;
        let parts: Vec<&str> = body.split('.').collect();
        let [start, end, since, upto, offset, issued, generation] = parts.as_slice() else {
            return None;
        };
        Some(Self {
            start: start.parse().ok()?,
            end: end.parse().ok()?,
            since: if *since == "-" { None } else { Some(since.parse().ok()?) },
            upto: upto.parse().ok()?,
            offset: offset.parse().ok()?,
            issued: issued.parse().ok()?,
            generation: generation.parse().ok()?,
        })
    }
}

/// One page of a delta round for `user`; `url` is the request's address without its query.
pub(super) fn page(
    state: &State,
    user: &SimUser,
    url: &str,
    link_base: &str,
    pairs: &[(String, String)],
    prefer: &Prefer,
) -> Result<Response, GraphError> {
    let seed = state.config.seed;
    let calendar = state.calendar(user);
    let now = Utc::now().timestamp_millis();
    // A delta token wins over a skip token; both carry a round, checked the same way.
    let token = match options::option(pairs, "$deltatoken") {
        Some(t) => Some((t, true)),
        None => options::option(pairs, "$skiptoken").map(|t| (t, false)),
    };
    let round = match token {
        Some((t, delta)) => {
            let round = Round::decode(seed, &user.id, t).ok_or_else(invalid_token)?;
            if state.delta_expired(round.generation, round.issued) {
                state.count(|c| c.delta_expired += 1);
                return Err(sync_state_not_found());
            }
            if delta {
                // The next round: the changes since the one that issued the token.
                Round {
                    since: Some(round.upto),
                    upto: calendar.version(),
                    offset: 0,
                    issued: now,
                    ..round
                }
            } else {
                round
            }
        }
        None => {
            let (start, end) = options::window(pairs)?;
            Round {
                start: start.timestamp_millis(),
                end: end.timestamp_millis(),
                since: None,
                upto: calendar.version(),
                offset: 0,
                issued: now,
                generation: state.delta_generation(),
            }
        }
    };
    let start = DateTime::from_timestamp_millis(round.start).unwrap_or_default();
    let end = DateTime::from_timestamp_millis(round.end).unwrap_or_default();
    let zone = prefer.zone();
    // `max_page_size` is within 1..=MAX_TOP already.
    let size = prefer.max_page_size.unwrap_or(DEFAULT_TOP);
    let this_page = |len: usize| {
        let from = round.offset.min(len);
        from..from.saturating_add(size).min(len)
    };
    // Only this page's items are written out: a round can be far longer than a page.
    let (value, to, total): (Vec<Value>, usize, usize) = match round.since {
        None => {
            let events = calendar.view(start, end);
            let page = this_page(events.len());
            let to = page.end;
            let value =
                events.get(page).unwrap_or_default().iter().map(|e| e.to_json(zone)).collect();
            (value, to, events.len())
        }
        Some(since) => {
            let ids = calendar.changed_between(since, round.upto);
            let page = this_page(ids.len());
            let to = page.end;
            let value = ids
                .get(page)
                .unwrap_or_default()
                .iter()
                .map(|&id| match calendar.event(id) {
                    Some(e)
                        if e.kind != EventType::SeriesMaster && e.end > start && e.start < end =>
                    {
                        e.to_json(zone)
                    }
                    _ => json!({
                        "@odata.type": "#microsoft.graph.event",
                        "id": id,
                        "@removed": { "reason": "deleted" },
                    }),
                })
                .collect();
            (value, to, ids.len())
        }
    };
    let served = value.len();
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!("{link_base}/v1.0/$metadata#Collection(event)")),
    );
    body.insert("value".into(), Value::Array(value));
    if to < total {
        let next = Round { offset: to, ..round };
        let link = query(&[("$skiptoken".to_owned(), next.encode(seed, &user.id))]);
        body.insert("@odata.nextLink".into(), json!(format!("{url}?{link}")));
    } else {
        let next = Round { since: Some(round.upto), offset: 0, issued: now, ..round };
        let link = query(&[("$deltatoken".to_owned(), next.encode(seed, &user.id))]);
        body.insert("@odata.deltaLink".into(), json!(format!("{url}?{link}")));
    }
    state.count(|c| {
        c.delta_pages += 1;
        c.items_served += served as u64;
    });
    Ok(ok_json(&Value::Object(body), prefer.applied()))
}

fn invalid_token() -> GraphError {
    GraphError::bad_request("InvalidDeltaToken", "The delta or skip token is not valid.")
}

fn sync_state_not_found() -> GraphError {
    GraphError::new(
        StatusCode::GONE,
        "SyncStateNotFound",
        "The sync state generation is not found; please re-sync with an empty sync state.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_the_user_and_refuse_tampering() {
        let round = Round {
            start: 1,
            end: 2,
            since: Some(3),
            upto: 4,
            offset: 5,
            issued: 6,
            generation: 7,
        };
        let token = round.encode(9, "u");
        assert_eq!(Round::decode(9, "u", &token), Some(round));
        assert_eq!(Round::decode(9, "v", &token), None);
        assert_eq!(Round::decode(8, "u", &token), None);
        let first = Round { since: None, ..round };
        assert_eq!(Round::decode(9, "u", &first.encode(9, "u")), Some(first));
        assert_eq!(Round::decode(9, "u", "garbage"), None);
    }
}
