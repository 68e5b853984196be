//! The JSON and JSON Lines reports.
//!
//! JSON (`--format json`), version 1:
//!
//! ```text
//! {
//!   "version": 1,
//!   "tool": {"name": "leakhound", "version": "0.1.0"},
//!   "findings": [{
//!     "rule_id", "description", "severity",
//!     "confidence",    // "high" | "medium" | "low" (see `rules::Confidence`)
//!     "path", "line", "column", "end_line", "end_column",
//!     "secret",        // redacted unless --show-secrets; for a rule with a `decode` scheme
//!                      // (WinSCP, rclone, …), the password the stored value reveals
//!     "fingerprint",   // hash of rule id, secret and path: survives line moves
//!     "commit": null | {"sha", "author", "email", "date", "message"},
//!     "image": null | {"ref", "manifest_digest", "platform", "layer_digest", "layer_index",
//!                      "deleted_in_layer"},
//!     "repository": "group/project",  // only when a run scans many (`leakhound gitlab`)
//!     "occurrences": [{"path", "line", "commit", "image"}],  // only when the secret recurs
//!     "captures": {"host", "port", "user", "database", "scheme", "sslmode"}, // only the parts the
//!                     // rule names beside the secret (a URI's host), never the secret
//!     "note": "the stored value is reported: …",  // only when a rule's `decode` scheme did
//!                     // not reveal the value (the secret is then the stored text)
//!     "verification": {"status", "identity", "detail", "checked_at"}   // only with --verify;
//!                     // status "verified" | "invalid" | "unverified", identity only when known
//!   }],
//!   "errors": [{"origin", "message"}],
//!   "skipped": [{"origin", "reason"}],   // deliberately not scanned, named: not failures
//!   "config": {"files", "builtin_rules", "builtin_off"},   // only when a config file was read
//!   "stats": {"scanned", "bytes", "commit_messages", "findings", "skipped_binary",
//!             "skipped_too_large", "skipped_special", "skipped_allowlisted", "duplicates",
//!             "suppressed", "below_min_confidence", "errors", "elapsed_ms",
//!             "not_verified"}   // only when --only-verified dropped findings
//! }
//! ```
//!
//! `skipped` names what a source passed over on purpose and a reader must know of: a blob over
//! `--max-file-size` (`"big.bin (commit 3f786850e387)"`), a Git LFS pointer, a submodule that is
//! not followed. `stats.scanned` and `stats.bytes` count blobs (files, git blobs, layer entries);
//! commit messages are counted in `stats.commit_messages`.
//!
//! JSON Lines (`--format jsonl`): one finding object per line, then one `{"error": {...}}` line
//! per failure, then one `{"skipped": {...}}` line per item not scanned, then a `{"config":
//! {...}}` line when a config file was read.

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use super::{Options, Report, Stats};
use crate::error::ScanError;
use crate::finding::{Finding, Skipped};

/// Version of the JSON report layout.
pub const VERSION: u32 = 1;

/// The tool block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// Always `leakhound`.
    pub name: String,
    /// The crate version.
    pub version: String,
}

/// The JSON report document; also what `--baseline` and `merge` read back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Layout version.
    pub version: u32,
    /// The producing tool.
    pub tool: Tool,
    /// Findings with secrets redacted unless asked.
    pub findings: Vec<Finding>,
    /// Failures.
    pub errors: Vec<ScanError>,
    /// What was deliberately not scanned (absent in reports written before it existed).
    #[serde(default)]
    pub skipped: Vec<Skipped>,
    /// Counters.
    pub stats: Stats,
    /// The config files read and the built-in rules they turned off (absent with none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<crate::rules::load::ConfigUse>,
}

/// Findings as they may be shown.
pub fn shown_findings(report: &Report, options: &Options) -> Vec<Finding> {
    report
        .findings
        .iter()
        .map(|f| Finding { secret: options.secret(&f.secret), ..f.clone() })
        .collect()
}

/// Writes the JSON document.
pub fn write(report: &Report, options: &Options, out: &mut dyn Write) -> io::Result<()> {
    let doc = Document {
        version: VERSION,
        tool: Tool { name: "leakhound".into(), version: env!("CARGO_PKG_VERSION").into() },
        findings: shown_findings(report, options),
        errors: report.errors.clone(),
        skipped: report.skipped.clone(),
        stats: report.stats.clone(),
        config: report.config.clone(),
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// Writes JSON Lines.
pub fn write_lines(report: &Report, options: &Options, out: &mut dyn Write) -> io::Result<()> {
    for finding in shown_findings(report, options) {
        serde_json::to_writer(&mut *out, &finding)?;
        writeln!(out)?;
    }
    for error in &report.errors {
        serde_json::to_writer(&mut *out, &serde_json::json!({ "error": error }))?;
        writeln!(out)?;
    }
    for item in &report.skipped {
        serde_json::to_writer(&mut *out, &serde_json::json!({ "skipped": item }))?;
        writeln!(out)?;
    }
    if let Some(config) = &report.config {
        serde_json::to_writer(&mut *out, &serde_json::json!({ "config": config }))?;
        writeln!(out)?;
    }
    Ok(())
}
