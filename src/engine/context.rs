//! Context that lowers a finding's confidence without dropping it (issue #14): test data and
//! fixtures are still scanned, and a secret in them is still reported, one confidence step down,
//! as is a secret on a line that calls itself an example. Checksum-verified secrets are never
//! downgraded: a valid checksum is a real token wherever it sits.
//!
//! Pure functions of a path or a line; the engine asks about the line, and about the path once
//! the source has told the scan where the blob came from.

/// Directory names that hold test vectors, fixtures and samples (documentation's are samples).
/// `t` is the test directory of git and of Perl distributions (CPAN's `t/*.t`).
const TEST_DIRS: &[&str] = &[
    "t",
    "test",
    "tests",
    "testdata",
    "test-data",
    "test_data",
    "testing",
    "__tests__",
    "spec",
    "specs",
    "fixture",
    "fixtures",
    "examples",
    "example",
    "samples",
    "mocks",
    "__mocks__",
    "doc",
    "docs",
    "documentation",
];

/// True for paths of test vectors and fixtures: a directory named `tests/`, `testdata/`,
/// `fixtures/`, `spec/` (and kin), or a test file by the conventions of Go (`*_test.go`),
/// Python (`test_*.py`, `*_test.py`, `conftest.py`), JavaScript (`*.test.js`, `*.spec.ts`),
/// Ruby (`*_spec.rb`), Java (`*Test.java`) and Perl (`*.t`), or a sample file (`.env.example`,
/// `*.sample.yml`, `*.examples.json`).
pub fn test_path(path: &str) -> bool {
    let mut parts = path.split(['/', '\\']).filter(|p| !p.is_empty()).peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            return test_file(part);
        }
        if TEST_DIRS.iter().any(|d| part.eq_ignore_ascii_case(d)) {
            return true;
        }
    }
    false
}

fn test_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    // Sample files by name: `.env.example`, `config.sample.yml`, the AWS SDK's
    // `iam-2010-05-08.examples.json`.
    if lower.split('.').any(|part| matches!(part, "example" | "examples" | "sample" | "samples")) {
        return true;
    }
    // `test.netrc`, `test.env`, `test.json`: a file named "test" of any kind.
    if lower.split_once('.').is_some_and(|(stem, _)| stem == "test") {
        return true;
    }
    let (stem, ext) = lower.rsplit_once('.').unwrap_or((&lower, ""));
    match ext {
        "go" => stem.ends_with("_test"),
        "py" => stem.starts_with("test_") || stem.ends_with("_test") || stem == "conftest",
        "rb" => stem.ends_with("_spec") || stem.ends_with("_test"),
        "java" | "kt" | "cs" => {
            name.rsplit_once('.').is_some_and(|(s, _)| s.ends_with("Test") || s.ends_with("Tests"))
        }
        "js" | "jsx" | "ts" | "tsx" | "mjs" | "cjs" => {
            let inner = stem.rsplit_once('.').map_or("", |(_, inner)| inner);
            inner == "test" || inner == "spec"
        }
        "t" => true,
        "rs" => stem == "tests" || stem.ends_with("_test") || stem.ends_with("_tests"),
        _ => false,
    }
}

/// Words that make a line describe a sample rather than configure a system.
const SAMPLE_WORDS: &[&str] =
    &["example", "sample", "dummy", "fake", "placeholder", "mock", "demo"];

/// True when `line` calls what it holds an example: `example`, `sample`, `dummy`, `fake`,
/// `placeholder`, `mock` or `demo` as a word of its own (or a part of a snake, kebab or camel
/// name: `EXAMPLE_TOKEN`, `fakeKey`).
pub fn sample_line(line: &[u8]) -> bool {
    let line = String::from_utf8_lossy(line);
    let mut word = String::new();
    let flush = |word: &mut String| {
        let hit = SAMPLE_WORDS.iter().any(|w| word.eq_ignore_ascii_case(w));
        word.clear();
        hit
    };
    let mut previous_lower = false;
    for c in line.chars() {
        // A word ends at a non-letter and at a camel hump (`fakeKey` → `fake`, `Key`).
        if (!c.is_ascii_alphabetic() || (previous_lower && c.is_ascii_uppercase()))
            && flush(&mut word)
        {
            return true;
        }
        if c.is_ascii_alphabetic() {
            word.push(c);
        }
        previous_lower = c.is_ascii_lowercase();
    }
    flush(&mut word)
}

/// Lines at least this long are minified or generated, not written by a person, when they are
/// also nearly free of whitespace (see [`minified_line`]). Code people write stays under a few
/// hundred bytes a line; the bundles of an npm tree run to 100 KB and more (#14).
const MINIFIED_LINE_LEN: usize = 1000;

/// True for a line of minified or generated code: a thousand bytes or more, under
/// one in twenty of them whitespace (the bundles of an npm tree: 0.6–3 %). A long paragraph of
/// prose or a long line of formatted data has far more.
///
/// A generic pattern reads `name = value` by the spacing and quoting people use; minified code
/// drops both, so what it picks out there is a code fragment (`r.password,s.host=r.host`,
/// `,DuplicateBinding:`) far more often than a value. Such matches are reported at `low`, not
/// dropped: a real key bundled into shipped JavaScript is a leak, and an audit at
/// `--min-confidence low` still sees it, while the hook and `dir` (default `medium`) stay quiet.
pub fn minified_line(line: &[u8]) -> bool {
    // Its first 64 KB tell: a 50 MB line is judged for every candidate on it, and its whole
    // length would make that quadratic.
    let head = &line[..line.len().min(64 * 1024)];
    line.len() >= MINIFIED_LINE_LEN
        && head.iter().filter(|b| b.is_ascii_whitespace()).count() * 20 < head.len()
}

/// True for minified and generated files by name: `*.min.js` (and `.mjs`, `.cjs`, `.css`) and
/// source maps (`*.map`), whose `sourcesContent` is other files' text on one line. Generic
/// matches in them are `low`, for the reasons given at [`minified_line`].
pub fn minified_path(path: &str) -> bool {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path).to_ascii_lowercase();
    let (stem, ext) = name.rsplit_once('.').unwrap_or((&name, ""));
    let min = stem.rsplit_once('.').is_some_and(|(_, inner)| inner == "min");
    ext == "map" || (min && matches!(ext, "js" | "mjs" | "cjs" | "css"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_vector_paths() {
        for p in [
            "tests/integration/main.rs",
            "crate-1.0/testdata/keys.json",
            "pkg/auth/token_test.go",
            "lib/test_urlparse.py",
            "app/conftest.py",
            "web/src/login.spec.ts",
            "web/src/login.test.js",
            "spec/models/user_spec.rb",
            "src/test/java/com/acme/ConfigTest.java",
            "fixtures/decoys/settings.py",
            "C:\\src\\Tests\\keys.txt",
            "t/t5556-http-auth.sh",
            "contrib/mw-to-git/t/install-wiki/LocalSettings.php",
            "lib/Net/t-less/basic.t",
            "app/.env.example",
            "deploy/config.sample.yml",
            "node_modules/aws-sdk/apis/iam-2010-05-08.examples.json",
            "contrib/credential/netrc/test.netrc",
            "Documentation/git-p4.txt",
            "site/docs/setup.md",
        ] {
            assert!(test_path(p), "{p}");
        }
        for p in [
            "src/main.rs",
            "config/app.yaml",
            "latest/settings.py",
            "contest.py",
            "attest/x.go",
            "tt/a.sh",
            "t.sh",
            "src/exampleutils.rs",
            ".env.production",
            "config/testing.env",
            "src/documents/config.yml",
        ] {
            assert!(!test_path(p), "{p}");
        }
    }

    #[test]
    fn sample_lines() {
        for l in [
            "# example: token = abc",
            "EXAMPLE_TOKEN=abc",
            "const fakeKey = \"abc\"",
            "dummy_password: abc",
            "Use a placeholder value",
        ] {
            assert!(sample_line(l.as_bytes()), "{l}");
        }
        for l in
            ["token = abc", "counterexample_count = 3", "samplesize = 3", "token: demonstrable"]
        {
            assert!(!sample_line(l.as_bytes()), "{l}");
        }
    }

    #[test]
    fn minified_code() {
        let bundle = "a=1;b=2;".repeat(200) + "r.password,s.host=r.host";
        let spaced = "var a = 1; ".repeat(200);
        let prose = "The password must be at least eight characters long. ".repeat(30);
        assert!(minified_line(bundle.as_bytes()));
        assert!(!minified_line("r.password,s.host=r.host".as_bytes()), "short");
        assert!(!minified_line(spaced.as_bytes()), "formatted code");
        assert!(!minified_line(prose.as_bytes()), "prose");
        for p in ["dist/app.min.js", "lib/x.min.mjs", "C:\\web\\A.MIN.JS", "chunks/page.js.map"] {
            assert!(minified_path(p), "{p}");
        }
        for p in ["src/min.js", "admin.js", "minutes.min", "lib/map.rs"] {
            assert!(!minified_path(p), "{p}");
        }
    }
}
