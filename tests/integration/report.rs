//! Report formats from the real binary: SARIF and GitLab reports of a real scan validate against
//! the vendored schemas, and every format is accepted by `--format`.

use crate::common::{TestEnv, fake};

#[path = "../schemas/validate.rs"]
mod schema;
pub use schema::validate;

#[test]
fn sarif_and_gitlab_reports_of_a_real_scan_validate() {
    let env = TestEnv::new();
    env.file(".env", format!("AWS_ACCESS_KEY_ID={}\n", fake::aws_key_id()));
    env.file("src/a b.py", format!("x = 1\nTOKEN = '{}'\n", fake::github_pat()));
    let out = env.run(&["dir", ".", "missing", "--format", "sarif"]);
    assert_eq!(out.status.code(), Some(2));
    validate("sarif-schema-2.1.0.json", &out.stdout).expect("valid SARIF");
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    assert!(rules.len() > 5, "every rule in force is listed");
    assert!(rules.iter().all(|r| r["properties"]["tags"].to_string().contains("CWE-798")));
    let results = run["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    assert_eq!(results[1]["ruleId"], "github.token");
    let region = &results[1]["locations"][0]["physicalLocation"]["region"];
    assert_eq!((region["startLine"].as_u64(), region["startColumn"].as_u64()), (Some(2), Some(10)));
    assert_eq!(
        results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "src/a%20b.py"
    );
    assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&fake::github_pat()));

    let out = env.run(&["dir", ".", "--format", "gitlab", "--report", "gl.json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = std::fs::read(env.path().join("gl.json")).expect("report written");
    validate("gitlab-secret-detection-report-format.json", &doc).expect("valid GitLab report");
    let gl: serde_json::Value = serde_json::from_slice(&doc).expect("json");
    assert_eq!(gl["version"], "15.2.1");
    assert_eq!(gl["scan"]["status"], "success");
    let v = &gl["vulnerabilities"][0];
    assert_eq!(v["location"]["commit"]["sha"], "0000000");
    assert_eq!(
        (v["location"]["file"].as_str(), v["location"]["start_line"].as_u64()),
        (Some(".env"), Some(1))
    );
    assert_eq!(v["identifiers"][0]["value"], "aws.access-key-id");
}

#[test]
fn junit_and_csv_from_the_binary() {
    let env = TestEnv::new();
    env.file("k.txt", fake::aws_key_id());
    let out = env.run(&["dir", ".", "--format", "junit"]);
    assert_eq!(out.status.code(), Some(1));
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(
        xml.contains("failures=\"1\"") && xml.contains("<failure type=\"aws.access-key-id\""),
        "{xml}"
    );
    let out = env.run(&["dir", ".", "--format", "csv"]);
    let csv = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(rows[1].starts_with("aws.access-key-id,high,high,k.txt,1,1,"), "{csv}");
}
