//! `leakhound staged`: what is about to be committed. The staged source yields each changed
//! file's index blob with the lines the commit adds; the whole blob is scanned (rules may need
//! context) and only matches whose span touches an added line are kept.
//!
//! `--files` is for the pre-commit framework, which passes file names: a listed file with staged
//! changes is scanned for its added lines as above, any other listed file in full from the
//! working tree (so `pre-commit run --all-files` scans every file rather than silently passing).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use anyhow::{Context, Result};

use super::{Outcome, deliver_verified, engine, new_scan, triage, verify};
use crate::baseline::IGNORE_FILE;
use crate::cli::StagedArgs;
use crate::report::text::{human_bytes, sanitize};
use crate::source::fs::{self, FsOptions};
use crate::source::staged::{Change, Item, Staged, StagedOptions, normalize};
use crate::source::{Sink, Skip};

/// Scans the staged changes and reports; findings exit 1, so a hook blocks the commit.
pub fn run(args: &StagedArgs) -> Result<Outcome> {
    let start = args.repo.clone().unwrap_or_else(|| PathBuf::from("."));
    let staged = Staged::open(&start)?;
    let root = staged.root().to_owned();
    let engine = engine(&args.scan.rules, Some(&root))?;
    let scan = new_scan(&engine, &args.scan);
    let mut changes = staged.changes()?;
    if let Some(files) = &args.files {
        let whole;
        (changes, whole) = select(changes, files, &root)?;
        if !whole.is_empty() {
            let options = FsOptions {
                respect_gitignore: false,
                follow_symlinks: false,
                caps: super::size_caps(&args.scan),
                threads: args.scan.threads,
                base: Some(root.canonicalize().unwrap_or_else(|_| root.clone())),
            };
            fs::scan(&whole, &options, &scan);
        }
    }
    let too_large = Mutex::new(Vec::new());
    let options = StagedOptions { caps: super::size_caps(&args.scan) };
    let reader = staged.into_reader();
    let each = |item: Item| match item {
        Item::Blob(staged) => {
            let Some(matches) = scan.matches(&staged.blob, &staged.provenance.path) else {
                return;
            };
            if matches.is_empty() {
                return;
            }
            let added = match reader.added_lines(&staged) {
                Ok(added) => added,
                Err(e) => return scan.error(e),
            };
            let found: Vec<_> = matches
                .iter()
                // A staged archive has no lines to diff: every hit in its members is new to it.
                .filter(|m| m.member.is_some() || added.touches(m.start_at.line, m.end_at.line))
                .filter_map(|m| scan.finding(m, &staged.provenance))
                .collect();
            scan.push_findings(found);
        }
        Item::TooLarge { path, size } => {
            scan.skipped(Skip::TooLarge);
            too_large.lock().unwrap_or_else(PoisonError::into_inner).push((path, size));
        }
    };
    in_pool(args.scan.threads, || reader.scan(changes, &options, &scan, &each))?;
    let mut report = scan.into_report(format!("staged {}", root.display()));
    report.root = Some(root.clone());
    let mut too_large = too_large.into_inner().unwrap_or_else(PoisonError::into_inner);
    too_large.sort();
    for (path, size) in &too_large {
        eprintln!(
            "leakhound: warning: {} was not scanned: {} is over --max-file-size ({}); raise it to \
             scan the file",
            sanitize(path),
            human_bytes(*size),
            human_bytes(args.scan.max_file_size)
        );
    }
    // Triaged here so that the blocking message counts what is left after the baseline.
    let mut report = triage(&report, &args.scan.output)?;
    verify(&mut report, &args.scan.verify, &args.scan.rules)?;
    let outcome = deliver_verified(&report, &args.scan.output, &args.scan.verify)?;
    if outcome == Outcome::Findings && !args.scan.output.quiet {
        eprint!("{}", blocking_message(report.findings.len()));
    }
    // The process exits next, and a hook runs at every commit: freeing the engine's ~500 rules
    // and its automata one allocation at a time was 2-3% of a ten-file run.
    std::mem::forget(engine);
    Ok(outcome)
}

/// Splits `--files` into staged changes (scanned for added lines) and other files (scanned whole
/// from the working tree). Staged changes not listed are dropped.
fn select(
    changes: Vec<Change>,
    files: &[PathBuf],
    root: &Path,
) -> Result<(Vec<Change>, Vec<PathBuf>)> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let mut by_path: HashMap<String, Change> =
        changes.into_iter().map(|c| (c.path.clone(), c)).collect();
    let mut selected = Vec::new();
    let mut whole = Vec::new();
    for file in files {
        let absolute = normalize(&cwd.join(file));
        let absolute = absolute.canonicalize().unwrap_or(absolute);
        let relative = absolute.strip_prefix(&root).ok().map(|p| p.to_string_lossy().into_owned());
        match relative.and_then(|r| by_path.remove(&r)) {
            Some(change) => selected.push(change),
            None => whole.push(file.clone()),
        }
    }
    // A staged deletion listed by name has nothing to scan; it must not be read from disk.
    Ok((selected, whole))
}

/// Runs `work` on a pool of `threads` workers (0: rayon's default pool).
fn in_pool(threads: usize, work: impl FnOnce() + Send) -> Result<()> {
    if threads == 0 {
        work();
    } else {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .context("cannot start worker threads")?
            .install(work);
    }
    Ok(())
}

/// What to do about a blocked commit.
fn blocking_message(findings: usize) -> String {
    format!(
        "\nleakhound: {findings} secret(s) in the staged changes (listed above, redacted): the \
         commit is blocked.\n\
         For each finding, either:\n  \
         - remove the secret (read it from the environment or a secret store), `git add` the \
         file and commit again; rotate the secret if it ever left this machine\n  \
         - or, if it is not a secret, add a `leakhound:allow` comment on its line\n  \
         - or, to accept it, add its fingerprint to {IGNORE_FILE} at the repository root\n\
         To skip the check for one commit: `git commit --no-verify`, or `SKIP=leakhound git \
         commit` with the pre-commit framework.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_message_names_the_three_ways_out_and_the_bypass() {
        let text = blocking_message(2);
        assert!(text.contains("2 secret(s)"));
        for needle in
            ["remove the secret", "leakhound:allow", IGNORE_FILE, "--no-verify", "SKIP=leakhound"]
        {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
    }
}
