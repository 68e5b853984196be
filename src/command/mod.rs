//! The commands: each joins a source, the engine and the reporters. This is the only place that
//! knows all stages (the `lib::run` of the design).

pub mod baseline;
pub mod dir;
pub mod git;
pub mod gitlab;
pub mod image;
pub mod install_hooks;
pub mod merge;
pub mod pre_push;
pub mod pre_receive;
pub mod rules;
pub mod serve;
pub mod staged;
pub mod sweep;

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::baseline::Triage;
use crate::cli::{Color, Command, FailOn, OutputArgs, RuleArgs, ScanArgs, VerifyArgs};
use crate::engine::Engine;
use crate::finding::Finding;
use crate::report::{self, Format, Options, Report};
use crate::rules::Confidence;
use crate::rules::gitleaks;
use crate::rules::load::{Config, build_rule_set};
use crate::scan::Scan;
use crate::source::archive::{Limits, SizeCaps};

/// How a run ended; `main` maps it to the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing found, everything scanned.
    Clean,
    /// Findings, everything scanned.
    Findings,
    /// Something could not be scanned (wins over findings).
    Incomplete,
}

impl Outcome {
    /// 0, 1 or 2.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::Findings => 1,
            Outcome::Incomplete => 2,
        }
    }

    /// The outcome a report implies.
    pub fn of(report: &Report) -> Outcome {
        if !report.errors.is_empty() {
            Outcome::Incomplete
        } else if report.findings.is_empty() {
            Outcome::Clean
        } else {
            Outcome::Findings
        }
    }
}

/// The name of the per-repository config file.
pub const CONFIG_FILE: &str = ".leakhound.toml";

/// The root of the repository holding `path` (the nearest ancestor with `.git`), else `path`'s
/// own directory.
pub fn repository_root(path: &Path) -> PathBuf {
    let start = if path.is_dir() { path } else { path.parent().unwrap_or(Path::new("")) };
    let start = if start.as_os_str().is_empty() { Path::new(".") } else { start };
    let start = start.canonicalize().unwrap_or_else(|_| start.to_owned());
    start.ancestors().find(|d| d.join(".git").exists()).map_or(start.clone(), Path::to_path_buf)
}

/// The configs in force: `--config` (leakhound or gitleaks format), else `.leakhound.toml` at
/// `root`, else `.gitleaks.toml` there, unless `--no-repo-config`. Warnings about unsupported
/// gitleaks features go to stderr; the report names the file (see [`Report::config`]).
pub fn configs(args: &RuleArgs, root: Option<&Path>) -> Result<Vec<Config>> {
    let path = match (&args.config, root) {
        (Some(path), _) => Some(path.clone()),
        (None, Some(_)) if args.no_repo_config => None,
        (None, Some(root)) => [CONFIG_FILE, gitleaks::CONFIG_FILE]
            .iter()
            .map(|name| root.join(name))
            .find(|p| p.is_file()),
        (None, None) => None,
    };
    let Some(path) = path else { return Ok(Vec::new()) };
    let configs = gitleaks::load_any(&path)?;
    for warning in configs.iter().flat_map(|c| &c.warnings) {
        eprintln!("leakhound: warning: {warning}");
    }
    Ok(configs)
}

/// A run with `engine` that follows archives as the scan options say.
pub fn new_scan<'e>(engine: &'e Engine, args: &ScanArgs) -> Scan<'e> {
    Scan::new(engine).with_archives(Limits {
        max_depth: args.max_archive_depth,
        max_inflated: args.max_archive_inflated,
        max_member: args.max_file_size,
    })
}

/// The size caps every source applies: archives pass `--max-file-size` up to
/// `--max-archive-size`, unless archive scanning is off.
pub fn size_caps(args: &ScanArgs) -> SizeCaps {
    if args.max_archive_depth == 0 {
        SizeCaps::files_only(args.max_file_size)
    } else {
        SizeCaps { file: args.max_file_size, archive: args.max_archive_size }
    }
}

/// The engine for a scan of `root`.
pub fn engine(args: &RuleArgs, root: Option<&Path>) -> Result<Engine> {
    let set = build_rule_set(&configs(args, root)?)?;
    Ok(Engine::new(set)?)
}

/// `command` with `--min-confidence` set to the command's default where the user gave none
/// (issue #14). Hooks (`staged`, `pre-push`, `pre-receive`) and `dir`, which runs in CI on every change, report
/// `medium` and up, so a reviewer is not asked about test vectors and weak generic matches;
/// audits (`git` history, `image`, `sweep`, `merge`) and `baseline` want everything, `low` up.
pub fn with_default_confidence(command: &Command) -> Command {
    let mut command = command.clone();
    let (output, default) = match &mut command {
        Command::Dir(a) => (&mut a.scan.output, Confidence::Medium),
        Command::Staged(a) => (&mut a.scan.output, Confidence::Medium),
        Command::PrePush(a) => (&mut a.scan.output, Confidence::Medium),
        Command::PreReceive(a) => (&mut a.scan.output, Confidence::Medium),
        Command::Git(a) => (&mut a.scan.output, Confidence::Low),
        Command::Image(a) => (&mut a.scan.output, Confidence::Low),
        Command::Sweep(a) => (&mut a.scan.output, Confidence::Low),
        Command::Gitlab(a) => (&mut a.scan.output, Confidence::Low),
        Command::Merge(a) => (&mut a.output, Confidence::Low),
        Command::Serve(a) => (&mut a.scan.output, Confidence::Low),
        Command::InstallHooks(_) | Command::Baseline(_) | Command::Rules { .. } => {
            return command;
        }
    };
    output.min_confidence.get_or_insert(default);
    command
}

/// Applies triage (the ignore files at the repository root and `--baseline`; see
/// [`crate::baseline`]) and `--min-confidence` to a finished report, then, unless
/// `--show-secrets`, hides every secret the run found (suppressed and below-confidence ones too)
/// in the report's paths, commit details and messages ([`report::hide_secrets`]). Every command
/// goes through here, via [`finish`] (or, for `staged` and `pre-receive`, directly), so no format can show a secret there.
pub fn triage(report: &Report, args: &OutputArgs) -> Result<Report> {
    let root = match &report.root {
        Some(root) => root.clone(),
        None => repository_root(&std::env::current_dir()?),
    };
    let triage = Triage::load(&root, args.baseline.as_deref())?;
    let mut shown = report.clone();
    triage.apply(&mut shown);
    let min = args.min_confidence.unwrap_or(Confidence::Low);
    let before = shown.findings.len();
    shown.findings.retain(|f| f.confidence >= min);
    shown.stats.below_min_confidence += (before - shown.findings.len()) as u64;
    shown.stats.findings = shown.findings.len() as u64;
    if !args.show_secrets {
        report::hide_secrets(&mut shown, report.findings.iter().map(|f| f.secret.as_str()));
    }
    Ok(shown)
}

/// Checks the findings that triage leaves when `--verify` asks for it ([`crate::verify`]), then
/// drops those not verified live with `--only-verified` (counted in `stats.not_verified`).
/// Allowed hosts come from `--verify-host` and the `--config` file only: a config inside the
/// scanned tree must not be able to aim credentials anywhere.
pub fn verify(report: &mut Report, verify: &VerifyArgs, rules: &RuleArgs) -> Result<()> {
    if !verify.verify {
        return Ok(());
    }
    let from_config = match &rules.config {
        Some(_) => configs(rules, None)?,
        None => Vec::new(),
    };
    let hosts = crate::verify::hosts::HostPolicy::new(
        verify
            .verify_host
            .iter()
            .chain(from_config.iter().flat_map(|c| &c.syntax.verify.allow_hosts))
            .map(String::as_str),
    );
    let gitlab =
        crate::verify::gitlab::instance(verify.gitlab_url.as_deref(), report.root.as_deref())
            .map_err(anyhow::Error::msg)?;
    let options = crate::verify::Options {
        hosts,
        concurrency: verify.verify_concurrency,
        per_provider: (verify.verify_concurrency / 2).max(1),
        rate: verify.verify_rate,
        timeout: std::time::Duration::from_secs(verify.verify_timeout),
        gitlab: Some(gitlab),
        ca_cert: Some(image::ca_certs(&verify.ca_cert)?.join(&b'\n')).filter(|pem| !pem.is_empty()),
        insecure: verify.insecure.clone(),
    };
    crate::verify::run(&mut report.findings, options);
    if verify.only_verified {
        let before = report.findings.len();
        report.findings.retain(Finding::is_verified);
        report.stats.not_verified += (before - report.findings.len()) as u64;
        report.stats.findings = report.findings.len() as u64;
    }
    Ok(())
}

/// Applies triage, verifies when asked, writes the report where the user asked and returns the
/// outcome: the end of every scan command.
pub fn finish_scan(report: &Report, args: &ScanArgs) -> Result<Outcome> {
    finish(report, &args.output, &args.verify, &args.rules)
}

/// [`finish_scan`] with its parts apart, for `merge`, which verifies but does not scan.
pub fn finish(
    report: &Report,
    output: &OutputArgs,
    verify_args: &VerifyArgs,
    rules: &RuleArgs,
) -> Result<Outcome> {
    let mut shown = triage(report, output)?;
    verify(&mut shown, verify_args, rules)?;
    deliver_verified(&shown, output, verify_args)
}

/// [`deliver`], with `--fail-on verified`: findings exit 1 only when one is live; an incomplete
/// scan still exits 2.
pub fn deliver_verified(
    report: &Report,
    output: &OutputArgs,
    verify: &VerifyArgs,
) -> Result<Outcome> {
    let outcome = deliver(report, output)?;
    Ok(match (verify.fail_on, outcome) {
        (FailOn::Verified, Outcome::Findings)
            if !report.findings.iter().any(Finding::is_verified) =>
        {
            Outcome::Clean
        }
        _ => outcome,
    })
}

/// Writes an already triaged report where the user asked and returns the outcome.
pub fn deliver(report: &Report, args: &OutputArgs) -> Result<Outcome> {
    let stdout = io::stdout();
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let options = Options { show_secrets: args.show_secrets, color };
    let mut out = BufWriter::new(stdout.lock());
    if let Some(path) = &args.report {
        let file = File::create(path)
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
        let mut file = BufWriter::new(file);
        report::write(args.format, report, &options, &mut file)
            .and_then(|()| file.flush())
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
        if !args.quiet {
            report::text::write(report, &options, &mut out)?;
        }
    } else if args.format != Format::Text {
        report::write(args.format, report, &options, &mut out)?;
        if !args.quiet {
            eprint_errors(report);
            for line in report::text::skipped_lines(report) {
                eprintln!("leakhound: {line}");
            }
            if let Some(line) = report::text::config_line(report) {
                eprintln!("leakhound: {line}");
            }
            eprintln!("{}", report::text::summary(&report.stats));
        }
    } else if !args.quiet {
        report::text::write(report, &options, &mut out)?;
    }
    out.flush()?;
    if args.quiet {
        eprint_errors(report);
    }
    Ok(Outcome::of(report))
}

fn eprint_errors(report: &Report) {
    for e in &report.errors {
        eprintln!(
            "leakhound: error: {}: {}",
            report::text::sanitize(&e.origin),
            report::text::sanitize(&e.message)
        );
    }
}
