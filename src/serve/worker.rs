//! The workers: each takes the next due artifact off the queue, scans it with the
//! [`ArtifactScanner`], and then either queues it again with a backoff (the scan did not
//! complete and attempts remain) or writes its report, sends the notification about its
//! findings, and records it done or failed. Nothing is dropped: an artifact whose last attempt
//! failed gets a report that says why, and is counted as failed.
//!
//! Notifications run on the server's runtime, so a notification endpoint that is down delays
//! no scan.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::metrics::Metrics;
use super::notify::{self, Notifier};
use super::queue::{Finished, Job, Queue};
use super::results::Results;
use super::server::now_ms;
use super::{Artifact, ArtifactScanner};
use crate::report::text::sanitize;
use crate::source::http::Retry;

/// The longest a worker sleeps before looking at the queue again on its own.
const IDLE: Duration = Duration::from_secs(1);

/// Wakes idle workers: something was queued, or the service is stopping. A generation count, so
/// a push between a worker's empty look and its wait is not missed.
#[derive(Default)]
pub struct Wake {
    generation: Mutex<u64>,
    rung: Condvar,
}

impl Wake {
    /// Wakes every waiting worker.
    pub fn notify(&self) {
        *self.generation.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.rung.notify_all();
    }

    fn generation(&self) -> u64 {
        *self.generation.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until woken after `seen`, or `timeout`.
    fn wait(&self, seen: u64, timeout: Duration) {
        let guard = self.generation.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self
            .rung
            .wait_timeout_while(guard, timeout, |g| *g == seen)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

/// Notifications in flight on the server's runtime.
pub struct Notifications {
    handle: tokio::runtime::Handle,
    notifier: Option<Notifier>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Notifications {
    /// Sends with `notifier` (none: nothing is sent) on `handle`'s runtime.
    pub fn new(handle: tokio::runtime::Handle, notifier: Option<Notifier>) -> Notifications {
        Notifications { handle, notifier, tasks: Mutex::default() }
    }

    fn send(&self, body: serde_json::Value, metrics: &std::sync::Arc<Metrics>) {
        let Some(notifier) = self.notifier.clone() else { return };
        let metrics = std::sync::Arc::clone(metrics);
        let task = self.handle.spawn(async move {
            if let Err(e) = notifier.send(&body).await {
                metrics.notifications_failed.inc();
                eprintln!("leakhound: serve: warning: {}", sanitize(&e));
            }
        });
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    /// Waits for the notifications still being sent (at shutdown).
    pub async fn finish(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// What every worker shares.
pub struct Context<'a> {
    /// Where artifacts come from.
    pub queue: &'a Queue,
    /// Scans one artifact.
    pub scanner: &'a dyn ArtifactScanner,
    /// Where reports go.
    pub results: &'a Results,
    /// Counters.
    pub metrics: &'a std::sync::Arc<Metrics>,
    /// Messages about findings.
    pub notifications: &'a Notifications,
    /// Rung when something is queued or the service stops.
    pub wake: &'a Wake,
    /// Set when the service stops: finish the artifact in hand, take no other.
    pub stop: &'a AtomicBool,
    /// The registry as artifact names show it.
    pub registry: &'a str,
    /// Scans per artifact and the backoff between them.
    pub retry: Retry,
}

/// One worker's loop, until the service stops.
pub fn work(cx: &Context<'_>) {
    while !cx.stop.load(Ordering::SeqCst) {
        let seen = cx.wake.generation();
        match cx.queue.claim(now_ms()) {
            Ok(Some(job)) => handle(cx, &job),
            Ok(None) => {
                let until_due = cx.queue.next_due().ok().flatten().map_or(IDLE, |due| {
                    Duration::from_millis((due - now_ms()).clamp(1, 1000).cast_unsigned())
                });
                cx.wake.wait(seen, until_due.min(IDLE));
            }
            Err(e) => {
                eprintln!("leakhound: serve: error: {}", sanitize(&e.to_string()));
                cx.wake.wait(seen, IDLE);
            }
        }
    }
}

/// `registry/repository@digest`.
fn name(registry: &str, artifact: &Artifact) -> String {
    format!("{registry}/{}@{}", artifact.repository, artifact.digest)
}

fn handle(cx: &Context<'_>, job: &Job) {
    let m = cx.metrics;
    let shown = sanitize(&name(cx.registry, &job.artifact));
    let started = Instant::now();
    let scanned = cx.scanner.scan(&job.artifact);
    m.scan_seconds.observe(started.elapsed().as_secs_f64());
    m.layers_scanned.inc_by(scanned.layers_scanned);
    m.layer_cache_hits.inc_by(scanned.layers_reused);
    let attempts = cx.retry.attempts.max(1);
    let last = job.attempts >= attempts;
    // A report is written once, when the artifact's scans are over.
    let problem = match &scanned.retry {
        Some(reason) if !last => Some(reason.clone()),
        _ => cx.results.write(&job.artifact, &scanned.report).err().or(scanned.retry.clone()),
    };
    if let Some(reason) = &problem
        && !last
    {
        let wait = cx.retry.delay(job.attempts - 1, None);
        let due = now_ms().saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
        eprintln!(
            "leakhound: serve: warning: {shown}: attempt {} of {attempts} failed, again in {:.1}s: {}",
            job.attempts,
            wait.as_secs_f64(),
            sanitize(reason)
        );
        m.scan_retries.inc();
        record(cx.queue.retry(job.id, due, reason));
        cx.wake.notify();
        return;
    }
    let findings = scanned.report.findings.len();
    m.findings.inc_by(findings as u64);
    if findings > 0 {
        cx.notifications
            .send(notify::message(&name(cx.registry, &job.artifact), &scanned.report), m);
    }
    if let Some(reason) = &problem {
        m.artifacts_failed.inc();
        eprintln!(
            "leakhound: serve: error: {shown}: failed after {attempts} attempts, {findings} findings reported: {}",
            sanitize(reason)
        );
        record(cx.queue.finish(job.id, Finished::Failed, Some(reason)));
    } else {
        m.artifacts_scanned.inc();
        eprintln!(
            "leakhound: serve: {shown}: {findings} findings, {} layers scanned, {} from the cache ({:.0} ms)",
            scanned.layers_scanned,
            scanned.layers_reused,
            started.elapsed().as_secs_f64() * 1000.0
        );
        record(cx.queue.finish(job.id, Finished::Done, None));
    }
}

/// A queue update that failed leaves the row as it was: at the next start it is scanned again.
fn record(result: Result<(), super::queue::QueueError>) {
    if let Err(e) = result {
        eprintln!("leakhound: serve: error: {}", sanitize(&e.to_string()));
    }
}
