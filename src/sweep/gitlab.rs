//! The GitLab sweep document: what one `leakhound gitlab` job found in its share of a GitLab's
//! projects (#20), in a form `leakhound merge` combines with the other shards' documents into
//! the report an unsharded run writes. An unsharded run goes through the same document, so a
//! merge of every shard and a run without `--shard` cannot drift apart.
//!
//! Layout (`"kind": "leakhound-gitlab"`, version 1):
//!
//! ```text
//! {
//!   "kind": "leakhound-gitlab", "version": 1, "tool": {"name", "version"},
//!   "instance": "https://host[:port]", "target": "gitlab https://host --group team",
//!   "shard": {"index", "count"}, "rules": "<rule-set digest>",
//!   "started", "finished",              // seconds since the epoch
//!   "projects": ["group/project"],      // the projects this shard scanned
//!   "findings": [<finding, as the JSON report has it, with "repository">],
//!   "errors": [{"origin", "message"}],  // the listing's and this shard's projects'
//!   "skipped": [{"origin", "reason"}],
//!   "stats": <the JSON report's stats>,
//!   "config": <the JSON report's config>  // only when a config file was read
//! }
//! ```
//!
//! Findings keep their secrets (the merged report redacts them unless `--show-secrets`):
//! protect shard documents as you protect the repositories. They never hold the token. This
//! module must not depend on sources or the engine.

use serde::{Deserialize, Serialize};

use super::shard::Shard;
use crate::error::ScanError;
use crate::finding::{Finding, Skipped};
use crate::report::json::Tool;
use crate::report::{Report, RuleSummary, Stats};

/// The `kind` of a GitLab sweep document.
pub const KIND: &str = "leakhound-gitlab";

/// Layout version.
pub const VERSION: u32 = 1;

/// What one `leakhound gitlab` job found (see the module docs for the layout).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitlabDocument {
    /// Always [`KIND`].
    pub kind: String,
    /// Layout version.
    pub version: u32,
    /// The producing tool.
    pub tool: Tool,
    /// The instance's base URL (no credentials, ever).
    pub instance: String,
    /// What was scanned, in the user's words.
    pub target: String,
    /// Which share of the projects this is.
    pub shard: Shard,
    /// The rule set's digest.
    pub rules: String,
    /// Start, seconds since the epoch.
    pub started: u64,
    /// End, seconds since the epoch.
    pub finished: u64,
    /// The projects this shard scanned (`path_with_namespace`).
    pub projects: Vec<String>,
    /// Findings, secrets unredacted, each with its project.
    pub findings: Vec<Finding>,
    /// Failures: the listing's, and those of this shard's projects.
    pub errors: Vec<ScanError>,
    /// What was deliberately not scanned.
    pub skipped: Vec<Skipped>,
    /// Counters of this shard's scans.
    pub stats: Stats,
    /// The config files the rules came from, when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<crate::rules::load::ConfigUse>,
}

impl GitlabDocument {
    /// Reads a document, saying clearly when the file is something else.
    pub fn from_json(value: serde_json::Value, origin: &str) -> Result<GitlabDocument, String> {
        let version = value.get("version").and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(VERSION)) {
            return Err(format!(
                "{origin} has GitLab shard report version {version:?}; this leakhound reads version {VERSION}"
            ));
        }
        serde_json::from_value(value).map_err(|e| format!("{origin} is damaged: {e}"))
    }
}

/// Combines the documents of one run (one unsharded document, or every shard's) into its
/// report: findings in report order, errors and skipped items once each (every shard lists the
/// projects, so the listing's problems are in every document), counters summed. The documents
/// must be every shard of one split, with one rule set, of one instance.
pub fn combine(documents: &[GitlabDocument], rules: Vec<RuleSummary>) -> Result<Report, String> {
    super::shard::check_whole(documents.iter().map(|d| (d.shard, d.rules.as_str())))?;
    let first = &documents[0];
    if let Some(d) = documents.iter().find(|d| d.instance != first.instance) {
        return Err(format!(
            "shard {} scanned {}, shard {} scanned {}: merge the shards of one run",
            d.shard, d.instance, first.shard, first.instance
        ));
    }
    let mut report = Report {
        target: first.target.clone(),
        rules,
        config: first.config.clone(),
        started: documents.iter().map(|d| d.started).min().unwrap_or_default(),
        finished: documents.iter().map(|d| d.finished).max().unwrap_or_default(),
        ..Report::default()
    };
    for d in documents {
        report.findings.extend(d.findings.iter().cloned());
        report.errors.extend(d.errors.iter().cloned());
        report.skipped.extend(d.skipped.iter().cloned());
        report.stats.add(&d.stats);
        // Shards run side by side: the run took as long as the slowest.
        report.stats.elapsed_ms = report.stats.elapsed_ms.max(d.stats.elapsed_ms);
    }
    report.findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    report.errors.sort();
    report.errors.dedup();
    report.skipped.sort();
    report.skipped.dedup();
    report.stats.findings = report.findings.len() as u64;
    report.stats.errors = report.errors.len() as u64;
    Ok(report)
}
