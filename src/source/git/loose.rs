//! Loose objects (`objects/ab/cdef…`), inflated here rather than by libgit2: libgit2 1.9.7 loops
//! forever on a loose object that is cut short (its zlib drain loop makes no progress once the
//! input runs out: libgit2 issue 7342, fixed upstream after that release), and a crash or a full
//! disk leaves such objects behind. A damaged object is an error here, never a hang.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use flate2::{Decompress, FlushDecompress, Status};
use git2::Oid;

use crate::blob::BINARY_PROBE;
use rayon::prelude::*;

/// A loose object's type and content.
pub struct Object {
    /// `blob`, `tree`, `commit` or `tag`.
    pub kind: String,
    /// The content, after the header.
    pub data: Vec<u8>,
}

/// Loose object `id` from `dirs`: `Ok(None)` when it is not loose there (packed, or missing:
/// libgit2 tells which), an error naming the damage when it cannot be read whole.
pub fn read(dirs: &[PathBuf], id: Oid) -> Result<Option<Object>, String> {
    path_in(dirs, id).map(|path| inflate(&path, None)).transpose()
}

/// The file of loose object `id` under the first of `dirs` that holds it.
fn path_in(dirs: &[PathBuf], id: Oid) -> Option<PathBuf> {
    let hex = id.to_string();
    dirs.iter().map(|dir| dir.join(&hex[..2]).join(&hex[2..])).find(|p| p.is_file())
}

/// The content of blob `id` of `repo`: inflated here when it is loose, else read by libgit2
/// from the packs.
pub fn blob(repo: &git2::Repository, id: Oid) -> Result<Vec<u8>, String> {
    match read(&super::packs::object_dirs(repo.commondir()), id)? {
        Some(object) => Ok(object.data),
        None => repo
            .find_blob(id)
            .map(|blob| blob.content().to_vec())
            .map_err(|e| e.message().to_owned()),
    }
}

/// The first [`BINARY_PROBE`] bytes of loose object `id`'s content, when it is loose in `dirs` and
/// its head can be read.
pub fn head(dirs: &[PathBuf], id: Oid) -> Option<Vec<u8>> {
    let path = path_in(dirs, id)?;
    inflate(&path, Some(BINARY_PROBE)).ok().map(|object| object.data)
}

/// Inflates the loose object at `path`, all of it, or only its header and the first `head`
/// bytes of content.
fn inflate(path: &Path, head: Option<usize>) -> Result<Object, String> {
    // `objects/ab/cdef…` names object `abcdef…`.
    let id: String = [path.parent().and_then(Path::file_name), path.file_name()]
        .iter()
        .flatten()
        .map(|part| part.to_string_lossy())
        .collect();
    let damaged = |why: &str| {
        format!("damaged loose object {id} ({}): {why}; run `git fsck`", path.display())
    };
    let stored = read_file(path).map_err(|e| damaged(&e.to_string()))?;
    let mut z = Decompress::new(true);
    // The header (`blob 1234\0`) is short; read it with the first bytes of content.
    let mut out = Vec::with_capacity(64);
    let mut declared: Option<(String, usize, usize)> = None;
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(64));
        }
        let consumed = z.total_in() as usize;
        let before = out.len();
        let status = z
            .decompress_vec(&stored[consumed..], &mut out, FlushDecompress::Finish)
            .map_err(|e| damaged(&format!("not a zlib stream ({e})")))?;
        if declared.is_none()
            && let Some(nul) = out.iter().position(|&b| b == 0)
        {
            let parsed = header(&out[..nul]).ok_or_else(|| damaged("no object header"))?;
            let (kind, size) = parsed;
            // No more than deflate's best ratio allows: a header may lie about the size.
            let room = head.map_or(size, |h| h.min(size)).min(stored.len().saturating_mul(1032));
            out.reserve(room + 1);
            declared = Some((kind, size, nul + 1));
        }
        if let Some((_, size, start)) = &declared
            && head.is_some_and(|h| out.len() >= start + h.min(*size))
        {
            break;
        }
        match status {
            Status::StreamEnd => break,
            _ if out.len() == before && z.total_in() as usize == consumed => {
                return Err(damaged("cut short"));
            }
            _ => {}
        }
    }
    let (kind, size, start) = declared.ok_or_else(|| damaged("no object header"))?;
    let data = out.split_off(start);
    if head.is_none() && data.len() != size {
        return Err(damaged(&format!(
            "{} bytes of content where its header says {size}",
            data.len()
        )));
    }
    Ok(Object { kind, data })
}

fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut out)?;
    Ok(out)
}

/// `blob 1234` → (`blob`, 1234).
fn header(text: &[u8]) -> Option<(String, usize)> {
    let text = std::str::from_utf8(text).ok()?;
    let (kind, size) = text.split_once(' ')?;
    matches!(kind, "blob" | "tree" | "commit" | "tag").then_some(())?;
    Some((kind.to_owned(), size.parse().ok()?))
}

/// The loose objects under `dirs` that libgit2 would read while walking history (commits, trees,
/// tags) and that are damaged, each named with what is wrong. Of a blob only the header is
/// inflated here: blobs are read with [`read`] when they are scanned.
pub fn damaged_non_blobs(dirs: &[PathBuf]) -> Vec<String> {
    let paths: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|dir| super::packs::loose_ids(dir).into_iter().map(move |id| (dir, id)))
        .map(|(dir, id)| {
            let hex = id.to_string();
            dir.join(&hex[..2]).join(&hex[2..])
        })
        .collect();
    paths
        .par_iter()
        .filter_map(|path| match inflate(path, Some(0)) {
            Ok(object) if object.kind == "blob" => None,
            Ok(_) => inflate(path, None).err(),
            Err(why) => Some(why),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::ZlibEncoder};
    use std::io::Write;

    fn stored(content: &[u8], kind: &str) -> Vec<u8> {
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        write!(z, "{kind} {}\0", content.len()).expect("test setup");
        z.write_all(content).expect("test setup");
        z.finish().expect("test setup")
    }

    fn at(dir: &Path, bytes: &[u8]) -> PathBuf {
        let path = dir.join("obj");
        std::fs::write(&path, bytes).expect("test setup");
        path
    }

    #[test]
    fn whole_head_and_cut_short() {
        let dir = tempfile::tempdir().expect("test setup");
        let content: Vec<u8> =
            (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        let bytes = stored(&content, "blob");
        let whole = inflate(&at(dir.path(), &bytes), None).expect("test setup");
        assert_eq!((whole.kind.as_str(), whole.data == content), ("blob", true));
        let head = inflate(&at(dir.path(), &bytes), Some(10)).expect("test setup");
        assert_eq!(head.data[..10], content[..10]);
        let cut = inflate(&at(dir.path(), &bytes[..bytes.len() / 2]), None);
        assert!(cut.is_err_and(|e| e.contains("cut short")));
        // Cut inside the header, and not zlib at all.
        assert!(inflate(&at(dir.path(), &bytes[..3]), None).is_err());
        assert!(inflate(&at(dir.path(), b"plain text"), None).is_err());
    }

    #[test]
    fn a_size_that_lies_is_damage() {
        let dir = tempfile::tempdir().expect("test setup");
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(b"tree 99\0short").expect("test setup");
        let path = at(dir.path(), &z.finish().expect("test setup"));
        assert!(inflate(&path, None).is_err_and(|e| e.contains("header says 99")));
        assert_eq!(inflate(&path, Some(0)).expect("header").kind, "tree");
    }
}
