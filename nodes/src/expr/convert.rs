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

/// Parses JSON text straight into a Rhai value (the mapping of [`json_to_dynamic`]), without
/// building a `serde_json::Value` first: half the allocations for a large response. serde_json's
/// recursion limit (128 levels) bounds the depth.
///
/// # Errors
///
/// serde_json's error, with its line and column, when the text is not JSON.
pub fn parse_json(text: &[u8]) -> Result<Dynamic, serde_json::Error> {
    // Checked as UTF-8 once, in bulk, the text is read as `str`: serde_json then need not check
    // every string it reads again. Text that is not UTF-8 is read as bytes, for serde_json's
    // error and its position.
    fn parse<'de, R: serde_json::de::Read<'de>>(
        mut de: serde_json::Deserializer<R>,
    ) -> Result<Dynamic, serde_json::Error> {
        let value = serde::de::DeserializeSeed::deserialize(DynamicSeed::default(), &mut de)?;
        de.end()?;
        Ok(value)
    }
    match std::str::from_utf8(text) {
        Ok(text) => parse(serde_json::Deserializer::from_str(text)),
        Err(_) => parse(serde_json::Deserializer::from_slice(text)),
    }
}

/// Deserialises any JSON value into a [`Dynamic`].
#[derive(Clone, Copy, Default)]
pub(crate) struct DynamicSeed<'k> {
    /// When set, an object at this level keeps only these members (not nested ones).
    pub(crate) keep: Option<&'k [String]>,
}

impl<'de> serde::de::DeserializeSeed<'de> for DynamicSeed<'_> {
    type Value = Dynamic;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Dynamic, D::Error> {
        deserializer.deserialize_any(DynamicVisitor { keep: self.keep })
    }
}

struct DynamicVisitor<'k> {
    keep: Option<&'k [String]>,
}

impl<'de> serde::de::Visitor<'de> for DynamicVisitor<'_> {
    type Value = Dynamic;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Dynamic, E> {
        Ok(Dynamic::UNIT)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Dynamic, E> {
        Ok(Dynamic::from_bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Dynamic, E> {
        Ok(Dynamic::from_int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Dynamic, E> {
        Ok(match i64::try_from(u) {
            Ok(i) => Dynamic::from_int(i),
            Err(_) => Dynamic::from_float(u as FLOAT),
        })
    }

    fn visit_f64<E>(self, f: f64) -> Result<Dynamic, E> {
        Ok(Dynamic::from_float(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<Dynamic, E> {
        Ok(Dynamic::from(ImmutableString::from(s)))
    }

    fn visit_string<E>(self, s: String) -> Result<Dynamic, E> {
        Ok(Dynamic::from(ImmutableString::from(s)))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Dynamic, A::Error> {
        let mut array = Array::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(DynamicSeed::default())? {
            array.push(item);
        }
        Ok(Dynamic::from_array(array))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Dynamic, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key_seed(KeySeed)? {
            if self.keep.is_some_and(|keep| !keep.iter().any(|k| k.as_str() == key.as_str())) {
                access.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            let value = access.next_value_seed(DynamicSeed::default())?;
            map.insert(key, value);
        }
        Ok(Dynamic::from_map(map))
    }
}

/// A map key, straight into Rhai's inline identifier (no allocation for short keys).
struct KeySeed;

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed {
    type Value = smartstring::SmartString<smartstring::LazyCompact>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(KeySeed)
    }
}

impl<'de> serde::de::Visitor<'de> for KeySeed {
    type Value = smartstring::SmartString<smartstring::LazyCompact>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(s.into())
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

pub(crate) fn unsupported(value: &Dynamic) -> ConvertError {
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
    fn parsed_text_is_what_serde_json_reads() {
        let text = r#"{"a": [1, -2, 2.5, "é\u00e9\n", null, true], "b": {"c": {}}}"#;
        let want: Value = serde_json::from_str(text).unwrap();
        assert_eq!(dynamic_to_json(&parse_json(text.as_bytes()).unwrap()).unwrap(), want);
        // Not UTF-8: serde_json's error, with its position.
        let err = parse_json(b"[\"ok\",\n \"\xff\"]").unwrap_err();
        assert_eq!((err.line(), err.column()), (2, 3), "{err}");
        let err = parse_json(b"[1,").unwrap_err();
        assert!(err.is_eof(), "{err}");
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

/// What [`stream_array`] hands its caller.
#[derive(Debug)]
pub enum Streamed {
    /// Element `index` of the array.
    Element(usize, Dynamic),
    /// The array begins again: a member on the path is repeated, and as JSON's last occurrence
    /// counts, the elements handed over so far are to be forgotten.
    Restart,
}

/// Walks JSON text to the array at `path` (JSON pointer tokens) and hands each element to
/// `each` as a Rhai value, one at a time: a large document is never held as a whole. With
/// `keep`, an element that is an object keeps only those members (the others are skipped
/// without being built).
/// Returns `Ok(None)` when the path is not in the document, `Ok(Some(kind))` with the JSON type
/// found there when it is not an array, and `Ok(Some("array"))` after streaming it.
///
/// # Errors
///
/// serde_json's error for text that is not JSON, or the message `each` failed with.
pub fn stream_array(
    text: &[u8],
    path: &[String],
    keep: Option<&[String]>,
    each: &mut dyn FnMut(Streamed) -> Result<(), String>,
) -> Result<Option<&'static str>, serde_json::Error> {
    struct AsDynamic<'k, 'f> {
        keep: Option<&'k [String]>,
        each: &'f mut dyn FnMut(Streamed) -> Result<(), String>,
    }
    impl Elements for AsDynamic<'_, '_> {
        fn next<'de, A: serde::de::SeqAccess<'de>>(
            &mut self,
            index: usize,
            seq: &mut A,
        ) -> Result<bool, A::Error> {
            match seq.next_element_seed(DynamicSeed { keep: self.keep })? {
                Some(item) => {
                    (self.each)(Streamed::Element(index, item))
                        .map_err(serde::de::Error::custom)?;
                    Ok(true)
                }
                None => Ok(false),
            }
        }

        fn restart(&mut self) -> Result<(), String> {
            (self.each)(Streamed::Restart)
        }
    }
    stream_elements(serde_json::de::SliceRead::new(text), path, &mut AsDynamic { keep, each })
}

/// Reads the elements of the streamed array, one per call.
pub(crate) trait Elements {
    /// Reads element `index` from `seq` and does with it what it is for; `false` at the end of
    /// the array.
    fn next<'de, A: serde::de::SeqAccess<'de>>(
        &mut self,
        index: usize,
        seq: &mut A,
    ) -> Result<bool, A::Error>;

    /// The array begins again (see [`Streamed::Restart`]); an `Err` stops the stream.
    fn restart(&mut self) -> Result<(), String>;
}

/// Walks JSON text to the array at `path` and hands its elements to `elements` (see
/// [`stream_array`], whose results this has).
pub(crate) fn stream_elements<'de, R: serde_json::de::Read<'de>, E: Elements>(
    text: R,
    path: &[String],
    elements: &mut E,
) -> Result<Option<&'static str>, serde_json::Error> {
    let mut de = serde_json::Deserializer::new(text);
    let found = serde::de::DeserializeSeed::deserialize(PathSeed { path, elements }, &mut de)?;
    de.end()?;
    Ok(found)
}

struct PathSeed<'p, 'e, E> {
    path: &'p [String],
    elements: &'e mut E,
}

impl<'de, E: Elements> serde::de::DeserializeSeed<'de> for PathSeed<'_, '_, E> {
    type Value = Option<&'static str>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, E: Elements> serde::de::Visitor<'de> for PathSeed<'_, '_, E> {
    type Value = Option<&'static str>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<Er>(self) -> Result<Self::Value, Er> {
        Ok(self.path.is_empty().then_some("null"))
    }

    fn visit_bool<Er>(self, _: bool) -> Result<Self::Value, Er> {
        Ok(self.path.is_empty().then_some("boolean"))
    }

    fn visit_i64<Er>(self, _: i64) -> Result<Self::Value, Er> {
        Ok(self.path.is_empty().then_some("number"))
    }

    fn visit_u64<Er>(self, _: u64) -> Result<Self::Value, Er> {
        Ok(self.path.is_empty().then_some("number"))
    }

    fn visit_f64<Er>(self, _: f64) -> Result<Self::Value, Er> {
        Ok(self.path.is_empty().then_some("number"))
    }

    fn visit_str<Er>(self, _: &str) -> Result<Self::Value, Er> {
        Ok(self.path.is_empty().then_some("string"))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        use serde::de::IgnoredAny;
        let Some((first, rest)) = self.path.split_first() else {
            let mut index = 0;
            while self.elements.next(index, &mut seq)? {
                index += 1;
            }
            return Ok(Some("array"));
        };
        // As `JsonPointer::take` reads a token: the text and the parsed value must agree.
        let wanted = crate::pointer::array_index(first);
        let mut found = None;
        let mut index = 0;
        loop {
            if Some(index) == wanted {
                match seq
                    .next_element_seed(PathSeed { path: rest, elements: &mut *self.elements })?
                {
                    Some(inner) => found = inner,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            index += 1;
        }
        Ok(found)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut access: A,
    ) -> Result<Self::Value, A::Error> {
        use serde::de::IgnoredAny;
        let Some((first, rest)) = self.path.split_first() else {
            while access.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Some("object"));
        };
        let mut found = None;
        let mut seen = false;
        while let Some(key) = access.next_key_seed(KeySeed)? {
            if key.as_str() == first.as_str() {
                if seen {
                    self.elements.restart().map_err(serde::de::Error::custom)?;
                }
                seen = true;
                found = access
                    .next_value_seed(PathSeed { path: rest, elements: &mut *self.elements })?;
            } else {
                access.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod stream_tests {
    use super::*;

    /// What was found at the path, and the elements streamed, `None` where the array began again.
    type Stream = (Result<Option<&'static str>, serde_json::Error>, Vec<Option<(usize, Value)>>);

    fn streamed(text: &[u8], path: &[&str], keep: Option<&[String]>) -> Stream {
        let path: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
        let mut seen = Vec::new();
        let found = stream_array(text, &path, keep, &mut |s| {
            seen.push(match s {
                Streamed::Element(i, v) => Some((i, dynamic_to_json(&v).unwrap())),
                Streamed::Restart => None,
            });
            Ok(())
        });
        (found, seen)
    }

    #[test]
    fn streams_the_array_at_a_path() {
        use serde_json::json;
        let text = br#"{"skip":[{"value":[9]}],"value":[{"id":1},{"id":2}],"after":{"value":3}}"#;
        let (found, seen) = streamed(text, &["value"], None);
        assert_eq!(found.unwrap(), Some("array"));
        assert_eq!(seen, vec![Some((0, json!({"id": 1}))), Some((1, json!({"id": 2})))]);
        assert_eq!(streamed(text, &["nope"], None).0.unwrap(), None);
        assert_eq!(streamed(text, &["after"], None).0.unwrap(), Some("object"));
        assert_eq!(streamed(text, &["skip", "0", "value"], None).0.unwrap(), Some("array"));
        let err = stream_array(text, &["value".into()], None, &mut |_| Err("stop at 0".into()))
            .unwrap_err();
        assert!(err.to_string().contains("stop at 0"));
        assert!(streamed(b"{\"value\": [1,", &["value"], None).0.is_err());
        let objects = br#"[{"a":1,"b":{"deep":[1,2]},"c":3}, 7]"#;
        let (_, kept) = streamed(objects, &[], Some(&["a".into(), "c".into()]));
        assert_eq!(kept, vec![Some((0, json!({"a": 1, "c": 3}))), Some((1, json!(7)))]);
    }

    #[test]
    fn a_repeated_member_on_the_path_starts_the_array_again() {
        use serde_json::json;
        let (found, seen) = streamed(br#"{"value":[1,2],"x":0,"value":[]}"#, &["value"], None);
        assert_eq!(found.unwrap(), Some("array"));
        assert_eq!(seen, vec![Some((0, json!(1))), Some((1, json!(2))), None]);
        let (found, seen) = streamed(br#"{"a":{"v":[1]},"a":{"v":[2],"v":5}}"#, &["a", "v"], None);
        assert_eq!(found.unwrap(), Some("number"));
        assert_eq!(seen, vec![Some((0, json!(1))), None, Some((0, json!(2))), None]);
    }
}
