//! The GitLab secret-detection report (`--format gitlab`, `gl-secret-detection-report.json`),
//! declaring and valid against GitLab's security report schema **15.2.1**
//! (`secret-detection-report-format.json`), which GitLab validates a report against the version it
//! declares.
//!
//! `scan` names leakhound as analyzer and scanner, with start and end times in GitLab's format
//! (UTC, `YYYY-MM-DDTHH:MM:SS`, no zone or fraction) and `status` `success`, or `failure` with one
//! `warn` message per error when the scan is incomplete; one `info` message per item deliberately
//! not scanned (the report's `skipped`), in either case. Each finding is one vulnerability with a
//! stable id (a UUID-shaped hash of fingerprint, commit and line, so reruns give the same id), the
//! rule as primary identifier, `location.file`, `start_line`, `end_line` and `location.commit`
//! (`0000000` with empty author, date and message outside git, as GitLab's own analyzer writes).
//! Image details, the fingerprint and the confidence go in `details`. The confidence is also the
//! vulnerability's `confidence` (`High`, `Medium`, `Low`: the field and values of GitLab's
//! earlier security report schemas; 15.2.1 no longer defines it but allows it, since a
//! vulnerability's properties are open). The secret appears only with
//! `--show-secrets` (`raw_source_code_extract`). With `--verify`, `details` holds the check
//! (`verification`: status, identity and detail in one line; `verification_status`;
//! `verified_at`), and a `verified` finding's severity is `Critical`. Depends only on [`Report`].

use std::io::{self, Write};

use serde_json::{Value, json};

use super::{Options, Report, utc_timestamp};
use crate::finding::Finding;
use crate::rules::{Confidence, Severity};

/// The schema version the report declares.
pub const SCHEMA_VERSION: &str = "15.2.1";

/// The commit sha GitLab expects for findings outside git.
pub const NO_COMMIT: &str = "0000000";

/// Writes the report.
pub fn write(report: &Report, options: &Options, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &document(report, options))?;
    writeln!(out)
}

/// The report as a JSON value.
pub fn document(report: &Report, options: &Options) -> Value {
    let tool = json!({
        "id": "leakhound",
        "name": "leakhound",
        "version": env!("CARGO_PKG_VERSION"),
        "vendor": {"name": "leakhound"},
    });
    let mut scan = json!({
        "analyzer": tool,
        "scanner": tool,
        "type": "secret_detection",
        "start_time": utc_timestamp(report.started),
        "end_time": utc_timestamp(report.finished),
        "status": if report.errors.is_empty() { "success" } else { "failure" },
    });
    let messages: Vec<Value> = report
        .errors
        .iter()
        .map(|e| json!({"level": "warn", "value": format!("{}: {}", e.origin, e.message)}))
        .chain(report.skipped.iter().map(|s| {
            json!({"level": "info", "value": format!("not scanned: {}: {}", s.origin, s.reason)})
        }))
        .chain(super::text::config_line(report).map(|line| json!({"level": "info", "value": line})))
        .collect();
    if !messages.is_empty() {
        scan["messages"] = Value::Array(messages);
    }
    let vulnerabilities: Vec<Value> =
        report.findings.iter().map(|f| vulnerability(f, report, *options)).collect();
    json!({
        "version": SCHEMA_VERSION,
        "scan": scan,
        "vulnerabilities": vulnerabilities,
    })
}

fn vulnerability(f: &Finding, report: &Report, options: Options) -> Value {
    let rule = report.rules.iter().find(|r| r.id == f.rule_id);
    let name = rule
        .map(|r| if r.name.is_empty() { &r.description } else { &r.name })
        .filter(|n| !n.is_empty())
        .unwrap_or(&f.rule_id);
    let commit = match &f.commit {
        Some(c) => json!({
            "sha": c.sha,
            "author": format!("{} <{}>", c.author, c.email),
            "date": c.date,
            "message": c.message,
        }),
        None => json!({"sha": NO_COMMIT, "author": "", "date": "", "message": ""}),
    };
    let sha = f.commit.as_ref().map_or(NO_COMMIT, |c| c.sha.as_str());
    let mut identifier = json!({
        "type": "leakhound_rule_id",
        "name": format!("leakhound rule {}", f.rule_id),
        "value": f.rule_id,
    });
    if let Some(url) = rule.and_then(|r| r.references.first()).filter(|u| u.starts_with("http")) {
        identifier["url"] = json!(url);
    }
    let mut details = serde_json::Map::new();
    details.insert("fingerprint".into(), text("Fingerprint", &f.fingerprint));
    details.insert("rule_id".into(), text("Rule", &f.rule_id));
    details.insert("confidence".into(), text("Confidence", f.confidence.as_str()));
    if let Some(v) = &f.verification {
        details.insert("verification".into(), text("Verification", &v.describe()));
        details
            .insert("verification_status".into(), text("Verification status", v.status.as_str()));
        details.insert("verified_at".into(), text("Checked at", &v.checked_at));
    }
    if let Some(r) = &f.repository {
        details.insert("repository".into(), text("Repository", r));
    }
    if let Some(i) = &f.image {
        details.insert("image".into(), text("Image", &i.reference));
        details.insert("platform".into(), text("Platform", &i.platform));
        details.insert("manifest_digest".into(), text("Manifest digest", &i.manifest_digest));
        if let Some(d) = &i.layer_digest {
            details.insert("layer_digest".into(), text("Layer digest", d));
        }
        if let Some(d) = &i.deleted_in_layer {
            details.insert("deleted_in_layer".into(), text("Deleted in layer", d));
        }
    }
    let mut place = match (&f.commit, &f.image) {
        (Some(_), _) => format!("commit {}", sha.get(..12).unwrap_or(sha)),
        (None, Some(i)) => format!("image {}", i.reference),
        (None, None) => f.path.clone(),
    };
    if let Some(r) = &f.repository {
        place = format!("{r} {place}");
    }
    let description =
        rule.map(|r| r.description.as_str()).filter(|d| !d.is_empty()).unwrap_or(&f.description);
    let mut v = json!({
        "id": vulnerability_id(f),
        "name": truncate(name, 255),
        "description": format!("{description} found in {place} ({}).", options.secret(&f.secret)),
        // A live credential is critical whatever the rule's severity (#16).
        "severity": if f.is_verified() { "Critical" } else { severity(f.severity) },
        "confidence": confidence(f.confidence),
        "solution": "Revoke the secret at its provider, replace it, and remove it from the code \
                     (and history); then add its fingerprint to .leakhoundignore if it is accepted.",
        "identifiers": [identifier],
        "location": {
            "file": f.path,
            "start_line": f.line,
            "end_line": f.end_line,
            "commit": commit,
        },
        "details": details,
    });
    if options.show_secrets {
        v["raw_source_code_extract"] = json!(f.secret);
    }
    v
}

fn text(name: &str, value: &str) -> Value {
    json!({"name": name, "type": "text", "value": value})
}

/// GitLab's severity names.
pub fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
        Severity::Info => "Info",
    }
}

/// GitLab's confidence names.
pub fn confidence(confidence: Confidence) -> &'static str {
    match confidence {
        Confidence::High => "High",
        Confidence::Medium => "Medium",
        Confidence::Low => "Low",
    }
}

/// A stable, UUID-shaped id: the same finding (fingerprint, commit, line, and repository when
/// a run scans many) gets the same id on every run, so GitLab tracks it across pipelines.
pub fn vulnerability_id(f: &Finding) -> String {
    use sha2::{Digest, Sha256};
    let sha = f.commit.as_ref().map_or(NO_COMMIT, |c| c.sha.as_str());
    let image = f.image.as_ref().map_or("", |i| i.reference.as_str());
    let mut hasher = Sha256::new();
    for part in [f.fingerprint.as_str(), sha, image, &f.line.to_string()] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    // Two projects of one instance may hold the same commit (a fork): their findings differ.
    if let Some(r) = &f.repository {
        hasher.update((r.len() as u64).to_le_bytes());
        hasher.update(r.as_bytes());
    }
    let hex = crate::rules::hex(&hasher.finalize()[..16]);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
