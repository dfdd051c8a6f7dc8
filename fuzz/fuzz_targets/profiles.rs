//! Fuzz target `profiles`. Its body, `targets::profiles` in `fuzz/targets.rs`, is also what
//! `tests/fuzz_corpus.rs` runs on every file of `fuzz/corpus/profiles/`.

#![no_main]

#[allow(dead_code)]
#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::profiles(data));
