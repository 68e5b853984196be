//! Command-line definitions (clap derive types only). Nothing here runs a scan.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report::Format;

/// Finds hardcoded credentials in directories, git histories, staged changes and container images.
///
/// Exit codes: 0 nothing found, 1 findings, 2 the scan could not be completed (an error wins
/// over findings: a partial scan never looks clean).
#[derive(Debug, Parser)]
#[command(name = "leakhound", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan files and directory trees.
    Dir(DirArgs),
    /// Scan container images: registry references, docker-archive:PATH, oci-archive:PATH, oci:DIR.
    Image(ImageArgs),
    /// List or check rules.
    Rules {
        /// What to do with rules.
        #[command(subcommand)]
        command: RulesCommand,
    },
}

/// `rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Print the rule set in force (built-in plus `--config`).
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Validate rule files: regex, capture group, examples, negative examples, entropy gates.
    Check {
        /// Rule files (TOML) to check; with none, the built-in rules.
        files: Vec<PathBuf>,
    },
}

/// Formats of `rules list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// One rule per line.
    Text,
    /// The rules as JSON.
    Json,
}

/// When to color text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Where the rules come from.
#[derive(Debug, Clone, Args)]
pub struct RuleArgs {
    /// A config or rule file (TOML). Without it, `.leakhound.toml` at the scanned repository's
    /// root is used when present.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Options every scan shares.
#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    /// Format of the report (to stdout, or to `--report`).
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to this file; the terminal still gets the human summary.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Show secrets in full instead of redacting them.
    #[arg(long)]
    pub show_secrets: bool,
    /// When to use colors.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Print nothing to the terminal but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Skip files larger than this (bytes; K, M, G suffixes allowed).
    #[arg(long, value_name = "SIZE", default_value = "10M", value_parser = parse_size)]
    pub max_file_size: u64,
    /// Worker threads (default: one per core).
    #[arg(long, short = 'j', default_value_t = 0)]
    pub threads: usize,
    #[command(flatten)]
    pub rules: RuleArgs,
}

/// `dir` arguments.
#[derive(Debug, Clone, Args)]
pub struct DirArgs {
    /// Files and directories to scan.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Skip what `.gitignore` and `.ignore` files exclude.
    #[arg(long)]
    pub respect_gitignore: bool,
    /// Follow symbolic links (loops are detected).
    #[arg(long, short = 'L')]
    pub follow_symlinks: bool,
    #[command(flatten)]
    pub scan: ScanArgs,
}

/// `image` arguments.
#[derive(Debug, Clone, Args)]
pub struct ImageArgs {
    /// Images: `registry/repo:tag`, `registry/repo@sha256:…`, `docker-archive:PATH`,
    /// `oci-archive:PATH[:TAG]`, `oci:DIR[:TAG]`.
    #[arg(required = true, value_name = "REF")]
    pub refs: Vec<String>,
    /// Registry user name (a Harbor robot account such as `robot$project+ci` works).
    #[arg(long, short = 'u', requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the registry password or token from standard input.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Allow plain HTTP or an untrusted certificate for the registries named on the command line.
    #[arg(long)]
    pub insecure_registry: bool,
    /// Trust this CA certificate (PEM) for registry TLS, in addition to the system roots.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,
    /// Scan only this platform of multi-platform images (`os/arch[/variant]`); default: all.
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// Stop reading a layer that inflates beyond this (decompression bombs); reported.
    #[arg(long, value_name = "SIZE", default_value = "16G", value_parser = parse_size)]
    pub max_layer_size: u64,
    /// Layers of one image pulled and scanned at the same time.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub layer_jobs: usize,
    /// Retries of a registry answer 429 or 5xx (with exponential backoff) before an image fails.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,
    #[command(flatten)]
    pub scan: ScanArgs,
}

/// Parses `10M`, `512K`, `1G` or a plain byte count.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    let trimmed = lower.trim_end_matches("ib").trim_end_matches('b');
    let (digits, shift) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], 10),
        Some('m') => (&trimmed[..trimmed.len() - 1], 20),
        Some('g') => (&trimmed[..trimmed.len() - 1], 30),
        _ => (trimmed, 0),
    };
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("invalid size {text:?}: use 10M, 512K or bytes"))?;
    n.checked_mul(1 << shift).ok_or_else(|| format!("size {text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("ten").is_err());
    }
}
