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

/// Each bearer "who am I" row: (rule, endpoint override, request line start, documented answer,
/// identity leakhound must read from it).
const BEARER_ROWS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "openai.api-key",
        "LEAKHOUND_VERIFY_OPENAI_URL",
        "GET /v1/models ",
        r#"{"object":"list","data":[{"id":"gpt-4o"},{"id":"gpt-4o-mini"}]}"#,
        "OpenAI API key (2 models available)",
    ),
    (
        "groq.api-key",
        "LEAKHOUND_VERIFY_GROQ_URL",
        "GET /openai/v1/models ",
        r#"{"object":"list","data":[{"id":"llama-3.3-70b-versatile"}]}"#,
        "Groq API key (1 models available)",
    ),
    (
        "mistral.api-key",
        "LEAKHOUND_VERIFY_MISTRAL_URL",
        "GET /v1/models ",
        r#"{"object":"list","data":[{"id":"mistral-small-latest"},{"id":"codestral-latest"},{"id":"mistral-embed"}]}"#,
        "Mistral API key (3 models available)",
    ),
    (
        "replicate.api-token",
        "LEAKHOUND_VERIFY_REPLICATE_URL",
        "GET /v1/account ",
        r#"{"type":"organization","username":"acme-ml","name":"Acme ML"}"#,
        "Replicate organization acme-ml",
    ),
    (
        "digitalocean.personal-access-token",
        "LEAKHOUND_VERIFY_DIGITALOCEAN_URL",
        "GET /v2/account ",
        r#"{"account":{"droplet_limit":25,"email":"ops@acme.test","uuid":"b6fr89dbf6d9156cace5f3c78dc9851d957381ef","email_verified":true,"status":"active"}}"#,
        "DigitalOcean account ops@acme.test (active)",
    ),
    (
        "vercel.token",
        "LEAKHOUND_VERIFY_VERCEL_URL",
        "GET /v2/user ",
        r#"{"user":{"id":"AEIIDYVk59zbFF2Sxfyxxmua","username":"acme-deploy","email":"deploy@acme.test"}}"#,
        "Vercel user acme-deploy (deploy@acme.test)",
    ),
    (
        "netlify.token",
        "LEAKHOUND_VERIFY_NETLIFY_URL",
        "GET /api/v1/user ",
        r#"{"id":"5c3bd11d","full_name":"Site Bot","email":"sites@acme.test"}"#,
        "Netlify user sites@acme.test (Site Bot)",
    ),
    (
        "doppler.token",
        "LEAKHOUND_VERIFY_DOPPLER_URL",
        "GET /v3/me ",
        r#"{"name":"ci-reader","type":"service_token","workplace":{"slug":"acme","name":"Acme"}}"#,
        "Doppler service_token ci-reader in Acme",
    ),
    (
        "stripe.secret-key",
        "LEAKHOUND_VERIFY_STRIPE_URL",
        "GET /v1/account ",
        r#"{"id":"acct_1Nv0FGQ9RKHgCVdK","object":"account","email":"billing@acme.test"}"#,
        "Stripe account acct_1Nv0FGQ9RKHgCVdK (billing@acme.test)",
    ),
    (
        "sendgrid.api-key",
        "LEAKHOUND_VERIFY_SENDGRID_URL",
        "GET /v3/scopes ",
        r#"{"scopes":["mail.send","alerts.read"]}"#,
        "SendGrid API key (2 scopes)",
    ),
];

/// The secret each rule's first catalog example holds, as a plain scan reports it.
fn catalog_secrets(env: &TestEnv) -> Vec<(String, String)> {
    let listed = env.run(&["rules", "list", "--format", "json"]);
    let rules: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("rules JSON");
    for (rule, ..) in BEARER_ROWS {
        let example = rules
            .as_array()
            .expect("rules")
            .iter()
            .find(|r| r["id"] == *rule)
            .and_then(|r| r["examples"][0].as_str())
            .unwrap_or_else(|| panic!("{rule} has an example"));
        env.file(&format!("{rule}.env"), format!("{example}\n"));
    }
    let (_, doc) = env.json(&["dir", ".", "--show-secrets"]);
    BEARER_ROWS
        .iter()
        .map(|(rule, ..)| {
            let path = format!("{rule}.env");
            let found = doc["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .find(|f| f["path"] == path.as_str() && f["rule_id"] == *rule)
                .unwrap_or_else(|| panic!("{rule}'s example is found: {doc}"));
            (path, found["secret"].as_str().expect("secret").to_owned())
        })
        .collect()
}

#[test]
fn bearer_services_are_checked_with_their_documented_who_am_i_calls() {
    let env = TestEnv::new();
    let secrets = catalog_secrets(&env);
    let live = secrets.clone();
    // Each row's answer only for its own token on its own path; everything else is rejected.
    let api = FakeApi::start(move |request, _| {
        for ((_, _, line, body, _), (_, secret)) in BEARER_ROWS.iter().zip(&live) {
            if request.line.starts_with(line)
                && request.header("authorization") == format!("Bearer {secret}")
            {
                return Reply::json("200 OK", body);
            }
        }
        Reply::json("401 Unauthorized", r#"{"error":"invalid credentials"}"#)
    });
    let fakes: Vec<(&str, &FakeApi)> = BEARER_ROWS.iter().map(|row| (row.1, &api)).collect();
    let (_, doc) = verify_with(&env, &fakes);
    for ((rule, _, _, _, identity), (path, _)) in BEARER_ROWS.iter().zip(&secrets) {
        let v = doc["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["path"] == path.as_str() && f["rule_id"] == *rule)
            .map_or_else(|| panic!("{rule}: {doc}"), |f| &f["verification"]);
        assert_eq!(
            (v["status"].as_str(), v["identity"].as_str()),
            (Some("verified"), Some(*identity)),
            "{rule}: {v}"
        );
    }
    assert_eq!(api.requests().len(), BEARER_ROWS.len(), "one check per distinct secret");
}
