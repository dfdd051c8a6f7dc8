//! Fuzz target `test_file`. Its body, `targets::test_file` in `fuzz/targets.rs`, is also what
//! `tests/fuzz_corpus.rs` runs on every file of `fuzz/corpus/test_file/`.

#![no_main]

#[allow(dead_code)]
#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::test_file(data));
