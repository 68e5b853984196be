//! Every report format on one fixed set of findings: insta snapshots (with `CI=true` insta writes
//! none, so a changed format fails CI until the snapshot is reviewed and committed), schema
//! validation of SARIF and GitLab output against the vendored schemas in `tests/schemas`, and the
//! JSON report parsed back into its `deny_unknown_fields` types.

#[path = "../../tests/schemas/validate.rs"]
mod schema;

use super::json::Document;
use super::{Format, Options, Report, RuleSummary, Stats, write};
use crate::error::ScanError;
use crate::finding::{CommitInfo, Finding, ImageInfo, Occurrence, Skipped, fingerprint};
use crate::rules::{Confidence, Severity};
use crate::verify::{Status, Verification};
use schema::validate;

/// A fake AWS key id, assembled at run time (no secret-shaped literal in the source).
fn aws() -> String {
    format!("AKIA{}", "EFR6EDT4SYWB5WKH")
}

/// A finding of `rule` at `path:line` (shared with other modules' tests).
pub(crate) fn finding(
    rule: &str,
    severity: Severity,
    path: &str,
    line: usize,
    secret: &str,
) -> Finding {
    Finding {
        rule_id: rule.into(),
        description: format!("{rule} description"),
        severity,
        confidence: Confidence::High,
        path: path.into(),
        line,
        column: 5,
        end_line: line,
        end_column: 4 + secret.len(),
        secret: secret.into(),
        fingerprint: fingerprint(rule, secret.as_bytes(), path),
        commit: None,
        image: None,
        repository: None,
        occurrences: Vec::new(),
        verification: None,
        captures: std::collections::BTreeMap::new(),
        note: None,
    }
}

/// The fixed report: a plain file finding, a git finding (of a named repository) with a
/// recurrence, an image finding with awkward characters in its path, and one error.
pub(crate) fn fixture() -> Report {
    let commit = CommitInfo {
        sha: "3f786850e387550fdab836ed7e6dc881de23001b".into(),
        author: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        date: "2026-01-02T03:04:05Z".into(),
        message: "add deploy config, \"temporarily\"".into(),
    };
    let mut git = finding("aws.access-key-id", Severity::High, "deploy/prod.env", 12, &aws());
    git.commit = Some(commit.clone());
    git.confidence = Confidence::Medium;
    // As `leakhound gitlab` names the project of every finding.
    git.repository = Some("team/backend".into());
    git.occurrences.push(Occurrence {
        path: "deploy/prod.env".into(),
        line: 14,
        commit: Some(commit),
        image: None,
    });
    let mut image = finding(
        "generic.secret-assignment",
        Severity::Medium,
        "etc/app/a b,<c>.conf",
        3,
        "=s3cr3t-V4lue-9x",
    );
    image.confidence = Confidence::Low;
    image.image = Some(ImageInfo {
        reference: "registry.example.com/team/app:1.2".into(),
        manifest_digest: format!("sha256:{}", "a".repeat(64)),
        platform: "linux/amd64".into(),
        layer_digest: Some(format!("sha256:{}", "b".repeat(64))),
        layer_index: Some(2),
        deleted_in_layer: Some(format!("sha256:{}", "c".repeat(64))),
    });
    git.verification = Some(Verification {
        status: Status::Invalid,
        identity: None,
        detail: "https://sts.amazonaws.com/: HTTP 403".into(),
        checked_at: "2026-11-26T13:33:21Z".into(),
    });
    // A medium-severity rule whose secret is live: SARIF `error`, GitLab `Critical`.
    let mut plain =
        finding("github.token", Severity::Medium, ".env", 1, &format!("ghp_{}", "x".repeat(36)));
    plain.verification = Some(Verification {
        status: Status::Verified,
        identity: Some("octocat (scopes: repo, read:org)".into()),
        detail: "https://api.github.com/user: HTTP 200".into(),
        checked_at: "2026-11-26T13:33:21Z".into(),
    });
    let rule = |id: &str, severity, reference: Option<&str>| RuleSummary {
        id: id.into(),
        name: format!("{id} name"),
        description: format!("{id} description"),
        severity,
        references: reference.map(|r| vec![r.to_owned()]).unwrap_or_default(),
    };
    Report {
        target: "dir .".into(),
        findings: vec![plain, git, image],
        errors: vec![ScanError::new("missing-dir", "no such file or directory")],
        skipped: vec![Skipped::new(
            "model.bin (commit 3f786850e387)",
            "a Git LFS pointer: the content lives on the LFS server",
        )],
        stats: Stats {
            scanned: 10,
            bytes: 2048,
            commit_messages: 4,
            findings: 3,
            suppressed: 1,
            errors: 1,
            elapsed_ms: 1234,
            ..Stats::default()
        },
        started: 1_795_700_000,
        finished: 1_795_700_002,
        rules: vec![
            rule("aws.access-key-id", Severity::High, Some("https://docs.aws.amazon.com/IAM/")),
            rule("generic.secret-assignment", Severity::Medium, None),
            rule("github.token", Severity::Medium, Some("https://github.blog/")),
            rule("slack.bot-token", Severity::High, None),
        ],
        root: None,
        config: None,
    }
}

fn render(format: Format, options: Options) -> String {
    let mut out = Vec::new();
    write(format, &fixture(), &options, &mut out).expect("writes to memory");
    String::from_utf8(out).expect("reports are UTF-8")
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({
        snapshot_path => "snapshots",
        prepend_module_to_snapshot => false,
        filters => vec![(env!("CARGO_PKG_VERSION"), "[VERSION]")],
    }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn snapshots_of_every_format() {
    let options = Options::default();
    for (name, format) in [
        ("text", Format::Text),
        ("json", Format::Json),
        ("jsonl", Format::Jsonl),
        ("sarif", Format::Sarif),
        ("gitlab", Format::Gitlab),
        ("junit", Format::Junit),
        ("csv", Format::Csv),
    ] {
        snapshot(name, &render(format, options));
    }
    // The page's data, not its (long, constant) script and stylesheet.
    let html = render(Format::Html, options);
    let data: serde_json::Value =
        serde_json::from_str(super::html::tests::data_block(&html)).expect("JSON data");
    snapshot("html-data", &serde_json::to_string_pretty(&data).expect("JSON"));
}

/// Every report format.
const EVERY_FORMAT: [Format; 8] = [
    Format::Text,
    Format::Json,
    Format::Jsonl,
    Format::Sarif,
    Format::Gitlab,
    Format::Junit,
    Format::Csv,
    Format::Html,
];

#[test]
fn no_format_shows_a_secret_unless_asked() {
    let secrets: Vec<String> = fixture().findings.iter().map(|f| f.secret.clone()).collect();
    for format in EVERY_FORMAT {
        let text = render(format, Options::default());
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{format:?} leaks {s}");
        }
        let shown = render(format, Options { show_secrets: true, color: false });
        assert!(shown.contains(&aws()), "{format:?} shows secrets with --show-secrets");
    }
}

/// A secret in a commit subject, a path, an error and an item not scanned is hidden in every
/// format once [`super::hide_secrets`] ran, also in the occurrence of another finding's commit.
#[test]
fn hidden_secrets_leave_no_trace_in_any_format() {
    let mut report = fixture();
    let token = report.findings[0].secret.clone();
    let git = &mut report.findings[1];
    git.commit.as_mut().expect("commit").message = format!("use {token} for now");
    git.occurrences[0].path = format!("keys/{}.txt", aws());
    report.errors[0].message = format!("cannot read {token}.bak");
    report.skipped[0].origin = format!("{} (commit 3f786850e387)", aws());
    let secrets: Vec<String> = report.findings.iter().map(|f| f.secret.clone()).collect();
    super::hide_secrets(&mut report, secrets.iter().map(String::as_str));
    assert_eq!(
        report.findings[1].commit.as_ref().expect("commit").message,
        "use ghp_***** for now"
    );
    for format in EVERY_FORMAT {
        let mut out = Vec::new();
        write(format, &report, &Options::default(), &mut out).expect("writes to memory");
        let text = String::from_utf8(out).expect("UTF-8");
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{format:?} leaks {s}: {text}");
        }
    }
}

#[test]
fn json_parses_back_into_strict_types() {
    let doc: Document =
        serde_json::from_str(&render(Format::Json, Options::default())).expect("strict parse");
    assert_eq!(doc.findings.len(), 3);
    assert_eq!(doc.findings[1].occurrences.len(), 1);
    assert_eq!(doc.stats.suppressed, 1);
    assert_eq!(doc.stats.commit_messages, 4);
    assert_eq!(doc.skipped, fixture().skipped, "items not scanned are named");
    let old = r#"{"version": 1, "tool": {"name": "leakhound", "version": "0"}, "findings": [],
        "errors": [], "stats": {"scanned": 1, "bytes": 1, "findings": 0, "skipped_binary": 0,
        "skipped_too_large": 0, "skipped_special": 0, "skipped_allowlisted": 0,
        "duplicates": 0, "suppressed": 0, "errors": 0, "elapsed_ms": 1}}"#;
    let old: Document = serde_json::from_str(old).expect("reports from before `skipped` parse");
    assert!(old.skipped.is_empty() && old.stats.commit_messages == 0);
    let lines = render(Format::Jsonl, Options::default());
    for line in lines.lines().take(3) {
        let f: Finding = serde_json::from_str(line).expect("strict finding");
        assert!(f.secret.ends_with("*****"));
    }
    let last: serde_json::Value =
        serde_json::from_str(lines.lines().last().expect("lines")).expect("json line");
    let item: Skipped = serde_json::from_value(last["skipped"].clone()).expect("strict skipped");
    assert_eq!(item.origin, "model.bin (commit 3f786850e387)");
}

#[test]
fn sarif_and_gitlab_validate_against_their_schemas() {
    for options in [Options::default(), Options { show_secrets: true, color: false }] {
        let sarif = render(Format::Sarif, options);
        validate("sarif-schema-2.1.0.json", sarif.as_bytes())
            .unwrap_or_else(|e| panic!("{e}\n{sarif}"));
        let gitlab = render(Format::Gitlab, options);
        validate("gitlab-secret-detection-report-format.json", gitlab.as_bytes())
            .unwrap_or_else(|e| panic!("{e}\n{gitlab}"));
    }
    let sarif: serde_json::Value =
        serde_json::from_str(&render(Format::Sarif, Options::default())).expect("json");
    let notes = &sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"];
    assert_eq!(notes[1]["level"], "note", "{notes}");
    assert!(notes[1]["message"]["text"].as_str().is_some_and(|t| t.contains("model.bin")));
    let gitlab: serde_json::Value =
        serde_json::from_str(&render(Format::Gitlab, Options::default())).expect("json");
    let messages = &gitlab["scan"]["messages"];
    assert_eq!((&messages[0]["level"], &messages[1]["level"]), (&"warn".into(), &"info".into()));
    // The validator really validates: a report without `version` fails.
    let broken = render(Format::Gitlab, Options::default()).replacen("\"version\"", "\"v\"", 1);
    assert!(validate("gitlab-secret-detection-report-format.json", broken.as_bytes()).is_err());
}

#[test]
fn gitlab_ids_are_stable_and_distinct() {
    let a = render(Format::Gitlab, Options::default());
    let b = render(Format::Gitlab, Options::default());
    let ids = |t: &str| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(t).expect("json");
        v["vulnerabilities"]
            .as_array()
            .expect("array")
            .iter()
            .map(|v| v["id"].to_string())
            .collect()
    };
    assert_eq!(ids(&a), ids(&b));
    let mut unique = ids(&a);
    unique.dedup();
    assert_eq!(unique.len(), 3);
}

/// Every format carries the verification status (#16): a live secret is a SARIF `error` and a
/// GitLab `Critical` whatever the rule's severity, with the identity the service reported.
#[test]
fn verification_status_in_every_format() {
    let who = "octocat (scopes: repo, read:org)";
    for format in EVERY_FORMAT {
        let text = render(format, Options::default());
        assert!(text.contains("verified") && text.contains("invalid"), "{format:?}: {text}");
        if matches!(format, Format::Text | Format::Junit | Format::Gitlab) {
            assert!(text.contains(&format!("verified as {who}")), "{format:?}: {text}");
        }
    }
    assert!(render(Format::Text, Options::default()).contains("confidence)  [LIVE]"));
    let sarif: serde_json::Value =
        serde_json::from_str(&render(Format::Sarif, Options::default())).expect("json");
    let results = &sarif["runs"][0]["results"];
    assert_eq!(results[0]["level"], "error", "a live medium-severity secret is an error");
    assert_eq!(results[0]["properties"]["verification"]["identity"], who);
    assert_eq!(results[1]["properties"]["verification"]["status"], "invalid");
    assert!(results[2]["properties"].get("verification").is_none());
    let gitlab: serde_json::Value =
        serde_json::from_str(&render(Format::Gitlab, Options::default())).expect("json");
    let v = &gitlab["vulnerabilities"];
    assert_eq!(v[0]["severity"], "Critical", "{v}");
    assert_eq!(v[0]["details"]["verification_status"]["value"], "verified");
    assert_eq!(v[1]["severity"], "High", "an invalid secret keeps its severity");
    let csv = render(Format::Csv, Options::default());
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].ends_with(
        ",verification,verification_identity,verification_detail,verification_checked_at,repository"
    ));
    assert!(rows[1].contains(&format!(",verified,{}", super::csv::cell(who))), "{csv}");
    assert!(rows[3].ends_with(",,,,,"), "no verification, no repository, empty cells: {csv}");
    assert!(rows[2].ends_with(",team/backend"), "the repository in the last column: {csv}");
    let doc: Document =
        serde_json::from_str(&render(Format::Json, Options::default())).expect("strict parse");
    assert_eq!(doc.findings[0].verification, fixture().findings[0].verification);
}
