//! Commits and trees, through `git2`: which commits a history scan covers (every ref, branches,
//! ranges, a date), in history order, and which `(path, blob)` pairs each commit introduces.
//! Knows nothing of rules, the engine or blob contents.

use std::path::Path;

use git2::{ObjectType, Oid, Repository, Sort};
use rayon::prelude::*;

use crate::finding::CommitInfo;

/// Which commits to scan: those reachable from `include` but not from `hide`, committed at or
/// after `since` (seconds since the epoch).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Tips to walk from; empty means every ref (branches, tags, remotes, stash, `HEAD`).
    pub include: Vec<Oid>,
    /// Tips whose history is excluded.
    pub hide: Vec<Oid>,
    /// Only commits whose committer date is at or after this.
    pub since: Option<i64>,
}

impl Selection {
    /// True when the selection covers whole histories (no exclusion, no date), so that scanning
    /// every blob of the object database and keeping the reachable ones is the fast way.
    pub fn whole_history(&self) -> bool {
        self.hide.is_empty() && self.since.is_none()
    }
}

/// A blob (or submodule commit) that a commit introduced at a path.
#[derive(Debug, Clone)]
pub struct Introduced {
    /// Path in the commit's tree, as raw bytes (git paths need not be UTF-8).
    pub path: Vec<u8>,
    /// The blob id (for a submodule, the commit it pins).
    pub id: Oid,
    /// Git file mode (`0o160000` for a submodule).
    pub mode: i32,
}

/// Git's mode of a submodule entry ("gitlink").
pub const GITLINK: i32 = 0o160_000;

/// The tips of every ref: branches, tags (peeled), remote-tracking refs, notes, `HEAD`, and every
/// stash entry (older stashes live only in the stash reflog).
pub fn all_ref_tips(repo: &Repository) -> Result<Vec<Oid>, git2::Error> {
    let mut tips = Vec::new();
    for reference in repo.references()? {
        let reference = reference?;
        if let Ok(commit) = reference.peel_to_commit() {
            tips.push(commit.id());
        }
    }
    if let Ok(head) = repo.head()
        && let Ok(commit) = head.peel_to_commit()
    {
        tips.push(commit.id());
    }
    if let Ok(reflog) = repo.reflog("refs/stash") {
        tips.extend(reflog.iter().map(|e| e.id_new()).filter(|id| !id.is_zero()));
    }
    tips.sort_unstable();
    tips.dedup();
    Ok(tips)
}

/// A ref tip whose history could not be walked, and why.
pub type FailedTip = (Oid, git2::Error);

/// The selected commits, oldest first (parents before children): the order in which "first
/// introduced" is decided. When the whole walk fails (a damaged commit), each tip is walked on its
/// own and the tips that cannot be walked are returned as failures, so the rest is still scanned.
pub fn commits(
    repo: &Repository,
    selection: &Selection,
) -> Result<(Vec<Oid>, Vec<FailedTip>), git2::Error> {
    let include =
        if selection.include.is_empty() { all_ref_tips(repo)? } else { selection.include.clone() };
    if let Ok(all) = walk_tips(repo, &include, selection) {
        return Ok((all, Vec::new()));
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut failed = Vec::new();
    for tip in include {
        match walk_tips(repo, &[tip], selection) {
            Ok(ids) => out.extend(ids.into_iter().filter(|id| seen.insert(*id))),
            Err(e) => failed.push((tip, e)),
        }
    }
    Ok((out, failed))
}

fn walk_tips(
    repo: &Repository,
    include: &[Oid],
    selection: &Selection,
) -> Result<Vec<Oid>, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
    for tip in include {
        walk.push(*tip)?;
    }
    for tip in &selection.hide {
        walk.hide(*tip)?;
    }
    let mut out = Vec::new();
    for id in walk {
        let id = id?;
        if let Some(since) = selection.since {
            let commit = repo.find_commit(id)?;
            if commit.committer().when().seconds() < since {
                continue;
            }
        }
        out.push(id);
    }
    Ok(out)
}

/// Runs `visit` on every commit in parallel, one repository handle per worker (a `git2`
/// repository is not `Sync`), and returns the results in the order of `commits`.
pub fn par_map<T: Send>(
    git_dir: &Path,
    commits: &[Oid],
    visit: impl Fn(&Repository, usize, Oid) -> T + Sync,
) -> Result<Vec<T>, git2::Error> {
    // Opening a repository costs about a millisecond; chunks keep that rare.
    let chunk = (commits.len() / (rayon::current_num_threads() * 8)).clamp(64, 4096);
    let parts: Vec<Result<Vec<T>, git2::Error>> = commits
        .par_chunks(chunk)
        .enumerate()
        .map(|(n, part)| {
            let repo = Repository::open(git_dir)?;
            Ok(part.iter().enumerate().map(|(i, id)| visit(&repo, n * chunk + i, *id)).collect())
        })
        .collect();
    let mut out = Vec::with_capacity(commits.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

/// What `commit` introduces: every blob (and submodule) whose id at its path differs from the
/// first parent's, and, for a merge, from every other parent's too (git's combined-diff view, so
/// a merge is blamed only for what none of its parents had). A root commit, or a shallow one
/// whose parents are missing, introduces its whole tree.
pub fn introduced(
    repo: &Repository,
    commit: &git2::Commit<'_>,
    out: &mut Vec<Introduced>,
) -> Result<(), git2::Error> {
    let tree = commit.tree()?;
    let parents: Vec<git2::Tree<'_>> =
        commit.parents().filter_map(|p| p.tree().ok()).collect::<Vec<_>>();
    let start = out.len();
    let mut prefix = Vec::new();
    diff(repo, parents.first(), &tree, &mut prefix, out)?;
    if parents.len() > 1 {
        let mut kept = start;
        for i in start..out.len() {
            let item = &out[i];
            let path = bytes_path(&item.path);
            let in_other =
                parents[1..].iter().any(|p| p.get_path(path).is_ok_and(|e| e.id() == item.id));
            if !in_other {
                out.swap(kept, i);
                kept += 1;
            }
        }
        out.truncate(kept);
    }
    Ok(())
}

#[cfg(unix)]
fn bytes_path(bytes: &[u8]) -> &Path {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn bytes_path(bytes: &[u8]) -> &Path {
    Path::new(std::str::from_utf8(bytes).unwrap_or_default())
}

/// Entries of `new` that `old` lacks or holds with another id, recursing only into subtrees
/// whose ids differ (so an unchanged directory costs one comparison). Both trees are sorted in
/// git's order, so one merge pass pairs their entries (a lookup by name would copy each name).
fn diff(
    repo: &Repository,
    old: Option<&git2::Tree<'_>>,
    new: &git2::Tree<'_>,
    prefix: &mut Vec<u8>,
    out: &mut Vec<Introduced>,
) -> Result<(), git2::Error> {
    let mut before_iter = old.map(git2::Tree::iter);
    let mut pending = before_iter.as_mut().and_then(Iterator::next);
    for entry in new {
        let mut before = None;
        while let Some(candidate) = pending.take() {
            match git_order(&candidate, &entry) {
                std::cmp::Ordering::Less => {
                    pending = before_iter.as_mut().and_then(Iterator::next);
                }
                std::cmp::Ordering::Equal => {
                    before = Some(candidate);
                    pending = before_iter.as_mut().and_then(Iterator::next);
                    break;
                }
                std::cmp::Ordering::Greater => {
                    pending = Some(candidate);
                    break;
                }
            }
        }
        if before.as_ref().is_some_and(|b| b.id() == entry.id()) {
            continue;
        }
        let len = prefix.len();
        if len > 0 {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(entry.name_bytes());
        match entry.kind() {
            Some(ObjectType::Tree) => {
                let sub = repo.find_tree(entry.id())?;
                let old_sub = match before {
                    Some(b) if b.kind() == Some(ObjectType::Tree) => Some(repo.find_tree(b.id())?),
                    _ => None,
                };
                diff(repo, old_sub.as_ref(), &sub, prefix, out)?;
            }
            Some(ObjectType::Blob | ObjectType::Commit) => out.push(Introduced {
                path: prefix.clone(),
                id: entry.id(),
                mode: entry.filemode(),
            }),
            _ => {}
        }
        prefix.truncate(len);
    }
    Ok(())
}

/// Git's tree order: names compared bytewise, a directory's name as if it ended in `/`. Two
/// entries of one name but different kinds (a file replaced by a directory) are not the same.
fn git_order(a: &git2::TreeEntry<'_>, b: &git2::TreeEntry<'_>) -> std::cmp::Ordering {
    let (an, bn) = (a.name_bytes(), b.name_bytes());
    let n = an.len().min(bn.len());
    an[..n].cmp(&bn[..n]).then_with(|| {
        let next = |e: &git2::TreeEntry<'_>, name: &[u8]| {
            let tree = e.kind() == Some(ObjectType::Tree);
            name.get(n).copied().unwrap_or(if tree { b'/' } else { 0 })
        };
        next(a, an).cmp(&next(b, bn)).then(an.len().cmp(&bn.len()))
    })
}

/// The report's view of a commit: id, author, email, author date (RFC 3339) and the first line
/// of the message. Non-UTF-8 names and messages are shown with replacement characters.
pub fn commit_info(commit: &git2::Commit<'_>) -> CommitInfo {
    let author = commit.author();
    let message = commit.message_bytes();
    let first = message.split(|&b| b == b'\n').next().unwrap_or_default();
    CommitInfo {
        sha: commit.id().to_string(),
        author: String::from_utf8_lossy(author.name_bytes()).into_owned(),
        email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
        date: rfc3339(author.when()),
        message: String::from_utf8_lossy(first).trim_end().to_owned(),
    }
}

/// `2024-02-29T23:59:59+01:00`: the author's local time with its offset, as git records it.
pub fn rfc3339(when: git2::Time) -> String {
    let offset = i64::from(when.offset_minutes());
    let local = (when.seconds() + offset * 60).max(0).cast_unsigned();
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.abs();
    format!("{}{sign}{:02}:{:02}", crate::report::utc_timestamp(local), abs / 60, abs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_carry_the_offset() {
        assert_eq!(rfc3339(git2::Time::new(1_709_251_199, 0)), "2024-02-29T23:59:59+00:00");
        assert_eq!(rfc3339(git2::Time::new(1_709_251_199, -90)), "2024-02-29T22:29:59-01:30");
        assert_eq!(rfc3339(git2::Time::new(0, 120)), "1970-01-01T02:00:00+02:00");
    }
}
