//! Rhai values written as JSON without building a `serde_json::Value` first, by the rules of
//! [`super::dynamic_to_json`]: a large result is serialised straight from the engine's value.

use rhai::{Array, Blob, Dynamic, Map};
use serde::ser::{Error as _, Serialize, SerializeMap, SerializeSeq, Serializer};

use super::convert::{ConvertError, MAX_DEPTH, unsupported};

/// Whether `value` has a JSON form — what [`super::dynamic_to_json`] would say, without
/// building it.
///
/// # Errors
///
/// The [`ConvertError`] `dynamic_to_json` would give.
pub fn check_json(value: &Dynamic) -> Result<(), ConvertError> {
    check(value, 0)
}

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

/// A Rhai value serialised as [`super::dynamic_to_json`] converts it (map keys in the map's
/// order). Serialising a value without a JSON form fails; [`check_json`] says so beforehand.
pub struct AsJson<'a>(pub &'a Dynamic);

impl Serialize for AsJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = self.0;
        if value.is_shared() {
            return match value.read_lock::<Dynamic>() {
                Some(inner) if !inner.is_shared() => AsJson(&inner).serialize(serializer),
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
                seq.serialize_element(&AsJson(item))?;
            }
            return seq.end();
        }
        if let Some(map) = value.read_lock::<Map>() {
            let mut out = serializer.serialize_map(Some(map.len()))?;
            for (k, v) in map.iter() {
                out.serialize_entry(k.as_str(), &AsJson(v))?;
            }
            return out.end();
        }
        if let Some(blob) = value.read_lock::<Blob>() {
            return serializer.collect_seq(blob.iter());
        }
        // A response body still waiting as text (a journal reads `vars` without parsing it):
        // the text is JSON already, checked when it came in.
        if let Some(text) = value.read_lock::<crate::vars::JsonText>() {
            let raw = serde_json::value::RawValue::from_string(text.as_str().to_owned())
                .map_err(S::Error::custom)?;
            return raw.serialize(serializer);
        }
        Err(S::Error::custom(unsupported(value)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::expr::{dynamic_to_json, json_to_dynamic};
    use serde_json::json;

    #[test]
    fn writes_what_dynamic_to_json_gives() {
        let value = json!({ "b": [1, -2.5, "x\n\"é", null, true, { "z": [], "a": {} }], "a": 7 });
        let mut map = json_to_dynamic(&value).try_cast::<Map>().unwrap();
        map.insert("c".into(), Dynamic::from_char('q'));
        map.insert("d".into(), Dynamic::from_blob(vec![0, 255]));
        let value = Dynamic::from_map(map).into_shared();
        check_json(&value).unwrap();
        let want = dynamic_to_json(&value).unwrap();
        assert_eq!(serde_json::to_string(&AsJson(&value)).unwrap(), want.to_string());
        assert_eq!(want["c"], json!("q"));
    }

    #[test]
    fn refuses_what_dynamic_to_json_refuses() {
        let nan = Dynamic::from_array(vec![Dynamic::from_float(f64::NAN)]);
        let at = Dynamic::from(std::time::Instant::now());
        let mut deep = Dynamic::UNIT;
        for _ in 0..=MAX_DEPTH + 1 {
            deep = Dynamic::from_array(vec![deep]);
        }
        for value in [nan, at, deep] {
            assert_eq!(check_json(&value), dynamic_to_json(&value).map(|_| ()));
            assert!(check_json(&value).is_err());
        }
    }
}
