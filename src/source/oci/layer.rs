//! One layer: a blob stream (gzip, zstd or plain tar) read once, front to back, never written to
//! disk and never held whole. The reading thread hashes, inflates and walks the tar; worker
//! threads scan file contents. The result, a [`LayerScan`], depends on the layer's bytes and the
//! rules only, not on which image holds the layer, so a sweep can cache it by digest.
//!
//! Must not depend on registries, archives or the image being assembled (see `assemble`).

use std::io::{self, BufRead, BufReader, Read};
use std::sync::Mutex;
use std::sync::mpsc::sync_channel;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{DigestOf, Scanner};
use crate::blob::{BINARY_PROBE, Blob};
use crate::error::ScanError;
use crate::finding::{Finding, MemberSkips, Problems, Provenance};
use crate::source::{Skip, archive};

/// Prefix of a whiteout entry's name (`dir/.wh.NAME` deletes `dir/NAME` from lower layers).
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the opaque-directory marker (`dir/.wh..wh..opq` hides all of `dir` in lower layers).
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// How to read a layer.
#[derive(Debug, Clone)]
pub struct LayerOptions {
    /// Files larger than the file cap are skipped and counted, unless they are archives within
    /// the archive cap.
    pub caps: archive::SizeCaps,
    /// A layer that inflates beyond this many bytes is a decompression bomb: reading stops and
    /// the layer is reported.
    pub max_layer_size: u64,
    /// Threads scanning file contents (0: one per core).
    pub workers: usize,
}

/// The blob being read.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    /// `sha256:…` the content must hash to.
    pub digest: String,
    /// Expected size of the blob, when the descriptor says.
    pub size: Option<u64>,
    /// Which bytes `digest` covers: the blob, or the tar inflated from it.
    pub digest_of: DigestOf,
}

/// Counters of one layer. Kept with the cached [`LayerScan`], so a sweep that reuses a layer
/// still reports what was skipped in it (fields missing from older caches read as 0).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LayerStats {
    /// Tar entries seen.
    pub entries: u64,
    /// Regular files handed to the engine.
    pub files_scanned: u64,
    /// Bytes of the blob as stored (compressed).
    pub blob_bytes: u64,
    /// Bytes of the inflated tar stream.
    pub tar_bytes: u64,
    /// Files, and members of archives in files, not scanned because they look binary.
    pub skipped_binary: u64,
    /// Files, and archive members, not scanned because they exceed the size cap.
    pub skipped_too_large: u64,
    /// Symlinks, hard links, devices and FIFOs (archive members: symlinks): never followed or
    /// opened.
    pub skipped_special: u64,
    /// Files skipped by a path allowlist.
    pub skipped_allowlisted: u64,
}

impl LayerStats {
    /// Counts a skipped entry here and tells the scanner (whose report counts it too).
    fn skip(&mut self, why: Skip, scanner: &dyn Scanner) {
        let counter = match why {
            Skip::Binary => &mut self.skipped_binary,
            Skip::TooLarge => &mut self.skipped_too_large,
            Skip::Special => &mut self.skipped_special,
            Skip::Allowlisted => &mut self.skipped_allowlisted,
        };
        *counter += 1;
        scanner.skipped(why);
    }

    /// Counts members the archives in a file skipped (the scanner counted them already).
    fn members(&mut self, skipped: MemberSkips) {
        self.skipped_binary += skipped.binary;
        self.skipped_too_large += skipped.too_large;
        self.skipped_special += skipped.special;
    }
}

/// What one layer holds, independent of the image: findings at paths inside the layer (their
/// `image` is `None`), what the layer deletes from lower layers, and what went wrong.
/// Serializable so that a sweep can cache it keyed by layer digest and rule-set digest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerScan {
    /// The layer's digest (`sha256:…`).
    pub digest: String,
    /// Findings; `path` is the file's path in the image (no leading `/`), `image` is `None`.
    pub findings: Vec<Finding>,
    /// Paths this layer whites out (deletes from lower layers), without the `.wh.` prefix.
    pub whiteouts: Vec<String>,
    /// Directories this layer marks opaque (their lower-layer content is hidden).
    pub opaque_dirs: Vec<String>,
    /// Failures; a layer with errors was not (fully) scanned and must not be cached as clean.
    pub errors: Vec<ScanError>,
    /// Oddities that did not stop the scan (a tar without end-of-archive blocks).
    pub warnings: Vec<String>,
    /// What archives in the layer's files could not read or did not scan (origin: the file's
    /// path, `!`, the member). The layer itself was read completely, so it is cached with them,
    /// and every run that uses the result reports them again (and exits 2 for the errors).
    pub archive: Problems,
    /// Counters.
    pub stats: LayerStats,
}

impl LayerScan {
    /// The shape of a cached result: 2 since archive problems are kept in it (a result of
    /// version 1 lacks them, so reusing one would hide them); 3 since every layer holding a
    /// copy of an archive keeps its problems (a version 2 result of a layer whose archive was
    /// first opened in another layer lacks them, and its stats lack the archive members
    /// skipped); 4 since findings carry their rule's context groups (a version 3 finding lacks
    /// the host `--verify` needs, #16).
    pub const VERSION: u32 = 4;

    /// True when the layer was read completely.
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Reads `reader` (the raw blob) and scans every regular file in it.
pub fn scan_layer(
    reader: impl Read,
    blob: &LayerBlob,
    options: &LayerOptions,
    scanner: &dyn Scanner,
) -> LayerScan {
    let mut out = LayerScan { digest: blob.digest.clone(), ..LayerScan::default() };
    let origin = format!("layer {}", blob.digest);
    let mut hashed = HashingReader::new(reader, blob.digest_of == DigestOf::Blob);
    let walked = {
        let mut buffered = BufReader::with_capacity(256 << 10, &mut hashed);
        let hash_tar = blob.digest_of == DigestOf::Tar;
        let result = inflate_and_walk(&mut buffered, options, hash_tar, scanner, &mut out);
        // Whatever the tar walk did, read the blob to its end so the digest covers all of it.
        let drained = io::copy(&mut buffered, &mut io::sink());
        result.and_then(|walk| drained.map(|_| walk))
    };
    out.stats.blob_bytes = hashed.count;
    let blob_digest = hashed.finish();
    let mut errors = Vec::new();
    let mut fail = |message: String| errors.push(ScanError::new(origin.clone(), message));
    if let Some(size) = blob.size
        && size != out.stats.blob_bytes
        && walked.is_ok()
    {
        fail(format!(
            "layer is {} bytes but its descriptor says {size}: truncated or wrong blob, not \
             fully scanned",
            out.stats.blob_bytes
        ));
    }
    match walked {
        Err(e) => fail(read_error_message(&e, options)),
        Ok(walk) => {
            if let Some(actual) = blob_digest.or(walk.tar_digest)
                && actual != blob.digest
            {
                let what = match blob.digest_of {
                    DigestOf::Blob => "content",
                    DigestOf::Tar => "the uncompressed tar (its diff_id)",
                };
                fail(format!(
                    "digest mismatch: {what} hashes to {actual}: the blob is corrupt or was \
                     replaced, its findings may be incomplete"
                ));
            } else if let Some(e) = walk.tar_error {
                // The tar crate reports this one as `Other` with this message.
                if e.kind() == io::ErrorKind::UnexpectedEof
                    || e.to_string().contains("unexpected EOF")
                {
                    out.warnings.push(format!(
                        "{origin}: tar stream ends without end-of-archive blocks; every \
                         complete entry was scanned"
                    ));
                } else {
                    fail(format!("corrupt tar stream: {e}: entries after this point not scanned"));
                }
            }
        }
    }
    out.errors.extend(errors);
    out.findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    out.archive.sort();
    out
}

fn read_error_message(e: &io::Error, options: &LayerOptions) -> String {
    if e.kind() == io::ErrorKind::FileTooLarge {
        format!(
            "layer inflates beyond --max-layer-size ({} bytes): a decompression bomb or a \
             huge layer; raise the cap to scan it",
            options.max_layer_size
        )
    } else if e.kind() == io::ErrorKind::UnexpectedEof {
        format!("layer is truncated ({e}): not fully scanned")
    } else {
        format!("cannot read the layer: {e}: not fully scanned")
    }
}

struct Walk {
    /// The error that stopped the walk between entries, if any. An early end of the stream
    /// after complete entries, in a blob whose digest checks out, is a tar written without
    /// end-of-archive blocks (Debian's umoci does this; so do some images in the wild).
    tar_error: Option<io::Error>,
    /// `sha256:…` of the whole inflated tar stream, when asked for.
    tar_digest: Option<String>,
}

/// Picks the decompressor from the first bytes (media types lie; magic numbers do not); with
/// `hash_tar`, hashes the inflated stream.
fn inflate_and_walk(
    buffered: &mut dyn BufRead,
    options: &LayerOptions,
    hash_tar: bool,
    scanner: &dyn Scanner,
    out: &mut LayerScan,
) -> io::Result<Walk> {
    let head = buffered.fill_buf()?;
    let walk = if head.starts_with(&[0x1f, 0x8b]) {
        let mut decoder = flate2::bufread::MultiGzDecoder::new(buffered);
        walk_capped(&mut decoder, options, hash_tar, scanner, out)?
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let mut decoder = zstd::stream::read::Decoder::with_buffer(buffered)?;
        walk_capped(&mut decoder, options, hash_tar, scanner, out)?
    } else {
        walk_capped(buffered, options, hash_tar, scanner, out)?
    };
    Ok(walk)
}

fn walk_capped(
    tar_stream: &mut dyn Read,
    options: &LayerOptions,
    hash_tar: bool,
    scanner: &dyn Scanner,
    out: &mut LayerScan,
) -> io::Result<Walk> {
    let mut hashed = HashingReader::new(tar_stream, hash_tar);
    let mut capped = CappedReader { inner: &mut hashed, left: options.max_layer_size, count: 0 };
    let walk = walk_tar(&mut capped, options, scanner, out);
    // The rest of the inflated stream (padding, trailing blocks) counts against the cap, and
    // reading it checks the gzip trailer and completes the tar's digest.
    let rest = io::copy(&mut capped, &mut io::sink());
    out.stats.tar_bytes = capped.count;
    let mut walk = walk?;
    rest?;
    walk.tar_digest = hashed.finish();
    Ok(walk)
}

/// Walks the tar entries, sending file contents to scanning workers.
fn walk_tar(
    stream: &mut dyn Read,
    options: &LayerOptions,
    scanner: &dyn Scanner,
    out: &mut LayerScan,
) -> io::Result<Walk> {
    let workers = if options.workers == 0 {
        std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
    } else {
        options.workers
    };
    let origin = format!("layer {}", out.digest);
    // Bounded: at most 2 files per worker wait in memory, so memory stays bounded by the file
    // size cap whatever the layer size.
    let (tx, rx) = sync_channel::<(String, Vec<u8>)>(workers * 2);
    let rx = Mutex::new(rx);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let rx = &rx;
                scope.spawn(move || {
                    let mut found: Vec<Finding> = Vec::new();
                    let mut kept = Problems::default();
                    loop {
                        let next =
                            rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv();
                        let Ok((path, data)) = next else { break };
                        let (more, problems) =
                            scanner.layer_findings(&Blob::new(data), &Provenance::file(path));
                        found.extend(more);
                        kept.absorb(problems);
                    }
                    (found, kept)
                })
            })
            .collect();
        let mut archive = tar::Archive::new(stream);
        let result = (|| -> io::Result<Walk> {
            for entry in archive.entries()? {
                let mut entry = match entry {
                    Ok(entry) => entry,
                    Err(e) => return Ok(Walk { tar_error: Some(e), tar_digest: None }),
                };
                out.stats.entries += 1;
                let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                let path = match normalize(&raw) {
                    Ok(path) => path,
                    Err(why) => {
                        out.errors.push(ScanError::new(
                            format!("{origin}: {raw}"),
                            format!("tar entry has {why}: not extracted or scanned"),
                        ));
                        continue;
                    }
                };
                let name = path.rsplit('/').next().unwrap_or(&path);
                let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
                if name == OPAQUE_MARKER {
                    out.opaque_dirs.push(parent.to_owned());
                } else if let Some(deleted) = name.strip_prefix(WHITEOUT_PREFIX) {
                    out.whiteouts.push(join(parent, deleted));
                } else {
                    visit(&mut entry, path, options, scanner, &tx, &mut out.stats)?;
                }
            }
            Ok(Walk { tar_error: None, tar_digest: None })
        })();
        drop(tx);
        for handle in handles {
            match handle.join() {
                Ok((found, mut kept)) => {
                    out.findings.extend(found);
                    out.stats.members(std::mem::take(&mut kept.members));
                    out.archive.absorb(kept);
                }
                Err(_) => out.errors.push(ScanError::new(
                    origin.clone(),
                    "a scanning thread panicked: findings of this layer may be incomplete",
                )),
            }
        }
        result
    })
}

fn visit(
    entry: &mut tar::Entry<'_, &mut dyn Read>,
    path: String,
    options: &LayerOptions,
    scanner: &dyn Scanner,
    tx: &std::sync::mpsc::SyncSender<(String, Vec<u8>)>,
    stats: &mut LayerStats,
) -> io::Result<()> {
    let kind = entry.header().entry_type();
    if kind.is_dir() {
        return Ok(());
    }
    if !(kind.is_file() || kind.is_contiguous()) {
        // Symlinks and hard links are never followed (they could point out of the layer);
        // devices and FIFOs hold no content.
        stats.skip(Skip::Special, scanner);
        return Ok(());
    }
    let size = entry.size();
    if size > options.caps.read_limit() {
        stats.skip(Skip::TooLarge, scanner);
        return Ok(());
    }
    if scanner.path_allowed(&path) {
        stats.skip(Skip::Allowlisted, scanner);
        return Ok(());
    }
    // Read the head first: most of a root file system is binaries, not worth copying whole.
    let mut data = Vec::with_capacity(size.min(BINARY_PROBE as u64) as usize);
    entry.by_ref().take(BINARY_PROBE as u64).read_to_end(&mut data)?;
    if let Some(why) = options.caps.skip_after_head(&data, size) {
        stats.skip(why, scanner);
        return Ok(());
    }
    data.reserve(size as usize - data.len().min(size as usize));
    entry.read_to_end(&mut data)?;
    if data.len() as u64 != size {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("{path} is cut short")));
    }
    // A head that may have been an executable jar's, now whole.
    if !options.caps.worth_reading(&data, size) {
        stats.skip(Skip::TooLarge, scanner);
        return Ok(());
    }
    stats.files_scanned += 1;
    // A send fails only when every worker is gone (they panicked); that is reported at join.
    let _ = tx.send((path, data));
    Ok(())
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() { name.to_owned() } else { format!("{parent}/{name}") }
}

/// The entry's path inside the image: no `./`, no leading `/`, no `..`.
pub fn normalize(raw: &str) -> Result<String, &'static str> {
    if raw.starts_with('/') {
        return Err("an absolute path");
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("a `..` component (it would escape the layer)"),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// Counts and (optionally) hashes what passes through.
struct HashingReader<R> {
    inner: R,
    hasher: Option<Sha256>,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R, verify: bool) -> Self {
        HashingReader { inner, hasher: verify.then(Sha256::new), count: 0 }
    }

    /// `sha256:…` of everything read, when hashing.
    fn finish(self) -> Option<String> {
        self.hasher.map(|h| format!("sha256:{}", crate::rules::hex(&h.finalize())))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }
}

/// Fails with `FileTooLarge` once more than the cap has been read.
struct CappedReader<'a> {
    inner: &'a mut dyn Read,
    left: u64,
    count: u64,
}

impl Read for CappedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, "layer exceeds the size cap"));
        }
        self.left -= n as u64;
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot set up should fail loudly
mod tests {
    use super::*;
    use crate::source::{Sink, Skipped};
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    #[test]
    fn paths() {
        assert_eq!(normalize("./etc/passwd"), Ok("etc/passwd".into()));
        assert_eq!(normalize("app//x/"), Ok("app/x".into()));
        assert!(normalize("/etc/shadow").is_err());
        assert!(normalize("a/../../etc").is_err());
    }

    /// Counts what it is told; finds nothing (the skip accounting is under test, not rules).
    #[derive(Default)]
    struct Counting {
        skipped: AtomicU64,
        blobs: AtomicU64,
    }

    impl Sink for Counting {
        fn blob(&self, _: &Blob, _: &Provenance) {}
        fn skipped(&self, _: Skip) {
            self.skipped.fetch_add(1, Relaxed);
        }
        fn not_scanned(&self, _: Skipped) {}
        fn error(&self, _: ScanError) {}
        fn path_allowed(&self, path: &str) -> bool {
            path.starts_with("vendor/")
        }
    }

    impl Scanner for Counting {
        fn findings(&self, _: &Blob, _: &Provenance) -> Vec<Finding> {
            self.blobs.fetch_add(1, Relaxed);
            Vec::new()
        }
        fn push(&self, _: Vec<Finding>) {}
    }

    fn entry(builder: &mut tar::Builder<Vec<u8>>, path: &str, kind: tar::EntryType, data: &[u8]) {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        if kind.is_symlink() || kind.is_hard_link() {
            header.set_link_name("etc/target").unwrap();
        }
        builder.append_data(&mut header, path, data).unwrap();
    }

    #[test]
    fn skipped_entries_are_counted_in_the_layer_and_told_to_the_scanner() {
        use tar::EntryType as T;
        let mut builder = tar::Builder::new(Vec::new());
        entry(&mut builder, "etc", T::Directory, b"");
        entry(&mut builder, "etc/target", T::Regular, b"plain text\n");
        entry(&mut builder, "bin/tool", T::Regular, b"\x7fELF\0\0\0binary");
        entry(&mut builder, "var/big.log", T::Regular, &[b'a'; 100]);
        entry(&mut builder, "etc/link", T::Symlink, b"");
        entry(&mut builder, "etc/hard", T::Link, b"");
        entry(&mut builder, "run/fifo", T::Fifo, b"");
        entry(&mut builder, "dev/null", T::Char, b"");
        entry(&mut builder, "vendor/lib.txt", T::Regular, b"text\n");
        let tar = builder.into_inner().unwrap();
        let blob = LayerBlob {
            digest: crate::source::oci::archive::digest_of(&tar),
            size: None,
            digest_of: DigestOf::Blob,
        };
        let options = LayerOptions {
            caps: archive::SizeCaps::files_only(50),
            max_layer_size: 1 << 20,
            workers: 1,
        };
        let scanner = Counting::default();
        let scan = scan_layer(&tar[..], &blob, &options, &scanner);
        assert!(scan.errors.is_empty(), "{:?}", scan.errors);
        let s = &scan.stats;
        assert_eq!(
            (
                s.files_scanned,
                s.skipped_binary,
                s.skipped_too_large,
                s.skipped_special,
                s.skipped_allowlisted
            ),
            (1, 1, 1, 4, 1)
        );
        assert_eq!(scanner.skipped.load(Relaxed), 7, "the scanner's report counts them too");
        assert_eq!(scanner.blobs.load(Relaxed), 1);
        // The counters survive the sweep cache's round trip, and older entries read as 0.
        let back: LayerScan = serde_json::from_str(&serde_json::to_string(&scan).unwrap()).unwrap();
        assert_eq!(back.stats, scan.stats);
        let old: LayerStats =
            serde_json::from_str(r#"{"entries":3,"files_scanned":1,"blob_bytes":9,"tar_bytes":9}"#)
                .unwrap();
        assert_eq!((old.entries, old.skipped_binary), (3, 0));
    }
}
