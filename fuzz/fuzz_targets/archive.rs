#![no_main]
//! Fuzzes `leakhound::fuzzing::archive` (see src/fuzzing/mod.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| leakhound::fuzzing::archive(data));
