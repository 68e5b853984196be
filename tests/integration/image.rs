//! `leakhound image` end to end: OCI layouts and archives written by the tests, pushed to a real
//! distribution registry (see `registry.rs`) in every auth mode.

use std::fmt::Write as _;

use serde_json::Value;

use crate::common::{TestEnv, fake, rule_ids};
use crate::registry::{
    CUT_BODY, Compression, DROP, Entry, FaultyProxy, ImageSpec, Layout, Mode, PASSWORD, Registry,
    STALL, TRICKLE, USER, UntrustedTls, answering_server, compress, digest, failing_server,
    free_port, layer_tar,
};

fn file(path: &str, text: impl Into<String>) -> Entry {
    Entry::File(path.into(), text.into().into_bytes())
}

/// Layer 0 holds two secrets and a symlink out of the layer; layer 1 deletes one file, makes
/// the other's directory opaque, and copies the AWS key elsewhere; the config's Env holds a
/// GitHub token and the history a build ARG with the AWS key.
struct Fixture {
    layout: Layout,
    layers: Vec<String>,
}

fn fixture(env: &TestEnv, how: Compression) -> Fixture {
    let l0 = layer_tar(&[
        file("app/config.yaml", format!("aws:\n  access_key_id: {}\n", fake::aws_key_id())),
        file("etc/keys/token.txt", format!("token: {}\n", fake::github_pat())),
        Entry::Symlink("etc/shadow-link".into(), "/etc/shadow".into()),
        Entry::File("bin/tool".into(), b"\x7fELF\0\0binary".to_vec()),
    ]);
    let l1 = layer_tar(&[
        Entry::Whiteout("app/config.yaml".into()),
        Entry::Opaque("etc/keys".into()),
        file("opt/copy.txt", format!("key={}\n", fake::aws_key_id())),
    ]);
    let mut layout = Layout::new(&env.path().join("layout"));
    let mut spec = ImageSpec::new(&[l0, l1], how);
    spec.env.push(format!("GITHUB_TOKEN={}", fake::github_pat()));
    spec.history.push(format!("/bin/sh -c #(nop) ARG AWS_KEY={}", fake::aws_key_id()));
    let layers = spec.layers.iter().map(|(blob, _, _)| digest(blob)).collect();
    let manifest = layout.manifest(&spec);
    layout.tag(manifest, "v1");
    Fixture { layout, layers }
}

fn image_of(finding: &Value) -> &Value {
    &finding["image"]
}

fn check_fixture_findings(doc: &Value, layers: &[String]) {
    let findings = doc["findings"].as_array().expect("findings");
    let aws = findings
        .iter()
        .find(|f| f["rule_id"] == "aws.access-key-id")
        .unwrap_or_else(|| panic!("aws finding: {doc}"));
    assert_eq!(aws["path"], "app/config.yaml", "{doc}");
    assert_eq!(image_of(aws)["layer_index"], 0);
    assert_eq!(image_of(aws)["layer_digest"], layers[0].as_str());
    assert_eq!(image_of(aws)["deleted_in_layer"], layers[1].as_str(), "whiteout: {doc}");
    let others: Vec<&str> = aws["occurrences"]
        .as_array()
        .expect("occurrences")
        .iter()
        .filter_map(|o| o["path"].as_str())
        .collect();
    assert_eq!(
        others,
        ["opt/copy.txt", "config:history[0].created_by"],
        "one finding, layers listed: {doc}"
    );
    let gh: Vec<&Value> = findings.iter().filter(|f| f["rule_id"] == "github.token").collect();
    assert_eq!(gh.len(), 1, "{doc}");
    assert_eq!(gh[0]["path"], "etc/keys/token.txt");
    assert_eq!(image_of(gh[0])["deleted_in_layer"], layers[1].as_str(), "opaque dir: {doc}");
    assert_eq!(gh[0]["occurrences"][0]["path"], "config:Env[1]", "{doc}");
    assert_eq!(gh[0]["occurrences"][0]["image"]["layer_digest"], Value::Null);
    assert_eq!(image_of(gh[0])["platform"], "linux/amd64");
    assert!(image_of(gh[0])["manifest_digest"].as_str().is_some_and(|d| d.starts_with("sha256:")));
    assert!(doc["stats"]["skipped_special"].as_u64() >= Some(1), "symlink not followed: {doc}");
    assert!(doc["stats"]["skipped_binary"].as_u64() >= Some(1), "{doc}");
    assert!(!doc.to_string().contains(&fake::github_pat()), "redacted by default");
}

#[test]
fn oci_layout_whiteouts_opaque_dirs_and_config() {
    let env = TestEnv::new();
    let fx = fixture(&env, Compression::Gzip);
    let target = format!("oci:{}:v1", fx.layout.dir.display());
    let (code, doc) = env.json(&["image", &target]);
    assert_eq!(code, 1, "{doc}");
    check_fixture_findings(&doc, &fx.layers);
    assert_eq!(doc["findings"][0]["image"]["ref"], target.as_str());
}

#[test]
fn registry_by_tag_and_digest_with_zstd_layers() {
    let env = TestEnv::new();
    let registry = Registry::start(Mode::Plain);
    let fx = fixture(&env, Compression::Zstd);
    registry.push(&fx.layout.dir, "v1", "test/secrets:zstd");
    let tagged = registry.image("test/secrets:zstd");
    let (code, doc) = env.json(&["image", &tagged, "--insecure-registry"]);
    assert_eq!(code, 1, "{doc}");
    check_fixture_findings(&doc, &fx.layers);
    let manifest =
        doc["findings"][0]["image"]["manifest_digest"].as_str().expect("digest").to_owned();
    let by_digest = registry.image(&format!("test/secrets@{manifest}"));
    let (code, doc) = env.json(&["image", &by_digest, "--insecure-registry"]);
    assert_eq!(code, 1, "{doc}");
    check_fixture_findings(&doc, &fx.layers);
    // Without --insecure-registry, plain HTTP is refused with a hint.
    let (code, doc) = env.json(&["image", &tagged]);
    assert_eq!(code, 2, "{doc}");
    assert!(
        doc["errors"][0]["message"].as_str().unwrap_or_default().contains("--insecure-registry"),
        "{doc}"
    );
}

#[test]
fn multi_arch_index_every_platform_or_one_and_shared_layers_scanned_once() {
    let env = TestEnv::new();
    let registry = Registry::start(Mode::Plain);
    let shared = layer_tar(&[file("etc/app.env", format!("AWS={}\n", fake::aws_key_id()))]);
    let arm_only = layer_tar(&[file("arm/token", fake::github_pat())]);
    let mut layout = Layout::new(&env.path().join("multi"));
    let amd = layout.manifest(&ImageSpec::new(std::slice::from_ref(&shared), Compression::Gzip));
    let mut arm_spec = ImageSpec::new(&[shared, arm_only], Compression::Gzip);
    arm_spec.arch = "arm64";
    let arm = layout.manifest(&arm_spec);
    let index = layout.index(&[(amd, "amd64"), (arm, "arm64")]);
    layout.tag(index, "multi");
    registry.push(&layout.dir, "multi", "test/multi:v1");
    let image = registry.image("test/multi:v1");
    let (code, doc) = env.json(&["image", &image, "--insecure-registry"]);
    assert_eq!(code, 1, "{doc}");
    let mut platforms: Vec<&str> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["image"]["platform"].as_str())
        .collect();
    platforms.sort_unstable();
    // The shared layer's secret is one finding (arm64 is its occurrence), see below.
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"], "{doc}");
    assert_eq!(
        doc["stats"]["scanned"],
        2 + 2 + 2,
        "shared layer scanned once (2 layer files + 4 config texts): {doc}"
    );
    let (code, doc) =
        env.json(&["image", &image, "--insecure-registry", "--platform", "linux/amd64"]);
    assert_eq!(code, 1);
    assert_eq!(rule_ids(&doc), ["aws.access-key-id"]);
    let (code, doc) =
        env.json(&["image", &image, "--insecure-registry", "--platform", "linux/s390x"]);
    assert_eq!(code, 2);
    assert!(
        doc["errors"][0]["message"].as_str().unwrap_or_default().contains("linux/amd64"),
        "{doc}"
    );
}

#[test]
fn docker_archive_and_oci_archive() {
    let env = TestEnv::new();
    let fx = fixture(&env, Compression::Gzip);
    let save = env.path().join("save.tar");
    let oci_archive = env.path().join("oci.tar");
    for dest in [
        format!("docker-archive:{}:127.0.0.1:5000/test/secrets:v1", save.display()),
        format!("oci-archive:{}:v1", oci_archive.display()),
    ] {
        let out = std::process::Command::new("skopeo")
            .args(["--insecure-policy", "copy", "--quiet"])
            .arg(format!("oci:{}:v1", fx.layout.dir.display()))
            .arg(&dest)
            .env("TMPDIR", env.path())
            .output()
            .expect("skopeo runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let (code, doc) = env.json(&["image", &format!("docker-archive:{}", save.display())]);
    assert_eq!(code, 1, "{doc}");
    // The legacy layout stores uncompressed layers: their digests are the diff_ids.
    let diff_ids: Vec<String> = fx_diff_ids(&fx);
    check_fixture_findings(&doc, &diff_ids);
    let (code, doc) = env.json(&["image", &format!("oci-archive:{}", oci_archive.display())]);
    assert_eq!(code, 1, "{doc}");
    check_fixture_findings(&doc, &fx.layers);
}

fn fx_diff_ids(fx: &Fixture) -> Vec<String> {
    fx.layers
        .iter()
        .map(|d| {
            let blob =
                std::fs::read(fx.layout.dir.join("blobs/sha256").join(&d["sha256:".len()..]))
                    .expect("blob");
            let mut tar = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&blob[..]), &mut tar)
                .expect("gunzip");
            digest(&tar)
        })
        .collect()
}

fn with_stdin(
    env: &TestEnv,
    args: &[&str],
    stdin: &str,
    vars: &[(&str, &str)],
) -> (i32, Value, String) {
    let mut cmd = env.cmd();
    cmd.args(args).args(["--format", "json"]).env("HOME", env.path());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.write_stdin(stdin.as_bytes().to_vec()).output().expect("run leakhound");
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("code"), doc, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn auth_cases(mode: Mode) {
    let env = TestEnv::new();
    let registry = Registry::start(mode);
    let fx = fixture(&env, Compression::Gzip);
    registry.push(&fx.layout.dir, "v1", "proj/app:v1");
    let image = registry.image("proj/app:v1");
    let insecure = registry.insecure_args();
    let mut base = vec!["image", image.as_str()];
    base.extend(insecure.iter().map(String::as_str));
    // No credentials (HOME points at an empty dir: no docker config): refused, clearly.
    let (code, doc, _) = with_stdin(&env, &base, "", &[]);
    assert_eq!(code, 2, "{doc}");
    let message = doc["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("401") || message.contains("authentication"), "{doc}");
    // A Harbor robot name and the password on stdin.
    let mut args = base.clone();
    args.extend(["--username", USER, "--password-stdin"]);
    let (code, doc, stderr) = with_stdin(&env, &args, &format!("{PASSWORD}\n"), &[]);
    assert_eq!(code, 1, "{doc} {stderr}");
    check_fixture_findings(&doc, &fx.layers);
    assert!(!doc.to_string().contains(PASSWORD) && !stderr.contains(PASSWORD));
    // Wrong password: refused, and the password never shows.
    let (code, doc, stderr) = with_stdin(&env, &args, "wrong-password-123\n", &[]);
    assert_eq!(code, 2, "{doc}");
    assert!(
        doc["errors"][0]["message"].as_str().unwrap_or_default().contains("credentials"),
        "{doc}"
    );
    assert!(
        !doc.to_string().contains("wrong-password-123") && !stderr.contains("wrong-password-123")
    );
    // The environment.
    let (code, doc, _) = with_stdin(
        &env,
        &base,
        "",
        &[("LEAKHOUND_REGISTRY_USER", USER), ("LEAKHOUND_REGISTRY_PASSWORD", PASSWORD)],
    );
    assert_eq!(code, 1, "{doc}");
    // The docker config file.
    let auth = leakhound::engine::decode::base64_encode(format!("{USER}:{PASSWORD}").as_bytes());
    env.file(
        ".docker/config.json",
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, registry.addr),
    );
    let (code, doc, _) = with_stdin(&env, &base, "", &[]);
    assert_eq!(code, 1, "{doc}");
}

#[test]
fn basic_auth_from_flags_env_and_docker_config() {
    auth_cases(Mode::Basic);
}

#[test]
fn token_auth_bearer_flow() {
    auth_cases(Mode::Token);
}

#[test]
fn tls_with_ca_cert_or_insecure() {
    let env = TestEnv::new();
    let registry = Registry::start(Mode::Tls);
    let fx = fixture(&env, Compression::Gzip);
    registry.push(&fx.layout.dir, "v1", "test/tls:v1");
    let image = registry.image("test/tls:v1");
    let (code, doc) = env.json(&["image", &image]);
    assert_eq!(code, 2, "untrusted CA: {doc}");
    assert!(
        doc["errors"][0]["message"].as_str().unwrap_or_default().contains("--ca-cert"),
        "{doc}"
    );
    let ca = registry.ca.as_ref().expect("ca").display().to_string();
    let (code, doc) = env.json(&["image", &image, "--ca-cert", &ca]);
    assert_eq!(code, 1, "{doc}");
    check_fixture_findings(&doc, &fx.layers);
    let (code, doc) = env.json(&["image", &image, "--insecure-registry"]);
    assert_eq!(code, 1, "{doc}");
}

#[test]
fn server_errors_and_unreachable_registries_fail_that_image_only() {
    let env = TestEnv::new();
    let fx = fixture(&env, Compression::Gzip);
    let failing = failing_server(500);
    let refused = format!("127.0.0.1:{}", free_port());
    let good = format!("oci:{}:v1", fx.layout.dir.display());
    let (code, doc) = env.json(&[
        "image",
        &format!("{failing}/a/b:1"),
        &format!("{refused}/a/b:1"),
        &good,
        "--insecure-registry",
        "--retries",
        "1",
    ]);
    assert_eq!(code, 2, "{doc}");
    check_fixture_findings(&doc, &fx.layers);
    let errors = doc["errors"].to_string();
    assert!(errors.contains("500") && errors.contains("after 1 retries"), "{errors}");
    assert!(errors.contains("connection refused"), "{errors}");
    for (status, expected) in [
        (404, "not found"),
        (403, "denied access"),
        (429, "rate limiting"),
        (401, "requires authentication"),
    ] {
        let image = format!("{}/a/b:1", failing_server(status));
        let (code, doc) = env.json(&["image", &image, "--insecure-registry", "--retries", "1"]);
        assert_eq!(code, 2);
        let errors = doc["errors"].to_string();
        assert!(
            errors.contains(&status.to_string()) && errors.contains(expected),
            "{status}: {errors}"
        );
    }
}

/// Writes a one-image layout whose single layer blob is `blob`.
fn layout_with_blob(
    env: &TestEnv,
    name: &str,
    blob: Vec<u8>,
    media: &'static str,
    tar: Vec<u8>,
) -> String {
    let mut layout = Layout::new(&env.path().join(name));
    let spec = ImageSpec {
        layers: vec![(blob, media, tar)],
        env: Vec::new(),
        history: Vec::new(),
        arch: "amd64",
    };
    let manifest = layout.manifest(&spec);
    layout.tag(manifest, "v1");
    format!("oci:{}", layout.dir.display())
}

#[test]
fn bad_layers_are_errors_and_the_rest_is_scanned() {
    let env = TestEnv::new();
    let gz = "application/vnd.oci.image.layer.v1.tar+gzip";
    let secret_tar = layer_tar(&[file("k.txt", fake::aws_key_id())]);
    let good = layout_with_blob(
        &env,
        "good",
        compress(&secret_tar, Compression::Gzip),
        gz,
        secret_tar.clone(),
    );
    // Truncated gzip: the digest in the manifest is of the truncated bytes, so only the gzip
    // stream itself tells.
    let full = compress(&layer_tar(&[file("a.txt", "x".repeat(100_000))]), Compression::Gzip);
    let truncated =
        layout_with_blob(&env, "trunc", full[..full.len() / 2].to_vec(), gz, Vec::new());
    // Digest mismatch: the blob file is replaced after the manifest was written.
    let mut layout = Layout::new(&env.path().join("mismatch"));
    let spec = ImageSpec::new(std::slice::from_ref(&secret_tar), Compression::Gzip);
    let d = digest(&spec.layers[0].0);
    let manifest = layout.manifest(&spec);
    layout.tag(manifest, "v1");
    let other = compress(&layer_tar(&[file("k.txt", "nothing")]), Compression::Gzip);
    std::fs::write(layout.dir.join("blobs/sha256").join(&d["sha256:".len()..]), other)
        .expect("write");
    let mismatch = format!("oci:{}", layout.dir.display());
    // Unknown media type, escaping paths, and a bomb.
    let unknown =
        layout_with_blob(&env, "unknown", secret_tar.clone(), "application/x-mystery", Vec::new());
    let mut evil = tar::Builder::new(Vec::new());
    for name in ["../../etc/evil", "/abs/file"] {
        let mut header = tar::Header::new_old();
        header.set_size(3);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_cksum();
        evil.append(&header, &b"abc"[..]).expect("append");
    }
    let evil = evil.into_inner().expect("tar");
    let escaping =
        layout_with_blob(&env, "escape", compress(&evil, Compression::Gzip), gz, evil.clone());
    let bomb_tar = layer_tar(&[file("zeros", "0".repeat(4 << 20))]);
    let bomb = layout_with_blob(&env, "bomb", compress(&bomb_tar, Compression::Gzip), gz, bomb_tar);
    let (code, doc) = env.json(&[
        "image",
        &truncated,
        &mismatch,
        &unknown,
        &escaping,
        &bomb,
        &good,
        "--max-layer-size",
        "1M",
    ]);
    assert_eq!(code, 2, "{doc}");
    assert_eq!(rule_ids(&doc), ["aws.access-key-id"], "the good image is still scanned: {doc}");
    let errors = doc["errors"].to_string();
    for expected in [
        "truncated",
        "digest mismatch",
        "unknown layer media type",
        "`..`",
        "absolute path",
        "--max-layer-size",
    ] {
        assert!(errors.contains(expected), "{expected}: {errors}");
    }
}

#[test]
fn tar_without_end_blocks_is_a_warning() {
    let env = TestEnv::new();
    let mut tar = layer_tar(&[file("k.txt", fake::aws_key_id())]);
    // As Debian's umoci writes them: no end-of-archive blocks, no padding after the last file.
    tar.truncate(512 + fake::aws_key_id().len());
    let image = layout_with_blob(
        &env,
        "untrailed",
        compress(&tar, Compression::Gzip),
        "application/vnd.oci.image.layer.v1.tar+gzip",
        tar,
    );
    let out = env.run(&["image", &image, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("end-of-archive"));
}

#[test]
fn docker_25_save_layout() {
    // Docker >= 25 saves an OCI layout plus a legacy manifest.json pointing into blobs/.
    let env = TestEnv::new();
    let fx = fixture(&env, Compression::Gzip);
    let index: Value =
        serde_json::from_slice(&std::fs::read(fx.layout.dir.join("index.json")).expect("index"))
            .expect("json");
    let manifest_digest = index["manifests"][0]["digest"].as_str().expect("digest");
    let blob = |d: &str| format!("blobs/sha256/{}", &d["sha256:".len()..]);
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(fx.layout.dir.join(blob(manifest_digest))).expect("manifest"),
    )
    .expect("json");
    let layers: Vec<String> = fx.layers.iter().map(|d| blob(d)).collect();
    let save = serde_json::json!([{
        "Config": blob(manifest["config"]["digest"].as_str().expect("config")),
        "RepoTags": ["app:v1"],
        "Layers": layers,
    }]);
    std::fs::write(fx.layout.dir.join("manifest.json"), save.to_string()).expect("write");
    let archive = env.path().join("docker25.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&archive).expect("create"));
    builder.append_dir_all(".", &fx.layout.dir).expect("tar");
    builder.finish().expect("finish");
    let (code, doc) = env.json(&["image", &format!("docker-archive:{}", archive.display())]);
    assert_eq!(code, 1, "{doc}");
    check_fixture_findings(&doc, &fx.layers);
}

#[test]
fn expired_token_gets_renewed_once() {
    let env = TestEnv::new();
    let registry = Registry::start(Mode::Token);
    let fx = fixture(&env, Compression::Gzip);
    registry.push(&fx.layout.dir, "v1", "proj/app:v1");
    registry.expire_next_token();
    let image = registry.image("proj/app:v1");
    let insecure = registry.insecure_args();
    let mut args = vec!["image", image.as_str(), "--username", USER, "--password-stdin"];
    args.extend(insecure.iter().map(String::as_str));
    let (code, doc, stderr) = with_stdin(&env, &args, PASSWORD, &[]);
    assert_eq!(code, 1, "a 401 with a stale token gets a fresh one: {doc} {stderr}");
    check_fixture_findings(&doc, &fx.layers);
}

#[test]
fn compressed_docker_archives_are_streamed_and_a_truncated_one_is_an_error() {
    let env = TestEnv::new();
    // Layer 0 is bigger than the entries the indexing pass keeps in memory (1 MiB), so it is
    // read by inflating the archive again up to it; layer 1 is small.
    let mut big = String::new();
    for i in 0..40_000 {
        let _ = writeln!(big, "line {i:06} of an ordinary log file");
    }
    big += "aws_access_key_id = ";
    big += &fake::aws_key_id();
    big += "\n";
    let l0 = layer_tar(&[file("var/log/app.log", big)]);
    let l1 = layer_tar(&[file("etc/token.txt", format!("token: {}\n", fake::github_pat()))]);
    let diff_ids = [digest(&l0), digest(&l1)];
    let mut layout = Layout::new(&env.path().join("layout"));
    let manifest = layout.manifest(&ImageSpec::new(&[l0, l1], Compression::Gzip));
    layout.tag(manifest, "v1");
    let save = env.path().join("save.tar");
    let out = std::process::Command::new("skopeo")
        .args(["--insecure-policy", "copy", "--quiet"])
        .arg(format!("oci:{}:v1", layout.dir.display()))
        .arg(format!("docker-archive:{}:127.0.0.1:5000/test/big:v1", save.display()))
        .env("TMPDIR", env.path())
        .output()
        .expect("skopeo runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tar = std::fs::read(&save).expect("save.tar");
    assert!(tar.len() > 1 << 20);
    // Names that do not say the compression: it is taken from the bytes.
    std::fs::write(env.path().join("img.gz.bin"), compress(&tar, Compression::Gzip)).expect("gz");
    std::fs::write(env.path().join("img.zst.tar"), compress(&tar, Compression::Zstd)).expect("zst");

    let findings = |name: &str| {
        let (code, doc) = env.json(&[
            "image",
            &format!("docker-archive:{}", env.path().join(name).display()),
            "--show-secrets",
        ]);
        assert_eq!(code, 1, "{name}: {doc}");
        let found: Vec<(String, String, String)> = doc["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| {
                (
                    f["rule_id"].as_str().unwrap_or_default().to_owned(),
                    f["path"].as_str().unwrap_or_default().to_owned(),
                    f["image"]["layer_digest"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        found
    };
    let plain = findings("save.tar");
    assert_eq!(
        plain,
        [
            ("github.token".to_owned(), "etc/token.txt".to_owned(), diff_ids[1].clone()),
            ("aws.access-key-id".to_owned(), "var/log/app.log".to_owned(), diff_ids[0].clone()),
        ]
    );
    assert_eq!(findings("img.gz.bin"), plain, "gzip");
    assert_eq!(findings("img.zst.tar"), plain, "zstd");

    // Cut short: a clear error, exit 2, and the other image is still scanned.
    let gz = compress(&tar, Compression::Gzip);
    std::fs::write(env.path().join("cut.tar.gz"), &gz[..gz.len() * 2 / 3]).expect("write");
    let good = format!("oci:{}:v1", layout.dir.display());
    let cut = format!("docker-archive:{}", env.path().join("cut.tar.gz").display());
    let (code, doc) = env.json(&["image", &cut, &good]);
    assert_eq!(code, 2, "{doc}");
    let errors = doc["errors"].to_string();
    assert!(errors.contains("gzip") && errors.contains("truncated"), "{errors}");
    assert_eq!(rule_ids(&doc).len(), 2, "the good image is still scanned: {doc}");
}

/// The fixture pushed to a plain registry, and the proxy in front of it.
fn behind_proxy(
    env: &TestEnv,
    pattern: &'static str,
    status: u16,
    retry_after: Option<&'static str>,
    count: usize,
) -> (Registry, FaultyProxy, Fixture) {
    let registry = Registry::start(Mode::Plain);
    let fx = fixture(env, Compression::Gzip);
    registry.push(&fx.layout.dir, "v1", "proj/app:v1");
    let proxy = FaultyProxy::start(&registry.addr, pattern, status, retry_after, count);
    (registry, proxy, fx)
}

/// Runs `image` on `images`; returns the exit code, the report, stderr and the wall time.
fn timed(env: &TestEnv, images: &[&str], extra: &[&str]) -> (i32, Value, String, f64) {
    let started = std::time::Instant::now();
    let out = env
        .cmd()
        .arg("image")
        .args(images)
        .args(["--insecure-registry", "--format", "json"])
        .args(extra)
        .output()
        .expect("run leakhound");
    let secs = started.elapsed().as_secs_f64();
    let doc = serde_json::from_slice(&out.stdout).expect("json report");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().expect("code"), doc, stderr, secs)
}

#[test]
fn a_429_with_retry_after_is_waited_out() {
    let env = TestEnv::new();
    let (_registry, proxy, fx) = behind_proxy(&env, "/blobs/", 429, Some("1"), 2);
    let image = format!("{}/proj/app:v1", proxy.addr);
    let (code, doc, stderr, secs) = timed(&env, &[&image], &[]);
    assert_eq!(code, 1, "{doc} {stderr}");
    check_fixture_findings(&doc, &fx.layers);
    assert_eq!(proxy.injected(), 2);
    // The config blob is read before the layers: its 429 and a layer's are waited out in turn.
    assert!(secs >= 2.0, "Retry-After: 1 twice, yet done in {secs:.2} s");
    assert!(stderr.contains("HTTP 429") && stderr.contains("(Retry-After)"), "{stderr}");
}

#[test]
fn server_errors_and_dropped_connections_are_retried_with_backoff() {
    let env = TestEnv::new();
    for status in [500, DROP] {
        let (_registry, proxy, fx) = behind_proxy(&env, "/manifests/", status, None, 2);
        let image = format!("{}/proj/app:v1", proxy.addr);
        let (code, doc, stderr, secs) = timed(&env, &[&image], &[]);
        assert_eq!(code, 1, "{status}: {doc} {stderr}");
        check_fixture_findings(&doc, &fx.layers);
        assert_eq!(proxy.injected(), 2);
        // Backoff 0.5 s, then 1 s.
        assert!(secs >= 1.5, "{status}: two backoffs, yet done in {secs:.2} s");
        let said = if status == DROP { "the connection failed" } else { "HTTP 500" };
        assert!(stderr.contains(said) && stderr.contains("retry 2 of 3"), "{stderr}");
    }
}

#[test]
fn a_registry_that_keeps_failing_fails_that_image_only() {
    let env = TestEnv::new();
    let (registry, proxy, fx) = behind_proxy(&env, "/blobs/", 500, None, usize::MAX);
    let failing = format!("{}/proj/app:v1", proxy.addr);
    let direct = registry.image("proj/app:v1");
    let (code, doc, stderr, _) = timed(&env, &[&failing, &direct], &["--retries", "2"]);
    assert_eq!(code, 2, "{doc} {stderr}");
    check_fixture_findings(&doc, &fx.layers);
    let errors = doc["errors"].as_array().expect("errors");
    assert!(!errors.is_empty());
    for e in errors {
        let origin = e["origin"].as_str().unwrap_or_default();
        let message = e["message"].as_str().unwrap_or_default();
        assert!(origin.starts_with(&failing), "only the proxied image fails: {e}");
        assert!(message.contains("answered 500") && message.contains("after 2 retries"), "{e}");
    }
    // The config and both layers: three attempts each.
    assert_eq!(proxy.injected(), 9);
}

#[test]
fn a_blob_cut_off_mid_body_is_resumed_where_it_stopped() {
    let env = TestEnv::new();
    let (_registry, proxy, fx) = behind_proxy(&env, "/blobs/", CUT_BODY, None, 2);
    let image = format!("{}/proj/app:v1", proxy.addr);
    let (code, doc, stderr, _) = timed(&env, &[&image], &[]);
    assert_eq!(code, 1, "{doc} {stderr}");
    check_fixture_findings(&doc, &fx.layers);
    assert_eq!(proxy.injected(), 2);
    assert!(stderr.contains("broke off after 100 bytes; resuming"), "{stderr}");
}

/// A legacy `docker save` tarball (`manifest.json`, `<id>.json`, `<n>/layer.tar`) whose layer
/// files are `blobs` while the config's `diff_ids` are the digests of `tars`.
fn legacy_save(env: &TestEnv, name: &str, blobs: &[Vec<u8>], tars: &[Vec<u8>]) -> String {
    let diff_ids: Vec<String> = tars.iter().map(|t| digest(t)).collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string();
    let config_name = format!("{}.json", &digest(config.as_bytes())["sha256:".len()..]);
    let layers: Vec<String> = (0..blobs.len()).map(|i| format!("{i:064}/layer.tar")).collect();
    let manifest =
        serde_json::json!([{"Config": config_name, "RepoTags": ["app:v1"], "Layers": layers}]);
    let path = env.path().join(name);
    let mut builder = tar::Builder::new(std::fs::File::create(&path).expect("create"));
    let mut add = |name: &str, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, name, data).expect("append");
    };
    add("manifest.json", manifest.to_string().as_bytes());
    add(&config_name, config.as_bytes());
    for (layer, blob) in layers.iter().zip(blobs) {
        add(layer, blob);
    }
    builder.into_inner().expect("finish");
    format!("docker-archive:{}", path.display())
}

#[test]
fn docker_archive_with_gzip_compressed_layer_files_is_checked_against_diff_ids() {
    // Issue #19 item 12: the diff_id is the digest of the uncompressed tar, so a gzip (or zstd)
    // layer file must be checked after inflating, and a real mismatch is still an error.
    let env = TestEnv::new();
    let l0 = layer_tar(&[file("app/.env", format!("AWS_ACCESS_KEY_ID={}\n", fake::aws_key_id()))]);
    let l1 = layer_tar(&[file("etc/token", format!("token: {}\n", fake::github_pat()))]);
    let good = legacy_save(
        &env,
        "gz.tar",
        &[compress(&l0, Compression::Gzip), compress(&l1, Compression::Zstd)],
        &[l0.clone(), l1.clone()],
    );
    let (code, doc) = env.json(&["image", &good]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(doc["errors"], serde_json::json!([]), "{doc}");
    let mut found: Vec<(&str, &str)> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default(),
                f["image"]["layer_digest"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    found.sort_unstable();
    assert_eq!(found, [("app/.env", digest(&l0).as_str()), ("etc/token", digest(&l1).as_str())]);
    // The layer file inflates to another tar than the diff_id names: an error, exit 2.
    let other = layer_tar(&[file("app/.env", "nothing here\n")]);
    let bad = legacy_save(&env, "bad.tar", &[compress(&other, Compression::Gzip)], &[l0]);
    let (code, doc) = env.json(&["image", &bad, &good]);
    assert_eq!(code, 2, "{doc}");
    let errors = doc["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{doc}");
    assert!(errors[0]["origin"].as_str().unwrap_or_default().contains("bad.tar"), "{doc}");
    let message = errors[0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("digest mismatch") && message.contains("diff_id"), "{message}");
    assert_eq!(rule_ids(&doc).len(), 2, "the good archive is still scanned: {doc}");
}

#[test]
fn an_index_of_platforms_sharing_a_layer_reports_one_finding_with_occurrences() {
    // Issue #19 item 13: N platforms of one image sharing a layer gave N identical findings.
    let env = TestEnv::new();
    let shared = layer_tar(&[file("etc/app.env", format!("AWS={}\n", fake::aws_key_id()))]);
    let mut layout = Layout::new(&env.path().join("multi"));
    let archs = ["amd64", "arm64", "ppc64le", "s390x"];
    let mut manifests = Vec::new();
    for (i, arch) in archs.into_iter().enumerate() {
        // A layer of each platform's own, so the manifests differ as real ones do.
        let own = layer_tar(&[file("etc/arch", format!("{arch} {i}\n"))]);
        let mut spec = ImageSpec::new(&[shared.clone(), own], Compression::Gzip);
        spec.arch = arch;
        manifests.push((layout.manifest(&spec), arch));
    }
    let index = layout.index(&manifests);
    layout.tag(index, "multi");
    let (code, doc) = env.json(&["image", &format!("oci:{}:multi", layout.dir.display())]);
    assert_eq!(code, 1, "{doc}");
    let findings = doc["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "one finding, not one per platform: {doc}");
    assert_eq!(doc["stats"]["findings"], 1, "{doc}");
    let finding = &findings[0];
    assert_eq!(finding["path"], "etc/app.env");
    assert_eq!(finding["image"]["platform"], "linux/amd64", "{doc}");
    let layer = digest(&compress(&shared, Compression::Gzip));
    assert_eq!(finding["image"]["layer_digest"], layer.as_str());
    let mut others: Vec<&str> = finding["occurrences"]
        .as_array()
        .expect("occurrences")
        .iter()
        .map(|o| {
            assert_eq!(o["path"], "etc/app.env", "{o}");
            assert_eq!(o["image"]["layer_digest"], layer.as_str(), "{o}");
            o["image"]["platform"].as_str().unwrap_or_default()
        })
        .collect();
    others.sort_unstable();
    assert_eq!(others, ["linux/arm64", "linux/ppc64le", "linux/s390x"], "{doc}");
}

#[test]
fn credentials_never_go_over_plain_http_to_a_token_server_not_named_insecure() {
    // Issue #19 item 2: with only the registry named insecure, the Basic credentials went in
    // clear to a token realm on another port.
    let env = TestEnv::new();
    let registry = Registry::start(Mode::Token);
    let fx = fixture(&env, Compression::Gzip);
    registry.push(&fx.layout.dir, "v1", "proj/app:v1");
    let pushed = registry.token_requests_with_credentials();
    let image = registry.image("proj/app:v1");
    let token = registry.token_addr().expect("token mode");
    let args =
        ["image", image.as_str(), "--insecure-registry", "--username", USER, "--password-stdin"];
    let (code, doc, stderr) = with_stdin(&env, &args, PASSWORD, &[]);
    assert_eq!(code, 2, "{doc} {stderr}");
    assert_eq!(
        registry.token_requests_with_credentials(),
        pushed,
        "no credentials reached the plain-HTTP token server"
    );
    let errors = doc["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "that image fails: {doc}");
    let message = errors[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("plain HTTP") && message.contains(&format!("--insecure-registry={token}")),
        "says why and what to pass: {message}"
    );
    assert!(!doc.to_string().contains(PASSWORD) && !stderr.contains(PASSWORD));
    // Named insecure too: the credentials go there, and the image is scanned.
    let named = format!("--insecure-registry={token}");
    let mut args = args.to_vec();
    args.push(&named);
    let (code, doc, stderr) = with_stdin(&env, &args, PASSWORD, &[]);
    assert_eq!(code, 1, "{doc} {stderr}");
    check_fixture_findings(&doc, &fx.layers);
    assert!(registry.token_requests_with_credentials() > pushed);
}

#[test]
fn a_registry_that_trickles_or_stalls_fails_that_image_within_the_limits() {
    // Issue #19 item 9: 1 byte per second ran on for minutes, and a stall took 4 × 120 s.
    // Short limits here; the defaults (10 s window, 3 retries) keep a stall under a minute.
    let env = TestEnv::new();
    let limits = ["--min-rate", "1K", "--min-rate-window", "1", "--retries", "1"];
    for (pattern, status, expected) in [
        ("/blobs/", TRICKLE, "below --min-rate (1024 bytes/s)"),
        ("/manifests/", STALL, "no answer within 1.0 s"),
    ] {
        let (registry, proxy, fx) = behind_proxy(&env, pattern, status, None, usize::MAX);
        let slow = format!("{}/proj/app:v1", proxy.addr);
        let direct = registry.image("proj/app:v1");
        let (code, doc, stderr, secs) = timed(&env, &[&slow, &direct], &limits);
        assert_eq!(code, 2, "{status}: {doc} {stderr}");
        check_fixture_findings(&doc, &fx.layers);
        let errors = doc["errors"].as_array().expect("errors");
        assert!(!errors.is_empty(), "{doc}");
        for e in errors {
            assert!(e["origin"].as_str().unwrap_or_default().starts_with(&slow), "{e}");
            let message = e["message"].as_str().unwrap_or_default();
            assert!(message.contains(expected) && message.contains("after 1 retries"), "{e}");
        }
        assert!(proxy.injected() >= 2, "retried once: {}", proxy.injected());
        assert!(secs < 20.0, "{status}: failed in {secs:.1} s");
    }
    // The overall deadline, with no minimum rate.
    let (_registry, proxy, _fx) = behind_proxy(&env, "/blobs/", TRICKLE, None, usize::MAX);
    let slow = format!("{}/proj/app:v1", proxy.addr);
    let (code, doc, stderr, secs) =
        timed(&env, &[&slow], &["--min-rate", "0", "--request-timeout", "2"]);
    assert_eq!(code, 2, "{doc} {stderr}");
    assert!(doc["errors"].to_string().contains("longer than --request-timeout (2.0 s)"), "{doc}");
    assert!(secs < 20.0, "deadline: failed in {secs:.1} s");
}

#[test]
fn credentials_go_to_a_token_server_not_named_insecure_only_over_verified_tls() {
    // Issue #19 item 2, over TLS: `--insecure-registry` lifts certificate checks for the
    // registry, not for a token server on another host or port.
    let env = TestEnv::new();
    let tls = UntrustedTls::start();
    let challenge = format!(
        "WWW-Authenticate: Bearer realm=\"https://{}/service/token\",service=\"reg\"\r\n",
        tls.addr
    );
    let image = format!("{}/proj/app:v1", answering_server(401, challenge));
    let base = ["image", image.as_str(), "--insecure-registry", "-u", USER, "--password-stdin"];
    let limits = ["--retries", "0", "--min-rate-window", "2"];
    let mut args = base.to_vec();
    args.extend(limits);
    let (code, doc, stderr) = with_stdin(&env, &args, PASSWORD, &[]);
    assert_eq!(code, 2, "{doc} {stderr}");
    let message = doc["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("token server {}", tls.addr))
            && message.contains(&format!("--insecure-registry={}", tls.addr)),
        "{doc}"
    );
    let received = || tls.received().to_ascii_lowercase();
    assert!(!received().contains("authorization"), "no credentials: {}", received());
    // Named insecure: the unverified server gets them (so the check above can fail).
    let named = format!("--insecure-registry={}", tls.addr);
    args.push(&named);
    let (code, doc, stderr) = with_stdin(&env, &args, PASSWORD, &[]);
    assert_eq!(code, 2, "it never answers: {doc} {stderr}");
    assert!(received().contains("authorization: basic"), "{}", received());
    assert!(!doc.to_string().contains(PASSWORD) && !stderr.contains(PASSWORD));
}
