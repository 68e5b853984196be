#![no_main]
//! Fuzzes `leakhound::fuzzing::layer` (see src/fuzzing/mod.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| leakhound::fuzzing::layer(data));
