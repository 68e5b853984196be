//! `leakhound dir` end to end.

use crate::common::{TestEnv, fake, rule_ids};

#[test]
fn finds_secrets_in_dotfiles_with_location() {
    let env = TestEnv::new();
    env.file(".env", format!("# settings\nAWS_ACCESS_KEY_ID={}\n", fake::aws_key_id()));
    env.file("src/app.py", format!("x = 1\nTOKEN = '{}'\n", fake::github_pat()));
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 1);
    assert_eq!(rule_ids(&doc), ["aws.access-key-id", "github.token"]);
    let f = &doc["findings"][0];
    assert_eq!(
        (f["path"].as_str(), f["line"].as_u64(), f["column"].as_u64()),
        (Some(".env"), Some(2), Some(19))
    );
    assert_eq!(doc["findings"][1]["path"], "src/app.py");
    assert_eq!(doc["stats"]["scanned"], 2);
}

#[test]
fn clean_tree_exits_zero() {
    let env = TestEnv::new();
    env.file("README", "nothing to see\n");
    let out = env.run(&["dir", "."]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 finding(s)"));
}

#[test]
fn secrets_are_redacted_unless_asked() {
    let env = TestEnv::new();
    env.file("k.txt", fake::github_pat());
    let out = env.run(&["dir", "."]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(&fake::github_pat()), "{text}");
    let (_, doc) = env.json(&["dir", "."]);
    assert!(!doc.to_string().contains(&fake::github_pat()));
    let (_, doc) = env.json(&["dir", ".", "--show-secrets"]);
    assert_eq!(doc["findings"][0]["secret"], fake::github_pat());
}

#[test]
fn missing_path_is_an_error_but_the_rest_is_scanned() {
    let env = TestEnv::new();
    env.file("a.txt", fake::aws_key_id());
    let (code, doc) = env.json(&["dir", "a.txt", "missing-dir"]);
    assert_eq!(code, 2, "an error wins over findings");
    assert_eq!(rule_ids(&doc), ["aws.access-key-id"]);
    assert_eq!(doc["errors"][0]["origin"], "missing-dir");
    assert!(doc["errors"][0]["message"].as_str().unwrap_or_default().contains("no such file"));
}

#[test]
fn binary_large_and_git_dirs_are_skipped_and_counted() {
    let env = TestEnv::new();
    let mut binary = b"\x7fELF\0\0".to_vec();
    binary.extend_from_slice(fake::aws_key_id().as_bytes());
    env.file("bin.so", binary);
    env.file("big.txt", format!("{}\n{}", "x".repeat(2048), fake::aws_key_id()));
    env.file(".git/config", fake::aws_key_id());
    let (code, doc) = env.json(&["dir", ".", "--max-file-size", "1K"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["stats"]["skipped_binary"], 1);
    assert_eq!(doc["stats"]["skipped_too_large"], 1);
    assert_eq!(doc["stats"]["scanned"], 0);
}

#[test]
fn only_the_head_decides_binary_and_long_text_is_read_whole() {
    let env = TestEnv::new();
    // A NUL in the first 8 KiB makes a file binary, however long it is; past them it does not.
    let mut binary = b"\0".to_vec();
    binary.extend_from_slice("y".repeat(20_000).as_bytes());
    binary.extend_from_slice(fake::aws_key_id().as_bytes());
    env.file("long.bin", binary);
    let mut text = "x".repeat(9000).into_bytes();
    text.push(0);
    text.extend_from_slice(format!("\n{}\n", fake::aws_key_id()).as_bytes());
    env.file("long.txt", text);
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(doc["stats"]["skipped_binary"], 1);
    assert_eq!(doc["stats"]["scanned"], 1);
    assert_eq!(doc["findings"][0]["path"], "long.txt");
    assert_eq!(doc["findings"][0]["line"], 2);
}

#[cfg(unix)]
#[test]
fn fifo_is_skipped_not_opened() {
    let env = TestEnv::new();
    let fifo = env.path().join("pipe");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(status.success());
    env.file("a.txt", "plain");
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 0);
    assert_eq!(doc["stats"]["skipped_special"], 1);
}

#[cfg(unix)]
#[test]
fn symlinks_not_followed_unless_asked_and_loops_reported() {
    let env = TestEnv::new();
    env.file("real/k.txt", fake::aws_key_id());
    std::os::unix::fs::symlink(env.path().join("real"), env.path().join("link")).expect("symlink");
    std::os::unix::fs::symlink(env.path(), env.path().join("real/loop")).expect("symlink");
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!((code, rule_ids(&doc).len()), (1, 1), "{doc}");
    let (code, doc) = env.json(&["dir", ".", "--follow-symlinks"]);
    assert_eq!(code, 2, "a loop is an error: {doc}");
    assert!(doc["errors"].to_string().contains("loop"), "{doc}");
    assert!(rule_ids(&doc).len() >= 2, "followed link scanned too: {doc}");
}

#[test]
fn gitignore_respected_only_when_asked() {
    let env = TestEnv::new();
    env.file(".gitignore", "secret.txt\n");
    env.file("secret.txt", fake::aws_key_id());
    let (code, _) = env.json(&["dir", "."]);
    assert_eq!(code, 1);
    let (code, _) = env.json(&["dir", ".", "--respect-gitignore"]);
    assert_eq!(code, 0);
}

#[test]
fn inline_allow_markers() {
    let env = TestEnv::new();
    env.file("a.py", format!("k = '{}'  # leakhound:allow\n", fake::aws_key_id()));
    env.file("b.go", format!("k := \"{}\" // gitleaks:allow\n", fake::aws_key_id()));
    env.file("c.py", format!("k = '{}'  # pragma: allowlist secret\n", fake::aws_key_id()));
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 0, "{doc}");
}

#[test]
fn report_file_gets_json_while_terminal_gets_text() {
    let env = TestEnv::new();
    env.file("a.txt", fake::aws_key_id());
    let out = env.run(&["dir", "a.txt", "--format", "json", "--report", "out.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("aws.access-key-id"));
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.path().join("out.json")).expect("report written"),
    )
    .expect("valid JSON");
    assert_eq!(doc["tool"]["name"], "leakhound");
    assert_eq!(rule_ids(&doc), ["aws.access-key-id"]);
}

#[cfg(unix)]
#[test]
fn non_utf8_names_and_content() {
    use std::os::unix::ffi::OsStrExt;
    let env = TestEnv::new();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    let mut content = b"\xff\xfe junk ".to_vec();
    content.extend_from_slice(fake::aws_key_id().as_bytes());
    std::fs::write(env.path().join(name), content).expect("write");
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 1);
    assert_eq!(doc["findings"][0]["path"], "caf\u{fffd}.txt");
}

#[test]
fn repository_config_adds_rules_and_allowlists() {
    let env = TestEnv::new();
    std::fs::create_dir(env.path().join(".git")).expect("mkdir");
    env.file(
        ".leakhound.toml",
        "[allow]\npaths = [\"docs/**\"]\n\n[[rule]]\nid = \"acme.key\"\nkeywords = [\"acme_\"]\npattern = '''(acme_[0-9a-f]{12})'''\n",
    );
    env.file("docs/a.md", fake::aws_key_id());
    env.file("src/a.txt", "k = acme_0123456789ab\n");
    let (code, doc) = env.json(&["dir", "src"]);
    assert_eq!(code, 1);
    assert_eq!(rule_ids(&doc), ["acme.key"]);
    assert_eq!(
        doc["findings"][0]["path"], "src/a.txt",
        "paths are relative to the repository root"
    );
    let (code, doc) = env.json(&["dir", "docs"]);
    assert_eq!((code, &doc["stats"]["skipped_allowlisted"]), (0, &serde_json::json!(1)));
}

#[test]
fn bad_rule_file_names_file_line_and_rule() {
    let env = TestEnv::new();
    env.file("r.toml", "\n[[rule]]\nid = \"acme.key\"\npattern = '''(acme_[0-9a-f]{12)'''\n");
    let out = env.run(&["dir", ".", "--config", "r.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("r.toml:2") && err.contains("acme.key") && err.contains("regex"), "{err}");
    let out = env.run(&["rules", "check", "r.toml"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn rules_list_and_check_builtin() {
    let env = TestEnv::new();
    let out = env.run(&["rules", "list", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let rules: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(rules.as_array().is_some_and(|r| r.iter().any(|r| r["id"] == "aws.access-key-id")));
    assert_eq!(env.run(&["rules", "check"]).status.code(), Some(0));
}

#[cfg(target_os = "linux")]
#[test]
fn unreadable_file_is_an_error_naming_it() {
    // Root reads any mode-000 file, so use a file the kernel itself refuses to read.
    let env = TestEnv::new();
    env.file("ok.txt", fake::aws_key_id());
    let (code, doc) = env.json(&["dir", "ok.txt", "/proc/self/mem"]);
    assert_eq!(code, 2, "{doc}");
    assert_eq!(rule_ids(&doc), ["aws.access-key-id"], "the rest is still scanned");
    assert_eq!(doc["errors"][0]["origin"], "/proc/self/mem");
}

#[test]
fn multi_gigabyte_file_is_skipped_without_reading_it() {
    let env = TestEnv::new();
    let file = std::fs::File::create(env.path().join("huge.bin")).expect("create");
    file.set_len(3 << 30).expect("sparse file");
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 0);
    assert_eq!(doc["stats"]["skipped_too_large"], 1);
}

#[test]
fn cr_only_line_endings_give_right_line_numbers() {
    // Issue #19: lines ended by CR alone (classic Mac OS, some exports) were all line 1.
    let env = TestEnv::new();
    env.file("mac.txt", format!("first\rsecond\r\rk = {}\r", fake::aws_key_id()));
    env.file("mixed.txt", format!("one\r\ntwo\rthree\nk = {}\n", fake::github_pat()));
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 1, "{doc}");
    let places: Vec<(&str, u64, u64)> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let n = |k: &str| f[k].as_u64().expect("number");
            (f["path"].as_str().expect("path"), n("line"), n("column"))
        })
        .collect();
    assert_eq!(places, [("mac.txt", 4, 5), ("mixed.txt", 4, 5)]);
}

/// `text` as UTF-16 (`le` or big-endian), with a byte-order mark when `bom`.
fn utf16(text: &str, le: bool, bom: bool) -> Vec<u8> {
    let units = std::iter::once(0xFEFF).filter(|_| bom).chain(text.encode_utf16());
    units.flat_map(|u| if le { u.to_le_bytes() } else { u.to_be_bytes() }).collect()
}

#[test]
fn utf16_text_is_decoded_and_scanned() {
    // Issue #19: UTF-16 (`reg export`, PowerShell's `Out-File`) was skipped as binary. It is
    // scanned as the text it decodes to, from every source, at that text's line and column.
    let env = TestEnv::new();
    let text = format!(
        "Windows Registry Editor Version 5.00\r\n\r\n\"Key\"=\"{}\"\r\n",
        fake::aws_key_id()
    );
    env.file("le-bom.reg", utf16(&text, true, true));
    env.file("be-bom.txt", utf16(&text, false, true));
    env.file("le.ps1", utf16(&text, true, false));
    let place = |v: &serde_json::Value| {
        (v["path"].as_str().expect("path").to_owned(), v["line"].as_u64().expect("line"))
    };
    let places = |doc: &serde_json::Value| -> Vec<(String, u64)> {
        let mut p: Vec<_> =
            doc["findings"].as_array().expect("findings").iter().map(place).collect();
        p.sort();
        p
    };
    let expected: Vec<(String, u64)> =
        ["be-bom.txt", "le-bom.reg", "le.ps1"].iter().map(|p| ((*p).to_owned(), 3)).collect();
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(places(&doc), expected, "dir");
    assert_eq!(doc["findings"][0]["column"], 8, "{doc}");
    assert_eq!(doc["stats"]["skipped_binary"], 0);
    assert_eq!(doc["findings"][0]["secret"], "AKIA*****", "the decoded secret, redacted");

    crate::common::git(env.path(), &["init", "-q", "-b", "main", "."]);
    crate::common::git(env.path(), &["add", "."]);
    let (code, doc) = env.json(&["staged"]);
    assert_eq!((code, places(&doc)), (1, expected.clone()), "staged: {doc}");
    crate::common::git(env.path(), &["commit", "-q", "-m", "exports"]);
    // Git history reports one secret once, its other paths as occurrences.
    let (code, doc) = env.json(&["git", "."]);
    assert_eq!(code, 1, "{doc}");
    let f = &doc["findings"][0];
    let mut seen = vec![place(f)];
    seen.extend(f["occurrences"].as_array().expect("occurrences").iter().map(place));
    seen.sort();
    assert_eq!(seen, expected, "git history: {doc}");
}

#[test]
fn file_that_grows_while_read_is_an_error() {
    // Issue #19: a file that changed size while it was read was reported as fully scanned. A
    // writer appends to a log while the binary reads it; the size after the read differs from
    // the size before. (The in-process reader test in src/source/fs.rs covers shrinking without
    // a race.) The writer and the scan race: a run during which the writer never got the CPU
    // while the file was read finds the file unchanged, and is tried again, a bounded number of
    // times.
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    let env = TestEnv::new();
    let path = env.file("app.log", "GET /index.html 200\n".repeat(400_000));
    let stop = AtomicBool::new(false);
    let mut outcome = None;
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut log =
                std::fs::OpenOptions::new().append(true).open(&path).expect("open for append");
            while !stop.load(Ordering::Relaxed) {
                log.write_all(b"x").expect("append");
            }
        });
        for _ in 0..10 {
            let (code, doc) = env.json(&["dir", "app.log", "--max-file-size", "1G", "-j", "1"]);
            assert!(code == 0 || code == 2, "{doc}");
            if code == 2 {
                outcome = Some(doc);
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    let doc = outcome.expect("in ten scans of a file being appended to, none saw it change");
    assert_eq!(doc["errors"][0]["origin"], "app.log", "{doc}");
    let message = doc["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains("changed while it was read"), "{message}");
    assert_eq!(doc["stats"]["scanned"], 1, "what was read is still scanned");
}

#[test]
fn user_rule_with_nested_repetition_is_rejected_at_load() {
    // Issue #19: `(x{1000}){1000}` loaded without a warning and did not finish on a 1 MB line.
    // It is rejected when loaded, in either config format, naming the rule and the file.
    let env = TestEnv::new();
    env.file("big.txt", "x".repeat(1 << 20));
    env.file(
        "r.toml",
        "[[rule]]\nid = \"acme.xes\"\nkeywords = [\"xxxx\"]\npattern = '''((x{1000}){1000})'''\n",
    );
    env.file(".gitleaks.toml", "[[rules]]\nid = \"xes\"\nregex = '''(x{1000}){1000}'''\n");
    for (config, origin, id) in
        [("r.toml", "r.toml:1", "acme.xes"), (".gitleaks.toml", ".gitleaks.toml:1", "gitleaks.xes")]
    {
        let out = env.run(&["dir", "big.txt", "--config", config]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(origin) && err.contains(id) && err.contains("too large"), "{err}");
    }
    let out = env.run(&["rules", "check", "r.toml"]);
    assert_eq!(out.status.code(), Some(2), "rules check rejects it too");
    assert!(String::from_utf8_lossy(&out.stderr).contains("too large"));
}

#[test]
fn repository_config_that_turns_builtin_rules_off_is_named() {
    // Issue #19: a `.gitleaks.toml` in the scanned tree replaced every built-in rule and the
    // scan said nothing. The summary and every report name the file and what it turned off;
    // `--no-repo-config` ignores it.
    let env = TestEnv::new();
    std::fs::create_dir(env.path().join(".git")).expect("mkdir");
    env.file(".gitleaks.toml", "[[rules]]\nid = \"nothing\"\nregex = '''nothing_[0-9]{8}'''\n");
    env.file("a.env", format!("AWS_ACCESS_KEY_ID={}\n", fake::aws_key_id()));
    let (code, doc) = env.json(&["dir", "."]);
    assert_eq!(code, 0, "{doc}");
    let config = &doc["config"];
    let all = config["builtin_rules"].as_u64().expect("count");
    assert!(all > 50 && config["builtin_off"] == all, "{config}");
    assert!(
        config["files"][0].as_str().is_some_and(|f| f.ends_with("/.gitleaks.toml")),
        "{config}"
    );
    let out = env.run(&["dir", "."]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(".gitleaks.toml")
            && text.contains(&format!("{all} of {all} built-in rules off")),
        "{text}"
    );
    let out = env.run(&["dir", ".", "--format", "gitlab"]);
    let gitlab = String::from_utf8_lossy(&out.stdout);
    assert!(gitlab.contains(&format!("{all} of {all} built-in rules off")), "{gitlab}");
    let (code, doc) = env.json(&["dir", ".", "--no-repo-config"]);
    assert_eq!((code, rule_ids(&doc)), (1, vec!["aws.access-key-id".to_owned()]), "{doc}");
    assert!(doc.get("config").is_none(), "{doc}");
}

#[cfg(unix)]
#[test]
fn error_paths_are_relative_to_the_same_root_as_findings() {
    // Issue #19: run from a repository's subdirectory, findings were named from the repository
    // root but walk errors and missing paths from the current directory.
    let env = TestEnv::new();
    std::fs::create_dir(env.path().join(".git")).expect("mkdir");
    env.file("sub/k.txt", fake::aws_key_id());
    std::os::unix::fs::symlink(env.path().join("sub"), env.path().join("sub/loop")).expect("link");
    let out = env
        .cmd()
        .current_dir(env.path().join("sub"))
        .args(["dir", ".", "missing", "-L", "--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["findings"][0]["path"], "sub/k.txt", "{doc}");
    assert_eq!(crate::common::error_origins(&doc), ["sub/loop", "sub/missing"], "{doc}");
    assert!(
        doc["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("back to sub: not followed")),
        "{doc}"
    );
}
