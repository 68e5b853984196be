//! `--verify` (#16) of GitHub and Slack tokens against fakes on 127.0.0.1 that follow each
//! provider's documented shapes, reached through the test-only endpoint overrides
//! (`LEAKHOUND_VERIFY_GITHUB_URL`, `LEAKHOUND_VERIFY_SLACK_URL`):
//! - GitHub `GET /user`: 200 with the account (`login`, `id`) and the classic token's scopes in
//!   `X-OAuth-Scopes`, 401 `Bad credentials` otherwise;
//! - Slack `POST /api/auth.test`: HTTP 200 either way, `{"ok": true, "user", "team", ...}` or
//!   `{"ok": false, "error": ...}`.

use crate::common::{TestEnv, fake};
use crate::fake_api::{FakeApi, Reply, Request};

/// A second GitHub token with a valid checksum, which the fake does not know.
fn dead_github() -> String {
    format!("ghp_{}", "Vq3Zt8LmRw2Xk9Pn4Hy7Jc6Bf5Ds1G1oBHJa")
}

/// Slack bot tokens of the documented shape (`xoxb-`, numeric ids, then a random part).
fn slack(random: &str) -> String {
    format!("xoxb-{}-{}-{random}", "4829301857364", "5938201746352")
}

fn github_api(request: &Request, _: usize) -> Reply {
    if !request.line.starts_with("GET /user ") {
        return Reply::json("404 Not Found", r#"{"message":"Not Found"}"#);
    }
    if request.header("authorization") == format!("Bearer {}", fake::github_pat()) {
        return Reply::Answer(
            "200 OK",
            "Content-Type: application/json\r\nX-OAuth-Scopes: repo, read:org\r\n".into(),
            r#"{"login":"octocat","id":583231,"type":"User","site_admin":false,"name":"The Octocat"}"#.into(),
        );
    }
    Reply::json(
        "401 Unauthorized",
        r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}"#,
    )
}

fn slack_api(request: &Request, _: usize) -> Reply {
    let auth = request.header("authorization");
    let body = if auth == format!("Bearer {}", slack("Qm7Rt2Xv9Kp4Lw8Zn3Hb6Jc1")) {
        r#"{"ok":true,"url":"https://acme-corp.slack.com/","team":"Acme Corp","user":"deploy-bot","team_id":"T0A1B2C3D","user_id":"U0A1B2C3D","bot_id":"B0A1B2C3D","is_enterprise_install":false}"#
    } else if auth == format!("Bearer {}", slack("Zx4Wq8Tn2Lp6Rv9Kb3Mh7Yc5")) {
        r#"{"ok":false,"error":"fatal_error"}"#
    } else {
        r#"{"ok":false,"error":"token_revoked"}"#
    };
    if !request.line.starts_with("POST /api/auth.test ") {
        return Reply::json("404 Not Found", r#"{"ok":false,"error":"unknown_method"}"#);
    }
    Reply::json("200 OK", body)
}

fn verification<'a>(doc: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    let findings = doc["findings"].as_array().expect("findings");
    let f = findings.iter().find(|f| f["path"] == path).unwrap_or_else(|| panic!("{path}: {doc}"));
    &f["verification"]
}

#[test]
fn github_and_slack_tokens_are_checked_with_their_who_am_i_calls() {
    let github = FakeApi::start(github_api);
    let slack_fake = FakeApi::start(slack_api);
    let env = TestEnv::new();
    env.file("live.env", format!("GITHUB_TOKEN={}\n", fake::github_pat()));
    env.file("dead.env", format!("GITHUB_TOKEN={}\n", dead_github()));
    env.file("bot.env", format!("SLACK_BOT_TOKEN={}\n", slack("Qm7Rt2Xv9Kp4Lw8Zn3Hb6Jc1")));
    env.file("old.env", format!("SLACK_BOT_TOKEN={}\n", slack("Hd5Jw9Pq3Tx7Nc2Vm6Lr8Kf4")));
    env.file("odd.env", format!("SLACK_BOT_TOKEN={}\n", slack("Zx4Wq8Tn2Lp6Rv9Kb3Mh7Yc5")));
    let out = env
        .cmd()
        .args(["dir", ".", "--verify", "--format", "json"])
        .env("LEAKHOUND_VERIFY_GITHUB_URL", github.url())
        .env("LEAKHOUND_VERIFY_SLACK_URL", slack_fake.url())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");

    let live = verification(&doc, "live.env");
    assert_eq!(live["status"], "verified", "{doc}");
    assert_eq!(live["identity"], "octocat (user id 583231; scopes: repo, read:org)");
    let dead = verification(&doc, "dead.env");
    assert_eq!(dead["status"], "invalid");
    assert!(dead["detail"].as_str().is_some_and(|d| d.ends_with("/user: HTTP 401")), "{dead}");
    let asked = github.requests();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked.iter().all(|r| r.header("accept") == "application/vnd.github+json"));

    let bot = verification(&doc, "bot.env");
    assert_eq!(bot["status"], "verified", "{doc}");
    assert_eq!(
        bot["identity"],
        "bot deploy-bot (U0A1B2C3D) in Acme Corp (T0A1B2C3D, https://acme-corp.slack.com/)"
    );
    let old = verification(&doc, "old.env");
    assert_eq!(
        (&old["status"], old["detail"].as_str().map(|d| d.ends_with(": token_revoked"))),
        (&"invalid".into(), Some(true)),
        "{old}"
    );
    let odd = verification(&doc, "odd.env");
    assert_eq!(odd["status"], "unverified", "an error that is not about the token: {odd}");
    assert!(odd["detail"].as_str().is_some_and(|d| d.contains("fatal_error")));
    assert_eq!(slack_fake.requests().len(), 3);

    let text = String::from_utf8_lossy(&out.stdout);
    for secret in [fake::github_pat(), dead_github(), slack("Qm7Rt2Xv9Kp4Lw8Zn3Hb6Jc1")] {
        assert!(!text.contains(&secret), "secrets stay redacted");
    }
}
