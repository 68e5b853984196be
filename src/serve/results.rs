//! The results directory: one report per artifact, `REPOSITORY/ALGORITHM-HEX.json` (the
//! repository's path components as folders), plus the same report in the `--format` asked for
//! when that is another file format, and with `--format html` an `index.html` over them all
//! ([`super::index`]). Each file is written to a temporary name and renamed, so a
//! reader (or a crash) never sees half a report.
//!
//! Repository names and digests were checked against the distribution grammar when the webhook
//! was read ([`super::webhook`]), so these paths stay inside the directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Artifact;
use super::index::Index;
use crate::report::{self, Format, Options, Report};

/// Where reports go and in which formats.
#[derive(Debug)]
pub struct Results {
    dir: PathBuf,
    formats: Vec<Format>,
    options: Options,
    /// With `--format html`: the page over all reports.
    index: Option<Index>,
}

impl Results {
    /// Reports in `dir` of artifacts of `registry`: JSON, plus `extra` when it is a file format
    /// other than JSON (text is for terminals), and an index page when that is HTML.
    pub fn new(dir: PathBuf, registry: &str, extra: Format, show_secrets: bool) -> Results {
        let mut formats = vec![Format::Json];
        if !matches!(extra, Format::Json | Format::Text) {
            formats.push(extra);
        }
        let index = (extra == Format::Html)
            .then(|| Index::new(dir.clone(), registry.to_owned(), show_secrets));
        Results { dir, formats, options: Options { show_secrets, color: false }, index }
    }

    /// The page over all reports, with `--format html`.
    pub fn index(&self) -> Option<&Index> {
        self.index.as_ref()
    }

    /// The JSON report's path for `artifact`.
    pub fn path(&self, artifact: &Artifact) -> PathBuf {
        self.file(artifact, Format::Json)
    }

    /// Writes `report` for `artifact` in every format.
    pub fn write(&self, artifact: &Artifact, report: &Report) -> Result<(), String> {
        for &format in &self.formats {
            let path = self.file(artifact, format);
            write_atomically(&path, |out| report::write(format, report, &self.options, out))
                .map_err(|e| format!("cannot write the report {}: {e}", path.display()))?;
        }
        if let Some(index) = &self.index {
            index.request();
        }
        Ok(())
    }

    fn file(&self, artifact: &Artifact, format: Format) -> PathBuf {
        let name = artifact.digest.replace(':', "-");
        self.dir.join(&artifact.repository).join(format!("{name}.{}", extension(format)))
    }
}

/// The file name extension of a format.
fn extension(format: Format) -> &'static str {
    match format {
        Format::Text => "txt",
        Format::Json => "json",
        Format::Jsonl => "jsonl",
        Format::Sarif => "sarif",
        Format::Gitlab => "gitlab.json",
        Format::Junit => "junit.xml",
        Format::Csv => "csv",
        Format::Html => "html",
    }
}

/// Writes `path` through `fill` under a temporary name, then renames it into place.
pub(super) fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    // One artifact is scanned by one worker at a time, and the index is written under its lock,
    // so the name is this process's own.
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&temp)?);
    let written = fill(&mut out).and_then(|()| out.flush());
    let synced = written.and_then(|()| out.get_ref().sync_all());
    if let Err(e) = synced.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot set up should fail loudly
mod tests {
    use super::*;

    #[test]
    fn one_report_per_artifact_in_each_format() {
        let dir = tempfile::tempdir().unwrap();
        let results = Results::new(dir.path().to_owned(), "r.example", Format::Sarif, false);
        let artifact = Artifact {
            project: "team".into(),
            repository: "team/app".into(),
            digest: format!("sha256:{}", "ab".repeat(32)),
            tags: vec!["v1".into()],
        };
        results.write(&artifact, &Report::default()).unwrap();
        let json = results.path(&artifact);
        assert!(json.ends_with(format!("team/app/sha256-{}.json", "ab".repeat(32))));
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        assert!(doc["findings"].as_array().unwrap().is_empty());
        assert!(json.with_extension("sarif").is_file());
        assert_eq!(std::fs::read_dir(json.parent().unwrap()).unwrap().count(), 2, "no temp left");
    }
}
