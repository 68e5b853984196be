//! Container images: registries (through the project's registry HTTP client, see [`registry`]),
//! `docker save` tarballs (plain, gzip or zstd), OCI archives and OCI layout directories. Every source here yields the same [`Plan`]s (one per platform manifest:
//! a config and ordered layers) over a [`BlobStore`]; layers are streamed through
//! [`layer::scan_layer`], and [`assemble::assemble`] turns per-layer results into the image's
//! findings.
//!
//! Like every source, this knows nothing of rules: it asks a [`Scanner`] for the findings in a
//! blob and hands the assembled findings back.

pub mod archive;
pub mod assemble;
pub mod auth;
pub mod config;
pub mod layer;
pub mod manifest;
pub mod reference;
pub mod registry;

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError};

use crate::blob::Blob;
use crate::error::ScanError;
use crate::finding::{Finding, Problems, Provenance};
use crate::scan::Scan;
use crate::source::Sink;
use assemble::{ImageMeta, assemble};
use layer::{LayerBlob, LayerOptions, LayerScan, scan_layer};
use manifest::{Descriptor, Manifest};
use reference::ImageRef;
use registry::{Registry, RegistryOptions};

/// Largest manifest or config blob read (they are JSON of a few KB).
pub const MAX_SMALL_BLOB: u64 = 16 << 20;

/// What the image source needs from a scan: the findings in a blob at a provenance, without
/// recording them (layers are assembled before findings are final), and a place to put the
/// assembled findings.
pub trait Scanner: Sink {
    /// Findings in `blob` at `provenance` (binary content gives none and is counted).
    fn findings(&self, blob: &Blob, provenance: &Provenance) -> Vec<Finding>;
    /// [`Scanner::findings`] for a file of a layer: what its archives could not or would not
    /// scan is handed back (the layer's cached result holds it), not reported.
    fn layer_findings(&self, blob: &Blob, provenance: &Provenance) -> (Vec<Finding>, Problems) {
        (self.findings(blob, provenance), Problems::default())
    }
    /// Records final findings.
    fn push(&self, findings: Vec<Finding>);
}

impl Scanner for Scan<'_> {
    fn findings(&self, blob: &Blob, provenance: &Provenance) -> Vec<Finding> {
        let found = self.matches(blob, &provenance.path);
        found.map(|hits| self.findings_in(&hits, provenance)).unwrap_or_default()
    }

    fn layer_findings(&self, blob: &Blob, provenance: &Provenance) -> (Vec<Finding>, Problems) {
        let (found, problems) = self.matches_keeping_problems(blob, &provenance.path);
        (found.map(|hits| self.findings_in(&hits, provenance)).unwrap_or_default(), problems)
    }

    fn push(&self, findings: Vec<Finding>) {
        self.push_findings(findings);
    }
}

/// What a descriptor's digest is the hash of, so the layer reader checks the right bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestOf {
    /// The blob as stored (OCI layouts and registries).
    Blob,
    /// The uncompressed tar in it: a legacy `docker save` layer is named by its config's
    /// `diff_id`, and some tools write that file gzip- or zstd-compressed (#19).
    Tar,
}

/// Where an image's blobs come from.
pub trait BlobStore: Sync {
    /// Opens a blob for streaming, and says what its digest covers (the reader hashes that).
    fn open(&self, desc: &Descriptor) -> Result<(Box<dyn Read + Send + '_>, DigestOf), String>;

    /// A manifest by descriptor (a registry serves these apart from blobs).
    fn manifest(&self, desc: &Descriptor) -> Result<Vec<u8>, String> {
        read_small(self, desc)
    }
}

/// One image to scan: a platform manifest's config and layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Digest of the manifest (image id for `docker save` tarballs).
    pub manifest_digest: String,
    /// Platform from the index entry, when there was an index.
    pub platform: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// Layers, base first.
    pub layers: Vec<Descriptor>,
}

/// Reads a small blob whole, checking its size and digest.
pub fn read_small(store: &(impl BlobStore + ?Sized), desc: &Descriptor) -> Result<Vec<u8>, String> {
    if desc.size > MAX_SMALL_BLOB {
        return Err(format!(
            "{} is {} bytes: too large for a manifest or config",
            desc.digest, desc.size
        ));
    }
    let (reader, _) = store.open(desc)?;
    let mut data = Vec::new();
    reader
        .take(MAX_SMALL_BLOB + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("cannot read {}: {e}", desc.digest))?;
    let actual = archive::digest_of(&data);
    if desc.digest.starts_with("sha256:") && actual != desc.digest {
        return Err(format!("digest mismatch for {}: content hashes to {actual}", desc.digest));
    }
    Ok(data)
}

/// The plans behind a manifest descriptor (an index gives one per platform).
pub fn resolve(
    store: &dyn BlobStore,
    desc: &Descriptor,
    platform: Option<&str>,
) -> Result<Vec<Plan>, String> {
    let data = store.manifest(desc)?;
    let parsed = manifest::parse(
        &data,
        Some(&desc.media_type).filter(|m| !m.is_empty()).map(String::as_str),
    )
    .map_err(|e| format!("{}: {e}", desc.digest))?;
    plans_of(store, parsed, &desc.digest, platform)
}

/// The plans of a parsed manifest whose digest is `digest`.
pub fn plans_of(
    store: &dyn BlobStore,
    parsed: Manifest,
    digest: &str,
    platform: Option<&str>,
) -> Result<Vec<Plan>, String> {
    match parsed {
        Manifest::Image { config, layers } => {
            Ok(vec![Plan { manifest_digest: digest.to_owned(), platform: None, config, layers }])
        }
        Manifest::Index(entries) => {
            let available: Vec<String> = entries
                .iter()
                .filter(|e| !manifest::is_attestation(e))
                .filter_map(|e| e.platform.as_ref().map(manifest::PlatformSpec::text))
                .collect();
            let mut plans = Vec::new();
            for entry in entries.iter().filter(|e| !manifest::is_attestation(e)) {
                if let Some(wanted) = platform
                    && !manifest::platform_matches(entry.platform.as_ref(), wanted)
                {
                    continue;
                }
                let data = store.manifest(entry)?;
                match manifest::parse(&data, Some(&entry.media_type))
                    .map_err(|e| format!("{}: {e}", entry.digest))?
                {
                    Manifest::Image { config, layers } => plans.push(Plan {
                        manifest_digest: entry.digest.clone(),
                        platform: entry.platform.as_ref().map(manifest::PlatformSpec::text),
                        config,
                        layers,
                    }),
                    Manifest::Index(_) => {
                        return Err(format!("{}: nested indexes are not supported", entry.digest));
                    }
                }
            }
            if plans.is_empty() {
                return Err(match platform {
                    Some(p) => {
                        format!("no {p} image in the index (it has: {})", available.join(", "))
                    }
                    None => "the index lists no images".into(),
                });
            }
            Ok(plans)
        }
    }
}

/// How to scan images.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// Per-layer reading options.
    pub layer: LayerOptions,
    /// `os/arch[/variant]` to pick from indexes; every platform when `None`.
    pub platform: Option<String>,
    /// Layers of one image read at the same time.
    pub layer_jobs: usize,
    /// Registry access.
    pub registry: RegistryOptions,
}

/// Scans every image; failures go to the scanner as errors, and the rest is still scanned.
/// Returns warnings (oddities that did not stop a scan).
pub fn scan_images(
    refs: &[ImageRef],
    options: &ImageOptions,
    scanner: &dyn Scanner,
) -> Vec<String> {
    let mut run = Run { options, scanner, done: Mutex::default(), warnings: Mutex::default() };
    let mut registry: Option<Registry> = None;
    for image in refs {
        let origin = image.to_string();
        let opened = match image {
            ImageRef::DockerArchive(path) => archive::open_docker_archive(path),
            ImageRef::OciArchive { path, tag } => {
                archive::open_oci_archive(path, tag.as_deref(), options.platform.as_deref())
            }
            ImageRef::OciLayout { dir, tag } => {
                archive::open_layout(dir, tag.as_deref(), options.platform.as_deref())
            }
            ImageRef::Registry(text) => {
                let registry = match &mut registry {
                    Some(r) => r,
                    None => match Registry::new(options.registry.clone()) {
                        Ok(r) => registry.insert(r),
                        Err(e) => {
                            scanner.error(ScanError::new(origin, e));
                            continue;
                        }
                    },
                };
                registry.open(text, options.platform.as_deref())
            }
        };
        match opened {
            Ok((store, plans)) => {
                for plan in plans {
                    run.image(&origin, store.as_ref(), &plan);
                }
            }
            Err(message) => scanner.error(ScanError::new(origin, message)),
        }
    }
    std::mem::take(run.warnings.get_mut().unwrap_or_else(PoisonError::into_inner))
}

struct Run<'a> {
    options: &'a ImageOptions,
    scanner: &'a dyn Scanner,
    /// Layers scanned in this run, by digest: a layer shared by images is read once (a layer
    /// that failed is read again from the next image's source).
    done: Mutex<HashMap<String, Arc<LayerScan>>>,
    warnings: Mutex<Vec<String>>,
}

impl Run<'_> {
    fn image(&self, origin: &str, store: &dyn BlobStore, plan: &Plan) {
        let scanner = self.scanner;
        let (config_findings, config_platform) = match scan_config(store, plan, scanner) {
            Ok(found) => found,
            Err(e) => {
                scanner.error(ScanError::new(
                    format!("{origin} ({})", plan.manifest_digest),
                    format!("cannot read the image config: {e}"),
                ));
                (Vec::new(), None)
            }
        };
        let meta = ImageMeta {
            reference: origin.to_owned(),
            manifest_digest: plan.manifest_digest.clone(),
            platform: plan.platform.clone().or(config_platform).unwrap_or_else(|| "unknown".into()),
        };
        let mut todo: Vec<&Descriptor> = Vec::new();
        for desc in &plan.layers {
            if !manifest::is_layer_type(&desc.media_type) {
                scanner.error(ScanError::new(
                    format!("{origin} layer {}", desc.digest),
                    format!("unknown layer media type {:?}: layer not scanned", desc.media_type),
                ));
            } else if !lock(&self.done).get(&desc.digest).is_some_and(|l| l.is_complete())
                && !todo.iter().any(|d| d.digest == desc.digest)
            {
                todo.push(desc);
            }
        }
        self.scan_layers(origin, store, &todo);
        let done = lock(&self.done);
        let empty: Vec<LayerScan> = plan
            .layers
            .iter()
            .map(|d| LayerScan { digest: d.digest.clone(), ..LayerScan::default() })
            .collect();
        let layers: Vec<&LayerScan> = plan
            .layers
            .iter()
            .zip(&empty)
            .map(|(d, e)| done.get(&d.digest).map_or(e, AsRef::as_ref))
            .collect();
        scanner.push(assemble(&meta, &layers, &config_findings));
    }

    /// Reads `todo` with up to `layer_jobs` layers at a time.
    fn scan_layers(&self, origin: &str, store: &dyn BlobStore, todo: &[&Descriptor]) {
        let next = Mutex::new(todo.iter());
        let jobs = self.options.layer_jobs.clamp(1, todo.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(|| {
                    loop {
                        let Some(desc) = lock(&next).next().copied() else { break };
                        let result = self.scan_one(store, desc);
                        for e in &result.errors {
                            self.scanner.error(ScanError::new(
                                format!("{origin} {}", e.origin),
                                e.message.clone(),
                            ));
                        }
                        let archive = result.archive.clone().in_layer(origin, &result.digest);
                        archive.errors.into_iter().for_each(|e| self.scanner.error(e));
                        archive.skipped.into_iter().for_each(|s| self.scanner.not_scanned(s));
                        lock(&self.warnings)
                            .extend(result.warnings.iter().map(|w| format!("{origin} {w}")));
                        lock(&self.done).insert(desc.digest.clone(), Arc::new(result));
                    }
                });
            }
        });
    }

    fn scan_one(&self, store: &dyn BlobStore, desc: &Descriptor) -> LayerScan {
        read_layer(store, desc, &self.options.layer, self.scanner)
    }
}

/// The findings in a plan's config (pseudo-paths such as `config:Env[3]`, `image` unset) and the
/// platform the config declares.
pub fn scan_config(
    store: &dyn BlobStore,
    plan: &Plan,
    scanner: &dyn Scanner,
) -> Result<(Vec<Finding>, Option<String>), String> {
    let texts = config::parse(&read_small(store, &plan.config)?)?;
    let mut findings = Vec::new();
    for (path, text) in texts.texts {
        findings.extend(scanner.findings(&Blob::new(text.into_bytes()), &Provenance::file(path)));
    }
    Ok((findings, texts.platform))
}

/// Opens a layer blob and scans it; a blob that cannot be opened gives a [`LayerScan`] holding
/// the error.
pub fn read_layer(
    store: &dyn BlobStore,
    desc: &Descriptor,
    options: &LayerOptions,
    scanner: &dyn Scanner,
) -> LayerScan {
    match store.open(desc) {
        Ok((reader, digest_of)) => {
            let blob = LayerBlob {
                digest: desc.digest.clone(),
                size: (desc.size > 0).then_some(desc.size),
                digest_of,
            };
            scan_layer(reader, &blob, options, scanner)
        }
        Err(message) => LayerScan {
            digest: desc.digest.clone(),
            errors: vec![ScanError::new(format!("layer {}", desc.digest), message)],
            ..LayerScan::default()
        },
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
