#![no_main]
//! Fuzzes `leakhound::fuzzing::http_headers` (see src/fuzzing/mod.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| leakhound::fuzzing::http_headers(data));
