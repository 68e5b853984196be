//! One integration test binary: every test drives the real `leakhound` binary.

mod common;
mod scan_fs;
mod scan_git;
