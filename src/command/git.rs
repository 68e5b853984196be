//! `leakhound git`: a repository's history.

use std::io::IsTerminal;

use anyhow::Result;

use super::{Outcome, engine, finish_scan, new_scan};
use crate::cli::{GitArgs, ScanArgs};
use crate::report::Report;
use crate::scan::Scan;
use crate::source::Sink;
use crate::source::git::{self, GitOptions, Reader, Selection};

/// Scans the history and reports.
pub fn run(args: &GitArgs) -> Result<Outcome> {
    let target = format!(
        "git {}",
        args.repo.as_ref().map_or_else(|| ".".to_owned(), |p| p.display().to_string())
    );
    let repo = match git::open(args.repo.as_deref()) {
        Ok(repo) => repo,
        Err(error) => {
            let engine = engine(&args.scan.rules, None)?;
            let scan = new_scan(&engine, &args.scan);
            scan.error(error);
            return finish_scan(&scan.into_report(target), &args.scan);
        }
    };
    let selection = git::selection(&repo, &args.branch, args.range.as_deref(), args.since)
        .map_err(anyhow::Error::msg)?;
    scan_history(&repo, selection, args.all_objects, &args.scan, target)
}

/// Scans `selection` of `repo` with the shared scan options and reports.
pub fn scan_history(
    repo: &git2::Repository,
    selection: Selection,
    all_objects: bool,
    args: &ScanArgs,
    target: String,
) -> Result<Outcome> {
    finish_scan(&history_report(repo, selection, all_objects, args, target)?, args)
}

/// The report of a scan of `selection` in `repo`, before triage.
pub fn history_report(
    repo: &git2::Repository,
    selection: Selection,
    all_objects: bool,
    args: &ScanArgs,
    target: String,
) -> Result<Report> {
    history_report_with(repo, Some(selection), all_objects, args, target, |_| {})
}

/// [`history_report`], then `more` scans into the same run (the pre-receive hook's tags, trees
/// and blobs that no commit holds); with no `selection`, no history at all (an empty one would
/// mean every ref).
pub fn history_report_with(
    repo: &git2::Repository,
    selection: Option<Selection>,
    all_objects: bool,
    args: &ScanArgs,
    target: String,
    more: impl FnOnce(&Scan<'_>),
) -> Result<Report> {
    let engine = engine(&args.rules, repo.workdir())?;
    let scan = new_scan(&engine, args);
    set_threads(args.threads);
    if let Some(selection) = selection {
        let options = GitOptions {
            selection,
            all_objects,
            caps: super::size_caps(args),
            progress: !args.output.quiet && std::io::stderr().is_terminal(),
            reader: Reader::from_env(),
        };
        git::scan(repo, &options, &scan);
    }
    more(&scan);
    let mut report = scan.into_report(target);
    // The ignore files live at the scanned repository's root, wherever leakhound runs from.
    report.root = repo.workdir().map(std::path::Path::to_path_buf);
    Ok(report)
}

/// Sizes the worker pool (0: one per core). The pool is global, so only the first call counts.
fn set_threads(threads: usize) {
    if threads > 0 {
        let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
    }
}
