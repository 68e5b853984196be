//! `leakhound rules check`: everything that can be wrong with a rule, found before a scan
//! trips over it. The built-in rules go through this same check in the test suite.

use crate::engine::{Engine, entropy};
use crate::error::RuleError;
use crate::rules::load::regex_builder;
use crate::rules::{Rule, RuleSet};

/// Checks each rule alone: its regex compiles and, when `examples` is set, it has examples and
/// negative examples, every example yields a secret through the whole engine (keywords, entropy,
/// checksum, allowlists), the first one decodes under the rule's `decode` scheme if it names one,
/// and no negative example does. Gitleaks configs are checked without
/// examples: they have no place for them, and a built-in rule they attach an allowlist to keeps
/// the built-in's examples, which that allowlist may hide on purpose.
pub fn check(rules: &[Rule], examples: bool) -> Vec<RuleError> {
    rules.iter().flat_map(|rule| check_rule(rule, examples)).collect()
}

fn check_rule(rule: &Rule, examples: bool) -> Vec<RuleError> {
    let fail = |message: String| RuleError::Rule {
        rule_id: rule.id().to_owned(),
        origin: rule.origin.to_string(),
        message,
    };
    let engine = match Engine::new(RuleSet { rules: vec![rule.clone()], ..RuleSet::default() }) {
        Ok(engine) => engine,
        Err(e) => return vec![e],
    };
    let compile_errors = engine.compile_all();
    if !compile_errors.is_empty() {
        return compile_errors;
    }
    if !examples {
        return Vec::new();
    }
    let syntax = &rule.syntax;
    let mut errors = Vec::new();
    if syntax.examples.is_empty() {
        errors.push(fail("no examples: add at least one text the rule must match".into()));
    }
    if syntax.negative_examples.is_empty() {
        errors.push(fail(
            "no negative_examples: add at least one near miss the rule must not match".into(),
        ));
    }
    for (i, example) in syntax.examples.iter().enumerate() {
        if engine.scan(example.as_bytes()).matches.is_empty() {
            errors.push(fail(format!(
                "example #{} does not match: {}",
                i + 1,
                why_no_match(rule, example)
            )));
        }
    }
    // A rule that reveals passwords shows it on its first example; later ones may show a value
    // that is reported as stored.
    if let (Some(scheme), Some(first)) = (&syntax.decode, syntax.examples.first())
        && let Some(note) =
            engine.scan(first.as_bytes()).matches.first().and_then(|m| m.note.clone())
    {
        errors.push(fail(format!("example #1 does not decode as {scheme}: {note}")));
    }
    for (i, example) in syntax.negative_examples.iter().enumerate() {
        if let Some(m) = engine.scan(example.as_bytes()).matches.first() {
            errors.push(fail(format!(
                "negative example #{} matches (secret {:?})",
                i + 1,
                String::from_utf8_lossy(&m.secret)
            )));
        }
    }
    errors
}

/// Explains why an example gave no finding, for the error message.
fn why_no_match(rule: &Rule, example: &str) -> String {
    let syntax = &rule.syntax;
    let Ok(regex) = regex_builder(&syntax.pattern).build() else { return "invalid regex".into() };
    let mut locs = regex.capture_locations();
    if regex.captures_read(&mut locs, example.as_bytes()).is_none() {
        return "the pattern does not match it".into();
    }
    let lower = example.to_ascii_lowercase();
    if !syntax.keywords.is_empty()
        && !syntax.keywords.iter().any(|k| lower.contains(&k.to_ascii_lowercase()))
    {
        return "none of the rule's keywords occurs in it".into();
    }
    let secret = crate::engine::secret_span(&regex, &locs).map(|(s, e)| &example.as_bytes()[s..e]);
    if let (Some(secret), Some(gate)) = (secret, &syntax.entropy) {
        let h = entropy::shannon(secret);
        if h < gate.min {
            return format!("its secret's entropy {h:.2} is below the rule's gate {}", gate.min);
        }
    }
    "the secret was rejected by the checksum, the allowlist or an inline allow marker".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::load::{load_builtin, parse_config};
    use std::path::Path;

    #[test]
    fn every_builtin_rule_passes() {
        let set = load_builtin().expect("built-in rules load");
        assert!(!set.rules.is_empty());
        let errors = check(&set.rules, true);
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(errors.is_empty(), "{}", text.join("\n"));
    }

    #[test]
    fn reports_each_kind_of_mistake() {
        let text = r#"
[[rule]]
id = "t.a"
keywords = ["zz"]
pattern = '''(tok_[0-9]{4})'''
entropy = { min = 2.9 }
examples = ["tok_1111", "zz tok_1111", "zz tok_1234"]
negative_examples = ["zz tok_9876"]
"#;
        let config = parse_config(Path::new("u.toml"), text).expect("parses");
        let errors: Vec<String> =
            check(&config.rules, true).iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(
            errors[0].contains("example #1") && errors[0].contains("keywords"),
            "{}",
            errors[0]
        );
        assert!(errors[1].contains("example #2") && errors[1].contains("entropy"), "{}", errors[1]);
        assert!(errors[2].contains("negative example #1"), "{}", errors[2]);
        assert!(errors.iter().all(|e| e.contains("u.toml:2") && e.contains("t.a")));
    }

    #[test]
    fn a_decode_rule_decodes_its_first_example() {
        let rule = |scheme: &str, example: &str| {
            format!(
                "[[rule]]\nid = \"t.seven\"\nkeywords = [\"password 7\"]\n\
                 pattern = '''password 7 ([0-9A-F]{{4,}})'''\ndecode = \"{scheme}\"\n\
                 examples = [\"{example}\", \"password 7 99AB\"]\nnegative_examples = [\"x\"]\n"
            )
        };
        let errors = |text: &str| -> Vec<String> {
            let config = parse_config(Path::new("u.toml"), text).expect("parses");
            check(&config.rules, true).iter().map(ToString::to_string).collect()
        };
        // `08204E` is `ab`; offset 99 is past the key, so `99AB` is reported as stored.
        assert_eq!(errors(&rule("cisco-type7", "password 7 08204E")), Vec::<String>::new());
        let wrong = errors(&rule("cisco-type7", "password 7 99AB"));
        assert_eq!(wrong.len(), 1, "{wrong:#?}");
        assert!(wrong[0].contains("does not decode as cisco-type7"), "{}", wrong[0]);
        let unknown = errors(&rule("rot13", "password 7 08204E"));
        assert!(unknown[0].contains("unknown decode scheme \"rot13\""), "{}", unknown[0]);
    }
}
