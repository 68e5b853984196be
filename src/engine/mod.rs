//! The engine: bytes in, matches out. It never learns where a blob came from.
//!
//! A scan runs in stages, each cheaper than the next is expensive:
//! 1. one pass of a case-insensitive Aho-Corasick automaton over all rules' keywords
//!    (`prefilter`) gives candidate rules and where their keywords sit;
//! 2. only those rules' regexes run, and only in windows around the hits (a rule's regex is
//!    compiled on its first candidate, so a ten-file pre-commit scan compiles a handful);
//! 3. the secret group is checked against entropy, checksum, allowlists and inline markers, and
//!    the value of a generic, keyword-anchored or structured rule is judged by the value model
//!    ([`value`]), which also grades the match's [`Confidence`] (lowered by [`context`]); a
//!    rule's `decode` scheme turns a stored value into the password it stands for ([`reveal`]);
//! 4. encoded spans (base64, percent-encoding, JSON escapes) are decoded ([`decode`]) and their
//!    decoded text goes through the same stages, a bounded number of levels deep.
//!
//! [`Engine`] is built once and shared read-only across threads.

pub mod allow;
mod alphabet;
mod budget;
pub mod checksum;
pub mod context;
pub mod decode;
pub mod entropy;
pub mod location;
mod prefilter;
pub mod reveal;
pub mod value;

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use regex::bytes::Regex;

use crate::error::{RuleError, RuleResult};
use crate::rules::load::{expanded_size, parse_pattern, regex_builder};
use crate::rules::{Confidence, GENERIC_PREFIX, Rule, RuleKind, RuleSet};
use allow::Allow;
use location::{LineCol, LineCounter, line_bounds};
use prefilter::{Prefilter, Word};

/// How many encodings deep the engine looks: two covers a docker config.json (base64 `auth`)
/// inside a Kubernetes Secret (base64 `data:`).
const DECODE_DEPTH: usize = 2;

/// How far past a window's end the engine looks for the end of the line, so a secret that
/// straddles the window is not cut short.
const LINE_SLACK: usize = 256;

/// Longest secret span the overlap check looks back over (a private key block's window).
const MAX_SECRET_SPAN: usize = 65_536;

/// A `(rule, start, end)` span of a blob: a keyword's window, or where a `requires` literal sits.
type Span = (usize, usize, usize);

/// One secret the engine found. Serializable so that a history scan can cache it by blob id
/// (`rule` indexes the rule set the cache is keyed by).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Match {
    /// Index of the rule, for [`Engine::rule`].
    pub rule: usize,
    /// Byte offset of the secret's first byte.
    pub start: usize,
    /// Byte offset just past the secret.
    pub end: usize,
    /// Line and column of `start`.
    pub start_at: LineCol,
    /// Line and column of the secret's last byte.
    pub end_at: LineCol,
    /// The secret's bytes.
    pub secret: Vec<u8>,
    /// How sure the engine is, before the blob's path is known (see [`Engine::confidence_at`]).
    pub confidence: Confidence,
    /// False when the path may no longer lower the confidence: checksum-verified secrets, and
    /// matches their own line already downgraded.
    pub downgradable: bool,
    /// The text of the pattern's groups named in [`CONTEXT_GROUPS`] that took part (a URI's
    /// `host`, a docker config's registry), and the `user` a revealed value names beside its
    /// password ([`reveal::Revealed::user`]): what a verifier needs beside the secret (#16).
    pub captures: Vec<(String, String)>,
    /// Why the secret is the stored text after all, when the rule names a scheme to reveal it
    /// under ([`reveal`]) and the value did not reveal under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What [`Engine::scan`] found in one blob.
#[derive(Debug, Default)]
pub struct Scanned {
    /// The secrets, sorted by position.
    pub matches: Vec<Match>,
    /// Rules whose search of the blob stopped short of its end, since it would have cost more
    /// than the work budget; for [`Engine::not_fully_scanned`]. Sorted, no repeats.
    pub unfinished: Vec<usize>,
}

/// The confidence of an accepted secret, as [`Engine::search_rule`] records it next to the span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Grade {
    confidence: Confidence,
    downgradable: bool,
}

/// An accepted secret: rule index, start, end, grade, the spans of the rule's context groups
/// (see [`Compiled::named`]), and what the stored value revealed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    rule: usize,
    start: usize,
    end: usize,
    grade: Grade,
    captures: Vec<(usize, usize, usize)>,
    revealed: Revealed,
}

/// The secret a rule with a `decode` scheme reports ([`reveal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Revealed {
    /// The rule names no scheme: the secret is the text it matched.
    Stored,
    /// The password the stored text stands for, and the user it names beside it.
    Password(reveal::Revealed),
    /// The stored text did not reveal under the rule's scheme: it is reported as it stands,
    /// with this note.
    Undecoded(String),
}

/// A rule's regex and what the work budget ([`budget`]) needs of it.
struct Compiled {
    regex: Regex,
    /// The pattern's positions (see [`expanded_size`]): a search's worst-case work per byte.
    positions: u64,
    /// The span-finding DFAs of a search under the budget, built on the first such search.
    dfa: OnceLock<Option<regex_automata::hybrid::regex::Regex>>,
    /// Index and name of each group named in [`CONTEXT_GROUPS`].
    named: Vec<(usize, String)>,
}

impl Compiled {
    fn new(pattern: &str) -> Result<Compiled, String> {
        let regex = regex_builder(pattern).build().map_err(|e| e.to_string())?;
        let positions = parse_pattern(pattern).map_or(u64::MAX, |hir| expanded_size(&hir));
        let named = regex
            .capture_names()
            .enumerate()
            .filter_map(|(i, name)| Some((i, name.filter(|n| CONTEXT_GROUPS.contains(n))?.into())))
            .collect();
        Ok(Compiled { regex, positions, dfa: OnceLock::new(), named })
    }
}

/// How a window is checked for one of its rule's `requires` literals before the regex runs.
enum Gate {
    /// The rule has no `requires`.
    Open,
    /// Its literals are long enough to be rare, so they ride in the keyword automaton: a window
    /// passes when one of their hits lies inside it. Searching every window for them instead
    /// cost a tenth of a scan (perf, `benches/engine.rs` on the crate tree).
    Hits,
    /// A literal is short (`"`, `</`, `@`): reporting its every occurrence from the keyword pass
    /// made the whole scan 40% slower, while a window's search meets one within a few bytes.
    Search(AhoCorasick),
}

/// The shortest `requires` literal that [`Gate::Hits`] takes.
const RARE_LITERAL: usize = 3;

struct CompiledRule {
    rule: Rule,
    regex: OnceLock<Result<Compiled, String>>,
    /// How a window is checked for the rule's `requires` literals.
    gate: Gate,
    allow: Allow,
    /// A `generic.*` rule: yields to specific rules on the same secret.
    generic: bool,
    kind: RuleKind,
    /// The rule reports only in some paths (`allow.only_in_paths`). The engine does not know the
    /// path, so such a rule's match must not hide another rule's match of the same secret: the
    /// path check after the scan may drop it (a `gradle.properties`-only rule would otherwise
    /// hide `generic.password` on every `password=` line elsewhere).
    path_conditional: bool,
}

impl CompiledRule {
    fn regex(&self) -> Result<&Compiled, &str> {
        self.regex
            .get_or_init(|| Compiled::new(&self.rule.syntax.pattern))
            .as_ref()
            .map_err(String::as_str)
    }
}

/// A rule set compiled for scanning.
pub struct Engine {
    rules: Vec<CompiledRule>,
    prefilter: Prefilter,
    allow: Allow,
    config: Option<crate::rules::load::ConfigUse>,
    /// The rules with `allow.only_in_paths`, which [`Engine::scan_at`] may leave out.
    path_conditional: Vec<usize>,
}

impl Engine {
    /// Builds the keyword automaton and the allowlists; regexes are compiled on first use.
    pub fn new(set: RuleSet) -> RuleResult<Engine> {
        let mut rules = Vec::with_capacity(set.rules.len());
        for rule in set.rules {
            let fail = |message: String| RuleError::Rule {
                rule_id: rule.id().to_owned(),
                origin: rule.origin.to_string(),
                message,
            };
            if let Some(name) = &rule.syntax.checksum
                && !checksum::NAMES.contains(&name.as_str())
            {
                return Err(fail(format!(
                    "unknown checksum {name:?} (known: {})",
                    checksum::NAMES.join(", ")
                )));
            }
            if let Some(name) = &rule.syntax.decode
                && !reveal::NAMES.contains(&name.as_str())
            {
                return Err(fail(format!(
                    "unknown decode scheme {name:?} (known: {})",
                    reveal::NAMES.join(", ")
                )));
            }
            let allow = Allow::of_rule(&rule.syntax.allow).map_err(&fail)?;
            let literals = &rule.syntax.requires;
            let gate = if literals.is_empty() {
                Gate::Open
            } else if literals.iter().all(|l| l.len() >= RARE_LITERAL) {
                Gate::Hits
            } else {
                // A contiguous NFA, not the DFA aho-corasick picks for a few literals: it builds
                // several times faster, and it searches only the windows around keyword hits.
                Gate::Search(
                    AhoCorasick::builder()
                        .ascii_case_insensitive(true)
                        .kind(Some(AhoCorasickKind::ContiguousNFA))
                        .build(literals)
                        .map_err(|e| fail(format!("cannot build `requires`: {e}")))?,
                )
            };
            let generic = rule.id().starts_with(GENERIC_PREFIX);
            let kind = rule.kind();
            let path_conditional = !rule.syntax.allow.only_in_paths.is_empty();
            rules.push(CompiledRule {
                rule,
                regex: OnceLock::new(),
                gate,
                allow,
                generic,
                kind,
                path_conditional,
            });
        }
        let words = rules.iter().map(|r| {
            let required =
                if matches!(r.gate, Gate::Hits) { &r.rule.syntax.requires[..] } else { &[] };
            (&r.rule.syntax.keywords[..], required)
        });
        let prefilter = Prefilter::new(words).map_err(|message| RuleError::Rule {
            rule_id: "*".into(),
            origin: "keywords".into(),
            message,
        })?;
        let allow = Allow::new(&set.allow).map_err(|message| RuleError::Rule {
            rule_id: "*".into(),
            origin: "global allowlist".into(),
            message,
        })?;
        let path_conditional = (0..rules.len()).filter(|&r| rules[r].path_conditional).collect();
        Ok(Engine { rules, prefilter, allow, config: set.config, path_conditional })
    }

    /// The config files the rules came from (see [`crate::rules::load::ConfigUse`]), for the
    /// report.
    pub fn config(&self) -> Option<&crate::rules::load::ConfigUse> {
        self.config.as_ref()
    }

    /// The rules, indexed as [`Match::rule`].
    pub fn rule(&self, index: usize) -> &Rule {
        &self.rules[index].rule
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Compiles the regex of every rule now; `rules check` uses it to report bad patterns.
    pub fn compile_all(&self) -> Vec<RuleError> {
        self.rules
            .iter()
            .filter_map(|r| {
                let message = match (r.regex(), r.allow.compile()) {
                    (Err(message), _) => format!("invalid regex: {message}"),
                    (Ok(_), Err(message)) => message,
                    (Ok(_), Ok(())) => return None,
                };
                Some(RuleError::Rule {
                    rule_id: r.rule.id().to_owned(),
                    origin: r.rule.origin.to_string(),
                    message,
                })
            })
            .collect()
    }

    /// Rules whose regex a scan tried to compile and could not (over the size limit, say): they
    /// found nothing, which a report must say rather than look clean.
    pub fn failed_rules(&self) -> Vec<RuleError> {
        self.rules
            .iter()
            .filter_map(|r| {
                let Some(Err(message)) = r.regex.get() else { return None };
                Some(RuleError::Rule {
                    rule_id: r.rule.id().to_owned(),
                    origin: r.rule.origin.to_string(),
                    message: format!(
                        "its pattern does not compile, so it searched nothing: {message}"
                    ),
                })
            })
            .collect()
    }

    /// True when a path is allowed by the global allowlist: such files need not be read at all.
    pub fn path_allowed_globally(&self, path: &str) -> bool {
        self.allow.allows_path(path)
    }

    /// True when findings of `rule` at `path` are allowed (global or rule allowlist).
    pub fn path_allowed(&self, rule: usize, path: &str) -> bool {
        self.allow.allows_path(path) || self.rules[rule].allow.allows_path(path)
    }

    /// True when the finding of `m` at `path` (in `commit`) is allowed: path and commit
    /// allowlists, global or the rule's, judged once the place is known.
    pub fn allowed_at(&self, m: &Match, path: &str, commit: Option<&str>) -> bool {
        let c = allow::Candidate {
            secret: &m.secret,
            path: Some(path),
            commit,
            ..allow::Candidate::default()
        };
        self.allow.allows_place(&c) || self.rules[m.rule].allow.allows_place(&c)
    }

    /// The confidence of `m` found at `path`: one step lower in a test-vector or fixture path
    /// (see [`context::test_path`]), unless the match is not [`Match::downgradable`].
    ///
    /// A generic or keyword-anchored match in a minified or generated file (see
    /// [`context::minified_path`]) is `low`; a provider's format or a checksum (`high`) is never
    /// second-guessed.
    pub fn confidence_at(&self, m: &Match, path: &str) -> Confidence {
        let judged =
            self.rules[m.rule].kind != RuleKind::Prefixed && m.confidence != Confidence::High;
        if judged && context::minified_path(path) {
            Confidence::Low
        } else if m.downgradable && context::test_path(path) {
            m.confidence.lowered()
        } else {
            m.confidence
        }
    }

    /// Finds every secret in `data`, sorted by position, including secrets one or two encodings
    /// deep (see [`decode`]), which are reported at their encoded text, and names the rules the
    /// work budget stopped short.
    pub fn scan(&self, data: &[u8]) -> Scanned {
        self.scan_skipping(data, &[])
    }

    /// [`Engine::scan`] of content found at `path` only: rules whose allowlist drops every match
    /// at that path (`only_in_paths` it is outside of) are not run, as their matches would go.
    /// For content whose result serves no other place; [`Engine::scan`] serves every place.
    pub fn scan_at(&self, data: &[u8], path: &str) -> Scanned {
        let skip: Vec<usize> = self
            .path_conditional
            .iter()
            .copied()
            .filter(|&rule| self.rules[rule].allow.drops_every_match_at(path))
            .collect();
        self.scan_skipping(data, &skip)
    }

    /// [`Engine::scan`] without the rules in `skip`.
    fn scan_skipping(&self, data: &[u8], skip: &[usize]) -> Scanned {
        let mut unfinished = Vec::new();
        let matches = self.scan_to_depth(data, DECODE_DEPTH, &mut unfinished, skip);
        unfinished.sort_unstable();
        unfinished.dedup();
        Scanned { matches, unfinished }
    }

    /// What a report says of a rule in [`Scanned::unfinished`]; the caller names the blob.
    pub fn not_fully_scanned(&self, rule: usize) -> String {
        let rule = &self.rules[rule].rule;
        let fix = if rule.syntax.keywords.is_empty() {
            "give the rule keywords, so its pattern runs only near them rather than over every \
             byte, or"
        } else {
            "give the rule rarer keywords, or"
        };
        format!(
            "rule {} ({}) was not fully scanned here: its pattern would take too long on this \
             content (its search was stopped after a bounded amount of work); {fix} simplify its \
             pattern (fewer or smaller nested repetitions)",
            rule.id(),
            rule.origin,
        )
    }

    fn scan_to_depth(
        &self,
        data: &[u8],
        depth: usize,
        unfinished: &mut Vec<usize>,
        skip: &[usize],
    ) -> Vec<Match> {
        let mut matches = self.scan_plain(data, unfinished, skip);
        if depth > 0 {
            self.scan_decoded(data, depth, &mut matches, unfinished, skip);
        }
        matches
    }

    /// Scans the decoded views of `data` and adds what they hold at the encoded spans, unless
    /// the same rule already matched there in plain text.
    fn scan_decoded(
        &self,
        data: &[u8],
        depth: usize,
        matches: &mut Vec<Match>,
        unfinished: &mut Vec<usize>,
        skip: &[usize],
    ) {
        let mut views = decode::views(data);
        // Values a generic rule picked out may be base64 shorter than the blind search's minimum
        // (a Kubernetes Secret's `cGFzc3dvcmQ=`).
        for m in matches.iter().filter(|m| self.rules[m.rule].generic) {
            if !views.iter().any(|v| (v.start, v.end) == (m.start, m.end))
                && let Some(view) = decode::base64_view(data, m.start, m.end)
            {
                views.push(view);
            }
        }
        if views.is_empty() {
            return;
        }
        views.sort_by_key(|v| (v.start, v.end));
        // A generic rule's match on a base64 value of text is judged on the text instead: the
        // base64 of `changeme` looks random, `changeme` does not.
        matches.retain(|m| {
            !self.rules[m.rule].generic
                || !views.iter().any(|v| {
                    v.encoding == decode::Encoding::Base64 && (v.start, v.end) == (m.start, m.end)
                })
        });
        let (mut starts, mut ends) = (LineCounter::new(data), LineCounter::new(data));
        let mut extra: Vec<Match> = Vec::new();
        for view in &views {
            for m in self.scan_to_depth(&view.text, depth - 1, unfinished, skip) {
                let inside = m.start < view.decoded.end && view.decoded.start < m.end;
                // One secret, one finding: what plain text already reported there wins.
                // A path-conditional rule's match may yet be dropped, so it wins nothing here.
                let known = matches.iter().chain(&extra).any(|r| {
                    !self.rules[r.rule].path_conditional && r.start < view.end && view.start < r.end
                });
                if inside && !known {
                    extra.push(Match {
                        rule: m.rule,
                        start: view.start,
                        end: view.end,
                        start_at: starts.at(view.start),
                        end_at: ends.at(view.end.saturating_sub(1).max(view.start)),
                        secret: m.secret,
                        confidence: m.confidence,
                        downgradable: m.downgradable,
                        captures: m.captures,
                        note: m.note,
                    });
                }
            }
        }
        if !extra.is_empty() {
            matches.extend(extra);
            matches.sort_by_key(|m| (m.start, m.end, m.rule));
        }
    }

    /// Finds every secret written in plain text in `data`, sorted by position.
    fn scan_plain(&self, data: &[u8], unfinished: &mut Vec<usize>, skip: &[usize]) -> Vec<Match> {
        let (mut windows, required) = self.candidate_windows(data);
        windows.retain(|w| !skip.contains(&w.0));
        let mut found: Vec<Found> = Vec::new();
        let mut spans = Vec::new();
        for windows in windows.chunk_by(|a, b| a.0 == b.0) {
            let rule_index = windows[0].0;
            let from = required.partition_point(|r| r.0 < rule_index);
            let to = required.partition_point(|r| r.0 <= rule_index);
            let required = &required[from..to];
            if !self.search_rule(rule_index, data, windows, required, &mut spans, &mut found) {
                unfinished.push(rule_index);
            }
        }
        found.sort_unstable_by_key(|f| (f.start, f.end, f.rule));
        found.dedup();
        self.drop_shadowed_generic(&mut found);
        let mut lines = LineCounter::new(data);
        found
            .into_iter()
            .map(|Found { rule, start, end, grade, captures, revealed }| {
                let mut captures = self.capture_texts(rule, data, &captures);
                let (secret, note) = match revealed {
                    Revealed::Stored => (data[start..end].to_vec(), None),
                    Revealed::Password(reveal::Revealed { password, user }) => {
                        // The user the stored value names is the one the credential logs in as,
                        // whatever a `user` group beside it says.
                        if let Some(user) = user {
                            captures.retain(|(name, _)| name != "user");
                            captures.push(("user".to_owned(), user));
                        }
                        (password, None)
                    }
                    Revealed::Undecoded(note) => (data[start..end].to_vec(), Some(note)),
                };
                Match {
                    rule,
                    start,
                    end,
                    start_at: lines.at(start),
                    end_at: lines.at(end.saturating_sub(1).max(start)),
                    secret,
                    confidence: grade.confidence,
                    downgradable: grade.downgradable,
                    captures,
                    note,
                }
            })
            .collect()
    }

    /// The names and texts of a match's other named groups, from their spans in `data`.
    fn capture_texts(
        &self,
        rule: usize,
        data: &[u8],
        spans: &[(usize, usize, usize)],
    ) -> Vec<(String, String)> {
        let Ok(compiled) = self.rules[rule].regex() else { return Vec::new() };
        spans
            .iter()
            .filter_map(|&(group, s, e)| {
                let (_, name) = compiled.named.iter().find(|(i, _)| *i == group)?;
                Some((name.clone(), String::from_utf8_lossy(&data[s..e]).into_owned()))
            })
            .collect()
    }

    /// Merged `(rule, start, end)` windows around every keyword hit, sorted by rule then start,
    /// and every `(rule, start, end)` where one of a rule's `requires` literals occurs, sorted.
    fn candidate_windows(&self, data: &[u8]) -> (Vec<Span>, Vec<Span>) {
        let mut windows: Vec<Span> = Vec::new();
        let mut required: Vec<Span> = Vec::new();
        self.prefilter.hits(data, |word, rule_index, hit_start, hit_end| {
            if word == Word::Required {
                required.push((rule_index, hit_start, hit_end));
                return;
            }
            let reach = self.rules[rule_index].rule.window();
            windows.push((
                rule_index,
                hit_start.saturating_sub(reach),
                hit_end.saturating_add(reach).min(data.len()),
            ));
        });
        required.sort_unstable();
        for rule_index in self.prefilter.keywordless() {
            windows.push((rule_index, 0, data.len()));
        }
        windows.sort_unstable();
        let mut merged: Vec<(usize, usize, usize)> = Vec::with_capacity(windows.len());
        for w in windows {
            match merged.last_mut() {
                Some(last) if last.0 == w.0 && w.1 <= last.2 => last.2 = last.2.max(w.2),
                _ => merged.push(w),
            }
        }
        (merged, required)
    }

    /// Runs one rule's regex over its `windows` in `data` (sorted by start) and keeps the
    /// secrets that pass every check. False when the work budget stopped it short. `spans` is
    /// scratch space, kept by the caller so a blob allocates it once.
    fn search_rule(
        &self,
        rule_index: usize,
        data: &[u8],
        windows: &[Span],
        required: &[Span],
        spans: &mut Vec<(usize, usize)>,
        found: &mut Vec<Found>,
    ) -> bool {
        let compiled = &self.rules[rule_index];
        // Extend to the end of the line (bounded), then search with the bytes before `start` as
        // context so `\b` and friends see the real neighbours. Every match holds one of the
        // `requires` literals: a window without one is not searched.
        spans.clear();
        spans.extend(
            windows
                .iter()
                .map(|&(_, start, end)| {
                    let limit = (end + LINE_SLACK).min(data.len());
                    (start, memchr::memchr(b'\n', &data[end..limit]).map_or(limit, |p| end + p))
                })
                .filter(|&(start, end)| match &compiled.gate {
                    Gate::Open => true,
                    Gate::Hits => {
                        let first = required.partition_point(|h| h.1 < start);
                        required[first..].iter().take_while(|h| h.1 < end).any(|h| h.2 <= end)
                    }
                    Gate::Search(literals) => literals.is_match(&data[start..end]),
                }),
        );
        if spans.is_empty() {
            return true;
        }
        // A pattern that does not compile is reported by `failed_rules`.
        let Ok(regex) = compiled.regex() else { return true };
        let bytes: usize = spans.iter().map(|(start, end)| end - start).sum();
        let mut ledger = ((bytes as u64).saturating_mul(regex.positions) > budget::WORK_BUDGET)
            .then(|| budget::Ledger::new(bytes));
        let mut locs = regex.regex.capture_locations();
        let mut keep = |locs: &regex::bytes::CaptureLocations, whole: regex::bytes::Match| {
            let Some((s, e)) = secret_span(&regex.regex, locs) else { return };
            if s < e
                && let Some((grade, revealed)) =
                    self.accept(compiled, data, (s, e), (whole.start(), whole.end()))
            {
                let captures = regex
                    .named
                    .iter()
                    .filter_map(|&(i, _)| locs.get(i).map(|(s, e)| (i, s, e)))
                    .collect();
                found.push(Found { rule: rule_index, start: s, end: e, grade, captures, revealed });
            }
        };
        for &(start, end) in spans.iter() {
            let Some(ledger) = &mut ledger else {
                let mut pos = start;
                while pos <= end {
                    let Some(m) = regex.regex.captures_read_at(&mut locs, &data[..end], pos) else {
                        break;
                    };
                    pos = if m.end() > m.start() { m.end() } else { m.end() + 1 };
                    keep(&locs, m);
                }
                continue;
            };
            let Some(dfa) = regex.dfa.get_or_init(|| budget::build(&compiled.rule.syntax.pattern))
            else {
                return false;
            };
            let mut pos = start;
            while pos <= end {
                let Ok(next) = ledger.next_match(dfa, &data[..end], pos, end) else { return false };
                let Some((s, e)) = next else { break };
                pos = if e > s { e } else { e + 1 };
                // Capture groups on the span alone, its next byte kept for look-ahead, so their
                // cost is the span's.
                let cut = (e + 1).min(end);
                let resolved = ledger.resolve(cut - s, regex.positions, || {
                    regex.regex.captures_read_at(&mut locs, &data[..cut], s)
                });
                match resolved {
                    Ok(Some(m)) => keep(&locs, m),
                    Ok(None) => {}
                    Err(budget::Exhausted) => return false,
                }
            }
        }
        true
    }

    /// Entropy, checksum, the value model, content allowlists and inline markers for the
    /// secret at `start..end` of a match spanning `whole`; the grade of what passes, and what
    /// the stored value reveals under the rule's `decode` scheme.
    fn accept(
        &self,
        compiled: &CompiledRule,
        data: &[u8],
        (start, end): (usize, usize),
        whole: (usize, usize),
    ) -> Option<(Grade, Revealed)> {
        let secret = &data[start..end];
        let syntax = &compiled.rule.syntax;
        if let Some(gate) = &syntax.entropy
            && entropy::shannon(secret) < gate.min
        {
            return None;
        }
        let verified = match &syntax.checksum {
            Some(name) if !checksum::verify(name, secret) => return None,
            Some(_) => true,
            None => false,
        };
        // Published samples are public whatever their format; every other judgement of the
        // value is for rules whose format does not already say "secret".
        if value::published_sample(secret) {
            return None;
        }
        let confidence = if verified || compiled.kind == RuleKind::Prefixed {
            Confidence::High
        } else {
            match value::judge(secret) {
                Ok(value::Strength::Strong) => Confidence::Medium,
                // A plain value; `admin123` anywhere is a password a person chose (#13);
                // `letmeknow` in a .netrc is still somebody's password.
                Ok(value::Strength::Weak) | Err(value::Reason::Guessable) => Confidence::Low,
                Err(value::Reason::LowInformation) if compiled.kind == RuleKind::Field => {
                    Confidence::Low
                }
                // Where the format itself says "password" (a URL's userinfo, a credential
                // file's field), a camel-case name with a number in it (`mySecret789`,
                // `secur3Pass`) was typed as a password, not written as a reference (#13).
                Err(value::Reason::Identifier)
                    if matches!(compiled.kind, RuleKind::Field | RuleKind::Structured)
                        && secret.iter().any(u8::is_ascii_digit) =>
                {
                    Confidence::Low
                }
                Err(_) => return None,
            }
        };
        let revealed = match &syntax.decode {
            None => Revealed::Stored,
            Some(scheme) => match reveal::reveal(scheme, secret, &data[whole.0..whole.1]) {
                Ok(revealed) => Revealed::Password(revealed),
                Err(why) => Revealed::Undecoded(format!(
                    "the stored value is reported: it was not decoded as {scheme}, since {why}"
                )),
            },
        };
        let (line_start, _) = line_bounds(data, whole.0.min(start));
        let (_, line_end) = line_bounds(data, whole.1.max(end).saturating_sub(1).max(start));
        let line = &data[line_start..line_end];
        // An allowlist may name the stored text or the password it stands for.
        let allowed = |secret: &[u8]| {
            let candidate = allow::Candidate {
                secret,
                whole: Some(&data[whole.0..whole.1]),
                line: Some(line),
                ..allow::Candidate::default()
            };
            compiled.allow.allows_content(&candidate) || self.allow.allows_content(&candidate)
        };
        if allowed(secret) || matches!(&revealed, Revealed::Password(p) if allowed(&p.password)) {
            return None;
        }
        if allow::has_inline_marker(line) {
            return None;
        }
        let grade = if verified {
            Grade { confidence, downgradable: false }
        } else if compiled.kind != RuleKind::Prefixed && context::minified_line(line) {
            // Only what the value model judged: a provider's format says "secret" anywhere.
            Grade { confidence: Confidence::Low, downgradable: false }
        } else if context::sample_line(line) {
            Grade { confidence: confidence.lowered(), downgradable: false }
        } else {
            Grade { confidence, downgradable: true }
        };
        Some((grade, revealed))
    }

    /// One secret, one finding: drops generic-rule matches whose secret overlaps a specific
    /// rule's secret or an earlier generic rule's, specific matches of the very secret an earlier
    /// specific rule matched, and matches lying strictly inside another rule's longer match (an `xoxp-` token inside an `xoxe.xoxp-` one). `found` is sorted by
    /// start, so only neighbours that overlap are compared.
    fn drop_shadowed_generic(&self, found: &mut Vec<Found>) {
        if found.len() < 2 {
            return;
        }
        let shadowed = |a: &Found, b: &Found| {
            let (ga, gb) = (self.rules[a.rule].generic, self.rules[b.rule].generic);
            let overlap = a.start < b.end && b.start < a.end;
            let inside =
                b.start <= a.start && a.end <= b.end && (a.start, a.end) != (b.start, b.end);
            // A generic match yields to a specific one and to an earlier generic rule; a match
            // of either kind yields to a longer match of its kind around it.
            let same = (a.start, a.end) == (b.start, b.end) && b.rule < a.rule;
            let yields =
                if ga { !gb || b.rule < a.rule || inside } else { !gb && (inside || same) };
            overlap && yields && !self.rules[b.rule].path_conditional
        };
        let mut keep = vec![true; found.len()];
        for i in 0..found.len() {
            for j in (0..i).rev() {
                if found[j].start + MAX_SECRET_SPAN < found[i].start {
                    break;
                }
                if shadowed(&found[i], &found[j]) {
                    keep[i] = false;
                }
                if shadowed(&found[j], &found[i]) {
                    keep[j] = false;
                }
            }
        }
        let mut index = 0;
        found.retain(|_| {
            index += 1;
            keep[index - 1]
        });
    }
}

/// Group names that say where a secret belongs rather than what it is: a rule names them so a
/// verifier can find the host written next to the secret (#16), and the finding carries their
/// text ([`Match::captures`]). They are never the secret.
pub const CONTEXT_GROUPS: &[&str] = &["host", "port", "user", "database", "scheme", "sslmode"];

/// The span of the group named `secret`, or else of the first group that took part and is not
/// a [`CONTEXT_GROUPS`] group.
pub fn secret_span(regex: &Regex, locs: &regex::bytes::CaptureLocations) -> Option<(usize, usize)> {
    if let Some(index) = regex.capture_names().position(|n| n == Some("secret")) {
        return locs.get(index);
    }
    regex
        .capture_names()
        .enumerate()
        .skip(1)
        .filter(|(_, name)| name.is_none_or(|n| !CONTEXT_GROUPS.contains(&n)))
        .find_map(|(i, _)| locs.get(i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::load::parse_config;
    use std::path::Path;

    fn engine(text: &str) -> Engine {
        let config = parse_config(Path::new("t.toml"), text).expect("valid rules");
        Engine::new(RuleSet { rules: config.rules, allow: config.syntax.allow, config: None })
            .expect("engine")
    }

    const RULES: &str = r#"
[[rule]]
id = "test.token"
keywords = ["tok_"]
pattern = '''\b(tok_[a-z0-9]{8})\b'''
entropy = { min = 2.0 }

[[rule]]
id = "generic.assign"
keywords = ["token"]
pattern = '''token\s*=\s*"([^"]{8,})"'''
"#;

    #[test]
    fn finds_with_location() {
        let e = engine(RULES);
        let m = e.scan(b"first\n  x = tok_a1b2c3d4;\n").matches;
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].secret, b"tok_a1b2c3d4");
        assert_eq!((m[0].start_at.line, m[0].start_at.column), (2, 7));
    }

    #[test]
    fn keyword_case_insensitive_and_entropy_gate() {
        let e = engine(RULES);
        assert!(e.scan(b"TOK_aaaaaaaa").matches.is_empty(), "low entropy and wrong case for regex");
        assert!(e.scan(b"tok_aaaaaaaa").matches.is_empty(), "entropy below gate");
    }

    #[test]
    fn specific_rule_shadows_generic() {
        let e = engine(RULES);
        let m = e.scan(br#"token = "tok_a1b2c3d4""#).matches;
        assert_eq!(m.len(), 1);
        assert_eq!(e.rule(m[0].rule).id(), "test.token");
        let m = e.scan(br#"token = "Zr8vLq2Nw5Tk""#).matches;
        assert_eq!(e.rule(m[0].rule).id(), "generic.assign");
    }

    #[test]
    fn inline_allow_and_overlap_counted_once() {
        let e = engine(RULES);
        assert!(e.scan(b"tok_a1b2c3d4 // leakhound:allow").matches.is_empty());
        // Two keyword hits whose windows overlap still give one match.
        let m = e.scan(b"tok_a1b2c3d4 tok_ tok_").matches;
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn window_boundary_keeps_word_context() {
        let e = engine(RULES);
        // `xtok_...` is not at a word boundary, even though the window may start right at `tok_`.
        let mut data = vec![b'a'; 2000];
        data.extend_from_slice(b"tok_a1b2c3d4");
        assert!(e.scan(&data).matches.is_empty());
    }

    const MORE: &str = r#"
[[rule]]
id = "test.longer"
keywords = ["x.tok_"]
pattern = '''(x\.tok_[a-z0-9]{8})'''

[[rule]]
id = "test.same"
keywords = ["tok_"]
pattern = '''(tok_[a-z0-9]{8})'''
"#;

    #[test]
    fn one_finding_per_secret() {
        let e = engine(&format!("{RULES}{MORE}"));
        let ids = |text: &[u8]| -> Vec<String> {
            e.scan(text).matches.iter().map(|m| e.rule(m.rule).id().to_owned()).collect()
        };
        // The token inside the longer match yields to it, and of two rules matching the very
        // same secret the earlier one reports it.
        assert_eq!(ids(b"a = x.tok_a1b2c3d4"), ["test.longer"]);
        assert_eq!(ids(b"a = tok_a1b2c3d4"), ["test.token"]);
    }

    #[test]
    fn encoded_secrets_are_found_at_the_encoded_span() {
        let e = engine(RULES);
        let encoded = decode::base64_encode(b"config: tok_a1b2c3d4 and some padding text");
        let text = format!("first\nvalue: {encoded}\n");
        let m = e.scan(text.as_bytes()).matches;
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m[0].secret, b"tok_a1b2c3d4");
        assert_eq!((m[0].start_at.line, m[0].start_at.column), (2, 8));
        assert_eq!(&text.as_bytes()[m[0].start..m[0].end], encoded.as_bytes());
        // A generic match on base64 is judged on the decoded text: `Zr8vLq2Nw5Tk` is long enough
        // for the test rule, `abcdefg` is not (though its base64 would be).
        let long = format!("token = \"{}\"", decode::base64_encode(b"Zr8vLq2Nw5Tk"));
        assert_eq!(
            e.scan(long.as_bytes()).matches.len(),
            1,
            "base64 of a literal is still reported"
        );
        let short = format!("token = \"{}\"", decode::base64_encode(b"abcdefg"));
        assert!(e.scan(short.as_bytes()).matches.is_empty());
    }

    /// A rule's context groups reach the match, from plain and from decoded text, and are never
    /// taken for the secret (#16).
    #[test]
    fn context_groups_are_carried_beside_the_secret() {
        let e = engine(
            r#"
[[rule]]
id = "test.uri"
keywords = ["db://"]
pattern = '''db://(?P<user>[a-z]*):([A-Za-z0-9]{8,})@(?P<host>[a-z.]+)(?::(?P<port>[0-9]+))?'''
"#,
        );
        let captures = |m: &Match| -> Vec<(String, String)> { m.captures.clone() };
        let m = e.scan(b"url = db://app:Zr8vLq2Nw5Tk@db.internal\n").matches;
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].secret, b"Zr8vLq2Nw5Tk", "the first group that is not a context group");
        assert_eq!(
            captures(&m[0]),
            [("user".to_owned(), "app".to_owned()), ("host".to_owned(), "db.internal".to_owned())],
            "the port did not take part"
        );
        let encoded = decode::base64_encode(b"url = db://:Zr8vLq2Nw5Tk@cache:6379 in a secret");
        let m = e.scan(format!("value: {encoded}\n").as_bytes()).matches;
        assert_eq!(m.len(), 1, "{m:?}");
        let port = m[0].captures.iter().find(|(name, _)| name == "port");
        assert_eq!(port.map(|(_, v)| v.as_str()), Some("6379"));
    }

    /// A rule's `decode` scheme (#13): the secret is the password, the place the stored value's;
    /// a value that does not decode is kept as stored, with a note; an allowlist may name either.
    #[test]
    fn a_decode_rule_reports_the_password_at_the_stored_value() {
        let rule = r#"
[[rule]]
id = "test.seven"
keywords = ["password 7"]
pattern = '''password 7 ([0-9A-F]{4,})'''
decode = "cisco-type7"
"#;
        let e = engine(rule);
        let m = e.scan(b"hostname r1\n password 7 104F0B1A011214\n").matches;
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m[0].secret, b"abcdef");
        assert_eq!((m[0].start_at.line, m[0].start_at.column), (2, 13));
        assert_eq!(m[0].note, None);
        let m = e.scan(b" password 7 99AB\n").matches;
        assert_eq!(m[0].secret, b"99AB");
        assert!(m[0].note.as_deref().is_some_and(|n| n.contains("not decoded as cisco-type7")));
        for allowed in ["^abcdef$", "^104F"] {
            let e = engine(&format!("{rule}[rule.allow]\nsecrets = ['''{allowed}''']\n"));
            assert!(e.scan(b" password 7 104F0B1A011214\n").matches.is_empty(), "{allowed}");
        }
    }

    /// Short literals are searched for in each window, long ones come from the keyword pass
    /// (see [`Gate`]): either way only a window holding one is searched.
    #[test]
    fn requires_gates_the_window() {
        for required in ["</", "</secret>"] {
            let e = engine(&format!(
                "[[rule]]\nid = \"test.xml\"\nkeywords = [\"secret\"]\n\
                 pattern = '<secret>([a-z0-9]{{8}})<'\nrequires = [\"{required}\"]\n"
            ));
            // The pattern matches both, but only the first window holds the literal.
            assert_eq!(e.scan(b"<secret>a1b2c3d4</SECRET>").matches.len(), 1, "{required}");
            assert!(e.scan(b"<secret>a1b2c3d4<secret>").matches.is_empty(), "{required}");
        }
    }

    /// A rule that reports only in some paths is not run on content found elsewhere, and what
    /// `scan_at` leaves out is exactly what the place check would drop from `scan`.
    #[test]
    fn scan_at_leaves_out_rules_that_report_nothing_there() {
        let rule = |id: &str, allow: &str| {
            format!(
                "[[rule]]\nid = \"{id}\"\nkeywords = [\"password\"]\n\
                 pattern = 'password=([a-z0-9]{{8}})'\n[rule.allow]\n{allow}\n"
            )
        };
        let e = engine(&format!(
            "{}{}",
            rule("test.gradle", r"only_in_paths = ['(?:^|/)gradle\.properties$']"),
            rule("test.elsewhere", "paths = ['vendor/**']"),
        ));
        let data = b"password=a1b2c3d4";
        let rules = |s: Scanned| {
            s.matches.iter().map(|m| e.rule(m.rule).id().to_owned()).collect::<Vec<_>>()
        };
        let both = ["test.gradle", "test.elsewhere"];
        assert_eq!(rules(e.scan(data)), both);
        assert_eq!(rules(e.scan_at(data, "app/gradle.properties")), both);
        assert_eq!(rules(e.scan_at(data, "app/settings.txt")), ["test.elsewhere"]);
        // Only rules with `only_in_paths` are left out: a path allowlist stays a place check.
        assert_eq!(rules(e.scan_at(data, "vendor/gradle.properties")), both);
        for path in ["app/gradle.properties", "app/settings.txt", "vendor/gradle.properties"] {
            let kept =
                |s: Scanned| s.matches.into_iter().filter(|m| !e.allowed_at(m, path, None)).count();
            assert_eq!(kept(e.scan_at(data, path)), kept(e.scan(data)), "{path}");
        }
    }

    #[test]
    fn whole_match_line_and_commit_allowlists() {
        let e = engine(
            r#"
[[rule]]
id = "test.token"
keywords = ["tok_"]
pattern = '''key=(tok_[a-z0-9]{8})'''
[[rule.allow.also]]
matches = ['''^key=tok_a1''']
[[rule.allow.also]]
lines = ['''^#''']
[[rule.allow.also]]
commits = ["abc1234"]
"#,
        );
        assert!(e.scan(b"key=tok_a1b2c3d4").matches.is_empty(), "whole-match regex");
        assert!(e.scan(b"# key=tok_b2c3d4e5").matches.is_empty(), "line regex");
        let m = e.scan(b"x key=tok_b2c3d4e5").matches;
        assert_eq!(m.len(), 1, "the secret alone matches neither");
        assert!(!e.allowed_at(&m[0], "a.txt", None));
        assert!(!e.allowed_at(&m[0], "a.txt", Some("def5678")));
        assert!(e.allowed_at(&m[0], "a.txt", Some("ABC1234def")), "commit prefix");
    }

    #[test]
    fn rule_whose_regex_does_not_compile_is_reported() {
        let config = parse_config(Path::new("t.toml"), RULES).expect("valid rules");
        let mut rules = config.rules;
        rules[0].syntax.pattern = "(tok_[a-z".into();
        let e = Engine::new(RuleSet { rules, allow: config.syntax.allow, config: None })
            .expect("engine");
        assert!(e.failed_rules().is_empty(), "nothing compiled yet");
        assert!(e.scan(b"x = tok_a1b2c3d4").matches.is_empty());
        let failed: Vec<String> = e.failed_rules().iter().map(ToString::to_string).collect();
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(failed[0].contains("test.token") && failed[0].contains("searched nothing"));
    }

    /// Text with `tok_` tokens at word boundaries and not, next to each other, at both ends.
    fn tokens_text(lines: usize) -> Vec<u8> {
        let mut text = b"tok_q1w2e3r4 start".to_vec();
        let mut seed = 7u64;
        for i in 0..lines {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let token: String = (0..8)
                .map(|k| char::from(b"a1b2c3d4e5f6g7h8"[(seed >> (4 * k)) as usize & 15]))
                .collect();
            let line = match i % 5 {
                0 => format!("\nkey = tok_{token} and more words here"),
                1 => format!("\nx tok_{token}-xxxx tok_{token}9 xtok_{token} tok_{token}"),
                2 => format!("\n{} tok_{token}", "lorem ipsum ".repeat(i % 40)),
                3 => format!("\ntok_{token}tok_{token} ,tok_{token},"),
                _ => "\nplain words, nothing to see".to_owned(),
            };
            text.extend_from_slice(line.as_bytes());
        }
        text.extend_from_slice(b"\nend tok_z9y8x7w6");
        text
    }

    #[test]
    fn search_under_the_work_budget_finds_what_the_regex_crate_finds() {
        // A keywordless rule with a large pattern runs over the whole text: bytes × positions is
        // far above the budget, so its spans come from the bounded DFA search.
        let pattern = r"\b(tok_[a-z0-9]{8})\b(?:-x{0,3000})?";
        let e = engine(&format!("[[rule]]\nid = \"test.tok\"\npattern = '''{pattern}'''\n"));
        let text = tokens_text(2000);
        let compiled = e.rules[0].regex().expect("compiles");
        assert!(text.len() as u64 * compiled.positions > budget::WORK_BUDGET);
        let scanned = e.scan(&text);
        assert!(scanned.unfinished.is_empty(), "{:?}", scanned.unfinished);
        let got: Vec<(usize, usize)> = scanned.matches.iter().map(|m| (m.start, m.end)).collect();
        let want: Vec<(usize, usize)> = compiled
            .regex
            .captures_iter(&text)
            .filter_map(|c| c.get(1).map(|g| (g.start(), g.end())))
            .collect();
        assert!(want.len() > 2000, "{}", want.len());
        assert_eq!(got, want);
    }

    #[test]
    fn long_line_is_linear() {
        let e = engine(RULES);
        let mut data = b"tok_ ".repeat(200_000);
        data.extend_from_slice(b" tok_a1b2c3d4");
        let m = e.scan(&data).matches;
        assert_eq!(m.len(), 1);
    }
}
