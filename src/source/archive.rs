//! Archives inside blobs (issue #15): zip and its kin (jar, war, ear, whl, apk, nupkg, docx…),
//! tar, and gzip, bzip2, xz and zstd streams (a compressed tar is one level, `a.tgz!etc/app.conf`).
//! Recognised by their magic bytes, never by a name, so this works on any blob of any source.
//!
//! [`walk`] turns one archive held in memory into its members, each a [`Blob`] with its own id
//! (so identical members dedupe), and names what it could not or would not read. Nothing is
//! written to disk; a member is read into memory only up to the size cap. It knows nothing of
//! rules or of nesting: the scan step ([`crate::scan`]) hands members that are archives back here.
//!
//! Bombs are bounded three ways: [`Limits::max_inflated`] bytes per outermost archive (shared by
//! every level inside it, so 42.zip-style nesting runs out), an inflate ratio cap per member or
//! stream ([`MAX_RATIO`] past [`RATIO_FREE`] bytes), and the depth the scan step keeps.

use std::cell::Cell;
use std::io::{self, Cursor, Read};

use crate::blob::{BINARY_PROBE, Blob, BlobId, looks_binary};
use crate::source::Skip;

/// An inflate ratio above this (inflated : stored) marks a member as a decompression bomb.
/// Text compresses 3–20:1, long runs of one line rarely beyond 200:1; deflate's own ceiling is
/// about 1032:1, reached only by runs of one byte.
pub const MAX_RATIO: u64 = 500;
/// The ratio cap applies only past this many inflated bytes: a tiny member may compress well.
pub const RATIO_FREE: u64 = 1 << 20;

/// What an archive is, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Zip and its kin (jar, war, whl, apk, docx…).
    Zip,
    /// A POSIX (ustar) or GNU tar stream.
    Tar,
    /// A gzip stream (`.gz`, `.tgz`).
    Gzip,
    /// A bzip2 stream.
    Bzip2,
    /// An xz stream.
    Xz,
    /// A zstd frame.
    Zstd,
    /// 7-Zip: recognised, not read.
    SevenZip,
    /// RAR: recognised, not read.
    Rar,
}

impl Format {
    /// The format's name, as a report says it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Zip => "zip",
            Format::Tar => "tar",
            Format::Gzip => "gzip",
            Format::Bzip2 => "bzip2",
            Format::Xz => "xz",
            Format::Zstd => "zstd",
            Format::SevenZip => "7z",
            Format::Rar => "rar",
        }
    }
}

/// The archive format `data` starts with, if any. `data` may be just a file's head: every magic
/// lies within its first 262 bytes. A zip that something precedes (an executable jar's launch
/// script, a self-extracting stub) is recognised by its end record at the tail, so only in
/// whole content, or in a head that starts `#!` and holds the zip's first local header; and
/// only when the head could start such a file (`#!`, or binary), so ordinary text costs no
/// search of its tail.
pub fn sniff(data: &[u8]) -> Option<Format> {
    // An empty zip is only an end-of-central-directory record; a spanned one starts with PK78.
    let zip = [b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"];
    if zip.iter().any(|m| data.starts_with(*m)) {
        return Some(Format::Zip);
    }
    // The deflate method byte too: `1f 8b` alone starts too many binary formats.
    if data.starts_with(b"\x1f\x8b\x08") {
        return Some(Format::Gzip);
    }
    // `BZh`, the block size digit, then the block (or end-of-stream) magic: `BZh` alone is text.
    if data.len() >= 10
        && data.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&data[3])
        && (data[4..10] == *b"\x31\x41\x59\x26\x53\x59"
            || data[4..10] == *b"\x17\x72\x45\x38\x50\x90")
    {
        return Some(Format::Bzip2);
    }
    if data.starts_with(b"\xfd7zXZ\x00") {
        return Some(Format::Xz);
    }
    if data.starts_with(b"\x28\xb5\x2f\xfd") {
        return Some(Format::Zstd);
    }
    if data.starts_with(b"7z\xbc\xaf\x27\x1c") {
        return Some(Format::SevenZip);
    }
    if data.starts_with(b"Rar!\x1a\x07") {
        return Some(Format::Rar);
    }
    if is_tar(data) {
        return Some(Format::Tar);
    }
    // A short launch script runs into the zip's first local header within the head, which a
    // source reads alone to tell binary from text.
    let head = &data[..data.len().min(BINARY_PROBE)];
    let script = data.starts_with(b"#!");
    if script && memchr::memmem::find(head, b"PK\x03\x04").is_some() {
        return Some(Format::Zip);
    }
    // A reverse search of up to 64 KiB has no SIMD prefilter: only a launch script or zipapp
    // (`#!`) or a binary head (a self-extracting stub) pays for it, never a source file.
    let could_precede_a_zip = script || memchr::memchr(0, head).is_some();
    (could_precede_a_zip && ends_as_zip(data)).then_some(Format::Zip)
}

/// True when `data` ends with a zip's end-of-central-directory record (22 bytes whose last two
/// give the length of the comment after it), whatever its head: a Spring Boot executable jar
/// (a launch script, then the jar), a Python zipapp after its `#!` line, a self-extracting stub.
fn ends_as_zip(data: &[u8]) -> bool {
    const RECORD: usize = 22;
    let tail = &data[data.len().saturating_sub(RECORD + usize::from(u16::MAX))..];
    memchr::memmem::rfind_iter(tail, b"PK\x05\x06").any(|at| {
        tail.get(at + 20..at + RECORD).is_some_and(|comment| {
            usize::from(u16::from_le_bytes([comment[0], comment[1]])) == tail.len() - at - RECORD
        })
    })
}

/// True when `data` starts with a tar header: `ustar` at offset 257 (POSIX `ustar\0`, GNU
/// `ustar `). Pre-POSIX v7 tars carry no magic and are not recognised.
fn is_tar(data: &[u8]) -> bool {
    data.get(257..262) == Some(b"ustar")
}

/// How far archives are followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Archives nested deeper than this are not opened; 0 turns archive scanning off.
    pub max_depth: u32,
    /// Bytes inflated in all, per outermost archive (every level inside it counts).
    pub max_inflated: u64,
    /// Members larger than this are skipped and counted (the file size cap).
    pub max_member: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 4, max_inflated: 4 << 30, max_member: 10 << 20 }
    }
}

/// The size caps a source applies to one file, blob or layer entry before reading it whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeCaps {
    /// Content larger than this is skipped and counted (`--max-file-size`)...
    pub file: u64,
    /// ...unless its head is an archive no larger than this (`--max-archive-size`): fat jars,
    /// wheels and tarballs run to hundreds of MB, their members are what is scanned (each still
    /// capped by `file`).
    pub archive: u64,
}

impl SizeCaps {
    /// Caps that never let an archive past `file` (archive scanning is off).
    pub fn files_only(file: u64) -> SizeCaps {
        SizeCaps { file, archive: file }
    }

    /// The most a source reads of one blob.
    pub fn read_limit(self) -> u64 {
        self.file.max(self.archive)
    }

    /// True when content of `size` bytes whose first bytes are `data` is to be read whole:
    /// within the file cap, or an archive within the archive cap. `data` needs only
    /// [`BINARY_PROBE`] bytes; a head that starts `#!` may be an executable jar's launch
    /// script, so it passes until `data` is whole and its tail tells. The one predicate every
    /// source's size check calls (once more once read, when it read only the head first).
    pub fn worth_reading(self, data: &[u8], size: u64) -> bool {
        let head_only = (data.len() as u64) < size;
        size <= self.file
            || (size <= self.archive
                && (sniff(data).is_some() || (head_only && data.starts_with(b"#!"))))
    }

    /// Why content of `size` bytes whose head (its first [`BINARY_PROBE`] bytes, or all of it)
    /// is `head` is not to be read whole, if it is not: it looks binary and is no archive, or
    /// it is over the caps. Every source reads a head first and asks this before copying the
    /// rest: binaries and large text are not worth reading whole.
    pub fn skip_after_head(self, head: &[u8], size: u64) -> Option<Skip> {
        // Archives look binary; the scan step opens them.
        if looks_binary(head) && sniff(head).is_none() {
            Some(Skip::Binary)
        } else if !self.worth_reading(head, size) {
            Some(Skip::TooLarge)
        } else {
            None
        }
    }
}

/// Inflated bytes left for one outermost archive and everything inside it.
#[derive(Debug)]
pub struct Budget {
    left: Cell<u64>,
    max: u64,
}

impl Budget {
    /// A budget of `max` bytes.
    pub fn new(max: u64) -> Budget {
        Budget { left: Cell::new(max), max }
    }

    fn spend(&self, n: u64) -> bool {
        let left = self.left.get();
        self.left.set(left.saturating_sub(n));
        n <= left
    }
}

/// What [`walk`] hands back, in archive order.
#[derive(Debug)]
pub enum Item<'a> {
    /// A member to scan; `name` is its path in the archive (lossy UTF-8, never used on disk).
    Member {
        /// Path in the archive.
        name: &'a str,
        /// Its content and id.
        blob: &'a Blob,
    },
    /// A member over the size cap: counted, not read.
    TooLarge,
    /// A member whose head looks binary (and is no archive): counted, not read further.
    Binary,
    /// A symlink member (its content is a path), never followed.
    Special,
    /// Content deliberately not scanned (a cap, an encrypted member, an unsupported format):
    /// `name` is the member, or empty for the archive itself.
    NotScanned {
        /// The member, or empty for the archive itself.
        name: String,
        /// Why, and how to get it scanned where that is possible.
        reason: String,
    },
    /// Content that could not be read (corrupt, truncated): the run exits 2.
    Error {
        /// The member, or empty for the archive itself.
        name: String,
        /// What went wrong.
        reason: String,
    },
}

/// Why reading stopped early on purpose: the message names the cap.
#[derive(Debug)]
struct Capped(String);

impl std::fmt::Display for Capped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Capped {}

fn capped(e: &io::Error) -> Option<String> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<Capped>()).map(|c| c.0.clone())
}

/// Inflated bytes read so far through a [`Metered`] reader, and the stored bytes behind them.
#[derive(Default)]
struct Meter {
    inflated: Cell<u64>,
    stored: Cell<u64>,
}

/// Counts the stored (compressed) bytes a decoder consumes.
struct Stored<'m, R> {
    inner: R,
    meter: &'m Meter,
}

impl<R: Read> Read for Stored<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.stored.set(self.meter.stored.get() + n as u64);
        Ok(n)
    }
}

/// Counts inflated bytes against the budget and the ratio cap; fails with [`Capped`] past either.
struct Metered<'m, R> {
    inner: R,
    meter: &'m Meter,
    budget: &'m Budget,
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let inflated = self.meter.inflated.get() + n as u64;
        self.meter.inflated.set(inflated);
        if !self.budget.spend(n as u64) {
            return Err(io::Error::other(Capped(format!(
                "inflates past --max-archive-inflated ({} bytes for the outermost archive): the \
                 rest was not scanned; raise it to scan all",
                self.budget.max
            ))));
        }
        let stored = self.meter.stored.get().max(1);
        if inflated > RATIO_FREE && inflated / stored > MAX_RATIO {
            return Err(io::Error::other(Capped(format!(
                "inflates more than {MAX_RATIO}:1 ({inflated} bytes from {stored}): a \
                 decompression bomb, not read further"
            ))));
        }
        Ok(n)
    }
}

/// One walk's state: where items go, the caps, and the buffer members are read into.
struct Walker<'a> {
    limits: &'a Limits,
    budget: &'a Budget,
    out: &'a mut dyn FnMut(Item<'_>),
    /// Reused for every member (taken back after each visit).
    buffer: Vec<u8>,
    /// Set once the budget ran out: nothing more is read from this outermost archive.
    spent: bool,
}

/// How reading one member went.
enum Read1 {
    Done,
    /// The walk must stop (the budget ran out, or the stream is broken past this member).
    Stop,
}

impl Walker<'_> {
    fn not_scanned(&mut self, name: &str, reason: String) {
        (self.out)(Item::NotScanned { name: name.to_owned(), reason });
    }

    fn error(&mut self, name: &str, reason: String) {
        (self.out)(Item::Error { name: name.to_owned(), reason });
    }

    /// Reads a member of `declared` bytes (0: not known) from `reader` (already metered) and
    /// hands it out.
    fn member(&mut self, name: &str, declared: u64, reader: &mut dyn Read) -> Read1 {
        if declared > self.limits.max_member {
            (self.out)(Item::TooLarge);
            return Read1::Done;
        }
        let mut data = std::mem::take(&mut self.buffer);
        data.clear();
        // The head first, as files are read: most of a jar or wheel is classes and shared
        // libraries, not worth inflating whole (nor hashing) once their head looks binary.
        let head = reader.take(BINARY_PROBE as u64).read_to_end(&mut data);
        if head.is_ok() && looks_binary(&data) && sniff(&data).is_none() {
            (self.out)(Item::Binary);
            self.buffer = data;
            return Read1::Done;
        }
        let result = head.and_then(|_| {
            let left = (self.limits.max_member + 1).saturating_sub(data.len() as u64);
            reader.take(left).read_to_end(&mut data)
        });
        let step = match result {
            Ok(_) if data.len() as u64 > self.limits.max_member => {
                // The header understated the size.
                (self.out)(Item::TooLarge);
                Read1::Done
            }
            Ok(_) => {
                let blob = Blob { id: Some(BlobId::of(&data)), data };
                (self.out)(Item::Member { name, blob: &blob });
                data = blob.data;
                Read1::Done
            }
            Err(e) => self.read_failed(name, &e),
        };
        self.buffer = data;
        step
    }

    /// Names a failed read: a cap is a skip, anything else an error.
    fn read_failed(&mut self, name: &str, e: &io::Error) -> Read1 {
        match capped(e) {
            Some(reason) if self.budget.left.get() == 0 => {
                self.spent = true;
                self.not_scanned(name, reason);
                Read1::Stop
            }
            Some(reason) => {
                self.not_scanned(name, reason);
                Read1::Done
            }
            None => {
                self.error(name, format!("cannot read it: {e}"));
                Read1::Stop
            }
        }
    }
}

/// Hands every member of the archive `data` (of `format`) to `out`, with what it skipped and
/// what it could not read. `budget` is shared by every level of one outermost archive.
pub fn walk(
    data: &[u8],
    format: Format,
    limits: &Limits,
    budget: &Budget,
    out: &mut dyn FnMut(Item<'_>),
) {
    let mut walker = Walker { limits, budget, out, buffer: Vec::new(), spent: false };
    match format {
        Format::Zip => zip(data, &mut walker),
        Format::Tar => tar(data, &Meter::default(), &mut walker),
        Format::Gzip => {
            let meter = Meter::default();
            let decoder = flate2::read::MultiGzDecoder::new(Stored { inner: data, meter: &meter });
            stream(decoder, format, &meter, &mut walker);
        }
        Format::Bzip2 => {
            let meter = Meter::default();
            let decoder = bzip2::read::MultiBzDecoder::new(Stored { inner: data, meter: &meter });
            stream(decoder, format, &meter, &mut walker);
        }
        Format::Xz => {
            let meter = Meter::default();
            let decoder = lzma_rust2::XzReader::new(Stored { inner: data, meter: &meter }, true);
            stream(decoder, format, &meter, &mut walker);
        }
        Format::Zstd => {
            let meter = Meter::default();
            match zstd::stream::read::Decoder::new(Stored { inner: data, meter: &meter }) {
                Ok(decoder) => stream(decoder, format, &meter, &mut walker),
                Err(e) => walker.error("", format!("cannot read the zstd stream: {e}")),
            }
        }
        Format::SevenZip | Format::Rar => walker.not_scanned(
            "",
            format!(
                "a {} archive: not supported, its contents were not scanned; extract it and \
                 scan the files",
                format.name()
            ),
        ),
    }
}

/// A compressed stream: a tar inside is walked as this level's members; anything else is one
/// member named after the stream.
fn stream(decoder: impl Read, format: Format, meter: &Meter, walker: &mut Walker<'_>) {
    let mut metered = Metered { inner: decoder, meter, budget: walker.budget };
    let mut head = Vec::with_capacity(512);
    if let Err(e) = (&mut metered).take(512).read_to_end(&mut head) {
        walker.read_failed("", &e);
        return;
    }
    let mut rest = Cursor::new(head).chain(metered);
    if is_tar(rest.get_ref().0.get_ref()) {
        return tar_stream(&mut rest, walker);
    }
    let name = format!("({} content)", format.name());
    walker.member(&name, 0, &mut rest);
}

/// A plain tar held in memory.
fn tar(data: &[u8], meter: &Meter, walker: &mut Walker<'_>) {
    // Stored bytes are inflated bytes here: a plain tar is not a bomb, only the budget counts.
    meter.stored.set(data.len() as u64);
    let mut metered = Metered { inner: data, meter, budget: walker.budget };
    tar_stream(&mut metered, walker);
}

fn tar_stream(reader: &mut dyn Read, walker: &mut Walker<'_>) {
    let mut archive = tar::Archive::new(reader);
    let entries = match archive.entries() {
        Ok(entries) => entries,
        Err(e) => return walker.error("", format!("not a readable tar: {e}")),
    };
    for (read, entry) in entries.enumerate() {
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                if let Some(reason) = capped(&e) {
                    walker.not_scanned("", reason);
                } else {
                    walker.error(
                        "",
                        format!(
                            "truncated or corrupt after {read} members ({e}): the rest was not \
                             scanned"
                        ),
                    );
                }
                return;
            }
        };
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_contiguous()) {
            if kind.is_symlink() || kind.is_hard_link() {
                (walker.out)(Item::Special);
            }
            continue;
        }
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let size = entry.size();
        if let Read1::Stop = walker.member(&name, size, &mut entry) {
            return;
        }
    }
}

/// Name of the member that stands for what precedes a zip's first member (see [`ends_as_zip`]).
const ZIP_PREFIX: &str = "(zip prefix)";

/// A zip: members from the central directory, or from the local headers when it is unreadable.
fn zip(data: &[u8], walker: &mut Walker<'_>) {
    let mut archive = match zip::ZipArchive::new(Cursor::new(data)) {
        Ok(archive) => archive,
        Err(e) => return local_headers(data, &e, walker),
    };
    // Members that share their data (many central-directory entries over one stretch of
    // deflate) inflate it once per entry: no zip tool writes that, bombs do. (A local header
    // that cannot be read is left to the member read, which names it.)
    if archive.has_overlapping_files().unwrap_or(false) {
        return walker.not_scanned(
            "",
            "members share their stored data (an overlapping-entry zip bomb): not opened".into(),
        );
    }
    // What precedes the first member (an executable jar's launch script) is scanned as a member
    // of its own, as it was scanned before the zip behind it was recognised.
    if !data.starts_with(b"PK") {
        let first = (0..archive.len())
            .filter_map(|i| archive.by_index_raw(i).ok().map(|file| file.header_start()))
            .min()
            .unwrap_or_else(|| archive.offset());
        zip_prefix(&data[..usize::try_from(first).unwrap_or(data.len()).min(data.len())], walker);
    }
    for i in 0..archive.len() {
        if walker.spent {
            return;
        }
        let failure = match archive.by_index(i) {
            Ok(file) => {
                zip_member(file, walker);
                continue;
            }
            Err(e) => e,
        };
        let name = archive
            .name_for_index(i)
            .and_then(Result::ok)
            .map_or_else(|| format!("member {i}"), std::borrow::Cow::into_owned);
        match failure {
            zip::result::ZipError::UnsupportedArchive(why)
                if why == zip::result::ZipError::PASSWORD_REQUIRED =>
            {
                walker.not_scanned(
                    &name,
                    "an encrypted member: not scanned (no password is tried)".into(),
                );
            }
            e => walker.error(&name, format!("cannot read it: {e}")),
        }
    }
}

fn zip_member<R: Read>(file: zip::read::ZipFile<'_, R>, walker: &mut Walker<'_>) -> Read1 {
    if file.is_dir() {
        return Read1::Done;
    }
    if file.is_symlink() {
        (walker.out)(Item::Special);
        return Read1::Done;
    }
    let name = String::from_utf8_lossy(file.name_raw()).into_owned();
    let (size, stored) = (file.size(), file.compressed_size());
    // A size the ratio cap would not let through is not believed (a forged zip64 size would
    // hide the member as too large): the member is read, within the caps, to see.
    let declared = if size > stored.saturating_mul(MAX_RATIO).max(RATIO_FREE) { 0 } else { size };
    let meter = Meter::default();
    meter.stored.set(stored);
    let budget = walker.budget;
    let mut metered = Metered { inner: file, meter: &meter, budget };
    walker.member(&name, declared, &mut metered)
}

/// Hands out what precedes a zip's first member, when anything does.
fn zip_prefix(mut prefix: &[u8], walker: &mut Walker<'_>) {
    if !prefix.is_empty() {
        walker.member(ZIP_PREFIX, prefix.len() as u64, &mut prefix);
    }
}

/// Reads members one local header after another, for a zip whose central directory is broken.
fn local_headers(data: &[u8], why: &zip::result::ZipError, walker: &mut Walker<'_>) {
    // After a launch script (a cut executable jar), members start at the first local header.
    let start = if data.starts_with(b"PK") {
        0
    } else {
        memchr::memmem::find(data, b"PK\x03\x04").unwrap_or(0)
    };
    zip_prefix(&data[..start], walker);
    let mut cursor = Cursor::new(&data[start..]);
    let mut read = 0usize;
    loop {
        if walker.spent {
            return;
        }
        match zip::read::read_zipfile_from_stream(&mut cursor) {
            Ok(Some(file)) => {
                read += 1;
                if let Read1::Stop = zip_member(file, walker) {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                walker.error("", format!("local header after {read} members unreadable ({e})"));
                break;
            }
        }
    }
    walker.error(
        "",
        format!(
            "central directory unreadable ({why}): {read} members were read from their local \
             headers; members after a broken one were not scanned"
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn items(data: &[u8], limits: &Limits) -> Vec<String> {
        let budget = Budget::new(limits.max_inflated);
        let mut out = Vec::new();
        let format = sniff(data).expect("an archive");
        walk(data, format, limits, &budget, &mut |item| {
            out.push(match item {
                Item::Member { name, blob } => {
                    format!("{name}={}", String::from_utf8_lossy(&blob.data))
                }
                Item::TooLarge => "too large".into(),
                Item::Binary => "binary".into(),
                Item::Special => "special".into(),
                Item::NotScanned { name, reason } => format!("skip {name}: {reason}"),
                Item::Error { name, reason } => format!("error {name}: {reason}"),
            });
        });
        out
    }

    fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in members {
            w.start_file(*name, zip::write::SimpleFileOptions::default()).expect("start");
            w.write_all(data).expect("write");
        }
        w.finish().expect("finish").into_inner()
    }

    #[test]
    fn sniffs_by_content() {
        assert_eq!(sniff(&zip_of(&[("a", b"x")])), Some(Format::Zip));
        assert_eq!(sniff(b"BZh is a word"), None);
        assert_eq!(sniff(b"\x1f\x8b\x08\x00"), Some(Format::Gzip));
        assert_eq!(sniff(b"7z\xbc\xaf\x27\x1c\x00"), Some(Format::SevenZip));
        assert_eq!(sniff(b"plain text"), None);
    }

    #[test]
    fn zip_after_a_launch_script_is_found_by_its_tail() {
        let script = b"#!/bin/sh\nexec java -jar \"$0\" \"$@\"\n";
        let mut jar = script.to_vec();
        jar.extend(zip_of(&[("BOOT-INF/classes/a.properties", b"k=v")]));
        assert_eq!(sniff(&jar), Some(Format::Zip));
        let head = &jar[..script.len() + 4];
        assert_eq!(sniff(head), Some(Format::Zip), "a head holding the first member");
        assert_eq!(
            items(&jar, &Limits::default()),
            [
                "(zip prefix)=#!/bin/sh\nexec java -jar \"$0\" \"$@\"\n",
                "BOOT-INF/classes/a.properties=k=v"
            ]
        );
        // Without the script, the record must end the file, its comment length telling where.
        let mut stub = b"MZ stub".to_vec();
        stub.extend(&jar[script.len()..]);
        assert_eq!(sniff(&stub), Some(Format::Zip));
        stub.push(b'\n');
        assert_eq!(sniff(&stub), None);
        // Cut before its central directory: the script and the member, from its local header.
        let directory = jar.windows(4).position(|w| w == b"PK\x01\x02").expect("directory");
        let out = items(&jar[..directory], &Limits::default());
        assert_eq!(out[..2], items(&jar, &Limits::default())[..], "{out:?}");
        let last = out.last().expect("an error");
        assert!(last.starts_with("error : central directory unreadable"), "{out:?}");
        assert_eq!(sniff(b"text that names PK\x05\x06 in passing"), None);
        // A text file's tail is never searched: only a `#!` or binary head can precede a zip.
        let mut text = b"plain text\n".repeat(1000);
        let mut empty_zip = b"PK\x05\x06".to_vec();
        empty_zip.resize(22, 0);
        text.extend(&empty_zip);
        assert_eq!(sniff(&text), None);
        text.splice(..0, b"#!/bin/sh\n".iter().copied());
        assert_eq!(sniff(&text), Some(Format::Zip));
    }

    #[test]
    fn zip_members_in_order() {
        let data = zip_of(&[("a.txt", b"one"), ("lib.so", b"\x7fELF\0\0"), ("dir/b.txt", b"two")]);
        assert_eq!(items(&data, &Limits::default()), ["a.txt=one", "binary", "dir/b.txt=two"]);
    }

    #[test]
    fn gzip_of_one_file_is_one_member() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"hello").expect("write");
        let data = gz.finish().expect("finish");
        assert_eq!(items(&data, &Limits::default()), ["(gzip content)=hello"]);
    }

    #[test]
    fn ratio_cap_stops_a_bomb_member() {
        let filler = vec![b'A'; 8 << 20];
        let data = zip_of(&[("bomb", &filler), ("after.txt", b"fine")]);
        let out = items(&data, &Limits { max_member: 64 << 20, ..Limits::default() });
        assert!(out[0].starts_with("skip bomb: inflates more than 500:1"), "{out:?}");
        assert_eq!(out[1], "after.txt=fine");
    }

    #[test]
    fn budget_stops_the_walk() {
        let data = zip_of(&[("a", &[b'a'; 1000]), ("b", &[b'b'; 1000])]);
        let out = items(&data, &Limits { max_inflated: 1500, ..Limits::default() });
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[1].starts_with("skip b: inflates past --max-archive-inflated"), "{out:?}");
    }

    /// Valid archives of every format, to damage.
    fn samples() -> Vec<Vec<u8>> {
        let text = b"key=value\n".repeat(200);
        let zip = zip_of(&[("a.txt", &text), ("b.txt", b"two")]);
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_cksum();
        tar.append_data(&mut header, "t.txt", &text[..]).expect("tar");
        let tar = tar.into_inner().expect("tar");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).expect("gzip");
        let zst = zstd::encode_all(&tar[..], 1).expect("zstd");
        vec![zip, tar, gz.finish().expect("gzip"), zst]
    }

    proptest::proptest! {
        /// Damaged archives (bytes flipped, cut short) never panic or hang, and every item
        /// handed out stays within the caps.
        #[test]
        fn damaged_archives_never_panic(
            which in 0usize..4,
            flips in proptest::collection::vec((0usize..4096, proptest::num::u8::ANY), 0..8),
            cut in 0usize..4096,
        ) {
            let mut data = samples().swap_remove(which);
            for (at, byte) in flips {
                let len = data.len();
                data[at % len] ^= byte;
            }
            data.truncate(data.len() - cut % data.len());
            let limits = Limits { max_member: 1 << 16, max_inflated: 1 << 20, max_depth: 4 };
            if let Some(format) = sniff(&data) {
                let budget = Budget::new(limits.max_inflated);
                walk(&data, format, &limits, &budget, &mut |item| {
                    if let Item::Member { blob, .. } = item {
                        assert!(blob.data.len() as u64 <= limits.max_member);
                    }
                });
            }
        }
    }

    #[test]
    fn member_over_the_size_cap_is_counted() {
        let data = zip_of(&[("big", &[b'x'; 100]), ("small", b"s")]);
        let out = items(&data, &Limits { max_member: 50, ..Limits::default() });
        assert_eq!(out, ["too large", "small=s"]);
    }
}
