//! `leakhound pre-receive`: the server-side hook (git's `hooks/pre-receive`, GitLab's
//! `custom_hooks/pre-receive.d/`). It reads git's `<old> <new> <ref>` lines on stdin, scans only
//! the commits the push adds, reading them from git's quarantine area in place, and refuses the
//! push when they hold a secret. Its rules come from the server alone (`--config` or
//! `LEAKHOUND_CONFIG`, and `--baseline`): a pushed `.leakhound.toml` never counts, so a pusher
//! cannot turn the check off.

use std::fmt::Write as _;
use std::io::Read;

use anyhow::{Context, Result};

use super::git::history_report;
use super::pre_push::push_selection;
use super::{Outcome, triage};
use crate::cli::{OnError, PreReceiveArgs};
use crate::finding::redact;
use crate::report::text::sanitize;
use crate::source::git;

/// The push option that asks to skip the check (`git push -o leakhound.skip`).
pub const SKIP_OPTION: &str = "leakhound.skip";

/// Checks a push; findings (exit 1) make git refuse every ref of it.
pub fn run(args: &PreReceiveArgs) -> Result<Outcome> {
    let say = Say { gitlab: under_gitlab() };
    if push_options().iter().any(|o| o == SKIP_OPTION) {
        let pusher = std::env::var("GL_USERNAME").unwrap_or_else(|_| "an unknown pusher".into());
        if args.allow_push_option_bypass {
            say.lines(&format!(
                "leakhound: check skipped for this push: push option {SKIP_OPTION} given by \
                 {pusher} (the server allows the bypass)"
            ));
            return Ok(Outcome::Clean);
        }
        say.lines(&format!(
            "leakhound: push option {SKIP_OPTION} from {pusher} ignored: this server does not \
             allow the bypass; the push is checked"
        ));
    }
    let failure = match check(args, &say) {
        Ok(Check::Done(outcome)) => return Ok(outcome),
        Ok(Check::Errors(errors)) => errors.join("\n"),
        Err(e) => format!("{e:#}"),
    };
    let (verdict, outcome) = match args.on_error {
        OnError::Reject => {
            ("the push is rejected (server policy on_error = reject)", Outcome::Incomplete)
        }
        OnError::Accept => {
            ("the push is accepted unchecked (server policy on_error = accept)", Outcome::Clean)
        }
    };
    say.lines(&format!(
        "leakhound: internal error, the push could not be checked:\n{failure}\n{verdict}"
    ));
    Ok(outcome)
}

/// How a check ended: an outcome to return, or the scan's errors (for the `on_error` policy).
enum Check {
    Done(Outcome),
    Errors(Vec<String>),
}

fn check(args: &PreReceiveArgs, say: &Say) -> Result<Check> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("cannot read the pre-receive input")?;
    let updates = parse(&input)?;
    // Opened from git's environment: `GIT_DIR`, and the quarantine's object directories.
    let repo = git::open(None).map_err(|e| anyhow::anyhow!("{}: {}", e.origin, e.message))?;
    // What the server already has: every ref (the refs are not updated before the hook accepts).
    let selection = push_selection(&repo, &updates, "refs/")?;
    if selection.include.is_empty() {
        return Ok(Check::Done(Outcome::Clean));
    }
    let mut scan = args.scan.clone();
    scan.rules.no_repo_config = true;
    if scan.rules.config.is_none() {
        scan.rules.config = std::env::var_os("LEAKHOUND_CONFIG").map(Into::into);
    }
    let report = history_report(&repo, selection, false, &scan, "pre-receive".into())?;
    let shown = triage(&report, &scan.output)?;
    if !shown.errors.is_empty() {
        return Ok(Check::Errors(
            shown
                .errors
                .iter()
                .map(|e| format!("{}: {}", sanitize(&e.origin), sanitize(&e.message)))
                .collect(),
        ));
    }
    if shown.findings.is_empty() {
        return Ok(Check::Done(Outcome::Clean));
    }
    let mut text = String::from("leakhound: push rejected: the pushed commits contain secrets:\n");
    for f in &shown.findings {
        let commit = f.commit.as_ref().map_or("?", |c| &c.sha[..c.sha.len().min(12)]);
        let secret = if scan.output.show_secrets { f.secret.clone() } else { redact(&f.secret) };
        let _ = writeln!(
            text,
            "  commit {commit} {}:{} rule {} secret {} (fingerprint {})",
            sanitize(&f.path),
            f.line,
            f.rule_id,
            sanitize(&secret),
            f.fingerprint,
        );
    }
    text.push_str(
        "To fix: remove the secret from those commits by rewriting them (`git rebase -i`, \
         `git commit --amend`), revoke it if it was real, and push again.\n\
         A finding that is not a secret: mark the line with `leakhound:allow`, or ask the \
         server's administrator to add its fingerprint to the server baseline.",
    );
    say.lines(&text);
    Ok(Check::Done(Outcome::Findings))
}

/// `(old, new)` per line of git's pre-receive input, after checking its shape.
fn parse(input: &str) -> Result<Vec<(&str, &str)>> {
    let is_id = |s: &str| s.len() >= 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let mut out = Vec::new();
    for line in input.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields[..] {
            [old, new, _] if is_id(old) && is_id(new) => out.push((old, new)),
            _ => anyhow::bail!(
                "unexpected pre-receive input {:?}: expected `<old id> <new id> <ref>` lines; \
                 run it from a pre-receive hook",
                sanitize(line)
            ),
        }
    }
    Ok(out)
}

/// The push options git passes a hook (`GIT_PUSH_OPTION_COUNT`, `GIT_PUSH_OPTION_0`, …).
fn push_options() -> Vec<String> {
    let count: usize =
        std::env::var("GIT_PUSH_OPTION_COUNT").ok().and_then(|c| c.parse().ok()).unwrap_or(0);
    (0..count).filter_map(|i| std::env::var(format!("GIT_PUSH_OPTION_{i}")).ok()).collect()
}

/// True when Gitaly runs the hook (it sets `GL_ID`, `GL_USERNAME`, `GL_PROTOCOL`).
fn under_gitlab() -> bool {
    ["GL_ID", "GL_USERNAME", "GL_PROTOCOL"].iter().any(|v| std::env::var_os(v).is_some())
}

/// Writes the hook's messages to stderr, which git relays to the pusher.
struct Say {
    /// Prefix each line with `GL-HOOK-ERR: `, the lines GitLab shows in its UI.
    gitlab: bool,
}

impl Say {
    fn lines(&self, text: &str) {
        let prefix = if self.gitlab { "GL-HOOK-ERR: " } else { "" };
        for line in text.lines() {
            eprintln!("{prefix}{line}");
        }
    }
}
