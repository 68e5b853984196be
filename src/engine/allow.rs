//! Allowlists: paths, secret regexes and stop words that mark a candidate as not a secret, and the
//! inline comments that let a developer accept one line.
//!
//! An allowlist is one or more lists. In a list with the default condition (`any`) one matching
//! criterion drops the finding; with `all`, every criterion the list sets must match. Criteria on
//! content (secret, whole match, line, stop words) are judged when the engine confirms a match;
//! criteria on place (path, commit) are judged when the match becomes a finding, since the engine
//! scans each distinct content once, whatever its paths and commits. An `all` list that mixes
//! both kinds is judged at the finding, with its secret criteria re-checked there (its match and
//! line criteria cannot be: gitleaks configs that ask for that get a warning at load).

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use std::sync::OnceLock;

use regex::bytes::{RegexSet, RegexSetBuilder};

use crate::rules::load::check_allow_regex;
use crate::rules::{AllowSyntax, Condition};

/// Markers that accept every finding on their line. `gitleaks:allow` and
/// `pragma: allowlist secret` (detect-secrets) are honoured so teams can migrate without edits.
pub const INLINE_MARKERS: &[&[u8]] =
    &[b"leakhound:allow", b"gitleaks:allow", b"pragma: allowlist secret"];

/// A compiled [`AllowSyntax`]: its own list plus each of `also`.
#[derive(Debug, Clone, Default)]
pub struct Allow {
    lists: Vec<List>,
}

#[derive(Debug, Clone, Default)]
struct List {
    all: bool,
    globs: Option<GlobSet>,
    path_patterns: Regexes,
    only_in_paths: Regexes,
    secrets: Regexes,
    matches: Regexes,
    lines: Regexes,
    stopwords: Vec<Vec<u8>>,
    commits: Vec<String>,
}

/// What is known about a candidate when a list is judged; `None` for what is not known yet.
#[derive(Debug, Clone, Copy, Default)]
pub struct Candidate<'a> {
    /// The secret.
    pub secret: &'a [u8],
    /// The whole match of the rule's pattern.
    pub whole: Option<&'a [u8]>,
    /// The line(s) holding the match.
    pub line: Option<&'a [u8]>,
    /// The path.
    pub path: Option<&'a str>,
    /// The commit id.
    pub commit: Option<&'a str>,
}

impl List {
    /// `check`: check each regex's syntax (see [`Allow::of_rule`] for when it is known good).
    fn new(syntax: &AllowSyntax, check: bool) -> Result<List, String> {
        let globs = if syntax.paths.is_empty() {
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
        Ok(List {
            all: syntax.condition == Condition::All,
            globs,
            path_patterns: Regexes::new(&syntax.path_patterns, check)?,
            only_in_paths: Regexes::new(&syntax.only_in_paths, check)?,
            secrets: Regexes::new(&syntax.secrets, check)?,
            matches: Regexes::new(&syntax.matches, check)?,
            lines: Regexes::new(&syntax.lines, check)?,
            stopwords: syntax
                .stopwords
                .iter()
                .map(|w| w.to_ascii_lowercase().into_bytes())
                .collect(),
            commits: syntax.commits.iter().map(|c| c.to_ascii_lowercase()).collect(),
        })
    }

    fn path_matches(&self, path: &str) -> bool {
        self.globs.as_ref().is_some_and(|g| g.is_match(path))
            || self.path_patterns.is_match(path.as_bytes())
    }

    fn outside(&self, path: &str) -> bool {
        !self.only_in_paths.is_empty() && !self.only_in_paths.is_match(path.as_bytes())
    }

    /// An `any` list drops every match at `path`, whatever its content: it allows the path, or
    /// the path is outside its `only_in_paths`.
    fn drops_path(&self, path: &str) -> bool {
        self.path_matches(path) || self.outside(path)
    }

    fn commit_matches(&self, commit: Option<&str>) -> bool {
        commit.is_some_and(|sha| {
            let sha = sha.to_ascii_lowercase();
            self.commits.iter().any(|want| sha.starts_with(want.as_str()))
        })
    }

    fn has_place(&self) -> bool {
        self.globs.is_some()
            || !self.path_patterns.is_empty()
            || !self.only_in_paths.is_empty()
            || !self.commits.is_empty()
    }

    fn has_content(&self) -> bool {
        !self.secrets.is_empty()
            || !self.matches.is_empty()
            || !self.lines.is_empty()
            || !self.stopwords.is_empty()
    }

    /// Each criterion the list sets, judged on `c`: `Some(true/false)`, or `None` when `c` does
    /// not carry what the criterion needs.
    fn criteria(&self, c: &Candidate) -> Vec<Option<bool>> {
        let any = |res: &Regexes, text: Option<&[u8]>| text.map(|t| res.is_match(t));
        let mut out = Vec::new();
        if !self.secrets.is_empty() {
            out.push(Some(self.secrets.is_match(c.secret)));
        }
        if !self.matches.is_empty() {
            out.push(any(&self.matches, c.whole));
        }
        if !self.lines.is_empty() {
            out.push(any(&self.lines, c.line));
        }
        if !self.stopwords.is_empty() {
            let lower = c.secret.to_ascii_lowercase();
            out.push(Some(
                self.stopwords.iter().any(|w| memchr::memmem::find(&lower, w).is_some()),
            ));
        }
        if self.globs.is_some() || !self.path_patterns.is_empty() {
            out.push(c.path.map(|p| self.path_matches(p)));
        }
        if !self.only_in_paths.is_empty() {
            out.push(c.path.map(|p| self.outside(p)));
        }
        if !self.commits.is_empty() {
            out.push(Some(self.commit_matches(c.commit)));
        }
        out
    }

    /// Whether the list drops `c`, judging only what `c` carries.
    fn drops(&self, c: &Candidate) -> bool {
        let criteria = self.criteria(c);
        if self.all {
            // Unknown criteria (a match/line criterion at the finding stage) cannot hold.
            !criteria.is_empty() && criteria.iter().all(|v| *v == Some(true))
        } else {
            criteria.contains(&Some(true))
        }
    }
}

/// A list's regexes of one kind, syntax-checked when the list is built and compiled into one set
/// on first use: the built-in catalog carries hundreds, and a ten-file pre-commit run needs only
/// the few whose rules found a candidate (compiling them all up front cost ~15 ms of such a run).
#[derive(Debug, Clone, Default)]
struct Regexes {
    patterns: Vec<String>,
    set: OnceLock<Result<RegexSet, String>>,
}

impl Regexes {
    fn new(patterns: &[String], check: bool) -> Result<Regexes, String> {
        if check {
            patterns.iter().try_for_each(|re| check_allow_regex(re))?;
        }
        Ok(Regexes { patterns: patterns.to_vec(), set: OnceLock::new() })
    }

    fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    fn set(&self) -> &Result<RegexSet, String> {
        self.set.get_or_init(|| {
            // The same options as `rules::load::regex_builder`, for a set.
            RegexSetBuilder::new(&self.patterns)
                .unicode(false)
                .size_limit(64 << 20)
                .dfa_size_limit(64 << 20)
                .build()
                .map_err(|e| format!("allow regexes {:?} do not compile: {e}", self.patterns))
        })
    }

    /// True when any regex matches; a set that cannot compile (size limits, which `rules check`
    /// reports) matches nothing.
    fn is_match(&self, text: &[u8]) -> bool {
        !self.is_empty() && self.set().as_ref().is_ok_and(|s| s.is_match(text))
    }
}

impl Allow {
    /// Compiles every regex now and reports the first that cannot be; `rules check` calls it.
    pub fn compile(&self) -> Result<(), String> {
        for list in &self.lists {
            for regexes in [
                &list.path_patterns,
                &list.only_in_paths,
                &list.secrets,
                &list.matches,
                &list.lines,
            ] {
                if !regexes.is_empty() {
                    regexes.set().as_ref().map(drop).map_err(Clone::clone)?;
                }
            }
        }
        Ok(())
    }

    /// Compiles globs and checks regexes; the message names the entry that failed.
    pub fn new(syntax: &AllowSyntax) -> Result<Self, String> {
        Allow::build(syntax, true)
    }

    /// A rule's allowlist, whose regexes the loader has already checked
    /// ([`crate::rules::load::validate_allow`]; the built-in rules' are checked by the test suite and
    /// in debug builds): compiles its globs only. Checking the catalog's allow regexes once more
    /// was 2-3% of a ten-file pre-commit run.
    pub fn of_rule(syntax: &AllowSyntax) -> Result<Self, String> {
        Allow::build(syntax, false)
    }

    fn build(syntax: &AllowSyntax, check: bool) -> Result<Self, String> {
        let mut lists = Vec::new();
        let mut pending = vec![syntax];
        while let Some(s) = pending.pop() {
            let mut own = s.clone();
            own.also.clear();
            if !own.is_empty() {
                lists.push(List::new(&own, check)?);
            }
            pending.extend(s.also.iter());
        }
        Ok(Allow { lists })
    }

    /// True when the secret matches an allow regex or contains a stop word (lists that decide
    /// on the secret alone).
    pub fn allows_secret(&self, secret: &[u8]) -> bool {
        self.allows_content(&Candidate { secret, ..Candidate::default() })
    }

    /// Judged when the engine confirms a match: lists whose criteria are all on content.
    pub fn allows_content(&self, c: &Candidate) -> bool {
        self.lists.iter().any(|l| l.has_content() && !(l.all && l.has_place()) && l.drops(c))
    }

    /// Judged when a match becomes a finding: place criteria (`any` lists), and `all` lists that
    /// set a place criterion.
    pub fn allows_place(&self, c: &Candidate) -> bool {
        let place_only = Candidate { whole: None, line: None, ..*c };
        self.lists.iter().any(|l| {
            l.has_place()
                && if l.all {
                    l.drops(&place_only)
                } else {
                    c.path.is_some_and(|p| l.drops_path(p)) || l.commit_matches(c.commit)
                }
        })
    }

    /// True when every match at `path` would be dropped by [`Allow::allows_place`], whatever its
    /// content: an `any` list that allows the path, or whose `only_in_paths` it is outside of.
    pub fn drops_every_match_at(&self, path: &str) -> bool {
        self.lists.iter().any(|l| !l.all && l.drops_path(path))
    }

    /// True when the path matches a list that needs nothing else: such files need not be read.
    pub fn allows_path(&self, path: &str) -> bool {
        self.lists
            .iter()
            .any(|l| (!l.all || (!l.has_content() && l.commits.is_empty())) && l.path_matches(path))
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
            ..AllowSyntax::default()
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
    fn match_line_commit_and_all_condition() {
        let allow = Allow::new(&AllowSyntax {
            also: vec![
                AllowSyntax { lines: vec!["^# example".into()], ..AllowSyntax::default() },
                AllowSyntax {
                    condition: Condition::All,
                    path_patterns: vec![r"^tests/".into()],
                    stopwords: vec!["fake".into()],
                    ..AllowSyntax::default()
                },
                AllowSyntax { commits: vec!["abcdef1".into()], ..AllowSyntax::default() },
            ],
            ..AllowSyntax::default()
        })
        .expect("valid");
        let c = |secret: &'static [u8], line: &'static [u8]| Candidate {
            secret,
            whole: Some(secret),
            line: Some(line),
            ..Candidate::default()
        };
        assert!(allow.allows_content(&c(b"s3cr3t", b"# example: s3cr3t")));
        assert!(!allow.allows_content(&c(b"s3cr3t", b"key = s3cr3t")));
        // AND: both the path and the stop word must hold; neither alone drops the finding.
        let at = |secret: &'static [u8], path: &'static str| Candidate {
            secret,
            path: Some(path),
            ..Candidate::default()
        };
        assert!(allow.allows_place(&at(b"a-fake-key", "tests/k.txt")));
        assert!(!allow.allows_place(&at(b"a-real-key", "tests/k.txt")));
        assert!(!allow.allows_place(&at(b"a-fake-key", "src/k.txt")));
        assert!(
            !allow.allows_content(&c(b"a-fake-key", b"")),
            "AND with a path waits for the place"
        );
        assert!(
            !allow.allows_path("tests/k.txt"),
            "an AND list with a stop word cannot skip files"
        );
        let commit = Candidate {
            secret: b"x",
            path: Some("a"),
            commit: Some("ABCDEF1234"),
            ..Candidate::default()
        };
        assert!(allow.allows_place(&commit));
        assert!(!allow.allows_place(&Candidate { commit: Some("abcdef0"), ..commit }));
    }

    #[test]
    fn inline_markers() {
        assert!(has_inline_marker(b"key = 'x' # leakhound:allow"));
        assert!(has_inline_marker(b"key = 'x' # pragma: allowlist secret"));
        assert!(!has_inline_marker(b"key = 'x'"));
    }
}
