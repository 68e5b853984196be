//! Registry credentials: `--username`/`--password-stdin`, then `LEAKHOUND_REGISTRY_USER` /
//! `LEAKHOUND_REGISTRY_PASSWORD`, then the user's docker `config.json` (`credHelpers`,
//! `auths`, `credsStore`), else anonymous. Credentials never reach a message or a log: their
//! `Debug` is redacted and errors name only the registry and the helper.
//!
//! Must not depend on the engine or the registry client.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

/// Environment variable holding the registry user name.
pub const ENV_USER: &str = "LEAKHOUND_REGISTRY_USER";
/// Environment variable holding the registry password or token.
pub const ENV_PASSWORD: &str = "LEAKHOUND_REGISTRY_PASSWORD";

/// A user name and password (or robot token). Harbor robot names (`robot$project+name`) are
/// plain user names here.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.username)
    }
}

/// Credentials from the environment, when both variables are set.
pub fn from_env() -> Option<Credentials> {
    let username = std::env::var(ENV_USER).ok().filter(|u| !u.is_empty())?;
    let password = std::env::var(ENV_PASSWORD).ok()?;
    Some(Credentials { username, password })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: HashMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthEntry(<redacted>)")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

/// The docker config file in force: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(Path::new(&dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker").join("config.json"))
}

/// Keys a registry may be stored under in `auths` (docker writes Docker Hub's legacy URL).
fn keys_for(registry: &str) -> Vec<String> {
    let mut keys = vec![
        registry.to_owned(),
        format!("https://{registry}"),
        format!("http://{registry}"),
        format!("https://{registry}/v1/"),
        format!("https://{registry}/v2/"),
    ];
    if matches!(registry, "docker.io" | "index.docker.io" | "registry-1.docker.io") {
        keys.push("https://index.docker.io/v1/".into());
    }
    keys
}

/// Credentials for `registry` from a docker config file; `Ok(None)` when it has none.
pub fn from_docker_config(path: &Path, registry: &str) -> Result<Option<Credentials>, String> {
    let Ok(text) = std::fs::read(path) else { return Ok(None) };
    let config: DockerConfig = serde_json::from_slice(&text)
        .map_err(|e| format!("invalid docker config {}: {e}", path.display()))?;
    let keys = keys_for(registry);
    if let Some(helper) = keys.iter().find_map(|k| config.cred_helpers.get(k)) {
        return run_helper(helper, registry);
    }
    if let Some(entry) = keys.iter().find_map(|k| config.auths.get(k)) {
        if let Some(encoded) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            // The engine's decoder: a pure function, shared rather than copied.
            let decoded = crate::engine::decode::base64(encoded.trim().as_bytes())
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| {
                    format!("the auth entry for {registry} in {} is not base64", path.display())
                })?;
            let (username, password) = decoded.split_once(':').ok_or_else(|| {
                format!("the auth entry for {registry} in {} is not user:password", path.display())
            })?;
            return Ok(Some(Credentials { username: username.into(), password: password.into() }));
        }
        if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
            return Ok(Some(Credentials {
                username: username.clone(),
                password: password.clone(),
            }));
        }
    }
    match &config.creds_store {
        Some(store) if !store.is_empty() => run_helper(store, registry),
        _ => Ok(None),
    }
}

/// Asks `docker-credential-<helper> get`; "credentials not found" is `None`.
fn run_helper(helper: &str, registry: &str) -> Result<Option<Credentials>, String> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run credential helper {program} for {registry}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // The helper may exit before reading; its answer says what went wrong.
        let _ = stdin.write_all(registry.as_bytes());
    }
    let output =
        child.wait_with_output().map_err(|e| format!("credential helper {program} failed: {e}"))?;
    if !output.status.success() {
        // Helpers print "credentials not found in native keychain" and exit 1 for unknown hosts.
        return Ok(None);
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout).map_err(|_| {
        format!("credential helper {program} gave an unreadable answer for {registry}")
    })?;
    Ok(Some(Credentials { username: answer.username, password: answer.secret }))
}

/// Resolves credentials for `registry`: explicit ones first, then the environment, then the
/// docker config.
pub fn resolve(
    registry: &str,
    explicit: Option<&Credentials>,
    docker_config: Option<&Path>,
) -> Result<Option<Credentials>, String> {
    if let Some(c) = explicit {
        return Ok(Some(c.clone()));
    }
    if let Some(c) = from_env() {
        return Ok(Some(c));
    }
    match docker_config {
        Some(path) => from_docker_config(path, registry),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_auths_and_robot_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        let auth = crate::engine::decode::base64_encode(b"robot$proj+ci:tok:en");
        std::fs::write(
            &path,
            format!(r#"{{"auths":{{"harbor.example.com":{{"auth":"{auth}"}},"https://other.io":{{"username":"u","password":"p"}}}}}}"#),
        )
        .expect("write");
        let c = from_docker_config(&path, "harbor.example.com").expect("ok").expect("found");
        assert_eq!((c.username.as_str(), c.password.as_str()), ("robot$proj+ci", "tok:en"));
        let c = from_docker_config(&path, "other.io").expect("ok").expect("found");
        assert_eq!(c.username, "u");
        assert_eq!(from_docker_config(&path, "none.io"), Ok(None));
        assert!(!format!("{c:?}").contains('p') || !format!("{c:?}").contains("\"p\""));
        assert!(format!("{c:?}").contains("redacted"));
    }

    #[test]
    fn missing_helper_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"credsStore":"leakhound-test-none"}"#).expect("write");
        let err = from_docker_config(&path, "r.io").expect_err("no such helper");
        assert!(err.contains("docker-credential-leakhound-test-none"), "{err}");
    }
}
