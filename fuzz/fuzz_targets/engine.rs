#![no_main]
//! Fuzzes `leakhound::fuzzing::engine_scan` (see src/fuzzing/mod.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| leakhound::fuzzing::engine_scan(data));
