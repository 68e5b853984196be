//! Commits and trees, through `git2`: which commits a history scan covers (every ref, branches,
//! ranges, a date), in history order, and which `(path, blob)` pairs each commit introduces.
//! Knows nothing of rules, the engine or blob contents.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use git2::{ObjectType, Oid, Repository, Sort};
use rayon::prelude::*;

use super::graph::{Read, ScanMessage};
use super::pack_map::PackMap;
use super::trees::Held;
use crate::cache::{CommitGraph, CommitList};
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

/// Ref tips and the refs that name no readable commit.
#[derive(Debug, Default)]
pub struct RefTips {
    /// The commits the refs point at (tags peeled), sorted, without duplicates.
    pub tips: Vec<Oid>,
    /// Refs whose target, or a tag's target, is missing or unreadable.
    pub broken: Vec<BrokenRef>,
    /// What the refs name besides commits (see [`super::objects`]): each annotated tag, and a
    /// tree or blob at the end of a ref or tag, with the first ref that names it.
    pub objects: Vec<super::objects::RefObject>,
}

/// A ref that names no readable commit: its history cannot be walked.
#[derive(Debug, Clone)]
pub struct BrokenRef {
    /// The ref's full name (`refs/heads/main`, `HEAD`).
    pub name: String,
    /// The id it holds.
    pub id: Oid,
    /// Why it names no commit.
    pub why: String,
}

/// The commits of the refs whose names start with `prefix` (and of a detached `HEAD` when
/// `head`). Each distinct target is peeled once, from object headers: peeling every ref through
/// libgit2 read the whole commit once per ref (its cache keeps commits up to 4 KiB), so 1000 tags
/// on a commit with a 2 MB message took 10 s (issue #19).
fn ref_tips(repo: &Repository, prefix: &str, head: bool) -> Result<RefTips, git2::Error> {
    let mut names: BTreeMap<Oid, Vec<String>> = BTreeMap::new();
    let mut add = |reference: &git2::Reference<'_>| {
        // A symbolic ref (`HEAD`, `refs/remotes/origin/HEAD`) names a ref listed on its own, or
        // an unborn branch.
        if let Some(id) = reference.target() {
            let name = String::from_utf8_lossy(reference.name_bytes()).into_owned();
            names.entry(id).or_default().push(name);
        }
    };
    for reference in repo.references()? {
        let reference = reference?;
        if reference.name_bytes().starts_with(prefix.as_bytes()) {
            add(&reference);
        }
    }
    if head && let Ok(reference) = repo.find_reference("HEAD") {
        add(&reference);
    }
    let odb = repo.odb()?;
    let mut out = RefTips::default();
    let mut seen = HashSet::new();
    for (id, names) in names {
        let mut chain = Vec::new();
        let peeled = peel(repo, &odb, id, &mut chain);
        // Tags shared by several refs are scanned once, at the first ref's name.
        chain.retain(|(object, _)| seen.insert(*object));
        out.objects
            .extend(chain.into_iter().map(|(object, kind)| (object, kind, names[0].clone())));
        match peeled {
            Ok(Some(commit)) => out.tips.push(commit),
            // A tag of a tree or a blob: no history to walk (the tree or blob is in `chain`).
            Ok(None) => {}
            Err(why) => out.broken.extend(names.into_iter().map(|name| BrokenRef {
                name,
                id,
                why: why.clone(),
            })),
        }
    }
    out.tips.sort_unstable();
    out.tips.dedup();
    Ok(out)
}

/// The commit that `id` is or, through tags, points at; `None` for a tag of a tree or blob. The
/// tags on the way, and a tree or blob at the end, are added to `chain`. The error completes
/// "ref … points at {id}, …".
fn peel(
    repo: &Repository,
    odb: &git2::Odb<'_>,
    start: Oid,
    chain: &mut Vec<(Oid, ObjectType)>,
) -> Result<Option<Oid>, String> {
    let mut id = start;
    // A chain of tags longer than this is a loop of damaged objects.
    for _ in 0..64 {
        let what = if id == start { String::new() } else { format!("a tag of {id}, ") };
        let kind = match odb.read_header(id) {
            Ok((_, kind)) => kind,
            Err(e) if e.code() == git2::ErrorCode::NotFound => {
                return Err(format!("{what}which is missing from the object database"));
            }
            Err(e) => return Err(format!("{what}which cannot be read: {}", e.message())),
        };
        match kind {
            ObjectType::Commit => return Ok(Some(id)),
            ObjectType::Tag => {
                chain.push((id, kind));
                id = repo
                    .find_tag(id)
                    .map_err(|e| format!("{what}which cannot be read: {}", e.message()))?
                    .target_id();
            }
            _ => {
                chain.push((id, kind));
                return Ok(None);
            }
        }
    }
    Err("a tag in a chain of tags with no end".to_owned())
}

/// The tips of every ref: branches, tags (peeled), remote-tracking refs, notes, `HEAD`, and every
/// stash entry (older stashes live only in the stash reflog).
pub fn all_ref_tips(repo: &Repository) -> Result<RefTips, git2::Error> {
    let mut out = ref_tips(repo, "refs/", true)?;
    if let Ok(reflog) = repo.reflog("refs/stash") {
        out.tips.extend(reflog.iter().map(|e| e.id_new()).filter(|id| !id.is_zero()));
    }
    out.tips.sort_unstable();
    out.tips.dedup();
    Ok(out)
}

/// The commits of refs whose names start with `prefix` (`refs/` for all), except `exclude`:
/// what a new branch does not add. Refs that name no commit hide nothing.
pub fn ref_tips_under(
    repo: &Repository,
    prefix: &str,
    exclude: &[Oid],
) -> Result<Vec<Oid>, git2::Error> {
    let mut tips = ref_tips(repo, prefix, false)?.tips;
    tips.retain(|id| !exclude.contains(id));
    Ok(tips)
}

/// A ref tip whose history could not be walked, and why.
pub type FailedTip = (Oid, git2::Error);

/// The selected commits and what kept some from being walked.
#[derive(Debug, Default)]
pub struct Walk {
    /// The selected commits, oldest first.
    pub commits: Vec<Oid>,
    /// Tips whose history could not be walked.
    pub failed: Vec<FailedTip>,
    /// Refs that name no readable commit (when walking every ref).
    pub broken: Vec<BrokenRef>,
    /// Grafted commits and their stored parents that the object database lacks: history is cut
    /// there.
    pub cut: Vec<(Oid, Oid)>,
    /// What the refs name besides commits, when walking every ref ([`RefTips::objects`]).
    pub objects: Vec<super::objects::RefObject>,
    /// For a whole-history walk listed afresh and without failures: its graph and the digests
    /// of what decided it, for a cache to keep.
    pub fresh_list: Option<CommitList>,
    /// What the listing read of `fresh_list`'s commits (their trees and messages), by position.
    pub read: Read,
}

/// The selected commits, oldest first (parents before children): the order in which "first
/// introduced" is decided. When the whole walk fails (a damaged commit), each tip is walked on its
/// own and the tips that cannot be walked are returned as failures, so the rest is still scanned.
/// A whole history is listed by `graph.rs`, with the commits of `known` (the graph an
/// earlier run kept) taken from it: all of it when the tips are the same, and otherwise all but
/// the new commits when the shallow boundary and the grafts are (see `Digests`).
pub fn commits(
    repo: &Repository,
    selection: &Selection,
    known: Option<&CommitList>,
    scan_message: ScanMessage<'_>,
) -> Result<Walk, git2::Error> {
    let (include, broken, objects) = if selection.include.is_empty() {
        let all = all_ref_tips(repo)?;
        (all.tips, all.broken, all.objects)
    } else {
        (selection.include.clone(), Vec::new(), Vec::new())
    };
    let digests = selection.whole_history().then(|| Digests::of(repo, &include));
    let ids = |graph: &CommitGraph| -> Option<Vec<Oid>> {
        graph.ids.iter().map(|id| Oid::from_bytes(id).ok()).collect()
    };
    if let Some(d) = &digests
        && let Some(known) = known.filter(|k| k.tips == d.tips)
        && let Some(commits) = ids(&known.graph).filter(|ids| all_present(repo, ids))
    {
        return Ok(Walk { commits, broken, objects, ..Walk::default() });
    }
    let grafts = Grafts::read(repo);
    if let Some(Digests { tips, shape }) = digests.filter(|_| grafts.is_empty()) {
        let dirs = super::packs::object_dirs(repo.commondir());
        let known = known.filter(|k| k.shape == shape).map(|k| &k.graph);
        // Commits taken from `known` may have gone since; a fresh listing read every one.
        if let Some((graph, read)) =
            super::graph::list(repo, &dirs, &include, &grafts.shallow, known, scan_message)
            && let Some(commits) =
                ids(&graph).filter(|ids| known.is_none() || all_present(repo, ids))
        {
            let fresh_list = Some(CommitList { tips, shape, graph });
            return Ok(Walk { commits, broken, objects, fresh_list, read, ..Walk::default() });
        }
    }
    let mut cut = Vec::new();
    if let Ok(commits) = walk_tips(repo, &include, selection, &grafts, &mut cut) {
        return Ok(Walk { commits, broken, cut, objects, ..Walk::default() });
    }
    let mut seen = HashSet::new();
    let mut walk = Walk { broken, objects, ..Walk::default() };
    for tip in include {
        match walk_tips(repo, &[tip], selection, &grafts, &mut walk.cut) {
            Ok(ids) => walk.commits.extend(ids.into_iter().filter(|id| seen.insert(*id))),
            Err(e) => walk.failed.push((tip, e)),
        }
    }
    walk.cut.sort_unstable();
    walk.cut.dedup();
    Ok(walk)
}

/// Digests of what decides a whole history's commits.
struct Digests {
    /// The tips and the shape: the same digest, the same commits.
    tips: String,
    /// The grafts and shallow files, which change parents: the same digest, the same parents.
    shape: String,
}

impl Digests {
    fn of(repo: &Repository, tips: &[Oid]) -> Digests {
        use sha2::{Digest, Sha256};
        let mut shape = Sha256::new();
        for file in [repo.commondir().join("info/grafts"), repo.path().join("shallow")] {
            let text = std::fs::read(file).unwrap_or_default();
            shape.update((text.len() as u64).to_le_bytes());
            shape.update(&text);
        }
        let shape = crate::rules::hex(&shape.finalize());
        let mut all = Sha256::new();
        all.update(shape.as_bytes());
        for tip in tips {
            all.update(tip.as_bytes());
        }
        Digests { tips: crate::rules::hex(&all.finalize()), shape }
    }
}

/// True when the object database still holds every commit of `ids`: a list kept from an earlier
/// run is not trusted over a repository that lost objects since (the fresh walk names them).
fn all_present(repo: &Repository, ids: &[Oid]) -> bool {
    let packs = open_packs(repo.commondir());
    let Ok(odb) = repo.odb() else { return false };
    ids.iter().all(|id| {
        let in_pack = gix_hash::oid::try_from_bytes(id.as_bytes())
            .is_ok_and(|oid| packs.iter().any(|p| p.index.lookup(oid).is_some()));
        in_pack || odb.exists(*id)
    })
}

/// The commits that `info/grafts` gives other parents than they have. git and libgit2 honour the
/// file, so a graft silently hid the history behind a commit (issue #19); the walk uses the
/// parents a grafted commit has as stored instead, as if the file were not there. (Replace refs
/// need nothing: libgit2 ignores them, and their replacement commits are walked as ref tips.)
/// Shallow boundary commits are left to libgit2, which knows that their parents are absent.
#[derive(Debug, Clone, Default)]
pub struct Grafts {
    grafted: HashSet<Oid>,
    /// The shallow boundary: commits whose parents this repository does not have.
    shallow: HashSet<Oid>,
}

impl Grafts {
    /// The grafted commits of `repo`; none without an `info/grafts` file.
    pub fn read(repo: &Repository) -> Grafts {
        let ids = |text: &str| -> HashSet<Oid> {
            text.lines()
                .filter_map(|l| l.split_whitespace().next())
                .filter_map(|hex| Oid::from_str(hex).ok())
                .collect()
        };
        let shallow =
            ids(&std::fs::read_to_string(repo.path().join("shallow")).unwrap_or_default());
        let text =
            std::fs::read_to_string(repo.commondir().join("info/grafts")).unwrap_or_default();
        let grafted = ids(&text).into_iter().filter(|id| !shallow.contains(id)).collect();
        Grafts { grafted, shallow }
    }

    /// True when no commit is grafted.
    fn is_empty(&self) -> bool {
        self.grafted.is_empty()
    }

    /// The parents of commit `id` whose raw `header` is given, as stored: none at the shallow
    /// boundary (as libgit2 has it); for a grafted commit, those that `odb` holds, with the
    /// others pushed to `cut`.
    pub fn parents(
        &self,
        id: Oid,
        header: &[u8],
        odb: &git2::Odb<'_>,
        cut: &mut Vec<(Oid, Oid)>,
    ) -> Vec<Oid> {
        if self.shallow.contains(&id) {
            return Vec::new();
        }
        let stored = header
            .split(|&b| b == b'\n')
            .filter_map(|line| line.strip_prefix(b"parent "))
            .filter_map(|hex| std::str::from_utf8(hex).ok())
            .filter_map(|hex| Oid::from_str(hex.trim()).ok());
        if !self.grafted.contains(&id) {
            return stored.collect();
        }
        let mut out = Vec::new();
        for parent in stored {
            if odb.exists(parent) {
                out.push(parent);
            } else {
                cut.push((id, parent));
            }
        }
        out
    }
}

/// A commit as stored, read from the packs: its header and message. (The walk read commits
/// through libgit2 before; on git.git its object cache and pack windows held about 150 MB for
/// commits that are each read once.)
pub struct RawCommit {
    data: Arc<[u8]>,
    /// Where the header ends (the blank line that separates it from the message).
    header_end: usize,
    tree: Oid,
}

impl RawCommit {
    /// Parses the bytes of commit `id`; an error when they do not start with its tree.
    fn parse(id: Oid, data: Arc<[u8]>) -> Result<RawCommit, git2::Error> {
        let (tree, header_end) = commit_parts(&data).ok_or_else(|| {
            git2::Error::from_str(&format!("commit {id} is damaged: it names no tree"))
        })?;
        Ok(RawCommit { data, header_end, tree })
    }

    /// The header lines (tree, parents, author, committer, ...).
    pub fn header(&self) -> &[u8] {
        &self.data[..self.header_end]
    }

    /// The message, without the newlines that may lead it (as libgit2 gives it).
    pub fn message(&self) -> &[u8] {
        commit_message(&self.data, self.header_end)
    }
}

/// The root tree of a commit's bytes and where its header ends (the blank line that separates
/// it from the message); `None` when they do not start with the tree.
pub(super) fn commit_parts(data: &[u8]) -> Option<(Oid, usize)> {
    let hex = data.strip_prefix(b"tree ")?.get(..40)?;
    let tree = Oid::from_str(std::str::from_utf8(hex).ok()?).ok()?;
    let header_end = data.windows(2).position(|w| w == b"\n\n").map_or(data.len(), |at| at + 1);
    Some((tree, header_end))
}

/// The message of a commit's bytes whose header ends at `header_end`, without the newlines that
/// may lead it (as libgit2 gives it).
pub(super) fn commit_message(data: &[u8], header_end: usize) -> &[u8] {
    let rest = data.get(header_end + 1..).unwrap_or_default();
    let lead = rest.iter().take_while(|&&b| b == b'\n').count();
    &rest[lead..]
}

fn walk_tips(
    repo: &Repository,
    include: &[Oid],
    selection: &Selection,
    grafts: &Grafts,
    cut: &mut Vec<(Oid, Oid)>,
) -> Result<Vec<Oid>, git2::Error> {
    if !grafts.is_empty() {
        return walk_stored_parents(repo, include, selection, grafts, cut);
    }
    if !selection.hide.is_empty() {
        return walk_new(repo, include, selection);
    }
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

/// Steps [`walk_new`] takes past its stop, as git's revision walk does, for commits dated before
/// their parents.
const SLOP: u32 = 5;

/// [`walk_tips`] when tips are hidden (a push, a CI range): git's own way, newest commit first,
/// hidden marks flowing to parents, stopping once every commit still queued is hidden, so the
/// cost follows the new commits and not the history behind the hidden tips. (libgit2's revwalk
/// marks every ancestor of every hidden tip first: 1.9 s for one pushed commit on git.git with
/// its 1,016 refs.) A commit dated further out of order than that can at worst be walked although
/// hidden: scanned once more, never missed. Parents come before children in the result.
fn walk_new(
    repo: &Repository,
    include: &[Oid],
    selection: &Selection,
) -> Result<Vec<Oid>, git2::Error> {
    struct Seen {
        time: i64,
        parents: Vec<Oid>,
        hidden: bool,
        expanded: bool,
    }
    /// Newest first; `new` counts the entries queued while their commit was not hidden, so the
    /// walk knows when to stop without looking through the queue at every step. (An entry whose
    /// commit is hidden after it was queued still counts until popped: a few more steps, no more.)
    #[derive(Default)]
    struct Queue {
        heap: std::collections::BinaryHeap<(i64, Oid, bool)>,
        new: usize,
    }
    impl Queue {
        fn push(&mut self, time: i64, id: Oid, new: bool) {
            self.new += usize::from(new);
            self.heap.push((time, id, new));
        }
    }
    let mut seen: HashMap<Oid, Seen> = HashMap::new();
    let mut queue = Queue::default();
    // Marks `id` (hidden or not) and queues it when that is news to the walk. A parent that
    // cannot be read (beyond a shallow clone's boundary) is left out, as libgit2's revwalk
    // leaves it; the history reader names what is cut.
    let mark = |id: Oid,
                hidden: bool,
                tip: bool,
                seen: &mut HashMap<Oid, Seen>,
                queue: &mut Queue|
     -> Result<(), git2::Error> {
        match seen.get_mut(&id) {
            Some(s) if s.hidden || !hidden => return Ok(()),
            Some(s) => {
                s.hidden = true;
                // Expanded as new before: expand again so its parents are hidden too.
                if s.expanded {
                    queue.push(s.time, id, false);
                }
            }
            None => {
                let commit = match repo.find_commit(id) {
                    Ok(commit) => commit,
                    Err(_) if !tip => return Ok(()),
                    Err(e) => return Err(e),
                };
                let time = commit.committer().when().seconds();
                let parents = commit.parent_ids().collect();
                seen.insert(id, Seen { time, parents, hidden, expanded: false });
                queue.push(time, id, !hidden);
            }
        }
        Ok(())
    };
    for &tip in include {
        mark(tip, false, true, &mut seen, &mut queue)?;
    }
    for &tip in &selection.hide {
        mark(tip, true, true, &mut seen, &mut queue)?;
    }
    // As git does: go on while a new commit is queued, or a queued one is as new as the oldest
    // new commit expanded (it may still hide it), then a few steps more against clock skew.
    let mut oldest_new = i64::MAX;
    let mut slop = SLOP;
    while slop > 0 {
        let Some(&(time, id, new)) = queue.heap.peek() else { break };
        if queue.new == 0 && time < oldest_new {
            slop -= 1;
        }
        queue.heap.pop();
        queue.new -= usize::from(new);
        let s = seen.get_mut(&id).expect("queued commits are seen");
        s.expanded = true;
        if !s.hidden {
            oldest_new = oldest_new.min(time);
        }
        let (hidden, parents) = (s.hidden, s.parents.clone());
        for parent in parents {
            mark(parent, hidden, false, &mut seen, &mut queue)?;
        }
    }
    // Parents before children: a depth-first walk over the new commits' parent links.
    let new = |id: &Oid| seen.get(id).is_some_and(|s| s.expanded && !s.hidden);
    let mut order = Vec::new();
    let mut done: HashSet<Oid> = HashSet::new();
    for &tip in include {
        let mut stack = vec![(tip, false)];
        while let Some((id, ready)) = stack.pop() {
            if ready {
                if selection.since.is_none_or(|since| seen[&id].time >= since) {
                    order.push(id);
                }
                continue;
            }
            if !new(&id) || !done.insert(id) {
                continue;
            }
            stack.push((id, true));
            stack.extend(seen[&id].parents.iter().rev().map(|p| (*p, false)));
        }
    }
    Ok(order)
}

/// [`walk_tips`] over the parents as stored, for a repository with grafts (libgit2's revwalk
/// applies them): the commits reachable from `include` and not from `selection.hide`, parents
/// before children, each after `selection.since`. Grafts are rare, so this simple walk (every
/// commit read once through `git2`) runs only then.
fn walk_stored_parents(
    repo: &Repository,
    include: &[Oid],
    selection: &Selection,
    grafts: &Grafts,
    cut: &mut Vec<(Oid, Oid)>,
) -> Result<Vec<Oid>, git2::Error> {
    let odb = repo.odb()?;
    let read = |id: Oid, cut: &mut Vec<(Oid, Oid)>| -> Result<(Vec<Oid>, i64), git2::Error> {
        let commit = repo.find_commit(id)?;
        let parents = grafts.parents(id, commit.raw_header_bytes(), &odb, cut);
        Ok((parents, commit.committer().when().seconds()))
    };
    let mut hidden: HashSet<Oid> = HashSet::new();
    let mut stack: Vec<Oid> = selection.hide.clone();
    while let Some(id) = stack.pop() {
        if hidden.insert(id) {
            stack.extend(read(id, &mut Vec::new())?.0);
        }
    }
    // Depth-first, a commit emitted once all its parents are: (id, parents already pushed).
    let mut seen: HashSet<Oid> = HashSet::new();
    let mut out = Vec::new();
    let mut stack: Vec<(Oid, Option<i64>)> = include.iter().rev().map(|id| (*id, None)).collect();
    while let Some((id, expanded)) = stack.pop() {
        if let Some(time) = expanded {
            if selection.since.is_none_or(|since| time >= since) {
                out.push(id);
            }
            continue;
        }
        if hidden.contains(&id) || !seen.insert(id) {
            continue;
        }
        let (parents, time) = read(id, cut)?;
        stack.push((id, Some(time)));
        stack.extend(parents.into_iter().rev().map(|p| (p, None)));
    }
    Ok(out)
}

/// One worker's access to the repository: a `git2` handle (not `Sync`, so one per worker), its
/// object database, and the trees it read recently (a commit's parent tree is usually the tree
/// the worker read for the previous commit).
pub struct Walker<'r> {
    /// The repository handle.
    pub repo: &'r Repository,
    odb: git2::Odb<'r>,
    packs: &'r [Pack],
    inflate: gix_zlib::Inflate,
    decoded: DecodeCache,
    buf: Vec<u8>,
    trees: HashMap<Oid, Arc<[u8]>>,
    cached_bytes: usize,
    /// The root tree of each commit this worker visited: a commit's parents were usually visited
    /// just before it, so their trees are known without reading the parent commits again.
    commit_trees: HashMap<Oid, Oid>,
    grafts: Grafts,
}

/// Trees kept per worker before the cache starts over.
const TREE_CACHE_BYTES: usize = 8 << 20;

/// Delta chains longer than this are not warmed (git writes at most 50; a longer chain is a
/// damaged or hostile pack, and the plain read handles it).
const MAX_WARMED_CHAIN: usize = 4096;

impl<'r> Walker<'r> {
    /// A walker over `repo`.
    ///
    /// (Tried and dropped: skipping subtrees that hold no blob with findings, memoised per tree
    /// id. It checks every entry of each changed subtree against the wanted set, which cost more
    /// than the old-side reads it saved: walk CPU 1.3 s -> 1.8 s here, 27 s -> 33 s on git.git.
    /// [`super::trees`] marks those subtrees from one pass over the packs instead.)
    pub fn new(repo: &'r Repository) -> Result<Walker<'r>, git2::Error> {
        Walker::with_packs(repo, &[])
    }

    /// A walker over `repo` that reads trees from `packs` where they hold them (and through
    /// `git2` otherwise).
    pub fn with_packs(repo: &'r Repository, packs: &'r [Pack]) -> Result<Walker<'r>, git2::Error> {
        Ok(Walker {
            repo,
            odb: repo.odb()?,
            packs,
            inflate: gix_zlib::Inflate::default(),
            decoded: DecodeCache::default(),
            buf: Vec::new(),
            trees: HashMap::new(),
            cached_bytes: 0,
            commit_trees: HashMap::new(),
            grafts: Grafts::read(repo),
        })
    }

    /// The root tree of commit `id`.
    fn commit_tree(&mut self, id: Oid) -> Result<Oid, git2::Error> {
        if let Some(tree) = self.commit_trees.get(&id) {
            return Ok(*tree);
        }
        let tree = self.commit(id)?.tree;
        self.commit_trees.insert(id, tree);
        Ok(tree)
    }

    /// Commit `id` as stored, from the packs where they hold it (and through `git2` otherwise,
    /// which reports any damage).
    pub fn commit(&mut self, id: Oid) -> Result<RawCommit, git2::Error> {
        let data = self.object(id, gix_object::Kind::Commit, ObjectType::Commit)?;
        RawCommit::parse(id, data)
    }

    /// The bytes of object `id`, which must be of `kind`: from the packs where they hold it,
    /// and through `git2` otherwise (which reports any damage).
    fn object(
        &mut self,
        id: Oid,
        kind: gix_object::Kind,
        git_kind: ObjectType,
    ) -> Result<Arc<[u8]>, git2::Error> {
        if let Some((found, data)) = self.packed(id)
            && found == kind
        {
            return Ok(data);
        }
        let object = self.odb.read(id)?;
        if object.kind() != git_kind {
            return Err(git2::Error::from_str(&format!("object {id} is not a {git_kind}")));
        }
        Ok(object.data().into())
    }

    /// Object `id` from the packs (kind and bytes), or `None` when no pack holds it or it cannot
    /// be decoded there (then `git2` reads it, and reports any damage).
    fn packed(&mut self, id: Oid) -> Option<Decoded> {
        let oid = gix_hash::oid::try_from_bytes(id.as_bytes()).ok()?;
        for pack in self.packs {
            let Some(index) = pack.index.lookup(oid) else { continue };
            let offset = pack.index.pack_offset_at_index(index);
            self.warm(&pack.data, offset);
            let Ok(entry) = pack.data.entry(offset) else { continue };
            let key = (pack.data.id, entry.data_offset);
            // A version the warm-up (or an earlier read) decoded is shared, not copied out.
            if let Some(hit) = self.decoded.shared(key) {
                return Some(hit);
            }
            let bases = |id: &gix_hash::oid, _: &mut Vec<u8>| {
                pack.index
                    .lookup(id)
                    .map(|n| {
                        pack.data
                            .entry(pack.index.pack_offset_at_index(n))
                            .map(gix_pack::data::decode::entry::ResolvedBase::InPack)
                    })
                    .transpose()
            };
            if let Ok(outcome) = pack.data.decode_entry(
                entry,
                &mut self.buf,
                &mut self.inflate,
                &bases,
                &mut self.decoded,
            ) {
                pack.map.read(self.buf.len());
                // `gix-pack` caches what it resolved from deltas; whole objects are copied once.
                return Some(
                    self.decoded
                        .shared(key)
                        .unwrap_or_else(|| (outcome.kind, self.buf.as_slice().into())),
                );
            }
        }
        None
    }

    /// Decodes the delta chain below the entry at `offset` base first, so that every version on
    /// it lands in the decode cache: `gix-pack` caches only the object asked for, and git stores
    /// older versions of a tree as deltas of newer ones, so the oldest-first walk would otherwise
    /// inflate each tree's whole chain again (up to 50 deltas) for every commit. On git.git that
    /// was most of the walk's zlib time. Stops at the first version already cached; failures
    /// are left to the read that follows, which reports them.
    fn warm(&mut self, pack: &gix_pack::data::File<PackMap>, offset: u64) {
        let mut chain = Vec::new();
        let mut at = offset;
        loop {
            let Ok(entry) = pack.entry(at) else { return };
            if self.decoded.entries.contains_key(&(pack.id, entry.data_offset)) {
                break;
            }
            let base = match entry.header {
                gix_pack::data::entry::Header::OfsDelta { base_distance } => {
                    entry.checked_base_pack_offset(base_distance)
                }
                _ => None,
            };
            let is_delta = entry.header.is_delta();
            chain.push(entry);
            match base {
                Some(base) if chain.len() < MAX_WARMED_CHAIN => at = base,
                // A whole object ends the chain; a reference delta (rare) is left to the read.
                _ if !is_delta => break,
                _ => return,
            }
        }
        let no_refs = |_: &gix_hash::oid, _: &mut Vec<u8>| Ok(None);
        // The entry asked for is decoded (and cached) by the caller's read.
        for entry in chain.into_iter().skip(1).rev() {
            let data_offset = entry.data_offset;
            let whole = !entry.header.is_delta();
            let Ok(outcome) = pack.decode_entry(
                entry,
                &mut self.buf,
                &mut self.inflate,
                &no_refs,
                &mut self.decoded,
            ) else {
                return;
            };
            if whole {
                // Only delta results are cached by `gix-pack` itself.
                gix_pack::cache::DecodeEntry::put(
                    &mut self.decoded,
                    pack.id,
                    data_offset,
                    &self.buf,
                    outcome.kind,
                    0,
                );
            }
        }
    }

    /// The raw bytes of tree `id`.
    fn tree(&mut self, id: Oid) -> Result<Arc<[u8]>, git2::Error> {
        if let Some(tree) = self.trees.get(&id) {
            return Ok(Arc::clone(tree));
        }
        let data = self.object(id, gix_object::Kind::Tree, ObjectType::Tree)?;
        if self.cached_bytes > TREE_CACHE_BYTES {
            self.trees.clear();
            self.cached_bytes = 0;
        }
        self.cached_bytes += data.len();
        self.trees.insert(id, Arc::clone(&data));
        Ok(data)
    }
}

/// Objects the walk decoded from the packs, by pack and offset: a tree is stored as a delta of
/// another version of itself, so a chain that reaches a version this worker already decoded stops
/// there instead of inflating every delta down from the chain's full base (libgit2 caches only
/// those bases). Starts over when full. (Visiting commits newest first instead was 3x slower.)
/// Entries are shared with the tree cache and the caller, so a hit costs no copy.
#[derive(Default)]
struct DecodeCache {
    entries: HashMap<(u32, u64), Decoded>,
    bytes: usize,
}

impl DecodeCache {
    /// The object decoded at `key` (pack id and data offset), if kept.
    fn shared(&self, key: (u32, u64)) -> Option<Decoded> {
        self.entries.get(&key).map(|(kind, data)| (*kind, Arc::clone(data)))
    }
}

/// An object decoded from a pack: its kind and bytes.
type Decoded = (gix_object::Kind, Arc<[u8]>);

/// Decoded objects kept per worker before the cache starts over.
const DECODE_CACHE_BYTES: usize = 32 << 20;

impl gix_pack::cache::DecodeEntry for DecodeCache {
    fn put(&mut self, pack: u32, offset: u64, data: &[u8], kind: gix_object::Kind, _: usize) {
        if self.bytes + data.len() > DECODE_CACHE_BYTES {
            self.entries.clear();
            self.bytes = 0;
        }
        self.bytes += data.len();
        self.entries.insert((pack, offset), (kind, data.into()));
    }

    fn get(
        &mut self,
        pack: u32,
        offset: u64,
        out: &mut Vec<u8>,
    ) -> Option<(gix_object::Kind, usize)> {
        let (kind, data) = self.entries.get(&(pack, offset))?;
        out.clear();
        out.extend_from_slice(data);
        // The compressed size is only reported back to callers; this walk does not use it.
        Some((*kind, 0))
    }
}

/// One pack the walk reads from, with a handle on its mapping.
pub struct Pack {
    index: gix_pack::index::File,
    data: gix_pack::data::File<PackMap>,
    map: PackMap,
}

/// Every pack of the repository (and its alternates) that `gix-pack` can open; the walk reads
/// the rest through `git2`.
fn open_packs(common_dir: &Path) -> Vec<Pack> {
    let mut out = Vec::new();
    for dir in super::packs::object_dirs(common_dir) {
        for (idx, pack) in super::packs::pack_files(&dir.join("pack")) {
            let Ok(index) = gix_pack::index::File::at(&idx, gix_hash::Kind::Sha1) else { continue };
            if let Ok((data, map)) = PackMap::open(&pack) {
                out.push(Pack { index, data, map });
            }
        }
    }
    out
}

/// Runs `visit` on every commit in parallel, one [`Walker`] per chunk of consecutive commits, and
/// returns the results in the order of `commits`.
pub fn par_map<T: Send>(
    git_dir: &Path,
    commits: &[Oid],
    visit: impl Fn(&mut Walker<'_>, Oid) -> T + Sync,
) -> Result<Vec<T>, git2::Error> {
    // Opening a repository costs about a millisecond and a cold tree cache; chunks keep that rare.
    let packs = open_packs(super::packs::open_with_env_objects(git_dir)?.commondir());
    let chunk = (commits.len() / (rayon::current_num_threads() * 8)).clamp(64, 4096);
    let parts: Vec<Result<Vec<T>, git2::Error>> = commits
        .par_chunks(chunk)
        .map(|part| {
            let repo = super::packs::open_with_env_objects(git_dir)?;
            let mut walker = Walker::with_packs(&repo, &packs)?;
            Ok(part.iter().map(|id| visit(&mut walker, *id)).collect())
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
/// whose parents are missing, introduces its whole tree. With `held`, only the wanted entries,
/// from the tree pass where it read the trees (see [`super::trees`]).
pub fn introduced(
    walker: &mut Walker<'_>,
    id: Oid,
    commit: &RawCommit,
    held: Option<&Held>,
    out: &mut Vec<Introduced>,
) -> Result<(), git2::Error> {
    let tree = commit.tree;
    walker.commit_trees.insert(id, tree);
    let parents = walker.grafts.parents(id, commit.header(), &walker.odb, &mut Vec::new());
    let parents =
        parents.into_iter().map(|p| walker.commit_tree(p)).collect::<Result<Vec<_>, _>>()?;
    introduced_over(walker, tree, &parents, held, out)
}

/// What a commit of root tree `tree` introduces against its parents' root trees `parents`, as
/// [`introduced`] says.
pub fn introduced_over(
    walker: &mut Walker<'_>,
    tree: Oid,
    parents: &[Oid],
    held: Option<&Held>,
    out: &mut Vec<Introduced>,
) -> Result<(), git2::Error> {
    if held.is_some_and(|held| held.introduced(tree, parents, out)) {
        return Ok(());
    }
    against_parents(walker, parents, tree, out)
}

/// The blobs of `tree` that differ from the first of `parents` (trees) and from each other one.
fn against_parents(
    walker: &mut Walker<'_>,
    parents: &[Oid],
    tree: Oid,
    out: &mut Vec<Introduced>,
) -> Result<(), git2::Error> {
    let start = out.len();
    diff(walker, parents.first().copied(), tree, &mut Vec::new(), out)?;
    if parents.len() > 1 && out.len() > start {
        let mut held = vec![false; out.len() - start];
        for parent in &parents[1..] {
            held_by(walker, *parent, Some(tree), &out[start..], 0, &mut held)?;
        }
        let mut i = 0;
        out.retain(|_| {
            let keep = i < start || !held[i - start];
            i += 1;
            keep
        });
    }
    Ok(())
}

/// Marks in `held` each of `candidates` (blobs of the merge tree `ours`, sharing the path prefix
/// that ends at `offset`) that tree `other` holds at the same path with the same id. One descent
/// serves them all: each tree on the way is parsed once per path component, not once per
/// candidate, and a subtree the merge took unchanged from `other` holds every candidate under it
/// without being read. An entry is found by name, the first one if a damaged tree holds two.
fn held_by(
    walker: &mut Walker<'_>,
    other: Oid,
    ours: Option<Oid>,
    candidates: &[Introduced],
    offset: usize,
    held: &mut [bool],
) -> Result<(), git2::Error> {
    if ours == Some(other) {
        held.fill(true);
        return Ok(());
    }
    let other_data = walker.tree(other)?;
    let ours_data = ours.map(|id| walker.tree(id)).transpose()?;
    let mut at = 0;
    while at < candidates.len() {
        // A run of candidates ending at the same name, or all going below it.
        let key = component_at(&candidates[at].path, offset);
        let run = candidates[at..].iter().take_while(|c| component_at(&c.path, offset) == key);
        let end = at + run.count();
        let (name, leaf) = key;
        if let Some(theirs) = entries(&other_data).find(|e| e.name == name) {
            let theirs_id = Oid::from_bytes(theirs.id)?;
            if leaf {
                for (h, c) in held[at..end].iter_mut().zip(&candidates[at..end]) {
                    *h |= theirs_id == c.id;
                }
            } else if theirs.is_tree() {
                let ours_sub = ours_data
                    .as_deref()
                    .and_then(|data| entries(data).find(|e| e.name == name && e.is_tree()))
                    .map(|e| Oid::from_bytes(e.id))
                    .transpose()?;
                held_by(
                    walker,
                    theirs_id,
                    ours_sub,
                    &candidates[at..end],
                    offset + name.len() + 1,
                    &mut held[at..end],
                )?;
            }
        }
        at = end;
    }
    Ok(())
}

/// The path component of `path` that starts at `offset`, and whether it is the last.
fn component_at(path: &[u8], offset: usize) -> (&[u8], bool) {
    let rest = &path[offset.min(path.len())..];
    let end = memchr::memchr(b'/', rest).unwrap_or(rest.len());
    (&rest[..end], end == rest.len())
}

/// One entry of a raw tree object: `<octal mode> <name>\0<20-byte id>`.
pub(super) struct RawEntry<'a> {
    pub(super) mode: u32,
    pub(super) name: &'a [u8],
    pub(super) id: &'a [u8],
}

impl RawEntry<'_> {
    pub(super) fn is_tree(&self) -> bool {
        self.mode == 0o40_000
    }
}

/// The entries of a raw tree object, in stored (git) order; a damaged entry ends the list.
fn entries(mut data: &[u8]) -> impl Iterator<Item = RawEntry<'_>> {
    std::iter::from_fn(move || next_entry(&mut data))
}

/// The entry at the start of `data`, which is advanced past it; `None` at the end or at a
/// damaged entry.
pub(super) fn next_entry<'a>(data: &mut &'a [u8]) -> Option<RawEntry<'a>> {
    let bytes: &'a [u8] = data;
    let mut mode = 0u32;
    let mut i = 0;
    loop {
        let b = *bytes.get(i)?;
        if b == b' ' {
            break;
        }
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        mode = mode.wrapping_mul(8) + u32::from(b - b'0');
        i += 1;
    }
    let rest = &bytes[i + 1..];
    let nul = memchr::memchr(0, rest)?;
    let id = rest.get(nul + 1..nul + 21)?;
    *data = &rest[nul + 21..];
    Some(RawEntry { mode, name: &rest[..nul], id })
}

/// The length of the longest common prefix of `a` and `b`.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 32 <= n && a[i..i + 32] == b[i..i + 32] {
        i += 32;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// The length of the longest common suffix of `a` and `b`.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[a.len() - n..], &b[b.len() - n..]);
    let mut i = 0;
    while i + 32 <= n && a[n - i - 32..n - i] == b[n - i - 32..n - i] {
        i += 32;
    }
    while i < n && a[n - i - 1] == b[n - i - 1] {
        i += 1;
    }
    i
}

/// The end of the last whole entry of `data` that lies within its first `limit` bytes.
fn entries_within(data: &[u8], limit: usize) -> usize {
    let mut at = 0;
    while let Some(nul) = memchr::memchr(0, &data[at..limit.min(data.len())]) {
        let end = at + nul + 21;
        if end > limit {
            break;
        }
        at = end;
    }
    at
}

/// Entries of tree `new` that tree `old` lacks or holds with another id, recursing only into
/// subtrees whose ids differ (so an unchanged directory costs one comparison). Both trees are in
/// git's order, so one merge pass pairs their entries. Trees are parsed in place: libgit2's tree
/// parser (allocations, mode parsing) was most of this walk's cost.
///
/// A commit usually changes one entry of a tree, so the two trees' raw bytes are mostly equal:
/// the entries in their byte-identical head are skipped without being paired, and the pass stops
/// once what is left of both is the same bytes. (A small gain on the synthetic history, within
/// the noise of a shared machine: reading the trees is most of the walk; see [`DecodeCache`].)
fn diff(
    walker: &mut Walker<'_>,
    old: Option<Oid>,
    new: Oid,
    prefix: &mut Vec<u8>,
    out: &mut Vec<Introduced>,
) -> Result<(), git2::Error> {
    if old == Some(new) {
        return Ok(());
    }
    let new_data = walker.tree(new)?;
    let old_data = old.map(|id| walker.tree(id)).transpose()?;
    let old_bytes: &[u8] = old_data.as_deref().unwrap_or_default();
    // Equal bytes up to `head` parse into the same entries on both sides.
    let head = entries_within(&new_data, common_prefix(old_bytes, &new_data));
    let tail = common_suffix(old_bytes, &new_data);
    let mut new_rest = &new_data[head..];
    let mut old_rest = old_bytes.get(head..).unwrap_or_default();
    // Old's remainder from its next entry (`pending`) on.
    let mut old_at = old_rest;
    let mut pending = next_entry(&mut old_rest);
    loop {
        // Both sides at an entry boundary with the same, byte-equal remainder: nothing more
        // differs.
        let old_left = if pending.is_some() { old_at.len() } else { 0 };
        if new_rest.len() == old_left && old_left <= tail {
            break;
        }
        let Some(entry) = next_entry(&mut new_rest) else { break };
        let mut before = None;
        while let Some(candidate) = pending.take() {
            match git_order(&candidate, &entry) {
                Ordering::Less => {
                    old_at = old_rest;
                    pending = next_entry(&mut old_rest);
                }
                Ordering::Equal => {
                    before = Some(candidate);
                    old_at = old_rest;
                    pending = next_entry(&mut old_rest);
                    break;
                }
                Ordering::Greater => {
                    pending = Some(candidate);
                    break;
                }
            }
        }
        if before.as_ref().is_some_and(|b| b.id == entry.id) {
            continue;
        }
        let len = prefix.len();
        if len > 0 {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(entry.name);
        let id = Oid::from_bytes(entry.id)?;
        if entry.is_tree() {
            let old_sub = match before {
                Some(b) if b.is_tree() => Some(Oid::from_bytes(b.id)?),
                _ => None,
            };
            diff(walker, old_sub, id, prefix, out)?;
        } else {
            out.push(Introduced { path: prefix.clone(), id, mode: entry.mode.cast_signed() });
        }
        prefix.truncate(len);
    }
    Ok(())
}

/// Git's tree order: names compared bytewise, a directory's name as if it ended in `/`. Two
/// entries of one name but different kinds (a file replaced by a directory) are not the same.
fn git_order(a: &RawEntry<'_>, b: &RawEntry<'_>) -> Ordering {
    name_order((a.name, a.is_tree()), (b.name, b.is_tree()))
}

/// [`git_order`] of two entries given by name and whether each is a tree.
pub(super) fn name_order((a, a_tree): (&[u8], bool), (b, b_tree): (&[u8], bool)) -> Ordering {
    let n = a.len().min(b.len());
    a[..n].cmp(&b[..n]).then_with(|| {
        let next =
            |name: &[u8], tree: bool| name.get(n).copied().unwrap_or(if tree { b'/' } else { 0 });
        next(a, a_tree).cmp(&next(b, b_tree)).then(a.len().cmp(&b.len()))
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

    /// A history with merges, out-of-order dates and old tags: the paint-down walk gives exactly
    /// libgit2's set of new commits, parents first.
    #[test]
    fn walk_new_matches_libgit2_revwalk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repository::init(dir.path()).expect("init");
        let tree = {
            let mut index = repo.index().expect("index");
            repo.find_tree(index.write_tree().expect("tree")).expect("tree")
        };
        let commit = |parents: &[Oid], time: i64| -> Oid {
            let sig = git2::Signature::new("t", "t@example.org", &git2::Time::new(time, 0))
                .expect("signature");
            let parents: Vec<git2::Commit> =
                parents.iter().map(|p| repo.find_commit(*p).expect("parent")).collect();
            let parents: Vec<&git2::Commit> = parents.iter().collect();
            repo.commit(None, &sig, &sig, &format!("c{time}"), &tree, &parents).expect("commit")
        };
        let mut main = vec![commit(&[], 1000)];
        for i in 1..40 {
            // Every seventh commit is dated before its parent (clock skew).
            let time = if i % 7 == 0 { 500 + i } else { 1000 + i * 10 };
            main.push(commit(&[main[i as usize - 1]], time));
        }
        let mut side = vec![commit(&[main[10]], 1200)];
        for i in 1..15_i64 {
            side.push(commit(&[side[i as usize - 1]], 1200 + i));
        }
        let merge = commit(&[main[39], side[14]], 2000);
        let new_tip = commit(&[merge], 1990);
        let cases: Vec<(Vec<Oid>, Vec<Oid>)> = vec![
            (vec![new_tip], vec![main[39]]),
            (vec![new_tip], vec![main[39], main[3], side[4]]),
            (vec![new_tip, side[14]], vec![main[20]]),
            (vec![side[14]], vec![new_tip]),
        ];
        for (include, hide) in cases {
            let selection = Selection { include: include.clone(), hide: hide.clone(), since: None };
            let ours = walk_new(&repo, &include, &selection).expect("walk");
            let mut walk = repo.revwalk().expect("revwalk");
            for t in &include {
                walk.push(*t).expect("push");
            }
            for t in &hide {
                walk.hide(*t).expect("hide");
            }
            let theirs: HashSet<Oid> = walk.map(|id| id.expect("id")).collect();
            assert_eq!(
                ours.iter().copied().collect::<HashSet<_>>(),
                theirs,
                "{include:?} - {hide:?}"
            );
            assert_eq!(ours.len(), theirs.len(), "each commit once");
            for (i, id) in ours.iter().enumerate() {
                for parent in repo.find_commit(*id).expect("commit").parent_ids() {
                    if let Some(j) = ours.iter().position(|c| *c == parent) {
                        assert!(j < i, "a parent comes before its child");
                    }
                }
            }
        }
    }

    #[test]
    fn raw_tree_entries() {
        let mut raw = b"100644 a.txt\0".to_vec();
        raw.extend_from_slice(&[1; 20]);
        raw.extend_from_slice(b"40000 dir\0");
        raw.extend_from_slice(&[2; 20]);
        let all: Vec<(u32, Vec<u8>)> = entries(&raw).map(|e| (e.mode, e.name.to_vec())).collect();
        assert_eq!(all, [(0o100_644, b"a.txt".to_vec()), (0o40_000, b"dir".to_vec())]);
        assert_eq!(entries(&raw[..raw.len() - 1]).count(), 1, "a cut entry ends the list");
    }

    #[test]
    fn git_tree_order_puts_directories_after_their_name_with_a_slash() {
        let id = [0; 20];
        let e = |name: &'static [u8], mode| RawEntry { mode, name, id: &id };
        // "a.c" < "a/" (dir a) < "a0": '.' < '/' < '0'.
        assert_eq!(git_order(&e(b"a.c", 0o100_644), &e(b"a", 0o40_000)), Ordering::Less);
        assert_eq!(git_order(&e(b"a", 0o40_000), &e(b"a0", 0o100_644)), Ordering::Less);
        assert_eq!(git_order(&e(b"a", 0o100_644), &e(b"a", 0o40_000)), Ordering::Less);
        assert_eq!(git_order(&e(b"a", 0o40_000), &e(b"a", 0o40_000)), Ordering::Equal);
    }

    /// Every `(path, blob)` of tree `id`, recursively.
    fn listing(repo: &Repository, id: Oid) -> std::collections::BTreeMap<Vec<u8>, Oid> {
        let mut out = std::collections::BTreeMap::new();
        let tree = repo.find_tree(id).expect("tree");
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() != Some(ObjectType::Tree) {
                let mut path = dir.as_bytes().to_vec();
                path.extend_from_slice(entry.name_bytes());
                out.insert(path, entry.id());
            }
            git2::TreeWalkResult::Ok
        })
        .expect("walk");
        out
    }

    /// `(path, content)` pairs.
    type Files = Vec<(String, String)>;

    /// A tree of `files` (paths with `/` make subtrees), each holding the blob of its content.
    fn tree_of(repo: &Repository, files: &[(String, String)]) -> Oid {
        let mut index = git2::Index::new().expect("index");
        for (path, content) in files {
            let blob = repo.blob(content.as_bytes()).expect("blob");
            let entry = git2::IndexEntry {
                ctime: git2::IndexTime::new(0, 0),
                mtime: git2::IndexTime::new(0, 0),
                dev: 0,
                ino: 0,
                mode: 0o100_644,
                uid: 0,
                gid: 0,
                file_size: 0,
                id: blob,
                flags: 0,
                flags_extended: 0,
                path: path.as_bytes().to_vec(),
            };
            index.add(&entry).expect("add");
        }
        index.write_tree_to(repo).expect("write tree")
    }

    /// The fast diff (skipping equal heads and tails of raw trees) gives exactly the entries whose
    /// blob changed or appeared, wherever in the tree the change is.
    #[test]
    fn diff_finds_exactly_the_changed_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repository::init_bare(dir.path()).expect("init");
        let base: Files = (0..60)
            .map(|i| (format!("{}f{i:02}.txt", if i % 3 == 0 { "d/" } else { "" }), format!("{i}")))
            .collect();
        let with = |f: &dyn Fn(&mut Files)| {
            let mut files = base.clone();
            f(&mut files);
            files
        };
        let variants: Vec<Files> = vec![
            with(&|v| v[1].1.push('x')),
            with(&|v| v[31].1.push('x')),
            with(&|v| v[59].1.push('x')),
            with(&|v| v[0].1.push('x')),
            with(&|v| v.push(("zz.txt".into(), "new".into()))),
            with(&|v| v.push(("a.txt".into(), "new".into()))),
            with(&|v| v.push(("d/e/deep.txt".into(), "new".into()))),
            with(&|v| {
                v.remove(58);
            }),
            with(&|v| {
                v.retain(|(p, _)| p != "f01.txt");
                v.push(("f01.txt/inner".into(), "dir now".into()));
            }),
            with(&|v| {
                v[2].1.push('x');
                v[57].1.push('y');
            }),
        ];
        let old = tree_of(&repo, &base);
        let mut walker = Walker::new(&repo).expect("walker");
        for (i, files) in variants.iter().enumerate() {
            let new = tree_of(&repo, files);
            let mut out = Vec::new();
            diff(&mut walker, Some(old), new, &mut Vec::new(), &mut out).expect("diff");
            let got: std::collections::BTreeMap<Vec<u8>, Oid> =
                out.into_iter().map(|e| (e.path, e.id)).collect();
            let before = listing(&repo, old);
            let expected: std::collections::BTreeMap<Vec<u8>, Oid> = listing(&repo, new)
                .into_iter()
                .filter(|(path, id)| before.get(path) != Some(id))
                .collect();
            // Removing an entry introduces nothing; every other variant introduces something.
            assert_eq!(expected.is_empty(), i == 7, "variant {i}");
            assert_eq!(got, expected, "variant {i}");
        }
    }

    /// A merge introduces only what none of its parents held at the path: the one-descent filter
    /// against the other parents gives what per-path lookups in libgit2's listings give, for
    /// files taken from either side, changed in the merge, moved between directories, and
    /// directories taken whole from the second parent.
    #[test]
    fn merges_introduce_what_no_parent_held() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repository::init_bare(dir.path()).expect("init");
        let base: Files = (0..40)
            .map(|i| (format!("{}/f{i:02}.txt", ["a", "a/b", "c", "d/e/f"][i % 4]), format!("{i}")))
            .collect();
        let edit = |files: &Files, f: &dyn Fn(&mut Files)| {
            let mut files = files.clone();
            f(&mut files);
            files
        };
        let ours = edit(&base, &|v| {
            v[0].1.push_str(" ours");
            v[5].1.push_str(" ours");
            v.push(("a/b/ours.txt".into(), "ours".into()));
        });
        let theirs = edit(&base, &|v| {
            v[1].1.push_str(" theirs");
            v[5].1.push_str(" theirs");
            v[3].1.push_str(" theirs");
            v.push(("c/theirs/new.txt".into(), "theirs".into()));
            v.push(("z.txt".into(), "theirs".into()));
        });
        let third = edit(&base, &|v| v[2].1.push_str(" third"));
        let merges: Vec<(Vec<&Files>, Files)> = vec![
            // Both sides' changes, a conflict resolved by hand, one file new in the merge.
            (vec![&ours, &theirs], {
                edit(&theirs, &|v| {
                    v[0].1.push_str(" ours");
                    v[5].1 = "resolved".into();
                    v.push(("a/b/ours.txt".into(), "ours".into()));
                    v.push(("merge-only.txt".into(), "merge".into()));
                })
            }),
            // The second parent's tree taken whole.
            (vec![&ours, &theirs], theirs.clone()),
            // An octopus: each parent's change kept, and a file moved to a new directory.
            (vec![&ours, &theirs, &third], {
                edit(&theirs, &|v| {
                    v[2].1.push_str(" third");
                    let moved = v.remove(7);
                    v.push((format!("moved/{}", moved.0), moved.1));
                })
            }),
        ];
        let mut walker = Walker::new(&repo).expect("walker");
        for (i, (parents, merge)) in merges.iter().enumerate() {
            let parents: Vec<Oid> = parents.iter().map(|files| tree_of(&repo, files)).collect();
            let merge = tree_of(&repo, merge);
            let mut out = Vec::new();
            against_parents(&mut walker, &parents, merge, &mut out).expect("diff");
            let got: std::collections::BTreeMap<Vec<u8>, Oid> =
                out.into_iter().map(|e| (e.path, e.id)).collect();
            let held: Vec<_> = parents.iter().map(|p| listing(&repo, *p)).collect();
            let expected: std::collections::BTreeMap<Vec<u8>, Oid> = listing(&repo, merge)
                .into_iter()
                .filter(|(path, id)| held.iter().all(|p| p.get(path) != Some(id)))
                .collect();
            let paths: Vec<String> =
                expected.keys().map(|p| String::from_utf8_lossy(p).into_owned()).collect();
            let want: &[&[&str]] =
                &[&["a/b/f05.txt", "merge-only.txt"], &[], &["moved/d/e/f/f07.txt"]];
            assert_eq!(paths, want[i], "merge {i}");
            assert_eq!(got, expected, "merge {i}");
        }
    }

    #[test]
    fn common_heads_and_tails() {
        let a = [7u8; 100];
        let mut b = a;
        b[70] = 0;
        assert_eq!((common_prefix(&a, &b), common_suffix(&a, &b)), (70, 29));
        assert_eq!((common_prefix(&a, &a[..5]), common_suffix(&a, &a[..5])), (5, 5));
        assert_eq!((common_prefix(&a, &[]), common_suffix(&[], &b)), (0, 0));
    }

    #[test]
    fn dates_carry_the_offset() {
        assert_eq!(rfc3339(git2::Time::new(1_709_251_199, 0)), "2024-02-29T23:59:59+00:00");
        assert_eq!(rfc3339(git2::Time::new(1_709_251_199, -90)), "2024-02-29T22:29:59-01:30");
        assert_eq!(rfc3339(git2::Time::new(0, 120)), "1970-01-01T02:00:00+02:00");
    }

    /// A stored commit reads as libgit2 reads it: the parents of its own header lines only (not a
    /// signature's continuation lines), its message without leading newlines, and a commit that
    /// names no tree is an error.
    #[test]
    fn raw_commits_read_like_libgit2() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let repo = Repository::init_bare(dir.path()).expect("repository");
        let odb = repo.odb().expect("object database");
        let tree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
        let parent = "1111111111111111111111111111111111111111";
        let text = format!(
            "tree {tree}\nparent {parent}\nauthor A <a@example.com> 1 +0000\ncommitter A \
             <a@example.com> 1 +0000\ngpgsig -----BEGIN PGP SIGNATURE-----\n parent \
             2222222222222222222222222222222222222222\n -----END PGP SIGNATURE-----\n\n\n\nfix \
             the build\n\nbody\n"
        );
        let id = odb.write(ObjectType::Commit, text.as_bytes()).expect("commit");
        let commit = RawCommit::parse(id, text.as_bytes().into()).expect("parsed");
        assert_eq!(commit.tree, Oid::from_str(tree).expect("tree id"));
        assert_eq!(commit.message(), b"fix the build\n\nbody\n");
        let libgit2 = repo.find_commit(id).expect("libgit2's reading");
        assert_eq!(commit.message(), libgit2.message_bytes());
        let parents = Grafts::default().parents(id, commit.header(), &odb, &mut Vec::new());
        assert_eq!(parents, libgit2.parent_ids().collect::<Vec<_>>());
        assert_eq!(parents, vec![Oid::from_str(parent).expect("parent id")]);
        assert!(
            RawCommit::parse(id, b"author A <a@example.com> 1 +0000\n\nx".as_slice().into())
                .is_err()
        );
    }
}
