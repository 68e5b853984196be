//! `leakhound serve` (issue #18): scan on push. Harbor calls a webhook on every push; this
//! service answers it at once and scans the pushed images in the background, as `sweep` scans
//! them, with its layer cache.
//!
//! ```text
//! POST /harbor ──► webhook (auth, parse) ──► queue (SQLite, committed) ──► 202
//!                                              │
//!                        workers (--jobs) ◄────┘ claim ──► ArtifactScanner ──► results/ + notify
//! ```
//!
//! - [`webhook`] reads Harbor's payloads and checks the shared secret; [`server`] is the HTTP
//!   side (`/harbor`, `/healthz`, `/metrics`); [`queue`] is the durable queue; [`worker`] takes
//!   artifacts off it; [`results`] writes the reports and [`index`] the page over them; [`notify`] sends the message about
//!   findings; [`metrics`] counts.
//! - Scanning is the [`ArtifactScanner`]'s job (the command wires the sweep's image backend
//!   into it), so this module knows nothing of registries, the engine or triage.
//! - SIGTERM (or Ctrl-C): the listener stops accepting and answers what it has, workers finish
//!   the artifact in hand, and whatever is still queued stays in the database for the next start.

pub mod index;
pub mod metrics;
pub mod notify;
pub mod queue;
pub mod results;
pub mod server;
pub mod webhook;
pub mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::report::Report;
use crate::source::http::Retry;

/// A pushed artifact: a manifest (or index) digest in a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The Harbor project (namespace).
    pub project: String,
    /// The full repository name (`project/app`).
    pub repository: String,
    /// The manifest or index digest.
    pub digest: String,
    /// The tags it was pushed with (none for a push by digest).
    pub tags: Vec<String>,
}

/// What scanning an artifact gave.
#[derive(Debug, Clone)]
pub struct Scanned {
    /// The report to write (triaged; its errors name what could not be scanned).
    pub report: Report,
    /// Why the scan did not complete (the registry could not be reached, the manifest or a
    /// layer could not be read): the artifact is scanned again later, up to `--attempts`.
    pub retry: Option<String>,
    /// Layers pulled and scanned.
    pub layers_scanned: u64,
    /// Layers whose result came from the cache.
    pub layers_reused: u64,
}

/// Scans one artifact (the command's side: registry, cache, engine, triage).
pub trait ArtifactScanner: Sync {
    /// Pulls and scans `artifact`.
    fn scan(&self, artifact: &Artifact) -> Scanned;
}

/// How the service runs.
pub struct Options {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The secret webhooks must present; `None` only with `--unauthenticated`.
    pub secret: Option<webhook::Secret>,
    /// The registry as artifact names show it (`host:port`).
    pub registry: String,
    /// Where reports go.
    pub results: results::Results,
    /// Where messages about findings go.
    pub notifier: Option<notify::Notifier>,
    /// Artifacts scanned at the same time.
    pub jobs: usize,
    /// Artifacts waiting at most.
    pub max_queue: u64,
    /// The largest webhook body read.
    pub max_body: u64,
    /// Scans of an artifact (`attempts`) and the wait between them (`base_delay`, doubling).
    pub retry: Retry,
}

/// The service could not run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ServeError(pub String);

/// Runs the service until SIGTERM or Ctrl-C.
pub fn run(
    options: Options,
    queue: &Arc<queue::Queue>,
    scanner: &dyn ArtifactScanner,
) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ServeError(format!("cannot start the network runtime: {e}")))?;
    let index = options.results.index();
    // The page over what earlier runs wrote is there before the first push is taken.
    if let Some(built) = index.map(index::Index::refresh).transpose().map_err(ServeError)? {
        eprintln!(
            "leakhound: serve: {}: {} reports, {} unreadable ({:.0} ms)",
            index::INDEX,
            built.reports,
            built.unreadable,
            built.elapsed.as_secs_f64() * 1000.0
        );
    }
    let metrics = Arc::new(metrics::Metrics::new());
    let wake = Arc::new(worker::Wake::default());
    let stop = AtomicBool::new(false);
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(options.listen))
        .map_err(|e| ServeError(format!("cannot listen on {}: {e}", options.listen)))?;
    let address = listener.local_addr().map_or(options.listen, |a| a);
    let shared = Arc::new(server::Shared {
        queue: Arc::clone(queue),
        metrics: Arc::clone(&metrics),
        wake: Arc::clone(&wake),
        secret: options.secret.clone(),
        max_queue: options.max_queue,
        max_body: options.max_body,
    });
    let notifications = worker::Notifications::new(runtime.handle().clone(), options.notifier);
    let context = worker::Context {
        queue,
        scanner,
        results: &options.results,
        metrics: &metrics,
        notifications: &notifications,
        wake: &wake,
        stop: &stop,
        registry: &options.registry,
        retry: options.retry,
    };
    eprintln!(
        "leakhound: serve: listening on {address} ({} queued, {} jobs)",
        queue.queued(),
        options.jobs
    );
    let served = std::thread::scope(|s| {
        for _ in 0..options.jobs.max(1) {
            s.spawn(|| worker::work(&context));
        }
        if let Some(index) = index {
            s.spawn(|| index.keep(&stop));
        }
        let served = runtime.block_on(server::serve(listener, shared));
        eprintln!("leakhound: serve: stopping: finishing the scans in hand; the queue is kept");
        stop.store(true, Ordering::SeqCst);
        wake.notify();
        index.map(index::Index::wake);
        served
    });
    // The reports of the scans finished while stopping.
    index.map(index::Index::settle);
    runtime.block_on(notifications.finish());
    eprintln!("leakhound: serve: stopped ({} queued)", queue.queued());
    served.map_err(|e| ServeError(format!("the server failed: {e}")))
}
