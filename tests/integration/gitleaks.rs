//! Gitleaks configs end to end: custom rules and allowlists give the findings gitleaks' own
//! semantics give (reasoned from gitleaks' documentation, case by case below), unsupported
//! features are warned about with file and line, and malformed ones are errors.

use crate::common::{TestEnv, fake, git};

const CONFIG: &str = r#"title = "team config"

[extend]
useDefault = true
disabledRules = ["generic-api-key"]

[[rules]]
id = "acme-api-key"
description = "ACME API key"
regex = '''(?i)acme[_-]?key\s*[:=]\s*["']?(acme_[a-z0-9]{16})'''
secretGroup = 1
entropy = 3.0
keywords = ["acme"]
tags = ["key", "acme"]

  [[rules.allowlists]]
  regexTarget = "line"
  regexes = ['''#\s*example''']

  [[rules.allowlists]]
  condition = "AND"
  paths = ['''^fixtures/''']
  stopwords = ["test"]

[[rules]]
id = "internal_token"
regex = '''itok-[0-9]{8}'''
keywords = ["itok-"]
path = '''\.cfg$'''

[[rules]]
id = "pem-files"
path = '''\.pem$'''

[[allowlists]]
paths = ['''(^|/)vendor/''']
regexes = ['''itok-0{8}''']

[[allowlists]]
targetRules = ["aws-access-token"]
regexTarget = "match"
regexes = ['''^AKIA[A-Z2-7]{13}WKH$''']
"#;

fn findings(doc: &serde_json::Value) -> Vec<(String, String, u64)> {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap_or_default().to_owned(),
                f["path"].as_str().unwrap_or_default().to_owned(),
                f["line"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn gitleaks_config_gives_gitleaks_findings() {
    let env = TestEnv::new();
    std::fs::create_dir(env.path().join(".git")).expect("mkdir");
    env.file(".gitleaks.toml", CONFIG);
    // Rule with secretGroup: reported on line 1; line 2 is allowlisted by a `line` regex.
    env.file(
        "src/a.py",
        "acme_key = \"acme_9f8a7b6c5d4e3f21\"\nacme_key = \"acme_9f8a7b6c5d4e3f22\" # example\n",
    );
    // AND allowlist: path under fixtures/ AND a stop word: only line 1 has both.
    env.file(
        "fixtures/f.py",
        "acme_key = \"acme_test1c5d4e3f2109\"\nacme_key = \"acme_9f8a7b6c5d4e3f23\"\n",
    );
    // The AND list needs both: a stop word outside fixtures/ is still reported.
    env.file("src/b.py", "acme_key = \"acme_test1c5d4e3f2909\"\n");
    // Global path allowlist: never read.
    env.file("vendor/v.py", "acme_key = \"acme_9f8a7b6c5d4e3f24\"\n");
    // `path` restricts internal_token to *.cfg; the global regex allows itok-00000000.
    env.file("src/t.txt", "x = itok-12345678\n");
    env.file("src/t.cfg", "x = itok-12345678\ny = itok-00000000\n");
    // useDefault keeps the built-in rules; the targeted global list (match regex) allows this
    // AWS key for the aws rule only; disabledRules drops the generic rule.
    env.file("src/aws.txt", format!("{}\npassword = \"hG7kL9xQm2vP4zWq\"\n", fake::aws_key_id()));
    env.file("src/gh.txt", fake::github_pat());
    let out = env.run(&["dir", ".", "--format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        findings(&doc),
        [
            ("gitleaks.acme-api-key".to_owned(), "fixtures/f.py".to_owned(), 2),
            ("gitleaks.acme-api-key".to_owned(), "src/a.py".to_owned(), 1),
            ("gitleaks.acme-api-key".to_owned(), "src/b.py".to_owned(), 1),
            ("github.token".to_owned(), "src/gh.txt".to_owned(), 1),
            ("gitleaks.internal-token".to_owned(), "src/t.cfg".to_owned(), 1),
        ],
        "{doc}"
    );
    assert_eq!(doc["findings"][1]["column"], 13, "the secret group, not the whole match");
    assert_eq!(doc["stats"]["skipped_allowlisted"], 1);
    // The path-only rule cannot be supported: a warning names file and line.
    assert!(stderr.contains(".gitleaks.toml:31") && stderr.contains("pem-files"), "{stderr}");

    // .gitleaksignore entries (gitleaks fingerprints) are honoured.
    env.file(".gitleaksignore", "src/b.py:acme-api-key:1\nsrc/gh.txt:github-pat:1\n");
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!((code, findings(&doc).len()), (1, 3), "{doc}");
    assert_eq!(doc["stats"]["suppressed"], 2);
}

#[test]
fn without_use_default_only_the_files_rules_run() {
    let env = TestEnv::new();
    env.file("g.toml", "[[rules]]\nid = \"acme\"\nregex = '''acme_[0-9]{6}'''\n");
    env.file("k.txt", format!("{}\nacme_123456\n", fake::aws_key_id()));
    let (code, doc) = env.json(&["dir", "k.txt", "--config", "g.toml"]);
    assert_eq!(code, 1);
    assert_eq!(findings(&doc), [("gitleaks.acme".to_owned(), "k.txt".to_owned(), 2)]);
    assert_eq!(doc["findings"][0]["column"], 1, "no group: the whole match is the secret");
}

#[test]
fn malformed_gitleaks_configs_name_file_and_line() {
    let env = TestEnv::new();
    env.file("k.txt", "x");
    env.file("bad.toml", "[[rules]]\nid = \"a\"\nregex = 'x'\n\n[[rules.allowlists]]\ncondition = \"XOR\"\nregexes = ['y']\n");
    let out = env.run(&["dir", ".", "--config", "bad.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:5") && err.contains("XOR"), "{err}");
    env.file("bad.toml", "[[rules]]\nid = \"a\"\nregex = '(x'\n");
    let err = String::from_utf8_lossy(&env.run(&["dir", ".", "--config", "bad.toml"]).stderr)
        .into_owned();
    assert!(
        err.contains("bad.toml:1") && err.contains("gitleaks.a") && err.contains("regex"),
        "{err}"
    );
    env.file("bad.toml", "[[rules]]\nid = \"a\"\nregex = '(x)'\nsecretGroup = 2\n");
    let err = String::from_utf8_lossy(&env.run(&["dir", ".", "--config", "bad.toml"]).stderr)
        .into_owned();
    assert!(err.contains("secretGroup 2"), "{err}");
}

#[test]
fn commit_allowlists_and_gitleaksignore_in_git_history() {
    let env = TestEnv::new();
    let repo = env.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    let add = |file: &str, text: String| {
        std::fs::write(repo.join(file), text).expect("write");
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", file]);
        git(&repo, &["rev-parse", "HEAD"])
    };
    let first = add("a.txt", format!("{}\n", fake::aws_key_id()));
    let second = add("b.txt", format!("x\n{}\n", fake::github_pat()));
    let config =
        format!("[extend]\nuseDefault = true\n\n[[allowlists]]\ncommits = [\"{first}\"]\n");
    std::fs::write(repo.join(".gitleaks.toml"), config).expect("write");
    // Run from outside the repository: its config and ignore files still apply.
    let repo_arg = repo.display().to_string();
    let (code, doc) = env.json(&["git", &repo_arg]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(findings(&doc), [("github.token".to_owned(), "b.txt".to_owned(), 2)]);
    assert_eq!(doc["findings"][0]["commit"]["sha"], second.as_str());
    // SARIF of a git scan: valid, with the commit under the result's properties.
    let out = env.run(&["git", &repo_arg, "--format", "sarif"]);
    crate::report::validate("sarif-schema-2.1.0.json", &out.stdout).expect("valid SARIF");
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(sarif["runs"][0]["results"][0]["properties"]["commit"]["sha"], second.as_str());
    // A gitleaks fingerprint with its commit (short ids work as prefixes).
    std::fs::write(repo.join(".gitleaksignore"), format!("{}:b.txt:github-pat:2\n", &second[..12]))
        .expect("write");
    let (code, doc) = env.json(&["git", &repo_arg]);
    assert_eq!((code, &doc["stats"]["suppressed"]), (0, &serde_json::json!(1)), "{doc}");
}

#[test]
fn rules_check_accepts_a_gitleaks_config_that_config_loads() {
    // Issue #19: `rules check` read only leakhound's format and rejected a gitleaks config that
    // `--config` loads. It now uses the same loader; gitleaks rules need no examples.
    let env = TestEnv::new();
    env.file("team.toml", CONFIG);
    assert_ne!(env.run(&["dir", ".", "--config", "team.toml"]).status.code(), Some(2));
    let out = env.run(&["rules", "check", "team.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("rule(s) ok"), "{err}");
    assert!(err.contains("team.toml:31") && err.contains("pem-files"), "warnings shown: {err}");
    // What is wrong is still found.
    env.file("bad.toml", "[[rules]]\nid = \"acme\"\nregex = '''acme_[a-z'''\n");
    let out = env.run(&["rules", "check", "bad.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.toml:1") && err.contains("gitleaks.acme"), "{err}");
}
