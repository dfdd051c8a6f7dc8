//! Reading JSON text safely, and finding where JSON pointers point in it.
//!
//! Every Weft file format is JSON nested at most [`MAX_DEPTH`] levels, each key at most once in
//! an object, without a byte order mark. One flat scan checks the depth and the keys before serde
//! sees the text, so no input, however deep, can exhaust the stack, and no key silently replaces
//! another. The same kind of scan locates any number of pointers at once ([`locate_all`]), so
//! placing the diagnostics of a file never rescans it per diagnostic.

use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use weft_nodes::clip;
use weft_nodes::kind::escape_token;
use weft_nodes::pointer::JsonPointer;

/// The deepest nesting of arrays and objects a Weft file may have.
pub const MAX_DEPTH: usize = 128;

/// The UTF-8 byte order mark, which JSON text must not start with (RFC 8259 §8.1).
const BOM: &[u8] = b"\xEF\xBB\xBF";

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
    /// The JSON pointer of the offending value, when the problem is one (a duplicate key);
    /// empty otherwise.
    pub pointer: String,
}

impl JsonError {
    fn at(message: String, (line, column): (usize, usize)) -> Self {
        Self { message, line: Some(line), column: Some(column), pointer: String::new() }
    }
}

/// Parses UTF-8 JSON text nested at most [`MAX_DEPTH`] levels, in which no object has a key
/// twice.
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    if bytes.starts_with(BOM) {
        return Err(JsonError::at(
            "the file starts with a UTF-8 byte order mark; save it without one".to_owned(),
            (1, 1),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        JsonError::at(
            format!("the file is not UTF-8 text (invalid byte at offset {})", e.valid_up_to()),
            line_column(bytes, e.valid_up_to()),
        )
    })?;
    let duplicate = check(text)?;
    let mut de = serde_json::Deserializer::from_str(text);
    // The depth was checked above; serde_json's own limit is one level short of ours.
    de.disable_recursion_limit();
    let value = Value::deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    let value = value.map_err(|e| JsonError {
        message: format!("invalid JSON: {}", strip_position(&e.to_string())),
        line: Some(e.line()).filter(|&l| l > 0),
        // serde_json reports column 0 for an error right after a newline.
        column: Some(e.column().max(1)).filter(|_| e.line() > 0),
        pointer: String::new(),
    })?;
    // A syntax error is reported first: in text that is not JSON, the scan's idea of what is
    // a key may be wrong.
    match duplicate {
        Some(duplicate) => Err(duplicate),
        None => Ok(value),
    }
}

/// serde_json appends " at line L column C"; the position is reported separately.
fn strip_position(message: &str) -> &str {
    message.find(" at line ").map_or(message, |i| &message[..i])
}

/// Checks the depth (an error at once: serde would recurse) and finds the first duplicate key
/// (returned, for after the syntax check).
fn check(text: &str) -> Result<Option<JsonError>, JsonError> {
    /// An open array or object: how it is reached from its parent, and an object's keys so
    /// far with where each is.
    struct Level<'t> {
        step: Step<'t>,
        keys: Option<HashMap<Cow<'t, str>, usize>>,
    }
    let mut levels: Vec<Level<'_>> = Vec::new();
    let mut duplicate = None;
    let mut walk = Walk::new(text);
    while let Some(event) = walk.next() {
        match event {
            Event::Value { at, step, opens: Some(object) } => {
                if levels.len() >= MAX_DEPTH {
                    return Err(JsonError::at(
                        format!("JSON nested deeper than {MAX_DEPTH} levels"),
                        line_column(text.as_bytes(), at),
                    ));
                }
                let keys = (object && duplicate.is_none()).then(HashMap::new);
                levels.push(Level { step, keys });
            }
            Event::Value { opens: None, .. } => {}
            Event::Key { at, raw } => {
                let Some(keys) = levels.last_mut().and_then(|l| l.keys.as_mut()) else {
                    continue;
                };
                let first = match keys.entry(unescape(raw)) {
                    Entry::Vacant(entry) => {
                        entry.insert(at);
                        continue;
                    }
                    Entry::Occupied(entry) => *entry.get(),
                };
                let key = unescape(raw);
                let mut pointer: String = levels.iter().map(|l| l.step.token()).collect();
                pointer.push('/');
                pointer.push_str(&escape_token(&key));
                let positions = line_columns(text.as_bytes(), &[first, at]);
                let [(l1, c1), (l2, c2)] = [positions[0], positions[1]];
                duplicate = Some(JsonError {
                    message: format!(
                        "duplicate key `{}` at {}: first at line {l1}, column {c1}, again at \
                         line {l2}, column {c2}; an object holds each key once",
                        clip(&key),
                        clip(&pointer)
                    ),
                    line: Some(l2),
                    column: Some(c2),
                    pointer,
                });
                // One is enough: stop collecting keys.
                levels.iter_mut().for_each(|l| l.keys = None);
            }
            Event::Close => {
                levels.pop();
            }
        }
    }
    Ok(duplicate)
}

/// The text of a key or string from its raw text between the quotes (borrowed when it has no
/// escape; as it is when an escape is broken, which serde reports).
fn unescape(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let quoted = format!("\"{raw}\"");
    serde_json::from_str::<String>(&quoted).map_or(Cow::Borrowed(raw), Cow::Owned)
}

/// The 1-based line and column (in characters) of byte `offset`.
pub fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    line_columns(bytes, &[offset])[0]
}

/// The 1-based line and column (in characters) of each byte offset in `offsets`, in one pass
/// over the text however many there are.
pub fn line_columns(bytes: &[u8], offsets: &[usize]) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..offsets.len()).collect();
    order.sort_unstable_by_key(|&i| offsets[i]);
    let mut positions = vec![(1, 1); offsets.len()];
    let (mut at, mut line, mut column) = (0, 1, 1);
    for i in order {
        let target = offsets[i].min(bytes.len());
        for &b in &bytes[at..target] {
            if b == b'\n' {
                line += 1;
                column = 1;
            } else if b & 0xC0 != 0x80 {
                // Not a UTF-8 continuation byte: a character starts here.
                column += 1;
            }
        }
        at = target;
        positions[i] = (line, column);
    }
    positions
}

/// Where the value a JSON pointer designates starts in `text` (valid JSON), as line and column;
/// for a pointer to a missing member, where its nearest existing ancestor starts.
pub fn locate(text: &str, pointer: &str) -> Option<(usize, usize)> {
    locate_all(text, [pointer]).pop().flatten()
}

/// [`locate`] for many pointers at once, in one pass over the text: the cost is the text's
/// length plus the pointers', however many pointers there are.
pub fn locate_all<'p>(
    text: &str,
    pointers: impl IntoIterator<Item = &'p str>,
) -> Vec<Option<(usize, usize)>> {
    // The pointers' tokens as a trie; the walk marks where each of its nodes' values starts.
    let mut trie = Trie::default();
    let paths: Vec<Option<Vec<usize>>> = pointers
        .into_iter()
        .map(|p| JsonPointer::parse(p).ok().map(|p| trie.insert(p.tokens())))
        .collect();
    let mut open: Vec<Option<usize>> = Vec::new();
    let mut walk = Walk::new(text);
    while let Some(event) = walk.next() {
        match event {
            Event::Value { at, step, opens } => {
                let node = match step {
                    Step::Root => Some(0),
                    _ => open.last().copied().flatten().and_then(|parent| trie.child(parent, step)),
                };
                if let Some(node) = node {
                    trie.start[node].get_or_insert(at);
                }
                if opens.is_some() {
                    open.push(node);
                }
            }
            Event::Close => {
                open.pop();
            }
            Event::Key { .. } => {}
        }
    }
    // The deepest node of each path that exists.
    let starts: Vec<Option<usize>> = paths
        .iter()
        .map(|path| path.as_ref()?.iter().rev().find_map(|&node| trie.start[node]))
        .collect();
    let found: Vec<usize> = starts.iter().flatten().copied().collect();
    let mut positions = line_columns(text.as_bytes(), &found).into_iter();
    starts.iter().map(|start| start.and_then(|_| positions.next())).collect()
}

/// Pointer tokens as a tree: node 0 is the root, each node's children by token.
struct Trie {
    children: Vec<HashMap<String, usize>>,
    /// Where the value of each node starts in the text, once found.
    start: Vec<Option<usize>>,
}

impl Default for Trie {
    fn default() -> Self {
        Self { children: vec![HashMap::new()], start: vec![None] }
    }
}

impl Trie {
    /// Adds a pointer; returns its nodes from the root down.
    fn insert(&mut self, tokens: &[String]) -> Vec<usize> {
        let mut path = Vec::with_capacity(tokens.len() + 1);
        let mut node = 0;
        path.push(node);
        for token in tokens {
            node = match self.children[node].get(token) {
                Some(&child) => child,
                None => {
                    let child = self.children.len();
                    self.children.push(HashMap::new());
                    self.start.push(None);
                    self.children[node].insert(token.clone(), child);
                    child
                }
            };
            path.push(node);
        }
        path
    }

    /// The child of `node` that `step` leads to.
    fn child(&self, node: usize, step: Step<'_>) -> Option<usize> {
        let children = &self.children[node];
        if children.is_empty() {
            return None;
        }
        match step {
            Step::Root => None,
            Step::Key(raw) => children.get(unescape(raw).as_ref()).copied(),
            Step::Index(index) => children.get(&index.to_string()).copied(),
        }
    }
}

/// How a value is reached from the array or object around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step<'t> {
    /// It is the whole text.
    Root,
    /// A member: the raw text of its key (between the quotes, escapes as written).
    Key(&'t str),
    /// An element.
    Index(usize),
}

impl Step<'_> {
    /// Its JSON pointer segment: `/key` (escaped), `/3`, or nothing for the root.
    fn token(&self) -> String {
        match self {
            Step::Root => String::new(),
            Step::Key(raw) => format!("/{}", escape_token(&unescape(raw))),
            Step::Index(index) => format!("/{index}"),
        }
    }
}

/// What a [`Walk`] meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event<'t> {
    /// A value starts at byte `at`; `opens` when it is an object (`Some(true)`) or an array
    /// (`Some(false)`), whose content follows up to its [`Event::Close`].
    Value { at: usize, step: Step<'t>, opens: Option<bool> },
    /// The key of a member of the innermost open object, starting at byte `at` (its quote).
    Key { at: usize, raw: &'t str },
    /// The innermost open object or array ends.
    Close,
}

/// A flat walk over JSON text: no recursion, memory for the open containers only, linear time.
/// Text that is not JSON is walked without complaint (serde reports it), never with a panic.
struct Walk<'t> {
    text: &'t str,
    at: usize,
    open: Vec<Open<'t>>,
}

/// An open array or object.
struct Open<'t> {
    object: bool,
    /// The index of the current element (arrays).
    index: usize,
    /// The key of the current member (objects).
    key: &'t str,
    /// Whether a string here would be a key (objects).
    expect_key: bool,
}

impl<'t> Walk<'t> {
    fn new(text: &'t str) -> Self {
        Self { text, at: 0, open: Vec::new() }
    }

    /// How the value starting now is reached.
    fn step(&self) -> Step<'t> {
        match self.open.last() {
            None => Step::Root,
            Some(open) if open.object => Step::Key(open.key),
            Some(open) => Step::Index(open.index),
        }
    }

    /// The end of the string whose quote is at `at`: just past its closing quote.
    fn string_end(&self, at: usize) -> usize {
        let bytes = self.text.as_bytes();
        let mut i = at + 1;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'\\' => i += 2,
                b'"' => return i + 1,
                _ => i += 1,
            }
        }
        bytes.len()
    }

    fn next(&mut self) -> Option<Event<'t>> {
        let bytes = self.text.as_bytes();
        loop {
            while bytes.get(self.at).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
                self.at += 1;
            }
            let at = self.at;
            match *bytes.get(at)? {
                open @ (b'{' | b'[') => {
                    let step = self.step();
                    let object = open == b'{';
                    self.at += 1;
                    self.open.push(Open { object, index: 0, key: "", expect_key: object });
                    return Some(Event::Value { at, step, opens: Some(object) });
                }
                b'}' | b']' => {
                    self.at += 1;
                    if self.open.pop().is_some() {
                        return Some(Event::Close);
                    }
                }
                b',' => {
                    self.at += 1;
                    if let Some(open) = self.open.last_mut() {
                        if open.object {
                            open.expect_key = true;
                        } else {
                            open.index += 1;
                        }
                    }
                }
                b':' => self.at += 1,
                b'"' => {
                    let end = self.string_end(at);
                    self.at = end;
                    // The quotes are ASCII, so these are character boundaries.
                    let inner = self.text.get(at + 1..end.saturating_sub(1).max(at + 1));
                    let raw = inner.unwrap_or_default();
                    if let Some(open) = self.open.last_mut()
                        && open.object
                        && open.expect_key
                    {
                        open.expect_key = false;
                        open.key = raw;
                        return Some(Event::Key { at, raw });
                    }
                    return Some(Event::Value { at, step: self.step(), opens: None });
                }
                _ => {
                    // A number, `true`, `false`, `null` (or anything else, for serde to report).
                    self.at += 1;
                    while bytes.get(self.at).is_some_and(|b| {
                        !matches!(
                            b,
                            b' ' | b'\t'
                                | b'\n'
                                | b'\r'
                                | b'{'
                                | b'}'
                                | b'['
                                | b']'
                                | b','
                                | b':'
                                | b'"'
                        )
                    }) {
                        self.at += 1;
                    }
                    return Some(Event::Value { at, step: self.step(), opens: None });
                }
            }
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
    fn regression_duplicate_keys_are_an_error_naming_the_key_and_both_places() {
        let text = "{\n  \"nodes\": [\n    { \"id\": \"a\",\n      \"id\": \"b\" }\n  ]\n}";
        let err = parse(text.as_bytes()).unwrap_err();
        assert_eq!(err.pointer, "/nodes/0/id");
        assert_eq!((err.line, err.column), (Some(4), Some(7)));
        assert_eq!(
            err.message,
            "duplicate key `id` at /nodes/0/id: first at line 3, column 7, again at line 4, \
             column 7; an object holds each key once"
        );
        // Keys are compared unescaped, and pointers escape them.
        let err = parse(br#"{"x": {"a/b": 1, "a\u002fb": 2}}"#).unwrap_err();
        assert_eq!(err.pointer, "/x/a~1b");
        // The same key in different objects, or as a value, is fine.
        assert!(parse(br#"[{"a": 1}, {"a": {"a": "a"}}]"#).is_ok());
        // A syntax error comes first.
        let err = parse(br#"{"a": 1, "a": }"#).unwrap_err();
        assert!(err.message.starts_with("invalid JSON"), "{}", err.message);
    }

    #[test]
    fn regression_a_byte_order_mark_is_named() {
        let err = parse(b"\xEF\xBB\xBF{}").unwrap_err();
        assert_eq!(
            err.message,
            "the file starts with a UTF-8 byte order mark; save it without one"
        );
        assert_eq!((err.line, err.column), (Some(1), Some(1)));
    }

    #[test]
    fn locates_many_pointers_in_one_pass() {
        let text = "{\"a\": [10, {\"b\": \"é\", \"c\": 3}],\n \"d~/\": 4}";
        let pointers = ["/a/1/c", "/a/0", "/d~0~1", "/a/1/b", "/a/7", "/zz/y", "bad", "/a/1/c"];
        assert_eq!(
            locate_all(text, pointers),
            [
                Some((1, 28)),
                Some((1, 8)),
                Some((2, 9)),
                Some((1, 18)),
                Some((1, 7)),
                Some((1, 1)),
                None,
                Some((1, 28))
            ]
        );
        assert_eq!(
            line_columns(b"ab\n\xC3\xA9x", &[5, 0, 3, 99]),
            [(2, 2), (1, 1), (2, 1), (2, 3)]
        );
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
