//! The work budget of rule regexes (#19): a rule whose search would take minutes on a blob is
//! stopped there and named, and the run exits 2; a rule without keywords is warned about.

use std::fmt::Write as _;

use crate::common::TestEnv;

/// A megabyte of `a` and `b` on one line, in an order no lazy DFA can cache.
fn random_ab_line() -> Vec<u8> {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut line: Vec<u8> = (0..1 << 20)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if seed & 1 == 0 { b'a' } else { b'b' }
        })
        .collect();
    line.push(b'\n');
    line
}

#[test]
fn slow_user_rule_on_a_long_line_is_named_not_fully_scanned() {
    let env = TestEnv::new();
    // Accepted at load (300 + 3 positions), but the regex crate needs about 10 s per MB on
    // this text in a release build, and minutes in a debug one.
    let rules = env
        .file("rules.toml", "[[rule]]\nid = \"test.slow\"\npattern = '''((a|b)*a(a|b){300})'''\n");
    env.file("tree/long.txt", random_ab_line());
    env.file("tree/fine.txt", "nothing here\n");
    let config = rules.to_str().expect("utf-8 path");
    let clock = std::time::Instant::now();
    let out = env.run(&["dir", "tree", "--config", config, "--format", "json"]);
    assert!(clock.elapsed().as_secs() < 30, "took {:?}", clock.elapsed());
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let errors = doc["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["origin"], "long.txt");
    let message = errors[0]["message"].as_str().expect("message");
    assert!(message.contains("rule test.slow") && message.contains("rules.toml:1"), "{message}");
    assert!(message.contains("not fully scanned") && message.contains("keywords"), "{message}");
    // The warning at load names the rule and its file.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning:")
            && stderr.contains("rules.toml:1: rule test.slow has no keywords"),
        "{stderr}"
    );
}

#[test]
fn keywordless_user_rule_on_a_large_file_still_finds_its_secrets() {
    let env = TestEnv::new();
    // A keywordless rule with a large pattern goes over the work budget's threshold on 400 KB;
    // its search is bounded, not cut short: every token is found and nothing is an error.
    let rules = env.file(
        "rules.toml",
        "[[rule]]\nid = \"test.tok\"\npattern = '''\\b(tok_[a-z0-9]{8})\\b(?:-x{0,2000})?'''\n",
    );
    let mut text = String::new();
    for i in 0..8_000u32 {
        let token = i.wrapping_mul(2_654_435_761);
        writeln!(text, "line {i} with some words and tok_{token:08x}-xx here")
            .expect("to a String");
    }
    env.file("tree/big.txt", &text);
    let config = rules.to_str().expect("utf-8 path");
    let (code, doc) = env.json(&["dir", "tree", "--config", config]);
    assert_eq!(doc["errors"].as_array().map(Vec::len), Some(0), "{}", doc["errors"]);
    assert_eq!(code, 1);
    let tokens = doc["findings"].as_array().expect("findings").iter();
    assert_eq!(tokens.filter(|f| f["rule_id"] == "test.tok").count(), 8_000);
}
