//! `leakhound serve`: the scan-on-push service ([`crate::serve`]) wired to the image code of
//! `sweep`: the same registry credentials and flags ([`Reach`]), the same backend
//! ([`OciBackend`]), the same layer cache and key, the same triage. Each pushed artifact is a
//! one-artifact sweep.

use std::sync::Arc;

use anyhow::{Context, Result, bail};

use super::sweep::{Reach, cache_key, layer_options, rule_summaries};
use super::{Outcome, configs, new_scan, triage, verify};
use crate::cache::Cache;
use crate::cli::ServeArgs;
use crate::engine::Engine;
use crate::error::ScanError;
use crate::report::{Report, RuleSummary};
use crate::rules::load::build_rule_set;
use crate::serve::notify::Notifier;
use crate::serve::queue::Queue;
use crate::serve::results::Results;
use crate::serve::webhook::Secret;
use crate::serve::{self, Artifact, ArtifactScanner, Options, Scanned};
use crate::source::enumerate::Listed;
use crate::source::http::{self, Retry};
use crate::source::oci::registry::Registry;
use crate::sweep::oci::{OciAssembler, OciBackend};
use crate::sweep::shard::Shard;
use crate::sweep::{NoProgress, SweepDocument, SweepOptions, assemble, sweep};

/// The environment variable holding the webhook's shared secret.
pub const ENV_SECRET: &str = "LEAKHOUND_WEBHOOK_SECRET";

/// Tries of a notification (the first and two retries, 1 s then 2 s apart).
const NOTIFY_RETRY: Retry = Retry { attempts: 3, base_delay: std::time::Duration::from_secs(1) };

/// Runs the service until SIGTERM.
pub fn run(args: &ServeArgs) -> Result<Outcome> {
    if args.scan.output.report.is_some() {
        bail!("serve writes one report per artifact in --results: drop --report");
    }
    let secret = secret(args.unauthenticated)?;
    let reach = Reach::new(&args.registry, &args.access, &args.scan)?;
    let ca_certs = &reach.registry.ca_certs;
    let ca = (!ca_certs.is_empty()).then(|| ca_certs.join(&b'\n'));
    let notifier = args.notify.as_deref().map(|url| notifier(url, ca.as_deref())).transpose()?;
    let set = build_rule_set(&configs(&args.scan.rules, None)?)?;
    let rules = set.digest();
    let engine = Engine::new(set)?;
    let cache = Cache::open(&args.cache, &cache_key::<OciAssembler>(&rules, &args.scan))?;
    let queue = Arc::new(Queue::open(&args.cache)?);
    let host = reach.host;
    let registry = Registry::new(reach.registry).map_err(anyhow::Error::msg)?;
    let scanner = Images {
        args,
        engine: &engine,
        registry: &registry,
        cache: &cache,
        summaries: rule_summaries(&engine),
        sweep: SweepOptions {
            registry: host.clone(),
            shard: Shard::ALL,
            concurrency: args.concurrency.max(1),
            rules,
            platform: args.access.platform.clone(),
        },
    };
    let results = Results::new(
        args.results.clone(),
        &host,
        args.scan.output.format,
        args.scan.output.show_secrets,
    );
    let options = Options {
        listen: args.listen,
        secret,
        registry: host,
        results,
        notifier,
        jobs: usize::from(args.jobs),
        max_queue: args.max_queue,
        max_body: args.max_body,
        retry: Retry { attempts: args.attempts, base_delay: args.backoff },
    };
    serve::run(options, &queue, &scanner)?;
    Ok(Outcome::Clean)
}

/// The shared secret from the environment; none only when `--unauthenticated` says so.
fn secret(unauthenticated: bool) -> Result<Option<Secret>> {
    let value = std::env::var(ENV_SECRET).ok();
    match (value.as_deref().and_then(Secret::new), unauthenticated) {
        (Some(_), true) => bail!("--unauthenticated, yet {ENV_SECRET} is set: drop one of them"),
        (Some(secret), false) => Ok(Some(secret)),
        (None, true) => Ok(None),
        (None, false) => bail!(
            "set {ENV_SECRET} to the webhook policy's Auth Header (Harbor sends it as the \
             Authorization header), or pass --unauthenticated to take webhooks from anyone"
        ),
    }
}

/// The notification endpoint: an `http(s)` URL, certificates verified (`--ca-cert` adds CAs,
/// for a chat server inside the company).
fn notifier(url: &str, ca: Option<&[u8]>) -> Result<Notifier> {
    let parsed = reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .context("--notify wants an http:// or https:// URL")?;
    let client = http::client(ca, false, false)?;
    Ok(Notifier::new(client, parsed, NOTIFY_RETRY))
}

/// Scans artifacts as a one-artifact sweep.
struct Images<'a> {
    args: &'a ServeArgs,
    engine: &'a Engine,
    registry: &'a Registry,
    cache: &'a Cache,
    summaries: Vec<RuleSummary>,
    sweep: SweepOptions,
}

impl Images<'_> {
    fn report(&self, artifact: &Artifact) -> Result<(Report, SweepDocument)> {
        // A scan per artifact: its memory of blobs seen ends with the artifact (the layer cache
        // is what lasts).
        let scan = new_scan(self.engine, &self.args.scan);
        let backend = OciBackend::new(
            self.registry,
            self.sweep.registry.clone(),
            &scan,
            layer_options(&self.args.access, &self.args.scan),
            self.args.access.platform.clone(),
        );
        let listed = Listed {
            project: artifact.project.clone(),
            repository: artifact.repository.clone(),
            tags: artifact.tags.clone(),
            digest: Some(artifact.digest.clone()),
            push_time: None,
            children: Vec::new(),
        };
        let document = sweep(
            &backend,
            std::slice::from_ref(&listed),
            Vec::new(),
            Some(self.cache),
            &self.sweep,
            &NoProgress,
        )?;
        let target = format!("serve {}/{}", self.sweep.registry, listed.reference());
        let (mut report, _) = assemble(&backend, std::slice::from_ref(&document), target)?;
        report.rules.clone_from(&self.summaries);
        let mut shown = triage(&report, &self.args.scan.output)?;
        verify(&mut shown, &self.args.scan.verify, &self.args.scan.rules)?;
        Ok((shown, document))
    }
}

impl ArtifactScanner for Images<'_> {
    fn scan(&self, artifact: &Artifact) -> Scanned {
        match self.report(artifact) {
            Ok((report, document)) => {
                // What the registry did not give (the image, a layer, its config) may come
                // another time; archives that cannot be read inside a layer never will. The
                // reason is told from the triaged report, whose messages hide the secrets found.
                let unread = !document.errors.is_empty() || !document.failed.is_empty();
                let reasons: Vec<&str> = report.errors.iter().map(|e| e.message.as_str()).collect();
                let retry = unread.then(|| reasons.join("; "));
                Scanned {
                    report,
                    retry,
                    layers_scanned: document.stats.layers_scanned,
                    layers_reused: document.stats.layers_reused,
                }
            }
            Err(e) => {
                let origin =
                    format!("{}/{}@{}", self.sweep.registry, artifact.repository, artifact.digest);
                let reason = format!("{e:#}");
                let report = Report {
                    target: format!("serve {origin}"),
                    errors: vec![ScanError::new(origin, reason.clone())],
                    rules: self.summaries.clone(),
                    started: crate::report::now(),
                    finished: crate::report::now(),
                    ..Report::default()
                };
                Scanned { report, retry: Some(reason), layers_scanned: 0, layers_reused: 0 }
            }
        }
    }
}
