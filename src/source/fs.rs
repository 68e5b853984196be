//! Directory trees: every regular file, dotfiles included, walked in parallel with the `ignore`
//! crate. `.git` directories are skipped; `.gitignore` is honoured only when asked. Special files
//! (FIFOs, sockets, devices) are never opened: a FIFO would hang the scan.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ignore::{WalkBuilder, WalkState};

use super::{Sink, Skip, archive};
use crate::blob::{BINARY_PROBE, Blob};
use crate::error::ScanError;
use crate::finding::Provenance;

/// How to walk.
#[derive(Debug, Clone)]
pub struct FsOptions {
    /// Skip what `.gitignore`, `.ignore` and `.git/info/exclude` exclude.
    pub respect_gitignore: bool,
    /// Follow symbolic links (loops are detected and reported).
    pub follow_symlinks: bool,
    /// Files larger than the file cap are skipped and counted, unless they are archives within
    /// the archive cap.
    pub caps: archive::SizeCaps,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Paths under this directory are shown relative to it (the repository root), so that
    /// fingerprints and path allowlists do not depend on how the user spelled the scan root.
    pub base: Option<PathBuf>,
}

/// Walks `roots` and hands every regular file to `sink`.
pub fn scan(roots: &[PathBuf], options: &FsOptions, sink: &dyn Sink) {
    let mut existing = Vec::new();
    for root in roots {
        match std::fs::symlink_metadata(root) {
            Ok(_) => existing.push(root.clone()),
            Err(e) => {
                // Named as a file under it would be, so one run's paths share one root (#19).
                let prefix: Vec<_> =
                    base_prefix(root, options.base.as_deref()).into_iter().collect();
                sink.error(ScanError::new(display_path(root, &prefix), io_message(&e)));
            }
        }
    }
    let Some((first, rest)) = existing.split_first() else { return };
    let mut builder = WalkBuilder::new(first);
    for root in rest {
        builder.add(root);
    }
    builder
        .hidden(false)
        .ignore(options.respect_gitignore)
        .git_ignore(options.respect_gitignore)
        .git_exclude(options.respect_gitignore)
        .git_global(options.respect_gitignore)
        .parents(options.respect_gitignore)
        .require_git(false)
        .follow_links(options.follow_symlinks)
        .threads(options.threads)
        .filter_entry(|e| !(e.file_name() == ".git" && e.file_type().is_some_and(|t| t.is_dir())));
    let prefixes: Vec<(PathBuf, PathBuf)> =
        existing.iter().filter_map(|root| base_prefix(root, options.base.as_deref())).collect();
    builder.build_parallel().run(|| {
        let prefixes = &prefixes;
        Box::new(move |entry| {
            match entry {
                Ok(entry) => visit(&entry, prefixes, options, sink),
                Err(err) => sink.error(walk_error(&err, prefixes)),
            }
            WalkState::Continue
        })
    });
}

fn visit(
    entry: &ignore::DirEntry,
    prefixes: &[(PathBuf, PathBuf)],
    options: &FsOptions,
    sink: &dyn Sink,
) {
    let Some(kind) = entry.file_type() else { return };
    if kind.is_dir() {
        return;
    }
    let path = entry.path();
    let shown = display_path(path, prefixes);
    if !kind.is_file() {
        // Unfollowed symlinks, FIFOs, sockets and devices. A followed symlink reports the target's
        // type, so it lands in the branch above or below.
        sink.skipped(Skip::Special);
        return;
    }
    if sink.path_allowed(&shown) {
        sink.skipped(Skip::Allowlisted);
        return;
    }
    let mut blob = Blob::new(BUFFER.take());
    let read = File::open(path).and_then(|mut f| read_capped(&mut f, options.caps, &mut blob.data));
    match read {
        Ok(Content::Text) => sink.blob(&blob, &Provenance::file(shown)),
        Ok(Content::Changed(why)) => {
            // What was read may hold a secret: report it, and the file as not wholly scanned.
            sink.blob(&blob, &Provenance::file(shown.clone()));
            sink.error(ScanError::new(shown, why));
        }
        Ok(Content::Binary) => sink.skipped(Skip::Binary),
        Ok(Content::TooLarge) => sink.skipped(Skip::TooLarge),
        Err(e) => sink.error(ScanError::new(shown, io_message(&e))),
    }
    // A fat archive's buffer is not kept for the next file: the buffer stays within the file cap.
    if blob.data.capacity() as u64 <= options.caps.file {
        BUFFER.set(blob.data);
    }
}

thread_local! {
    /// Each walker thread reads every file into the same buffer (at most `--max-file-size`):
    /// a fresh allocation per file, with its pages faulted in, cost several percent of a scan.
    static BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// What reading a file gave.
#[derive(Debug, PartialEq, Eq)]
enum Content {
    /// The whole file is in the buffer.
    Text,
    /// The file changed while it was read (its size or modification time after the read differs
    /// from before it): the buffer holds what was read, which may not be all of it. The message
    /// says so.
    Changed(String),
    /// Its head looks binary; the rest was not read.
    Binary,
    /// It is larger than the cap; nothing useful was read.
    TooLarge,
}

/// An open file as [`read_capped`] sees it: its bytes, and its size and modification time from
/// the handle. [`File`] is the implementation; tests give one whose size changes when they say.
trait Handle: Read {
    /// The handle's size and modification time now (`fstat`).
    fn stamp(&self) -> io::Result<Stamp>;
}

/// Size and modification time of an open file: when two taken around a read differ, the file
/// changed while it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl Handle for File {
    fn stamp(&self) -> io::Result<Stamp> {
        let meta = self.metadata()?;
        Ok(Stamp { len: meta.len(), modified: meta.modified().ok() })
    }
}

/// Reads a file into `data` unless it is larger than `caps` allow (see
/// [`archive::SizeCaps::worth_reading`]) or its head looks binary.
///
/// It reads as many bytes as the open handle's size says, so no read is spent finding the end.
/// A size of 0 may come from a file system that does not know sizes: such a file is read to its
/// end, `caps` permitting. A read shorter than the size is the whole content when the size did
/// not change meanwhile (sysfs reports 4096 for a few bytes).
///
/// A file that shrinks or grows while it is read (a log being written, a file being replaced)
/// was scanned only in part; a second `fstat` after the read (one syscall a text file, which
/// replaces none of the reads) tells, and the file is reported as changed, as ripgrep reports
/// I/O errors (#19).
fn read_capped(
    file: &mut impl Handle,
    caps: archive::SizeCaps,
    data: &mut Vec<u8>,
) -> io::Result<Content> {
    data.clear();
    let before = file.stamp()?;
    let len = before.len;
    let cap = caps.read_limit();
    if len > cap {
        return Ok(Content::TooLarge);
    }
    let want = if len == 0 { cap.saturating_add(1) } else { len };
    // The head first: binaries (libraries, images, archives) are not worth copying whole.
    let head = want.min(BINARY_PROBE as u64);
    (&mut *file).take(head).read_to_end(data)?;
    match caps.skip_after_head(data, len) {
        Some(Skip::Binary) => return Ok(Content::Binary),
        Some(_) => return Ok(Content::TooLarge),
        None => {}
    }
    data.reserve(want.min(cap) as usize - data.len().min(want as usize));
    // A head shorter than asked for already met the end of the file.
    if data.len() as u64 == head {
        (&mut *file).take(want - head).read_to_end(data)?;
    }
    if !caps.worth_reading(data, data.len() as u64) {
        return Ok(Content::TooLarge);
    }
    let after = file.stamp()?;
    if after != before {
        return Ok(Content::Changed(format!(
            "the file changed while it was read ({len} bytes when opened, {} read, {} now): \
             not all of it was scanned; scan it again when nothing writes to it",
            data.len(),
            after.len
        )));
    }
    Ok(Content::Text)
}

/// For a root inside `base`: (the root as walked, the root relative to `base`). A root that does
/// not exist is placed by its parent.
fn base_prefix(root: &Path, base: Option<&Path>) -> Option<(PathBuf, PathBuf)> {
    let canonical = root.canonicalize().ok().or_else(|| {
        let parent = root.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Some(parent.canonicalize().ok()?.join(root.file_name()?))
    })?;
    let rel = canonical.strip_prefix(base?).ok()?;
    Some((root.to_owned(), rel.to_owned()))
}

fn display_path(path: &Path, prefixes: &[(PathBuf, PathBuf)]) -> String {
    let rel = prefixes.iter().find_map(|(root, rel)| {
        path.strip_prefix(root)
            .ok()
            .map(|rest| if rest.as_os_str().is_empty() { rel.clone() } else { rel.join(rest) })
    });
    let rel = rel.as_deref().unwrap_or(path);
    let rel = rel.strip_prefix("./").unwrap_or(rel);
    let shown = rel.to_string_lossy();
    if shown.is_empty() { path.to_string_lossy().into_owned() } else { shown.into_owned() }
}

/// A walk failure, named by its path as findings are (relative to the base), so that one run's
/// paths share one root (#19).
fn walk_error(err: &ignore::Error, prefixes: &[(PathBuf, PathBuf)]) -> ScanError {
    fn path_of(err: &ignore::Error) -> Option<&Path> {
        match err {
            ignore::Error::WithPath { path, .. } => Some(path),
            ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
                path_of(err)
            }
            ignore::Error::Loop { child, .. } => Some(child),
            _ => None,
        }
    }
    let path = path_of(err);
    let origin = path.map_or_else(|| "walk".into(), |p| display_path(p, prefixes));
    let mut inner = err;
    while let ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } =
        inner
    {
        inner = err;
    }
    let message = match inner {
        ignore::Error::Loop { ancestor, .. } => {
            format!("symlink loop back to {}: not followed", display_path(ancestor, prefixes))
        }
        _ => strip_path_prefix(
            &err.to_string(),
            &path.map(|p| p.display().to_string()).unwrap_or_default(),
        ),
    };
    ScanError::new(origin, message)
}

/// `ignore` prefixes messages with the path, which the origin already names.
fn strip_path_prefix(message: &str, origin: &str) -> String {
    message.strip_prefix(origin).map_or(message, |m| m.trim_start_matches(": ")).to_owned()
}

/// An I/O error in words a user can act on.
pub fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied: cannot read it".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A file whose content is `content` and whose size, asked before and after the read, is
    /// `stated` and then `later` (a file that changed size in between when they differ).
    struct Fake {
        content: Cursor<Vec<u8>>,
        stamps: std::cell::RefCell<Vec<u64>>,
    }

    impl Fake {
        fn new(content: &[u8], stated: u64, later: u64) -> Fake {
            Fake { content: Cursor::new(content.to_vec()), stamps: vec![later, stated].into() }
        }
    }

    impl Read for Fake {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.content.read(buf)
        }
    }

    impl Handle for Fake {
        fn stamp(&self) -> io::Result<Stamp> {
            let mut stamps = self.stamps.borrow_mut();
            let len = if stamps.len() > 1 { stamps.pop() } else { stamps.last().copied() };
            Ok(Stamp { len: len.expect("a size"), modified: None })
        }
    }

    fn read(mut file: Fake) -> (Content, usize) {
        let mut data = Vec::new();
        let content = read_capped(&mut file, archive::SizeCaps::files_only(1 << 30), &mut data)
            .expect("reads");
        (content, data.len())
    }

    #[test]
    fn file_that_shrinks_or_grows_while_read_is_an_error() {
        // Issue #19: 505 MB when opened, 199 MB read, reported as fully scanned.
        let text = "line of text\n".repeat(2000);
        let (content, got) = read(Fake::new(text.as_bytes(), 26_000 + 505, 26_000));
        let Content::Changed(why) = content else {
            panic!("shrunk file not reported: {content:?}")
        };
        assert!(why.contains("26505 bytes when opened, 26000 read, 26000 now"), "{why}");
        assert_eq!(got, 26_000, "what was read is kept, to be scanned");
        // Grown: as many bytes as stated were read, but the file is longer now.
        let (content, _) = read(Fake::new(text.as_bytes(), 20_000, 26_000));
        assert!(
            matches!(content, Content::Changed(ref m) if m.contains("26000 now")),
            "{content:?}"
        );
        // Unchanged: read whole.
        assert_eq!(read(Fake::new(text.as_bytes(), 26_000, 26_000)), (Content::Text, 26_000));
        // A size that is not the content's but does not change (sysfs): the content is whole.
        assert_eq!(read(Fake::new(b"always [madvise] never\n", 4096, 4096)), (Content::Text, 23));
    }
}
