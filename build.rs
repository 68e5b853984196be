//! Embeds every `rules/*.toml` file into the binary, so adding a rule file needs no code change.
//!
//! The files are parsed here, not at every start: parsing their TOML was about a quarter of a
//! ten-file pre-commit run. Each rule is embedded as JSON, which serde reads several times
//! faster than TOML, with the line of its `[[rule]]` header, so that errors and `rules list`
//! still name file and line.

#[path = "src/rules/headers.rs"]
mod headers;

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    println!("cargo::rerun-if-changed={}", dir.display());
    println!("cargo::rerun-if-changed=src/rules/headers.rs");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("rules/ directory is readable")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| Path::new(n).extension().is_some_and(|e| e == "toml"))
        .collect();
    names.sort();
    let mut out = String::from(
        "/// Built-in rule files, sorted by name: (file name, its rules as (line of the rule's \
         `[[rule]]` header, the rule's table as JSON)).\n",
    );
    out.push_str("pub(super) static FILES: &[(&str, &[(usize, &str)])] = &[\n");
    for name in &names {
        let path = dir.join(name);
        println!("cargo::rerun-if-changed={}", path.display());
        let text = fs::read_to_string(&path).expect("rule file is readable");
        writeln!(out, "    ({name:?}, &[").expect("write to string");
        for (line, json) in rules_as_json(name, &text) {
            writeln!(out, "        ({line}, {json:?}),").expect("write to string");
        }
        out.push_str("    ]),\n");
    }
    out.push_str("];\n");
    let dest =
        Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("builtin_rules.rs");
    fs::write(dest, out).expect("OUT_DIR is writable");
}

/// Each `[[rule]]` table of a built-in file, with its header's line, as JSON. The loader reads a
/// built-in file's rules only, so a file holding anything else fails the build; so does a value
/// JSON cannot carry exactly (a TOML date), which the round trip below would show.
fn rules_as_json(name: &str, text: &str) -> Vec<(usize, String)> {
    let table: toml::Table =
        text.parse().unwrap_or_else(|e| panic!("rules/{name} is not valid TOML: {e}"));
    if let Some(key) = table.keys().find(|k| *k != "rule") {
        panic!("rules/{name}: a built-in rule file holds only [[rule]] tables, not `{key}`");
    }
    let rules = match table.get("rule") {
        None => &Vec::new(),
        Some(toml::Value::Array(rules)) => rules,
        Some(_) => panic!("rules/{name}: `rule` must be an array of tables ([[rule]])"),
    };
    let lines = headers::rule_header_lines(text);
    assert_eq!(lines.len(), rules.len(), "rules/{name}: a [[rule]] header per rule");
    rules
        .iter()
        .zip(lines)
        .map(|(rule, line)| {
            let json = serde_json::to_string(rule).expect("a TOML value serializes");
            let back: toml::Value = serde_json::from_str(&json).expect("JSON reads back");
            assert_eq!(&back, rule, "rules/{name}:{line}: the rule does not survive JSON");
            (line, json)
        })
        .collect()
}
