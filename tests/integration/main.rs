//! One integration test binary: every test drives the real `leakhound` binary.

mod common;
mod pre_commit_framework;
mod scan_fs;
mod scan_git;
mod staged;
