//! Allowlists: paths, secret regexes and stop words that mark a candidate as not a secret, and the
//! inline comments that let a developer accept one line.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use regex::bytes::Regex;

use crate::rules::AllowSyntax;
use crate::rules::load::regex_builder;

/// Markers that accept every finding on their line. `gitleaks:allow` and
/// `pragma: allowlist secret` (detect-secrets) are honoured so teams can migrate without edits.
pub const INLINE_MARKERS: &[&[u8]] =
    &[b"leakhound:allow", b"gitleaks:allow", b"pragma: allowlist secret"];

/// A compiled [`AllowSyntax`].
#[derive(Debug, Clone, Default)]
pub struct Allow {
    paths: Option<GlobSet>,
    secrets: Vec<Regex>,
    stopwords: Vec<Vec<u8>>,
}

impl Allow {
    /// Compiles globs and regexes; the message names the entry that failed.
    pub fn new(syntax: &AllowSyntax) -> Result<Self, String> {
        let paths = if syntax.paths.is_empty() {
            None
        } else {
            let mut set = GlobSetBuilder::new();
            for glob in &syntax.paths {
                let glob = GlobBuilder::new(glob)
                    .literal_separator(false)
                    .build()
                    .map_err(|e| format!("invalid path glob {glob:?}: {e}"))?;
                set.add(glob);
            }
            Some(set.build().map_err(|e| e.to_string())?)
        };
        let secrets = syntax
            .secrets
            .iter()
            .map(|re| {
                regex_builder(re).build().map_err(|e| format!("invalid allow regex {re:?}: {e}"))
            })
            .collect::<Result<_, _>>()?;
        let stopwords =
            syntax.stopwords.iter().map(|w| w.to_ascii_lowercase().into_bytes()).collect();
        Ok(Allow { paths, secrets, stopwords })
    }

    /// True when the secret matches an allow regex or contains a stop word.
    pub fn allows_secret(&self, secret: &[u8]) -> bool {
        self.secrets.iter().any(|re| re.is_match(secret))
            || (!self.stopwords.is_empty() && {
                let lower = secret.to_ascii_lowercase();
                self.stopwords.iter().any(|w| memchr::memmem::find(&lower, w).is_some())
            })
    }

    /// True when the path matches an allowed glob.
    pub fn allows_path(&self, path: &str) -> bool {
        self.paths.as_ref().is_some_and(|set| set.is_match(path))
    }
}

/// True when `line` carries an inline allow marker.
pub fn has_inline_marker(line: &[u8]) -> bool {
    INLINE_MARKERS.iter().any(|m| memchr::memmem::find(line, m).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_secrets_stopwords() {
        let allow = Allow::new(&AllowSyntax {
            paths: vec!["**/testdata/**".into(), "*.lock".into()],
            secrets: vec!["^EXAMPLE".into()],
            stopwords: vec!["dummy".into()],
        })
        .expect("valid");
        assert!(allow.allows_path("a/testdata/x.txt"));
        assert!(allow.allows_path("deep/Cargo.lock"));
        assert!(!allow.allows_path("src/main.rs"));
        assert!(allow.allows_secret(b"EXAMPLEKEY"));
        assert!(allow.allows_secret(b"xxDuMmYxx"));
        assert!(!allow.allows_secret(b"s3cr3tValue"));
    }

    #[test]
    fn inline_markers() {
        assert!(has_inline_marker(b"key = 'x' # leakhound:allow"));
        assert!(has_inline_marker(b"key = 'x' # pragma: allowlist secret"));
        assert!(!has_inline_marker(b"key = 'x'"));
    }
}
