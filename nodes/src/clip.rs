//! Quoting input in messages: a message quotes a bounded piece of what it was given and says
//! how much it left out, so no input makes a message (a line on stderr, a diagnostic, a trace
//! event, an HTTP error body) as big as itself.
//!
//! Quote each piece of input with [`clip`] where the message is written; messages built by
//! code that quotes input its own way (serde's, Rhai's) are bounded as a whole with
//! [`clip_message`], as [`crate::Diagnostic`] and [`crate::NodeError`] do for every message.

use std::fmt;

/// The most bytes of one quoted piece of input (a URL, a key, an id, a template, a pointer…).
pub const QUOTE_MAX: usize = 400;

/// The most bytes of a whole message.
pub const MESSAGE_MAX: usize = 2_000;

/// `text` as a message quotes it: whole up to [`QUOTE_MAX`] bytes, else its start and a marker
/// saying how much was cut, `https://example.com/aaa… [+9999800 bytes]`, in [`QUOTE_MAX`] bytes
/// with the marker.
#[must_use]
pub fn clip(text: &str) -> Clipped<'_> {
    clip_to(text, QUOTE_MAX)
}

/// [`clip`] with another bound (which a clipped text, marker included, does not pass unless
/// the bound is shorter than the marker). Clipping again to the same bound changes nothing.
#[must_use]
pub fn clip_to(text: &str, max: usize) -> Clipped<'_> {
    if text.len() <= max {
        return Clipped { head: text, cut: 0, tail: "" };
    }
    let head = &text[..floor_boundary(text, max.saturating_sub(marker_len(text.len())))];
    Clipped { head, cut: text.len() - head.len(), tail: "" }
}

/// The longest the marker can be for a cut out of `len` bytes: `… [+` `len`'s digits ` bytes]`.
fn marker_len(len: usize) -> usize {
    "… [+ bytes]".len() + len.to_string().len()
}

/// A whole message bounded to [`MESSAGE_MAX`] bytes, marker included: its start and its end
/// kept (where the message usually says what was expected), the middle replaced by the marker.
#[must_use]
pub fn clip_message(message: String) -> String {
    clip_message_to(message, MESSAGE_MAX)
}

/// [`clip_message`] with another bound.
#[must_use]
pub fn clip_message_to(message: String, max: usize) -> String {
    if message.len() <= max {
        return message;
    }
    let room = max.saturating_sub(marker_len(message.len()));
    let head_end = floor_boundary(&message, room - room / 4);
    let tail_start = ceil_boundary(&message, message.len() - room / 4);
    Clipped { head: &message[..head_end], cut: tail_start - head_end, tail: &message[tail_start..] }
        .to_string()
}

/// The most names [`list`] writes.
pub const LIST_MAX: usize = 20;

/// Names for a message, such as the ones a flow has when it was asked for another: the first
/// [`LIST_MAX`], each clipped, comma-separated, then how many more there are.
#[must_use]
pub fn list<T: AsRef<str>>(names: impl IntoIterator<Item = T>) -> String {
    let mut out = String::new();
    let mut more = 0usize;
    for (i, name) in names.into_iter().enumerate() {
        if i >= LIST_MAX {
            more += 1;
            continue;
        }
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&clip(name.as_ref()).to_string());
    }
    if more > 0 {
        out.push_str(&format!(", and {more} more"));
    }
    out
}

/// The largest char boundary of `text` at or before `at`.
fn floor_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The smallest char boundary of `text` at or after `at`.
fn ceil_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// A quotation, written with [`fmt::Display`]: the kept text and, when some was cut, the
/// marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clipped<'a> {
    head: &'a str,
    cut: usize,
    tail: &'a str,
}

impl Clipped<'_> {
    /// How many bytes were left out.
    #[must_use]
    pub fn cut(&self) -> usize {
        self.cut
    }
}

impl fmt::Display for Clipped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.head)?;
        if self.cut > 0 {
            write!(f, "… [+{} bytes]", self.cut)?;
        }
        f.write_str(self.tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_quoted_whole() {
        assert_eq!(clip("abc").to_string(), "abc");
        assert_eq!(clip(&"a".repeat(QUOTE_MAX)).to_string(), "a".repeat(QUOTE_MAX));
        assert_eq!(clip_message("short".to_owned()), "short");
    }

    #[test]
    fn long_text_says_how_much_was_cut() {
        let url = format!("https://x/{}", "a".repeat(10_000_000));
        let quoted = clip(&url).to_string();
        assert!(quoted.starts_with("https://x/aaa"), "{quoted}");
        let kept = quoted.find('…').unwrap();
        assert!(quoted.ends_with(&format!("… [+{} bytes]", url.len() - kept)), "{quoted}");
        assert!(quoted.len() <= QUOTE_MAX && kept > QUOTE_MAX - 30, "{}", quoted.len());
        // Clipping again changes nothing.
        assert_eq!(clip(&quoted).to_string(), quoted);
        // Never inside a character.
        assert_eq!(clip_to(&"é".repeat(10), 17).to_string(), "é… [+18 bytes]");
    }

    #[test]
    fn lists_say_how_many_more() {
        assert_eq!(list(["a", "b"]), "a, b");
        let many: Vec<String> = (0..25).map(|i| format!("n{i}")).collect();
        assert!(list(&many).ends_with("n19, and 5 more"), "{}", list(&many));
    }

    #[test]
    fn long_messages_keep_their_start_and_end() {
        let message = format!("invalid type: string \"{}\", expected u64", "x".repeat(1_000_000));
        let clipped = clip_message(message.clone());
        assert!(clipped.len() <= MESSAGE_MAX, "{}", clipped.len());
        assert!(clipped.starts_with("invalid type: string \"xxx"));
        assert!(clipped.ends_with("xxx\", expected u64"));
        assert_eq!(clip_message(clipped.clone()), clipped);
    }
}
