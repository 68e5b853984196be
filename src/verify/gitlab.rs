//! GitLab tokens, checked against GitLab's own "who am I" endpoints (#16), written from GitLab's
//! REST API documentation: a personal, project or group access token (`glpat-`) with
//! `GET /api/v4/personal_access_tokens/self` (`PRIVATE-TOKEN` header), which answers the token's
//! `name`, `scopes`, `expires_at`, `active` and `revoked`
//! (<https://docs.gitlab.com/api/personal_access_tokens/#get-details-on-a-personal-access-token>),
//! and 401 for a token that is not valid; a runner authentication token (`glrt-`) with
//! `POST /api/v4/runners/verify` and `{"token"}` in the body, without a `system_id` (which would
//! record a runner manager: the check must stay read-only), answering 200 with the runner's `id`
//! and `token_expires_at`, 403 for a token that is not valid
//! (<https://docs.gitlab.com/api/runners/#verify-authentication-for-a-registered-runner>); a CI/CD
//! job token (`glcbt-`) with `GET /api/v4/job` (`JOB-TOKEN` header), answering the running job
//! (`id`, `name`, `status`, `ref`, `web_url`, `user.username`), 401 once the job has finished
//! (<https://docs.gitlab.com/api/jobs/#retrieve-the-job-that-generated-a-job-token>).
//!
//! Not checked, each for want of a read-only self-check: deploy tokens (they authenticate only
//! with their username, which the rule does not capture, and only to git and the registries),
//! pipeline trigger tokens (their one use starts a pipeline), feed, incoming email and OAuth
//! application secrets (no API call reports on them).
//!
//! The instance is `--gitlab-url`, else the host of the scanned repository's `origin` remote unless
//! it is a well-known forge that is not a GitLab (github.com, bitbucket.org), else `gitlab.com` ([`instance`]). `LEAKHOUND_VERIFY_GITLAB_URL`
//! replaces gitlab.com as the provider's host: for tests only (no config file can set it).

use std::path::Path;

use reqwest::Url;
use serde::Deserialize;

use super::hosts::Named;
use super::{Checked, Context, Outcome};

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
    matches!(
        rule_id,
        "gitlab.personal-access-token"
            | "gitlab.runner-authentication-token"
            | "gitlab.ci-job-token"
    )
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

/// Checks one token, by the kind its prefix names.
pub async fn check(context: &Context, token: &str) -> Checked {
    let instance = context.options.gitlab.as_ref();
    let instance =
        instance.ok_or_else(|| Outcome::unverified("no GitLab instance to check against"))?;
    if token.starts_with("glrt-") {
        runner(context, instance, token).await
    } else if token.starts_with("glcbt-") {
        job(context, instance, token).await
    } else {
        access_token(context, instance, token).await
    }
}

/// `path` under the instance's base.
fn api(instance: &Instance, path: &str) -> Result<Url, Outcome> {
    instance
        .base
        .join(path)
        .map_err(|_| Outcome::unverified(format!("invalid GitLab URL {}", instance.base)))
}

/// A personal, project or group access token.
async fn access_token(context: &Context, instance: &Instance, token: &str) -> Checked {
    let url = api(instance, "api/v4/personal_access_tokens/self")?;
    let request = context.client(&url).get(url.clone()).header("PRIVATE-TOKEN", token);
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
        Outcome::verified(identity, format!("{at}: HTTP 200"))
    } else {
        // Still named: whose token was revoked helps whoever cleans up.
        Outcome {
            identity: Some(identity),
            ..Outcome::invalid(format!("{at}: the token is revoked or inactive"))
        }
    })
}

/// A runner authentication token: GitLab answers 403 for one it does not know.
async fn runner(context: &Context, instance: &Instance, token: &str) -> Checked {
    let url = api(instance, "api/v4/runners/verify")?;
    let request =
        context.client(&url).post(url.clone()).json(&serde_json::json!({ "token": token }));
    let (response, at) = super::ask(context, &url, instance.named, request).await?;
    if response.status() == reqwest::StatusCode::FORBIDDEN {
        return Err(Outcome::invalid(format!("{at}: HTTP 403")));
    }
    super::judge_status(&response, &at)?;
    // Older GitLabs answer 200 with no body: the token still works.
    let runner: Runner = match response.bytes().await {
        Ok(body) if body.iter().all(u8::is_ascii_whitespace) => Runner::default(),
        Ok(body) => serde_json::from_slice(&body)
            .map_err(|e| Outcome::unverified(format!("{at}: unexpected answer: {e}")))?,
        Err(e) => {
            return Err(Outcome::unverified(format!(
                "{at}: {}",
                super::request_failure(&e.without_url())
            )));
        }
    };
    let id = runner.id.map_or_else(|| "runner".to_owned(), |id| format!("runner {id}"));
    let expires = runner.token_expires_at.as_deref().unwrap_or("never");
    Ok(Outcome::verified(format!("{id} (token expires: {expires})"), format!("{at}: HTTP 200")))
}

/// A CI/CD job token: it works while its job runs.
async fn job(context: &Context, instance: &Instance, token: &str) -> Checked {
    let url = api(instance, "api/v4/job")?;
    let request = context.client(&url).get(url.clone()).header("JOB-TOKEN", token);
    let (response, at) = super::ask(context, &url, instance.named, request).await?;
    super::judge_status(&response, &at)?;
    let job: Job = super::read_json(response, &at).await?;
    let user = job.user.map(|u| format!(" by {}", u.username)).unwrap_or_default();
    let identity = format!(
        "job {} {} ({}, ref {}{user}) {}",
        job.id, job.name, job.status, job.r#ref, job.web_url
    );
    Ok(Outcome::verified(identity, format!("{at}: HTTP 200")))
}

/// The documented answer of `runners/verify`, as far as we read it (never its `token`).
#[derive(Deserialize, Default)]
struct Runner {
    id: Option<u64>,
    token_expires_at: Option<String>,
}

/// The documented answer of `GET /job`, as far as we read it.
#[derive(Deserialize)]
struct Job {
    id: u64,
    name: String,
    status: String,
    r#ref: String,
    web_url: String,
    user: Option<JobUser>,
}

/// Who started the job.
#[derive(Deserialize)]
struct JobUser {
    username: String,
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
