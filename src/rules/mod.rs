//! Rules are data: what a secret looks like, how to find it cheaply, and what only looks like one.
//!
//! This module turns TOML rule files ([`RuleSyntax`]) into checked rules ([`Rule`]) gathered in a
//! [`RuleSet`]. It compiles nothing expensive: regexes are parsed here (so a bad pattern fails at
//! load, naming file, line and rule) and compiled lazily by the engine. It knows nothing of
//! sources, findings or reports.

mod builtin;
pub mod check;
pub mod gitleaks;
mod headers;
pub mod load;

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use load::{Config, ConfigSyntax, load_builtin, load_config_file};

/// How bad a leak of this kind of secret is; reporters map it onto their own scales.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look, rarely a live credential.
    Info,
    /// A credential with narrow reach, or a rule with many false positives.
    Low,
    /// A credential of moderate reach.
    Medium,
    /// A credential that grants real access.
    #[default]
    High,
    /// A credential that grants broad or administrative access.
    Critical,
}

impl Severity {
    /// The lowercase name used in every report.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How sure a finding is that it is a live secret (issue #14); `--min-confidence` filters on it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// A generic or entropy-only match, a weak value, or a match downgraded by its context
    /// (a test-vector path, a line that says "example").
    Low,
    /// A keyword-anchored value or a structured credential whose value passes the value model.
    Medium,
    /// A checksum-verified secret, or a provider format with a distinctive prefix.
    #[default]
    High,
}

impl Confidence {
    /// The lowercase name used in every report.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }

    /// One step down (context downgrades; `low` stays `low`).
    #[must_use]
    pub fn lowered(self) -> Confidence {
        match self {
            Confidence::High => Confidence::Medium,
            Confidence::Medium | Confidence::Low => Confidence::Low,
        }
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the secret of a rule looks like on its own, which decides whether the engine's value
/// model judges it and how confident its findings are (issue #14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    /// A provider format with a distinctive prefix or shape (`ghp_…`, `AKIA…`, a PEM block):
    /// never second-guessed, `high` confidence. The default for rules whose id is not `generic.*`.
    Prefixed,
    /// A value with no shape of its own, found by the provider's name next to it
    /// (`TWILIO_AUTH_TOKEN = <32 hex>`): judged by the value model, `medium` at best.
    Anchored,
    /// A credential in a structured format (a URL's userinfo, a connection string, a docker
    /// `config.json`, an `Authorization` header): judged by the value model, `medium` at best.
    Structured,
    /// The password field of a credential file (`.netrc`'s `password`, `.pgpass`'s fifth
    /// field): whatever stands there is a password, so the value model drops only what is not a
    /// value (a placeholder, a reference, a name, a published sample); a weak password is `low`,
    /// never dropped; a strong one `medium`.
    Field,
    /// A value assigned to a name that says "secret": judged by the value model, `medium` when
    /// the value is strong, else `low`. The default for `generic.*` rules.
    Generic,
}

/// A minimum Shannon entropy (bits per byte) for the secret group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntropySyntax {
    /// Secrets below this entropy are dropped.
    pub min: f64,
}

/// Things that look like a secret but are known not to be one.
///
/// By default a finding is dropped when ANY entry matches. The fields after `stopwords` exist
/// mostly for gitleaks configs (see [`gitleaks`]): path regexes, regexes on the whole match or
/// line, commits, `condition = "all"` (every criterion set must hold), and further lists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowSyntax {
    /// Globs on the path (`**/testdata/**`); a finding in a matching path is dropped.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Regexes on the secret; a secret that matches any is dropped.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Case-insensitive words; a secret that contains any is dropped.
    #[serde(default)]
    pub stopwords: Vec<String>,
    /// Regexes on the path, unanchored (gitleaks `paths`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_patterns: Vec<String>,
    /// Regexes on the path: a finding whose path matches none of them is dropped, so the rule
    /// reports only in those paths (gitleaks rule `path`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only_in_paths: Vec<String>,
    /// Regexes on the whole match of the rule's pattern (gitleaks `regexTarget = "match"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<String>,
    /// Regexes on the line(s) holding the match (gitleaks `regexTarget = "line"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
    /// Commits (full ids, or prefixes of at least 7 hex digits) whose findings are dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<String>,
    /// How the criteria combine.
    #[serde(default, skip_serializing_if = "Condition::is_any")]
    pub condition: Condition,
    /// Further allowlists, each judged on its own (a finding any of them accepts is dropped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<AllowSyntax>,
}

/// How the criteria of one allowlist combine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Condition {
    /// A finding is dropped when any criterion matches (gitleaks `OR`).
    #[default]
    Any,
    /// A finding is dropped only when every criterion that is set matches (gitleaks `AND`).
    All,
}

impl Condition {
    /// True for the default.
    pub fn is_any(&self) -> bool {
        *self == Condition::Any
    }
}

impl AllowSyntax {
    /// True when no entry is set.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
            && self.secrets.is_empty()
            && self.stopwords.is_empty()
            && self.path_patterns.is_empty()
            && self.only_in_paths.is_empty()
            && self.matches.is_empty()
            && self.lines.is_empty()
            && self.commits.is_empty()
            && self.also.iter().all(AllowSyntax::is_empty)
    }

    /// True when only the original three fields are used with the default condition, so lists
    /// can be merged entry by entry.
    pub fn is_plain(&self) -> bool {
        self.condition.is_any()
            && self.path_patterns.is_empty()
            && self.only_in_paths.is_empty()
            && self.matches.is_empty()
            && self.lines.is_empty()
            && self.commits.is_empty()
            && self.also.is_empty()
    }
}

/// One `[[rule]]` table as written in a rule file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSyntax {
    /// Stable id, `provider.kind`, never reused.
    pub id: String,
    /// Short human name.
    #[serde(default)]
    pub name: String,
    /// What the secret is and what it grants.
    #[serde(default)]
    pub description: String,
    /// How bad a leak is.
    #[serde(default)]
    pub severity: Severity,
    /// Literals (matched case-insensitively) at least one of which must occur near a secret.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// The regex; the group named `secret`, or else the first group that took part, is the secret.
    pub pattern: String,
    /// Optional entropy gate on the secret.
    #[serde(default)]
    pub entropy: Option<EntropySyntax>,
    /// How many bytes either side of a keyword the pattern may reach (default 512).
    #[serde(default)]
    pub window: Option<usize>,
    /// Literals (matched case-insensitively) one of which every match of the pattern contains:
    /// a window holding none of them is skipped without running the pattern. A cheap gate for
    /// patterns that run near common keywords (`token`) but need rarer text (`</`, `@`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// What the secret looks like on its own (see [`RuleKind`]); by default `generic` for
    /// `generic.*` ids and `prefixed` for the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RuleKind>,
    /// A named check on the secret's own checksum (for example `github-crc32`).
    #[serde(default)]
    pub checksum: Option<String>,
    /// A named public scheme the secret is stored under (`winscp`, `rclone`, … see
    /// [`crate::engine::reveal`]): the finding's secret is the password it reveals, its place the
    /// stored value's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode: Option<String>,
    /// Allowlist for this rule alone.
    #[serde(default)]
    pub allow: AllowSyntax,
    /// Links to the provider's documentation of the format.
    #[serde(default)]
    pub references: Vec<String>,
    /// Texts in which the rule must find a secret.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Texts in which the rule must find nothing.
    #[serde(default)]
    pub negative_examples: Vec<String>,
}

/// Where a rule came from, for error messages and `rules list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file (built-in files are named `builtin:rules/NAME.toml`).
    pub file: PathBuf,
    /// 1-based line of the rule's `[[rule]]` header, when known.
    pub line: Option<usize>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file.display()),
            None => write!(f, "{}", self.file.display()),
        }
    }
}

/// A checked rule, ready for the engine.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule as written.
    pub syntax: RuleSyntax,
    /// Where it was written.
    pub origin: Origin,
}

impl Rule {
    /// The rule's stable id.
    pub fn id(&self) -> &str {
        &self.syntax.id
    }

    /// The rule's [`RuleKind`], written or implied by its id.
    pub fn kind(&self) -> RuleKind {
        self.syntax.kind.unwrap_or(if self.id().starts_with(GENERIC_PREFIX) {
            RuleKind::Generic
        } else {
            RuleKind::Prefixed
        })
    }

    /// Bytes either side of a keyword hit in which the pattern runs.
    pub fn window(&self) -> usize {
        self.syntax.window.unwrap_or(DEFAULT_WINDOW)
    }
}

/// Id prefix of fallback rules: a generic rule's match yields to a specific rule's on the same
/// secret, and its value is judged by the engine's value model.
pub const GENERIC_PREFIX: &str = "generic.";

/// Version of the engine's judgement of values (its value model and confidence grading): part
/// of [`RuleSet::digest`], since a change there changes what a scan reports with the same rules.
/// Bump it with every change to `engine::value` or `engine::context`.
pub const JUDGEMENT_VERSION: &str = "value-model-1";

/// Default reach of a pattern around its keyword, in bytes.
pub const DEFAULT_WINDOW: usize = 512;

/// All rules of a run plus the global allowlist.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// Rules in a stable order (built-ins by file, then user rules).
    pub rules: Vec<Rule>,
    /// Allowlist applied to every rule.
    pub allow: AllowSyntax,
    /// The config files the set was built from and what they did to the built-in rules; `None`
    /// when only the built-in rules are in force.
    pub config: Option<load::ConfigUse>,
}

impl RuleSet {
    /// A stable hash of everything that changes what a scan finds; caches are keyed on it.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(env!("CARGO_PKG_VERSION"));
        hasher.update(JUDGEMENT_VERSION);
        for rule in &self.rules {
            let text = toml::to_string(&rule.syntax).unwrap_or_default();
            hasher.update(text.as_bytes());
        }
        hasher.update(toml::to_string(&self.allow).unwrap_or_default().as_bytes());
        hex(&hasher.finalize())
    }
}

/// Lowercase hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Checks a rule id: `provider.kind`, lowercase ASCII, digits and `-`, at most 64 bytes.
pub fn valid_rule_id(id: &str) -> bool {
    let part = |s: &str| {
        !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    id.len() <= 64 && {
        let mut parts = id.split('.');
        let provider = parts.next().unwrap_or_default();
        let rest: Vec<&str> = parts.collect();
        part(provider) && !rest.is_empty() && rest.iter().all(|p| part(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids() {
        assert!(valid_rule_id("aws.access-key-id"));
        assert!(valid_rule_id("gitlab.pat.v2"));
        assert!(!valid_rule_id("aws"));
        assert!(!valid_rule_id("AWS.key"));
        assert!(!valid_rule_id("aws.-key"));
        assert!(!valid_rule_id(&format!("a.{}", "b".repeat(70))));
    }
}
