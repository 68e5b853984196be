//! Reports: pure functions from a [`Report`] (findings plus scan metadata) to bytes. No scanning
//! happens here, and nothing here knows how findings were made.

pub mod csv;
pub mod gitlab;
pub mod html;
pub mod json;
pub mod junit;
pub mod sarif;
pub mod text;

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::ScanError;
use crate::finding::{Finding, Skipped};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text, colored on a terminal.
    Text,
    /// One JSON document (see [`json`]).
    Json,
    /// One JSON finding per line.
    Jsonl,
    /// SARIF 2.1.0 (see [`sarif`]), for code-scanning dashboards.
    Sarif,
    /// GitLab's secret-detection report, schema 15.2.1 (see [`gitlab`]).
    Gitlab,
    /// `JUnit` XML, one failed test case per finding (see [`junit`]).
    Junit,
    /// Comma-separated values, one row per finding (see [`csv`]).
    Csv,
    /// One self-contained HTML page to triage findings in a browser (see [`html`]).
    Html,
}

/// Counters of a scan, shown in the summary and the JSON `stats` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    /// Blobs (files, git blobs, layer entries) scanned.
    pub scanned: u64,
    /// Bytes scanned (of those blobs).
    pub bytes: u64,
    /// Commit messages scanned (git history), counted apart from blobs.
    #[serde(default)]
    pub commit_messages: u64,
    /// Findings reported.
    pub findings: u64,
    /// Blobs skipped because they look binary.
    pub skipped_binary: u64,
    /// Blobs skipped because they exceed the size cap.
    pub skipped_too_large: u64,
    /// FIFOs, sockets, devices, unfollowed symlinks and submodules, never opened.
    pub skipped_special: u64,
    /// Files skipped by a path allowlist.
    pub skipped_allowlisted: u64,
    /// Blobs not rescanned because identical content was already scanned.
    pub duplicates: u64,
    /// Blobs and commits whose results came from `--cache` (an earlier history scan with the
    /// same rules), not read or walked again; written only when some were.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cached: u64,
    /// Archives opened (zip, jar, tar, gzip… at any depth; see `--max-archive-depth`).
    #[serde(default)]
    pub archives: u64,
    /// Archive members handed to the scan (each also counted as scanned, binary or duplicate).
    #[serde(default)]
    pub archive_members: u64,
    /// Findings suppressed by a baseline or ignore file.
    pub suppressed: u64,
    /// Findings not reported because their confidence is below `--min-confidence`.
    #[serde(default)]
    pub below_min_confidence: u64,
    /// Findings not reported because `--only-verified` asked for live ones only (#16); written
    /// only when some were dropped, so reports without `--only-verified` keep their shape.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_verified: u64,
    /// Failures (see the report's `errors`).
    pub errors: u64,
    /// Wall time in milliseconds.
    pub elapsed_ms: u64,
}

impl Stats {
    /// Adds `other`'s counters to these (a run of many scans); the wall time is left alone,
    /// since scans that ran side by side do not add up.
    pub fn add(&mut self, other: &Stats) {
        let Stats {
            scanned,
            bytes,
            commit_messages,
            findings,
            skipped_binary,
            skipped_too_large,
            skipped_special,
            skipped_allowlisted,
            duplicates,
            cached,
            archives,
            archive_members,
            suppressed,
            below_min_confidence,
            not_verified,
            errors,
            elapsed_ms: _,
        } = other;
        self.scanned += scanned;
        self.bytes += bytes;
        self.commit_messages += commit_messages;
        self.findings += findings;
        self.skipped_binary += skipped_binary;
        self.skipped_too_large += skipped_too_large;
        self.skipped_special += skipped_special;
        self.skipped_allowlisted += skipped_allowlisted;
        self.duplicates += duplicates;
        self.cached += cached;
        self.archives += archives;
        self.archive_members += archive_members;
        self.suppressed += suppressed;
        self.below_min_confidence += below_min_confidence;
        self.not_verified += not_verified;
        self.errors += errors;
    }
}

/// For `skip_serializing_if`.
#[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Everything a reporter may show.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// What was scanned, in the user's words (`dir .`, `git /repo`).
    pub target: String,
    /// Findings, sorted by path, line, column, rule id.
    pub findings: Vec<Finding>,
    /// What could not be scanned.
    pub errors: Vec<ScanError>,
    /// What was deliberately not scanned and is named (sorted, no duplicates): not failures.
    pub skipped: Vec<Skipped>,
    /// Counters.
    pub stats: Stats,
    /// When the scan started, seconds since the Unix epoch.
    pub started: u64,
    /// When it ended, seconds since the Unix epoch.
    pub finished: u64,
    /// The rules in force, in rule-set order (SARIF lists them all, found or not).
    pub rules: Vec<RuleSummary>,
    /// The repository root the scan belongs to, when a command knows it: the ignore file is
    /// read there (otherwise at the current directory's repository root).
    pub root: Option<std::path::PathBuf>,
    /// The config files the rules came from and the built-in rules they turned off; `None` with
    /// the built-in rules alone.
    pub config: Option<crate::rules::load::ConfigUse>,
}

/// What a reporter needs to know about a rule: a slice of [`crate::rules::RuleSyntax`] so reports
/// stay independent of rule loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSummary {
    /// Stable rule id.
    pub id: String,
    /// Short human name (may be empty).
    pub name: String,
    /// Description (may be empty).
    pub description: String,
    /// Severity.
    pub severity: crate::rules::Severity,
    /// Links to the provider's documentation of the format.
    pub references: Vec<String>,
}

impl RuleSummary {
    /// The summary of `rule`.
    pub fn of(rule: &crate::rules::RuleSyntax) -> RuleSummary {
        RuleSummary {
            id: rule.id.clone(),
            name: rule.name.clone(),
            description: rule.description.clone(),
            severity: rule.severity,
            references: rule.references.clone(),
        }
    }
}

/// How reports render.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Show secrets instead of redacting them.
    pub show_secrets: bool,
    /// Use ANSI colors (text only).
    pub color: bool,
}

impl Options {
    /// The secret as it may be shown.
    pub fn secret(&self, secret: &str) -> String {
        if self.show_secrets { secret.to_owned() } else { crate::finding::redact(secret) }
    }
}

/// Replaces every secret in `secrets` with its redacted form wherever scanned content reaches a
/// report as text: finding and occurrence paths, commit messages, authors and emails, and the
/// origins and messages of errors and items not scanned. A secret in a commit subject is thus
/// hidden in every format, also where that commit only names the provenance of another finding
/// (issue #19). Each line of a multi-line secret (a private key) is hidden too, since only a
/// commit's first line is shown. One automaton over all secrets: a pass per text, whatever
/// their number.
pub fn hide_secrets<'s>(report: &mut Report, secrets: impl IntoIterator<Item = &'s str>) {
    // Shorter lines of a multi-line secret (the short last line of a key) would hide plain words.
    const MIN_LINE: usize = 8;
    let mut needles: Vec<&str> = Vec::new();
    for secret in secrets {
        needles.push(secret);
        if secret.contains('\n') {
            needles.extend(secret.lines().map(str::trim).filter(|l| l.len() >= MIN_LINE));
        }
    }
    needles.retain(|n| !n.is_empty());
    needles.sort_unstable();
    needles.dedup();
    if needles.is_empty() {
        return;
    }
    let shown: Vec<String> = needles.iter().map(|n| crate::finding::redact(n)).collect();
    let automaton = aho_corasick::AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostLongest)
        .build(&needles);
    let hide = |text: &mut String| match &automaton {
        Ok(automaton) => {
            if automaton.is_match(text.as_str()) {
                *text = automaton.replace_all(text, &shown);
            }
        }
        // Only a size limit fails the build; hiding one secret at a time still hides them all.
        Err(_) => {
            for (needle, shown) in needles.iter().zip(&shown) {
                if text.contains(needle) {
                    *text = text.replace(needle, shown);
                }
            }
        }
    };
    let hide_commit = |commit: &mut Option<crate::finding::CommitInfo>| {
        if let Some(c) = commit {
            for text in [&mut c.message, &mut c.author, &mut c.email] {
                hide(text);
            }
        }
    };
    hide(&mut report.target);
    for f in &mut report.findings {
        hide(&mut f.path);
        hide_commit(&mut f.commit);
        // A user's own rule may name a group that holds the secret.
        f.captures.values_mut().for_each(&hide);
        for o in &mut f.occurrences {
            hide(&mut o.path);
            hide_commit(&mut o.commit);
        }
    }
    for e in &mut report.errors {
        hide(&mut e.origin);
        hide(&mut e.message);
    }
    for s in &mut report.skipped {
        hide(&mut s.origin);
        hide(&mut s.reason);
    }
}

/// Writes `report` in `format`.
pub fn write(
    format: Format,
    report: &Report,
    options: &Options,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Text => text::write(report, options, out),
        Format::Json => json::write(report, options, out),
        Format::Jsonl => json::write_lines(report, options, out),
        Format::Sarif => sarif::write(report, options, out),
        Format::Gitlab => gitlab::write(report, options, out),
        Format::Junit => junit::write(report, options, out),
        Format::Csv => csv::write(report, options, out),
        Format::Html => html::write(report, options, out),
    }
}

/// Seconds since the Unix epoch, now.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `YYYY-MM-DDTHH:MM:SS` in UTC for seconds since the epoch (civil-from-days, H. Hinnant).
pub fn utc_timestamp(secs: u64) -> String {
    let days = (secs / 86_400).cast_signed();
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
pub(crate) mod format_tests;

#[cfg(test)]
mod tests {
    use super::utc_timestamp;

    #[test]
    fn timestamps() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00");
        assert_eq!(utc_timestamp(1_709_251_199), "2024-02-29T23:59:59");
        assert_eq!(utc_timestamp(1_795_700_000), "2026-11-26T13:33:20");
    }
}
