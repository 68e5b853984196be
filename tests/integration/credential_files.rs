//! Credential files with a known structure (#13 items 2 and 3): one realistic file per format in
//! `fixtures/credfiles/`, scanned with the built-in rules; every secret must be reported by its
//! rule at its line, and nothing else but generic rules may fire.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::common::TestEnv;

#[test]
fn credential_files_report_each_secret_at_its_line() {
    let env = TestEnv::new();
    let config = env.file("empty.toml", "# built-in rules only\n").display().to_string();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/credfiles");
    let table = std::fs::read_to_string(dir.join("EXPECTED")).expect("EXPECTED is readable");
    let expected: BTreeSet<(String, u64, String)> = table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split_whitespace();
            let path = f.next().expect("path").to_owned();
            let line = f.next().and_then(|n| n.parse().ok()).expect("line number");
            (path, line, f.next().expect("rule id").to_owned())
        })
        .collect();
    assert!(expected.len() >= 60, "{} expected findings", expected.len());
    let (code, doc) = env.json(&[
        "dir",
        dir.to_str().expect("utf-8 path"),
        "--config",
        &config,
        "--show-secrets",
        // Under fixtures/ every finding is a test vector to the confidence model (#14), one step
        // lower; the formats are what this test checks, so it asks for every level.
        "--min-confidence",
        "low",
    ]);
    assert_eq!(code, 1, "{doc}");
    let found: BTreeSet<(String, u64, String)> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let path = f["path"].as_str().unwrap_or_default();
            (
                path.rsplit_once("fixtures/credfiles/").map_or(path, |(_, p)| p).to_owned(),
                f["line"].as_u64().unwrap_or(0),
                f["rule_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .filter(|f| !f.2.starts_with("generic."))
        .collect();
    let missing: Vec<_> = expected.difference(&found).collect();
    let unexpected: Vec<_> = found.difference(&expected).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "missing {missing:#?}\nunexpected {unexpected:#?}"
    );
    // The formats the issue counts: at least 40 distinct files.
    let files: BTreeSet<&String> = expected.iter().map(|e| &e.0).collect();
    assert!(files.len() >= 40, "{} credential files", files.len());
    // Decoding: the docker config's base64 `auth` is reported at its line as before.
    assert!(found.contains(&(
        "home/.docker/config.json".to_owned(),
        4,
        "docker.config-auth".to_owned()
    )));
}

#[test]
fn hash_rules_are_low_and_turned_off_by_prefix() {
    let env = TestEnv::new();
    env.file("shadow", "root:$6$Zq8mW2xK$Jq4Wm8Xv2Lk7Zp9Rt3Ny6eBs1Hd5Gf0Jc2Ve7Ua9OqLm2Zp9Xv4Kw8Rt3Ny6Bs1Hd5Gf0Jc2Ve7Ua9O.Lm2Zp9Xv4Kw8Rt3Ny6B/:19700:0:99999:7:::\n");
    let on = env.file("on.toml", "# built-in rules only\n").display().to_string();
    let (code, doc) = env.json(&["dir", "shadow", "--config", &on]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(doc["findings"][0]["rule_id"], "hash.sha512crypt");
    assert_eq!(doc["findings"][0]["severity"], "low");
    let off =
        env.file("off.toml", "[extend]\ndisabled_rules = [\"hash.\"]\n").display().to_string();
    let (code, doc) = env.json(&["dir", "shadow", "--config", &off]);
    assert_eq!(code, 0, "{doc}");
}
