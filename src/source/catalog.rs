//! Enumeration of any distribution registry: `/v2/_catalog` (paginated with `n` and the `Link`
//! header) and `/v2/<name>/tags/list`. Under token auth the catalog needs a token for the scope
//! `registry:catalog:*`, which [`super::http`] asks for (oci-client's `catalog()` asks for a
//! repository scope instead and gets 401).
//!
//! It must not depend on rules, the engine, the cache or reports.

use serde::Deserialize;

use super::enumerate::{Filter, Listed};
use super::http::{HttpError, RegistryHttp, encode};
use crate::error::ScanError;

/// The token scope the catalog endpoint needs.
pub const CATALOG_SCOPE: &str = "registry:catalog:*";

/// The most pages followed, so a registry that links a page to itself cannot loop forever.
const MAX_PAGES: usize = 100_000;

#[derive(Deserialize)]
pub(crate) struct CatalogPage {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

#[derive(Deserialize)]
pub(crate) struct TagsPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// Every repository name in the registry, following `Link` pages of `page_size`.
pub async fn repositories(http: &RegistryHttp, page_size: usize) -> Result<Vec<String>, HttpError> {
    let mut names = Vec::new();
    let mut path = format!("/v2/_catalog?n={page_size}");
    for _ in 0..MAX_PAGES {
        let answer = http.get(&path, CATALOG_SCOPE).await?;
        let page: CatalogPage = answer.json()?;
        let got = page.repositories.unwrap_or_default();
        let last = got.last().cloned();
        names.extend(got);
        match (answer.next_link(), last) {
            (Some(next), _) => path = next,
            // Registries that page without a Link header: go on while pages come back full.
            (None, Some(last)) if names.len() % page_size == 0 && !names.is_empty() => {
                let next = format!("/v2/_catalog?n={page_size}&last={}", encode(&last));
                if next == path {
                    break;
                }
                path = next;
            }
            _ => break,
        }
    }
    names.dedup();
    Ok(names)
}

/// Every tag of `repository`, following `Link` pages.
pub async fn tags(
    http: &RegistryHttp,
    repository: &str,
    page_size: usize,
) -> Result<Vec<String>, HttpError> {
    let scope = format!("repository:{repository}:pull");
    let mut tags = Vec::new();
    let mut path = format!("/v2/{repository}/tags/list?n={page_size}");
    for _ in 0..MAX_PAGES {
        let answer = http.get(&path, &scope).await?;
        let page: TagsPage = answer.json()?;
        tags.extend(page.tags.unwrap_or_default());
        match answer.next_link() {
            Some(next) if next != path => path = next,
            _ => break,
        }
    }
    Ok(tags)
}

/// Lists the registry: one [`Listed`] per kept tag (the distribution API gives no digests or
/// push times; the sweep resolves tags to manifests). A repository whose tags cannot be listed
/// becomes an error and the rest goes on; a catalog that cannot be read fails the whole listing.
pub async fn list(
    http: &RegistryHttp,
    filter: &Filter,
    page_size: usize,
) -> Result<(Vec<Listed>, Vec<ScanError>), HttpError> {
    let mut listed = Vec::new();
    let mut errors = Vec::new();
    for repository in repositories(http, page_size).await? {
        if !filter.keeps_repository(&repository) {
            continue;
        }
        let project = repository.split('/').next().unwrap_or(&repository).to_owned();
        match tags(http, &repository, page_size).await {
            Ok(mut tags) => {
                tags.sort();
                tags.dedup();
                for tag in tags.into_iter().filter(|t| filter.keeps_tag(t)) {
                    listed.push(Listed {
                        project: project.clone(),
                        repository: repository.clone(),
                        tags: vec![tag],
                        digest: None,
                        push_time: None,
                        children: Vec::new(),
                    });
                }
            }
            Err(e) => errors.push(ScanError::new(repository.clone(), e.to_string())),
        }
    }
    Ok((listed, errors))
}
