//! `leakhound sweep` and `leakhound merge` against a real distribution registry, and against the
//! fake Harbor REST API in front of it.

use crate::common::{TestEnv, fake};
use crate::registry::{Compression, Entry, Mode, Registry, layer_tar};
use crate::sweep_registry::{FakeHarbor, Pusher};

const ROBOT: &str = "robot$team+sweep";
const ROBOT_SECRET: &str = "fixture-robot-secret-not-sensitive";

/// Runs the binary with `stdin` piped in.
fn run_with_stdin(env: &TestEnv, args: &[&str], stdin: &str) -> std::process::Output {
    env.cmd().args(args).write_stdin(stdin.to_owned()).output().expect("run leakhound")
}

/// A regular file in a test layer.
fn file(path: &str, content: &[u8]) -> Entry {
    Entry::File(path.to_owned(), content.to_vec())
}

/// A pusher for a plain-HTTP registry.
fn pusher(registry: &Registry) -> Pusher {
    Pusher::new(&format!("http://{}", registry.addr))
}

/// Small images in three projects.
fn small_registry() -> Registry {
    let registry = Registry::start(Mode::Plain);
    let pusher = pusher(&registry);
    let base = layer_tar(&[file("etc/os-release", b"ID=test\n")]);
    for (repo, tags) in [
        ("team/app-a", &["v1", "v2"][..]),
        ("team/app-b", &["v1"][..]),
        ("team/tools", &["latest"][..]),
        ("other/web", &["v1"][..]),
    ] {
        for tag in tags {
            let app = layer_tar(&[file("app/VERSION", format!("{repo}:{tag}\n").as_bytes())]);
            pusher.image(repo, tag, &[base.clone(), app], &[], "amd64");
        }
    }
    registry
}

fn lines(out: &std::process::Output) -> Vec<String> {
    let mut lines: Vec<String> =
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

#[test]
fn catalog_listing_follows_pages_and_filters() {
    let registry = small_registry();
    let env = TestEnv::new();
    let out =
        env.run(&["sweep", &registry.addr, "--insecure-registry", "--list", "--page-size", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let names: Vec<String> =
        lines(&out).iter().map(|l| l.split('\t').take(2).collect::<Vec<_>>().join(":")).collect();
    assert_eq!(
        names,
        ["other/web:v1", "team/app-a:v1", "team/app-a:v2", "team/app-b:v1", "team/tools:latest"]
    );

    let out = env.run(&[
        "sweep",
        &registry.addr,
        "--insecure-registry",
        "--list",
        "--project",
        "team",
        "--repository",
        "team/app-*",
        "--tag",
        "v1",
    ]);
    let names: Vec<String> =
        lines(&out).iter().map(|l| l.split('\t').take(2).collect::<Vec<_>>().join(":")).collect();
    assert_eq!(names, ["team/app-a:v1", "team/app-b:v1"]);
}

#[test]
fn plain_http_needs_insecure_registry() {
    let env = TestEnv::new();
    let out = env.run(&["sweep", "http://127.0.0.1:9", "--list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure-registry"));
}

#[test]
fn harbor_listing_pages_filters_and_never_shows_the_password() {
    let registry = small_registry();
    let harbor = FakeHarbor::start(
        &registry,
        ROBOT,
        ROBOT_SECRET,
        &serde_json::json!({"push_times": {"team/app-a:v2": "2024-06-01T00:00:00.000Z"}}),
    );
    let env = TestEnv::new();
    let base =
        ["sweep", &harbor.addr, "--insecure-registry", "--harbor", "--list", "--page-size", "1"];

    let with = |extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend(["--username", ROBOT, "--password-stdin"]);
        args.extend(extra);
        run_with_stdin(&env, &args, &format!("{ROBOT_SECRET}\n"))
    };
    let out = with(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let all = lines(&out);
    assert_eq!(all.len(), 5, "one line per artifact (app-a has two): {all:?}");
    assert!(all.iter().all(|l| l.split('\t').nth(2).is_some_and(|d| d.starts_with("sha256:"))));

    let out = with(&["--pushed-since", "2024-05-01"]);
    let recent = lines(&out);
    assert_eq!(recent.len(), 1, "{recent:?}");
    assert!(recent[0].starts_with("team/app-a\tv2\t"), "{recent:?}");

    let out = with(&["--project", "other"]);
    assert_eq!(lines(&out).len(), 1);

    // Wrong secret: a clear error, exit 2, and the secret is not echoed.
    let mut args: Vec<&str> = base.to_vec();
    args.extend(["--username", ROBOT, "--password-stdin"]);
    let out = run_with_stdin(&env, &args, "wrong-secret-value\n");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unauthorized"), "{stderr}");
    assert!(!stderr.contains("wrong-secret-value") && !stderr.contains(ROBOT_SECRET), "{stderr}");
}

/// YAML to JSON through Debian's python3-yaml (no YAML crate for two templates).
pub fn yaml_documents(path: &str) -> Vec<serde_json::Value> {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import json,sys,yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        ])
        .arg(&full)
        .output()
        .expect("run python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).expect("json")
}

/// Runs a template's shell with a stand-in `leakhound` on PATH that records its arguments, and
/// returns the `--shard` value it was given.
fn shard_passed(script: &str, vars: &[(&str, String)]) -> String {
    let env = TestEnv::new();
    let bin = env.path().join("bin");
    let log = env.path().join("args");
    env.file("bin/leakhound", format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\n", log.display()));
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(bin.join("leakhound"))
        .status()
        .expect("chmod");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-ec", script]).current_dir(env.path()).env("PATH", path);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run template script");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let args = std::fs::read_to_string(&log).expect("leakhound was called");
    let args: Vec<&str> = args.lines().collect();
    let at = args.iter().position(|a| *a == "--shard").expect("--shard passed");
    args[at + 1].to_owned()
}

#[test]
fn gitlab_template_turns_ci_node_index_into_shards_from_zero() {
    let docs = yaml_documents("ci/leakhound-sweep.gitlab-ci.yml");
    let job = &docs[0]["leakhound-sweep"];
    let n = job["parallel"].as_u64().expect("parallel: N");
    let script: Vec<&str> = job["script"]
        .as_array()
        .expect("script")
        .iter()
        .map(|s| s.as_str().expect("line"))
        .collect();
    let script = script.join("\n");
    let shards: Vec<String> = (1..=n)
        .map(|index| {
            shard_passed(
                &script,
                &[
                    ("CI_NODE_INDEX", index.to_string()),
                    ("CI_NODE_TOTAL", n.to_string()),
                    ("LEAKHOUND_REGISTRY", "https://harbor.test".into()),
                ],
            )
        })
        .collect();
    let expected: Vec<String> = (0..n).map(|i| format!("{i}/{n}")).collect();
    assert_eq!(shards, expected);
    let merge = docs[0]["leakhound-merge"]["script"][0].as_str().expect("merge script");
    assert!(merge.starts_with("leakhound merge "), "{merge}");
}

#[test]
fn kubernetes_template_uses_the_completion_index_as_is() {
    let docs = yaml_documents("deploy/leakhound-sweep-cronjob.yaml");
    let job = &docs[0]["spec"]["jobTemplate"]["spec"];
    assert_eq!(job["completionMode"], "Indexed");
    let n = job["completions"].as_u64().expect("completions");
    assert_eq!(job["parallelism"].as_u64(), Some(n));
    let container = &job["template"]["spec"]["containers"][0];
    let shards_var = container["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == "SHARDS")
        .expect("SHARDS")["value"]
        .as_str()
        .expect("value")
        .to_owned();
    assert_eq!(shards_var, n.to_string(), "SHARDS must equal completions");
    let script = container["args"][0].as_str().expect("script");
    let data = tempfile::tempdir().expect("temp");
    let script = script.replace("/data", &data.path().display().to_string());
    for index in 0..n {
        let shard = shard_passed(
            &script,
            &[
                ("JOB_COMPLETION_INDEX", index.to_string()),
                ("SHARDS", shards_var.clone()),
                ("LEAKHOUND_REGISTRY", "https://harbor.test".into()),
            ],
        );
        assert_eq!(shard, format!("{index}/{n}"));
    }
    assert_eq!(docs[1]["kind"], "CronJob");
}

/// A distinct, well-formed fake AWS access key id per `i` (base32 body, high entropy).
fn aws_key(i: usize) -> String {
    const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let base = fake::aws_key_id();
    let mut key: Vec<u8> = base.into_bytes();
    let n = key.len();
    key[n - 2] = B32[i / 32 % 32];
    key[n - 1] = B32[i % 32];
    String::from_utf8(key).expect("ascii")
}

/// The fleet: 9 images in two projects over two base layers; base layer 1 holds a GitHub
/// token in `etc/app/credentials` (6 images share it), each image's own layer holds its own AWS
/// key in `srv/.env`, `team/svc4` deletes the credentials file in a third layer, and
/// `team/svc0` is tagged twice.
/// Nine images in two projects on a real registry (shared with the HTML report's tests).
pub(crate) struct Fleet {
    pub(crate) registry: Registry,
    /// Repositories using base layer 1.
    pub(crate) with_base_secret: Vec<String>,
}

pub(crate) fn fleet() -> Fleet {
    let registry = Registry::start(Mode::Plain);
    let pusher = pusher(&registry);
    let base1 = layer_tar(&[
        file("etc/os-release", b"ID=fleet\n"),
        file("etc/app/credentials", format!("token = {}\n", fake::github_pat()).as_bytes()),
    ]);
    let base2 = layer_tar(&[file("etc/os-release", b"ID=fleet-two\n")]);
    let mut with_base_secret = Vec::new();
    for i in 0..9 {
        let repo = format!("{}/svc{i}", if i % 2 == 0 { "team" } else { "ops" });
        let base = if i % 3 == 2 { base2.clone() } else { base1.clone() };
        if i % 3 != 2 {
            with_base_secret.push(repo.clone());
        }
        let app = layer_tar(&[file(
            "srv/.env",
            format!("AWS_ACCESS_KEY_ID={}\n", aws_key(i)).as_bytes(),
        )]);
        let mut layers = vec![base, app];
        if i == 4 {
            layers.push(layer_tar(&[Entry::Whiteout("etc/app/credentials".into())]));
        }
        pusher.image(&repo, "v1", &layers, &[], "amd64");
        if i == 0 {
            pusher.image(&repo, "latest", &layers, &[], "amd64");
        }
    }
    Fleet { registry, with_base_secret }
}

pub(crate) fn sweep_args<'a>(registry: &'a Registry, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["sweep", registry.addr.as_str(), "--insecure-registry", "--show-secrets"];
    args.extend(extra);
    args
}

fn findings_at<'a>(doc: &'a serde_json::Value, path: &str) -> Vec<&'a serde_json::Value> {
    doc["findings"].as_array().expect("findings").iter().filter(|f| f["path"] == path).collect()
}

/// Every image reference a finding names (itself and its occurrences).
fn references(finding: &serde_json::Value) -> Vec<String> {
    let mut refs = vec![finding["image"]["ref"].as_str().expect("ref").to_owned()];
    for o in finding["occurrences"].as_array().into_iter().flatten() {
        refs.push(o["image"]["ref"].as_str().expect("ref").to_owned());
    }
    refs.sort();
    refs.dedup();
    refs
}

#[test]
fn a_secret_in_a_shared_base_layer_is_one_finding_listing_every_image_and_tag() {
    let fleet = fleet();
    let env = TestEnv::new();
    let (code, doc) = env.json(&sweep_args(&fleet.registry, &[]));
    assert_eq!(code, 1, "{doc}");
    assert!(doc["errors"].as_array().expect("errors").is_empty(), "{}", doc["errors"]);

    let base = findings_at(&doc, "etc/app/credentials");
    assert_eq!(base.len(), 1, "one finding for the shared secret: {base:#?}");
    let base = base[0];
    assert_eq!(base["secret"], fake::github_pat());
    let mut expected: Vec<String> =
        fleet.with_base_secret.iter().map(|r| format!("{}/{r}:v1", fleet.registry.addr)).collect();
    expected.push(format!("{}/team/svc0:latest", fleet.registry.addr));
    expected.sort();
    assert_eq!(references(base), expected);
    // svc4 deletes the file in its third layer: still in the image, marked deleted.
    let all: Vec<&serde_json::Value> = std::iter::once(&base["image"])
        .chain(base["occurrences"].as_array().into_iter().flatten().map(|o| &o["image"]))
        .collect();
    for image in all {
        let deleted = !image["deleted_in_layer"].is_null();
        assert_eq!(
            deleted,
            image["ref"].as_str().is_some_and(|r| r.contains("/team/svc4:")),
            "{image}"
        );
    }

    let apps = findings_at(&doc, "srv/.env");
    assert_eq!(apps.len(), 9, "each image's own key: {apps:#?}");
    let secrets: std::collections::BTreeSet<&str> =
        apps.iter().map(|f| f["secret"].as_str().expect("secret")).collect();
    assert_eq!(secrets.len(), 9);
}

/// The layer digests a shard report holds results for.
fn shard_layers(doc: &serde_json::Value) -> Vec<String> {
    doc["layers"].as_object().expect("layers").keys().cloned().collect()
}

#[test]
fn three_shards_cover_every_layer_once_and_merge_equals_one_sweep() {
    let fleet = fleet();
    let env = TestEnv::new();
    let (_, whole) = env.json(&sweep_args(&fleet.registry, &[]));
    let out = env.run(&sweep_args(&fleet.registry, &["--shard", "0/1", "--report", "all.json"]));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let all: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path().join("all.json")).expect("read"))
            .expect("json");
    let mut every = shard_layers(&all);
    every.sort();
    assert_eq!(every.len(), 2 + 9 + 1, "2 bases, 9 app layers, 1 whiteout layer");

    let mut covered = Vec::new();
    let mut reports = Vec::new();
    for i in 0..3 {
        let name = format!("shard-{i}.json");
        let shard = format!("{i}/3");
        let out = env.run(&sweep_args(&fleet.registry, &["--shard", &shard, "--report", &name]));
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(env.path().join(&name)).expect("read"))
                .expect("json");
        covered.extend(shard_layers(&doc));
        reports.push(name);
    }
    covered.sort();
    assert_eq!(covered, every, "every layer in exactly one shard");

    let mut args = vec!["merge", "--show-secrets"];
    args.extend(reports.iter().rev().map(String::as_str));
    let (code, merged) = env.json(&args);
    assert_eq!(code, 1);
    assert_eq!(merged["findings"], whole["findings"]);

    // Every report format works on the merged sweep (SARIF lists the rules in force).
    let mut args = vec!["merge", "--format", "sarif"];
    args.extend(reports.iter().map(String::as_str));
    let out = env.run(&args);
    assert_eq!(out.status.code(), Some(1));
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).expect("sarif json");
    assert!(!sarif["runs"][0]["results"].as_array().expect("results").is_empty());

    // Shards swept with other rules than merge is given are refused.
    env.file("rules.toml", "[allow]\nstopwords = [\"not-in-any-secret\"]\n");
    let mut args = vec!["merge", "--config", "rules.toml"];
    args.extend(reports.iter().map(String::as_str));
    let out = env.run(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("other rules"));

    // A missing shard is an error, not a smaller report.
    let out = env.run(&["merge", &reports[0], &reports[1]]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing shard reports: 2/3"), "{stderr}");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_cache_skips_known_layers_and_a_rule_change_rescans() {
    let fleet = fleet();
    let env = TestEnv::new();
    let stats = |extra: &[&str]| {
        let mut args = sweep_args(&fleet.registry, &["--cache", "cache.db", "--shard", "0/1"]);
        args.extend(extra);
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("shard json");
        (
            doc["stats"]["layers_scanned"].as_u64().expect("n"),
            doc["stats"]["layers_reused"].as_u64().expect("n"),
        )
    };
    assert_eq!(stats(&[]), (12, 0));
    assert_eq!(stats(&[]), (0, 12), "second sweep: nothing pulled");
    env.file("rules.toml", "[allow]\nstopwords = [\"not-in-any-secret\"]\n");
    assert_eq!(stats(&["--config", "rules.toml"]), (12, 0), "new rules: everything again");

    // One new image: only its own layer is scanned.
    pusher(&fleet.registry).image(
        "team/new",
        "v1",
        &[
            layer_tar(&[file("etc/os-release", b"ID=fleet-two\n")]),
            layer_tar(&[file("srv/new.txt", b"hello\n")]),
        ],
        &[],
        "amd64",
    );
    assert_eq!(stats(&["--config", "rules.toml"]), (1, 12));

    // A damaged cache is a clear error, never a silent rescan.
    std::fs::write(env.path().join("cache.db"), vec![b'x'; 4096]).expect("write");
    let out = env.run(&sweep_args(&fleet.registry, &["--cache", "cache.db"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("corrupt"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_broken_image_is_an_error_and_the_sweep_goes_on() {
    let fleet = fleet();
    let pusher = pusher(&fleet.registry);
    // An image whose only layer has a media type nobody knows.
    let odd = b"not a tar at all".to_vec();
    pusher.image_raw(
        "ops/odd",
        "v1",
        &[(odd.clone(), "application/vnd.example.unknown".into(), crate::registry::digest(&odd))],
        &[],
        "amd64",
    );
    // An image whose app layer vanished from storage (404 mid-sweep).
    let gone = layer_tar(&[file("srv/gone.txt", b"bye\n")]);
    pusher.image("ops/gone", "v1", std::slice::from_ref(&gone), &[], "amd64");
    pusher.delete_blob(
        "ops/gone",
        &crate::registry::digest(&crate::registry::compress(&gone, Compression::Gzip)),
    );

    let env = TestEnv::new();
    let (code, doc) = env.json(&sweep_args(&fleet.registry, &[]));
    assert_eq!(code, 2, "errors win over findings");
    let errors = doc["errors"].as_array().expect("errors");
    let text = serde_json::to_string(errors).expect("json");
    assert!(text.contains("ops/odd") && text.contains("media type"), "{text}");
    assert!(text.contains("ops/gone"), "{text}");
    assert_eq!(findings_at(&doc, "srv/.env").len(), 9, "the rest was scanned");
}

#[test]
fn harbor_sweep_with_a_robot_account_retries_and_keeps_credentials_out() {
    let fleet = fleet();
    let harbor = FakeHarbor::start(
        &fleet.registry,
        ROBOT,
        ROBOT_SECRET,
        &serde_json::json!({"throttle": 2, "fail_manifests": ["ops/svc1"]}),
    );
    let env = TestEnv::new();
    let out = env
        .cmd()
        .args([
            "sweep",
            &harbor.addr,
            "--insecure-registry",
            "--harbor",
            "--username",
            ROBOT,
            "--password-stdin",
            "--cache",
            "cache.db",
            "--format",
            "json",
            "--report",
            "report.json",
            "--retries",
            "2",
        ])
        .write_stdin(format!("{ROBOT_SECRET}\n"))
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let report = std::fs::read_to_string(env.path().join("report.json")).expect("report");
    let doc: serde_json::Value = serde_json::from_str(&report).expect("json");
    let errors = serde_json::to_string(&doc["errors"]).expect("json");
    assert!(errors.contains("ops/svc1") && errors.contains("500"), "{errors}");
    // The 429s were retried: every other image was scanned.
    assert_eq!(findings_at(&doc, "srv/.env").len(), 8, "{report}");
    assert!(stderr.contains("project") && stderr.contains("team"), "per-project summary: {stderr}");

    let cache = std::fs::read(env.path().join("cache.db")).expect("cache");
    for (what, bytes) in [
        ("report", report.as_bytes()),
        ("stderr", stderr.as_bytes()),
        ("stdout", &out.stdout),
        ("cache", &cache),
    ] {
        assert!(
            !bytes.windows(ROBOT_SECRET.len()).any(|w| w == ROBOT_SECRET.as_bytes()),
            "the robot secret leaked into the {what}"
        );
    }
}

#[test]
fn token_auth_catalog_gets_its_own_scope() {
    let registry = Registry::start(Mode::Token);
    let dir = tempfile::tempdir().expect("temp");
    let mut layout = crate::registry::Layout::new(dir.path());
    let layer =
        layer_tar(&[file("srv/.env", format!("AWS_ACCESS_KEY_ID={}\n", aws_key(1)).as_bytes())]);
    let desc = layout.manifest(&crate::registry::ImageSpec::new(&[layer], Compression::Gzip));
    layout.tag(desc, "v1");
    registry.push(&layout.dir, "v1", "team/app:v1");
    registry.push(&layout.dir, "v1", "team/other:v1");

    let env = TestEnv::new();
    let insecure = registry.insecure_args();
    let run = |extra: &[&str]| {
        let mut args = vec!["sweep", registry.addr.as_str(), "-u", crate::registry::USER];
        args.push("--password-stdin");
        args.extend(insecure.iter().map(String::as_str));
        args.extend(extra);
        env.cmd()
            .args(&args)
            .write_stdin(format!("{}\n", crate::registry::PASSWORD))
            .output()
            .expect("run")
    };
    let out = run(&["--list"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines(&out).len(), 2);
    let out = run(&["--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(findings_at(&doc, "srv/.env").len(), 1, "one secret, two images");
}

#[test]
fn every_platform_of_an_index_is_swept_unless_one_is_picked() {
    let registry = Registry::start(Mode::Plain);
    let dir = tempfile::tempdir().expect("temp");
    let mut layout = crate::registry::Layout::new(dir.path());
    let mut platforms = Vec::new();
    for (i, arch) in [(1, "amd64"), (2, "arm64")] {
        let layer = layer_tar(&[file(
            "srv/.env",
            format!("AWS_ACCESS_KEY_ID={}\n", aws_key(i)).as_bytes(),
        )]);
        let mut spec = crate::registry::ImageSpec::new(&[layer], Compression::Gzip);
        spec.arch = arch;
        platforms.push((layout.manifest(&spec), arch));
    }
    let index = layout.index(&platforms);
    layout.tag(index, "v1");
    registry.push(&layout.dir, "v1", "team/multi:v1");

    let env = TestEnv::new();
    let (code, doc) = env.json(&sweep_args(&registry, &[]));
    assert_eq!(code, 1, "{doc}");
    let mut seen: Vec<&str> = findings_at(&doc, "srv/.env")
        .iter()
        .map(|f| f["image"]["platform"].as_str().expect("platform"))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, ["linux/amd64", "linux/arm64"]);

    let (_, doc) = env.json(&sweep_args(&registry, &["--platform", "linux/arm64"]));
    let only: Vec<&str> = findings_at(&doc, "srv/.env")
        .iter()
        .map(|f| f["image"]["platform"].as_str().expect("platform"))
        .collect();
    assert_eq!(only, ["linux/arm64"]);
}

#[test]
fn skipped_files_are_counted_per_layer_and_kept_in_the_cache() {
    let registry = Registry::start(Mode::Plain);
    let pusher = pusher(&registry);
    let layer = layer_tar(&[
        file("etc/os-release", b"ID=skips\n"),
        file("bin/tool", b"\x7fELF\0\0\0binary"),
        file("var/log/big.log", &[b'a'; 4096]),
        Entry::Symlink("etc/shadow-link".into(), "/etc/shadow".into()),
    ]);
    let other = layer_tar(&[file("usr/lib/x.so", b"\x7fELF\0\0\0other"), file("a.txt", b"a\n")]);
    pusher.image("team/skips", "v1", &[layer, other], &[], "amd64");
    let env = TestEnv::new();
    let skips = || {
        let args = sweep_args(&registry, &["--cache", "cache.db", "--max-file-size", "1K"]);
        let (code, doc) = env.json(&args);
        assert_eq!(code, 0, "{doc}");
        let s = &doc["stats"];
        [&s["skipped_binary"], &s["skipped_too_large"], &s["skipped_special"], &s["scanned"]]
            .map(|v| v.as_u64().expect("a count"))
    };
    assert_eq!(skips(), [2, 1, 1, 2], "first sweep: both layers read");
    assert_eq!(skips(), [2, 1, 1, 2], "second sweep: the same counts, from the cache");
}

#[test]
fn issue_15_archive_errors_and_skips_in_a_layer_survive_the_cache() {
    let registry = Registry::start(Mode::Plain);
    let mut broken = crate::archives::zip_of(&[("a.txt", b"plain\n")]);
    let eocd = broken.windows(4).rposition(|w| w == b"PK\x05\x06").expect("eocd");
    broken[eocd + 2] = b'X';
    let mut deep = crate::archives::zip_of(&[("deep.txt", b"deep\n")]);
    for level in 0..5 {
        deep = crate::archives::zip_of(&[(&format!("l{level}.zip"), &deep)]);
    }
    let layer = layer_tar(&[file("srv/broken.zip", &broken), file("srv/deep.zip", &deep)]);
    pusher(&registry).image("team/archives", "v1", &[layer], &[], "amd64");
    let env = TestEnv::new();
    // (exit code, error origins, skip origins, layers [scanned, reused] from the project table)
    let run = || {
        let out = env.run(&sweep_args(&registry, &["--cache", "cache.db", "--format", "json"]));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
        let origins = |key: &str| -> Vec<String> {
            doc[key]
                .as_array()
                .unwrap_or_else(|| panic!("{key}: {doc}"))
                .iter()
                .map(|e| e["origin"].as_str().expect("origin").to_owned())
                .collect()
        };
        let table = String::from_utf8_lossy(&out.stderr).into_owned();
        let row: Vec<&str> = table
            .lines()
            .find(|l| l.starts_with("team "))
            .unwrap_or_else(|| panic!("no project row: {table}"))
            .split_whitespace()
            .collect();
        let layers = [row[2], row[3]].map(|n| n.parse::<u64>().expect("a count"));
        (out.status.code(), origins("errors"), origins("skipped"), layers)
    };
    let first = run();
    assert_eq!(first.0, Some(2), "a zip that cannot be read is an error: {first:?}");
    assert!(
        first.1.len() == 1 && first.1[0].ends_with(": srv/broken.zip"),
        "the error names the image, the layer and the file: {first:?}"
    );
    assert!(
        first.2.len() == 1 && first.2[0].ends_with(": srv/deep.zip!l4.zip!l3.zip!l2.zip!l1.zip"),
        "{first:?}"
    );
    assert_eq!(first.3, [1, 0], "first sweep scans the layer");
    let second = run();
    assert_eq!(second.3, [0, 1], "second sweep is served from the cache: {second:?}");
    assert_eq!((second.0, &second.1, &second.2), (first.0, &first.1, &first.2));
    // Served from the cache, and scanned afresh: the problem is in the layer's result either way.
    for extra in [&["--cache", "cache.db"][..], &[]] {
        let mut args = vec!["--shard", "0/1", "--report", "shard.json"];
        args.extend(extra);
        let shard = env.run(&sweep_args(&registry, &args));
        assert_eq!(
            shard.status.code(),
            Some(2),
            "a shard whose only problem is an unreadable archive is incomplete too ({extra:?})"
        );
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(env.path().join("shard.json")).expect("shard"))
                .expect("a shard report");
        assert_eq!(doc["failed"].as_object().map(serde_json::Map::len), Some(0), "{doc}");
        assert_eq!(doc["errors"].as_array().map(Vec::len), Some(0), "{doc}");
    }
}
