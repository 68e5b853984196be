//! The real pre-commit framework (from `PyPI`) running this repository's `.pre-commit-hooks.yaml`
//! through a local `repo:` entry, with the built binary on `PATH` (the `system` variants; the
//! `language: rust` variants run the same entries after a `cargo install`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{TestEnv, fake, git_command};
use crate::staged::Repo;

/// The `pre-commit` executable: `$LEAKHOUND_PRE_COMMIT`, `pre-commit` on `PATH`, or the venv
/// `scripts/test.sh` installs it into.
fn pre_commit_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("LEAKHOUND_PRE_COMMIT") {
        return PathBuf::from(path);
    }
    let on_path = Command::new("pre-commit").arg("--version").output();
    if on_path.is_ok_and(|o| o.status.success()) {
        return PathBuf::from("pre-commit");
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pre-commit-venv/bin/pre-commit");
    assert!(
        venv.is_file(),
        "the pre-commit framework is not installed: run ./scripts/test.sh (it installs it into \
         target/pre-commit-venv) or set LEAKHOUND_PRE_COMMIT"
    );
    venv
}

/// `PATH` with the built binary first.
fn path_with_binary() -> std::ffi::OsString {
    let bin = assert_cmd::cargo::cargo_bin("leakhound");
    let dir = bin.parent().expect("binary dir").to_owned();
    let old = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&old))).expect("PATH")
}

/// A project using leakhound through pre-commit, and a cache directory for pre-commit.
struct Project {
    repo: Repo,
    /// The hook repository pre-commit clones from (kept alive for the test's length).
    _hooks: Repo,
    cache: TestEnv,
}

impl Project {
    /// A project whose `.pre-commit-config.yaml` uses `hook_id` from a local copy of this
    /// repository's hook definitions.
    fn new(hook_id: &str) -> Project {
        Project::with_hooks(&[hook_id])
    }

    /// As [`Project::new`], with several hooks.
    fn with_hooks(hook_ids: &[&str]) -> Project {
        let hooks = Repo::new();
        let definitions = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".pre-commit-hooks.yaml"),
        )
        .expect("read .pre-commit-hooks.yaml");
        hooks.stage(".pre-commit-hooks.yaml", definitions);
        hooks.commit("hooks");
        let rev = String::from_utf8(hooks.git(&["rev-parse", "HEAD"]).stdout).expect("sha");
        let repo = Repo::new();
        repo.stage(
            ".pre-commit-config.yaml",
            format!(
                "repos:\n  - repo: {}\n    rev: {}\n    hooks:\n{}\n",
                hooks.path().display(),
                rev.trim(),
                hook_ids
                    .iter()
                    .map(|id| format!("      - id: {id}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        );
        repo.commit("use leakhound");
        Project { repo, _hooks: hooks, cache: TestEnv::new() }
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env("PRE_COMMIT_HOME", self.cache.path())
            .env("PATH", path_with_binary())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("SKIP");
    }

    fn pre_commit(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(pre_commit_bin());
        cmd.current_dir(self.repo.path()).args(args);
        self.env(&mut cmd);
        cmd.output().expect("run pre-commit")
    }

    fn git(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let mut cmd = git_command(self.repo.path());
        cmd.args(args);
        self.env(&mut cmd);
        cmd.envs(extra_env.iter().copied());
        cmd.output().expect("run git")
    }
}

fn all_output(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn commit_through_the_framework_is_blocked_and_skip_bypasses() {
    let project = Project::new("leakhound-system");
    let out = project.pre_commit(&["install"]);
    assert!(out.status.success(), "{}", all_output(&out));
    let repo = &project.repo;
    repo.stage("clean.txt", "nothing\n");
    let out = project.git(&["commit", "-q", "-m", "clean"], &[]);
    assert!(out.status.success(), "{}", all_output(&out));
    repo.stage("deploy.env", format!("AWS_ACCESS_KEY_ID={}\n", fake::aws_key_id()));
    let out = project.git(&["commit", "-q", "-m", "leak"], &[]);
    let text = all_output(&out);
    assert!(!out.status.success(), "blocked: {text}");
    assert!(text.contains("deploy.env:1:19") && text.contains("aws.access-key-id"), "{text}");
    assert!(!text.contains(&fake::aws_key_id()), "redacted: {text}");
    let out = project.git(&["commit", "-q", "-m", "leak"], &[("SKIP", "leakhound-system")]);
    assert!(out.status.success(), "SKIP bypasses: {}", all_output(&out));
}

#[test]
fn run_all_files_and_files_scan_the_files_not_just_staged_lines() {
    let project = Project::new("leakhound-system");
    let repo = &project.repo;
    repo.stage("old/secret.py", format!("TOKEN = '{}'\n", fake::github_pat()));
    repo.stage("old/clean.py", "x = 1\n");
    repo.commit("committed before leakhound was set up");
    // Nothing is staged, yet --all-files must find the committed secret.
    let out = project.pre_commit(&["run", "--all-files"]);
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("old/secret.py:1:10"), "{text}");
    let out = project.pre_commit(&["run", "--files", "old/clean.py"]);
    assert!(out.status.success(), "{}", all_output(&out));
    let out = project.pre_commit(&["run", "--files", "old/secret.py"]);
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
}

#[test]
fn push_through_the_framework_scans_the_pushed_commits() {
    let project = Project::with_hooks(&["leakhound-system", "leakhound-push-system"]);
    let out = project.pre_commit(&["install", "--hook-type", "pre-push"]);
    assert!(out.status.success(), "{}", all_output(&out));
    let remote = TestEnv::new();
    let out = git_command(remote.path()).args(["init", "-q", "--bare", "."]).output().expect("git");
    assert!(out.status.success());
    let repo = &project.repo;
    let url = remote.path().to_string_lossy().into_owned();
    repo.git(&["remote", "add", "origin", &url]);
    // First push of a new branch that includes the root commit: pre-commit exports no range,
    // so the hook rebuilds the input from the local branch and an all-zeros remote id.
    repo.stage("deploy.env", format!("AWS_ACCESS_KEY_ID={}\n", fake::aws_key_id()));
    repo.commit("leak, committed past the commit hook");
    let out = project.git(&["push", "-q", "origin", "main"], &[]);
    let text = all_output(&out);
    assert!(!out.status.success(), "first push blocked: {text}");
    assert!(text.contains("deploy.env") && text.contains("aws.access-key-id"), "{text}");
    let out = project.git(&["push", "-q", "origin", "main"], &[("SKIP", "leakhound-push-system")]);
    assert!(out.status.success(), "SKIP bypasses: {}", all_output(&out));
    // Later pushes: pre-commit exports the range.
    repo.stage("README", "docs\n");
    repo.commit("docs");
    let out = project.git(&["push", "-q", "origin", "main"], &[]);
    assert!(out.status.success(), "clean push: {}", all_output(&out));
    repo.stage("more.env", format!("TOKEN={}\n", fake::github_pat()));
    repo.commit("another leak");
    repo.stage("README", "more docs\n");
    repo.commit("docs on top");
    let out = project.git(&["push", "-q", "origin", "main"], &[]);
    let text = all_output(&out);
    assert!(!out.status.success(), "blocked: {text}");
    assert!(
        text.contains("more.env") && !text.contains("deploy.env"),
        "only the new commits: {text}"
    );
    let pushed =
        git_command(remote.path()).args(["rev-list", "--count", "main"]).output().expect("git");
    assert_eq!(pushed.stdout, b"3\n", "the last two commits did not reach the remote");
}
