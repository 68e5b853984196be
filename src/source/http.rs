//! The one HTTP client every registry request goes through: enumeration (Harbor's REST API,
//! `/v2/_catalog`, `tags/list`) and pulls (manifests and blobs, streamed). Base URL rules, basic
//! and bearer-token auth (any scope, including the `registry:catalog:*` that pull-only clients
//! never ask for, and a renewed token when one expires mid-pull), and ONE retry policy
//! ([`Retry`]): 429 and 503 wait as long as `Retry-After` says (seconds or an HTTP date, capped),
//! 500/502/503/504, timeouts and connection resets back off exponentially, and each wait is
//! announced through [`Notify`]. Each request runs within a [`Pace`] (an overall deadline and a
//! minimum transfer rate), so a registry that stalls or trickles fails in bounded time; and
//! credentials go to a token server only over HTTPS or to a host named insecure ([`Insecure`]).
//!
//! It must not depend on rules, the engine or reports. Credentials (the image source's
//! [`Credentials`], whose `Debug` hides the password) are never formatted: errors name URLs only.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;

pub use crate::source::oci::auth::Credentials;
use reqwest::header::{HeaderMap, LINK, RETRY_AFTER, WWW_AUTHENTICATE};

/// How often and how patiently to retry a request that got 429, a 5xx or no connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// The first backoff; it doubles on every retry (a `Retry-After` header wins).
    pub base_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { attempts: 4, base_delay: Duration::from_millis(500) }
    }
}

/// The longest wait a `Retry-After` header can impose.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

impl Retry {
    /// The policy for `--retries N`: N retries after the first attempt.
    pub fn with_retries(retries: u32) -> Retry {
        Retry { attempts: retries.saturating_add(1), ..Retry::default() }
    }

    /// The wait before retry number `attempt` (0-based): what the server asked for in
    /// `Retry-After` (seconds or an HTTP date), at most [`MAX_RETRY_AFTER`], else
    /// `base * 2^attempt`, at most 30 s.
    pub fn delay(&self, attempt: u32, retry_after: Option<&str>) -> Duration {
        if let Some(wait) = retry_after.and_then(|v| parse_retry_after(v, SystemTime::now())) {
            return wait.min(MAX_RETRY_AFTER);
        }
        self.base_delay.saturating_mul(1 << attempt.min(16)).min(Duration::from_secs(30))
    }
}

/// A `Retry-After` value as a wait from `now`: delta seconds, or an IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`; a date in the past means no wait).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts[..] else { return None };
    let month = i64::try_from(MONTHS.iter().position(|m| *m == month)?).ok()? + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, sec] = hms[..] else { return None };
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let at = u64::try_from(days * 86_400 + h * 3600 + m * 60 + sec).ok()?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Where waits before a retry are announced (the command prints them unless `--quiet`).
#[derive(Clone, Default)]
pub struct Notify(Option<Arc<Say>>);

type Say = dyn Fn(&str) + Send + Sync;

impl Notify {
    /// Announces through `say`.
    pub fn new(say: impl Fn(&str) + Send + Sync + 'static) -> Notify {
        Notify(Some(Arc::new(say)))
    }

    fn say(&self, text: &str) {
        if let Some(say) = &self.0 {
            say(text);
        }
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Notify(on)" } else { "Notify(off)" })
    }
}

/// Statuses worth another try: rate limiting and a registry that is briefly unwell.
fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// A failure to get an answer that may go away: a timeout or a connection reset or closed
/// under us (not a refused connection or a TLS failure: those fail at once).
fn transient(err: &reqwest::Error) -> bool {
    if err.is_timeout() {
        return true;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            )
        {
            return true;
        }
        source = e.source();
    }
    let text = error_chain(err);
    text.contains("connection closed before message completed") || text.contains("reset by peer")
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn no_answer(window: Duration) -> String {
    format!("no answer within {} (--min-rate-window)", seconds(window))
}

/// Limits on one request, so a registry that trickles or stalls fails that request in bounded
/// time (#19: one sending 1 byte per second ran for minutes; a stall took 4 × 120 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// The longest one request may take from its first attempt, retries and resumes included
    /// (`--request-timeout`).
    pub deadline: Duration,
    /// The fewest bytes per second a body must arrive at, averaged over each `window`
    /// (`--min-rate`; 0 turns the check off).
    pub min_rate: u64,
    /// The window the rate is measured over, and the longest wait for an answer's headers
    /// (`--min-rate-window`).
    pub window: Duration,
}

impl Default for Pace {
    /// One hour per request (a 16 GB layer at 5 MB/s takes under an hour), at least 1 KiB/s
    /// over every 8 s: a stall fails each attempt in 8 s, so the default 4 attempts, their
    /// backoff (3.5 s) and the HTTPS probe of an `--insecure-registry` stay under a minute
    /// (measured: 44 s against a server that accepts and never answers; 54 s with 10 s).
    fn default() -> Self {
        Pace { deadline: Duration::from_secs(3600), min_rate: 1024, window: Duration::from_secs(8) }
    }
}

/// Why a body could not be read on.
#[derive(Debug)]
pub enum TransferError {
    /// The connection broke (worth resuming).
    Broken(reqwest::Error),
    /// Fewer bytes arrived in a window than the minimum rate asks (worth resuming: a silently
    /// dead connection looks like this).
    TooSlow(String),
    /// The request's deadline passed: no resuming.
    Deadline(String),
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::Broken(e) => f.write_str(&error_chain(e)),
            TransferError::TooSlow(m) | TransferError::Deadline(m) => f.write_str(m),
        }
    }
}

/// The clock of one request: its deadline, and the bytes of the current rate window.
#[derive(Debug, Clone)]
pub struct Transfer {
    pace: Pace,
    deadline: tokio::time::Instant,
    window_start: tokio::time::Instant,
    window_bytes: u64,
}

impl Transfer {
    /// A request starting now.
    pub fn new(pace: Pace) -> Transfer {
        let now = tokio::time::Instant::now();
        Transfer { pace, deadline: now + pace.deadline, window_start: now, window_bytes: 0 }
    }

    /// Starts a fresh rate window (a new response: waiting for its headers is not counted).
    pub fn new_window(&mut self) {
        self.window_start = tokio::time::Instant::now();
        self.window_bytes = 0;
    }

    fn expired(&self) -> String {
        format!("the request took longer than --request-timeout ({})", seconds(self.pace.deadline))
    }

    /// The next chunk of `response`'s body (`None` at its end), unless the deadline passes or
    /// a whole window brings fewer bytes than the minimum rate.
    pub async fn chunk(
        &mut self,
        response: &mut reqwest::Response,
    ) -> Result<Option<bytes::Bytes>, TransferError> {
        loop {
            let now = tokio::time::Instant::now();
            if now >= self.deadline {
                return Err(TransferError::Deadline(self.expired()));
            }
            let window_end = self.window_start + self.pace.window;
            if self.pace.min_rate > 0 && now >= window_end {
                let wanted = self.pace.min_rate as f64 * self.pace.window.as_secs_f64();
                if (self.window_bytes as f64) < wanted {
                    return Err(TransferError::TooSlow(format!(
                        "the registry sent {} bytes in {}, below --min-rate ({} bytes/s): the \
                         transfer stalls",
                        self.window_bytes,
                        seconds(self.pace.window),
                        self.pace.min_rate
                    )));
                }
                self.new_window();
                continue;
            }
            let until =
                if self.pace.min_rate > 0 { window_end.min(self.deadline) } else { self.deadline };
            // `chunk` loses nothing when cancelled: a frame is taken only when it is ready.
            match tokio::time::timeout_at(until, response.chunk()).await {
                Ok(Ok(Some(chunk))) => {
                    self.window_bytes += chunk.len() as u64;
                    return Ok(Some(chunk));
                }
                Ok(Ok(None)) => return Ok(None),
                Ok(Err(e)) => return Err(TransferError::Broken(e)),
                Err(_) => {} // the window or the deadline is up: checked above
            }
        }
    }

    /// The whole body, as [`Transfer::chunk`] reads it.
    async fn read_all(&mut self, response: &mut reqwest::Response) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        loop {
            match self.chunk(response).await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => return Ok(body),
                Err(e) => {
                    let (url, message) = (response.url().to_string(), e.to_string());
                    return Err(match e {
                        TransferError::Broken(_) => HttpError::Connect { url, message, retries: 0 },
                        _ => HttpError::Slow { url, message, retries: 0 },
                    });
                }
            }
        }
    }
}

/// Which hosts may be reached over plain HTTP or with an untrusted certificate: a bare
/// `--insecure-registry` names the registries on the command line, `--insecure-registry=HOST`
/// (repeatable) names one more host, such as a token server on plain HTTP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Insecure {
    /// Every registry named on the command line (the bare flag).
    pub named_registries: bool,
    /// `host[:port]` named with a value (without a port: any port of that host), lowercase.
    pub hosts: Vec<String>,
}

impl Insecure {
    /// From the flag's values, where an empty value is the bare flag; a value may carry a
    /// scheme or a trailing slash (`http://h:5001/`).
    pub fn from_flags(values: &[String]) -> Insecure {
        Insecure {
            named_registries: values.iter().any(|v| v.trim().is_empty()),
            hosts: values.iter().map(|v| bare_host(v)).filter(|h| !h.is_empty()).collect(),
        }
    }

    /// True when the registry `registry` (as given: `host[:port]`, with or without a scheme)
    /// may be reached insecurely.
    pub fn registry(&self, registry: &str) -> bool {
        self.named_registries || self.names(&bare_host(registry))
    }

    /// True when `host` (`host[:port]`, lowercase) was named with a value.
    fn names(&self, host: &str) -> bool {
        let (name, port) = split_port(host);
        self.hosts.iter().any(|entry| {
            let (entry_name, entry_port) = split_port(entry);
            entry_name == name && (entry_port.is_none() || entry_port == port)
        })
    }
}

/// `http://Host:5001/` → `host:5001`.
fn bare_host(text: &str) -> String {
    let text = text.trim();
    let text =
        text.strip_prefix("http://").or_else(|| text.strip_prefix("https://")).unwrap_or(text);
    text.trim_end_matches('/').to_ascii_lowercase()
}

/// `host:port` → (`host`, `Some(port)`); a bracketed IPv6 address keeps its colons.
fn split_port(text: &str) -> (&str, Option<&str>) {
    match text.rsplit_once(':') {
        Some((host, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!host.contains(':') || host.ends_with(']')) =>
        {
            (host, Some(port))
        }
        _ => (text, None),
    }
}

/// `host:port` of a URL (the scheme's default port when it names none), lowercase.
pub fn host_port(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// Where and how to connect.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Hosts allowed plain HTTP (for a bare `host:port`) or untrusted certificates.
    pub insecure: Insecure,
    /// An extra CA certificate (PEM) to trust.
    pub ca_cert: Option<Vec<u8>>,
    /// Credentials, if any; anonymous otherwise.
    pub credentials: Option<Credentials>,
    /// Retry policy.
    pub retry: Retry,
    /// Deadline and minimum transfer rate of each request.
    pub pace: Pace,
    /// Where waits before retries are announced.
    pub notify: Notify,
}

/// An enumeration request that failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The registry address is not usable.
    #[error(
        "invalid registry address {0:?}: give https://host[:port], or http://host[:port] or host:port with --insecure-registry"
    )]
    Address(String),
    /// The HTTP client could not be built (bad CA file, TLS setup).
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    /// No connection, or it broke, after every retry.
    #[error("cannot reach {url}: {message}{}", after(*.retries))]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        message: String,
        /// Retries made before giving up.
        retries: u32,
    },
    /// The registry did not answer within a rate window, sent too slowly, or the request's
    /// deadline passed ([`Pace`]).
    #[error("{url}: {message}{}", after(*.retries))]
    Slow {
        /// The URL.
        url: String,
        /// What was too slow.
        message: String,
        /// Retries made before giving up.
        retries: u32,
    },
    /// The registry refused the credentials (or there were none).
    #[error(
        "{url}: unauthorized (HTTP {status}): check --username/--password-stdin (for Harbor, a robot account with pull and list rights)"
    )]
    Unauthorized {
        /// The URL.
        url: String,
        /// 401 or 403.
        status: u16,
    },
    /// Any other non-success answer, after retries where they apply.
    #[error("{url}: HTTP {status}{}{}", if .message.is_empty() { String::new() } else { format!(": {}", .message) }, after(*.retries))]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the body, when it says something.
        message: String,
        /// Retries made before giving up.
        retries: u32,
    },
    /// The registry's token server is plain HTTP on a host the user did not name as insecure:
    /// the credentials are not sent there (anyone on the path could read them).
    #[error(
        "the registry sends token requests to {realm}, plain HTTP on another host or port than \
         the registry: the credentials are not sent there unencrypted; serve the token server \
         over HTTPS, or pass --insecure-registry={host} to allow it"
    )]
    PlainRealm {
        /// The realm, without query or user info.
        realm: String,
        /// Its `host:port`, as `--insecure-registry=` takes it.
        host: String,
    },
    /// The body is not the JSON we expected.
    #[error("{url}: unexpected answer: {message}")]
    Body {
        /// The URL.
        url: String,
        /// The parser's message.
        message: String,
    },
}

/// ` (after N retries)`, or nothing.
fn after(retries: u32) -> String {
    if retries == 0 { String::new() } else { format!(" (after {retries} retries)") }
}

/// One successful answer.
#[derive(Debug)]
pub struct Answer {
    /// Response headers (`Link`, `X-Total-Count`, `Docker-Content-Digest`).
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
    /// The URL that was fetched.
    pub url: String,
}

impl Answer {
    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| HttpError::Body { url: self.url.clone(), message: e.to_string() })
    }

    /// The path and query of the `Link: <…>; rel="next"` header, if any.
    pub fn next_link(&self) -> Option<String> {
        self.headers.get_all(LINK).iter().find_map(|v| next_link(v.to_str().ok()?))
    }

    /// The `X-Total-Count` header (Harbor's paging).
    pub fn total_count(&self) -> Option<u64> {
        self.headers.get("x-total-count")?.to_str().ok()?.trim().parse().ok()
    }
}

/// The client: one per registry.
pub struct RegistryHttp {
    client: reqwest::Client,
    /// A client that verifies certificates, when `client` does not.
    verified: Option<reqwest::Client>,
    base: String,
    /// Whether this registry itself was named insecure, and which other hosts were.
    insecure_here: bool,
    insecure: Insecure,
    credentials: Option<Credentials>,
    retry: Retry,
    pace: Pace,
    notify: Notify,
    preemptive_basic: bool,
    /// A header sent with every request (GitLab's `PRIVATE-TOKEN`), marked sensitive.
    header: Option<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
    /// Bearer tokens by scope, so a sweep asks the token server once per scope.
    tokens: Mutex<HashMap<String, String>>,
}

impl fmt::Debug for RegistryHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryHttp").field("base", &self.base).finish_non_exhaustive()
    }
}

/// Normalises a registry argument to a base URL without a trailing slash:
/// `https://h:p` stays, `http://h:p` needs `insecure`, a bare `h:p` is HTTPS, or HTTP when
/// `insecure`.
pub fn base_url(registry: &str, insecure: bool) -> Result<String, HttpError> {
    let trimmed = registry.trim().trim_end_matches('/');
    let (scheme, host) = if let Some(rest) = trimmed.strip_prefix("https://") {
        ("https", rest)
    } else if let Some(rest) = trimmed.strip_prefix("http://") {
        if !insecure {
            return Err(HttpError::Address(registry.to_owned()));
        }
        ("http", rest)
    } else if trimmed.contains("://") {
        return Err(HttpError::Address(registry.to_owned()));
    } else {
        (if insecure { "http" } else { "https" }, trimmed)
    };
    if host.is_empty()
        || host.contains('/')
        || host.contains('@')
        || host.contains(char::is_whitespace)
    {
        return Err(HttpError::Address(registry.to_owned()));
    }
    Ok(format!("{scheme}://{host}"))
}

/// The reqwest client every leakhound request goes through: our user agent, a connect timeout,
/// the system roots plus `ca_cert`, certificates verified unless `accept_invalid_certs`, and
/// redirects followed only when `follow_redirects` (credential checks never follow them, #16).
pub fn client(
    ca_cert: Option<&[u8]>,
    accept_invalid_certs: bool,
    follow_redirects: bool,
) -> Result<reqwest::Client, HttpError> {
    // reqwest is built without a crypto provider (ring instead of aws-lc): install ring once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("leakhound/", env!("CARGO_PKG_VERSION")))
        // Waits after connecting (headers, body) are bounded by the request's [`Pace`].
        .connect_timeout(Duration::from_secs(10))
        .tls_danger_accept_invalid_certs(accept_invalid_certs);
    if !follow_redirects {
        builder = builder.redirect(reqwest::redirect::Policy::none());
    }
    if let Some(pem) = ca_cert {
        let cert = reqwest::Certificate::from_pem(pem)
            .map_err(|e| HttpError::Setup(format!("invalid CA certificate: {e}")))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| HttpError::Setup(e.to_string()))
}

impl RegistryHttp {
    /// A client for the registry at `registry` (see [`base_url`]).
    pub fn new(registry: &str, options: &HttpOptions) -> Result<RegistryHttp, HttpError> {
        let insecure_here = options.insecure.registry(registry);
        let base = base_url(registry, insecure_here)?;
        let build =
            |accept_invalid_certs| client(options.ca_cert.as_deref(), accept_invalid_certs, true);
        let client = build(insecure_here)?;
        // A token server on a host the user did not name insecure gets verified TLS, even when
        // this registry may go without.
        let verified = if insecure_here { Some(build(false)?) } else { None };
        Ok(RegistryHttp {
            client,
            verified,
            base,
            insecure_here,
            insecure: options.insecure.clone(),
            credentials: options.credentials.clone(),
            retry: options.retry,
            pace: options.pace,
            notify: options.notify.clone(),
            preemptive_basic: false,
            header: None,
            tokens: Mutex::default(),
        })
    }

    /// Sends Basic credentials with every request instead of waiting for a challenge: Harbor's
    /// REST API answers anonymous callers with the public projects only, not with a 401.
    #[must_use]
    pub fn with_preemptive_basic(mut self) -> RegistryHttp {
        self.preemptive_basic = true;
        self
    }

    /// Sends `name: value` with every request (an API token such as GitLab's `PRIVATE-TOKEN`),
    /// marked sensitive so no debug output of the request shows it.
    #[must_use]
    pub fn with_header(
        mut self,
        name: reqwest::header::HeaderName,
        mut value: reqwest::header::HeaderValue,
    ) -> RegistryHttp {
        value.set_sensitive(true);
        self.header = Some((name, value));
        self
    }

    /// The base URL (`https://host:port`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// GETs `path` (path and query, starting with `/`) and reads the whole answer; see
    /// [`RegistryHttp::open`].
    pub async fn get(&self, path: &str, scope: &str) -> Result<Answer, HttpError> {
        let mut transfer = self.transfer();
        let mut response = self.open(path, scope, &[], 0, &mut transfer).await?;
        let url = response.url().to_string();
        let headers = response.headers().clone();
        let body = transfer.read_all(&mut response).await?;
        Ok(Answer { headers, body, url })
    }

    /// The clock of a request starting now, for [`RegistryHttp::open`] and reading its body.
    pub fn transfer(&self) -> Transfer {
        Transfer::new(self.pace)
    }

    /// GETs `path` (path and query, starting with `/`) and returns the successful response
    /// with its body unread (a blob is streamed from it); from byte `from` on when it is not 0
    /// (a `Range` request, to resume a body that broke off: check for 206, a server may ignore
    /// it and send everything). Authenticates as the registry asks:
    /// Basic with the credentials, or a bearer token for `scope` (the challenge's own scope
    /// wins) fetched from the realm the registry names, fetched again once if the registry
    /// refuses it (a token that expired mid-pull). Retries as [`Retry`] says, within the
    /// deadline of `transfer`, whose rate window starts afresh with the answer.
    pub async fn open(
        &self,
        path: &str,
        scope: &str,
        accept: &[&str],
        from: u64,
        transfer: &mut Transfer,
    ) -> Result<reqwest::Response, HttpError> {
        let url = format!("{}{path}", self.base);
        let mut renewals = 0;
        let mut use_basic = self.preemptive_basic;
        loop {
            let token = lock(&self.tokens).get(scope).cloned();
            let (mut response, retries) = self
                .send(&url, transfer, || {
                    let mut request = self.client.get(&url);
                    if !accept.is_empty() {
                        // One header, comma-joined: some proxies keep only the first of several.
                        request = request.header(reqwest::header::ACCEPT, accept.join(", "));
                    }
                    if from > 0 {
                        request = request.header(reqwest::header::RANGE, format!("bytes={from}-"));
                    }
                    if let Some((name, value)) = &self.header {
                        request = request.header(name, value);
                    }
                    if let Some(token) = &token {
                        request = request.bearer_auth(token);
                    } else if use_basic && let Some(c) = &self.credentials {
                        request = request.basic_auth(&c.username, Some(&c.password));
                    }
                    request
                })
                .await?;
            let status = response.status();
            transfer.new_window();
            if status.is_success() {
                return Ok(response);
            }
            if status == StatusCode::UNAUTHORIZED && renewals < 2 {
                renewals += 1;
                let challenge = response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .map(Challenge::parse);
                match challenge {
                    Some(Challenge::Bearer { realm, service, scope: asked }) => {
                        let scope_to_ask = asked.unwrap_or_else(|| scope.to_owned());
                        let token =
                            self.token(&realm, service.as_deref(), &scope_to_ask, transfer).await?;
                        lock(&self.tokens).insert(scope.to_owned(), token);
                        continue;
                    }
                    // Basic, or no challenge at all (Harbor's REST API answers a bare 401).
                    _ if self.credentials.is_some() && !use_basic => {
                        use_basic = true;
                        continue;
                    }
                    _ => {}
                }
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(HttpError::Unauthorized { url, status: status.as_u16() });
            }
            // An error body that stalls is no reason to wait longer: the status says enough.
            let body = transfer.read_all(&mut response).await.unwrap_or_default();
            return Err(HttpError::Status {
                url,
                status: status.as_u16(),
                message: String::from_utf8_lossy(&body).trim().chars().take(200).collect(),
                retries,
            });
        }
    }

    /// Before retry `attempt` (0-based) of a body that broke off: announces and waits as the
    /// policy says, or returns false when the retries are used up.
    pub async fn pause_before_resuming(&self, path: &str, attempt: u32, why: &str) -> bool {
        if attempt + 1 >= self.retry.attempts.max(1) {
            return false;
        }
        let wait = self.retry.delay(attempt, None);
        self.notify.say(&format!(
            "{}{path}: {why}; resuming in {} (retry {} of {})",
            self.base,
            seconds(wait),
            attempt + 1,
            self.retry.attempts - 1
        ));
        tokio::time::sleep(wait).await;
        true
    }

    /// Sends the request `build` makes until it gets an answer that is not worth retrying, or
    /// the attempts run out; returns that answer (any status) and the retries it took.
    /// Each attempt waits for the answer's headers at most one rate window, and none goes past
    /// the deadline of `transfer`.
    async fn send(
        &self,
        url: &str,
        transfer: &Transfer,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<(reqwest::Response, u32), HttpError> {
        let mut attempt = 0;
        loop {
            let last = attempt + 1 >= self.retry.attempts.max(1);
            let started = tokio::time::Instant::now();
            if started >= transfer.deadline {
                let message = transfer.expired();
                return Err(HttpError::Slow { url: url.to_owned(), message, retries: attempt });
            }
            let until = (started + self.pace.window).min(transfer.deadline);
            let answer = tokio::time::timeout_at(until, build().send()).await;
            let (why, wait) = match answer {
                Ok(Ok(response)) if last || !retryable(response.status()) => {
                    return Ok((response, attempt));
                }
                Ok(Ok(response)) => {
                    let after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok());
                    let wait = self.retry.delay(attempt, after);
                    let how = if after.is_some() { " (Retry-After)" } else { "" };
                    (format!("HTTP {}", response.status().as_u16()), (wait, how))
                }
                Ok(Err(e)) if !last && transient(&e) => {
                    ("the connection failed".to_owned(), (self.retry.delay(attempt, None), ""))
                }
                Ok(Err(e)) => {
                    return Err(HttpError::Connect {
                        url: url.to_owned(),
                        message: error_chain(&e),
                        retries: attempt,
                    });
                }
                Err(_) if last || until < started + self.pace.window => {
                    let message = if until < started + self.pace.window {
                        transfer.expired()
                    } else {
                        no_answer(self.pace.window)
                    };
                    return Err(HttpError::Slow { url: url.to_owned(), message, retries: attempt });
                }
                Err(_) => (no_answer(self.pace.window), (self.retry.delay(attempt, None), "")),
            };
            self.notify.say(&format!(
                "{url}: {why}; waiting {}{} before retry {} of {}",
                seconds(wait.0),
                wait.1,
                attempt + 1,
                self.retry.attempts - 1
            ));
            tokio::time::sleep(wait.0).await;
            attempt += 1;
        }
    }

    /// Asks the token server for a token for `scope`, with Basic credentials when we have them.
    async fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        transfer: &mut Transfer,
    ) -> Result<String, HttpError> {
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let client = self.realm_client(realm)?;
        let mut query: Vec<(&str, &str)> = vec![("scope", scope)];
        if let Some(service) = service {
            query.push(("service", service));
        }
        let (mut response, retries) = self
            .send(realm, transfer, || {
                let request = client.get(realm).query(&query);
                match &self.credentials {
                    Some(c) => request.basic_auth(&c.username, Some(&c.password)),
                    None => request,
                }
            })
            .await?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(HttpError::Unauthorized { url: realm.to_owned(), status: status.as_u16() });
        }
        if !status.is_success() {
            return Err(HttpError::Status {
                url: realm.to_owned(),
                status: status.as_u16(),
                message: String::new(),
                retries,
            });
        }
        transfer.new_window();
        let body = transfer.read_all(&mut response).await?;
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| HttpError::Body { url: realm.to_owned(), message: e.to_string() })?;
        answer.token.or(answer.access_token).ok_or_else(|| HttpError::Body {
            url: realm.to_owned(),
            message: "the token server's answer has no token".into(),
        })
    }

    /// The client for token server `realm`. A host the user named insecure (this registry, or
    /// one named with `--insecure-registry=HOST`) gets this registry's client; any other host
    /// gets verified TLS, and never the credentials over plain HTTP (#19).
    fn realm_client(&self, realm: &str) -> Result<&reqwest::Client, HttpError> {
        let url = reqwest::Url::parse(realm).map_err(|e| HttpError::Body {
            url: self.base.clone(),
            message: format!("the token realm {realm:?} is not a URL: {e}"),
        })?;
        let at = host_port(&url);
        let registry = reqwest::Url::parse(&self.base).map(|u| host_port(&u)).ok();
        if (self.insecure_here && registry.as_deref() == Some(at.as_str()))
            || self.insecure.names(&at)
        {
            return Ok(&self.client);
        }
        if url.scheme() != "https" && self.credentials.is_some() {
            return Err(HttpError::PlainRealm {
                realm: format!("{}://{at}{}", url.scheme(), url.path()),
                host: at,
            });
        }
        Ok(self.verified.as_ref().unwrap_or(&self.client))
    }

    /// True when anything answers HTTP(S) at the base URL (any status): used to choose between
    /// HTTPS and plain HTTP for an `--insecure-registry`.
    pub async fn answers(&self) -> bool {
        let probe = self.client.get(format!("{}/v2/", self.base)).send();
        matches!(tokio::time::timeout(self.pace.window, probe).await, Ok(Ok(_)))
    }
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm=…`.
    Basic,
    /// `Bearer realm=…,service=…,scope=…`.
    Bearer {
        /// The token server URL.
        realm: String,
        /// The service to name in the token request.
        service: Option<String>,
        /// The scope the registry asks for, if it says.
        scope: Option<String>,
    },
    /// Anything else.
    Other,
}

impl Challenge {
    /// Parses one challenge (`Scheme k="v",k2="v2"`).
    pub fn parse(header: &str) -> Challenge {
        let header = header.trim();
        let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Challenge::Basic;
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Challenge::Other;
        }
        let mut map = HashMap::new();
        let mut rest = params.trim();
        while !rest.is_empty() {
            let Some((key, after)) = rest.split_once('=') else { break };
            let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
            let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
                match quoted.find('"') {
                    Some(end) => (&quoted[..end], &quoted[end + 1..]),
                    None => (quoted, ""),
                }
            } else {
                match after.find(',') {
                    Some(end) => (&after[..end], &after[end..]),
                    None => (after, ""),
                }
            };
            map.insert(key, value.to_owned());
            rest = after.trim_start_matches([',', ' ']);
        }
        match map.remove("realm") {
            Some(realm) => Challenge::Bearer {
                realm,
                service: map.remove("service"),
                scope: map.remove("scope"),
            },
            None => Challenge::Other,
        }
    }
}

/// The target of the `rel="next"` part of a `Link` header value, as a path and query (an
/// absolute URL is cut down to its path, since the registry is always the one we talk to).
pub fn next_link(value: &str) -> Option<String> {
    value.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        if !is_next {
            return None;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let path = match target.find("://") {
            Some(i) => &target[i + 3..][target[i + 3..].find('/')?..],
            None => target,
        };
        Some(path.to_owned())
    })
}

/// Percent-encodes a path segment or query value (RFC 3986 unreserved characters stay).
pub fn encode(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Every message in an error's source chain, joined (reqwest hides the useful part there).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        message.push_str(": ");
        message.push_str(&e.to_string());
        source = e.source();
    }
    message
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot set up should fail loudly
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(base_url("https://h.example:5000/", false).unwrap(), "https://h.example:5000");
        assert_eq!(base_url("h.example", false).unwrap(), "https://h.example");
        assert_eq!(base_url("127.0.0.1:5000", true).unwrap(), "http://127.0.0.1:5000");
        assert_eq!(base_url("http://127.0.0.1:5000", true).unwrap(), "http://127.0.0.1:5000");
        assert!(base_url("http://127.0.0.1:5000", false).is_err());
        assert!(base_url("ftp://x", true).is_err());
        assert!(base_url("https://user:pw@h", false).is_err());
        assert!(base_url("h/path", false).is_err());
    }

    #[test]
    fn insecure_hosts_with_and_without_ports() {
        let bare = Insecure::from_flags(&[String::new()]);
        assert!(bare.registry("127.0.0.1:5000") && !bare.names("127.0.0.1:5001"));
        let named = Insecure::from_flags(&["http://Tokens.Example:5001/".into(), "[::1]".into()]);
        assert!(!named.named_registries);
        assert!(named.names("tokens.example:5001") && !named.names("tokens.example:5002"));
        assert!(named.registry("https://tokens.example:5001") && !named.registry("other:5001"));
        assert!(named.names("[::1]:8080"), "no port named: any port of that host");
        assert_eq!(split_port("[::1]:80"), ("[::1]", Some("80")));
        assert_eq!(split_port("::1"), ("::1", None));
    }

    #[test]
    fn challenges() {
        assert_eq!(Challenge::parse(r#"Basic realm="test-realm""#), Challenge::Basic);
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://h/service/token",service="harbor-registry",scope="registry:catalog:*""#
            ),
            Challenge::Bearer {
                realm: "https://h/service/token".into(),
                service: Some("harbor-registry".into()),
                scope: Some("registry:catalog:*".into()),
            }
        );
        assert_eq!(
            Challenge::parse(r#"Bearer realm="http://t/token", service="reg""#),
            Challenge::Bearer {
                realm: "http://t/token".into(),
                service: Some("reg".into()),
                scope: None
            }
        );
        assert_eq!(Challenge::parse("Negotiate"), Challenge::Other);
    }

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"</v2/_catalog?last=test%2Fmulti&n=1>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=test%2Fmulti&n=1")
        );
        assert_eq!(
            next_link(
                r#"<https://h/api/v2.0/projects?page=1&page_size=2>; rel="prev" , <https://h/api/v2.0/projects?page=3&page_size=2>; rel="next""#
            )
            .as_deref(),
            Some("/api/v2.0/projects?page=3&page_size=2")
        );
        assert_eq!(next_link(r#"</x?page=1>; rel="prev""#), None);
    }

    #[test]
    fn backoff_doubles_and_honours_retry_after() {
        let retry = Retry { attempts: 4, base_delay: Duration::from_millis(100) };
        assert_eq!(retry.delay(0, None), Duration::from_millis(100));
        assert_eq!(retry.delay(2, None), Duration::from_millis(400));
        assert_eq!(retry.delay(30, None), Duration::from_secs(30));
        assert_eq!(retry.delay(0, Some("3")), Duration::from_secs(3));
        assert_eq!(retry.delay(0, Some("9999")), Duration::from_secs(60));
        assert_eq!(retry.delay(1, Some("soon")), Duration::from_millis(200), "unparsable: backoff");
        assert_eq!(Retry::with_retries(2).attempts, 3);
    }

    #[test]
    fn retry_after_as_an_http_date() {
        // 1994-11-06T08:49:37Z is 784111777 s after the epoch.
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(parse_retry_after(date, now), Some(Duration::ZERO));
        let earlier = now - Duration::from_secs(90);
        assert_eq!(parse_retry_after(date, earlier), Some(Duration::from_secs(90)));
        assert_eq!(
            parse_retry_after(
                "Thu, 29 Feb 2024 23:59:59 GMT",
                UNIX_EPOCH + Duration::from_secs(1_709_251_190)
            ),
            Some(Duration::from_secs(9))
        );
        assert_eq!(parse_retry_after(date, now + Duration::from_secs(5)), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 CET", now), None);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
    }

    #[test]
    fn encoding() {
        assert_eq!(encode("team/app"), "team%2Fapp");
        assert_eq!(encode(&encode("a/b")), "a%252Fb");
    }
}
