//! The fast path: `map` and `fields` applied together, natively, straight from JSON text or
//! from already-parsed items.

use super::mapping::{FieldMapping, Source, Step, with_leaf};
use super::shape::{FieldType, datetime};
use crate::expr::pick::{Capture, PathTrie, Slot, stream_picks};
use rhai::{Array, Dynamic, ImmutableString, Map};

/// `map` and `fields` applied in one go, natively: each output value is read straight from the
/// item (from the JSON text by a [`PathTrie`], or from an already-parsed item by reference),
/// with no Rhai map built for the item or its sub-objects.
///
/// It only ever produces what the general path (Rhai, then shaping) would: whenever an item
/// holds anything that path would report as an error, or that Rhai would decide itself, the
/// plan answers `None` and the whole import is done the general way, which then reports the
/// error with its own message and location.
#[derive(Debug)]
pub(super) struct Plan {
    trie: PathTrie,
    /// Ordered by key, as the result map holds them, so that values are set in order.
    outputs: Vec<Output>,
    /// The result map with every key and `()` values: cloning it and filling in the values is
    /// cheaper than inserting each into a fresh map.
    template: Map,
}

/// One value a plan computes per item.
#[derive(Debug)]
struct Output {
    /// The key in the result; `None` for a `map` entry that `fields` drops, which is still
    /// followed because Rhai would fail on it.
    key: Option<smartstring::SmartString<smartstring::LazyCompact>>,
    source: Pick,
    /// The declared type and whether it is optional, when `fields` is given.
    typed: Option<(FieldType, bool)>,
    /// The only reader of its trie node: the value can be moved out of the slot.
    take: bool,
}

#[derive(Debug)]
enum Pick {
    Index,
    /// A field `map` does not produce.
    Unit,
    Path(Vec<Step>),
}

/// A value a plan read, before its field type is applied.
enum Leaf<'a> {
    Ref(&'a Dynamic),
    Owned(Dynamic),
    /// Already converted by the `datetime` rules.
    Instant(Dynamic),
}

impl Plan {
    /// The plan for a field-path `map` (`native`), or for `fields` alone; `None` for any other
    /// `map` or when there is nothing to shape.
    pub(super) fn new(
        map_given: bool,
        native: Option<&FieldMapping>,
        fields: &[(ImmutableString, FieldType, bool)],
    ) -> Option<Self> {
        let entries: Vec<(ImmutableString, Source)> = match native {
            Some(native) => native.entries.clone(),
            None if map_given || fields.is_empty() => return None,
            // Without `map` the item itself is shaped: `fields` reads its members.
            None => fields
                .iter()
                .map(|(name, _, _)| {
                    let step = Step { name: name.to_string(), optional: false, node: 0 };
                    (name.clone(), Source::Path(vec![step]))
                })
                .collect(),
        };
        let mut outputs = Vec::new();
        if fields.is_empty() {
            for (key, source) in &entries {
                outputs.push((Some(key.clone()), Some(source.clone()), None));
            }
        } else {
            for (name, field_type, optional) in fields {
                let source = entries.iter().find(|(k, _)| k == name).map(|(_, s)| s.clone());
                outputs.push((Some(name.clone()), source, Some((*field_type, *optional))));
            }
            for (key, source) in &entries {
                if !fields.iter().any(|(name, _, _)| name == key) {
                    outputs.push((None, Some(source.clone()), None));
                }
            }
        }
        let mut trie = PathTrie::new();
        let mut built = Vec::with_capacity(outputs.len());
        for (key, source, typed) in outputs {
            let source = match source {
                None => Pick::Unit,
                Some(Source::Index) => Pick::Index,
                Some(Source::Path(mut steps)) => {
                    let capture = match (&key, typed) {
                        (None, _) => Capture::Nothing,
                        (Some(_), Some((FieldType::Datetime, _))) => Capture::Datetime,
                        (Some(_), _) => Capture::Value,
                    };
                    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
                    let nodes = trie.insert(&names, capture);
                    for (step, node) in steps.iter_mut().zip(nodes) {
                        step.node = node;
                    }
                    Pick::Path(steps)
                }
            };
            built.push(Output { key: key.map(|k| k.as_str().into()), source, typed, take: false });
        }
        // A value may be moved out of its slot when nothing else reads that node: no other
        // output ends there and no path goes on below it.
        let ends = |node: usize| {
            built
                .iter()
                .filter(|o| matches!(&o.source, Pick::Path(p) if p.last().is_some_and(|s| s.node == node)))
                .count()
        };
        let passed = |node: usize| {
            built.iter().any(|o| {
                matches!(&o.source, Pick::Path(p) if p.iter().rev().skip(1).any(|s| s.node == node))
            })
        };
        let takes: Vec<bool> = built
            .iter()
            .map(|o| match &o.source {
                Pick::Path(p) => p.last().is_some_and(|s| ends(s.node) == 1 && !passed(s.node)),
                _ => false,
            })
            .collect();
        for (output, take) in built.iter_mut().zip(takes) {
            output.take = take;
        }
        built.sort_by(|a, b| a.key.as_deref().cmp(&b.key.as_deref()));
        let template = built.iter().filter_map(|o| Some((o.key.clone()?, Dynamic::UNIT))).collect();
        Some(Self { trie, outputs: built, template })
    }

    /// Imports the array at `path` in JSON text; `None` when the general path must do it (an
    /// item it can't be sure of, text that is not JSON, no array there).
    pub(super) fn text(&self, text: &str, path: &[String]) -> Option<Array> {
        let mut out = Array::new();
        let mut sure = true;
        let found = stream_picks(text, path, &self.trie, &mut |index, slots| match self
            .of_slots(slots, index)
        {
            Some(item) => {
                out.push(item);
                Ok(())
            }
            None => {
                sure = false;
                Err(String::new())
            }
        });
        (sure && matches!(found, Ok(Some("array")))).then_some(out)
    }

    /// Imports already-parsed items; `None` when the general path must do it.
    pub(super) fn items(&self, items: &[Dynamic]) -> Option<Array> {
        let mut out = Array::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            out.push(self.of_item(item, index)?);
        }
        Some(out)
    }

    fn of_item(&self, item: &Dynamic, index: usize) -> Option<Dynamic> {
        let mut out = self.template.clone();
        let mut values = out.values_mut();
        for output in &self.outputs {
            let value = match &output.source {
                Pick::Index => output.finish(Leaf::Owned(Dynamic::from_int(index as rhai::INT))),
                Pick::Unit => output.finish(Leaf::Owned(Dynamic::UNIT)),
                Pick::Path(steps) => {
                    with_leaf(item, steps, &mut |leaf| output.finish(Leaf::Ref(leaf)))?
                }
            }?;
            if output.key.is_some()
                && let Some(slot) = values.next()
            {
                *slot = value;
            }
        }
        Some(Dynamic::from_map(out))
    }

    fn of_slots(&self, slots: &mut [Slot], index: usize) -> Option<Dynamic> {
        let mut out = self.template.clone();
        let mut values = out.values_mut();
        for output in &self.outputs {
            let leaf = match &output.source {
                Pick::Index => Leaf::Owned(Dynamic::from_int(index as rhai::INT)),
                Pick::Unit => Leaf::Owned(Dynamic::UNIT),
                Pick::Path(steps) => match Self::read(slots, steps, output) {
                    Some(Ok(leaf)) => leaf,
                    // The path continues inside a value kept whole.
                    Some(Err((value, rest))) => {
                        let value = with_leaf(&value, rest, &mut Dynamic::clone)?;
                        Leaf::Owned(value)
                    }
                    None => return None,
                },
            };
            let value = output.finish(leaf)?;
            if output.key.is_some()
                && let Some(slot) = values.next()
            {
                *slot = value;
            }
        }
        Some(Dynamic::from_map(out))
    }

    /// Follows `steps` through an item's slots, as [`with_leaf`] follows them through a value;
    /// `Err` with a kept value and the steps still to take inside it.
    #[allow(clippy::type_complexity)]
    fn read<'s>(
        slots: &mut [Slot],
        steps: &'s [Step],
        output: &Output,
    ) -> Option<Result<Leaf<'static>, (Dynamic, &'s [Step])>> {
        let mut at = 0;
        for (i, step) in steps.iter().enumerate() {
            match &slots[at] {
                Slot::Absent | Slot::Null => {
                    return step.optional.then_some(Ok(Leaf::Owned(Dynamic::UNIT)));
                }
                Slot::Object => at = step.node,
                Slot::Value(value) => return Some(Err((value.clone(), &steps[i..]))),
                Slot::Other | Slot::Instant(_) => return None,
            }
        }
        let leaf = match &mut slots[at] {
            Slot::Absent | Slot::Null => Leaf::Owned(Dynamic::UNIT),
            // Only paths nobody reads end at a node followed into.
            Slot::Object | Slot::Other => {
                return output.key.is_none().then_some(Ok(Leaf::Owned(Dynamic::UNIT)));
            }
            Slot::Value(value) if output.take => Leaf::Owned(std::mem::take(value)),
            Slot::Value(value) => Leaf::Owned(value.clone()),
            Slot::Instant(Some(value)) if output.take => Leaf::Instant(std::mem::take(value)),
            Slot::Instant(Some(value)) => Leaf::Instant(value.clone()),
            Slot::Instant(None) => return None,
        };
        Some(Ok(leaf))
    }
}

impl Output {
    /// The output value for what its path led to, as shaping would make it; `None` where
    /// shaping would fail.
    fn finish(&self, leaf: Leaf<'_>) -> Option<Dynamic> {
        if self.key.is_none() {
            return Some(Dynamic::UNIT);
        }
        let Some((field_type, optional)) = self.typed else {
            return match leaf {
                Leaf::Ref(value) => Some(value.clone()),
                Leaf::Owned(value) => Some(value),
                Leaf::Instant(_) => None,
            };
        };
        let is_unit = match &leaf {
            Leaf::Ref(value) => value.is_unit(),
            Leaf::Owned(value) | Leaf::Instant(value) => value.is_unit(),
        };
        if is_unit {
            return optional.then_some(Dynamic::UNIT);
        }
        match leaf {
            Leaf::Instant(value) => (field_type == FieldType::Datetime).then_some(value),
            Leaf::Ref(value) if field_type == FieldType::Datetime => datetime(value).ok(),
            Leaf::Ref(value) => field_type.coerce(value.clone()).ok(),
            Leaf::Owned(value) => field_type.coerce(value).ok(),
        }
    }
}
