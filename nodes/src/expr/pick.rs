//! Picks the values at a few known member paths (`start.dateTime`, `organizer.emailAddress`)
//! out of each element of a JSON array, straight from the text.
//!
//! An import whose `map` only reads field paths needs a handful of values per item, not the
//! item: building a Rhai map for every kept sub-object was most of its cost. The paths are
//! merged into a [`PathTrie`]; each element is read with a visitor that follows the trie, skips
//! every member it doesn't name, and leaves one [`Slot`] per trie node saying what it found
//! there. Instants are converted while their `{ dateTime, timeZone }` strings are still
//! borrowed from the text.
//!
//! JSON semantics are those of the Rhai conversion ([`super::parse_json`]): a repeated member
//! counts with its last occurrence, `null` is `()`.

use std::borrow::Cow;

use rhai::Dynamic;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::convert::{DynamicSeed, Elements, stream_elements};
use super::time;

/// What is kept of the value at the end of a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capture {
    /// Nothing: only whether the path can be followed matters.
    Nothing,
    /// The value, as a Rhai value.
    Value,
    /// An instant (text, or Graph's `{ dateTime, timeZone }`), converted to RFC 3339 UTC text
    /// the way the `datetime` field type does.
    Datetime,
}

impl Capture {
    /// What two users of the same path need together.
    fn merge(self, other: Self) -> Self {
        match (self, other) {
            (Self::Nothing, x) | (x, Self::Nothing) => x,
            (Self::Datetime, Self::Datetime) => Self::Datetime,
            _ => Self::Value,
        }
    }
}

/// How the visitor reads the value at a trie node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Not needed: skipped.
    Skip,
    /// Built as a Rhai value (paths going deeper are followed in it afterwards).
    Value,
    /// Converted as an instant.
    Datetime,
    /// Followed into, member by member.
    Object,
}

/// The member paths read from each element, merged: node 0 is the element itself.
#[derive(Debug)]
pub struct PathTrie {
    nodes: Vec<TrieNode>,
}

#[derive(Debug)]
struct TrieNode {
    name: String,
    children: Vec<usize>,
    capture: Capture,
}

impl Default for PathTrie {
    fn default() -> Self {
        Self::new()
    }
}

impl PathTrie {
    /// A trie holding only the element itself.
    #[must_use]
    pub fn new() -> Self {
        Self {
            nodes: vec![TrieNode {
                name: String::new(),
                children: Vec::new(),
                capture: Capture::Nothing,
            }],
        }
    }

    /// Adds the member path `names` (from the element), keeping `capture` at its end; returns
    /// the trie node of each name, in order.
    pub fn insert(&mut self, names: &[&str], capture: Capture) -> Vec<usize> {
        let mut at = 0;
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            let existing =
                self.nodes[at].children.iter().copied().find(|&c| self.nodes[c].name == *name);
            at = match existing {
                Some(child) => child,
                None => {
                    let id = self.nodes.len();
                    self.nodes.push(TrieNode {
                        name: (*name).to_owned(),
                        children: Vec::new(),
                        capture: Capture::Nothing,
                    });
                    self.nodes[at].children.push(id);
                    id
                }
            };
            ids.push(at);
        }
        if !names.is_empty() {
            let node = &mut self.nodes[at];
            node.capture = node.capture.merge(capture);
        }
        ids
    }

    /// The number of nodes, i.e. of slots an element fills.
    #[must_use]
    #[allow(clippy::len_without_is_empty)] // never empty: node 0 is the element itself
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    fn mode(&self, node: usize) -> Mode {
        let node = &self.nodes[node];
        match (node.capture, node.children.is_empty()) {
            (Capture::Nothing, true) => Mode::Skip,
            (Capture::Nothing, false) => Mode::Object,
            (Capture::Datetime, true) => Mode::Datetime,
            (Capture::Value | Capture::Datetime, _) => Mode::Value,
        }
    }

    /// Empties the slots of `node` and everything under it.
    fn reset(&self, node: usize, slots: &mut [Slot]) {
        slots[node] = Slot::Absent;
        for &child in &self.nodes[node].children {
            self.reset(child, slots);
        }
    }
}

/// What an element held at one trie node.
#[derive(Debug, Clone, Default)]
pub enum Slot {
    /// Not there (its parent was no object, or had no such member), or skipped.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// An object, whose wanted members are in the slots below.
    Object,
    /// Something else where an object was looked for.
    Other,
    /// The value (for [`Capture::Value`]).
    Value(Dynamic),
    /// The converted instant as RFC 3339 UTC text (for [`Capture::Datetime`]), or `None` when
    /// the value is not an instant.
    Instant(Option<Dynamic>),
}

/// Receives each element's slots, with its index; an `Err` stops the stream with that message.
pub type EachSlots<'f> = dyn FnMut(usize, &mut [Slot]) -> Result<(), String> + 'f;

/// Streams the array at `path` in `text` (as [`super::stream_array`] does), filling `slots`
/// (one per trie node) for each element and handing them to `each`. The text is a `str`, so its
/// strings are not checked for UTF-8 again.
///
/// # Errors
///
/// serde_json's error for text that is not JSON, or the message `each` failed with.
pub fn stream_picks(
    text: &str,
    path: &[String],
    trie: &PathTrie,
    each: &mut EachSlots<'_>,
) -> Result<Option<&'static str>, serde_json::Error> {
    let mut picker = Picker { trie, slots: vec![Slot::Absent; trie.len()], each };
    stream_elements(serde_json::de::StrRead::new(text), path, &mut picker)
}

struct Picker<'t, 'f> {
    trie: &'t PathTrie,
    slots: Vec<Slot>,
    each: &'f mut EachSlots<'f>,
}

impl Elements for Picker<'_, '_> {
    fn next<'de, A: SeqAccess<'de>>(
        &mut self,
        index: usize,
        seq: &mut A,
    ) -> Result<bool, A::Error> {
        // Forget the last element.
        self.slots.fill(Slot::Absent);
        let seed = NodeSeed { trie: self.trie, node: 0, slots: &mut self.slots };
        if seq.next_element_seed(seed)?.is_none() {
            return Ok(false);
        }
        (self.each)(index, &mut self.slots).map_err(de::Error::custom)?;
        Ok(true)
    }

    /// A repeated member on the path: the general path, which starts over, decides.
    fn restart(&mut self) -> Result<(), String> {
        Err("a member on the path is repeated".into())
    }
}

/// Reads the value at one trie node into its slot.
struct NodeSeed<'a> {
    trie: &'a PathTrie,
    node: usize,
    slots: &'a mut [Slot],
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let slot = match self.trie.mode(self.node) {
            Mode::Skip => return Checked.deserialize(deserializer),
            Mode::Value => Slot::Value(DynamicSeed::default().deserialize(deserializer)?),
            Mode::Datetime => deserializer.deserialize_any(InstantVisitor)?,
            Mode::Object => deserializer.deserialize_any(ObjectVisitor {
                trie: self.trie,
                node: self.node,
                slots: &mut *self.slots,
            })?,
        };
        self.slots[self.node] = slot;
        Ok(())
    }
}

/// Checks JSON text as [`super::parse_json`] reads it (numbers, escapes, nesting), building
/// nothing.
///
/// # Errors
///
/// serde_json's error where the text is not JSON.
pub(crate) fn check_text(text: &str) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    Checked.deserialize(&mut de)?;
    de.end()
}

/// Drains an array nobody wants, checking it as [`Checked`] does.
fn drain<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element_seed(Checked)?.is_some() {}
    Ok(())
}

/// Reads a value nobody wants as the Rhai conversion would read it, and drops it: a number out
/// of range, a broken escape or nesting past serde_json's limit is an error here too, as it is
/// where the general path builds the member. Only the item's own members that nothing reads may
/// go unchecked (`IgnoredAny`): the general path skips those as well.
struct Checked;

impl<'de> DeserializeSeed<'de> for Checked {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(Checked)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        drain(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<(), A::Error> {
        while access.next_key_seed(Checked)?.is_some() {
            access.next_value_seed(Checked)?;
        }
        Ok(())
    }
}

/// Follows an object into the members the trie names.
struct ObjectVisitor<'a> {
    trie: &'a PathTrie,
    node: usize,
    slots: &'a mut [Slot],
}

impl<'de> Visitor<'de> for ObjectVisitor<'_> {
    type Value = Slot;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Slot, E> {
        Ok(Slot::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Slot, E> {
        Ok(Slot::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Slot, E> {
        Ok(Slot::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Slot, E> {
        Ok(Slot::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Slot, E> {
        Ok(Slot::Other)
    }

    fn visit_str<E>(self, _: &str) -> Result<Slot, E> {
        Ok(Slot::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Slot, A::Error> {
        drain(seq)?;
        Ok(Slot::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Slot, A::Error> {
        let children = &self.trie.nodes[self.node].children;
        while let Some(child) = access.next_key_seed(ChildSeed { trie: self.trie, children })? {
            match child {
                Some(child) => {
                    // A repeated member counts with its last occurrence: forget the first.
                    if !matches!(self.slots[child], Slot::Absent) {
                        self.trie.reset(child, self.slots);
                    }
                    access.next_value_seed(NodeSeed {
                        trie: self.trie,
                        node: child,
                        slots: &mut *self.slots,
                    })?;
                }
                None if self.node == 0 => {
                    access.next_value::<IgnoredAny>()?;
                }
                None => access.next_value_seed(Checked)?,
            }
        }
        Ok(Slot::Object)
    }
}

/// A member name, as the trie node it names (if any); never allocated.
struct ChildSeed<'a> {
    trie: &'a PathTrie,
    children: &'a [usize],
}

impl<'de> DeserializeSeed<'de> for ChildSeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for ChildSeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.children.iter().copied().find(|&c| self.trie.nodes[c].name == key))
    }
}

/// Reads an instant where a `datetime` field wants one: the `datetime` field type's rules
/// (text: any instant; object: `dateTime` and, when it is text, `timeZone`).
struct InstantVisitor;

impl<'de> Visitor<'de> for InstantVisitor {
    type Value = Slot;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Slot, E> {
        Ok(Slot::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Slot, E> {
        Ok(Slot::Instant(None))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Slot, E> {
        Ok(Slot::Instant(None))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Slot, E> {
        Ok(Slot::Instant(None))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Slot, E> {
        Ok(Slot::Instant(None))
    }

    fn visit_str<E>(self, text: &str) -> Result<Slot, E> {
        Ok(Slot::Instant(instant(text, None)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Slot, A::Error> {
        drain(seq)?;
        Ok(Slot::Instant(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Slot, A::Error> {
        let mut date_time: Option<Cow<'de, str>> = None;
        let mut time_zone: Option<Cow<'de, str>> = None;
        while let Some(key) = access.next_key_seed(PairKey)? {
            match key {
                Some(PairMember::DateTime) => date_time = access.next_value_seed(TextSeed)?,
                Some(PairMember::TimeZone) => time_zone = access.next_value_seed(TextSeed)?,
                None => access.next_value_seed(Checked)?,
            }
        }
        Ok(Slot::Instant(date_time.and_then(|dt| instant(&dt, time_zone.as_deref()))))
    }
}

/// Converts an instant as the `datetime` field type does, `None` when it can't be read.
fn instant(date_time: &str, time_zone: Option<&str>) -> Option<Dynamic> {
    let at = match time_zone {
        Some(zone) => time::graph_to_utc(date_time, zone),
        None => time::parse_datetime(date_time),
    };
    at.ok().map(|at| Dynamic::from(time::format_instant(&at)))
}

enum PairMember {
    DateTime,
    TimeZone,
}

struct PairKey;

impl<'de> DeserializeSeed<'de> for PairKey {
    type Value = Option<PairMember>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for PairKey {
    type Value = Option<PairMember>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(match key {
            "dateTime" => Some(PairMember::DateTime),
            "timeZone" => Some(PairMember::TimeZone),
            _ => None,
        })
    }
}

/// A member's text, borrowed from the document when it has no escapes; `None` for any other
/// value (which the `datetime` type treats like a missing member).
struct TextSeed;

impl<'de> DeserializeSeed<'de> for TextSeed {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TextSeed {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(text.to_owned())))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain(seq)?;
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        while access.next_key_seed(Checked)?.is_some() {
            access.next_value_seed(Checked)?;
        }
        Ok(None)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::expr::dynamic_to_json;

    fn picks(text: &str, trie: &PathTrie) -> Vec<Vec<String>> {
        let mut all = Vec::new();
        stream_picks(text, &[], trie, &mut |_, slots| {
            all.push(
                slots
                    .iter()
                    .map(|slot| match slot {
                        Slot::Value(v) | Slot::Instant(Some(v)) => {
                            dynamic_to_json(v).unwrap().to_string()
                        }
                        other => format!("{other:?}"),
                    })
                    .collect(),
            );
            Ok(())
        })
        .unwrap();
        all
    }

    #[test]
    fn follows_paths_and_keeps_the_last_of_repeated_members() {
        let mut trie = PathTrie::new();
        assert_eq!(trie.insert(&["a", "b"], Capture::Value), [1, 2]);
        assert_eq!(trie.insert(&["a", "t"], Capture::Datetime), [1, 3]);
        assert_eq!(trie.insert(&["c"], Capture::Nothing), [4]);
        let text = r#"[
            {"a": {"b": 1, "t": {"dateTime": "2026-01-01T00:00:00", "timeZone": "Tokyo Standard Time", "x": [1]}}, "c": {"deep": 1}},
            {"a": {"b": [1, {"x": null}]}, "a": {"t": "2026-01-01T00:00:00+01:00"}, "z": "s\u0061"},
            {"a": null, "c": 1},
            {"a": "text"},
            {"a": {"t": {"dateTime": 7, "timeZone": "UTC"}}},
            {"a": {"t": {"dateTime": "2026-01-01T00:00:00", "timeZone": 7, "timeZone": "UTC"}}},
            {"a": {"t": {"dateTime": "2026-01-01T00:00:00", "timeZone": "UTC", "timeZone": 7}}},
            5
        ]"#;
        let got = picks(text, &trie);
        let expect = [
            ["Object", "Object", "1", "\"2025-12-31T15:00:00Z\"", "Absent"],
            ["Object", "Object", "Absent", "\"2025-12-31T23:00:00Z\"", "Absent"],
            ["Object", "Null", "Absent", "Absent", "Absent"],
            ["Object", "Other", "Absent", "Absent", "Absent"],
            ["Object", "Object", "Absent", "Instant(None)", "Absent"],
            ["Object", "Object", "Absent", "\"2026-01-01T00:00:00Z\"", "Absent"],
            ["Object", "Object", "Absent", "\"2026-01-01T00:00:00Z\"", "Absent"],
            ["Other", "Absent", "Absent", "Absent", "Absent"],
        ];
        assert_eq!(got.len(), expect.len());
        for (got, expect) in got.iter().zip(expect) {
            assert_eq!(got, &expect);
        }
    }

    #[test]
    fn a_path_under_a_kept_value_keeps_the_value() {
        let mut trie = PathTrie::new();
        trie.insert(&["a"], Capture::Datetime);
        trie.insert(&["a", "b"], Capture::Value);
        let got = picks(r#"[{"a": {"b": "x", "c": 2}}]"#, &trie);
        assert_eq!(got, [[r#"Object"#, r#"{"b":"x","c":2}"#, "Absent"]]);
    }
}
