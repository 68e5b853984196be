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

pub mod aws;
pub mod bearer;
pub mod database;
pub mod database_tls;
pub mod gcp;
pub mod github;
pub mod gitlab;
pub mod hosts;
pub mod registry;
pub mod slack;
pub mod telegram;
pub mod twilio;

use std::collections::{BTreeMap, HashMap};
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

    /// The credential works and belongs to `identity`; `detail` says what answered.
    pub fn verified(identity: String, detail: impl Into<String>) -> Outcome {
        Outcome { status: Status::Verified, identity: Some(identity), detail: detail.into() }
    }

    /// The service rejected the credential, as `detail` says.
    pub fn invalid(detail: impl Into<String>) -> Outcome {
        Outcome { status: Status::Invalid, identity: None, detail: detail.into() }
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
    /// Extra CA certificates (PEM) to trust (`--ca-cert`).
    pub ca_cert: Option<Vec<u8>>,
    /// Hosts whose certificates are not checked (`--insecure-registry=HOST` of `image` and
    /// `sweep`).
    pub insecure: crate::source::http::Insecure,
}

/// A verifier's shared state: the HTTP clients and the options.
pub struct Context {
    /// A client that follows no redirects and verifies TLS.
    pub http: reqwest::Client,
    /// The same, without certificate checks, when `options.insecure` names hosts.
    insecure_http: Option<reqwest::Client>,
    /// The options.
    pub options: Options,
    /// What was found beside each secret (see [`Context::beside`]).
    neighbours: Neighbours,
}

/// For each (rule id, secret), the (rule id, secret) of the findings of paired rules in the same
/// blob, nearest line first.
type Neighbours = HashMap<(String, String), Vec<(String, String)>>;

/// Partners kept per secret: a dump of a thousand keys must not pair each with every other.
const MAX_NEIGHBOURS: usize = 8;

/// The findings of each blob (same path, commit and image layer) whose rules a verifier pairs
/// ([`aws::PAIRED`]), as [`Neighbours`]: how a verifier that needs two values (an AWS key id and
/// its secret key) finds the other one, while the engine gives one secret per finding. Nearest
/// first, so each half of a credentials file with several profiles meets its own other half.
fn neighbours(findings: &[Finding]) -> Neighbours {
    // Blobs in path order, so a secret found in several blobs meets its partners in the same
    // order every run (and a check that stops at the first partner accepted costs the same).
    let mut blobs: BTreeMap<_, Vec<(usize, &str, &str)>> = BTreeMap::new();
    for f in findings.iter().filter(|f| aws::PAIRED.contains(&f.rule_id.as_str())) {
        let image = f.image.as_ref().map(|i| (&i.manifest_digest, &i.layer_digest));
        let blob = (&f.path, f.commit.as_ref().map(|c| &c.sha), image);
        blobs.entry(blob).or_default().push((f.line, &f.rule_id, &f.secret));
    }
    let mut beside = Neighbours::new();
    for found in blobs.values() {
        for &(line, rule, secret) in found {
            let mut others: Vec<_> =
                found.iter().filter(|(_, r, s)| (*r, *s) != (rule, secret)).collect();
            others.sort_by_key(|(other, ..)| other.abs_diff(line));
            let partners = beside.entry((rule.to_owned(), secret.to_owned())).or_default();
            for (_, r, s) in others {
                let partner = ((*r).to_owned(), (*s).to_owned());
                if partners.len() < MAX_NEIGHBOURS && !partners.contains(&partner) {
                    partners.push(partner);
                }
            }
        }
    }
    beside
}

impl Context {
    /// The client for a request to `url`: certificates checked unless the user named its host
    /// insecure.
    pub fn client(&self, url: &reqwest::Url) -> &reqwest::Client {
        match &self.insecure_http {
            Some(insecure)
                if self.options.insecure.registry(&crate::source::http::host_port(url)) =>
            {
                insecure
            }
            _ => &self.http,
        }
    }

    /// The secrets of rules `rules` found in the same blob as `secret` of rule `rule_id`, nearest
    /// first.
    pub fn beside<'a>(&'a self, rule_id: &str, secret: &str, rules: &[&str]) -> Vec<&'a str> {
        let key = (rule_id.to_owned(), secret.to_owned());
        let found = self.neighbours.get(&key).into_iter().flatten();
        found.filter(|(rule, _)| rules.contains(&rule.as_str())).map(|(_, s)| s.as_str()).collect()
    }
}

/// The services with a verifier; each is also the per-provider limit's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Provider {
    Aws,
    Gcp,
    GitLab,
    GitHub,
    Slack,
    Telegram,
    Twilio,
    /// A row of [`bearer::SERVICES`].
    Bearer(usize),
    /// Container registries ([`registry`]).
    Registry,
    /// Databases named by URIs ([`database`]).
    Database,
}

/// One distinct credential: the rule, the secret and what the rule found beside it (the host
/// of a URI, a docker config's registry): the same password for two hosts is two checks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Credential {
    /// The rule that found it.
    pub rule_id: String,
    /// The secret.
    pub secret: String,
    /// The finding's [`Finding::captures`].
    pub captures: BTreeMap<String, String>,
}

impl Credential {
    /// The credential of finding `f`.
    fn of(f: &Finding) -> Credential {
        Credential {
            rule_id: f.rule_id.clone(),
            secret: f.secret.clone(),
            captures: f.captures.clone(),
        }
    }

    /// The text of the rule's group `name`, when it took part and is not empty.
    pub fn capture(&self, name: &str) -> Option<&str> {
        self.captures.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// A verifier's test of a rule id.
type Handles = fn(&str) -> bool;

/// Each verifier's rule test and its provider, asked in order; then the bearer table.
const VERIFIERS: [(Handles, Provider); 9] = [
    (aws::handles, Provider::Aws),
    (gcp::handles, Provider::Gcp),
    (gitlab::handles, Provider::GitLab),
    (github::handles, Provider::GitHub),
    (slack::handles, Provider::Slack),
    (registry::handles, Provider::Registry),
    (database::handles, Provider::Database),
    (telegram::handles, Provider::Telegram),
    (twilio::handles, Provider::Twilio),
];

/// The provider that checks findings of `rule_id`, if any.
fn provider(rule_id: &str) -> Option<Provider> {
    VERIFIERS
        .iter()
        .find(|(handles, _)| handles(rule_id))
        .map(|(_, provider)| *provider)
        .or_else(|| bearer::service(rule_id).map(Provider::Bearer))
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
    let mut distinct: Vec<Credential> =
        findings.iter().filter(|f| provider(&f.rule_id).is_some()).map(Credential::of).collect();
    distinct.sort();
    distinct.dedup();
    let results = match check_all(distinct, options, neighbours(findings)) {
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
            .get(&Credential::of(f))
            .cloned()
            .unwrap_or_else(|| Outcome::unverified(format!("no verifier for {}", f.rule_id)));
        f.verification = Some(stamp(outcome));
    }
}

type Results = HashMap<Credential, Outcome>;

/// Runs the checks with the overall and per-provider bounds, the rate cap and the timeout.
fn check_all(
    distinct: Vec<Credential>,
    options: Options,
    neighbours: Neighbours,
) -> Result<Results, String> {
    if distinct.is_empty() {
        return Ok(HashMap::new());
    }
    let client = |accept_invalid_certs| {
        crate::source::http::client(options.ca_cert.as_deref(), accept_invalid_certs, false)
            .map_err(|e| e.to_string())
    };
    let http = client(false)?;
    let insecure_http = if options.insecure.hosts.is_empty() { None } else { Some(client(true)?) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the verification runtime: {e}"))?;
    let overall = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let per_provider = options.per_provider.max(1);
    let interval = (options.rate > 0).then(|| Duration::from_secs(1) / options.rate);
    let timeout = options.timeout;
    let context = Arc::new(Context { http, insecure_http, options, neighbours });
    runtime.block_on(async move {
        let next_start = Arc::new(Mutex::new(tokio::time::Instant::now()));
        let mut providers: HashMap<Provider, Arc<Semaphore>> = HashMap::new();
        let mut tasks = tokio::task::JoinSet::new();
        for key in distinct {
            let Some(name) = provider(&key.rule_id) else { continue };
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
                let check = check(&context, &key);
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
        let bar = progress(tasks.len() as u64);
        let mut results = HashMap::new();
        let mut live = 0;
        while let Some(done) = tasks.join_next().await {
            if let Ok((key, outcome)) = done {
                live += u64::from(outcome.status == Status::Verified);
                results.insert(key, outcome);
            }
            bar.inc(1);
            bar.set_message(format!("{live} live"));
        }
        bar.finish_and_clear();
        Ok(results)
    })
}

/// The progress line on a terminal (checks done of `checks`, how many live), else nothing.
fn progress(checks: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal as _;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(checks),
        indicatif::ProgressDrawTarget::stderr_with_hz(8),
    );
    let style = indicatif::ProgressStyle::with_template(
        "verifying {wide_bar} {pos}/{len} distinct secrets, {msg} ({elapsed})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(125));
    bar
}

/// One check of `credential`.
async fn check(context: &Context, credential: &Credential) -> Outcome {
    let secret = credential.secret.as_str();
    match provider(&credential.rule_id) {
        Some(Provider::Aws) => aws::check(context, &credential.rule_id, secret).await,
        Some(Provider::Gcp) => gcp::check(context, secret).await,
        Some(Provider::GitLab) => gitlab::check(context, secret).await,
        Some(Provider::GitHub) => github::check(context, secret).await,
        Some(Provider::Slack) => slack::check(context, secret).await,
        Some(Provider::Telegram) => telegram::check(context, secret).await,
        Some(Provider::Twilio) => twilio::check(context, credential).await,
        Some(Provider::Bearer(index)) => bearer::check(context, index, secret).await,
        Some(Provider::Registry) => registry::check(context, credential).await,
        Some(Provider::Database) => database::check(context, credential).await,
        None => Err(Outcome::unverified(format!("no verifier for {}", credential.rule_id))),
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

/// What an answer's status alone says: 401 is a rejected credential (`invalid`), else as
/// [`judge_usable`]; `Ok` for a success, whose body tells.
pub fn judge_status(response: &reqwest::Response, at: &str) -> Result<(), Outcome> {
    if response.status() == reqwest::StatusCode::UNAUTHORIZED {
        return Err(Outcome::invalid(format!("{at}: HTTP 401")));
    }
    judge_usable(response, at)
}

/// An answer [`unusable`] says nothing about the credential (`unverified`); `Ok` otherwise.
pub fn judge_usable(response: &reqwest::Response, at: &str) -> Result<(), Outcome> {
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
    response
        .json()
        .await
        .map_err(|e| Outcome::unverified(format!("{at}: unexpected answer: {}", e.without_url())))
}

/// Tries per check when the service answers 429 with a Retry-After it is worth waiting for.
const TRIES: u32 = 3;

/// Sends `request` (a verifier's one call to `at`), backing off and retrying, at most three
/// times in all, while the service answers 429 with a `Retry-After` (seconds or an HTTP date)
/// that fits in what is left of the check's `--verify-timeout`. Rate limiting says nothing about the credential, so
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
            Err(e) => {
                let e = e.without_url();
                return Err(Outcome::unverified(format!("{at}: {}", request_failure(&e))));
            }
        };
        if response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Ok(response);
        }
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::source::http::parse_retry_after(v, std::time::SystemTime::now()));
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

/// Why a request got no usable answer, in words that never hold the secret: `err` is stripped of
/// its URL (a Telegram token travels in the path), and credentials in headers are never shown.
pub fn request_failure(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "the request timed out".to_owned();
    }
    if err.is_connect() {
        return format!("cannot connect: {}", crate::source::http::error_chain(err));
    }
    crate::source::http::error_chain(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::format_tests::finding;
    use crate::rules::Severity;

    #[test]
    fn each_half_of_an_aws_key_meets_the_nearest_other_half_of_its_own_file() {
        // Two profiles in one credentials file, and a third key id in another file.
        let at = |rule: &str, path: &str, line: usize, secret: &str| {
            finding(rule, Severity::High, path, line, secret)
        };
        let (id1, key1) = ("AKIA-ONE", "key-one");
        let (id2, key2) = ("AKIA-TWO", "key-two");
        let findings = [
            at("aws.access-key-id", "credentials", 2, id1),
            at("aws.secret-access-key", "credentials", 3, key1),
            at("aws.access-key-id", "credentials", 6, id2),
            at("aws.secret-access-key", "credentials", 7, key2),
            at("aws.access-key-id", "other/credentials", 3, "AKIA-ELSEWHERE"),
            at("github.token", "credentials", 4, "not paired"),
        ];
        let beside = neighbours(&findings);
        let partners = |rule: &str, secret: &str| -> Vec<&str> {
            beside[&(rule.to_owned(), secret.to_owned())].iter().map(|(_, s)| s.as_str()).collect()
        };
        assert_eq!(partners("aws.access-key-id", id1), [key1, id2, key2]);
        assert_eq!(partners("aws.secret-access-key", key2), [id2, key1, id1]);
        assert!(partners("aws.access-key-id", "AKIA-ELSEWHERE").is_empty());
        assert!(!beside.contains_key(&("github.token".to_owned(), "not paired".to_owned())));
    }
}
