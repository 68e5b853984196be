//! The human report: one block per finding, then a summary. Paths and secrets are escaped so a
//! file name cannot smuggle terminal control or bidi characters onto the screen.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{Options, Report, Stats};
use crate::finding::Finding;

const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[33m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Writes every finding, then the summary.
pub fn write(report: &Report, options: &Options, out: &mut dyn Write) -> io::Result<()> {
    for finding in &report.findings {
        out.write_all(finding_block(finding, options).as_bytes())?;
    }
    for error in &report.errors {
        writeln!(out, "error: {}: {}", sanitize(&error.origin), sanitize(&error.message))?;
    }
    for line in skipped_lines(report) {
        writeln!(out, "{line}")?;
    }
    if let Some(line) = config_line(report) {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "{}", summary(&report.stats))
}

/// `rules: config FILE, N of M built-in rules off`, when a config file was read: a config in the
/// scanned tree may turn rules off, and the reader must see that it did.
pub fn config_line(report: &Report) -> Option<String> {
    let c = report.config.as_ref()?;
    let files: Vec<String> = c.files.iter().map(|f| sanitize(f)).collect();
    Some(format!(
        "rules: config {}, {} of {} built-in rules off",
        files.join(" + "),
        c.builtin_off,
        c.builtin_rules
    ))
}

/// One `not scanned: ORIGIN: REASON` line per item deliberately not scanned (the report's
/// `skipped`).
pub fn skipped_lines(report: &Report) -> impl Iterator<Item = String> + '_ {
    report
        .skipped
        .iter()
        .map(|s| format!("not scanned: {}: {}", sanitize(&s.origin), sanitize(&s.reason)))
}

/// One finding as a few indented lines.
pub fn finding_block(f: &Finding, options: &Options) -> String {
    let paint = |code: &str, text: &str| {
        if options.color { format!("{code}{text}{RESET}") } else { text.to_owned() }
    };
    let mut s = String::new();
    let place = format!("{}:{}:{}", sanitize(&f.path), f.line, f.column);
    // The badge a reader scans for first: a live credential (`--verify`, #16).
    let badge = if f.is_verified() { format!("  {}", paint(RED, "[LIVE]")) } else { String::new() };
    let _ = writeln!(
        s,
        "{}  {} ({}, {} confidence){badge}",
        paint(BOLD, &place),
        paint(RED, &f.rule_id),
        f.severity,
        f.confidence
    );
    if !f.description.is_empty() {
        let _ = writeln!(s, "    {}", f.description);
    }
    let _ = writeln!(
        s,
        "    secret: {}  {}",
        paint(YELLOW, &sanitize(&options.secret(&f.secret))),
        paint(DIM, &format!("fingerprint: {}", f.fingerprint))
    );
    if let Some(note) = &f.note {
        let _ = writeln!(s, "    note: {}", sanitize(note));
    }
    if let Some(v) = &f.verification {
        let _ = writeln!(s, "    verification: {}", sanitize(&v.describe()));
    }
    if let Some(r) = &f.repository {
        let _ = writeln!(s, "    repository: {}", sanitize(r));
    }
    if let Some(c) = &f.commit {
        let short = c.sha.get(..12).unwrap_or(&c.sha);
        let _ = writeln!(
            s,
            "    commit: {short} {} <{}> {} {}",
            sanitize(&c.author),
            sanitize(&c.email),
            c.date,
            sanitize(&c.message)
        );
    }
    if let Some(i) = &f.image {
        let layer = match (&i.layer_index, &i.layer_digest) {
            (Some(n), Some(d)) => format!("layer {n} {d}"),
            _ => "config".to_owned(),
        };
        let _ = write!(s, "    image: {} {} {layer}", sanitize(&i.reference), i.platform);
        if let Some(d) = &i.deleted_in_layer {
            let _ = write!(s, " (deleted in {d})");
        }
        s.push('\n');
    }
    if !f.occurrences.is_empty() {
        let _ = writeln!(s, "    +{} more occurrence(s)", f.occurrences.len());
    }
    s
}

/// The one-line summary.
pub fn summary(stats: &Stats) -> String {
    let skipped = stats.skipped_binary
        + stats.skipped_too_large
        + stats.skipped_special
        + stats.skipped_allowlisted;
    let messages = if stats.commit_messages > 0 {
        format!(" and {} commit message(s)", stats.commit_messages)
    } else {
        String::new()
    };
    let mut s = format!(
        "scanned {} blobs ({}){messages} in {:.2}s: {} finding(s), {} skipped",
        stats.scanned,
        human_bytes(stats.bytes),
        stats.elapsed_ms as f64 / 1000.0,
        stats.findings,
        skipped
    );
    if skipped > 0 {
        let _ = write!(
            s,
            " ({} binary, {} too large, {} special, {} allowlisted)",
            stats.skipped_binary,
            stats.skipped_too_large,
            stats.skipped_special,
            stats.skipped_allowlisted
        );
    }
    if stats.cached > 0 {
        let _ = write!(s, ", {} blobs and commits from the cache", stats.cached);
    }
    if stats.archives > 0 {
        let _ =
            write!(s, ", {} archive(s) opened ({} members)", stats.archives, stats.archive_members);
    }
    if stats.suppressed > 0 {
        let _ = write!(s, ", {} suppressed by baseline/ignore", stats.suppressed);
    }
    if stats.below_min_confidence > 0 {
        let _ = write!(s, ", {} below --min-confidence", stats.below_min_confidence);
    }
    if stats.not_verified > 0 {
        let _ = write!(s, ", {} not verified live (--only-verified)", stats.not_verified);
    }
    let _ = write!(s, ", {} error(s)", stats.errors);
    if stats.errors > 0 {
        s.push_str(": the scan is incomplete");
    }
    s
}

/// `1.5 MB` style sizes.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Escapes control characters and Unicode bidi overrides.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}');
        if c.is_control() || bidi {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_controls_and_bidi() {
        assert_eq!(sanitize("a\x1b[31mb\u{202E}c"), "a\\u{1b}[31mb\\u{202e}c");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
    }
}
