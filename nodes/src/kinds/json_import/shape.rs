//! Shaping an item: the declared fields (`fields`), each converted to its type.

use super::JsonImport;
use crate::expr::time;
use crate::kinds::type_name;
use rhai::{Dynamic, Map};

/// The type of one field of an imported item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Text; numbers and booleans are turned into text.
    String,
    /// Any number; numeric text is parsed.
    Number,
    /// A whole number; integral floats and numeric text are converted.
    Integer,
    /// `true`/`false` (also as text).
    Boolean,
    /// An instant, RFC 3339 or Graph's `{ dateTime, timeZone }`, stored as RFC 3339 UTC.
    Datetime,
    /// An object.
    Object,
    /// A list.
    Array,
}

impl FieldType {
    pub(super) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "string" => Self::String,
            "number" => Self::Number,
            "integer" => Self::Integer,
            "boolean" => Self::Boolean,
            "datetime" => Self::Datetime,
            "object" => Self::Object,
            "array" => Self::Array,
            _ => return None,
        })
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::Datetime => "datetime",
            Self::Object => "object",
            Self::Array => "array",
        }
    }

    /// Converts `value` to this type, or says why it can't.
    pub(super) fn coerce(self, value: Dynamic) -> Result<Dynamic, String> {
        let found = type_name(&value);
        let fail = |extra: &str| Err(format!("expected {}{extra}, found {found}", self.name()));
        match self {
            Self::String if value.is_string() => Ok(value),
            Self::String if value.is_int() || value.is_float() || value.is_bool() => {
                Ok(Dynamic::from(value.to_string()))
            }
            Self::Number if value.is_int() || value.is_float() => Ok(value),
            Self::Integer if value.is_int() => Ok(value),
            Self::Integer if value.is_float() => match value.as_float() {
                Ok(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    Ok(Dynamic::from_int(f as rhai::INT))
                }
                _ => fail(" (a whole number)"),
            },
            Self::Number | Self::Integer if value.is_string() => {
                let text = value.into_immutable_string().unwrap_or_default();
                let text = text.trim();
                if let Ok(i) = text.parse::<rhai::INT>() {
                    Ok(Dynamic::from_int(i))
                } else if self == Self::Number
                    && let Ok(f) = text.parse::<f64>()
                    && f.is_finite()
                {
                    Ok(Dynamic::from_float(f))
                } else {
                    fail(" (text that is not a number)")
                }
            }
            Self::Boolean if value.is_bool() => Ok(value),
            Self::Boolean if value.is_string() => {
                match value.into_immutable_string().unwrap_or_default().as_str() {
                    "true" => Ok(Dynamic::TRUE),
                    "false" => Ok(Dynamic::FALSE),
                    _ => fail(" (text other than true/false)"),
                }
            }
            Self::Datetime => datetime(&value),
            Self::Object if value.is_map() => Ok(value),
            Self::Array if value.is_array() => Ok(value),
            _ => fail(""),
        }
    }
}

/// Converts an instant as the `datetime` type does; read by reference, so an already-parsed
/// item's `{ dateTime, timeZone }` map is not copied.
pub(super) fn datetime(value: &Dynamic) -> Result<Dynamic, String> {
    let instant = if let Ok(text) = value.as_immutable_string_ref() {
        time::parse_datetime(&text)
    } else if let Some(map) = value.read_lock::<Map>() {
        let member = |name: &str| map.get(name).and_then(|v| v.as_immutable_string_ref().ok());
        match (member("dateTime"), member("timeZone")) {
            (Some(dt), Some(tz)) => time::graph_to_utc(&dt, &tz),
            (Some(dt), None) => time::parse_datetime(&dt),
            _ => Err("an object needs `dateTime` (and `timeZone`)".into()),
        }
    } else {
        Err(format!("found {}", type_name(value)))
    };
    instant
        .map(|at| Dynamic::from(time::format_instant(&at)))
        .map_err(|why| format!("expected datetime: {why}"))
}

impl JsonImport {
    /// Reduces an item to the declared fields, converting each.
    pub(super) fn shape(&self, value: Dynamic) -> Result<Dynamic, (Option<String>, String)> {
        if self.fields.is_empty() {
            return Ok(value);
        }
        let found = type_name(&value);
        let mut source = value
            .flatten()
            .try_cast::<Map>()
            .ok_or_else(|| (None, format!("expected an object, found {found}")))?;
        let mut shaped = Map::new();
        for (name, field_type, optional) in &self.fields {
            let value = source.remove(name.as_str()).unwrap_or(Dynamic::UNIT);
            if value.is_unit() {
                if *optional {
                    shaped.insert(name.as_str().into(), Dynamic::UNIT);
                    continue;
                }
                return Err((
                    Some(name.to_string()),
                    format!("missing (expected {})", field_type.name()),
                ));
            }
            let value = field_type.coerce(value).map_err(|why| (Some(name.to_string()), why))?;
            shaped.insert(name.as_str().into(), value);
        }
        Ok(Dynamic::from_map(shaped))
    }
}
