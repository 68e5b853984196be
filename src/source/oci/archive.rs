//! Local images: an OCI layout directory, a tar of one (`oci-archive`), and `docker save`
//! tarballs (the legacy layout, whose `<id>/layer.tar` are symlinks, and Docker ≥ 25's OCI
//! layout with a legacy `manifest.json`). A tarball is indexed once (entry offsets) and its
//! blobs are then read in place: nothing is extracted to disk.
//!
//! Must not depend on registries or the engine.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::layer::normalize;
use super::manifest::{Descriptor, REF_NAME};
use super::{BlobStore, DigestOf, Plan, read_small, resolve};
use crate::source::fs::io_message;

/// Blobs in an OCI layout directory (`blobs/<alg>/<hex>`).
pub struct DirStore {
    dir: PathBuf,
}

impl BlobStore for DirStore {
    fn open(&self, desc: &Descriptor) -> Result<(Box<dyn Read + Send + '_>, DigestOf), String> {
        let path = self.dir.join(blob_path(&desc.digest)?);
        let file = File::open(&path)
            .map_err(|e| format!("cannot open blob {}: {}", path.display(), io_message(&e)))?;
        Ok((Box::new(file), DigestOf::Blob))
    }
}

/// Blobs inside a tarball, read in place. A gzip or zstd compressed tarball (`docker save img |
/// gzip`) is recognised by its magic bytes and streamed: small entries (manifests, configs) are
/// kept from the indexing pass, and each layer is read by inflating the archive again up to it,
/// so nothing is written to disk and memory stays bounded.
pub struct TarStore {
    path: PathBuf,
    /// How the whole tarball is compressed.
    compression: Compression,
    /// Entry path → (offset of its data in the uncompressed tar, size).
    entries: HashMap<String, (u64, u64)>,
    /// Contents of small entries of a compressed tarball, by offset (re-inflating for them
    /// would cost a pass over the archive each).
    small: HashMap<u64, Vec<u8>>,
    /// Digest → entry path and what the digest covers, for `docker save` configs and layers
    /// addressed by path.
    by_digest: HashMap<String, (String, DigestOf)>,
}

/// Compression of a whole tarball, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    fn name(self) -> &'static str {
        match self {
            Compression::None => "tar",
            Compression::Gzip => "gzip-compressed tar",
            Compression::Zstd => "zstd-compressed tar",
        }
    }
}

/// Entries of a compressed tarball up to this size are kept in memory by the indexing pass.
const SMALL_ENTRY: u64 = 1 << 20;
/// At most this much is kept in all.
const SMALL_TOTAL: u64 = 64 << 20;

impl TarStore {
    /// Indexes `path` (reads every header, skips the data; for a compressed tarball, keeps the
    /// small entries).
    pub fn index(path: &Path) -> Result<TarStore, String> {
        let (compression, reader) = open_stream(path)?;
        let kind = compression.name();
        let bad = |e: io::Error| {
            if compression == Compression::None {
                format!("not a readable tar archive: {e}")
            } else {
                format!("cannot read the {kind} archive: {e}: it is truncated or corrupt")
            }
        };
        let mut archive = tar::Archive::new(reader);
        let mut entries = HashMap::new();
        let mut small = HashMap::new();
        let mut kept = 0;
        let mut links = Vec::new();
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Ok(name) = normalize(&raw) else { continue };
            let kind = entry.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                if let Some(target) = entry.link_name_bytes() {
                    let target = String::from_utf8_lossy(&target).into_owned();
                    links.push((name, target, kind.is_symlink()));
                }
            } else if kind.is_file() {
                let (offset, size) = (entry.raw_file_position(), entry.size());
                if compression != Compression::None
                    && size <= SMALL_ENTRY
                    && kept + size <= SMALL_TOTAL
                {
                    let mut data = Vec::with_capacity(size as usize);
                    entry.read_to_end(&mut data).map_err(bad)?;
                    kept += size;
                    small.insert(offset, data);
                }
                entries.insert(name, (offset, size));
            }
        }
        if compression != Compression::None {
            // Read to the end: the gzip trailer's checksum covers everything.
            io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(bad)?;
        }
        // Legacy `docker save` writes `<id>/layer.tar -> ../<diffid>.tar`. Links resolve only to
        // entries inside the archive; anything else stays unresolved.
        for (name, target, symlink) in links {
            let base = if symlink { name.rsplit_once('/').map_or("", |(d, _)| d) } else { "" };
            let joined = if base.is_empty() { target } else { format!("{base}/{target}") };
            if let Some(resolved) = resolve_dots(&joined)
                && let Some(&at) = entries.get(&resolved)
            {
                entries.insert(name, at);
            }
        }
        Ok(TarStore {
            path: path.to_owned(),
            compression,
            entries,
            small,
            by_digest: HashMap::new(),
        })
    }

    fn read_entry(&self, name: &str, cap: u64) -> Result<Vec<u8>, String> {
        let mut reader = self.open_entry(name)?;
        let mut data = Vec::new();
        reader
            .by_ref()
            .take(cap)
            .read_to_end(&mut data)
            .map_err(|e| format!("cannot read {name}: {e}"))?;
        Ok(data)
    }

    fn open_entry(&self, name: &str) -> Result<Box<dyn Read + Send + '_>, String> {
        let &(offset, size) =
            self.entries.get(name).ok_or_else(|| format!("{name} is missing from the archive"))?;
        if let Some(data) = self.small.get(&offset) {
            return Ok(Box::new(&data[..]));
        }
        if self.compression == Compression::None {
            let mut file = File::open(&self.path)
                .map_err(|e| format!("cannot open {}: {}", self.path.display(), io_message(&e)))?;
            file.seek(SeekFrom::Start(offset))
                .map_err(|e| format!("cannot seek to {name}: {e}"))?;
            return Ok(Box::new(io::BufReader::with_capacity(256 << 10, file).take(size)));
        }
        // No seeking in a compressed stream: inflate again up to the entry.
        let (_, mut reader) = open_stream(&self.path)?;
        let skipped = io::copy(&mut reader.by_ref().take(offset), &mut io::sink())
            .map_err(|e| format!("cannot read up to {name}: {e}"))?;
        if skipped != offset {
            return Err(format!("the archive ends before {name}: it is truncated"));
        }
        Ok(Box::new(reader.take(size)))
    }
}

/// The tarball at `path`, inflated when its magic bytes say gzip or zstd.
fn open_stream(path: &Path) -> Result<(Compression, Box<dyn Read + Send>), String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {}", io_message(&e)))?;
    let mut buffered = io::BufReader::with_capacity(256 << 10, file);
    let head = buffered.fill_buf().map_err(|e| format!("cannot read: {}", io_message(&e)))?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        (Compression::Gzip, Box::new(flate2::bufread::MultiGzDecoder::new(buffered)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = zstd::stream::read::Decoder::with_buffer(buffered)
            .map_err(|e| format!("cannot start zstd decompression: {e}"))?;
        (Compression::Zstd, Box::new(decoder))
    } else {
        (Compression::None, Box::new(buffered))
    })
}

impl BlobStore for TarStore {
    fn open(&self, desc: &Descriptor) -> Result<(Box<dyn Read + Send + '_>, DigestOf), String> {
        let (name, digest_of) = match self.by_digest.get(&desc.digest) {
            Some((name, digest_of)) => (name.clone(), *digest_of),
            None => (blob_path(&desc.digest)?, DigestOf::Blob),
        };
        Ok((self.open_entry(&name)?, digest_of))
    }
}

/// `a/b/../c` → `a/c`; `None` when it climbs out.
fn resolve_dots(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// `sha256:abc` → `blobs/sha256/abc`, refusing anything that is not a plain digest.
fn blob_path(digest: &str) -> Result<String, String> {
    let (alg, hex) = digest.split_once(':').ok_or_else(|| format!("invalid digest {digest:?}"))?;
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok(alg) || !ok(hex) {
        return Err(format!("invalid digest {digest:?}"));
    }
    Ok(format!("blobs/{alg}/{hex}"))
}

#[derive(Debug, Deserialize)]
struct LayoutIndex {
    manifests: Vec<Descriptor>,
}

/// The images of an OCI layout (directory or tarball), filtered by tag when given.
fn layout_plans(
    store: &dyn BlobStore,
    index_json: &[u8],
    tag: Option<&str>,
    platform: Option<&str>,
) -> Result<Vec<Plan>, String> {
    let index: LayoutIndex =
        serde_json::from_slice(index_json).map_err(|e| format!("invalid index.json: {e}"))?;
    let picked: Vec<Descriptor> = index
        .manifests
        .into_iter()
        .filter(|d| {
            tag.is_none_or(|t| {
                d.annotations.as_ref().and_then(|a| a.get(REF_NAME)).is_some_and(|n| n == t)
            })
        })
        .collect();
    if picked.is_empty() {
        return Err(match tag {
            Some(t) => format!("no image tagged {t:?} in index.json"),
            None => "index.json lists no images".into(),
        });
    }
    let mut plans = Vec::new();
    for desc in picked {
        plans.extend(resolve(store, &desc, platform)?);
    }
    Ok(plans)
}

/// Opens `oci:DIR[:TAG]`.
pub fn open_layout(
    dir: &Path,
    tag: Option<&str>,
    platform: Option<&str>,
) -> Result<(Box<dyn BlobStore>, Vec<Plan>), String> {
    let index = std::fs::read(dir.join("index.json")).map_err(|e| {
        format!("not an OCI image layout (index.json: {}): give oci:DIR[:TAG]", io_message(&e))
    })?;
    let store = DirStore { dir: dir.to_owned() };
    let plans = layout_plans(&store, &index, tag, platform)?;
    Ok((Box::new(store), plans))
}

/// Opens `oci-archive:PATH[:TAG]`.
pub fn open_oci_archive(
    path: &Path,
    tag: Option<&str>,
    platform: Option<&str>,
) -> Result<(Box<dyn BlobStore>, Vec<Plan>), String> {
    let store = TarStore::index(path)?;
    let index = store
        .read_entry("index.json", 16 << 20)
        .map_err(|_| "not an OCI archive: it holds no index.json".to_owned())?;
    let plans = layout_plans(&store, &index, tag, platform)?;
    Ok((Box::new(store), plans))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SaveEntry {
    config: String,
    #[serde(default)]
    layers: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct SaveConfig {
    #[serde(default)]
    rootfs: RootFs,
}

/// Opens `docker-archive:PATH`: follows `manifest.json`, not the outer tar's entry order.
pub fn open_docker_archive(path: &Path) -> Result<(Box<dyn BlobStore>, Vec<Plan>), String> {
    let mut store = TarStore::index(path)?;
    let manifest = store.read_entry("manifest.json", 16 << 20).map_err(|_| {
        "not a docker save tarball: it holds no manifest.json (for an OCI archive use \
         oci-archive:PATH)"
            .to_owned()
    })?;
    let saved: Vec<SaveEntry> =
        serde_json::from_slice(&manifest).map_err(|e| format!("invalid manifest.json: {e}"))?;
    let mut plans = Vec::new();
    for entry in saved {
        let config_name = normalize(&entry.config).map_err(|w| format!("config path has {w}"))?;
        let config_bytes = store.read_entry(&config_name, 64 << 20)?;
        let config_digest = digest_of(&config_bytes);
        store.by_digest.insert(config_digest.clone(), (config_name, DigestOf::Blob));
        let diff_ids = serde_json::from_slice::<SaveConfig>(&config_bytes)
            .map_err(|e| format!("invalid image config in the tarball: {e}"))?
            .rootfs
            .diff_ids;
        let mut layers = Vec::new();
        for (i, layer) in entry.layers.iter().enumerate() {
            let name = normalize(layer).map_err(|w| format!("layer path has {w}"))?;
            // Docker ≥ 25 names layers by blob digest; the legacy layout names them by the
            // config's diff_id, the digest of the uncompressed tar (the file itself may be
            // compressed: some tools write it so).
            let (digest, digest_of) =
                match name.strip_prefix("blobs/").and_then(|r| r.split_once('/')) {
                    Some((alg, hex)) => (format!("{alg}:{hex}"), DigestOf::Blob),
                    None => (
                        diff_ids.get(i).cloned().ok_or_else(|| {
                            format!(
                                "the config lists fewer diff_ids than manifest.json has layers \
                                 ({layer})"
                            )
                        })?,
                        DigestOf::Tar,
                    ),
                };
            let size = store.entries.get(&name).map_or(0, |&(_, s)| s);
            store.by_digest.insert(digest.clone(), (name, digest_of));
            layers.push(Descriptor {
                media_type: "application/vnd.docker.image.rootfs.diff.tar".into(),
                digest,
                size,
                ..Descriptor::default()
            });
        }
        let config = Descriptor {
            media_type: "application/vnd.docker.container.image.v1+json".into(),
            digest: config_digest.clone(),
            size: config_bytes.len() as u64,
            ..Descriptor::default()
        };
        // There is no manifest digest in a save tarball: the image id (config digest) names it.
        plans.push(Plan { manifest_digest: config_digest, platform: None, config, layers });
    }
    // Check that the config is readable through the store the same way as in a registry.
    for plan in &plans {
        read_small(&store, &plan.config)?;
    }
    Ok((Box::new(store), plans))
}

/// `sha256:…` of bytes.
pub fn digest_of(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", crate::rules::hex(&Sha256::digest(data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(resolve_dots("abc/../d.tar").as_deref(), Some("d.tar"));
        assert_eq!(resolve_dots("../x"), None);
        assert_eq!(blob_path("sha256:ab12").as_deref(), Ok("blobs/sha256/ab12"));
        assert!(blob_path("sha256:../../etc").is_err());
    }
}
