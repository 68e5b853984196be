#![no_main]
//! Fuzzes `leakhound::fuzzing::decoders` (see src/fuzzing/mod.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| leakhound::fuzzing::decoders(data));
