//! `leakhound pre-push`: the commits a `git push` is about to send, read from git's pre-push
//! input (`<local ref> <local sha> <remote ref> <remote sha>` lines on stdin).

use std::io::Read;

use anyhow::{Context, Result};
use git2::Oid;

use super::git::scan_history;
use super::{Outcome, engine, finish_scan};
use crate::cli::PrePushArgs;
use crate::scan::Scan;
use crate::source::git::{self, Selection};

/// Scans what is being pushed; findings (exit 1) make git refuse the push.
pub fn run(args: &PrePushArgs) -> Result<Outcome> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("cannot read the pre-push input")?;
    let repo = git::open(None).map_err(|e| anyhow::anyhow!("{}: {}", e.origin, e.message))?;
    let remote = args.remote.as_deref().filter(|r| repo.find_remote(r).is_ok());
    let selection = selection(&repo, &input, remote)?;
    let target = format!("pre-push {}", args.remote.as_deref().unwrap_or(""));
    if selection.include.is_empty() {
        // Only deletions: nothing new leaves this machine.
        let engine = engine(&args.scan.rules, repo.workdir())?;
        return finish_scan(&Scan::new(&engine).into_report(target), &args.scan);
    }
    let outcome = scan_history(&repo, selection, false, &args.scan, target)?;
    if outcome == Outcome::Findings {
        eprintln!(
            "leakhound: push blocked: the commits being pushed contain the secrets above.\n\
             Ways out: remove the secret from those commits (rewrite them: `git rebase -i`, \
             `git commit --amend`), or mark the line with `leakhound:allow`, or add the \
             finding's fingerprint to the ignore file. To push anyway: `git push --no-verify`."
        );
    }
    Ok(outcome)
}

/// The commits being pushed: those of each pushed tip that the remote does not have, that is,
/// not reachable from its old tip nor from any of the remote's tracking refs (a new branch).
/// Deletions (an all-zeros local id) are skipped.
fn selection(repo: &git2::Repository, input: &str, remote: Option<&str>) -> Result<Selection> {
    let mut updates = Vec::new();
    for line in input.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, local, _, remote_sha] = fields[..] else {
            anyhow::bail!(
                "unexpected pre-push input {line:?}: expected `<local ref> <local sha> <remote \
                 ref> <remote sha>`; run it from a pre-push hook"
            );
        };
        updates.push((remote_sha, local));
    }
    let prefix =
        remote.map_or_else(|| "refs/remotes/".to_owned(), |r| format!("refs/remotes/{r}/"));
    push_selection(repo, &updates, &prefix)
}

/// The commits a push adds, shared by both ends of a push (`pre-push` here, `pre-receive` on the
/// server): for each `(old, new)` update, the commits of `new` not reachable from `old` nor from
/// any ref under `known` (what the receiving side already has). A deletion (`new` all zeros)
/// adds nothing.
pub fn push_selection(
    repo: &git2::Repository,
    updates: &[(&str, &str)],
    known: &str,
) -> Result<Selection> {
    let mut sel = Selection::default();
    for &(old, new) in updates {
        if git::is_zero_id(new) {
            continue;
        }
        let new = Oid::from_str(new).with_context(|| format!("invalid commit id {new}"))?;
        sel.include.push(new);
        if !git::is_zero_id(old)
            && let Ok(old) = Oid::from_str(old)
            && repo.find_commit(old).is_ok()
        {
            sel.hide.push(old);
        }
    }
    if !sel.include.is_empty() {
        sel.hide.extend(git::ref_tips_under(repo, known, &[]).context("cannot list refs")?);
    }
    Ok(sel)
}
