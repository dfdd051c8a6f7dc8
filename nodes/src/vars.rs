//! The flow's data (`vars`): one shared Rhai map per run.
//!
//! The map lives behind a shared [`Dynamic`] so that putting it in an expression's scope is a
//! pointer copy: the cost of evaluating `vars.i < 10` does not depend on how much else is in
//! `vars`.

use rhai::{Array, Dynamic, Map};
use std::fmt;

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
                "`{source}`: name the variable without the `vars.` prefix (e.g. `{}`)",
                source.strip_prefix("vars.").unwrap_or("page")
            ));
        }
        let mut segments = Vec::new();
        for segment in source.split('.') {
            if !is_identifier(segment) {
                return Err(format!(
                    "`{source}` is not a variable path: expected names like `page` or \
                     `calendar.items` (letters, digits and `_`, not starting with a digit)"
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

/// A run's variables. Cloning a `Vars` clones the handle, not the data.
#[derive(Clone)]
pub struct Vars {
    root: Dynamic,
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
}

impl Vars {
    /// Variables seeded with `initial`.
    pub fn new(initial: Map) -> Self {
        Self { root: Dynamic::from_map(initial).into_shared() }
    }

    /// The shared handle, for an expression scope.
    pub fn handle(&self) -> Dynamic {
        self.root.clone()
    }

    /// Reads the variable at `path` (a copy), or `None` when it is not set.
    pub fn get(&self, path: &VarPath) -> Option<Dynamic> {
        fn get_in(map: &Map, segments: &[rhai::ImmutableString]) -> Option<Dynamic> {
            let (first, rest) = segments.split_first()?;
            let value = map.get(first.as_str())?;
            if rest.is_empty() {
                return Some(value.clone());
            }
            get_in(&*value.as_map_ref().ok()?, rest)
        }
        get_in(&*self.root.as_map_ref().ok()?, &path.segments)
    }

    /// Writes `value` at `path`, creating intermediate objects as needed; returns the old value
    /// (unit when there was none).
    pub fn set(&self, path: &VarPath, value: Dynamic) -> Result<Dynamic, VarsError> {
        self.with_slot(path, |slot| Ok(std::mem::replace(slot, value)))
    }

    /// Appends `items` to the list at `path` (created when unset).
    pub fn append(&self, path: &VarPath, items: Array) -> Result<(), VarsError> {
        self.with_slot(path, |slot| {
            if slot.is_unit() {
                *slot = Dynamic::from_array(items);
                return Ok(());
            }
            let mut list =
                slot.as_array_mut().map_err(|_| VarsError::NotAList(path.to_string()))?;
            list.extend(items);
            Ok(())
        })
    }

    /// Removes the variable at `path` (used to undo a write); returns the old value.
    pub fn remove(&self, path: &VarPath) -> Option<Dynamic> {
        fn remove_in(map: &mut Map, segments: &[rhai::ImmutableString]) -> Option<Dynamic> {
            let (first, rest) = segments.split_first()?;
            if rest.is_empty() {
                return map.remove(first.as_str());
            }
            remove_in(&mut *map.get_mut(first.as_str())?.as_map_mut().ok()?, rest)
        }
        let mut root = self.root.clone();
        let mut map = root.as_map_mut().ok()?;
        remove_in(&mut map, &path.segments)
    }

    /// Turns the variable at `path` into a shared value in place and returns a second handle to
    /// it, or `None` when it is not set. Both then read the same value: a run's result taken from
    /// `vars` this way costs no copy, where copying a list of many thousand items would double
    /// the run's memory at its very end.
    pub fn share(&self, path: &VarPath) -> Option<Dynamic> {
        fn share_in(map: &mut Map, segments: &[rhai::ImmutableString]) -> Option<Dynamic> {
            let (first, rest) = segments.split_first()?;
            let value = map.get_mut(first.as_str())?;
            if rest.is_empty() {
                if !value.is_shared() {
                    *value = std::mem::replace(value, Dynamic::UNIT).into_shared();
                }
                return Some(value.clone());
            }
            share_in(&mut *value.as_map_mut().ok()?, rest)
        }
        let mut root = self.root.clone();
        let mut map = root.as_map_mut().ok()?;
        share_in(&mut map, &path.segments)
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
                *entry = Dynamic::from_map(Map::new());
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
        self.root.as_map_ref().map(|m| m.clone()).unwrap_or_default()
    }
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

    #[test]
    fn set_get_append_remove() {
        let vars = Vars::new(Map::new());
        let _ = vars.set(&path("calendar.count"), Dynamic::from_int(3)).unwrap();
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
        assert!(vars.remove(&path("calendar.items")).is_some());
        assert!(vars.get(&path("calendar.items")).is_none());
    }
}
