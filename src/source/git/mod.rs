//! Git history: every secret ever committed, with the commit that first introduced it.
//!
//! Two ways through a history, chosen by what is asked:
//! - **whole histories** (every ref, or whole branches): every blob of the object database is read
//!   once in pack order ([`packs`]) and scanned on all cores, while the commits are listed from
//!   one pass over the packs' commits (`graph.rs`, which also fixes history order, keeps each
//!   commit's root tree and scans its message); then every tree, once in pack order too
//!   ([`trees`]), keeping only the trees above the few blobs a report must place; only then are
//!   the commits walked ([`walk`]), over those trees and without reading a commit again, to give
//!   each such blob its first commit and path. Blobs no selected commit reaches are dropped (or,
//!   with `--all-objects`, reported as unreachable).
//! - **narrow selections** (a range, `--since`, a push): the selected commits are walked first and
//!   only the blobs they introduce are read and scanned.
//!
//! The same secret in several blobs, paths or commits is one finding at its oldest place, with the
//! others as occurrences. Commit messages are scanned too (path `commit-message`).
//!
//! Uses [`Scan`] for content (each blob id scanned once) and findings; knows nothing of rules.

mod graph;
pub mod loose;
pub mod mirror;
pub mod objects;
mod pack_map;
pub mod packs;
mod remembered;
pub mod trees;
pub mod walk;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

use git2::{Oid, Repository};

use crate::blob::BlobId;
use crate::cache::{Cache, CommitList};
use crate::error::ScanError;
use crate::finding::{CommitInfo, Finding, Occurrence, Provenance, Skipped};
use crate::scan::{Hits, MessageScan, Scan};
use crate::source::archive;
use crate::source::{Sink, Skip};
pub use packs::Reader;
pub use remembered::HistoryCache;
use remembered::Remembered;
pub use walk::{Selection, ref_tips_under};

/// The pseudo-path of findings in commit messages.
pub const MESSAGE_PATH: &str = "commit-message";

/// From this many blobs on, a narrow scan reads them with the pack traversal, not one by one.
const BULK_READ_MIN: usize = 2_000;

/// At most this many missing-object errors are listed one by one; the rest are counted.
const MAX_MISSING_LISTED: usize = 20;

/// How to scan a history.
#[derive(Debug, Clone)]
pub struct GitOptions<'c> {
    /// Which commits.
    pub selection: Selection,
    /// Also report blobs that no selected commit reaches (unreachable objects).
    pub all_objects: bool,
    /// Blobs larger than the file cap are skipped, counted and named, unless they are archives
    /// within the archive cap (blobs up to that cap are inflated to tell).
    pub caps: archive::SizeCaps,
    /// Show a progress bar on stderr (the caller checks for a terminal and `--quiet`).
    pub progress: bool,
    /// The bulk blob reader.
    pub reader: Reader,
    /// What earlier runs with the same rules scanned and walked (`--cache`).
    pub cache: Option<HistoryCache<'c>>,
}

/// Opens the repository at `path` (a work tree, any directory inside one, or a bare repository),
/// or the one holding the current directory.
pub fn open(path: Option<&Path>) -> Result<Repository, ScanError> {
    let shown = path.map_or_else(|| ".".to_owned(), |p| p.display().to_string());
    let result = match path {
        Some(p) => Repository::open_ext(p, git2::RepositoryOpenFlags::empty(), [] as [&Path; 0]),
        None => Repository::open_from_env(),
    };
    result.map_err(|e| {
        if e.code() == git2::ErrorCode::NotFound {
            ScanError::new(
                shown,
                "not a git repository (nor inside one): pass the path of a repository",
            )
        } else {
            ScanError::new(shown, format!("cannot open the repository: {}", e.message()))
        }
    })
}

/// Resolves a revision (branch, tag, remote branch, commit id, `HEAD~3`) to a commit.
pub fn resolve(repo: &Repository, rev: &str) -> Result<Oid, String> {
    let object = repo
        .revparse_single(rev)
        .or_else(|_| repo.revparse_single(&format!("refs/remotes/{rev}")))
        .map_err(|_| {
            format!("unknown revision {rev:?}: name a branch, tag or commit (see `git branch -a`)")
        })?;
    object.peel_to_commit().map(|c| c.id()).map_err(|_| format!("{rev:?} is not a commit"))
}

/// True for git's all-zeros id (a new branch's "before" in CI variables and pre-push input).
pub fn is_zero_id(text: &str) -> bool {
    text.len() >= 7 && text.bytes().all(|b| b == b'0')
}

/// The selection for `--branch` (any number), `--range A..B` and `--since`.
///
/// A range whose base is all zeros (what CI passes for a new branch) selects the commits of `B`
/// that no other ref holds.
pub fn selection(
    repo: &Repository,
    branches: &[String],
    range: Option<&str>,
    since: Option<i64>,
) -> Result<Selection, String> {
    let mut sel = Selection { since, ..Selection::default() };
    for branch in branches {
        sel.include.push(resolve(repo, branch)?);
    }
    if let Some(range) = range {
        let (base, tip) = range
            .split_once("..")
            .ok_or_else(|| format!("invalid range {range:?}: write it as BASE..TIP"))?;
        let tip = resolve(repo, if tip.is_empty() { "HEAD" } else { tip })?;
        sel.include.push(tip);
        if is_zero_id(base) {
            sel.hide
                .extend(ref_tips_under(repo, "refs/", &[tip]).map_err(|e| e.message().to_owned())?);
        } else {
            sel.hide.push(resolve(repo, if base.is_empty() { "HEAD" } else { base })?);
        }
    }
    Ok(sel)
}

/// The shallow boundary commits (listed in `.git/shallow`) among `commits`, in their order; `None`
/// when that file cannot be read (the boundary is unknown).
fn shallow_boundary(repo: &Repository, commits: &[Oid]) -> Option<Vec<Oid>> {
    let text = std::fs::read_to_string(repo.path().join("shallow")).ok()?;
    let boundary: HashSet<Oid> =
        text.lines().filter_map(|l| Oid::from_str(l.trim()).ok()).collect();
    Some(commits.iter().filter(|c| boundary.contains(c)).copied().collect())
}

/// Scans the selected history of `repo` into `scan`: findings, errors, and the blobs and
/// submodules deliberately not scanned ([`Sink::not_scanned`]: blobs over the size cap, Git LFS
/// pointers, submodules).
pub fn scan(repo: &Repository, options: &GitOptions<'_>, scan: &Scan) {
    // libgit2 re-hashes every object it reads; on the synthetic history that SHA-1 was 18% of
    // all CPU (perf), all of it in the tree walk. Pack entries are still CRC- and zlib-checked.
    git2::opts::strict_hash_verification(false);
    // libgit2 caches every commit its revision walk reads, for the life of the repository
    // handle: 137 MB of git.git's 203,352 commits (heaptrack), each read once by that walk.
    git2::opts::enable_caching(false);
    let timing = Timing::new();
    let dirs = packs::object_dirs(repo.commondir());
    for error in packs::mismatched_packs(&dirs) {
        scan.error(error);
    }
    // libgit2 hangs on a damaged loose commit or tree (see [`loose`]): name them and walk nothing.
    let damaged = loose::damaged_non_blobs(&dirs);
    if !damaged.is_empty() {
        for why in damaged {
            scan.error(ScanError::new(
                "object database",
                format!("{why}; history was not scanned, since walking it would read this object"),
            ));
        }
        return;
    }
    timing.lap("check packs and loose objects");
    let remembered = match options.cache.map(|cache| Remembered::load(cache, repo)).transpose() {
        Ok(remembered) => remembered,
        Err(e) => {
            scan.error(ScanError::new(
                "--cache",
                format!("{e}; nothing was scanned, so that no result is taken from a bad cache"),
            ));
            return;
        }
    };
    timing.lap("read the cache");
    let known = remembered.as_ref().and_then(Remembered::list);
    let odb = match repo.odb() {
        Ok(odb) => odb,
        Err(e) => {
            scan.error(ScanError::new(repo.path().display().to_string(), e.message()));
            return;
        }
    };
    let state = State::new(scan, options, remembered.as_ref());
    let whole = options.selection.whole_history() || options.all_objects;
    let list = |repo: &Repository| selected_commits(repo, options, scan, known);
    // A whole history's blobs are read from the object database without the commit list, so
    // the list is made alongside, on a handle of its own, rather than before them.
    let (listed, known) = if whole {
        let git_dir = repo.path();
        std::thread::scope(|s| {
            let listing = s.spawn(|| match packs::open_with_env_objects(git_dir) {
                Ok(repo) => list(&repo),
                Err(e) => {
                    scan.error(ScanError::new(git_dir.display().to_string(), e.message()));
                    None
                }
            });
            let progress = Progress::new(options.progress, "blobs");
            let known = state
                .visitor(&progress)
                .run(|visitor| packs::read_all(&dirs, &odb, options.reader, options.caps, visitor));
            state.recall_blobs(|id| known.contains(id));
            progress.finish();
            let listed = listing.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (listed, Some(known))
        })
    } else {
        (list(repo), None)
    };
    timing.lap(if whole { "list commits, read and scan blobs" } else { "list commits" });
    let Some(listed) = listed else { return };
    let commits = &listed.commits;
    // History is cut only when the selected walk reaches the shallow boundary: a range that a
    // CI job deepened far enough is whole (issue #7).
    let cut = if repo.is_shallow() { shallow_boundary(repo, commits) } else { Some(Vec::new()) };
    if cut.as_ref().is_none_or(|cut| !cut.is_empty()) {
        let at = cut.map_or_else(
            || "the shallow boundary".to_owned(),
            |cut| {
                let shown: Vec<String> = cut.iter().take(3).map(|c| short_id(*c)).collect();
                let more = cut.len().saturating_sub(3);
                let more = if more > 0 { format!(" and {more} more") } else { String::new() };
                format!("commit {}{more}", shown.join(", "))
            },
        );
        scan.error(ScanError::new(
            repo.path().join("shallow").display().to_string(),
            format!(
                "shallow clone: history is cut at {at}; what came before is not in this \
                 repository, so it was not scanned; run `git fetch --unshallow` for a complete \
                 scan"
            ),
        ));
    }
    let Some(mut walked) =
        walk_history(repo, &listed, &state, known.as_ref(), options, &dirs, &odb, &timing)
    else {
        return;
    };
    state.assemble(&mut walked, options, known.as_ref());
    objects::scan(repo, &listed.objects, options.caps, scan);
    timing.lap("assemble findings");
}

/// Walks the `listed` commits (those an earlier run walked come from the cache, for whole
/// histories), reads what a narrow walk introduced, stores what the cache should keep (with a
/// fresh list of commits), and returns the walk in the list's order; `None` when the history
/// cannot be walked (named).
#[allow(clippy::too_many_arguments)] // the one run's state, passed down rather than bundled
fn walk_history(
    repo: &Repository,
    listed: &Listed,
    state: &State<'_, '_>,
    known: Option<&HashSet<BlobId>>,
    options: &GitOptions<'_>,
    dirs: &[std::path::PathBuf],
    odb: &git2::Odb<'_>,
    timing: &Timing,
) -> Option<Vec<Walked>> {
    let scan = state.scan;
    let commits = &listed.commits;
    let whole = known.is_some();
    // Commits walked by an earlier run are taken from the cache (whole histories only: a narrow
    // walk keeps every entry, which the cache does not).
    let cached_commits = state.remembered.filter(|_| whole);
    let to_walk: Vec<Oid> = match cached_commits {
        Some(r) => commits.iter().copied().filter(|id| !r.has_commit(*id)).collect(),
        None => commits.clone(),
    };
    // The tree pass reads every tree of the packs: worth it when most of the history is walked,
    // not for the few new commits of a cached re-scan.
    let wanted = known.map(|known| trees::Wanted::new(known, state.wanted().into_iter()));
    let held = wanted
        .as_ref()
        .filter(|_| to_walk.len() * 4 >= commits.len())
        .and_then(|wanted| trees::Held::build(dirs, wanted));
    timing.lap("read trees");
    let progress = Progress::new(options.progress, "commits");
    progress.set_total(to_walk.len() as u64);
    // The commits the listing read need not be read again: by position in its graph.
    let read = listed.fresh_list.as_ref().filter(|_| !listed.read.is_empty()).map(|list| {
        let at: HashMap<Oid, usize> =
            commits.iter().enumerate().map(|(at, id)| (*id, at)).collect();
        (&list.graph, at)
    });
    let walked = walk::par_map(repo.path(), &to_walk, |walker, id| {
        let pre = read.as_ref().and_then(|(graph, at)| listed.read.commit(graph, *at.get(&id)?));
        let result = state.visit_commit(walker, id, wanted.as_ref(), held.as_ref(), pre);
        progress.inc(0);
        result
    });
    progress.finish();
    timing.lap("walk commits");
    let walked = match walked {
        Ok(w) => w,
        Err(e) => {
            scan.error(ScanError::new(repo.path().display().to_string(), e.message()));
            return None;
        }
    };
    if !whole {
        read_introduced(dirs, odb, state, &walked, options);
        timing.lap("read and scan blobs");
    }
    if options.cache.is_some() {
        // A shallow boundary commit introduced its whole tree only because its parents are
        // absent; once the clone is deepened it introduces less, so it is walked again then.
        let boundary: Option<HashSet<Oid>> = if repo.is_shallow() {
            shallow_boundary(repo, &to_walk).map(|b| b.into_iter().collect())
        } else {
            Some(HashSet::new())
        };
        let fresh: Vec<(Oid, &Walked)> = match boundary.filter(|_| whole) {
            Some(boundary) => to_walk
                .iter()
                .copied()
                .zip(&walked)
                .filter(|(id, _)| !boundary.contains(id))
                .collect(),
            None => Vec::new(),
        };
        let blobs = std::mem::take(&mut *lock(&state.fresh));
        let list = listed.fresh_list.as_ref().filter(|_| whole);
        state.store(&blobs, &fresh, list);
        timing.lap("store in the cache");
    }
    Some(match cached_commits {
        Some(r) => {
            scan.cached((commits.len() - to_walk.len()) as u64);
            let mut fresh = walked.into_iter();
            commits
                .iter()
                .filter_map(|id| r.walked(*id).or_else(|| fresh.next()))
                .collect::<Vec<_>>()
        }
        None => walked,
    })
}

/// The selected commits and what [`selected_commits`] found besides.
struct Listed {
    /// The selected commits, oldest first.
    commits: Vec<Oid>,
    /// What the refs name besides commits.
    objects: Vec<objects::RefObject>,
    /// For a complete whole-history listing made by this run: the graph the cache may keep.
    fresh_list: Option<CommitList>,
    /// What that listing read of the commits, by their position in `fresh_list`'s graph.
    read: graph::Read,
}

/// The selected commits (and what the refs name besides commits), with every ref, tip and
/// grafted parent that kept history from being walked named as an error; `None` when nothing
/// can be walked. `known` is the graph an earlier run kept ([`walk::commits`]).
fn selected_commits(
    repo: &Repository,
    options: &GitOptions,
    scan: &Scan,
    known: Option<&CommitList>,
) -> Option<Listed> {
    let scan_message = |message: &[u8]| Some(scan.scan_message(message)).filter(|m| !m.is_clean());
    match walk::commits(repo, &options.selection, known, &scan_message) {
        Ok(walk::Walk { commits, failed, broken, cut, objects, fresh_list, read }) => {
            for (commit, parent) in cut {
                scan.error(ScanError::new(
                    repo.commondir().join("info/grafts").display().to_string(),
                    format!(
                        "history is cut at commit {}: its parent {parent} is missing from the \
                         object database (the grafts file hides that), so what came before was \
                         not scanned; fetch the full history",
                        short_id(commit)
                    ),
                ));
            }
            for r in broken {
                scan.error(ScanError::new(
                    format!("ref {}", r.name),
                    format!(
                        "points at {}, {}: the history of this ref was not scanned; run `git \
                         fsck`",
                        r.id, r.why
                    ),
                ));
            }
            for (tip, e) in failed {
                scan.error(ScanError::new(
                    format!("commit {tip}"),
                    format!(
                        "cannot walk the history from this ref tip (damaged or missing \
                         objects): {}; run `git fsck`",
                        e.message()
                    ),
                ));
            }
            Some(Listed { commits, objects, fresh_list, read })
        }
        Err(e) => {
            scan.error(ScanError::new(
                repo.path().display().to_string(),
                format!("cannot walk the history: {}", e.message()),
            ));
            None
        }
    }
}

/// The 12-digit abbreviation of a commit id that reports use.
fn short_id(id: Oid) -> String {
    let mut hex = id.to_string();
    hex.truncate(12);
    hex
}

/// A narrow scan's blob read: the blobs the walked commits introduced.
fn read_introduced(
    dirs: &[std::path::PathBuf],
    odb: &git2::Odb<'_>,
    state: &State<'_, '_>,
    walked: &[Walked],
    options: &GitOptions,
) {
    let ids: HashSet<BlobId> = walked
        .iter()
        .flat_map(|c| &c.introduced)
        .filter(|i| i.mode != walk::GITLINK)
        .map(|i| BlobId(packs::oid_bytes_git2(i.id)))
        .collect();
    state.recall_blobs(|id| ids.contains(id));
    let ids: HashSet<BlobId> = ids.into_iter().filter(|id| !state.is_cached(id)).collect();
    let progress = Progress::new(options.progress, "blobs");
    progress.set_total(ids.len() as u64);
    if ids.len() < BULK_READ_MIN {
        state.visitor(&progress).run(|visitor| {
            packs::read_listed(dirs, odb, ids.into_iter(), options.caps, visitor);
        });
    } else {
        // Many blobs: libgit2's random reads with a 16 MiB delta cache cost 63 CPU-s for the
        // 44,620 blobs of the synthetic history; the pack-order traversal of every blob, with
        // only these scanned, costs a few.
        let visitor = VisitorBox { only: Some(&ids), ..state.visitor(&progress) };
        let present = visitor
            .run(|visitor| packs::read_all(dirs, odb, options.reader, options.caps, visitor));
        lock(&state.missing).extend(ids.iter().filter(|id| !present.contains(id)));
    }
    progress.finish();
}

/// What a commit contributes: the blobs it introduced that matter, and its message's matches.
struct Walked {
    /// Boxed: only the few commits a report names have it, and a walk keeps one `Walked` per
    /// commit (203,352 on git.git).
    info: Option<Box<CommitInfo>>,
    introduced: Vec<walk::Introduced>,
    message: Option<Hits>,
    /// False when the commit or its trees could not be read (then it is not cached).
    complete: bool,
}

/// Why a blob is named as not scanned.
#[derive(Debug, Clone, Copy)]
enum Named {
    /// Its size, or `None` for a delta of a blob over the cap.
    TooLarge(Option<u64>),
    LfsPointer,
}

struct State<'s, 'e> {
    scan: &'s Scan<'e>,
    caps: archive::SizeCaps,
    /// Blobs with matches.
    targets: Mutex<HashMap<BlobId, Hits>>,
    /// Blobs to name as not scanned.
    named: Mutex<HashMap<BlobId, Named>>,
    /// Blobs the object database does not have.
    missing: Mutex<HashSet<BlobId>>,
    /// What earlier runs scanned and walked (`--cache`).
    remembered: Option<&'s Remembered>,
    /// Blobs this run scanned whose result may be cached (no problem named), with their
    /// matches; collected only with `--cache`, and stored each time [`STORE_BLOBS_EVERY`] are
    /// collected, so that an interrupted first run keeps what it scanned (a blob's result does
    /// not depend on the commits, which are stored when the walk is done).
    fresh: Mutex<Vec<(BlobId, Option<Hits>)>>,
    /// The `--cache` that `fresh` goes to.
    cache: Option<&'s Cache>,
    /// Set once storing failed: the error is named once.
    store_failed: AtomicBool,
}

/// Blob results stored in one cache transaction during a run.
const STORE_BLOBS_EVERY: usize = 65_536;

impl<'s, 'e> State<'s, 'e> {
    fn new(
        scan: &'s Scan<'e>,
        options: &GitOptions<'s>,
        remembered: Option<&'s Remembered>,
    ) -> Self {
        State {
            scan,
            caps: options.caps,
            targets: Mutex::default(),
            named: Mutex::default(),
            missing: Mutex::default(),
            remembered,
            fresh: Mutex::default(),
            cache: options.cache.map(|c| c.cache),
            store_failed: AtomicBool::new(false),
        }
    }

    /// Stores results in the `--cache` (none without one); a failure is named once, as a result
    /// not kept.
    fn store(
        &self,
        blobs: &[(BlobId, Option<Hits>)],
        commits: &[(Oid, &Walked)],
        list: Option<&CommitList>,
    ) {
        let Some(cache) = self.cache else { return };
        if let Err(e) = Remembered::remember(cache, blobs, commits, list)
            && !self.store_failed.swap(true, Relaxed)
        {
            self.scan.error(ScanError::new(
                "--cache",
                format!("{e}; this run's results were not all stored (the next run scans them)"),
            ));
        }
    }

    /// True when an earlier run scanned blob `id` (its result is taken from the cache).
    fn is_cached(&self, id: &BlobId) -> bool {
        self.remembered.is_some_and(|r| r.has_blob(id))
    }

    /// Takes the cached results of the blobs this run would scan (`wanted`) as if scanned now.
    fn recall_blobs(&self, wanted: impl Fn(&BlobId) -> bool) {
        let Some(remembered) = self.remembered else { return };
        let (found, count) = remembered.found_among(wanted);
        lock(&self.targets).extend(found);
        self.scan.cached(count);
    }

    fn blob(&self, id: BlobId, data: &[u8]) {
        if !self.caps.worth_reading(data, data.len() as u64) {
            // A delta can grow past the cap although its base did not; a blob over the file cap
            // is read only in case it is an archive.
            self.too_large(id, Some(data.len() as u64));
            return;
        }
        let lfs = is_lfs_pointer(data);
        if lfs {
            lock(&self.named).insert(id, Named::LfsPointer);
        }
        let found = self.scan.matches_in(Some(id), data).filter(|found| !found.is_empty());
        if self.cache.is_some() && !lfs && !self.scan.had_problems(id) {
            let full = {
                let mut fresh = lock(&self.fresh);
                fresh.push((id, found.clone()));
                (fresh.len() >= STORE_BLOBS_EVERY).then(|| std::mem::take(&mut *fresh))
            };
            if let Some(batch) = full {
                self.store(&batch, &[], None);
            }
        }
        if let Some(found) = found {
            lock(&self.targets).insert(id, found);
        }
    }

    fn too_large(&self, id: BlobId, size: Option<u64>) {
        self.scan.skipped(Skip::TooLarge);
        lock(&self.named).insert(id, Named::TooLarge(size));
    }

    fn error(&self, error: ScanError) {
        // Blob-level "not found" errors are reported later with the path and commit.
        if let Some(hex) = error.origin.strip_prefix("blob ")
            && error.message.starts_with("missing")
            && let Ok(oid) = Oid::from_str(hex)
        {
            lock(&self.missing).insert(BlobId(packs::oid_bytes_git2(oid)));
            return;
        }
        self.scan.error(error);
    }

    fn visitor<'a>(&'a self, progress: &'a Progress) -> VisitorBox<'a> {
        VisitorBox { state: self, progress, only: None }
    }

    /// The blobs a report may place: those with findings and those named as not scanned.
    fn wanted(&self) -> Vec<BlobId> {
        let mut out: Vec<BlobId> = lock(&self.targets).keys().copied().collect();
        out.extend(lock(&self.named).keys().copied());
        out
    }

    /// What commit `id` introduced (for a whole history, only what `wanted` names, as the tree
    /// pass `held` gives it where it read the trees), its message's findings, and who made it.
    /// `pre` is what the listing read of it, if anything.
    fn visit_commit(
        &self,
        walker: &mut walk::Walker<'_>,
        id: Oid,
        wanted: Option<&trees::Wanted>,
        held: Option<&trees::Held>,
        pre: Option<graph::ReadCommit<'_>>,
    ) -> Walked {
        let mut out = Walked { info: None, introduced: Vec::new(), message: None, complete: false };
        let (introduced, message) = if let Some(pre) = pre {
            (
                walk::introduced_over(walker, pre.tree, &pre.parents, held, &mut out.introduced),
                self.scan.message_found(pre.message.unwrap_or(&MessageScan::clean())),
            )
        } else {
            let commit = match walker.commit(id) {
                Ok(c) => c,
                Err(e) => {
                    self.scan
                        .error(ScanError::new(format!("commit {id}"), packs::object_message(&e)));
                    return out;
                }
            };
            (
                walk::introduced(walker, id, &commit, held, &mut out.introduced),
                self.scan.message_found(&self.scan.scan_message(commit.message())),
            )
        };
        out.complete = true;
        if let Err(e) = introduced {
            out.complete = false;
            self.scan.error(ScanError::new(
                format!("commit {id}"),
                format!(
                    "cannot read its trees, so what it changed was not scanned: {}",
                    e.message()
                ),
            ));
        }
        if let Some(wanted) = wanted {
            out.introduced.retain(|i| wanted.contains(i.id.as_bytes(), i.mode));
            out.introduced.shrink_to_fit();
        }
        out.message = message.filter(|m| !m.is_empty());
        if !out.introduced.is_empty() || out.message.is_some() {
            // Only the few commits a report names are read through libgit2, for its reading of
            // author lines.
            match walker.repo.find_commit(id) {
                Ok(commit) => out.info = Some(Box::new(walk::commit_info(&commit))),
                Err(e) => {
                    out.complete = false;
                    self.scan
                        .error(ScanError::new(format!("commit {id}"), packs::object_message(&e)));
                }
            }
        }
        out
    }

    /// Turns what the walk saw into findings (grouped by rule and secret), errors and items not
    /// scanned.
    fn assemble(
        &self,
        walked: &mut [Walked],
        options: &GitOptions,
        known: Option<&HashSet<BlobId>>,
    ) {
        let targets = std::mem::take(&mut *lock(&self.targets));
        let named = std::mem::take(&mut *lock(&self.named));
        let known_missing = std::mem::take(&mut *lock(&self.missing));
        let mut candidates: Vec<(usize, Finding)> = Vec::new();
        let mut reached: HashSet<BlobId> = HashSet::new();
        let mut named_seen: HashSet<BlobId> = HashSet::new();
        let mut submodules: BTreeMap<String, String> = BTreeMap::new();
        let mut missing = 0usize;
        for (order, commit) in walked.iter_mut().enumerate() {
            let Some(info) = commit.info.take() else { continue };
            let short = &info.sha[..info.sha.len().min(12)];
            for item in &commit.introduced {
                let path = String::from_utf8_lossy(&item.path).into_owned();
                if item.mode == walk::GITLINK {
                    submodules.entry(path).or_insert_with(|| short.to_owned());
                    continue;
                }
                let blob = BlobId(packs::oid_bytes_git2(item.id));
                reached.insert(blob);
                let absent = match known {
                    Some(known) => !known.contains(&blob),
                    None => known_missing.contains(&blob),
                };
                if absent {
                    missing += 1;
                    if missing <= MAX_MISSING_LISTED {
                        self.scan.error(ScanError::new(
                            format!("{path} (commit {short})"),
                            format!(
                                "blob {blob} is missing from the object database (a partial or \
                                 damaged clone): not scanned; fetch it or run `git fsck`"
                            ),
                        ));
                    }
                    continue;
                }
                if let Some(why) = named.get(&blob)
                    && named_seen.insert(blob)
                {
                    let reason = match why {
                        Named::TooLarge(Some(size)) => format!(
                            "blob {blob} of {size} bytes is over --max-file-size (or, for an \
                             archive, --max-archive-size); raise it to scan this blob"
                        ),
                        Named::TooLarge(None) => format!(
                            "blob {blob} is stored as a change to a blob over --max-file-size; \
                             raise it to scan this blob"
                        ),
                        Named::LfsPointer => "a Git LFS pointer: the content lives on the LFS \
                                              server; scan a checkout with the LFS files pulled"
                            .to_owned(),
                    };
                    self.scan.not_scanned(Skipped::new(format!("{path} (commit {short})"), reason));
                }
                if let Some(found) = targets.get(&blob) {
                    let provenance =
                        Provenance { path, commit: Some((*info).clone()), image: None };
                    candidates.extend(
                        found
                            .iter()
                            .filter_map(|m| self.scan.finding(m, &provenance))
                            .map(|f| (order, f)),
                    );
                }
            }
            if let Some(found) = &commit.message {
                let provenance = Provenance {
                    path: MESSAGE_PATH.into(),
                    commit: Some((*info).clone()),
                    image: None,
                };
                candidates.extend(
                    found
                        .iter()
                        .filter_map(|m| self.scan.finding(m, &provenance))
                        .map(|f| (order, f)),
                );
            }
        }
        if missing > MAX_MISSING_LISTED {
            self.scan.error(ScanError::new(
                "object database",
                format!(
                    "{} more missing blobs not listed (a partial clone? fetch the history with \
                     `git fetch --refetch` or scan a full clone)",
                    missing - MAX_MISSING_LISTED
                ),
            ));
        }
        for (path, short) in submodules {
            // Counted as the staged scan counts a submodule: special, never opened.
            self.scan.skipped(Skip::Special);
            self.scan.not_scanned(Skipped::new(
                format!("{path} (commit {short})"),
                "a submodule (gitlink), not followed: scan its repository separately",
            ));
        }
        if options.all_objects {
            self.unreachable(&targets, &reached, walked.len(), &mut candidates);
        }
        self.scan.push_findings(group(candidates));
    }
}

impl State<'_, '_> {
    /// Findings in blobs that no selected commit reaches, at a pseudo-path naming the blob.
    fn unreachable(
        &self,
        targets: &HashMap<BlobId, Hits>,
        reached: &HashSet<BlobId>,
        order: usize,
        candidates: &mut Vec<(usize, Finding)>,
    ) {
        let mut unreachable: Vec<_> =
            targets.iter().filter(|(id, _)| !reached.contains(id)).collect();
        unreachable.sort_by_key(|(id, _)| **id);
        for (id, found) in unreachable {
            let provenance =
                Provenance { path: format!("unreachable-blob:{id}"), commit: None, image: None };
            candidates.extend(
                found.iter().filter_map(|m| self.scan.finding(m, &provenance)).map(|f| (order, f)),
            );
        }
    }
}

/// One finding per rule and secret, at its oldest place (history order, then path and line);
/// the other places become its occurrences.
fn group(mut candidates: Vec<(usize, Finding)>) -> Vec<Finding> {
    candidates.sort_by(|(a, fa), (b, fb)| {
        a.cmp(b).then_with(|| fa.path.cmp(&fb.path)).then(fa.line.cmp(&fb.line))
    });
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut out: Vec<Finding> = Vec::new();
    for (_, f) in candidates {
        if let Some(&i) = index.get(&(f.rule_id.clone(), f.secret.clone())) {
            out[i].occurrences.push(Occurrence {
                path: f.path,
                line: f.line,
                commit: f.commit,
                image: None,
            });
        } else {
            index.insert((f.rule_id.clone(), f.secret.clone()), out.len());
            out.push(f);
        }
    }
    out
}

/// A Git LFS pointer file: the real content is on the LFS server.
fn is_lfs_pointer(data: &[u8]) -> bool {
    data.len() < 1024 && data.starts_with(b"version https://git-lfs.github.com/spec/")
}

/// Adapts [`State`] to the bulk reader's callbacks.
struct VisitorBox<'a> {
    state: &'a State<'a, 'a>,
    progress: &'a Progress,
    /// Scan only these blobs (the rest are read but passed over).
    only: Option<&'a HashSet<BlobId>>,
}

impl VisitorBox<'_> {
    fn run<R>(&self, f: impl FnOnce(&packs::Visitor<'_>) -> R) -> R {
        let wanted = |id: &BlobId| self.only.is_none_or(|only| only.contains(id));
        // Blobs not to scan need not be read (unless another blob's delta needs them).
        let cached = |id: &BlobId| !wanted(id) || self.state.is_cached(id);
        let blob = |id: BlobId, data: &[u8]| {
            if !cached(&id) {
                self.progress.inc(data.len() as u64);
                self.state.blob(id, data);
            }
        };
        let too_large = |id: BlobId, size: Option<u64>| {
            if wanted(&id) {
                self.progress.inc(0);
                self.state.too_large(id, size);
            }
        };
        let error = |e: ScanError| self.state.error(e);
        let total = |n: u64| {
            if self.only.is_none() {
                self.progress.set_total(n);
            }
        };
        f(&packs::Visitor {
            blob: &blob,
            too_large: &too_large,
            error: &error,
            total: &total,
            cached: &cached,
        })
    }
}

/// Phase times (wall and process CPU) on stderr when `LEAKHOUND_TIMING` is set, for profiling.
struct Timing(Option<std::cell::Cell<(std::time::Instant, f64)>>);

impl Timing {
    fn new() -> Timing {
        Timing(
            std::env::var_os("LEAKHOUND_TIMING")
                .map(|_| std::cell::Cell::new((std::time::Instant::now(), cpu_seconds()))),
        )
    }

    fn lap(&self, what: &str) {
        if let Some(cell) = &self.0 {
            let (now, cpu) = (std::time::Instant::now(), cpu_seconds());
            let (then, cpu_then) = cell.get();
            eprintln!(
                "leakhound: timing: {what}: {:.3}s wall, {:.2}s cpu, peak RSS so far {} MiB",
                (now - then).as_secs_f64(),
                cpu - cpu_then,
                peak_rss_kib() / 1024
            );
            cell.set((now, cpu));
        }
    }
}

/// The process's peak resident set so far, in KiB (Linux; 0 elsewhere).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap_or_default();
    line.trim().trim_end_matches("kB").trim().parse().unwrap_or(0)
}

/// User plus system CPU seconds of this process so far (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest) else { return 0.0 };
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat(5), counted from after the command name; 100 ticks a second.
    (ticks(11) + ticks(12)) / 100.0
}

/// A progress bar on stderr (objects, bytes, rate, ETA), or nothing.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    bytes: AtomicU64,
}

impl Progress {
    fn new(enabled: bool, what: &str) -> Progress {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stderr_with_hz(8),
            );
            let style = indicatif::ProgressStyle::with_template(
                "{prefix:>8} {wide_bar} {human_pos}/{human_len} {msg} ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(what.to_owned());
            bar
        });
        Progress { bar, bytes: AtomicU64::new(0) }
    }

    fn set_total(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(n);
        }
    }

    fn inc(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            let total = self.bytes.fetch_add(bytes, Relaxed) + bytes;
            bar.inc(1);
            if total > 0 && bar.position() % 1024 == 0 {
                let rate = total as f64 / bar.elapsed().as_secs_f64().max(0.001) / 1_048_576.0;
                bar.set_message(format!("({} MiB, {rate:.0} MiB/s)", total >> 20));
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
