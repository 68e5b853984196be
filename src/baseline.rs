//! Triage: findings a team has already seen and accepted. A `.leakhoundignore` (and a gitleaks
//! `.gitleaksignore`) at the repository root lists fingerprints to ignore, and `--baseline
//! REPORT.json` suppresses every finding of an earlier JSON report, so a team adopting leakhound
//! on an old repository fails only on new secrets.
//!
//! Matching is by [`crate::finding::fingerprint`] (rule id, secret and path; not the line), so
//! an accepted secret stays accepted when lines move, and a new secret in the same file is still
//! reported. JSON reports redact secrets, which is why baselines match on fingerprints only.
//! Gitleaks-style entries (`[commit:]path:rule-id:line`) match as gitleaks matches them, by
//! place. This module works on finished [`Report`]s: it knows nothing of sources or the engine.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::finding::Finding;
use crate::report::Report;

/// The ignore file read at the repository root.
pub const IGNORE_FILE: &str = ".leakhoundignore";

/// Gitleaks' ignore file, honoured too so teams can migrate without edits.
pub const GITLEAKS_IGNORE_FILE: &str = ".gitleaksignore";

/// A triage file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of an ignore file, or a place in a baseline, is malformed.
    #[error("invalid entry in {path}:{line}: {message}")]
    Entry {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong and what is expected.
        message: String,
    },
}

/// One gitleaks-style entry: `[commit:]path:rule-id:line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceEntry {
    /// The commit, for git scans.
    pub commit: Option<String>,
    /// The path.
    pub path: String,
    /// The rule id as gitleaks named it.
    pub rule: String,
    /// 1-based line.
    pub line: usize,
}

/// Everything that suppresses findings in one run.
#[derive(Debug, Clone, Default)]
pub struct Triage {
    fingerprints: HashSet<String>,
    places: Vec<PlaceEntry>,
}

impl Triage {
    /// Reads `.leakhoundignore` and `.gitleaksignore` at `root` (when present) and the baseline
    /// report (when given).
    pub fn load(root: &Path, baseline: Option<&Path>) -> Result<Triage, TriageError> {
        let mut triage = Triage::default();
        for name in [IGNORE_FILE, GITLEAKS_IGNORE_FILE] {
            let path = root.join(name);
            if path.is_file() {
                let text = read(&path)?;
                triage.add_ignore_file(&path, &text)?;
            }
        }
        if let Some(path) = baseline {
            let text = read(path)?;
            triage.fingerprints.extend(parse_baseline(path, &text)?);
        }
        Ok(triage)
    }

    /// Adds the entries of an ignore file (`path` only names it in errors).
    pub fn add_ignore_file(&mut self, path: &Path, text: &str) -> Result<(), TriageError> {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split_once(" #").map_or(raw, |(entry, _)| entry).trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if is_fingerprint(line) {
                self.fingerprints.insert(line.to_owned());
            } else if let Some(place) = parse_place(line) {
                self.places.push(place);
            } else {
                return Err(TriageError::Entry {
                    path: path.to_owned(),
                    line: i + 1,
                    message: format!(
                        "{line:?} is neither a fingerprint (32 hex digits, as reports print) nor a \
                         gitleaks entry `[commit:]path:rule-id:line`"
                    ),
                });
            }
        }
        Ok(())
    }

    /// True when nothing is suppressed.
    pub fn is_empty(&self) -> bool {
        self.fingerprints.is_empty() && self.places.is_empty()
    }

    /// True when `finding` was accepted.
    pub fn suppresses(&self, finding: &Finding) -> bool {
        self.fingerprints.contains(&finding.fingerprint)
            || self.places.iter().any(|p| place_matches(p, finding))
    }

    /// Drops suppressed findings from `report`, counting them in `stats.suppressed`.
    pub fn apply(&self, report: &mut Report) {
        if self.is_empty() {
            return;
        }
        let before = report.findings.len();
        report.findings.retain(|f| !self.suppresses(f));
        let suppressed = (before - report.findings.len()) as u64;
        report.stats.suppressed += suppressed;
        report.stats.findings = report.findings.len() as u64;
    }
}

fn read(path: &Path) -> Result<String, TriageError> {
    std::fs::read_to_string(path)
        .map_err(|source| TriageError::Io { path: path.to_owned(), source })
}

/// True for the fingerprints reports print: 32 lowercase hex digits.
pub fn is_fingerprint(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parses `[commit:]path:rule-id:line` from the right, so paths may hold `:`.
pub fn parse_place(text: &str) -> Option<PlaceEntry> {
    let mut parts = text.rsplitn(3, ':');
    let line = parts.next()?.parse::<usize>().ok().filter(|&l| l > 0)?;
    let rule = parts.next().filter(|r| !r.is_empty() && !r.contains(char::is_whitespace))?;
    let rest = parts.next().filter(|r| !r.is_empty())?;
    let (commit, path) = match rest.split_once(':') {
        Some((c, p))
            if c.len() >= 7 && c.bytes().all(|b| b.is_ascii_hexdigit()) && !p.is_empty() =>
        {
            (Some(c.to_ascii_lowercase()), p)
        }
        _ => (None, rest),
    };
    Some(PlaceEntry { commit, path: path.to_owned(), rule: rule.to_owned(), line })
}

fn place_matches(p: &PlaceEntry, f: &Finding) -> bool {
    let rule_matches =
        f.rule_id == p.rule || crate::rules::gitleaks::leakhound_ids(&p.rule).contains(&f.rule_id);
    let commit_matches = match (&p.commit, &f.commit) {
        (None, _) => true,
        (Some(want), Some(c)) => c.sha.starts_with(want.as_str()),
        (Some(_), None) => false,
    };
    rule_matches && commit_matches && f.path == p.path && f.line == p.line
}

#[derive(Deserialize)]
struct BaselineDoc {
    findings: Vec<BaselineFinding>,
}

#[derive(Deserialize)]
struct BaselineFinding {
    #[serde(deserialize_with = "fingerprint_field")]
    fingerprint: String,
}

fn fingerprint_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    if is_fingerprint(&text) {
        Ok(text)
    } else {
        Err(serde::de::Error::custom(format!("{text:?} is not a fingerprint (32 hex digits)")))
    }
}

/// The fingerprints of an earlier JSON report (`--format json` or `leakhound baseline`).
pub fn parse_baseline(path: &Path, text: &str) -> Result<HashSet<String>, TriageError> {
    let doc: BaselineDoc = serde_json::from_str(text).map_err(|e| TriageError::Entry {
        path: path.to_owned(),
        line: e.line().max(1),
        message: format!(
            "{e}; a baseline is a JSON report written by `leakhound baseline` or `--format json`"
        ),
    })?;
    Ok(doc.findings.into_iter().map(|f| f.fingerprint).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{CommitInfo, fingerprint};
    use crate::rules::Severity;

    fn finding(rule: &str, path: &str, line: usize, secret: &str) -> Finding {
        Finding {
            rule_id: rule.into(),
            description: String::new(),
            severity: Severity::High,
            confidence: crate::rules::Confidence::High,
            path: path.into(),
            line,
            column: 1,
            end_line: line,
            end_column: 1,
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

    #[test]
    fn ignore_file_entries_comments_and_errors() {
        let f = finding("aws.access-key-id", "a.env", 3, "x1");
        let mut t = Triage::default();
        let text = format!("# accepted\n\n{}  # test key\nsrc/a:b.txt:my-rule:7\n", f.fingerprint);
        t.add_ignore_file(Path::new(".leakhoundignore"), &text).expect("valid");
        assert!(t.suppresses(&f));
        assert!(!t.suppresses(&finding("aws.access-key-id", "a.env", 3, "x2")));
        assert!(t.suppresses(&finding("gitleaks.my-rule", "src/a:b.txt", 7, "any")));
        assert!(!t.suppresses(&finding("gitleaks.my-rule", "src/a:b.txt", 8, "any")));
        let err = t
            .add_ignore_file(Path::new(".leakhoundignore"), "# ok\nnot a fingerprint\n")
            .expect_err("malformed");
        assert_eq!(
            err.to_string().split(':').take(2).collect::<Vec<_>>(),
            ["invalid entry in .leakhoundignore", "2"]
        );
    }

    #[test]
    fn gitleaks_entries_with_commits() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let place = parse_place(&format!("{sha}:dir/k.txt:generic-api-key:2")).expect("parses");
        assert_eq!(place.commit.as_deref(), Some(sha));
        assert_eq!(
            (place.path.as_str(), place.rule.as_str(), place.line),
            ("dir/k.txt", "generic-api-key", 2)
        );
        let mut f = finding("generic.secret-assignment", "dir/k.txt", 2, "s");
        let mut t = Triage::default();
        t.places.push(PlaceEntry { rule: "generic.secret-assignment".into(), ..place });
        assert!(!t.suppresses(&f), "outside git the commit cannot match");
        f.commit = Some(CommitInfo {
            sha: sha.into(),
            author: String::new(),
            email: String::new(),
            date: String::new(),
            message: String::new(),
        });
        assert!(t.suppresses(&f));
        assert!(parse_place("k.txt:rule:zero").is_none());
        assert!(parse_place("k.txt:rule:0").is_none());
    }

    #[test]
    fn baseline_errors_name_the_line() {
        let err = parse_baseline(
            Path::new("b.json"),
            "{\n  \"findings\": [\n    {\"fingerprint\": \"nope\"}\n  ]\n}",
        )
        .expect_err("bad fingerprint");
        let msg = err.to_string();
        assert!(msg.starts_with("invalid entry in b.json:3:"), "{msg}");
        let err = parse_baseline(Path::new("b.json"), "{\"findings\": [").expect_err("truncated");
        assert!(err.to_string().contains("b.json:1"), "{err}");
    }
}
