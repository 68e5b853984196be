//! What earlier `leakhound git --cache` runs learned with the same rules and options (#20): the
//! blobs they scanned, with their matches, and the commits they walked, with what each introduced
//! that a report needs. The next run reads only blobs it has not scanned and walks only commits it
//! has not walked; findings of cached blobs are placed again by the walk of the current refs, so
//! a rewritten branch or a deleted ref changes the report as it should.
//!
//! What is kept per commit is exactly what a whole-history walk keeps ([`super::Walked`]): its
//! author, date and message line, the entries it introduced whose blobs have matches, are named
//! as not scanned, or were missing, and its message's matches. A commit the walk could not read
//! completely is not kept, nor is a blob whose scan named a problem (an archive it could not
//! open, a rule stopped by the work budget): those are read again, so every run names them.

use std::collections::{HashMap, HashSet};

use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

use super::Walked;
use super::walk::Introduced;
use crate::blob::BlobId;
use crate::cache::{Cache, CacheError, CommitList};
use crate::finding::CommitInfo;
use crate::scan::{Hit, Hits};

/// A cache and the key of this run: the rule set's digest and the options that change what a
/// blob scans to or what a commit introduces.
#[derive(Debug, Clone, Copy)]
pub struct HistoryCache<'c> {
    /// The open cache.
    pub cache: &'c Cache,
    /// The rule set's digest plus the scan options' part of the key.
    pub key: &'c str,
}

/// A commit as the cache keeps it.
#[derive(Debug, Serialize, Deserialize)]
struct StoredCommit {
    info: CommitInfo,
    introduced: Vec<StoredEntry>,
    message: Vec<Hit>,
}

/// An introduced entry as the cache keeps it (paths need not be UTF-8, so they stay bytes).
#[derive(Debug, Serialize, Deserialize)]
struct StoredEntry {
    path: Vec<u8>,
    id: String,
    mode: i32,
}

/// What the cache held at the start of the run.
pub struct Remembered {
    /// Blobs scanned before that matched nothing.
    clean: HashSet<BlobId>,
    /// Blobs scanned before, with their matches.
    found: HashMap<BlobId, Hits>,
    /// Commits walked before.
    commits: HashMap<Oid, Option<StoredCommit>>,
    /// The commit list of the last whole-history run.
    list: Option<CommitList>,
}

impl Remembered {
    /// Reads what `cache` holds for this run's key in `repo` (with the repository's grafts in
    /// the key: they change what a commit's parents are).
    pub fn load(cache: HistoryCache<'_>, repo: &Repository) -> Result<Remembered, CacheError> {
        let key = format!("{};grafts={}", cache.key, grafts_digest(repo));
        let history = cache.cache.history::<Vec<Hit>, StoredCommit>(&key)?;
        let mut clean = HashSet::new();
        let mut found = HashMap::new();
        for (id, hits) in history.blobs {
            match hits {
                Some(hits) => {
                    found.insert(BlobId(id), Hits::new(hits));
                }
                None => {
                    clean.insert(BlobId(id));
                }
            }
        }
        let commits = history
            .commits
            .into_iter()
            .filter_map(|(id, walked)| Oid::from_bytes(&id).ok().map(|id| (id, walked)))
            .collect();
        Ok(Remembered { clean, found, commits, list: history.list })
    }

    /// The commit graph of the last whole-history run that kept one (listing git.git's 203,352
    /// commits afresh is most of a run with nothing new).
    pub fn list(&self) -> Option<&CommitList> {
        self.list.as_ref()
    }

    /// True when blob `id` was scanned before.
    pub fn has_blob(&self, id: &BlobId) -> bool {
        self.clean.contains(id) || self.found.contains_key(id)
    }

    /// The matches of the cached blobs among `present`, and how many cached blobs are there.
    pub fn found_among<'a>(
        &'a self,
        present: impl Fn(&BlobId) -> bool + 'a,
    ) -> (impl Iterator<Item = (BlobId, Hits)> + 'a, u64) {
        let count = self.clean.iter().filter(|id| present(id)).count()
            + self.found.keys().filter(|id| present(id)).count();
        let found = self.found.iter().filter(move |(id, _)| present(id));
        (found.map(|(id, hits)| (*id, Hits::clone(hits))), count as u64)
    }

    /// True when commit `id` was walked before.
    pub fn has_commit(&self, id: Oid) -> bool {
        self.commits.contains_key(&id)
    }

    /// What the walk of commit `id` gave before, if it was walked.
    pub fn walked(&self, id: Oid) -> Option<Walked> {
        let stored = self.commits.get(&id)?;
        let Some(stored) = stored else {
            return Some(Walked {
                info: None,
                introduced: Vec::new(),
                message: None,
                complete: true,
            });
        };
        let introduced = stored
            .introduced
            .iter()
            .filter_map(|e| {
                let id = Oid::from_str(&e.id).ok()?;
                Some(Introduced { path: e.path.clone(), id, mode: e.mode })
            })
            .collect();
        let message = (!stored.message.is_empty()).then(|| Hits::new(stored.message.clone()));
        let info = Some(Box::new(stored.info.clone()));
        Some(Walked { info, introduced, message, complete: true })
    }

    /// Stores what this run learned: `blobs` scanned (each with its matches; none when clean),
    /// `commits` walked completely, and the commit graph of a fresh whole-history listing.
    pub fn remember(
        cache: &Cache,
        blobs: &[(BlobId, Option<Hits>)],
        commits: &[(Oid, &Walked)],
        list: Option<&CommitList>,
    ) -> Result<(), CacheError> {
        let blobs: Vec<([u8; 20], Option<Vec<Hit>>)> = blobs
            .iter()
            .map(|(id, hits)| (id.0, hits.as_ref().map(|h| h.as_ref().clone())))
            .collect();
        let commits: Vec<([u8; 20], Option<StoredCommit>)> = commits
            .iter()
            .filter(|(_, walked)| walked.complete)
            .map(|(id, walked)| (super::packs::oid_bytes_git2(*id), stored(walked)))
            .collect();
        cache.remember_history(&blobs, &commits, list)
    }
}

/// `walked` as the cache keeps it; `None` for a commit that introduced nothing that matters.
fn stored(walked: &Walked) -> Option<StoredCommit> {
    let info = walked.info.as_deref()?.clone();
    Some(StoredCommit {
        info,
        introduced: walked
            .introduced
            .iter()
            .map(|i| StoredEntry { path: i.path.clone(), id: i.id.to_string(), mode: i.mode })
            .collect(),
        message: walked.message.as_ref().map(|m| m.as_ref().clone()).unwrap_or_default(),
    })
}

/// A digest of the repository's grafts file (empty when it has none): a graft changes what a
/// commit's parents are, and so what it introduced.
fn grafts_digest(repo: &Repository) -> String {
    use sha2::{Digest, Sha256};
    match std::fs::read(repo.commondir().join("info/grafts")) {
        Ok(text) => crate::rules::hex(&Sha256::digest(&text)),
        Err(_) => String::new(),
    }
}
