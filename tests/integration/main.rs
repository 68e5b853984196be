//! One integration test binary: every test drives the real `leakhound` binary.

mod common;
mod image;
mod registry;
mod scan_fs;
