//! Secrets inside archives (issue #15), end to end: real zips, jars, wars, wheels and tarballs
//! built here with the `zip`, `tar` and `flate2` crates (and Python's zipfile), scanned by the
//! real binary from a directory, a git history, the index and an OCI image layer.

use std::io::{Cursor, Write};

use serde_json::Value;

use crate::common::{TestEnv, fake, git};
use crate::registry::{Compression, Entry, ImageSpec, Layout, Mode, Registry, layer_tar};
use crate::sweep_registry::Pusher;

/// A fresh registry holding `layers` as `repository:v1` (linux/amd64).
fn registry_with(repository: &str, layers: &[Vec<u8>]) -> Registry {
    let registry = Registry::start(Mode::Plain);
    Pusher::new(&format!("http://{}", registry.addr)).image(repository, "v1", layers, &[], "amd64");
    registry
}

/// `sweep REGISTRY --insecure-registry --cache cache.db EXTRA…`, to run twice against one cache.
fn cached_sweep<'a>(registry: &'a Registry, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args =
        vec!["sweep", registry.addr.as_str(), "--insecure-registry", "--cache", "cache.db"];
    args.extend(extra);
    args
}

/// Deflated members, as jars and wheels hold them.
fn deflated() -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated)
}

/// A zip (jar, war, wheel: all the same container) of `members`, deflated.
pub(crate) fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    zip_with(deflated(), members)
}

/// A zip of `members`, each written with `options`.
fn zip_with(options: zip::write::SimpleFileOptions, members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in members {
        w.start_file(*name, options).expect("start member");
        w.write_all(data).expect("write member");
    }
    w.finish().expect("finish zip").into_inner()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).expect("gzip");
    gz.finish().expect("finish gzip")
}

fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let entries: Vec<Entry> =
        members.iter().map(|(p, d)| Entry::File((*p).to_owned(), d.to_vec())).collect();
    layer_tar(&entries)
}

/// `db.properties` with a GitHub token on line 3.
fn properties() -> String {
    format!("db.user=app\ndb.pool=8\ngithub.token={}\n", fake::github_pat())
}

/// A war holding a jar holding `config/db.properties` (token on line 3).
fn war() -> Vec<u8> {
    let jar = zip_of(&[
        ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n"),
        ("config/db.properties", properties().as_bytes()),
    ]);
    zip_of(&[("WEB-INF/web.xml", b"<web-app/>\n"), ("WEB-INF/lib/core.jar", &jar)])
}

fn findings(doc: &Value) -> &Vec<Value> {
    doc["findings"].as_array().expect("findings")
}

fn paths_and_lines(doc: &Value) -> Vec<(String, u64)> {
    findings(doc)
        .iter()
        .map(|f| (f["path"].as_str().expect("path").to_owned(), f["line"].as_u64().expect("line")))
        .collect()
}

/// Runs `args` and checks that it exits 1 with exactly these findings (path, line).
fn found_exactly(env: &TestEnv, args: &[&str], expected: &[(&str, u64)]) -> Value {
    let (code, doc) = env.json(args);
    assert_eq!(code, 1, "{doc}");
    let expected: Vec<(String, u64)> =
        expected.iter().map(|(p, l)| ((*p).to_owned(), *l)).collect();
    assert_eq!(paths_and_lines(&doc), expected, "{doc}");
    doc
}

fn listed<'a>(doc: &'a Value, key: &str) -> Vec<(&'a str, &'a str)> {
    let field = if key == "errors" { "message" } else { "reason" };
    doc[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}: {doc}"))
        .iter()
        .map(|e| (e["origin"].as_str().expect("origin"), e[field].as_str().expect("reason")))
        .collect()
}

#[test]
fn jar_in_war_in_image_layer_found_at_nested_path() {
    let env = TestEnv::new();
    let layer = layer_tar(&[Entry::File("srv/app.war".into(), war())]);
    let mut layout = Layout::new(&env.path().join("layout"));
    let spec = ImageSpec::new(&[layer], Compression::Gzip);
    let manifest = layout.manifest(&spec);
    layout.tag(manifest, "v1");
    let target = format!("oci:{}:v1", layout.dir.display());
    let (code, doc) = env.json(&["image", &target]);
    assert_eq!(code, 1, "{doc}");
    let found: Vec<&Value> =
        findings(&doc).iter().filter(|f| f["rule_id"] == "github.token").collect();
    assert_eq!(found.len(), 1, "{doc}");
    assert_eq!(found[0]["path"], "srv/app.war!WEB-INF/lib/core.jar!config/db.properties");
    assert_eq!(found[0]["line"], 3);
    assert_eq!(found[0]["image"]["layer_index"], 0);
    assert_eq!(doc["stats"]["archives"], 2, "the war and the jar: {doc}");
    assert_eq!(doc["stats"]["archive_members"], 4, "{doc}");
}

#[test]
fn nested_path_in_every_report_format() {
    let env = TestEnv::new();
    env.file("app.war", war());
    let nested = "app.war!WEB-INF/lib/core.jar!config/db.properties";
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 1);
    assert_eq!(paths_and_lines(&doc), [(nested.to_owned(), 3)], "{doc}");
    let sarif: Value =
        serde_json::from_slice(&env.run(&["dir", ".", "--format", "sarif"]).stdout).expect("sarif");
    let location = &sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], nested, "{sarif}");
    assert_eq!(location["region"]["startLine"], 3);
    let gitlab: Value =
        serde_json::from_slice(&env.run(&["dir", ".", "--format", "gitlab"]).stdout)
            .expect("gitlab");
    assert_eq!(gitlab["vulnerabilities"][0]["location"]["file"], nested, "{gitlab}");
    let text = env.run(&["dir", "."]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains(&format!("{nested}:3:")), "{stdout}");
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(
        format!("{stdout}{stderr}").contains("2 archive(s) opened (4 members)"),
        "{stdout}{stderr}"
    );
}

#[test]
fn wheel_built_by_python_zipfile() {
    let env = TestEnv::new();
    let wheel = env.path().join("pkg-1.0-py3-none-any.whl");
    let script = format!(
        "import zipfile\nz = zipfile.ZipFile({:?}, 'w', zipfile.ZIP_DEFLATED)\n\
         z.writestr('pkg/__init__.py', '')\n\
         z.writestr('pkg/settings.py', 'DEBUG = False\\nAWS_ACCESS_KEY_ID = \"{}\"\\n')\n\
         z.writestr('pkg-1.0.dist-info/RECORD', 'pkg/settings.py,,\\n')\nz.close()\n",
        wheel.display().to_string(),
        fake::aws_key_id()
    );
    let out =
        std::process::Command::new("python3").args(["-c", &script]).output().expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    found_exactly(&env, &["dir", "."], &[("pkg-1.0-py3-none-any.whl!pkg/settings.py", 2)]);
}

#[test]
fn tar_gz_committed_then_deleted_found_in_history() {
    let env = TestEnv::new();
    let dir = env.path();
    git(dir, &["init", "-q", "-b", "main"]);
    let env_file = format!("# app\nPORT=8080\nAWS_KEY={}\n", fake::aws_key_id());
    env.file("configs.tar.gz", gzip(&tar_of(&[("etc/app.env", env_file.as_bytes())])));
    git(dir, &["add", "configs.tar.gz"]);
    git(dir, &["commit", "-q", "-m", "configs"]);
    let added = git(dir, &["rev-parse", "HEAD"]);
    git(dir, &["rm", "-q", "configs.tar.gz"]);
    git(dir, &["commit", "-q", "-m", "remove configs"]);
    let doc = found_exactly(&env, &["git", "."], &[("configs.tar.gz!etc/app.env", 3)]);
    assert_eq!(findings(&doc)[0]["commit"]["sha"], added.as_str());
}

#[test]
fn staged_jar_is_opened() {
    let env = TestEnv::new();
    let dir = env.path();
    git(dir, &["init", "-q", "-b", "main"]);
    env.file("lib/app.jar", zip_of(&[("application.properties", properties().as_bytes())]));
    git(dir, &["add", "lib/app.jar"]);
    found_exactly(&env, &["staged"], &[("lib/app.jar!application.properties", 3)]);
}

#[test]
fn bz2_xz_and_zstd_streams() {
    let env = TestEnv::new();
    let tar = tar_of(&[("conf/app.env", properties().as_bytes())]);
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&tar).expect("bzip2");
    env.file("a.tar.bz2", bz.finish().expect("bzip2"));
    env.file("b.tar.zst", zstd::encode_all(&tar[..], 3).expect("zstd"));
    env.file("c.env.gz", gzip(properties().as_bytes()));
    let script = format!(
        "import lzma, sys\nopen({:?}, 'wb').write(lzma.compress(sys.stdin.buffer.read()))\n",
        env.path().join("d.tar.xz").display().to_string()
    );
    let mut python = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    python.stdin.take().expect("stdin").write_all(&tar).expect("pipe");
    assert!(python.wait().expect("python3").success());
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 1, "{doc}");
    let paths: Vec<String> = paths_and_lines(&doc).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        [
            "a.tar.bz2!conf/app.env",
            "b.tar.zst!conf/app.env",
            "c.env.gz!(gzip content)",
            "d.tar.xz!conf/app.env"
        ],
        "{doc}"
    );
}

#[test]
fn zip_bomb_is_cut_short_and_named_and_the_rest_scanned() {
    let env = TestEnv::new();
    // One letter repeated inflates about 1000:1 (zeros would be skipped as binary after their
    // head); 42.zip-style nesting repeats it 16 times a level.
    let filler = vec![b'A'; 4 << 20];
    let bomb = zip_of(&[("filler.txt", &filler)]);
    let copies: Vec<(String, Vec<u8>)> =
        (0..16).map(|i| (format!("{i}.zip"), zip_of(&[(&format!("z{i}.txt"), &filler)]))).collect();
    let refs: Vec<(&str, &[u8])> = copies.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    let nested = zip_of(&refs);
    env.file(
        "bomb.zip",
        zip_of(&[("big/bomb.zip", &bomb), ("notes.txt", properties().as_bytes())]),
    );
    env.file("42.zip", nested);
    // The secret beside the bomb is found, the bomb is a skip.
    let doc = found_exactly(&env, &["dir", "."], &[("bomb.zip!notes.txt", 3)]);
    let skipped = listed(&doc, "skipped");
    assert!(
        skipped.iter().any(|(o, r)| *o == "bomb.zip!big/bomb.zip!filler.txt"
            && r.contains("inflates more than 500:1")),
        "{skipped:?}"
    );
    assert_eq!(
        skipped.iter().filter(|(o, _)| o.starts_with("42.zip!")).count(),
        16,
        "every nested bomb named: {skipped:?}"
    );
    assert_eq!(doc["errors"].as_array().map(Vec::len), Some(0), "a cap is no error: {doc}");
}

#[test]
fn inflated_cap_stops_the_outermost_archive() {
    let env = TestEnv::new();
    let text = "line of text that compresses well enough\n".repeat(4096);
    let members: Vec<(String, Vec<u8>)> =
        (0..8).map(|i| (format!("f{i}.txt"), format!("{i}{text}").into_bytes())).collect();
    let refs: Vec<(&str, &[u8])> =
        members.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    env.file("many.zip", zip_of(&refs));
    let (code, doc) = env.json(&["dir", ".", "--max-archive-inflated", "500K"]);
    assert_eq!(code, 0, "{doc}");
    let skipped = listed(&doc, "skipped");
    assert!(
        skipped.iter().any(|(o, r)| o.starts_with("many.zip!f")
            && r.contains("--max-archive-inflated (512000 bytes")),
        "{skipped:?}"
    );
    assert!(doc["stats"]["archive_members"].as_u64() < Some(8), "{doc}");
}

#[test]
fn depth_cap_names_the_archive_not_opened_and_zero_turns_archives_off() {
    let env = TestEnv::new();
    let mut inner = zip_of(&[("deep.properties", properties().as_bytes())]);
    for level in 0..5 {
        inner = zip_of(&[(&format!("l{level}.zip"), &inner)]);
    }
    env.file("deep.zip", &inner);
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 0, "{doc}");
    let skipped = listed(&doc, "skipped");
    assert_eq!(
        skipped,
        [(
            "deep.zip!l4.zip!l3.zip!l2.zip!l1.zip",
            "a zip archive nested deeper than --max-archive-depth (4): not opened"
        )],
        "{doc}"
    );
    let (code, doc) = env.json(&["dir", ".", "--max-archive-depth", "6"]);
    assert_eq!(code, 1, "{doc}");
    let (code, doc) = env.json(&["dir", ".", "--max-archive-depth", "0"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["stats"]["archives"], 0);
    assert_eq!(doc["stats"]["skipped_binary"], 1, "off: an archive is a binary file: {doc}");
}

/// A zip of `members` whose central directory cannot be found (the end-of-central-directory
/// record's signature is broken): read from its local headers, and an error.
fn broken_zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut data = zip_of(members);
    let eocd = data.windows(4).rposition(|w| w == b"PK\x05\x06").expect("eocd");
    data[eocd + 2] = b'X';
    data
}

#[test]
fn corrupt_central_directory_read_from_local_headers() {
    let env = TestEnv::new();
    let data = broken_zip(&[("a.properties", properties().as_bytes()), ("b.txt", b"plain\n")]);
    env.file("broken.zip", &data);
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 2, "content may be missing: an error: {doc}");
    assert_eq!(paths_and_lines(&doc), [("broken.zip!a.properties".to_owned(), 3)], "{doc}");
    let errors = listed(&doc, "errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "broken.zip");
    assert!(
        errors[0].1.contains("central directory unreadable")
            && errors[0].1.contains("2 members were read from their local headers"),
        "{errors:?}"
    );
}

#[test]
fn truncated_tar_gz_scans_what_came_before_and_fails() {
    let env = TestEnv::new();
    let noise: Vec<u8> =
        (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 1).collect();
    let data = gzip(&tar_of(&[("first.env", properties().as_bytes()), ("second.bin", &noise)]));
    env.file("cut.tar.gz", &data[..data.len() / 2]);
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 2, "{doc}");
    assert_eq!(paths_and_lines(&doc), [("cut.tar.gz!first.env".to_owned(), 3)], "{doc}");
    let errors = listed(&doc, "errors");
    assert!(
        errors.iter().any(|(o, m)| o.starts_with("cut.tar.gz") && m.contains("cannot read it")),
        "{errors:?}"
    );
}

#[test]
fn encrypted_member_and_7z_rar_named_as_not_scanned() {
    let env = TestEnv::new();
    let mut data = zip_of(&[("secret.txt", properties().as_bytes()), ("open.txt", b"hello\n")]);
    // Set the "encrypted" flag of the first member in its local and central headers.
    let local = data.windows(4).position(|w| w == b"PK\x03\x04").expect("local header");
    data[local + 6] |= 1;
    let central = data.windows(4).position(|w| w == b"PK\x01\x02").expect("central header");
    data[central + 8] |= 1;
    env.file("locked.zip", &data);
    env.file("tools.7z", b"7z\xbc\xaf\x27\x1c\x00\x04rest of a 7z archive\0");
    env.file("old.rar", b"Rar!\x1a\x07\x01\x00rest of a rar archive\0");
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 0, "not scanned by choice: skips, not errors: {doc}");
    let skipped = listed(&doc, "skipped");
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert_eq!(
        skipped[0],
        ("locked.zip!secret.txt", "an encrypted member: not scanned (no password is tried)")
    );
    assert!(skipped[1].0 == "old.rar" && skipped[1].1.starts_with("a rar archive: not supported"));
    assert!(skipped[2].0 == "tools.7z" && skipped[2].1.starts_with("a 7z archive: not supported"));
}

#[test]
fn member_names_with_dotdot_absolute_and_invalid_utf8_are_shown_not_followed() {
    let env = TestEnv::new();
    let secret = properties();
    let zip = zip_of(&[
        ("../../etc/evil.conf", secret.as_bytes()),
        ("/abs/path.conf", secret.as_bytes()),
    ]);
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(secret.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    // Bytes that are not UTF-8 go straight into the header's name field.
    header.as_gnu_mut().expect("gnu header").name[..8].copy_from_slice(b"bad\xffname");
    header.set_cksum();
    builder.append(&header, secret.as_bytes()).expect("append");
    env.file("names.zip", zip);
    env.file("names.tar", builder.into_inner().expect("tar"));
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 1, "{doc}");
    let paths: Vec<String> = paths_and_lines(&doc).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        ["names.tar!bad\u{fffd}name", "names.zip!../../etc/evil.conf", "names.zip!/abs/path.conf"],
        "{doc}"
    );
    assert!(!env.path().parent().expect("parent").join("etc/evil.conf").exists());
}

#[test]
fn identical_members_dedupe_across_archives() {
    let env = TestEnv::new();
    let jar = zip_of(&[("application.properties", properties().as_bytes())]);
    env.file("a/app.jar", &jar);
    env.file("b/app-copy.jar", &jar);
    env.file("c/other.zip", zip_of(&[("x/application.properties", properties().as_bytes())]));
    // One thread: two threads may open both copies at once, before either is recorded.
    let (code, doc) = env.json(&["dir", ".", "--threads", "1"]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(findings(&doc).len(), 3, "every place reported: {doc}");
    assert_eq!(doc["stats"]["scanned"], 1, "one distinct content scanned: {doc}");
    assert_eq!(doc["stats"]["archives"], 2, "the copy of the jar is not opened again: {doc}");
}

/// A 12 MB jar: an incompressible (stored) padding member, then `application.properties` with a
/// GitHub token on line 3. Over the default --max-file-size (10M), within --max-archive-size.
fn fat_jar() -> Vec<u8> {
    let mut padding = vec![0u8; 12 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in padding.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    zip_of(&[
        ("BOOT-INF/lib/padding.bin", &padding),
        ("BOOT-INF/classes/application.properties", properties().as_bytes()),
    ])
}

#[test]
fn archive_over_max_file_size_is_opened_up_to_max_archive_size() {
    let env = TestEnv::new();
    let dir = env.path();
    let jar = fat_jar();
    assert!(jar.len() > 12 << 20, "the jar is over --max-file-size");
    let nested = "app.jar!BOOT-INF/classes/application.properties";
    git(dir, &["init", "-q", "-b", "main"]);
    env.file("app.jar", jar.clone());
    git(dir, &["add", "app.jar"]);
    found_exactly(&env, &["staged"], &[(nested, 3)]);
    git(dir, &["commit", "-q", "-m", "jar"]);
    let doc = found_exactly(&env, &["dir", "."], &[(nested, 3)]);
    assert_eq!(doc["stats"]["skipped_too_large"], 1, "the padding member: {doc}");
    found_exactly(&env, &["git", "."], &[(nested, 3)]);

    // Over --max-archive-size: skipped like any file, and named in history.
    let (code, doc) = env.json(&["dir", ".", "--max-archive-size", "11M"]);
    assert_eq!((code, findings(&doc).len()), (0, 0), "{doc}");
    assert_eq!(doc["stats"]["skipped_too_large"], 1, "{doc}");
    let (code, doc) = env.json(&["git", ".", "--max-archive-size", "11M"]);
    assert_eq!(code, 0, "{doc}");
    let skipped = listed(&doc, "skipped");
    assert_eq!(skipped.len(), 1, "{doc}");
    assert!(skipped[0].0.starts_with("app.jar (commit "), "{doc}");
    assert!(skipped[0].1.contains("--max-archive-size"), "{doc}");

    let layer = layer_tar(&[Entry::File("app/app.jar".into(), jar)]);
    let mut layout = Layout::new(&env.path().join("layout"));
    let spec = ImageSpec::new(&[layer], Compression::Gzip);
    let manifest = layout.manifest(&spec);
    layout.tag(manifest, "v1");
    let target = format!("oci:{}:v1", layout.dir.display());
    found_exactly(
        &env,
        &["image", &target],
        &[("app/app.jar!BOOT-INF/classes/application.properties", 3)],
    );
}

/// The origins of the report's errors, sorted.
fn error_origins(doc: &Value) -> Vec<String> {
    let mut origins: Vec<String> =
        listed(doc, "errors").into_iter().map(|(o, _)| o.to_owned()).collect();
    origins.sort();
    origins
}

#[test]
fn a_copy_of_a_corrupt_zip_is_named_at_every_place_even_when_its_result_is_reused() {
    let env = TestEnv::new();
    let zip = broken_zip(&[("a.txt", b"plain\n")]);
    // One thread, one layer at a time: the second copy is served from the first's result.
    env.file("a/broken.zip", &zip);
    env.file("b/copy.zip", &zip);
    let (code, doc) = env.json(&["dir", ".", "--threads", "1"]);
    assert_eq!(code, 2, "{doc}");
    assert_eq!(error_origins(&doc), ["a/broken.zip", "b/copy.zip"], "{doc}");
    assert_eq!(doc["stats"]["archives"], 1, "opened once: {doc}");

    let layers = [
        layer_tar(&[Entry::File("srv/a/broken.zip".into(), zip.clone())]),
        layer_tar(&[Entry::File("opt/b/copy.zip".into(), zip)]),
    ];
    let in_layers = |doc: &Value| {
        let origins = error_origins(doc);
        assert_eq!(origins.len(), 2, "one error per layer: {doc}");
        let mut names: Vec<&str> =
            origins.iter().map(|o| o.rsplit_once(": ").expect("layer: path").1).collect();
        names.sort_unstable();
        assert_eq!(names, ["opt/b/copy.zip", "srv/a/broken.zip"], "{doc}");
    };
    let mut layout = Layout::new(&env.path().join("layout"));
    let manifest = layout.manifest(&ImageSpec::new(&layers, Compression::Gzip));
    layout.tag(manifest, "v1");
    let target = format!("oci:{}:v1", layout.dir.display());
    let (code, doc) = env.json(&["image", &target, "--layer-jobs", "1", "--threads", "1"]);
    assert_eq!(code, 2, "{doc}");
    in_layers(&doc);

    // A sweep keeps each layer's problems in its cached result: the second run reads both
    // layers from the cache and names both copies again.
    let registry = registry_with("team/twice", &layers);
    let sweep = cached_sweep(&registry, &["--concurrency", "1", "--threads", "1"]);
    for run in ["scanned", "from the cache"] {
        let (code, doc) = env.json(&sweep);
        assert_eq!(code, 2, "{run}: {doc}");
        in_layers(&doc);
    }
}

/// The head of a Spring Boot launch script (the real one runs to some 300 lines), which
/// `spring-boot:repackage` with `executable` puts before the jar; `extra` goes on line 4.
fn launch_script(extra: &str) -> String {
    format!(
        "#!/bin/bash\n#\n### BEGIN INIT INFO\n{extra}\n# Provides:          app\n\
         ### END INIT INFO\njarfile=$(readlink -f \"$0\")\nexec java -jar \"$jarfile\" \"$@\"\n\
         exit 0\n"
    )
}

#[test]
fn spring_boot_executable_jar_behind_a_launch_script_is_opened() {
    let env = TestEnv::new();
    let properties = properties();
    let members = [
        ("META-INF/MANIFEST.MF", &b"Main-Class: org.springframework.boot.loader.JarLauncher\n"[..]),
        ("BOOT-INF/classes/application.properties", properties.as_bytes()),
    ];
    // As `cat launch.sh app.zip > app.jar` makes it: the zip's offsets count from its own start.
    let mut jar = launch_script("#").into_bytes();
    jar.extend(zip_of(&members));
    env.file("app.jar", &jar);
    // As Python's zipfile appends to a file that is no zip: offsets count from the file's start.
    // A key in the script is still found, in the script's own lines.
    let script = launch_script(&format!("# AWS_ACCESS_KEY_ID={}", fake::aws_key_id()));
    env.file("svc.jar", script.as_bytes());
    let python = format!(
        "import zipfile, sys\nz = zipfile.ZipFile({:?}, 'a', zipfile.ZIP_DEFLATED)\n\
         z.writestr('BOOT-INF/classes/application.properties', sys.stdin.read())\nz.close()\n",
        env.path().join("svc.jar").display().to_string()
    );
    let mut child = std::process::Command::new("python3")
        .args(["-c", &python])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().expect("stdin").write_all(properties.as_bytes()).expect("pipe");
    assert!(child.wait().expect("python3").success());
    assert!(std::fs::read(env.path().join("svc.jar")).expect("jar").starts_with(b"#!/bin/bash"));
    let doc = found_exactly(
        &env,
        &["dir", "."],
        &[
            ("app.jar!BOOT-INF/classes/application.properties", 3),
            ("svc.jar!(zip prefix)", 4),
            ("svc.jar!BOOT-INF/classes/application.properties", 3),
        ],
    );
    assert_eq!(doc["stats"]["archives"], 2, "{doc}");
    assert_eq!(doc["errors"].as_array().map(Vec::len), Some(0), "{doc}");
}

/// Zip records written by hand, for archives no zip writer makes: bombs and forged sizes.
mod raw {
    /// One member's header fields.
    pub struct Member<'a> {
        pub name: &'a str,
        /// 0 stored, 8 deflated.
        pub method: u16,
        pub crc: u32,
        /// Bytes of data in the archive.
        pub stored: u64,
        /// Bytes it declares to inflate to.
        pub size: u64,
        /// Where its local header is.
        pub offset: u64,
    }

    fn put(out: &mut Vec<u8>, fields: &[(u64, usize)]) {
        for &(value, width) in fields {
            out.extend_from_slice(&value.to_le_bytes()[..width]);
        }
    }

    /// 32-bit sizes, or (zip64) all ones and the real ones in a zip64 extra field.
    fn sizes(m: &Member<'_>, zip64: bool) -> [(u64, usize); 2] {
        let field = |v: u64| if zip64 { u64::from(u32::MAX) } else { v };
        [(field(m.stored), 4), (field(m.size), 4)]
    }

    pub fn local(m: &Member<'_>, zip64: bool) -> Vec<u8> {
        let mut out = Vec::new();
        put(&mut out, &[(0x0403_4b50, 4), (45, 2), (0, 2), (u64::from(m.method), 2), (0, 2)]);
        put(&mut out, &[(0x21, 2), (u64::from(m.crc), 4)]);
        put(&mut out, &sizes(m, zip64));
        put(&mut out, &[(m.name.len() as u64, 2), (if zip64 { 20 } else { 0 }, 2)]);
        out.extend_from_slice(m.name.as_bytes());
        if zip64 {
            put(&mut out, &[(1, 2), (16, 2), (m.size, 8), (m.stored, 8)]);
        }
        out
    }

    pub fn central(m: &Member<'_>, zip64: bool) -> Vec<u8> {
        let mut out = Vec::new();
        put(&mut out, &[(0x0201_4b50, 4), (45, 2), (45, 2), (0, 2), (u64::from(m.method), 2)]);
        put(&mut out, &[(0, 2), (0x21, 2), (u64::from(m.crc), 4)]);
        put(&mut out, &sizes(m, zip64));
        put(&mut out, &[(m.name.len() as u64, 2), (if zip64 { 28 } else { 0 }, 2), (0, 2)]);
        let offset = if zip64 { u64::from(u32::MAX) } else { m.offset };
        put(&mut out, &[(0, 2), (0, 2), (0, 4), (offset, 4)]);
        out.extend_from_slice(m.name.as_bytes());
        if zip64 {
            put(&mut out, &[(1, 2), (24, 2), (m.size, 8), (m.stored, 8), (m.offset, 8)]);
        }
        out
    }

    /// The end records of a central directory of `entries` at `offset`, `size` bytes long,
    /// appended to `out` (which holds everything before them).
    pub fn end(out: &mut Vec<u8>, entries: u64, offset: u64, size: u64, zip64: bool) {
        if zip64 {
            let record = out.len() as u64;
            put(out, &[(0x0606_4b50, 4), (44, 8), (45, 2), (45, 2), (0, 4), (0, 4)]);
            put(out, &[(entries, 8), (entries, 8), (size, 8), (offset, 8)]);
            put(out, &[(0x0706_4b50, 4), (0, 4), (record, 8), (1, 4)]);
        }
        let (n, size, offset) =
            if zip64 { (0xffff, 0xffff_ffff, 0xffff_ffff) } else { (entries, size, offset) };
        put(out, &[(0x0605_4b50, 4), (0, 2), (0, 2), (n, 2), (n, 2), (size, 4), (offset, 4)]);
        put(out, &[(0, 2)]);
    }

    pub fn crc(data: &[u8]) -> u32 {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        crc.sum()
    }

    /// A zip bomb after David Fifield's "A better zip bomb" (2019): one member per name, each
    /// one's data a stored deflate block quoting the next member's local header and then that
    /// member's data, down to one deflated `kernel` (of `plain`) at the end. Every member
    /// overlaps the next and all share the kernel: each inflates to the kernel's output and
    /// the headers after it, with a distinct local header of its own (as a full overlap, where
    /// every entry names one local header, has not).
    pub fn quoted_overlap(names: &[String], kernel: &[u8], plain: &[u8]) -> Vec<u8> {
        // Back to front: a member's header holds the size and CRC-32 of what it inflates to,
        // which is the headers after it and then the kernel's output.
        let mut members: Vec<Member<'_>> = Vec::with_capacity(names.len());
        let mut headers: Vec<Vec<u8>> = Vec::with_capacity(names.len());
        let mut crc = flate2::Crc::new();
        crc.update(plain);
        let (mut stored, mut size) = (kernel.len() as u64, plain.len() as u64);
        for name in names.iter().rev() {
            if let Some(next) = headers.last() {
                stored += 5 + next.len() as u64;
                size += next.len() as u64;
                let mut quoted = flate2::Crc::new();
                quoted.update(next);
                quoted.combine(&crc);
                crc = quoted;
            }
            let member = Member { name, method: 8, crc: crc.sum(), stored, size, offset: 0 };
            headers.push(local(&member, false));
            members.push(member);
        }
        members.reverse();
        headers.reverse();
        let mut zip = Vec::new();
        for (i, member) in members.iter_mut().enumerate() {
            member.offset = zip.len() as u64;
            zip.extend(&headers[i]);
            if let Some(next) = headers.get(i + 1) {
                // A stored block, not the last: BFINAL 0, BTYPE 00, then LEN and its complement.
                let len = u16::try_from(next.len()).expect("a local header is short");
                zip.push(0);
                zip.extend(len.to_le_bytes());
                zip.extend((!len).to_le_bytes());
            }
        }
        zip.extend(kernel);
        let directory = zip.len() as u64;
        for member in &members {
            zip.extend(central(member, false));
        }
        let length = zip.len() as u64 - directory;
        end(&mut zip, members.len() as u64, directory, length, false);
        zip
    }
}

#[test]
fn overlapping_entry_zip_bombs_are_named_and_not_opened_and_the_rest_scanned() {
    let env = TestEnv::new();
    // One deflated kernel of 1 MiB of text (just under the ratio cap's free allowance), shared
    // by 2000 members: 2 GB inflated from some 200 KB, within --max-archive-inflated.
    let kernel = b"A".repeat(1 << 20);
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    deflate.write_all(&kernel).expect("deflate");
    let data = deflate.finish().expect("deflate");
    let names: Vec<String> = (0..2000).map(|i| format!("{i}.txt")).collect();
    // A full overlap: one local header, and 2000 central-directory entries that name it.
    let crc = raw::crc(&kernel);
    let member = |name, offset| raw::Member {
        name,
        method: 8,
        crc,
        stored: data.len() as u64,
        size: kernel.len() as u64,
        offset,
    };
    let mut full = raw::local(&member("kernel.txt", 0), false);
    full.extend(&data);
    let directory = full.len() as u64;
    for name in &names {
        full.extend(raw::central(&member(name, 0), false));
    }
    let size = full.len() as u64 - directory;
    raw::end(&mut full, names.len() as u64, directory, size, false);
    // Fifield's quoted overlap: a local header per member, each member's data running into the
    // next one's. A real bomb: the zip crate inflates its first member whole, CRC-32 checked.
    let quoted = raw::quoted_overlap(&names, &data, &kernel);
    let mut archive = zip::ZipArchive::new(Cursor::new(&quoted)).expect("a readable zip");
    assert_eq!(archive.len(), 2000);
    let mut first = archive.by_index(0).expect("the first member");
    let declared = first.size();
    let inflated = std::io::copy(&mut first, &mut std::io::sink()).expect("inflates");
    assert_eq!(inflated, declared);
    assert!(inflated > kernel.len() as u64 + 1999 * 30, "{inflated}");
    for (name, zip) in [("full.zip", &full), ("quoted.zip", &quoted)] {
        assert!(zip.len() < 250 << 10, "{name}: {}", zip.len());
        env.file(name, zip);
    }
    env.file("deploy.env", format!("GITHUB_TOKEN={}\n", fake::github_pat()));
    let doc = found_exactly(&env, &["dir", "."], &[("deploy.env", 1)]);
    let reason = "members share their stored data (an overlapping-entry zip bomb): not opened";
    let mut skipped = listed(&doc, "skipped");
    skipped.sort_unstable();
    assert_eq!(skipped, [("full.zip", reason), ("quoted.zip", reason)], "{doc}");
    assert_eq!(doc["errors"].as_array().map(Vec::len), Some(0), "a skip, not an error: {doc}");
    assert_eq!(doc["stats"]["archives"], 2, "{doc}");
    assert_eq!(doc["stats"]["archive_members"], 0, "no member inflated: {doc}");
}

#[test]
fn zip64_member_whose_declared_size_lies_is_read_or_named() {
    let env = TestEnv::new();
    let secret = properties().into_bytes();
    // A stored member, in a zip64 archive, declaring `size` bytes while holding `secret`.
    let forged = |size: u64| {
        let member = raw::Member {
            name: "app.properties",
            method: 0,
            crc: raw::crc(&secret),
            stored: secret.len() as u64,
            size,
            offset: 0,
        };
        let mut zip = raw::local(&member, true);
        zip.extend(&secret);
        let directory = zip.len() as u64;
        zip.extend(raw::central(&member, true));
        let length = zip.len() as u64 - directory;
        raw::end(&mut zip, 1, directory, length, true);
        zip
    };
    // A terabyte declared: were it believed, the member would be skipped as too large.
    env.file("huge.zip", forged(1 << 40));
    // Fewer bytes declared than held: the rest cannot be trusted, an error.
    env.file("short.zip", forged(10));
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 2, "{doc}");
    assert_eq!(paths_and_lines(&doc), [("huge.zip!app.properties".to_owned(), 3)], "{doc}");
    let errors = listed(&doc, "errors");
    assert_eq!(errors.len(), 1, "{doc}");
    assert_eq!(errors[0].0, "short.zip!app.properties", "{doc}");
    assert!(errors[0].1.contains("larger than its declared uncompressed size"), "{doc}");
    assert_eq!(doc["stats"]["skipped_too_large"], 0, "{doc}");
}

#[test]
fn genuine_zip64_archives_are_scanned_whole() {
    let env = TestEnv::new();
    let properties = properties();
    // Every member written as a large file: its local header holds the zip64 marker for both
    // sizes, the real ones in a zip64 extra field.
    let manifest = "META-INF/MANIFEST.MF";
    let large = zip_with(
        deflated().large_file(true),
        &[(manifest, b"Manifest-Version: 1.0\n"), ("app.properties", properties.as_bytes())],
    );
    assert_eq!(large[18..26], [0xff; 8], "sizes in the zip64 extra field");
    assert_eq!(large[30 + manifest.len()..][..2], [1, 0], "the zip64 field first");
    // More members than the end record's 16-bit count holds: the count is in the zip64 one.
    // (Stored: a deflate stream per member makes a debug build take half a minute to write.)
    let names: Vec<String> = (0..65_600).map(|i| format!("{i}.txt")).collect();
    let mut members: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x\n"[..])).collect();
    members.push(("config/app.properties", properties.as_bytes()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let wide = zip_with(stored, &members);
    assert!(wide.windows(4).any(|w| w == b"PK\x06\x06"), "a zip64 end record");
    env.file("large.zip", &large);
    env.file("wide.zip", &wide);
    let doc = found_exactly(
        &env,
        &["dir", "."],
        &[("large.zip!app.properties", 3), ("wide.zip!config/app.properties", 3)],
    );
    assert_eq!(doc["errors"].as_array().map(Vec::len), Some(0), "{doc}");
    assert_eq!(doc["stats"]["archives"], 2, "{doc}");
    assert_eq!(doc["stats"]["archive_members"], 2 + 65_601, "every member: {doc}");
}

#[test]
fn copies_of_copies_open_once_per_level_and_name_a_bounded_list() {
    let env = TestEnv::new();
    // Every level is 30 copies of the level below: 30^6 paths to the bottom, 6 distinct zips.
    let mut level = zip_of(&[("bottom.txt", b"plain\n")]);
    for _ in 0..6 {
        let names: Vec<String> = (0..30).map(|i| format!("c{i}.zip")).collect();
        let members: Vec<(&str, &[u8])> =
            names.iter().map(|n| (n.as_str(), level.as_slice())).collect();
        level = zip_of(&members);
    }
    env.file("copies.zip", &level);
    let started = std::time::Instant::now();
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 0, "depth caps are skips: {doc}");
    assert_eq!(doc["stats"]["archives"], 4, "each level above the depth cap opened once: {doc}");
    assert_eq!(doc["stats"]["archive_members"], 4 * 30, "{doc}");
    let skipped = listed(&doc, "skipped");
    // 30^4 places hold an archive too deep to open; each level names at most 100 of them and
    // counts the rest.
    assert!(skipped.len() <= 101, "{}", skipped.len());
    assert!(
        skipped.iter().all(|(o, r)| (o.starts_with("copies.zip!c")
            && o.matches('!').count() == 4
            && r.contains("--max-archive-depth"))
            || r.starts_with("at least ")),
        "{skipped:?}"
    );
    assert!(
        skipped.iter().any(|(o, r)| *o == "copies.zip" && r.contains("not listed one by one")),
        "{skipped:?}"
    );
    assert!(started.elapsed().as_secs() < 30, "took {:?}", started.elapsed());
}

#[test]
fn executable_jar_over_max_file_size_is_opened_and_a_plain_script_is_not() {
    let env = TestEnv::new();
    // Over a --max-file-size of 4K: a launch script as long as Spring Boot's (its 10 KB head
    // is text, the zip shows only at the tail), then a jar with 8 KB of noise before
    // application.properties; and a plain script as large.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: Vec<u8> = (0..8192)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut jar = launch_script(&"# (the rest of the launch script)\n".repeat(300)).into_bytes();
    assert!(!jar[..8192].contains(&0));
    jar.extend(zip_of(&[
        ("BOOT-INF/lib/noise.bin", &noise),
        ("BOOT-INF/classes/application.properties", properties().as_bytes()),
    ]));
    let script =
        format!("#!/bin/sh\n{}TOKEN={}\n", "echo filler\n".repeat(600), fake::github_pat());
    assert!(jar.len() > 4096 && script.len() > 4096);
    env.file("app.jar", &jar);
    env.file("big.sh", &script);
    let nested = "app.jar!BOOT-INF/classes/application.properties";
    let doc = found_exactly(&env, &["dir", ".", "--max-file-size", "4K"], &[(nested, 3)]);
    // The launch script itself is a member over the cap too.
    assert_eq!(doc["stats"]["skipped_too_large"], 3, "script, noise member, plain script: {doc}");

    let layer = layer_tar(&[
        Entry::File("app/app.jar".into(), jar),
        Entry::File("app/big.sh".into(), script.into_bytes()),
    ]);
    let mut layout = Layout::new(&env.path().join("layout"));
    let manifest = layout.manifest(&ImageSpec::new(&[layer], Compression::Gzip));
    layout.tag(manifest, "v1");
    let target = format!("oci:{}:v1", layout.dir.display());
    let doc = found_exactly(
        &env,
        &["image", &target, "--max-file-size", "4K"],
        &[("app/app.jar!BOOT-INF/classes/application.properties", 3)],
    );
    // The launch script itself is a member over the cap too.
    assert_eq!(doc["stats"]["skipped_too_large"], 3, "script, noise member, plain script: {doc}");
}

#[test]
fn archive_members_skipped_are_counted_per_layer_and_kept_in_the_cache() {
    let env = TestEnv::new();
    let jar = zip_of(&[
        ("com/example/App.class", b"\xca\xfe\xba\xbe\0\0\0\x41binary"),
        ("big.txt", "line of text\n".repeat(200).as_bytes()),
        ("small.txt", b"fine\n"),
    ]);
    // The same jar in two layers: each layer's stats count its members.
    let layers = [
        layer_tar(&[Entry::File("app/app.jar".into(), jar.clone())]),
        layer_tar(&[Entry::File("opt/copy.jar".into(), jar)]),
    ];
    let registry = registry_with("team/jars", &layers);
    let sweep = cached_sweep(&registry, &["--max-file-size", "1K"]);
    for run in ["scanned", "from the cache"] {
        let (code, doc) = env.json(&sweep);
        assert_eq!(code, 0, "{run}: {doc}");
        let s = &doc["stats"];
        assert_eq!(
            [&s["skipped_binary"], &s["skipped_too_large"]],
            [2, 2],
            "{run}: the class file and big.txt, in each layer: {doc}"
        );
    }
}

#[test]
fn copies_of_copies_of_a_secret_report_a_bounded_number_of_findings() {
    let env = TestEnv::new();
    // 20^4 = 160,000 places of one secret, in a zip of a few KB.
    let mut level = zip_of(&[("app.properties", properties().as_bytes())]);
    for _ in 0..4 {
        let names: Vec<String> = (0..20).map(|i| format!("c{i}.zip")).collect();
        let members: Vec<(&str, &[u8])> =
            names.iter().map(|n| (n.as_str(), level.as_slice())).collect();
        level = zip_of(&members);
    }
    env.file("copies.zip", &level);
    let (code, doc) = env.json(&["dir", ".", "--max-archive-depth", "5"]);
    assert_eq!(code, 1, "findings: {doc}");
    assert_eq!(findings(&doc).len(), 10_000, "{}", findings(&doc).len());
    let skipped = listed(&doc, "skipped");
    assert!(
        skipped.iter().any(|(o, r)| *o == "copies.zip"
            && r.starts_with("150000 more matches inside it (past 10000")),
        "{skipped:?}"
    );
}

/// A zip quine (an archive whose one member is the archive itself, byte for byte) named
/// `quine.zip`, written by `zip_quine.py` (Russ Cox's construction, see the script) into `dir`.
fn zip_quine(dir: &std::path::Path) -> Vec<u8> {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/zip_quine.py");
    let path = dir.join("quine.zip");
    let status =
        std::process::Command::new("python3").arg(script).arg(&path).arg("quine.zip").status();
    assert!(status.expect("python3 runs").success(), "zip_quine.py");
    std::fs::read(path).expect("quine")
}

#[test]
fn zip_quine_is_a_valid_zip_whose_member_is_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let quine = zip_quine(dir.path());
    let path = dir.path().join("quine.zip");
    // Python's zipfile: one member, its CRC-32 checked (testzip), its bytes those of the file.
    let python = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.namelist() == ['quine.zip'], z.namelist()\nassert z.testzip() is None\nsys.stdout.buffer.write(z.read('quine.zip'))\n";
    let out = std::process::Command::new("python3").args(["-c", python]).arg(&path).output();
    let out = out.expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout == quine, "zipfile reads the archive itself");
    // Info-ZIP's unzip, which checks the CRC too.
    let out = std::process::Command::new("unzip").arg("-p").arg(&path).arg("quine.zip").output();
    let out = out.expect("unzip runs (apt-get install unzip)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == quine, "unzip -p prints the archive itself");
}

#[test]
fn zip_quine_is_opened_once_and_named_and_the_rest_scanned() {
    let env = TestEnv::new();
    let quine = zip_quine(env.path());
    env.file("deploy.env", format!("GITHUB_TOKEN={}\n", fake::github_pat()));
    env.file("release.tar.gz", gzip(&tar_of(&[("dist/quine.zip", &quine)])));
    let doc = found_exactly(&env, &["dir", "."], &[("deploy.env", 1)]);
    let reason = "an archive that contains itself (a zip quine): not opened again";
    let mut skipped = listed(&doc, "skipped");
    skipped.sort_unstable();
    // Files are scanned in parallel, and a content seen twice reuses its first result: a copy
    // opened while the other is still being scanned meets itself one level further down. Either
    // way each place names the quine once, where it stops.
    assert_eq!(skipped.len(), 2, "{doc}");
    for ((origin, why), place) in skipped.iter().zip(["quine.zip", "release.tar.gz!dist/quine.zip"])
    {
        let stops = [format!("{place}!quine.zip"), format!("{place}!quine.zip!quine.zip")];
        assert!(stops.iter().any(|s| s == origin) && *why == reason, "{doc}");
    }
    assert_eq!(doc["errors"].as_array().map(Vec::len), Some(0), "a skip, not an error: {doc}");
    // Under a depth cap it would reach first, the cap names it: still a skip.
    let (code, doc) = env.json(&["dir", ".", "--max-archive-depth", "1"]);
    assert_eq!(code, 1, "the finding, no error: {doc}");
    assert!(
        listed(&doc, "skipped").contains(&(
            "quine.zip!quine.zip",
            "a zip archive nested deeper than --max-archive-depth (1): not opened"
        )),
        "{doc}"
    );
}
