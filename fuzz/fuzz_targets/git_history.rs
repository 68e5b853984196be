#![no_main]
//! Fuzzes `leakhound::fuzzing::git_history` (see src/fuzzing/mod.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| leakhound::fuzzing::git_history(data));
