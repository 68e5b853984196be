//! Harbor's webhook payloads, written from Harbor's webhook documentation (the "Default" payload
//! format of a webhook policy), and the shared-secret check of the `Authorization` header that
//! the policy's "Auth Header" makes Harbor send.
//!
//! ```json
//! {"type": "PUSH_ARTIFACT", "occur_at": 1680501893, "operator": "admin",
//!  "event_data": {
//!    "resources": [{"digest": "sha256:…", "tag": "v1", "resource_url": "harbor.example.com/library/app:v1"}],
//!    "repository": {"name": "app", "namespace": "library", "repo_full_name": "library/app", "repo_type": "private"}}}
//! ```
//!
//! Only `PUSH_ARTIFACT` is scanned; other event types are acknowledged and ignored. Names and
//! digests are checked against the OCI distribution grammar here, so a queued artifact's report
//! path (`REPOSITORY/ALGORITHM-HEX.json`) can never leave the results directory.
//!
//! Pure: no I/O, no HTTP server types.

use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::Artifact;

/// The event type of a push.
pub const PUSH: &str = "PUSH_ARTIFACT";

/// What a webhook asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Artifacts were pushed: scan them.
    Push(Vec<Artifact>),
    /// Another event type (`PULL_ARTIFACT`, `SCANNING_COMPLETED`, ...): nothing to do.
    Ignored(String),
}

/// Why a payload is refused (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    event_data: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct PushData {
    repository: Repository,
    resources: Vec<Resource>,
}

#[derive(Deserialize)]
struct Repository {
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    repo_full_name: String,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(default)]
    digest: String,
    #[serde(default)]
    tag: String,
}

/// A repository name as the distribution spec allows it: lowercase path components of
/// alphanumerics joined by `.`, `_`, `__` or dashes. No component can be `.` or `..`.
static REPOSITORY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$",
    )
    .expect("the repository grammar compiles")
});

/// A digest: `algorithm:encoded` (the OCI image spec's grammar, a hex or base64url body).
static DIGEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
        .expect("the digest grammar compiles")
});

/// A tag (the distribution spec's grammar).
static TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$").expect("the tag grammar compiles")
});

/// Reads a webhook body.
pub fn parse(body: &[u8]) -> Result<Event, Malformed> {
    let payload: Payload = serde_json::from_slice(body)
        .map_err(|e| Malformed(format!("not a Harbor webhook payload: {e}")))?;
    if payload.kind.starts_with("harbor.") {
        return Err(Malformed(format!(
            "{:?} is a CloudEvents payload: set the webhook policy's payload format to Default",
            payload.kind
        )));
    }
    if payload.kind != PUSH {
        return Ok(Event::Ignored(payload.kind));
    }
    let data = payload.event_data.ok_or_else(|| Malformed("no event_data".into()))?;
    let data: PushData =
        serde_json::from_value(data).map_err(|e| Malformed(format!("event_data: {e}")))?;
    let r = &data.repository;
    let repository = if r.repo_full_name.is_empty() {
        format!("{}/{}", r.namespace, r.name)
    } else {
        r.repo_full_name.clone()
    };
    if !REPOSITORY.is_match(&repository) || repository.len() > 255 {
        return Err(Malformed(format!("invalid repository name {repository:?}")));
    }
    let project = if r.namespace.is_empty() {
        repository.split('/').next().unwrap_or_default().to_owned()
    } else {
        r.namespace.clone()
    };
    if data.resources.is_empty() {
        return Err(Malformed("event_data.resources is empty".into()));
    }
    let artifacts = data
        .resources
        .iter()
        .map(|res| {
            if !DIGEST.is_match(&res.digest) {
                return Err(Malformed(format!("invalid or missing digest {:?}", res.digest)));
            }
            if !res.tag.is_empty() && !TAG.is_match(&res.tag) {
                return Err(Malformed(format!("invalid tag {:?}", res.tag)));
            }
            Ok(Artifact {
                project: project.clone(),
                repository: repository.clone(),
                digest: res.digest.clone(),
                tags: (!res.tag.is_empty()).then(|| res.tag.clone()).into_iter().collect(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Event::Push(artifacts))
}

/// The shared secret webhooks must present in their `Authorization` header.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// The secret (a non-empty value).
    pub fn new(value: &str) -> Option<Secret> {
        (!value.is_empty()).then(|| Secret(value.as_bytes().to_vec()))
    }

    /// True when `header` is exactly the secret. Both sides are hashed first and the hashes
    /// compared in constant time, so neither the secret's length nor how much of it a guess got
    /// right shows in the answer's timing.
    pub fn matches(&self, header: &[u8]) -> bool {
        let want = Sha256::digest(&self.0);
        let got = Sha256::digest(header);
        want.iter().zip(got.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot set up should fail loudly
mod tests {
    use super::*;

    fn digest(n: u8) -> String {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
    }

    fn push(repo_full_name: &str, resources: &serde_json::Value) -> Vec<u8> {
        serde_json::json!({
            "type": "PUSH_ARTIFACT", "occur_at": 1_680_501_893, "operator": "admin",
            "event_data": {
                "resources": resources,
                "repository": {"date_created": 1_680_501_893, "name": "app", "namespace": "team",
                               "repo_full_name": repo_full_name, "repo_type": "private"}
            }
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_push_names_each_artifact() {
        let body = push(
            "team/app",
            &serde_json::json!([
                {"digest": digest(1), "tag": "v1", "resource_url": "harbor.test/team/app:v1"},
                {"digest": digest(2), "tag": "", "resource_url": "harbor.test/team/app@x"}
            ]),
        );
        let Event::Push(artifacts) = parse(&body).unwrap() else { panic!("a push") };
        assert_eq!(artifacts.len(), 2);
        assert_eq!(artifacts[0].repository, "team/app");
        assert_eq!(artifacts[0].project, "team");
        assert_eq!(artifacts[0].tags, ["v1"]);
        assert!(artifacts[1].tags.is_empty(), "an untagged push");
    }

    #[test]
    fn other_events_are_ignored_and_bad_ones_refused() {
        let pull = serde_json::json!({"type": "PULL_ARTIFACT", "event_data": {}}).to_string();
        assert_eq!(parse(pull.as_bytes()).unwrap(), Event::Ignored("PULL_ARTIFACT".into()));
        assert!(parse(b"{not json").is_err());
        assert!(parse(br#"{"type": "PUSH_ARTIFACT"}"#).is_err());
        let escape = push("team/../../etc", &serde_json::json!([{"digest": digest(1)}]));
        assert!(parse(&escape).unwrap_err().0.contains("repository"));
        let bad_digest = push("team/app", &serde_json::json!([{"digest": "sha256:../x"}]));
        assert!(parse(&bad_digest).unwrap_err().0.contains("digest"));
        let cloud = br#"{"type": "harbor.artifact.pushed", "data": {}}"#;
        assert!(parse(cloud).unwrap_err().0.contains("Default"));
    }

    #[test]
    fn the_secret_must_match_exactly() {
        let secret = Secret::new("Bearer s3cret-value").unwrap();
        assert!(secret.matches(b"Bearer s3cret-value"));
        assert!(!secret.matches(b"Bearer s3cret-valu"));
        assert!(!secret.matches(b""));
        assert!(Secret::new("").is_none());
        assert!(!format!("{secret:?}").contains("s3cret"));
    }
}
