//! Fuzz target `json_stream`. Its body, `targets::json_stream` in `fuzz/targets.rs`, is also what
//! `tests/fuzz_corpus.rs` runs on every file of `fuzz/corpus/json_stream/`.

#![no_main]

#[allow(dead_code)]
#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::json_stream(data));
