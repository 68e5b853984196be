//! Schema validation shared by the unit tests (`src/report/format_tests.rs`) and the integration
//! tests (`tests/integration/report.rs`), both of which include this file with `#[path]`.

use std::path::Path;
use std::process::Command;

/// Validates `doc` against `tests/schemas/<schema>` with `tests/schemas/validate.py` (Python's
/// `jsonschema`, which `scripts/test.sh` installs when missing).
pub fn validate(schema: &str, doc: &[u8]) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("doc.json");
    std::fs::write(&file, doc).expect("write doc");
    let out = Command::new("python3")
        .arg(root.join("validate.py"))
        .arg(root.join(schema))
        .arg(&file)
        .output()
        .expect("python3 runs (scripts/test.sh installs python3-jsonschema)");
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into()) }
}
