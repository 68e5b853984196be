//! Gitleaks configs (`.gitleaks.toml`), translated into leakhound's rule model.

/// The leakhound id of a gitleaks rule id: ids already in `provider.kind` form are kept; others
/// become `gitleaks.<id>`, lowercased, with characters leakhound ids do not allow turned into `-`.
pub fn rule_id(gitleaks_id: &str) -> String {
    if super::valid_rule_id(gitleaks_id) {
        return gitleaks_id.to_owned();
    }
    let mut kind: String = gitleaks_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    while kind.contains("--") {
        kind = kind.replace("--", "-");
    }
    let kind = kind.trim_matches('-');
    let kind = if kind.is_empty() { "rule" } else { kind };
    let id = format!("gitleaks.{kind}");
    id.chars().take(64).collect::<String>().trim_end_matches('-').to_owned()
}
