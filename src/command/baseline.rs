//! `leakhound baseline [-o FILE] SCAN…`: runs the scan as given and writes its findings as a JSON
//! report, the format `--baseline` reads. The scan is any scan subcommand, parsed exactly as on
//! the command line, so every source can be baselined without this file knowing it.

use std::ffi::OsString;

use anyhow::{Result, bail};
use clap::Parser;

use super::Outcome;
use crate::cli::{BaselineArgs, Cli, Command};

/// Runs the scan and writes the baseline; findings are expected, so only an incomplete scan
/// fails (exit 2: a partial baseline would hide nothing it missed, but say so).
pub fn run(args: &BaselineArgs) -> Result<Outcome> {
    let refuses = |a: &OsString| {
        let a = a.to_string_lossy();
        a == "--baseline" || a.starts_with("--baseline=")
    };
    if args.scan.iter().any(refuses) {
        bail!(
            "leakhound baseline records every finding: drop --baseline from the scan (findings \
             already in .leakhoundignore stay out of it)"
        );
    }
    let mut command_line: Vec<OsString> = vec!["leakhound".into()];
    command_line.extend(args.scan.iter().cloned());
    // A baseline records every finding, so lowering `--min-confidence` later surfaces nothing
    // that was already accepted.
    let chosen = |a: &OsString| a.to_string_lossy().starts_with("--min-confidence");
    if !args.scan.iter().any(chosen) {
        command_line.extend(["--min-confidence".into(), "low".into()]);
    }
    command_line.extend([
        "--format".into(),
        "json".into(),
        "--report".into(),
        args.output.clone().into(),
    ]);
    let cli = Cli::try_parse_from(command_line)?;
    if matches!(cli.command, Command::Baseline(_) | Command::Rules { .. }) {
        bail!("leakhound baseline needs a scan to record, such as `leakhound baseline dir .`");
    }
    match crate::run(&cli)? {
        Outcome::Incomplete => Ok(Outcome::Incomplete),
        Outcome::Clean | Outcome::Findings => {
            eprintln!("leakhound: baseline written to {}", args.output.display());
            Ok(Outcome::Clean)
        }
    }
}
