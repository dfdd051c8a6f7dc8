//! Seeded calendars: every user's events for `span_days` either side of the anchor, generated
//! once per user and kept sorted the way calendarView returns them.
//!
//! Each day draws from its own random stream (seed, user, date), so a day's events don't
//! depend on the span or on the days before it.

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, Utc, Weekday};

use super::catalog::{ALL_DAY, CATEGORIES, EXTERNALS, MEETINGS, MULTI_DAY, PLACES, RESPONSES};
use super::config::{SimConfig, SimUser};
use super::event::{Attendee, Event, EventType, Person, Place, Recurrence, make_id};
use super::rng::Rng;
use super::time::{self, Tz};

/// One user's calendar: generated, then changed by writes (through Graph, or from outside).
#[derive(Debug, Clone)]
pub(crate) struct Calendar {
    /// What calendarView can return (single instances, occurrences, exceptions), ordered by
    /// start, then end, then id.
    view: Vec<Event>,
    /// Series masters (only `/events` lists them).
    masters: Vec<Event>,
    /// The longest event, bounding how far back an overlapping event can start.
    longest: Duration,
    /// The event each change touched, oldest first: the change at index `i` made version
    /// `i + 1`, so a delta round knows the changes after the version it saw.
    changes: Vec<String>,
    /// The events created with a `transactionId`, by it: a repeated POST finds its event.
    transactions: std::collections::HashMap<String, String>,
}

impl Calendar {
    /// The events overlapping `[start, end)`, in calendarView order.
    pub(crate) fn view(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<&Event> {
        let from = start - self.longest;
        let first = self.view.partition_point(|e| e.start < from);
        self.view
            .get(first..)
            .unwrap_or_default()
            .iter()
            .take_while(|e| e.start < end)
            .filter(|e| e.end > start && e.start < end)
            .collect()
    }

    /// What `/events` lists: single instances and series masters, ordered by start.
    pub(crate) fn listing(&self) -> Vec<&Event> {
        let mut all: Vec<&Event> = self
            .view
            .iter()
            .filter(|e| e.kind == EventType::SingleInstance)
            .chain(self.masters.iter())
            .collect();
        all.sort_by(|a, b| order(a).cmp(&order(b)));
        all
    }

    /// Generates `user`'s calendar from the configuration's seed, anchor and density.
    pub(crate) fn generate(config: &SimConfig, user: &SimUser) -> Self {
        let mut g = Generator::new(config, user);
        let anchor = config.anchor.date_naive();
        let span = u64::from(config.span_days);
        let first = anchor.checked_sub_days(Days::new(span)).unwrap_or(anchor);
        let last = anchor.checked_add_days(Days::new(span)).unwrap_or(anchor);
        for day in first.iter_days().take_while(|d| *d <= last) {
            g.day(day);
        }
        g.standup(first, last);
        g.one_on_one(first, last);
        let Generator { mut view, masters, .. } = g;
        view.sort_by(|a, b| order(a).cmp(&order(b)));
        let longest = view.iter().map(|e| e.end - e.start).max().unwrap_or_else(Duration::zero);
        Self { view, masters, longest, changes: Vec::new(), transactions: Default::default() }
    }

    /// The calendar's version: how many changes it has seen.
    pub(crate) fn version(&self) -> u64 {
        self.changes.len() as u64
    }

    /// The event with `id` (a series master too).
    pub(crate) fn event(&self, id: &str) -> Option<&Event> {
        self.view.iter().chain(&self.masters).find(|e| e.id == id)
    }

    /// The event created with `transaction`, if one was.
    pub(crate) fn by_transaction(&self, transaction: &str) -> Option<&Event> {
        self.event(self.transactions.get(transaction)?)
    }

    /// Adds `event` (a single instance).
    pub(crate) fn create(&mut self, event: Event) {
        if let Some(transaction) = &event.transaction_id {
            self.transactions.insert(transaction.clone(), event.id.clone());
        }
        self.changed(&event.id);
        self.insert(event);
    }

    /// Replaces the event with `event.id`; false when there is none.
    pub(crate) fn replace(&mut self, event: Event) -> bool {
        if !self.remove(&event.id) {
            return false;
        }
        self.changed(&event.id);
        if event.kind == EventType::SeriesMaster {
            self.masters.push(event);
        } else {
            self.insert(event);
        }
        true
    }

    /// Deletes the event with `id`; false when there is none.
    pub(crate) fn delete(&mut self, id: &str) -> bool {
        let removed = self.remove(id);
        if removed {
            self.changed(id);
        }
        removed
    }

    /// The events changed after `version`, up to `upto`, each once, in the order of their last
    /// change.
    pub(crate) fn changed_between(&self, version: u64, upto: u64) -> Vec<&str> {
        // Versions `version + 1 ..= upto` are the changes at indices `version .. upto`.
        let index = |v: u64| usize::try_from(v).unwrap_or(usize::MAX).min(self.changes.len());
        let (since, upto) = (index(version), index(upto));
        let mut seen = std::collections::HashSet::new();
        let mut ids: Vec<&str> = self
            .changes
            .get(since.min(upto)..upto)
            .unwrap_or_default()
            .iter()
            .rev()
            .map(String::as_str)
            .filter(|id| seen.insert(*id))
            .collect();
        ids.reverse();
        ids
    }

    fn changed(&mut self, id: &str) {
        self.changes.push(id.to_owned());
    }

    fn insert(&mut self, event: Event) {
        self.longest = self.longest.max(event.end - event.start);
        let at = self.view.partition_point(|e| order(e) < order(&event));
        self.view.insert(at, event);
    }

    fn remove(&mut self, id: &str) -> bool {
        if let Some(at) = self.view.iter().position(|e| e.id == id) {
            self.view.remove(at);
            return true;
        }
        if let Some(at) = self.masters.iter().position(|e| e.id == id) {
            self.masters.remove(at);
            return true;
        }
        false
    }
}

/// calendarView's order: by start, then end, then id.
fn order(e: &Event) -> (DateTime<Utc>, DateTime<Utc>, &str) {
    (e.start, e.end, &e.id)
}

/// Working state while one calendar is generated.
struct Generator<'a> {
    config: &'a SimConfig,
    user: &'a SimUser,
    /// The user's mailbox zone; `None` (an unknown name) leaves the calendar empty.
    zone: Option<Tz>,
    me: Person,
    people: Vec<Person>,
    view: Vec<Event>,
    masters: Vec<Event>,
}

impl<'a> Generator<'a> {
    fn new(config: &'a SimConfig, user: &'a SimUser) -> Self {
        let people = config
            .users
            .iter()
            .filter(|u| u.id != user.id)
            .map(|u| Person { name: u.display_name.clone(), address: u.upn.clone() })
            .chain(EXTERNALS.iter().map(|(name, address)| Person {
                name: (*name).to_owned(),
                address: (*address).to_owned(),
            }))
            .collect();
        Self {
            config,
            user,
            zone: time::zone(&user.time_zone),
            me: Person { name: user.display_name.clone(), address: user.upn.clone() },
            people,
            view: Vec::new(),
            masters: Vec::new(),
        }
    }

    fn rng(&self, key: &str) -> Rng {
        Rng::derive(self.config.seed, &format!("{}:{key}", self.user.id))
    }

    fn id(&self, key: &str) -> String {
        make_id(self.config.seed, &self.user.id, key)
    }

    /// The UTC instant of a local time of day (minutes after midnight) in the user's zone.
    fn at(&self, day: NaiveDate, minutes: i64) -> Option<DateTime<Utc>> {
        let day = day.checked_add_days(Days::new(u64::try_from(minutes / 1440).ok()?))?;
        let m = u32::try_from(minutes % 1440).ok()?;
        time::to_utc(&day.and_hms_opt(m / 60, m % 60, 0)?, self.zone?)
    }

    fn person(&self, rng: &mut Rng) -> Person {
        rng.pick(&self.people).cloned().unwrap_or_else(|| self.me.clone())
    }

    /// A plausible event with everything but its times and kind settled by `rng`.
    fn base(&self, rng: &mut Rng, key: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Event {
        let (subject, body) = rng.pick(MEETINGS).copied().unwrap_or(("Meeting", ""));
        let (place, place_kind) = rng.pick(PLACES).copied().unwrap_or(("", "default"));
        let mine = rng.chance(0.45);
        let organizer = if mine { self.me.clone() } else { self.person(rng) };
        let response =
            if mine { "organizer" } else { rng.pick(RESPONSES).copied().unwrap_or("none") };
        let mut attendees = Vec::new();
        if !mine {
            attendees.push(self.attendee(rng, self.me.clone(), response, start));
        }
        for _ in 0..rng.range(i64::from(mine), 3) {
            let p = self.person(rng);
            if p.address != organizer.address
                && attendees.iter().all(|a: &Attendee| a.person.address != p.address)
            {
                let r = rng.pick(RESPONSES).copied().unwrap_or("none");
                attendees.push(self.attendee(rng, p, r, start));
            }
        }
        if place_kind == "conferenceRoom" {
            attendees.push(Attendee {
                person: Person {
                    name: place.to_owned(),
                    address: format!("{}@weft.test", place.to_lowercase().replace(' ', ".")),
                },
                kind: "resource",
                response: "accepted",
                responded: None,
            });
        }
        let cancelled = !mine && rng.chance(0.05);
        let show_as = match (cancelled, response) {
            (true, _) => "free",
            (_, "tentativelyAccepted" | "none" | "notResponded") => "tentative",
            (_, "declined") => "free",
            _ => "busy",
        };
        let created = start.min(self.config.anchor)
            - Duration::days(rng.range(1, 60))
            - Duration::seconds(rng.range(0, 86_399))
            - Duration::microseconds(rng.range(0, 999_999));
        let modified = created + Duration::seconds(rng.range(0, 3 * 86_400));
        let importance = match rng.below(20) {
            0 => "low",
            1 | 2 => "high",
            _ => "normal",
        };
        let categories = if rng.chance(0.3) {
            rng.pick(CATEGORIES).into_iter().copied().collect()
        } else {
            Vec::new()
        };
        Event {
            id: self.id(key),
            kind: EventType::SingleInstance,
            series_master_id: None,
            subject: if cancelled { format!("Canceled: {subject}") } else { subject.to_owned() },
            body: body.to_owned(),
            start,
            end,
            zone: self.user.time_zone.clone(),
            all_day: false,
            cancelled,
            show_as,
            importance,
            sensitivity: if subject.starts_with("Dentist") { "private" } else { "normal" },
            location: Place { name: place.to_owned(), kind: place_kind },
            online: place == "Microsoft Teams Meeting",
            organizer,
            is_organizer: mine,
            response,
            attendees,
            categories,
            created,
            modified,
            reminder_minutes: 15,
            recurrence: None,
            original_start: None,
            transaction_id: None,
        }
    }

    fn attendee(
        &self,
        rng: &mut Rng,
        person: Person,
        response: &'static str,
        start: DateTime<Utc>,
    ) -> Attendee {
        let responded = (response != "none" && response != "notResponded")
            .then(|| start - Duration::hours(rng.range(2, 240)));
        Attendee {
            person,
            kind: if rng.chance(0.2) { "optional" } else { "required" },
            response,
            responded,
        }
    }

    /// One day's single meetings, all-day and multi-day events.
    fn day(&mut self, day: NaiveDate) {
        let mut rng = self.rng(&format!("day:{day}"));
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        let density = i64::from(self.config.events_per_day);
        let count = if weekend {
            i64::from(rng.chance(0.25))
        } else {
            rng.range((density - 2).max(0), density + 2)
        };
        // Half-hour slots from 08:00 to 17:00, each used at most once a day.
        let mut slots: Vec<i64> = (0..19).collect();
        for n in 0..count {
            if slots.is_empty() {
                break;
            }
            let i =
                usize::try_from(rng.below(u64::try_from(slots.len()).unwrap_or(1))).unwrap_or(0);
            let slot = slots.remove(i.min(slots.len() - 1));
            let minutes = 8 * 60 + slot * 30 + if rng.chance(0.15) { 15 } else { 0 };
            let length = *rng.pick(&[15, 30, 30, 45, 60, 60, 90, 120]).unwrap_or(&30);
            let (Some(start), Some(end)) = (self.at(day, minutes), self.at(day, minutes + length))
            else {
                continue;
            };
            let event = self.base(&mut rng, &format!("single:{day}:{n}"), start, end);
            self.view.push(event);
        }
        if rng.chance(0.12) {
            self.all_day(&mut rng, day);
        }
        if !weekend && rng.chance(0.03) {
            let subject = rng.pick(MULTI_DAY).copied().unwrap_or("Offsite");
            let days = rng.range(1, 3);
            if let (Some(start), Some(end)) =
                (self.at(day, 13 * 60), self.at(day, days * 1440 + 12 * 60))
            {
                let mut e = self.base(&mut rng, &format!("multi:{day}"), start, end);
                e.subject = subject.to_owned();
                e.cancelled = false;
                e.show_as = "busy";
                self.view.push(e);
            }
        }
    }

    /// An all-day event from this day's midnight to a later midnight, in the user's zone.
    fn all_day(&mut self, rng: &mut Rng, day: NaiveDate) {
        let (subject, show_as) = rng.pick(ALL_DAY).copied().unwrap_or(("Holiday", "free"));
        let days = if rng.chance(0.3) { rng.range(2, 4) } else { 1 };
        let (Some(start), Some(end)) = (self.at(day, 0), self.at(day, days * 1440)) else {
            return;
        };
        let mut e = self.base(rng, &format!("allday:{day}"), start, end);
        e.subject = subject.to_owned();
        e.body = String::new();
        e.all_day = true;
        e.cancelled = false;
        e.show_as = show_as;
        e.online = false;
        e.location = Place { name: String::new(), kind: "default" };
        e.attendees.clear();
        e.organizer = self.me.clone();
        e.is_organizer = true;
        e.response = "organizer";
        e.reminder_minutes = 1080;
        self.view.push(e);
    }

    /// Expands a series occurring on `days` at `minute` (local) for `length` minutes, from
    /// `first` to `last`, with a few occurrences moved or cancelled as exceptions.
    #[allow(clippy::too_many_arguments)]
    fn series(
        &mut self,
        key: &str,
        subject: &str,
        days: &[Weekday],
        minute: i64,
        length: i64,
        first: NaiveDate,
        last: NaiveDate,
        organizer_is_me: bool,
    ) {
        let master_id = self.id(&format!("series:{key}"));
        let mut rng = self.rng(&format!("series:{key}"));
        let occurring = |d: &NaiveDate| days.contains(&d.weekday());
        let mut master: Option<Event> = None;
        for day in first.iter_days().take_while(|d| *d <= last) {
            if occurring(&day) {
                let (Some(start), Some(end)) =
                    (self.at(day, minute), self.at(day, minute + length))
                else {
                    continue;
                };
                let mut drng = self.rng(&format!("series:{key}:{day}"));
                let mut e = self.base(&mut rng, &format!("series:{key}:{day}"), start, end);
                e.subject = subject.to_owned();
                e.body = format!("Recurring: {subject}");
                e.location = Place { name: "Microsoft Teams Meeting".to_owned(), kind: "default" };
                e.online = true;
                e.cancelled = false;
                e.categories = vec!["Blue category"];
                if organizer_is_me {
                    e.organizer = self.me.clone();
                    e.is_organizer = true;
                    e.response = "organizer";
                    e.attendees.retain(|a| a.person.address != self.me.address);
                }
                e.show_as = "busy";
                e.kind = EventType::Occurrence;
                e.series_master_id = Some(master_id.clone());
                e.original_start = Some(start);
                if master.is_none() {
                    let mut m = e.clone();
                    m.id = master_id.clone();
                    m.kind = EventType::SeriesMaster;
                    m.series_master_id = None;
                    m.original_start = None;
                    m.recurrence = Some(Recurrence {
                        pattern: "weekly",
                        days_of_week: days.iter().map(|d| weekday_name(*d)).collect(),
                        start_date: first,
                        end_date: last,
                    });
                    master = Some(m);
                }
                if drng.chance(0.06) {
                    // Moved by half an hour: an exception keeps its original start.
                    if let (Some(s), Some(t)) =
                        (self.at(day, minute + 30), self.at(day, minute + 30 + length))
                    {
                        e.kind = EventType::Exception;
                        e.start = s;
                        e.end = t;
                        e.subject = format!("{subject} (moved) ⏰");
                    }
                } else if !organizer_is_me && drng.chance(0.04) {
                    e.kind = EventType::Exception;
                    e.cancelled = true;
                    e.show_as = "free";
                    e.subject = format!("Canceled: {subject}");
                }
                self.view.push(e);
            }
        }
        self.masters.extend(master);
    }

    /// A weekday stand-up at 09:30 organised by a colleague.
    fn standup(&mut self, first: NaiveDate, last: NaiveDate) {
        use Weekday::{Fri, Mon, Thu, Tue, Wed};
        self.series(
            "standup",
            "Daily stand-up",
            &[Mon, Tue, Wed, Thu, Fri],
            9 * 60 + 30,
            15,
            first,
            last,
            false,
        );
    }

    /// A weekly 1:1 on Wednesdays at 14:00, organised by the user.
    fn one_on_one(&mut self, first: NaiveDate, last: NaiveDate) {
        let other = self.people.first().map_or_else(|| "team".to_owned(), |p| p.name.clone());
        self.series(
            "one-on-one",
            &format!("1:1 {} / {}", self.me.name, other),
            &[Weekday::Wed],
            14 * 60,
            30,
            first,
            last,
            true,
        );
    }
}

fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SimConfig {
        SimConfig {
            anchor: DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            span_days: 60,
            ..SimConfig::default()
        }
    }

    #[test]
    fn deterministic_and_sorted() {
        let c = config();
        let user = &c.users[0];
        let a = Calendar::generate(&c, user);
        let b = Calendar::generate(&c, user);
        let ids = |cal: &Calendar| cal.view.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        assert!(a.view.windows(2).all(|w| w[0].start <= w[1].start));
        assert!(a.view.iter().any(|e| e.all_day));
        assert!(a.view.iter().any(|e| e.kind == EventType::Occurrence));
        assert!(a.view.iter().any(|e| e.kind == EventType::Exception));
        assert!(a.view.iter().any(|e| e.cancelled));
        assert_eq!(a.masters.len(), 2);
        let mut unique = ids(&a);
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), a.view.len());
    }

    #[test]
    fn all_day_events_span_local_midnights() {
        let c = config();
        let user = &c.users[1];
        let cal = Calendar::generate(&c, user);
        for e in cal.view.iter().filter(|e| e.all_day) {
            let local = time::zone(&user.time_zone)
                .map(|zone| time::to_local(&e.start, zone))
                .unwrap_or_default();
            assert_eq!(local.format("%H:%M").to_string(), "00:00");
        }
    }

    #[test]
    fn view_is_overlap() {
        let c = config();
        let cal = Calendar::generate(&c, &c.users[0]);
        let start = c.anchor;
        let end = start + Duration::days(7);
        let got = cal.view(start, end);
        let want: Vec<_> = cal.view.iter().filter(|e| e.start < end && e.end > start).collect();
        assert_eq!(got.len(), want.len());
        assert!(!got.is_empty());
    }
}
