//! Where each rule of a rule file starts, for errors and `rules list`. `build.rs` uses it too
//! (it records the built-in rules' lines as it parses them), so it needs nothing but `std`.

/// 1-based lines of each `[[rule]]` header, in order (headers are how TOML names array tables,
/// so the n-th header is the n-th rule).
pub fn rule_header_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start();
            t.starts_with("[[") && t[2..].trim_start().starts_with("rule") && {
                let rest = t[2..].trim_start()["rule".len()..].trim_start();
                rest.starts_with("]]")
            }
        })
        .map(|(i, _)| i + 1)
        .collect()
}
