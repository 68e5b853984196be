//! A bound on what one rule's regex may cost in one blob (#19).
//!
//! The regex crate searches with a lazy DFA, a few steps per byte, until the DFA stops paying
//! off (`(a|b)*a(a|b){300}` needs a new state for almost every byte); then it falls back to its
//! NFA simulation, whose work per byte grows with the pattern's positions (measured: 10 s per
//! MB at 300, 22 s at 1000). So a rule costs at most about `bytes searched × positions`: while
//! that stays under [`WORK_BUDGET`] the regex crate searches as it always did. Above it, match
//! spans come from a lazy DFA stepped by hand that may build only [`DFA_STATES`] of states, and
//! capture groups are resolved on each span alone, on a clock. When either runs out, the rule's
//! search of the blob ends and the engine names the rule as not fully scanned.

use regex_automata::hybrid::dfa::{self, Cache, DFA};
use regex_automata::hybrid::regex::Regex as Dfa;
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input};
use std::time::{Duration, Instant};

/// Above this many bytes × pattern positions a rule's search of a blob is bounded: under it,
/// the regex crate searches its windows unchecked, at worst (its NFA simulation, 11 to 30 ns a
/// step, measured on `(a|b)*a(a|b){N}`) for under a second. A keyword rule's windows stay
/// far below it unless its keyword is everywhere.
pub const WORK_BUDGET: u64 = 1 << 25;

/// The most bytes × positions one bounded resolution of capture groups may cost at worst.
/// Their real cost is the span times the NFA threads alive at once, which no cheap measure
/// gives (`jwt.token` has 12011 positions and takes about a millisecond a token), so this cap
/// only rules out the hopeless, and a clock does the rest.
const CAPTURE_CAP: u64 = 1 << 30;

/// The time all of a rule's resolutions of capture groups in one blob may take: a second, and
/// four more per MB searched. A line of 2000 tokens (4.4 MB) takes `jwt.token` 2.3 s, a
/// sixth of what it may.
fn capture_time(bytes: usize) -> Duration {
    Duration::from_secs(1) + Duration::from_secs_f64(4.0 * bytes as f64 / f64::from(1 << 20))
}

/// The lazy DFA states one rule may build in one blob, in bytes of the DFA's cache. Building a
/// state costs about as much as it takes memory (measured: 6 MiB of states took 0.1 to 0.3 s);
/// a normal pattern builds a few kilobytes and reuses them, and `jwt.token`, whose nested counts
/// make the most states of the built-in rules, stays far below it on a file of tokens.
const DFA_STATES: u64 = 16 << 20;

/// How many bytes the span search steps between looks at the DFA's growth.
const CHECK_EVERY: usize = 4096;

/// Builds the span-finding DFAs of `pattern`, with the syntax options of
/// `rules::load::regex_builder`. `None` when they cannot be built within the size limits: the
/// caller then cannot bound the rule.
pub(super) fn build(pattern: &str) -> Option<Dfa> {
    Dfa::builder()
        .syntax(syntax::Config::new().unicode(false).utf8(false))
        .thompson(thompson::Config::new().utf8(false).nfa_size_limit(Some(8 << 20)))
        // The cache never fills: the ledger stops the search first.
        .dfa(dfa::Config::new().cache_capacity(2 * DFA_STATES as usize).unicode_word_boundary(true))
        .build(pattern)
        .ok()
}

/// What one rule may still spend in one blob, and the DFA caches it searches with.
pub(super) struct Ledger {
    /// Time the rule may still spend resolving capture groups.
    captures: Duration,
    cache: Option<regex_automata::hybrid::regex::Cache>,
}

/// The ledger ran out, or the DFA cannot search the text (a `(?u)\b` meeting non-ASCII).
pub(super) struct Exhausted;

impl Ledger {
    /// A full budget for searching `bytes`.
    pub(super) fn new(bytes: usize) -> Ledger {
        Ledger { captures: capture_time(bytes), cache: None }
    }

    /// Runs `resolve`, which finds the capture groups of a match `bytes` long, unless its worst
    /// case (`bytes × positions`) is hopeless or the rule's resolutions took their time.
    pub(super) fn resolve<T>(
        &mut self,
        bytes: usize,
        positions: u64,
        resolve: impl FnOnce() -> T,
    ) -> Result<T, Exhausted> {
        if (bytes as u64).saturating_mul(positions) > CAPTURE_CAP || self.captures.is_zero() {
            return Err(Exhausted);
        }
        let clock = Instant::now();
        let found = resolve();
        self.captures = self.captures.saturating_sub(clock.elapsed());
        Ok(found)
    }

    /// The span of the leftmost-first match of `dfa` in `haystack[from..end]`, the bytes around
    /// it seen by look-around. The regex crate's search, without its fallback to the NFA
    /// simulation, stepped by hand so that the states it builds can be watched.
    pub(super) fn next_match(
        &mut self,
        dfa: &Dfa,
        haystack: &[u8],
        from: usize,
        end: usize,
    ) -> Result<Option<(usize, usize)>, Exhausted> {
        let cache = self.cache.get_or_insert_with(|| dfa.create_cache());
        let (forward, reverse) = cache.as_parts_mut();
        let Some(match_end) = forward_end(dfa.forward(), forward, haystack, from, end)? else {
            return Ok(None);
        };
        let start = reverse_start(dfa.reverse(), reverse, haystack, from, match_end)?;
        Ok(Some((start, match_end)))
    }
}

/// Bytes of states a cache has built, counting those it dropped when it was cleared.
fn built(cache: &Cache) -> u64 {
    cache.clear_count() as u64 * 2 * DFA_STATES + cache.memory_usage() as u64
}

fn within(cache: &Cache) -> Result<(), Exhausted> {
    if built(cache) <= DFA_STATES { Ok(()) } else { Err(Exhausted) }
}

/// Where the leftmost-first match in `haystack[from..end]` ends (matches show one byte late).
fn forward_end(
    dfa: &DFA,
    cache: &mut Cache,
    haystack: &[u8],
    from: usize,
    end: usize,
) -> Result<Option<usize>, Exhausted> {
    let input = Input::new(haystack).range(from..end);
    let mut sid = dfa.start_state_forward(cache, &input).map_err(|_| Exhausted)?;
    let mut found = None;
    for (at, &byte) in haystack.iter().enumerate().take(end).skip(from) {
        if (at - from).is_multiple_of(CHECK_EVERY) {
            within(cache)?;
        }
        sid = dfa.next_state(cache, sid, byte).map_err(|_| Exhausted)?;
        if sid.is_match() {
            found = Some(at);
        } else if sid.is_dead() {
            return Ok(found);
        } else if sid.is_quit() {
            return Err(Exhausted);
        }
    }
    // The end of the search: the next byte (for look-ahead) or the end of the text.
    sid = match haystack.get(end) {
        Some(&byte) => dfa.next_state(cache, sid, byte),
        None => dfa.next_eoi_state(cache, sid),
    }
    .map_err(|_| Exhausted)?;
    if sid.is_match() {
        found = Some(end);
    }
    within(cache)?;
    Ok(found)
}

/// Where the match ending at `end` starts: the reverse DFA, anchored there, run back to `from`.
fn reverse_start(
    dfa: &DFA,
    cache: &mut Cache,
    haystack: &[u8],
    from: usize,
    end: usize,
) -> Result<usize, Exhausted> {
    let input = Input::new(haystack).range(from..end).anchored(Anchored::Yes);
    let mut sid = dfa.start_state_reverse(cache, &input).map_err(|_| Exhausted)?;
    let mut found = None;
    for at in (from..end).rev() {
        if (end - at).is_multiple_of(CHECK_EVERY) {
            within(cache)?;
        }
        sid = dfa.next_state(cache, sid, haystack[at]).map_err(|_| Exhausted)?;
        if sid.is_match() {
            found = Some(at + 1);
        } else if sid.is_dead() {
            return found.ok_or(Exhausted);
        } else if sid.is_quit() {
            return Err(Exhausted);
        }
    }
    sid = match from.checked_sub(1) {
        Some(before) => dfa.next_state(cache, sid, haystack[before]),
        None => dfa.next_eoi_state(cache, sid),
    }
    .map_err(|_| Exhausted)?;
    if sid.is_match() {
        found = Some(from);
    }
    within(cache)?;
    // The forward search found a match ending at `end`, so the reverse one finds its start.
    found.ok_or(Exhausted)
}
