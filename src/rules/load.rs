//! Reading rule files and configs: TOML → [`RuleSyntax`] → checked [`Rule`]s in a [`RuleSet`].
//!
//! The built-in files and a user's `.leakhound.toml` share one format. A user's config may add
//! rules, override a built-in rule by reusing its id, disable rules, and add a global allowlist.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::headers::rule_header_lines;
use super::{AllowSyntax, Origin, Rule, RuleSet, RuleSyntax, builtin, valid_rule_id};
use crate::error::{RuleError, RuleResult};

/// How a config relates to the built-in rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendSyntax {
    /// Start from the built-in rules (default true).
    #[serde(default = "yes")]
    pub use_default: bool,
    /// Ids of rules to drop; an entry ending in `.` drops every rule whose id starts with it
    /// (`"hash."`).
    #[serde(default)]
    pub disabled_rules: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Default for ExtendSyntax {
    fn default() -> Self {
        ExtendSyntax { use_default: true, disabled_rules: Vec::new() }
    }
}

/// A whole rule file or `.leakhound.toml` as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSyntax {
    /// Relation to the built-in rules.
    #[serde(default)]
    pub extend: ExtendSyntax,
    /// Global allowlist.
    #[serde(default)]
    pub allow: AllowSyntax,
    /// Rules, in file order.
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleSyntax>,
    /// Verification settings; only read from the `--config` file (#16).
    #[serde(default, skip_serializing_if = "VerifySyntax::is_empty")]
    pub verify: VerifySyntax,
    /// The server hook's policy; only read by `pre-receive` from its server config (#17).
    #[serde(default, skip_serializing_if = "ServerSyntax::is_empty")]
    pub server: ServerSyntax,
}

/// The `[server]` table of a `pre-receive` server config. Command-line flags and the hook's
/// environment, when given, win over it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSyntax {
    /// Honour `git push -o leakhound.skip` (logged with the pusher).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_push_option_bypass: Option<bool>,
    /// What a push that cannot be checked gets: `"reject"` (the default) or `"accept"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<crate::cli::OnError>,
    /// The longest a check may take, in seconds (0: no limit); longer is an internal error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
}

impl ServerSyntax {
    fn is_empty(&self) -> bool {
        self.allow_push_option_bypass.is_none() && self.on_error.is_none() && self.timeout.is_none()
    }
}

/// The `[verify]` table: hosts named by scanned data that may receive credentials. Honoured
/// only in the file given with `--config`, never in a config inside the scanned tree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifySyntax {
    /// `host[:port]` entries, as `--verify-host` takes them.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
}

impl VerifySyntax {
    fn is_empty(&self) -> bool {
        self.allow_hosts.is_empty()
    }
}

/// A parsed config: its syntax plus the origin of each rule.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file.
    pub path: PathBuf,
    /// Its contents.
    pub syntax: ConfigSyntax,
    /// The checked rules of the file, in order.
    pub rules: Vec<Rule>,
    /// Things the file asks for that leakhound does not do, each naming file and line (gitleaks
    /// configs); commands print them.
    pub warnings: Vec<String>,
    /// Translated from a gitleaks config, whose rules carry no examples to check.
    pub gitleaks: bool,
}

/// Parses one file's text. `path` only names the file in errors and origins.
pub fn parse_config(path: &Path, text: &str) -> RuleResult<Config> {
    let mut config = parse_rules(path, text, true)?;
    config.warnings.extend(keywordless_warnings(&config.rules));
    Ok(config)
}

/// A warning for each rule without keywords: its pattern runs over every byte of every blob,
/// which is slow, and the work budget may stop it on large files (#19).
pub fn keywordless_warnings(rules: &[Rule]) -> Vec<String> {
    rules
        .iter()
        .filter(|r| r.syntax.keywords.is_empty())
        .map(|r| {
            format!(
                "{}: rule {} has no keywords, so its pattern runs over every byte of every file; \
                 give it keywords (literals every match contains) so it runs only near them",
                r.origin,
                r.id()
            )
        })
        .collect()
}

/// Parses rules, validating each one when `validate_rules` is set.
fn parse_rules(path: &Path, text: &str, validate_rules: bool) -> RuleResult<Config> {
    let syntax: ConfigSyntax = toml::from_str(text).map_err(|e| RuleError::Syntax {
        path: path.to_owned(),
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().to_owned(),
    })?;
    let mut lines = rule_header_lines(text).into_iter();
    let rules = syntax
        .rules
        .iter()
        .map(|rule| Rule {
            syntax: rule.clone(),
            origin: Origin { file: path.to_owned(), line: lines.next() },
        })
        .collect();
    let rules = checked(rules, validate_rules)?;
    Ok(Config { path: path.to_owned(), syntax, rules, warnings: Vec::new(), gitleaks: false })
}

/// The rules of one file, once no two share an id and, when `validate_rules` is set, each is
/// valid; the first problem in file order is the error.
fn checked(rules: Vec<Rule>, validate_rules: bool) -> RuleResult<Vec<Rule>> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(rules.len());
    for (i, rule) in rules.iter().enumerate() {
        if let Some(first) = seen.insert(rule.id(), i) {
            return Err(rule_error(
                rule.id(),
                &rule.origin,
                format!("duplicate id (first defined at rule #{})", first + 1),
            ));
        }
        if validate_rules {
            validate(&rule.syntax, &rule.origin)?;
        }
    }
    Ok(rules)
}

/// Reads and parses a user's config or rule file.
pub fn load_config_file(path: &Path) -> RuleResult<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| RuleError::Io { path: path.to_owned(), source })?;
    parse_config(path, &text)
}

/// The built-in rules, checked. `build.rs` parsed their files and embedded each rule as JSON.
pub fn load_builtin() -> RuleResult<RuleSet> {
    let mut set = RuleSet::default();
    for (name, rules) in builtin::FILES {
        let file = PathBuf::from(format!("{BUILTIN}rules/{name}"));
        let rules = rules
            .iter()
            .map(|&(line, json)| {
                let syntax = serde_json::from_str(json).map_err(|e| RuleError::Syntax {
                    path: file.clone(),
                    line: Some(line),
                    message: e.to_string(),
                })?;
                Ok(Rule { syntax, origin: Origin { file: file.clone(), line: Some(line) } })
            })
            .collect::<RuleResult<Vec<Rule>>>()?;
        // Built-in rules are validated by the test suite (`rules check` over every one) and in
        // debug builds; release builds skip parsing their patterns at load, which was about a
        // fifth of a ten-file pre-commit run's CPU.
        set.rules.extend(checked(rules, cfg!(debug_assertions))?);
    }
    Ok(set)
}

/// Which config files a run's rules come from and how many built-in rules do not run as shipped
/// (disabled, replaced by a rule with the same id, or dropped by `use_default = false`). Every
/// report carries it: a config in the scanned tree can turn every built-in rule off, and that
/// must not pass unseen (#19).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigUse {
    /// The config files read, in order (a later one overrides an earlier one).
    pub files: Vec<String>,
    /// The built-in rules.
    pub builtin_rules: u64,
    /// Built-in rules that do not run as shipped.
    pub builtin_off: u64,
}

/// Combines the built-in rules with user configs, in order: later configs override earlier ones.
pub fn build_rule_set(configs: &[Config]) -> RuleResult<RuleSet> {
    let use_default = configs.iter().all(|c| c.syntax.extend.use_default);
    let mut set = if use_default { load_builtin()? } else { RuleSet::default() };
    for config in configs {
        for rule in &config.rules {
            match set.rules.iter_mut().find(|r| r.id() == rule.id()) {
                Some(existing) => *existing = rule.clone(),
                None => set.rules.push(rule.clone()),
            }
        }
        let allow = &config.syntax.allow;
        if allow.is_plain() {
            set.allow.paths.extend(allow.paths.iter().cloned());
            set.allow.secrets.extend(allow.secrets.iter().cloned());
            set.allow.stopwords.extend(allow.stopwords.iter().cloned());
        } else {
            set.allow.also.push(allow.clone());
        }
    }
    let disabled: Vec<&String> =
        configs.iter().flat_map(|c| &c.syntax.extend.disabled_rules).collect();
    // An entry ending in `.` turns off a whole kind (`"hash."`).
    set.rules.retain(|r| {
        !disabled
            .iter()
            .any(|d| *d == r.id() || (d.ends_with('.') && r.id().starts_with(d.as_str())))
    });
    if !configs.is_empty() {
        // Counted from the embedded table, so a config that drops every built-in rule does not
        // load them to count them.
        let builtin: usize = builtin::FILES.iter().map(|(_, rules)| rules.len()).sum();
        let running = set
            .rules
            .iter()
            .filter(|r| r.origin.file.to_str().is_some_and(|f| f.starts_with(BUILTIN)))
            .count();
        set.config = Some(ConfigUse {
            files: configs.iter().map(|c| c.path.display().to_string()).collect(),
            builtin_rules: builtin as u64,
            builtin_off: builtin.saturating_sub(running) as u64,
        });
    }
    Ok(set)
}

/// What the built-in files' paths start with.
const BUILTIN: &str = "builtin:";

/// Builds the regex for a rule pattern with the options every caller must share: bytes, ASCII
/// classes unless the pattern asks for Unicode (10x faster on large inputs, see
/// `../shared/reference/performance-notes.md` §0.8), and size limits.
///
/// The compiled program may take 8 MiB: the largest built-in (`jwt.token`) takes 2 MiB, and
/// [`MAX_PATTERN_SIZE`] keeps any pattern the loader accepts near that. The lazy DFA's cache may
/// take 64 MiB per pattern: long chains need it (`x{8000}` fills most of it), and with less the
/// regex crate falls back to its NFA simulation, which costs per byte as many steps as the
/// pattern has positions.
pub fn regex_builder(pattern: &str) -> regex::bytes::RegexBuilder {
    let mut builder = regex::bytes::RegexBuilder::new(pattern);
    builder.unicode(false).size_limit(8 << 20).dfa_size_limit(64 << 20);
    builder
}

/// The most positions a rule's pattern may expand to (see [`expanded_size`]). The largest
/// built-in pattern (`jwt.token`) has 12011. Measured (release, regex 1.13, one core): a chain
/// of 8000 (`x{8000}` on 1 MB of 7999 `x` and a `y`, repeated) searches at 0.74 s/MB, 10000
/// (`(x{100}){100}`) at 1.4 s/MB; `(x{1000}){1000}`, a million, did not finish.
pub const MAX_PATTERN_SIZE: u64 = 16_384;

/// How many positions a pattern's automaton has once every counted repetition is written out
/// (`x{3}` is `xxx`, `x{3,}` is `xxxx*`), a Unicode class counting one per range of it. It bounds
/// how many states a search tracks at once, so its work per byte of input, and its compiled
/// size: `(x{1000}){1000}` is a million (#19), and searched a 1 MB line for minutes.
pub fn expanded_size(hir: &regex_syntax::hir::Hir) -> u64 {
    use regex_syntax::hir::{Class, HirKind};
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) | HirKind::Class(Class::Bytes(_)) => 1,
        HirKind::Literal(literal) => literal.0.len() as u64,
        HirKind::Class(Class::Unicode(class)) => class.ranges().len() as u64,
        HirKind::Repetition(rep) => {
            let copies = rep.max.unwrap_or(rep.min.saturating_add(1)).max(1);
            expanded_size(&rep.sub).saturating_mul(u64::from(copies))
        }
        HirKind::Capture(capture) => expanded_size(&capture.sub),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => {
            subs.iter().map(expanded_size).fold(0, u64::saturating_add)
        }
    }
}

/// Parses a pattern with the options [`regex_builder`] compiles it with, without compiling it;
/// the error is the parser's message.
pub fn parse_pattern(pattern: &str) -> Result<regex_syntax::hir::Hir, String> {
    regex_syntax::ParserBuilder::new()
        .utf8(false)
        .unicode(false)
        .build()
        .parse(pattern)
        .map_err(|e| e.to_string())
}

/// Checks an allowlist regex's syntax only: allowlists are compiled on first use (the catalog
/// has hundreds).
pub fn check_allow_regex(re: &str) -> Result<(), String> {
    parse_pattern(re).map(drop).map_err(|e| format!("invalid allow regex {re:?}: {e}"))
}

/// Checks what can be checked without compiling: id, pattern syntax, a capture group, allowlist
/// syntax, and that the pattern cannot match the empty string.
pub(crate) fn validate(rule: &RuleSyntax, origin: &Origin) -> RuleResult<()> {
    let fail = |message: String| Err(rule_error(&rule.id, origin, message));
    if !valid_rule_id(&rule.id) {
        return fail(
            "id must be `provider.kind`: lowercase letters, digits and `-`, at most 64 bytes"
                .into(),
        );
    }
    let hir = match parse_pattern(&rule.pattern) {
        Ok(hir) => hir,
        Err(e) => return fail(format!("invalid regex: {e}")),
    };
    if hir.properties().explicit_captures_len() == 0 {
        return fail(
            "pattern has no capture group: wrap the secret in ( ) or (?P<secret> )".into(),
        );
    }
    if hir.properties().minimum_len() == Some(0) {
        return fail("pattern can match the empty string".into());
    }
    let size = expanded_size(&hir);
    if size > MAX_PATTERN_SIZE {
        return fail(format!(
            "pattern is too large to search in bounded time: its repetitions expand to {size} \
             positions (at most {MAX_PATTERN_SIZE}); use smaller counts, or `+`, `*` in place of \
             a large `{{n}}`"
        ));
    }
    if rule.keywords.iter().any(String::is_empty) {
        return fail("a keyword is empty".into());
    }
    if rule.requires.iter().any(String::is_empty) {
        return fail("a `requires` literal is empty".into());
    }
    if let Some(example) = rule.examples.iter().find(|e| !contains_any(e, &rule.requires)) {
        return fail(format!(
            "example {example:?} contains none of `requires` {:?}: the pattern would never run \
             on it",
            rule.requires
        ));
    }
    if let Some(e) = &rule.entropy
        && !(0.0..=8.0).contains(&e.min)
    {
        return fail(format!("entropy.min {} is outside 0..=8 bits per byte", e.min));
    }
    validate_allow(&rule.allow).or_else(fail)
}

/// True when `requires` is empty or `text` contains one of its literals, ignoring ASCII case.
fn contains_any(text: &str, requires: &[String]) -> bool {
    let text = text.to_ascii_lowercase();
    requires.is_empty() || requires.iter().any(|r| text.contains(&r.to_ascii_lowercase()))
}

/// Checks that allowlist globs and regexes compile.
pub fn validate_allow(allow: &AllowSyntax) -> Result<(), String> {
    for glob in &allow.paths {
        globset::Glob::new(glob).map_err(|e| format!("invalid path glob {glob:?}: {e}"))?;
    }
    for re in allow
        .secrets
        .iter()
        .chain(&allow.path_patterns)
        .chain(&allow.only_in_paths)
        .chain(&allow.matches)
        .chain(&allow.lines)
    {
        check_allow_regex(re)?;
    }
    allow.also.iter().try_for_each(validate_allow)
}

pub(crate) fn rule_error(id: &str, origin: &Origin, message: String) -> RuleError {
    RuleError::Rule { rule_id: id.to_owned(), origin: origin.to_string(), message }
}

/// 1-based line of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    memchr::memchr_iter(b'\n', &text.as_bytes()[..offset.min(text.len())]).count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[rule]]
id = "test.token"
keywords = ["tok_"]
pattern = '''\b(tok_[a-z0-9]{8})\b'''

[[rule]]
id = "test.other"
pattern = '''(x{3})'''
"#;

    #[test]
    fn origins_name_file_and_line() {
        let c = parse_config(Path::new("u.toml"), GOOD).expect("valid config");
        assert_eq!(c.rules[0].origin.to_string(), "u.toml:2");
        assert_eq!(c.rules[1].origin.to_string(), "u.toml:7");
    }

    #[test]
    fn bad_regex_names_rule_and_line() {
        let text = GOOD.replace("x{3}", "x{3");
        let err = parse_config(Path::new("u.toml"), &text).expect_err("bad regex");
        let msg = err.to_string();
        assert!(msg.contains("test.other") && msg.contains("u.toml:7"), "{msg}");
    }

    #[test]
    fn bad_allow_regex_of_a_user_rule_fails_at_load_naming_rule_and_line() {
        // The engine does not check a rule's allow regexes again (`Allow::of_rule`): the load
        // must, naming the rule and its line.
        let text = format!("{GOOD}allow = {{ secrets = ['(unclosed'] }}\n");
        let msg = parse_config(Path::new("u.toml"), &text).expect_err("bad allow").to_string();
        assert!(msg.contains("test.other") && msg.contains("u.toml:7"), "{msg}");
        assert!(msg.contains("invalid allow regex"), "{msg}");
    }

    #[test]
    fn missing_group_and_empty_match_rejected() {
        let text = GOOD.replace("(x{3})", "x{3}");
        assert!(parse_config(Path::new("u"), &text).is_err());
        let text = GOOD.replace("(x{3})", "(x*)");
        let msg = parse_config(Path::new("u"), &text).expect_err("empty").to_string();
        assert!(msg.contains("empty string"), "{msg}");
    }

    #[test]
    fn requires_must_be_in_every_example() {
        let rule = |requires: &str| {
            let text = format!(
                "[[rule]]\nid = \"test.xml\"\nkeywords = [\"secret\"]\n\
                 pattern = '<secret>([a-z0-9]{{8}})</'\nrequires = {requires}\n\
                 examples = [\"<secret>a1b2c3d4</SECRET>\"]\n"
            );
            parse_config(Path::new("u.toml"), &text).map(drop).map_err(|e| e.to_string())
        };
        assert_eq!(rule(r#"["</"]"#), Ok(()));
        let msg = rule(r#"["value="]"#).expect_err("example lacks the literal");
        assert!(msg.contains("requires") && msg.contains("test.xml"), "{msg}");
        assert!(rule(r#"[""]"#).expect_err("empty literal").contains("empty"));
    }

    #[test]
    fn unknown_field_is_a_syntax_error_with_line() {
        let text = format!("{GOOD}\nbogus = 1\n");
        let err = parse_config(Path::new("u.toml"), &text).expect_err("unknown field");
        assert!(err.to_string().contains("u.toml"), "{err}");
    }

    #[test]
    fn nested_repetition_rule_is_rejected_at_load() {
        // Issue #19: `(x{1000}){1000}` loaded without a word and searched a 1 MB line forever.
        let text = GOOD.replace("(x{3})", "((x{1000}){1000})");
        let msg = parse_config(Path::new("u.toml"), &text).expect_err("too large").to_string();
        assert!(msg.contains("test.other") && msg.contains("u.toml:7"), "{msg}");
        assert!(msg.contains("1000000 positions"), "{msg}");
        let size = |p: &str| expanded_size(&parse_pattern(p).expect("parses"));
        assert_eq!(size("a{3}"), 3);
        assert_eq!(size("(ab|c){2,}x*"), 10, "`{{2,}}` is two copies and a starred one");
        assert_eq!(
            (size("[a-cx-z]"), size("(?u)[a-cx-z]")),
            (1, 2),
            "a Unicode class: one per range"
        );
    }

    #[test]
    fn keywordless_user_rule_is_warned_about_at_load() {
        let c = parse_config(Path::new("u.toml"), GOOD).expect("valid config");
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        let w = &c.warnings[0];
        assert!(w.starts_with("u.toml:7: rule test.other has no keywords"), "{w}");
    }

    #[test]
    fn override_and_disable() {
        let user = parse_config(
            Path::new("u.toml"),
            "[extend]\ndisabled_rules=[\"test.other\"]\n[[rule]]\nid=\"test.other\"\npattern='(y)'\n",
        )
        .expect("valid");
        let base = parse_config(Path::new("b.toml"), GOOD).expect("valid");
        let mut set = build_rule_set(&[base, user]).expect("builds");
        let config = set.config.clone().expect("configs were used");
        assert_eq!(config.files, ["b.toml", "u.toml"]);
        assert_eq!(config.builtin_off, 0, "no built-in rule is touched");
        assert!(config.builtin_rules > 50, "{config:?}");
        set.rules.retain(|r| r.id().starts_with("test."));
        assert_eq!(set.rules.iter().map(Rule::id).collect::<Vec<_>>(), ["test.token"]);
    }
}
