//! `leakhound gitlab`: every repository of a GitLab (#20). Lists the projects through the REST
//! API ([`crate::source::gitlab`]), keeps a bare mirror of each in `--workdir`
//! ([`crate::source::git::mirror`]), scans each as `leakhound git --cache` does
//! ([`history_report_with`]), and writes one report with the project on every finding (and in
//! its fingerprint), or, with `--shard`, a shard document for `merge` ([`crate::sweep::gitlab`]).
//! `--jobs` projects are fetched at once while the fetched ones are scanned one at a time; after
//! a complete listing, the mirrors of projects it no longer names are removed.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use reqwest::header::{HeaderName, HeaderValue};

use super::git::{History, history_report_with};
use super::{Outcome, configs, finish_scan};
use crate::cli::GitlabArgs;
use crate::engine::Engine;
use crate::error::ScanError;
use crate::finding::repository_fingerprint;
use crate::report::json::Tool;
use crate::report::{Report, RuleSummary};
use crate::rules::load::build_rule_set;
use crate::source::git::mirror::{self, Fetched, Remote};
use crate::source::git::{self, Selection};
use crate::source::gitlab::{self, Instance, Listing, Project, Query};
use crate::source::http::{HttpOptions, Insecure, Pace, RegistryHttp, Retry};
use crate::sweep::gitlab::{GitlabDocument, KIND, VERSION, combine};
use crate::sweep::shard::Shard;

/// The environment variable that holds the token.
pub const TOKEN_VARIABLE: &str = "LEAKHOUND_GITLAB_TOKEN";

/// Lists, mirrors and scans, then reports (or writes the shard document).
pub fn run(args: &GitlabArgs) -> Result<Outcome> {
    if args.shard.is_some() && args.scan.verify.verify {
        bail!(super::merge::SHARDS_DO_NOT_VERIFY);
    }
    let instance = Instance::parse(&args.url, args.insecure).map_err(anyhow::Error::msg)?;
    let base = instance.base();
    // Trimmed once, so a token read from a file with its newline works for the API and git alike.
    let token =
        std::env::var(TOKEN_VARIABLE).ok().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    let set = build_rule_set(&configs(&args.scan.rules, None)?)?;
    let rules = set.digest();
    // Built here too so a bad config fails before the first clone, not after it.
    let engine = Engine::new(set)?;
    let summaries: Vec<RuleSummary> =
        (0..engine.len()).map(|i| RuleSummary::of(&engine.rule(i).syntax)).collect();
    let target = match &args.group {
        Some(group) => format!("gitlab {base} --group {group}"),
        None => format!("gitlab {base}"),
    };
    let timer = std::time::Instant::now();
    let mut document = GitlabDocument {
        kind: KIND.into(),
        version: VERSION,
        tool: Tool { name: "leakhound".into(), version: env!("CARGO_PKG_VERSION").into() },
        instance: base.clone(),
        target: target.clone(),
        shard: args.shard.unwrap_or(Shard::ALL),
        rules,
        started: crate::report::now(),
        finished: 0,
        projects: Vec::new(),
        findings: Vec::new(),
        errors: Vec::new(),
        skipped: Vec::new(),
        stats: crate::report::Stats::default(),
        config: engine.config().cloned(),
    };
    let listing = list(args, &instance, token.as_deref())
        .unwrap_or_else(|message| Listing { error: Some(message), ..Listing::default() });
    if let Some(message) = &listing.error {
        document.errors.push(ScanError::new(target, message.clone()));
    }
    for path in &listing.no_repository {
        document.skipped.push(crate::finding::Skipped::new(
            path.clone(),
            "the project has no repository (its repository feature is off)",
        ));
    }
    let mut counts = scan_projects(args, &base, token.as_deref(), &listing, &mut document)?;
    counts.pruned = prune(args, &listing, &mut document);
    document.finished = crate::report::now();
    document.stats.elapsed_ms = timer.elapsed().as_millis() as u64;
    if !args.scan.output.quiet {
        eprintln!("{}", counts.line(&document));
    }
    if args.shard.is_some() {
        return write_shard(&document, args);
    }
    let report = combine(std::slice::from_ref(&document), summaries).map_err(anyhow::Error::msg)?;
    finish_scan(&report, &args.scan)
}

/// Mirrors and scans this shard's projects of `listing` into `document`, each failure named
/// with its project while the rest goes on.
fn scan_projects(
    args: &GitlabArgs,
    base: &str,
    token: Option<&str>,
    listing: &Listing,
    document: &mut GitlabDocument,
) -> Result<Counts> {
    std::fs::create_dir_all(&args.workdir)
        .with_context(|| format!("cannot create --workdir {}", args.workdir.display()))?;
    let ca_file = ca_file(args)?;
    // GitLab takes an access token over git's HTTP as the password of any user name.
    let basic =
        token.map(|t| crate::engine::decode::base64_encode(format!("oauth2:{t}").as_bytes()));
    let header = basic.as_ref().map(|b| format!("Authorization: Basic {b}"));
    let hide: Vec<&str> = [token, basic.as_deref()].into_iter().flatten().collect();
    let scope = format!("{base}/");
    let mut counts =
        Counts { kept: listing.projects.len(), left_out: listing.left_out, ..Counts::default() };
    let shard = document.shard;
    let owned: Vec<&Project> =
        listing.projects.iter().filter(|p| shard.owns(&p.id.to_string())).collect();
    // Each project's remote is this one with its own URL.
    let instance = Remote {
        url: "",
        header: header.as_deref(),
        scope: &scope,
        ca_file: ca_file.as_deref(),
        insecure_tls: args.insecure && base.starts_with("https://"),
        hide: &hide,
    };
    for (project, result) in owned.iter().zip(mirror_and_scan(&owned, base, instance, args)) {
        match result {
            Ok((report, fetched)) => {
                match fetched {
                    Fetched::Cloned => counts.cloned += 1,
                    Fetched::Updated => counts.fetched += 1,
                }
                absorb(document, &project.path, report);
            }
            Err(message) => {
                counts.failed += 1;
                document.errors.push(ScanError::new(project.path.clone(), message));
            }
        }
        document.projects.push(project.path.clone());
    }
    Ok(counts)
}

/// Mirrors and scans `projects`, several fetched at once: each one's report and whether it was
/// cloned or fetched, or why not, in the order of `projects` (so reports do not depend on which
/// fetch ended first). `instance` is the remote of every project but for its URL.
fn mirror_and_scan(
    projects: &[&Project],
    base: &str,
    instance: Remote<'_>,
    args: &GitlabArgs,
) -> Vec<Result<(Report, Fetched), String>> {
    let mut results: Vec<Option<Result<(Report, Fetched), String>>> =
        projects.iter().map(|_| None).collect();
    // `--jobs` threads clone or fetch (network-bound, in git subprocesses) while this thread
    // scans the mirrors one at a time as they are ready (CPU-bound, on the rayon pool): one
    // scan's memory at a time, and the history cache has one writer. The channel holds at most
    // `--jobs` mirrors waiting, so fetchers stay that far ahead of the scans.
    let jobs = usize::from(args.jobs).clamp(1, projects.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (ready, mirrors) = std::sync::mpsc::sync_channel(jobs);
    std::thread::scope(|threads| {
        for _ in 0..jobs {
            let (ready, next) = (ready.clone(), &next);
            threads.spawn(move || {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(project) = projects.get(index) else { break };
                    let remote = Remote { url: &project.clone_url, ..instance };
                    let mirrored = mirror_project(project, base, &remote, args);
                    if ready.send((index, mirrored)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(ready);
        for (index, mirrored) in mirrors {
            // The mirror stays held until its scan is done.
            results[index] = Some(mirrored.and_then(|(dir, fetched, _held)| {
                Ok((scan_mirror(&dir, &projects[index].path, args)?, fetched))
            }));
        }
    });
    // A fetcher that panicked would have ended the scope with its panic.
    results.into_iter().map(|r| r.expect("the fetchers send every project once")).collect()
}

/// How the projects went, for the summary line.
#[derive(Debug, Default)]
struct Counts {
    kept: usize,
    left_out: u64,
    cloned: usize,
    fetched: usize,
    failed: usize,
    /// Mirrors removed because their projects are no longer listed.
    pruned: usize,
}

impl Counts {
    fn line(&self, document: &GitlabDocument) -> String {
        format!(
            "gitlab{}: {} projects to scan ({} forks or archived projects left out), {} scanned \
             here: {} cloned, {} fetched, {} failed; {} stale mirrors removed",
            if document.shard == Shard::ALL {
                String::new()
            } else {
                format!(" shard {}", document.shard)
            },
            self.kept,
            self.left_out,
            document.projects.len(),
            self.cloned,
            self.fetched,
            self.failed,
            self.pruned
        )
    }
}

/// Lists the projects through the API.
fn list(args: &GitlabArgs, instance: &Instance, token: Option<&str>) -> Result<Listing, String> {
    let ca_certs =
        super::image::ca_certs(&args.scan.verify.ca_cert).map_err(|e| format!("{e:#}"))?;
    let options = HttpOptions {
        insecure: Insecure { named_registries: args.insecure, hosts: Vec::new() },
        ca_cert: (!ca_certs.is_empty()).then(|| ca_certs.join(&b'\n')),
        credentials: None,
        retry: Retry::with_retries(args.retries),
        pace: Pace::default(),
        notify: super::image::notify(args.scan.output.quiet),
    };
    let mut http = RegistryHttp::new(&instance.origin, &options).map_err(|e| e.to_string())?;
    if let Some(token) = token {
        let value = HeaderValue::from_str(token)
            .map_err(|_| format!("{TOKEN_VARIABLE} holds characters no HTTP header can carry"))?;
        http = http.with_header(HeaderName::from_static("private-token"), value);
    }
    let query = Query {
        root: instance.root.clone(),
        group: args.group.clone(),
        membership: args.membership,
        include_archived: args.include_archived,
        include_forks: args.include_forks,
        since: args
            .since
            .map(|s| format!("{}Z", crate::report::utc_timestamp(u64::try_from(s).unwrap_or(0)))),
        max_pages: args.max_pages,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the network runtime: {e}"))?;
    runtime.block_on(gitlab::list(&http, &query))
}

/// A project's mirror: where it is, whether it was cloned or fetched, and the lock this run holds
/// on it ([`mirror::hold`]).
type Mirrored = (PathBuf, Fetched, std::fs::File);

/// Clones or fetches one project's mirror, held by this run.
/// The clone URL must be on the instance (under its sub-path too): the token goes nowhere else.
fn mirror_project(
    project: &Project,
    base: &str,
    remote: &Remote<'_>,
    args: &GitlabArgs,
) -> Result<Mirrored, String> {
    if !project.clone_url.starts_with(&format!("{base}/")) {
        return Err(format!(
            "its clone URL {} is not on {base}: the token is sent to the instance only",
            project.clone_url
        ));
    }
    let dir = mirror::mirror_path(&args.workdir, &project.path)?;
    let held = mirror::hold(&dir)?;
    let fetched = mirror::update(&dir, remote)?;
    Ok((dir, fetched, held))
}

/// Scans the mirror `dir` of project `path`: its report before triage.
fn scan_mirror(dir: &Path, path: &str, args: &GitlabArgs) -> Result<Report, String> {
    let repo = git::open(Some(dir)).map_err(|e| e.message)?;
    let history = History {
        selection: Some(Selection::default()),
        all_objects: false,
        cache: args.cache.as_deref(),
    };
    history_report_with(&repo, history, &args.scan, path.to_owned(), |_| {})
        .map_err(|e| format!("{e:#}"))
}

/// Adds one project's report to the document: its findings with the project named and in
/// their fingerprints (a baseline entry of one project must not hide another's), its problems
/// named with the project.
fn absorb(document: &mut GitlabDocument, project: &str, report: Report) {
    document.findings.extend(report.findings.into_iter().map(|f| crate::finding::Finding {
        repository: Some(project.to_owned()),
        fingerprint: repository_fingerprint(project, &f.fingerprint),
        ..f
    }));
    document.errors.extend(report.errors.into_iter().map(|mut e| {
        e.origin = format!("{project}: {}", e.origin);
        e
    }));
    document.skipped.extend(report.skipped.into_iter().map(|mut s| {
        s.origin = format!("{project}: {}", s.origin);
        s
    }));
    document.stats.add(&report.stats);
}

/// Removes the mirrors of projects the listing no longer names (deleted, moved, no longer
/// visible to the token, or now left out as archived or a fork): they would otherwise fill the
/// work directory forever. Only after a complete listing without `--since`: an incomplete one
/// does not say a project is gone, and `--since` leaves out projects that are still there,
/// whose mirrors save a full clone when they become active again. A removed mirror is only a
/// copy of what GitLab held; each removal is said on stderr. Returns how many were removed; a
/// removal that fails is an error of the run.
fn prune(args: &GitlabArgs, listing: &Listing, document: &mut GitlabDocument) -> usize {
    let say = |line: &str| {
        if !args.scan.output.quiet {
            eprintln!("gitlab: {line}");
        }
    };
    if listing.error.is_some() || args.since.is_some() {
        say("stale mirrors kept: the listing was incomplete or limited by --since");
        return 0;
    }
    let keep: BTreeSet<PathBuf> = listing
        .projects
        .iter()
        .filter_map(|p| mirror::mirror_path(&args.workdir, &p.path).ok())
        .collect();
    match mirror::prune(&args.workdir, args.group.as_deref(), &keep) {
        Ok(removed) => {
            for path in &removed {
                say(&format!("removed the mirror of {path}: the project is no longer listed"));
            }
            removed.len()
        }
        Err(message) => {
            document.errors.push(ScanError::new(args.workdir.display().to_string(), message));
            0
        }
    }
}

/// The CA bundle git is given: the one `--ca-cert`, or several joined into one file in the work
/// directory (git takes a single file).
fn ca_file(args: &GitlabArgs) -> Result<Option<PathBuf>> {
    match args.scan.verify.ca_cert.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(std::path::absolute(one)?)),
        many => {
            let joined = super::image::ca_certs(many)?.join(&b'\n');
            // A leading dot: no project's mirror can have this name.
            let path = std::path::absolute(args.workdir.join(".ca-certificates.pem"))?;
            std::fs::write(&path, joined)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(Some(path))
        }
    }
}

/// Writes the shard document where `--report` says (else stdout); exit 2 when anything was not
/// scanned, else 0 (findings are counted by `merge`).
fn write_shard(document: &GitlabDocument, args: &GitlabArgs) -> Result<Outcome> {
    let mut text = serde_json::to_vec_pretty(document)?;
    text.push(b'\n');
    match &args.scan.output.report {
        Some(path) => std::fs::write(path, &text)
            .with_context(|| format!("cannot write the shard report to {}", path.display()))?,
        None => std::io::stdout().lock().write_all(&text)?,
    }
    Ok(if document.errors.is_empty() { Outcome::Clean } else { Outcome::Incomplete })
}
