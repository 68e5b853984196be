#![no_main]
//! Fuzzes `leakhound::fuzzing::triage` (see src/fuzzing/mod.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| leakhound::fuzzing::triage(data));
