#![no_main]
//! Fuzzes `leakhound::fuzzing::rules_toml` (see src/fuzzing/mod.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| leakhound::fuzzing::rules_toml(data));
