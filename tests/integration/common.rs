//! Test environment: a temporary directory with helpers to write files and run the binary.

#![allow(dead_code)] // each test module uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output};

use assert_cmd::Command;
use tempfile::TempDir;

/// A scratch directory for one test.
pub struct TestEnv {
    dir: TempDir,
}

impl TestEnv {
    /// A fresh empty directory.
    pub fn new() -> TestEnv {
        TestEnv { dir: tempfile::tempdir().expect("create temp dir") }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` at `rel` (parents created) and returns the full path.
    pub fn file(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dirs");
        }
        std::fs::write(&path, contents).expect("write file");
        path
    }

    /// The binary, run in this directory, with no inherited colors.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("leakhound").expect("binary is built");
        cmd.current_dir(self.path()).env_remove("NO_COLOR");
        cmd
    }

    /// Runs the binary with `args` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run leakhound")
    }

    /// Runs `args` with `--format json` and parses stdout.
    pub fn json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--format", "json"]);
        let out = self.run(&all);
        let code = out.status.code().expect("exit code");
        let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))
        });
        (code, doc)
    }
}

/// Fake but well-formed secrets, assembled at run time so this file holds no secret-shaped
/// literal that our own hook (or a hosting provider's push protection) would flag.
pub mod fake {
    /// An AWS access key id (right prefix, base32 body).
    pub fn aws_key_id() -> String {
        format!("AKIA{}", "EFR6EDT4SYWB5WKH")
    }

    /// A GitHub personal access token with a valid CRC32 checksum.
    pub fn github_pat() -> String {
        format!("ghp_{}", "Ky9Pf34qY6Nb3wWD25RQ4F5ZR3qa7y3gm1IL")
    }
}

/// Rule ids of the findings in a JSON report, in report order.
pub fn rule_ids(doc: &serde_json::Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| f["rule_id"].as_str().expect("rule_id").to_owned())
        .collect()
}

/// The origins of the errors in a JSON report, in report order.
pub fn error_origins(doc: &serde_json::Value) -> Vec<String> {
    doc["errors"]
        .as_array()
        .expect("errors array")
        .iter()
        .map(|e| e["origin"].as_str().expect("origin").to_owned())
        .collect()
}

/// git with no system or global config (the user's hooks and settings never leak in), no
/// inherited repository variables, and a fixed identity.
pub fn git_command(dir: &Path) -> StdCommand {
    let mut cmd = StdCommand::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_DIR")
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com");
    cmd
}

/// Runs `cmd` (a git command), asserts it succeeded, and returns its trimmed stdout.
pub fn run_git(mut cmd: StdCommand) -> String {
    let out = cmd.output().expect("git runs");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Runs git with `args` in `dir` (see [`git_command`]) and returns its trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let mut cmd = git_command(dir);
    cmd.args(args);
    run_git(cmd)
}

/// Pipes `stream` into `git fast-import` in `dir`.
pub fn fast_import(dir: &Path, stream: &str) {
    use std::io::Write as _;
    let mut child = git_command(dir)
        .args(["fast-import", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("git fast-import runs");
    child.stdin.take().expect("stdin").write_all(stream.as_bytes()).expect("write the stream");
    assert!(child.wait().expect("wait").success());
}
