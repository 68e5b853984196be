//! Secrets inside archives (issue #15), end to end: real zips, jars, wars, wheels and tarballs
//! built here with the `zip`, `tar` and `flate2` crates (and Python's zipfile), scanned by the
//! real binary from a directory, a git history, the index and an OCI image layer.

use std::io::{Cursor, Write};

use serde_json::Value;

use crate::common::{TestEnv, fake, git};
use crate::registry::{Compression, Entry, ImageSpec, Layout, layer_tar};

/// A zip (jar, war, wheel: all the same container) of `members`, deflated.
fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
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

#[test]
fn corrupt_central_directory_read_from_local_headers() {
    let env = TestEnv::new();
    let mut data = zip_of(&[("a.properties", properties().as_bytes()), ("b.txt", b"plain\n")]);
    // Break the end-of-central-directory record's signature: no central directory is found.
    let eocd = data.windows(4).rposition(|w| w == b"PK\x05\x06").expect("eocd");
    data[eocd + 2] = b'X';
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
