//! The results directory's `index.html` (with `--format html`, issue #18): one page over every
//! artifact's report, grouped by project, repository and rule, drawn by the HTML report's own
//! renderer ([`crate::report::html::write_many`]). It is built at startup from the JSON reports
//! on disk and again after each report written, to a temporary name and renamed, so a browser
//! never sees half a page.
//!
//! The page is made from the JSON reports ([`crate::report::json::read`]), the files people can
//! also read, so it shows what they show and nothing they do not: secrets as the files hold them
//! and, when the service redacts, the secret of a file written earlier with `--show-secrets`
//! redacted too. A file that cannot be read is a scan of its own on the page, named with the
//! reason, and is named in the log once.
//!
//! Each report is parsed once and kept (with the file's modification time and size, to see it
//! change); a rebuild lists the directory, parses only what changed, and renders. Measured on
//! 2,000 artifact reports (this crate at opt-level 3, a loaded 2-core machine): with 2 findings
//! each (a 3 MB page) a rebuild that parses every file took 275 ms, one from what is kept
//! 110 ms; with 10 each (20,000 findings, 11 MB) 700 ms and 430 ms. Rendering is the rest, and
//! every rebuild pays it, so the page has a thread of its own: a worker that wrote a report asks
//! for a rebuild and goes on scanning, and asks that come in during a rebuild make one more.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::results::write_atomically;
use crate::error::ScanError;
use crate::finding::{is_redacted, redact};
use crate::report::text::sanitize;
use crate::report::{Options, Report, Stats, hide_secrets, html, json};

/// The page's name in the results directory.
pub const INDEX: &str = "index.html";

/// The longest the index's thread sleeps before looking at the stop flag on its own.
const IDLE: Duration = Duration::from_secs(1);

/// The index of one results directory.
#[derive(Debug)]
pub struct Index {
    dir: PathBuf,
    registry: String,
    show_secrets: bool,
    /// The reports read, by path relative to the directory, in path order (so by repository).
    read: Mutex<BTreeMap<PathBuf, Read>>,
    /// A rebuild was asked for and not begun yet.
    wanted: Mutex<bool>,
    /// Rung when one is asked for, or the service stops.
    rung: Condvar,
}

/// A report as read from its file.
#[derive(Debug)]
struct Read {
    stamp: Stamp,
    report: Report,
    /// The file could not be read: `report` names it and why.
    unreadable: bool,
}

/// What tells a file changed: it is always replaced by a rename, so its time and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

/// What a rebuild put on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Built {
    /// Reports on the page, the unreadable ones included.
    pub reports: usize,
    /// Files that could not be read.
    pub unreadable: usize,
    /// Files parsed for this rebuild (the others were kept from an earlier one).
    pub parsed: usize,
    /// How long the rebuild took.
    pub elapsed: Duration,
}

impl Index {
    /// The index of `dir`, whose reports come from `registry`; secrets shown only when
    /// `show_secrets` (as in the service's reports).
    pub fn new(dir: PathBuf, registry: String, show_secrets: bool) -> Index {
        Index {
            dir,
            registry,
            show_secrets,
            read: Mutex::default(),
            wanted: Mutex::new(false),
            rung: Condvar::new(),
        }
    }

    /// Asks for a rebuild (a report was written): [`Index::keep`]'s thread does it, so a
    /// worker never waits for the page.
    pub fn request(&self) {
        *self.wanted.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.rung.notify_all();
    }

    /// Wakes [`Index::keep`] to see that the service stops.
    pub fn wake(&self) {
        self.rung.notify_all();
    }

    /// The index's thread: rebuilds whenever asked, until `stop`. Asks that come in during a
    /// rebuild make one more, not one each.
    pub fn keep(&self, stop: &AtomicBool) {
        while !stop.load(Ordering::SeqCst) {
            let wanted = self.wanted.lock().unwrap_or_else(PoisonError::into_inner);
            let mut wanted = self
                .rung
                .wait_timeout_while(wanted, IDLE, |w| !*w && !stop.load(Ordering::SeqCst))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            if std::mem::take(&mut *wanted) {
                drop(wanted);
                self.refresh_logged();
            }
        }
    }

    /// Rebuilds once more if a rebuild was asked for since the last one (at shutdown, once the
    /// workers have stopped).
    pub fn settle(&self) {
        if std::mem::take(&mut *self.wanted.lock().unwrap_or_else(PoisonError::into_inner)) {
            self.refresh_logged();
        }
    }

    fn refresh_logged(&self) -> Option<Built> {
        self.refresh().map_err(|e| eprintln!("leakhound: serve: warning: {}", sanitize(&e))).ok()
    }

    /// Rebuilds the page now.
    pub fn refresh(&self) -> Result<Built, String> {
        let mut read = self.read.lock().unwrap_or_else(PoisonError::into_inner);
        self.rebuild(&mut read)
    }

    fn rebuild(&self, read: &mut BTreeMap<PathBuf, Read>) -> Result<Built, String> {
        let started = Instant::now();
        let (files, unlisted) = reports_in(&self.dir);
        read.retain(|path, _| files.contains_key(path));
        let mut parsed = 0;
        for (path, stamp) in files {
            if read.get(&path).is_some_and(|r| r.stamp == stamp) {
                continue;
            }
            parsed += 1;
            let (report, unreadable) = match self.report(&path, stamp) {
                Ok(report) => (report, false),
                Err(reason) => {
                    eprintln!("leakhound: serve: warning: {INDEX}: {}", sanitize(&reason));
                    (unread(&path.display().to_string(), reason), true)
                }
            };
            read.insert(path, Read { stamp, report, unreadable });
        }
        let unreadable = read.values().filter(|r| r.unreadable).count() + unlisted.len();
        let mut reports: Vec<&Report> = read.values().map(|r| &r.report).collect();
        reports.extend(&unlisted);
        let title = format!("leakhound serve: {}", self.registry);
        // The reports' secrets are already as they may be shown (see `report`).
        let options = Options { show_secrets: true, color: false };
        let path = self.dir.join(INDEX);
        write_atomically(&path, |out| html::write_many(&reports, &title, &options, out))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(Built { reports: reports.len(), unreadable, parsed, elapsed: started.elapsed() })
    }

    /// The report in `path` (relative to the directory) as the page shows it.
    fn report(&self, path: &Path, stamp: Stamp) -> Result<Report, String> {
        let name = path.display().to_string();
        let text =
            std::fs::read(self.dir.join(path)).map_err(|e| format!("cannot read {name}: {e}"))?;
        let mut report = json::read(&text, &name)?;
        report.target = format!("serve {}/{}", self.registry, artifact(path));
        report.finished = stamp.modified.map_or(0, seconds);
        report.started = report.finished.saturating_sub(report.stats.elapsed_ms / 1000);
        if !self.show_secrets {
            redact_all(&mut report);
        }
        Ok(report)
    }
}

/// Every JSON report under `dir` (not the `gitlab.json` of `--format gitlab`, not a temporary
/// file), by relative path, and a report naming each folder that could not be listed.
fn reports_in(dir: &Path) -> (BTreeMap<PathBuf, Stamp>, Vec<Report>) {
    let mut files = BTreeMap::new();
    let mut unlisted = Vec::new();
    let mut folders = vec![dir.to_owned()];
    while let Some(folder) = folders.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            // Nothing written yet.
            Err(e) if folder == dir && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                let name = folder.display().to_string();
                let reason = format!("cannot list {name}: {e}");
                eprintln!("leakhound: serve: warning: {INDEX}: {}", sanitize(&reason));
                unlisted.push(unread(&name, reason));
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            // Reports are regular files and folders; nothing here makes links.
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                folders.push(path);
            } else if kind.is_file()
                && path.extension().is_some_and(|e| e == "json")
                && !name.ends_with(".gitlab.json")
                && !name.starts_with('.')
                && let (Ok(meta), Ok(rel)) = (entry.metadata(), path.strip_prefix(dir))
            {
                let stamp = Stamp { modified: meta.modified().ok(), len: meta.len() };
                files.insert(rel.to_owned(), stamp);
            }
        }
    }
    (files, unlisted)
}

/// `team/app@sha256:HEX` for `team/app/sha256-HEX.json` (see [`super::results`]).
fn artifact(path: &Path) -> String {
    let repository = path.parent().map(|p| p.display().to_string()).unwrap_or_default();
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    format!("{repository}@{}", stem.replacen('-', ":", 1))
}

/// The page's entry for a file or folder that could not be read: a scan with one error.
fn unread(name: &str, reason: String) -> Report {
    Report {
        target: format!("{name} (not readable)"),
        errors: vec![ScanError::new(name, reason)],
        stats: Stats { errors: 1, ..Stats::default() },
        ..Report::default()
    }
}

/// Redacts every secret not redacted yet (a file written with `--show-secrets`), wherever it
/// reached the report's text (paths, commit messages, errors), as the scan itself does.
fn redact_all(report: &mut Report) {
    let shown: Vec<String> =
        report.findings.iter().map(|f| f.secret.clone()).filter(|s| !is_redacted(s)).collect();
    hide_secrets(report, shown.iter().map(String::as_str));
    for f in &mut report.findings {
        if !is_redacted(&f.secret) {
            f.secret = redact(&f.secret);
        }
    }
}

fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot set up should fail loudly
mod tests {
    use super::*;
    use crate::report::Format;
    use crate::report::format_tests::fixture;
    use crate::report::html::tests::data_block;
    use crate::serve::Artifact;
    use crate::serve::results::Results;

    fn artifact(repository: &str, byte: &str) -> Artifact {
        Artifact {
            project: repository.split('/').next().unwrap().into(),
            repository: repository.into(),
            digest: format!("sha256:{}", byte.repeat(32)),
            tags: vec![],
        }
    }

    /// The page's data block.
    fn page(dir: &Path) -> serde_json::Value {
        let html = std::fs::read_to_string(dir.join(INDEX)).unwrap();
        serde_json::from_str(data_block(&html)).unwrap()
    }

    /// The `field` of every item of the page's `list`.
    fn column(page: &serde_json::Value, list: &str, field: &str) -> Vec<String> {
        let items = page[list].as_array().unwrap();
        items.iter().map(|s| s[field].as_str().unwrap().to_owned()).collect()
    }

    fn targets(page: &serde_json::Value) -> Vec<String> {
        column(page, "scans", "target")
    }

    #[test]
    fn the_page_lists_every_report_names_what_cannot_be_read_and_parses_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let results = Results::new(dir.path().to_owned(), "r.example", Format::Html, false);
        let (app, web) = (artifact("team/app", "ab"), artifact("team/web", "cd"));
        results.write(&app, &fixture()).unwrap();
        results.write(&web, &Report::default()).unwrap();
        std::fs::write(dir.path().join("team/web/sha256-broken.json"), "{\"version\": 1,").unwrap();
        std::fs::write(dir.path().join("team/web/x.gitlab.json"), "{}").unwrap();
        std::fs::write(dir.path().join("team/web/.y.json.1.tmp"), "{").unwrap();

        let index = results.index().unwrap();
        let built = index.refresh().unwrap();
        assert_eq!((built.reports, built.unreadable, built.parsed), (3, 1, 3));
        let data = page(dir.path());
        assert_eq!(
            targets(&data),
            [
                format!("serve r.example/team/app@sha256:{}", "ab".repeat(32)),
                "team/web/sha256-broken.json (not readable)".into(),
                format!("serve r.example/team/web@sha256:{}", "cd".repeat(32)),
            ]
        );
        let error = &data["scans"][1]["errors"][0];
        assert_eq!(error["origin"], "team/web/sha256-broken.json");
        assert!(error["message"].as_str().unwrap().contains("is not JSON"), "{error}");
        assert_eq!(data["findings"].as_array().unwrap().len(), 3);
        let groups = column(&data, "groups", "repository");
        assert!(groups.iter().any(|g| g == "registry.example.com/team/app"), "{groups:?}");

        // Kept reports are not parsed again; a changed one is, a removed one leaves the page.
        assert_eq!(index.refresh().unwrap().parsed, 0);
        let mut fewer = fixture();
        fewer.findings.truncate(1);
        results.write(&app, &fewer).unwrap();
        std::fs::remove_file(dir.path().join("team/web/sha256-broken.json")).unwrap();
        let built = index.refresh().unwrap();
        assert_eq!((built.reports, built.unreadable, built.parsed), (2, 0, 1));
        assert_eq!(page(dir.path())["findings"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn the_page_is_never_less_redacted_than_the_service() {
        let dir = tempfile::tempdir().unwrap();
        let mut report = fixture();
        let secret = report.findings[0].secret.clone();
        report.findings[0].path = format!("config/{secret}.env");
        // Written by an earlier run with --show-secrets, then by a redacting one.
        Results::new(dir.path().to_owned(), "r", Format::Json, true)
            .write(&artifact("team/old", "ab"), &report)
            .unwrap();
        let results = Results::new(dir.path().to_owned(), "r", Format::Html, false);
        results.write(&artifact("team/new", "cd"), &fixture()).unwrap();
        results.index().unwrap().refresh().unwrap();
        let html = std::fs::read_to_string(dir.path().join(INDEX)).unwrap();
        for f in &report.findings {
            assert!(!html.contains(&f.secret), "{} is shown", f.secret);
        }
        let data = page(dir.path());
        let secrets = column(&data, "findings", "secret");
        assert_eq!(secrets.iter().filter(|s| *s == "ghp_*****").count(), 2, "{secrets:?}");
        assert!(secrets.iter().all(|s| is_redacted(s)), "{secrets:?}");
        assert_eq!(data["findings"][3]["path"], "config/ghp_*****.env");

        // A service that shows secrets shows them as its files hold them.
        let shown = Results::new(dir.path().to_owned(), "r", Format::Html, true);
        shown.index().unwrap().refresh().unwrap();
        assert!(std::fs::read_to_string(dir.path().join(INDEX)).unwrap().contains(&secret));
    }

    #[test]
    fn an_empty_or_missing_directory_makes_an_empty_page() {
        let dir = tempfile::tempdir().unwrap();
        let results = Results::new(dir.path().join("results"), "r", Format::Html, false);
        let built = results.index().unwrap().refresh().unwrap();
        assert_eq!((built.reports, built.unreadable), (0, 0));
        assert!(targets(&page(&dir.path().join("results"))).is_empty());
        assert!(Results::new(dir.path().into(), "r", Format::Sarif, false).index().is_none());
    }

    /// The index's thread rebuilds when a report is written, and `settle` builds once more for
    /// what was written after it stopped.
    #[test]
    fn a_written_report_reaches_the_page_through_the_index_thread() {
        let dir = tempfile::tempdir().unwrap();
        let results = Results::new(dir.path().to_owned(), "r", Format::Html, false);
        let index = results.index().unwrap();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| index.keep(&stop));
            results.write(&artifact("team/app", "ab"), &fixture()).unwrap();
            // Not a timing assertion: the deadline only stops a test that would hang.
            let deadline = Instant::now() + Duration::from_secs(60);
            while !dir.path().join(INDEX).is_file() {
                assert!(Instant::now() < deadline, "the thread never built the page");
                std::thread::sleep(Duration::from_millis(10));
            }
            stop.store(true, Ordering::SeqCst);
            index.wake();
        });
        assert_eq!(targets(&page(dir.path())).len(), 1);
        results.write(&artifact("team/web", "cd"), &Report::default()).unwrap();
        assert_eq!(targets(&page(dir.path())).len(), 1, "nothing runs after the stop");
        index.settle();
        assert_eq!(targets(&page(dir.path())).len(), 2);
    }
}
