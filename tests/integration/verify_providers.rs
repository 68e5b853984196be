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

/// `dir . --verify --format json` with each endpoint override aimed at its fake; findings exit 1.
fn verify_with(
    env: &TestEnv,
    fakes: &[(&str, &FakeApi)],
) -> (std::process::Output, serde_json::Value) {
    let mut cmd = env.cmd();
    cmd.args(["dir", ".", "--verify", "--format", "json"]);
    for (var, fake) in fakes {
        cmd.env(var, fake.url());
    }
    let out = cmd.output().expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let doc = serde_json::from_slice(&out.stdout).expect("json");
    (out, doc)
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
    let (out, doc) = verify_with(
        &env,
        &[("LEAKHOUND_VERIFY_GITHUB_URL", &github), ("LEAKHOUND_VERIFY_SLACK_URL", &slack_fake)],
    );

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

/// npm tokens with valid checksums (`npm_` + 30 random + 6 base62 CRC32 characters).
fn npm(live: bool) -> String {
    let body = if live {
        "Tq8Mz3Kw7Rb2Xn6Hv9Lp4Jc5Fd1Gs04AEbSi"
    } else {
        "Wm4Pv8Qz2Kt6Rn9Xb3Hc7Lj5Df1Gy00XPAET"
    };
    format!("npm_{body}")
}

/// Hugging Face user access tokens (`hf_` + 34 letters).
fn hugging_face(live: bool) -> String {
    let body = if live {
        "QmRtXvKpLwZnHbJcTdFsGyWqPeNaUoMiBk"
    } else {
        "ZxWqTnLpRvKbMhYcJdGfSsAeUoPiNmQrTb"
    };
    format!("hf_{body}")
}

/// npm's `/-/whoami` and Hugging Face's `/api/whoami-v2`, on one fake (the paths differ).
fn whoami_api(request: &Request, _: usize) -> Reply {
    let auth = request.header("authorization");
    if request.line.starts_with("GET /-/whoami ") && auth == format!("Bearer {}", npm(true)) {
        return Reply::json("200 OK", r#"{"username":"release-bot"}"#);
    }
    if request.line.starts_with("GET /api/whoami-v2 ")
        && auth == format!("Bearer {}", hugging_face(true))
    {
        return Reply::json(
            "200 OK",
            r#"{"type":"user","id":"64f0c0ffee","name":"ml-team-bot","fullname":"ML bot","orgs":[],"auth":{"type":"access_token","accessToken":{"displayName":"ci-read","role":"read"}}}"#,
        );
    }
    Reply::json("401 Unauthorized", r#"{"error":"Invalid credentials in Authorization header"}"#)
}

#[test]
fn npm_and_hugging_face_tokens_are_checked_with_their_whoami_calls() {
    let api = FakeApi::start(whoami_api);
    let env = TestEnv::new();
    env.file("npm-live.env", format!("NPM_TOKEN={}\n", npm(true)));
    env.file("npm-dead.env", format!("NPM_TOKEN={}\n", npm(false)));
    env.file("hf-live.env", format!("HF_TOKEN={}\n", hugging_face(true)));
    env.file("hf-dead.env", format!("HF_TOKEN={}\n", hugging_face(false)));
    let (_, doc) = verify_with(
        &env,
        &[("LEAKHOUND_VERIFY_NPM_URL", &api), ("LEAKHOUND_VERIFY_HUGGINGFACE_URL", &api)],
    );
    assert_eq!(verification(&doc, "npm-live.env")["identity"], "npm user release-bot", "{doc}");
    assert_eq!(
        verification(&doc, "hf-live.env")["identity"],
        "user ml-team-bot (token ci-read, role read)"
    );
    for dead in ["npm-dead.env", "hf-dead.env"] {
        assert_eq!(verification(&doc, dead)["status"], "invalid", "{doc}");
    }
    assert_eq!(api.requests().len(), 4);
}
