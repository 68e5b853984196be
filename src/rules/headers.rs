//! Where each rule of a rule file starts, for errors and `rules list`. `build.rs` uses it too
//! (it records the built-in rules' lines as it parses them), so it needs nothing but `std`.

/// 1-based lines of each `[[rule]]` header, in order (headers are how TOML names array tables,
/// so the n-th header is the n-th rule).
pub fn rule_header_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            l.trim_start()
                .strip_prefix("[[")
                .and_then(|t| t.trim_start().strip_prefix("rule"))
                .is_some_and(|t| t.trim_start().starts_with("]]"))
        })
        .map(|(i, _)| i + 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_headers_with_any_spacing_and_nothing_else() {
        let text = "[[rule]]\nid = 'a'\n  [[ rule ]]\n[[rules]]\n[rule.allow]\n[[rule.also]]\n[[rule]] # c\n";
        assert_eq!(rule_header_lines(text), [1, 3, 7]);
    }
}
