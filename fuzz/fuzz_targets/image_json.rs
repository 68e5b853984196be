#![no_main]
//! Fuzzes `leakhound::fuzzing::image_json` (see src/fuzzing/mod.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| leakhound::fuzzing::image_json(data));
