//! `--verify` (#16) of Anthropic, Datadog, Telegram, Discord and Cloudflare credentials against a
//! fake on 127.0.0.1 that follows each provider's documented request and response shapes
//! (the real APIs cannot be reached here), through the test-only endpoint overrides:
//! - Anthropic `GET /v1/models` with `x-api-key` and `anthropic-version`: `{"data": [...]}`,
//!   401 `authentication_error` otherwise;
//! - Datadog `GET /api/v1/validate` with `DD-API-KEY`: `{"valid": true}`, 403 otherwise;
//! - Telegram `GET /bot<token>/getMe`: `{"ok": true, "result": {...}}`, 401 otherwise;
//! - Discord `GET /api/v10/users/@me` with `Authorization: Bot …`: the bot user, 401 otherwise;
//! - Cloudflare `GET /client/v4/user/tokens/verify`: `{"result": {"id", "status"}}`, 401 otherwise.

use crate::common::TestEnv;
use crate::fake_api::{FakeApi, Reply, Request};
use crate::registry::{Compression, Entry, ImageSpec, Layout, layer_tar};

/// Each provider's live and dead credential, in the documented formats (random, made up).
const ANTHROPIC: [&str; 2] = [
    concat!(
        "sk-ant-api03-",
        "UrKLuOsPU6Ty6X8uuDmNy1rJqDGN0jeFfiWaQuk3ew_3JDC0SkUaaGv9XVVstRZ4U-ElkoAlsVeTMR76QyPXkI8gPlBvJAA"
    ),
    concat!(
        "sk-ant-api03-",
        "qYsedJ1ptdthRADjjRg7Ur9V5UFE2lpYt_P2Ak6ffE6gcc6IWQYATxeVWMoIiHpSyrSdDdlg-5Z2CrXfKXGf9jTlqvmQTAA"
    ),
];
const DATADOG: [&str; 2] = [
    concat!("3ff79aa03494b499", "0e60dc01a9698b98"),
    concat!("35bc8426af5440d5", "3e3156f8e9925619"),
];
const TELEGRAM: [&str; 2] = [
    concat!("7680674402:", "AAuBWt2qPGHN3oI0QN23ZB4q5avFZEvadd3"),
    concat!("6531180943:", "AAdLwpx5FRTrD4q11XxeiDxNsC_soVvlm4g"),
];
const DISCORD: [&str; 2] = [
    concat!("MTA2NTQxMjM0OTU3MTg0MjEwOA", ".iqLWo6.ESVQSp46tQ0zAa0Ddr47Btu2TDfcMfjdSVLciw"),
    concat!("MTE4NzMyOTQ1NjAxMjM0ODcyMQ", ".biw5i5.Bng8TuF9UgGK6l95Jfiy8altmZ70RLfuwHKXaW"),
];
/// Live, dead, and known to Cloudflare but expired.
const CLOUDFLARE: [&str; 3] = [
    concat!("iE1_MfqAmhTrQh4HfBOG", "JHp27lMnqhFc4ednqsJt"),
    concat!("aFGBzGJu5C6dvSBB_jcZ", "geiQpLMY7jQK47wEeprH"),
    concat!("Wq8xT2nLp5Rv9Kb3Mh7Y", "c4Jd6Gf1Ss0AeUoPiNmQ"),
];

/// The providers' documented answers, each only to its own live credential on its own path.
fn providers(request: &Request, _: usize) -> Reply {
    let line = request.line.as_str();
    let auth = request.header("authorization");
    if line.starts_with("GET /v1/models ") {
        if request.header("x-api-key") == ANTHROPIC[0]
            && request.header("anthropic-version") == "2023-06-01"
        {
            return Reply::json(
                "200 OK",
                r#"{"data":[{"type":"model","id":"claude-sonnet-4-5","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"}],"has_more":false,"first_id":"claude-sonnet-4-5","last_id":"claude-sonnet-4-5"}"#,
            );
        }
        return Reply::json(
            "401 Unauthorized",
            r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
        );
    }
    if line.starts_with("GET /api/v1/validate ") {
        if request.header("dd-api-key") == DATADOG[0] {
            return Reply::json("200 OK", r#"{"valid":true}"#);
        }
        return Reply::json("403 Forbidden", r#"{"errors":["Forbidden"]}"#);
    }
    if line.starts_with(&format!("GET /bot{}/getMe ", TELEGRAM[0])) {
        return Reply::json(
            "200 OK",
            r#"{"ok":true,"result":{"id":7680674402,"is_bot":true,"first_name":"Deploy notifier","username":"acme_deploy_bot","can_join_groups":true}}"#,
        );
    }
    if line.starts_with("GET /bot") {
        return Reply::json(
            "401 Unauthorized",
            r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#,
        );
    }
    if line.starts_with("GET /api/v10/users/@me ") {
        if auth == format!("Bot {}", DISCORD[0]) {
            return Reply::json(
                "200 OK",
                r#"{"id":"1065412349571842108","username":"acme-moderator","discriminator":"0","global_name":null,"bot":true}"#,
            );
        }
        return Reply::json("401 Unauthorized", r#"{"message":"401: Unauthorized","code":0}"#);
    }
    if line.starts_with("GET /client/v4/user/tokens/verify ") {
        let (id, status) = if auth == format!("Bearer {}", CLOUDFLARE[0]) {
            ("f267e341f3dd4697bd3b9f71dd96247f", "active")
        } else if auth == format!("Bearer {}", CLOUDFLARE[2]) {
            ("0b1e5c7d9a2f4e6b8c3d5f7a9b1c3e5d", "expired")
        } else {
            return Reply::json(
                "401 Unauthorized",
                r#"{"success":false,"errors":[{"code":1000,"message":"Invalid API Token"}],"messages":[],"result":null}"#,
            );
        };
        return Reply::json(
            "200 OK",
            &format!(
                r#"{{"success":true,"errors":[],"messages":[{{"code":10000,"message":"This API Token is valid and active"}}],"result":{{"id":"{id}","status":"{status}","expires_on":"2027-01-01T00:00:00Z"}}}}"#
            ),
        );
    }
    Reply::json("404 Not Found", "{}")
}

/// The verification of the one finding in `path`.
fn verification(doc: &serde_json::Value, path: &str) -> serde_json::Value {
    let findings = doc["findings"].as_array().expect("findings");
    let found: Vec<_> = findings.iter().filter(|f| f["path"] == path).collect();
    assert_eq!(found.len(), 1, "{path}: {doc}");
    found[0]["verification"].clone()
}

#[test]
fn anthropic_datadog_telegram_discord_and_cloudflare_are_checked_with_their_documented_calls() {
    let api = FakeApi::start(providers);
    let env = TestEnv::new();
    for (name, keys, line) in [
        ("anthropic", &ANTHROPIC[..], "ANTHROPIC_API_KEY="),
        ("datadog", &DATADOG[..], "DD_API_KEY="),
        ("telegram", &TELEGRAM[..], "TELEGRAM_BOT_TOKEN="),
        ("discord", &DISCORD[..], "DISCORD_TOKEN="),
        ("cloudflare", &CLOUDFLARE[..], "CLOUDFLARE_API_TOKEN="),
    ] {
        for (i, key) in keys.iter().enumerate() {
            env.file(&format!("{name}-{i}.env"), format!("{line}{key}\n"));
        }
    }
    let mut cmd = env.cmd();
    cmd.args(["dir", ".", "--verify", "--format", "json"]);
    for var in ["ANTHROPIC", "DATADOG", "TELEGRAM", "DISCORD", "CLOUDFLARE"] {
        cmd.env(format!("LEAKHOUND_VERIFY_{var}_URL"), api.url());
    }
    let out = cmd.output().expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");

    for (path, identity) in [
        ("anthropic-0.env", "Anthropic API key (1 models available)"),
        ("datadog-0.env", "Datadog API key"),
        ("telegram-0.env", "Telegram bot @acme_deploy_bot (id 7680674402)"),
        ("discord-0.env", "Discord bot acme-moderator (id 1065412349571842108)"),
        (
            "cloudflare-0.env",
            "Cloudflare API token f267e341f3dd4697bd3b9f71dd96247f (expires: 2027-01-01T00:00:00Z)",
        ),
    ] {
        let v = verification(&doc, path);
        assert_eq!(
            (v["status"].as_str(), v["identity"].as_str()),
            (Some("verified"), Some(identity)),
            "{path}: {v}"
        );
    }
    for (path, status) in [
        ("anthropic-1.env", "HTTP 401"),
        ("datadog-1.env", "/api/v1/validate: HTTP 403"),
        ("telegram-1.env", "/bot…/getMe: HTTP 401"),
        ("discord-1.env", "HTTP 401"),
        ("cloudflare-1.env", "HTTP 401"),
        ("cloudflare-2.env", "the token is expired"),
    ] {
        let v = verification(&doc, path);
        assert_eq!(v["status"], "invalid", "{path}: {v}");
        let detail = v["detail"].as_str().expect("detail");
        assert!(detail.ends_with(status), "{path}: {detail}");
    }
    // The expired Cloudflare token is still named, for whoever cleans up.
    let expired = verification(&doc, "cloudflare-2.env");
    assert!(
        expired["identity"]
            .as_str()
            .is_some_and(|i| i.contains("0b1e5c7d9a2f4e6b8c3d5f7a9b1c3e5d"))
    );

    let asked = api.requests();
    assert_eq!(
        asked.len(),
        11,
        "one request per distinct secret (Datadog's override is one site): {asked:?}"
    );
    let discord: Vec<_> = asked.iter().filter(|r| r.line.contains("/users/@me")).collect();
    assert!(discord.iter().all(|r| r.header("authorization").starts_with("Bot ")), "{discord:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for secret in [TELEGRAM[0], TELEGRAM[1], DISCORD[0], ANTHROPIC[0], CLOUDFLARE[2]] {
        assert!(!text.contains(secret), "secrets stay redacted, even the one in Telegram's path");
    }
}

#[test]
fn a_telegram_token_never_shows_in_a_failure_detail() {
    // The token is part of the URL: a refused connection must not name it.
    let env = TestEnv::new();
    env.file("bot.env", format!("TELEGRAM_BOT_TOKEN={}\n", TELEGRAM[0]));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let out = env
        .cmd()
        .args(["dir", ".", "--verify", "--format", "json", "--show-secrets"])
        .env("LEAKHOUND_VERIFY_TELEGRAM_URL", format!("http://127.0.0.1:{port}"))
        .output()
        .expect("run");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let v = verification(&doc, "bot.env");
    assert_eq!(v["status"], "unverified", "{v}");
    let detail = v["detail"].as_str().expect("detail");
    assert!(detail.contains("/bot…/getMe") && !detail.contains(TELEGRAM[0]), "{detail}");
}

/// A GitLab personal access token the fake GitLab knows (legacy shape, `glpat-` + 20).
const GLPAT: &str = concat!("glpat-", "Tz8Kq3Vn7Rw2Lp5Xm9Hb");

/// GitLab's documented answers for the personal access token above, a runner authentication
/// token and a CI/CD job token, each live one of its own kind; everything else is rejected as
/// GitLab rejects it (401, or 403 for `runners/verify`).
fn gitlab(request: &Request, _: usize) -> Reply {
    let line = request.line.as_str();
    if line.starts_with("GET /api/v4/personal_access_tokens/self ") {
        if request.header("private-token") == GLPAT {
            return Reply::json(
                "200 OK",
                r#"{"id":9,"name":"release","revoked":false,"scopes":["read_api"],"user_id":3,"active":true,"expires_at":"2027-03-01"}"#,
            );
        }
    } else if line.starts_with("POST /api/v4/runners/verify ") {
        let token = serde_json::from_str::<serde_json::Value>(&request.body)
            .ok()
            .and_then(|b| b["token"].as_str().map(str::to_owned));
        if token.as_deref() == Some(RUNNER[0])
            && request.header("content-type") == "application/json"
        {
            return Reply::json(
                "200 OK",
                &format!(
                    r#"{{"id":12,"token":"{}","token_expires_at":"2027-06-01T00:00:00.000Z"}}"#,
                    RUNNER[0]
                ),
            );
        }
        return Reply::json("403 Forbidden", r#"{"message":"403 Forbidden"}"#);
    } else if line.starts_with("GET /api/v4/job ") && request.header("job-token") == JOB[0] {
        return Reply::json(
            "200 OK",
            r#"{"id":8,"name":"deploy","status":"running","stage":"deploy","ref":"main","tag":false,"web_url":"https://gitlab.example.com/acme/app/-/jobs/8","user":{"id":1,"username":"release-bot","name":"Release bot"},"pipeline":{"id":6,"project_id":1}}"#,
        );
    }
    Reply::json("401 Unauthorized", r#"{"message":"401 Unauthorized"}"#)
}

/// Runner authentication tokens, live and dead (`glrt-` + 20).
const RUNNER: [&str; 2] =
    [concat!("glrt-", "Hq4Zt9Lw2Xk7Pn3Vb8Rm"), concat!("glrt-", "Jd6Fs1Gy5Cv8Nb2Mx4Tq")];
/// CI/CD job tokens, of a running job and of a finished one (`glcbt-64_` + 20).
const JOB: [&str; 2] =
    [concat!("glcbt-64_", "Wk3Rq8Tz5Lm2Vn9Xp4Hj"), concat!("glcbt-64_", "Bc7Dg2Fh6Jk1Lm5Np9Qr")];

#[test]
fn gitlab_runner_and_ci_job_tokens_are_checked_with_their_self_checks() {
    let fake = FakeApi::start(gitlab);
    let env = TestEnv::new();
    env.file("runner-0.toml", format!("token = \"{}\"\n", RUNNER[0]));
    env.file("runner-1.toml", format!("token = \"{}\"\n", RUNNER[1]));
    env.file("job-0.env", format!("CI_JOB_TOKEN={}\n", JOB[0]));
    env.file("job-1.env", format!("CI_JOB_TOKEN={}\n", JOB[1]));
    let (code, doc) = env.json(&["dir", ".", "--verify", "--gitlab-url", &fake.url()]);
    assert_eq!(code, 1, "{doc}");
    let runner = verification(&doc, "runner-0.toml");
    assert_eq!(
        (runner["status"].as_str(), runner["identity"].as_str()),
        (Some("verified"), Some("runner 12 (token expires: 2027-06-01T00:00:00.000Z)")),
        "{runner}"
    );
    let job = verification(&doc, "job-0.env");
    assert_eq!(
        job["identity"],
        "job 8 deploy (running, ref main by release-bot) https://gitlab.example.com/acme/app/-/jobs/8",
        "{job}"
    );
    for (path, why) in [
        ("runner-1.toml", "/api/v4/runners/verify: HTTP 403"),
        ("job-1.env", "/api/v4/job: HTTP 401"),
    ] {
        let v = verification(&doc, path);
        assert_eq!(v["status"], "invalid", "{v}");
        assert!(v["detail"].as_str().is_some_and(|d| d.ends_with(why)), "{v}");
    }
    let asked = fake.requests();
    assert_eq!(asked.len(), 4, "{asked:?}");
    // The runner check names no system_id: GitLab would record a runner manager for one.
    assert!(asked.iter().all(|r| !r.body.contains("system_id")), "{asked:?}");
    let text = serde_json::to_string(&doc).expect("json");
    assert!(!text.contains(RUNNER[0]), "the token GitLab echoes back is not shown");
}

/// A fake GitLab over TLS with a certificate from a test CA, in `dir` (`ca.pem` is the CA).
fn tls_gitlab(dir: &std::path::Path) -> FakeApi {
    crate::registry::ca_and_leaf(dir);
    FakeApi::start_tls(crate::fake_api::tls_config(dir), gitlab)
}

#[test]
fn ca_cert_and_insecure_registry_reach_the_verifier() {
    let certs = tempfile::tempdir().expect("tempdir");
    let fake = tls_gitlab(certs.path());
    let ca = certs.path().join("ca.pem");
    let ca = ca.to_str().expect("utf-8");
    let url = format!("https://127.0.0.1:{}", fake.port);
    let env = TestEnv::new();
    env.file("a.env", format!("GITLAB_TOKEN={GLPAT}\n"));
    let status = |doc: &serde_json::Value| verification(doc, "a.env")["status"].clone();

    let (_, doc) = env.json(&["dir", ".", "--verify", "--gitlab-url", &url]);
    let v = verification(&doc, "a.env");
    assert_eq!(v["status"], "unverified", "an unknown CA fails TLS: {v}");
    assert!(v["detail"].as_str().is_some_and(|d| d.contains("certificate")), "{v}");
    let (_, doc) = env.json(&["dir", ".", "--verify", "--gitlab-url", &url, "--ca-cert", ca]);
    assert_eq!(status(&doc), "verified", "{doc}");

    // `image` passes its TLS settings on: --ca-cert, and --insecure-registry=HOST for that host.
    let layer = layer_tar(&[Entry::File("a.env".into(), format!("GITLAB_TOKEN={GLPAT}\n").into())]);
    let mut layout = Layout::new(&env.path().join("layout"));
    let manifest = layout.manifest(&ImageSpec::new(&[layer], Compression::Gzip));
    layout.tag(manifest, "v1");
    let image = format!("oci:{}:v1", layout.dir.display());
    let host = format!("--insecure-registry=127.0.0.1:{}", fake.port);
    for extra in [&["--ca-cert", ca][..], &[host.as_str()]] {
        let mut args = vec!["image", &image, "--verify", "--gitlab-url", &url];
        args.extend(extra);
        let (code, doc) = env.json(&args);
        assert_eq!(code, 1, "{doc}");
        assert_eq!(doc["findings"][0]["verification"]["status"], "verified", "{extra:?}: {doc}");
    }
    let (_, doc) = env.json(&["image", &image, "--verify", "--gitlab-url", &url]);
    assert_eq!(doc["findings"][0]["verification"]["status"], "unverified", "{doc}");
    assert_eq!(fake.requests().len(), 3, "a failed handshake sends nothing");
}

#[test]
fn retry_after_as_an_http_date_is_waited_for_like_seconds() {
    // 429 with a Retry-After date one second ahead, then GitLab's answer: the second try verifies.
    let fake = FakeApi::start(|request, count| {
        if count == 1 {
            let at = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
            return Reply::Answer(
                "429 Too Many Requests",
                format!("Retry-After: {}\r\n", http_date(at)),
                String::new(),
            );
        }
        gitlab(request, count)
    });
    let env = TestEnv::new();
    env.file("a.env", format!("GITLAB_TOKEN={GLPAT}\n"));
    let started = std::time::Instant::now();
    let (_, doc) = env.json(&["dir", ".", "--verify", "--gitlab-url", &fake.url()]);
    assert_eq!(verification(&doc, "a.env")["status"], "verified", "{doc}");
    assert_eq!(fake.requests().len(), 2);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1), "it waited for the date");
}

/// `at` as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), as `date` writes it.
fn http_date(at: std::time::SystemTime) -> String {
    let secs = at.duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs();
    let out = std::process::Command::new("date")
        .env("LC_ALL", "C")
        .args(["-u", "-d", &format!("@{secs}"), "+%a, %d %b %Y %H:%M:%S GMT"])
        .output()
        .expect("date runs");
    String::from_utf8(out.stdout).expect("utf-8").trim().to_owned()
}

#[test]
fn verification_shows_a_progress_line_only_on_a_terminal() {
    // A GitLab that takes its time, so the line is drawn while checks are in flight.
    let fake = FakeApi::start(|request, count| {
        std::thread::sleep(std::time::Duration::from_millis(400));
        gitlab(request, count)
    });
    let env = TestEnv::new();
    env.file("a.env", format!("GITLAB_TOKEN={GLPAT}\nRUNNER={}\n", RUNNER[1]));
    let args = ["dir", ".", "--verify", "--gitlab-url", &fake.url(), "--format", "json"];
    let plain = env.cmd().args(args).output().expect("run");
    assert_eq!(plain.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&plain.stderr).contains("verifying"), "no terminal, no line");
    // On a terminal (script(1) gives the run a pseudo-terminal): the line, then the report.
    let bin = env.cmd().get_program().to_owned();
    let line = format!("{} {}", bin.to_str().expect("utf-8 path"), args.join(" "));
    let tty = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(env.path())
        .output()
        .expect("script runs");
    let screen = String::from_utf8_lossy(&tty.stdout);
    assert!(screen.contains("verifying") && screen.contains("/2 distinct secrets"), "{screen}");
    assert!(screen.contains("\"verification\""), "the report still follows: {screen}");
}

/// A Twilio account SID and its live and dead auth tokens (random, made up).
const TWILIO_SID: &str = concat!("AC7dc78b4ae5e8e196", "7f9b04237405f508");
const TWILIO: [&str; 2] = [
    concat!("bc6f087a4d8baa40", "9f072fe6f43e30a5"),
    concat!("5a1c9e7b3d2f4a6c", "8e0b1d3f5a7c9e2b"),
];

/// Twilio's documented Account fetch: Basic auth as SID and token, the Account resource, and 401
/// (code 20003) for a token the account does not accept.
fn twilio(request: &Request, _: usize) -> Reply {
    // `TWILIO_SID:TWILIO[0]` in base64, worked out apart from the code under test.
    let expected = concat!(
        "QUM3ZGM3OGI0YWU1ZThlMTk2N2Y5YjA0MjM3NDA1",
        "ZjUwODpiYzZmMDg3YTRkOGJhYTQwOWYwNzJmZTZmNDNlMzBhNQ=="
    );
    if request.line.starts_with(&format!("GET /2010-04-01/Accounts/{TWILIO_SID}.json "))
        && request.header("authorization") == format!("Basic {expected}")
    {
        return Reply::json(
            "200 OK",
            &format!(
                r#"{{"sid":"{TWILIO_SID}","friendly_name":"Acme Notifications","status":"active","type":"Full"}}"#
            ),
        );
    }
    Reply::json(
        "401 Unauthorized",
        r#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#,
    )
}

#[test]
fn twilio_tokens_are_checked_with_the_account_sid_written_beside_them() {
    let api = FakeApi::start(twilio);
    let env = TestEnv::new();
    for (i, token) in TWILIO.iter().enumerate() {
        env.file(
            &format!("app-{i}.py"),
            format!("client = twilio.Client('{TWILIO_SID}', '{token}')\n"),
        );
    }
    // A token with no SID next to it cannot be checked.
    env.file("alone.env", format!("TWILIO_AUTH_TOKEN={}\n", TWILIO[0]));
    let out = env
        .cmd()
        .args(["dir", ".", "--verify", "--format", "json"])
        .env("LEAKHOUND_VERIFY_TWILIO_URL", api.url())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let live = verification(&doc, "app-0.py");
    assert_eq!(live["status"], "verified", "{live}");
    assert_eq!(live["identity"], format!("Twilio account Acme Notifications ({TWILIO_SID})"));
    let dead = verification(&doc, "app-1.py");
    assert_eq!(dead["status"], "invalid", "{dead}");
    let alone = verification(&doc, "alone.env");
    assert_eq!(alone["status"], "unverified", "{alone}");
    assert!(alone["detail"].as_str().is_some_and(|d| d.contains("Account SID")), "{alone}");
    assert_eq!(api.requests().len(), 2, "the token alone sends nothing");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(TWILIO[0]), "redacted");
}
