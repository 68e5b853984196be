//! Sources turn inputs (directories, git objects, image layers) into [`Blob`]s with a
//! [`Provenance`]. They know nothing of rules: they hand blobs to a [`Sink`].

pub mod archive;
pub mod catalog;
pub mod enumerate;
pub mod fs;
pub mod git;
pub mod gitlab;
pub mod harbor;
pub mod http;
pub mod oci;
pub mod staged;

use crate::blob::Blob;
use crate::error::ScanError;
use crate::finding::{Provenance, Skipped};

/// Why a blob or entry was not scanned (counted, not an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Content looks binary.
    Binary,
    /// Larger than the size cap.
    TooLarge,
    /// FIFO, socket, device, an unfollowed symlink or a submodule: never opened.
    Special,
    /// The path matches a global path allowlist.
    Allowlisted,
}

/// Where sources deliver their output. Implementations are shared across threads.
pub trait Sink: Sync {
    /// Scans `blob`, found at `provenance`.
    fn blob(&self, blob: &Blob, provenance: &Provenance);
    /// Counts something deliberately not scanned.
    fn skipped(&self, why: Skip);
    /// Names something deliberately not scanned in the report (its `skipped` list), for what a
    /// reader must know about beyond a count: an oversized blob, a Git LFS pointer, a submodule.
    /// Sinks that keep a report ([`crate::scan::Scan`]) record it.
    fn not_scanned(&self, item: Skipped);
    /// Records a failure: the run will exit 2.
    fn error(&self, error: ScanError);
    /// True when files at `path` need not be read at all (a global path allowlist).
    fn path_allowed(&self, path: &str) -> bool;
}
