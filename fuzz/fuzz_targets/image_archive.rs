#![no_main]
//! Fuzzes `leakhound::fuzzing::image_archive` (see src/fuzzing/mod.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| leakhound::fuzzing::image_archive(data));
