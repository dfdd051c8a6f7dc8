//! Date and time parsing shared by the expression helpers and the rest of Weft.
//!
//! * [`parse_datetime`] reads the instants flows meet: RFC 3339 with an offset, Graph's naive
//!   `YYYY-MM-DDTHH:MM:SS[.fffffff]` (taken as UTC) and plain dates (midnight UTC).
//! * [`graph_to_utc`] reads a Microsoft Graph `dateTimeTimeZone` pair: a naive local date-time
//!   and a time zone named the IANA way (`Europe/Berlin`), the Windows way (`W. Europe Standard
//!   Time`, mapped with CLDR's `windowsZones.xml`, territory `001`) or `UTC`.
//! * [`format_instant`] is the one way instants are written back: RFC 3339 in UTC with `Z`,
//!   whole seconds when the instant has no fraction, otherwise 3, 6 or 9 fractional digits.

use chrono::{
    DateTime, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, Offset, SecondsFormat,
    TimeZone, Utc,
};
use chrono_tz::Tz;

/// Longest piece of an input echoed back in an error message.
const ECHO_MAX: usize = 64;

/// The input, shortened for an error message.
fn echo(s: &str) -> String {
    crate::clip::clip_to(s, ECHO_MAX).to_string()
}

/// Writes an instant the way every Weft helper does: RFC 3339, UTC, `Z`; seconds precision
/// unless the instant has a fraction of a second, then 3, 6 or 9 digits (as few as exact).
#[must_use]
pub fn format_instant(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Parses a naive (zone-less) date-time or date: `YYYY-MM-DDTHH:MM[:SS[.fraction]]` (a space
/// may stand for the `T`; fractions of any length, digits past nanoseconds ignored) or
/// `YYYY-MM-DD` (midnight).
fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    if let Some(naive) = parse_graph_shape(s) {
        return Some(naive);
    }
    const FORMATS: [&str; 4] =
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"];
    for format in FORMATS {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, format) {
            return Some(naive);
        }
    }
    // chrono reads at most nine fractional digits; cut longer fractions down and retry.
    if let Some(dot) = s.find('.') {
        let digits = s[dot + 1..].bytes().take_while(u8::is_ascii_digit).count();
        if digits > 9 && dot + 1 + digits == s.len() {
            return parse_naive(&s[..dot + 10]);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// The shape Graph writes, `YYYY-MM-DDTHH:MM:SS[.fraction]`, read directly: an import converts
/// two per item, and chrono's format-string parser is several times slower.
fn parse_graph_shape(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range]
            .iter()
            .try_fold(0u32, |n, &d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    let mut nanos = 0u32;
    if b.len() > 19 {
        let fraction = b.get(20..)?;
        if b[19] != b'.' || fraction.is_empty() || !fraction.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for (i, &d) in fraction.iter().take(9).enumerate() {
            nanos += u32::from(d - b'0') * 10u32.pow(8 - i as u32);
        }
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    date.and_hms_nano_opt(num(11..13)?, num(14..16)?, num(17..19)?, nanos)
}

/// Parses an RFC 3339 date-time with an offset (`Z` or `±HH:MM`).
fn parse_with_offset(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s).ok()
}

/// Parses an instant: RFC 3339 with an offset (`2026-11-23T09:00:00+01:00`, `…Z`); a naive
/// `YYYY-MM-DDTHH:MM:SS[.fraction]` (any number of fractional digits, as Graph writes seven),
/// taken as UTC; or a date `YYYY-MM-DD`, taken as midnight UTC.
///
/// # Errors
///
/// A message naming the (shortened) input and the accepted forms.
pub fn parse_datetime(s: &str) -> Result<DateTime<Utc>, String> {
    let t = s.trim();
    if let Some(at) = parse_with_offset(t) {
        return Ok(at.with_timezone(&Utc));
    }
    parse_naive(t).map(|naive| naive.and_utc()).ok_or_else(|| {
        format!(
            "invalid date-time '{}': expected RFC 3339 (2026-11-23T09:00:00Z), \
                 YYYY-MM-DDTHH:MM:SS[.fraction] or YYYY-MM-DD",
            echo(t)
        )
    })
}

/// The IANA name CLDR maps a Windows time zone name to (`windowsZones.xml`, territory `001`),
/// e.g. `Pacific Standard Time` → `America/Los_Angeles`. Exact names first, then ignoring
/// ASCII case.
#[must_use]
pub fn windows_to_iana(windows_name: &str) -> Option<&'static str> {
    let name = windows_name.trim();
    WINDOWS_ZONES
        .binary_search_by(|(windows, _)| (*windows).cmp(name))
        .ok()
        .and_then(|i| WINDOWS_ZONES.get(i))
        .or_else(|| WINDOWS_ZONES.iter().find(|(windows, _)| windows.eq_ignore_ascii_case(name)))
        .map(|(_, iana)| *iana)
}

/// Resolves a time zone name: `UTC`, a Windows name, an IANA name, or Graph's
/// `tzone://Microsoft/…` form.
fn resolve_zone(time_zone: &str) -> Result<Tz, String> {
    let name = time_zone.trim();
    let name = name.strip_prefix("tzone://Microsoft/").unwrap_or(name);
    if name.eq_ignore_ascii_case("utc") || name.eq_ignore_ascii_case("z") || name == "GMT" {
        return Ok(Tz::UTC);
    }
    if let Some(Ok(tz)) = windows_to_iana(name).map(str::parse::<Tz>) {
        return Ok(tz);
    }
    name.parse::<Tz>().map_err(|_| {
        format!(
            "unknown time zone '{}': expected UTC, an IANA name (Europe/Berlin) or a Windows name \
             (W. Europe Standard Time)",
            echo(name)
        )
    })
}

/// The UTC instant of a local wall-clock time in `tz`. A time repeated when the clocks go back
/// takes the earlier of its two instants; a time skipped when they go forward is read with the
/// offset in force just after the gap or just before it, whichever gives the earlier instant.
fn local_to_utc(tz: &Tz, local: &NaiveDateTime) -> Result<DateTime<Utc>, String> {
    match tz.from_local_datetime(local) {
        LocalResult::Single(at) => Ok(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Ok(a.with_timezone(&Utc).min(b.with_timezone(&Utc))),
        LocalResult::None => {
            // Offsets a day either side of the gap (no zone changes twice within two days).
            let day = Duration::days(1);
            let candidates = [local.checked_sub_signed(day), local.checked_add_signed(day)]
                .into_iter()
                .flatten()
                .filter_map(|probe| {
                    let offset = tz.offset_from_utc_datetime(&probe).fix();
                    local
                        .checked_sub_signed(Duration::seconds(i64::from(offset.local_minus_utc())))
                        .map(|utc| utc.and_utc())
                });
            candidates.min().ok_or_else(|| "local time out of range".to_owned())
        }
    }
}

/// Converts a Microsoft Graph `dateTimeTimeZone` (`dateTime` without offset, `timeZone` by
/// name) to a UTC instant. `time_zone` may be `UTC`, an IANA name or a Windows name (CLDR
/// mapping, see [`windows_to_iana`]). A `date_time` that carries its own offset (`Z`,
/// `+01:00`) is taken as is. Wall-clock times made ambiguous or skipped by a DST change
/// resolve to the earlier instant.
///
/// # Errors
///
/// A message when the date-time or the time zone can't be read.
pub fn graph_to_utc(date_time: &str, time_zone: &str) -> Result<DateTime<Utc>, String> {
    let t = date_time.trim();
    if let Some(at) = parse_with_offset(t) {
        return Ok(at.with_timezone(&Utc));
    }
    let tz = resolve_zone(time_zone)?;
    let local = parse_naive(t).ok_or_else(|| {
        format!("invalid date-time '{}': expected YYYY-MM-DDTHH:MM:SS[.fraction]", echo(t))
    })?;
    local_to_utc(&tz, &local)
}

/// Converts a UTC instant to the wall-clock time of a named zone (`UTC`, IANA or Windows).
///
/// # Errors
///
/// A message when the time zone is unknown.
pub fn utc_to_zone(at: &DateTime<Utc>, time_zone: &str) -> Result<DateTime<Tz>, String> {
    resolve_zone(time_zone).map(|tz| at.with_timezone(&tz))
}

/// CLDR `windowsZones.xml` (territory `001`): Windows time zone name → IANA name, sorted by
/// the Windows name (byte order) for binary search.
static WINDOWS_ZONES: &[(&str, &str)] = &[
    ("AUS Central Standard Time", "Australia/Darwin"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("Afghanistan Standard Time", "Asia/Kabul"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("Aleutian Standard Time", "America/Adak"),
    ("Altai Standard Time", "Asia/Barnaul"),
    ("Arab Standard Time", "Asia/Riyadh"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Arabic Standard Time", "Asia/Baghdad"),
    ("Argentina Standard Time", "America/Buenos_Aires"),
    ("Astrakhan Standard Time", "Europe/Astrakhan"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("Aus Central W. Standard Time", "Australia/Eucla"),
    ("Azerbaijan Standard Time", "Asia/Baku"),
    ("Azores Standard Time", "Atlantic/Azores"),
    ("Bahia Standard Time", "America/Bahia"),
    ("Bangladesh Standard Time", "Asia/Dhaka"),
    ("Belarus Standard Time", "Europe/Minsk"),
    ("Bougainville Standard Time", "Pacific/Bougainville"),
    ("Canada Central Standard Time", "America/Regina"),
    ("Cape Verde Standard Time", "Atlantic/Cape_Verde"),
    ("Caucasus Standard Time", "Asia/Yerevan"),
    ("Cen. Australia Standard Time", "Australia/Adelaide"),
    ("Central America Standard Time", "America/Guatemala"),
    ("Central Asia Standard Time", "Asia/Bishkek"),
    ("Central Brazilian Standard Time", "America/Cuiaba"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("Central Pacific Standard Time", "Pacific/Guadalcanal"),
    ("Central Standard Time", "America/Chicago"),
    ("Central Standard Time (Mexico)", "America/Mexico_City"),
    ("Chatham Islands Standard Time", "Pacific/Chatham"),
    ("China Standard Time", "Asia/Shanghai"),
    ("Cuba Standard Time", "America/Havana"),
    ("Dateline Standard Time", "Etc/GMT+12"),
    ("E. Africa Standard Time", "Africa/Nairobi"),
    ("E. Australia Standard Time", "Australia/Brisbane"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("Easter Island Standard Time", "Pacific/Easter"),
    ("Eastern Standard Time", "America/New_York"),
    ("Eastern Standard Time (Mexico)", "America/Cancun"),
    ("Egypt Standard Time", "Africa/Cairo"),
    ("Ekaterinburg Standard Time", "Asia/Yekaterinburg"),
    ("FLE Standard Time", "Europe/Kiev"),
    ("Fiji Standard Time", "Pacific/Fiji"),
    ("GMT Standard Time", "Europe/London"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Georgian Standard Time", "Asia/Tbilisi"),
    ("Greenland Standard Time", "America/Godthab"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("Haiti Standard Time", "America/Port-au-Prince"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("India Standard Time", "Asia/Calcutta"),
    ("Iran Standard Time", "Asia/Tehran"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("Jordan Standard Time", "Asia/Amman"),
    ("Kaliningrad Standard Time", "Europe/Kaliningrad"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("Libya Standard Time", "Africa/Tripoli"),
    ("Line Islands Standard Time", "Pacific/Kiritimati"),
    ("Lord Howe Standard Time", "Australia/Lord_Howe"),
    ("Magadan Standard Time", "Asia/Magadan"),
    ("Magallanes Standard Time", "America/Punta_Arenas"),
    ("Marquesas Standard Time", "Pacific/Marquesas"),
    ("Mauritius Standard Time", "Indian/Mauritius"),
    ("Middle East Standard Time", "Asia/Beirut"),
    ("Montevideo Standard Time", "America/Montevideo"),
    ("Morocco Standard Time", "Africa/Casablanca"),
    ("Mountain Standard Time", "America/Denver"),
    ("Mountain Standard Time (Mexico)", "America/Mazatlan"),
    ("Myanmar Standard Time", "Asia/Rangoon"),
    ("N. Central Asia Standard Time", "Asia/Novosibirsk"),
    ("Namibia Standard Time", "Africa/Windhoek"),
    ("Nepal Standard Time", "Asia/Katmandu"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("Newfoundland Standard Time", "America/St_Johns"),
    ("Norfolk Standard Time", "Pacific/Norfolk"),
    ("North Asia East Standard Time", "Asia/Irkutsk"),
    ("North Asia Standard Time", "Asia/Krasnoyarsk"),
    ("North Korea Standard Time", "Asia/Pyongyang"),
    ("Omsk Standard Time", "Asia/Omsk"),
    ("Pacific SA Standard Time", "America/Santiago"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("Pacific Standard Time (Mexico)", "America/Tijuana"),
    ("Pakistan Standard Time", "Asia/Karachi"),
    ("Paraguay Standard Time", "America/Asuncion"),
    ("Qyzylorda Standard Time", "Asia/Qyzylorda"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Russia Time Zone 10", "Asia/Srednekolymsk"),
    ("Russia Time Zone 11", "Asia/Kamchatka"),
    ("Russia Time Zone 3", "Europe/Samara"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("SA Eastern Standard Time", "America/Cayenne"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("SA Western Standard Time", "America/La_Paz"),
    ("SE Asia Standard Time", "Asia/Bangkok"),
    ("Saint Pierre Standard Time", "America/Miquelon"),
    ("Sakhalin Standard Time", "Asia/Sakhalin"),
    ("Samoa Standard Time", "Pacific/Apia"),
    ("Sao Tome Standard Time", "Africa/Sao_Tome"),
    ("Saratov Standard Time", "Europe/Saratov"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("South Sudan Standard Time", "Africa/Juba"),
    ("Sri Lanka Standard Time", "Asia/Colombo"),
    ("Sudan Standard Time", "Africa/Khartoum"),
    ("Syria Standard Time", "Asia/Damascus"),
    ("Taipei Standard Time", "Asia/Taipei"),
    ("Tasmania Standard Time", "Australia/Hobart"),
    ("Tocantins Standard Time", "America/Araguaina"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("Tomsk Standard Time", "Asia/Tomsk"),
    ("Tonga Standard Time", "Pacific/Tongatapu"),
    ("Transbaikal Standard Time", "Asia/Chita"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Turks And Caicos Standard Time", "America/Grand_Turk"),
    ("US Eastern Standard Time", "America/Indianapolis"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("UTC", "Etc/UTC"),
    ("UTC+12", "Etc/GMT-12"),
    ("UTC+13", "Etc/GMT-13"),
    ("UTC-02", "Etc/GMT+2"),
    ("UTC-08", "Etc/GMT+8"),
    ("UTC-09", "Etc/GMT+9"),
    ("UTC-11", "Etc/GMT+11"),
    ("Ulaanbaatar Standard Time", "Asia/Ulaanbaatar"),
    ("Venezuela Standard Time", "America/Caracas"),
    ("Vladivostok Standard Time", "Asia/Vladivostok"),
    ("Volgograd Standard Time", "Europe/Volgograd"),
    ("W. Australia Standard Time", "Australia/Perth"),
    ("W. Central Africa Standard Time", "Africa/Lagos"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("W. Mongolia Standard Time", "Asia/Hovd"),
    ("West Asia Standard Time", "Asia/Tashkent"),
    ("West Bank Standard Time", "Asia/Hebron"),
    ("West Pacific Standard Time", "Pacific/Port_Moresby"),
    ("Yakutsk Standard Time", "Asia/Yakutsk"),
    ("Yukon Standard Time", "America/Whitehorse"),
];

#[cfg(test)]
mod shape_tests {
    use super::*;

    #[test]
    fn graph_shape_fast_path_agrees_with_chrono() {
        for s in [
            "2026-11-23T09:00:00",
            "2026-11-23T09:00:00.0000000",
            "2026-02-28T23:59:59.1234567891",
            "2026-11-23T09:00:00.5",
        ] {
            let slow =
                NaiveDateTime::parse_from_str(&s[..s.len().min(29)], "%Y-%m-%dT%H:%M:%S%.f").ok();
            assert_eq!(parse_graph_shape(s), slow, "{s}");
        }
        for s in [
            "2026-13-01T00:00:00",
            "2026-11-23T24:00:00",
            "2026-11-23T09:00:00.",
            "2026-11-23T09:00:00Z",
            "２０２６-11-23T09:00:00",
            "2026-11-23 09:00:00",
        ] {
            assert_eq!(parse_graph_shape(s), None, "{s}");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn table_is_sorted_complete_and_known_to_chrono_tz() {
        assert!(WINDOWS_ZONES.len() >= 139);
        for pair in WINDOWS_ZONES.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} !< {}", pair[0].0, pair[1].0);
        }
        for (windows, iana) in WINDOWS_ZONES {
            assert!(iana.parse::<Tz>().is_ok(), "{windows} → {iana} unknown to chrono-tz");
            assert_eq!(windows_to_iana(windows), Some(*iana));
        }
    }

    #[test]
    fn windows_names() {
        assert_eq!(windows_to_iana("Pacific Standard Time"), Some("America/Los_Angeles"));
        assert_eq!(windows_to_iana("W. Europe Standard Time"), Some("Europe/Berlin"));
        assert_eq!(windows_to_iana("India Standard Time"), Some("Asia/Calcutta"));
        assert_eq!(windows_to_iana("UTC"), Some("Etc/UTC"));
        assert_eq!(windows_to_iana("pacific standard time"), Some("America/Los_Angeles"));
        assert_eq!(windows_to_iana("Mars Standard Time"), None);
    }

    #[test]
    fn parse_forms() {
        assert_eq!(parse_datetime("2026-11-23T09:00:00Z").unwrap(), utc("2026-11-23T09:00:00Z"));
        assert_eq!(
            parse_datetime("2026-11-23T10:00:00+01:00").unwrap(),
            utc("2026-11-23T09:00:00Z")
        );
        assert_eq!(
            parse_datetime("2026-11-23T09:00:00.0000000").unwrap(),
            utc("2026-11-23T09:00:00Z")
        );
        assert_eq!(
            parse_datetime("2026-11-23T09:00:00.1234567").unwrap(),
            utc("2026-11-23T09:00:00.1234567Z")
        );
        assert_eq!(
            parse_datetime("2026-11-23T09:00:00.123456789123").unwrap(),
            utc("2026-11-23T09:00:00.123456789Z")
        );
        assert_eq!(parse_datetime("2026-11-23").unwrap(), utc("2026-11-23T00:00:00Z"));
        assert_eq!(parse_datetime(" 2026-11-23T09:00 ").unwrap(), utc("2026-11-23T09:00:00Z"));
        for bad in ["", "tomorrow", "2026-13-01", "2026-11-23T25:00:00", "2026-11-23T09:00:00.x"] {
            let err = parse_datetime(bad).unwrap_err();
            assert!(err.contains("invalid date-time"), "{err}");
        }
        let long = "9".repeat(10_000);
        assert!(parse_datetime(&long).unwrap_err().len() < 300);
    }

    #[test]
    fn format_rule() {
        assert_eq!(format_instant(&utc("2026-11-23T09:00:00Z")), "2026-11-23T09:00:00Z");
        assert_eq!(format_instant(&utc("2026-11-23T09:00:00.5Z")), "2026-11-23T09:00:00.500Z");
        assert_eq!(
            format_instant(&utc("2026-11-23T09:00:00.1234567Z")),
            "2026-11-23T09:00:00.123456700Z"
        );
    }

    #[test]
    fn graph_pairs() {
        let winter = graph_to_utc("2026-11-23T09:00:00.0000000", "Pacific Standard Time").unwrap();
        assert_eq!(winter, utc("2026-11-23T17:00:00Z"));
        let summer = graph_to_utc("2026-07-01T09:00:00.0000000", "Pacific Standard Time").unwrap();
        assert_eq!(summer, utc("2026-07-01T16:00:00Z"));
        let berlin = graph_to_utc("2026-07-01T09:00:00", "W. Europe Standard Time").unwrap();
        assert_eq!(berlin, utc("2026-07-01T07:00:00Z"));
        let berlin = graph_to_utc("2026-01-15T09:00:00", "Europe/Berlin").unwrap();
        assert_eq!(berlin, utc("2026-01-15T08:00:00Z"));
        let india = graph_to_utc("2026-11-23T09:00:00", "India Standard Time").unwrap();
        assert_eq!(india, utc("2026-11-23T03:30:00Z"));
        let plain = graph_to_utc("2026-11-23T09:00:00.0000000", "UTC").unwrap();
        assert_eq!(plain, utc("2026-11-23T09:00:00Z"));
        let tzone = graph_to_utc("2026-11-23T09:00:00", "tzone://Microsoft/Utc").unwrap();
        assert_eq!(tzone, utc("2026-11-23T09:00:00Z"));
        let with_offset = graph_to_utc("2026-11-23T09:00:00+02:00", "Pacific Standard Time");
        assert_eq!(with_offset.unwrap(), utc("2026-11-23T07:00:00Z"));
        assert!(
            graph_to_utc("2026-11-23T09:00:00", "Nowhere/Special")
                .unwrap_err()
                .contains("unknown time zone")
        );
        assert!(graph_to_utc("soon", "UTC").unwrap_err().contains("invalid date-time"));
    }

    #[test]
    fn dst_edges_resolve_to_the_earlier_instant() {
        // Los Angeles 2026-11-01 01:30 happens twice (PDT then PST).
        let repeated = graph_to_utc("2026-11-01T01:30:00", "Pacific Standard Time").unwrap();
        assert_eq!(repeated, utc("2026-11-01T08:30:00Z"));
        // Los Angeles 2026-03-08 02:30 never happens; the earlier reading is with PDT.
        let skipped = graph_to_utc("2026-03-08T02:30:00", "America/Los_Angeles").unwrap();
        assert_eq!(skipped, utc("2026-03-08T09:30:00Z"));
        // Berlin 2026-03-29 02:30 is skipped, 2026-10-25 02:30 repeated.
        let skipped = graph_to_utc("2026-03-29T02:30:00", "W. Europe Standard Time").unwrap();
        assert_eq!(skipped, utc("2026-03-29T00:30:00Z"));
        let repeated = graph_to_utc("2026-10-25T02:30:00", "W. Europe Standard Time").unwrap();
        assert_eq!(repeated, utc("2026-10-25T00:30:00Z"));
        // Extremes never panic.
        let _ = graph_to_utc("+262142-12-31T23:59:59", "Pacific/Kiritimati");
        let _ = graph_to_utc("-262143-01-01T00:00:00", "America/Los_Angeles");
        let _ = graph_to_utc("262142-12-31T23:59:59", "Etc/GMT+12");
    }

    #[test]
    fn to_zone() {
        let at = Utc.with_ymd_and_hms(2026, 7, 1, 7, 0, 0).unwrap();
        let local = utc_to_zone(&at, "W. Europe Standard Time").unwrap();
        assert_eq!(local.to_rfc3339(), "2026-07-01T09:00:00+02:00");
    }
}
