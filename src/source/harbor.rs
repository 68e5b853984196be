//! Enumeration of a Harbor registry through its REST API v2.0: projects, their repositories, and
//! the artifacts of each (digest, tags, push time, and the child manifests of an index), paged
//! with `page`/`page_size` and `X-Total-Count`/`Link`. Works with a user or a robot account
//! (`robot$project+name`), sent as Basic credentials.
//!
//! Shapes followed (Harbor's published swagger, API v2.0):
//! - `GET /api/v2.0/projects?page=&page_size=` → `[{"project_id", "name", …}]`
//! - `GET /api/v2.0/projects/{project}/repositories?page=&page_size=` → `[{"id", "name":
//!   "project/app", "artifact_count", …}]`
//! - `GET /api/v2.0/projects/{project}/repositories/{repo}/artifacts?page=&page_size=&with_tag=true`
//!   where `{repo}` is the name without the project, URL-encoded twice (`a/b` → `a%252Fb`) →
//!   `[{"digest", "type", "media_type", "manifest_media_type", "push_time", "tags": [{"name",
//!   "push_time"}] | null, "references": [{"child_digest", "platform": {"os", "architecture",
//!   "variant"}}] | null}]`
//!
//! It must not depend on rules, the engine, the cache or reports.

use serde::Deserialize;

use super::enumerate::{Child, Filter, Listed, normalize_time};
use super::http::{HttpError, RegistryHttp, encode};
use crate::error::ScanError;

/// The most pages followed per listing, so a misbehaving server cannot loop forever.
const MAX_PAGES: u64 = 100_000;

#[derive(Debug, Deserialize)]
struct Project {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Repository {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Tag {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Platform {
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Reference {
    child_digest: Option<String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Artifact {
    digest: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    push_time: Option<String>,
    #[serde(default)]
    tags: Option<Vec<Tag>>,
    #[serde(default)]
    references: Option<Vec<Reference>>,
}

/// What a Harbor listing found.
#[derive(Debug, Default)]
pub struct HarborListing {
    /// Image artifacts kept by the filter.
    pub listed: Vec<Listed>,
    /// Projects or repositories that could not be listed (the rest goes on).
    pub errors: Vec<ScanError>,
    /// Artifacts that are not images (Helm charts, CNAB, …), not scanned.
    pub not_images: u64,
}

/// GETs every page of a Harbor list endpoint (`path` has no `page` parameters yet).
async fn all_pages<T: serde::de::DeserializeOwned>(
    http: &RegistryHttp,
    path: &str,
    page_size: u64,
) -> Result<Vec<T>, HttpError> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    for page in 1..=MAX_PAGES {
        let answer = http.get(&format!("{path}{sep}page={page}&page_size={page_size}"), "").await?;
        let got: Vec<T> = answer.json()?;
        let count = got.len() as u64;
        items.extend(got);
        let more = match answer.total_count() {
            Some(total) => (items.len() as u64) < total && count > 0,
            None => answer.next_link().is_some() || count == page_size,
        };
        if !more {
            break;
        }
    }
    Ok(items)
}

/// Lists the kept image artifacts of a Harbor instance.
///
/// A failure to list projects fails the listing; a project or repository that cannot be listed
/// becomes an error and the rest goes on.
pub async fn list(
    http: &RegistryHttp,
    filter: &Filter,
    page_size: u64,
) -> Result<HarborListing, HttpError> {
    let mut out = HarborListing::default();
    let projects: Vec<Project> = all_pages(http, "/api/v2.0/projects", page_size).await?;
    for project in projects.into_iter().filter(|p| filter.keeps_project(&p.name)) {
        let path = format!("/api/v2.0/projects/{}/repositories", encode(&project.name));
        let repositories: Vec<Repository> = match all_pages(http, &path, page_size).await {
            Ok(r) => r,
            Err(e) => {
                out.errors.push(ScanError::new(format!("project {}", project.name), e.to_string()));
                continue;
            }
        };
        for repository in repositories.into_iter().filter(|r| filter.keeps_repository(&r.name)) {
            let short = repository
                .name
                .strip_prefix(&format!("{}/", project.name))
                .unwrap_or(&repository.name);
            let path = format!(
                "/api/v2.0/projects/{}/repositories/{}/artifacts?with_tag=true",
                encode(&project.name),
                encode(&encode(short))
            );
            let artifacts: Vec<Artifact> = match all_pages(http, &path, page_size).await {
                Ok(a) => a,
                Err(e) => {
                    out.errors.push(ScanError::new(repository.name.clone(), e.to_string()));
                    continue;
                }
            };
            for artifact in artifacts {
                if artifact.kind.as_deref().is_some_and(|k| !k.eq_ignore_ascii_case("image")) {
                    out.not_images += 1;
                    continue;
                }
                let listed = to_listed(&project.name, &repository.name, artifact);
                if filter.keeps(&listed) {
                    out.listed.push(listed);
                }
            }
        }
    }
    Ok(out)
}

pub(crate) fn to_listed(project: &str, repository: &str, artifact: Artifact) -> Listed {
    let mut tags: Vec<String> =
        artifact.tags.unwrap_or_default().into_iter().map(|t| t.name).collect();
    tags.sort();
    let children = artifact
        .references
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| {
            let platform = r.platform.and_then(|p| {
                let mut s = format!("{}/{}", p.os?, p.architecture?);
                if let Some(v) = p.variant.filter(|v| !v.is_empty()) {
                    s.push('/');
                    s.push_str(&v);
                }
                Some(s)
            });
            Some(Child { digest: r.child_digest?, platform })
        })
        .collect();
    Listed {
        project: project.to_owned(),
        repository: repository.to_owned(),
        tags,
        digest: Some(artifact.digest),
        push_time: artifact.push_time.as_deref().and_then(normalize_time),
        children,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot set up should fail loudly
mod tests {
    use super::*;

    #[test]
    fn artifact_shapes() {
        let json = r#"[{
            "id": 7, "type": "IMAGE", "digest": "sha256:aa",
            "media_type": "application/vnd.oci.image.index.v1+json",
            "manifest_media_type": "application/vnd.oci.image.index.v1+json",
            "push_time": "2024-05-01T10:11:12.123Z", "pull_time": "0001-01-01T00:00:00.000Z",
            "tags": [{"id": 1, "name": "v2", "push_time": "2024-05-01T10:11:12.123Z"}, {"id": 2, "name": "latest"}],
            "references": [
                {"parent_id": 7, "child_id": 8, "child_digest": "sha256:bb",
                 "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                {"parent_id": 7, "child_id": 9, "child_digest": "sha256:cc",
                 "platform": {"os": "linux", "architecture": "amd64"}}
            ],
            "extra_attrs": {}, "annotations": null, "labels": null
        }, {"digest": "sha256:dd", "type": "IMAGE", "tags": null, "references": null}]"#;
        let artifacts: Vec<Artifact> = serde_json::from_str(json).unwrap();
        let mut it = artifacts.into_iter();
        let index = to_listed("team", "team/app", it.next().unwrap());
        assert_eq!(index.tags, ["latest", "v2"]);
        assert_eq!(index.push_time.as_deref(), Some("2024-05-01T10:11:12"));
        assert_eq!(index.reference(), "team/app@sha256:aa");
        assert_eq!(
            index.children,
            [
                Child { digest: "sha256:bb".into(), platform: Some("linux/arm64/v8".into()) },
                Child { digest: "sha256:cc".into(), platform: Some("linux/amd64".into()) },
            ]
        );
        let untagged = to_listed("team", "team/app", it.next().unwrap());
        assert!(untagged.tags.is_empty() && untagged.children.is_empty());
    }
}
