//! `--verify` of registry credentials (#16) against a real distribution registry
//! ([`crate::registry`], Debian's `docker-registry`): with htpasswd Basic auth, and with the
//! Bearer-token flow Harbor uses (the token server in `registry.rs`). A docker config `auths`
//! entry and a Harbor robot account written next to `docker login HOST` are checked with
//! `GET /v2/` at the registry named next to them.

use leakhound::engine::decode::base64_encode;

use crate::common::TestEnv;
use crate::registry::{Mode, PASSWORD, Registry, USER};

/// A docker config for `registry` with `user:password`.
fn docker_config(registry: &str, user: &str, password: &str) -> String {
    let auth = base64_encode(format!("{user}:{password}").as_bytes());
    format!(
        "{{\n  \"auths\": {{\n    \"{registry}\": {{\n      \"auth\": \"{auth}\"\n    }}\n  }}\n}}\n"
    )
}

/// A tree with a live and a wrong docker config `auth` entry for `registry`, a live
/// `username`/`password` entry, and a Harbor robot login with a wrong secret.
fn tree(registry: &str) -> TestEnv {
    let env = TestEnv::new();
    env.file("live/config.json", docker_config(registry, USER, PASSWORD));
    env.file("wrong/config.json", docker_config(registry, USER, "not-the-fixture-password"));
    env.file(
        "plain/config.json",
        format!(
            r#"{{"auths": {{"{registry}": {{"username": "{USER}", "password": "{PASSWORD}"}}}}}}"#
        ),
    );
    // The old `.dockercfg`: the registries at the top level, an email beside the auth.
    let auth = base64_encode(format!("{USER}:{PASSWORD}").as_bytes());
    env.file(
        "home/.dockercfg",
        format!(r#"{{"{registry}": {{"auth": "{auth}", "email": "ci-bot@builds.internal"}}}}"#),
    );
    env.file(
        "deploy.sh",
        format!("docker login {registry} -u '{USER}' -p {}\n", "Hq4TzX9mWp2LcV7rKd3NsB8yJf5GtA6e"),
    );
    env
}

/// `--verify` of `env` with `allow` listed; each finding's (path, rule, verification).
fn verify(env: &TestEnv, allow: &[String]) -> Vec<(String, String, serde_json::Value)> {
    let mut args = vec!["dir".to_owned(), ".".to_owned(), "--verify".to_owned()];
    args.extend(allow.iter().map(|h| format!("--verify-host={h}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, doc) = env.json(&args);
    assert_eq!(code, 1, "{doc}");
    let text = doc.to_string();
    assert!(!text.contains(PASSWORD), "the password stays redacted: {text}");
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let path = f["path"].as_str().unwrap_or_default().to_owned();
            (path, f["rule_id"].as_str().unwrap_or_default().to_owned(), f["verification"].clone())
        })
        .collect()
}

fn of<'a>(results: &'a [(String, String, serde_json::Value)], path: &str) -> &'a serde_json::Value {
    let found = results.iter().find(|(p, rule, _)| p == path && rule == "docker.config-auth");
    &found.unwrap_or_else(|| panic!("no finding in {path}: {results:?}")).2
}

#[test]
fn registry_credentials_verified_with_basic_auth_and_wrong_ones_invalid() {
    let registry = Registry::start(Mode::Basic);
    let env = tree(&registry.addr);
    // `http://` says the registry speaks plain HTTP; listing it allows the loopback address.
    let results = verify(&env, &[format!("http://{}", registry.addr)]);
    let live = of(&results, "live/config.json");
    assert_eq!(live["status"], "verified", "{results:?}");
    assert_eq!(live["identity"], USER);
    let detail = live["detail"].as_str().expect("detail");
    assert!(detail.contains(&format!("http://{}/v2/", registry.addr)), "{detail}");
    assert!(detail.contains("Basic"), "{detail}");
    assert_eq!(of(&results, "wrong/config.json")["status"], "invalid", "{results:?}");
    assert_eq!(of(&results, "home/.dockercfg")["status"], "verified", "{results:?}");
    let plain = results.iter().find(|(path, _, _)| path == "plain/config.json");
    let plain = plain.unwrap_or_else(|| panic!("username/password entry found: {results:?}"));
    assert_eq!(
        (plain.1.as_str(), &plain.2["status"]),
        ("docker.config-password", &"verified".into())
    );
    let robot = results.iter().find(|(_, rule, _)| rule == "harbor.robot-account");
    let robot = &robot.unwrap_or_else(|| panic!("robot login found: {results:?}")).2;
    assert_eq!(robot["status"], "invalid", "{robot}");
}

#[test]
fn registry_credentials_verified_through_the_bearer_token_flow() {
    let registry = Registry::start(Mode::Token);
    let token_server = registry.token_addr().expect("token server");
    let env = tree(&registry.addr);
    // The token server is another host:port named by the registry's answer: it needs listing too.
    let without_token_server = verify(&env, &[format!("http://{}", registry.addr)]);
    let live = of(&without_token_server, "live/config.json");
    assert_eq!(live["status"], "unverified", "{live}");
    assert!(
        live["detail"]
            .as_str()
            .expect("detail")
            .contains(&format!("host not allowed: {token_server}")),
        "{live}"
    );
    assert_eq!(registry.token_requests_with_credentials(), 0, "nothing sent to the token server");

    let results = verify(&env, &[format!("http://{}", registry.addr), token_server.clone()]);
    let live = of(&results, "live/config.json");
    assert_eq!(live["status"], "verified", "{results:?}");
    assert_eq!(live["identity"], USER);
    assert!(live["detail"].as_str().expect("detail").contains("token"), "{live}");
    let wrong = of(&results, "wrong/config.json");
    assert_eq!(wrong["status"], "invalid", "{wrong}");
    assert!(wrong["detail"].as_str().expect("detail").contains("token server"), "{wrong}");
}

#[test]
fn a_registry_not_written_as_plain_http_is_probed_over_tls_only() {
    let registry = Registry::start(Mode::Basic);
    let env = tree(&registry.addr);
    // Listed, but not as `http://`: the probe is HTTPS, which the plain-HTTP registry cannot
    // answer, so the credentials never travel in the clear.
    let results = verify(&env, std::slice::from_ref(&registry.addr));
    let live = of(&results, "live/config.json");
    assert_eq!(live["status"], "unverified", "{live}");
    assert!(
        live["detail"]
            .as_str()
            .expect("detail")
            .contains(&format!("https://{}/v2/", registry.addr)),
        "{live}"
    );
}
