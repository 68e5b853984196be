//! `leakhound dir`: files and directory trees.

use anyhow::Result;

use super::{Outcome, engine, finish_scan, new_scan, repository_root};
use crate::cli::DirArgs;
use crate::source::fs::{self, FsOptions};

/// Scans the paths and reports.
pub fn run(args: &DirArgs) -> Result<Outcome> {
    let root = args.paths.first().map(|p| repository_root(p));
    let engine = engine(&args.scan.rules, root.as_deref())?;
    let scan = new_scan(&engine, &args.scan);
    let options = FsOptions {
        respect_gitignore: args.respect_gitignore,
        follow_symlinks: args.follow_symlinks,
        caps: super::size_caps(&args.scan),
        threads: args.scan.threads,
        base: root.clone(),
    };
    fs::scan(&args.paths, &options, &scan);
    let target = format!(
        "dir {}",
        args.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" ")
    );
    let mut report = scan.into_report(target);
    report.root = root;
    finish_scan(&report, &args.scan)
}
