//! The join between sources and the engine: a [`Scan`] receives blobs from any source, runs the
//! engine once per distinct content, turns matches into findings at the blob's provenance, and
//! counts what it skipped and what failed. Archives are opened here, before the binary probe
//! (see `Scan::archive`), so every source looks inside them alike.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::blob::{Blob, BlobId, looks_binary, utf16_to_utf8};
use crate::engine::{Engine, Match};
use crate::error::ScanError;
use crate::finding::{Finding, Problems, Provenance, Skipped, fingerprint};
use crate::report::{Report, RuleSummary, Stats};
use crate::source::archive::{self, Budget, Item, Limits};
use crate::source::{Sink, Skip};

/// Errors, and skips, an archive names one by one; the rest are counted (see [`Problems::capped`]).
const MAX_PROBLEMS: usize = 100;

/// Matches an archive reports, members at every depth included: copies of an archive inside
/// copies of it multiply its matches by each level's number of copies (30^4 from 50 KB).
const MAX_HITS: usize = 10_000;

/// A match in a blob, or in a member of the archive the blob is.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Hit {
    /// The engine's match, in the member's own lines when `member` is set.
    pub found: Match,
    /// The member's path inside the blob, levels joined with `!` (`WEB-INF/lib/core.jar!a.conf`);
    /// `None` for a match in the blob itself.
    pub member: Option<Arc<str>>,
}

// A hit reads as its match: sources that look at lines (`staged`) need not care about members.
impl Deref for Hit {
    type Target = Match;

    fn deref(&self) -> &Match {
        &self.found
    }
}

/// What scanning one distinct content found, shared by every place that holds it.
pub type Hits = Arc<Vec<Hit>>;

/// A commit message as [`Scan::scan_message`] scanned it: what the engine found, or nothing for
/// a message that looks binary.
#[derive(Debug)]
pub struct MessageScan(Option<crate::engine::Scanned>);

impl MessageScan {
    /// A message of text in which the engine found nothing.
    pub fn clean() -> MessageScan {
        MessageScan(Some(crate::engine::Scanned::default()))
    }

    /// True when the message is text in which the engine found nothing, and stopped nowhere.
    pub fn is_clean(&self) -> bool {
        self.0.as_ref().is_some_and(|s| s.matches.is_empty() && s.unfinished.is_empty())
    }
}

/// Where in an archive tree the scan step is.
struct Nest<'a> {
    /// Archives above this blob.
    depth: u32,
    /// The outermost archive's budget, once inside one.
    budget: Option<&'a Budget>,
    /// Ids of the archives above (a member equal to one of them is a quine).
    ancestors: &'a [BlobId],
    /// The path the blob's findings are reported at, for a blob a source hands over.
    path: Option<&'a str>,
}

impl Nest<'_> {
    /// A blob as a source hands it over, in no archive.
    const TOP: Nest<'static> = Nest { depth: 0, budget: None, ancestors: &[], path: None };

    /// A blob as a source hands it over, its findings reported at `path`.
    fn at(path: &str) -> Nest<'_> {
        Nest { path: Some(path), ..Nest::TOP }
    }
}

/// What the scan step made of one distinct content, kept by id: its hits, and what its archives
/// could not or would not scan. Problems are named relative to the content (`""` the blob
/// itself, `lib/a.jar!b.conf` a member), as hits are, so a copy of it found at another place (a
/// second layer, a second path) is named at that place when the result is reused.
#[derive(Clone)]
struct Scanned {
    hits: Hits,
    /// `None` for the common case of nothing wrong, which costs no allocation.
    problems: Option<Arc<Problems>>,
}

impl Scanned {
    /// An archive not opened, for `reason`: no hits, and the archive itself named as not scanned.
    fn not_opened(reason: String) -> Scanned {
        let problems = Problems { skipped: vec![Skipped::new("", reason)], ..Problems::default() };
        Scanned { hits: Arc::default(), problems: Some(Arc::new(problems)) }
    }

    /// The problems, named at `origin` (the blob's place).
    fn problems_at(&self, origin: &str) -> Problems {
        self.problems.as_deref().map(|p| p.clone().inside(origin)).unwrap_or_default()
    }
}

#[derive(Default)]
struct Counters {
    scanned: AtomicU64,
    bytes: AtomicU64,
    commit_messages: AtomicU64,
    skipped_binary: AtomicU64,
    skipped_too_large: AtomicU64,
    skipped_special: AtomicU64,
    skipped_allowlisted: AtomicU64,
    duplicates: AtomicU64,
    cached: AtomicU64,
    archives: AtomicU64,
    archive_members: AtomicU64,
}

/// Collects the results of one run.
pub struct Scan<'e> {
    engine: &'e Engine,
    started: Instant,
    started_unix: u64,
    seen: Mutex<HashMap<BlobId, Scanned>>,
    /// The empty result that contents without matches share.
    no_hits: Hits,
    findings: Mutex<Vec<Finding>>,
    errors: Mutex<Vec<ScanError>>,
    not_scanned: Mutex<Vec<Skipped>>,
    counters: Counters,
    archives: Limits,
}

impl<'e> Scan<'e> {
    /// A run with `engine`.
    pub fn new(engine: &'e Engine) -> Scan<'e> {
        Scan {
            engine,
            started: Instant::now(),
            started_unix: crate::report::now(),
            seen: Mutex::default(),
            no_hits: Hits::default(),
            findings: Mutex::default(),
            errors: Mutex::default(),
            not_scanned: Mutex::default(),
            counters: Counters::default(),
            archives: Limits::default(),
        }
    }

    /// How far archives inside blobs are followed (default: [`Limits::default`]).
    #[must_use]
    pub fn with_archives(mut self, limits: Limits) -> Self {
        self.archives = limits;
        self
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        self.engine
    }

    /// Matches in `blob`, scanning each distinct content id once; `None` when it looks binary.
    /// `path` is where the blob's findings are reported: it names the blob in the report when
    /// something inside it (an archive member) cannot be scanned, and rules that report nothing
    /// there are not run on a blob without an id (whose result serves no other place).
    pub fn matches(&self, blob: &Blob, path: &str) -> Option<Hits> {
        let found = self.scan_step(blob.id, &blob.data, &Nest::at(path))?;
        self.report_problems(&found, || path.to_owned());
        Some(found.hits)
    }

    /// [`Scan::matches`] for bytes the source does not own (a pack traversal's buffer), so they
    /// need not be copied into a [`Blob`]. The report names the blob by its id.
    pub fn matches_in(&self, id: Option<BlobId>, data: &[u8]) -> Option<Hits> {
        let found = self.scan_step(id, data, &Nest::TOP)?;
        self.report_problems(&found, || {
            id.map_or_else(|| "blob".to_owned(), |id| format!("blob {id}"))
        });
        Some(found.hits)
    }

    /// Puts what `found`'s archives could not or would not scan in the run's report, named at
    /// `origin`: every place a content is found at names its problems, not just the first.
    fn report_problems(&self, found: &Scanned, origin: impl FnOnce() -> String) {
        if found.problems.as_ref().is_none_or(|p| p.errors.is_empty() && p.skipped.is_empty()) {
            return;
        }
        let problems = found.problems_at(&origin());
        problems.errors.into_iter().for_each(|e| self.error(e));
        lock(&self.not_scanned).extend(problems.skipped);
    }

    /// A commit message scanned like a blob, apart from the run's report: the message's commit
    /// may turn out not to be in the selected history (a whole-history scan reads every commit
    /// of the packs). [`Scan::message_found`] takes it into the report.
    pub fn scan_message(&self, message: &[u8]) -> MessageScan {
        MessageScan((!looks_binary(message)).then(|| self.engine.scan(message)))
    }

    /// Matches in a commit message that [`Scan::scan_message`] scanned, now taken into the run's
    /// report: counted apart (`stats.commit_messages`), since a message is neither a file nor a
    /// blob, and named where the scan stopped short.
    pub fn message_found(&self, message: &MessageScan) -> Option<Hits> {
        let Some(scanned) = &message.0 else {
            self.skipped(Skip::Binary);
            return None;
        };
        self.counters.commit_messages.fetch_add(1, Relaxed);
        for &rule in &scanned.unfinished {
            self.error(ScanError::new("commit message", self.engine.not_fully_scanned(rule)));
        }
        Some(Arc::new(whole(scanned.matches.clone())))
    }

    /// [`Scan::matches`], but what the blob's archives could not or would not scan is handed
    /// back instead of going to the run's report: a layer keeps it in its cached result, so a
    /// sweep served from the cache reports it again. `path` is as for [`Scan::matches`]: a layer's
    /// cached result is the layer's, at the same paths every time it is used.
    pub fn matches_keeping_problems(&self, blob: &Blob, path: &str) -> (Option<Hits>, Problems) {
        match self.scan_step(blob.id, &blob.data, &Nest::at(path)) {
            Some(found) => {
                let problems = found.problems_at(path);
                (Some(found.hits), problems)
            }
            None => (None, Problems::default()),
        }
    }

    /// The scan step every blob and archive member goes through: dedupe by id, open archives,
    /// skip binaries, run the engine.
    fn scan_step(&self, id: Option<BlobId>, data: &[u8], at: &Nest<'_>) -> Option<Scanned> {
        if let Some(id) = id
            && let Some(found) = self.seen(id)
        {
            return Some(found);
        }
        if let Some(found) = self.archive(id, data, at) {
            return Some(found);
        }
        // UTF-16 text (Windows configs, `.reg` and PowerShell exports) is scanned as the UTF-8
        // it decodes to, and located by that text's lines and columns (#19).
        let decoded = utf16_to_utf8(data);
        let text = decoded.as_deref().unwrap_or(data);
        if looks_binary(text) {
            self.skipped(Skip::Binary);
            return None;
        }
        self.counters.scanned.fetch_add(1, Relaxed);
        self.counters.bytes.fetch_add(data.len() as u64, Relaxed);
        let scanned = match at.path.filter(|_| id.is_none()) {
            Some(path) => self.engine.scan_at(text, path),
            None => self.engine.scan(text),
        };
        // A rule the engine's work budget stopped short leaves the blob not fully scanned (#19);
        // named like the archive problems, relative to the content, so every place it is found at
        // reports it.
        let problems = (!scanned.unfinished.is_empty()).then(|| {
            let errors = scanned
                .unfinished
                .iter()
                .map(|&rule| ScanError::new("", self.engine.not_fully_scanned(rule)))
                .collect();
            Arc::new(Problems { errors, ..Problems::default() })
        });
        // Most contents hold nothing: they share one empty list rather than each keeping its own
        // (262,343 of them in git.git's history, each remembered here for the run).
        let hits = if scanned.matches.is_empty() {
            Arc::clone(&self.no_hits)
        } else {
            Arc::new(whole(scanned.matches))
        };
        let found = Scanned { hits, problems };
        if let Some(id) = id {
            lock(&self.seen).insert(id, found.clone());
        }
        Some(found)
    }

    /// True when scanning content `id` named something it could not or would not scan (an
    /// archive's problems, a rule stopped by the work budget): a result not to cache, so every
    /// run names the problem again.
    pub fn had_problems(&self, id: BlobId) -> bool {
        lock(&self.seen).get(&id).is_some_and(|found| found.problems.is_some())
    }

    /// Counts `n` results taken from a cache instead of being scanned.
    pub fn cached(&self, n: u64) {
        self.counters.cached.fetch_add(n, Relaxed);
    }

    fn seen(&self, id: BlobId) -> Option<Scanned> {
        let found = lock(&self.seen).get(&id).cloned();
        if found.is_some() {
            self.counters.duplicates.fetch_add(1, Relaxed);
        }
        found
    }

    /// The archive step, before the binary probe: when `data` is an archive (by its magic
    /// bytes), its members are scanned through [`Scan::scan_step`] and their hits become the
    /// blob's, each at its member path, as do their problems. `None` when `data` is not an
    /// archive (or archives are off). An archive too deep, or one that holds itself, is named as
    /// not scanned.
    fn archive(&self, id: Option<BlobId>, data: &[u8], at: &Nest<'_>) -> Option<Scanned> {
        let limits = &self.archives;
        if limits.max_depth == 0 {
            return None;
        }
        let format = archive::sniff(data)?;
        if at.depth >= limits.max_depth {
            return Some(Scanned::not_opened(format!(
                "a {} archive nested deeper than --max-archive-depth ({}): not opened",
                format.name(),
                limits.max_depth
            )));
        }
        // Files come without an id; an archive is worth hashing, so copies open once.
        let id = if let Some(id) = id {
            id
        } else {
            let id = BlobId::of(data);
            if let Some(found) = self.seen(id) {
                return Some(found);
            }
            id
        };
        if at.ancestors.contains(&id) {
            return Some(Scanned::not_opened(
                "an archive that contains itself (a zip quine): not opened again".to_owned(),
            ));
        }
        self.counters.archives.fetch_add(1, Relaxed);
        let own;
        let budget = if let Some(budget) = at.budget {
            budget
        } else {
            own = Budget::new(limits.max_inflated);
            &own
        };
        let mut ancestors = at.ancestors.to_vec();
        ancestors.push(id);
        let mut hits = Vec::new();
        let mut unlisted = 0;
        let mut problems = Problems::default();
        archive::walk(data, format, limits, budget, &mut |item| match item {
            Item::Member { name, blob } => {
                self.counters.archive_members.fetch_add(1, Relaxed);
                let inner = Nest {
                    depth: at.depth + 1,
                    budget: Some(budget),
                    ancestors: &ancestors,
                    path: None,
                };
                let Some(found) = self.scan_step(blob.id, &blob.data, &inner) else { return };
                let room = MAX_HITS.saturating_sub(hits.len());
                unlisted += found.hits.len().saturating_sub(room);
                hits.extend(found.hits.iter().take(room).map(|hit| Hit {
                    found: hit.found.clone(),
                    member: Some(match &hit.member {
                        Some(deeper) => format!("{name}!{deeper}").into(),
                        None => name.into(),
                    }),
                }));
                if found.problems.is_some() {
                    problems.absorb(found.problems_at(name));
                }
            }
            // Counted in the run once per content, and kept per place for a layer's stats.
            Item::TooLarge => {
                self.skipped(Skip::TooLarge);
                problems.members.too_large += 1;
            }
            Item::Binary => {
                self.skipped(Skip::Binary);
                problems.members.binary += 1;
            }
            Item::Special => {
                self.skipped(Skip::Special);
                problems.members.special += 1;
            }
            Item::NotScanned { name, reason } => problems.skipped.push(Skipped::new(name, reason)),
            Item::Error { name, reason } => problems.errors.push(ScanError::new(name, reason)),
        });
        if unlisted > 0 {
            problems.skipped.push(Skipped::new(
                "",
                format!(
                    "{unlisted} more matches inside it (past {MAX_HITS}, as copies of archives \
                     inside copies multiply them) were not reported"
                ),
            ));
        }
        let problems = (!problems.is_empty()).then(|| Arc::new(problems.capped(MAX_PROBLEMS)));
        let found = Scanned { hits: Arc::new(hits), problems };
        lock(&self.seen).insert(id, found.clone());
        Some(found)
    }

    /// A finding for `m` at `provenance`, unless a path or commit allowlist accepts it.
    /// A hit in an archive member is at the blob's path, `!`, and the member's path.
    pub fn finding(&self, m: &Hit, provenance: &Provenance) -> Option<Finding> {
        let commit = provenance.commit.as_ref().map(|c| c.sha.as_str());
        let path = match &m.member {
            Some(member) => format!("{}!{member}", provenance.path),
            None => provenance.path.clone(),
        };
        if self.engine.allowed_at(m, &path, commit) {
            return None;
        }
        let rule = &self.engine.rule(m.rule).syntax;
        Some(Finding {
            rule_id: rule.id.clone(),
            description: if rule.description.is_empty() {
                rule.name.clone()
            } else {
                rule.description.clone()
            },
            severity: rule.severity,
            confidence: self.engine.confidence_at(m, &path),
            fingerprint: fingerprint(&rule.id, &m.secret, &path),
            path,
            line: m.start_at.line,
            column: m.start_at.column,
            end_line: m.end_at.line,
            end_column: m.end_at.column,
            secret: String::from_utf8_lossy(&m.secret).into_owned(),
            commit: provenance.commit.clone(),
            image: provenance.image.clone(),
            repository: None,
            occurrences: Vec::new(),
            verification: None,
            captures: m.captures.iter().cloned().collect(),
            note: m.note.clone(),
        })
    }

    /// The findings of `hits` at `provenance` (see [`Scan::finding`]).
    pub fn findings_in(&self, hits: &[Hit], provenance: &Provenance) -> Vec<Finding> {
        hits.iter().filter_map(|m| self.finding(m, provenance)).collect()
    }

    /// Adds findings made elsewhere (sources that attach provenance after scanning).
    pub fn push_findings(&self, findings: impl IntoIterator<Item = Finding>) {
        lock(&self.findings).extend(findings);
    }

    /// Ends the run: findings sorted, counters frozen.
    pub fn into_report(self, target: String) -> Report {
        let c = &self.counters;
        let mut findings = self.findings.into_inner().unwrap_or_else(PoisonError::into_inner);
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        let mut errors = self.errors.into_inner().unwrap_or_else(PoisonError::into_inner);
        errors.extend(
            self.engine.failed_rules().into_iter().map(|e| ScanError::new("rules", e.to_string())),
        );
        // The same content at the same place (a blob id seen twice) names its problems twice.
        errors.sort();
        errors.dedup();
        let mut skipped = self.not_scanned.into_inner().unwrap_or_else(PoisonError::into_inner);
        skipped.sort();
        skipped.dedup();
        let stats = Stats {
            scanned: c.scanned.load(Relaxed),
            bytes: c.bytes.load(Relaxed),
            commit_messages: c.commit_messages.load(Relaxed),
            findings: findings.len() as u64,
            skipped_binary: c.skipped_binary.load(Relaxed),
            skipped_too_large: c.skipped_too_large.load(Relaxed),
            skipped_special: c.skipped_special.load(Relaxed),
            skipped_allowlisted: c.skipped_allowlisted.load(Relaxed),
            duplicates: c.duplicates.load(Relaxed),
            cached: c.cached.load(Relaxed),
            archives: c.archives.load(Relaxed),
            archive_members: c.archive_members.load(Relaxed),
            suppressed: 0,
            below_min_confidence: 0,
            not_verified: 0,
            errors: errors.len() as u64,
            elapsed_ms: self.started.elapsed().as_millis() as u64,
        };
        Report {
            target,
            findings,
            errors,
            skipped,
            stats,
            started: self.started_unix,
            finished: crate::report::now(),
            rules: (0..self.engine.len())
                .map(|i| RuleSummary::of(&self.engine.rule(i).syntax))
                .collect(),
            root: None,
            config: self.engine.config().cloned(),
        }
    }
}

impl Sink for Scan<'_> {
    fn blob(&self, blob: &Blob, provenance: &Provenance) {
        let Some(matches) = self.matches(blob, &provenance.path) else { return };
        if matches.is_empty() {
            return;
        }
        self.push_findings(self.findings_in(&matches, provenance));
    }

    fn skipped(&self, why: Skip) {
        let counter = match why {
            Skip::Binary => &self.counters.skipped_binary,
            Skip::TooLarge => &self.counters.skipped_too_large,
            Skip::Special => &self.counters.skipped_special,
            Skip::Allowlisted => &self.counters.skipped_allowlisted,
        };
        counter.fetch_add(1, Relaxed);
    }

    fn not_scanned(&self, item: Skipped) {
        lock(&self.not_scanned).push(item);
    }

    fn error(&self, error: ScanError) {
        lock(&self.errors).push(error);
    }

    fn path_allowed(&self, path: &str) -> bool {
        self.engine.path_allowed_globally(path)
    }
}

/// The engine's matches in a blob itself (no member path).
fn whole(found: Vec<Match>) -> Vec<Hit> {
    found.into_iter().map(|found| Hit { found, member: None }).collect()
}

/// Locks a mutex; a panic in another worker must not hide this worker's results.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
