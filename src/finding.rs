//! Findings: everything a reporter sees. A finding is a rule, a place (a [`Provenance`]), a
//! line and column, the secret, and a fingerprint that survives line moves.

use serde::{Deserialize, Serialize};

use crate::error::ScanError;
use crate::rules::{Confidence, Severity};

/// The commit that introduced a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitInfo {
    /// Full commit id.
    pub sha: String,
    /// Author name.
    pub author: String,
    /// Author email.
    pub email: String,
    /// Author date, RFC 3339.
    pub date: String,
    /// First line of the message.
    pub message: String,
}

/// Where in a container image a secret sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageInfo {
    /// The reference as the user gave it.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Digest of the (platform) manifest.
    pub manifest_digest: String,
    /// `os/arch[/variant]`.
    pub platform: String,
    /// Digest of the layer holding the file; `None` for the image config.
    pub layer_digest: Option<String>,
    /// 0-based index of that layer.
    pub layer_index: Option<usize>,
    /// Digest of the later layer that deletes the file, if any.
    pub deleted_in_layer: Option<String>,
}

/// Where a blob came from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Path of the file (in the tree, the commit or the image), or a pseudo-path such as
    /// `config:Env[3]` or `commit-message`.
    pub path: String,
    /// Set by the git sources.
    pub commit: Option<CommitInfo>,
    /// Set by the image sources.
    pub image: Option<ImageInfo>,
}

impl Provenance {
    /// A plain file.
    pub fn file(path: impl Into<String>) -> Provenance {
        Provenance { path: path.into(), commit: None, image: None }
    }
}

/// Another place where the same secret was found (same rule, same secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Occurrence {
    /// Path.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// Commit, for git sources.
    pub commit: Option<CommitInfo>,
    /// Image details, for image sources.
    pub image: Option<ImageInfo>,
}

/// One secret found in one place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Stable rule id.
    pub rule_id: String,
    /// The rule's description.
    pub description: String,
    /// The rule's severity.
    pub severity: Severity,
    /// How sure the finding is (issue #14). Reports of leakhound versions before it lack the
    /// field; they read as `high`, so nothing they hold is hidden by `--min-confidence`.
    #[serde(default)]
    pub confidence: Confidence,
    /// Path (see [`Provenance::path`]).
    pub path: String,
    /// 1-based line of the secret's start.
    pub line: usize,
    /// 1-based byte column of the secret's start.
    pub column: usize,
    /// 1-based line of the secret's end.
    pub end_line: usize,
    /// 1-based byte column of the secret's last byte.
    pub end_column: usize,
    /// The secret itself; reporters redact it unless told otherwise.
    pub secret: String,
    /// See [`fingerprint`].
    pub fingerprint: String,
    /// Commit details (git sources).
    pub commit: Option<CommitInfo>,
    /// Image details (image sources).
    pub image: Option<ImageInfo>,
    /// The repository the finding belongs to, when a run scans many (`leakhound gitlab`: the
    /// project's `path_with_namespace`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Other places the same secret was found, when a source groups them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub occurrences: Vec<Occurrence>,
    /// Whether the secret is live, when the run verified (`--verify`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<crate::verify::Verification>,
    /// What the rule's pattern names beside the secret (its named groups other than `secret`:
    /// a URI's `host`, `port`, `user` and `database`, a docker config's `registry`), so a
    /// verifier knows where the credential belongs (#16), and the `user` a stored value revealed
    /// beside its password (a docker config's `auth`, see [`crate::engine::reveal`]). Never the
    /// secret.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub captures: std::collections::BTreeMap<String, String>,
    /// Why the secret is the stored text after all: the rule reveals passwords stored under a
    /// public scheme (see [`crate::engine::reveal`]) and this value did not reveal. Absent
    /// otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Something a source deliberately did not scan and names in the report (a blob over the size
/// cap, a Git LFS pointer, a submodule that is not followed): not a failure, but the reader must
/// know it was not looked at. Any source may name such things; the count of skipped blobs is in
/// the stats either way.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skipped {
    /// What was not scanned: a path, with its commit or image where there is one
    /// (`model.bin (commit 3f786850e387)`).
    pub origin: String,
    /// Why, and how to get it scanned where that is possible.
    pub reason: String,
}

impl Skipped {
    /// `origin` was not scanned because of `reason`.
    pub fn new(origin: impl Into<String>, reason: impl Into<String>) -> Self {
        Skipped { origin: origin.into(), reason: reason.into() }
    }
}

/// What could not be read, or was deliberately not scanned, inside one blob's archives, when
/// the caller keeps it rather than the run's report: a layer's cached result holds it, so every
/// run served from the cache reports it again (and exits 2 for the errors).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Problems {
    /// Content that could not be read (the run exits 2).
    pub errors: Vec<ScanError>,
    /// Content deliberately not scanned (a cap, an encrypted member).
    pub skipped: Vec<Skipped>,
    /// Members skipped and counted, not named. A layer adds them to its stats, so they are not
    /// kept here.
    #[serde(skip)]
    pub members: MemberSkips,
}

/// Archive members skipped by kind: counted, as skipped files are, not named.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberSkips {
    /// Members whose head looks binary.
    pub binary: u64,
    /// Members over the size cap.
    pub too_large: u64,
    /// Symlink members, never followed.
    pub special: u64,
}

impl MemberSkips {
    fn add(&mut self, other: MemberSkips) {
        self.binary += other.binary;
        self.too_large += other.too_large;
        self.special += other.special;
    }
}

impl Problems {
    /// Adds `other`'s problems to these.
    pub fn absorb(&mut self, other: Problems) {
        self.errors.extend(other.errors);
        self.skipped.extend(other.skipped);
        self.members.add(other.members);
    }

    /// True when nothing went wrong and no member was skipped.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty() && self.skipped.is_empty() && self.members == MemberSkips::default()
    }

    /// These problems, found at paths inside layer `digest` of `image`, named with both.
    #[must_use]
    pub fn in_layer(self, image: &str, digest: &str) -> Self {
        self.renamed(|path| format!("{image} layer {digest}: {path}"))
    }

    /// These problems, named relative to an archive (`""` the archive itself, `a.jar!b.conf` a
    /// member), named at the archive's place `outer`: `outer`, `outer!a.jar!b.conf`.
    #[must_use]
    pub fn inside(self, outer: &str) -> Self {
        self.renamed(|rel| if rel.is_empty() { outer.to_owned() } else { format!("{outer}!{rel}") })
    }

    /// At most `max` of each kind, the rest counted in one entry naming the archive itself
    /// (`""`): copies of an archive inside copies of an archive would otherwise multiply the
    /// entries by every level's number of copies.
    #[must_use]
    pub fn capped(mut self, max: usize) -> Self {
        let more = |n: usize| format!("at least {n} more inside it, not listed one by one");
        if self.errors.len() > max {
            let n = self.errors.len() - max;
            self.errors.truncate(max);
            self.errors.push(ScanError::new("", more(n)));
        }
        if self.skipped.len() > max {
            let n = self.skipped.len() - max;
            self.skipped.truncate(max);
            self.skipped.push(Skipped::new("", more(n)));
        }
        self
    }

    fn renamed(mut self, name: impl Fn(&str) -> String) -> Self {
        self.errors.iter_mut().for_each(|e| e.origin = name(&e.origin));
        self.skipped.iter_mut().for_each(|s| s.origin = name(&s.origin));
        self
    }

    /// Both lists in report order.
    pub fn sort(&mut self) {
        self.errors.sort();
        self.skipped.sort();
    }
}

impl Finding {
    /// True when `--verify` found the secret live (its service accepted it).
    pub fn is_verified(&self) -> bool {
        self.verification.as_ref().is_some_and(|v| v.status == crate::verify::Status::Verified)
    }

    /// The sort order of every report: repository (when a run scans many), path, line, column,
    /// rule id.
    pub fn sort_key(&self) -> (Option<&str>, &str, usize, usize, &str) {
        (self.repository.as_deref(), &self.path, self.line, self.column, &self.rule_id)
    }
}

/// A fingerprint that survives line moves: a hash of rule id, secret and path, in hex.
pub fn fingerprint(rule_id: &str, secret: &[u8], path: &str) -> String {
    hash_parts(&[rule_id.as_bytes(), secret, path.as_bytes()])
}

/// The fingerprint of a finding of `repository` in a run that scans many (`leakhound gitlab`):
/// `fingerprint` (of rule id, secret and path) hashed with the repository, so a baselined
/// secret of one project does not hide the same secret at the same path in another. Findings
/// of single-repository scans keep [`fingerprint`], so their baselines stay valid.
pub fn repository_fingerprint(repository: &str, fingerprint: &str) -> String {
    hash_parts(&[repository.as_bytes(), fingerprint.as_bytes()])
}

/// The first 16 bytes of SHA-256 over `parts`, each prefixed with its length (so no two lists
/// of parts hash alike), in hex.
fn hash_parts(parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    crate::rules::hex(&hasher.finalize()[..16])
}

/// How a secret is shown when redacted: a few leading characters of long secrets, so people can
/// tell which key it is, and never more than a quarter of it.
pub fn redact(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    let keep = if chars.len() >= 16 { 4 } else { 0 };
    let mut out: String = chars[..keep].iter().collect();
    out.push_str("*****");
    out
}

/// True when `shown` is what [`redact`] writes (`*****`, or four characters and `*****`): a
/// secret read back from a redacted report, which redacting again would only shorten.
pub fn is_redacted(shown: &str) -> bool {
    shown.strip_suffix("*****").is_some_and(|kept| matches!(kept.chars().count(), 0 | 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_depends_on_rule_secret_and_path_only() {
        let a = fingerprint("aws.access-key-id", b"AKIAX", "a.txt");
        assert_eq!(a, fingerprint("aws.access-key-id", b"AKIAX", "a.txt"));
        assert_ne!(a, fingerprint("aws.access-key-id", b"AKIAX", "b.txt"));
        assert_ne!(a, fingerprint("aws.other", b"AKIAX", "a.txt"));
        assert_eq!(a.len(), 32);
        assert_eq!(a, "f57be65e06090ccce7d1e517db5a837e", "old baselines stay valid");
    }

    #[test]
    fn repository_fingerprints_tell_projects_apart() {
        let a = fingerprint("aws.access-key-id", b"AKIAX", "a.txt");
        let in_a = repository_fingerprint("team/a", &a);
        assert_ne!(in_a, repository_fingerprint("team/b", &a));
        assert_ne!(in_a, a);
        assert!(crate::baseline::is_fingerprint(&in_a));
    }

    #[test]
    fn redaction_hides_most() {
        assert_eq!(redact("ghp_0123456789abcdef0123"), "ghp_*****");
        assert_eq!(redact("short"), "*****");
        assert!(is_redacted(&redact("ghp_0123456789abcdef0123")) && is_redacted(&redact("short")));
        assert!(!is_redacted("ghp_0123456789abcdef0123") && !is_redacted("*****x"));
        assert!(!is_redacted("ghp_x*****"), "more than redact keeps");
    }
}
