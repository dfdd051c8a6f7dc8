//! Fuzz target `redactor`. Its body, `targets::redactor` in `fuzz/targets.rs`, is also what
//! `tests/fuzz_corpus.rs` runs on every file of `fuzz/corpus/redactor/`.

#![no_main]

#[allow(dead_code)]
#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::redactor(data));
