//! One integration test binary: every test drives the real `leakhound` binary.

mod archives;
mod ci;
mod common;
mod confidence;
mod credential_files;
mod fake_api;
mod gitleaks;
mod image;
mod pre_commit_framework;
mod pre_receive;
mod registry;
mod report;
mod rules_catalog;
mod scan_fs;
mod scan_git;
mod staged;
mod sweep;
mod sweep_registry;
mod triage;
mod verify;
mod verify_providers;
