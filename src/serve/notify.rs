//! The notification sent when a pushed artifact has findings: one JSON POST whose body
//! (`{"text": "..."}`) Slack's and Mattermost's incoming webhooks both accept, listing the
//! findings with their secrets redacted. A refused or failed POST is retried with the registry
//! client's backoff, then logged; scanning never waits for it.
//!
//! Sees reports only; must not depend on sources or the engine.

use std::fmt::Write as _;

use crate::finding::redact;
use crate::report::Report;
use crate::report::text::sanitize;
use crate::source::http::Retry;

/// Findings listed in one message; the rest are counted (the report has them all).
const MAX_LISTED: usize = 20;

/// The message for `report` about `artifact` (`registry/repository@digest`).
pub fn message(artifact: &str, report: &Report) -> serde_json::Value {
    let findings = &report.findings;
    let mut text = format!(
        "leakhound: {} secret{} found in {}",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        escape(&sanitize(artifact))
    );
    for f in findings.iter().take(MAX_LISTED) {
        let place = match f.image.as_ref().and_then(|i| i.layer_index) {
            Some(layer) => format!(" (layer {layer})"),
            None => String::new(),
        };
        let _ = write!(
            text,
            "\n- {} `{}` in {}:{}{place}",
            escape(&f.rule_id),
            escape(&redact(&f.secret)),
            escape(&sanitize(&f.path)),
            f.line
        );
    }
    if findings.len() > MAX_LISTED {
        let _ = write!(text, "\n... and {} more (see the report)", findings.len() - MAX_LISTED);
    }
    serde_json::json!({ "text": text })
}

/// Slack reads `&`, `<` and `>` as markup (links, mentions); its docs ask for these escapes,
/// which Mattermost shows as the characters too.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Where notifications go.
#[derive(Clone)]
pub struct Notifier {
    client: reqwest::Client,
    url: reqwest::Url,
    retry: Retry,
}

impl Notifier {
    /// Posts to `url` with `client`, `retry.attempts` tries in all.
    pub fn new(client: reqwest::Client, url: reqwest::Url, retry: Retry) -> Notifier {
        Notifier { client, url, retry }
    }

    /// Posts `body`, retrying on a failed connection or a non-2xx answer; the last failure is
    /// returned, in words without the URL's path (an incoming webhook's path is its secret).
    pub async fn send(&self, body: &serde_json::Value) -> Result<(), String> {
        let mut last = String::new();
        for attempt in 0..self.retry.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.retry.delay(attempt - 1, None)).await;
            }
            match self.client.post(self.url.clone()).json(body).send().await {
                Ok(answer) if answer.status().is_success() => return Ok(()),
                Ok(answer) => last = format!("HTTP {}", answer.status().as_u16()),
                Err(e) => {
                    last = if e.is_timeout() {
                        "timed out".to_owned()
                    } else if e.is_connect() {
                        "cannot connect".to_owned()
                    } else {
                        "request failed".to_owned()
                    };
                }
            }
        }
        Err(format!(
            "notification to {} failed after {} tries: {last}",
            crate::source::http::host_port(&self.url),
            self.retry.attempts.max(1)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Finding, ImageInfo};
    use crate::rules::{Confidence, Severity};

    #[test]
    fn the_message_redacts_secrets_and_escapes_markup() {
        let secret = format!("ghp_{}", "Ky9Pf34qY6Nb3wWD25RQ4F5ZR3qa7y3gm1IL");
        let finding = Finding {
            rule_id: "github.pat".into(),
            description: String::new(),
            severity: Severity::High,
            confidence: Confidence::High,
            path: "app/<config>.env".into(),
            line: 3,
            column: 1,
            end_line: 3,
            end_column: 40,
            fingerprint: String::new(),
            secret: secret.clone(),
            commit: None,
            repository: None,
            image: Some(ImageInfo {
                reference: "reg.test/team/app:v1".into(),
                manifest_digest: "sha256:ab".into(),
                platform: "linux/amd64".into(),
                layer_digest: None,
                layer_index: Some(1),
                deleted_in_layer: None,
            }),
            occurrences: Vec::new(),
            verification: None,
            captures: std::collections::BTreeMap::new(),
            note: None,
        };
        let report = Report { findings: vec![finding; 25], ..Report::default() };
        let body = message("reg.test/team/app@sha256:ab", &report);
        let text = body["text"].as_str().expect("text");
        assert!(!text.contains(&secret), "{text}");
        assert!(text.contains("ghp_*****"), "{text}");
        assert!(text.contains("25 secrets found in reg.test/team/app@sha256:ab"), "{text}");
        assert!(text.contains("app/&lt;config&gt;.env:3 (layer 1)"), "{text}");
        assert!(text.contains("and 5 more"), "{text}");
    }
}
