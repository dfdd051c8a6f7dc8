//! The helper functions registered on the expression engine.
//!
//! Instants are strings: every helper that returns one writes RFC 3339 in UTC with `Z`, whole
//! seconds unless the instant has a fraction (then 3, 6 or 9 digits), see
//! [`format_instant`](super::time::format_instant). Helpers that take one accept everything
//! [`parse_datetime`](super::time::parse_datetime) reads.
//!
//! | helper | result |
//! |---|---|
//! | `now()` | the scope's clock |
//! | `today()` | `YYYY-MM-DD` of `now()` in UTC |
//! | `parse_datetime(s)` | `s` normalised to UTC |
//! | `graph_datetime(#{dateTime, timeZone})`, `to_utc(date_time, time_zone)` | a Graph local time in UTC |
//! | `format_datetime(s, fmt)`, `format_datetime(s, fmt, time_zone)` | chrono `strftime` formatting |
//! | `add_days/add_hours/add_minutes/add_seconds(s, n)` | `s` moved by `n` |
//! | `start_of_day(s)`, `start_of_week(s)` | midnight UTC of the day, of the Monday |
//! | `url_encode(v)` | RFC 3986 percent-encoding of `v` (UTF-8, all but `A-Za-z0-9-._~`) |
//! | `to_json(v)`, `parse_json(s)` | compact JSON text, and back |
//! | `sha256(v)` | the SHA-256 of `v` (a string's UTF-8, anything else's JSON), 64 hex digits |

pub mod clock;

use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Datelike, Duration, Utc};
use rhai::{Dynamic, Engine, EvalAltResult, ImmutableString, Map};

use super::convert::{dynamic_to_json, json_to_dynamic, stringify};
use super::time::{format_instant, graph_to_utc, parse_datetime, utc_to_zone};

type HelperResult<T> = Result<T, Box<EvalAltResult>>;

/// A helper's error: a Rhai runtime error, positioned at the call by Rhai.
fn fail(function: &str, message: impl std::fmt::Display) -> Box<EvalAltResult> {
    format!("{function}: {message}").into()
}

fn parse(function: &str, s: &str) -> HelperResult<DateTime<Utc>> {
    parse_datetime(s).map_err(|e| fail(function, e))
}

fn instant(at: DateTime<Utc>) -> ImmutableString {
    format_instant(&at).into()
}

/// Moves an instant by `amount` units, failing (not panicking) on overflow.
fn shift(
    function: &str,
    s: &str,
    amount: rhai::INT,
    unit: fn(i64) -> Option<Duration>,
) -> HelperResult<ImmutableString> {
    let at = parse(function, s)?;
    unit(amount)
        .and_then(|d| at.checked_add_signed(d))
        .map(instant)
        .ok_or_else(|| fail(function, "the result is out of the supported date range"))
}

/// Formats with a chrono `strftime` format, rejecting invalid formats instead of panicking.
fn format_with<Tz: chrono::TimeZone>(at: &DateTime<Tz>, fmt: &str) -> HelperResult<ImmutableString>
where
    Tz::Offset: std::fmt::Display,
{
    let items: Vec<Item<'_>> = StrftimeItems::new(fmt).collect();
    if items.iter().any(|item| matches!(item, Item::Error)) {
        return Err(fail(
            "format_datetime",
            "invalid format string (see chrono's strftime specifiers)",
        ));
    }
    let mut out = String::new();
    write!(out, "{}", at.format_with_items(items.iter()))
        .map_err(|_| fail("format_datetime", "the format can't be applied to this date-time"))?;
    Ok(out.into())
}

/// RFC 3986 percent-encoding: everything but the unreserved `A-Za-z0-9-._~`, as UTF-8 bytes.
pub(crate) fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
    out
}

/// Reads a string field of a Graph `dateTimeTimeZone` map.
fn map_field(map: &Map, key: &str) -> HelperResult<Option<String>> {
    match map.get(key) {
        None => Ok(None),
        Some(v) if v.is_unit() => Ok(None),
        Some(v) => v
            .as_immutable_string_ref()
            .map(|s| Some(s.as_str().to_owned()))
            .map_err(|t| fail("graph_datetime", format!("'{key}' must be a string, not {t}"))),
    }
}

/// Registers every helper on `engine`.
pub(crate) fn register(engine: &mut Engine) {
    engine.register_fn("now", || instant(clock::current().now()));
    engine.register_fn("today", || -> ImmutableString {
        clock::current().now().format("%Y-%m-%d").to_string().into()
    });
    engine.register_fn("parse_datetime", |s: &str| parse("parse_datetime", s).map(instant));
    engine.register_fn("to_utc", |date_time: &str, time_zone: &str| {
        graph_to_utc(date_time, time_zone).map(instant).map_err(|e| fail("to_utc", e))
    });
    engine.register_fn("graph_datetime", |map: Map| -> HelperResult<ImmutableString> {
        let date_time = map_field(&map, "dateTime")?
            .ok_or_else(|| fail("graph_datetime", "the map has no 'dateTime'"))?;
        let time_zone = map_field(&map, "timeZone")?.unwrap_or_else(|| "UTC".to_owned());
        graph_to_utc(&date_time, &time_zone).map(instant).map_err(|e| fail("graph_datetime", e))
    });
    engine.register_fn("format_datetime", |s: &str, fmt: &str| {
        let at = parse("format_datetime", s)?;
        format_with(&at, fmt)
    });
    engine.register_fn(
        "format_datetime",
        |s: &str, fmt: &str, time_zone: &str| -> HelperResult<ImmutableString> {
            let at = parse("format_datetime", s)?;
            let local = utc_to_zone(&at, time_zone).map_err(|e| fail("format_datetime", e))?;
            format_with(&local, fmt)
        },
    );
    engine.register_fn("add_days", |s: &str, n: rhai::INT| {
        shift("add_days", s, n, Duration::try_days)
    });
    engine.register_fn("add_hours", |s: &str, n: rhai::INT| {
        shift("add_hours", s, n, Duration::try_hours)
    });
    engine.register_fn("add_minutes", |s: &str, n: rhai::INT| {
        shift("add_minutes", s, n, Duration::try_minutes)
    });
    engine.register_fn("add_seconds", |s: &str, n: rhai::INT| {
        shift("add_seconds", s, n, Duration::try_seconds)
    });
    engine.register_fn("start_of_day", |s: &str| -> HelperResult<ImmutableString> {
        let at = parse("start_of_day", s)?;
        Ok(instant(at.date_naive().and_time(chrono::NaiveTime::MIN).and_utc()))
    });
    engine.register_fn("start_of_week", |s: &str| -> HelperResult<ImmutableString> {
        let at = parse("start_of_week", s)?;
        let back = i64::from(at.weekday().num_days_from_monday());
        at.date_naive()
            .checked_sub_signed(Duration::days(back))
            .map(|monday| instant(monday.and_time(chrono::NaiveTime::MIN).and_utc()))
            .ok_or_else(|| fail("start_of_week", "the result is out of the supported date range"))
    });
    engine.register_fn("url_encode", |s: &str| -> ImmutableString { percent_encode(s).into() });
    engine.register_fn("url_encode", |v: Dynamic| -> HelperResult<ImmutableString> {
        stringify(&v).map(|s| percent_encode(&s).into()).map_err(|e| fail("url_encode", e))
    });
    // A stable key from data (a `transactionId`, an `Idempotency-Key`): a retried run sends
    // the same one.
    engine.register_fn("sha256", |v: Dynamic| -> HelperResult<ImmutableString> {
        stringify(&v).map(|s| sha256_hex(&s).into()).map_err(|e| fail("sha256", e))
    });
    let to_json = |v: Dynamic| -> HelperResult<ImmutableString> {
        dynamic_to_json(&v).map(|json| json.to_string().into()).map_err(|e| fail("to_json", e))
    };
    engine.register_fn("to_json", to_json);
    // Rhai's own `to_json` for maps would win over a `Dynamic` overload: shadow it.
    engine.register_fn("to_json", move |m: Map| to_json(Dynamic::from_map(m)));
    engine.register_fn("parse_json", |s: &str| -> HelperResult<Dynamic> {
        serde_json::from_str::<serde_json::Value>(s)
            .map(|v| json_to_dynamic(&v))
            .map_err(|e| fail("parse_json", format!("invalid JSON: {e}")))
    });
    // A map literal's keys are fixed in the source, and expressions can't assign: this is how
    // an expression builds a map whose keys come from data.
    engine.register_fn("to_map", |pairs: rhai::Array| -> HelperResult<Map> {
        let mut map = Map::new();
        for pair in pairs {
            let pair = pair.into_array().ok().filter(|pair| pair.len() == 2);
            let Some([key, value]) = pair.and_then(|pair| <[Dynamic; 2]>::try_from(pair).ok())
            else {
                return Err(fail("to_map", "each element must be a list `[key, value]`"));
            };
            if key.is_array() || key.is_map() || key.is_unit() {
                return Err(fail(
                    "to_map",
                    format!("a key must be text or a number, not {}", key.type_name()),
                ));
            }
            let key = stringify(&key).map_err(|e| fail("to_map", e))?;
            map.insert(key.into(), value);
        }
        Ok(map)
    });
}

/// The SHA-256 of `text`'s UTF-8, as 64 lower-case hex digits.
fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(text.as_bytes()))
}
