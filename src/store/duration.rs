//! Ages and periods on the command line: `30d`, `2h`, `90m`, `45s`.

use std::time::Duration;

/// Parses a whole number with a unit: `s`, `m`, `h` or `d` (`30d`, `2h`).
///
/// # Errors
///
/// A message naming what is wrong.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{}` is not a duration: a whole number and a unit, s, m, h or d (e.g. 30d, 2h)",
                weft_nodes::clip::clip(text)
            ));
        }
    };
    let number: u64 = number.parse().map_err(|_| {
        format!(
            "`{}` is not a duration: it needs a number before its unit",
            weft_nodes::clip::clip(text)
        )
    })?;
    number
        .checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{}` is too long", weft_nodes::clip::clip(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_units_and_refuses_the_rest() {
        assert_eq!(parse_age("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_age("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_age("0s"), Ok(Duration::ZERO));
        for bad in ["", "d", "30", "1.5h", "-1d", "2w", "99999999999999999999d"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }
}
