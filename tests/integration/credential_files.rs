//! Credential files with a known structure (#13 items 2 and 3): one realistic file per format in
//! `fixtures/credfiles/`, scanned with the built-in rules; every secret must be reported by its
//! rule at its line, and nothing else but generic rules may fire. Passwords stored under a public
//! scheme (`WinSCP`, rclone, `FileZilla`, Cisco type 7, Junos `$9$`, mRemoteNG, the base64 of npm's
//! `_auth` and docker's `auth` `user:password`) are reported decoded.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::common::{TestEnv, git};

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

/// The passwords the fixtures store under each rule's `decode` scheme (encoded with the schemes'
/// own algorithms; see src/engine/reveal). The `WinSCP` registry export is UTF-16, as regedit writes.
const REVEALED: [(&str, &str, &str); 11] = [
    ("winscp/WinSCP.ini", "winscp.password", "Hv72mQpLx9-kT4"),
    ("winscp/winscp-sessions.reg", "winscp.password", "Tr7kLm2QwX9z-reg"),
    ("home/.config/rclone/rclone.conf", "rclone.obscured-password", "Zq8mW2xK-nas-Backup7"),
    ("filezilla/sitemanager.xml", "filezilla.password", "Q7vMp2xKL9wZ"),
    ("cisco/router.cfg", "cisco.type7-password", "Rt7kLm2QwX"),
    ("juniper/junos.conf", "juniper.type9-secret", "Radius-Kx8Wq2mN"),
    ("mremoteng/confCons.xml", "mremoteng.password", "Q7vMp2xKL9wZ_Rt9kW2mQx7Lp"),
    // A file of mRemoteNG before 1.75: AES-128-CBC, no `EncryptionEngine` attributes.
    ("mremoteng-1.72/confCons.xml", "mremoteng.password", "Wv4Kp8Zq2Lm7-ssh-legacy"),
    ("legacy/.npmrc", "npm.npmrc-auth-pair", "Tr9kW2mQpL7v"),
    // base64 of `admin:admin`: below any entropy floor, still a login the field stores.
    ("weak/.npmrc", "npm.npmrc-auth-pair", "admin"),
    // base64 of `ci-bot:Zr8vLq2Nw5Tk9Pm3Xy`.
    ("home/.docker/config.json", "docker.config-auth", "Zr8vLq2Nw5Tk9Pm3Xy"),
];

/// `Zq8mW2xK-nas-Backup7` obscured by rclone's scheme under two different IVs, as two runs of
/// `rclone config` would store it, and `Lk2Xw7Zp4Rt9VNy6` under a third.
const RCLONE_SAME: [&str; 2] = [
    "TpEqd8MF2GsQ_jmEXKFiDS0sXeatXAJuZJ4yBxZEhLEIpRIv",
    "gSzlGWq3A9RYnyZ7wD6VQd14bwCZF8QQ7zMoPOmJDlC38pRA",
];
const RCLONE_OTHER: &str = "F41C6TC7ZA-iXcgTfpYh9Ox_4884k4I0OtBbNGOgTn4";

fn rclone_conf(pass: &str) -> String {
    format!("[nas]\ntype = sftp\nhost = nas.corp.internal\nuser = backup\npass = {pass}\n")
}

/// The finding of `rule` whose path ends in `path`.
fn finding<'a>(doc: &'a serde_json::Value, path: &str, rule: &str) -> &'a serde_json::Value {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule_id"] == rule && f["path"].as_str().is_some_and(|p| p.ends_with(path)))
        .unwrap_or_else(|| panic!("no {rule} finding in {path}: {doc}"))
}

#[test]
fn decoded_passwords_are_the_secrets_and_output_stays_redacted() {
    let env = TestEnv::new();
    let config = env.file("empty.toml", "# built-in rules only\n").display().to_string();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/credfiles");
    let dir = dir.to_str().expect("utf-8 path");
    let base = ["dir", dir, "--config", &config, "--min-confidence", "low"];
    let (code, doc) = env.json(&[&base[..], &["--show-secrets"]].concat());
    assert_eq!(code, 1, "{doc}");
    for (path, rule, password) in REVEALED {
        let f = finding(&doc, path, rule);
        assert_eq!(f["secret"], password, "{f}");
        assert!(f.get("note").is_none(), "{f}");
        // The fingerprint, which baselines and ignore files match on, is over the password.
        let at = f["path"].as_str().expect("path");
        let want = leakhound::finding::fingerprint(rule, password.as_bytes(), at);
        assert_eq!(f["fingerprint"], want.as_str(), "{f}");
        // The place is the stored value's: its line holds what the rule matched, not the password.
        let line = f["line"].as_u64().expect("line") as usize;
        let bytes = std::fs::read(at).expect("fixture is readable");
        let text = match bytes.strip_prefix(b"\xff\xfe") {
            Some(utf16) => String::from_utf16_lossy(
                &utf16
                    .chunks_exact(2)
                    .map(|p| u16::from_le_bytes([p[0], p[1]]))
                    .collect::<Vec<_>>(),
            ),
            None => String::from_utf8_lossy(&bytes).into_owned(),
        };
        let stored_line = text.lines().nth(line - 1).expect("the line exists");
        assert!(!stored_line.contains(password), "{path}:{line} holds it encoded: {stored_line}");
    }
    // By default no output shows a password, neither JSON nor text.
    let (_, redacted) = env.json(&base);
    let text = env.run(&base);
    let shown = [
        redacted.to_string(),
        String::from_utf8_lossy(&text.stdout).into_owned(),
        String::from_utf8_lossy(&text.stderr).into_owned(),
    ]
    .concat();
    for (path, rule, password) in REVEALED {
        assert!(!shown.contains(password), "{rule} in {path} shows its password");
        assert_ne!(finding(&redacted, path, rule)["secret"], password);
    }
}

/// A docker config's `auth` (#13): the password is the secret, redacted in text, and the user it
/// belongs to is carried beside it in JSON, where the registry verifier reads it.
#[test]
fn a_docker_auth_reports_its_password_and_names_its_user() {
    let env = TestEnv::new();
    let stored = "ZGVwbG95LWJvdDpIcTRUelg5bVdwMkxjVjdy"; // `deploy-bot:Hq4TzX9mWp2LcV7r`
    env.file(
        ".docker/config.json",
        format!("{{\n  \"auths\": {{\n    \"harbor.corp.internal\": {{\n      \"auth\": \"{stored}\"\n    }}\n  }}\n}}\n"),
    );
    let (code, doc) = env.json(&["dir", ".", "--show-secrets"]);
    assert_eq!(code, 1, "{doc}");
    let f = finding(&doc, "config.json", "docker.config-auth");
    assert_eq!(f["secret"], "Hq4TzX9mWp2LcV7r", "{f}");
    assert_eq!(f["captures"]["user"], "deploy-bot", "{f}");
    assert_eq!(f["captures"]["host"], "harbor.corp.internal", "{f}");
    assert_eq!((&f["line"], &f["column"]), (&4.into(), &16.into()), "the stored value's place");
    let out = env.run(&["dir", "."]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("docker.config-auth"), "{text}");
    assert!(!text.contains("Hq4TzX9mWp2LcV7r") && !text.contains(stored), "redacted: {text}");
    let (_, redacted) = env.json(&["dir", "."]);
    let f = finding(&redacted, "config.json", "docker.config-auth");
    assert_ne!(f["secret"], "Hq4TzX9mWp2LcV7r", "{f}");
    assert_eq!(f["captures"]["user"], "deploy-bot", "the user is no secret: {f}");
}

#[test]
fn a_value_that_does_not_decode_is_reported_as_stored_with_a_note() {
    let env = TestEnv::new();
    // Not WinSCP's layout (too short for the length it announces), and an mRemoteNG value that
    // is base64 but not encrypted under the default master password.
    let winscp = "A35C4D5D6E6B1F2B3B2F6D6A7E6F3B3E2B3A";
    env.file(
        "WinSCP.ini",
        format!("[Sessions\\deploy@sftp.corp.internal]\nHostName=sftp.corp.internal\nUserName=deploy\nPassword={winscp}\n"),
    );
    let mremoteng = "UTd2TXAyeEtMOXdaX1J0OWtXMm1ReDdMcA==";
    env.file(
        "confCons.xml",
        format!("<Node Name=\"db01\" Type=\"Connection\" Username=\"admin\" Password=\"{mremoteng}\" Hostname=\"db01\" />\n"),
    );
    let (code, doc) = env.json(&["dir", ".", "--show-secrets"]);
    assert_eq!(code, 1, "{doc}");
    for (path, rule, stored, scheme) in [
        ("WinSCP.ini", "winscp.password", winscp, "winscp"),
        ("confCons.xml", "mremoteng.password", mremoteng, "mremoteng"),
    ] {
        let f = finding(&doc, path, rule);
        assert_eq!(f["secret"], stored, "{f}");
        let note = f["note"].as_str().unwrap_or_default();
        assert!(note.contains(&format!("not decoded as {scheme}")), "{f}");
    }
    let text = String::from_utf8_lossy(&env.run(&["dir", "."]).stdout).into_owned();
    assert!(text.contains("note: the stored value is reported"), "{text}");
    assert!(!text.contains(winscp), "redacted as any secret: {text}");
}

#[test]
fn a_baseline_knows_a_password_however_it_was_obscured() {
    let env = TestEnv::new();
    std::fs::create_dir(env.path().join(".git")).expect("mkdir .git");
    env.file("rclone.conf", rclone_conf(RCLONE_SAME[0]));
    let out = env.run(&["baseline", "dir", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // `rclone config` saved again: the same password under a new IV is still the accepted one.
    env.file("rclone.conf", rclone_conf(RCLONE_SAME[1]));
    let (code, doc) = env.json(&["dir", ".", "--baseline", ".leakhound-baseline.json"]);
    assert_eq!((code, &doc["stats"]["suppressed"]), (0, &serde_json::json!(1)), "{doc}");
    // A new password is not.
    env.file("rclone.conf", rclone_conf(RCLONE_OTHER));
    let (code, doc) = env.json(&["dir", ".", "--baseline", ".leakhound-baseline.json"]);
    assert_eq!(code, 1, "{doc}");
}

#[test]
fn history_groups_one_password_stored_two_ways() {
    let env = TestEnv::new();
    git(env.path(), &["init", "-q", "-b", "main"]);
    for (i, pass) in RCLONE_SAME.iter().enumerate() {
        env.file("rclone.conf", rclone_conf(pass));
        git(env.path(), &["add", "-A"]);
        git(env.path(), &["commit", "-q", "-m", &format!("save {i}")]);
    }
    let (code, doc) = env.json(&["git", ".", "--show-secrets"]);
    assert_eq!(code, 1, "{doc}");
    let found = doc["findings"].as_array().expect("findings");
    assert_eq!(found.len(), 1, "one password, one finding: {doc}");
    assert_eq!(found[0]["secret"], "Zq8mW2xK-nas-Backup7");
    assert_eq!(found[0]["occurrences"].as_array().map(Vec::len), Some(1), "{doc}");
}
