//! Partial matching of expected JSON against actual JSON, reporting every place they differ.
//!
//! An object matches when every key it names matches (other keys are free; an expected `null`
//! also matches a missing key), recursively; an array matches an array of the same length
//! element by element; scalars must be equal (numbers by value, so `1` matches `1.0`).

use serde_json::Value;
use std::fmt;

/// One place where the actual value differs from the expected one.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Where: `vars.events[0].subject`.
    pub path: String,
    /// What was expected there.
    pub expected: String,
    /// What was found there.
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n  expected: {}\n    actual: {}", self.path, self.expected, self.actual)
    }
}

/// Compact JSON, cut after `MAX_SHOWN` characters.
pub fn show(value: &Value) -> String {
    const MAX_SHOWN: usize = 300;
    let text = value.to_string();
    if text.chars().count() <= MAX_SHOWN {
        return text;
    }
    let cut: String = text.chars().take(MAX_SHOWN).collect();
    format!("{cut}… ({} characters)", text.chars().count())
}

/// Appends a key to a path: `.key` for identifiers, `["key"]` otherwise.
pub fn child(path: &str, key: &str) -> String {
    if weft_nodes::vars::is_identifier(key) {
        if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
    } else {
        format!("{path}[{}]", Value::String(key.to_owned()))
    }
}

/// Whether two scalars are equal (numbers by value).
fn scalar_eq(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => {
            a == b || matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y)
        }
        _ => expected == actual,
    }
}

/// Collects every mismatch of `expected` against `actual` under `path`.
pub fn compare(path: &str, expected: &Value, actual: &Value, out: &mut Vec<Mismatch>) {
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => {
            for (key, want) in want {
                let at = child(path, key);
                match have.get(key) {
                    Some(have) => compare(&at, want, have, out),
                    None if want.is_null() => {}
                    None => out.push(Mismatch {
                        path: at,
                        expected: show(want),
                        actual: "(missing)".into(),
                    }),
                }
            }
        }
        (Value::Array(want), Value::Array(have)) => {
            if want.len() != have.len() {
                out.push(Mismatch {
                    path: path.to_owned(),
                    expected: format!(
                        "{} item{}: {}",
                        want.len(),
                        plural(want.len()),
                        show(expected)
                    ),
                    actual: format!("{} item{}: {}", have.len(), plural(have.len()), show(actual)),
                });
                return;
            }
            for (i, (want, have)) in want.iter().zip(have).enumerate() {
                compare(&format!("{path}[{i}]"), want, have, out);
            }
        }
        _ if scalar_eq(expected, actual) => {}
        _ => out.push(Mismatch {
            path: path.to_owned(),
            expected: show(expected),
            actual: show(actual),
        }),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Whether `expected` matches `actual` partially.
pub fn matches(expected: &Value, actual: &Value) -> bool {
    let mut out = Vec::new();
    compare("", expected, actual, &mut out);
    out.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn diff(expected: Value, actual: Value) -> Vec<String> {
        let mut out = Vec::new();
        compare("vars", &expected, &actual, &mut out);
        out.into_iter().map(|m| format!("{} {} {}", m.path, m.expected, m.actual)).collect()
    }

    #[test]
    fn objects_match_by_named_keys() {
        assert!(diff(json!({"a": 1}), json!({"a": 1, "b": 2})).is_empty());
        assert_eq!(diff(json!({"a": 2}), json!({"a": 1})), ["vars.a 2 1"]);
        assert_eq!(diff(json!({"x-y": 2}), json!({})), ["vars[\"x-y\"] 2 (missing)"]);
        assert!(diff(json!({"gone": null}), json!({})).is_empty());
    }

    #[test]
    fn arrays_need_the_same_length() {
        assert!(diff(json!([{"a": 1}]), json!([{"a": 1, "b": 0}])).is_empty());
        assert_eq!(diff(json!([1]), json!([1, 2])), ["vars 1 item: [1] 2 items: [1,2]"]);
        assert_eq!(diff(json!([1, {"s": "x"}]), json!([1, {"s": "y"}])), ["vars[1].s \"x\" \"y\""]);
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(matches(&json!(1), &json!(1.0)));
        assert!(!matches(&json!(1), &json!("1")));
    }
}
