#![no_main]
//! Fuzzes `leakhound::fuzzing::registry_json` (see src/fuzzing/mod.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| leakhound::fuzzing::registry_json(data));
