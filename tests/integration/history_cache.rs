//! `leakhound git --cache` (#20): a history scan that reads only blobs it has not scanned and
//! walks only commits it has not walked, with the same report as a scan without the cache, on
//! real repositories with new commits, a rewritten branch, deleted refs and a repack.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{TestEnv, fake, fast_import, git};

/// A repository in a [`TestEnv`], and a cache file beside it.
struct Repo {
    env: TestEnv,
    cache: PathBuf,
}

impl Repo {
    fn new() -> Repo {
        let env = TestEnv::new();
        std::fs::create_dir(env.path().join("repo")).expect("repo dir");
        let cache = env.path().join("history.db");
        let repo = Repo { env, cache };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// A repository whose first commit holds an AWS key, and two clean commits on it.
    fn with_a_secret_then_two_commits() -> Repo {
        let repo = Repo::new();
        repo.commit("a.env", &format!("AWS_ACCESS_KEY_ID={}\n", fake::aws_key_id()), "aws");
        repo.commit("b.txt", "notes\n", "notes");
        repo.commit("c.txt", "more notes\n", "more");
        repo
    }

    fn dir(&self) -> PathBuf {
        self.env.path().join("repo")
    }

    fn git(&self, args: &[&str]) -> String {
        git(&self.dir(), args)
    }

    fn commit(&self, file: &str, contents: &str, message: &str) {
        let path = self.dir().join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(path, contents).expect("write");
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
    }

    /// `leakhound git` on the repository, with `extra` arguments: exit code and JSON report.
    fn scan(&self, extra: &[&str]) -> (i32, Value) {
        let dir = self.dir();
        let mut args = vec!["git", dir.to_str().expect("utf-8 path")];
        args.extend(extra);
        self.env.json(&args)
    }

    fn scan_cached(&self) -> (i32, Value) {
        let cache = self.cache.to_str().expect("utf-8 path").to_owned();
        self.scan(&["--cache", &cache])
    }

    /// Scans with and without the cache and asserts both say the same; returns the cached
    /// run's stats.
    fn agree(&self, why: &str) -> Value {
        let (code, plain) = self.scan(&[]);
        let (cached_code, cached) = self.scan_cached();
        assert_eq!(cached_code, code, "{why}: exit codes differ");
        assert_eq!(places(&cached), places(&plain), "{why}: findings differ");
        assert_eq!(cached["errors"], plain["errors"], "{why}: errors differ");
        cached["stats"].clone()
    }
}

/// Each finding as rule, path, line, introducing commit and the sorted places of its
/// occurrences: everything a cache could get wrong.
fn places(doc: &Value) -> Vec<String> {
    let place =
        |f: &Value| format!("{} {}:{} @{}", f["rule_id"], f["path"], f["line"], f["commit"]["sha"]);
    let mut out: Vec<String> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let mut also: Vec<String> = f["occurrences"]
                .as_array()
                .map(|o| o.iter().map(place).collect())
                .unwrap_or_default();
            also.sort();
            format!("{} also [{}]", place(f), also.join(", "))
        })
        .collect();
    out.sort();
    out
}

fn count(stats: &Value, key: &str) -> u64 {
    stats[key].as_u64().unwrap_or(0)
}

#[test]
fn history_cache_reports_what_a_full_scan_reports_as_history_changes() {
    let repo = Repo::new();
    let aws = fake::aws_key_id();
    repo.commit("config/aws.env", &format!("AWS_ACCESS_KEY_ID={aws}\n"), "add aws config");
    repo.commit("README.md", "# service\n", "readme");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.commit("deploy/token.txt", &format!("token: {}\n", fake::github_pat()), "deploy token");
    repo.git(&["checkout", "-q", "main"]);

    // First run: everything is scanned, and stored.
    let first = repo.agree("first run");
    assert_eq!(count(&first, "cached"), 0, "{first}");
    let (_, doc) = repo.scan_cached();
    let stats = &doc["stats"];
    assert_eq!(count(stats, "scanned"), 0, "nothing new, nothing read: {stats}");
    assert!(count(stats, "cached") >= 6, "3 blobs and 3 commits from the cache: {stats}");
    assert_eq!(places(&doc).len(), 2, "{:?}", places(&doc));

    // New commits: only their blobs are read; an old secret copied to a new path is an
    // occurrence of the old finding, found through the cached blob.
    repo.commit("copy/aws.env", &format!("AWS_ACCESS_KEY_ID={aws}\n"), "copy config");
    repo.commit("notes.txt", "nothing to see\n", "notes");
    let stats = repo.agree("after new commits");
    assert_eq!(count(&stats, "scanned"), 1, "only notes.txt is new content: {stats}");

    // A rewritten branch: the commit that added the deploy token is replaced.
    repo.git(&["checkout", "-q", "feature"]);
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    repo.commit("deploy/token.txt", "token: read-from-vault\n", "deploy token from vault");
    repo.git(&["checkout", "-q", "main"]);
    let (_, doc) = repo.scan_cached();
    assert!(
        !places(&doc).iter().any(|p| p.contains("deploy/token.txt")),
        "the rewritten commit's secret is gone: {:?}",
        places(&doc)
    );
    repo.agree("after a rewritten branch");

    // A deleted ref, then a repack that moves every object into one new pack.
    repo.git(&["branch", "-q", "-D", "feature"]);
    repo.agree("after a deleted ref");
    repo.git(&["gc", "-q", "--prune=now"]);
    let stats = repo.agree("after a repack");
    assert_eq!(count(&stats, "scanned"), 0, "blobs are cached by id, not by pack: {stats}");
}

/// The cache keeps the last run's list of commits and reuses it while the ref tips, grafts and
/// shallow boundary are the same; these tests change what the tips do not show.
#[test]
fn cached_commit_list_is_not_trusted_over_a_lost_commit() {
    let repo = Repo::with_a_secret_then_two_commits();
    let (code, _) = repo.scan_cached();
    assert_eq!(code, 1);
    // The middle commit's loose object is lost; every ref still points where it did.
    let middle = repo.git(&["rev-parse", "HEAD~1"]);
    let middle = middle.trim();
    let object = repo.dir().join(".git/objects").join(&middle[..2]).join(&middle[2..]);
    std::fs::remove_file(&object).expect("the commit is a loose object");
    let (code, doc) = repo.scan_cached();
    assert_eq!(code, 2, "a lost commit is named, not hidden by the cached list: {doc}");
    assert!(doc["errors"].to_string().contains(&middle[..12]), "{}", doc["errors"]);
    repo.agree("after a lost commit");
}

#[test]
fn cached_commit_list_is_not_reused_after_a_shallow_clone_is_deepened() {
    let origin = Repo::with_a_secret_then_two_commits();
    let clone = origin.env.path().join("clone");
    let url = format!("file://{}", origin.dir().display());
    git(origin.env.path(), &["clone", "-q", "--depth", "1", &url, "clone"]);
    let cache = origin.env.path().join("clone.db");
    let scan = |cache: Option<&Path>| {
        let mut args = vec!["git".to_owned(), clone.display().to_string()];
        if let Some(cache) = cache {
            args.extend(["--cache".to_owned(), cache.display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        origin.env.json(&args)
    };
    let (code, shallow) = scan(Some(&cache));
    assert_eq!(code, 2, "a shallow clone is named as cut: {shallow}");
    let head = origin.git(&["rev-parse", "HEAD"]);
    let first = origin.git(&["rev-list", "--max-parents=0", "HEAD"]);
    let commit = |doc: &Value| doc["findings"][0]["commit"]["sha"].as_str().map(str::to_owned);
    assert_eq!(commit(&shallow).as_deref(), Some(head.trim()), "the boundary holds the tree");
    // Deepening moves the boundary and keeps every tip: the older commits are walked now.
    git(&clone, &["fetch", "-q", "--unshallow"]);
    let (code, deep) = scan(Some(&cache));
    let (plain_code, plain) = scan(None);
    assert_eq!((code, plain_code), (1, 1), "{deep}");
    assert_eq!(places(&deep), places(&plain));
    assert_eq!(commit(&deep).as_deref(), Some(first.trim()), "the secret's own commit, now");
}

/// Blob results are stored in batches of 65,536 while the scan goes on: a first run killed after
/// a batch keeps it, and the next run reads only the rest.
#[test]
fn interrupted_first_run_keeps_the_blobs_it_scanned() {
    use std::fmt::Write as _;
    let repo = Repo::new();
    // 80,000 distinct blobs in 2,000 commits, a secret in the first.
    let mut stream = String::new();
    for c in 0..2000 {
        let from = if c == 0 { String::new() } else { format!("from :{c}\n") };
        let _ = write!(
            stream,
            "commit refs/heads/main\nmark :{}\ncommitter Dev <dev@example.com> 1700000000 +0000\n\
             data 2\nc\n{from}",
            c + 1
        );
        for f in 0..40 {
            let body = if c == 0 && f == 0 {
                format!("AWS_ACCESS_KEY_ID={}\n", fake::aws_key_id())
            } else {
                format!("entry {c} {f}\n")
            };
            let _ = write!(stream, "M 644 inline d{c}/f{f}.txt\ndata {}\n{body}\n", body.len());
        }
    }
    fast_import(&repo.dir(), &stream);
    let rows = || {
        let db = rusqlite::Connection::open(&repo.cache).ok()?;
        db.query_row("SELECT count(*) FROM history_blobs", [], |r| r.get::<_, i64>(0)).ok()
    };
    let dir = repo.dir();
    let mut run = std::process::Command::new(assert_cmd::cargo::cargo_bin("leakhound"))
        .args(["git", dir.to_str().expect("utf-8"), "--cache", repo.cache.to_str().expect("utf-8")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("leakhound runs");
    let stored = loop {
        if let Some(n) = rows().filter(|n| *n > 0) {
            run.kill().expect("kill");
            break n;
        }
        let done = run.try_wait().expect("wait");
        assert!(done.is_none(), "the run ended ({done:?}) before its first batch was seen");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    run.wait().expect("wait");
    assert_eq!(stored, 65_536, "one whole batch, stored before the run ended");
    let stats = repo.agree("after an interrupted first run");
    assert!(count(&stats, "cached") >= 65_536, "the stored batch is used: {stats}");
    assert!(count(&stats, "scanned") <= 80_000 - 65_536, "{stats}");
}

#[test]
fn history_cache_rescans_everything_when_the_rules_change() {
    let repo = Repo::new();
    repo.commit("a.env", &format!("AWS_ACCESS_KEY_ID={}\n", fake::aws_key_id()), "aws");
    repo.commit("b.txt", "internal ticket ACME-TICKET-8842-QX\n", "ticket");
    let (_, first) = repo.scan_cached();
    assert_eq!(places(&first).len(), 1, "{:?}", places(&first));

    // A rule added by a config: the old blob that holds its match is scanned again.
    let config = repo.env.file(
        "extra.toml",
        r#"
[[rules]]
id = "acme.ticket"
description = "ACME ticket reference (a test rule)"
regex = '''ACME-TICKET-[0-9]{4}-[A-Z]{2}'''
keywords = ["acme-ticket"]
examples = ["ACME-TICKET-1234-AB", "see ACME-TICKET-0001-ZZ"]
negative_examples = ["ACME-TICKET-12-AB", "acme ticket"]
"#,
    );
    let cache = repo.cache.to_str().expect("utf-8").to_owned();
    let config = config.to_str().expect("utf-8").to_owned();
    let (_, doc) = repo.scan(&["--cache", &cache, "--config", &config]);
    let stats = &doc["stats"];
    assert_eq!(count(stats, "cached"), 0, "another rule set trusts nothing cached: {stats}");
    assert_eq!(count(stats, "scanned"), 2, "{stats}");
    assert!(places(&doc).iter().any(|p| p.contains("acme.ticket")), "{:?}", places(&doc));
}

#[test]
fn corrupt_or_foreign_history_cache_is_an_error_not_a_smaller_scan() {
    let repo = Repo::new();
    repo.commit("a.env", &format!("AWS_ACCESS_KEY_ID={}\n", fake::aws_key_id()), "aws");
    std::fs::write(&repo.cache, vec![b'x'; 8192]).expect("write");
    let out = run(&repo, &repo.cache);
    assert_eq!(out.0, 2, "{}", out.1);
    assert!(out.1.contains("corrupt") && out.1.contains("delete it"), "{}", out.1);

    // Another program's SQLite database: refused, and left as it was.
    let foreign = repo.env.path().join("app.db");
    let made = std::process::Command::new("python3")
        .args(["-c", "import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute('create table users (name text)')"])
        .arg(&foreign)
        .status()
        .expect("python3 runs");
    assert!(made.success());
    let before = std::fs::read(&foreign).expect("read");
    let out = run(&repo, &foreign);
    assert_eq!(out.0, 2, "{}", out.1);
    assert!(out.1.contains("not a leakhound cache"), "{}", out.1);
    assert_eq!(std::fs::read(&foreign).expect("read"), before, "the foreign file is untouched");
}

/// Exit code and stderr of a cached scan with cache file `cache`.
fn run(repo: &Repo, cache: &Path) -> (i32, String) {
    let dir = repo.dir();
    let out = repo.env.run(&[
        "git",
        dir.to_str().expect("utf-8"),
        "--cache",
        cache.to_str().expect("utf-8"),
    ]);
    (out.status.code().expect("exit code"), String::from_utf8_lossy(&out.stderr).into_owned())
}
