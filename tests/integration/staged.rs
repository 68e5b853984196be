//! `leakhound staged`, `install-hooks` and the hook scripts, end to end: real repositories built
//! with the git CLI, real `git commit`s running the installed hook, the real binary.

use std::path::Path;
use std::process::Output;

use crate::common::{TestEnv, fake, git_command, rule_ids};

/// A git repository in a fresh `TestEnv`, isolated from the user's and system git config.
pub struct Repo {
    pub env: TestEnv,
}

impl Repo {
    pub fn new() -> Repo {
        let repo = Repo { env: TestEnv::new() };
        repo.git(&["init", "-q", "-b", "main", "."]);
        repo.git(&["config", "user.name", "Test Dev"]);
        repo.git(&["config", "user.email", "dev@example.test"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.env.path()
    }

    /// `git ARGS` in the repository; panics unless it succeeds.
    pub fn git(&self, args: &[&str]) -> Output {
        let out = self.git_output(args);
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `git ARGS` in the repository, whatever its status.
    pub fn git_output(&self, args: &[&str]) -> Output {
        git_command(self.path()).args(args).output().expect("run git")
    }

    /// Writes and stages a file.
    pub fn stage(&self, rel: &str, contents: impl AsRef<[u8]>) {
        self.env.file(rel, contents);
        self.git(&["add", "--", rel]);
    }

    /// Commits what is staged, bypassing hooks.
    pub fn commit(&self, message: &str) {
        self.git(&["commit", "-q", "--no-verify", "-m", message]);
    }

    /// `leakhound staged --format json ARGS` in the repository.
    pub fn staged(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = vec!["staged"];
        all.extend_from_slice(args);
        self.env.json(&all)
    }
}

/// (path, line) of every finding.
fn places(doc: &serde_json::Value) -> Vec<(String, u64)> {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| (f["path"].as_str().expect("path").to_owned(), f["line"].as_u64().expect("line")))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn reports_only_added_lines_at_their_staged_line() {
    let repo = Repo::new();
    repo.stage("app.py", format!("a = 1\nb = 2\nOLD = '{}'\n", fake::github_pat()));
    repo.commit("old secret, already committed");
    // Staged: a new secret on line 2, which moves the committed one to line 4.
    repo.stage(
        "app.py",
        format!("a = 1\nkey = {}\nb = 2\nOLD = '{}'\n", fake::aws_key_id(), fake::github_pat()),
    );
    // Unstaged: another secret in the working tree only.
    repo.env.file(
        "app.py",
        format!(
            "a = 1\nkey = {}\nb = 2\nOLD = '{}'\nnew = '{}'\n",
            fake::aws_key_id(),
            fake::github_pat(),
            fake::github_pat()
        ),
    );
    let (code, doc) = repo.staged(&[]);
    assert_eq!(code, 1);
    assert_eq!(rule_ids(&doc), ["aws.access-key-id"]);
    assert_eq!(places(&doc), [("app.py".to_owned(), 2)]);
    assert_eq!(doc["findings"][0]["column"], 7);
}

#[test]
fn cr_only_line_endings_give_right_line_numbers_for_added_lines() {
    // Issue #19: git counts lines at LF only, the engine at CR too; the added lines are
    // recounted, so the secret added below a CR-ended line is reported and the committed one is not.
    let repo = Repo::new();
    repo.stage("mac.txt", format!("a = 1\rOLD = '{}'\n", fake::github_pat()));
    repo.commit("old secret, already committed");
    repo.stage(
        "mac.txt",
        format!("a = 1\rOLD = '{}'\nkey = {}\n", fake::github_pat(), fake::aws_key_id()),
    );
    let (code, doc) = repo.staged(&[]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(rule_ids(&doc), ["aws.access-key-id"]);
    assert_eq!(places(&doc), [("mac.txt".to_owned(), 3)]);
}

#[test]
fn initial_commit_without_head_scans_every_staged_line() {
    let repo = Repo::new();
    repo.stage("config/.env", format!("# settings\n\nAWS_ACCESS_KEY_ID={}\n", fake::aws_key_id()));
    repo.stage("README", "hello\n");
    let (code, doc) = repo.staged(&[]);
    assert_eq!(code, 1);
    assert_eq!(places(&doc), [("config/.env".to_owned(), 3)]);
    assert_eq!(doc["stats"]["scanned"], 2);
}

#[test]
fn secret_staged_then_removed_from_the_index_is_not_reported() {
    let repo = Repo::new();
    repo.stage("README", "hello\n");
    repo.commit("init");
    repo.stage("a.txt", format!("key {}\n", fake::aws_key_id()));
    repo.stage("b.txt", format!("key {}\n", fake::github_pat()));
    repo.git(&["rm", "-q", "--cached", "a.txt"]);
    repo.stage("b.txt", "fixed\n");
    let (code, doc) = repo.staged(&[]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["findings"].as_array().map(Vec::len), Some(0));
}

#[test]
fn file_staged_in_several_hunks_reports_each_added_secret_and_not_the_old_one() {
    let repo = Repo::new();
    let mut lines: Vec<String> = (1..=30).map(|i| format!("line {i}")).collect();
    lines[14] = format!("old = {}", fake::aws_key_id());
    repo.stage("big.cfg", lines.join("\n") + "\n");
    repo.commit("old");
    lines[1] = format!("token = {}", fake::github_pat());
    lines[24] = format!("key = {}", fake::aws_key_id());
    repo.stage("big.cfg", lines.join("\n") + "\n");
    let (code, doc) = repo.staged(&[]);
    assert_eq!(code, 1);
    assert_eq!(places(&doc), [("big.cfg".to_owned(), 2), ("big.cfg".to_owned(), 25)]);
}

#[test]
fn a_multi_line_key_added_to_an_existing_file_is_found() {
    let repo = Repo::new();
    repo.stage("keys.py", "HEADER = 1\n");
    repo.commit("init");
    let body: Vec<String> =
        (0..8).map(|i| format!("{}{}", "MIIEowIBAAKCAQEA7", "q".repeat(40 + i))).collect();
    let pem = format!(
        "HEADER = 1\nKEY = '''-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----'''\n",
        body.join("\n")
    );
    repo.stage("keys.py", pem);
    let (code, doc) = repo.staged(&[]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(places(&doc), [("keys.py".to_owned(), 2)]);
}

#[test]
fn renamed_and_deleted_files_add_nothing() {
    let repo = Repo::new();
    repo.stage("old-name.txt", format!("key {}\nmore\n", fake::aws_key_id()));
    repo.stage("gone.txt", format!("token {}\n", fake::github_pat()));
    repo.commit("init");
    repo.git(&["mv", "old-name.txt", "new-name.txt"]);
    repo.git(&["rm", "-q", "gone.txt"]);
    let (code, doc) = repo.staged(&[]);
    assert_eq!(code, 0, "{doc}");
    // A rename with an edit reports the edit only.
    repo.stage(
        "new-name.txt",
        format!("key {}\nmore\ntoken {}\n", fake::aws_key_id(), fake::github_pat()),
    );
    let (code, doc) = repo.staged(&[]);
    assert_eq!(code, 1);
    assert_eq!(places(&doc), [("new-name.txt".to_owned(), 3)]);
}

#[test]
fn binary_symlink_and_submodule_are_skipped_and_counted() {
    let inner = Repo::new();
    inner.stage("x", "x\n");
    inner.commit("inner");
    let repo = Repo::new();
    let mut binary = b"\x7fELF\0\0".to_vec();
    binary.extend_from_slice(fake::aws_key_id().as_bytes());
    repo.stage("lib.so", binary);
    std::os::unix::fs::symlink(fake::github_pat(), repo.path().join("link")).expect("symlink");
    repo.git(&["add", "link"]);
    let inner_path = inner.path().to_string_lossy().into_owned();
    repo.git(&["-c", "protocol.file.allow=always", "submodule", "add", "-q", &inner_path, "sub"]);
    let (code, doc) = repo.staged(&[]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["stats"]["skipped_binary"], 1);
    assert_eq!(doc["stats"]["skipped_special"], 2, "symlink and submodule");
    assert_eq!(doc["stats"]["scanned"], 1, ".gitmodules");
}

#[test]
fn non_utf8_paths_and_content_are_scanned() {
    use std::os::unix::ffi::OsStrExt;
    let repo = Repo::new();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    let mut content = b"x = \xff\xfe\nkey = ".to_vec();
    content.extend_from_slice(fake::aws_key_id().as_bytes());
    std::fs::write(repo.path().join(name), content).expect("write");
    repo.git(&["add", "-A"]);
    let (code, doc) = repo.staged(&[]);
    assert_eq!(code, 1);
    assert_eq!(places(&doc), [("caf\u{fffd}.txt".to_owned(), 2)]);
}

#[test]
fn merge_with_conflicts_is_an_error_naming_the_path() {
    let repo = Repo::new();
    repo.stage("f.txt", "base\n");
    repo.commit("base");
    repo.git(&["checkout", "-q", "-b", "side"]);
    repo.stage("f.txt", format!("side {}\n", fake::aws_key_id()));
    repo.commit("side");
    repo.git(&["checkout", "-q", "main"]);
    repo.stage("f.txt", "main\n");
    repo.commit("main");
    assert!(!repo.git_output(&["merge", "-q", "side"]).status.success(), "the merge conflicts");
    let (code, doc) = repo.staged(&[]);
    assert_eq!(code, 2);
    assert_eq!(doc["errors"][0]["origin"], "f.txt");
    assert!(doc["errors"][0]["message"].as_str().unwrap_or_default().contains("unmerged"));
    // Resolved in favour of the side branch: the merge brings its secret in.
    repo.git(&["checkout", "--theirs", "f.txt"]);
    repo.git(&["add", "f.txt"]);
    let (code, doc) = repo.staged(&[]);
    assert_eq!(code, 1);
    assert_eq!(places(&doc), [("f.txt".to_owned(), 1)]);
}

#[test]
fn file_over_the_size_cap_is_named_and_not_read() {
    let repo = Repo::new();
    let line = "plain text line of a large generated file\n";
    let big = line.repeat(20 * 1024 * 1024 / line.len());
    repo.stage("huge.txt", format!("{big}key = {}\n", fake::aws_key_id()));
    repo.stage("small.txt", format!("key = {}\n", fake::aws_key_id()));
    // Cut the loose object short: its head still reads, so a scan that reads only the head (as
    // it must: the blob is over the cap and no archive) sees no damage; one that read the blob
    // whole would fail on it and exit 2.
    let id = repo.git_output(&["rev-parse", ":huge.txt"]);
    let id = String::from_utf8_lossy(&id.stdout).trim().to_owned();
    let object = repo.path().join(".git/objects").join(&id[..2]).join(&id[2..]);
    let stored = std::fs::read(&object).expect("loose object");
    std::fs::remove_file(&object).expect("remove");
    std::fs::write(&object, &stored[..stored.len() / 2]).expect("cut");
    let out = repo.env.run(&["staged", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(places(&doc), [("small.txt".to_owned(), 1)]);
    assert_eq!(doc["stats"]["skipped_too_large"], 1);
    assert_eq!(doc["errors"], serde_json::json!([]), "the big blob was read");
    assert!(stderr(&out).contains("huge.txt was not scanned"), "{}", stderr(&out));
}

#[test]
fn a_staged_blob_cut_short_is_an_error_not_a_hang() {
    let repo = Repo::new();
    let noise: String =
        (0..200_000).map(|i| char::from(b'a' + ((i * 7919 + i / 13) % 26) as u8)).collect();
    repo.stage("cut.txt", format!("{noise}\nkey = {}\n", fake::aws_key_id()));
    repo.stage("small.txt", format!("key = {}\n", fake::aws_key_id()));
    let id = repo.git_output(&["rev-parse", ":cut.txt"]);
    crate::scan_git::cut_loose_object(repo.path(), String::from_utf8_lossy(&id.stdout).trim());
    let (code, doc) = repo.staged(&[]);
    assert_eq!(code, 2, "{doc}");
    assert_eq!(places(&doc), [("small.txt".to_owned(), 1)]);
    assert!(doc["errors"].to_string().contains("cut short"), "{doc}");
    // The committed side of a change, read to find the added lines, cut short too.
    let repo = Repo::new();
    repo.stage("c.txt", format!("{noise}\n"));
    repo.commit("base");
    repo.stage("c.txt", format!("{noise}\nkey = {}\n", fake::aws_key_id()));
    let id = repo.git_output(&["rev-parse", "HEAD:c.txt"]);
    crate::scan_git::cut_loose_object(repo.path(), String::from_utf8_lossy(&id.stdout).trim());
    let (code, doc) = repo.staged(&[]);
    assert_eq!(code, 2, "{doc}");
    let errors = doc["errors"].to_string();
    assert!(errors.contains("committed blob") && errors.contains("cut short"), "{doc}");
}

#[test]
fn outside_a_repository_and_in_a_bare_one_is_a_clear_error() {
    let env = TestEnv::new();
    let out = env.run(&["staged"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not inside a git repository"), "{}", stderr(&out));
    let out =
        git_command(env.path()).args(["init", "-q", "--bare", "b.git"]).output().expect("git");
    assert!(out.status.success());
    let out = env.run(&["staged", "b.git"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bare repository"), "{}", stderr(&out));
}

#[test]
fn files_mode_scans_unstaged_files_whole_and_staged_ones_by_added_lines() {
    let repo = Repo::new();
    repo.stage("committed.txt", format!("old = {}\n", fake::aws_key_id()));
    repo.stage("edited.txt", format!("old = {}\n", fake::aws_key_id()));
    repo.commit("init");
    repo.stage(
        "edited.txt",
        format!("old = {}\nnew = {}\n", fake::aws_key_id(), fake::github_pat()),
    );
    repo.stage("other.txt", format!("t = {}\n", fake::github_pat()));
    let (code, doc) = repo.staged(&["--files", "committed.txt", "./edited.txt"]);
    assert_eq!(code, 1);
    assert_eq!(
        places(&doc),
        [("committed.txt".to_owned(), 1), ("edited.txt".to_owned(), 2)],
        "other.txt is not listed"
    );
    let (code, doc) = repo.staged(&["--files"]);
    assert_eq!((code, doc["stats"]["scanned"].as_u64()), (0, Some(0)), "no files, nothing scanned");
}

#[test]
fn blocking_message_says_what_where_and_the_ways_out() {
    let repo = Repo::new();
    repo.stage("deploy.sh", format!("export AWS_ACCESS_KEY_ID={}\n", fake::aws_key_id()));
    let out = repo.env.run(&["staged"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("deploy.sh:1:26") && stdout.contains("aws.access-key-id"), "{stdout}");
    assert!(
        !stdout.contains(&fake::aws_key_id()) && !stderr(&out).contains(&fake::aws_key_id()),
        "redacted"
    );
    for needle in [
        "remove the secret",
        "leakhound:allow",
        ".leakhoundignore",
        "--no-verify",
        "SKIP=leakhound",
    ] {
        assert!(stderr(&out).contains(needle), "{needle}: {}", stderr(&out));
    }
    // The inline marker is one of the ways out.
    repo.stage(
        "deploy.sh",
        format!("export AWS_ACCESS_KEY_ID={} # leakhound:allow\n", fake::aws_key_id()),
    );
    assert_eq!(repo.env.run(&["staged"]).status.code(), Some(0));
}

#[test]
fn blocking_message_counts_only_what_the_baseline_leaves() {
    let repo = Repo::new();
    repo.stage("deploy.sh", format!("export AWS_ACCESS_KEY_ID={}\n", fake::aws_key_id()));
    repo.stage("ci.py", format!("TOKEN = '{}'\n", fake::github_pat()));
    let (code, doc) = repo.staged(&[]);
    assert_eq!(code, 1);
    let findings = doc["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 2, "{doc}");
    let aws = findings
        .iter()
        .find(|f| f["path"] == "deploy.sh")
        .and_then(|f| f["fingerprint"].as_str())
        .expect("the AWS finding");
    repo.env.file(".leakhoundignore", format!("{aws}\n"));
    let out = repo.env.run(&["staged"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("leakhound: 1 secret(s) in the staged changes"),
        "{}",
        stderr(&out)
    );
}

/// Installs the hooks with the real binary; returns the command's output.
fn install_hooks(repo: &Repo) -> Output {
    repo.env.run(&["install-hooks"])
}

#[test]
fn installed_hook_blocks_a_real_commit_and_lets_a_clean_one_through() {
    let repo = Repo::new();
    let out = install_hooks(&repo);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let hook = repo.path().join(".git/hooks/pre-commit");
    assert!(String::from_utf8_lossy(&out.stdout).contains("installed"));
    assert!(repo.path().join(".git/hooks/pre-push").is_file());
    repo.stage("ok.txt", "nothing secret\n");
    assert!(repo.git_output(&["commit", "-q", "-m", "clean"]).status.success());
    repo.stage("leak.txt", format!("key = {}\n", fake::aws_key_id()));
    let out = repo.git_output(&["commit", "-q", "-m", "leak"]);
    assert!(!out.status.success(), "the hook must block");
    assert!(stderr(&out).contains("the commit is blocked"), "{}", stderr(&out));
    assert_eq!(repo.git(&["rev-list", "--count", "HEAD"]).stdout, b"1\n");
    // The bypass works.
    assert!(
        repo.git_output(&["commit", "-q", "--no-verify", "-m", "leak anyway"]).status.success()
    );
    assert!(hook.is_file());
}

#[test]
fn hook_scans_the_index_git_commit_builds_for_commit_all_and_commit_path() {
    let repo = Repo::new();
    repo.stage("a.txt", "a\n");
    repo.stage("b.txt", "b\n");
    repo.commit("init");
    assert_eq!(install_hooks(&repo).status.code(), Some(0));
    // Nothing staged: `git commit -a` stages the edit into a temporary index for the hook.
    repo.env.file("a.txt", format!("a\nkey = {}\n", fake::aws_key_id()));
    let out = repo.git_output(&["commit", "-q", "-a", "-m", "all"]);
    assert!(!out.status.success(), "commit -a must be blocked");
    let shown = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(shown.contains("a.txt:2:7"), "{shown}");
    // `git commit PATH` commits only that path (another temporary index).
    let out = repo.git_output(&["commit", "-q", "-m", "path", "--", "a.txt"]);
    assert!(!out.status.success(), "commit PATH must be blocked");
    repo.env.file("b.txt", "b\nclean\n");
    let out = repo.git_output(&["commit", "-q", "-m", "path", "--", "b.txt"]);
    assert!(out.status.success(), "only b.txt is committed: {}", stderr(&out));
}

#[test]
fn hook_blocks_when_the_scanner_fails_or_is_missing() {
    let repo = Repo::new();
    assert_eq!(install_hooks(&repo).status.code(), Some(0));
    // A broken config makes the scan fail (exit 2): the commit must not go through.
    repo.stage(".leakhound.toml", "this is [not toml\n");
    let out = repo.git_output(&["commit", "-q", "-m", "x"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("the secret scan failed (exit 2"), "{}", stderr(&out));
    repo.git(&["rm", "-q", "--cached", ".leakhound.toml"]);
    std::fs::remove_file(repo.path().join(".leakhound.toml")).expect("rm");
    // No binary at all.
    repo.stage("ok.txt", "fine\n");
    let mut cmd = git_command(repo.path());
    cmd.args(["commit", "-q", "-m", "x"]).env("LEAKHOUND", repo.path().join("no-such-leakhound"));
    let out = cmd.output().expect("git");
    assert!(!out.status.success(), "a missing binary must block");
    assert!(stderr(&out).contains("cannot find the leakhound binary"), "{}", stderr(&out));
}

#[test]
fn install_hooks_respects_hooks_path_and_never_clobbers() {
    let repo = Repo::new();
    repo.git(&["config", "core.hooksPath", "githooks"]);
    std::fs::create_dir_all(repo.path().join("githooks")).expect("mkdir");
    let theirs = "#!/bin/sh\nmake lint\n";
    repo.env.file("githooks/pre-push", theirs);
    let out = install_hooks(&repo);
    assert_eq!(out.status.code(), Some(2), "one hook could not be installed");
    assert!(repo.path().join("githooks/pre-commit").is_file());
    assert!(!repo.path().join(".git/hooks/pre-commit").exists());
    assert_eq!(
        std::fs::read_to_string(repo.path().join("githooks/pre-push")).expect("read"),
        theirs
    );
    assert!(
        stderr(&out).contains("left unchanged") && stderr(&out).contains("leakhound pre-push"),
        "{}",
        stderr(&out)
    );
    // Running it again updates its own hook.
    std::fs::remove_file(repo.path().join("githooks/pre-push")).expect("rm");
    let out = install_hooks(&repo);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("updated"));
}

#[test]
fn installed_pre_push_hook_blocks_pushing_a_commit_with_a_secret() {
    let remote = TestEnv::new();
    let out = git_command(remote.path()).args(["init", "-q", "--bare", "."]).output().expect("git");
    assert!(out.status.success());
    let repo = Repo::new();
    assert_eq!(install_hooks(&repo).status.code(), Some(0));
    let url = remote.path().to_string_lossy().into_owned();
    repo.git(&["remote", "add", "origin", &url]);
    repo.stage("deploy.env", format!("AWS_ACCESS_KEY_ID={}\n", fake::aws_key_id()));
    repo.commit("committed with --no-verify");
    let out = repo.git_output(&["push", "-q", "origin", "main"]);
    assert!(!out.status.success(), "the pre-push hook must block the push");
    assert!(stderr(&out).contains("blocked"), "{}", stderr(&out));
    let refs = git_command(remote.path()).args(["for-each-ref"]).output().expect("git");
    assert!(refs.stdout.is_empty(), "nothing reached the remote");
    assert!(repo.git_output(&["push", "-q", "--no-verify", "origin", "main"]).status.success());
    // A clean commit on top goes through the hook.
    repo.stage("README", "docs\n");
    repo.commit("docs");
    let out = repo.git_output(&["push", "-q", "origin", "main"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
