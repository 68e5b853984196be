//! The HTML report (`--format html`, issue #18): one self-contained page to triage findings in a
//! browser, opened from a CI artifact link or a sweep's results directory.
//!
//! The page is a template, a stylesheet and a script compiled into the binary
//! (`src/report/html/`), plus the report's data embedded once as JSON in a
//! `<script type="application/json">` block; the script renders everything from that data
//! (counts by Harbor project, by repository or scan target, by rule; the findings table with its
//! filter, sorting and pages of 500 rows). In the data, places, rules, images and commits are
//! tables that findings point into, so a sweep's 20,000 findings do not repeat each image's
//! digests: `benches/html.sh` measures a 20,000-finding report (3.9 MB) laid out in about 0.5 s
//! (median, headless Chromium, from navigation start). Nothing is fetched: a Content-Security-Policy `default-src 'none'` forbids every
//! network load, and only the page's own script and stylesheet run, allowed by their SHA-256
//! hashes (so even a string that escaped escaping could not run as script).
//!
//! Strings from scanned content (paths, commit messages, rule names) are inert twice over: in
//! the JSON block `<`, `>` and `&` are written as `\u003c`, `\u003e` and `\u0026`, so `</script>`
//! cannot close the block, and the script escapes every string it puts into markup. Control and
//! bidi characters are shown escaped, as in the text report. Secrets are redacted as in every
//! format unless `--show-secrets`.
//!
//! [`write_many`] renders several reports as one page (one "scan" each, findings grouped across
//! them): what `leakhound serve` writes as the `index.html` of its results. Depends only on
//! [`Report`]; knows nothing of scanning.

use std::collections::HashMap;
use std::io::{self, Write};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::text::sanitize;
use super::{Options, Report, Stats, utc_timestamp};
use crate::error::ScanError;
use crate::finding::{Finding, ImageInfo, Skipped};
use crate::rules::{Confidence, Severity};
use crate::verify::Verification;

/// The page's stylesheet, inlined.
const STYLE: &str = include_str!("html/report.css");
/// The page's script, inlined.
const SCRIPT: &str = include_str!("html/report.js");

/// Occurrences listed per finding; the rest are counted. A secret in a base layer that 500
/// images share would otherwise repeat 500 places in every copy of the page's data.
const OCCURRENCES_LISTED: usize = 20;

/// Writes `report` as one HTML page.
pub fn write(report: &Report, options: &Options, out: &mut dyn Write) -> io::Result<()> {
    let title = format!("leakhound: {}", report.target);
    write_many(&[report], &title, options, out)
}

/// Writes `reports` as one HTML page titled `title`: each report is a scan in the page's list of
/// scans, and the findings of all are grouped together.
pub fn write_many(
    reports: &[&Report],
    title: &str,
    options: &Options,
    out: &mut dyn Write,
) -> io::Result<()> {
    let data = script_json(&page(reports, title, *options))?;
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <noscript><p>This report renders with JavaScript; the findings are in the JSON block \
         of this file.</p></noscript>\n<main id=\"app\"></main>\n\
         <script id=\"data\" type=\"application/json\">{data}</script>\n\
         <script>{SCRIPT}</script>\n</body>\n</html>\n",
        csp = content_security_policy(),
        // XML's escapes are HTML's too (`&apos;` included, in HTML5).
        title = super::junit::escape(&sanitize(title)),
    )
}

/// No network loads of any kind; only this page's own script and stylesheet, by hash.
fn content_security_policy() -> String {
    // The engine's base64 encoder: a pure function, nothing of scanning.
    let hash = |text: &str| crate::engine::decode::base64_encode(&Sha256::digest(text));
    format!(
        "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; base-uri 'none'; \
         form-action 'none'",
        hash(SCRIPT),
        hash(STYLE)
    )
}

/// `value` as JSON that can sit inside a `<script>` element: `<`, `>` and `&` only occur inside
/// JSON strings, where their `\u` escapes mean the same, so no `</script>` or `<!--` survives.
fn script_json(value: &impl Serialize) -> io::Result<String> {
    let json = serde_json::to_string(value)?;
    let mut out = String::with_capacity(json.len() + json.len() / 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// The page's data (the JSON block the script reads).
#[derive(Serialize)]
struct Page<'a> {
    title: String,
    version: &'static str,
    scans: Vec<Scan<'a>>,
    /// Where findings are: a project and a repository (an image's, or the scan's target).
    groups: Vec<Group>,
    rules: Vec<Rule>,
    /// Images and commits, each listed once however many findings it holds.
    images: Vec<Image<'a>>,
    commits: Vec<Commit>,
    findings: Vec<Row<'a>>,
}

/// One report's summary.
#[derive(Serialize)]
struct Scan<'a> {
    target: String,
    started: String,
    finished: String,
    stats: &'a Stats,
    errors: Vec<Problem>,
    skipped: Vec<Problem>,
}

/// An error or an item not scanned, as shown.
#[derive(Serialize)]
struct Problem {
    origin: String,
    message: String,
}

#[derive(Serialize, PartialEq, Eq, Hash, Clone)]
struct Group {
    /// The Harbor project (an image's first repository segment); empty outside images.
    project: String,
    /// The image's repository without tag or digest, or the scan's target.
    repository: String,
}

#[derive(Serialize, PartialEq, Eq, Hash, Clone)]
struct Rule {
    id: String,
    description: String,
}

/// One finding as shown.
#[derive(Serialize)]
struct Row<'a> {
    scan: usize,
    rule: usize,
    /// Index of the finding's own place in `groups`.
    group: usize,
    /// Other groups its occurrences lie in.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    also: Vec<usize>,
    severity: Severity,
    confidence: Confidence,
    path: String,
    line: usize,
    column: usize,
    secret: String,
    fingerprint: &'a str,
    /// Index in `commits`.
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<usize>,
    /// Index in `images`.
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    occurrences: Vec<Place>,
    /// All occurrences, also those not listed.
    #[serde(skip_serializing_if = "is_zero")]
    occurrence_count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    verification: Option<&'a Verification>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A commit as shown.
#[derive(Serialize, PartialEq, Eq, Hash, Clone)]
struct Commit {
    sha: String,
    author: String,
    date: String,
    message: String,
}

/// Where in an image a finding is.
#[derive(Serialize, PartialEq, Eq, Hash, Clone)]
struct Image<'a> {
    #[serde(rename = "ref")]
    reference: &'a str,
    platform: &'a str,
    manifest_digest: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    layer_digest: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    layer_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_in_layer: Option<&'a str>,
}

impl<'a> Image<'a> {
    fn of(image: &'a ImageInfo) -> Self {
        Image {
            reference: &image.reference,
            platform: &image.platform,
            manifest_digest: &image.manifest_digest,
            layer_digest: image.layer_digest.as_deref(),
            layer_index: image.layer_index,
            deleted_in_layer: image.deleted_in_layer.as_deref(),
        }
    }
}

/// The tables findings point into.
struct Tables<'a> {
    groups: Interner<Group>,
    rules: Interner<Rule>,
    images: Interner<Image<'a>>,
    commits: Interner<Commit>,
}

/// Another place of the same secret.
#[derive(Serialize)]
struct Place {
    path: String,
    line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<String>,
}

/// Interns values, handing out their index in first-seen order.
struct Interner<T> {
    values: Vec<T>,
    index: HashMap<T, usize>,
}

impl<T: Clone + Eq + std::hash::Hash> Interner<T> {
    fn new() -> Self {
        Interner { values: Vec::new(), index: HashMap::new() }
    }

    fn id(&mut self, value: T) -> usize {
        if let Some(&i) = self.index.get(&value) {
            return i;
        }
        self.values.push(value.clone());
        self.index.insert(value, self.values.len() - 1);
        self.values.len() - 1
    }
}

fn page<'a>(reports: &[&'a Report], title: &str, options: Options) -> Page<'a> {
    let mut tables = Tables {
        groups: Interner::new(),
        rules: Interner::new(),
        images: Interner::new(),
        commits: Interner::new(),
    };
    let mut findings = Vec::new();
    for (scan, &report) in reports.iter().enumerate() {
        for f in &report.findings {
            findings.push(row(scan, report, f, options, &mut tables));
        }
    }
    Page {
        title: sanitize(title),
        version: env!("CARGO_PKG_VERSION"),
        scans: reports.iter().map(|r| scan(r)).collect(),
        groups: tables.groups.values,
        rules: tables.rules.values,
        images: tables.images.values,
        commits: tables.commits.values,
        findings,
    }
}

fn scan(report: &Report) -> Scan<'_> {
    let problem = |origin: &str, message: &str| Problem {
        origin: sanitize(origin),
        message: sanitize(message),
    };
    Scan {
        target: sanitize(&report.target),
        started: utc_timestamp(report.started),
        finished: utc_timestamp(report.finished),
        stats: &report.stats,
        errors: report.errors.iter().map(|e: &ScanError| problem(&e.origin, &e.message)).collect(),
        skipped: report.skipped.iter().map(|s: &Skipped| problem(&s.origin, &s.reason)).collect(),
    }
}

fn row<'a>(
    scan: usize,
    report: &'a Report,
    f: &'a Finding,
    options: Options,
    tables: &mut Tables<'a>,
) -> Row<'a> {
    let group = tables.groups.id(place(f.image.as_ref(), &report.target));
    let mut also: Vec<usize> = f
        .occurrences
        .iter()
        .map(|o| tables.groups.id(place(o.image.as_ref(), &report.target)))
        .filter(|&g| g != group)
        .collect();
    also.sort_unstable();
    also.dedup();
    Row {
        scan,
        rule: tables
            .rules
            .id(Rule { id: sanitize(&f.rule_id), description: sanitize(&f.description) }),
        group,
        also,
        severity: f.severity,
        confidence: f.confidence,
        path: sanitize(&f.path),
        line: f.line,
        column: f.column,
        secret: sanitize(&options.secret(&f.secret)),
        fingerprint: &f.fingerprint,
        commit: f.commit.as_ref().map(|c| {
            tables.commits.id(Commit {
                sha: c.sha.clone(),
                author: sanitize(&c.author),
                date: c.date.clone(),
                message: sanitize(&c.message),
            })
        }),
        image: f.image.as_ref().map(|i| tables.images.id(Image::of(i))),
        occurrences: f
            .occurrences
            .iter()
            .take(OCCURRENCES_LISTED)
            .map(|o| Place {
                path: sanitize(&o.path),
                line: o.line,
                image: o.image.as_ref().map(|i| sanitize(&i.reference)),
                commit: o.commit.as_ref().map(|c| c.sha.clone()),
            })
            .collect(),
        occurrence_count: f.occurrences.len(),
        verification: f.verification.as_ref(),
    }
}

/// Where a finding is: for a registry image, its project (the first segment of the repository
/// after the registry host, as Harbor names projects) and its repository without tag or digest;
/// for a local image (`docker-archive:`, `oci-archive:`, `oci:`), that image as given; otherwise
/// the scan's target.
fn place(image: Option<&ImageInfo>, target: &str) -> Group {
    const LOCAL: [&str; 3] = ["docker-archive:", "oci-archive:", "oci:"];
    let Some(image) = image else {
        return Group { project: String::new(), repository: sanitize(target) };
    };
    if LOCAL.iter().any(|t| image.reference.starts_with(t)) {
        return Group { project: String::new(), repository: sanitize(&image.reference) };
    }
    let name = image.reference.split_once('@').map_or(image.reference.as_str(), |(name, _)| name);
    let name = match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => &name[..colon],
        _ => name,
    };
    let mut segments: Vec<&str> = name.split('/').collect();
    let host = segments.first().is_some_and(|s| s.contains(['.', ':']) || *s == "localhost");
    if host && segments.len() > 1 {
        segments.remove(0);
    }
    let project = if segments.len() > 1 { segments[0] } else { "" };
    Group { project: sanitize(project), repository: sanitize(name) }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::format_tests::fixture;

    /// The text of the page's JSON block.
    pub(crate) fn data_block(html: &str) -> &str {
        let open = "<script id=\"data\" type=\"application/json\">";
        let start = html.find(open).expect("a data block") + open.len();
        &html[start..start + html[start..].find("</script>").expect("closed")]
    }

    fn render(reports: &[&Report]) -> String {
        let mut out = Vec::new();
        write_many(reports, "leakhound: test", &Options::default(), &mut out)
            .expect("writes to memory");
        String::from_utf8(out).expect("UTF-8")
    }

    fn image(reference: &str) -> ImageInfo {
        ImageInfo {
            reference: reference.into(),
            manifest_digest: String::new(),
            platform: "linux/amd64".into(),
            layer_digest: None,
            layer_index: None,
            deleted_in_layer: None,
        }
    }

    #[test]
    fn places_name_the_harbor_project_and_the_repository() {
        let cases = [
            ("harbor.example.com/team/app:1.2", "team", "harbor.example.com/team/app"),
            ("127.0.0.1:5000/team/sub/app@sha256:ab", "team", "127.0.0.1:5000/team/sub/app"),
            ("localhost/p/app", "p", "localhost/p/app"),
            ("library/alpine:3", "library", "library/alpine"),
            ("alpine:3", "", "alpine"),
            ("registry:5000/app", "", "registry:5000/app"),
            ("docker-archive:app.tar", "", "docker-archive:app.tar"),
            ("oci:./layout:v1", "", "oci:./layout:v1"),
        ];
        for (reference, project, repository) in cases {
            let g = place(Some(&image(reference)), "sweep x");
            assert_eq!((g.project.as_str(), g.repository.as_str()), (project, repository));
        }
        let g = place(None, "git /repo");
        assert_eq!((g.project.as_str(), g.repository.as_str()), ("", "git /repo"));
    }

    #[test]
    fn json_in_a_script_block_cannot_close_it() {
        let json = script_json(&["</script><!-- & >"]).expect("serializes");
        assert_eq!(json, r#"["\u003c/script\u003e\u003c!-- \u0026 \u003e"]"#);
        let back: Vec<String> = serde_json::from_str(&json).expect("still JSON");
        assert_eq!(back, ["</script><!-- & >"]);
    }

    /// A path, a commit message, a target and a rule id from scanned content cannot add markup
    /// or script to the page: the only elements are the template's, and the strings come back
    /// whole from the data block.
    #[test]
    fn scanned_strings_are_inert() {
        let mut report = fixture();
        report.target = "dir <b>x</b>".into();
        report.findings[0].path = "<script>alert(1)</script>".into();
        report.findings[1].commit.as_mut().expect("commit").message =
            "fix </script><script>alert(2)</script> <!--".into();
        report.findings[2].rule_id = "x\"><img src=x onerror=alert(3)>".into();
        let mut out = Vec::new();
        write(&report, &Options::default(), &mut out).expect("writes to memory");
        let html = String::from_utf8(out).expect("UTF-8");
        assert!(html.contains("<title>leakhound: dir &lt;b&gt;x&lt;/b&gt;</title>"));
        let lower = html.to_lowercase();
        assert_eq!(lower.matches("<script").count(), 2, "the data block and the script");
        assert_eq!(lower.matches("</script").count(), 2);
        assert!(!lower.contains("<img") && !lower.contains("<b>") && !lower.contains("<!--"));
        let data: serde_json::Value = serde_json::from_str(data_block(&html)).expect("JSON");
        assert_eq!(data["scans"][0]["target"], "dir <b>x</b>");
        assert_eq!(data["findings"][0]["path"], "<script>alert(1)</script>");
        assert_eq!(data["commits"][0]["message"], "fix </script><script>alert(2)</script> <!--");
        assert_eq!(data["rules"][2]["id"], "x\"><img src=x onerror=alert(3)>");
    }

    /// The policy forbids every load; the page's script and style carry the hashes it allows,
    /// and the page names nothing to load.
    #[test]
    fn the_page_loads_nothing_and_its_policy_allows_its_own_code_only() {
        let html = render(&[&fixture()]);
        let hash = |text: &str| crate::engine::decode::base64_encode(&Sha256::digest(text));
        let csp = content_security_policy();
        assert!(csp.starts_with("default-src 'none';"), "{csp}");
        assert!(html.contains(&format!("content=\"{csp}\"")));
        let inline = |open: &str, close: &str| -> String {
            let start = html.find(open).expect("element") + open.len();
            html[start..start + html[start..].find(close).expect("closed")].to_owned()
        };
        assert!(csp.contains(&format!("'sha256-{}'", hash(&inline("<script>", "</script>")))));
        assert!(csp.contains(&format!("'sha256-{}'", hash(&inline("<style>", "</style>")))));
        let page = html.replace(data_block(&html), "");
        for load in [
            " src=",
            " href=",
            "url(",
            "@import",
            "http:",
            "https:",
            "fetch(",
            "XMLHttpRequest",
            "WebSocket",
            "EventSource",
            "sendBeacon",
            ".src",
            "location",
        ] {
            assert!(!page.contains(load), "the page names a load: {load}");
        }
    }

    /// Several reports make one page (what `serve` writes over its results): one scan each,
    /// places and rules shared, and a finding counts in the groups of its occurrences too.
    #[test]
    fn several_reports_share_groups_and_rules() {
        let mut other = fixture();
        other.target = "image harbor.example.com/team/app:1.2".into();
        other.findings.truncate(1);
        other.findings[0].image = Some(image("harbor.example.com/team/app:1.2"));
        let reports = [fixture(), other];
        let page = page(&[&reports[0], &reports[1]], "all", Options::default());
        assert_eq!(page.scans.len(), 2);
        assert_eq!(page.findings.len(), 4);
        assert_eq!(page.findings[3].scan, 1);
        assert_eq!(page.rules.len(), 3, "rules are shared across reports");
        let names: Vec<(&str, &str)> =
            page.groups.iter().map(|g| (g.project.as_str(), g.repository.as_str())).collect();
        assert_eq!(
            names,
            [
                ("", "dir ."),
                ("team", "registry.example.com/team/app"),
                ("team", "harbor.example.com/team/app")
            ]
        );
        assert_eq!(page.findings[3].group, 2);
        assert!(page.findings.iter().all(|f| f.secret.ends_with("*****")));
    }
}
