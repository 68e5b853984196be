//! `leakhound pre-receive`: real `git push` over the local transport into a bare repository whose
//! `hooks/pre-receive` execs the real binary (git itself creates the quarantine area).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command as StdCommand;

use crate::common::{TestEnv, fake, git, git_command};

/// A bare server repository with the hook installed (extra `args` and `env` lines in the hook
/// script), and a clone that pushes to it.
struct Server {
    bare: TestEnv,
    clone: TestEnv,
}

impl Server {
    fn new(args: &str, env: &str) -> Server {
        let bare = TestEnv::new();
        git(bare.path(), &["init", "-q", "--bare", "-b", "main"]);
        git(bare.path(), &["config", "receive.advertisePushOptions", "true"]);
        let bin = assert_cmd::cargo::cargo_bin("leakhound");
        let hook = bare.path().join("hooks/pre-receive");
        std::fs::write(
            &hook,
            format!("#!/bin/sh\n{env}\nexec '{}' pre-receive {args}\n", bin.display()),
        )
        .expect("write hook");
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let clone = TestEnv::new();
        git(clone.path(), &["init", "-q", "-b", "main"]);
        git(clone.path(), &["remote", "add", "origin", bare.path().to_str().expect("utf-8")]);
        Server { bare, clone }
    }

    fn commit(&self, rel: &str, contents: &str) {
        self.clone.file(rel, contents);
        git(self.clone.path(), &["add", "-A"]);
        git(self.clone.path(), &["commit", "-q", "-m", rel]);
    }

    /// `git push ARGS`: success and everything the remote said.
    fn push(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
        let mut cmd: StdCommand = git_command(self.clone.path());
        cmd.arg("push").args(args).envs(env.iter().copied());
        let out = cmd.output().expect("git push runs");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    fn server_ref(&self, name: &str) -> Option<String> {
        let out = git_command(self.bare.path())
            .args(["rev-parse", "--verify", "-q", name])
            .output()
            .expect("git runs");
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

fn head(dir: &Path) -> String {
    git(dir, &["rev-parse", "HEAD"])
}

#[test]
fn pre_receive_rejects_a_secret_and_accepts_clean_pushes() {
    let s = Server::new("", "");
    s.commit("a.txt", "clean\n");
    let (ok, out) = s.push(&["origin", "main"], &[]);
    assert!(ok, "a clean new branch is accepted: {out}");
    let accepted = head(s.clone.path());
    s.commit("creds.env", &format!("AWS_KEY={}\n", fake::aws_key_id()));
    let leak = head(s.clone.path());
    s.commit("b.txt", "more\n");
    let (ok, out) = s.push(&["origin", "main"], &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("push rejected") && out.contains("creds.env:1"), "{out}");
    assert!(out.contains(&leak[..12]) && out.contains("aws.access-key-id"), "{out}");
    assert!(out.contains("rewriting") && out.contains("baseline"), "how to fix: {out}");
    assert!(!out.contains(&fake::aws_key_id()), "redacted: {out}");
    assert!(!out.contains("GL-HOOK-ERR"), "plain git: {out}");
    assert_eq!(s.server_ref("refs/heads/main"), Some(accepted.clone()), "ref not updated");
    // A new branch whose only new commit is clean is accepted; its base is on the server.
    git(s.clone.path(), &["checkout", "-q", "-b", "topic", &accepted]);
    s.commit("c.txt", "clean too\n");
    let (ok, out) = s.push(&["origin", "topic"], &[]);
    assert!(ok, "{out}");
    // A new branch carrying the secret is not.
    let (ok, out) = s.push(&["origin", &format!("{leak}:refs/heads/leaky")], &[]);
    assert!(!ok && out.contains("creds.env"), "{out}");
    assert_eq!(s.server_ref("refs/heads/leaky"), None);
    // Deleting a branch scans nothing.
    let (ok, out) = s.push(&["origin", "--delete", "topic"], &[]);
    assert!(ok, "{out}");
    assert_eq!(s.server_ref("refs/heads/topic"), None);
}

#[test]
fn pre_receive_ignores_a_pushed_config_that_disables_rules() {
    let s = Server::new("", "");
    s.commit(".leakhound.toml", "[extend]\nuse_default = false\n[allow]\npaths = [\".*\"]\n");
    s.commit("k.txt", &format!("token = {}\n", fake::github_pat()));
    let (ok, out) = s.push(&["origin", "main"], &[]);
    assert!(!ok && out.contains("k.txt"), "the pushed config must not count: {out}");
}

#[test]
fn pre_receive_prefixes_lines_under_gitlab() {
    let s = Server::new("", "export GL_ID=user-1 GL_USERNAME=ann GL_PROTOCOL=ssh");
    s.commit("k.txt", &format!("token = {}\n", fake::github_pat()));
    let (ok, out) = s.push(&["origin", "main"], &[]);
    assert!(!ok, "{out}");
    let hook_lines: Vec<&str> = out.lines().filter(|l| l.contains("leakhound")).collect();
    assert!(!hook_lines.is_empty(), "{out}");
    assert!(hook_lines.iter().all(|l| l.contains("GL-HOOK-ERR: ")), "{out}");
}

#[test]
fn pre_receive_push_option_bypass_only_when_allowed() {
    let secret = format!("token = {}\n", fake::github_pat());
    let s = Server::new("", "export GL_USERNAME=ann");
    s.commit("k.txt", &secret);
    let (ok, out) = s.push(&["-o", "leakhound.skip", "origin", "main"], &[]);
    assert!(!ok && out.contains("does not allow the bypass"), "{out}");
    let s = Server::new("--allow-push-option-bypass", "export GL_USERNAME=ann");
    s.commit("k.txt", &secret);
    let (ok, out) = s.push(&["-o", "leakhound.skip", "origin", "main"], &[]);
    assert!(ok, "{out}");
    assert!(out.contains("check skipped") && out.contains("ann"), "logged with the pusher: {out}");
}

#[test]
fn pre_receive_on_error_policy() {
    // An unreadable server config is an internal error: rejected by default...
    let s = Server::new("--config /nonexistent/leakhound.toml", "");
    s.commit("a.txt", "clean\n");
    let (ok, out) = s.push(&["origin", "main"], &[]);
    assert!(!ok && out.contains("internal error") && out.contains("on_error = reject"), "{out}");
    assert_eq!(s.server_ref("refs/heads/main"), None);
    // ...accepted, saying so, when the server says so.
    let s = Server::new("--config /nonexistent/leakhound.toml --on-error accept", "");
    s.commit("a.txt", "clean\n");
    let (ok, out) = s.push(&["origin", "main"], &[]);
    assert!(ok && out.contains("accepted unchecked"), "{out}");
}

#[test]
fn pre_receive_rejects_garbage_input() {
    let env = TestEnv::new();
    git(env.path(), &["init", "-q", "--bare"]);
    let out = env.cmd().arg("pre-receive").write_stdin("not git's format\n").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unexpected pre-receive input"));
}
