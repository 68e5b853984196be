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
//!                     // rule names beside the secret (a URI's host) or a revealed value
//!                     // names beside its password (a docker `auth`'s user), never the secret
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

/// The JSON report document; also what [`read`] (and so `serve`'s `index.html`) reads back.
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

/// Reads a JSON report (`--format json`) back into a [`Report`], the one reader of this format.
/// What the document does not keep stays empty: the target, the start and end times and the rule
/// list. Secrets stay as the file holds them: redacted unless it was written with
/// `--show-secrets`. `origin` names the file in the error.
pub fn read(text: &[u8], origin: &str) -> Result<Report, String> {
    let value: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| format!("{origin} is not JSON: {e}"))?;
    let version = value.get("version").and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(VERSION)) {
        return Err(format!(
            "{origin} has JSON report version {version:?}; this leakhound reads version {VERSION}"
        ));
    }
    let doc: Document =
        serde_json::from_value(value).map_err(|e| format!("{origin} is damaged: {e}"))?;
    Ok(Report {
        findings: doc.findings,
        errors: doc.errors,
        skipped: doc.skipped,
        stats: doc.stats,
        config: doc.config,
        ..Report::default()
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::format_tests::fixture;

    fn written(report: &Report, options: Options) -> Vec<u8> {
        let mut out = Vec::new();
        write(report, &options, &mut out).expect("writes to memory");
        out
    }

    #[test]
    fn a_report_reads_back_as_written() {
        let report = fixture();
        let back = read(&written(&report, Options::default()), "r.json").expect("reads");
        assert_eq!(back.findings, shown_findings(&report, &Options::default()));
        assert!(back.findings.iter().all(|f| f.secret.ends_with("*****")), "still redacted");
        assert_eq!(back.errors, report.errors);
        assert_eq!(back.skipped, report.skipped);
        assert_eq!(back.stats, report.stats);
        assert_eq!(back.config, report.config);
        assert!(back.target.is_empty() && back.rules.is_empty(), "the document keeps neither");
        let shown = Options { show_secrets: true, color: false };
        let back = read(&written(&report, shown), "r.json").expect("reads");
        assert_eq!(back.findings, report.findings, "--show-secrets reports keep their secrets");
    }

    #[test]
    fn what_is_not_a_report_is_named_with_the_reason() {
        let err = read(b"{\"version\": 1, \"findings\": [", "team/app/x.json").expect_err("cut");
        assert!(err.starts_with("team/app/x.json is not JSON: "), "{err}");
        let err = read(b"{\"version\": 2}", "x.json").expect_err("newer");
        assert!(err.contains("version Some(2)") && err.contains("reads version 1"), "{err}");
        let err = read(b"{\"kind\": \"leakhound-sweep\"}", "x.json").expect_err("other");
        assert!(err.contains("version None"), "{err}");
        let mut doc: serde_json::Value =
            serde_json::from_slice(&written(&fixture(), Options::default())).expect("JSON");
        doc["findings"][0]["surprise"] = serde_json::json!(1);
        let err = read(doc.to_string().as_bytes(), "x.json").expect_err("unknown field");
        assert!(err.starts_with("x.json is damaged: unknown field `surprise`"), "{err}");
    }
}
