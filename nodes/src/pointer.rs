//! JSON Pointers (RFC 6901), checked when a flow loads.

use crate::clip::clip;
use std::fmt;

/// A parsed JSON Pointer such as `/value` or `/a~1b/0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPointer {
    source: String,
    tokens: Vec<String>,
}

impl JsonPointer {
    /// Parses a pointer; the empty string is the whole document.
    pub fn parse(source: &str) -> Result<Self, String> {
        if source.is_empty() {
            return Ok(Self { source: String::new(), tokens: Vec::new() });
        }
        let Some(rest) = source.strip_prefix('/') else {
            return Err(format!("JSON pointer `{}` must be empty or start with `/`", clip(source)));
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            let mut token = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    token.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => token.push('~'),
                    Some('1') => token.push('/'),
                    _ => {
                        return Err(format!(
                            "JSON pointer `{}` has `~` not followed by `0` or `1`",
                            clip(source)
                        ));
                    }
                }
            }
            tokens.push(token);
        }
        Ok(Self { source: source.to_owned(), tokens })
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The unescaped reference tokens.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// Takes the value the pointer designates out of `value` (maps by key, arrays by decimal
    /// index); `None` when some step does not exist.
    pub fn take(&self, mut value: rhai::Dynamic) -> Option<rhai::Dynamic> {
        for token in &self.tokens {
            value = value.flatten();
            value = if value.is_map() {
                let mut map = value.try_cast::<rhai::Map>()?;
                map.remove(token.as_str())?
            } else if value.is_array() {
                let index = array_index(token)?;
                let mut array = value.try_cast::<rhai::Array>()?;
                if index >= array.len() {
                    return None;
                }
                array.swap_remove(index)
            } else {
                return None;
            };
        }
        Some(value)
    }
}

/// RFC 6901 array indices: `0` or digits without a leading zero (`+1`, `01`, `-1` name none).
pub(crate) fn array_index(token: &str) -> Option<usize> {
    if token.is_empty() || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    if !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

impl fmt::Display for JsonPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_unescapes() {
        let p = JsonPointer::parse("/a~1b/~0c/0").unwrap();
        assert_eq!(p.tokens(), ["a/b", "~c", "0"]);
        assert!(JsonPointer::parse("").unwrap().tokens().is_empty());
        assert!(JsonPointer::parse("value").is_err());
        assert!(JsonPointer::parse("/a~2").is_err());
    }

    #[test]
    fn takes_nested_values() {
        let json = serde_json::json!({ "value": [ { "id": "a" }, { "id": "b" } ] });
        let value = crate::expr::json_to_dynamic(&json);
        let p = JsonPointer::parse("/value/1/id").unwrap();
        assert_eq!(p.take(value.clone()).unwrap().into_string().unwrap(), "b");
        assert!(JsonPointer::parse("/value/01").unwrap().take(value.clone()).is_none());
        assert!(JsonPointer::parse("/nope").unwrap().take(value).is_none());
    }
}
