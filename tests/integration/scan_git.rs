//! `leakhound git` and `leakhound pre-push` end to end, on real repositories built with the git
//! CLI in temporary directories. History tests run twice: on loose objects (read through libgit2)
//! and after `git repack` (read through the pack-order traversal), and must agree.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{TestEnv, fake, git_command, rule_ids, run_git};

/// A repository under construction in a [`TestEnv`].
struct Repo {
    env: TestEnv,
}

const ANN: (&str, &str) = ("Ann Example", "ann@example.test");
const BOB: (&str, &str) = ("Bob Sample", "bob@example.test");

impl Repo {
    fn new() -> Repo {
        let repo = Repo { env: TestEnv::new() };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    fn path(&self) -> &Path {
        self.env.path()
    }

    fn git(&self, args: &[&str]) -> String {
        git_in(self.path(), args)
    }

    fn file(&self, rel: &str, contents: impl AsRef<[u8]>) {
        self.env.file(rel, contents);
    }

    /// Stages everything and commits as `who` at `date`; returns the commit id.
    fn commit(&self, message: &str, who: (&str, &str), date: &str) -> String {
        self.git(&["add", "-A"]);
        let out = git_cmd(self.path())
            .args(["commit", "-q", "--allow-empty", "-m", message])
            .env("GIT_AUTHOR_NAME", who.0)
            .env("GIT_AUTHOR_EMAIL", who.1)
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date)
            .output()
            .expect("git commit runs");
        assert!(out.status.success(), "git commit: {}", String::from_utf8_lossy(&out.stderr));
        self.git(&["rev-parse", "HEAD"])
    }

    /// `leakhound git` with `--format json`, run on loose objects and again after a repack; both
    /// runs must report the same. Returns the exit code and the document.
    fn scan(&self, extra: &[&str]) -> (i32, Value) {
        let mut args = vec!["git", "."];
        args.extend(extra);
        let (code, loose) = self.env.json(&args);
        self.git(&["repack", "-adq"]);
        let (packed_code, packed) = self.env.json(&args);
        assert_eq!(code, packed_code, "loose and packed runs disagree: {loose} vs {packed}");
        assert_eq!(loose["findings"], packed["findings"], "loose and packed runs disagree");
        (code, packed)
    }
}

fn git_cmd(dir: &Path) -> Command {
    let mut cmd = git_command(dir);
    cmd.env("GIT_AUTHOR_NAME", ANN.0)
        .env("GIT_AUTHOR_EMAIL", ANN.1)
        .env("GIT_COMMITTER_NAME", "Committer")
        .env("GIT_COMMITTER_EMAIL", "committer@example.test")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z");
    cmd
}

fn git_in(dir: &Path, args: &[&str]) -> String {
    let mut cmd = git_cmd(dir);
    cmd.args(args);
    run_git(cmd)
}

/// The finding with `rule` (there must be exactly one).
fn only<'a>(doc: &'a Value, rule: &str) -> &'a Value {
    let all: Vec<&Value> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule_id"] == rule)
        .collect();
    assert_eq!(all.len(), 1, "one {rule} finding expected: {doc}");
    all[0]
}

fn check(f: &Value, path: &str, line: u64, commit: &str, who: (&str, &str), message: &str) {
    assert_eq!(f["path"], path, "{f}");
    assert_eq!(f["line"], line, "{f}");
    assert_eq!(f["commit"]["sha"], commit, "{f}");
    assert_eq!(f["commit"]["author"], who.0, "{f}");
    assert_eq!(f["commit"]["email"], who.1, "{f}");
    assert_eq!(f["commit"]["message"], message, "{f}");
}

#[test]
fn secret_added_then_deleted_is_found_at_its_commit() {
    let repo = Repo::new();
    repo.file("README", "hello\n");
    repo.commit("init", ANN, "2024-01-01T00:00:00Z");
    repo.file("config/.env", format!("# env\nDEBUG=1\nAWS_ACCESS_KEY_ID={}\n", fake::aws_key_id()));
    let added = repo.commit("add settings\n\nlonger body", BOB, "2024-02-03T04:05:06+02:00");
    std::fs::remove_file(repo.path().join("config/.env")).expect("rm");
    repo.commit("remove settings", ANN, "2024-03-01T00:00:00Z");
    let (code, doc) = repo.scan(&[]);
    assert_eq!(code, 1, "{doc}");
    let f = only(&doc, "aws.access-key-id");
    check(f, "config/.env", 3, &added, BOB, "add settings");
    assert_eq!(f["commit"]["date"], "2024-02-03T04:05:06+02:00");
    assert_eq!(f["column"], 19);
    assert!(f.get("occurrences").is_none(), "{f}");
}

#[test]
fn secret_only_on_a_side_branch() {
    let repo = Repo::new();
    repo.file("a.txt", "a\n");
    repo.commit("init", ANN, "2024-01-01T00:00:00Z");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.file("src/client.py", format!("import os\n\nTOKEN = '{}'\n", fake::github_pat()));
    let side = repo.commit("wire the client", BOB, "2024-01-02T00:00:00Z");
    repo.git(&["checkout", "-q", "main"]);
    let (code, doc) = repo.scan(&[]);
    assert_eq!(code, 1);
    check(only(&doc, "github.token"), "src/client.py", 3, &side, BOB, "wire the client");
    let (code, doc) = repo.scan(&["--branch", "main"]);
    assert_eq!(code, 0, "main alone is clean: {doc}");
    let (code, _) = repo.scan(&["--branch", "feature"]);
    assert_eq!(code, 1);
}

#[test]
fn secret_only_in_a_tag() {
    let repo = Repo::new();
    repo.file("a.txt", "a\n");
    repo.commit("init", ANN, "2024-01-01T00:00:00Z");
    repo.git(&["checkout", "-q", "--detach"]);
    repo.file("release.cfg", format!("[upload]\nkey = {}\n", fake::aws_key_id()));
    let tagged = repo.commit("release build", BOB, "2024-01-05T00:00:00Z");
    repo.git(&["tag", "-a", "v1.0", "-m", "v1.0"]);
    repo.git(&["checkout", "-q", "main"]);
    let (code, doc) = repo.scan(&[]);
    assert_eq!(code, 1);
    check(only(&doc, "aws.access-key-id"), "release.cfg", 2, &tagged, BOB, "release build");
}

#[test]
fn secrets_in_tag_messages_and_in_blobs_and_trees_that_refs_name() {
    // No commit holds these: the history walk never meets them, so every ref's scan reads them.
    let repo = Repo::new();
    repo.file("a.txt", "a\n");
    repo.commit("init", ANN, "2024-01-01T00:00:00Z");
    repo.git(&["tag", "-a", "v1.0", "-m", &format!("release\n\ntoken {}\n", fake::github_pat())]);
    repo.file("key.txt", format!("key = {}\n", fake::aws_key_id()));
    let blob = repo.git(&["hash-object", "-w", "key.txt"]);
    std::fs::remove_file(repo.path().join("key.txt")).expect("remove");
    repo.git(&["tag", "key-blob", &blob]);
    let (code, doc) = repo.scan(&[]);
    assert_eq!(code, 1, "{doc}");
    let mut places: Vec<(String, String)> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap_or("").to_owned(),
                f["path"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    places.sort();
    let tag = repo.git(&["rev-parse", "v1.0"]);
    assert_eq!(
        places,
        [
            ("aws.access-key-id".to_owned(), "refs/tags/key-blob".to_owned()),
            ("github.token".to_owned(), format!("refs/tags/v1.0 (message of tag {})", &tag[..12])),
        ],
        "{doc}"
    );
    // A branch selection covers that branch's commits only.
    let (code, doc) = repo.env.json(&["git", ".", "--branch", "main"]);
    assert_eq!((code, doc["findings"].as_array().map(Vec::len)), (0, Some(0)), "{doc}");
}

#[test]
fn secret_introduced_by_a_merge_commit() {
    let repo = Repo::new();
    repo.file("app.cfg", "name = app\n");
    repo.commit("init", ANN, "2024-01-01T00:00:00Z");
    repo.git(&["checkout", "-q", "-b", "topic"]);
    repo.file("topic.txt", "topic\n");
    repo.commit("topic work", ANN, "2024-01-02T00:00:00Z");
    repo.git(&["checkout", "-q", "main"]);
    repo.file("main.txt", "main\n");
    repo.commit("main work", ANN, "2024-01-03T00:00:00Z");
    repo.git(&["merge", "-q", "--no-ff", "--no-commit", "topic"]);
    repo.file("app.cfg", format!("name = app\ntoken = {}\n", fake::github_pat()));
    let merge = repo.commit("Merge topic", BOB, "2024-01-04T00:00:00Z");
    let (code, doc) = repo.scan(&[]);
    assert_eq!(code, 1);
    check(only(&doc, "github.token"), "app.cfg", 2, &merge, BOB, "Merge topic");
    assert_eq!(repo.git(&["rev-list", "--parents", "-n1", &merge]).split(' ').count(), 3);
}

#[test]
fn renamed_file_keeps_its_first_commit_and_lists_the_rename() {
    let repo = Repo::new();
    repo.file("old/name.py", format!("\nKEY = '{}'\n", fake::aws_key_id()));
    let first = repo.commit("add key", ANN, "2024-01-01T00:00:00Z");
    repo.git(&["mv", "old/name.py", "new_name.py"]);
    let moved = repo.commit("rename", BOB, "2024-01-02T00:00:00Z");
    let (code, doc) = repo.scan(&[]);
    assert_eq!(code, 1);
    let f = only(&doc, "aws.access-key-id");
    check(f, "old/name.py", 2, &first, ANN, "add key");
    assert_eq!(f["occurrences"].as_array().map(Vec::len), Some(1), "{f}");
    assert_eq!(f["occurrences"][0]["path"], "new_name.py");
    assert_eq!(f["occurrences"][0]["line"], 2);
    assert_eq!(f["occurrences"][0]["commit"]["sha"], moved.as_str());
}

#[test]
fn same_secret_in_two_files_is_one_finding_with_an_occurrence() {
    let repo = Repo::new();
    repo.file("a/settings.py", format!("TOKEN = '{}'\n", fake::github_pat()));
    repo.file("b/deploy.sh", format!("#!/bin/sh\n\nexport GH_TOKEN={}\n", fake::github_pat()));
    let c = repo.commit("two copies", ANN, "2024-01-01T00:00:00Z");
    let (code, doc) = repo.scan(&[]);
    assert_eq!(code, 1);
    let f = only(&doc, "github.token");
    check(f, "a/settings.py", 1, &c, ANN, "two copies");
    assert_eq!(f["occurrences"][0]["path"], "b/deploy.sh");
    assert_eq!(f["occurrences"][0]["line"], 3);
    assert_eq!(doc["stats"]["findings"], 1);
}

#[test]
fn secret_in_a_commit_message() {
    let repo = Repo::new();
    repo.file("a.txt", "a\n");
    let c = repo.commit(&format!("use key {}", fake::aws_key_id()), BOB, "2024-01-01T00:00:00Z");
    let (code, doc) = repo.scan(&[]);
    assert_eq!(code, 1);
    let f = only(&doc, "aws.access-key-id");
    assert_eq!(
        (&f["path"], &f["commit"]["sha"]),
        (&Value::from("commit-message"), &Value::from(c))
    );
}

/// Issue #19, item 1: the secret of a commit subject is redacted wherever that subject is shown,
/// in every format, also as the provenance of a finding in a file of that commit.
#[test]
fn secret_in_a_commit_message_is_redacted_in_every_format() {
    let repo = Repo::new();
    repo.file("a.txt", format!("token = {}\n", fake::github_pat()));
    let subject = format!("add token, key {}", fake::aws_key_id());
    repo.commit(&format!("{subject}\n\nbody {}", fake::github_pat()), BOB, "2024-01-01T00:00:00Z");
    let (code, doc) = repo.scan(&[]);
    assert_eq!(code, 1, "{doc}");
    for f in doc["findings"].as_array().expect("findings") {
        assert_eq!(f["commit"]["message"], "add token, key AKIA*****", "{f}");
    }
    for format in ["text", "json", "jsonl", "sarif", "gitlab", "junit", "csv", "html"] {
        let report = repo.path().join("report.out");
        let report = report.to_str().expect("utf-8");
        for args in [
            vec!["git", ".", "--format", format],
            vec!["git", ".", "--format", format, "--report", report],
        ] {
            let out = repo.env.run(&args);
            let mut all = String::from_utf8_lossy(&out.stdout).into_owned();
            all.push_str(&String::from_utf8_lossy(&out.stderr));
            all.push_str(&std::fs::read_to_string(report).unwrap_or_default());
            for secret in [fake::aws_key_id(), fake::github_pat()] {
                assert!(!all.contains(&secret), "{args:?} shows {secret}: {all}");
            }
            assert!(all.contains("AKIA*****"), "{args:?}: {all}");
        }
    }
    let out = repo.env.run(&["git", ".", "--show-secrets"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&subject), "shown when asked");
}

#[test]
fn commit_messages_are_counted_apart_from_blobs() {
    let repo = Repo::new();
    repo.file("a.txt", "a\n");
    repo.commit("one", ANN, "2024-01-01T00:00:00Z");
    repo.file("b.txt", "b\n");
    repo.commit("two", ANN, "2024-01-02T00:00:00Z");
    repo.file("a.txt", "a again\n");
    repo.commit("three", ANN, "2024-01-03T00:00:00Z");
    // Loose objects (the narrow path for a range) and packed (the whole-history pack traversal).
    let (code, range) = repo.env.json(&["git", ".", "--range", "main~2..main"]);
    assert_eq!(code, 0, "{range}");
    assert_eq!(
        (&range["stats"]["scanned"], &range["stats"]["commit_messages"]),
        (&Value::from(2), &Value::from(2)),
        "b.txt and the new a.txt; two messages: {range}"
    );
    let (code, doc) = repo.scan(&[]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(
        (&doc["stats"]["scanned"], &doc["stats"]["commit_messages"]),
        (&Value::from(3), &Value::from(3)),
        "three blobs and three messages: {doc}"
    );
    let out = repo.env.run(&["git", "."]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("scanned 3 blobs") && text.contains("3 commit message(s)"), "{text}");
}

#[test]
fn range_of_the_last_commits_only() {
    let repo = Repo::new();
    repo.file("old.txt", format!("k = {}\n", fake::aws_key_id()));
    repo.commit("old secret", ANN, "2024-01-01T00:00:00Z");
    for i in 0..3 {
        repo.file(&format!("f{i}.txt"), format!("{i}\n"));
        repo.commit(&format!("clean {i}"), ANN, &format!("2024-01-0{}T00:00:00Z", i + 2));
    }
    repo.file("new.txt", format!("t = {}\n", fake::github_pat()));
    let last = repo.commit("new secret", BOB, "2024-01-09T00:00:00Z");
    let (code, doc) = repo.scan(&["--range", "HEAD~3..HEAD"]);
    assert_eq!(code, 1);
    assert_eq!(rule_ids(&doc), ["github.token"], "only the last 3 commits: {doc}");
    check(only(&doc, "github.token"), "new.txt", 1, &last, BOB, "new secret");
    let (code, doc) = repo.scan(&["--range", "HEAD~4..HEAD~1"]);
    assert_eq!((code, rule_ids(&doc).len()), (0, 0), "{doc}");
    let (_, doc) = repo.scan(&["--since", "2024-01-05"]);
    assert_eq!(rule_ids(&doc), ["github.token"], "{doc}");
    // CI's "new branch" base: every commit of the tip that no other ref holds (all, here).
    let (_, doc) = repo.scan(&["--range", "0000000000000000000000000000000000000000..HEAD"]);
    assert_eq!(rule_ids(&doc), ["github.token", "aws.access-key-id"], "by path: {doc}");
    repo.git(&["branch", "base", "HEAD~1"]);
    let (_, doc) = repo.scan(&["--range", "0000000000000000000000000000000000000000..main"]);
    assert_eq!(rule_ids(&doc), ["github.token"], "only what `base` lacks: {doc}");
}

#[test]
fn bare_repository_and_not_a_repository() {
    let repo = Repo::new();
    repo.file("k.txt", fake::github_pat());
    repo.commit("k", ANN, "2024-01-01T00:00:00Z");
    let bare = repo.path().join("mirror.git");
    git_in(repo.path(), &["clone", "-q", "--bare", ".", bare.to_str().expect("utf-8")]);
    let (code, doc) = repo.env.json(&["git", "mirror.git"]);
    assert_eq!((code, rule_ids(&doc)), (1, vec!["github.token".to_owned()]), "{doc}");
    let plain = TestEnv::new();
    let (code, doc) = plain.json(&["git", "."]);
    assert_eq!(code, 2);
    assert!(
        doc["errors"][0]["message"].as_str().unwrap_or_default().contains("not a git repository")
    );
}

#[test]
fn dangling_blobs_only_with_all_objects() {
    let repo = Repo::new();
    repo.file("a.txt", "a\n");
    repo.commit("init", ANN, "2024-01-01T00:00:00Z");
    repo.file("loose.txt", format!("k = {}\n", fake::aws_key_id()));
    let blob = repo.git(&["hash-object", "-w", "loose.txt"]);
    std::fs::remove_file(repo.path().join("loose.txt")).expect("rm");
    let (code, _) = repo.scan(&[]);
    assert_eq!(code, 0, "unreachable blobs are not in the history");
    // `repack -a` dropped nothing reachable; the dangling blob stays loose or unpacked.
    let (code, doc) = repo.env.json(&["git", ".", "--all-objects"]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(only(&doc, "aws.access-key-id")["path"], format!("unreachable-blob:{blob}"));
}

#[test]
fn shallow_clone_says_history_is_cut_and_scans_what_exists() {
    let repo = Repo::new();
    repo.file("old.txt", format!("k = {}\n", fake::aws_key_id()));
    repo.commit("old", ANN, "2024-01-01T00:00:00Z");
    repo.file("new.txt", format!("t = {}\n", fake::github_pat()));
    repo.commit("new", ANN, "2024-01-02T00:00:00Z");
    repo.file("x.txt", "x\n");
    repo.commit("x", ANN, "2024-01-03T00:00:00Z");
    let url = format!("file://{}", repo.path().display());
    let shallow = TestEnv::new();
    git_in(shallow.path(), &["clone", "-q", "--depth", "1", &url, "c"]);
    let (code, doc) = shallow.json(&["git", "c"]);
    assert_eq!(code, 2, "{doc}");
    let head = git_in(&shallow.path().join("c"), &["rev-parse", "HEAD"]);
    let message = doc["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("history is cut at commit {}", &head[..12])), "{doc}");
    let found = rule_ids(&doc);
    assert!(found.contains(&"github.token".to_owned()), "the checked-out tree is scanned: {doc}");
}

#[test]
fn missing_and_oversized_blobs_are_named() {
    let repo = Repo::new();
    repo.file("k.txt", format!("t = {}\n", fake::github_pat()));
    repo.file("big.txt", format!("{}\n{}\n", "x".repeat(4096), fake::aws_key_id()));
    repo.file("gone.txt", "this blob will vanish\n");
    repo.commit("init", ANN, "2024-01-01T00:00:00Z");
    let out = repo.env.run(&["git", ".", "--max-file-size", "1K", "--format", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rule_ids(&doc), ["github.token"]);
    assert_eq!(doc["stats"]["skipped_too_large"], 1);
    let short = &repo.git(&["rev-parse", "HEAD"])[..12];
    assert_eq!(doc["skipped"].as_array().map(Vec::len), Some(1), "{doc}");
    assert_eq!(doc["skipped"][0]["origin"], format!("big.txt (commit {short})"), "{doc}");
    assert!(doc["skipped"][0]["reason"].to_string().contains("--max-file-size"), "{doc}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("big.txt") && stderr.contains("--max-file-size"), "{stderr}");
    // Delete one loose object: a damaged (or partial) clone.
    let blob = repo.git(&["rev-parse", "HEAD:gone.txt"]);
    std::fs::remove_file(repo.path().join(format!(".git/objects/{}/{}", &blob[..2], &blob[2..])))
        .expect("remove object");
    let (code, doc) = repo.env.json(&["git", "."]);
    assert_eq!(code, 2, "{doc}");
    assert!(doc["errors"][0]["origin"].as_str().unwrap_or_default().contains("gone.txt"), "{doc}");
    assert!(doc["errors"][0]["message"].as_str().unwrap_or_default().contains("missing"), "{doc}");
    assert!(rule_ids(&doc).contains(&"github.token".to_owned()), "the rest is scanned: {doc}");
}

/// Cuts loose object `id` of the repository at `dir` to half its stored size, as a crash
/// mid-write leaves it.
pub fn cut_loose_object(dir: &Path, id: &str) {
    let path = dir.join(format!(".git/objects/{}/{}", &id[..2], &id[2..]));
    let stored = std::fs::read(&path).expect("loose object");
    std::fs::remove_file(&path).expect("remove");
    std::fs::write(&path, &stored[..stored.len() / 2]).expect("cut");
}

/// Random-looking text that compresses poorly, so half of its loose object is far from its end.
fn noise(len: usize) -> String {
    (0..len).map(|i| char::from(b'a' + ((i * 7919 + i / 13) % 26) as u8)).collect()
}

#[test]
fn loose_objects_cut_short_are_errors_not_hangs() {
    // libgit2 1.9.7 loops forever inflating a loose object cut short (libgit2 issue 7342).
    let repo = Repo::new();
    repo.file("k.txt", format!("t = {}\n", fake::github_pat()));
    repo.file("cut.txt", format!("{}\nk = {}\n", noise(200_000), fake::aws_key_id()));
    repo.commit("init", ANN, "2024-01-01T00:00:00Z");
    cut_loose_object(repo.path(), &repo.git(&["rev-parse", "HEAD:cut.txt"]));
    let (code, doc) = repo.env.json(&["git", "."]);
    assert_eq!(code, 2, "{doc}");
    assert_eq!(rule_ids(&doc), ["github.token"], "the rest is scanned: {doc}");
    let errors = doc["errors"].to_string();
    assert!(errors.contains("cut short") && errors.contains("git fsck"), "{doc}");
    // A damaged commit or tree: the walk is refused, not hung.
    repo.file("more.txt", noise(100_000));
    repo.commit("more", ANN, "2024-01-02T00:00:00Z");
    cut_loose_object(repo.path(), &repo.git(&["rev-parse", "HEAD^{tree}"]));
    let (code, doc) = repo.env.json(&["git", "."]);
    assert_eq!(code, 2, "{doc}");
    let errors = doc["errors"].to_string();
    assert!(errors.contains("damaged loose object") && errors.contains("not scanned"), "{doc}");
}

#[test]
fn oversized_blobs_in_a_pack_and_their_deltas_are_named() {
    let repo = Repo::new();
    let body = "a line of a long generated file\n".repeat(200);
    repo.file("big.txt", format!("{body}k = {}\n", fake::aws_key_id()));
    repo.commit("big", ANN, "2024-01-01T00:00:00Z");
    repo.file("big.txt", format!("{body}k = {}\nmore\n", fake::aws_key_id()));
    repo.commit("bigger", ANN, "2024-01-02T00:00:00Z");
    repo.git(&["repack", "-adfq"]);
    let out = repo.env.run(&["git", ".", "--max-file-size", "1K", "--format", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["stats"]["skipped_too_large"], 2, "{doc}");
    assert_eq!(doc["skipped"].as_array().map(Vec::len), Some(2), "{doc}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("big.txt").count(), 2, "{stderr}");
    let (code, doc) = repo.env.json(&["git", "."]);
    assert_eq!((code, rule_ids(&doc)), (1, vec!["aws.access-key-id".to_owned()]), "{doc}");
}

#[test]
fn corrupt_pack_is_an_error_and_the_rest_completes() {
    let repo = Repo::new();
    repo.file("k.txt", format!("t = {}\n", fake::github_pat()));
    repo.commit("init", ANN, "2024-01-01T00:00:00Z");
    repo.git(&["repack", "-adq"]);
    // A healthy, unrelated history in loose objects.
    repo.git(&["checkout", "-q", "--orphan", "other"]);
    repo.git(&["rm", "-rqf", "--cached", "."]);
    std::fs::remove_file(repo.path().join("k.txt")).expect("rm");
    repo.file("m.txt", format!("k = {}\n", fake::aws_key_id()));
    repo.commit("more", ANN, "2024-01-02T00:00:00Z");
    let pack = the_pack(&repo);
    let mut bytes = std::fs::read(&pack).expect("read pack");
    let n = bytes.len();
    for b in &mut bytes[n / 2..n - 20] {
        *b ^= 0x5a;
    }
    std::fs::write(&pack, bytes).expect("write pack");
    let out = repo.env.run(&["git", ".", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json even when damaged");
    assert!(doc["stats"]["errors"].as_u64().unwrap_or_default() >= 1, "{doc}");
    assert!(rule_ids(&doc).contains(&"aws.access-key-id".to_owned()), "rest scanned: {doc}");
}

/// The only pack of a repository (after `git repack -adq`), writable.
fn the_pack(repo: &Repo) -> std::path::PathBuf {
    let pack = std::fs::read_dir(repo.path().join(".git/objects/pack"))
        .expect("pack dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "pack"))
        .expect("a pack");
    let mut perms = std::fs::metadata(&pack).expect("meta").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&pack, perms).expect("chmod");
    pack
}

/// Issue #19, item 3: libgit2 refuses a pack whose trailer does not match its index, so its
/// commits vanished from the walk: "0 findings, 0 errors".
#[test]
fn flipped_byte_in_a_pack_checksum_is_an_error() {
    let repo = Repo::new();
    repo.file("k.txt", format!("t = {}\n", fake::github_pat()));
    repo.commit("init", ANN, "2024-01-01T00:00:00Z");
    repo.git(&["repack", "-adq"]);
    let pack = the_pack(&repo);
    let mut bytes = std::fs::read(&pack).expect("read pack");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&pack, bytes).expect("write pack");
    // Whole history, and a narrow selection (which reads no pack in bulk).
    for extra in [&[][..], &["--since", "2000-01-01"][..]] {
        let mut args = vec!["git", "."];
        args.extend(extra);
        let (code, doc) = repo.env.json(&args);
        assert_eq!(code, 2, "{doc}");
        let named = doc["errors"].as_array().expect("errors").iter().any(|e| {
            e["origin"] == pack.display().to_string()
                && e["message"].as_str().is_some_and(|m| m.contains("trailing checksum"))
        });
        assert!(named, "the pack is named: {doc}");
    }
}

/// Issue #19, item 4: refs whose commit is missing were dropped without a word.
#[test]
fn refs_to_missing_commits_are_named_as_errors() {
    let repo = Repo::new();
    repo.file("k.txt", format!("t = {}\n", fake::github_pat()));
    repo.commit("init", ANN, "2024-01-01T00:00:00Z");
    repo.git(&["repack", "-adq"]);
    repo.git(&["checkout", "-q", "-b", "lost"]);
    repo.file("m.txt", "more\n");
    let lost = repo.commit("more", ANN, "2024-01-02T00:00:00Z");
    repo.git(&["tag", "-a", "v-lost", "-m", "lost"]);
    let tag = repo.git(&["rev-parse", "v-lost"]);
    repo.git(&["checkout", "-q", "main"]);
    std::fs::remove_file(repo.path().join(format!(".git/objects/{}/{}", &lost[..2], &lost[2..])))
        .expect("remove the commit object");
    let ghost = "1234567890123456789012345678901234567890";
    std::fs::write(repo.path().join(".git/refs/heads/ghost"), format!("{ghost}\n")).expect("ref");
    let (code, doc) = repo.env.json(&["git", "."]);
    assert_eq!(code, 2, "{doc}");
    let error = |name: &str| {
        doc["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .find(|e| e["origin"] == format!("ref {name}"))
            .and_then(|e| e["message"].as_str())
            .unwrap_or_else(|| panic!("{name} is named: {doc}"))
            .to_owned()
    };
    assert!(error("refs/heads/ghost").contains(&format!("points at {ghost}, which is missing")));
    assert!(error("refs/heads/lost").contains(&format!("points at {lost}, which is missing")));
    let tagged = error("refs/tags/v-lost");
    assert!(tagged.contains(&format!("points at {tag}, a tag of {lost}, which is missing")));
    assert_eq!(rule_ids(&doc), ["github.token"], "the rest is scanned: {doc}");
}

/// Issue #19, item 11: each ref to a commit read its whole message again; 2000 tags on a 50 MB
/// message did not finish in 120 s.
#[test]
fn many_refs_to_a_commit_with_a_huge_message_scan_it_once() {
    let repo = Repo::new();
    repo.file("a.txt", "a\n");
    let mut message = format!("deploy with {}\n\n", fake::aws_key_id());
    message.push_str(&"a long generated body line of the message\n".repeat(50_000));
    std::fs::write(repo.path().join(".git/MSG"), &message).expect("message");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-F", ".git/MSG"]);
    let head = repo.git(&["rev-parse", "HEAD"]);
    let refs: Vec<String> = (0..1000).map(|i| format!("create refs/tags/t{i} {head}\n")).collect();
    let mut cmd = git_cmd(repo.path());
    cmd.args(["update-ref", "--stdin"]).stdin(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("git update-ref");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), refs.concat().as_bytes())
        .expect("write refs");
    assert!(child.wait().expect("wait").success());
    let out = repo
        .env
        .cmd()
        .args(["git", ".", "--format", "json"])
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("finished, with a JSON report");
    assert_eq!(out.status.code(), Some(1), "{doc}");
    let f = only(&doc, "aws.access-key-id");
    assert_eq!((&f["path"], &f["commit"]["sha"]), (&"commit-message".into(), &head.into()));
    assert_eq!(doc["stats"]["commit_messages"], 1, "{doc}");
}

/// Issue #19, item 5: `.git/info/grafts` (and replace refs) can make a commit look parentless;
/// the history behind it was silently not scanned. The parents as stored are walked.
#[test]
fn grafts_and_replace_refs_do_not_hide_history() {
    let history = || {
        let repo = Repo::new();
        repo.file("old.txt", format!("k = {}\n", fake::aws_key_id()));
        let old = repo.commit("old", BOB, "2024-01-01T00:00:00Z");
        std::fs::remove_file(repo.path().join("old.txt")).expect("rm");
        repo.file("b.txt", "b\n");
        let clean = repo.commit("clean", ANN, "2024-01-02T00:00:00Z");
        repo.file("c.txt", "c\n");
        repo.commit("third", ANN, "2024-01-03T00:00:00Z");
        (repo, old, clean)
    };
    let (repo, old, clean) = history();
    std::fs::write(repo.path().join(".git/info/grafts"), format!("{clean}\n")).expect("grafts");
    assert!(!repo.git(&["log", "--format=%H"]).contains(&old), "git hides `old`");
    for extra in [&[][..], &["--since", "2000-01-01"][..]] {
        let (code, doc) = repo.scan(extra);
        assert_eq!(code, 1, "{doc}");
        check(only(&doc, "aws.access-key-id"), "old.txt", 1, &old, BOB, "old");
    }
    std::fs::remove_file(repo.path().join(".git/info/grafts")).expect("rm grafts");
    repo.git(&["replace", "--graft", &clean]);
    assert!(!repo.git(&["log", "--format=%H"]).contains(&old), "git hides `old`");
    let (code, doc) = repo.scan(&[]);
    assert_eq!(code, 1, "{doc}");
    check(only(&doc, "aws.access-key-id"), "old.txt", 1, &old, BOB, "old");
    // A graft over a parent that is really gone cuts the history: an error, as for shallow.
    let (repo, old, clean) = history();
    std::fs::write(repo.path().join(".git/info/grafts"), format!("{clean}\n")).expect("grafts");
    std::fs::remove_file(repo.path().join(format!(".git/objects/{}/{}", &old[..2], &old[2..])))
        .expect("remove the commit object");
    let (code, doc) = repo.env.json(&["git", "."]);
    assert_eq!(code, 2, "{doc}");
    let message = doc["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("history is cut at commit {}: its parent {old}", &clean[..12])),
        "{doc}"
    );
}

/// Issue #19, item 13: a submodule named as not scanned was not counted: "0 skipped".
#[test]
fn submodule_not_scanned_is_counted_as_skipped() {
    let repo = Repo::new();
    repo.file("a.txt", "a\n");
    repo.git(&["add", "-A"]);
    let gitlink = "160000,1111111111111111111111111111111111111111,vendor/lib";
    repo.git(&["update-index", "--add", "--cacheinfo", gitlink]);
    repo.git(&["commit", "-qm", "vendor"]);
    let (code, doc) = repo.scan(&[]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["skipped"].as_array().map(Vec::len), Some(1), "{doc}");
    assert_eq!(doc["stats"]["skipped_special"], 1, "{doc}");
    let out = repo.env.run(&["git", "."]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1 skipped (0 binary, 0 too large, 1 special"), "{text}");
}

#[cfg(unix)]
#[test]
fn non_utf8_paths_messages_lfs_and_submodules() {
    use std::os::unix::ffi::OsStrExt;
    let repo = Repo::new();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    std::fs::write(repo.path().join(name), format!("k = {}\n", fake::aws_key_id())).expect("write");
    repo.file(
        "model.bin",
        "version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 99\n",
    );
    repo.git(&["add", "-A"]);
    let gitlink = "160000,1111111111111111111111111111111111111111,vendor/lib";
    repo.git(&["update-index", "--add", "--cacheinfo", gitlink]);
    // `git commit` would re-encode a Latin-1 message; write the commit object as is.
    let tree = repo.git(&["write-tree"]);
    let mut object = format!(
        "tree {tree}\nauthor Ann <ann@example.test> 1704067200 +0000\n\
         committer Ann <ann@example.test> 1704067200 +0000\n\n"
    )
    .into_bytes();
    object.extend_from_slice(b"caf\xe9 message\n");
    std::fs::write(repo.path().join(".git/OBJ"), object).expect("write object");
    let commit = repo.git(&["hash-object", "-t", "commit", "-w", ".git/OBJ"]);
    repo.git(&["update-ref", "HEAD", &commit]);
    let out = repo.env.run(&["git", ".", "--format", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let f = only(&doc, "aws.access-key-id");
    assert_eq!(f["path"], "caf\u{fffd}.txt");
    assert_eq!(f["commit"]["sha"], commit.as_str());
    assert_eq!(f["commit"]["message"], "caf\u{fffd} message");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("model.bin") && stderr.contains("LFS"), "{stderr}");
    assert!(stderr.contains("vendor/lib") && stderr.contains("submodule"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "items not scanned are not errors: {stderr}");
    let short = &commit[..12];
    let skipped: Vec<(String, String)> = doc["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| (s["origin"].as_str().unwrap_or("").to_owned(), s["reason"].to_string()))
        .collect();
    assert_eq!(skipped.len(), 2, "{doc}");
    assert_eq!(skipped[0].0, format!("model.bin (commit {short})"));
    assert!(skipped[0].1.contains("LFS"), "{doc}");
    assert_eq!(skipped[1].0, format!("vendor/lib (commit {short})"));
    assert!(skipped[1].1.contains("submodule"), "{doc}");
    // SARIF names them as notes (and stays valid), jsonl as `skipped` records.
    let out = repo.env.run(&["git", ".", "--format", "sarif"]);
    crate::report::validate("sarif-schema-2.1.0.json", &out.stdout).expect("valid SARIF");
    let sarif: Value = serde_json::from_slice(&out.stdout).expect("json");
    let notes = &sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"];
    assert_eq!(notes.as_array().map(Vec::len), Some(2), "{notes}");
    assert!(notes[0]["level"] == "note" && notes[0].to_string().contains("model.bin"), "{notes}");
    let out = repo.env.run(&["git", ".", "--format", "jsonl"]);
    let lines = String::from_utf8_lossy(&out.stdout);
    assert_eq!(lines.lines().filter(|l| l.starts_with("{\"skipped\":")).count(), 2, "{lines}");
    // The text report lists them in its summary, and nothing repeats them on stderr.
    let out = repo.env.run(&["git", "."]);
    let (text, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains(&format!("not scanned: vendor/lib (commit {short}): a submodule")),
        "{text}"
    );
    assert!(!stderr.contains("vendor/lib"), "printed once: {stderr}");
}

/// A clone of a bare remote with a pre-push hook running the real binary.
fn pushing_clone() -> (TestEnv, Repo) {
    let remote = TestEnv::new();
    git_in(remote.path(), &["init", "-q", "--bare", "-b", "main"]);
    let repo = Repo::new();
    repo.git(&["remote", "add", "origin", remote.path().to_str().expect("utf-8")]);
    let bin = assert_cmd::cargo::cargo_bin("leakhound");
    let hook = repo.path().join(".git/hooks/pre-push");
    std::fs::write(&hook, format!("#!/bin/sh\nexec '{}' pre-push \"$@\"\n", bin.display()))
        .expect("write hook");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    (remote, repo)
}

fn push(repo: &Repo, args: &[&str]) -> (bool, String) {
    let out = git_cmd(repo.path()).arg("push").args(args).output().expect("git push runs");
    // The hook's report goes to git's stdout, its verdict to stderr.
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn pre_push_blocks_secrets_and_allows_clean_pushes() {
    let (_remote, repo) = pushing_clone();
    repo.file("a.txt", "clean\n");
    repo.commit("clean", ANN, "2024-01-01T00:00:00Z");
    let (ok, err) = push(&repo, &["-q", "origin", "main"]);
    assert!(ok, "a clean new branch is allowed: {err}");
    repo.file("b.txt", format!("k = {}\n", fake::aws_key_id()));
    repo.commit("leak", ANN, "2024-01-02T00:00:00Z");
    std::fs::remove_file(repo.path().join("b.txt")).expect("rm");
    repo.commit("unleak", ANN, "2024-01-03T00:00:00Z");
    let (ok, err) = push(&repo, &["-q", "origin", "main"]);
    assert!(!ok, "a secret in a pushed commit blocks, even if removed later");
    assert!(
        err.contains("b.txt") && err.contains("push blocked") && err.contains("leakhound:allow"),
        "{err}"
    );
    assert!(!err.contains(&fake::aws_key_id()), "redacted: {err}");
    // A new branch adding only clean commits on top of pushed history is allowed...
    repo.git(&["reset", "-q", "--hard", "HEAD~2"]);
    repo.git(&["checkout", "-q", "-b", "topic"]);
    repo.file("c.txt", "clean too\n");
    repo.commit("clean topic", ANN, "2024-01-04T00:00:00Z");
    let (ok, err) = push(&repo, &["-q", "origin", "topic"]);
    assert!(ok, "{err}");
    // ...and one adding a secret is not.
    repo.git(&["checkout", "-q", "-b", "leaky", "main"]);
    repo.file("d.txt", format!("t = {}\n", fake::github_pat()));
    repo.commit("leaky topic", ANN, "2024-01-05T00:00:00Z");
    let (ok, err) = push(&repo, &["-q", "origin", "leaky"]);
    assert!(!ok && err.contains("d.txt"), "{err}");
    // Deleting a remote branch scans nothing, even if the branch held a secret.
    let (ok, _) = push(&repo, &["-q", "--no-verify", "origin", "leaky"]);
    assert!(ok);
    let (ok, err) = push(&repo, &["-q", "origin", "--delete", "leaky"]);
    assert!(ok, "deletion is skipped: {err}");
}

#[test]
fn pre_push_rejects_garbage_input() {
    let repo = Repo::new();
    repo.file("a.txt", "a\n");
    repo.commit("init", ANN, "2024-01-01T00:00:00Z");
    let out = repo
        .env
        .cmd()
        .args(["pre-push", "origin"])
        .write_stdin("not four fields\n")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "a broken hook input must not pass silently");
}
