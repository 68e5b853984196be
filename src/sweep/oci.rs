//! The sweep's [`Backend`] over the image source ([`crate::source::oci`]): references resolved
//! and blobs pulled by its registry client, layers read by its layer scanner, findings assembled
//! by its pure `assemble`. Nothing about images is
//! re-implemented here; this only adapts shapes (and keeps results cacheable).

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::{Assembler, Backend, Image, LayerRef, Resolved};
use crate::finding::{Finding, Problems};
use crate::report::Stats;
use crate::source::oci::assemble::{ImageMeta, assemble};
use crate::source::oci::layer::{LayerOptions, LayerScan};
use crate::source::oci::manifest::{self, Descriptor};
use crate::source::oci::registry::Registry;
use crate::source::oci::{
    BlobStore, DigestOf, Plan, Scanner, config, read_layer, read_small, scan_config,
};

/// A config's scan result: its findings (pseudo-paths such as `config:Env[3]`, no image set).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigScan {
    /// Findings in the config.
    pub findings: Vec<Finding>,
}

/// Assembles with the image source's pure function; all `merge` needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct OciAssembler;

impl Assembler for OciAssembler {
    type Layer = LayerScan;
    type Config = ConfigScan;
    const LAYER_VERSION: u32 = LayerScan::VERSION;

    fn assemble(
        &self,
        image: &Image,
        reference: &str,
        layers: &[&LayerScan],
        config: &ConfigScan,
    ) -> Vec<Finding> {
        let meta = ImageMeta {
            reference: reference.to_owned(),
            manifest_digest: image.manifest_digest.clone(),
            platform: image.platform.clone(),
        };
        assemble(&meta, layers, &config.findings)
    }

    fn empty_layer(&self, digest: &str) -> LayerScan {
        LayerScan { digest: digest.to_owned(), ..LayerScan::default() }
    }

    fn empty_config(&self) -> ConfigScan {
        ConfigScan::default()
    }

    fn layer_problems(&self, layer: &LayerScan) -> Vec<String> {
        layer.errors.iter().map(|e| format!("{}: {}", e.origin, e.message)).collect()
    }

    fn layer_archive_problems(&self, layer: &LayerScan) -> Problems {
        layer.archive.clone()
    }

    fn layer_stats(&self, layer: &LayerScan) -> Stats {
        let s = &layer.stats;
        Stats {
            scanned: s.files_scanned,
            bytes: s.tar_bytes,
            skipped_binary: s.skipped_binary,
            skipped_too_large: s.skipped_too_large,
            skipped_special: s.skipped_special,
            skipped_allowlisted: s.skipped_allowlisted,
            ..Stats::default()
        }
    }
}

/// Resolves and scans through the image source's registry client.
pub struct OciBackend<'s> {
    /// Borrowed, so a long-running `serve` keeps one client (and its tokens) for many backends.
    registry: &'s Registry,
    /// `host[:port]` as references name it.
    host: String,
    scanner: &'s dyn Scanner,
    layer: LayerOptions,
    platform: Option<String>,
    /// Config blobs already read while resolving (for their platform), by digest: scanning
    /// them later costs no second pull (measured: two requests per image fewer on a sweep).
    configs: Mutex<HashMap<String, Vec<u8>>>,
}

/// A config blob already in memory, served as a [`BlobStore`] so the image source's own
/// `scan_config` reads it (and checks its digest) as from a registry.
struct InMemory<'a>(&'a [u8]);

impl BlobStore for InMemory<'_> {
    fn open(&self, _: &Descriptor) -> Result<(Box<dyn Read + Send + '_>, DigestOf), String> {
        Ok((Box::new(self.0), DigestOf::Blob))
    }
}

impl<'s> OciBackend<'s> {
    /// A backend for the registry at `host` (`host[:port]`).
    pub fn new(
        registry: &'s Registry,
        host: String,
        scanner: &'s dyn Scanner,
        layer: LayerOptions,
        platform: Option<String>,
    ) -> OciBackend<'s> {
        OciBackend { registry, host, scanner, layer, platform, configs: Mutex::default() }
    }

    fn reference(&self, repository: &str, reference: &str) -> String {
        if reference.contains(':') {
            format!("{}/{repository}@{reference}", self.host)
        } else {
            format!("{}/{repository}:{reference}", self.host)
        }
    }
}

fn descriptor(layer: &LayerRef) -> Descriptor {
    Descriptor {
        media_type: layer.media_type.clone(),
        digest: layer.digest.clone(),
        size: layer.size,
        ..Descriptor::default()
    }
}

impl Assembler for OciBackend<'_> {
    type Layer = LayerScan;
    type Config = ConfigScan;
    const LAYER_VERSION: u32 = LayerScan::VERSION;

    fn assemble(
        &self,
        image: &Image,
        reference: &str,
        layers: &[&LayerScan],
        config: &ConfigScan,
    ) -> Vec<Finding> {
        OciAssembler.assemble(image, reference, layers, config)
    }

    fn layer_stats(&self, layer: &LayerScan) -> Stats {
        OciAssembler.layer_stats(layer)
    }

    fn empty_layer(&self, digest: &str) -> LayerScan {
        OciAssembler.empty_layer(digest)
    }

    fn empty_config(&self) -> ConfigScan {
        OciAssembler.empty_config()
    }

    fn layer_problems(&self, layer: &LayerScan) -> Vec<String> {
        OciAssembler.layer_problems(layer)
    }

    fn layer_archive_problems(&self, layer: &LayerScan) -> Problems {
        OciAssembler.layer_archive_problems(layer)
    }
}

impl Backend for OciBackend<'_> {
    fn resolve(&self, repository: &str, reference: &str) -> Result<Vec<Resolved>, String> {
        let (store, plans) =
            self.registry.open(&self.reference(repository, reference), self.platform.as_deref())?;
        plans
            .into_iter()
            .map(|plan| {
                // A single-platform image says its platform in its config only.
                let platform = if let Some(p) = plan.platform {
                    p
                } else {
                    let data = read_small(store.as_ref(), &plan.config)?;
                    let platform = config::parse(&data)?.platform;
                    self.configs
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(plan.config.digest.clone(), data);
                    platform.unwrap_or_else(|| "unknown".into())
                };
                Ok(Resolved {
                    manifest_digest: plan.manifest_digest,
                    index_digest: None,
                    platform,
                    config_digest: plan.config.digest,
                    config_size: plan.config.size,
                    layers: plan
                        .layers
                        .into_iter()
                        .map(|d| LayerRef {
                            digest: d.digest,
                            media_type: d.media_type,
                            size: d.size,
                        })
                        .collect(),
                })
            })
            .collect()
    }

    fn scan_layer(&self, image: &Image, layer: &LayerRef) -> Result<LayerScan, String> {
        if !manifest::is_layer_type(&layer.media_type) {
            return Err(format!(
                "unknown layer media type {:?}: layer not scanned",
                layer.media_type
            ));
        }
        let (store, _) =
            self.registry.open(&self.reference(&image.repository, &image.manifest_digest), None)?;
        Ok(read_layer(store.as_ref(), &descriptor(layer), &self.layer, self.scanner))
    }

    fn scan_config(&self, image: &Image) -> Result<ConfigScan, String> {
        let known = self
            .configs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&image.config_digest);
        let plan = Plan {
            manifest_digest: image.manifest_digest.clone(),
            platform: Some(image.platform.clone()),
            config: Descriptor {
                media_type: "application/vnd.oci.image.config.v1+json".into(),
                digest: image.config_digest.clone(),
                size: image.config_size,
                ..Descriptor::default()
            },
            layers: Vec::new(),
        };
        let (findings, _) = if let Some(data) = known {
            scan_config(&InMemory(&data), &plan, self.scanner)?
        } else {
            let reference = self.reference(&image.repository, &image.manifest_digest);
            let (store, _) = self.registry.open(&reference, None)?;
            scan_config(store.as_ref(), &plan, self.scanner)?
        };
        Ok(ConfigScan { findings })
    }
}
