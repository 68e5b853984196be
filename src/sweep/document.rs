//! The sweep document: what one sweep job found, in a form `leakhound merge` can combine with the
//! other shards' documents. It lists every image the job resolved (all shards resolve all
//! images) but holds results only for the layers and configs its shard owns.
//!
//! Layout (`"kind": "leakhound-sweep"`, version 1):
//!
//! ```text
//! {
//!   "kind": "leakhound-sweep", "version": 1, "tool": {"name", "version"},
//!   "registry": "host:port", "shard": {"index", "count"}, "rules": "<rule-set digest>",
//!   "started", "finished",                       // seconds since the epoch
//!   "images": [{"project", "repository", "tags", "manifest_digest", "index_digest",
//!               "platform", "config_digest", "config_size", "layers": [{"digest", "media_type", "size"}],
//!               "push_time"}],
//!   "layers":  {"<layer digest>": <the image source's per-layer result>},
//!   "configs": {"<manifest digest>": <the image source's config result>},
//!   "failed":  {"<layer digest>" | "config of <manifest digest>": "why"},
//!   "errors":  [{"origin", "message"}],          // images that could not be resolved
//!   "stats":   {"images", "layers_scanned", "layers_reused", "layers_failed",
//!               "configs_scanned", "configs_reused", "files_scanned", "bytes_scanned",
//!               "elapsed_ms"},
//!   "projects": [{"project", "images", "layers_scanned", "layers_reused", "findings",
//!                 "failures"}]
//! }
//! ```
//!
//! Results keep the secrets they found (the merged report redacts them unless
//! `--show-secrets`): protect shard documents as you protect the cache and the images. They
//! never hold credentials. This module must not depend on sources or the engine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::shard::Shard;
use crate::error::ScanError;
use crate::report::json::Tool;

/// The `kind` of a sweep document.
pub const KIND: &str = "leakhound-sweep";

/// Layout version.
pub const VERSION: u32 = 1;

/// A layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerRef {
    /// The blob digest.
    pub digest: String,
    /// Its media type (gzip, zstd, plain tar).
    pub media_type: String,
    /// Its size in bytes, as the manifest says.
    pub size: u64,
}

/// One platform image of one repository, with every tag pointing at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// Its project.
    pub project: String,
    /// Its repository (`project/app`).
    pub repository: String,
    /// Tags pointing at it (or at its index); empty for an untagged artifact.
    pub tags: Vec<String>,
    /// The platform manifest's digest.
    pub manifest_digest: String,
    /// The index's digest, for a multi-platform image.
    pub index_digest: Option<String>,
    /// `os/arch[/variant]`.
    pub platform: String,
    /// The config blob's digest.
    pub config_digest: String,
    /// The config blob's size.
    pub config_size: u64,
    /// Its layers, base first.
    pub layers: Vec<LayerRef>,
    /// When it was pushed (Harbor only).
    pub push_time: Option<String>,
}

/// Counters of one sweep job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepStats {
    /// Images (platform manifests) resolved.
    pub images: u64,
    /// Layers pulled and scanned by this job.
    pub layers_scanned: u64,
    /// Layers whose results came from the cache.
    pub layers_reused: u64,
    /// Layers that could not be scanned.
    pub layers_failed: u64,
    /// Configs scanned.
    pub configs_scanned: u64,
    /// Configs whose results came from the cache.
    pub configs_reused: u64,
    /// Files scanned in the layers this job scanned.
    pub files_scanned: u64,
    /// Bytes scanned in the layers this job scanned.
    pub bytes_scanned: u64,
    /// Wall time.
    pub elapsed_ms: u64,
}

/// The summary of one project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSummary {
    /// The project.
    pub project: String,
    /// Images (platform manifests) in it.
    pub images: u64,
    /// Unique layers first seen in it, scanned in this sweep.
    pub layers_scanned: u64,
    /// Unique layers first seen in it, taken from the cache.
    pub layers_reused: u64,
    /// Findings in its images (before grouping across images).
    pub findings: u64,
    /// Images or layers that could not be scanned.
    pub failures: u64,
}

/// What one sweep job found (see the module docs for the layout).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepDocument {
    /// Always [`KIND`].
    pub kind: String,
    /// Layout version.
    pub version: u32,
    /// The producing tool.
    pub tool: Tool,
    /// The registry, `host[:port]` (no credentials, ever).
    pub registry: String,
    /// Which share of the sweep this is.
    pub shard: Shard,
    /// The rule set's digest.
    pub rules: String,
    /// Start, seconds since the epoch.
    pub started: u64,
    /// End, seconds since the epoch.
    pub finished: u64,
    /// Every image resolved.
    pub images: Vec<Image>,
    /// Results of this shard's layers, by digest.
    pub layers: BTreeMap<String, serde_json::Value>,
    /// Results of this shard's configs, by manifest digest.
    pub configs: BTreeMap<String, serde_json::Value>,
    /// This shard's layers and configs that failed, and why.
    pub failed: BTreeMap<String, String>,
    /// Failures outside layers (listing, resolving).
    pub errors: Vec<ScanError>,
    /// Counters.
    pub stats: SweepStats,
    /// Per-project summary of this job.
    pub projects: Vec<ProjectSummary>,
}

impl SweepDocument {
    /// A document finished now.
    #[allow(clippy::too_many_arguments)] // one field each; a builder would only add noise
    pub fn new(
        registry: String,
        shard: Shard,
        rules: String,
        images: Vec<Image>,
        layers: BTreeMap<String, serde_json::Value>,
        configs: BTreeMap<String, serde_json::Value>,
        failed: BTreeMap<String, String>,
        errors: Vec<ScanError>,
        stats: SweepStats,
        projects: Vec<ProjectSummary>,
    ) -> SweepDocument {
        let finished = crate::report::now();
        SweepDocument {
            kind: KIND.into(),
            version: VERSION,
            tool: Tool { name: "leakhound".into(), version: env!("CARGO_PKG_VERSION").into() },
            registry,
            shard,
            rules,
            started: finished.saturating_sub(stats.elapsed_ms / 1000),
            finished,
            images,
            layers,
            configs,
            failed,
            errors,
            stats,
            projects,
        }
    }

    /// Reads a document, saying clearly when the file is something else (a plain report).
    pub fn from_json(text: &[u8], origin: &str) -> Result<SweepDocument, String> {
        let value: serde_json::Value =
            serde_json::from_slice(text).map_err(|e| format!("{origin} is not JSON: {e}"))?;
        if value.get("kind").and_then(|k| k.as_str()) != Some(KIND) {
            return Err(format!(
                "{origin} is not a sweep shard report: write it with `leakhound sweep --shard I/N --report FILE`"
            ));
        }
        let version = value.get("version").and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(VERSION)) {
            return Err(format!(
                "{origin} has sweep report version {version:?}; this leakhound reads version {VERSION}"
            ));
        }
        serde_json::from_value(value).map_err(|e| format!("{origin} is damaged: {e}"))
    }
}
