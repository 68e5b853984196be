//! The job image (issue #17): `scripts/build-image.sh` builds it without a container engine,
//! pushes it to a real registry, and the image is checked from outside (`leakhound image` finds
//! nothing in it) and from inside (`chroot` into its unpacked root file system runs the binary
//! and scans a repository with the image's own git). Slow (mmdebstrap fetches Debian's packages):
//! one test builds once and checks everything.

use std::path::Path;
use std::process::Command;

use crate::common::{TestEnv, fake};
use crate::registry::{Mode, Registry};

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The image's one layer, unpacked into `root`.
fn unpack(layout: &Path, root: &Path) {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    let blob =
        |digest: &str| layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(blob(index["manifests"][0]["digest"].as_str().expect("digest")))
            .expect("manifest"),
    )
    .expect("json");
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "{manifest}");
    std::fs::create_dir_all(root).expect("root dir");
    run_ok(
        Command::new("tar")
            .arg("-xzf")
            .arg(blob(layers[0]["digest"].as_str().expect("digest")))
            .arg("-C")
            .arg(root),
    );
}

#[test]
fn job_image_builds_pushes_scans_clean_and_runs_leakhound_and_git_inside() {
    let registry = Registry::start(Mode::Plain);
    let env = TestEnv::new();
    let out = env.path().join("image");
    let reference = format!("{}/tools/leakhound:test", registry.addr);
    let bin = assert_cmd::cargo::cargo_bin("leakhound");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut build = Command::new(repo.join("scripts/build-image.sh"));
    build.arg("--binary").arg(&bin).arg("--out").arg(&out).args([
        "--tag",
        "test",
        "--push",
        &reference,
        "--dest-tls-verify=false",
    ]);
    run_ok(&mut build);

    let inspect = run_ok(
        Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci:{}:test", out.join("oci").display())),
    );
    let inspect: serde_json::Value = serde_json::from_str(&inspect).expect("skopeo inspect JSON");
    assert_eq!(
        (inspect["Architecture"].as_str(), inspect["Os"].as_str()),
        (Some("amd64"), Some("linux"))
    );

    // Nothing to find in the image itself, read from the layout, the archive and the registry.
    let layout = format!("oci:{}:test", out.join("oci").display());
    let archive = format!("docker-archive:{}", out.join("leakhound-image.tar").display());
    for image in [layout.as_str(), archive.as_str()] {
        let (code, doc) = env.json(&["image", image]);
        assert_eq!(
            (code, doc["findings"].as_array().map(Vec::len)),
            (0, Some(0)),
            "{image}: {doc}"
        );
    }
    let (code, doc) = env.json(&["image", &reference, "--insecure-registry"]);
    assert_eq!(code, 0, "pushed image: {doc}");
    assert!(
        doc["stats"]["scanned"].as_u64().unwrap_or(0) > 1000,
        "the pushed image was read: {doc}"
    );

    // Inside: the binary runs, and scans a repository made with the image's own git.
    let root = env.path().join("root");
    unpack(&out.join("oci"), &root);
    let version =
        run_ok(Command::new("chroot").arg(&root).args(["/usr/local/bin/leakhound", "--version"]));
    assert!(version.starts_with("leakhound "), "{version}");
    assert!(root.join("usr/local/bin/leakhound-ci").is_file());
    assert!(root.join("etc/ssl/certs/ca-certificates.crt").is_file());
    let script = format!(
        "set -e; export HOME=/tmp PATH=/usr/local/bin:/usr/bin:/bin; cd /tmp; git init -q r; cd r; \
         printf 'AWS_ACCESS_KEY_ID={}\\n' > deploy.env; git add deploy.env; \
         git -c user.name=ci -c user.email=ci@example.org commit -qm deploy; \
         leakhound git . --format json || echo exit=$?",
        fake::aws_key_id()
    );
    let out = Command::new("chroot")
        .arg(&root)
        .args(["/bin/sh", "-c", &script])
        .output()
        .expect("chroot");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("aws.access-key-id")
            && stdout.contains("deploy.env")
            && stdout.contains("exit=1"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
