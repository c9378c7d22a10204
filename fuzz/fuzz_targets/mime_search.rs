#![no_main]
//! `cargo +nightly fuzz run mime_search`; the property checked is in `fuzz/targets.rs`,
//! which `tests/fuzz_regressions.rs` also runs on stable over the kept corpus.

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::mime_search(data));
