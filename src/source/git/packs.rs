//! The bulk read of a repository's blobs: every blob in the object database, each inflated once.
//!
//! Packs are read with `gix-pack`'s delta-tree traversal: entries are visited in pack order, each
//! delta is applied once to a base still in memory (no LRU cache, no misses), and the roots are
//! spread over all cores. Only blobs and their delta chains are put in the tree (a delta has its
//! base's type), so trees and commits, most of a pack's inflated bytes, are never inflated.
//! Loose objects, and the fallback reader, go through `git2`.
//!
//! Measured on the synthetic 20,000-commit history (benches/git-history.sh, 2 cores): see the
//! numbers in [`Reader`]. Knows nothing of rules: it hands `(id, bytes)` to a callback.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, PoisonError};

use gix_pack::data::entry::Header;
use rayon::prelude::*;

use super::loose;
use super::pack_map::PackMap;
use crate::blob::{BINARY_PROBE, BlobId};
use crate::error::ScanError;
use crate::source::archive::SizeCaps;

/// How blobs are read in bulk. `gix-pack` is the default; `git2` is kept to compare (set
/// `LEAKHOUND_GIT_READER=git2`) and as the fallback for a pack `gix-pack` cannot traverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// Pack-order delta-tree traversal with `gix-pack`.
    Gix,
    /// libgit2's object database, in object-id order (the only order it offers).
    Git2,
}

impl Reader {
    /// The reader chosen by `LEAKHOUND_GIT_READER` (`gix` or `git2`), `gix` by default.
    pub fn from_env() -> Reader {
        match std::env::var("LEAKHOUND_GIT_READER").as_deref() {
            Ok("git2") => Reader::Git2,
            _ => Reader::Gix,
        }
    }
}

/// What the bulk read needs from its caller.
pub struct Visitor<'a> {
    /// Called with each blob's id and content, from any worker thread.
    pub blob: &'a (dyn Fn(BlobId, &[u8]) + Sync),
    /// Called for a blob not read because it is larger than the cap: id and size (`None` for a
    /// delta whose base is over the cap).
    pub too_large: &'a (dyn Fn(BlobId, Option<u64>) + Sync),
    /// Called for a failure (a corrupt pack, an unreadable object).
    pub error: &'a (dyn Fn(ScanError) + Sync),
    /// Called once with the number of blobs about to be read, for progress.
    pub total: &'a (dyn Fn(u64) + Sync),
    /// True for a blob the caller already has the result of (from `--cache`): not read, unless
    /// another blob's delta needs it as a base (then it is inflated but not passed to `blob`).
    pub cached: &'a (dyn Fn(&BlobId) -> bool + Sync),
}

/// The object directories git's environment names: `GIT_OBJECT_DIRECTORY` and
/// `GIT_ALTERNATE_OBJECT_DIRECTORIES` (colon-separated). In a pre-receive hook they are the push's
/// quarantine area, where the pushed objects wait until the hook accepts them: read in place,
/// never copied. Empty outside such an environment.
pub fn env_object_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("GIT_OBJECT_DIRECTORY").map(PathBuf::from).into_iter().collect();
    if let Some(list) = std::env::var_os("GIT_ALTERNATE_OBJECT_DIRECTORIES") {
        dirs.extend(std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()));
    }
    dirs
}

/// Opens the repository at `git_dir` with the object directories of [`env_object_dirs`] added
/// as alternates, so every handle (each walker thread opens its own) sees a push's quarantined
/// objects as `Repository::open_from_env` does.
pub fn open_with_env_objects(git_dir: &Path) -> Result<git2::Repository, git2::Error> {
    let repo = git2::Repository::open(git_dir)?;
    let odb = repo.odb()?;
    for dir in env_object_dirs() {
        odb.add_disk_alternate(&dir.to_string_lossy())?;
    }
    drop(odb);
    Ok(repo)
}

/// Every object directory of the repository: those git's environment names (a push's
/// quarantine, see [`env_object_dirs`]), its own, then its alternates.
pub fn object_dirs(common_dir: &Path) -> Vec<PathBuf> {
    let own = common_dir.join("objects");
    let mut dirs = env_object_dirs();
    if !dirs.contains(&own) {
        dirs.push(own.clone());
    }
    if let Ok(text) = std::fs::read_to_string(own.join("info/alternates")) {
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let path = Path::new(line);
            dirs.push(if path.is_absolute() { path.to_owned() } else { own.join(path) });
        }
    }
    // The environment's alternates usually repeat the repository's own directory: a pack read
    // twice would report its findings twice.
    let mut seen = HashSet::new();
    dirs.retain(|d| seen.insert(d.canonicalize().unwrap_or_else(|_| d.clone())));
    dirs
}

/// The packs in `dirs` that do not match their index: a trailing checksum other than the one the
/// index records, or another object count. libgit2 refuses such a pack, so every commit and tree
/// in it would silently drop out of the walk: one flipped byte in a trailer gave "0 findings, 0
/// errors" (issue #19). Reads a pack's header and trailer and its index's, not its content:
/// hashing every pack to check the trailer itself would cost a SHA-1 pass over the whole history,
/// and a damaged entry inside a pack is caught anyway (CRC and zlib checks as it is inflated).
pub fn mismatched_packs(dirs: &[PathBuf]) -> Vec<ScanError> {
    let mut out = Vec::new();
    for (idx, pack) in dirs.iter().flat_map(|dir| pack_files(&dir.join("pack"))) {
        let index = match gix_pack::index::File::at(&idx, gix_hash::Kind::Sha1) {
            Ok(index) => index,
            Err(e) => {
                out.push(ScanError::new(idx.display().to_string(), format!("cannot read it: {e}")));
                continue;
            }
        };
        let problem = match gix_pack::data::File::at(&pack, gix_hash::Kind::Sha1) {
            Err(e) => Some(format!("cannot open it: {e}")),
            Ok(data) if data.checksum() != index.pack_checksum() => Some(format!(
                "its trailing checksum {} is not the {} its index records",
                data.checksum(),
                index.pack_checksum()
            )),
            Ok(data) if data.num_objects() != index.num_objects() => Some(format!(
                "it holds {} objects where its index lists {}",
                data.num_objects(),
                index.num_objects()
            )),
            Ok(_) => None,
        };
        if let Some(problem) = problem {
            out.push(ScanError::new(
                pack.display().to_string(),
                format!(
                    "damaged pack: {problem}; git cannot read its objects, so the commits in it \
                     were not scanned (run `git fsck`; restore the pack from a good clone)"
                ),
            ));
        }
    }
    out
}

/// Reads every blob in `dirs` and returns the ids of all blobs the object database holds (read or
/// not), so the caller can tell a missing blob from one it skipped.
pub fn read_all(
    dirs: &[PathBuf],
    odb: &git2::Odb<'_>,
    reader: Reader,
    caps: SizeCaps,
    visit: &Visitor<'_>,
) -> HashSet<BlobId> {
    if reader == Reader::Git2 {
        return read_all_git2(dirs, odb, caps, visit);
    }
    let mut packs = Vec::new();
    let mut loose = Vec::new();
    for dir in dirs {
        packs.extend(pack_files(&dir.join("pack")));
        loose.extend(loose_ids(dir));
    }
    let mut plans = Vec::new();
    let select = Select::Blobs { caps, cached: visit.cached };
    for (idx, pack) in packs {
        match plan(&idx, &pack, &select) {
            Ok(p) => plans.push(p),
            Err(message) => (visit.error)(ScanError::new(pack.display().to_string(), message)),
        }
    }
    let total = plans.iter().map(|p| p.objects.len() as u64).sum::<u64>() + loose.len() as u64;

    (visit.total)(total);
    let mut known: HashSet<BlobId> = HashSet::new();
    for p in plans {
        known.extend(p.objects.iter().map(|e| BlobId(oid_bytes(&e.oid))));
        known.extend(p.cached.iter().copied());
        // (The first entry may be a non-blob kept for the traversal; an extra id is harmless:
        // `known` only tells missing blobs from present ones.)
        for (id, size) in &p.too_large {
            known.insert(*id);
            (visit.too_large)(*id, *size);
        }
        if p.objects.is_empty() {
            continue;
        }
        let blob = |entry: &gix_pack::index::Entry, header: &Header, data: &[u8]| {
            if matches!(header, Header::Blob) {
                (visit.blob)(BlobId(oid_bytes(&entry.oid)), data);
            }
        };
        if let Err(message) = traverse(&p, blob) {
            (visit.error)(ScanError::new(
                p.pack.display().to_string(),
                format!(
                    "{message}: the pack is damaged; its blobs are read one by one instead \
                     (run `git fsck` to find the damage)"
                ),
            ));
            read_listed(
                dirs,
                odb,
                p.objects.iter().map(|e| BlobId(oid_bytes(&e.oid))),
                caps,
                visit,
            );
        }
    }
    let loose_blobs: Vec<BlobId> = loose
        .into_iter()
        .filter(|id| {
            if (visit.cached)(id) {
                known.insert(*id);
                return false;
            }
            git2::Oid::from_bytes(&id.0).is_ok_and(|oid| {
                odb.read_header(oid).is_ok_and(|(_, kind)| kind == git2::ObjectType::Blob)
            })
        })
        .collect();
    known.extend(loose_blobs.iter().copied());
    read_listed(dirs, odb, loose_blobs.into_iter(), caps, visit);
    known
}

/// Every tree, or every commit, of the packs in some object directories, planned to be read in
/// pack order.
pub(super) struct PacksOf {
    kind: Every,
    plans: Vec<Plan>,
}

impl PacksOf {
    /// Plans the reading of every object of `kind` (a tree or a commit) in the packs of `dirs`;
    /// an error names a pack that cannot be planned.
    pub(super) fn plan(dirs: &[PathBuf], kind: Every) -> Result<PacksOf, String> {
        let packs = dirs.iter().flat_map(|dir| pack_files(&dir.join("pack")));
        let plans = packs.map(|(idx, pack)| plan(&idx, &pack, &Select::Every(kind)));
        plans.collect::<Result<_, _>>().map(|plans| PacksOf { kind, plans })
    }

    /// The ids of the objects to be read (and perhaps of a pack's first entry, another type).
    pub(super) fn ids(&self) -> impl Iterator<Item = &gix_hash::oid> {
        self.plans.iter().flat_map(|p| p.objects.iter().map(|e| e.oid.as_ref()))
    }

    /// Inflates every object of the planned kind once, on all rayon threads. Each thread fills a
    /// `T` of its own with `each` (given the object's id and bytes), and every thread's `T` is
    /// returned. An error names a pack that could not be traversed.
    pub(super) fn gather<T, F>(&self, each: F) -> Result<Vec<T>, String>
    where
        T: Default + Send,
        F: Fn(&mut T, &gix_hash::oid, &[u8]) + Sync,
    {
        let parts = Mutex::new(Vec::new());
        let kind = self.kind;
        for p in &self.plans {
            let mut part = Part { each: &each, into: &parts, mine: T::default() };
            let of_kind = move |entry: &gix_pack::index::Entry, header: &Header, data: &[u8]| {
                if kind.is(header) {
                    part.fill(&entry.oid, data);
                }
            };
            traverse(p, of_kind).map_err(|e| format!("{}: {e}", p.pack.display()))?;
        }
        Ok(parts.into_inner().unwrap_or_else(PoisonError::into_inner))
    }
}

/// One traversal thread's part of [`PacksOf::gather`], handed over when the thread drops it.
struct Part<'a, T: Default, F> {
    each: &'a F,
    into: &'a Mutex<Vec<T>>,
    mine: T,
}

impl<T: Default, F: Fn(&mut T, &gix_hash::oid, &[u8])> Part<'_, T, F> {
    fn fill(&mut self, id: &gix_hash::oid, data: &[u8]) {
        (self.each)(&mut self.mine, id, data);
    }
}

impl<T: Default, F> Clone for Part<'_, T, F> {
    fn clone(&self) -> Self {
        Part { each: self.each, into: self.into, mine: T::default() }
    }
}

impl<T: Default, F> Drop for Part<'_, T, F> {
    fn drop(&mut self) {
        let mine = std::mem::take(&mut self.mine);
        self.into.lock().unwrap_or_else(PoisonError::into_inner).push(mine);
    }
}

/// The kinds of object a pass reads every one of.
#[derive(Debug, Clone, Copy)]
pub(super) enum Every {
    Tree,
    Commit,
}

impl Every {
    /// True for an entry stored whole as this kind.
    fn is(self, header: &Header) -> bool {
        matches!((self, header), (Every::Tree, Header::Tree) | (Every::Commit, Header::Commit))
    }
}

/// Which objects of a pack a traversal reads.
enum Select<'a> {
    /// Blobs within the caps that the caller has not `cached`.
    Blobs { caps: SizeCaps, cached: &'a (dyn Fn(&BlobId) -> bool + Sync) },
    /// Every object of a kind.
    Every(Every),
}

/// What one pack holds that matters: the objects to read in pack order (with their delta bases,
/// which are of their type too), the blobs the caller has cached and no read needs, and those
/// skipped for size.
struct Plan {
    pack: PathBuf,
    data: gix_pack::data::File<PackMap>,
    map: PackMap,
    index: gix_pack::index::File,
    objects: Vec<gix_pack::index::Entry>,
    cached: Vec<BlobId>,
    too_large: Vec<(BlobId, Option<u64>)>,
}

/// `(index, pack)` pairs in a pack directory.
pub(super) fn pack_files(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(PathBuf, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "idx"))
        .map(|idx| {
            let pack = idx.with_extension("pack");
            (idx, pack)
        })
        .collect();
    out.sort();
    out
}

/// Ids of loose objects (`objects/ab/cdef…`).
pub(super) fn loose_ids(dir: &Path) -> Vec<BlobId> {
    let mut out = Vec::new();
    let Ok(fanout) = std::fs::read_dir(dir) else { return out };
    for sub in fanout.filter_map(Result::ok) {
        let name = sub.file_name();
        let Some(prefix) = name.to_str().filter(|n| n.len() == 2 && is_hex(n)) else { continue };
        let Ok(files) = std::fs::read_dir(sub.path()) else { continue };
        for file in files.filter_map(Result::ok) {
            let rest = file.file_name();
            let Some(rest) = rest.to_str().filter(|r| r.len() == 38 && is_hex(r)) else { continue };
            if let Ok(oid) = git2::Oid::from_str(&format!("{prefix}{rest}")) {
                out.push(BlobId(oid_bytes_git2(oid)));
            }
        }
    }
    out
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(super) fn oid_bytes(oid: &gix_hash::oid) -> [u8; 20] {
    let mut out = [0; 20];
    let bytes = oid.as_bytes();
    let n = bytes.len().min(20);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

/// The 20 bytes of a `git2` id.
pub fn oid_bytes_git2(oid: git2::Oid) -> [u8; 20] {
    let mut out = [0; 20];
    let bytes = oid.as_bytes();
    let n = bytes.len().min(20);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

/// Bytes of pack whose entry headers are read between two releases of the pack's pages: reading
/// every header touches every page of the pack, and the traversal reads it again part by part.
/// (Counted in entries, 65,536 of them, a release came after half of the synthetic history's
/// pack: 120 MB resident, while the blob traversal had its own pages in.)
const RELEASE_HEADERS_EVERY: u64 = 16 << 20;

/// Reads a pack's entry headers in offset order (cheap: no inflation) and keeps the objects
/// `select` names. An entry's type is its own, or, for a delta, its base's: bases come first for
/// offset deltas; reference deltas may point forward, so those are settled in further passes.
/// Blobs `cached` names are left out, unless a blob to read is a delta of them.
fn plan(idx: &Path, pack: &Path, select: &Select<'_>) -> Result<Plan, String> {
    let index = gix_pack::index::File::at(idx, gix_hash::Kind::Sha1)
        .map_err(|e| format!("cannot read pack index {}: {e}", idx.display()))?;
    let (data, map) = PackMap::open(pack)?;
    let mut entries: Vec<gix_pack::index::Entry> = index.iter().collect();
    entries.sort_unstable_by_key(|e| e.pack_offset);
    let offsets: Vec<u64> = entries.iter().map(|e| e.pack_offset).collect();
    // 0: not known yet, 1: selected type, 2: other type, 3: blob over the caps (see
    // `worth_inflating`), 4: delta of a blob over them (skipped with it: its base will not be
    // inflated).
    let mut kind = vec![0u8; entries.len()];
    let mut base_of = vec![usize::MAX; entries.len()];
    let mut sizes = vec![0u64; entries.len()];
    let mut released_at = 0;
    for (i, e) in entries.iter().enumerate() {
        if e.pack_offset - released_at >= RELEASE_HEADERS_EVERY {
            map.release();
            released_at = e.pack_offset;
        }
        let entry = data
            .entry(e.pack_offset)
            .map_err(|err| format!("damaged entry at offset {}: {err}", e.pack_offset))?;
        sizes[i] = entry.decompressed_size;
        let base_offset = match (&entry.header, select) {
            (Header::Blob, Select::Blobs { caps, .. }) => {
                kind[i] = if worth_inflating(&data, &entry, *caps) { 1 } else { 3 };
                continue;
            }
            (header, Select::Every(every)) if every.is(header) => {
                kind[i] = 1;
                continue;
            }
            (Header::Blob | Header::Tree | Header::Commit | Header::Tag, _) => {
                kind[i] = 2;
                continue;
            }
            (Header::OfsDelta { base_distance }, _) => {
                Header::verified_base_pack_offset(e.pack_offset, *base_distance)
            }
            (Header::RefDelta { base_id }, _) => {
                index.lookup(base_id).map(|n| index.pack_offset_at_index(n))
            }
        };
        let base = base_offset
            .and_then(|o| offsets.binary_search(&o).ok())
            .ok_or_else(|| format!("delta at offset {} has no base in this pack", e.pack_offset))?;
        base_of[i] = base;
        // A delta of a skipped blob is skipped too: its base will not be inflated.
        kind[i] = if kind[base] == 3 { 4 } else { kind[base] };
    }
    // Forward reference deltas (rare: git writes bases first) take their base's type now.
    let mut changed = true;
    while changed {
        changed = false;
        for i in 0..entries.len() {
            if kind[i] == 0 && base_of[i] != usize::MAX && kind[base_of[i]] != 0 {
                kind[i] = if kind[base_of[i]] >= 3 { 4 } else { kind[base_of[i]] };
                changed = true;
            }
        }
    }
    // Objects to read: every one of the selected type not cached, and the delta bases each of
    // them is built from.
    let cached = |id: &gix_hash::oid| match select {
        Select::Blobs { cached, .. } => cached(&BlobId(oid_bytes(id))),
        Select::Every(_) => false,
    };
    let mut read = vec![false; entries.len()];
    for i in 0..entries.len() {
        if kind[i] != 1 || read[i] || cached(&entries[i].oid) {
            continue;
        }
        let mut at = i;
        while at != usize::MAX && !read[at] {
            read[at] = true;
            at = base_of[at];
        }
    }
    let mut objects = Vec::new();
    let mut skipped = Vec::new();
    let mut too_large = Vec::new();
    for (i, e) in entries.into_iter().enumerate() {
        match kind[i] {
            1 if read[i] => objects.push(e),
            1 => {
                skipped.push(BlobId(oid_bytes(&e.oid)));
                if i == 0 {
                    objects.push(e);
                }
            }
            3 => too_large.push((BlobId(oid_bytes(&e.oid)), Some(sizes[i]))),
            4 => too_large.push((BlobId(oid_bytes(&e.oid)), None)),
            // `Tree::from_offsets_in_pack` starts reading at the pack's first entry whatever the
            // first offset it is given, so that entry (a base: nothing precedes it) always goes
            // in; the traversal callback looks at each entry's type.
            _ if i == 0 => objects.push(e),
            _ => {}
        }
    }
    if !read.contains(&true) {
        // Nothing to read (everything cached): no traversal at all.
        objects.clear();
    }
    map.release();
    Ok(Plan { pack: pack.to_owned(), data, map, index, objects, cached: skipped, too_large })
}

/// True when the blob stored whole at `entry` is to be inflated: within the file cap, or an
/// archive within the archive cap, told from its first bytes (inflating a 300 MB log to learn that
/// it is no archive cost a second).
fn worth_inflating(
    data: &gix_pack::data::File<PackMap>,
    entry: &gix_pack::data::Entry,
    caps: SizeCaps,
) -> bool {
    let size = entry.decompressed_size;
    if size <= caps.file || size > caps.read_limit() {
        return size <= caps.file;
    }
    let Some(stored) = data.entry_slice(entry.data_offset..data.pack_end() as u64) else {
        return true;
    };
    let mut head = vec![0; BINARY_PROBE];
    let mut z = flate2::Decompress::new(true);
    match z.decompress(stored, &mut head, flate2::FlushDecompress::None) {
        Ok(_) => {
            head.truncate(z.total_out() as usize);
            caps.worth_reading(&head, size)
        }
        // Damage: inflating the entry whole names it.
        Err(_) => true,
    }
}

/// Inflates every object of the plan once, in pack order, on all rayon threads, and hands each
/// (with its delta bases, and perhaps the pack's first entry, whatever their types) to `inspect`,
/// which each thread clones.
fn traverse<F>(plan: &Plan, mut inspect: F) -> Result<(), String>
where
    F: FnMut(&gix_pack::index::Entry, &Header, &[u8]) + Send + Clone,
{
    use gix_pack::cache::delta::{Tree, traverse::Context, traverse::Options};
    let interrupt = AtomicBool::new(false);
    let mut progress = gix_utils::progress::Discard;
    let index = &plan.index;
    let tree = Tree::from_offsets_in_pack(
        &plan.pack,
        plan.objects.iter().cloned(),
        &|e: &gix_pack::index::Entry| e.pack_offset,
        &|id| Ok(index.lookup(id).map(|n| index.pack_offset_at_index(n))),
        &mut progress,
        &interrupt,
        gix_hash::Kind::Sha1,
    )
    .map_err(|e| e.to_string())?;
    let mut size_progress = gix_utils::progress::Discard;
    tree.traverse(
        |slice, pack: &gix_pack::data::File<PackMap>| pack.entry_slice(slice),
        &plan.data,
        plan.data.pack_end() as u64,
        move |entry: &mut gix_pack::index::Entry, _progress, ctx: Context<'_>| {
            plan.map.read(ctx.decompressed.len());
            inspect(entry, &ctx.entry.header, ctx.decompressed);
            Ok(())
        },
        Options {
            object_progress: Box::new(gix_utils::progress::Discard),
            size_progress: &mut size_progress,
            thread_limit: Some(rayon::current_num_threads()),
            should_interrupt: &interrupt,
            object_hash: gix_hash::Kind::Sha1,
            alloc_limit_bytes: None,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// Reads the listed blobs through libgit2, in parallel (its object database is `Sync`); loose ones
/// are inflated by [`loose`] (libgit2 hangs on a loose object cut short).
pub fn read_listed(
    dirs: &[PathBuf],
    odb: &git2::Odb<'_>,
    ids: impl Iterator<Item = BlobId>,
    caps: SizeCaps,
    visit: &Visitor<'_>,
) {
    let ids: Vec<BlobId> = ids.collect();
    ids.par_iter().with_min_len(64).for_each(|id| read_one(dirs, odb, *id, caps, visit));
}

fn read_one(
    dirs: &[PathBuf],
    odb: &git2::Odb<'_>,
    id: BlobId,
    caps: SizeCaps,
    visit: &Visitor<'_>,
) {
    let Ok(oid) = git2::Oid::from_bytes(&id.0) else { return };
    let over = |size: u64| {
        size > caps.read_limit()
            || (size > caps.file
                && loose::head(dirs, oid).is_some_and(|head| !caps.worth_reading(&head, size)))
    };
    match odb.read_header(oid) {
        Ok((size, _)) if over(size as u64) => (visit.too_large)(id, Some(size as u64)),
        Ok(_) => match loose::read(dirs, oid) {
            Ok(Some(object)) => (visit.blob)(id, &object.data),
            Err(why) => (visit.error)(ScanError::new(format!("blob {id}"), why)),
            Ok(None) => match odb.read(oid) {
                Ok(object) => (visit.blob)(id, object.data()),
                Err(e) => (visit.error)(ScanError::new(format!("blob {id}"), object_message(&e))),
            },
        },
        Err(e) => (visit.error)(ScanError::new(format!("blob {id}"), object_message(&e))),
    }
}

/// A `git2` object error in words a user can act on.
pub fn object_message(e: &git2::Error) -> String {
    if e.code() == git2::ErrorCode::NotFound {
        "missing from the object database (a partial or damaged clone): not scanned; \
         fetch it or run `git fsck`"
            .into()
    } else {
        format!("cannot read it: {}", e.message())
    }
}

/// The comparison reader: every object id from libgit2 (id order), headers, then the blobs.
fn read_all_git2(
    dirs: &[PathBuf],
    odb: &git2::Odb<'_>,
    caps: SizeCaps,
    visit: &Visitor<'_>,
) -> HashSet<BlobId> {
    let mut ids = Vec::new();
    if let Err(e) = odb.foreach(|oid| {
        ids.push(*oid);
        true
    }) {
        (visit.error)(ScanError::new("object database", format!("cannot list objects: {e}")));
    }
    let blobs: Vec<BlobId> = ids
        .par_iter()
        .with_min_len(256)
        .filter(|oid| odb.read_header(**oid).is_ok_and(|(_, k)| k == git2::ObjectType::Blob))
        .map(|oid| BlobId(oid_bytes_git2(*oid)))
        .collect();
    (visit.total)(blobs.len() as u64);
    read_listed(dirs, odb, blobs.iter().copied().filter(|id| !(visit.cached)(id)), caps, visit);
    blobs.into_iter().collect()
}
