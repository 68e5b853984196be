//! leakhound finds hardcoded credentials before they ship.
//!
//! Every input follows one flow:
//!
//! ```text
//! Source ──► Blob + Provenance ──► Engine ──► Finding ──► [Verify] ──► Report
//! ```
//!
//! - [`source`] turns directories, git objects and image layers into [`blob::Blob`]s with a
//!   [`finding::Provenance`]; sources know nothing of rules.
//! - [`engine`] is compiled once from a [`rules::RuleSet`] and shared across threads: a keyword
//!   prefilter, then regexes in windows around keyword hits, then entropy, checksums and
//!   allowlists. It never learns where a blob came from.
//! - [`scan`] joins the two: each distinct blob is scanned once, and matches become
//!   [`finding::Finding`]s at the blob's provenance.
//! - [`verify`] (only with `--verify`) checks each distinct secret once against its own service
//!   and attaches the answer to its findings; it sees findings only.
//! - [`report`] turns findings and counters into text, JSON and the CI formats.
//! - [`command`] holds one function per subcommand; it is the only place that knows every stage.

pub mod baseline;
pub mod blob;
pub mod cache;
pub mod cli;
pub mod command;
pub mod engine;
pub mod error;
pub mod finding;
pub mod fuzzing;
pub mod report;
pub mod rules;
pub mod scan;
pub mod serve;
pub mod source;
pub mod sweep;
pub mod verify;

use anyhow::Result;

use cli::{Cli, Command};
pub use command::Outcome;

/// Runs one command line.
pub fn run(cli: &Cli) -> Result<Outcome> {
    match &command::with_default_confidence(&cli.command) {
        Command::Dir(args) => command::dir::run(args),
        Command::Git(args) => command::git::run(args),
        Command::PrePush(args) => command::pre_push::run(args),
        Command::PreReceive(args) => command::pre_receive::run(args),
        Command::Staged(args) => command::staged::run(args),
        Command::InstallHooks(args) => command::install_hooks::run(args),
        Command::Baseline(args) => command::baseline::run(args),
        Command::Image(args) => command::image::run(args),
        Command::Sweep(args) => command::sweep::run(args),
        Command::Gitlab(args) => command::gitlab::run(args),
        Command::Merge(args) => command::merge::run(args),
        Command::Serve(args) => command::serve::run(args),
        Command::Rules { command } => command::rules::run(command),
    }
}
