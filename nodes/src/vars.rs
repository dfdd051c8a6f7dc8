//! The flow's data (`vars`): one shared Rhai map per run.
//!
//! The map lives behind a shared [`Dynamic`] so that putting it in an expression's scope is a
//! pointer copy: the cost of evaluating `vars.i < 10` does not depend on how much else is in
//! `vars`.
//!
//! A value may wait in `vars` as [`JsonText`] until something reads it: an HTTP response body
//! whose only reader is a JSON Import maps it straight from the text, and never becomes Rhai
//! values at all. Such values are *pending*; every way of reading `vars` (an expression, through
//! [`Vars::prepare`], or any method here but [`Vars::json_text_at`], which hands the text to a
//! reader of JSON text) first turns the pending values it can reach into Rhai values, so no
//! reader ever sees the text in their place.
//!
//! Every value that enters `vars` is marked read-only (Rhai's access mode, throughout), so a
//! method in an expression that would modify it in place (`vars.list.push(1)`) fails: only a
//! node's own writes change `vars`.

use crate::clip::clip;
use crate::expr::{VarReads, dynamic_to_json, parse_json};
use rhai::{Array, Blob, Dynamic, ImmutableString, Map};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The default of [`Vars::with_limit`]: 1 GiB.
pub const DEFAULT_MAX_BYTES: usize = 1 << 30;

/// A variable path under `vars`, such as `page` or `calendar.items`; checked when a flow loads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VarPath {
    segments: Vec<rhai::ImmutableString>,
}

impl VarPath {
    /// Parses a dotted path of identifiers (`[A-Za-z_][A-Za-z0-9_]*` each).
    pub fn parse(source: &str) -> Result<Self, String> {
        if source == "vars" || source.starts_with("vars.") {
            return Err(format!(
                "`{}`: name the variable without the `vars.` prefix (e.g. `{}`)",
                clip(source),
                clip(source.strip_prefix("vars.").unwrap_or("page"))
            ));
        }
        let mut segments = Vec::new();
        for segment in source.split('.') {
            if !is_identifier(segment) {
                return Err(format!(
                    "`{}` is not a variable path: expected names like `page` or \
                     `calendar.items` (letters, digits and `_`, not starting with a digit)",
                    clip(source)
                ));
            }
            segments.push(segment.into());
        }
        Ok(Self { segments })
    }

    /// The same path with `suffix` appended to its last segment (`item` → `item_index`).
    pub fn with_suffix(&self, suffix: &str) -> Self {
        let mut segments = self.segments.clone();
        if let Some(last) = segments.last_mut() {
            *last = format!("{last}{suffix}").into();
        }
        Self { segments }
    }

    /// The path's segments.
    pub fn segments(&self) -> &[rhai::ImmutableString] {
        &self.segments
    }

    /// The path of member `name` of this one (`page` → `page.body`); `name` is not checked.
    #[must_use]
    pub fn member(&self, name: &str) -> Self {
        let mut segments = self.segments.clone();
        segments.push(name.into());
        Self { segments }
    }

    /// Whether the one path is a prefix of the other (or they are equal): a write or read of
    /// one reaches the other.
    fn overlaps(&self, other: &[ImmutableString]) -> bool {
        let common = self.segments.len().min(other.len());
        self.segments[..common] == other[..common]
    }
}

impl fmt::Display for VarPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(segment)?;
        }
        Ok(())
    }
}

/// Whether `s` is a plain identifier: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// What a node wrote to `vars`, by path: the values are there afterwards, to be read by whoever
/// records the node's writes (a trace) without a copy made at each write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// The variable was set (or replaced).
    Set(VarPath),
    /// `count` items were appended to the list at `path`.
    Appended {
        /// The list.
        path: VarPath,
        /// How many items, at its end.
        count: usize,
    },
}

impl Written {
    /// The variable written.
    #[must_use]
    pub fn path(&self) -> &VarPath {
        match self {
            Self::Set(path) | Self::Appended { path, .. } => path,
        }
    }

    /// What was written, as it is in `vars` now, as JSON (read where it lies, not copied): the
    /// value set, or the items appended. `None` when it is gone or has no JSON form.
    #[must_use]
    pub fn to_json(&self, vars: &Vars) -> Option<serde_json::Value> {
        match self {
            Self::Set(path) => vars.read(path, |value| dynamic_to_json(value).ok()),
            Self::Appended { path, count } => vars.read(path, |list| {
                let list = list.as_array_ref().ok()?;
                let appended = &list[list.len().saturating_sub(*count)..];
                appended
                    .iter()
                    .map(|item| dynamic_to_json(item).ok())
                    .collect::<Option<Vec<_>>>()
                    .map(serde_json::Value::Array)
            }),
        }
    }
}

impl Written {
    /// What was written, as [`Written::to_json`] gives it, as JSON text, reading `vars` as it
    /// is: a response body waiting as text is copied as text, not parsed (a journal keeps
    /// every write of a run). `None` when it is gone or has no JSON form.
    #[must_use]
    pub fn to_json_text(&self, vars: &Vars) -> Option<String> {
        let root = vars.root.as_map_ref().ok()?;
        at_path(&root, &self.path().segments, |value| match self {
            Self::Set(_) => serde_json::to_string(&crate::expr::AsJson(value)).ok(),
            Self::Appended { count, .. } => {
                let list = value.as_array_ref().ok()?;
                let appended = &list[list.len().saturating_sub(*count)..];
                let mut out = String::from("[");
                for (i, item) in appended.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(&crate::expr::AsJson(item)).ok()?);
                }
                out.push(']');
                Some(out)
            }
        })
    }
}

/// JSON text that stands in `vars` for the value it denotes until something reads it.
///
/// Made only by [`JsonText::new`], which checks the text as [`parse_json`] reads it: parsing it
/// later cannot fail, so a body that is not JSON is still reported by the node that fetched it.
#[derive(Clone)]
pub struct JsonText(Arc<str>);

impl JsonText {
    /// `text` when it is JSON that [`parse_json`] reads without error; the bytes back otherwise.
    pub fn new(text: Vec<u8>) -> Result<Self, Vec<u8>> {
        let text = String::from_utf8(text).map_err(std::string::FromUtf8Error::into_bytes)?;
        match crate::expr::pick::check_text(&text) {
            Ok(()) => Ok(Self(text.into())),
            Err(_) => Err(text.into_bytes()),
        }
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value the text denotes.
    fn value(&self) -> Dynamic {
        // Checked by `new` with the same reader, parsing cannot fail; were it to, the text is
        // kept as a string rather than lost.
        let parsed = parse_json(self.0.as_bytes());
        debug_assert!(parsed.is_ok(), "checked JSON text failed to parse");
        parsed.unwrap_or_else(|_| Dynamic::from(self.0.to_string()))
    }
}

impl fmt::Debug for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonText({} bytes)", self.0.len())
    }
}

/// A run's variables. Cloning a `Vars` clones the handle, not the data.
///
/// The size of all variables together is kept (an estimate of the memory they hold, see
/// [`approx_bytes`]) and bounded: a write that would take it past the limit fails with
/// [`VarsError::TooLarge`], so N responses of 64 MiB each can't exhaust the machine.
#[derive(Clone)]
pub struct Vars {
    root: Dynamic,
    /// Where [`JsonText`] values wait to be parsed.
    pending: Arc<Mutex<Vec<VarPath>>>,
    /// The estimated size of everything in `root`, kept up to date by every write.
    bytes: Arc<AtomicUsize>,
    max_bytes: usize,
    /// The estimated size of top-level variables a write or a parse has measured since, so that
    /// replacing one does not walk the old value again (a paging loop replaces its page at
    /// every step). A write below a variable forgets its size.
    sizes: Arc<Mutex<HashMap<ImmutableString, usize>>>,
}

/// Why a write to `vars` could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarsError {
    /// A segment of the path holds something other than a map.
    #[error("cannot write `{path}`: `{prefix}` is not an object")]
    NotAnObject {
        /// The full path.
        path: String,
        /// The part of it that is not a map.
        prefix: String,
    },
    /// `append_to` names a variable that is not a list.
    #[error("cannot append to `{0}`: it is not a list")]
    NotAList(String),
    /// The write would take the size of all variables past the run's limit.
    #[error(
        "writing `{path}` would take the run's variables past their limit of {} (about {} \
         held now, {} more asked for); raise it with --max-vars-bytes",
        human_bytes(*.max), human_bytes(*.held), human_bytes(*.adding)
    )]
    TooLarge {
        /// The variable being written.
        path: String,
        /// The limit.
        max: usize,
        /// The estimated size held before the write.
        held: usize,
        /// The estimated size the write adds.
        adding: usize,
    },
}

/// `12.3 MiB`, `1 GiB`, `512 bytes`.
fn human_bytes(n: usize) -> String {
    #[allow(clippy::cast_precision_loss)] // a rounded figure for people
    let f = n as f64;
    match n {
        0..1024 => format!("{n} bytes"),
        1024..1_048_576 => format!("{:.1} KiB", f / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", f / 1_048_576.0),
        _ => format!("{:.1} GiB", f / 1_073_741_824.0),
    }
}

/// An estimate of the memory a value holds, in bytes: each slot, string, list and map entry
/// with its usual overhead. Cheap next to building the value, so every write can count what it
/// adds. Nesting past 512 levels is counted a slot per value, not followed: no stack is
/// at risk here.
#[must_use]
pub fn approx_bytes(value: &Dynamic) -> usize {
    approx_at(value, 0)
}

/// How deep [`approx_bytes`] follows nested values.
const DEEPEST: usize = 512;
/// A value's slot (`Dynamic`), what a number or boolean takes.
const SLOT: usize = 16;
/// What a map entry costs besides its key's text and its value: the key's string and its
/// share of the B-tree's nodes.
const ENTRY: usize = 48;

fn approx_at(value: &Dynamic, depth: usize) -> usize {
    if depth >= DEEPEST {
        return SLOT;
    }
    if value.is_shared() {
        return value.read_lock::<Dynamic>().map_or(SLOT, |inner| approx_at(&inner, depth));
    }
    if let Ok(text) = value.as_immutable_string_ref() {
        return SLOT + 16 + text.len();
    }
    if let Ok(list) = value.as_array_ref() {
        return list.iter().fold(SLOT + 24, |n, v| n.saturating_add(approx_at(v, depth + 1)));
    }
    if let Ok(map) = value.as_map_ref() {
        return map.iter().fold(SLOT + 24, |n, (k, v)| {
            n.saturating_add(ENTRY + k.len()).saturating_add(approx_at(v, depth + 1))
        });
    }
    if let Some(blob) = value.read_lock::<Blob>() {
        return SLOT + 24 + blob.len();
    }
    if let Some(text) = value.read_lock::<JsonText>() {
        return SLOT + text.as_str().len();
    }
    SLOT
}

impl Vars {
    /// Variables seeded with `initial`, without a size limit.
    pub fn new(initial: Map) -> Self {
        Self::with_limit(initial, usize::MAX)
    }

    /// Variables seeded with `initial` whose estimated size ([`approx_bytes`]) writes may not
    /// take past `max_bytes` (the seed itself is not refused).
    pub fn with_limit(initial: Map, max_bytes: usize) -> Self {
        let root = Dynamic::from_map(initial).into_read_only().into_shared();
        let bytes = Arc::new(AtomicUsize::new(approx_bytes(&root)));
        Self { root, pending: Arc::default(), bytes, max_bytes, sizes: Arc::default() }
    }

    fn sizes(&self) -> std::sync::MutexGuard<'_, HashMap<ImmutableString, usize>> {
        self.sizes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The size of the value at `path`, `slot`: remembered for a top-level variable, else
    /// measured.
    fn size_of(&self, path: &VarPath, slot: &Dynamic) -> usize {
        match path.segments.as_slice() {
            [name] => self.sizes().get(name).copied().unwrap_or_else(|| approx_bytes(slot)),
            _ => approx_bytes(slot),
        }
    }

    /// Remembers that the value at `path` now measures `size` (a top-level variable), or
    /// forgets the size of the variable it is in.
    fn measured(&self, path: &VarPath, size: usize) {
        match path.segments.as_slice() {
            [name] => {
                self.sizes().insert(name.clone(), size);
            }
            _ => self.forget_size(path),
        }
    }

    /// Forgets the size of the top-level variable `path` is in (it changed by an unknown amount).
    fn forget_size(&self, path: &VarPath) {
        if let Some(name) = path.segments.first() {
            self.sizes().remove(name);
        }
    }

    /// The estimated size of all variables ([`approx_bytes`]).
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Checks that replacing `old` bytes with `new` ones at `path` stays within the limit, and
    /// counts it.
    fn account(&self, path: &VarPath, old: usize, new: usize) -> Result<(), VarsError> {
        let held = self.bytes();
        let after = held.saturating_sub(old).saturating_add(new);
        if new > old && after > self.max_bytes {
            return Err(VarsError::TooLarge {
                path: path.to_string(),
                max: self.max_bytes,
                held,
                adding: new - old,
            });
        }
        self.bytes.store(after, Ordering::Relaxed);
        Ok(())
    }

    /// Counts a change in size that is not refused (a parse of waiting text, a removal).
    fn recount(&self, old: usize, new: usize) {
        let held = self.bytes();
        self.bytes.store(held.saturating_sub(old).saturating_add(new), Ordering::Relaxed);
    }

    /// The shared handle, for an expression scope or any reader of the whole map: every
    /// pending value is parsed first.
    pub fn handle(&self) -> Dynamic {
        self.settle(|_| true);
        self.root.clone()
    }

    /// Parses the pending values an expression that reads `reads` could reach; call it before
    /// evaluating against the handle.
    pub fn prepare(&self, reads: &VarReads) {
        self.settle(|path| reads.touches(path.segments()));
    }

    /// Writes JSON `text` at `path` to be parsed only when something reads it.
    pub fn set_json_text(&self, path: &VarPath, text: JsonText) -> Result<(), VarsError> {
        self.set(path, Dynamic::from(text))?;
        self.pending_paths().push(path.clone());
        Ok(())
    }

    /// The pending JSON text at the path `segments` or above it, with the number of segments
    /// that lead to it; `None` when nothing there waits as text. Unlike every other reader, it
    /// leaves the text as it is: for a reader that reads JSON text itself.
    pub fn json_text_at(&self, segments: &[impl AsRef<str>]) -> Option<(JsonText, usize)> {
        let leads_to = |p: &VarPath| {
            p.segments.len() <= segments.len()
                && p.segments.iter().zip(segments).all(|(a, b)| a.as_str() == b.as_ref())
        };
        let depth = self.pending_paths().iter().find(|p| leads_to(p))?.segments.len();
        let root = self.root.as_map_ref().ok()?;
        let text = at_path(&root, &segments[..depth], |value| {
            value.read_lock::<JsonText>().map(|text| text.clone())
        })?;
        Some((text, depth))
    }

    fn pending_paths(&self) -> std::sync::MutexGuard<'_, Vec<VarPath>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Parses the pending values whose paths `wanted` selects, in place.
    fn settle(&self, wanted: impl Fn(&VarPath) -> bool) {
        if self.pending_paths().is_empty() {
            return;
        }
        // The map is locked before any path is taken off the list: none is dropped unparsed.
        let mut root = self.root.clone();
        let Ok(mut map) = root.as_map_mut() else { return };
        let due: Vec<VarPath> = {
            let mut pending = self.pending_paths();
            let (due, later) = std::mem::take(&mut *pending).into_iter().partition(&wanted);
            *pending = later;
            due
        };
        for path in due {
            at_path_mut(&mut map, &path.segments, |slot| {
                let (value, old) =
                    slot.read_lock::<JsonText>().map(|text| (text.value(), approx_bytes(slot)))?;
                let new = approx_bytes(&value);
                self.recount(old, new);
                self.measured(&path, new);
                *slot = value.into_read_only();
                Some(())
            });
        }
    }

    /// Forgets the pending values at or below `path`, which a write or removal there replaces
    /// unread, and parses those above it, which the write goes into.
    fn settle_for_write(&self, path: &VarPath) {
        let below =
            |p: &VarPath| p.segments.len() >= path.segments.len() && path.overlaps(&p.segments);
        self.pending_paths().retain(|p| !below(p));
        self.settle(|p| path.overlaps(&p.segments));
    }

    /// Reads the variable at `path` (a copy), or `None` when it is not set.
    pub fn get(&self, path: &VarPath) -> Option<Dynamic> {
        self.read(path, |value| Some(value.clone()))
    }

    /// Runs `f` on the variable at `path` where it lies (no copy), when it is set.
    pub fn read<R>(&self, path: &VarPath, f: impl FnOnce(&Dynamic) -> Option<R>) -> Option<R> {
        self.settle(|p| p.overlaps(&path.segments));
        at_path(&*self.root.as_map_ref().ok()?, &path.segments, f)
    }

    /// Writes `value` at `path`, creating intermediate objects as needed.
    pub fn set(&self, path: &VarPath, value: Dynamic) -> Result<(), VarsError> {
        self.settle_for_write(path);
        let new = approx_bytes(&value);
        self.with_slot(path, |slot| {
            self.account(path, self.size_of(path, slot), new)?;
            *slot = value.into_read_only();
            self.measured(path, new);
            Ok(())
        })
    }

    /// Writes `value` at `path` as [`Vars::set`] does, and returns the old value (unit when there
    /// was none), to put back later.
    pub fn replace(&self, path: &VarPath, value: Dynamic) -> Result<Dynamic, VarsError> {
        self.settle(|p| p.overlaps(&path.segments));
        let new = approx_bytes(&value);
        self.with_slot(path, |slot| {
            self.account(path, self.size_of(path, slot), new)?;
            self.measured(path, new);
            Ok(std::mem::replace(slot, value.into_read_only()))
        })
    }

    /// Writes `value` at `path` whatever the size limit: for the executor's `vars.error`,
    /// which must be written even when the variables are full (it is small).
    pub fn set_unlimited(&self, path: &VarPath, value: Dynamic) -> Result<(), VarsError> {
        self.settle_for_write(path);
        let new = approx_bytes(&value);
        self.with_slot(path, |slot| {
            self.recount(self.size_of(path, slot), new);
            *slot = value.into_read_only();
            self.measured(path, new);
            Ok(())
        })
    }

    /// Appends `items` to the list at `path` (created when unset).
    pub fn append(&self, path: &VarPath, items: Array) -> Result<(), VarsError> {
        self.settle(|p| p.overlaps(&path.segments));
        let new: usize = items.iter().map(approx_bytes).fold(0, usize::saturating_add);
        self.with_slot(path, |slot| {
            if slot.is_unit() {
                self.account(path, 0, new.saturating_add(SLOT + 24))?;
                *slot = Dynamic::from_array(items).into_read_only();
                self.measured(path, new.saturating_add(SLOT + 24));
                return Ok(());
            }
            let mut list =
                slot.as_array_mut().map_err(|_| VarsError::NotAList(path.to_string()))?;
            self.account(path, 0, new)?;
            list.extend(items.into_iter().map(Dynamic::into_read_only));
            // The list grew by what was counted: a remembered size grows with it.
            match path.segments.as_slice() {
                [name] => {
                    if let Some(size) = self.sizes().get_mut(name) {
                        *size = size.saturating_add(new);
                    }
                }
                _ => self.forget_size(path),
            }
            Ok(())
        })
    }

    /// Removes the variable at `path` (used to undo a write); returns whether it was set.
    pub fn remove(&self, path: &VarPath) -> bool {
        let Some((last, parent)) = path.segments.split_last() else {
            return false;
        };
        self.settle_for_write(path);
        let mut root = self.root.clone();
        let Ok(mut map) = root.as_map_mut() else { return false };
        let removed = if parent.is_empty() {
            map.remove(last.as_str())
        } else {
            at_path_mut(&mut map, parent, |value| {
                Some(value.as_map_mut().ok()?.remove(last.as_str()))
            })
            .flatten()
        };
        match removed {
            Some(value) => {
                self.recount(approx_bytes(&value), 0);
                self.forget_size(path);
                true
            }
            None => false,
        }
    }

    /// Turns the variable at `path` into a shared value in place and returns a second handle to
    /// it, or `None` when it is not set. Both then read the same value: a run's result taken from
    /// `vars` this way costs no copy, where copying a list of many thousand items would double
    /// the run's memory at its very end.
    pub fn share(&self, path: &VarPath) -> Option<Dynamic> {
        self.settle(|p| p.overlaps(&path.segments));
        let mut root = self.root.clone();
        let mut map = root.as_map_mut().ok()?;
        at_path_mut(&mut map, &path.segments, |value| {
            if !value.is_shared() {
                *value = std::mem::take(value).into_shared();
            }
            Some(value.clone())
        })
    }

    /// Runs `f` on the slot at `path` (unit when unset), creating parent maps on the way.
    fn with_slot<T>(
        &self,
        path: &VarPath,
        f: impl FnOnce(&mut Dynamic) -> Result<T, VarsError>,
    ) -> Result<T, VarsError> {
        let not_object = |upto: usize| VarsError::NotAnObject {
            path: path.to_string(),
            prefix: VarPath { segments: path.segments[..upto].to_vec() }.to_string(),
        };
        fn slot_in<T>(
            map: &mut Map,
            segments: &[rhai::ImmutableString],
            depth: usize,
            not_object: &dyn Fn(usize) -> VarsError,
            f: impl FnOnce(&mut Dynamic) -> Result<T, VarsError>,
        ) -> Result<T, VarsError> {
            let Some((first, rest)) = segments.split_first() else {
                return Err(not_object(depth));
            };
            let entry = map.entry(first.as_str().into()).or_insert(Dynamic::UNIT);
            if rest.is_empty() {
                return f(entry);
            }
            if entry.is_unit() {
                *entry = Dynamic::from_map(Map::new()).into_read_only();
            }
            let mut inner = entry.as_map_mut().map_err(|_| not_object(depth + 1))?;
            slot_in(&mut inner, rest, depth + 1, not_object, f)
        }
        // The root is shared: this clone is a handle to the same map.
        let mut root = self.root.clone();
        let mut map = root.as_map_mut().map_err(|_| not_object(0))?;
        slot_in(&mut map, &path.segments, 0, &not_object, f)
    }

    /// A copy of all variables as one map.
    pub fn snapshot(&self) -> Map {
        self.handle().as_map_ref().map(|m| m.clone()).unwrap_or_default()
    }
}

/// Runs `f` on the value at `segments` inside `map`, when there is one.
pub(crate) fn at_path<R>(
    map: &Map,
    segments: &[impl AsRef<str>],
    f: impl FnOnce(&Dynamic) -> Option<R>,
) -> Option<R> {
    let (first, rest) = segments.split_first()?;
    let value = map.get(first.as_ref())?;
    if rest.is_empty() {
        return f(value);
    }
    at_path(&*value.as_map_ref().ok()?, rest, f)
}

/// Runs `f` on the value at `segments` inside `map`, when there is one.
fn at_path_mut<R>(
    map: &mut Map,
    segments: &[ImmutableString],
    f: impl FnOnce(&mut Dynamic) -> Option<R>,
) -> Option<R> {
    let (first, rest) = segments.split_first()?;
    let value = map.get_mut(first.as_str())?;
    if rest.is_empty() {
        return f(value);
    }
    at_path_mut(&mut *value.as_map_mut().ok()?, rest, f)
}

impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vars").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> VarPath {
        VarPath::parse(s).unwrap()
    }

    /// The sizes remembered for top-level variables count exactly what walking them again
    /// would: whatever the order of writes, parses, appends and removals, the total is the one
    /// a `Vars` that remembers nothing keeps.
    #[test]
    fn remembered_sizes_count_what_walking_the_values_counts() {
        let (remembers, walks) = (Vars::new(Map::new()), Vars::new(Map::new()));
        fn page(n: i64) -> Dynamic {
            let items: Array = (0..n).map(|i| Dynamic::from(format!("item {i}"))).collect();
            let mut map = Map::new();
            map.insert("value".into(), Dynamic::from_array(items));
            Dynamic::from_map(map)
        }
        let steps: [fn(&Vars); 16] = [
            |v| v.set(&path("page"), page(3)).unwrap(),
            |v| v.set(&path("page"), page(7)).unwrap(),
            |v| v.append(&path("events"), vec![page(2)]).unwrap(),
            |v| v.append(&path("events"), vec![page(1), page(4)]).unwrap(),
            |v| v.set(&path("page.extra"), page(2)).unwrap(),
            |v| v.set(&path("page"), page(1)).unwrap(),
            |v| v.set_json_text(&path("body"), text(r#"{"a": [1, 2, "three"]}"#)).unwrap(),
            |v| drop(v.handle()),
            |v| v.set(&path("body"), page(5)).unwrap(),
            |v| v.set_json_text(&path("deep.body"), text(r#"[1, 2]"#)).unwrap(),
            |v| drop(v.handle()),
            |v| v.set(&path("deep"), page(2)).unwrap(),
            |v| drop(v.replace(&path("events"), page(3)).unwrap()),
            |v| v.set_unlimited(&path("events"), page(6)).unwrap(),
            |v| assert!(v.remove(&path("page"))),
            |v| v.set(&path("page"), page(2)).unwrap(),
        ];
        for (i, step) in steps.iter().enumerate() {
            step(&remembers);
            walks.sizes().clear();
            step(&walks);
            walks.sizes().clear();
            assert_eq!(remembers.bytes(), walks.bytes(), "after step {i}");
        }
    }

    #[test]
    fn what_enters_vars_is_read_only_to_expressions() {
        use crate::expr::{ExprEngine, ExprScope, dynamic_to_json};
        let vars = Vars::new(Map::new());
        // The scope first, as in a run: the writes come after it.
        let mut scope = ExprScope::new(Dynamic::from_map(Map::new()), vars.handle());
        let list = |items: &[i64]| items.iter().map(|i| Dynamic::from_int(*i)).collect::<Array>();
        vars.set(&path("set"), Dynamic::from_array(list(&[1]))).unwrap();
        vars.set(&path("deep.inside"), Dynamic::from_array(list(&[1]))).unwrap();
        let _ = vars.replace(&path("replaced"), Dynamic::from_array(list(&[1]))).unwrap();
        vars.append(&path("appended"), list(&[1])).unwrap();
        vars.append(&path("appended"), vec![Dynamic::from_array(list(&[1]))]).unwrap();
        vars.set_json_text(&path("text"), text(r#"{"list": [1]}"#)).unwrap();
        let _ = vars.handle(); // parses the text in place
        let engine = ExprEngine::new();
        for target in ["set", "deep.inside", "replaced", "appended", "appended[1]", "text.list"] {
            let push = engine.compile_expression(&format!("vars.{target}.push(2)"), &[]).unwrap();
            let err = engine.eval(&push, &mut scope).unwrap_err();
            assert!(err.message.contains("constant"), "{target}: {err}");
            let insert = engine.compile_expression("vars.deep.insert(\"x\", 1)", &[]).unwrap();
            assert!(engine.eval(&insert, &mut scope).is_err(), "{target}");
        }
        let all = dynamic_to_json(&vars.handle()).unwrap();
        assert_eq!(
            all,
            serde_json::json!({ "set": [1], "deep": { "inside": [1] }, "replaced": [1],
                "appended": [1, [1]], "text": { "list": [1] } })
        );
    }

    #[test]
    fn paths_are_checked() {
        assert!(VarPath::parse("calendar.items").is_ok());
        assert!(VarPath::parse("vars.page").unwrap_err().contains("without the `vars.` prefix"));
        for bad in ["", "a..b", "1a", "a-b", "a."] {
            assert!(VarPath::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(path("a.item").with_suffix("_index").to_string(), "a.item_index");
    }

    #[test]
    fn shared_values_are_read_without_a_copy() {
        let vars = Vars::new(Map::new());
        vars.append(&path("out.items"), vec![Dynamic::from_int(1)]).unwrap();
        assert!(vars.share(&path("out.missing")).is_none());
        assert!(vars.share(&path("out.items.deeper")).is_none());
        let handle = vars.share(&path("out.items")).unwrap();
        assert!(handle.is_shared());
        // Still a list in `vars`: later appends are seen through the handle.
        vars.append(&path("out.items"), vec![Dynamic::from_int(2)]).unwrap();
        assert_eq!(handle.read_lock::<Array>().unwrap().len(), 2);
        assert_eq!(vars.get(&path("out.items")).unwrap().into_array().unwrap().len(), 2);
        // Sharing again hands out the same value.
        let again = vars.share(&path("out.items")).unwrap();
        assert_eq!(again.read_lock::<Array>().unwrap().len(), 2);
    }

    fn text(s: &str) -> JsonText {
        JsonText::new(s.as_bytes().to_vec()).unwrap()
    }

    fn is_text(vars: &Vars, at: &str) -> bool {
        vars.json_text_at(path(at).segments()).is_some()
    }

    #[test]
    fn json_text_is_checked_as_the_parser_reads_it() {
        assert!(JsonText::new(b"{\"a\": [1, 2.5, \"\\u00e9\"]}".to_vec()).is_ok());
        for bad in [&b"{\"a\": }"[..], b"[1] 2", b"\"\\ud800x\"", b"1e999", b"\xff"] {
            assert_eq!(JsonText::new(bad.to_vec()).unwrap_err(), bad, "{bad:?}");
            assert!(parse_json(bad).is_err());
        }
    }

    #[test]
    fn pending_text_is_parsed_by_whatever_reaches_it() {
        use crate::expr::ExprEngine;
        let reads = |source: &str| {
            ExprEngine::new().compile_expression(source, &[]).unwrap().reads().clone()
        };
        let vars = Vars::new(Map::new());
        vars.set(&path("page.status"), Dynamic::from_int(200)).unwrap();
        vars.set_json_text(&path("page.body"), text(r#"{"value": [{"id": "a"}], "n": 1}"#))
            .unwrap();
        let (found, depth) = vars.json_text_at(&["page", "body", "value"]).unwrap();
        assert_eq!((found.as_str().len(), depth), (32, 2));
        assert!(vars.json_text_at(&["page"]).is_none(), "only at or below the text");

        // Reads elsewhere leave it waiting.
        vars.prepare(&reads("vars.page.status == 200 && vars.other == ()"));
        assert_eq!(vars.get(&path("page.status")).unwrap().as_int(), Ok(200));
        assert!(is_text(&vars, "page.body"));
        // A read into it, or of what holds it, parses it in place.
        vars.prepare(&reads("vars.page.body.n"));
        assert!(!is_text(&vars, "page.body"));
        let body = vars.get(&path("page.body")).unwrap();
        assert_eq!(body.as_map_ref().unwrap().get("n").unwrap().as_int(), Ok(1));

        type Reader<'a> = Box<dyn Fn(&Vars) + 'a>;
        let readers: Vec<Reader<'_>> = vec![
            Box::new(|v| drop(v.get(&path("page")))),
            Box::new(|v| drop(v.handle())),
            Box::new(|v| drop(v.snapshot())),
            Box::new(|v| drop(v.share(&path("page.body.value")))),
            Box::new(|v| drop(v.replace(&path("page.body"), Dynamic::UNIT))),
            Box::new(|v| v.prepare(&reads("vars"))),
            Box::new(|v| drop(v.set(&path("page.body.more"), Dynamic::UNIT))),
        ];
        for read in readers {
            let vars = Vars::new(Map::new());
            vars.set_json_text(&path("page.body"), text("{\"value\": []}")).unwrap();
            read(&vars);
            assert!(!is_text(&vars, "page.body"));
            let all = vars.snapshot();
            assert!(!format!("{all:?}").contains("JsonText"), "{all:?}");
        }

        // Replaced unread, it is simply forgotten.
        let vars = Vars::new(Map::new());
        vars.set_json_text(&path("page.body"), text("[1]")).unwrap();
        vars.set(&path("page"), Dynamic::from_int(1)).unwrap();
        assert!(vars.pending_paths().is_empty());
        assert_eq!(vars.get(&path("page")).unwrap().as_int(), Ok(1));
    }

    #[test]
    fn set_get_append_remove() {
        let vars = Vars::new(Map::new());
        vars.set(&path("calendar.count"), Dynamic::from_int(3)).unwrap();
        assert_eq!(vars.get(&path("calendar.count")).unwrap().as_int().unwrap(), 3);
        vars.append(&path("calendar.items"), vec![Dynamic::from_int(1)]).unwrap();
        vars.append(&path("calendar.items"), vec![Dynamic::from_int(2)]).unwrap();
        let items = vars.get(&path("calendar.items")).unwrap().into_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            vars.set(&path("calendar.count.deeper"), Dynamic::UNIT).unwrap_err().to_string(),
            "cannot write `calendar.count.deeper`: `calendar.count` is not an object"
        );
        assert!(vars.append(&path("calendar.count"), vec![]).is_err());
        assert!(vars.remove(&path("calendar.items")));
        assert!(!vars.remove(&path("calendar.items")));
        assert!(vars.get(&path("calendar.items")).is_none());
    }
}
