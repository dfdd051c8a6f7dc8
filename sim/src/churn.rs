//! Changes to the calendars from outside, at a steady rate (`SimConfig::churn_per_second`), as
//! other clients would make them: events created, renamed or moved, and deleted, near the
//! anchor, so that delta rounds and listings have something new to report. Deterministic for
//! a seed.

use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::Duration as Span;
use serde_json::{Value, json};

use crate::event::EventType;
use crate::graph::write;
use crate::rng::Rng;
use crate::state::State;

/// Makes changes until the simulator is gone.
pub(crate) async fn run(state: Weak<State>) {
    let (mut rng, period) = match state.upgrade() {
        Some(state) => (
            Rng::derive(state.config.seed, "churn"),
            Duration::try_from_secs_f64(1.0 / state.config.churn_per_second)
                .unwrap_or(Duration::from_secs(1))
                .max(Duration::from_millis(1)),
        ),
        None => return,
    };
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    let mut n = 0_u64;
    loop {
        tick.tick().await;
        let Some(state) = state.upgrade() else { return };
        n += 1;
        change(&state, &mut rng, n);
    }
}

/// One change to a random user's calendar, within two weeks of the anchor.
fn change(state: &Arc<State>, rng: &mut Rng, n: u64) {
    let Some(user) = rng.pick(&state.config.users) else { return };
    let anchor = state.config.anchor;
    let at = |day: i64, hour: i64| {
        let start = anchor.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
            + Span::days(day)
            + Span::hours(hour);
        json!({ "dateTime": start.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC" })
    };
    let fields = |value: Value| crate::object(value).unwrap_or_default();
    // The calendar is a temporary: a reference kept across the write below would make
    // `State::edit_calendar` copy the whole calendar on every change.
    let singles: Vec<String> = state
        .calendar(user)
        .view(anchor - Span::days(14), anchor + Span::days(14))
        .into_iter()
        .filter(|e| e.kind == EventType::SingleInstance)
        .map(|e| e.id.clone())
        .collect();
    let roll = rng.below(10);
    // Any refusal (an event deleted meanwhile) only means no change this time.
    let made = match (roll, rng.pick(&singles)) {
        (0..=3, _) | (_, None) => {
            let (day, hour) = (rng.range(-14, 14), rng.range(8, 17));
            let event = json!({
                "subject": format!("Churn meeting {n}"),
                "start": at(day, hour),
                "end": at(day, hour + 1),
            });
            write::create_event(state, user, &fields(event)).map(|e| format!("created {}", e.id))
        }
        (4..=7, Some(id)) => {
            let change = if rng.chance(0.5) {
                json!({ "subject": format!("Renamed by churn {n}") })
            } else {
                let (day, hour) = (rng.range(-14, 14), rng.range(8, 17));
                json!({ "start": at(day, hour), "end": at(day, hour + 1) })
            };
            write::update_event(state, user, id, None, &fields(change))
                .map(|_| format!("changed {id}"))
        }
        (_, Some(id)) => {
            write::delete_event(state, user, id, None).map(|()| format!("deleted {id}"))
        }
    };
    if let Ok(made) = made
        && state.requests.receiver_count() > 0
    {
        let _ = state.requests.send(format!("churn: {made} in the calendar of {}", user.upn));
    }
}
