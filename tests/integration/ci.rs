//! The GitLab CI template's script (`ci/leakhound-ci.sh`, exactly what the template runs) against
//! real repositories: an origin bare repository, a developer clone that pushes, and a shallow
//! clone made the way GitLab's runner makes one, with the CI variables set as GitLab sets them
//! for a push, a new branch, a merge request, a force push and a schedule.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{TestEnv, git};
use crate::report::validate;

const ZEROS: &str = "0000000000000000000000000000000000000000";

/// A fake AWS key id whose last character tells secrets apart.
fn key(tag: char) -> String {
    format!("AKIA{}{tag}", "EFR6EDT4SYWB5WK")
}

/// An origin (bare, answering fetches by commit id as GitLab's Gitaly does) and a developer
/// clone of it.
struct Project {
    env: TestEnv,
}

impl Project {
    fn new() -> Project {
        let env = TestEnv::new();
        git(env.path(), &["init", "-q", "--bare", "origin.git"]);
        git(&env.path().join("origin.git"), &["config", "uploadpack.allowAnySHA1InWant", "true"]);
        git(env.path(), &["init", "-q", "-b", "main", "dev"]);
        let project = Project { env };
        project.dev(&["remote", "add", "origin", &project.url()]);
        project
    }

    fn url(&self) -> String {
        format!("file://{}", self.env.path().join("origin.git").display())
    }

    fn dev(&self, args: &[&str]) -> String {
        git(&self.env.path().join("dev"), args)
    }

    /// Appends `line` to `file` and commits; returns the commit id.
    fn commit(&self, file: &str, line: &str, message: &str) -> String {
        let path = self.env.path().join("dev").join(file);
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str(line);
        text.push('\n');
        std::fs::write(&path, text).expect("write");
        self.dev(&["add", "-A"]);
        self.dev(&["commit", "-q", "-m", message]);
        self.dev(&["rev-parse", "HEAD"])
    }

    fn fillers(&self, n: usize, tag: &str) -> String {
        let mut last = String::new();
        for i in 0..n {
            last = self.commit("notes.txt", &format!("{tag} {i}"), &format!("{tag} {i}"));
        }
        last
    }

    /// A clone as GitLab's runner makes it: init, add origin, fetch `refspec` at `depth`,
    /// check out `sha` detached.
    fn runner_clone(&self, name: &str, refspec: &str, depth: usize, sha: &str) -> PathBuf {
        let dir = self.env.path().join(name);
        std::fs::create_dir(&dir).expect("mkdir");
        git(&dir, &["init", "-q"]);
        git(&dir, &["remote", "add", "origin", &self.url()]);
        git(&dir, &["fetch", "-q", "--depth", &depth.to_string(), "origin", refspec]);
        git(&dir, &["checkout", "-q", "-f", sha]);
        dir
    }
}

/// Runs the CI script in `dir` with `vars` (plus what every pipeline sets); returns the output
/// and the findings of the GitLab report as (secret tag, commit sha).
fn run_ci(dir: &Path, vars: &[(&str, &str)]) -> (Output, BTreeSet<(char, String)>) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/leakhound-ci.sh");
    let mut cmd = Command::new("sh");
    cmd.arg(script)
        .current_dir(dir)
        .env("LEAKHOUND", env!("CARGO_BIN_EXE_leakhound"))
        .env("LEAKHOUND_DEEPEN", "2")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("CI_PROJECT_DIR", dir)
        .env("CI_DEFAULT_BRANCH", "main");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("sh runs");
    let report = dir.join("gl-secret-detection-report.json");
    let mut found = BTreeSet::new();
    if let Ok(bytes) = std::fs::read(&report) {
        validate("gitlab-secret-detection-report-format.json", &bytes)
            .expect("valid GitLab report");
        let doc: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        for v in doc["vulnerabilities"].as_array().into_iter().flatten() {
            let tag = v["location"]["file"].as_str().unwrap_or_default();
            let tag =
                tag.trim_end_matches(".env").chars().last().unwrap_or('?').to_ascii_uppercase();
            let sha = v["location"]["commit"]["sha"].as_str().unwrap_or_default().to_owned();
            found.insert((tag, sha));
        }
    }
    (out, found)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// main: an old secret (O), then history; returns the project and main's head.
fn project_with_history() -> (Project, String) {
    let p = Project::new();
    p.commit("README", "hello", "init");
    p.commit("secret-o.env", &format!("KEY={}", key('O')), "old secret");
    let head = p.fillers(4, "main");
    p.dev(&["push", "-q", "origin", "main"]);
    (p, head)
}

#[test]
fn push_scans_every_pushed_commit_in_a_shallow_clone() {
    let (p, before) = project_with_history();
    // The secret is added in the FIRST pushed commit and deleted in the second.
    let p1 = p.commit("secret-p.env", &format!("KEY={}", key('P')), "add config");
    p.dev(&["rm", "-q", "secret-p.env"]);
    p.dev(&["commit", "-q", "-m", "oops, remove it"]);
    let tip = p.fillers(3, "push");
    p.dev(&["push", "-q", "origin", "main"]);
    let clone = p.runner_clone("ci-push", "+refs/heads/main:refs/remotes/origin/main", 1, &tip);
    let vars = [
        ("CI_PIPELINE_SOURCE", "push"),
        ("CI_COMMIT_SHA", tip.as_str()),
        ("CI_COMMIT_BEFORE_SHA", before.as_str()),
        ("CI_COMMIT_BRANCH", "main"),
        ("CI_COMMIT_REF_NAME", "main"),
    ];
    let (out, found) = run_ci(&clone, &vars);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(found, BTreeSet::from([('P', p1.clone())]), "{}", stderr(&out));
    assert!(stderr(&out).contains("shallow clone: fetching"), "{}", stderr(&out));
    // Configurable: report without failing.
    let mut vars = vars.to_vec();
    vars.push(("LEAKHOUND_FAIL_ON_FINDINGS", "false"));
    let (out, found) = run_ci(&clone, &vars);
    assert_eq!((out.status.code(), found.len()), (Some(0), 1), "{}", stderr(&out));
}

#[test]
fn new_branch_merge_request_and_force_push() {
    let (p, main_head) = project_with_history();
    p.dev(&["checkout", "-q", "-b", "feature"]);
    let f1 = p.commit("secret-f.env", &format!("KEY={}", key('F')), "feature secret");
    let feature_tip = p.fillers(2, "feature");
    p.dev(&["push", "-q", "origin", "feature"]);
    // main moves on with its own secret after the branch point: not part of the branch or MR.
    p.dev(&["checkout", "-q", "main"]);
    let m_head = p.commit("secret-m.env", &format!("KEY={}", key('M')), "main secret");
    p.dev(&["push", "-q", "origin", "main"]);

    // New branch: the before sha is all zeros.
    let clone = p.runner_clone(
        "ci-new",
        "+refs/heads/feature:refs/remotes/origin/feature",
        1,
        &feature_tip,
    );
    let (out, found) = run_ci(
        &clone,
        &[
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_SHA", &feature_tip),
            ("CI_COMMIT_BEFORE_SHA", ZEROS),
            ("CI_COMMIT_BRANCH", "feature"),
            ("CI_COMMIT_REF_NAME", "feature"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(found, BTreeSet::from([('F', f1.clone())]), "{}", stderr(&out));

    // Merge request: GitLab keeps the MR head under refs/merge-requests/IID/head.
    p.dev(&["push", "-q", "origin", "feature:refs/merge-requests/1/head"]);
    let clone = p.runner_clone(
        "ci-mr",
        "+refs/merge-requests/1/head:refs/remotes/origin/mr",
        1,
        &feature_tip,
    );
    let (out, found) = run_ci(
        &clone,
        &[
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_COMMIT_SHA", &feature_tip),
            ("CI_COMMIT_BEFORE_SHA", ZEROS),
            ("CI_COMMIT_REF_NAME", "feature"),
            ("CI_MERGE_REQUEST_IID", "1"),
            ("CI_MERGE_REQUEST_DIFF_BASE_SHA", &main_head),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(found, BTreeSet::from([('F', f1.clone())]), "{}", stderr(&out));

    // Force push: the branch is rewritten from main's head; its old commits are gone from it.
    p.dev(&["checkout", "-q", "-B", "feature", &main_head]);
    let g1 = p.commit("secret-g.env", &format!("KEY={}", key('G')), "rewritten");
    let new_tip = p.fillers(1, "rewrite");
    p.dev(&["push", "-q", "--force", "origin", "feature"]);
    let clone =
        p.runner_clone("ci-force", "+refs/heads/feature:refs/remotes/origin/feature", 1, &new_tip);
    let vars = [
        ("CI_PIPELINE_SOURCE", "push"),
        ("CI_COMMIT_SHA", new_tip.as_str()),
        ("CI_COMMIT_BEFORE_SHA", feature_tip.as_str()),
        ("CI_COMMIT_BRANCH", "feature"),
        ("CI_COMMIT_REF_NAME", "feature"),
    ];
    let (out, found) = run_ci(&clone, &vars);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(found, BTreeSet::from([('G', g1.clone())]), "{}", stderr(&out));
    // A server that no longer has the old head (no ref holds it, garbage-collected): scanned
    // as a new branch, same result.
    let origin = p.env.path().join("origin.git");
    git(&origin, &["update-ref", "-d", "refs/merge-requests/1/head"]);
    git(&origin, &["reflog", "expire", "--expire=now", "--all"]);
    git(&origin, &["gc", "-q", "--prune=now"]);
    let clone = p.runner_clone(
        "ci-force-gone",
        "+refs/heads/feature:refs/remotes/origin/feature",
        1,
        &new_tip,
    );
    let (out, found) = run_ci(&clone, &vars);
    assert_eq!(found, BTreeSet::from([('G', g1.clone())]), "{}", stderr(&out));
    assert!(stderr(&out).contains("scanning as a new branch"), "{}", stderr(&out));

    // Schedule: every branch, whole history.
    let clone =
        p.runner_clone("ci-schedule", "+refs/heads/main:refs/remotes/origin/main", 1, &m_head);
    let (out, found) = run_ci(
        &clone,
        &[
            ("CI_PIPELINE_SOURCE", "schedule"),
            ("CI_COMMIT_SHA", &m_head),
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_COMMIT_REF_NAME", "main"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let tags: BTreeSet<char> = found.iter().map(|(t, _)| *t).collect();
    assert_eq!(tags, BTreeSet::from(['G', 'M', 'O']), "{}", stderr(&out));
}

#[test]
fn template_runs_the_script_and_uploads_the_report() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let template =
        std::fs::read_to_string(root.join("ci/leakhound.gitlab-ci.yml")).expect("template");
    assert!(template.contains("    - leakhound-ci\n"), "the template calls the tested script");
    assert!(template.contains("secret_detection: $LEAKHOUND_REPORT"));
    let script = std::fs::read_to_string(root.join("ci/leakhound-ci.sh")).expect("script");
    assert!(script.contains("gl-secret-detection-report.json"));
}

#[test]
fn repository_config_is_ignored_by_the_template_unless_asked() {
    // Issue #19: a pushed `.gitleaks.toml` that replaces every built-in rule hid the secret
    // pushed with it. The template ignores the project's config unless LEAKHOUND_REPO_CONFIG.
    let (p, before) = project_with_history();
    std::fs::write(
        p.env.path().join("dev/.gitleaks.toml"),
        "[[rules]]\nid = \"nothing\"\nregex = '''nothing_[0-9]{8}'''\n",
    )
    .expect("write");
    let c1 = p.commit("secret-c.env", &format!("KEY={}", key('C')), "config and secret");
    p.dev(&["push", "-q", "origin", "main"]);
    let clone = p.runner_clone("ci-config", "+refs/heads/main:refs/remotes/origin/main", 1, &c1);
    let vars = [
        ("CI_PIPELINE_SOURCE", "push"),
        ("CI_COMMIT_SHA", c1.as_str()),
        ("CI_COMMIT_BEFORE_SHA", before.as_str()),
        ("CI_COMMIT_BRANCH", "main"),
        ("CI_COMMIT_REF_NAME", "main"),
    ];
    let (out, found) = run_ci(&clone, &vars);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(found, BTreeSet::from([('C', c1.clone())]), "{}", stderr(&out));
    let mut vars = vars.to_vec();
    vars.push(("LEAKHOUND_REPO_CONFIG", "true"));
    let (out, found) = run_ci(&clone, &vars);
    assert_eq!((out.status.code(), found.len()), (Some(0), 0), "{}", stderr(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("built-in rules off"), "the summary says so: {summary}");
}
