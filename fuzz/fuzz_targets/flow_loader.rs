//! Fuzz target `flow_loader`. Its body, `targets::flow_loader` in `fuzz/targets.rs`, is also what
//! `tests/fuzz_corpus.rs` runs on every file of `fuzz/corpus/flow_loader/`.

#![no_main]

#[allow(dead_code)]
#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::flow_loader(data));
