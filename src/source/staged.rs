//! Staged changes: what `git commit` is about to record. The index is diffed against `HEAD` (or
//! against nothing, before the first commit), and every new or changed file is yielded as the
//! blob git will store; on request, [`Reader::added_lines`] gives the 1-based line ranges the
//! commit adds to it.
//!
//! Why whole blobs plus line ranges rather than the added lines alone: a rule's regex may need
//! context around a secret (a keyword on the line above, a PEM header), so the caller scans the
//! staged blob and keeps the matches whose span touches an added line. The added lines are
//! computed only for blobs with matches: they need the committed blob, which in a packed history
//! sits at the end of a delta chain and was half the cost of a 10-file scan (callgrind, 20,000
//! commits); a clean commit never reads it.
//!
//! Cost does not grow with history: only `HEAD`'s tree, the index, and the changed blobs are
//! read. Unstaged working-tree edits are never read. This module knows nothing of rules; it
//! hands blobs to a callback and reports skips and failures to a [`Sink`].

use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use git2::{
    Delta, DiffFindOptions, DiffOptions, ErrorCode, FileMode, Index, Oid, Patch, Repository,
};
use rayon::prelude::*;

use super::git::{loose, packs};
use super::{Sink, Skip, archive};
use crate::blob::{Blob, BlobId};
use crate::error::ScanError;
use crate::finding::Provenance;

/// Why the staged changes of a repository cannot be listed at all.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No repository at or above the path.
    #[error(
        "{path} is not inside a git repository: run `leakhound staged` in one or pass its path \
         (use `leakhound dir` for plain directories)"
    )]
    NotARepository {
        /// The path searched from.
        path: PathBuf,
    },
    /// A bare repository has no index.
    #[error("{path} is a bare repository: it has no index, so nothing is staged")]
    Bare {
        /// The repository.
        path: PathBuf,
    },
    /// libgit2 failed on the repository, its index or `HEAD`.
    #[error("cannot read {what} of {path}: {message}")]
    Git {
        /// The repository.
        path: PathBuf,
        /// What was being read (`the index`, `HEAD`).
        what: &'static str,
        /// libgit2's message.
        message: String,
    },
}

/// How to read the staged files.
#[derive(Debug, Clone)]
pub struct StagedOptions {
    /// Staged blobs larger than the file cap are not read (see [`Item::TooLarge`]), unless
    /// they are archives within the archive cap.
    pub caps: archive::SizeCaps,
}

/// The lines of a staged file that the commit adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddedLines {
    /// A new file (or one that was not a regular file before): every line.
    All,
    /// 1-based inclusive line ranges, ascending and disjoint.
    Ranges(Vec<(usize, usize)>),
}

impl AddedLines {
    /// True when the 1-based inclusive span `first..=last` touches an added line.
    pub fn touches(&self, first: usize, last: usize) -> bool {
        match self {
            AddedLines::All => true,
            AddedLines::Ranges(ranges) => {
                // First range ending at or after `first`; it touches when it starts by `last`.
                let i = ranges.partition_point(|&(_, end)| end < first);
                ranges.get(i).is_some_and(|&(start, _)| start <= last)
            }
        }
    }
}

/// One staged file to scan: the blob git will store, where, and which lines are new.
#[derive(Debug, Clone)]
pub struct StagedBlob {
    /// The content in the index, with its git blob id.
    pub blob: Blob,
    /// The path, relative to the repository root.
    pub provenance: Provenance,
    /// The committed blob it replaces, when that was a regular file.
    old: Option<Oid>,
}

/// What the source hands its caller.
#[derive(Debug, Clone)]
pub enum Item {
    /// A file to scan.
    Blob(Box<StagedBlob>),
    /// A staged file over the size cap: not read. Named, so that a hook can say which file
    /// went unscanned.
    TooLarge {
        /// The path, relative to the repository root.
        path: String,
        /// Its size in bytes.
        size: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Changed,
    Deleted,
    Conflicted,
}

/// One path whose staged content differs from `HEAD`.
#[derive(Debug, Clone)]
pub struct Change {
    /// The path in the index, relative to the repository root (lossy UTF-8).
    pub path: String,
    kind: Kind,
    old: Option<(Oid, FileMode)>,
    new: Option<(Oid, FileMode)>,
}

impl Change {
    /// True when the change deletes the path (nothing to scan).
    pub fn is_deletion(&self) -> bool {
        self.kind == Kind::Deleted
    }
}

/// A repository opened for a staged scan.
pub struct Staged {
    repo: Repository,
    index: Index,
    head_tree: Option<Oid>,
    root: PathBuf,
}

impl Staged {
    /// Opens the repository holding `path` (searching upwards), its index, and `HEAD`'s tree.
    ///
    /// Inside a git hook, `GIT_INDEX_FILE` names the index being committed (`git commit -a` and
    /// `git commit PATH` build a temporary one); it is honoured when it lies in this
    /// repository's git directory, so a stray variable cannot point a scan at another index.
    pub fn open(path: &Path) -> Result<Staged, OpenError> {
        // libgit2 re-hashes every object it reads; git itself does not. In a 20,000-commit
        // history that was 10% of a 10-file scan's instructions (callgrind), spent re-checking
        // HEAD's trees and the deltified blobs.
        git2::opts::strict_hash_verification(false);
        let repo = Repository::discover(path).map_err(|e| {
            if e.code() == ErrorCode::NotFound {
                OpenError::NotARepository { path: path.to_owned() }
            } else {
                OpenError::Git { path: path.to_owned(), what: "the repository", message: msg(&e) }
            }
        })?;
        let Some(root) = repo.workdir().map(Path::to_path_buf) else {
            return Err(OpenError::Bare { path: repo.path().to_owned() });
        };
        let git =
            |what, e: &git2::Error| OpenError::Git { path: root.clone(), what, message: msg(e) };
        let index = match hook_index(&repo) {
            Some(file) => {
                let mut index = Index::open(&file).map_err(|e| git("the index", &e))?;
                // Attribute lookups (made while diffing) read the repository's index: let them
                // use this one rather than load `.git/index` a second time.
                repo.set_index(&mut index).map_err(|e| git("the index", &e))?;
                index
            }
            None => repo.index().map_err(|e| git("the index", &e))?,
        };
        let head_tree = match repo.head() {
            Ok(head) => Some(head.peel_to_tree().map_err(|e| git("HEAD", &e))?.id()),
            // Before the first commit every staged line is new.
            Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => None,
            Err(e) => return Err(git("HEAD", &e)),
        };
        Ok(Staged { repo, index, head_tree, root })
    }

    /// The working tree's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The paths whose staged content differs from `HEAD`, renames detected (a renamed file
    /// adds only the lines it changed). Reads `HEAD`'s tree and the index, no blob content
    /// except for rename candidates.
    pub fn changes(&self) -> Result<Vec<Change>, OpenError> {
        let git = |e: &git2::Error| OpenError::Git {
            path: self.root.clone(),
            what: "the staged changes",
            message: msg(e),
        };
        let tree = match self.head_tree {
            Some(id) => Some(self.repo.find_tree(id).map_err(|e| git(&e))?),
            None => None,
        };
        let mut options = DiffOptions::new();
        options.include_typechange(true).ignore_submodules(false);
        let mut diff = self
            .repo
            .diff_tree_to_index(tree.as_ref(), Some(&self.index), Some(&mut options))
            .map_err(|e| git(&e))?;
        diff.find_similar(Some(DiffFindOptions::new().renames(true))).map_err(|e| git(&e))?;
        let side = |file: git2::DiffFile<'_>| {
            (!file.id().is_zero() || file.mode() == FileMode::Commit)
                .then(|| (file.id(), file.mode()))
        };
        let changes = diff
            .deltas()
            .filter_map(|delta| {
                let kind = match delta.status() {
                    Delta::Added
                    | Delta::Modified
                    | Delta::Renamed
                    | Delta::Copied
                    | Delta::Typechange => Kind::Changed,
                    Delta::Deleted => Kind::Deleted,
                    Delta::Conflicted => Kind::Conflicted,
                    Delta::Unmodified | Delta::Ignored | Delta::Untracked | Delta::Unreadable => {
                        return None;
                    }
                };
                let file = if kind == Kind::Deleted { delta.old_file() } else { delta.new_file() };
                let path = String::from_utf8_lossy(file.path_bytes().unwrap_or_default());
                Some(Change {
                    path: path.into_owned(),
                    kind,
                    old: side(delta.old_file()),
                    new: side(delta.new_file()),
                })
            })
            .collect();
        Ok(changes)
    }

    /// Drops `HEAD`'s tree, keeping what reading blobs needs.
    pub fn into_reader(self) -> Reader {
        Reader { repo: Mutex::new(self.repo) }
    }
}

/// Reads staged blobs from any thread. libgit2 reads are serialised behind one repository
/// handle: a handle per worker was tried and cost more than it saved, since computing a patch
/// looks up diff attributes, which made each new handle load the index again (callgrind: 80M
/// instructions more for a 10-file commit). Scanning, which runs in parallel, is unaffected.
pub struct Reader {
    repo: Mutex<Repository>,
}

impl Reader {
    /// Reads every changed file in `changes` and hands it to `each`, in parallel. Submodules,
    /// symlinks and binary files are counted as skipped; conflicts and unreadable blobs are
    /// errors.
    pub fn scan(
        &self,
        changes: Vec<Change>,
        options: &StagedOptions,
        sink: &dyn Sink,
        each: &(dyn Fn(Item) + Sync),
    ) {
        changes.into_par_iter().with_max_len(1).for_each(|change| {
            let item = {
                let repo = self.repo.lock().unwrap_or_else(PoisonError::into_inner);
                read(&repo, change, options, sink)
            };
            if let Some(item) = item {
                each(item);
            }
        });
    }

    /// The lines `staged` adds to the committed file it replaces (all of them for a new file).
    pub fn added_lines(&self, staged: &StagedBlob) -> Result<AddedLines, ScanError> {
        let Some(old_id) = staged.old else { return Ok(AddedLines::All) };
        let path = staged.provenance.path.as_str();
        let repo = self.repo.lock().unwrap_or_else(PoisonError::into_inner);
        let old = loose::blob(&repo, old_id).map_err(|why| {
            ScanError::new(path, format!("cannot read committed blob {old_id}: {why}"))
        })?;
        added_lines(&old, &staged.blob.data).map(AddedLines::Ranges).map_err(|e| {
            ScanError::new(
                path,
                format!("cannot diff against committed blob {old_id}: {}", msg(&e)),
            )
        })
    }
}

/// Reads one change; `None` when there is nothing to scan (reported to `sink` when it matters).
fn read(
    repo: &Repository,
    change: Change,
    options: &StagedOptions,
    sink: &dyn Sink,
) -> Option<Item> {
    let path = change.path;
    match change.kind {
        Kind::Deleted => return None,
        Kind::Conflicted => {
            sink.error(ScanError::new(
                path,
                "unmerged (conflicted) in the index: resolve the conflict and `git add` the \
                 file, then scan again",
            ));
            return None;
        }
        Kind::Changed => {}
    }
    let (id, mode) = change.new?;
    if !matches!(mode, FileMode::Blob | FileMode::BlobExecutable) {
        // Submodules (their content is committed in their own repository) and symlinks (the
        // blob is the link target, a path).
        sink.skipped(Skip::Special);
        return None;
    }
    if sink.path_allowed(&path) {
        sink.skipped(Skip::Allowlisted);
        return None;
    }
    let fail = |what: &str, e: &git2::Error| {
        sink.error(ScanError::new(path.as_str(), format!("cannot read {what} {id}: {}", msg(e))));
    };
    let size = match repo.odb().and_then(|odb| odb.read_header(id)) {
        Ok((size, _)) => size as u64,
        Err(e) => {
            fail("staged blob", &e);
            return None;
        }
    };
    if size > options.caps.read_limit() {
        return Some(Item::TooLarge { path, size });
    }
    // `git add` stores blobs loose; they are inflated here, not by libgit2, which hangs on one
    // cut short (see `loose`). One over the file cap is read whole only when its head is an
    // archive's (a packed one is read whole to tell).
    let dirs = packs::object_dirs(repo.commondir());
    let head = (size > options.caps.file).then(|| loose::head(&dirs, id)).flatten();
    let skip = |data: &[u8]| match options.caps.skip_after_head(data, size) {
        Some(Skip::Binary) => {
            sink.skipped(Skip::Binary);
            Some(None)
        }
        Some(_) => Some(Some(Item::TooLarge { path: path.clone(), size })),
        None => None,
    };
    if let Some(item) = head.as_deref().and_then(skip) {
        return item;
    }
    let data = match loose::blob(repo, id) {
        Ok(data) => data,
        Err(why) => {
            sink.error(ScanError::new(
                path.as_str(),
                format!("cannot read staged blob {id}: {why}"),
            ));
            return None;
        }
    };
    if let Some(item) = skip(&data) {
        return item;
    }
    let old = match change.old {
        Some((old_id, FileMode::Blob | FileMode::BlobExecutable)) => Some(old_id),
        // Added, or a symlink/submodule that became a file: every line is new.
        _ => None,
    };
    let blob = Blob { id: id.as_bytes().try_into().ok().map(BlobId), data };
    Some(Item::Blob(Box::new(StagedBlob { blob, provenance: Provenance::file(path), old })))
}

/// The line ranges `new` adds to `old`. Without context lines every hunk's new side is exactly
/// the added lines, so the hunk headers suffice and no line is visited. Git counts lines at `\n`
/// only; where a CR may end lines too, the ranges are recounted as the engine counts them.
fn added_lines(old: &[u8], new: &[u8]) -> Result<Vec<(usize, usize)>, git2::Error> {
    let mut options = DiffOptions::new();
    options.context_lines(0).interhunk_lines(0).force_text(true);
    let patch = Patch::from_buffers(old, None, new, None, Some(&mut options))?;
    let mut ranges = Vec::with_capacity(patch.num_hunks());
    for i in 0..patch.num_hunks() {
        let (hunk, _) = patch.hunk(i)?;
        let (start, lines) = (hunk.new_start() as usize, hunk.new_lines() as usize);
        if lines > 0 {
            ranges.push((start, start + lines - 1));
        }
    }
    // UTF-16's CR is `0D 00`: recounting its raw bytes would find a lone CR in every CRLF.
    if memchr::memchr(b'\r', new).is_some() && crate::blob::utf16(new).is_none() {
        ranges = crate::engine::location::from_lf_lines(new, &ranges);
    }
    Ok(ranges)
}

/// The index a running `git commit` names in `GIT_INDEX_FILE`, if it belongs to `repo`.
fn hook_index(repo: &Repository) -> Option<PathBuf> {
    let file = PathBuf::from(std::env::var_os("GIT_INDEX_FILE")?);
    let file = if file.is_absolute() { file } else { std::env::current_dir().ok()?.join(file) };
    let file = normalize(&file);
    let inside = |dir: &Path| {
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
        let parent = file.parent().and_then(|p| p.canonicalize().ok());
        parent.is_some_and(|p| p.starts_with(&dir))
    };
    (inside(repo.path()) || inside(repo.commondir())).then_some(file)
}

/// Removes `.` and resolves `..` lexically.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// libgit2 messages without the class/code suffix noise.
fn msg(e: &git2::Error) -> String {
    e.message().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touches_ranges() {
        let added = AddedLines::Ranges(vec![(3, 4), (10, 10)]);
        assert!(!added.touches(1, 2));
        assert!(added.touches(2, 3));
        assert!(added.touches(4, 9));
        assert!(!added.touches(5, 9));
        assert!(added.touches(10, 10));
        assert!(added.touches(1, 20));
        assert!(!added.touches(11, 11));
        assert!(AddedLines::All.touches(7, 7));
        assert!(!AddedLines::Ranges(Vec::new()).touches(1, 1));
    }

    #[test]
    fn normalizes_lexically() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }
}
