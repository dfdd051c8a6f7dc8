//! A run's result: the value its `end` node gave, kept as it is until someone asks for JSON.
//!
//! `weft run` writes the result straight from the engine's value to its output; building a
//! `serde_json::Value` first would hold a second copy of a result of many thousand items at the
//! very moment the run's memory peaks. Everything else asks for [`RunResult::to_json`].

use rhai::Dynamic;
use serde::ser::{Serialize, Serializer};
use serde_json::Value;
use std::io::Write;
use weft_nodes::expr::{AsJson, check_json, dynamic_to_json};

/// The result of a run: JSON-convertible by construction (a value with no JSON form, such as a
/// closure, becomes `null` with a warning when the run ends).
#[derive(Debug, Clone, Default)]
pub struct RunResult(Dynamic);

impl RunResult {
    /// Keeps `value` when it has a JSON form; otherwise `null`, and says why in the log.
    pub(crate) fn new(value: Dynamic, node: &str) -> Self {
        match check_json(&value) {
            Ok(()) => Self(value),
            Err(err) => {
                tracing::warn!(node, "the result is not JSON: {err}");
                Self(Dynamic::UNIT)
            }
        }
    }

    /// A result kept as JSON (a stored child run's, given to its parent again).
    pub(crate) fn from_json(value: &Value) -> Self {
        Self(weft_nodes::expr::json_to_dynamic(value))
    }

    /// The engine's value (a child run's result, handed to its parent without a copy).
    pub(crate) fn into_dynamic(self) -> Dynamic {
        self.0
    }

    /// The result as JSON.
    pub fn to_json(&self) -> Value {
        dynamic_to_json(&self.0).unwrap_or(Value::Null)
    }

    /// Writes the result as pretty-printed JSON (the same text `serde_json::to_writer_pretty`
    /// gives for [`RunResult::to_json`]), without building it in memory first.
    ///
    /// # Errors
    ///
    /// What writing to `out` fails with.
    pub fn write_pretty(&self, out: impl Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(out, self).map_err(std::io::Error::from)
    }
}

impl Serialize for RunResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        AsJson(&self.0).serialize(serializer)
    }
}

impl PartialEq<Value> for RunResult {
    fn eq(&self, other: &Value) -> bool {
        self.to_json() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use weft_nodes::expr::json_to_dynamic;

    fn written(result: &RunResult) -> String {
        let mut out = Vec::new();
        result.write_pretty(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_what_to_json_gives() {
        let value = json!({ "b": [1, 2.5, "x", null, true, { "z": [], "a": {} }], "a": "é\n\"" });
        let result = RunResult::new(json_to_dynamic(&value).into_shared(), "end");
        assert_eq!(result, value);
        // Rhai maps are sorted: the text follows `to_json`, key order included.
        let json = result.to_json();
        assert_eq!(written(&result), serde_json::to_string_pretty(&json).unwrap());
        assert_eq!(serde_json::to_string(&result).unwrap(), json.to_string());
    }

    #[test]
    fn values_without_a_json_form_become_null() {
        let nan = Dynamic::from_array(vec![Dynamic::from_float(f64::NAN)]);
        assert_eq!(RunResult::new(nan, "end"), Value::Null);
        let ts = Dynamic::from(std::time::Instant::now());
        assert_eq!(written(&RunResult::new(ts, "end")), "null");
    }
}
