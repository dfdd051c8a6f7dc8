//! The committed JSON Schemas under `docs/schema/` are what `weft schema` prints.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn check(format: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_weft")).args(["schema", format]).output().unwrap();
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let path = format!("{}/docs/schema/{format}.schema.json", env!("CARGO_MANIFEST_DIR"));
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(
        printed == committed,
        "{path} is stale: run `cargo run -- schema {format} > docs/schema/{format}.schema.json`"
    );
}

#[test]
fn flow_schema_is_current() {
    check("flow");
}

#[test]
fn profiles_schema_is_current() {
    check("profiles");
}

#[test]
fn test_schema_is_current() {
    check("test");
}
