//! The simulator's own time handling: instants as Graph's query options carry them, zones as
//! Outlook names them, and conversions between UTC and wall-clock time.
//!
//! It uses `chrono` and `chrono-tz` directly and shares no code with the node kit's time
//! helpers, so the calendars the simulator serves are an independent witness of the conversions
//! a flow makes. It is public so tests can compare the two.

mod windows;

use chrono::LocalResult;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc};
pub use chrono_tz::Tz;

pub use windows::WINDOWS_ZONES;

/// The zone a client or a mailbox names: a Windows name (`Pacific Standard Time`, any case), an
/// IANA name (`America/Los_Angeles`, exact case), or UTC as Graph also spells it (`Z`,
/// `tzone://Microsoft/Utc`). Surrounding blanks are ignored. `None` for anything else.
#[must_use]
pub fn zone(name: &str) -> Option<Tz> {
    let name = name.trim();
    if let Some((_, iana)) =
        WINDOWS_ZONES.iter().find(|(windows, _)| windows.eq_ignore_ascii_case(name))
    {
        return iana.parse().ok();
    }
    if name == "Z" || name.eq_ignore_ascii_case("tzone://Microsoft/Utc") {
        return Some(Tz::UTC);
    }
    name.parse().ok()
}

/// The wall-clock time in `zone` at the instant `at`.
#[must_use]
pub fn to_local(at: &DateTime<Utc>, zone: Tz) -> NaiveDateTime {
    at.with_timezone(&zone).naive_local()
}

/// The instant a wall-clock time in `zone` names. A time a transition repeats or skips has two
/// readings, one per offset around the transition; the earlier instant is taken (the larger
/// offset: summer time's). `None` only at the ends of the representable range.
#[must_use]
pub fn to_utc(local: &NaiveDateTime, zone: Tz) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(local) {
        LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, second) => Some(first.min(second).with_timezone(&Utc)),
        LocalResult::None => {
            // Skipped: no instant shows this time. The offsets a day either side are the ones
            // before and after the gap (transitions are months apart).
            let near = local.and_utc();
            let day = TimeDelta::days(1);
            let larger = [near.checked_sub_signed(day)?, near.checked_add_signed(day)?]
                .iter()
                .map(|at| zone.offset_from_utc_datetime(&at.naive_utc()).fix().local_minus_utc())
                .max()?;
            local.checked_sub_signed(TimeDelta::seconds(i64::from(larger))).map(|t| t.and_utc())
        }
    }
}

/// An instant as `calendarView`'s `startDateTime`/`endDateTime` take it: RFC 3339
/// (`2026-11-23T09:00:00Z`, `…+01:00`), or a date and time without an offset
/// (`2026-11-23T09:00[:00[.fraction]]`), or a date (`2026-11-23`), both read as UTC. `T` may
/// be a space, or `t` before an offset (RFC 3339's lower case); surrounding blanks are ignored;
/// fractions beyond nanoseconds are dropped.
#[must_use]
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim().as_bytes();
    let date = date(text.get(..10)?)?;
    let Some((&separator, rest)) = text.get(10..)?.split_first() else {
        return Some(date.and_time(NaiveTime::MIN).and_utc());
    };
    if !matches!(separator, b'T' | b't' | b' ') {
        return None;
    }
    let (time, rest) = time(rest)?;
    let local = date.and_time(time.time);
    let offset_seconds = match rest {
        [] if separator == b't' => return None,
        [] => 0,
        // An offset needs the seconds, as RFC 3339 writes them.
        _ if !time.has_seconds => return None,
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (hours, minutes) = (number(&[*h1, *h2])?, number(&[*m1, *m2])?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = i64::from(hours * 3600 + minutes * 60);
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    local.checked_sub_signed(TimeDelta::seconds(offset_seconds)).map(|t| t.and_utc())
}

/// `YYYY-MM-DD`, a real date.
fn date(text: &[u8]) -> Option<NaiveDate> {
    let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = *text else {
        return None;
    };
    let year = i32::try_from(number(&[y1, y2, y3, y4])?).ok()?;
    NaiveDate::from_ymd_opt(year, number(&[m1, m2])?, number(&[d1, d2])?)
}

/// A time of day and whether it gave its seconds.
struct Time {
    time: NaiveTime,
    has_seconds: bool,
}

/// `HH:MM[:SS[.fraction]]` and what follows it. A second of 60 is a leap second.
fn time(text: &[u8]) -> Option<(Time, &[u8])> {
    let [h1, h2, b':', m1, m2, ref rest @ ..] = *text else {
        return None;
    };
    let (hours, minutes) = (number(&[h1, h2])?, number(&[m1, m2])?);
    let (seconds, nanos, rest) = match *rest {
        [b':', s1, s2, ref rest @ ..] => {
            let seconds = number(&[s1, s2])?;
            let (nanos, rest) = match rest.split_first() {
                Some((b'.', fraction)) => self::fraction(fraction)?,
                _ => (0, rest),
            };
            (Some(seconds), nanos, rest)
        }
        ref rest => (None, 0, rest),
    };
    let time = match seconds {
        Some(60) => NaiveTime::from_hms_nano_opt(hours, minutes, 59, 1_000_000_000 + nanos)?,
        seconds => NaiveTime::from_hms_nano_opt(hours, minutes, seconds.unwrap_or(0), nanos)?,
    };
    Some((Time { time, has_seconds: seconds.is_some() }, rest))
}

/// The digits after a decimal point as nanoseconds (at least one digit; beyond nine dropped),
/// and what follows them.
fn fraction(text: &[u8]) -> Option<(u32, &[u8])> {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let (all, rest) = text.split_at(digits);
    let kept = all.get(..digits.min(9))?;
    let scale = 10u32.pow(u32::try_from(9 - kept.len()).ok()?);
    Some((number(kept)? * scale, rest))
}

/// ASCII digits as a number (at most nine, so it fits).
fn number(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    digits.iter().try_fold(0u32, |n, &b| b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    fn local(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").unwrap_or_default()
    }

    #[test]
    fn every_windows_zone_is_a_known_iana_zone_and_named_once() {
        for (i, (windows, iana)) in WINDOWS_ZONES.iter().enumerate() {
            assert!(iana.parse::<Tz>().is_ok(), "{windows} → {iana}");
            assert!(
                WINDOWS_ZONES.iter().skip(i + 1).all(|(w, _)| !w.eq_ignore_ascii_case(windows)),
                "{windows} twice"
            );
        }
    }

    #[test]
    fn names_resolve_as_graph_accepts_them() {
        assert_eq!(zone("Pacific Standard Time"), Some(Tz::America__Los_Angeles));
        assert_eq!(zone(" pacific standard time "), Some(Tz::America__Los_Angeles));
        assert_eq!(zone("Europe/Berlin"), Some(Tz::Europe__Berlin));
        assert_eq!(zone("utc"), Some(Tz::Etc__UTC));
        assert_eq!(zone("tzone://Microsoft/Utc"), Some(Tz::UTC));
        for unknown in ["europe/berlin", "Customized Time Zone", "+01:00", ""] {
            assert_eq!(zone(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn summer_time_both_ways() {
        let la = Tz::America__Los_Angeles;
        assert_eq!(to_local(&utc("2026-07-01T12:00:00Z"), la), local("2026-07-01T05:00:00"));
        assert_eq!(to_local(&utc("2026-12-01T12:00:00Z"), la), local("2026-12-01T04:00:00"));
        assert_eq!(to_utc(&local("2026-07-01T05:00:00"), la), Some(utc("2026-07-01T12:00:00Z")));
        // Repeated on 1 November: the first (summer time) reading.
        assert_eq!(to_utc(&local("2026-11-01T01:30:00"), la), Some(utc("2026-11-01T08:30:00Z")));
        // Skipped on 8 March: read with summer time's offset.
        assert_eq!(to_utc(&local("2026-03-08T02:30:00"), la), Some(utc("2026-03-08T09:30:00Z")));
    }

    #[test]
    fn instants_in_every_accepted_shape() {
        let nine = Some(utc("2026-11-23T09:00:00Z"));
        for text in [
            "2026-11-23T09:00:00Z",
            "2026-11-23t09:00:00z",
            " 2026-11-23T10:00:00+01:00 ",
            "2026-11-23T09:00:00",
            "2026-11-23 09:00:00",
            "2026-11-23T09:00",
            "2026-11-23T09:00:00.000",
        ] {
            assert_eq!(parse_instant(text), nine, "{text}");
        }
        assert_eq!(parse_instant("2026-11-23"), Some(utc("2026-11-23T00:00:00Z")));
        assert_eq!(
            parse_instant("2026-11-23T09:00:00.1234567891Z"),
            Some(utc("2026-11-23T09:00:00.123456789Z"))
        );
        for bad in [
            "",
            "2026-11-23T09:00Z",
            "2026-02-30",
            "2026-11-23T24:00:00",
            "2026-11-23T9:00:00Z",
            "2026-11-23T09:00:00+0100",
            "2026-11-23t09:00:00",
            "2026-11-23T09:00:00.Z",
            "20261123",
        ] {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
    }
}
