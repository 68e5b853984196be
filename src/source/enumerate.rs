//! What a registry enumeration yields, whatever the API ([`super::harbor`] or
//! [`super::catalog`]): repositories with their tags, manifest digests and push times, and the
//! filters a sweep applies (project, repository glob, tags, `--pushed-since`).
//!
//! It must not depend on rules, the engine, the cache or reports: it only says what exists.

use globset::{Glob, GlobMatcher};

/// One artifact (an image manifest or an index) found in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The project (Harbor) or the first path component of the repository name.
    pub project: String,
    /// The full repository name (`project/app`).
    pub repository: String,
    /// The tags pointing at it (may be empty for an untagged Harbor artifact).
    pub tags: Vec<String>,
    /// The manifest or index digest, when the API gives it (Harbor); the distribution API lists
    /// tags only, so the sweep resolves them.
    pub digest: Option<String>,
    /// When it was pushed, `YYYY-MM-DDTHH:MM:SS` UTC, when the API says (Harbor).
    pub push_time: Option<String>,
    /// The platform manifests of an index, as Harbor lists them (`references`).
    pub children: Vec<Child>,
}

impl Listed {
    /// The reference to pull: `repository@digest` when the digest is known, else
    /// `repository:tag` (the first tag).
    pub fn reference(&self) -> String {
        match (&self.digest, self.tags.first()) {
            (Some(d), _) => format!("{}@{d}", self.repository),
            (None, Some(t)) => format!("{}:{t}", self.repository),
            (None, None) => self.repository.clone(),
        }
    }
}

/// A platform manifest inside an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    /// Its digest.
    pub digest: String,
    /// `os/arch[/variant]`, when given.
    pub platform: Option<String>,
}

/// What to keep.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Projects to keep (all when empty).
    pub projects: Vec<String>,
    /// Globs on the full repository name (all when empty).
    pub repositories: Vec<GlobMatcher>,
    /// Globs on tags (all when empty); an artifact is kept when any of its tags matches.
    pub tags: Vec<GlobMatcher>,
    /// Keep artifacts pushed at or after this time (`YYYY-MM-DDTHH:MM:SS` UTC).
    pub pushed_since: Option<String>,
}

impl Filter {
    /// Builds a filter from command-line values; `pushed_since` is as [`parse_since`] takes it
    /// and `now` is seconds since the epoch.
    pub fn new(
        projects: &[String],
        repositories: &[String],
        tags: &[String],
        pushed_since: Option<&str>,
        now: u64,
    ) -> Result<Filter, String> {
        let glob = |g: &String| {
            Glob::new(g)
                .map(|g| g.compile_matcher())
                .map_err(|e| format!("invalid glob {g:?}: {e}"))
        };
        Ok(Filter {
            projects: projects.to_vec(),
            repositories: repositories.iter().map(glob).collect::<Result<_, _>>()?,
            tags: tags.iter().map(glob).collect::<Result<_, _>>()?,
            pushed_since: pushed_since.map(|s| parse_since(s, now)).transpose()?,
        })
    }

    /// True when a project is kept.
    pub fn keeps_project(&self, project: &str) -> bool {
        self.projects.is_empty() || self.projects.iter().any(|p| p == project)
    }

    /// True when a repository (full name) is kept.
    pub fn keeps_repository(&self, repository: &str) -> bool {
        let project = repository.split('/').next().unwrap_or(repository);
        self.keeps_project(project)
            && (self.repositories.is_empty()
                || self.repositories.iter().any(|g| g.is_match(repository)))
    }

    /// True when a tag is kept.
    pub fn keeps_tag(&self, tag: &str) -> bool {
        self.tags.is_empty() || self.tags.iter().any(|g| g.is_match(tag))
    }

    /// True when an artifact is kept (repository, tags, push time).
    pub fn keeps(&self, listed: &Listed) -> bool {
        if !self.keeps_repository(&listed.repository) {
            return false;
        }
        if !self.tags.is_empty() && !listed.tags.iter().any(|t| self.keeps_tag(t)) {
            return false;
        }
        match (&self.pushed_since, &listed.push_time) {
            (Some(since), Some(pushed)) => pushed.as_str() >= since.as_str(),
            _ => true,
        }
    }
}

/// Normalises `--pushed-since`: `2024-05-01`, `2024-05-01T12:00:00[.fff][Z]` (UTC), or a duration
/// back from `now` (`36h`, `7d`, `2w`), to `YYYY-MM-DDTHH:MM:SS`.
pub fn parse_since(text: &str, now: u64) -> Result<String, String> {
    let text = text.trim();
    let unit = text.chars().last().unwrap_or(' ');
    if let Some(seconds) = match unit {
        'h' => Some(3600),
        'd' => Some(86_400),
        'w' => Some(7 * 86_400),
        _ => None,
    } && let Ok(n) = text[..text.len() - 1].parse::<u64>()
    {
        return Ok(crate::report::utc_timestamp(now.saturating_sub(n * seconds)));
    }
    normalize_time(text).ok_or_else(|| {
        format!("invalid time {text:?}: use 2024-05-01, 2024-05-01T12:00:00Z, or 36h / 7d / 2w")
    })
}

/// `YYYY-MM-DD[THH:MM:SS[.fff][Z]]` to `YYYY-MM-DDTHH:MM:SS`; times must be UTC (`Z` or none).
pub fn normalize_time(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes.get(range.clone()).is_some_and(|b| b.iter().all(u8::is_ascii_digit))
    };
    let date = digits(0..4)
        && bytes.get(4) == Some(&b'-')
        && digits(5..7)
        && bytes.get(7) == Some(&b'-')
        && digits(8..10);
    if !date {
        return None;
    }
    if text.len() == 10 {
        return Some(format!("{text}T00:00:00"));
    }
    let time = matches!(bytes.get(10), Some(b'T' | b't' | b' '))
        && digits(11..13)
        && bytes.get(13) == Some(&b':')
        && digits(14..16)
        && bytes.get(16) == Some(&b':')
        && digits(17..19);
    if !time {
        return None;
    }
    let rest = text[19..].trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    if !(rest.is_empty() || rest == "Z" || rest == "z" || rest == "+00:00") {
        return None;
    }
    Some(format!("{}T{}", &text[..10], &text[11..19]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot set up should fail loudly
mod tests {
    use super::*;

    fn listed(repo: &str, tags: &[&str], pushed: Option<&str>) -> Listed {
        Listed {
            project: repo.split('/').next().unwrap().into(),
            repository: repo.into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            digest: None,
            push_time: pushed.map(Into::into),
            children: Vec::new(),
        }
    }

    #[test]
    fn filters_by_project_repository_tag_and_time() {
        let f = Filter::new(
            &["team".into()],
            &["team/app-*".into()],
            &["v1*".into()],
            Some("2024-05-01"),
            0,
        )
        .unwrap();
        assert!(f.keeps(&listed("team/app-a", &["v1.2", "latest"], Some("2024-05-02T00:00:00"))));
        assert!(!f.keeps(&listed("other/app-a", &["v1"], None)), "project");
        assert!(!f.keeps(&listed("team/web", &["v1"], None)), "repository glob");
        assert!(!f.keeps(&listed("team/app-a", &["latest"], None)), "tag glob");
        assert!(!f.keeps(&listed("team/app-a", &["v1"], Some("2024-04-30T23:59:59"))), "time");
        assert!(Filter::default().keeps(&listed("x/y", &[], None)));
        assert!(Filter::new(&[], &["[".into()], &[], None, 0).is_err());
    }

    #[test]
    fn times() {
        assert_eq!(parse_since("2024-05-01", 0).unwrap(), "2024-05-01T00:00:00");
        assert_eq!(parse_since("2024-05-01T10:11:12.345Z", 0).unwrap(), "2024-05-01T10:11:12");
        assert_eq!(parse_since("1d", 86_400 * 2).unwrap(), "1970-01-02T00:00:00");
        assert_eq!(parse_since("2w", 86_400 * 15).unwrap(), "1970-01-02T00:00:00");
        assert!(parse_since("yesterday", 0).is_err());
        assert!(parse_since("2024-05-01T10:11:12+02:00", 0).is_err(), "UTC only");
        assert_eq!(
            normalize_time("2023-01-02T03:04:05.000Z").as_deref(),
            Some("2023-01-02T03:04:05")
        );
    }

    #[test]
    fn references() {
        let mut l = listed("p/a", &["v1"], None);
        assert_eq!(l.reference(), "p/a:v1");
        l.digest = Some("sha256:ab".into());
        assert_eq!(l.reference(), "p/a@sha256:ab");
    }
}
