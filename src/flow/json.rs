//! Reading JSON text safely, and finding where a JSON pointer points in it.
//!
//! Every Weft file format is JSON nested at most [`MAX_DEPTH`] levels. The depth is checked by a
//! flat scan before serde sees the text, so no input, however deep, can exhaust the stack.

use serde::Deserialize;
use serde_json::Value;

/// The deepest nesting of arrays and objects a Weft file may have.
pub const MAX_DEPTH: usize = 128;

/// Why a text is not acceptable JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JsonError {
    /// What is wrong.
    pub message: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
}

/// Parses UTF-8 JSON text nested at most [`MAX_DEPTH`] levels.
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_column(bytes, e.valid_up_to());
        JsonError {
            message: format!(
                "the file is not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ),
            line: Some(line),
            column: Some(column),
        }
    })?;
    check_depth(text.as_bytes())?;
    let mut de = serde_json::Deserializer::from_str(text);
    // The depth was checked above; serde_json's own limit is one level short of ours.
    de.disable_recursion_limit();
    let value = Value::deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    value.map_err(|e| JsonError {
        message: format!("invalid JSON: {}", strip_position(&e.to_string())),
        line: Some(e.line()).filter(|&l| l > 0),
        // serde_json reports column 0 for an error right after a newline.
        column: Some(e.column().max(1)).filter(|_| e.line() > 0),
    })
}

/// serde_json appends " at line L column C"; the position is reported separately.
fn strip_position(message: &str) -> &str {
    message.find(" at line ").map_or(message, |i| &message[..i])
}

fn check_depth(bytes: &[u8]) -> Result<(), JsonError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    let (line, column) = line_column(bytes, i);
                    return Err(JsonError {
                        message: format!("JSON nested deeper than {MAX_DEPTH} levels"),
                        line: Some(line),
                        column: Some(column),
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The 1-based line and column (in characters) of byte `offset`.
pub fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let offset = offset.min(bytes.len());
    let before = &bytes[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    (line, column)
}

/// Where the value a JSON pointer designates starts in `text` (valid JSON), as line and column;
/// for a pointer to a missing member, where its parent starts.
pub fn locate(text: &str, pointer: &str) -> Option<(usize, usize)> {
    let pointer = weft_nodes::pointer::JsonPointer::parse(pointer).ok()?;
    let mut scanner = Scanner { bytes: text.as_bytes(), at: 0 };
    scanner.skip_ws();
    for token in pointer.tokens() {
        let start = scanner.at;
        if !scanner.enter(token) {
            return Some(line_column(text.as_bytes(), start));
        }
    }
    Some(line_column(text.as_bytes(), scanner.at))
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Moves into member `token` of the object or array here; false when it is not there
    /// (the scanner then stays put).
    fn enter(&mut self, token: &str) -> bool {
        let start = self.at;
        let found = match self.peek() {
            Some(b'{') => self.enter_member(token),
            Some(b'[') => token.parse::<usize>().is_ok_and(|i| self.enter_element(i)),
            _ => false,
        };
        if !found {
            self.at = start;
        }
        found
    }

    fn enter_member(&mut self, token: &str) -> bool {
        self.at += 1;
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return false;
            }
            let key_start = self.at;
            self.skip_string();
            let key: Option<String> = serde_json::from_slice(&self.bytes[key_start..self.at]).ok();
            self.skip_ws();
            if self.peek() != Some(b':') {
                return false;
            }
            self.at += 1;
            self.skip_ws();
            if key.as_deref() == Some(token) {
                return true;
            }
            self.skip_value();
            self.skip_ws();
            if self.peek() != Some(b',') {
                return false;
            }
            self.at += 1;
        }
    }

    fn enter_element(&mut self, index: usize) -> bool {
        self.at += 1;
        for _ in 0..index {
            self.skip_ws();
            self.skip_value();
            self.skip_ws();
            if self.peek() != Some(b',') {
                return false;
            }
            self.at += 1;
        }
        self.skip_ws();
        !matches!(self.peek(), Some(b']') | None)
    }

    fn skip_string(&mut self) {
        self.at += 1;
        while let Some(b) = self.peek() {
            self.at += 1;
            match b {
                b'\\' => self.at += 1,
                b'"' => return,
                _ => {}
            }
        }
    }

    fn skip_value(&mut self) {
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'"' => {
                    self.skip_string();
                    if depth == 0 {
                        return;
                    }
                    continue;
                }
                b'[' | b'{' => depth += 1,
                b']' | b'}' => {
                    if depth == 0 {
                        return;
                    }
                    depth -= 1;
                    if depth == 0 {
                        self.at += 1;
                        return;
                    }
                }
                b',' if depth == 0 => return,
                _ => {}
            }
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_limit_is_exactly_128() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(nested(MAX_DEPTH).as_bytes()).is_ok());
        let err = parse(nested(MAX_DEPTH + 1).as_bytes()).unwrap_err();
        assert_eq!(err.message, "JSON nested deeper than 128 levels");
        assert_eq!((err.line, err.column), (Some(1), Some(129)));
        // Brackets inside strings don't count.
        let text = format!("[\"{}\"]", "[".repeat(1000));
        assert!(parse(text.as_bytes()).is_ok());
        assert!(parse(nested(200_000).as_bytes()).is_err());
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse(b"{\n  \"a\": 1,\n  \"b\": }").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.starts_with("invalid JSON: "), "{}", err.message);
        assert!(!err.message.contains(" at line "));
        let err = parse(b"{\"a\": \"\xff\"}").unwrap_err();
        assert!(err.message.contains("not UTF-8"), "{}", err.message);
        assert!(parse(b"{} {}").is_err());
        assert!(parse(b"").is_err());
    }

    #[test]
    fn locates_pointers() {
        let text = "{\n  \"nodes\": [\n    { \"id\": \"a\" },\n    { \"id\": \"b\", \"x\": [1, {\"y\": 2}] }\n  ]\n}";
        assert_eq!(locate(text, "/nodes/1/id"), Some((4, 13)));
        assert_eq!(locate(text, "/nodes/1/x/1/y"), Some((4, 33)));
        assert_eq!(locate(text, "/nodes/0"), Some((3, 5)));
        // Missing member: its parent.
        assert_eq!(locate(text, "/nodes/0/url"), Some((3, 5)));
        assert_eq!(locate(text, ""), Some((1, 1)));
    }
}
