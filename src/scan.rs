//! The join between sources and the engine: a [`Scan`] receives blobs from any source, runs the
//! engine once per distinct content, turns matches into findings at the blob's provenance, and
//! counts what it skipped and what failed. Archives are opened here, before the binary probe
//! (see `Scan::archive`), so every source looks inside them alike.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::blob::{Blob, BlobId, looks_binary, utf16_to_utf8};
use crate::engine::{Engine, Match};
use crate::error::ScanError;
use crate::finding::{Finding, Provenance, Skipped, fingerprint};
use crate::report::{Report, RuleSummary, Stats};
use crate::source::archive::{self, Budget, Item, Limits};
use crate::source::{Sink, Skip};

/// A match in a blob, or in a member of the archive the blob is.
#[derive(Debug, Clone)]
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

/// Where in an archive tree the scan step is.
struct Nest<'a> {
    /// What a report names for this blob: the caller's path (or `blob <id>`), then members.
    origin: &'a dyn Fn() -> String,
    /// Archives above this blob.
    depth: u32,
    /// The outermost archive's budget, once inside one.
    budget: Option<&'a Budget>,
    /// Ids of the archives above (a member equal to one of them is a quine).
    ancestors: &'a [BlobId],
    /// Where archive errors and skips go when the caller keeps them itself (a layer, whose
    /// cached result must hold them); `None`: the run's report.
    problems: Option<&'a RefCell<Problems>>,
}

/// What could not be or was not scanned inside one blob's archives, kept by the caller.
#[derive(Debug, Default)]
pub struct Problems {
    /// Content that could not be read (the run exits 2).
    pub errors: Vec<ScanError>,
    /// Content deliberately not scanned (a cap, an encrypted member).
    pub skipped: Vec<Skipped>,
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
    archives: AtomicU64,
    archive_members: AtomicU64,
}

/// Collects the results of one run.
pub struct Scan<'e> {
    engine: &'e Engine,
    started: Instant,
    started_unix: u64,
    seen: Mutex<HashMap<BlobId, Hits>>,
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
    /// `origin` names the blob in the report when something inside it (an archive member)
    /// cannot be scanned.
    pub fn matches(&self, blob: &Blob, origin: &str) -> Option<Hits> {
        self.matches_at(blob.id, &blob.data, &|| origin.to_owned())
    }

    /// [`Scan::matches`] for bytes the source does not own (a pack traversal's buffer), so they
    /// need not be copied into a [`Blob`]. The report names the blob by its id.
    pub fn matches_in(&self, id: Option<BlobId>, data: &[u8]) -> Option<Hits> {
        let origin = || id.map_or_else(|| "blob".to_owned(), |id| format!("blob {id}"));
        self.matches_at(id, data, &origin)
    }

    /// Matches in a commit message: scanned like a blob, but counted apart
    /// (`stats.commit_messages`), since a message is neither a file nor a blob.
    pub fn matches_in_message(&self, message: &[u8]) -> Option<Hits> {
        if looks_binary(message) {
            self.skipped(Skip::Binary);
            return None;
        }
        self.counters.commit_messages.fetch_add(1, Relaxed);
        Some(Arc::new(whole(self.engine.scan(message))))
    }

    /// [`Scan::matches`], but what the blob's archives could not or would not scan is handed
    /// back instead of going to the run's report: a layer keeps it in its cached result, so a
    /// sweep served from the cache reports it again.
    pub fn matches_keeping_problems(&self, blob: &Blob, origin: &str) -> (Option<Hits>, Problems) {
        let problems = RefCell::new(Problems::default());
        let top = Nest {
            origin: &|| origin.to_owned(),
            depth: 0,
            budget: None,
            ancestors: &[],
            problems: Some(&problems),
        };
        let found = self.scan_step(blob.id, &blob.data, &top);
        (found, problems.into_inner())
    }

    fn matches_at(
        &self,
        id: Option<BlobId>,
        data: &[u8],
        origin: &dyn Fn() -> String,
    ) -> Option<Hits> {
        let top = Nest { origin, depth: 0, budget: None, ancestors: &[], problems: None };
        self.scan_step(id, data, &top)
    }

    /// The scan step every blob and archive member goes through: dedupe by id, open archives,
    /// skip binaries, run the engine.
    fn scan_step(&self, id: Option<BlobId>, data: &[u8], at: &Nest<'_>) -> Option<Hits> {
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
        let found = Arc::new(whole(self.engine.scan(text)));
        if let Some(id) = id {
            lock(&self.seen).insert(id, Arc::clone(&found));
        }
        Some(found)
    }

    fn seen(&self, id: BlobId) -> Option<Hits> {
        let found = lock(&self.seen).get(&id).map(Arc::clone);
        if found.is_some() {
            self.counters.duplicates.fetch_add(1, Relaxed);
        }
        found
    }

    /// The archive step, before the binary probe: when `data` is an archive (by its magic
    /// bytes), its members are scanned through [`Scan::scan_step`] and their hits become the
    /// blob's, each at its member path. `None` when `data` is not an archive (or archives are
    /// off). An archive too deep, or one that holds itself, is named as not scanned.
    fn archive(&self, id: Option<BlobId>, data: &[u8], at: &Nest<'_>) -> Option<Hits> {
        let limits = &self.archives;
        if limits.max_depth == 0 {
            return None;
        }
        let format = archive::sniff(data)?;
        if at.depth >= limits.max_depth {
            self.archive_skip(
                at,
                Skipped::new(
                    (at.origin)(),
                    format!(
                        "a {} archive nested deeper than --max-archive-depth ({}): not opened",
                        format.name(),
                        limits.max_depth
                    ),
                ),
            );
            return Some(Arc::default());
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
            self.archive_skip(
                at,
                Skipped::new(
                    (at.origin)(),
                    "an archive that contains itself (a zip quine): not opened again",
                ),
            );
            return Some(Arc::default());
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
        let place = |name: &str| {
            let outer = (at.origin)();
            if name.is_empty() { outer } else { format!("{outer}!{name}") }
        };
        archive::walk(data, format, limits, budget, &mut |item| match item {
            Item::Member { name, blob } => {
                self.counters.archive_members.fetch_add(1, Relaxed);
                let origin = || place(name);
                let inner = Nest {
                    origin: &origin,
                    depth: at.depth + 1,
                    budget: Some(budget),
                    ancestors: &ancestors,
                    problems: at.problems,
                };
                let Some(found) = self.scan_step(blob.id, &blob.data, &inner) else { return };
                hits.extend(found.iter().map(|hit| Hit {
                    found: hit.found.clone(),
                    member: Some(match &hit.member {
                        Some(deeper) => format!("{name}!{deeper}").into(),
                        None => name.into(),
                    }),
                }));
            }
            Item::TooLarge => self.skipped(Skip::TooLarge),
            Item::Binary => self.skipped(Skip::Binary),
            Item::Special => self.skipped(Skip::Special),
            Item::NotScanned { name, reason } => {
                self.archive_skip(at, Skipped::new(place(&name), reason));
            }
            Item::Error { name, reason } => match at.problems {
                Some(kept) => kept.borrow_mut().errors.push(ScanError::new(place(&name), reason)),
                None => self.error(ScanError::new(place(&name), reason)),
            },
        });
        let found: Hits = Arc::new(hits);
        lock(&self.seen).insert(id, Arc::clone(&found));
        Some(found)
    }

    /// Names content inside an archive as not scanned, where the caller keeps such things.
    fn archive_skip(&self, at: &Nest<'_>, item: Skipped) {
        match at.problems {
            Some(kept) => kept.borrow_mut().skipped.push(item),
            None => self.not_scanned(item),
        }
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
            occurrences: Vec::new(),
            verification: None,
        })
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
        errors.sort_by(|a, b| a.origin.cmp(&b.origin).then_with(|| a.message.cmp(&b.message)));
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
        let found: Vec<Finding> =
            matches.iter().filter_map(|m| self.finding(m, provenance)).collect();
        self.push_findings(found);
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
