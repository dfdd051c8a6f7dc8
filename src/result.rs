//! A run's result: the value its `end` node gave, kept as it is until someone asks for JSON.
//!
//! `weft run` writes the result straight from the engine's value to its output; building a
//! `serde_json::Value` first would hold a second copy of a result of many thousand items at the
//! very moment the run's memory peaks. Everything else asks for [`RunResult::to_json`].

use rhai::{Array, Blob, Dynamic, Map};
use serde::ser::{Error as _, Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;
use std::io::Write;
use weft_nodes::expr::{ConvertError, dynamic_to_json};

/// Deeper than this, a value has no JSON form (as [`dynamic_to_json`] decides).
const MAX_DEPTH: usize = 512;

/// The result of a run: JSON-convertible by construction (a value with no JSON form, such as a
/// closure, becomes `null` with a warning when the run ends).
#[derive(Debug, Clone, Default)]
pub struct RunResult(Dynamic);

impl RunResult {
    /// Keeps `value` when it has a JSON form; otherwise `null`, and says why in the log.
    pub(crate) fn new(value: Dynamic, node: &str) -> Self {
        match check(&value, 0) {
            Ok(()) => Self(value),
            Err(err) => {
                tracing::warn!(node, "the result is not JSON: {err}");
                Self(Dynamic::UNIT)
            }
        }
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
        Json(&self.0).serialize(serializer)
    }
}

impl PartialEq<Value> for RunResult {
    fn eq(&self, other: &Value) -> bool {
        self.to_json() == *other
    }
}

/// Whether `value` has a JSON form: the same rules as [`dynamic_to_json`], without building it.
fn check(value: &Dynamic, depth: usize) -> Result<(), ConvertError> {
    if depth > MAX_DEPTH {
        return Err(ConvertError::TooDeep);
    }
    if value.is_shared() {
        return match value.read_lock::<Dynamic>() {
            Some(inner) if !inner.is_shared() => check(&inner, depth),
            _ => Err(unsupported(value)),
        };
    }
    if let Some(array) = value.read_lock::<Array>() {
        return array.iter().try_for_each(|item| check(item, depth + 1));
    }
    if let Some(map) = value.read_lock::<Map>() {
        return map.values().try_for_each(|item| check(item, depth + 1));
    }
    if let Ok(f) = value.as_float() {
        return if f.is_finite() { Ok(()) } else { Err(ConvertError::NonFinite) };
    }
    let scalar = value.is_unit()
        || value.is_bool()
        || value.is_int()
        || value.is_string()
        || value.is_char()
        || value.is::<Blob>();
    if scalar { Ok(()) } else { Err(unsupported(value)) }
}

fn unsupported(value: &Dynamic) -> ConvertError {
    ConvertError::Unsupported { type_name: value.type_name().to_owned() }
}

/// A Rhai value serialised as [`dynamic_to_json`] converts it (map keys in the map's order).
struct Json<'a>(&'a Dynamic);

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = self.0;
        if value.is_shared() {
            return match value.read_lock::<Dynamic>() {
                Some(inner) if !inner.is_shared() => Json(&inner).serialize(serializer),
                _ => Err(S::Error::custom(unsupported(value))),
            };
        }
        if value.is_unit() {
            return serializer.serialize_unit();
        }
        if let Ok(b) = value.as_bool() {
            return serializer.serialize_bool(b);
        }
        if let Ok(i) = value.as_int() {
            return serializer.serialize_i64(i);
        }
        if let Ok(f) = value.as_float() {
            // Non-finite floats were refused by `check`; serde_json would write `null`.
            return serializer.serialize_f64(f);
        }
        if let Ok(s) = value.as_immutable_string_ref() {
            return serializer.serialize_str(s.as_str());
        }
        if let Ok(c) = value.as_char() {
            return serializer.serialize_char(c);
        }
        if let Some(array) = value.read_lock::<Array>() {
            let mut seq = serializer.serialize_seq(Some(array.len()))?;
            for item in array.iter() {
                seq.serialize_element(&Json(item))?;
            }
            return seq.end();
        }
        if let Some(map) = value.read_lock::<Map>() {
            let mut out = serializer.serialize_map(Some(map.len()))?;
            for (k, v) in map.iter() {
                out.serialize_entry(k.as_str(), &Json(v))?;
            }
            return out.end();
        }
        if let Some(blob) = value.read_lock::<Blob>() {
            return serializer.collect_seq(blob.iter());
        }
        Err(S::Error::custom(unsupported(value)))
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
        let mut dynamic = json_to_dynamic(&value);
        let mut map = dynamic.write_lock::<Map>().unwrap().clone();
        map.insert("c".into(), Dynamic::from_char('q'));
        map.insert("d".into(), Dynamic::from_blob(vec![0, 255]));
        dynamic = Dynamic::from_map(map).into_shared();
        let result = RunResult::new(dynamic, "end");
        assert_eq!(written(&result), serde_json::to_string_pretty(&result.to_json()).unwrap());
        assert_eq!(serde_json::to_string(&result).unwrap(), result.to_json().to_string());
        assert_eq!(result.to_json()["c"], json!("q"));
        assert_eq!(result.to_json()["d"], json!([0, 255]));
    }

    #[test]
    fn values_without_a_json_form_become_null() {
        let nan = Dynamic::from_array(vec![Dynamic::from_float(f64::NAN)]);
        assert_eq!(RunResult::new(nan, "end"), Value::Null);
        let ts = Dynamic::from(std::time::Instant::now());
        assert_eq!(written(&RunResult::new(ts, "end")), "null");
        let mut deep = Dynamic::UNIT;
        for _ in 0..600 {
            deep = Dynamic::from_array(vec![deep]);
        }
        assert_eq!(RunResult::new(deep, "end"), Value::Null);
    }
}
