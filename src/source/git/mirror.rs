//! Bare mirrors of remote repositories in a work directory, kept with the real `git` CLI (#20:
//! `leakhound gitlab` clones each project once, then fetches only what is new). libgit2 here
//! has no network transports; git's own HTTP stack is what a GitLab is used to.
//!
//! - A mirror holds the remote's branches and tags (`+refs/heads/*`, `+refs/tags/*`, pruned),
//!   nothing else; no remote is recorded in its config and no `FETCH_HEAD` is written, so the
//!   work directory holds no URL and no credential.
//! - A first clone goes into `NAME.git.partial` and is renamed to `NAME.git` once the fetch is
//!   complete, so an interrupted clone is never taken for a mirror: the next run removes the
//!   leftover and clones again. A fetch into an existing mirror that fails leaves its refs as
//!   they were (git updates refs only after the objects arrived), and the caller scans nothing.
//! - [`prune`] removes the mirrors (and partial clones) a caller no longer wants, and the
//!   directories they leave empty; it knows the layout [`mirror_path`] makes, nothing of why.
//! - Runs that share a work directory (two shards on one host, a night's run still going when
//!   the next starts) take turns per mirror: [`hold`] locks `NAME.git.lock` while a run clones,
//!   fetches and scans it, so one run never removes another's clone in progress as a leftover,
//!   and [`prune`] leaves a held mirror alone.
//! - Credentials reach git only through its environment (`GIT_CONFIG_COUNT`/`KEY`/`VALUE`: an
//!   `http.<url>.extraHeader` limited to the instance's URL), never argv, a config file or a
//!   URL; prompts, credential helpers and redirects are off, and what git says on failure is
//!   shown with the secrets given in [`Remote::hide`] blanked out.
//!
//! It must not depend on rules, the engine or reports.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where a mirror's remote is and how to reach it.
#[derive(Clone, Copy)]
pub struct Remote<'a> {
    /// The repository's URL (`https://gitlab.example.com/team/app.git`), without credentials.
    pub url: &'a str,
    /// A header sent with git's requests (`Authorization: Basic …`), only to URLs starting
    /// with [`Remote::scope`].
    pub header: Option<&'a str>,
    /// The URL prefix the header is limited to (the instance's base URL and `/`).
    pub scope: &'a str,
    /// A CA bundle (PEM) git trusts instead of its default.
    pub ca_file: Option<&'a Path>,
    /// Do not verify TLS certificates (the user named the instance insecure).
    pub insecure_tls: bool,
    /// Secrets never to show, should git echo them in an error.
    pub hide: &'a [&'a str],
}

impl std::fmt::Debug for Remote<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("url", &self.url).finish_non_exhaustive()
    }
}

/// What [`update`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// A new mirror was cloned.
    Cloned,
    /// An existing mirror fetched what was new.
    Updated,
}

/// The mirror of the repository at `path` (`group/subgroup/project`) under `workdir`:
/// `workdir/group/subgroup/project.git`. Every component must be a plain name, so no path
/// from an API answer can point outside the work directory.
pub fn mirror_path(workdir: &Path, path: &str) -> Result<PathBuf, String> {
    let parts: Vec<&str> = path.split('/').collect();
    let plain = |part: &&str| {
        !part.is_empty()
            && !part.starts_with('.')
            && part.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    if !parts.iter().all(plain) {
        return Err(format!("{path:?} is not a project path this work directory can hold"));
    }
    let mut out = workdir.to_path_buf();
    for part in &parts[..parts.len() - 1] {
        out.push(part);
    }
    out.push(format!("{}.git", parts[parts.len() - 1]));
    Ok(out)
}

/// The git config key set in every mirror [`update`] makes: [`prune`] removes only repositories
/// that carry it, so a work directory pointed at a folder of the user's own bare repositories
/// (or holding mirrors of an older leakhound) loses none of them.
const MARK: &str = "leakhound.mirror";

/// True when the repository at `dir` is a mirror [`update`] made (its config has [`MARK`]).
fn is_ours(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("config"))
        .is_ok_and(|text| text.lines().any(|l| l.trim().eq_ignore_ascii_case("[leakhound]")))
}

/// What a failed file operation on `path` says: `cannot WHAT PATH: ERROR`.
fn cannot(what: &str, path: &Path, e: &std::io::Error) -> String {
    format!("cannot {what} {}: {e}", path.display())
}

/// `dir`'s name with `suffix` added, beside it (`NAME.git.lock`, `NAME.git.partial`).
fn beside(dir: &Path, suffix: &str) -> PathBuf {
    let mut path = dir.as_os_str().to_owned();
    path.push(suffix);
    PathBuf::from(path)
}

/// The lock file of the mirror `dir`: `NAME.git.lock` beside it.
fn lock_path(dir: &Path) -> PathBuf {
    beside(dir, ".lock")
}

/// Locks the mirror `dir` for this run until the returned file is dropped; an error when
/// another run holds it.
pub fn hold(dir: &Path) -> Result<std::fs::File, String> {
    let path = lock_path(dir);
    let io = |what: &str, e: std::io::Error| cannot(what, &path, &e);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io("create the directory of", e))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io("open", e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "another leakhound run is mirroring or scanning this project now (it holds {}), so \
             this run did not scan it; runs that share a --workdir take turns per project",
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(io("lock", e)),
    }
}

/// Removes every mirror (complete or partial) under `workdir/namespace` (the whole work
/// directory when `namespace` is `None`) that is not in `keep`, and the directories left empty;
/// returns the project paths (`group/project`) of the mirrors removed, sorted. Entries whose
/// names start with a dot are not mirrors ([`mirror_path`] never makes one) and stay, and so do
/// repositories that leakhound did not make, and mirrors another run holds ([`hold`]).
pub fn prune(
    workdir: &Path,
    namespace: Option<&str>,
    keep: &std::collections::BTreeSet<PathBuf>,
) -> Result<Vec<String>, String> {
    let start = match namespace {
        Some(namespace) => {
            let probe = mirror_path(workdir, namespace)?;
            probe.with_extension("")
        }
        None => workdir.to_path_buf(),
    };
    let mut removed = Vec::new();
    if start.is_dir() {
        prune_dir(workdir, &start, keep, &mut removed)?;
    }
    removed.sort();
    // A mirror and the partial clone beside it are one project.
    removed.dedup();
    Ok(removed)
}

fn prune_dir(
    workdir: &Path,
    dir: &Path,
    keep: &std::collections::BTreeSet<PathBuf>,
    removed: &mut Vec<String>,
) -> Result<(), String> {
    let io = |path: &Path, e: std::io::Error| cannot("prune", path, &e);
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let path = entry.map_err(|e| io(dir, e))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with('.') || !path.is_dir() || path.is_symlink() {
            continue;
        }
        let project = name.strip_suffix(".git.partial").or_else(|| name.strip_suffix(".git"));
        let Some(project) = project else {
            prune_dir(workdir, &path, keep, removed)?;
            continue;
        };
        let mirror = path.with_file_name(format!("{project}.git"));
        if keep.contains(&mirror) || !is_ours(&path) {
            continue;
        }
        // Another run that still lists the project is at work on it.
        let Ok(_held) = hold(&mirror) else { continue };
        std::fs::remove_dir_all(&path).map_err(|e| io(&path, e))?;
        let lock = lock_path(&mirror);
        std::fs::remove_file(&lock).map_err(|e| io(&lock, e))?;
        let parent = path.parent().and_then(|p| p.strip_prefix(workdir).ok());
        let group = parent.map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        removed.push(if group.is_empty() {
            project.to_owned()
        } else {
            format!("{group}/{project}")
        });
    }
    if dir != workdir && std::fs::read_dir(dir).map_err(|e| io(dir, e))?.next().is_none() {
        std::fs::remove_dir(dir).map_err(|e| io(dir, e))?;
    }
    Ok(())
}

/// Clones `remote` into the bare mirror `dir`, or fetches what is new when `dir` is already
/// one (see the module docs for how an interrupted clone is told apart).
pub fn update(dir: &Path, remote: &Remote<'_>) -> Result<Fetched, String> {
    if dir.join("HEAD").is_file() {
        fetch(dir, remote)?;
        return Ok(Fetched::Updated);
    }
    let partial = beside(dir, ".partial");
    let io = |what: &str, path: &Path, e: std::io::Error| cannot(what, path, &e);
    if partial.exists() {
        // What an interrupted run left: never scanned, cloned again.
        std::fs::remove_dir_all(&partial).map_err(|e| io("remove", &partial, e))?;
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io("create", parent, e))?;
    }
    let mut init = git(remote);
    init.args(["init", "--bare", "--quiet"]).arg(&partial);
    run(init, remote, "cannot create a mirror")?;
    let mut mark = git(remote);
    mark.arg("--git-dir").arg(&partial).args(["config", MARK, "true"]);
    run(mark, remote, "cannot create a mirror")?;
    if let Err(e) = fetch(&partial, remote) {
        // Nothing to resume from: git keeps no partial pack of an interrupted fetch.
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, dir).map_err(|e| io("complete the mirror", dir, e))?;
    Ok(Fetched::Cloned)
}

/// Fetches the remote's branches and tags into the bare repository `dir`, pruning the refs the
/// remote no longer has.
fn fetch(dir: &Path, remote: &Remote<'_>) -> Result<(), String> {
    let mut fetch = git(remote);
    fetch
        .arg("--git-dir")
        .arg(dir)
        .args(["fetch", "--quiet", "--prune", "--no-tags", "--no-write-fetch-head"])
        .arg(remote.url)
        .args(["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]);
    run(fetch, remote, &format!("cannot fetch {}", remote.url))
}

/// `git` with the settings of the module docs in its environment.
fn git(remote: &Remote<'_>) -> Command {
    let mut cmd = Command::new("git");
    for name in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_ASKPASS",
        "SSH_ASKPASS",
        "GIT_TRACE",
        "GIT_TRACE_CURL",
        "GIT_TRACE_PACKET",
        "GIT_CURL_VERBOSE",
        "GIT_SSL_CAINFO",
        "GIT_SSL_NO_VERIFY",
    ] {
        cmd.env_remove(name);
    }
    let mut config: Vec<(String, String)> = vec![
        // An empty value resets the list: no helper stores or offers credentials.
        ("credential.helper".into(), String::new()),
        ("core.askPass".into(), String::new()),
        // The header must not follow a redirect to another host.
        ("http.followRedirects".into(), "false".into()),
        // A stalled transfer fails (under 1 KB/s for a minute) instead of hanging the run.
        ("http.lowSpeedLimit".into(), "1000".into()),
        ("http.lowSpeedTime".into(), "60".into()),
    ];
    if let Some(header) = remote.header {
        config.push((format!("http.{}.extraHeader", remote.scope), header.to_owned()));
    }
    // git's own variables rather than `http.sslCAInfo`: git 2.47 with GnuTLS kept its default
    // bundle when given that key through the environment or `-c` (measured), not this variable.
    if let Some(ca) = remote.ca_file {
        cmd.env("GIT_SSL_CAINFO", ca);
    }
    if remote.insecure_tls {
        cmd.env("GIT_SSL_NO_VERIFY", "1");
    }
    cmd.env("GIT_CONFIG_COUNT", config.len().to_string()).env("GIT_TERMINAL_PROMPT", "0");
    for (i, (key, value)) in config.into_iter().enumerate() {
        cmd.env(format!("GIT_CONFIG_KEY_{i}"), key).env(format!("GIT_CONFIG_VALUE_{i}"), value);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs `cmd`; on failure, `what` and the end of git's message, secrets blanked out.
fn run(mut cmd: Command, remote: &Remote<'_>, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{what}: cannot run git: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let mut said = String::from_utf8_lossy(&out.stderr).into_owned();
    for secret in remote.hide.iter().filter(|s| !s.is_empty()) {
        said = said.replace(secret, "*****");
    }
    let lines: Vec<&str> = said.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join("; ");
    Err(format!("{what}: git failed ({}): {tail}", out.status))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mirror another run holds is neither taken by this one nor pruned; once free it is
    /// pruned with its lock file and the directory it leaves empty.
    #[test]
    fn held_mirrors_are_left_to_their_run() {
        let workdir = tempfile::tempdir().expect("tempdir");
        let mirror = mirror_path(workdir.path(), "team/old").expect("path");
        std::fs::create_dir_all(&mirror).expect("mirror");
        std::fs::write(mirror.join("config"), "[leakhound]\n\tmirror = true\n").expect("config");
        let other_run = hold(&mirror).expect("the first hold");
        let again = hold(&mirror).expect_err("a second hold while the first is held");
        assert!(again.contains("another leakhound run"), "{again}");
        let keep = std::collections::BTreeSet::new();
        assert_eq!(prune(workdir.path(), None, &keep), Ok(Vec::new()));
        assert!(mirror.join("config").is_file(), "the held mirror stays");
        drop(other_run);
        assert_eq!(prune(workdir.path(), None, &keep), Ok(vec!["team/old".to_owned()]));
        assert!(!workdir.path().join("team").exists(), "mirror, lock and group directory go");
    }

    #[test]
    fn mirror_paths_stay_inside_the_work_directory() {
        let root = Path::new("/w");
        assert_eq!(
            mirror_path(root, "team/sub/app").as_deref(),
            Ok(Path::new("/w/team/sub/app.git"))
        );
        for bad in ["../etc", "team/../../x", "team//app", "/abs", "team/.git", "a b", ""] {
            assert!(mirror_path(root, bad).is_err(), "{bad}");
        }
    }
}
