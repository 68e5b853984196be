//! The `JUnit` XML report (`--format junit`), for CI systems that show test reports (GitLab's
//! `artifacts:reports:junit`, Jenkins, Azure Pipelines).
//!
//! One `<testsuite>`; each finding is a failed `<testcase>` named after its rule and place (with
//! `--verify`, the failure's message and body carry the verification status), each scan error an
//! errored one, and a clean scan a single passing case so the report is never empty. Secrets are redacted unless `--show-secrets`. Text is XML-escaped and characters XML
//! cannot carry are dropped. Depends only on [`Report`].

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{Options, Report, utc_timestamp};

/// Writes the `JUnit` document.
pub fn write(report: &Report, options: &Options, out: &mut dyn Write) -> io::Result<()> {
    let findings = report.findings.len();
    let errors = report.errors.len();
    let tests = (findings + errors).max(1);
    let time = report.stats.elapsed_ms as f64 / 1000.0;
    let mut s = String::new();
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"leakhound\" tests=\"{tests}\" failures=\"{findings}\" errors=\"{errors}\" time=\"{time:.3}\">"
    );
    let _ = writeln!(
        s,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{findings}\" errors=\"{errors}\" skipped=\"0\" time=\"{time:.3}\" timestamp=\"{}\">",
        escape(&format!("leakhound {}", report.target)),
        utc_timestamp(report.started)
    );
    for f in &report.findings {
        let mut body = format!(
            "{} at {}:{}:{}\nsecret: {}\nfingerprint: {}\n",
            f.description,
            f.path,
            f.line,
            f.column,
            options.secret(&f.secret),
            f.fingerprint
        );
        if let Some(v) = &f.verification {
            let _ = writeln!(body, "verification: {}", v.describe());
        }
        if let Some(r) = &f.repository {
            let _ = writeln!(body, "repository: {r}");
        }
        if let Some(c) = &f.commit {
            let _ = writeln!(
                body,
                "commit: {} {} <{}> {} {}",
                c.sha, c.author, c.email, c.date, c.message
            );
        }
        if let Some(i) = &f.image {
            let _ = writeln!(
                body,
                "image: {} {} layer {}",
                i.reference,
                i.platform,
                i.layer_digest.as_deref().unwrap_or("config")
            );
        }
        let _ = writeln!(
            s,
            "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{}\">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
            escape(&f.rule_id),
            escape(&format!("{} at {}:{}", f.rule_id, f.path, f.line)),
            escape(&f.path),
            f.line,
            escape(&f.rule_id),
            escape(&format!(
                "{} ({}, {} confidence{})",
                f.description,
                f.severity,
                f.confidence,
                f.verification
                    .as_ref()
                    .map(|v| format!(", {}", v.status.as_str()))
                    .unwrap_or_default()
            )),
            escape(&body)
        );
    }
    for e in &report.errors {
        let _ = writeln!(
            s,
            "    <testcase classname=\"leakhound.error\" name=\"{}\">\n      <error message=\"{}\"/>\n    </testcase>",
            escape(&e.origin),
            escape(&e.message)
        );
    }
    if tests > findings + errors {
        s.push_str("    <testcase classname=\"leakhound\" name=\"no secrets found\"/>\n");
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    out.write_all(s.as_bytes())
}

/// Escapes text for XML attributes and content, dropping characters XML 1.0 cannot carry.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_and_drops_invalid_characters() {
        assert_eq!(escape("a<b>&\"c'\x1b"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("x\ny"), "x&#10;y");
    }
}
