//! Tokens whose service documents one read-only `GET` "who am I" call with
//! `Authorization: Bearer TOKEN`, answering the account as JSON and 401 for a token that is not
//! valid: one table row each, written from the service's API documentation.
//! - npm: `GET https://registry.npmjs.org/-/whoami` answers `{"username"}` (what `npm whoami`
//!   asks; <https://docs.npmjs.com/cli/commands/npm-whoami>).
//! - Hugging Face: `GET https://huggingface.co/api/whoami-v2` answers `{"type", "name", "auth":
//!   {"accessToken": {"displayName", "role"}}}` (<https://huggingface.co/docs/hub/api>).
//!
//! Each row's environment variable replaces the documented host: for tests only.

use serde_json::Value;

use super::hosts::Named;
use super::{Checked, Context, Outcome, Status};

/// One service.
pub struct Service {
    /// The rules whose secrets it checks.
    pub rules: &'static [&'static str],
    /// The documented API base.
    pub documented: &'static str,
    /// The "who am I" path under it.
    pub path: &'static str,
    /// The endpoint override for tests.
    pub env: &'static str,
    /// The identity in the answer, as the service names it.
    pub identity: fn(&Value) -> Option<String>,
}

/// The services, in the order [`service`] looks them up.
pub const SERVICES: &[Service] = &[
    Service {
        rules: &["npm.access-token"],
        documented: "https://registry.npmjs.org",
        path: "-/whoami",
        env: "LEAKHOUND_VERIFY_NPM_URL",
        identity: |v| v["username"].as_str().map(|u| format!("npm user {u}")),
    },
    Service {
        rules: &["huggingface.token", "huggingface.org-token"],
        documented: "https://huggingface.co",
        path: "api/whoami-v2",
        env: "LEAKHOUND_VERIFY_HUGGINGFACE_URL",
        identity: |v| {
            let name = v["name"].as_str()?;
            let kind = v["type"].as_str().unwrap_or("account");
            let token = &v["auth"]["accessToken"];
            Some(match (token["displayName"].as_str(), token["role"].as_str()) {
                (Some(token), Some(role)) => format!("{kind} {name} (token {token}, role {role})"),
                _ => format!("{kind} {name}"),
            })
        },
    },
];

/// The index in [`SERVICES`] of the service that checks `rule_id`.
pub fn service(rule_id: &str) -> Option<usize> {
    SERVICES.iter().position(|s| s.rules.contains(&rule_id))
}

/// Checks `token` with `SERVICES[index]`.
pub async fn check(context: &Context, index: usize, token: &str) -> Checked {
    let service = &SERVICES[index];
    let url = super::endpoint(service.env, service.documented, service.path)?;
    let request = context.http.get(url.clone()).bearer_auth(token);
    let (response, at) = super::ask(context, &url, Named::Provider, request).await?;
    super::judge_status(&response, &at)?;
    let answer: Value = super::read_json(response, &at).await?;
    let identity = (service.identity)(&answer)
        .ok_or_else(|| Outcome::unverified(format!("{at}: unexpected answer: no account named")))?;
    Ok(Outcome {
        status: Status::Verified,
        identity: Some(identity),
        detail: format!("{at}: HTTP 200"),
    })
}
