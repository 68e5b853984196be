//! Confidence (issue #14) from the real binary: every format carries it, `--min-confidence`
//! filters with the right exit code, and each command has the default its users expect.

use crate::common::{TestEnv, fake, git};
use crate::report::validate;

/// Three findings, one per confidence: a checksum-verified GitHub token (high), a generic secret
/// with a strong value (medium), and the same kind of secret in a test-vector path (low).
fn three_confidences(env: &TestEnv) -> String {
    env.file("deploy/.env", format!("GITHUB_TOKEN={}\n", fake::github_pat()));
    env.file("config/app.py", "API_SECRET = \"Zr8vLq2Nw5Tk9Pm3Xy7Q\"\n");
    env.file("tests/test_app.py", "API_SECRET = \"Qw4eRt6yUi8oPa2sDf9G\"\n");
    env.file("empty.toml", "# built-in rules only\n").display().to_string()
}

fn by_path(doc: &serde_json::Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| (f["path"].as_str().unwrap_or_default().into(), f["confidence"].to_string()))
        .collect();
    found.sort();
    found
}

#[test]
fn confidence_is_in_every_format() {
    let env = TestEnv::new();
    let config = three_confidences(&env);
    let low = ["dir", ".", "--config", config.as_str(), "--min-confidence", "low"];
    let (code, doc) = env.json(&low);
    assert_eq!(code, 1);
    assert_eq!(
        by_path(&doc),
        [
            ("config/app.py".to_owned(), "\"medium\"".to_owned()),
            ("deploy/.env".to_owned(), "\"high\"".to_owned()),
            ("tests/test_app.py".to_owned(), "\"low\"".to_owned()),
        ]
    );
    let format = |name: &str| {
        let out = env.run(&[&low[..], &["--format", name]].concat());
        assert_eq!(out.status.code(), Some(1), "{name}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let jsonl = format("jsonl");
    assert!(jsonl.lines().any(|l| l.contains(r#""confidence":"low""#)), "{jsonl}");
    let sarif = format("sarif");
    validate("sarif-schema-2.1.0.json", sarif.as_bytes()).expect("valid SARIF");
    let sarif: serde_json::Value = serde_json::from_str(&sarif).expect("json");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    let levels: Vec<(String, String)> = results
        .iter()
        .map(|r| (r["properties"]["confidence"].to_string(), r["level"].to_string()))
        .collect();
    // The confidence caps the level: the critical GitHub token is an error, the medium-severity
    // generic secret a warning, the same in a test file a note.
    assert!(levels.contains(&("\"high\"".into(), "\"error\"".into())), "{levels:?}");
    assert!(levels.contains(&("\"medium\"".into(), "\"warning\"".into())), "{levels:?}");
    assert!(levels.contains(&("\"low\"".into(), "\"note\"".into())), "{levels:?}");
    let gitlab = format("gitlab");
    validate("gitlab-secret-detection-report-format.json", gitlab.as_bytes())
        .expect("valid GitLab report");
    let gitlab: serde_json::Value = serde_json::from_str(&gitlab).expect("json");
    let mut confidences: Vec<String> = gitlab["vulnerabilities"]
        .as_array()
        .expect("vulnerabilities")
        .iter()
        .map(|v| v["confidence"].as_str().unwrap_or_default().to_owned())
        .collect();
    confidences.sort();
    assert_eq!(confidences, ["High", "Low", "Medium"]);
    let csv = format("csv");
    assert!(csv.lines().next().is_some_and(|h| h.starts_with("rule_id,severity,confidence,")));
    assert!(csv.contains("generic.secret-assignment,medium,low,tests/test_app.py"), "{csv}");
    let junit = format("junit");
    assert!(junit.contains("(medium, low confidence)"), "{junit}");
    let text = format("text");
    assert!(text.contains("github.token (critical, high confidence)"), "{text}");
}

#[test]
fn min_confidence_filters_with_the_right_exit_code() {
    let env = TestEnv::new();
    let config = three_confidences(&env);
    let dir = ["dir", ".", "--config", config.as_str()];
    // `dir` reports medium and up by default, and says what it left out.
    let (code, doc) = env.json(&dir);
    assert_eq!(code, 1);
    assert_eq!(doc["findings"].as_array().map(Vec::len), Some(2));
    assert_eq!(doc["stats"]["below_min_confidence"], 1);
    let (code, doc) = env.json(&[&dir[..], &["--min-confidence", "high"]].concat());
    assert_eq!((code, doc["findings"].as_array().map(Vec::len)), (1, Some(1)));
    assert_eq!(doc["findings"][0]["rule_id"], "github.token");
    // Only a low finding left: filtered out, the scan is clean, and the summary says why.
    std::fs::remove_file(env.path().join("deploy/.env")).expect("remove");
    std::fs::remove_file(env.path().join("config/app.py")).expect("remove");
    let out = env.run(&dir);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("0 finding(s)") && text.contains("1 below --min-confidence"), "{text}");
    let out = env.run(&[&dir[..], &["--min-confidence", "low"]].concat());
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn git_history_reports_every_confidence_by_default() {
    let env = TestEnv::new();
    let config = three_confidences(&env);
    git(env.path(), &["init", "-q", "-b", "main"]);
    git(env.path(), &["add", "config", "tests"]);
    git(env.path(), &["commit", "-q", "-m", "add config"]);
    // An audit of the history wants the test-vector secret too; `staged` (a hook) does not.
    let (code, doc) = env.json(&["git", ".", "--config", &config]);
    assert_eq!(code, 1);
    let paths: Vec<&str> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert!(paths.contains(&"tests/test_app.py"), "{paths:?}");
    env.file("tests/test_other.py", "API_SECRET = \"Mn3bVc5xZl7kJh9gFd2S\"\n");
    git(env.path(), &["add", "tests/test_other.py"]);
    let (code, doc) = env.json(&["staged", ".", "--config", &config]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["stats"]["below_min_confidence"], 1);
}

#[test]
fn a_credential_files_weak_password_is_low_and_its_placeholder_is_no_finding() {
    let env = TestEnv::new();
    env.file(
        "home/.netrc",
        "machine imap.internal login bob password letmeknow\n\
         machine git.internal login ci password Vq8mZ2xLk7pT\n\
         machine docs.internal login you password <password>\n",
    );
    let (code, doc) = env.json(&["dir", ".", "--min-confidence", "low", "--show-secrets"]);
    assert_eq!(code, 1, "{doc}");
    let mut found: Vec<(String, String)> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["secret"].as_str().unwrap_or_default().into(),
                f["confidence"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("Vq8mZ2xLk7pT".to_owned(), "medium".to_owned()),
            ("letmeknow".to_owned(), "low".to_owned())
        ],
        "a .netrc password field is a password however plain; a placeholder is none"
    );
}

/// Issue #13: `DB_PASSWORD=admin123` is somebody's password, found at `low` (so the default of
/// `dir` stays quiet) while a stock placeholder (`P@ssw0rd123!`, `changeme`) is no finding.
#[test]
fn a_guessable_password_is_low_and_a_placeholder_is_no_finding() {
    let env = TestEnv::new();
    env.file(
        "app/.env",
        "DB_PASSWORD=admin123\n\
         REDIS_PASSWORD=Pass!12345\n\
         ADMIN_PASSWORD=P@ssw0rd123!\n\
         SMTP_PASSWORD=changeme\n",
    );
    let (code, doc) = env.json(&["dir", ".", "--min-confidence", "low", "--show-secrets"]);
    assert_eq!(code, 1, "{doc}");
    let found: Vec<(u64, &str)> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| (f["line"].as_u64().unwrap_or(0), f["confidence"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(found, [(1, "low"), (2, "low")], "{doc}");
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 0, "the default confidence of dir leaves guessable passwords out: {doc}");
}

/// Issue #13: in a URL's password slot a camel-case name with a number (`mySecret789`) was typed
/// as a password and is found at `low`; one without (`dbPassword`) reads as a reference.
#[test]
fn a_named_password_in_a_url_is_low_and_a_bare_name_is_no_finding() {
    let env = TestEnv::new();
    env.file(
        "deploy/urls.txt",
        "mongodb://app:mySecret789@db1.internal:27017/prod\n\
         mongodb://app:dbPassword@db2.internal:27017/prod\n",
    );
    let (code, doc) = env.json(&["dir", ".", "--min-confidence", "low"]);
    assert_eq!(code, 1, "{doc}");
    let found: Vec<(u64, &str, &str)> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap_or(0),
                f["rule_id"].as_str().unwrap_or_default(),
                f["confidence"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(found, [(1, "uri.password", "low")], "{doc}");
}
