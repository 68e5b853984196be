//! The durable queue of pushed artifacts, a table in the `SQLite` file that also holds the layer
//! cache ([`crate::cache`]): one process, no database server.
//!
//! - A push is committed (`synchronous = FULL`) before the webhook is answered 202, so an
//!   accepted artifact is scanned even if the process is killed right after.
//! - One row per (repository, digest): the same digest pushed twice is scanned once. A digest
//!   pushed again after its scan failed is queued afresh (the registry may be back).
//! - Rows being scanned when the process died are queued again at the next start.
//! - Rows stay after their scan (`done` or `failed`, with the reason), so a later push of the
//!   same digest is recognised.
//!
//! Must not depend on the engine, sources or reports.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::Artifact;

/// How long to wait for the cache's writer (another connection to the same file).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The queue cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("queue {path}: {message}")]
pub struct QueueError {
    /// The database file.
    pub path: PathBuf,
    /// What `SQLite` said.
    pub message: String,
}

/// What became of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued (or already queued or scanned): `new` rows were added.
    Accepted {
        /// Artifacts not known before.
        new: u64,
    },
    /// Taking it would exceed the queue's limit; nothing was added.
    Full,
}

/// An artifact taken off the queue by a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The row.
    pub id: i64,
    /// What to scan.
    pub artifact: Artifact,
    /// Scans started so far, this one included.
    pub attempts: u32,
}

/// How an artifact's scan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Scanned (with or without findings).
    Done,
    /// Given up on (its report says why).
    Failed,
}

/// The open queue.
pub struct Queue {
    inner: Mutex<Inner>,
    path: PathBuf,
}

struct Inner {
    conn: Connection,
    /// Rows queued or being scanned: the limit is checked against this, not a `count(*)`.
    pending: u64,
}

impl Queue {
    /// Opens (creating when missing) the queue in the `SQLite` file at `path`; rows left being
    /// scanned by a process that died are queued again.
    pub fn open(path: &Path) -> Result<Queue, QueueError> {
        let fail =
            |e: rusqlite::Error| QueueError { path: path.to_owned(), message: e.to_string() };
        let conn = Connection::open(path).map_err(fail)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(fail)?;
        // Workers' updates need not reach the disk before they go on: a claim or an outcome
        // lost with the machine only means a rescan. Pushes do (see `push`).
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(fail)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS serve_queue (
                 id         INTEGER PRIMARY KEY,
                 project    TEXT NOT NULL,
                 repository TEXT NOT NULL,
                 digest     TEXT NOT NULL,
                 tags       TEXT NOT NULL,
                 state      TEXT NOT NULL,
                 attempts   INTEGER NOT NULL,
                 due        INTEGER NOT NULL,
                 received   INTEGER NOT NULL,
                 reason     TEXT,
                 UNIQUE (repository, digest)
             );
             CREATE INDEX IF NOT EXISTS serve_queue_due ON serve_queue (state, due);
             UPDATE serve_queue SET state = 'queued' WHERE state = 'scanning';",
        )
        .map_err(fail)?;
        let pending: i64 = conn
            .query_row("SELECT count(*) FROM serve_queue WHERE state = 'queued'", [], |r| r.get(0))
            .map_err(fail)?;
        Ok(Queue {
            inner: Mutex::new(Inner { conn, pending: pending.cast_unsigned() }),
            path: path.to_owned(),
        })
    }

    /// Queues `artifacts` (one webhook's) in one transaction, unless the queued ones would then
    /// exceed `max`. Known digests are not queued again, but a known digest's new tags are
    /// added while it waits, and a failed one is queued afresh.
    pub fn push(
        &self,
        artifacts: &[Artifact],
        max: u64,
        now_ms: i64,
    ) -> Result<Pushed, QueueError> {
        let mut inner = self.lock();
        let pending = inner.pending;
        // A 202 promises the push survives even the machine: this commit (and any unsynced
        // one before it) reaches the disk before the answer.
        inner.conn.pragma_update(None, "synchronous", "FULL").map_err(|e| self.error(&e))?;
        let pushed = self.push_locked(&mut inner, artifacts, pending, max, now_ms);
        inner.conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| self.error(&e))?;
        pushed
    }

    fn push_locked(
        &self,
        inner: &mut Inner,
        artifacts: &[Artifact],
        pending: u64,
        max: u64,
        now_ms: i64,
    ) -> Result<Pushed, QueueError> {
        let tx = inner
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error(&e))?;
        let mut new = 0;
        for a in artifacts {
            let known: Option<(i64, String, String)> = tx
                .query_row(
                    "SELECT id, state, tags FROM serve_queue WHERE repository = ?1 AND digest = ?2",
                    params![a.repository, a.digest],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(|e| self.error(&e))?;
            match known {
                None => {
                    tx.execute(
                        "INSERT INTO serve_queue
                             (project, repository, digest, tags, state, attempts, due, received)
                         VALUES (?1, ?2, ?3, ?4, 'queued', 0, ?5, ?5)",
                        params![a.project, a.repository, a.digest, tags_text(&a.tags), now_ms],
                    )
                    .map_err(|e| self.error(&e))?;
                    new += 1;
                }
                Some((id, state, _)) if state == "failed" => {
                    tx.execute(
                        "UPDATE serve_queue SET state = 'queued', attempts = 0, due = ?2, tags = ?3,
                             reason = NULL WHERE id = ?1",
                        params![id, now_ms, tags_text(&a.tags)],
                    )
                    .map_err(|e| self.error(&e))?;
                    new += 1;
                }
                Some((id, state, tags)) if state == "queued" => {
                    let mut all = parse_tags(&tags);
                    all.extend(a.tags.iter().cloned());
                    all.sort();
                    all.dedup();
                    tx.execute(
                        "UPDATE serve_queue SET tags = ?2 WHERE id = ?1",
                        params![id, tags_text(&all)],
                    )
                    .map_err(|e| self.error(&e))?;
                }
                // Being scanned or done: this digest's scan is (being) made.
                Some(_) => {}
            }
        }
        if pending + new > max {
            // Dropping the transaction rolls it back.
            return Ok(Pushed::Full);
        }
        tx.commit().map_err(|e| self.error(&e))?;
        inner.pending += new;
        Ok(Pushed::Accepted { new })
    }

    /// Takes the oldest queued artifact that is due at `now_ms`, if any.
    pub fn claim(&self, now_ms: i64) -> Result<Option<Job>, QueueError> {
        let mut inner = self.lock();
        let job = inner
            .conn
            .query_row(
                "UPDATE serve_queue SET state = 'scanning', attempts = attempts + 1
                 WHERE id = (SELECT id FROM serve_queue WHERE state = 'queued' AND due <= ?1
                             ORDER BY due, id LIMIT 1)
                 RETURNING id, project, repository, digest, tags, attempts",
                params![now_ms],
                |r| {
                    Ok(Job {
                        id: r.get(0)?,
                        artifact: Artifact {
                            project: r.get(1)?,
                            repository: r.get(2)?,
                            digest: r.get(3)?,
                            tags: parse_tags(&r.get::<_, String>(4)?),
                        },
                        attempts: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.error(&e))?;
        if job.is_some() {
            inner.pending -= 1;
        }
        Ok(job)
    }

    /// When the next queued artifact is due (milliseconds since the epoch), if any is queued.
    pub fn next_due(&self) -> Result<Option<i64>, QueueError> {
        self.lock()
            .conn
            .query_row("SELECT min(due) FROM serve_queue WHERE state = 'queued'", [], |r| r.get(0))
            .map_err(|e| self.error(&e))
    }

    /// Puts a claimed artifact back, to be scanned again at `due_ms`.
    pub fn retry(&self, id: i64, due_ms: i64, reason: &str) -> Result<(), QueueError> {
        let mut inner = self.lock();
        inner
            .conn
            .execute(
                "UPDATE serve_queue SET state = 'queued', due = ?2, reason = ?3 WHERE id = ?1",
                params![id, due_ms, reason],
            )
            .map_err(|e| self.error(&e))?;
        inner.pending += 1;
        Ok(())
    }

    /// Records how a claimed artifact's scan ended.
    pub fn finish(&self, id: i64, how: Finished, reason: Option<&str>) -> Result<(), QueueError> {
        let state = match how {
            Finished::Done => "done",
            Finished::Failed => "failed",
        };
        self.lock()
            .conn
            .execute(
                "UPDATE serve_queue SET state = ?2, reason = ?3 WHERE id = ?1",
                params![id, state, reason],
            )
            .map_err(|e| self.error(&e))?;
        Ok(())
    }

    /// Artifacts waiting to be scanned.
    pub fn queued(&self) -> u64 {
        self.lock().pending
    }

    /// True when the database answers (for `/healthz`).
    pub fn healthy(&self) -> bool {
        self.lock().conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).is_ok()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn error(&self, e: &rusqlite::Error) -> QueueError {
        QueueError { path: self.path.clone(), message: e.to_string() }
    }
}

fn tags_text(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".to_owned())
}

/// Tags as stored; a row this process wrote always parses.
fn parse_tags(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot set up should fail loudly
mod tests {
    use super::*;

    fn artifact(repository: &str, digest: &str, tag: &str) -> Artifact {
        Artifact {
            project: repository.split('/').next().unwrap().to_owned(),
            repository: repository.to_owned(),
            digest: digest.to_owned(),
            tags: vec![tag.to_owned()],
        }
    }

    #[test]
    fn a_digest_is_queued_once_and_its_tags_merge() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(&dir.path().join("q.db")).unwrap();
        let a = artifact("team/app", "sha256:aa", "v1");
        assert_eq!(
            queue.push(std::slice::from_ref(&a), 10, 0).unwrap(),
            Pushed::Accepted { new: 1 }
        );
        let again = artifact("team/app", "sha256:aa", "latest");
        assert_eq!(queue.push(&[again], 10, 0).unwrap(), Pushed::Accepted { new: 0 });
        assert_eq!(queue.queued(), 1);
        let job = queue.claim(0).unwrap().unwrap();
        assert_eq!(job.artifact.tags, ["latest", "v1"]);
        assert_eq!(job.attempts, 1);
        assert_eq!(queue.claim(0).unwrap(), None);
        queue.finish(job.id, Finished::Done, None).unwrap();
        assert_eq!(
            queue.push(&[a], 10, 0).unwrap(),
            Pushed::Accepted { new: 0 },
            "done: not again"
        );
        assert_eq!(queue.claim(0).unwrap(), None);
    }

    #[test]
    fn a_full_queue_takes_nothing_of_a_push() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(&dir.path().join("q.db")).unwrap();
        queue.push(&[artifact("a/b", "sha256:1", "v1")], 2, 0).unwrap();
        let two = [artifact("a/b", "sha256:2", "v1"), artifact("a/b", "sha256:3", "v1")];
        assert_eq!(queue.push(&two, 2, 0).unwrap(), Pushed::Full);
        assert_eq!(queue.queued(), 1);
        assert_eq!(
            queue.push(&[artifact("a/b", "sha256:1", "v2")], 2, 0).unwrap(),
            Pushed::Accepted { new: 0 },
            "a known digest takes no room"
        );
        assert_eq!(queue.push(&two[..1], 2, 0).unwrap(), Pushed::Accepted { new: 1 });
    }

    #[test]
    fn work_in_flight_at_a_crash_is_queued_again_and_retries_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let queue = Queue::open(&path).unwrap();
        queue.push(&[artifact("a/b", "sha256:1", "v1")], 10, 0).unwrap();
        queue.push(&[artifact("a/b", "sha256:2", "v1")], 10, 0).unwrap();
        let first = queue.claim(0).unwrap().unwrap();
        queue.retry(first.id, 5_000, "registry down").unwrap();
        let second = queue.claim(100).unwrap().unwrap();
        assert_eq!(second.artifact.digest, "sha256:2");
        assert_eq!(queue.claim(100).unwrap(), None, "the retry is not due yet");
        assert_eq!(queue.next_due().unwrap(), Some(5_000));
        drop(queue);

        let queue = Queue::open(&path).unwrap();
        assert_eq!(queue.queued(), 2, "the one being scanned is queued again");
        let again = queue.claim(100).unwrap().unwrap();
        assert_eq!((again.artifact.digest.as_str(), again.attempts), ("sha256:2", 2));
        let retried = queue.claim(5_000).unwrap().unwrap();
        assert_eq!(retried.attempts, 2);
        queue.finish(retried.id, Finished::Failed, Some("registry down")).unwrap();
        assert_eq!(
            queue.push(&[artifact("a/b", "sha256:1", "v1")], 10, 6_000).unwrap(),
            Pushed::Accepted { new: 1 },
            "a failed digest pushed again is scanned again"
        );
    }
}
