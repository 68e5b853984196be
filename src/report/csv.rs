//! The CSV report (`--format csv`): a header row, then one row per finding (RFC 4180 quoting).
//! Cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or
//! carriage return) get a leading `'`, since paths and commit messages come from the scanned
//! content. Secrets are redacted unless `--show-secrets`. The `verification*` columns are empty
//! unless the run verified (`--verify`). Errors are not rows: they go to the
//! terminal and the exit code. Depends only on [`Report`].

use std::io::{self, Write};

use super::{Options, Report};

/// The header row.
pub const HEADER: &[&str] = &[
    "rule_id",
    "severity",
    "confidence",
    "path",
    "line",
    "column",
    "end_line",
    "end_column",
    "secret",
    "fingerprint",
    "commit",
    "author",
    "email",
    "date",
    "image",
    "layer_digest",
    "description",
    "verification",
    "verification_identity",
    "verification_detail",
    "verification_checked_at",
    "repository",
];

/// Writes the CSV document.
pub fn write(report: &Report, options: &Options, out: &mut dyn Write) -> io::Result<()> {
    write_row(out, HEADER.iter().map(|h| (*h).to_owned()))?;
    for f in &report.findings {
        let c = f.commit.as_ref();
        let i = f.image.as_ref();
        let v = f.verification.as_ref();
        write_row(
            out,
            [
                f.rule_id.clone(),
                f.severity.to_string(),
                f.confidence.to_string(),
                f.path.clone(),
                f.line.to_string(),
                f.column.to_string(),
                f.end_line.to_string(),
                f.end_column.to_string(),
                options.secret(&f.secret),
                f.fingerprint.clone(),
                c.map(|c| c.sha.clone()).unwrap_or_default(),
                c.map(|c| c.author.clone()).unwrap_or_default(),
                c.map(|c| c.email.clone()).unwrap_or_default(),
                c.map(|c| c.date.clone()).unwrap_or_default(),
                i.map(|i| i.reference.clone()).unwrap_or_default(),
                i.and_then(|i| i.layer_digest.clone()).unwrap_or_default(),
                f.description.clone(),
                v.map(|v| v.status.as_str().to_owned()).unwrap_or_default(),
                v.and_then(|v| v.identity.clone()).unwrap_or_default(),
                v.map(|v| v.detail.clone()).unwrap_or_default(),
                v.map(|v| v.checked_at.clone()).unwrap_or_default(),
                f.repository.clone().unwrap_or_default(),
            ]
            .into_iter(),
        )?;
    }
    Ok(())
}

fn write_row(out: &mut dyn Write, cells: impl Iterator<Item = String>) -> io::Result<()> {
    let row: Vec<String> = cells.map(|c| cell(&c)).collect();
    out.write_all(row.join(",").as_bytes())?;
    out.write_all(b"\r\n")
}

/// One cell, quoted when needed and defused when a spreadsheet would run it.
pub fn cell(text: &str) -> String {
    let defused = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn quoting_and_formula_defusing() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(cell("line\nbreak"), "\"line\nbreak\"");
    }
}
