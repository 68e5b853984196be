//! GitLab tokens, checked against GitLab's own "who am I" endpoints (#16), written from GitLab's
//! REST API documentation: a personal, project or group access token (`glpat-`) with
//! `GET /api/v4/personal_access_tokens/self` (`PRIVATE-TOKEN` header), which answers the token's
//! `name`, `scopes`, `expires_at`, `active` and `revoked`
//! (<https://docs.gitlab.com/api/personal_access_tokens/#get-details-on-a-personal-access-token>),
//! and 401 for a token that is not valid.
//!
//! The instance is `--gitlab-url`, else the host of the scanned repository's `origin` remote unless
//! it is a well-known forge that is not a GitLab (github.com, bitbucket.org), else `gitlab.com` ([`instance`]). `LEAKHOUND_VERIFY_GITLAB_URL`
//! replaces gitlab.com as the provider's host: for tests only (no config file can set it).

use std::path::Path;

use reqwest::Url;
use serde::Deserialize;

use super::hosts::Named;
use super::{Checked, Context, Outcome, Status};

/// The endpoint override for tests: the fake GitLab that stands for gitlab.com.
pub const ENDPOINT_ENV: &str = "LEAKHOUND_VERIFY_GITLAB_URL";

/// The GitLab instance tokens go to, and who named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Base URL, without a trailing slash.
    pub base: Url,
    /// Who named it (the safety rule treats an `origin` remote as scanned data).
    pub named: Named,
}

/// True for the rules this verifier checks.
pub fn handles(rule_id: &str) -> bool {
    rule_id == "gitlab.personal-access-token"
}

/// The instance for a scan of `root`: `--gitlab-url`, else the `origin` remote's host (as
/// scanned data), else gitlab.com (or the test override).
pub fn instance(gitlab_url: Option<&str>, root: Option<&Path>) -> Result<Instance, String> {
    if let Some(url) = gitlab_url {
        let base = Url::parse(url).map_err(|e| format!("invalid --gitlab-url {url:?}: {e}"))?;
        return Ok(Instance { base, named: Named::User });
    }
    if let Some(base) = root.and_then(origin_base) {
        return Ok(Instance { base, named: Named::Data });
    }
    let base = super::provider_base(ENDPOINT_ENV, "https://gitlab.com")?;
    Ok(Instance { base, named: Named::Provider })
}

/// `https://host[:port]` of the `origin` remote of the repository at `root`, for remotes that
/// are not a well-known non-GitLab forge (`git@host:group/p.git` and `ssh://` become HTTPS).
fn origin_base(root: &Path) -> Option<Url> {
    let repo = git2::Repository::open(root).ok()?;
    let remote = repo.find_remote("origin").ok()?;
    let url = remote.url().ok()?;
    let base = if url.starts_with("http://") || url.starts_with("https://") {
        let mut u = Url::parse(url).ok()?;
        u.set_path("");
        u.set_query(None);
        u.set_username("").ok()?;
        u.set_password(None).ok()?;
        u
    } else {
        let rest = url.strip_prefix("ssh://").unwrap_or(url);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        let host = rest.split([':', '/']).next()?;
        Url::parse(&format!("https://{host}")).ok()?
    };
    let host = base.host_str()?;
    (!matches!(host, "github.com" | "bitbucket.org" | "dev.azure.com")).then_some(base)
}

/// Checks one token.
pub async fn check(context: &Context, token: &str) -> Checked {
    let instance = context.options.gitlab.as_ref();
    let instance =
        instance.ok_or_else(|| Outcome::unverified("no GitLab instance to check against"))?;
    let url = instance
        .base
        .join("api/v4/personal_access_tokens/self")
        .map_err(|_| Outcome::unverified(format!("invalid GitLab URL {}", instance.base)))?;
    let request = context.http.get(url.clone()).header("PRIVATE-TOKEN", token);
    let (response, at) = super::ask(context, &url, instance.named, request).await?;
    super::judge_status(&response, &at)?;
    let token: TokenSelf = super::read_json(response, &at).await?;
    let identity = format!(
        "{} (scopes: {}; expires: {}{})",
        token.name,
        token.scopes.join(", "),
        token.expires_at.as_deref().unwrap_or("never"),
        token.user_id.map(|id| format!("; user id {id}")).unwrap_or_default()
    );
    Ok(if token.active && !token.revoked {
        Outcome {
            status: Status::Verified,
            identity: Some(identity),
            detail: format!("{at}: HTTP 200"),
        }
    } else {
        Outcome {
            status: Status::Invalid,
            identity: Some(identity),
            detail: format!("{at}: the token is revoked or inactive"),
        }
    })
}

/// The documented answer of `personal_access_tokens/self`, as far as we read it.
#[derive(Deserialize)]
struct TokenSelf {
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    expires_at: Option<String>,
    #[serde(default = "yes")]
    active: bool,
    #[serde(default)]
    revoked: bool,
    user_id: Option<u64>,
}
/// A token GitLab does not say is inactive is active.
fn yes() -> bool {
    true
}
