//! Registry sweeps (issue #8): scan every unique layer of every listed image once (or once ever,
//! with the [`crate::cache`]), split the work between jobs ([`shard`]), and report one finding
//! per secret however many images share it ([`group`]).
//!
//! The flow: listed artifacts → [`Backend::resolve`] (every platform of an index) → unique layer
//! digests → this shard's share → cached results reused → the rest scanned by
//! `concurrency` workers, each result cached the moment it is done → a [`SweepDocument`] (the
//! shard file). [`assemble`] turns one or many documents (the shards of one sweep) into a
//! [`Report`], so a merged sweep and an unsharded one go through the very same code.
//!
//! Pulling and scanning are the [`Backend`]'s job (the image source); this module must not
//! reach into the engine, the registry protocol or report formats.

pub mod document;
pub mod gitlab;
pub mod group;
pub mod oci;
pub mod shard;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use document::{Image, LayerRef, ProjectSummary, SweepDocument, SweepStats};
use shard::Shard;

use crate::cache::Cache;
use crate::error::ScanError;
use crate::finding::{Finding, Problems};
use crate::report::{Report, Stats};
use crate::source::enumerate::Listed;

/// One platform manifest behind a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The platform manifest's digest.
    pub manifest_digest: String,
    /// The index's digest, when the reference named an index.
    pub index_digest: Option<String>,
    /// `os/arch[/variant]`.
    pub platform: String,
    /// The config blob's digest.
    pub config_digest: String,
    /// The config blob's size.
    pub config_size: u64,
    /// The layers, base first.
    pub layers: Vec<LayerRef>,
}

/// How per-layer and per-config results become an image's findings (pure: `merge` needs only
/// this). Results are self-contained (they do not know which image they belong to), so they can
/// be cached by digest and shipped between shards.
pub trait Assembler: Sync {
    /// One layer's scan result.
    type Layer: Serialize + DeserializeOwned + Send + Sync;
    /// One config's scan result.
    type Config: Serialize + DeserializeOwned + Send + Sync;
    /// The shape of [`Assembler::Layer`], raised when it changes (or what it keeps does): it is
    /// part of the cache key, so results of another shape are rescanned, never misread.
    const LAYER_VERSION: u32;

    /// An image's findings from its layers' results, base first, and its config's result.
    fn assemble(
        &self,
        image: &Image,
        reference: &str,
        layers: &[&Self::Layer],
        config: &Self::Config,
    ) -> Vec<Finding>;
    /// Counters of one layer's scan (files, bytes, skips).
    fn layer_stats(&self, layer: &Self::Layer) -> Stats;
    /// The result of a layer that could not be scanned: nothing found, nothing deleted.
    fn empty_layer(&self, digest: &str) -> Self::Layer;
    /// What went wrong while reading a layer that was still (partly) scanned; such a result is
    /// reported but never cached.
    fn layer_problems(&self, layer: &Self::Layer) -> Vec<String>;
    /// The result of a config that could not be scanned.
    fn empty_config(&self) -> Self::Config;
    /// What archives inside a completely read layer could not read, and what they skipped
    /// (origins are paths in the layer). Cached with the layer, reported on every use.
    fn layer_archive_problems(&self, _layer: &Self::Layer) -> Problems {
        Problems::default()
    }
}

/// What a sweep needs from the image source besides assembling: resolve references, scan a
/// layer, scan a config.
pub trait Backend: Assembler {
    /// Every platform image of `repository` at `reference` (a tag or a digest).
    fn resolve(&self, repository: &str, reference: &str) -> Result<Vec<Resolved>, String>;
    /// Pulls and scans one layer of `image`.
    fn scan_layer(&self, image: &Image, layer: &LayerRef) -> Result<Self::Layer, String>;
    /// Pulls and scans `image`'s config.
    fn scan_config(&self, image: &Image) -> Result<Self::Config, String>;
}

/// How a sweep runs.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// The registry as shown in references (`host:port`).
    pub registry: String,
    /// This job's share.
    pub shard: Shard,
    /// Parallel pulls and scans.
    pub concurrency: usize,
    /// The rule set's digest (recorded in the document; merge refuses mixed rule sets).
    pub rules: String,
    /// Keep only this platform (`os/arch[/variant]`).
    pub platform: Option<String>,
}

/// Progress callbacks (a terminal progress bar, or nothing).
pub trait Progress: Sync {
    /// The work is known: images, layers to scan and their bytes.
    fn start(&self, images: u64, layers: u64, bytes: u64);
    /// One layer (or config) is done.
    fn layer_done(&self, bytes: u64);
}

/// No progress display.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: u64, _: u64, _: u64) {}
    fn layer_done(&self, _: u64) {}
}

/// An error while preparing the sweep (not one image's failure).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SweepError(pub String);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `work` over `items` on `concurrency` threads, in no particular order.
fn parallel<'a, T: Sync, R: Send>(
    items: &'a [T],
    concurrency: usize,
    work: impl Fn(&'a T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicU64::new(0);
    let out = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|s| {
        for _ in 0..concurrency.clamp(1, items.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Relaxed) as usize;
                    let Some(item) = items.get(i) else { break };
                    let r = work(item);
                    lock(&out).push(r);
                }
            });
        }
    });
    out.into_inner().unwrap_or_else(PoisonError::into_inner)
}

/// Resolves listed artifacts to platform images, one entry per (repository, manifest digest,
/// platform) with every tag that points at it.
fn resolve_all<B: Backend>(
    backend: &B,
    listed: &[Listed],
    options: &SweepOptions,
) -> (Vec<Image>, Vec<ScanError>) {
    let resolved = parallel(listed, options.concurrency, |l| {
        let reference = match (&l.digest, l.tags.first()) {
            (Some(d), _) => d.clone(),
            (None, Some(t)) => t.clone(),
            (None, None) => return (l, Err("neither a tag nor a digest".to_owned())),
        };
        (l, backend.resolve(&l.repository, &reference))
    });
    let mut images: BTreeMap<(String, String, String), Image> = BTreeMap::new();
    let mut errors = Vec::new();
    for (l, result) in resolved {
        match result {
            Ok(platforms) => {
                for r in platforms {
                    // `linux/arm64` also picks `linux/arm64/v8`.
                    if let Some(wanted) = &options.platform
                        && r.platform != *wanted
                        && !r.platform.starts_with(&format!("{wanted}/"))
                    {
                        continue;
                    }
                    let key = (l.repository.clone(), r.manifest_digest.clone(), r.platform.clone());
                    let entry = images.entry(key).or_insert_with(|| Image {
                        project: l.project.clone(),
                        repository: l.repository.clone(),
                        tags: Vec::new(),
                        manifest_digest: r.manifest_digest,
                        index_digest: r.index_digest,
                        platform: r.platform,
                        config_digest: r.config_digest,
                        config_size: r.config_size,
                        layers: r.layers,
                        push_time: l.push_time.clone(),
                    });
                    entry.tags.extend(l.tags.iter().cloned());
                    entry.tags.sort();
                    entry.tags.dedup();
                }
            }
            Err(message) => errors
                .push(ScanError::new(format!("{}/{}", options.registry, l.reference()), message)),
        }
    }
    (images.into_values().collect(), errors)
}

/// Sweeps the listed artifacts: this shard's layers and configs scanned (or taken from the
/// cache), as a [`SweepDocument`]. One image's failure is recorded and the rest goes on.
#[allow(clippy::too_many_lines)] // one pipeline, read top to bottom: plan, cache, scan, record
pub fn sweep<B: Backend>(
    backend: &B,
    listed: &[Listed],
    mut errors: Vec<ScanError>,
    cache: Option<&Cache>,
    options: &SweepOptions,
    progress: &dyn Progress,
) -> Result<SweepDocument, SweepError> {
    let started = Instant::now();
    let (images, resolve_errors) = resolve_all(backend, listed, options);
    errors.extend(resolve_errors);

    // Unique layers (first image holding each names the repository to pull from), and configs
    // keyed by manifest digest; this shard's share of each.
    let mut layer_jobs: BTreeMap<String, (&Image, &LayerRef)> = BTreeMap::new();
    let mut config_jobs: BTreeMap<String, &Image> = BTreeMap::new();
    for image in &images {
        for layer in &image.layers {
            if options.shard.owns(&layer.digest) {
                layer_jobs.entry(layer.digest.clone()).or_insert((image, layer));
            }
        }
        if options.shard.owns(&image.manifest_digest) {
            config_jobs.entry(image.manifest_digest.clone()).or_insert(image);
        }
    }

    let mut stats = SweepStats::default();
    let mut layers: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut configs: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    let mut reused_digests: BTreeSet<String> = BTreeSet::new();

    // Cache hits first: a cache that fails is fatal (never a silent rescan or a wrong result).
    let mut to_scan: Vec<(&Image, &LayerRef)> = Vec::new();
    for (digest, (image, layer)) in layer_jobs {
        let hit: Option<B::Layer> = match cache {
            Some(c) => c.get(&layer_key(&digest)).map_err(|e| SweepError(e.to_string()))?,
            None => None,
        };
        match hit {
            Some(result) => {
                stats.layers_reused += 1;
                reused_digests.insert(digest.clone());
                layers.insert(digest, to_value(&result)?);
            }
            None => to_scan.push((image, layer)),
        }
    }
    let mut configs_to_scan: Vec<(String, &Image)> = Vec::new();
    for (manifest, image) in config_jobs {
        let hit: Option<B::Config> = match cache {
            Some(c) => {
                c.get(&config_key(&image.config_digest)).map_err(|e| SweepError(e.to_string()))?
            }
            None => None,
        };
        match hit {
            Some(result) => {
                stats.configs_reused += 1;
                configs.insert(manifest, to_value(&result)?);
            }
            None => configs_to_scan.push((manifest, image)),
        }
    }

    let bytes: u64 = to_scan.iter().map(|(_, l)| l.size).sum();
    progress.start(images.len() as u64, (to_scan.len() + configs_to_scan.len()) as u64, bytes);
    let cache_error: Mutex<Option<String>> = Mutex::new(None);
    let scanned = parallel(&to_scan, options.concurrency, |(image, layer)| {
        let result = backend.scan_layer(image, layer);
        let problems = result.as_ref().map(|r| backend.layer_problems(r)).unwrap_or_default();
        // Only a layer read completely is cached: a partial read is retried next time.
        if let (Ok(r), Some(c), true) = (&result, cache, problems.is_empty())
            && let Err(e) = c.put(&layer_key(&layer.digest), r)
        {
            lock(&cache_error).get_or_insert(e.to_string());
        }
        progress.layer_done(layer.size);
        (layer.digest.clone(), problems, result.map(|r| (backend.layer_stats(&r), to_value(&r))))
    });
    for (digest, problems, result) in scanned {
        match result {
            Ok((layer_stats, value)) => {
                stats.layers_scanned += 1;
                stats.bytes_scanned += layer_stats.bytes;
                stats.files_scanned += layer_stats.scanned;
                // What a partial read found is still reported; the layer counts as failed.
                if !problems.is_empty() {
                    stats.layers_failed += 1;
                    failed.insert(digest.clone(), problems.join("; "));
                }
                layers.insert(digest, value?);
            }
            Err(message) => {
                stats.layers_failed += 1;
                failed.insert(digest, message);
            }
        }
    }
    let scanned_configs = parallel(&configs_to_scan, options.concurrency, |(m, image)| {
        let result = backend.scan_config(image);
        if let (Ok(r), Some(c)) = (&result, cache)
            && let Err(e) = c.put(&config_key(&image.config_digest), r)
        {
            lock(&cache_error).get_or_insert(e.to_string());
        }
        progress.layer_done(0);
        (m.clone(), result.map(|r| to_value(&r)))
    });
    for (manifest, result) in scanned_configs {
        match result {
            Ok(value) => {
                stats.configs_scanned += 1;
                configs.insert(manifest, value?);
            }
            Err(message) => {
                failed.insert(format!("config of {manifest}"), message);
            }
        }
    }
    if let Some(message) = cache_error.into_inner().unwrap_or_else(PoisonError::into_inner) {
        return Err(SweepError(message));
    }

    let projects = project_summaries(&images, &reused_digests, &layers, &failed, &errors);
    stats.images = images.len() as u64;
    stats.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(SweepDocument::new(
        options.registry.clone(),
        options.shard,
        options.rules.clone(),
        images,
        layers,
        configs,
        failed,
        errors,
        stats,
        projects,
    ))
}

fn layer_key(digest: &str) -> String {
    format!("layer:{digest}")
}

fn config_key(digest: &str) -> String {
    format!("config:{digest}")
}

fn to_value<T: Serialize>(value: &T) -> Result<serde_json::Value, SweepError> {
    serde_json::to_value(value).map_err(|e| SweepError(format!("cannot serialise a result: {e}")))
}

/// Per project: images, layers scanned vs reused (each unique layer counted once, in the first
/// project that holds it), failures.
fn project_summaries(
    images: &[Image],
    reused: &BTreeSet<String>,
    layers: &BTreeMap<String, serde_json::Value>,
    failed: &BTreeMap<String, String>,
    errors: &[ScanError],
) -> Vec<ProjectSummary> {
    let mut out: BTreeMap<String, ProjectSummary> = BTreeMap::new();
    let mut counted: BTreeSet<&str> = BTreeSet::new();
    for image in images {
        let p = out.entry(image.project.clone()).or_insert_with(|| ProjectSummary {
            project: image.project.clone(),
            ..ProjectSummary::default()
        });
        p.images += 1;
        for layer in &image.layers {
            if !counted.insert(&layer.digest) {
                continue;
            }
            if reused.contains(&layer.digest) {
                p.layers_reused += 1;
            } else if layers.contains_key(&layer.digest) {
                p.layers_scanned += 1;
            } else if failed.contains_key(&layer.digest) {
                p.failures += 1;
            }
        }
    }
    for e in errors {
        let project = e.origin.split('/').nth(1).unwrap_or("").to_owned();
        out.entry(project.clone())
            .or_insert_with(|| ProjectSummary { project, ..ProjectSummary::default() })
            .failures += 1;
    }
    out.into_values().collect()
}

/// True when one shard's sweep left something unread: an image or layer that failed, or an
/// archive inside a layer that could not be read (kept with the layer's result).
pub fn incomplete<B: Assembler>(backend: &B, document: &SweepDocument) -> Result<bool, SweepError> {
    if !document.errors.is_empty() || !document.failed.is_empty() {
        return Ok(true);
    }
    for (digest, value) in &document.layers {
        if !backend.layer_archive_problems(&parse_layer::<B>(digest, value)?).errors.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A layer's result as a shard report stores it.
fn parse_layer<B: Assembler>(
    digest: &str,
    value: &serde_json::Value,
) -> Result<B::Layer, SweepError> {
    serde_json::from_value(value.clone())
        .map_err(|e| SweepError(format!("the result for layer {digest} does not parse: {e}")))
}

/// Turns the documents of one sweep (one unsharded document, or every shard's) into a report:
/// per image, its layers' and config's results assembled by the backend, then one finding per
/// secret across images ([`group::group`]).
///
/// The documents must share one rule set and one shard count, and cover every shard exactly
/// once; an image whose layers or config no document holds is an error, never a silent gap.
#[allow(clippy::too_many_lines)] // check, union, assemble per image: one pass, read top to bottom
pub fn assemble<B: Assembler>(
    backend: &B,
    documents: &[SweepDocument],
    target: String,
) -> Result<(Report, Vec<ProjectSummary>), SweepError> {
    let Some(first) = documents.first() else {
        return Err(SweepError("no sweep reports to merge".into()));
    };
    shard::check_whole(documents.iter().map(|d| (d.shard, d.rules.as_str())))
        .map_err(SweepError)?;

    let mut images: BTreeMap<(String, String, String), Image> = BTreeMap::new();
    let mut layers: HashMap<&str, &serde_json::Value> = HashMap::new();
    let mut configs: HashMap<&str, &serde_json::Value> = HashMap::new();
    let mut failed: HashMap<&str, &str> = HashMap::new();
    let mut errors: Vec<ScanError> = Vec::new();
    let mut projects: BTreeMap<String, ProjectSummary> = BTreeMap::new();
    let mut elapsed = 0;
    for d in documents {
        for image in &d.images {
            let key =
                (image.repository.clone(), image.manifest_digest.clone(), image.platform.clone());
            let entry =
                images.entry(key).or_insert_with(|| Image { tags: Vec::new(), ..image.clone() });
            entry.tags.extend(image.tags.iter().cloned());
            entry.tags.sort();
            entry.tags.dedup();
        }
        layers.extend(d.layers.iter().map(|(k, v)| (k.as_str(), v)));
        configs.extend(d.configs.iter().map(|(k, v)| (k.as_str(), v)));
        failed.extend(d.failed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        for e in &d.errors {
            if !errors.contains(e) {
                errors.push(e.clone());
            }
        }
        for p in &d.projects {
            let e = projects.entry(p.project.clone()).or_insert_with(|| ProjectSummary {
                project: p.project.clone(),
                ..ProjectSummary::default()
            });
            e.layers_scanned += p.layers_scanned;
            e.layers_reused += p.layers_reused;
            e.failures += p.failures;
        }
        elapsed = elapsed.max(d.stats.elapsed_ms);
    }
    for p in projects.values_mut() {
        p.images = 0;
        p.findings = 0;
    }

    let mut parsed_layers: HashMap<&str, B::Layer> = HashMap::new();
    for (digest, value) in &layers {
        parsed_layers.insert(digest, parse_layer::<B>(digest, value)?);
    }
    let mut stats = Stats::default();
    for layer in parsed_layers.values() {
        let s = backend.layer_stats(layer);
        stats.scanned += s.scanned;
        stats.bytes += s.bytes;
        stats.skipped_binary += s.skipped_binary;
        stats.skipped_too_large += s.skipped_too_large;
        stats.skipped_special += s.skipped_special;
        stats.skipped_allowlisted += s.skipped_allowlisted;
        stats.duplicates += s.duplicates;
    }

    let mut findings = Vec::new();
    let mut skipped = Vec::new();
    let mut named: HashSet<&str> = HashSet::new();
    for image in images.values() {
        let shown = format!("{}/{}", first.registry, image.repository);
        let origin = format!("{shown}@{}", image.manifest_digest);
        let summary = projects.entry(image.project.clone()).or_insert_with(|| ProjectSummary {
            project: image.project.clone(),
            ..ProjectSummary::default()
        });
        summary.images += 1;
        // A layer without a result stands in empty, so the others keep their indexes and
        // their findings are still reported (the image is listed under errors all the same).
        let empties: Vec<B::Layer> =
            image.layers.iter().map(|l| backend.empty_layer(&l.digest)).collect();
        let mut ordered = Vec::with_capacity(image.layers.len());
        let mut problems = Vec::new();
        for (layer, empty) in image.layers.iter().zip(&empties) {
            // Named once per layer, with the first image that holds it.
            if let Some(l) = parsed_layers.get(layer.digest.as_str())
                && named.insert(&layer.digest)
            {
                let problems = backend.layer_archive_problems(l).in_layer(&origin, &layer.digest);
                errors.extend(problems.errors);
                skipped.extend(problems.skipped);
            }
            if let Some(why) = failed.get(layer.digest.as_str())
                && let Some(l) = parsed_layers.get(layer.digest.as_str())
            {
                ordered.push(l);
                problems.push(format!("layer {}: {why}", layer.digest));
            } else if let Some(l) = parsed_layers.get(layer.digest.as_str()) {
                ordered.push(l);
            } else {
                ordered.push(empty);
                problems.push(match failed.get(layer.digest.as_str()) {
                    Some(why) => format!("layer {}: {why}", layer.digest),
                    None => format!("layer {} was scanned by no shard", layer.digest),
                });
            }
        }
        let config: Option<B::Config> = if let Some(v) = configs.get(image.manifest_digest.as_str())
        {
            Some(serde_json::from_value((*v).clone()).map_err(|e| {
                SweepError(format!("the config result of {origin} does not parse: {e}"))
            })?)
        } else {
            let key = format!("config of {}", image.manifest_digest);
            problems.push(match failed.get(key.as_str()) {
                Some(why) => format!("config {}: {why}", image.config_digest),
                None => format!("config {} was scanned by no shard", image.config_digest),
            });
            None
        };
        if !problems.is_empty() {
            summary.failures += 1;
            errors.push(ScanError::new(origin, problems.join("; ")));
        }
        let config = config.unwrap_or_else(|| backend.empty_config());
        let references: Vec<String> = if image.tags.is_empty() {
            vec![format!("{shown}@{}", image.manifest_digest)]
        } else {
            image.tags.iter().map(|t| format!("{shown}:{t}")).collect()
        };
        for reference in &references {
            let found = backend.assemble(image, reference, &ordered, &config);
            summary.findings += found.len() as u64;
            findings.extend(found);
        }
    }
    let findings = group::group(findings);
    skipped.sort();
    skipped.dedup();
    errors.sort();
    stats.findings = findings.len() as u64;
    stats.errors = errors.len() as u64;
    stats.elapsed_ms = elapsed;
    let started = documents.iter().map(|d| d.started).min().unwrap_or(0);
    let finished = documents.iter().map(|d| d.finished).max().unwrap_or(0);
    Ok((
        Report {
            target,
            findings,
            errors,
            skipped,
            stats,
            started,
            finished,
            // The command fills in the rules in force; a sweep has no repository root.
            rules: Vec::new(),
            root: None,
            config: None,
        },
        projects.into_values().collect(),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot set up should fail loudly
mod tests {
    //! The orchestration with an in-memory backend: what is pulled and scanned from a real
    //! registry is covered by the integration tests; here, which layers get scanned, by whom,
    //! and how results come back together.

    use super::*;
    use crate::finding::{ImageInfo, fingerprint};
    use crate::rules::Severity;
    use std::sync::atomic::AtomicUsize;

    /// Layers are named `L<n>`; layer `L<n>` "contains" secret `S<n>` when n is odd.
    struct Memory {
        images: HashMap<(String, String), Vec<Resolved>>,
        scans: Mutex<Vec<String>>,
        fail_layer: Option<String>,
        problem_layer: Option<String>,
        calls: AtomicUsize,
    }

    #[derive(Serialize, serde::Deserialize)]
    struct MemLayer {
        digest: String,
        secret: Option<String>,
    }

    impl Memory {
        fn new(images: &[(&str, &str, &[&str])]) -> Memory {
            let mut map = HashMap::new();
            for (repo, tag, layers) in images {
                map.insert(
                    ((*repo).to_owned(), (*tag).to_owned()),
                    vec![Resolved {
                        manifest_digest: format!("sha256:m-{repo}-{}", layers.join("-")),
                        index_digest: None,
                        platform: "linux/amd64".into(),
                        config_digest: format!("sha256:c-{repo}"),
                        config_size: 2,
                        layers: layers
                            .iter()
                            .map(|l| LayerRef {
                                digest: format!("sha256:{l}"),
                                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                                size: 10,
                            })
                            .collect(),
                    }],
                );
            }
            Memory {
                images: map,
                scans: Mutex::default(),
                fail_layer: None,
                problem_layer: None,
                calls: AtomicUsize::new(0),
            }
        }

        fn listed(&self) -> Vec<Listed> {
            let mut keys: Vec<_> = self.images.keys().cloned().collect();
            keys.sort();
            keys.into_iter()
                .map(|(repo, tag)| Listed {
                    project: repo.split('/').next().unwrap().into(),
                    repository: repo,
                    tags: vec![tag],
                    digest: None,
                    push_time: None,
                    children: Vec::new(),
                })
                .collect()
        }
    }

    impl Backend for Memory {
        fn resolve(&self, repository: &str, reference: &str) -> Result<Vec<Resolved>, String> {
            self.images
                .get(&(repository.to_owned(), reference.to_owned()))
                .cloned()
                .ok_or_else(|| "manifest unknown (HTTP 404)".to_owned())
        }

        fn scan_layer(&self, _: &Image, layer: &LayerRef) -> Result<MemLayer, String> {
            self.calls.fetch_add(1, Relaxed);
            if self.fail_layer.as_deref() == Some(layer.digest.as_str()) {
                return Err("digest mismatch".into());
            }
            lock(&self.scans).push(layer.digest.clone());
            let n: u32 = layer.digest.trim_start_matches("sha256:L").parse().unwrap();
            Ok(MemLayer {
                digest: layer.digest.clone(),
                secret: (n % 2 == 1).then(|| format!("S{n}")),
            })
        }

        fn scan_config(&self, image: &Image) -> Result<String, String> {
            Ok(image.config_digest.clone())
        }
    }

    impl Assembler for Memory {
        type Layer = MemLayer;
        type Config = String;
        const LAYER_VERSION: u32 = 1;

        fn assemble(
            &self,
            image: &Image,
            reference: &str,
            layers: &[&MemLayer],
            _: &String,
        ) -> Vec<Finding> {
            layers
                .iter()
                .enumerate()
                .filter_map(|(i, l)| {
                    let secret = l.secret.clone()?;
                    Some(Finding {
                        rule_id: "test.secret".into(),
                        description: String::new(),
                        severity: Severity::High,
                        confidence: crate::rules::Confidence::High,
                        path: "etc/secret".into(),
                        line: 1,
                        column: 1,
                        end_line: 1,
                        end_column: 2,
                        fingerprint: fingerprint("test.secret", secret.as_bytes(), "etc/secret"),
                        secret,
                        commit: None,
                        image: Some(ImageInfo {
                            reference: reference.to_owned(),
                            manifest_digest: image.manifest_digest.clone(),
                            platform: image.platform.clone(),
                            layer_digest: Some(l.digest.clone()),
                            layer_index: Some(i),
                            deleted_in_layer: None,
                        }),
                        repository: None,
                        occurrences: Vec::new(),
                        verification: None,
                        captures: std::collections::BTreeMap::new(),
                        note: None,
                    })
                })
                .collect()
        }

        fn layer_stats(&self, _: &MemLayer) -> Stats {
            Stats { scanned: 1, bytes: 10, ..Stats::default() }
        }

        fn layer_problems(&self, layer: &MemLayer) -> Vec<String> {
            if self.problem_layer.as_deref() == Some(layer.digest.as_str()) {
                vec!["tar entry has `..`".into()]
            } else {
                Vec::new()
            }
        }

        fn empty_layer(&self, digest: &str) -> MemLayer {
            MemLayer { digest: digest.to_owned(), secret: None }
        }

        fn empty_config(&self) -> String {
            String::new()
        }
    }

    fn options(shard: Shard) -> SweepOptions {
        SweepOptions {
            registry: "reg.test".into(),
            shard,
            concurrency: 3,
            rules: "rules-1".into(),
            platform: None,
        }
    }

    /// 30 images over 3 base layers (L1 holds a secret) and one app layer each.
    /// One unsharded sweep of everything `mem` lists, with or without a cache.
    fn sweep_all(mem: &Memory, cache: Option<&Cache>) -> SweepDocument {
        sweep(mem, &mem.listed(), Vec::new(), cache, &options(Shard::ALL), &NoProgress)
            .expect("the sweep runs")
    }

    fn many() -> Memory {
        let owned: Vec<(String, String, Vec<String>)> = (0..30)
            .map(|i| {
                let base = format!("L{}", i % 3 + 1);
                (
                    format!("team{}/app{i}", i % 2),
                    "v1".to_owned(),
                    vec![base, format!("L{}", 10 + i)],
                )
            })
            .collect();
        let borrowed: Vec<(&str, &str, Vec<&str>)> = owned
            .iter()
            .map(|(r, t, l)| (r.as_str(), t.as_str(), l.iter().map(String::as_str).collect()))
            .collect();
        let refs: Vec<(&str, &str, &[&str])> =
            borrowed.iter().map(|(r, t, l)| (*r, *t, l.as_slice())).collect();
        Memory::new(&refs)
    }

    #[test]
    fn each_unique_layer_is_scanned_once_and_a_shared_secret_is_one_finding() {
        let mem = many();
        let doc = sweep_all(&mem, None);
        let mut scans = lock(&mem.scans).clone();
        scans.sort();
        let before = scans.len();
        scans.dedup();
        assert_eq!(before, scans.len(), "a layer was scanned twice");
        assert_eq!(scans.len(), 33);
        let (report, projects) = assemble(&mem, &[doc], "sweep".into()).unwrap();
        // S1 sits in base layer L1 of 10 images: one finding, nine more places.
        let s1 = report.findings.iter().find(|f| f.secret == "S1").unwrap();
        assert_eq!(s1.occurrences.len(), 9);
        assert_eq!(projects.iter().map(|p| p.images).sum::<u64>(), 30);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
    }

    #[test]
    fn three_shards_cover_every_layer_once_and_merge_to_the_unsharded_report() {
        let mem = many();
        let whole = sweep_all(&mem, None);
        let (expected, _) = assemble(&mem, &[whole], "sweep".into()).unwrap();

        let mut docs = Vec::new();
        let mut covered: Vec<String> = Vec::new();
        for index in 0..3 {
            let m = many();
            let d = sweep(
                &m,
                &m.listed(),
                Vec::new(),
                None,
                &options(Shard { index, count: 3 }),
                &NoProgress,
            )
            .unwrap();
            covered.extend(lock(&m.scans).iter().cloned());
            docs.push(d);
        }
        covered.sort();
        let n = covered.len();
        covered.dedup();
        assert_eq!(n, covered.len(), "two shards scanned the same layer");
        assert_eq!(n, 33, "some layer was scanned by no shard");
        docs.reverse();
        let (merged, _) = assemble(&mem, &docs, "sweep".into()).unwrap();
        assert_eq!(merged.findings, expected.findings);

        let err = assemble(&mem, &docs[..2], "sweep".into()).unwrap_err();
        assert!(err.0.contains("missing shard"), "{err}");
        let mut twice = docs.clone();
        twice[1] = twice[0].clone();
        assert!(assemble(&mem, &twice, "sweep".into()).unwrap_err().0.contains("twice"));
        let mut other_rules = docs.clone();
        other_rules[0].rules = "rules-2".into();
        assert!(assemble(&mem, &other_rules, "sweep".into()).unwrap_err().0.contains("rule set"));
    }

    #[test]
    fn the_cache_makes_a_second_sweep_scan_nothing_and_new_rules_rescan() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.db");
        let mem = many();
        let cache = Cache::open(&path, "rules-1").unwrap();
        let first = sweep_all(&mem, Some(&cache));
        assert_eq!(first.stats.layers_scanned, 33);
        drop(cache);

        let again = many();
        let cache = Cache::open(&path, "rules-1").unwrap();
        let second = sweep_all(&again, Some(&cache));
        assert_eq!(again.calls.load(Relaxed), 0, "nothing new: nothing pulled");
        assert_eq!(second.stats.layers_reused, 33);
        assert_eq!(
            assemble(&again, &[second], "s".into()).unwrap().0.findings,
            assemble(&mem, &[first], "s".into()).unwrap().0.findings
        );
        drop(cache);

        let changed = many();
        let cache = Cache::open(&path, "rules-2").unwrap();
        let third = sweep_all(&changed, Some(&cache));
        assert_eq!(third.stats.layers_scanned, 33, "new rules: everything again");
    }

    #[test]
    fn an_interrupted_sweep_resumes_from_the_layers_already_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.db");
        // The first run stops short: one layer fails (as a crash mid-pull would leave it).
        let mut first = many();
        first.fail_layer = Some("sha256:L20".into());
        let cache = Cache::open(&path, "rules-1").unwrap();
        sweep_all(&first, Some(&cache));
        assert_eq!(cache.len().unwrap(), 32 + 30, "every finished layer and config is recorded");
        drop(cache);
        let again = many();
        let cache = Cache::open(&path, "rules-1").unwrap();
        let doc = sweep_all(&again, Some(&cache));
        assert_eq!(*lock(&again.scans), ["sha256:L20"], "only the unfinished layer is pulled");
        assert_eq!(doc.stats.layers_reused, 32);
    }

    #[test]
    fn a_failing_layer_or_image_is_an_error_and_the_rest_goes_on() {
        let mut mem = many();
        mem.fail_layer = Some("sha256:L1".into());
        mem.problem_layer = Some("sha256:L13".into());
        let mut listed = mem.listed();
        listed.push(Listed {
            project: "team0".into(),
            repository: "team0/gone".into(),
            tags: vec!["v1".into()],
            digest: None,
            push_time: None,
            children: Vec::new(),
        });
        let doc =
            sweep(&mem, &listed, Vec::new(), None, &options(Shard::ALL), &NoProgress).unwrap();
        assert_eq!(doc.stats.layers_failed, 2, "L1 failed, L13 read with a problem");
        let (report, _) = assemble(&mem, &[doc], "s".into()).unwrap();
        // 10 images use L1, plus the image that does not resolve (app3 on L1 holds L13 too).
        assert_eq!(report.errors.len(), 11, "{:?}", report.errors);
        assert!(report.errors.iter().any(|e| e.message.contains("404")));
        assert!(report.errors.iter().any(|e| e.message.contains("digest mismatch")));
        assert!(report.findings.iter().any(|f| f.secret == "S3"), "other images still scanned");
        // The images over the broken base still report their own layers' secrets (L11 is
        // app1's layer; app1 sits on L2, app0's L10 holds no secret, app3 on L1 holds L13).
        assert!(report.findings.iter().any(|f| f.secret == "S13"), "partial images still report");
        // L13 was read with a problem: its finding is reported, the image listed under errors.
        assert!(report.errors.iter().any(|e| e.message.contains("sha256:L13")));
    }
}
