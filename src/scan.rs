//! The join between sources and the engine: a [`Scan`] receives blobs from any source, runs the
//! engine once per distinct content, turns matches into findings at the blob's provenance, and
//! counts what it skipped and what failed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::blob::{Blob, BlobId, looks_binary};
use crate::engine::{Engine, Match};
use crate::error::ScanError;
use crate::finding::{Finding, Provenance, Skipped, fingerprint};
use crate::report::{Report, RuleSummary, Stats};
use crate::source::{Sink, Skip};

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
}

/// Collects the results of one run.
pub struct Scan<'e> {
    engine: &'e Engine,
    started: Instant,
    started_unix: u64,
    seen: Mutex<HashMap<BlobId, Arc<Vec<Match>>>>,
    findings: Mutex<Vec<Finding>>,
    errors: Mutex<Vec<ScanError>>,
    not_scanned: Mutex<Vec<Skipped>>,
    counters: Counters,
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
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        self.engine
    }

    /// Matches in `blob`, scanning each distinct content id once; `None` when it looks binary.
    pub fn matches(&self, blob: &Blob) -> Option<Arc<Vec<Match>>> {
        self.matches_in(blob.id, &blob.data)
    }

    /// [`Scan::matches`] for bytes the source does not own (a pack traversal's buffer), so they
    /// need not be copied into a [`Blob`].
    pub fn matches_in(&self, id: Option<BlobId>, data: &[u8]) -> Option<Arc<Vec<Match>>> {
        self.matches_counted(id, data, false)
    }

    /// Matches in a commit message: scanned like a blob, but counted apart
    /// (`stats.commit_messages`), since a message is neither a file nor a blob.
    pub fn matches_in_message(&self, message: &[u8]) -> Option<Arc<Vec<Match>>> {
        self.matches_counted(None, message, true)
    }

    fn matches_counted(
        &self,
        id: Option<BlobId>,
        data: &[u8],
        message: bool,
    ) -> Option<Arc<Vec<Match>>> {
        if let Some(id) = id
            && let Some(found) = lock(&self.seen).get(&id)
        {
            self.counters.duplicates.fetch_add(1, Relaxed);
            return Some(Arc::clone(found));
        }
        if looks_binary(data) {
            self.skipped(Skip::Binary);
            return None;
        }
        if message {
            self.counters.commit_messages.fetch_add(1, Relaxed);
        } else {
            self.counters.scanned.fetch_add(1, Relaxed);
            self.counters.bytes.fetch_add(data.len() as u64, Relaxed);
        }
        let found = Arc::new(self.engine.scan(data));
        if let Some(id) = id {
            lock(&self.seen).insert(id, Arc::clone(&found));
        }
        Some(found)
    }

    /// A finding for `m` at `provenance`, unless a path or commit allowlist accepts it.
    pub fn finding(&self, m: &Match, provenance: &Provenance) -> Option<Finding> {
        let commit = provenance.commit.as_ref().map(|c| c.sha.as_str());
        if self.engine.allowed_at(m, &provenance.path, commit) {
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
            confidence: self.engine.confidence_at(m, &provenance.path),
            path: provenance.path.clone(),
            line: m.start_at.line,
            column: m.start_at.column,
            end_line: m.end_at.line,
            end_column: m.end_at.column,
            secret: String::from_utf8_lossy(&m.secret).into_owned(),
            fingerprint: fingerprint(&rule.id, &m.secret, &provenance.path),
            commit: provenance.commit.clone(),
            image: provenance.image.clone(),
            occurrences: Vec::new(),
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
            suppressed: 0,
            below_min_confidence: 0,
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
        }
    }
}

impl Sink for Scan<'_> {
    fn blob(&self, blob: &Blob, provenance: &Provenance) {
        let Some(matches) = self.matches(blob) else { return };
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

/// Locks a mutex; a panic in another worker must not hide this worker's results.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
