//! The counters `GET /metrics` shows, in the Prometheus (`OpenMetrics`) text format, kept with
//! the official Prometheus client (`prometheus-client`): lock-free counters, encoded on scrape.
//!
//! Must not depend on the HTTP server or the scanner.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Every metric of the service.
pub struct Metrics {
    registry: Registry,
    /// Webhooks received on `/harbor` (any answer).
    pub events_received: Counter,
    /// Webhooks of other event types, acknowledged and ignored.
    pub events_ignored: Counter,
    /// Webhooks refused: bad `Authorization`.
    pub events_unauthorized: Counter,
    /// Webhooks refused: malformed or too large.
    pub events_malformed: Counter,
    /// Webhooks refused with 429: the queue was full.
    pub events_refused: Counter,
    /// Artifacts newly queued.
    pub artifacts_queued: Counter,
    /// Artifacts waiting (set on each scrape).
    pub queue_depth: Gauge,
    /// Artifacts scanned to the end (with or without findings).
    pub artifacts_scanned: Counter,
    /// Artifacts given up on (reported as failed).
    pub artifacts_failed: Counter,
    /// Scans that failed and were queued again.
    pub scan_retries: Counter,
    /// Findings in the reports written.
    pub findings: Counter,
    /// Layers whose result came from the cache (never read again).
    pub layer_cache_hits: Counter,
    /// Layers pulled and scanned.
    pub layers_scanned: Counter,
    /// Notifications that failed after every retry.
    pub notifications_failed: Counter,
    /// Wall time of each artifact's scan.
    pub scan_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// All metrics at zero, registered under `leakhound_serve_`.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("leakhound_serve");
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let events_received = counter(&mut registry, "events_received", "Webhooks received");
        let events_ignored =
            counter(&mut registry, "events_ignored", "Webhooks of other event types, ignored");
        let events_unauthorized = counter(
            &mut registry,
            "events_unauthorized",
            "Webhooks refused for their Authorization",
        );
        let events_malformed = counter(
            &mut registry,
            "events_malformed",
            "Webhooks refused as malformed or too large",
        );
        let events_refused =
            counter(&mut registry, "events_refused", "Webhooks refused because the queue was full");
        let artifacts_queued = counter(&mut registry, "artifacts_queued", "Artifacts newly queued");
        let queue_depth = Gauge::default();
        registry.register("queue_depth", "Artifacts waiting to be scanned", queue_depth.clone());
        let artifacts_scanned =
            counter(&mut registry, "artifacts_scanned", "Artifacts scanned to the end");
        let artifacts_failed =
            counter(&mut registry, "artifacts_failed", "Artifacts reported as failed");
        let scan_retries = counter(&mut registry, "scan_retries", "Failed scans queued again");
        let findings = counter(&mut registry, "findings", "Findings in the reports written");
        let layer_cache_hits =
            counter(&mut registry, "layer_cache_hits", "Layers whose result came from the cache");
        let layers_scanned = counter(&mut registry, "layers_scanned", "Layers pulled and scanned");
        let notifications_failed = counter(
            &mut registry,
            "notifications_failed",
            "Notifications that failed after every retry",
        );
        // 10 ms (a cached image) to about 10 minutes (a large new layer).
        let scan_seconds = Histogram::new(exponential_buckets(0.01, 3.0, 12));
        registry.register("scan_seconds", "Wall time of an artifact's scan", scan_seconds.clone());
        Metrics {
            registry,
            events_received,
            events_ignored,
            events_unauthorized,
            events_malformed,
            events_refused,
            artifacts_queued,
            queue_depth,
            artifacts_scanned,
            artifacts_failed,
            scan_retries,
            findings,
            layer_cache_hits,
            layers_scanned,
            notifications_failed,
            scan_seconds,
        }
    }

    /// The text a scrape gets, with the queue depth set to `queued` first.
    pub fn encode(&self, queued: u64) -> String {
        self.queue_depth.set(queued.cast_signed());
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_show_in_the_text_format() {
        let m = Metrics::new();
        m.events_received.inc_by(3);
        m.scan_seconds.observe(0.5);
        let text = m.encode(7);
        assert!(text.contains("leakhound_serve_events_received_total 3"), "{text}");
        assert!(text.contains("leakhound_serve_queue_depth 7"), "{text}");
        assert!(text.contains("leakhound_serve_scan_seconds_count 1"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
