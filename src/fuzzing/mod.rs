//! Entry points for fuzzing every parser of untrusted input (issue #19).
//!
//! Each target takes arbitrary bytes, drives one parser the way a scan would, and must return
//! without panicking, hanging or allocating without bound, whatever the bytes. The cargo-fuzz
//! targets in `fuzz/` call these functions, and so does the stable smoke test
//! (`smoke.rs`, run by `cargo test`), which replays each target's seeds, mutations of them and
//! the committed crashers in `fuzz/regressions/`. One list, [`TARGETS`], serves both.
//!
//! This module only calls the library; it must not change how any scan behaves.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use clap::Parser;

use crate::baseline::{Triage, parse_baseline};
use crate::engine::{Engine, decode};
use crate::rules::{gitleaks, load};
use crate::scan::Scan;
use crate::source::archive::Limits;
use crate::source::oci::layer::{LayerBlob, LayerOptions, scan_layer};
use crate::source::oci::{config, manifest};
use crate::source::{catalog, harbor, http};

#[cfg(test)]
mod smoke;

/// One fuzz target: its name (the file under `fuzz/fuzz_targets/`) and its entry point.
pub struct Target {
    /// Name of the cargo-fuzz target.
    pub name: &'static str,
    /// Runs one input.
    pub run: fn(&[u8]),
    /// Valid inputs that start the corpus (mutations of these reach the deep paths).
    pub seeds: fn() -> Vec<Vec<u8>>,
}

/// Every target, in the order the smoke test runs them.
pub const TARGETS: &[Target] = &[
    Target { name: "layer", run: layer, seeds: layer_seeds },
    Target { name: "archive", run: archive, seeds: archive_seeds },
    Target { name: "image_archive", run: image_archive, seeds: image_archive_seeds },
    Target { name: "image_json", run: image_json, seeds: image_json_seeds },
    Target { name: "git_history", run: git_history, seeds: git_history_seeds },
    Target { name: "git_tree", run: git_tree, seeds: git_tree_seeds },
    Target { name: "rules_toml", run: rules_toml, seeds: rules_toml_seeds },
    Target { name: "gitleaks_toml", run: gitleaks_toml, seeds: gitleaks_toml_seeds },
    Target { name: "triage", run: triage, seeds: triage_seeds },
    Target { name: "decoders", run: decoders, seeds: decoders_seeds },
    Target { name: "engine", run: engine_scan, seeds: engine_seeds },
    Target { name: "http_headers", run: http_headers, seeds: http_headers_seeds },
    Target { name: "registry_json", run: registry_json, seeds: registry_json_seeds },
];

/// The built-in rules, compiled once per process.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let set = load::load_builtin().expect("the built-in rules load");
        Engine::new(set).expect("the built-in rules compile")
    })
}

/// Reads an image layer blob (plain, gzip or zstd tar) and scans its files.
pub fn layer(data: &[u8]) {
    let options = LayerOptions {
        caps: crate::source::archive::SizeCaps::files_only(1 << 20),
        max_layer_size: 64 << 20,
        workers: 1,
    };
    let blob = LayerBlob {
        digest: crate::source::oci::archive::digest_of(data),
        size: Some(data.len() as u64),
        digest_of: crate::source::oci::DigestOf::Blob,
    };
    let scan = Scan::new(engine());
    drop(scan_layer(Cursor::new(data), &blob, &options, &scan));
}

/// The scan step every blob goes through: archives (zip, tar, gzip, bzip2, xz, zstd, nested),
/// UTF-16 decoding, the binary probe and the engine.
pub fn archive(data: &[u8]) {
    let limits = Limits { max_depth: 4, max_inflated: 64 << 20, max_member: 1 << 20 };
    let scan = Scan::new(engine()).with_archives(limits);
    drop(scan.matches_in(None, data));
}

/// Opens the bytes as a `docker save` tarball and as an OCI archive, scanning what they hold.
pub fn image_archive(data: &[u8]) {
    let dir = Scratch::new();
    let path = dir.path().join("image.tar");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    for kind in ["docker-archive", "oci-archive"] {
        let reference = format!("{kind}:{}", path.display());
        run_cli(&["image", "--threads", "1", &reference]);
    }
}

/// Image manifests, indexes and configs as a registry or layout serves them.
pub fn image_json(data: &[u8]) {
    for media_type in [None, Some(manifest::OCI_INDEX), Some(manifest::DOCKER_MANIFEST)] {
        if let Ok(parsed) = manifest::parse(data, media_type)
            && let manifest::Manifest::Index(entries) = parsed
        {
            for entry in &entries {
                let _ = manifest::is_attestation(entry);
                let _ = manifest::platform_matches(entry.platform.as_ref(), "linux/arm64/v8");
            }
        }
    }
    drop(config::parse(data));
}

/// A repository whose pack is replaced by the input (its index stays the seed's), scanned as
/// `leakhound git` does: corrupt packs, bad deltas and truncated objects.
pub fn git_history(data: &[u8]) {
    let Some(seed) = seed_repository() else { return };
    let dir = Scratch::new();
    let repo = dir.path().join("repo.git");
    if copy_dir(&seed.dir, &repo).is_err() || std::fs::write(repo.join(&seed.pack), data).is_err() {
        return;
    }
    run_cli(&["git", "--threads", "1", &repo.display().to_string()]);
}

/// A history whose second commit's tree object is the input, scanned as `leakhound git` does:
/// the provenance walk parses raw trees itself (modes, names, ids, git's order).
pub fn git_tree(data: &[u8]) {
    let dir = Scratch::new();
    let repo = dir.path().join("repo.git");
    if write_tree_history(&repo, data).is_ok() {
        run_cli(&["git", "--threads", "1", &repo.display().to_string()]);
    }
}

/// A bare repository: a commit of a valid tree, then a commit of the raw `tree` bytes.
fn write_tree_history(dir: &Path, tree: &[u8]) -> Result<(), git2::Error> {
    let repo = git2::Repository::init_bare(dir)?;
    let odb = repo.odb()?;
    let blob = odb.write(git2::ObjectType::Blob, SEED_FILES[1].as_bytes())?;
    let sub = odb.write(git2::ObjectType::Tree, &sub_tree_of(blob))?;
    let first = odb.write(git2::ObjectType::Tree, &tree_of(blob, sub))?;
    let second = odb.write(git2::ObjectType::Tree, tree)?;
    let person = "Fuzz <fuzz@example.com> 1700000000 +0000";
    let first = odb.write(
        git2::ObjectType::Commit,
        format!("tree {first}\nauthor {person}\ncommitter {person}\n\nfirst\n").as_bytes(),
    )?;
    let second = odb.write(
        git2::ObjectType::Commit,
        format!("tree {second}\nparent {first}\nauthor {person}\ncommitter {person}\n\nsecond\n")
            .as_bytes(),
    )?;
    repo.reference("refs/heads/main", second, true, "fuzz")?;
    repo.set_head("refs/heads/main")
}

/// A raw tree object: a file, a directory `sub` and an executable.
fn tree_of(blob: git2::Oid, sub: git2::Oid) -> Vec<u8> {
    let mut tree = Vec::new();
    for (mode, name, id) in
        [("100644", "a.env", blob), ("40000", "dir", sub), ("100755", "run.sh", blob)]
    {
        tree.extend_from_slice(format!("{mode} {name}\0").as_bytes());
        tree.extend_from_slice(id.as_bytes());
    }
    tree
}

/// A raw tree object holding `blob` as `.env`.
fn sub_tree_of(blob: git2::Oid) -> Vec<u8> {
    let mut tree = b"100644 .env\0".to_vec();
    tree.extend_from_slice(blob.as_bytes());
    tree
}

/// Native rule files: parsed, validated, compiled and run on their own examples.
pub fn rules_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(mut config) = load::parse_config(Path::new("fuzz.toml"), text) else { return };
    // The file's own rules only: compiling every built-in rule per input would be most of the
    // time (the engine target covers the built-ins).
    config.syntax.extend.use_default = false;
    let Ok(set) = load::build_rule_set(&[config]) else { return };
    if let Ok(engine) = Engine::new(set) {
        drop(engine.compile_all());
        drop(engine.scan(data));
    }
}

/// gitleaks-format configs, translated into rules.
pub fn gitleaks_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(mut configs) = gitleaks::load(Path::new(".gitleaks.toml"), text, 0) else { return };
    for config in &mut configs {
        config.syntax.extend.use_default = false;
    }
    if let Ok(set) = load::build_rule_set(&configs)
        && let Ok(engine) = Engine::new(set)
    {
        drop(engine.compile_all());
    }
}

/// Ignore files and baseline reports.
pub fn triage(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    drop(Triage::default().add_ignore_file(Path::new(".leakhoundignore"), &text));
    drop(parse_baseline(Path::new("baseline.json"), &text));
}

/// The decoders the engine runs on blobs (and on values a rule reveals under a public scheme),
/// and the base64 round trip.
pub fn decoders(data: &[u8]) {
    drop(decode::views(data));
    for scheme in crate::engine::reveal::NAMES {
        drop(crate::engine::reveal::reveal(scheme, data, data));
    }
    drop(decode::percent(data));
    drop(decode::json_unescape(data));
    drop(crate::blob::utf16_to_utf8(data));
    if let Some(decoded) = decode::base64(data) {
        drop(decode::base64(decode::base64_encode(&decoded).as_bytes()));
    }
    let encoded = decode::base64_encode(data);
    assert_eq!(decode::base64(encoded.as_bytes()).as_deref(), Some(data), "base64 round trip");
}

/// The whole engine (prefilter, regexes, entropy, decoders, allowlists) on one blob.
pub fn engine_scan(data: &[u8]) {
    drop(engine().scan(data));
}

/// `WWW-Authenticate`, `Retry-After` and `Link` header values from a registry.
pub fn http_headers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    drop(http::Challenge::parse(&text));
    let _ = http::parse_retry_after(&text, SystemTime::UNIX_EPOCH);
    drop(http::next_link(&text));
}

/// Harbor's artifact listings and the distribution catalog's pages.
pub fn registry_json(data: &[u8]) {
    if let Ok(artifacts) = serde_json::from_slice::<Vec<harbor::Artifact>>(data) {
        for artifact in artifacts {
            drop(harbor::to_listed("project", "project/repo", artifact));
        }
    }
    drop(serde_json::from_slice::<catalog::CatalogPage>(data));
    drop(serde_json::from_slice::<catalog::TagsPage>(data));
}

/// Runs the binary's command line in-process, output discarded (exit codes are not checked:
/// any input may be an error, none may panic).
fn run_cli(args: &[&str]) {
    let mut line = vec!["leakhound"];
    line.extend_from_slice(args);
    line.extend_from_slice(&["--quiet", "--format", "json", "--report", "/dev/null"]);
    if let Ok(cli) = crate::cli::Cli::try_parse_from(line) {
        drop(crate::run(&cli));
    }
}

/// A seed repository with one pack, made once per process.
struct SeedRepository {
    dir: PathBuf,
    /// The pack file, relative to `dir`.
    pack: PathBuf,
}

fn seed_repository() -> Option<&'static SeedRepository> {
    static SEED: OnceLock<Option<SeedRepository>> = OnceLock::new();
    SEED.get_or_init(|| {
        // Leaked on purpose: the seed lives as long as the fuzzing process.
        let dir = Scratch::new().keep();
        make_seed_repository(&dir.join("repo.git")).ok()
    })
    .as_ref()
}

fn make_seed_repository(dir: &Path) -> Result<SeedRepository, git2::Error> {
    let repo = git2::Repository::init_bare(dir)?;
    let sig = git2::Signature::new("Fuzz", "fuzz@example.com", &git2::Time::new(1_700_000_000, 0))?;
    let mut parent: Option<git2::Oid> = None;
    for (i, body) in SEED_FILES.iter().enumerate() {
        let blob = repo.blob(body.as_bytes())?;
        let mut tree = repo.treebuilder(None)?;
        tree.insert("config.env", blob, 0o100_644)?;
        let tree = repo.find_tree(tree.write()?)?;
        let parents: Vec<git2::Commit<'_>> =
            parent.map(|p| repo.find_commit(p)).transpose()?.into_iter().collect();
        let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        let message = format!("change {i}");
        parent = Some(repo.commit(Some("HEAD"), &sig, &sig, &message, &tree, &refs)?);
    }
    let mut builder = repo.packbuilder()?;
    builder.insert_walk(&mut {
        let mut walk = repo.revwalk()?;
        walk.push_head()?;
        walk
    })?;
    let pack_dir = dir.join("objects/pack");
    builder.write(&pack_dir, 0o644)?;
    let pack = std::fs::read_dir(&pack_dir)
        .map_err(|e| git2::Error::from_str(&e.to_string()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "pack"))
        .ok_or_else(|| git2::Error::from_str("no pack written"))?;
    // Only the pack holds the objects now.
    for entry in std::fs::read_dir(dir.join("objects")).into_iter().flatten().flatten() {
        let name = entry.file_name();
        if name.len() == 2 {
            drop(std::fs::remove_dir_all(entry.path()));
        }
    }
    let pack = pack.strip_prefix(dir).map(Path::to_owned).unwrap_or(pack);
    Ok(SeedRepository { dir: dir.to_owned(), pack })
}

/// File versions of the seed history: deltas against each other, one with a fake token.
const SEED_FILES: &[&str] = &[
    "DATABASE_URL=postgres://app@db/app\nLOG_LEVEL=info\n",
    "DATABASE_URL=postgres://app@db/app\nLOG_LEVEL=debug\nGITHUB_TOKEN=ghp_\
     R4nd0mF4k3T0k3nV4lu3F0rFuzz1ngAbCd00e1DH\n",
    "DATABASE_URL=postgres://app@db/app\nLOG_LEVEL=debug\n",
];

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// A directory removed when dropped (the library has no tempfile dependency; fuzz inputs that
/// must be files, such as archives and repositories, go here).
struct Scratch(Option<PathBuf>);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = Path::new("/dev/shm");
        let base = if base.is_dir() { base.to_owned() } else { std::env::temp_dir() };
        let name = format!(
            "leakhound-fuzz-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = base.join(name);
        drop(std::fs::create_dir_all(&dir));
        Scratch(Some(dir))
    }

    fn path(&self) -> &Path {
        self.0.as_deref().expect("a scratch directory has a path until kept")
    }

    fn keep(mut self) -> PathBuf {
        self.0.take().expect("a scratch directory is kept once")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            drop(std::fs::remove_dir_all(dir));
        }
    }
}

// Seeds: small valid inputs for each target.

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        drop(builder.append_data(&mut header, name, *data));
    }
    builder.into_inner().unwrap_or_default()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    drop(encoder.write_all(data));
    encoder.finish().unwrap_or_default()
}

fn layer_seeds() -> Vec<Vec<u8>> {
    let tar = tar_of(&[
        ("app/.env", SEED_FILES[1].as_bytes()),
        ("app/.wh.old.env", b""),
        ("etc/.wh..wh..opq", b""),
    ]);
    let zstd = zstd::encode_all(&tar[..], 1).unwrap_or_default();
    vec![gzip(&tar), zstd, tar]
}

fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in files {
        let options = zip::write::SimpleFileOptions::default();
        drop(writer.start_file(*name, options));
        drop(writer.write_all(data));
    }
    writer.finish().map(Cursor::into_inner).unwrap_or_default()
}

fn archive_seeds() -> Vec<Vec<u8>> {
    let secret = SEED_FILES[1].as_bytes();
    let jar = zip_of(&[("BOOT-INF/classes/application.properties", secret)]);
    let war = zip_of(&[("WEB-INF/lib/core.jar", &jar), ("index.html", b"<html></html>")]);
    let tar = tar_of(&[("conf/.env", secret), ("lib/app.jar", &jar)]);
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(SEED_FILES[1].encode_utf16().flat_map(u16::to_le_bytes));
    vec![war, gzip(&tar), zstd::encode_all(&tar[..], 1).unwrap_or_default(), utf16]
}

fn image_archive_seeds() -> Vec<Vec<u8>> {
    let layer = tar_of(&[("app/.env", SEED_FILES[1].as_bytes())]);
    let diff_id = crate::source::oci::archive::digest_of(&layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["A=1"]}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
    );
    let manifest = br#"[{"Config":"config.json","RepoTags":["app:1"],"Layers":["layer.tar"]}]"#;
    let docker = tar_of(&[
        ("manifest.json", manifest),
        ("config.json", config.as_bytes()),
        ("layer.tar", &layer),
    ]);
    vec![gzip(&docker), docker]
}

fn image_json_seeds() -> Vec<Vec<u8>> {
    vec![
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":7,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bb","size":7,"annotations":{"vnd.docker.reference.type":"attestation-manifest"}}]}"#.to_vec(),
        br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:cc","size":2},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:dd","size":9}]}"#.to_vec(),
        br#"{"architecture":"arm","os":"linux","variant":"v7","config":{"Env":["PATH=/bin"],"Cmd":["sh"],"Labels":{"a":"b"}},"history":[{"created_by":"RUN echo hi"}]}"#.to_vec(),
    ]
}

fn git_history_seeds() -> Vec<Vec<u8>> {
    seed_repository()
        .and_then(|seed| std::fs::read(seed.dir.join(&seed.pack)).ok())
        .into_iter()
        .collect()
}

fn git_tree_seeds() -> Vec<Vec<u8>> {
    let Ok(blob) = git2::Oid::hash_object(git2::ObjectType::Blob, SEED_FILES[1].as_bytes()) else {
        return Vec::new();
    };
    let sub = git2::Oid::hash_object(git2::ObjectType::Tree, &sub_tree_of(blob));
    sub.map(|sub| vec![tree_of(blob, sub), sub_tree_of(blob)]).unwrap_or_default()
}

fn rules_toml_seeds() -> Vec<Vec<u8>> {
    vec![
        br#"[[rule]]
id = "acme.api-key"
name = "Acme API key"
description = "An Acme API key"
pattern = '''\b(acme_[a-z0-9]{32})\b'''
keywords = ["acme_"]
entropy = { min = 3.0 }
examples = ["key = acme_0123456789abcdefghijklmnopqrstuv", "acme_zyxwvutsrqponmlkjihgfedcba987654"]
negative_examples = ["acme_short", "acme_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]
"#
        .to_vec(),
    ]
}

fn gitleaks_toml_seeds() -> Vec<Vec<u8>> {
    vec![
        br#"title = "custom"
[extend]
useDefault = true
disabledRules = ["generic-api-key"]
[[rules]]
id = "acme"
regex = '''acme_[a-z0-9]{32}'''
keywords = ["acme_"]
entropy = 3.0
[[rules.allowlists]]
paths = ['''^test/''']
stopwords = ["example"]
[allowlist]
regexes = ['''EXAMPLE''']
"#
        .to_vec(),
    ]
}

fn triage_seeds() -> Vec<Vec<u8>> {
    vec![
        b"0123456789abcdef0123456789abcdef\n# accepted\nabc123:config/.env:github.pat:3\n".to_vec(),
        br#"{"findings":[{"fingerprint":"0123456789abcdef0123456789abcdef"}]}"#.to_vec(),
    ]
}

fn decoders_seeds() -> Vec<Vec<u8>> {
    vec![
        b"token=Z2hwX1I0bmQwbUY0azNUMGszblY0bHUzRjByRnV6ejFuZ0FiQ2QwMGUxREg=".to_vec(),
        b"password=p%40ss%3Aw0rd%2F%7E".to_vec(),
        br#"{"key":"line\nnext\u0041\ud83d\ude00"}"#.to_vec(),
    ]
}

fn engine_seeds() -> Vec<Vec<u8>> {
    vec![
        SEED_FILES[1].as_bytes().to_vec(),
        b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n".to_vec(),
    ]
}

fn http_headers_seeds() -> Vec<Vec<u8>> {
    vec![
        br#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:app:pull""#.to_vec(),
        b"Wed, 21 Oct 2015 07:28:00 GMT".to_vec(),
        b"120".to_vec(),
        br#"</v2/_catalog?n=100&last=app>; rel="next""#.to_vec(),
    ]
}

fn registry_json_seeds() -> Vec<Vec<u8>> {
    vec![
        br#"[{"digest":"sha256:aa","type":"IMAGE","push_time":"2024-05-01T10:11:12.123Z","tags":[{"name":"1.0"}],"references":[{"child_digest":"sha256:bb","platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}]"#.to_vec(),
        br#"{"repositories":["a/b","c"],"tags":["1","2"]}"#.to_vec(),
    ]
}
