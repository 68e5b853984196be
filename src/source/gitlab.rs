//! Enumeration of a GitLab instance's projects through its REST API v4, for `leakhound gitlab`
//! (#20): the projects of a group and its subgroups, or every project the token can see, paged
//! by `X-Next-Page` (offset pagination) or `Link: <…>; rel="next"` (keyset pagination), with
//! archived projects and forks left out unless asked.
//!
//! Shapes followed (GitLab's REST API documentation, "Groups API" and "Projects API"):
//! - `GET /api/v4/groups/:id/projects?include_subgroups=true&with_shared=false&per_page=100`
//!   where `:id` is the group's id or URL-encoded full path (`team%2Fbackend`);
//! - `GET /api/v4/projects?per_page=100[&membership=true]`;
//! - both take `archived=false` (only projects not archived; absent: both), `order_by=id&sort=asc`
//!   (a stable order while paging), `last_activity_after=ISO 8601`, `page=N`;
//! - each answers `[{"id", "path_with_namespace", "http_url_to_repo", "archived",
//!   "forked_from_project": {…} (only on forks), "last_activity_at", "empty_repo",
//!   "repository_access_level"}]` with `X-Next-Page` (empty on the last page), `X-Total-Pages`
//!   and `Link`.
//!
//! The token goes in the `PRIVATE-TOKEN` header ([`RegistryHttp::with_header`]); 429 with
//! `Retry-After` waits and retries as every request of [`super::http`] does. It must not depend
//! on rules, the engine, the cache or reports.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::http::{HttpError, RegistryHttp, encode};

/// An instance's address: its origin (`https://host[:port]`, what [`RegistryHttp`] is
/// given) and the sub-path it is served under (GitLab's `relative_url_root`: `/gitlab`, or "").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// `https://host[:port]`.
    pub origin: String,
    /// `/gitlab`, or "" at the host's root; no trailing `/`.
    pub root: String,
}

impl Instance {
    /// Splits `url` (`https://host[:port][/sub/path][/]`); the origin is checked as
    /// [`super::http::base_url`] checks it (`http://` only when `insecure`), the sub-path must
    /// be plain path segments (no query, fragment, `.` or `..`).
    pub fn parse(url: &str, insecure: bool) -> Result<Instance, String> {
        let bad = || {
            format!(
                "invalid GitLab URL {url:?}: give https://host[:port][/sub-path], or http://… \
                 with --insecure"
            )
        };
        let trimmed = url.trim().trim_end_matches('/');
        let host_start = trimmed.find("://").map_or(0, |i| i + 3);
        let (origin, root) = match trimmed[host_start..].find('/') {
            Some(i) => trimmed.split_at(host_start + i),
            None => (trimmed, ""),
        };
        let plain = |segment: &str| {
            !matches!(segment, "" | "." | "..")
                && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        };
        if !root.is_empty() && !root[1..].split('/').all(plain) {
            return Err(bad());
        }
        let origin = super::http::base_url(origin, insecure).map_err(|_| bad())?;
        Ok(Instance { origin, root: root.to_owned() })
    }

    /// The instance's base URL: origin and sub-path, what clone URLs start with.
    pub fn base(&self) -> String {
        format!("{}{}", self.origin, self.root)
    }
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// The instance's sub-path ([`Instance::root`]): every API path starts with it.
    pub root: String,
    /// A group's full path (`team/backend`): its projects and its subgroups'; `None` for the
    /// whole instance.
    pub group: Option<String>,
    /// Without a group: only projects the token's user is a member of.
    pub membership: bool,
    /// Also archived projects.
    pub include_archived: bool,
    /// Also forks.
    pub include_forks: bool,
    /// Only projects active at or after this time (ISO 8601, `2024-05-01T00:00:00Z`).
    pub since: Option<String>,
    /// The most pages followed before the listing stops with an error.
    pub max_pages: u64,
}

/// A project to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// GitLab's id: stable across renames and transfers.
    pub id: u64,
    /// `group/subgroup/project`.
    pub path: String,
    /// Where git clones it over HTTP(S).
    pub clone_url: String,
}

/// What a listing found.
#[derive(Debug, Default)]
pub struct Listing {
    /// The projects kept, in the API's order (by id).
    pub projects: Vec<Project>,
    /// Projects listed but without a repository to clone (the repository feature is off).
    pub no_repository: Vec<String>,
    /// Archived projects and forks left out.
    pub left_out: u64,
    /// Why the listing stopped before its last page, if it did: what was listed is still
    /// scanned, and the run is incomplete.
    pub error: Option<String>,
}

/// Page size asked for: GitLab's maximum.
const PER_PAGE: u32 = 100;

#[derive(Debug, Deserialize)]
struct ProjectAnswer {
    id: u64,
    path_with_namespace: String,
    #[serde(default)]
    http_url_to_repo: Option<String>,
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    forked_from_project: Option<IgnoredAny>,
    #[serde(default)]
    repository_access_level: Option<String>,
}

/// The first page's path (without `page=`) for `query`.
fn listing_path(query: &Query) -> String {
    let mut path = match &query.group {
        Some(group) => format!(
            "{}/api/v4/groups/{}/projects?include_subgroups=true&with_shared=false",
            query.root,
            encode(group.trim_matches('/'))
        ),
        None if query.membership => format!("{}/api/v4/projects?membership=true", query.root),
        None => format!("{}/api/v4/projects?", query.root),
    };
    if !path.ends_with('?') {
        path.push('&');
    }
    let _ = write!(path, "per_page={PER_PAGE}&order_by=id&sort=asc");
    if !query.include_archived {
        path.push_str("&archived=false");
    }
    if let Some(since) = &query.since {
        let _ = write!(path, "&last_activity_after={}", encode(since));
    }
    path
}

/// Lists the projects `query` asks for. A first page that cannot be read fails the listing
/// (nothing to scan); a later page that cannot be read, a page cap reached, or a next page
/// already visited stops it with [`Listing::error`] set, keeping what was listed.
pub async fn list(http: &RegistryHttp, query: &Query) -> Result<Listing, String> {
    let what = match &query.group {
        Some(group) => format!("the projects of group {group}"),
        None => "the instance's projects".to_owned(),
    };
    let first = listing_path(query);
    let mut out = Listing::default();
    let mut next = Some(format!("{first}&page=1"));
    let mut visited = HashSet::new();
    let mut pages = 0;
    while let Some(path) = next.take() {
        if pages >= query.max_pages {
            out.error = Some(format!(
                "{what}: stopped after {pages} pages (--max-pages) while the API still names a \
                 next page; raise --max-pages if the instance has that many projects"
            ));
            break;
        }
        if !visited.insert(path.clone()) {
            out.error = Some(format!("{what}: the API pages in a loop (back to {path})"));
            break;
        }
        pages += 1;
        let page: Result<(Vec<ProjectAnswer>, Option<String>), HttpError> = async {
            let answer = http.get(&path, "").await?;
            let next = next_page(&answer, &first);
            Ok((answer.json()?, next))
        }
        .await;
        let (projects, then) = match page {
            Ok(page) => page,
            Err(e) if pages == 1 => return Err(describe(&e, &what)),
            Err(e) => {
                out.error = Some(format!("{} (page {pages})", describe(&e, &what)));
                break;
            }
        };
        for p in projects {
            keep(p, query, &mut out);
        }
        next = then;
    }
    Ok(out)
}

/// Adds `p` to the listing unless the query leaves it out. GitLab already filters archived
/// projects when asked; they are checked here too, so a server that ignores the parameter does
/// not widen the scan.
fn keep(p: ProjectAnswer, query: &Query, out: &mut Listing) {
    if (p.archived && !query.include_archived)
        || (p.forked_from_project.is_some() && !query.include_forks)
    {
        out.left_out += 1;
        return;
    }
    match p.http_url_to_repo {
        Some(url) if p.repository_access_level.as_deref() != Some("disabled") => {
            out.projects.push(Project { id: p.id, path: p.path_with_namespace, clone_url: url });
        }
        _ => out.no_repository.push(p.path_with_namespace),
    }
}

/// The next page's path: `X-Next-Page` (offset pagination; empty on the last page), else the
/// `Link` header's `rel="next"` (keyset pagination).
fn next_page(answer: &super::http::Answer, first: &str) -> Option<String> {
    let header = answer.headers.get("x-next-page").and_then(|v| v.to_str().ok()).map(str::trim);
    match header {
        Some(n) if !n.is_empty() => Some(format!("{first}&page={}", n.parse::<u64>().ok()?)),
        Some(_) => None,
        None => answer.next_link(),
    }
}

/// An HTTP failure of the listing, in GitLab's terms.
fn describe(error: &HttpError, what: &str) -> String {
    match error {
        HttpError::Unauthorized { url, status } => format!(
            "{what}: {url}: HTTP {status}: the token in LEAKHOUND_GITLAB_TOKEN is missing, \
             expired or without the read_api scope"
        ),
        HttpError::Status { url, status: 404, .. } => {
            format!("{what}: {url}: HTTP 404: no such group, or the token cannot see it")
        }
        other => format!("{what}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_documented_parameters() {
        let group = Query { group: Some("team/backend".into()), ..Query::default() };
        assert_eq!(
            listing_path(&group),
            "/api/v4/groups/team%2Fbackend/projects?include_subgroups=true&with_shared=false\
             &per_page=100&order_by=id&sort=asc&archived=false"
        );
        let all = Query {
            membership: true,
            include_archived: true,
            since: Some("2024-02-29T23:59:59Z".into()),
            ..Query::default()
        };
        assert_eq!(
            listing_path(&all),
            "/api/v4/projects?membership=true&per_page=100&order_by=id&sort=asc\
             &last_activity_after=2024-02-29T23%3A59%3A59Z"
        );
        assert!(listing_path(&Query::default()).starts_with("/api/v4/projects?per_page=100"));
        let under = Query { root: "/gitlab".into(), ..Query::default() };
        assert!(listing_path(&under).starts_with("/gitlab/api/v4/projects?per_page=100"));
    }

    #[test]
    fn instances_keep_their_sub_path() {
        let at = |url: &str, insecure| Instance::parse(url, insecure).map(|i| (i.origin, i.root));
        let pair = |o: &str, r: &str| Ok((o.to_owned(), r.to_owned()));
        assert_eq!(at("https://h.example/", false), pair("https://h.example", ""));
        assert_eq!(at("https://h.example/gitlab/", false), pair("https://h.example", "/gitlab"));
        assert_eq!(at("http://h:8080/a/gitlab", true), pair("http://h:8080", "/a/gitlab"));
        assert_eq!(at("h.example/gitlab", false), pair("https://h.example", "/gitlab"));
        for bad in ["https://h/../x", "https://h/a//b", "https://h/g?x=1", "http://h/g", "ftp://h"]
        {
            assert!(at(bad, false).is_err(), "{bad}");
        }
        assert_eq!(
            Instance::parse("https://h/gitlab", false).map(|i| i.base()),
            Ok("https://h/gitlab".to_owned())
        );
    }

    #[test]
    fn forks_archived_and_repositoryless_projects() {
        let answer = |json: &str| serde_json::from_str::<ProjectAnswer>(json).expect("json");
        let mut out = Listing::default();
        let query = Query::default();
        let url = r#""http_url_to_repo": "https://gitlab.example.com/a/b.git""#;
        keep(
            answer(&format!(r#"{{"id": 1, "path_with_namespace": "a/b", {url}}}"#)),
            &query,
            &mut out,
        );
        keep(
            answer(&format!(
                r#"{{"id": 2, "path_with_namespace": "a/fork", {url}, "forked_from_project": {{"id": 1}}}}"#
            )),
            &query,
            &mut out,
        );
        keep(
            answer(&format!(
                r#"{{"id": 3, "path_with_namespace": "a/old", {url}, "archived": true}}"#
            )),
            &query,
            &mut out,
        );
        keep(
            answer(&format!(
                r#"{{"id": 4, "path_with_namespace": "a/wiki", {url}, "forked_from_project": null, "repository_access_level": "disabled"}}"#
            )),
            &query,
            &mut out,
        );
        assert_eq!(out.projects.iter().map(|p| p.id).collect::<Vec<_>>(), [1]);
        assert_eq!(out.left_out, 2);
        assert_eq!(out.no_repository, ["a/wiki"]);
    }
}
