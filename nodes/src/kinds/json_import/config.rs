//! The fields of a `json_import` node and their checks: the config, built into a
//! [`JsonImport`].

use super::fast::Plan;
use super::mapping::{FieldMapping, item_properties};
use super::shape::FieldType;
use super::{JsonImport, Target};
use crate::kind::{CompileCx, KindDoc, KindInfo, MappingFields, NodeConfig, Writes, escape_token};
use crate::node::Node;
use crate::vars::VarPath;
use indexmap::IndexMap;
use rhai::ImmutableString;
use schemars::JsonSchema;
use serde::Deserialize;

/// Fields of a `json_import` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonImportConfig {
    /// The document: a JSON value, or a string holding JSON text (`vars.page.body`). One that
    /// reads a missing variable gives `()`, and the import fails.
    pub from: String,
    /// JSON pointer to the list to import in the document (`/value`); without it, the whole
    /// document, which must then be a list.
    #[serde(default)]
    pub select: Option<String>,
    /// Over `item` (the element) and `index` (its position): what each element becomes.
    /// Without it, elements are imported as they are.
    #[serde(default)]
    pub map: Option<String>,
    /// The shape of each imported item: name → `string`, `number`, `integer`, `boolean`,
    /// `datetime`, `object` or `array`, with `?` for optional. Items are reduced to these
    /// fields; one that does not fit fails the node.
    #[serde(default)]
    pub fields: Option<IndexMap<String, String>>,
    /// The variable that receives the list, replacing what it held. Set `into` or `append_to`.
    #[serde(default)]
    pub into: Option<String>,
    /// The list variable the items are appended to (created when missing). Set `into` or
    /// `append_to`.
    #[serde(default)]
    pub append_to: Option<String>,
}

impl NodeConfig for JsonImportConfig {
    const KIND: &'static str = "json_import";
    const DESCRIPTION: &'static str = "Maps a JSON document into a list in the flow's data";
    const INFO: &'static KindInfo = &KindInfo {
        glyph: "⇣",
        expressions: &["/from", "/map"],
        mapping: Some(MappingFields {
            source: "from",
            select: "select",
            map: "map",
            fields: "fields",
        }),
        ..KindInfo::DEFAULT
    };
    const DOC: &'static KindDoc = &KindDoc {
        exits: &[
            ("ok", "Every element was imported."),
            (
                "error",
                "`from` failed or gave no JSON, `select` found no list, or an element did not fit \
                 `map` or `fields` (category `import`). Nothing is written.",
            ),
        ],
        writes: &[Writes {
            at: "`into` or `append_to`",
            default: None,
            value: "The list of imported items: `into` replaces the variable, `append_to` appends \
                    to it.",
        }],
        example: r##"{
  "id": "shape",
  "type": "json_import",
  "from": "vars.calendars.items",
  "map": "#{ id: item.id, name: item.name, is_default: item.isDefaultCalendar }",
  "into": "result"
}"##,
    };

    fn build(self, cx: &mut CompileCx<'_>) -> Option<Box<dyn Node>> {
        self.compile(cx).map(|node| Box::new(node) as Box<dyn Node>)
    }
}

impl JsonImportConfig {
    pub(super) fn compile(self, cx: &mut CompileCx<'_>) -> Option<JsonImport> {
        let mut ok = true;
        // Read from where it lies when the plan can do it (as text when it waits as text).
        let from = cx.expression_read_by_node("/from", &self.from, &[]);
        let select = match &self.select {
            Some(source) => cx.pointer("/select", source).map(Some),
            None => Some(None),
        };
        let map = match &self.map {
            Some(source) => cx.expression("/map", source, &["item", "index"]).map(Some),
            None => Some(None),
        };
        let mut fields = Vec::new();
        for (name, spec) in self.fields.into_iter().flatten() {
            let (base, optional) = match spec.strip_suffix('?') {
                Some(base) => (base, true),
                None => (spec.as_str(), false),
            };
            match FieldType::parse(base) {
                Some(t) => fields.push((ImmutableString::from(name.as_str()), t, optional)),
                None => {
                    ok = false;
                    cx.error(
                        &format!("/fields/{}", escape_token(&name)),
                        format!(
                            "`{spec}` is not a field type; use string, number, integer, boolean, \
                             datetime, object or array, with `?` for optional"
                        ),
                    );
                }
            }
        }
        let target = match (&self.into, &self.append_to) {
            (Some(into), None) => cx.var_path("/into", into).map(Target::Into),
            (None, Some(append)) => cx.var_path("/append_to", append).map(Target::AppendTo),
            (Some(_), Some(_)) => {
                cx.error("/append_to", "set `into` or `append_to`, not both");
                None
            }
            (None, None) => {
                cx.error("", "say where the items go: `into` (replace) or `append_to` (append)");
                None
            }
        };
        let (Some(from), Some(select), Some(map), Some(target), true) =
            (from, select, map, target, ok)
        else {
            return None;
        };
        let keep = match (&self.map, fields.is_empty()) {
            (Some(source), _) => item_properties(source),
            (None, false) => Some(fields.iter().map(|(name, _, _)| name.to_string()).collect()),
            (None, true) => None,
        };
        let native = self.map.as_deref().and_then(FieldMapping::parse);
        let plan = Plan::new(self.map.is_some(), native.as_ref(), &fields);
        let from_vars = vars_path(&self.from);
        if plan.is_none() || from_vars.is_none() {
            cx.add_reads(from.reads());
        }
        Some(JsonImport { from, from_vars, select, map, fields, target, keep, native, plan })
    }
}

/// `from` as a variable path (`vars.page.items` → `page.items`), when it is one.
fn vars_path(source: &str) -> Option<VarPath> {
    VarPath::parse(source.trim().strip_prefix("vars.")?).ok()
}
