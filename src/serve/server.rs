//! The HTTP side of `serve` (axum): `POST /harbor` takes webhooks and only queues them, so it
//! answers in milliseconds; `GET /healthz`; `GET /metrics`.
//!
//! `/harbor` answers 401 for a wrong `Authorization` (checked before the body is read), 413 for
//! a body over `--max-body` (a declared length over it is refused unread), 400 for a payload
//! that is not Harbor's, 200 for event types that are not pushes, 202 once the push is
//! committed to the queue, 429 when the queue is full (Harbor's job service retries), 503 when
//! the queue's database fails.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::metrics::Metrics;
use super::queue::{Pushed, Queue};
use super::webhook::{self, Event, Secret};
use super::worker::Wake;
use crate::report::text::sanitize;

/// What the handlers share.
pub struct Shared {
    /// The queue pushes go to.
    pub queue: Arc<Queue>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Rung when something was queued.
    pub wake: Arc<Wake>,
    /// The secret webhooks must present, if any.
    pub secret: Option<Secret>,
    /// Artifacts waiting at most.
    pub max_queue: u64,
    /// The largest body read.
    pub max_body: u64,
}

/// Serves on `listener` until SIGTERM or Ctrl-C, then stops accepting and finishes the
/// requests in hand.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) -> std::io::Result<()> {
    let app = Router::new()
        .route("/harbor", post(harbor))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(shared);
    axum::serve(listener, app).with_graceful_shutdown(shutdown()).await
}

/// Resolves on SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = ctrl_c => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn answer(status: StatusCode, text: impl Into<String>) -> Response {
    let mut text = text.into();
    text.push('\n');
    (status, text).into_response()
}

async fn harbor(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    let m = &shared.metrics;
    m.events_received.inc();
    if let Some(secret) = &shared.secret {
        let given = headers.get(header::AUTHORIZATION).map_or(&[][..], |v| v.as_bytes());
        if !secret.matches(given) {
            m.events_unauthorized.inc();
            return answer(StatusCode::UNAUTHORIZED, "wrong or missing Authorization header");
        }
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        m.events_malformed.inc();
        let mut r = answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over the limit of {} bytes", shared.max_body),
        );
        // The rest of the body is not read: the connection cannot carry another request.
        r.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
        r
    };
    if declared.is_some_and(|n| n > shared.max_body) {
        return too_large();
    }
    let limit = usize::try_from(shared.max_body).unwrap_or(usize::MAX);
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Err(_) => {
            m.events_malformed.inc();
            return answer(StatusCode::BAD_REQUEST, "the body could not be read");
        }
    };
    let artifacts = match webhook::parse(&bytes) {
        Ok(Event::Push(artifacts)) => artifacts,
        Ok(Event::Ignored(kind)) => {
            m.events_ignored.inc();
            return answer(StatusCode::OK, format!("ignored: event type {}", sanitize(&kind)));
        }
        Err(e) => {
            m.events_malformed.inc();
            return answer(StatusCode::BAD_REQUEST, sanitize(&e.0));
        }
    };
    let queue = Arc::clone(&shared.queue);
    let max = shared.max_queue;
    // SQLite commits (and syncs) on a blocking thread, not on the runtime's.
    let pushed = tokio::task::spawn_blocking(move || queue.push(&artifacts, max, now_ms())).await;
    match pushed {
        Ok(Ok(Pushed::Accepted { new })) => {
            m.artifacts_queued.inc_by(new);
            if new > 0 {
                shared.wake.notify();
            }
            answer(StatusCode::ACCEPTED, format!("queued {new} new artifact(s)"))
        }
        Ok(Ok(Pushed::Full)) => {
            m.events_refused.inc();
            let mut r = answer(StatusCode::TOO_MANY_REQUESTS, "the scan queue is full");
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("30"));
            r
        }
        Ok(Err(e)) => {
            eprintln!("leakhound: serve: error: {}", sanitize(&e.to_string()));
            answer(StatusCode::SERVICE_UNAVAILABLE, "the queue cannot take the push now")
        }
        Err(_) => answer(StatusCode::SERVICE_UNAVAILABLE, "the queue cannot take the push now"),
    }
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    let queue = Arc::clone(&shared.queue);
    match tokio::task::spawn_blocking(move || queue.healthy()).await {
        Ok(true) => answer(StatusCode::OK, "ok"),
        _ => answer(StatusCode::SERVICE_UNAVAILABLE, "the queue's database does not answer"),
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let text = shared.metrics.encode(shared.queue.queued());
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
        .into_response()
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
