//! `leakhound sweep`: every image of a registry (Harbor's REST API or `/v2/_catalog`), each unique
//! layer scanned once, incrementally with `--cache`, split across jobs with `--shard`.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Outcome, configs, finish_scan, new_scan};
use crate::cache::Cache;
use crate::cli::{RegistryArgs, ScanArgs, SweepArgs};
use crate::engine::Engine;
use crate::error::ScanError;
use crate::report::RuleSummary;
use crate::report::text::sanitize;
use crate::rules::load::build_rule_set;
use crate::source::enumerate::{Filter, Listed};
use crate::source::http::{HttpOptions, Insecure, RegistryHttp, Retry, base_url};
use crate::source::oci::auth;
use crate::source::oci::layer::LayerOptions;
use crate::source::oci::registry::{Registry, RegistryOptions};
use crate::source::{catalog, harbor};
use crate::sweep::oci::OciBackend;
use crate::sweep::shard::Shard;
use crate::sweep::{
    Assembler, Backend, Progress, ProjectSummary, SweepOptions, assemble, incomplete, sweep,
};

/// How `sweep` and `serve` reach their registry, with the same credential rules
/// (`--username` with `--password-stdin`, else the robot account in `LEAKHOUND_REGISTRY_USER` /
/// `LEAKHOUND_REGISTRY_PASSWORD`, else the docker config) and the same TLS and retry flags.
pub struct Reach {
    /// `host[:port]` as image references name it.
    pub host: String,
    /// The registry client's options.
    pub registry: RegistryOptions,
}

impl Reach {
    /// Reads the flags (and the password from standard input with `--password-stdin`).
    pub fn new(registry: &str, access: &RegistryArgs, scan: &ScanArgs) -> Result<Reach> {
        let explicit = super::image::explicit_credentials(access)?;
        let insecure = Insecure::from_flags(&access.insecure_registry);
        let host = base_url(registry, insecure.registry(registry))?
            .split_once("://")
            .map(|(_, h)| h.to_owned())
            .unwrap_or_default();
        let docker_config = auth::docker_config_path();
        let credentials = auth::resolve(&host, explicit.as_ref(), docker_config.as_deref())
            .map_err(anyhow::Error::msg)?;
        let registry = RegistryOptions {
            credentials,
            insecure,
            ca_certs: super::image::ca_certs(&scan.verify.ca_cert)?,
            retry: Retry::with_retries(access.retries),
            pace: super::image::pace(access),
            notify: super::image::notify(scan.output.quiet),
            docker_config,
        };
        Ok(Reach { host, registry })
    }

    /// The options of the listing client: the registry client's credentials, CAs and retries.
    fn http_options(&self) -> HttpOptions {
        let r = &self.registry;
        HttpOptions {
            insecure: r.insecure.clone(),
            ca_cert: (!r.ca_certs.is_empty()).then(|| r.ca_certs.join(&b'\n')),
            credentials: r.credentials.clone(),
            retry: r.retry,
            pace: r.pace,
            notify: r.notify.clone(),
        }
    }
}

/// How layers are read: the scan's size caps, `--max-layer-size`, `--threads`.
pub fn layer_options(access: &RegistryArgs, scan: &ScanArgs) -> LayerOptions {
    LayerOptions {
        caps: super::size_caps(scan),
        max_layer_size: access.max_layer_size,
        workers: scan.threads,
    }
}

/// The key cached layer results are stored under. Cached layer results hold what archives
/// inside them gave, so how far archives are followed is part of the key, and so is the
/// result's shape: a cache from before archives were opened (or before their problems were
/// kept), or with other caps, rescans.
pub fn cache_key<B: Assembler>(rules: &str, scan: &ScanArgs) -> String {
    format!(
        "{rules} layer-result:{} archives:{}:{}",
        B::LAYER_VERSION,
        scan.max_archive_depth,
        scan.max_archive_inflated
    )
}

/// The rules in force, as reports list them.
pub fn rule_summaries(engine: &Engine) -> Vec<RuleSummary> {
    (0..engine.len()).map(|i| RuleSummary::of(&engine.rule(i).syntax)).collect()
}

/// Sweeps the registry and reports.
pub fn run(args: &SweepArgs) -> Result<Outcome> {
    let reach = Reach::new(&args.registry, &args.access, &args.scan)?;
    let filter = Filter::new(
        &args.projects,
        &args.repositories,
        &args.tags,
        args.pushed_since.as_deref(),
        crate::report::now(),
    )
    .map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the network runtime")?;
    let mut http = RegistryHttp::new(&args.registry, &reach.http_options())?;
    if args.harbor {
        http = http.with_preemptive_basic();
    }
    let (listed, errors) = runtime.block_on(list(&http, &filter, args))?;
    if args.list {
        return print_listing(&listed, &errors);
    }
    let set = build_rule_set(&configs(&args.scan.rules, None)?)?;
    let rules = set.digest();
    let engine = Engine::new(set)?;
    let scan = new_scan(&engine, &args.scan);
    let host = reach.host;
    let registry = Registry::new(reach.registry).map_err(anyhow::Error::msg)?;
    let layer = layer_options(&args.access, &args.scan);
    let backend =
        OciBackend::new(&registry, host.clone(), &scan, layer, args.access.platform.clone());
    sweep_with(&backend, &listed, errors, args, &host, rules, rule_summaries(&engine))
}

/// Sweeps `listed` with `backend` and reports: a shard report with `--shard`, else the report
/// in the format asked, then the per-project summary.
pub fn sweep_with<B: Backend>(
    backend: &B,
    listed: &[Listed],
    errors: Vec<ScanError>,
    args: &SweepArgs,
    registry: &str,
    rules: String,
    summaries: Vec<RuleSummary>,
) -> Result<Outcome> {
    let key = cache_key::<B>(&rules, &args.scan);
    if args.shard.is_some() && args.scan.verify.verify {
        // A shard sees only its layers, so it would check the same secret as other shards, and
        // its report would have to carry results the cache must never hold.
        bail!(super::merge::SHARDS_DO_NOT_VERIFY);
    }
    let cache = args.cache.as_deref().map(|path| Cache::open(path, &key)).transpose()?;
    let options = SweepOptions {
        registry: registry.to_owned(),
        shard: args.shard.unwrap_or(Shard::ALL),
        concurrency: args.concurrency.max(1),
        rules,
        platform: args.access.platform.clone(),
    };
    let bar = Bar::new(args.scan.output.quiet);
    let document = sweep(backend, listed, errors, cache.as_ref(), &options, &bar)?;
    bar.finish();
    if args.shard.is_some() {
        let mut text = serde_json::to_vec_pretty(&document)?;
        text.push(b'\n');
        match &args.scan.output.report {
            Some(path) => std::fs::write(path, &text)
                .with_context(|| format!("cannot write the shard report to {}", path.display()))?,
            None => io::stdout().lock().write_all(&text)?,
        }
        if !args.scan.output.quiet {
            eprintln!(
                "shard {}: {} images, {} layers scanned, {} reused from the cache, {} failed",
                document.shard,
                document.stats.images,
                document.stats.layers_scanned,
                document.stats.layers_reused,
                document.stats.layers_failed
            );
        }
        let failed = incomplete(backend, &document)?;
        return Ok(if failed { Outcome::Incomplete } else { Outcome::Clean });
    }
    let (mut report, projects) =
        assemble(backend, std::slice::from_ref(&document), format!("sweep {registry}"))?;
    report.rules = summaries;
    let outcome =
        finish_scan(&report, &super::image::with_insecure_hosts(&args.scan, &args.access))?;
    if !args.scan.output.quiet {
        eprint!("{}", project_table(&projects));
    }
    Ok(outcome)
}

/// The per-project summary as an aligned table.
pub fn project_table(projects: &[ProjectSummary]) -> String {
    use std::fmt::Write as _;
    let width = projects.iter().map(|p| p.project.len()).max().unwrap_or(0).max(7);
    let mut out = format!(
        "{:width$}  {:>7}  {:>14}  {:>14}  {:>8}  {:>8}\n",
        "project", "images", "layers scanned", "layers reused", "findings", "failures"
    );
    for p in projects {
        let _ = writeln!(
            out,
            "{:width$}  {:>7}  {:>14}  {:>14}  {:>8}  {:>8}",
            sanitize(&p.project),
            p.images,
            p.layers_scanned,
            p.layers_reused,
            p.findings,
            p.failures
        );
    }
    out
}

/// The progress bar on a terminal: layers and bytes done, rate, ETA.
struct Bar {
    progress: ProgressBar,
    layers: AtomicU64,
    done: AtomicU64,
    images: AtomicU64,
}

impl Bar {
    fn new(quiet: bool) -> Bar {
        let bar = if quiet || !io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message("listing and resolving images");
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        };
        Bar {
            progress: bar,
            layers: AtomicU64::new(0),
            done: AtomicU64::new(0),
            images: AtomicU64::new(0),
        }
    }

    fn message(&self) {
        self.progress.set_message(format!(
            "{} images, {}/{} layers and configs",
            self.images.load(Relaxed),
            self.done.load(Relaxed),
            self.layers.load(Relaxed)
        ));
    }

    fn finish(&self) {
        self.progress.finish_and_clear();
    }
}

impl Progress for Bar {
    fn start(&self, images: u64, layers: u64, bytes: u64) {
        self.images.store(images, Relaxed);
        self.layers.store(layers, Relaxed);
        self.progress.set_length(bytes);
        self.message();
    }

    fn layer_done(&self, bytes: u64) {
        self.done.fetch_add(1, Relaxed);
        self.progress.inc(bytes);
        self.message();
    }
}

/// Lists the registry with the API asked for.
async fn list(
    http: &RegistryHttp,
    filter: &Filter,
    args: &SweepArgs,
) -> Result<(Vec<Listed>, Vec<ScanError>)> {
    let page = args.page_size.clamp(1, 1000);
    if args.harbor {
        let found = harbor::list(http, filter, page)
            .await
            .with_context(|| format!("cannot list Harbor projects at {}", http.base()))?;
        Ok((found.listed, found.errors))
    } else {
        catalog::list(http, filter, page as usize)
            .await
            .with_context(|| format!("cannot list the catalog of {}", http.base()))
    }
}

/// `--list`: one line per artifact: repository, tags, digest, push time.
fn print_listing(listed: &[Listed], errors: &[ScanError]) -> Result<Outcome> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    for l in listed {
        writeln!(
            out,
            "{}\t{}\t{}\t{}",
            sanitize(&l.repository),
            sanitize(&l.tags.join(",")),
            l.digest.as_deref().unwrap_or("-"),
            l.push_time.as_deref().unwrap_or("-"),
        )?;
    }
    out.flush()?;
    for e in errors {
        eprintln!("leakhound: error: {}: {}", sanitize(&e.origin), sanitize(&e.message));
    }
    Ok(if errors.is_empty() { Outcome::Clean } else { Outcome::Incomplete })
}
