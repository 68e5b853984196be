//! Gitleaks configs (`.gitleaks.toml`, gitleaks v8 format), translated into leakhound's rule
//! model so a team can switch scanners without rewriting its rules and allowlists.
//!
//! Translated: `[[rules]]` (`id`, `description`, `regex`, `secretGroup`, `entropy`, `keywords`,
//! `allowlist`/`allowlists`), `[extend]` (`useDefault`, `disabledRules`, `path`), the global
//! `[allowlist]`/`[[allowlists]]` (with `targetRules`), and in every allowlist `paths`,
//! `regexes` with `regexTarget` (`secret`, `match`, `line`), `stopwords`, `commits` and
//! `condition` (`OR`, `AND`). Semantics follow gitleaks: without `useDefault = true` only the
//! file's rules run; a rule's regex runs over the whole file once one of its keywords occurs; a
//! rule id that is not in leakhound's `provider.kind` form becomes `gitleaks.<id>`.
//!
//! A rule's `path` regex restricts it to matching paths. Not supported, each with a warning
//! naming file and line (never a silent drop): path-only rules (`path` without `regex`, skipped),
//! `[[rules.required]]`, `skipReport`, `[extend] url`, and an `AND` allowlist that
//! combines paths or commits with `match`/`line` regexes. `tags` are informational and dropped.
//! `useDefault` means leakhound's built-in rules, not gitleaks' own.
//!
//! This module is pure data translation: it reads files and knows nothing of sources, engine or
//! reports.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::load::{
    Config, ConfigSyntax, ExtendSyntax, line_of, load_builtin, load_config_file, rule_error,
    validate,
};
use super::{AllowSyntax, Condition, EntropySyntax, Origin, Rule, RuleSyntax, Severity};
use crate::error::{RuleError, RuleResult};

/// The gitleaks config file discovered at the repository root.
pub const CONFIG_FILE: &str = ".gitleaks.toml";

/// A gitleaks rule's regex runs over the whole file once a keyword occurs: a window larger than
/// any blob the scanner reads reproduces that.
pub const WHOLE_FILE_WINDOW: usize = 1 << 40;

/// How deep `[extend] path` chains may go (as in gitleaks).
const MAX_EXTEND_DEPTH: usize = 2;

/// Gitleaks default rule ids and the leakhound built-in rule that finds the same kind of secret,
/// so `disabledRules`, `targetRules` and `.gitleaksignore` entries naming them keep working.
pub const DEFAULT_RULE_IDS: &[(&str, &str)] = &[
    ("aws-access-token", "aws.access-key-id"),
    ("generic-api-key", "generic.secret-assignment"),
    ("generic-api-key", "generic.password"),
    ("generic-api-key", "generic.xml-secret"),
    ("generic-api-key", "generic.cli-password"),
    ("generic-api-key", "generic.dockerfile-env"),
    ("generic-api-key", "generic.kubernetes-env"),
    ("generic-api-key", "generic.sql-password"),
    ("github-app-token", "github.token"),
    ("github-oauth", "github.token"),
    ("github-pat", "github.token"),
    ("github-refresh-token", "github.token"),
    ("gitlab-pat", "gitlab.personal-access-token"),
    ("private-key", "private-key.pem"),
    ("slack-app-token", "slack.token"),
    ("slack-app-token", "slack.app-token"),
    ("slack-bot-token", "slack.token"),
    ("slack-config-access-token", "slack.token"),
    ("slack-config-access-token", "slack.config-token"),
    ("slack-legacy-bot-token", "slack.token"),
    ("slack-legacy-token", "slack.token"),
    ("slack-legacy-workspace-token", "slack.token"),
    ("slack-user-token", "slack.token"),
    ("slack-webhook-url", "slack.webhook"),
];

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

/// Every leakhound id a gitleaks rule id may stand for: the built-in equivalent of a gitleaks
/// default rule, and the translated id of a custom rule.
pub fn leakhound_ids(gitleaks_id: &str) -> Vec<String> {
    let mut ids: Vec<String> = DEFAULT_RULE_IDS
        .iter()
        .filter(|(g, _)| *g == gitleaks_id)
        .map(|(_, l)| (*l).to_owned())
        .collect();
    ids.push(rule_id(gitleaks_id));
    ids
}

/// True when `text` is a gitleaks config rather than a leakhound one (gitleaks writes
/// `[[rules]]`, `[allowlist]`, `title` and camelCase `[extend]` keys).
pub fn is_gitleaks(text: &str) -> bool {
    let Ok(table) = text.parse::<toml::Table>() else { return false };
    ["rules", "allowlist", "allowlists", "title"].iter().any(|k| table.contains_key(*k))
        || table.get("extend").and_then(toml::Value::as_table).is_some_and(|e| {
            ["useDefault", "disabledRules", "path", "url"].iter().any(|k| e.contains_key(*k))
        })
}

/// Loads a config file in either format: gitleaks configs are translated (with the files they
/// extend first), leakhound configs are read as they are.
pub fn load_any(path: &Path) -> RuleResult<Vec<Config>> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| RuleError::Io { path: path.to_owned(), source })?;
    if is_gitleaks(&text) { load(path, &text, 0) } else { Ok(vec![load_config_file(path)?]) }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GlConfig {
    #[serde(default)]
    extend: Option<Spanned<GlExtend>>,
    #[serde(default)]
    rules: Vec<Spanned<GlRule>>,
    #[serde(default)]
    allowlist: Option<Spanned<GlAllowlist>>,
    #[serde(default)]
    allowlists: Vec<Spanned<GlAllowlist>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GlExtend {
    use_default: Option<bool>,
    #[serde(default)]
    disabled_rules: Vec<String>,
    path: Option<String>,
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GlRule {
    id: Option<String>,
    #[serde(default)]
    description: String,
    regex: Option<String>,
    secret_group: Option<usize>,
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
    path: Option<String>,
    #[serde(default)]
    allowlist: Option<Spanned<GlAllowlist>>,
    #[serde(default)]
    allowlists: Vec<Spanned<GlAllowlist>>,
    skip_report: Option<bool>,
    required: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GlAllowlist {
    condition: Option<String>,
    #[serde(default)]
    commits: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    regex_target: Option<String>,
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    target_rules: Vec<String>,
}

const KNOWN_TOP: &[&str] =
    &["title", "description", "minVersion", "extend", "rules", "allowlist", "allowlists"];
const KNOWN_EXTEND: &[&str] = &["useDefault", "disabledRules", "path", "url"];
const KNOWN_RULE: &[&str] = &[
    "id",
    "description",
    "regex",
    "secretGroup",
    "entropy",
    "keywords",
    "path",
    "tags",
    "allowlist",
    "allowlists",
    "skipReport",
    "required",
];
const KNOWN_ALLOWLIST: &[&str] = &[
    "description",
    "condition",
    "commits",
    "paths",
    "regexTarget",
    "regexes",
    "stopwords",
    "targetRules",
];

/// One file being translated: its path, text and the warnings so far.
struct File<'a> {
    path: &'a Path,
    text: &'a str,
    warnings: Vec<String>,
}

impl File<'_> {
    /// The line of the table header (`[[rules]]`, `[allowlist]`) that opens `spanned`.
    fn line<T>(&self, spanned: &Spanned<T>) -> usize {
        let at = line_of(self.text, spanned.span().start);
        let lines: Vec<&str> = self.text.lines().take(at).collect();
        lines.iter().rposition(|l| l.trim_start().starts_with('[')).map_or(at, |i| i + 1)
    }

    fn warn(&mut self, line: usize, message: impl AsRef<str>) {
        self.warnings.push(format!("{}:{line}: {}", self.path.display(), message.as_ref()));
    }

    fn error(&self, id: &str, line: usize, message: String) -> RuleError {
        rule_error(id, &Origin { file: self.path.to_owned(), line: Some(line) }, message)
    }
}

/// Translates one gitleaks config's text (`path` names it and anchors `[extend] path`).
pub fn load(path: &Path, text: &str, depth: usize) -> RuleResult<Vec<Config>> {
    let config: GlConfig = toml::from_str(text).map_err(|e| RuleError::Syntax {
        path: path.to_owned(),
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().to_owned(),
    })?;
    let mut file = File { path, text, warnings: Vec::new() };
    warn_unknown_keys(&mut file, &config);

    let extend = config.extend.as_ref().map(|e| (file.line(e), e.get_ref()));
    let use_default = extend.and_then(|(_, e)| e.use_default).unwrap_or(false);

    // Custom rules, in file order; ids must be unique.
    let custom: HashMap<String, String> = config
        .rules
        .iter()
        .filter_map(|r| r.get_ref().id.clone())
        .map(|id| (rule_id(&id), id))
        .map(|(l, g)| (g, l))
        .collect();
    let mut rules: Vec<Rule> = Vec::new();
    for spanned in &config.rules {
        if let Some(rule) = translate_rule(&mut file, spanned)? {
            if rules.iter().any(|r| r.id() == rule.id()) {
                return Err(file.error(rule.id(), file.line(spanned), "duplicate rule id".into()));
            }
            rules.push(rule);
        }
    }
    let resolve = |id: &str| -> Vec<String> {
        match custom.get(id) {
            Some(l) => vec![l.clone()],
            None => leakhound_ids(id),
        }
    };

    // Global allowlists; those with `targetRules` go to the rules they name.
    let builtin = if use_default { load_builtin()?.rules } else { Vec::new() };
    let global = global_allowlists(&mut file, &config, &mut rules, &builtin, &resolve)?;

    let mut disabled = Vec::new();
    if let Some((line, e)) = extend {
        for id in &e.disabled_rules {
            let ids = resolve(id);
            let known = ids
                .iter()
                .any(|l| rules.iter().any(|r| r.id() == l) || builtin.iter().any(|r| r.id() == l));
            if !known && use_default {
                file.warn(line, format!("disabledRules names {id:?}, which has no leakhound equivalent; nothing to disable"));
            }
            disabled.extend(ids);
        }
        if e.url.is_some() {
            file.warn(line, "[extend] url is not supported (leakhound never fetches configs): only this file's rules are used");
        }
    }

    let mut configs = Vec::new();
    if let Some((line, e)) = extend
        && let Some(base) = &e.path
    {
        if depth >= MAX_EXTEND_DEPTH {
            return Err(RuleError::Syntax {
                path: path.to_owned(),
                line: Some(line),
                message: format!("[extend] chains deeper than {MAX_EXTEND_DEPTH} files"),
            });
        }
        let base_path = resolve_base(path, base);
        let text = std::fs::read_to_string(&base_path)
            .map_err(|source| RuleError::Io { path: base_path.clone(), source })?;
        configs = load(&base_path, &text, depth + 1)?;
    }
    let syntax = ConfigSyntax {
        extend: ExtendSyntax { use_default, disabled_rules: disabled },
        allow: global,
        rules: rules.iter().map(|r| r.syntax.clone()).collect(),
        ..ConfigSyntax::default()
    };
    configs.push(Config {
        path: path.to_owned(),
        syntax,
        rules,
        warnings: file.warnings,
        gitleaks: true,
    });
    // The chain starts from the defaults when any file in it asks for them.
    let any_default = configs.iter().any(|c| c.syntax.extend.use_default);
    for c in &mut configs {
        c.syntax.extend.use_default = any_default;
    }
    Ok(configs)
}

/// The global allowlists: those without `targetRules` form the returned global allowlist; those
/// with it are added to the rules they name (a built-in rule is overridden by a copy carrying it).
fn global_allowlists(
    file: &mut File,
    config: &GlConfig,
    rules: &mut Vec<Rule>,
    builtin: &[Rule],
    resolve: &dyn Fn(&str) -> Vec<String>,
) -> RuleResult<AllowSyntax> {
    let mut global = AllowSyntax::default();
    for spanned in config.allowlist.iter().chain(&config.allowlists) {
        let line = file.line(spanned);
        let Some(list) = translate_allowlist(file, spanned)? else { continue };
        let targets = &spanned.get_ref().target_rules;
        if targets.is_empty() {
            global.also.push(list);
            continue;
        }
        for target in targets {
            let mut applied = false;
            for id in &resolve(target) {
                if let Some(rule) = rules.iter_mut().find(|r| r.id() == id) {
                    rule.syntax.allow.also.push(list.clone());
                    applied = true;
                } else if let Some(base) = builtin.iter().find(|r| r.id() == id) {
                    let mut copy = base.clone();
                    copy.syntax.allow.also.push(list.clone());
                    copy.origin = Origin { file: file.path.to_owned(), line: Some(line) };
                    rules.push(copy);
                    applied = true;
                }
            }
            if !applied {
                file.warn(
                    line,
                    format!(
                        "allowlist targetRules names {target:?}, which is not a rule in force; \
                         that target is ignored"
                    ),
                );
            }
        }
    }
    Ok(global)
}

/// `[extend] path` relative to the extending file's directory, else as given.
fn resolve_base(path: &Path, base: &str) -> PathBuf {
    let relative = path.parent().map(|d| d.join(base));
    match relative {
        Some(p) if p.is_file() => p,
        _ => PathBuf::from(base),
    }
}

fn translate_rule(file: &mut File, spanned: &Spanned<GlRule>) -> RuleResult<Option<Rule>> {
    let line = file.line(spanned);
    let r = spanned.get_ref();
    let Some(gitleaks_id) = r.id.as_deref().filter(|id| !id.is_empty()) else {
        return Err(file.error("?", line, "gitleaks rule without an id".into()));
    };
    let id = rule_id(gitleaks_id);
    let origin = Origin { file: file.path.to_owned(), line: Some(line) };
    let Some(regex) = &r.regex else {
        if r.path.is_some() {
            file.warn(line, format!("rule {gitleaks_id:?} matches file paths only (`path` without `regex`), which leakhound does not support: rule skipped"));
            return Ok(None);
        }
        return Err(file.error(&id, line, "gitleaks rule has neither regex nor path".into()));
    };
    if r.skip_report == Some(true) {
        file.warn(
            line,
            format!("rule {gitleaks_id:?}: skipReport is not supported: its findings are reported"),
        );
    }
    if r.required.is_some() {
        file.warn(line, format!("rule {gitleaks_id:?}: [[rules.required]] (composite rules) is not supported: the rule reports on its own"));
    }
    let pattern = secret_pattern(regex, r.secret_group).map_err(|m| file.error(&id, line, m))?;
    let mut allow = AllowSyntax::default();
    if let Some(p) = &r.path {
        // The rule reports only in matching paths: an allowlist of every other path.
        allow.also.push(AllowSyntax { only_in_paths: vec![p.clone()], ..AllowSyntax::default() });
    }
    for list in r.allowlist.iter().chain(&r.allowlists) {
        if !list.get_ref().target_rules.is_empty() {
            file.warn(
                file.line(list),
                "targetRules only applies to global allowlists: ignored here",
            );
        }
        if let Some(list) = translate_allowlist(file, list)? {
            allow.also.push(list);
        }
    }
    let syntax = RuleSyntax {
        id,
        name: String::new(),
        description: if r.description.is_empty() {
            gitleaks_id.to_owned()
        } else {
            r.description.clone()
        },
        severity: Severity::High,
        keywords: r.keywords.iter().filter(|k| !k.is_empty()).cloned().collect(),
        pattern,
        entropy: r.entropy.filter(|e| *e > 0.0).map(|min| EntropySyntax { min }),
        window: Some(WHOLE_FILE_WINDOW),
        requires: Vec::new(),
        // gitleaks' generic rules (`generic-api-key`) are fallbacks like ours: their values go
        // through the value model; every other gitleaks rule is taken as a provider format.
        kind: gitleaks_id.contains("generic").then_some(super::RuleKind::Generic),
        checksum: None,
        decode: None,
        allow,
        references: Vec::new(),
        examples: Vec::new(),
        negative_examples: Vec::new(),
    };
    validate(&syntax, &origin)?;
    Ok(Some(Rule { syntax, origin }))
}

/// A capture group of a regex: its number, the offset of its `(`, and the span of its name.
#[derive(Debug, Clone, Copy)]
struct Capture {
    index: u32,
    open: usize,
    name: Option<(usize, usize)>,
}

/// Collects capture groups.
struct Groups(Vec<Capture>);

impl regex_syntax::ast::Visitor for Groups {
    type Output = Vec<Capture>;
    type Err = ();

    fn finish(self) -> Result<Vec<Capture>, ()> {
        Ok(self.0)
    }

    fn visit_pre(&mut self, ast: &regex_syntax::ast::Ast) -> Result<(), ()> {
        use regex_syntax::ast::{Ast, GroupKind};
        if let Ast::Group(g) = ast {
            let open = g.span.start.offset;
            match &g.kind {
                GroupKind::CaptureIndex(index) => {
                    self.0.push(Capture { index: *index, open, name: None });
                }
                GroupKind::CaptureName { name, .. } => self.0.push(Capture {
                    index: name.index,
                    open,
                    name: Some((name.span.start.offset, name.span.end.offset)),
                }),
                GroupKind::NonCapturing(_) => {}
            }
        }
        Ok(())
    }
}

/// The rule's pattern with the secret where leakhound looks for it: `secretGroup = N` becomes the
/// group named `secret`; a regex without groups is wrapped in one (gitleaks then reports the
/// whole match); otherwise the first group that took part is the secret, as in gitleaks.
pub fn secret_pattern(regex: &str, group: Option<usize>) -> Result<String, String> {
    let parsed = regex_syntax::ast::parse::Parser::new()
        .parse(regex)
        .map_err(|e| format!("invalid regex: {e}"))?;
    let groups = regex_syntax::ast::visit(&parsed, Groups(Vec::new())).unwrap_or_default();
    match group.filter(|&n| n > 0) {
        Some(n) => {
            let Some(&Capture { open, name, .. }) = groups.iter().find(|g| g.index as usize == n)
            else {
                return Err(format!(
                    "secretGroup {n}, but the regex has {} group(s)",
                    groups.len()
                ));
            };
            Ok(match name {
                Some((s, e)) => format!("{}secret{}", &regex[..s], &regex[e..]),
                None => format!("{}?P<secret>{}", &regex[..=open], &regex[open + 1..]),
            })
        }
        None if groups.is_empty() => Ok(format!("({regex})")),
        None => Ok(regex.to_owned()),
    }
}

fn translate_allowlist(
    file: &mut File,
    spanned: &Spanned<GlAllowlist>,
) -> RuleResult<Option<AllowSyntax>> {
    let line = file.line(spanned);
    let a = spanned.get_ref();
    let condition = match a.condition.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("" | "OR") => Condition::Any,
        Some("AND") => Condition::All,
        Some(other) => {
            return Err(file.error(
                "allowlist",
                line,
                format!("condition {other:?} is neither OR nor AND"),
            ));
        }
    };
    let mut list = AllowSyntax {
        path_patterns: a.paths.clone(),
        stopwords: a.stopwords.clone(),
        commits: a.commits.clone(),
        condition,
        ..AllowSyntax::default()
    };
    let target = a.regex_target.as_deref().unwrap_or("secret");
    match target {
        "" | "secret" => list.secrets.clone_from(&a.regexes),
        "match" => list.matches.clone_from(&a.regexes),
        "line" => list.lines.clone_from(&a.regexes),
        other => {
            return Err(file.error(
                "allowlist",
                line,
                format!("regexTarget {other:?} is not secret, match or line"),
            ));
        }
    }
    if list.is_empty() {
        file.warn(line, "allowlist sets no paths, regexes, stopwords or commits: ignored");
        return Ok(None);
    }
    if condition == Condition::All
        && (!list.path_patterns.is_empty() || !list.commits.is_empty())
        && (!list.matches.is_empty() || !list.lines.is_empty())
    {
        file.warn(line, format!("allowlist with condition AND combining paths or commits with regexTarget {target:?} is not supported: it never applies (findings are kept)"));
    }
    if let Some(c) =
        list.commits.iter().find(|c| c.len() < 7 || !c.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        file.warn(line, format!("allowlist commit {c:?} is not a commit id of at least 7 hex digits: it matches commits starting with it"));
    }
    super::load::validate_allow(&list).map_err(|m| file.error("allowlist", line, m))?;
    Ok(Some(list))
}

fn warn_unknown_keys(file: &mut File, config: &GlConfig) {
    let Ok(table) = file.text.parse::<toml::Table>() else { return };
    let unknown = |t: &toml::Table, known: &[&str]| -> Vec<String> {
        t.keys().filter(|k| !known.contains(&k.as_str())).cloned().collect()
    };
    for key in unknown(&table, KNOWN_TOP) {
        let line = file
            .text
            .lines()
            .position(|l| l.trim_start().starts_with(key.as_str()))
            .map_or(1, |i| i + 1);
        file.warn(line, format!("unknown key {key:?} ignored"));
    }
    if let (Some(t), Some(e)) =
        (table.get("extend").and_then(toml::Value::as_table), &config.extend)
    {
        let line = file.line(e);
        for key in unknown(t, KNOWN_EXTEND) {
            file.warn(line, format!("[extend]: unknown key {key:?} ignored"));
        }
    }
    let rules = table.get("rules").and_then(toml::Value::as_array);
    for (spanned, value) in config.rules.iter().zip(rules.into_iter().flatten()) {
        let line = file.line(spanned);
        let Some(t) = value.as_table() else { continue };
        for key in unknown(t, KNOWN_RULE) {
            file.warn(line, format!("rule: unknown key {key:?} ignored"));
        }
        let lists = t
            .get("allowlist")
            .into_iter()
            .chain(t.get("allowlists").and_then(toml::Value::as_array).into_iter().flatten());
        for list in lists.filter_map(toml::Value::as_table) {
            for key in unknown(list, KNOWN_ALLOWLIST) {
                file.warn(line, format!("rule allowlist: unknown key {key:?} ignored"));
            }
        }
    }
    let lists = table
        .get("allowlist")
        .into_iter()
        .chain(table.get("allowlists").and_then(toml::Value::as_array).into_iter().flatten());
    for list in lists.filter_map(toml::Value::as_table) {
        for key in unknown(list, KNOWN_ALLOWLIST) {
            file.warn(1, format!("allowlist: unknown key {key:?} ignored"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_translated() {
        assert_eq!(rule_id("my-rule"), "gitleaks.my-rule");
        assert_eq!(rule_id("Custom_Token v2"), "gitleaks.custom-token-v2");
        assert_eq!(rule_id("acme.key"), "acme.key");
        assert_eq!(leakhound_ids("github-pat"), ["github.token", "gitleaks.github-pat"]);
    }

    #[test]
    fn secret_groups_become_named_groups() {
        assert_eq!(
            secret_pattern(r"key=(\w+)-(\d+)", Some(2)).expect("ok"),
            r"key=(\w+)-(?P<secret>\d+)"
        );
        assert_eq!(
            secret_pattern(r"(?P<k>a)(?P<v>b)", Some(2)).expect("ok"),
            r"(?P<k>a)(?P<secret>b)"
        );
        assert_eq!(secret_pattern(r"(?i)tok_[a-z]{4}", None).expect("ok"), r"((?i)tok_[a-z]{4})");
        assert_eq!(secret_pattern(r"(?:x)(y)", None).expect("ok"), r"(?:x)(y)");
        assert!(secret_pattern(r"(a)", Some(3)).expect_err("too few").contains("1 group"));
    }

    #[test]
    fn extend_path_target_rules_and_disabled_rules() {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = dir.path().join("base.toml");
        std::fs::write(&base, "[[rules]]\nid = \"base-rule\"\nregex = '''base_[0-9]{4}'''\n\n[[rules]]\nid = \"other\"\nregex = '''oth_[0-9]{4}'''\n").expect("write");
        let top = dir.path().join(".gitleaks.toml");
        let text = "[extend]\npath = \"base.toml\"\ndisabledRules = [\"other\"]\n\n[[rules]]\nid = \"top\"\nregex = '''top_[0-9]{4}'''\n\n[[allowlists]]\ntargetRules = [\"top\", \"nope\"]\nstopwords = [\"0000\"]\n";
        std::fs::write(&top, text).expect("write");
        let configs = load_any(&top).expect("loads");
        assert_eq!(configs.len(), 2, "the base first, then the file");
        let set = super::super::load::build_rule_set(&configs).expect("builds");
        let ids: Vec<&str> = set.rules.iter().map(Rule::id).collect();
        assert_eq!(ids, ["gitleaks.base-rule", "gitleaks.top"], "no defaults; `other` disabled");
        assert_eq!(set.rules[1].syntax.allow.also.len(), 1, "targeted allowlist on its rule");
        assert!(set.allow.is_empty(), "and not global");
        let warnings = &configs[1].warnings;
        assert!(
            warnings.iter().any(|w| w.contains(".gitleaks.toml:9") && w.contains("nope")),
            "{warnings:?}"
        );
    }

    #[test]
    fn detects_the_format() {
        assert!(is_gitleaks("title = \"x\"\n[[rules]]\nid = \"a\"\nregex = 'b'\n"));
        assert!(is_gitleaks("[extend]\nuseDefault = true\n"));
        assert!(!is_gitleaks(
            "[extend]\nuse_default = true\n[[rule]]\nid = \"a.b\"\npattern = '(b)'\n"
        ));
    }
}
