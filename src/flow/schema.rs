//! JSON Schemas of the file formats, generated from the wire types and the node kinds' configs;
//! each kind's node schema carries what the kind says about itself as `x-weft-*` annotations.

use super::wire::{FlowFile, NodeWire};
use serde_json::{Map, Value, json};
use weft_nodes::Registry;
use weft_nodes::kind::schema_of;

/// The JSON Schema of `weft.flow/1` for the kinds in `registry`.
pub fn flow_schema(registry: &Registry) -> Value {
    let mut schema = schema_of::<FlowFile>();
    let mut defs = take_defs(&mut schema);
    let common = schema_of::<NodeWire>();
    let common_props = common.get("properties").cloned().unwrap_or_else(|| json!({}));
    let mut variants = Vec::new();
    for kind in registry.kinds() {
        let mut kind_schema = kind.schema();
        defs.extend(take_defs(&mut kind_schema));
        let mut properties = common_props.as_object().cloned().unwrap_or_default();
        properties.insert(
            "type".into(),
            json!({ "const": kind.name(), "description": kind.description() }),
        );
        if let Some(Value::Object(own)) = kind_schema.get("properties") {
            properties.extend(own.clone());
        }
        let mut required = vec![json!("id"), json!("type")];
        if let Some(Value::Array(own)) = kind_schema.get("required") {
            required.extend(own.iter().cloned());
        }
        let mut variant = json!({
            "title": kind.name(),
            "description": kind.description(),
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        });
        if let Value::Object(variant) = &mut variant {
            variant.extend(kind.info().annotations());
        }
        variants.push(variant);
    }
    if let Some(nodes) = schema.pointer_mut("/properties/nodes") {
        nodes["items"] = json!({ "oneOf": variants });
    }
    defs.remove("NodeWire");
    if let Value::Object(root) = &mut schema {
        root.insert("$defs".into(), Value::Object(defs));
    }
    schema
}

fn take_defs(schema: &mut Value) -> Map<String, Value> {
    match schema.as_object_mut().and_then(|o| o.remove("$defs")) {
        Some(Value::Object(defs)) => defs,
        _ => Map::new(),
    }
}
