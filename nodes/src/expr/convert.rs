//! Exact conversion between JSON values and Rhai values.
//!
//! | JSON | Rhai |
//! |---|---|
//! | `null` | `()` |
//! | integer within `i64` | `INT` |
//! | integer above `i64::MAX`, fraction, exponent | `FLOAT` |
//! | string | string |
//! | array | `Array` |
//! | object | `Map` (Rhai maps are sorted by key, so JSON written back has sorted keys) |
//!
//! Back to JSON, a `char` becomes a one-character string and a BLOB an array of byte values;
//! non-finite floats, function pointers, timestamps and custom types can't be written and are a
//! [`ConvertError`]. Shared values (the flow's `params` and `vars`) are read through their lock.

use rhai::{Array, Blob, Dynamic, FLOAT, INT, ImmutableString, Map};
use serde_json::{Number, Value};

/// Deepest nesting [`dynamic_to_json`] writes. JSON files are limited to 128 levels; values an
/// expression builds may be deeper, and past this they are an error rather than a stack
/// overflow.
pub(crate) const MAX_DEPTH: usize = 512;

/// A Rhai value that has no JSON form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// A value of a type JSON can't hold (function pointer, timestamp, custom type…).
    #[error("a value of type {type_name} can't be converted to JSON")]
    Unsupported {
        /// Rhai's name of the type.
        type_name: String,
    },
    /// A NaN or infinite float.
    #[error("a non-finite number (NaN or infinity) can't be converted to JSON")]
    NonFinite,
    /// Nesting deeper than 512 levels.
    #[error("the value is nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// Converts a JSON value to a Rhai value (see the module docs for the mapping).
pub fn json_to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => number_to_dynamic(n),
        Value::String(s) => Dynamic::from(ImmutableString::from(s.as_str())),
        Value::Array(items) => {
            let array: Array = items.iter().map(json_to_dynamic).collect();
            Dynamic::from_array(array)
        }
        Value::Object(object) => {
            let mut map = Map::new();
            for (k, v) in object {
                map.insert(k.as_str().into(), json_to_dynamic(v));
            }
            Dynamic::from_map(map)
        }
    }
}

/// An integer stays an `INT` when it fits, anything else becomes a `FLOAT`.
fn number_to_dynamic(n: &Number) -> Dynamic {
    if let Some(i) = n.as_i64() {
        Dynamic::from_int(i)
    } else {
        // u64 above i64::MAX, or a float: as_f64 is always Some without arbitrary_precision.
        Dynamic::from_float(n.as_f64().unwrap_or(FLOAT::NAN))
    }
}

/// Converts a Rhai value to JSON (see the module docs for the mapping).
///
/// # Errors
///
/// [`ConvertError`] for values with no JSON form, non-finite floats and nesting deeper than
/// 512 levels.
pub fn dynamic_to_json(value: &Dynamic) -> Result<Value, ConvertError> {
    to_json_at(value, 0)
}

fn to_json_at(value: &Dynamic, depth: usize) -> Result<Value, ConvertError> {
    if depth > MAX_DEPTH {
        return Err(ConvertError::TooDeep);
    }
    if value.is_shared() {
        return match value.read_lock::<Dynamic>() {
            Some(inner) if !inner.is_shared() => to_json_at(&inner, depth),
            _ => Err(unsupported(value)),
        };
    }
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::Number(i.into()));
    }
    if let Ok(f) = value.as_float() {
        return Number::from_f64(f).map(Value::Number).ok_or(ConvertError::NonFinite);
    }
    if let Ok(s) = value.as_immutable_string_ref() {
        return Ok(Value::String(s.as_str().to_owned()));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if let Some(array) = value.read_lock::<Array>() {
        let mut out = Vec::with_capacity(array.len());
        for item in array.iter() {
            out.push(to_json_at(item, depth + 1)?);
        }
        return Ok(Value::Array(out));
    }
    if let Some(map) = value.read_lock::<Map>() {
        let mut out = serde_json::Map::with_capacity(map.len());
        for (k, v) in map.iter() {
            out.insert(k.to_string(), to_json_at(v, depth + 1)?);
        }
        return Ok(Value::Object(out));
    }
    if let Some(blob) = value.read_lock::<Blob>() {
        return Ok(Value::Array(
            blob.iter().map(|b| Value::Number(INT::from(*b).into())).collect(),
        ));
    }
    Err(unsupported(value))
}

fn unsupported(value: &Dynamic) -> ConvertError {
    ConvertError::Unsupported { type_name: value.type_name().to_owned() }
}

/// How a value reads inside a larger string (templates, `url_encode`): strings as they are,
/// `()` as nothing, everything else as compact JSON (numbers and booleans as JSON text).
pub(crate) fn stringify(value: &Dynamic) -> Result<String, ConvertError> {
    if value.is_shared() {
        return match value.read_lock::<Dynamic>() {
            Some(inner) if !inner.is_shared() => stringify(&inner),
            _ => Err(unsupported(value)),
        };
    }
    if value.is_unit() {
        return Ok(String::new());
    }
    if let Ok(s) = value.as_immutable_string_ref() {
        return Ok(s.as_str().to_owned());
    }
    if let Ok(c) = value.as_char() {
        return Ok(c.to_string());
    }
    let json = dynamic_to_json(value)?;
    Ok(json.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn round_trip(v: &Value) -> Value {
        dynamic_to_json(&json_to_dynamic(v)).unwrap()
    }

    #[test]
    fn scalars_and_types() {
        assert!(json_to_dynamic(&json!(null)).is_unit());
        assert_eq!(json_to_dynamic(&json!(42)).as_int(), Ok(42));
        assert_eq!(json_to_dynamic(&json!(i64::MIN)).as_int(), Ok(i64::MIN));
        assert_eq!(json_to_dynamic(&json!(i64::MAX)).as_int(), Ok(i64::MAX));
        let big = json_to_dynamic(&json!(u64::MAX));
        assert!(big.is_float());
        assert_eq!(big.as_float(), Ok(u64::MAX as f64));
        assert_eq!(json_to_dynamic(&json!(1.5)).as_float(), Ok(1.5));
        assert_eq!(json_to_dynamic(&json!(true)).as_bool(), Ok(true));
        assert_eq!(json_to_dynamic(&json!("héllo 🌍")).into_string().unwrap(), "héllo 🌍");
    }

    #[test]
    fn round_trips() {
        let v = json!({
            "null": null, "t": true, "f": false, "int": -7, "big": 9_007_199_254_740_993_i64,
            "float": 0.1, "exp": 1e300, "text": "Ünïcödé \u{1F600} \"quoted\" \n",
            "nested": { "list": [1, [2, [3, {"deep": []}]]], "empty": {} },
            "z": 1, "a": 2
        });
        let back = round_trip(&v);
        assert_eq!(back, v);
        // Rhai maps are sorted by key: JSON written back has its keys in order.
        let keys: Vec<_> = back.as_object().unwrap().keys().cloned().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn reads_through_shared_values() {
        let shared = json_to_dynamic(&json!({"a": [1, 2], "b": "x"})).into_shared();
        assert_eq!(dynamic_to_json(&shared).unwrap(), json!({"a": [1, 2], "b": "x"}));
        assert_eq!(stringify(&shared).unwrap(), r#"{"a":[1,2],"b":"x"}"#);
    }

    #[test]
    fn rhai_only_values() {
        assert_eq!(dynamic_to_json(&Dynamic::from_char('é')).unwrap(), json!("é"));
        let blob: Blob = vec![0, 255];
        assert_eq!(dynamic_to_json(&Dynamic::from_blob(blob)).unwrap(), json!([0, 255]));
        assert_eq!(dynamic_to_json(&Dynamic::from_float(f64::NAN)), Err(ConvertError::NonFinite));
        assert_eq!(
            dynamic_to_json(&Dynamic::from_float(f64::INFINITY)),
            Err(ConvertError::NonFinite)
        );
        let ts = Dynamic::from_timestamp(std::time::Instant::now());
        let err = dynamic_to_json(&ts).unwrap_err();
        assert!(err.to_string().contains("timestamp"), "{err}");
        #[derive(Clone)]
        struct Custom;
        let err = dynamic_to_json(&Dynamic::from(Custom)).unwrap_err();
        assert!(matches!(err, ConvertError::Unsupported { .. }));
    }

    #[test]
    fn depth_is_bounded() {
        let mut v = Dynamic::from_array(Vec::new());
        for _ in 0..(MAX_DEPTH + 10) {
            v = Dynamic::from_array(vec![v]);
        }
        assert_eq!(dynamic_to_json(&v), Err(ConvertError::TooDeep));
    }

    #[test]
    fn stringify_rules() {
        assert_eq!(stringify(&Dynamic::UNIT).unwrap(), "");
        assert_eq!(stringify(&Dynamic::from("a b")).unwrap(), "a b");
        assert_eq!(stringify(&Dynamic::from_int(7)).unwrap(), "7");
        assert_eq!(stringify(&Dynamic::from_float(2.5)).unwrap(), "2.5");
        assert_eq!(stringify(&Dynamic::from_bool(false)).unwrap(), "false");
        assert_eq!(stringify(&json_to_dynamic(&json!([1, "x"]))).unwrap(), r#"[1,"x"]"#);
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            any::<u64>().prop_map(|u| json!(u)),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
            ".*".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::vec((".*", inner), 0..8)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// u64 above i64::MAX comes back as a float, so compare through f64 for those.
    fn normalise(v: &Value) -> Value {
        match v {
            Value::Number(n) if n.as_i64().is_none() => json!(n.as_f64().unwrap()),
            Value::Array(a) => Value::Array(a.iter().map(normalise).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, v)| (k.clone(), normalise(v))).collect())
            }
            other => other.clone(),
        }
    }

    proptest! {
        #[test]
        fn prop_round_trip(v in arb_json()) {
            prop_assert_eq!(round_trip(&v), normalise(&v));
        }
    }
}
