//! Blobs: the bytes every source produces and the engine scans, with a git-style id so identical
//! content from any source is recognised as the same.

use std::fmt;

/// A git blob id: SHA-1 of `blob <len>\0` followed by the content.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(pub [u8; 20]);

impl BlobId {
    /// The id git would give `data`.
    pub fn of(data: &[u8]) -> BlobId {
        use sha1::{Digest, Sha1};
        let mut hasher = Sha1::new();
        hasher.update(format!("blob {}\0", data.len()).as_bytes());
        hasher.update(data);
        BlobId(hasher.finalize().into())
    }

    /// Lowercase hex, as git prints it.
    pub fn hex(&self) -> String {
        crate::rules::hex(&self.0)
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({})", self.hex())
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// Bytes to scan. `id` is set by sources that know it for free (git); a scan dedupes on it.
/// Files don't hash their content up front: on a source tree it cost more than duplicates save.
#[derive(Debug, Clone)]
pub struct Blob {
    /// The content id, when known.
    pub id: Option<BlobId>,
    /// The content.
    pub data: Vec<u8>,
}

impl Blob {
    /// A blob whose id is not known.
    pub fn new(data: Vec<u8>) -> Blob {
        Blob { id: None, data }
    }
}

/// How many leading bytes decide whether content is binary (as git and ripgrep do).
pub const BINARY_PROBE: usize = 8192;

/// True when content looks binary: a NUL byte in its first [`BINARY_PROBE`] bytes.
pub fn looks_binary(data: &[u8]) -> bool {
    memchr::memchr(0, &data[..data.len().min(BINARY_PROBE)]).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_git_hash_object() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(BlobId::of(b"hello\n").hex(), "ce013625030ba8dba906f756967f9e9ca394464a");
    }

    #[test]
    fn binary_probe() {
        assert!(looks_binary(b"ab\0cd"));
        assert!(!looks_binary(b"plain text"));
    }
}
