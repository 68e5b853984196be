#![no_main]
//! Fuzzes `leakhound::fuzzing::triage` (see src/fuzzing.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| leakhound::fuzzing::triage(data));
