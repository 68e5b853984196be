//! `--verify` (#16) against a small fake GitLab on 127.0.0.1 that follows GitLab's documented
//! shapes for `GET /api/v4/personal_access_tokens/self` (200 with `name`, `scopes`,
//! `expires_at`, `active`, `revoked`; 401 for a token that is not valid), and misbehaves on
//! purpose where a test says so.

use std::time::Duration;

use crate::common::{TestEnv, git};
use crate::fake_api::{FakeApi, Reply, Request};

/// A GitLab personal access token of the documented legacy shape (`glpat-` + 20 characters).
fn live_token() -> String {
    format!("glpat-{}", "c7Hq2VnR9xKp4LmW8tZb")
}

fn dead_token() -> String {
    format!("glpat-{}", "R4nW7yQe2KsV9pXm3TdJ")
}

/// How the fake answers.
#[derive(Clone, Copy)]
enum Mode {
    GitLab,
    Hang,
    Reset,
    TooMany,
    Unavailable,
    Garbage,
    Redirect,
    /// 429 with `Retry-After: 1` for the first this many requests, then as GitLab.
    Busy(usize),
}

/// A fake GitLab; `requests` gives each request's line and `PRIVATE-TOKEN` header.
struct FakeGitLab(FakeApi);

impl FakeGitLab {
    fn start(mode: Mode) -> FakeGitLab {
        FakeGitLab(FakeApi::start(move |request, count| reply(mode, request, count)))
    }

    fn url(&self) -> String {
        self.0.url()
    }

    fn requests(&self) -> Vec<(String, String)> {
        let requests = self.0.requests().into_iter();
        requests.map(|r| (r.line.clone(), r.header("private-token").to_owned())).collect()
    }
}

fn reply(mode: Mode, request: &Request, count: usize) -> Reply {
    let token = request.header("private-token");
    let mode = match mode {
        Mode::Busy(first) if count > first => Mode::GitLab,
        mode => mode,
    };
    let (status, extra, body) = match mode {
        Mode::Hang => return Reply::Hang,
        Mode::Reset => return Reply::Reset,
        Mode::TooMany => ("429 Too Many Requests", "Retry-After: 30\r\n", String::new()),
        Mode::Busy(_) => ("429 Too Many Requests", "Retry-After: 1\r\n", String::new()),
        Mode::Unavailable => ("503 Service Unavailable", "", String::new()),
        Mode::Garbage => return Reply::json("200 OK", "{\"name\": ["),
        Mode::Redirect => (
            "302 Found",
            "Location: http://elsewhere.example:8080/api/v4/personal_access_tokens/self\r\n",
            String::new(),
        ),
        Mode::GitLab if token == live_token() => {
            return Reply::json(
                "200 OK",
                r#"{"id":42,"name":"ci-deploy","revoked":false,"created_at":"2026-01-05T10:00:00.000Z","scopes":["api","read_repository"],"user_id":7,"last_used_at":null,"active":true,"expires_at":"2027-01-05"}"#,
            );
        }
        Mode::GitLab => {
            return Reply::json("401 Unauthorized", r#"{"message":"401 Unauthorized"}"#);
        }
    };
    Reply::Answer(status, extra.to_owned(), body)
}

/// A tree with the live token three times (two files) and the dead one once.
fn tree() -> TestEnv {
    let env = TestEnv::new();
    env.file("a.env", format!("GITLAB_TOKEN={}\nOTHER={}\n", live_token(), dead_token()));
    env.file("b.env", format!("TOKEN={}\n", live_token()));
    env.file("c.env", format!("token: {}\n", live_token()));
    env
}

fn status_of(doc: &serde_json::Value, secret_file: &str) -> Vec<String> {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["path"].as_str().is_some_and(|p| p.ends_with(secret_file)))
        .map(|f| f["verification"]["status"].as_str().unwrap_or("absent").to_owned())
        .collect()
}

#[test]
fn verify_checks_each_distinct_gitlab_token_once() {
    let gitlab = FakeGitLab::start(Mode::GitLab);
    let env = tree();
    let (code, doc) = env.json(&["dir", ".", "--verify", "--gitlab-url", &gitlab.url()]);
    assert_eq!(code, 1, "{doc}");
    let findings = doc["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 4, "{doc}");
    let requests = gitlab.requests();
    assert_eq!(requests.len(), 2, "one request per distinct secret: {requests:?}");
    assert!(
        requests
            .iter()
            .all(|(line, _)| line.starts_with("GET /api/v4/personal_access_tokens/self "))
    );
    for f in findings {
        let v = &f["verification"];
        // Secrets are redacted in the report: the dead token is the second line of a.env.
        let live = !(f["path"] == "a.env" && f["line"] == 2);
        if live {
            assert_eq!(v["status"], "verified", "{f}");
            assert_eq!(
                v["identity"],
                "ci-deploy (scopes: api, read_repository; expires: 2027-01-05; user id 7)"
            );
        } else {
            assert_eq!(v["status"], "invalid", "{f}");
            assert!(v["detail"].as_str().expect("detail").contains("HTTP 401"), "{f}");
        }
        assert!(v["checked_at"].as_str().expect("checked_at").ends_with('Z'));
    }
    let text = serde_json::to_string(&doc).expect("json");
    assert!(!text.contains(&live_token()) && !text.contains(&dead_token()), "secrets redacted");
}

#[test]
fn without_verify_nothing_is_sent_and_reports_are_unchanged() {
    let gitlab = FakeGitLab::start(Mode::GitLab);
    let env = tree();
    let out = env
        .cmd()
        .args(["dir", ".", "--format", "json"])
        .env("LEAKHOUND_VERIFY_GITLAB_URL", gitlab.url())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("verification"));
    assert!(gitlab.requests().is_empty());
    // The test-only endpoint override stands for gitlab.com, the provider's own host.
    let out = env
        .cmd()
        .args(["dir", ".", "--verify", "--format", "json"])
        .env("LEAKHOUND_VERIFY_GITLAB_URL", gitlab.url())
        .output()
        .expect("run");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(status_of(&doc, "b.env"), ["verified"]);
}

#[test]
fn misbehaving_verifier_servers_leave_findings_unverified_with_the_reason() {
    for (mode, reason) in [
        (Mode::Hang, "no answer within 1 s"),
        (Mode::Reset, "connect"),
        (Mode::TooMany, "rate limited (HTTP 429, Retry-After: 30)"),
        (Mode::Unavailable, "HTTP 503"),
        (Mode::Garbage, "unexpected answer"),
        (
            Mode::Redirect,
            "redirect to http://elsewhere.example:8080/api/v4/personal_access_tokens/self not followed",
        ),
    ] {
        let gitlab = FakeGitLab::start(mode);
        let env = tree();
        let (code, doc) = env.json(&[
            "dir",
            ".",
            "--verify",
            "--verify-timeout",
            "1",
            "--gitlab-url",
            &gitlab.url(),
        ]);
        assert_eq!(code, 1, "findings decide the exit code, not verification: {doc}");
        let findings = doc["findings"].as_array().expect("findings");
        assert_eq!(findings.len(), 4);
        for f in findings {
            assert_eq!(f["verification"]["status"], "unverified", "{f}");
            let detail = f["verification"]["detail"].as_str().expect("detail");
            assert!(
                detail.contains(reason) || (reason == "connect" && !detail.is_empty()),
                "{reason}: {detail}"
            );
        }
        assert!(doc["errors"].as_array().is_none_or(Vec::is_empty), "{doc}");
    }
}

#[test]
fn config_in_scanned_tree_cannot_allow_a_verify_host() {
    let gitlab = FakeGitLab::start(Mode::GitLab);
    let at = format!("127.0.0.1:{}", gitlab.0.port);
    let env = tree();
    git(env.path(), &["init", "-q"]);
    git(env.path(), &["remote", "add", "origin", &format!("{}/group/app.git", gitlab.url())]);
    env.file(".leakhound.toml", format!("[verify]\nallow_hosts = [\"{at}\"]\n"));
    let (code, doc) = env.json(&["dir", ".", "--verify"]);
    assert_eq!(code, 1);
    for f in doc["findings"].as_array().expect("findings") {
        assert_eq!(f["verification"]["status"], "unverified", "{f}");
        let detail = f["verification"]["detail"].as_str().expect("detail");
        assert!(detail.contains(&format!("host not allowed: {at}")), "{detail}");
        assert!(detail.contains(&format!("--verify-host={at}")), "{detail}");
    }
    assert!(gitlab.requests().is_empty(), "nothing may be sent to a host the scanned tree named");

    // The user may allow it: on the command line, or in the config given with --config.
    let (_, doc) = env.json(&["dir", ".", "--verify", &format!("--verify-host={at}")]);
    assert_eq!(status_of(&doc, "b.env"), ["verified"]);
    let outside = TestEnv::new();
    let config = outside.file("ci.toml", format!("[verify]\nallow_hosts = [\"{at}\"]\n"));
    let (_, doc) = env.json(&["dir", ".", "--verify", "--config", config.to_str().expect("utf-8")]);
    assert_eq!(status_of(&doc, "b.env"), ["verified"]);
}

#[test]
fn only_verified_reports_live_findings_and_counts_the_rest() {
    let gitlab = FakeGitLab::start(Mode::GitLab);
    let env = tree();
    let (code, doc) =
        env.json(&["dir", ".", "--verify", "--only-verified", "--gitlab-url", &gitlab.url()]);
    assert_eq!(code, 1, "{doc}");
    let findings = doc["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 3, "the three live ones: {doc}");
    assert!(findings.iter().all(|f| f["verification"]["status"] == "verified"));
    assert_eq!(doc["stats"]["not_verified"], 1);
    assert_eq!(doc["stats"]["findings"], 3);
    let out = env.run(&["dir", ".", "--verify", "--only-verified", "--gitlab-url", &gitlab.url()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[LIVE]") && text.contains("1 not verified live"), "{text}");
    // Nothing live (the service is down): nothing reported, exit 0.
    let down = FakeGitLab::start(Mode::Unavailable);
    let (code, doc) =
        env.json(&["dir", ".", "--verify", "--only-verified", "--gitlab-url", &down.url()]);
    assert_eq!((code, doc["stats"]["not_verified"].as_u64()), (0, Some(4)), "{doc}");
    // The option means nothing without --verify: a usage error, not a silently empty report.
    assert_eq!(env.run(&["dir", ".", "--only-verified"]).status.code(), Some(2));
}

#[test]
fn fail_on_verified_exits_1_only_for_live_secrets() {
    let gitlab = FakeGitLab::start(Mode::GitLab);
    let dead = TestEnv::new();
    dead.file("a.env", format!("GITLAB_TOKEN={}\n", dead_token()));
    let url = gitlab.url();
    let fail_on = |env: &TestEnv, what: &str| {
        env.json(&["dir", ".", "--verify", "--fail-on", what, "--gitlab-url", &url])
    };
    let (code, doc) = fail_on(&dead, "verified");
    assert_eq!(code, 0, "a dead key does not page: {doc}");
    assert_eq!(doc["findings"][0]["verification"]["status"], "invalid", "still reported: {doc}");
    assert_eq!(fail_on(&dead, "any").0, 1);
    assert_eq!(fail_on(&tree(), "verified").0, 1, "a live key pages");
    // An incomplete scan still exits 2.
    let (code, doc) = dead.json(&[
        "dir",
        ".",
        "missing",
        "--verify",
        "--fail-on",
        "verified",
        "--gitlab-url",
        &gitlab.url(),
    ]);
    assert_eq!(code, 2, "{doc}");
    let out = dead.run(&["dir", ".", "--fail-on", "verified"]);
    assert_eq!(out.status.code(), Some(2), "--fail-on verified needs --verify");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--verify"));
}

#[test]
fn baseline_keeps_the_verification_status_and_still_reads_back() {
    let gitlab = FakeGitLab::start(Mode::GitLab);
    let env = tree();
    let out = env.run(&[
        "baseline",
        "-o",
        "base.json",
        "dir",
        ".",
        "--verify",
        "--gitlab-url",
        &gitlab.url(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let base: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path().join("base.json")).expect("read"))
            .expect("json");
    let mut statuses = status_of(&base, ".env");
    statuses.sort();
    assert_eq!(statuses, ["invalid", "verified", "verified", "verified"], "{base}");
    assert!(base["findings"][0]["verification"]["checked_at"].is_string());
    // The baseline with its statuses is still a baseline: it suppresses every finding.
    let (code, doc) = env.json(&["dir", ".", "--baseline", "base.json"]);
    assert_eq!((code, doc["stats"]["suppressed"].as_u64()), (0, Some(4)), "{doc}");
}

#[test]
fn merge_verifies_the_shards_findings_and_a_shard_refuses_to() {
    use crate::registry::{Entry, Mode as RegistryMode, Registry, layer_tar};
    let registry = Registry::start(RegistryMode::Plain);
    let pusher = crate::sweep_registry::Pusher::new(&format!("http://{}", registry.addr));
    for (repo, token) in
        [("team/a", live_token()), ("team/b", dead_token()), ("team/c", live_token())]
    {
        let layer = layer_tar(&[Entry::File("app/.env".into(), format!("TOKEN={token}\n").into())]);
        pusher.image(repo, "v1", &[layer], &[], "amd64");
    }
    let gitlab = FakeGitLab::start(Mode::GitLab);
    let env = TestEnv::new();
    let sweep = |extra: &[&str]| {
        let mut args = vec!["sweep", registry.addr.as_str(), "--insecure-registry"];
        args.extend(extra);
        env.run(&args)
    };
    let out = sweep(&["--shard", "0/2", "--report", "s0.json", "--verify"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass it to `leakhound merge`"));
    for (shard, report) in [("0/2", "s0.json"), ("1/2", "s1.json")] {
        let out = sweep(&["--shard", shard, "--report", report]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let (code, doc) = env.json(&[
        "merge",
        "s0.json",
        "s1.json",
        "--verify",
        "--fail-on",
        "verified",
        "--gitlab-url",
        &gitlab.url(),
    ]);
    assert_eq!(code, 1, "{doc}");
    let findings = doc["findings"].as_array().expect("findings");
    let mut statuses: Vec<&str> =
        findings.iter().map(|f| f["verification"]["status"].as_str().expect("status")).collect();
    statuses.sort_unstable();
    // The same live token in two images is one finding with an occurrence (or two findings):
    // either way every finding carries its status, and each distinct secret was checked once.
    assert!(statuses.contains(&"verified") && statuses.contains(&"invalid"), "{doc}");
    assert_eq!(gitlab.requests().len(), 2, "{:?}", gitlab.requests());
    let (code, doc) = env.json(&[
        "merge",
        "s0.json",
        "s1.json",
        "--verify",
        "--only-verified",
        "--gitlab-url",
        &gitlab.url(),
    ]);
    assert_eq!(code, 1);
    assert!(
        doc["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .all(|f| f["verification"]["status"] == "verified")
    );
    assert_eq!(doc["stats"]["not_verified"], 1, "{doc}");
}

#[test]
fn rate_limited_checks_back_off_retry_and_never_read_as_invalid() {
    let one = TestEnv::new();
    one.file("a.env", format!("GITLAB_TOKEN={}\n", live_token()));
    // Two 429s with Retry-After: 1, then an answer: the third try verifies.
    let gitlab = FakeGitLab::start(Mode::Busy(2));
    let started = std::time::Instant::now();
    let (code, doc) = one.json(&["dir", ".", "--verify", "--gitlab-url", &gitlab.url()]);
    assert_eq!(code, 1);
    assert_eq!(doc["findings"][0]["verification"]["status"], "verified", "{doc}");
    assert_eq!(gitlab.requests().len(), 3);
    assert!(started.elapsed() >= Duration::from_secs(2), "it waited as Retry-After asked");
    // Still limited after three tries: unverified with the reason, and no fourth request.
    let gitlab = FakeGitLab::start(Mode::Busy(usize::MAX));
    let (code, doc) = one.json(&["dir", ".", "--verify", "--gitlab-url", &gitlab.url()]);
    assert_eq!(code, 1, "findings decide the exit code: {doc}");
    let v = &doc["findings"][0]["verification"];
    assert_eq!(v["status"], "unverified", "{doc}");
    let detail = v["detail"].as_str().expect("detail");
    assert!(detail.contains("rate limited (HTTP 429, Retry-After: 1) after 3 tries"), "{detail}");
    assert_eq!(gitlab.requests().len(), 3, "bounded retries");
    // A Retry-After longer than the check may take is not waited for.
    let gitlab = FakeGitLab::start(Mode::Busy(usize::MAX));
    let (_, doc) =
        one.json(&["dir", ".", "--verify", "--verify-timeout", "1", "--gitlab-url", &gitlab.url()]);
    let detail = doc["findings"][0]["verification"]["detail"].as_str().expect("detail");
    assert!(detail.ends_with("rate limited (HTTP 429, Retry-After: 1)"), "{detail}");
    assert_eq!(gitlab.requests().len(), 1);
}
