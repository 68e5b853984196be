//! Live verification of found credentials (#16), opt-in with `--verify`: the stage between the
//! engine and the reports. It sees only [`Finding`]s (and the secret each carries), checks each
//! distinct secret once against its own service, and attaches a [`Verification`] to every finding
//! of that secret. It never changes which findings there are, and its failures never make a run
//! incomplete: a check that cannot be made is `unverified`, with the reason.
//!
//! Safety: a credential goes only to a host [`hosts::HostPolicy`] allows (the provider's
//! documented API host, a host the user named, or a host named by the scanned data that is public
//! or listed with `--verify-host`); redirects are never followed; TLS is verified; the secret is
//! never formatted into a detail or an error. It must not depend on sources, the engine or
//! reports.

pub mod bearer;
pub mod github;
pub mod gitlab;
pub mod hosts;
pub mod slack;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Semaphore};

use crate::finding::Finding;
use hosts::HostPolicy;

/// What a service said about a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The service accepted it: it is live.
    Verified,
    /// The service rejected it.
    Invalid,
    /// No verifier for this kind, or the check could not be made (the detail says why).
    Unverified,
}

impl Status {
    /// The lowercase name used in every report.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Verified => "verified",
            Status::Invalid => "invalid",
            Status::Unverified => "unverified",
        }
    }
}

/// The result of checking one finding's secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    /// Verified, invalid or unverified.
    pub status: Status,
    /// Whose credential it is, as the service reports it (account, token name, scopes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// What was asked where, or why no answer could be had; never the secret.
    pub detail: String,
    /// When the check was made (RFC 3339, UTC).
    pub checked_at: String,
}

impl Verification {
    /// `verified as IDENTITY (DETAIL)`: the one-line form text, `JUnit` and GitLab reports show.
    pub fn describe(&self) -> String {
        match &self.identity {
            Some(who) => format!("{} as {who} ({})", self.status.as_str(), self.detail),
            None => format!("{} ({})", self.status.as_str(), self.detail),
        }
    }
}

/// The answer of one verifier, before it is stamped with a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Verified, invalid or unverified.
    pub status: Status,
    /// The identity, when verified.
    pub identity: Option<String>,
    /// What happened.
    pub detail: String,
}

impl Outcome {
    /// The check could not be made, because of `why`.
    pub fn unverified(why: impl Into<String>) -> Outcome {
        Outcome { status: Status::Unverified, identity: None, detail: why.into() }
    }
}

/// How verification runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Which hosts may receive credentials.
    pub hosts: HostPolicy,
    /// Checks in flight at once, overall.
    pub concurrency: usize,
    /// Checks in flight at once against one provider.
    pub per_provider: usize,
    /// Checks started per second, overall (0: no cap).
    pub rate: u32,
    /// The longest one check may take.
    pub timeout: Duration,
    /// The GitLab instance tokens are checked against (see [`gitlab::instance`]).
    pub gitlab: Option<gitlab::Instance>,
    /// An extra CA certificate (PEM) to trust.
    pub ca_cert: Option<Vec<u8>>,
}

/// A verifier's shared state: the HTTP client and the options.
pub struct Context {
    /// A client that follows no redirects and verifies TLS.
    pub http: reqwest::Client,
    /// The options.
    pub options: Options,
}

/// The services with a verifier; each is also the per-provider limit's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Provider {
    GitLab,
    GitHub,
    Slack,
    /// A row of [`bearer::SERVICES`].
    Bearer(usize),
}

/// The provider that checks findings of `rule_id`, if any.
fn provider(rule_id: &str) -> Option<Provider> {
    if gitlab::handles(rule_id) {
        Some(Provider::GitLab)
    } else if github::handles(rule_id) {
        Some(Provider::GitHub)
    } else if slack::handles(rule_id) {
        Some(Provider::Slack)
    } else {
        bearer::service(rule_id).map(Provider::Bearer)
    }
}

/// Checks every distinct secret of `findings` once and attaches the result to each finding of
/// it. Findings no verifier handles get `unverified` with "no verifier". Blocks until done.
pub fn run(findings: &mut [Finding], options: Options) {
    let checked_at = crate::report::utc_timestamp(crate::report::now()) + "Z";
    let stamp = |o: Outcome| Verification {
        status: o.status,
        identity: o.identity,
        detail: o.detail,
        checked_at: checked_at.clone(),
    };
    let mut distinct: Vec<(String, String)> = findings
        .iter()
        .filter(|f| provider(&f.rule_id).is_some())
        .map(|f| (f.rule_id.clone(), f.secret.clone()))
        .collect();
    distinct.sort();
    distinct.dedup();
    let results = match check_all(distinct, options) {
        Ok(results) => results,
        Err(why) => {
            let outcome = Outcome::unverified(why);
            for f in findings.iter_mut() {
                f.verification = Some(stamp(outcome.clone()));
            }
            return;
        }
    };
    for f in findings.iter_mut() {
        let outcome = results
            .get(&(f.rule_id.clone(), f.secret.clone()))
            .cloned()
            .unwrap_or_else(|| Outcome::unverified(format!("no verifier for {}", f.rule_id)));
        f.verification = Some(stamp(outcome));
    }
}

type Results = HashMap<(String, String), Outcome>;

/// Runs the checks with the overall and per-provider bounds, the rate cap and the timeout.
fn check_all(distinct: Vec<(String, String)>, options: Options) -> Result<Results, String> {
    if distinct.is_empty() {
        return Ok(HashMap::new());
    }
    let http = crate::source::http::client(options.ca_cert.as_deref(), false, false)
        .map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the verification runtime: {e}"))?;
    let overall = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let per_provider = options.per_provider.max(1);
    let interval = (options.rate > 0).then(|| Duration::from_secs(1) / options.rate);
    let timeout = options.timeout;
    let context = Arc::new(Context { http, options });
    runtime.block_on(async move {
        let next_start = Arc::new(Mutex::new(tokio::time::Instant::now()));
        let mut providers: HashMap<Provider, Arc<Semaphore>> = HashMap::new();
        let mut tasks = tokio::task::JoinSet::new();
        for key in distinct {
            let Some(name) = provider(&key.0) else { continue };
            let limit = Arc::clone(
                providers.entry(name).or_insert_with(|| Arc::new(Semaphore::new(per_provider))),
            );
            let (overall, context, next_start) =
                (Arc::clone(&overall), Arc::clone(&context), Arc::clone(&next_start));
            tasks.spawn(async move {
                let _slot = overall.acquire_owned().await;
                let _provider_slot = limit.acquire_owned().await;
                if let Some(interval) = interval {
                    // The rate cap: each check takes the next start time and waits for it.
                    let at = {
                        let mut next = next_start.lock().await;
                        let at = (*next).max(tokio::time::Instant::now());
                        *next = at + interval;
                        at
                    };
                    tokio::time::sleep_until(at).await;
                }
                let check = check(&context, &key.0, &key.1);
                let outcome = match tokio::time::timeout(timeout, check).await {
                    Ok(outcome) => outcome,
                    Err(_) => Outcome::unverified(format!(
                        "no answer within {} s (--verify-timeout)",
                        timeout.as_secs()
                    )),
                };
                (key, outcome)
            });
        }
        let mut results = HashMap::new();
        while let Some(done) = tasks.join_next().await {
            if let Ok((key, outcome)) = done {
                results.insert(key, outcome);
            }
        }
        Ok(results)
    })
}

/// One check of `secret`, found by rule `rule_id`.
async fn check(context: &Context, rule_id: &str, secret: &str) -> Outcome {
    match provider(rule_id) {
        Some(Provider::GitLab) => gitlab::check(context, secret).await,
        Some(Provider::GitHub) => github::check(context, secret).await,
        Some(Provider::Slack) => slack::check(context, secret).await,
        Some(Provider::Bearer(index)) => bearer::check(context, index, secret).await,
        None => Err(Outcome::unverified(format!("no verifier for {rule_id}"))),
    }
    .unwrap_or_else(|early| early)
}

/// A provider's documented API base URL, or the endpoint override in the environment variable
/// `env`: for tests only (the tests' fake stands for the provider; no config file can set it).
pub fn provider_base(env: &str, documented: &str) -> Result<reqwest::Url, String> {
    let base = std::env::var(env).unwrap_or_else(|_| documented.to_owned());
    reqwest::Url::parse(&base).map_err(|e| format!("invalid {env}: {e}"))
}

/// `path` at [`provider_base`]; the error is the check's `unverified` outcome.
pub fn endpoint(env: &str, documented: &str, path: &str) -> Result<reqwest::Url, Outcome> {
    provider_base(env, documented)
        .and_then(|base| base.join(path).map_err(|e| format!("invalid {env}: {e}")))
        .map_err(Outcome::unverified)
}

/// What an answer's status alone says: 401 is a rejected credential (`invalid`), anything
/// [`unusable`] says nothing about it (`unverified`); `Ok` for a success, whose body tells.
pub fn judge_status(response: &reqwest::Response, at: &str) -> Result<(), Outcome> {
    if response.status() == reqwest::StatusCode::UNAUTHORIZED {
        return Err(Outcome {
            status: Status::Invalid,
            identity: None,
            detail: format!("{at}: HTTP 401"),
        });
    }
    unusable(response).map_or(Ok(()), |why| Err(Outcome::unverified(format!("{at}: {why}"))))
}

/// A verifier's answer: `Err` is an outcome reached before the end of the check (a refused host,
/// a failed request, a rejection), so verifiers can use `?`.
pub type Checked = Result<Outcome, Outcome>;

/// Sends a verifier's `request` to `url` once the host policy allows `url` for a host named by
/// `named` ([`send`] does the sending); the error is the check's `unverified` outcome. Also
/// returns `url` as details show it.
pub async fn ask(
    context: &Context,
    url: &reqwest::Url,
    named: hosts::Named,
    request: reqwest::RequestBuilder,
) -> Result<(reqwest::Response, String), Outcome> {
    context.options.hosts.check(url, named).await.map_err(Outcome::unverified)?;
    let at = hosts::display(url);
    let response = send(context, request, &at).await?;
    Ok((response, at))
}

/// The JSON body of `response` from `at`, or the `unverified` outcome of an answer we cannot read.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    at: &str,
) -> Result<T, Outcome> {
    response.json().await.map_err(|e| Outcome::unverified(format!("{at}: unexpected answer: {e}")))
}

/// Tries per check when the service answers 429 with a Retry-After it is worth waiting for.
const TRIES: u32 = 3;

/// Sends `request` (a verifier's one call to `at`), backing off and retrying, at most three
/// times in all, while the service answers 429 with a `Retry-After` (seconds) that fits in what
/// is left of the check's `--verify-timeout`. Rate limiting says nothing about the credential, so
/// a check still limited after that is `unverified`, never `invalid`. Any other answer is the
/// verifier's to read.
pub async fn send(
    context: &Context,
    mut request: reqwest::RequestBuilder,
    at: &str,
) -> Result<reqwest::Response, Outcome> {
    let deadline = tokio::time::Instant::now() + context.options.timeout;
    let mut tries = 1;
    loop {
        let retry = request.try_clone();
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Err(Outcome::unverified(format!("{at}: {}", request_failure(&e)))),
        };
        if response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Ok(response);
        }
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let why = unusable(&response).unwrap_or_default();
        let fits = wait.is_some_and(|w| tokio::time::Instant::now() + w < deadline);
        match (retry, wait) {
            (Some(again), Some(wait)) if fits && tries < TRIES => {
                tokio::time::sleep(wait).await;
                tries += 1;
                request = again;
            }
            _ => {
                let after = if tries > 1 { format!(" after {tries} tries") } else { String::new() };
                return Err(Outcome::unverified(format!("{at}: {why}{after}")));
            }
        }
    }
}

/// Why an answer that is neither a success nor a rejection says nothing about the credential:
/// a redirect (never followed: it could lead the credential elsewhere), rate limiting, a server
/// error, any other status. `None` for a success.
pub fn unusable(response: &reqwest::Response) -> Option<String> {
    let status = response.status();
    let header = |name| {
        response.headers().get(name).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
    };
    if status.is_success() {
        return None;
    }
    Some(if status.is_redirection() {
        let to = header(reqwest::header::LOCATION)
            .and_then(|l| response.url().join(l).ok())
            .map_or_else(|| "elsewhere".to_owned(), |u| hosts::display(&u));
        format!("HTTP {} redirect to {to} not followed", status.as_u16())
    } else if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        match header(reqwest::header::RETRY_AFTER) {
            Some(after) => format!("rate limited (HTTP 429, Retry-After: {after})"),
            None => "rate limited (HTTP 429)".to_owned(),
        }
    } else {
        format!("HTTP {}", status.as_u16())
    })
}

/// Why a request got no usable answer, in words that never hold the secret (reqwest's errors
/// name the URL, which carries no credential here: they travel in headers).
pub fn request_failure(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "the request timed out".to_owned();
    }
    if err.is_connect() {
        return format!("cannot connect: {}", crate::source::http::error_chain(err));
    }
    crate::source::http::error_chain(err)
}
