//! The scan cache: results kept in an embedded `SQLite` database so the next run reads only what
//! is new, and everything again when the rules change.
//!
//! - Sweeps keep per-layer results, keyed by the layer digest AND the rule set's digest
//!   ([`crate::rules::RuleSet::digest`]).
//! - History scans (`leakhound git --cache`) keep, under one key (the rule set's digest plus the
//!   options that change what a blob scans to), every blob scanned with its matches, and every
//!   commit walked with what it introduced that matters ([`Cache::history`]).
//!
//! - A result is written (and committed) as soon as its layer is done, so an interrupted sweep
//!   resumes where it stopped.
//! - A cache holds one rule set's results: opening it with another rule set drops the old rows,
//!   which are never trusted.
//! - A corrupt, unreadable or locked database is a clear error, never a silent miss or a wrong
//!   hit; a row that does not parse is an error too.
//! - Only scan results are stored: never credentials, registry addresses or tokens.
//!
//! Values are opaque serde types (the image source's per-layer result). This module must not
//! depend on sources, the engine or reports.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Layout version of the database; a newer one is refused, not guessed at. 2 added the history
/// tables, 3 the history's commit list, 4 its commit graph in place of the list (an older file is
/// upgraded in place: its rows stay valid, and a list, kept in an older order, is dropped).
const SCHEMA_VERSION: i64 = 4;

/// `PRAGMA application_id` of a leakhound cache (`LkHd`), so a database of another program is
/// refused rather than written into.
const APPLICATION_ID: i64 = 0x4C6B_4864;

/// The tables a leakhound cache holds; a file without our application id that holds any other
/// table belongs to another program.
/// (`serve_queue` is `leakhound serve`'s durable queue, kept in the same file.)
const TABLES: [&str; 6] =
    ["layers", "history_key", "history_blobs", "history_commits", "history_graph", "serve_queue"];

/// How long to wait for another process holding the database before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A cache that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Another process holds the database.
    #[error(
        "cache {path} is locked by another process: wait for it, or give each concurrent job its own --cache"
    )]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The file is not a `SQLite` database or is damaged.
    #[error(
        "cache {path} is corrupt ({message}): delete it to start a fresh cache (the next sweep rescans everything)"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What `SQLite` or the parser said.
        message: String,
    },
    /// A database of another program.
    #[error(
        "{path} is not a leakhound cache (it is a database of another program): give --cache a new file"
    )]
    Foreign {
        /// The database file.
        path: PathBuf,
    },
    /// Written by a newer leakhound.
    #[error(
        "cache {path} has layout version {found}, newer than this leakhound's {SCHEMA_VERSION}: upgrade leakhound or use another --cache"
    )]
    Newer {
        /// The database file.
        path: PathBuf,
        /// The version found.
        found: i64,
    },
    /// Any other `SQLite` failure (permissions, disk full).
    #[error("cache {path}: {message}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What `SQLite` said.
        message: String,
    },
}

/// An open cache for one rule set.
pub struct Cache {
    conn: Mutex<Connection>,
    path: PathBuf,
    rules: String,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("path", &self.path)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// Opens (creating when missing) the cache at `path` for the rule set whose digest is
    /// `rules`; rows written under any other rule set are deleted.
    pub fn open(path: &Path, rules: &str) -> Result<Cache, CacheError> {
        Cache::open_with_timeout(path, rules, BUSY_TIMEOUT)
    }

    /// [`Cache::open`] with a chosen wait for a locked database.
    pub fn open_with_timeout(
        path: &Path,
        rules: &str,
        busy: Duration,
    ) -> Result<Cache, CacheError> {
        let fail = |e: rusqlite::Error| classify(path, &e);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| CacheError::Sqlite {
                path: path.to_owned(),
                message: format!("cannot create its folder: {e}"),
            })?;
        }
        let conn = Connection::open(path).map_err(fail)?;
        conn.busy_timeout(busy).map_err(fail)?;
        // Reading the header is the first real I/O: a non-database file fails here.
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(fail)?;
        if version > SCHEMA_VERSION {
            return Err(CacheError::Newer { path: path.to_owned(), found: version });
        }
        let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(fail)?;
        if check != "ok" {
            return Err(CacheError::Corrupt { path: path.to_owned(), message: check });
        }
        if !is_ours(&conn).map_err(fail)? {
            return Err(CacheError::Foreign { path: path.to_owned() });
        }
        conn.pragma_update(None, "journal_mode", "WAL").map_err(fail)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(fail)?;
        conn.execute_batch(
            "BEGIN IMMEDIATE;
             CREATE TABLE IF NOT EXISTS layers (
                 digest TEXT NOT NULL,
                 rules  TEXT NOT NULL,
                 result TEXT NOT NULL,
                 stored INTEGER NOT NULL,
                 PRIMARY KEY (digest, rules)
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS history_key (key TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS history_blobs (
                 id    BLOB PRIMARY KEY,
                 found TEXT
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS history_commits (
                 id     BLOB PRIMARY KEY,
                 walked TEXT
             ) WITHOUT ROWID;
             DROP TABLE IF EXISTS history_list;
             CREATE TABLE IF NOT EXISTS history_graph (
                 tips    TEXT NOT NULL,
                 shape   TEXT NOT NULL,
                 ids     BLOB NOT NULL,
                 times   BLOB NOT NULL,
                 first   BLOB NOT NULL,
                 parents BLOB NOT NULL
             );
             COMMIT;",
        )
        .map_err(fail)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(fail)?;
        conn.pragma_update(None, "application_id", APPLICATION_ID).map_err(fail)?;
        conn.execute("DELETE FROM layers WHERE rules <> ?1", params![rules]).map_err(fail)?;
        Ok(Cache { conn: Mutex::new(conn), path: path.to_owned(), rules: rules.to_owned() })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored result for `digest` under this rule set, if any.
    pub fn get<T: DeserializeOwned>(&self, digest: &str) -> Result<Option<T>, CacheError> {
        let text: Option<String> = self
            .lock()
            .query_row(
                "SELECT result FROM layers WHERE digest = ?1 AND rules = ?2",
                params![digest, self.rules],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| classify(&self.path, &e))?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| CacheError::Corrupt {
                path: self.path.clone(),
                message: format!("the entry for {digest} does not parse: {e}"),
            })
        })
        .transpose()
    }

    /// Records the result for `digest` now (committed before this returns).
    pub fn put<T: Serialize>(&self, digest: &str, value: &T) -> Result<(), CacheError> {
        let text = serde_json::to_string(value).map_err(|e| CacheError::Sqlite {
            path: self.path.clone(),
            message: format!("cannot serialise the result for {digest}: {e}"),
        })?;
        self.lock()
            .execute(
                "INSERT OR REPLACE INTO layers (digest, rules, result, stored) VALUES (?1, ?2, ?3, ?4)",
                params![digest, self.rules, text, crate::report::now().cast_signed()],
            )
            .map_err(|e| classify(&self.path, &e))?;
        Ok(())
    }

    /// Number of layers stored for this rule set.
    pub fn len(&self) -> Result<u64, CacheError> {
        let n: i64 = self
            .lock()
            .query_row("SELECT count(*) FROM layers WHERE rules = ?1", params![self.rules], |r| {
                r.get(0)
            })
            .map_err(|e| classify(&self.path, &e))?;
        Ok(n.cast_unsigned())
    }

    /// True when nothing is stored for this rule set.
    pub fn is_empty(&self) -> Result<bool, CacheError> {
        Ok(self.len()? == 0)
    }

    /// What earlier history scans under `key` stored: every blob id with its value (`None`: it
    /// scanned to nothing), every commit id with its value, and the last run's commit list.
    /// Rows stored under another key are deleted first: a rule or option change rescans
    /// everything.
    pub fn history<B: DeserializeOwned, C: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<History<B, C>, CacheError> {
        let fail = |e: rusqlite::Error| classify(&self.path, &e);
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(fail)?;
        let stored: Option<String> = tx
            .query_row("SELECT key FROM history_key", [], |r| r.get(0))
            .optional()
            .map_err(fail)?;
        if stored.as_deref() != Some(key) {
            tx.execute_batch(
                "DELETE FROM history_blobs; DELETE FROM history_commits; DELETE FROM history_graph;
                 DELETE FROM history_key;",
            )
            .map_err(fail)?;
            tx.execute("INSERT INTO history_key (key) VALUES (?1)", params![key]).map_err(fail)?;
        }
        let blobs = self.rows(&tx, "SELECT id, found FROM history_blobs")?;
        let commits = self.rows(&tx, "SELECT id, walked FROM history_commits")?;
        let list = self.list(&tx)?;
        tx.commit().map_err(fail)?;
        Ok(History { blobs, commits, list })
    }

    /// The stored commit graph, checked whole: a damaged one is an error, not a miss.
    fn list(&self, conn: &Connection) -> Result<Option<CommitList>, CacheError> {
        type Row = (String, String, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);
        let fail = |e: rusqlite::Error| classify(&self.path, &e);
        let row: Option<Row> = conn
            .query_row(
                "SELECT tips, shape, ids, times, first, parents FROM history_graph",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .optional()
            .map_err(fail)?;
        let Some((tips, shape, ids, times, first, parents)) = row else { return Ok(None) };
        let graph = CommitGraph::decode(&ids, &times, &first, &parents).ok_or_else(|| {
            let message = "the commit graph is damaged".to_owned();
            CacheError::Corrupt { path: self.path.clone(), message }
        })?;
        Ok(Some(CommitList { tips, shape, graph }))
    }

    /// Adds what a history scan learned (under the key [`Cache::history`] was last asked for),
    /// in one transaction: an interrupted run stores nothing rather than half a history. A
    /// `list` replaces the stored commit list.
    pub fn remember_history<B: Serialize, C: Serialize>(
        &self,
        blobs: &[([u8; 20], Option<B>)],
        commits: &[([u8; 20], Option<C>)],
        list: Option<&CommitList>,
    ) -> Result<(), CacheError> {
        let fail = |e: rusqlite::Error| classify(&self.path, &e);
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(fail)?;
        if let Some(list) = list {
            let [ids, times, first, parents] = list.graph.encode();
            tx.execute("DELETE FROM history_graph", []).map_err(fail)?;
            tx.execute(
                "INSERT INTO history_graph (tips, shape, ids, times, first, parents)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![list.tips, list.shape, ids, times, first, parents],
            )
            .map_err(fail)?;
        }
        for (table, rows) in [
            (
                "INSERT OR REPLACE INTO history_blobs (id, found) VALUES (?1, ?2)",
                self.texts(blobs)?,
            ),
            (
                "INSERT OR REPLACE INTO history_commits (id, walked) VALUES (?1, ?2)",
                self.texts(commits)?,
            ),
        ] {
            let mut insert = tx.prepare(table).map_err(fail)?;
            for (id, text) in rows {
                insert.execute(params![&id[..], text]).map_err(fail)?;
            }
        }
        tx.commit().map_err(fail)
    }

    /// Rows of `(id, optional JSON)` read by `query`, parsed; a row that does not parse makes
    /// the cache corrupt.
    fn rows<T: DeserializeOwned>(
        &self,
        conn: &Connection,
        query: &str,
    ) -> Result<Rows<T>, CacheError> {
        let fail = |e: rusqlite::Error| classify(&self.path, &e);
        let corrupt = |message: String| CacheError::Corrupt { path: self.path.clone(), message };
        let mut select = conn.prepare(query).map_err(fail)?;
        let mut rows = select.query([]).map_err(fail)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(fail)? {
            let id: Vec<u8> = row.get(0).map_err(fail)?;
            let id: [u8; 20] =
                id.try_into().map_err(|_| corrupt("a history row has no 20-byte id".to_owned()))?;
            let text: Option<String> = row.get(1).map_err(fail)?;
            let value = text
                .map(|t| serde_json::from_str(&t))
                .transpose()
                .map_err(|e| corrupt(format!("a history row does not parse: {e}")))?;
            out.push((id, value));
        }
        Ok(out)
    }

    /// `rows` with their values as JSON text.
    fn texts<T: Serialize>(
        &self,
        rows: &[([u8; 20], Option<T>)],
    ) -> Result<Rows<String>, CacheError> {
        rows.iter()
            .map(|(id, value)| {
                let text = value.as_ref().map(serde_json::to_string).transpose();
                text.map(|t| (*id, t)).map_err(|e| CacheError::Sqlite {
                    path: self.path.clone(),
                    message: format!("cannot serialise a history row: {e}"),
                })
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Rows of a history table: a 20-byte object id and its value, if any.
pub type Rows<T> = Vec<([u8; 20], Option<T>)>;

/// What [`Cache::history`] read: blob and commit ids, each with its value.
#[derive(Debug)]
pub struct History<B, C> {
    /// Blobs scanned, with what they scanned to (`None`: nothing).
    pub blobs: Rows<B>,
    /// Commits walked, with what they introduced that matters (`None`: nothing).
    pub commits: Rows<C>,
    /// The commit list of the last run that stored one.
    pub list: Option<CommitList>,
}

/// The commits a history scan selected, as a graph in its order, and digests of what decided
/// them: a run whose `tips` digest is the same selects the same commits, since a commit's parents
/// never change; one with the same `shape` (grafts and shallow boundary) but other tips selects
/// commits of this graph plus new ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitList {
    /// The digest of what decided the list: its tips and its shape.
    pub tips: String,
    /// The digest of what decides parents besides the commits themselves.
    pub shape: String,
    /// The commits.
    pub graph: CommitGraph,
}

/// Commits in history order (parents first), each with its committer date and its parents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitGraph {
    /// The commit ids, in order.
    pub ids: Vec<[u8; 20]>,
    /// Each commit's committer date (seconds since the epoch).
    pub times: Vec<i64>,
    /// The parents of commit `i` are `parents[first[i]..first[i + 1]]`.
    pub first: Vec<u32>,
    /// Parents, as positions in `ids` (each before its child's).
    pub parents: Vec<u32>,
}

impl CommitGraph {
    /// The parents of the commit at position `i`.
    pub fn parents_of(&self, i: usize) -> &[u32] {
        &self.parents[self.first[i] as usize..self.first[i + 1] as usize]
    }

    /// The graph as the columns it is stored in (ids, times, first, parents; little-endian),
    /// which [`CommitGraph::decode`] reads.
    fn encode(&self) -> [Vec<u8>; 4] {
        let le32 = |v: &[u32]| v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let times = self.times.iter().flat_map(|t| t.to_le_bytes()).collect();
        [self.ids.as_flattened().to_vec(), times, le32(&self.first), le32(&self.parents)]
    }

    /// The graph stored as these columns; `None` unless every part agrees with the others.
    fn decode(ids: &[u8], times: &[u8], first: &[u8], parents: &[u8]) -> Option<CommitGraph> {
        let (ids, rest) = ids.as_chunks::<20>();
        let (times, t_rest) = times.as_chunks::<8>();
        let (first, f_rest) = first.as_chunks::<4>();
        let (parents, p_rest) = parents.as_chunks::<4>();
        if !(rest.is_empty() && t_rest.is_empty() && f_rest.is_empty() && p_rest.is_empty()) {
            return None;
        }
        let graph = CommitGraph {
            ids: ids.to_vec(),
            times: times.iter().map(|t| i64::from_le_bytes(*t)).collect(),
            first: first.iter().map(|f| u32::from_le_bytes(*f)).collect(),
            parents: parents.iter().map(|p| u32::from_le_bytes(*p)).collect(),
        };
        let n = graph.ids.len();
        let shaped = graph.times.len() == n
            && graph.first.len() == n + 1
            && graph.first.first() == Some(&0)
            && graph.first.last().map(|&l| l as usize) == Some(graph.parents.len())
            && graph.first.is_sorted();
        let ordered =
            shaped && (0..n).all(|i| graph.parents_of(i).iter().all(|&p| (p as usize) < i));
        ordered.then_some(graph)
    }
}

/// True when the database is a leakhound cache, or empty: our application id, or none and no
/// table but ours.
fn is_ours(conn: &Connection) -> rusqlite::Result<bool> {
    let id: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    if id != 0 {
        return Ok(id == APPLICATION_ID);
    }
    let mut select = conn.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")?;
    let names = select.query_map([], |r| r.get::<_, String>(0))?;
    for name in names {
        if !TABLES.contains(&name?.as_str()) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn classify(path: &Path, err: &rusqlite::Error) -> CacheError {
    let path = path.to_owned();
    match err.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => CacheError::Locked { path },
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            CacheError::Corrupt { path, message: err.to_string() }
        }
        _ => CacheError::Sqlite { path, message: err.to_string() },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot set up should fail loudly
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Value {
        files: Vec<String>,
    }

    fn value(s: &str) -> Value {
        Value { files: vec![s.to_owned()] }
    }

    #[test]
    fn stores_by_digest_and_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/cache.db");
        let cache = Cache::open(&path, "rules-a").unwrap();
        assert!(cache.is_empty().unwrap());
        assert_eq!(cache.get::<Value>("sha256:1").unwrap(), None);
        cache.put("sha256:1", &value("a")).unwrap();
        cache.put("sha256:2", &value("b")).unwrap();
        assert_eq!(cache.get::<Value>("sha256:1").unwrap(), Some(value("a")));
        assert_eq!(cache.len().unwrap(), 2);
        drop(cache);

        // Reopened with the same rules: everything is still there (resumable).
        let cache = Cache::open(&path, "rules-a").unwrap();
        assert_eq!(cache.get::<Value>("sha256:2").unwrap(), Some(value("b")));
        drop(cache);

        // Another rule set: nothing written under the old one is trusted.
        let cache = Cache::open(&path, "rules-b").unwrap();
        assert_eq!(cache.get::<Value>("sha256:1").unwrap(), None);
        assert!(cache.is_empty().unwrap());
        drop(cache);
        let cache = Cache::open(&path, "rules-a").unwrap();
        assert_eq!(cache.get::<Value>("sha256:1").unwrap(), None, "old rows were dropped");
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.db");
        std::fs::write(&path, vec![b'x'; 8192]).unwrap();
        let err = Cache::open(&path, "r").unwrap_err();
        assert!(matches!(err, CacheError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("delete it"), "{err}");
    }

    #[test]
    fn damaged_row_is_an_error_not_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.db");
        let cache = Cache::open(&path, "r").unwrap();
        cache.put("sha256:1", &value("a")).unwrap();
        cache
            .lock()
            .execute("UPDATE layers SET result = '{not json' WHERE digest = 'sha256:1'", [])
            .unwrap();
        let err = cache.get::<Value>("sha256:1").unwrap_err();
        assert!(matches!(err, CacheError::Corrupt { .. }), "{err:?}");
    }

    #[test]
    fn locked_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.db");
        drop(Cache::open(&path, "r").unwrap());
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE; DELETE FROM layers;").unwrap();
        let err = Cache::open_with_timeout(&path, "r", Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, CacheError::Locked { .. }), "{err:?}");
        assert!(err.to_string().contains("locked"), "{err}");
        holder.execute_batch("ROLLBACK").unwrap();
    }

    #[test]
    fn history_rows_are_kept_under_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.db");
        let cache = Cache::open(&path, "r").unwrap();
        let empty = cache.history::<Value, Value>("key-a").unwrap();
        assert!(empty.blobs.is_empty() && empty.commits.is_empty() && empty.list.is_none());
        let list = list_of("tips-1", &[[3; 20], [4; 20]]);
        cache
            .remember_history(
                &[([1; 20], Some(value("hit"))), ([2; 20], None)],
                &[([3; 20], None::<Value>)],
                Some(&list),
            )
            .unwrap();
        drop(cache);
        let cache = Cache::open(&path, "r").unwrap();
        let mut kept = cache.history::<Value, Value>("key-a").unwrap();
        kept.blobs.sort_by_key(|(id, _)| *id);
        assert_eq!(kept.blobs, vec![([1; 20], Some(value("hit"))), ([2; 20], None)]);
        assert_eq!(kept.commits, vec![([3; 20], None)]);
        assert_eq!(kept.list, Some(list));
        // A run without a list keeps the stored one; a new list replaces it.
        let none: &[([u8; 20], Option<Value>)] = &[];
        cache.remember_history(none, none, None).unwrap();
        let newer = list_of("tips-2", &[[5; 20]]);
        cache.remember_history(none, none, Some(&newer)).unwrap();
        assert_eq!(cache.history::<Value, Value>("key-a").unwrap().list, Some(newer));
        // Another key (rules or options changed): nothing stored under the old one is trusted.
        let other = cache.history::<Value, Value>("key-b").unwrap();
        assert!(other.blobs.is_empty() && other.commits.is_empty() && other.list.is_none());
        assert!(cache.history::<Value, Value>("key-a").unwrap().blobs.is_empty());
    }

    #[test]
    fn damaged_history_row_is_an_error_not_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache.db"), "r").unwrap();
        cache.history::<Value, Value>("k").unwrap();
        cache
            .remember_history(
                &[([1; 20], Some(value("a")))],
                &[] as &[([u8; 20], Option<Value>)],
                None,
            )
            .unwrap();
        cache.lock().execute("UPDATE history_blobs SET found = '{not json'", []).unwrap();
        let err = cache.history::<Value, Value>("k").unwrap_err();
        assert!(matches!(err, CacheError::Corrupt { .. }), "{err:?}");
    }

    /// A list of `ids`, each the child of the one before it, one second apart.
    fn list_of(tips: &str, ids: &[[u8; 20]]) -> CommitList {
        let n = ids.len() as u32;
        let graph = CommitGraph {
            ids: ids.to_vec(),
            times: (0..i64::from(n)).collect(),
            first: (0..=n).map(|i| i.saturating_sub(1)).collect(),
            parents: (0..n.saturating_sub(1)).collect(),
        };
        CommitList { tips: tips.to_owned(), shape: "shape".to_owned(), graph }
    }

    #[test]
    fn damaged_commit_graph_is_an_error_not_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache.db"), "r").unwrap();
        let none: &[([u8; 20], Option<Value>)] = &[];
        // Cut ids, a parent after its child, first offsets out of step with the parents.
        for damage in [
            "UPDATE history_graph SET ids = x'0102'",
            "UPDATE history_graph SET parents = x'02000000'",
            "UPDATE history_graph SET first = x'00000000'",
        ] {
            cache.lock().execute("DELETE FROM history_graph", []).unwrap();
            cache.history::<Value, Value>("k").unwrap();
            let list = list_of("t", &[[7; 20], [8; 20], [9; 20]]);
            cache.remember_history(none, none, Some(&list)).unwrap();
            assert_eq!(cache.history::<Value, Value>("k").unwrap().list, Some(list));
            cache.lock().execute(damage, []).unwrap();
            let err = cache.history::<Value, Value>("k").unwrap_err();
            assert!(matches!(err, CacheError::Corrupt { .. }), "{damage}: {err:?}");
        }
    }

    #[test]
    fn a_version_3_file_is_upgraded_and_its_list_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.db");
        drop(Cache::open(&path, "r").unwrap());
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "DROP TABLE history_graph;
             CREATE TABLE history_list (tips TEXT NOT NULL, commits BLOB NOT NULL);
             INSERT INTO history_list VALUES ('t', x'00');
             PRAGMA user_version = 3;",
        )
        .unwrap();
        drop(old);
        let cache = Cache::open(&path, "r").unwrap();
        assert!(cache.history::<Value, Value>("k").unwrap().list.is_none());
        let tables: i64 = cache
            .lock()
            .query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'history_list'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(tables, 0);
    }

    #[test]
    fn database_of_another_program_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        Connection::open(&path).unwrap().execute_batch("CREATE TABLE users (name TEXT);").unwrap();
        let err = Cache::open(&path, "r").unwrap_err();
        assert!(matches!(err, CacheError::Foreign { .. }), "{err:?}");
        assert!(err.to_string().contains("not a leakhound cache"), "{err}");
        let other = dir.path().join("other.db");
        Connection::open(&other).unwrap().pragma_update(None, "application_id", 7).unwrap();
        assert!(matches!(Cache::open(&other, "r").unwrap_err(), CacheError::Foreign { .. }));
    }

    #[test]
    fn newer_layout_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.db");
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(
            Cache::open(&path, "r").unwrap_err(),
            CacheError::Newer { found: 99, .. }
        ));
    }
}
