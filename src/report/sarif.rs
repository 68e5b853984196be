//! The SARIF report (`--format sarif`): SARIF **2.1.0**, valid against the OASIS schema
//! `sarif-schema-2.1.0.json` (errata 01), which code-scanning dashboards (GitHub, GitLab, Azure
//! DevOps, `SonarQube`) import.
//!
//! One run; `tool.driver.rules` lists every rule in force (found or not) with tags `security`,
//! `secret` and `CWE-798` and a `security-severity` score; each finding is one result with a
//! physical location (path, line, column; `endColumn` is exclusive as SARIF wants), the
//! content-based fingerprint under `partialFingerprints["leakhound/v1"]`, and git or image details
//! under `properties`. The finding's confidence is `properties.confidence` and shapes the result:
//! its `level` is the severity's level capped by the confidence (`medium` at most `warning`, `low`
//! at most `note`) and its `rank` (0–100, which SARIF viewers sort by) follows the confidence.
//! With `--verify`, `properties.verification` holds the check's `status`, `identity`, `detail`
//! and `checked_at`, and a `verified` result's level is `error`. The secret appears only with
//! `--show-secrets` (`properties.secret`);
//! messages carry the redacted form. Failures become tool execution notifications (level
//! `error`) and mark the invocation unsuccessful; what was deliberately not scanned (the report's
//! `skipped`) becomes notifications of level `note`. The run's `properties` hold the target, the
//! stats and, when a config file was read, `config` (its files and the built-in rules it turned
//! off). Depends only on [`Report`]; knows nothing of scanning.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::{Options, Report, utc_timestamp};
use crate::finding::Finding;
use crate::rules::{Confidence, Severity};

/// The SARIF version written.
pub const VERSION: &str = "2.1.0";

/// The schema URI written in `$schema`.
pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The key of our entry in `partialFingerprints`.
pub const FINGERPRINT_KEY: &str = "leakhound/v1";

/// Writes the SARIF log.
pub fn write(report: &Report, options: &Options, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &document(report, options))?;
    writeln!(out)
}

/// The SARIF log as a JSON value.
pub fn document(report: &Report, options: &Options) -> Value {
    let rules: Vec<Value> = report
        .rules
        .iter()
        .map(|r| {
            let name = if r.name.is_empty() { &r.id } else { &r.name };
            let description = if r.description.is_empty() { name } else { &r.description };
            let mut rule = json!({
                "id": r.id,
                "name": name,
                "shortDescription": {"text": name},
                "fullDescription": {"text": description},
                "defaultConfiguration": {"level": level(r.severity)},
                "properties": {
                    "tags": ["security", "secret", "CWE-798"],
                    "security-severity": security_severity(r.severity),
                    "severity": r.severity.as_str(),
                },
            });
            if let Some(uri) = r.references.first() {
                rule["helpUri"] = json!(uri);
            }
            rule
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| result(f, report.rules.iter().position(|r| r.id == f.rule_id), *options))
        .collect();
    let errors = report.errors.iter().map(|e| {
        json!({
            "level": "error",
            "message": {"text": format!("{}: {}", e.origin, e.message)},
        })
    });
    let not_scanned = report.skipped.iter().map(|s| {
        json!({
            "level": "note",
            "message": {"text": format!("not scanned: {}: {}", s.origin, s.reason)},
        })
    });
    let notifications: Vec<Value> = errors.chain(not_scanned).collect();
    let mut properties = json!({"target": report.target, "stats": report.stats});
    if let Some(config) = &report.config {
        properties["config"] = json!(config);
    }
    json!({
        "$schema": SCHEMA,
        "version": VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": "leakhound",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": report.errors.is_empty(),
                "startTimeUtc": format!("{}Z", utc_timestamp(report.started)),
                "endTimeUtc": format!("{}Z", utc_timestamp(report.finished)),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
            "properties": properties,
        }],
    })
}

fn result(f: &Finding, rule_index: Option<usize>, options: Options) -> Value {
    let shown = options.secret(&f.secret);
    let mut properties = json!({
        "severity": f.severity.as_str(),
        "confidence": f.confidence.as_str(),
        "fingerprint": f.fingerprint,
        "redacted": !options.show_secrets,
    });
    if options.show_secrets {
        properties["secret"] = json!(f.secret);
    }
    if let Some(c) = &f.commit {
        properties["commit"] = json!(c);
    }
    if let Some(i) = &f.image {
        properties["image"] = json!(i);
    }
    if let Some(r) = &f.repository {
        properties["repository"] = json!(r);
    }
    if !f.occurrences.is_empty() {
        properties["occurrences"] = json!(f.occurrences);
    }
    if let Some(v) = &f.verification {
        properties["verification"] = json!(v);
    }
    if let Some(note) = &f.note {
        properties["note"] = json!(note);
    }
    // A credential its service accepted is an error whatever the rule's severity (#16).
    let level = if f.is_verified() { "error" } else { result_level(f.severity, f.confidence) };
    let mut result = json!({
        "ruleId": f.rule_id,
        "level": level,
        "rank": rank(f.confidence),
        "message": {"text": format!("{} found: {shown}", describe(f))},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": uri(&f.path)},
            "region": {
                "startLine": f.line,
                "startColumn": f.column,
                "endLine": f.end_line,
                "endColumn": f.end_column + 1,
            },
        }}],
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
        "properties": properties,
    });
    if let Some(index) = rule_index {
        result["ruleIndex"] = json!(index);
    }
    result
}

fn describe(f: &Finding) -> &str {
    if f.description.is_empty() { &f.rule_id } else { &f.description }
}

/// SARIF `level` for a severity.
pub fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// SARIF `level` of a result: the severity's level, capped by the confidence, so a dashboard's
/// errors are findings leakhound is sure of.
pub fn result_level(severity: Severity, confidence: Confidence) -> &'static str {
    match (level(severity), confidence) {
        (_, Confidence::Low) => "note",
        ("error", Confidence::Medium) => "warning",
        (level, _) => level,
    }
}

/// SARIF `rank` (0.0–100.0, higher is more important) of a confidence.
pub fn rank(confidence: Confidence) -> f64 {
    match confidence {
        Confidence::High => 90.0,
        Confidence::Medium => 60.0,
        Confidence::Low => 30.0,
    }
}

/// The CVSS-like score GitHub code scanning reads from `security-severity` (critical ≥ 9.0,
/// high ≥ 7.0, medium ≥ 4.0, low > 0).
pub fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

/// A relative URI reference for a path: every byte but unreserved characters, `/` and `!` is
/// percent-encoded, so spaces, `#`, `?` and pseudo-paths such as `config:Env[3]` stay paths.
/// `!` (a sub-delimiter RFC 3986 allows in a path) joins archive levels
/// (`app.war!WEB-INF/lib/core.jar!a.conf`) and stays readable, as in `jar:` URLs.
pub fn uri(path: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/' | b'!') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(uri("src/a b.txt"), "src/a%20b.txt");
        assert_eq!(uri("config:Env[3]"), "config%3AEnv%5B3%5D");
        assert_eq!(uri("caf\u{e9}.txt"), "caf%C3%A9.txt");
        assert_eq!(uri("app.war!WEB-INF/lib/a b.jar!x"), "app.war!WEB-INF/lib/a%20b.jar!x");
    }

    #[test]
    fn confidence_caps_the_level() {
        assert_eq!(result_level(Severity::Critical, Confidence::High), "error");
        assert_eq!(result_level(Severity::Critical, Confidence::Medium), "warning");
        assert_eq!(result_level(Severity::Critical, Confidence::Low), "note");
        assert_eq!(result_level(Severity::Medium, Confidence::Medium), "warning");
        assert_eq!(result_level(Severity::Info, Confidence::High), "note");
    }

    #[test]
    fn severity_scores_follow_github_bands() {
        let score = |s| security_severity(s).parse::<f64>().expect("number");
        assert!(score(Severity::Critical) >= 9.0);
        assert!((7.0..9.0).contains(&score(Severity::High)));
        assert!((4.0..7.0).contains(&score(Severity::Medium)));
        assert!(score(Severity::Low) > 0.0 && score(Severity::Low) < 4.0);
    }
}
