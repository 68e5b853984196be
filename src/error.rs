//! Library errors. Messages are lowercase, name the file, line and rule where there is one, and
//! say what to do when that is not obvious.

use std::path::PathBuf;

/// A rule file or config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The file could not be read.
    #[error("cannot read rule file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown fields.
    #[error("invalid rule file {path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line, when the parser knows it.
        line: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// One rule is wrong.
    #[error("invalid rule {rule_id} ({origin}): {message}")]
    Rule {
        /// The rule's id.
        rule_id: String,
        /// `file:line`.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

/// Convenience alias for rule loading.
pub type RuleResult<T> = Result<T, RuleError>;

/// Where a failure happened and what it was; a scan collects these and exits 2. Reports list
/// them in their order: by origin, then message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanError {
    /// What could not be scanned: a path, an object id, an image reference.
    pub origin: String,
    /// Why, in words a user can act on.
    pub message: String,
}

impl ScanError {
    /// A failure of `origin`.
    pub fn new(origin: impl Into<String>, message: impl Into<String>) -> Self {
        ScanError { origin: origin.into(), message: message.into() }
    }
}
