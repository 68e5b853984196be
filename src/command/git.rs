//! `leakhound git`: a repository's history.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result};

use super::{Outcome, configs, finish_scan, new_scan};
use crate::cache::Cache;
use crate::cli::{GitArgs, ScanArgs};
use crate::engine::Engine;
use crate::report::Report;
use crate::rules::load::build_rule_set;
use crate::scan::Scan;
use crate::source::Sink;
use crate::source::git::{self, GitOptions, HistoryCache, Reader, Selection};

/// Scans the history and reports.
pub fn run(args: &GitArgs) -> Result<Outcome> {
    let target = format!(
        "git {}",
        args.repo.as_ref().map_or_else(|| ".".to_owned(), |p| p.display().to_string())
    );
    let repo = match git::open(args.repo.as_deref()) {
        Ok(repo) => repo,
        Err(error) => {
            let engine = super::engine(&args.scan.rules, None)?;
            let scan = new_scan(&engine, &args.scan);
            scan.error(error);
            return finish_scan(&scan.into_report(target), &args.scan);
        }
    };
    let selection = git::selection(&repo, &args.branch, args.range.as_deref(), args.since)
        .map_err(anyhow::Error::msg)?;
    let history = History {
        selection: Some(selection),
        all_objects: args.all_objects,
        cache: args.cache.as_deref(),
    };
    finish_scan(&history_report_with(&repo, history, &args.scan, target, |_| {})?, &args.scan)
}

/// What of a repository to scan.
#[derive(Debug, Clone)]
pub struct History<'a> {
    /// The commits; `None` for no history at all (an empty selection would mean every ref).
    pub selection: Option<Selection>,
    /// Also report blobs that no selected commit reaches.
    pub all_objects: bool,
    /// The history cache (`--cache`).
    pub cache: Option<&'a Path>,
}

/// Scans `selection` of `repo` with the shared scan options and reports.
pub fn scan_history(
    repo: &git2::Repository,
    selection: Selection,
    all_objects: bool,
    args: &ScanArgs,
    target: String,
) -> Result<Outcome> {
    let history = History { selection: Some(selection), all_objects, cache: None };
    finish_scan(&history_report_with(repo, history, args, target, |_| {})?, args)
}

/// The report of a scan of `history` in `repo`, before triage, then `more` scans into the same
/// run (the pre-receive hook's tags, trees and blobs that no commit holds).
pub fn history_report_with(
    repo: &git2::Repository,
    history: History<'_>,
    args: &ScanArgs,
    target: String,
    more: impl FnOnce(&Scan<'_>),
) -> Result<Report> {
    let set = build_rule_set(&configs(&args.rules, repo.workdir())?)?;
    let rules = set.digest();
    let engine = Engine::new(set)?;
    let scan = new_scan(&engine, args);
    set_threads(args.threads);
    let cache = history
        .cache
        .map(|path| Cache::open(path, &rules))
        .transpose()
        .context("cannot use the history cache")?;
    // What a blob scans to depends on the rules and on these options; a change of any rescans.
    let key = format!(
        "{rules};file={};archive={};depth={};inflated={}",
        args.max_file_size,
        args.max_archive_size,
        args.max_archive_depth,
        args.max_archive_inflated
    );
    if let Some(selection) = history.selection {
        let options = GitOptions {
            selection,
            all_objects: history.all_objects,
            caps: super::size_caps(args),
            progress: !args.output.quiet && std::io::stderr().is_terminal(),
            reader: Reader::from_env(),
            cache: cache.as_ref().map(|cache| HistoryCache { cache, key: &key }),
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
