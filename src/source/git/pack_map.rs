//! Pack files mapped into memory, with the pages already read let go as the scan goes on.
//!
//! A history scan reads every entry of a pack once, in pack order for blobs and scattered for
//! trees. A plain mapping keeps every page it touched in the process's resident set until the
//! end: on git.git that was the whole 496 MiB pack, twice over (the blob read and the walk each
//! map it), for pages that are never read again. [`PackMap::read`] counts what was decoded from
//! a pack and, every [`RELEASE_EVERY`] bytes, drops the mapping's pages from the resident set
//! (`MADV_DONTNEED`); the kernel keeps them in its page cache, so a page read again later costs
//! a minor fault, not a disk read.

use std::io;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Bytes decoded from one pack between two releases of its pages. Each read maps the 64 KiB
/// around it (the kernel's fault-around), and the entries a traversal reads are scattered: on
/// git.git, 256 MiB between releases still left 80 to 140 MB of the pack resident.
const RELEASE_EVERY: usize = 16 << 20;

/// The kernel's default fault-around window: what a read fault maps of a file mapping.
const FAULT_AROUND: usize = 64 << 10;

/// A read-only mapping of a pack file; clones share it.
#[derive(Clone)]
pub struct PackMap(Arc<Mapped>);

struct Mapped {
    map: memmap2::Mmap,
    /// Bytes decoded since the last release.
    decoded: AtomicUsize,
}

impl PackMap {
    /// Opens the pack at `path` as `gix-pack` data, with a handle on its mapping.
    pub fn open(path: &Path) -> Result<(gix_pack::data::File<PackMap>, PackMap), String> {
        let map = PackMap::map(path).map_err(|e| format!("cannot open pack: {e}"))?;
        let data = gix_pack::data::File::from_data(map.clone(), path.to_owned(), SHA1)
            .map_err(|e| format!("cannot open pack: {e}"))?;
        Ok((data, map))
    }

    #[allow(unsafe_code)]
    fn map(path: &Path) -> io::Result<PackMap> {
        let file = std::fs::File::open(path)?;
        // SAFETY: git never rewrites a pack in place (a repack writes a new file and renames
        // it), which is the assumption `gix-pack` and git itself make when they map packs.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(PackMap(Arc::new(Mapped { map, decoded: AtomicUsize::new(0) })))
    }

    /// Notes that an entry of `bytes` was decoded from this pack, and lets its pages go when
    /// enough were since the last time. A small entry counts as the window its fault mapped:
    /// counted by their own size, the tree pass's scattered entries (a delta of a few hundred
    /// bytes each) mapped 100 MiB between two releases on git.git.
    pub fn read(&self, bytes: usize) {
        let bytes = bytes.max(FAULT_AROUND);
        let before = self.0.decoded.fetch_add(bytes, Relaxed);
        if before < RELEASE_EVERY && before + bytes >= RELEASE_EVERY {
            self.0.decoded.store(0, Relaxed);
            self.release();
        }
    }

    /// Drops the mapping's pages from the resident set.
    #[allow(unsafe_code)]
    pub fn release(&self) {
        // SAFETY: a read-only, shared mapping of a file: dropping its pages from this process
        // changes no content, and the next read of one maps the same file page again (another
        // thread reading meanwhile only takes that fault). Failure is harmless: the pages stay.
        let _ = unsafe { self.0.map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
    }
}

impl Deref for PackMap {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0.map
    }
}

const SHA1: gix_hash::Kind = gix_hash::Kind::Sha1;
