//! Baselines and ignore files end to end: suppressed findings are counted, a new secret is still
//! reported after lines move, and malformed files are clear errors naming file and line.

use crate::common::{TestEnv, fake, rule_ids};

fn repo() -> TestEnv {
    let env = TestEnv::new();
    std::fs::create_dir(env.path().join(".git")).expect("mkdir .git");
    env
}

#[test]
fn baseline_round_trip_survives_line_moves() {
    let env = repo();
    env.file("app/a.env", format!("# keys\nAWS_ACCESS_KEY_ID={}\n", fake::aws_key_id()));
    let out = env.run(&["baseline", "dir", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let written =
        std::fs::read_to_string(env.path().join(".leakhound-baseline.json")).expect("written");
    assert!(!written.contains(&fake::aws_key_id()), "baselines redact secrets");
    // The accepted key moves down five lines; a new secret arrives in the same file.
    env.file(
        "app/a.env",
        format!(
            "{}AWS_ACCESS_KEY_ID={}\nGH={}\n",
            "# more\n".repeat(5),
            fake::aws_key_id(),
            fake::github_pat()
        ),
    );
    let (code, doc) = env.json(&["dir", ".", "--baseline", ".leakhound-baseline.json"]);
    assert_eq!(code, 1);
    assert_eq!(rule_ids(&doc), ["github.token"]);
    assert_eq!(doc["stats"]["suppressed"], 1);
    assert_eq!(doc["stats"]["findings"], 1);
    // Without the baseline both are reported.
    let (_, doc) = env.json(&["dir", "."]);
    assert_eq!(rule_ids(&doc).len(), 2);
}

#[test]
fn ignore_files_at_the_repository_root() {
    let env = repo();
    env.file("src/k.py", format!("a = '{}'\nb = '{}'\n", fake::aws_key_id(), fake::github_pat()));
    let (_, doc) = env.json(&["dir", "src"]);
    let github = doc["findings"][1]["fingerprint"].as_str().expect("fingerprint").to_owned();
    env.file(".leakhoundignore", format!("# accepted test token\n{github}  # rotated 2026-01\n"));
    env.file(".gitleaksignore", "src/k.py:aws.access-key-id:1\n");
    let (code, doc) = env.json(&["dir", "src"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["stats"]["suppressed"], 2);
    // A gitleaks place entry is tied to its line: after a move the key is reported again.
    env.file("src/k.py", format!("\na = '{}'\nb = '{}'\n", fake::aws_key_id(), fake::github_pat()));
    let (code, doc) = env.json(&["dir", "src"]);
    assert_eq!((code, rule_ids(&doc)), (1, vec!["aws.access-key-id".to_owned()]));
}

#[test]
fn malformed_triage_files_name_file_and_line() {
    let env = repo();
    env.file("a.txt", fake::aws_key_id());
    env.file(".leakhoundignore", "# fine\n0123456789abcdef0123456789abcdef\nnot-a-fingerprint\n");
    let out = env.run(&["dir", "."]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(".leakhoundignore:3") && err.contains("not-a-fingerprint"), "{err}");
    std::fs::remove_file(env.path().join(".leakhoundignore")).expect("rm");
    env.file("b.json", "{\n \"findings\": [\n  {\"rule_id\": \"x\"}\n ]\n}\n");
    let out = env.run(&["dir", ".", "--baseline", "b.json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("b.json:3") && err.contains("fingerprint"), "{err}");
    let out = env.run(&["dir", ".", "--baseline", "missing.json"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json"));
}

#[test]
fn baseline_command_refuses_what_it_cannot_record() {
    let env = repo();
    let out = env.run(&["baseline", "rules", "list"]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.run(&["baseline", "dir", ".", "--baseline", "x.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("drop --baseline"));
    let out = env.run(&["baseline", "-o", "b.json", "dir", ".", "--format", "sarif"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path().join("b.json")).expect("written"))
            .expect("json");
    assert_eq!(doc["version"], 1, "a baseline is always the JSON report");
}
