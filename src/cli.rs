//! Command-line definitions (clap derive types only). Nothing here runs a scan.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report::Format;
use crate::rules::Confidence;
use crate::source::http::Pace;

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
#[derive(Debug, Clone, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per run; boxing buys nothing
pub enum Command {
    /// Scan files and directory trees.
    Dir(DirArgs),
    /// Scan a git repository's history: every ref by default, each secret with the commit that
    /// first introduced it.
    Git(GitArgs),
    /// Scan the commits a `git push` sends (a pre-push hook: reads git's pre-push input on stdin).
    PrePush(PrePushArgs),
    /// Server-side hook (git's pre-receive, GitLab's custom_hooks/pre-receive.d): reads
    /// `<old> <new> <ref>` on stdin and refuses a push that adds a secret.
    PreReceive(PreReceiveArgs),
    /// Scan what is about to be committed: the lines the index adds relative to HEAD.
    Staged(StagedArgs),
    /// Install the pre-commit and pre-push hooks into a repository.
    InstallHooks(InstallHooksArgs),
    /// Write a baseline: run a scan and save its findings as a JSON report for `--baseline`.
    Baseline(BaselineArgs),
    /// Scan container images: registry references, docker-archive:PATH, oci-archive:PATH, oci:DIR.
    Image(ImageArgs),
    /// Sweep a whole registry (Harbor or any distribution registry): every image, each unique
    /// layer scanned once, incrementally with `--cache`, split across jobs with `--shard`.
    Sweep(SweepArgs),
    /// Scan every repository of a GitLab (a group and its subgroups, or every project the token
    /// can see): bare mirrors in a work directory, fetched incrementally, scanned with the history
    /// cache, one report with the project on every finding. The token comes from
    /// `LEAKHOUND_GITLAB_TOKEN` (scopes `read_api`, `read_repository`).
    Gitlab(GitlabArgs),
    /// Combine the shard reports of `sweep --shard I/N` (or `gitlab --shard I/N`) into one report.
    Merge(MergeArgs),
    /// Scan on push: a service that takes Harbor's webhooks (`PUSH_ARTIFACT`) and scans each
    /// pushed image as `sweep` does, from a durable queue, with a report per artifact.
    Serve(ServeArgs),
    /// List or check rules.
    Rules {
        /// What to do with rules.
        #[command(subcommand)]
        command: RulesCommand,
    },
}

/// `rules` subcommands.
#[derive(Debug, Clone, Subcommand)]
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
    /// Gitleaks configs are read as `--config` reads them; their rules need no examples.
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

/// Which findings make a scan exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum FailOn {
    /// Any finding reported.
    #[default]
    Any,
    /// Only a finding whose service accepted it (needs `--verify`).
    Verified,
}

/// Where the rules come from.
#[derive(Debug, Clone, Args)]
pub struct RuleArgs {
    /// A config or rule file (TOML). Without it, `.leakhound.toml` at the scanned repository's
    /// root is used when present.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Ignore `.leakhound.toml` and `.gitleaks.toml` in the scanned tree: a commit could
    /// otherwise turn rules off for the scan of itself. For CI and sweeps (the GitLab template
    /// passes it; `image` and `sweep` never read a scanned tree's config).
    #[arg(long)]
    pub no_repo_config: bool,
}

/// Where the report goes and how it looks: every command that reports (scans and `merge`).
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Format of the report (to stdout, or to `--report`).
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text, overrides_with = "format")]
    pub format: Format,
    /// Write the report to this file; the terminal still gets the human summary.
    #[arg(long, value_name = "PATH", overrides_with = "report")]
    pub report: Option<PathBuf>,
    /// Suppress every finding already in this earlier JSON report (see `leakhound baseline`).
    /// `.leakhoundignore` and `.gitleaksignore` at the repository root are always honoured.
    #[arg(long, value_name = "REPORT.json")]
    pub baseline: Option<PathBuf>,
    /// Show secrets in full instead of redacting them.
    #[arg(long)]
    pub show_secrets: bool,
    /// When to use colors.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Print nothing to the terminal but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Report only findings at least this confident: `high` (checksum-verified, or a provider's
    /// distinctive format), `medium` (also keyword-anchored and structured credentials whose
    /// value passes the value model), `low` (everything, generic and test data included).
    /// Default: `medium` for `dir`, `staged` and `pre-push`; `low` for `git`, `image`, `sweep`,
    /// `gitlab`, `merge` and `baseline`.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub min_confidence: Option<Confidence>,
}

/// Options every scan shares.
#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    /// Skip files larger than this (bytes; K, M, G suffixes allowed).
    #[arg(long, value_name = "SIZE", default_value = "10M", value_parser = parse_size)]
    pub max_file_size: u64,
    /// Worker threads (default: one per core).
    #[arg(long, short = 'j', default_value_t = 0)]
    pub threads: usize,
    /// Open archives found by their content (zip, jar, war, whl, apk, tar, gzip, bzip2, xz,
    /// zstd) nested up to this deep and scan their members; 0 turns archive scanning off.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub max_archive_depth: u32,
    /// Read a file, blob or layer entry over --max-file-size anyway when it is an archive no
    /// larger than this (fat jars, wheels, tarballs); its members are still capped by
    /// --max-file-size.
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = parse_size)]
    pub max_archive_size: u64,
    /// Stop reading an archive, with everything nested in it, once this much has been inflated
    /// from it (decompression bombs); what was cut off is listed as not scanned.
    #[arg(long, value_name = "SIZE", default_value = "4G", value_parser = parse_size)]
    pub max_archive_inflated: u64,
    #[command(flatten)]
    pub rules: RuleArgs,
    #[command(flatten)]
    pub verify: VerifyArgs,
}

/// Live verification of found credentials (off unless `--verify`).
#[derive(Debug, Clone, Default, Args)]
pub struct VerifyArgs {
    /// Check each distinct secret found against its own service (read-only "who am I" calls)
    /// and report verified, invalid or unverified; see the README for what is sent where.
    #[arg(long)]
    pub verify: bool,
    /// Allow sending credentials to this host named by the scanned data (repeatable): private,
    /// loopback and link-local addresses, plain HTTP and non-default ports need it.
    #[arg(long, value_name = "HOST[:PORT]", requires = "verify")]
    pub verify_host: Vec<String>,
    /// Checks started per second, at most (0: no cap). Each check sends a different credential
    /// and each provider gets at most half of --verify-concurrency in flight, so 100 a second
    /// stays far under any provider's per-credential limits.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub verify_rate: u32,
    /// The longest one check may take (seconds).
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub verify_timeout: u64,
    /// Checks in flight at once (each provider gets at most half, at least 1).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub verify_concurrency: usize,
    /// Report only findings whose service accepted them (live credentials); the summary counts
    /// the rest.
    #[arg(long, requires = "verify")]
    pub only_verified: bool,
    /// What exits 1: `any` finding, or only a `verified` (live) one, so a nightly sweep pages
    /// only on live keys (the others are still reported).
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = FailOn::Any, requires_if("verified", "verify"))]
    pub fail_on: FailOn,
    /// The GitLab instance GitLab tokens are checked against (default: the `origin` remote's
    /// host, else gitlab.com).
    #[arg(long, value_name = "URL", requires = "verify")]
    pub gitlab_url: Option<String>,
    /// Trust this CA certificate (PEM) in addition to the system roots (repeatable): for
    /// registry TLS (`image`, `sweep`, `serve`), `serve --notify`, the GitLab API and git
    /// (`gitlab`; git trusts these instead of its own roots), and `--verify`'s checks.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,
    /// Hosts whose certificates `--verify` does not check: `image` and `sweep` set them from
    /// `--insecure-registry=HOST`, so a check goes where a pull may, under the same rule.
    #[arg(skip)]
    pub insecure: crate::source::http::Insecure,
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

/// `git` arguments.
#[derive(Debug, Clone, Args)]
pub struct GitArgs {
    /// The repository: a work tree, a directory inside one, or a bare repository (default: the
    /// one holding the current directory).
    pub repo: Option<PathBuf>,
    /// Scan only the history of this branch, tag or commit (repeatable) instead of every ref.
    #[arg(long, value_name = "BRANCH")]
    pub branch: Vec<String>,
    /// Scan only the commits in BASE..TIP. An all-zeros BASE (what CI passes for a new branch)
    /// means the commits of TIP that no other ref holds.
    #[arg(long, value_name = "BASE..TIP", conflicts_with = "all_objects")]
    pub range: Option<String>,
    /// Scan only commits committed at or after DATE (`2024-05-01`, RFC 3339, or `@SECONDS`).
    #[arg(long, value_name = "DATE", value_parser = parse_date, conflicts_with = "all_objects")]
    pub since: Option<i64>,
    /// Also report blobs that no selected commit reaches (dangling and unreachable objects).
    #[arg(long)]
    pub all_objects: bool,
    /// The history cache (`SQLite`, created when missing; a sweep's `--cache` file may be
    /// shared): blobs scanned and commits walked by an earlier run with the same rules and size
    /// options are not read again, and their findings still come out, placed by this run's refs.
    #[arg(long, value_name = "PATH")]
    pub cache: Option<PathBuf>,
    #[command(flatten)]
    pub scan: ScanArgs,
}

/// How to reach a registry and read its images; shared by `image` and `sweep`.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Registry user name (a Harbor robot account such as `robot$project+ci` works).
    #[arg(long, short = 'u', requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the registry password or token from standard input.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Allow plain HTTP or an untrusted certificate: bare, for the registries named on the
    /// command line; `=HOST[:PORT]` (repeatable), for that host, e.g. a plain-HTTP token server
    /// that may then receive the credentials.
    #[arg(
        long,
        value_name = "HOST[:PORT]",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = ""
    )]
    pub insecure_registry: Vec<String>,
    /// Scan only this platform of multi-platform images (`os/arch[/variant]`); default: all.
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// Stop reading a layer that inflates beyond this (decompression bombs); reported.
    #[arg(long, value_name = "SIZE", default_value = "16G", value_parser = parse_size)]
    pub max_layer_size: u64,
    /// Retries of a registry answer 429 or 5xx (with exponential backoff) before an image fails.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,
    /// The longest one registry request may take, retries and resumes included (seconds).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = Pace::default().deadline.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub request_timeout: u64,
    /// The slowest a registry may send a body, in bytes per second averaged over
    /// `--min-rate-window` (a stalled or trickling transfer fails); 0: no minimum.
    #[arg(long, value_name = "SIZE", default_value_t = Pace::default().min_rate, value_parser = parse_size)]
    pub min_rate: u64,
    /// The window `--min-rate` is measured over, and the longest wait for an answer (seconds).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = Pace::default().window.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub min_rate_window: u64,
}

/// `image` arguments.
#[derive(Debug, Clone, Args)]
pub struct ImageArgs {
    /// Images: `registry/repo:tag`, `registry/repo@sha256:…`, `docker-archive:PATH`,
    /// `oci-archive:PATH[:TAG]`, `oci:DIR[:TAG]`.
    #[arg(required = true, value_name = "REF")]
    pub refs: Vec<String>,
    /// Layers of one image pulled and scanned at the same time.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub layer_jobs: usize,
    #[command(flatten)]
    pub access: RegistryArgs,
    #[command(flatten)]
    pub scan: ScanArgs,
}

/// `staged` arguments.
#[derive(Debug, Clone, Args)]
pub struct StagedArgs {
    /// The repository (default: the one holding the current directory).
    #[arg(value_name = "REPO")]
    pub repo: Option<PathBuf>,
    /// Scan these files (paths as the pre-commit framework passes them): a file with staged
    /// changes is scanned for the lines it adds, any other file in full from the working tree.
    #[arg(long, num_args = 0.., value_name = "FILE")]
    pub files: Option<Vec<PathBuf>>,
    #[command(flatten)]
    pub scan: ScanArgs,
}

/// `pre-push` arguments: git runs the hook as `pre-push REMOTE URL` with the refs on stdin.
#[derive(Debug, Clone, Args)]
pub struct PrePushArgs {
    /// The remote's name, as git passes it.
    pub remote: Option<String>,
    /// The remote's URL, as git passes it (unused).
    pub url: Option<String>,
    #[command(flatten)]
    pub scan: ScanArgs,
}

/// `pre-receive` arguments. Everything comes from the server: the hook script that runs it and
/// its environment, never the pushed commits.
#[derive(Debug, Clone, Args)]
pub struct PreReceiveArgs {
    /// Honour `git push -o leakhound.skip` (logged with the pusher). Off unless the administrator
    /// turns it on (here, or `allow_push_option_bypass = true` in the server config's `[server]`).
    #[arg(long, env = "LEAKHOUND_ALLOW_PUSH_OPTION_BYPASS")]
    pub allow_push_option_bypass: bool,
    /// What an internal error (a corrupt object, unreadable config) does to the push [default:
    /// the server config's `[server] on_error`, else reject].
    #[arg(long, value_enum, env = "LEAKHOUND_ON_ERROR")]
    pub on_error: Option<OnError>,
    /// The longest a check may take (seconds, fractions allowed; 0: no limit); a check that
    /// runs longer is an internal error, so a hook never holds a push forever [default: the
    /// server config's `[server] timeout`, else 60].
    #[arg(long, value_name = "SECONDS", env = "LEAKHOUND_TIMEOUT", value_parser = parse_seconds)]
    pub timeout: Option<std::time::Duration>,
    #[command(flatten)]
    pub scan: ScanArgs,
}

/// The pre-receive hook's answer when it cannot check a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Refuse the push (the default: an unchecked push never slips through).
    Reject,
    /// Let the push in, saying it was not checked.
    Accept,
}

/// Parses `2024-05-01`, `2024-05-01T10:00:00Z`, `2024-05-01T10:00:00+02:00` or `@1714557600`
/// into seconds since the epoch (UTC unless an offset is given).
pub fn parse_date(text: &str) -> Result<i64, String> {
    let bad = || format!("invalid date {text:?}: use 2024-05-01, 2024-05-01T10:00:00Z or @SECONDS");
    let text = text.trim();
    if let Some(secs) = text.strip_prefix('@') {
        return secs.parse().map_err(|_| bad());
    }
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    let (date, time) = text.split_once(['T', ' ']).unwrap_or((text, ""));
    let mut parts = date.splitn(3, '-');
    let (Some(year), Some(month), Some(day)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let (year, month, day) = (num(year)?, num(month)?, num(day)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let (clock, offset) = match time.find(['Z', 'z', '+', '-']) {
        Some(i) => (&time[..i], &time[i..]),
        None => (time, ""),
    };
    let mut secs = 0;
    if !clock.is_empty() {
        let mut hms = clock.split(':');
        for unit in [3600, 60, 1] {
            if let Some(v) = hms.next() {
                secs += num(v.split('.').next().unwrap_or(v))? * unit;
            }
        }
    }
    let offset = match offset {
        "" | "Z" | "z" => 0,
        zone => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (hours, minutes) = zone[1..].split_once(':').unwrap_or((&zone[1..], "0"));
            sign * (num(hours)? * 3600 + num(minutes)? * 60)
        }
    };
    // Days from the civil date (H. Hinnant), the inverse of `report::utc_timestamp`.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + secs - offset)
}

/// `install-hooks` arguments.
#[derive(Debug, Clone, Args)]
pub struct InstallHooksArgs {
    /// The repository (default: the one holding the current directory).
    #[arg(value_name = "REPO")]
    pub repo: Option<PathBuf>,
    /// Install the server-side `pre-receive` hook (into a bare repository a server pushes to)
    /// instead of the client's `pre-commit` and `pre-push`.
    #[arg(long)]
    pub server: bool,
}

/// `baseline` arguments.
#[derive(Debug, Clone, Args)]
pub struct BaselineArgs {
    /// Where to write the baseline (a JSON report).
    #[arg(long, short = 'o', value_name = "PATH", default_value = ".leakhound-baseline.json")]
    pub output: PathBuf,
    /// The scan to record, as you would run it: `dir .`, `git . --branch main`.
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub scan: Vec<std::ffi::OsString>,
}

/// `sweep` arguments.
#[derive(Debug, Clone, Args)]
#[allow(clippy::struct_excessive_bools)] // command-line switches
pub struct SweepArgs {
    /// The registry: `https://host[:port]`, or `http://host[:port]` or a bare `host:port` with
    /// `--insecure-registry`.
    #[arg(value_name = "REGISTRY")]
    pub registry: String,
    /// Enumerate through Harbor's REST API v2.0 (projects, repositories, artifacts, push times)
    /// instead of `/v2/_catalog`.
    #[arg(long)]
    pub harbor: bool,
    /// Only this project (repeatable); for a distribution registry, the first path component.
    #[arg(long = "project", value_name = "NAME")]
    pub projects: Vec<String>,
    /// Only repositories whose full name matches this glob (`team/*`; repeatable).
    #[arg(long = "repository", value_name = "GLOB")]
    pub repositories: Vec<String>,
    /// Only tags matching this glob (`v*`; repeatable).
    #[arg(long = "tag", value_name = "GLOB")]
    pub tags: Vec<String>,
    /// Only artifacts pushed since then (Harbor only): `2024-05-01`, `2024-05-01T12:00:00Z`, or
    /// `36h`, `7d`, `2w` back from now.
    #[arg(long, value_name = "WHEN", requires = "harbor")]
    pub pushed_since: Option<String>,
    /// The layer cache (`SQLite`, created when missing): layers scanned by an earlier sweep with
    /// the same rules are not pulled again.
    #[arg(long, value_name = "PATH")]
    pub cache: Option<PathBuf>,
    /// Do this job's share of a sweep split N ways (`0/3`, `1/3`, `2/3`; I counts from 0); the
    /// report is then a shard report for `leakhound merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::sweep::shard::Shard>,
    /// Layers (and manifests) pulled and scanned at the same time.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub concurrency: usize,
    /// Only list what would be swept (one line per tag or artifact), scan nothing.
    #[arg(long)]
    pub list: bool,
    /// Page size of the listing requests.
    #[arg(long, value_name = "N", default_value_t = 100, hide = true)]
    pub page_size: u64,
    #[command(flatten)]
    pub access: RegistryArgs,
    #[command(flatten)]
    pub scan: ScanArgs,
}

/// `serve` arguments.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The registry Harbor pushes to: `https://host[:port]`, or `http://host[:port]` or a bare
    /// `host:port` with `--insecure-registry`.
    #[arg(value_name = "REGISTRY")]
    pub registry: String,
    /// Where to listen for webhooks, `/healthz` and `/metrics`.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The layer cache and the queue of pushed artifacts (one `SQLite` file, created when
    /// missing): an accepted push is scanned even after a restart.
    #[arg(long, value_name = "PATH")]
    pub cache: PathBuf,
    /// One report per artifact goes here: `REPOSITORY/sha256-DIGEST.json`, plus the format of
    /// `--format` when it is not text or JSON.
    #[arg(long, value_name = "DIR")]
    pub results: PathBuf,
    /// POST a message here when an artifact has findings (Slack and Mattermost incoming webhooks
    /// take its `{"text": ...}` body); secrets redacted.
    #[arg(long, value_name = "URL")]
    pub notify: Option<String>,
    /// Accept webhooks without an `Authorization` header; otherwise the header must equal
    /// `LEAKHOUND_WEBHOOK_SECRET` (Harbor's "Auth Header" of the webhook policy).
    #[arg(long)]
    pub unauthenticated: bool,
    /// Artifacts scanned at the same time.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Layers (and manifests) of one artifact pulled and scanned at the same time.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub concurrency: usize,
    /// Artifacts waiting at most; a push beyond that is refused with 429 (Harbor retries it).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_queue: u64,
    /// The largest webhook body accepted; larger ones are refused with 413 unread.
    #[arg(long, value_name = "SIZE", default_value = "1M", value_parser = parse_size)]
    pub max_body: u64,
    /// Scans of one artifact before it is reported as failed (a registry that is down).
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub attempts: u32,
    /// The wait before an artifact's second scan (seconds); it doubles on every retry, up to 30 s.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_seconds)]
    pub backoff: std::time::Duration,
    #[command(flatten)]
    pub access: RegistryArgs,
    #[command(flatten)]
    pub scan: ScanArgs,
}

/// `gitlab` arguments. The token comes from `LEAKHOUND_GITLAB_TOKEN` (an access token with the
/// `read_api` and `read_repository` scopes), never from the command line.
#[derive(Debug, Clone, Args)]
#[allow(clippy::struct_excessive_bools)] // command-line switches
pub struct GitlabArgs {
    /// The instance: `https://gitlab.example.com[:port]`, with its sub-path when it is served
    /// under one (`https://example.com/gitlab`); `http://` needs `--insecure`.
    #[arg(value_name = "URL")]
    pub url: String,
    /// Only the projects of this group and of its subgroups (its full path: `team/backend`).
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Without `--group`: only the projects the token's user is a member of, instead of every
    /// project the token can see (on gitlab.com, give one of the two).
    #[arg(long, conflicts_with = "group")]
    pub membership: bool,
    /// Also scan archived projects.
    #[arg(long)]
    pub include_archived: bool,
    /// Also scan forks (by default a fork is left to the scan of the project it came from).
    #[arg(long)]
    pub include_forks: bool,
    /// Only projects with activity since DATE (GitLab's `last_activity_after`): `2024-05-01`,
    /// RFC 3339, or `@SECONDS`. Their whole history is scanned.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub since: Option<i64>,
    /// Where the bare mirrors live (`DIR/group/project.git`), created when missing and reused:
    /// the next run fetches only what is new.
    #[arg(long, value_name = "DIR")]
    pub workdir: PathBuf,
    /// The history cache (`SQLite`; one file for every project): blobs and commits scanned by
    /// an earlier run with the same rules are not read again, and their findings still come out.
    #[arg(long, value_name = "PATH")]
    pub cache: Option<PathBuf>,
    /// Do this job's share of the projects, split N ways (`0/3`, `1/3`, `2/3`); the report is
    /// then a shard report for `leakhound merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::sweep::shard::Shard>,
    /// Allow plain HTTP, or an untrusted certificate, for the instance (API and git): the token
    /// then travels as the connection does.
    #[arg(long)]
    pub insecure: bool,
    /// The most pages of 100 projects listed; an API that names more next pages is an error.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pages: u64,
    /// Retries of an API answer 429 (as long as `Retry-After` says) or 5xx before it fails.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,
    /// Projects cloned or fetched at once. Their scans run one at a time, each on every
    /// `--threads` worker, so memory holds one project's scan however many are fetched.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    #[command(flatten)]
    pub scan: ScanArgs,
}

/// `merge` arguments.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// The shard reports (`sweep --shard I/N --report FILE`, or `gitlab --shard I/N --report
    /// FILE`), every shard of one run.
    #[arg(required = true, value_name = "REPORT")]
    pub reports: Vec<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
    /// The rules the sweep used (`--config` of `sweep`); merge checks they are the same.
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Shards do not verify: merge does, once per distinct secret across every shard.
    #[command(flatten)]
    pub verify: VerifyArgs,
}

/// Parses `10M`, `512K`, `1G` or a plain byte count.
///
/// ```
/// use leakhound::cli::parse_size;
/// assert_eq!(parse_size("10M"), Ok(10 << 20));
/// assert!(parse_size("ten").is_err());
/// ```
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

/// Parses a number of seconds (`30`, `0.5`) into a duration, as [`seconds`] checks it.
pub fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    let value =
        text.trim().parse().map_err(|_| format!("invalid seconds {text:?}: use 30 or 0.5"))?;
    seconds(value)
}

/// `value` seconds as a duration: finite and not negative.
pub fn seconds(value: f64) -> Result<std::time::Duration, String> {
    std::time::Duration::try_from_secs_f64(value)
        .map_err(|_| format!("invalid seconds {value}: give a number of seconds, 0 or more"))
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

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(parse_date("2024-02-29T23:59:59Z"), Ok(1_709_251_199));
        assert_eq!(parse_date("2024-03-01T00:59:59+01:00"), Ok(1_709_251_199));
        assert_eq!(parse_date("@1709251199"), Ok(1_709_251_199));
        assert!(parse_date("yesterday").is_err());
        assert!(parse_date("2024-13-01").is_err());
    }
}
