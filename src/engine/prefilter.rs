//! The keyword prefilter: one pass of an Aho-Corasick automaton over a blob finds every keyword
//! of every rule, so only rules with a keyword present run their regexes.
//!
//! The pass is the hot loop of every scan, so the automaton is a flat table we build and run:
//! - A dense DFA whose byte classes fold ASCII case, so keywords match case-insensitively without
//!   a lowercased copy of the blob and with one table load fewer per byte than driving
//!   aho-corasick's DFA through a lowercase table (1.40 against 1.06 GB/s on one core, scratch
//!   benchmark, 561 MB of crate sources, the 351 built-in keywords).
//! - It is built the classic way (a trie, then each state's row is its failure state's row with
//!   its own edges over it), which is a copy per state. It used to be read out of aho-corasick's
//!   NFA one transition at a time, each read following failure links: with the 486 built-in
//!   rules that was a third of a pre-commit run (perf), where building aho-corasick's own DFA
//!   was slower still.
//! - Above 64 keywords aho-corasick has no SIMD prefilter and a search is one chain of dependent
//!   table loads, one per byte (its own search ran 0.43 GB/s on the same data). We cut the blob
//!   into four pieces and step one automaton per piece in the same loop: the chains are
//!   independent, so the CPU overlaps their loads.
//! - The search is overlapping: every occurrence of every keyword is reported, including
//!   keywords inside longer ones (`key` inside `api_key`).
//! - The engine may give a rule's `requires` literals too (those of three bytes or more); they
//!   are reported as [`Word::Required`], so checking a window for them is a look-up among hits,
//!   where a search of every window with an automaton per rule cost a tenth of a scan (perf, the
//!   crate tree).

use std::collections::HashMap;

/// Pieces of a blob searched side by side; four measured fastest (six and eight ran slower).
const LANES: usize = 4;

/// What an occurrence found by [`Prefilter::hits`] is to its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Word {
    /// One of the rule's keywords: its regex runs in a window around it.
    Keyword,
    /// One of the rule's `requires` literals: a window must hold one for the regex to run.
    Required,
}

/// Keywords and `requires` literals of all rules in one automaton.
pub struct Prefilter {
    automaton: Option<Keywords>,
    /// Rules with no keywords: they run over every blob.
    keywordless: Vec<usize>,
}

/// The keyword automaton as a flat DFA, and what its matches mean.
///
/// A state is the offset of its row in `table`; rows of match states come first, so a state is
/// a match state when it is below `matching`.
struct Keywords {
    /// `states × classes` transitions, each the next state's row offset.
    table: Vec<u32>,
    /// Each byte's class; `A` and `a` share one.
    class: [u8; 256],
    /// Number of classes: the width of a row.
    classes: usize,
    /// The start state.
    start: u32,
    /// States below this are match states.
    matching: u32,
    /// For each match state (by row number), the keywords ending there, with their lengths.
    outputs: Vec<Vec<(usize, usize)>>,
    /// For each word, the rules it is a keyword of, and the rules it is a `requires` literal of.
    owners: Vec<(Vec<usize>, Vec<usize>)>,
    /// Length of the longest keyword: a lane's state depends on no more bytes than this.
    longest: usize,
}

impl Keywords {
    /// Builds the automaton for lowercase `patterns` (non-empty, none empty).
    fn new(
        patterns: &[Vec<u8>],
        owners: Vec<(Vec<usize>, Vec<usize>)>,
    ) -> Result<Keywords, String> {
        // Bytes that occur in no keyword all behave alike (class 0); every other byte (folded)
        // is its own class.
        let mut class = [0u8; 256];
        let mut classes = 1;
        for &b in patterns.iter().flatten() {
            if class[usize::from(b)] == 0 {
                class[usize::from(b)] = u8::try_from(classes)
                    .map_err(|_| "too many distinct keyword bytes".to_string())?;
                classes += 1;
            }
        }
        for b in 0..=255u8 {
            class[usize::from(b)] = class[usize::from(b.to_ascii_lowercase())];
        }
        let (mut table, matches) = dense_automaton(patterns, &class, classes)?;
        // Match states first, so that a state is a match state when its row is below
        // `matching`; the start state (0) keeps its place among its kind.
        let states = matches.len();
        let mut order: Vec<usize> = (0..states).collect();
        order.sort_by_key(|&s| (matches[s].is_empty(), s));
        let mut row = vec![0u32; states];
        for (n, &s) in order.iter().enumerate() {
            row[s] = u32::try_from(n * classes)
                .map_err(|_| "keyword automaton too large".to_string())?;
        }
        // In place: the table is over a megabyte with the built-in rules, and is built at every
        // start, where a second one cost its allocation and page faults.
        for to in &mut table {
            *to = row[*to as usize];
        }
        permute_rows(&mut table, classes, &order);
        let outputs: Vec<Vec<(usize, usize)>> = order
            .iter()
            .take_while(|&&s| !matches[s].is_empty())
            .map(|&s| matches[s].iter().map(|&p| (p, patterns[p].len())).collect())
            .collect();
        // `step` indexes without a bounds check: every row offset must leave a full row. Each
        // entry of `table` is an entry of `row`, so checking `row` checks them all.
        let in_bounds =
            |r: u32| (r as usize).is_multiple_of(classes) && r as usize + classes <= table.len();
        let start = row[0];
        if !(table.len() == states * classes
            && row.iter().all(|&r| in_bounds(r))
            && class.iter().all(|&c| usize::from(c) < classes))
        {
            return Err("keyword automaton is inconsistent".into());
        }
        Ok(Keywords {
            table,
            class,
            classes,
            start,
            matching: u32::try_from(outputs.len() * classes).unwrap_or(u32::MAX),
            outputs,
            owners,
            longest: patterns.iter().map(Vec::len).max().unwrap_or(0),
        })
    }

    /// The state after `byte`. Skipping the bounds check made the keyword pass 18% faster
    /// (scratch benchmark, 63 MB of crate sources, best of 25 interleaved rounds: 660-676 MB/s
    /// checked, 804-830 unchecked; a power-of-two table with a masked index reached 743-781).
    #[allow(unsafe_code)]
    fn step(&self, state: u32, byte: u8) -> u32 {
        let index = state as usize + usize::from(self.class[usize::from(byte)]);
        debug_assert!(index < self.table.len());
        // SAFETY: `state` is `start` or an entry of `table`, each a row offset `r` with
        // `r + classes <= table.len()`, and every class is below `classes`: `Keywords::new`
        // checks both before it returns the automaton, so `index < table.len()`.
        unsafe { *self.table.get_unchecked(index) }
    }

    /// Steps one automaton per lane, side by side, until a lane enters a match state or the
    /// lanes (of equal length) end; returns the bytes read per lane. Kept out of line and free of
    /// the caller's closures so that the four states and pointers stay in registers (inlined
    /// into the scan loop, they spilled to the stack).
    #[inline(never)]
    fn advance(&self, lanes: [&[u8]; LANES], states: &mut [u32; LANES]) -> usize {
        let [p0, p1, p2, p3] = lanes;
        let [mut s0, mut s1, mut s2, mut s3] = *states;
        let mut read = 0;
        for (((&b0, &b1), &b2), &b3) in p0.iter().zip(p1).zip(p2).zip(p3) {
            s0 = self.step(s0, b0);
            s1 = self.step(s1, b1);
            s2 = self.step(s2, b2);
            s3 = self.step(s3, b3);
            read += 1;
            if s0.min(s1).min(s2).min(s3) < self.matching {
                break;
            }
        }
        *states = [s0, s1, s2, s3];
        read
    }
}

/// Reorders the rows of `table` (each `width` long) so that row `n` is the old row `order[n]`,
/// moving each row once along the cycles of the permutation.
fn permute_rows(table: &mut [u32], width: usize, order: &[usize]) {
    let mut placed = vec![false; order.len()];
    let mut carried = vec![0u32; width];
    for first in 0..order.len() {
        if placed[first] {
            continue;
        }
        // Position `first` is filled from `order[first]`, that one from its own source, and so
        // on until the cycle comes back to `first`, whose old row was carried aside.
        carried.copy_from_slice(&table[first * width..][..width]);
        let mut at = first;
        loop {
            placed[at] = true;
            let from = order[at];
            if from == first {
                table[at * width..][..width].copy_from_slice(&carried);
                break;
            }
            table.copy_within(from * width..(from + 1) * width, at * width);
            at = from;
        }
    }
}

/// The Aho-Corasick automaton of `patterns` over byte classes, as a full transition table
/// (`states × classes`, state 0 the start) and, per state, every pattern that ends there
/// (its own and, through its failure links, those ending in its suffixes).
fn dense_automaton(
    patterns: &[Vec<u8>],
    class: &[u8; 256],
    classes: usize,
) -> Result<(Vec<u32>, Vec<Vec<usize>>), String> {
    const NONE: u32 = u32::MAX;
    // Room for the most states the trie can have (one per keyword byte, and the start), so that
    // the table, hundreds of kilobytes, is not copied as it grows.
    let most = 1 + patterns.iter().map(Vec::len).sum::<usize>();
    let mut next: Vec<u32> = Vec::with_capacity(most * classes);
    next.resize(classes, NONE);
    let mut matches: Vec<Vec<usize>> = Vec::with_capacity(most);
    matches.push(Vec::new());
    for (id, pattern) in patterns.iter().enumerate() {
        let mut state = 0;
        for &b in pattern {
            let at = state * classes + usize::from(class[usize::from(b)]);
            if next[at] == NONE {
                next[at] = u32::try_from(matches.len())
                    .ok()
                    .filter(|&id| id != NONE)
                    .ok_or_else(|| "keyword automaton too large".to_string())?;
                next.resize(next.len() + classes, NONE);
                matches.push(Vec::new());
            }
            state = next[at] as usize;
        }
        matches[state].push(id);
    }
    // Breadth first, so a state's failure state (shorter) is complete before the state.
    let mut fail = vec![0usize; matches.len()];
    let mut queue = std::collections::VecDeque::new();
    for to in &mut next[..classes] {
        match *to {
            NONE => *to = 0,
            child => queue.push_back(child as usize),
        }
    }
    while let Some(state) = queue.pop_front() {
        let inherited = matches[fail[state]].clone();
        matches[state].extend(inherited);
        for c in 0..classes {
            let via_fail = next[fail[state] * classes + c];
            match next[state * classes + c] {
                NONE => next[state * classes + c] = via_fail,
                child => {
                    fail[child as usize] = via_fail as usize;
                    queue.push_back(child as usize);
                }
            }
        }
    }
    Ok((next, matches))
}

impl Prefilter {
    /// Builds the automaton from each rule's keywords and `requires` literals (rules given in
    /// index order).
    pub fn new<'a>(
        rules: impl Iterator<Item = (&'a [String], &'a [String])>,
    ) -> Result<Prefilter, String> {
        let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut owners: Vec<(Vec<usize>, Vec<usize>)> = Vec::new();
        let mut keywordless = Vec::new();
        for (rule, (keywords, required)) in rules.enumerate() {
            if keywords.iter().all(String::is_empty) {
                keywordless.push(rule);
            }
            let words = keywords.iter().map(|w| (w, Word::Keyword));
            for (word, what) in words.chain(required.iter().map(|w| (w, Word::Required))) {
                if word.is_empty() {
                    continue;
                }
                let key = word.to_ascii_lowercase().into_bytes();
                let slot = *index.entry(key.clone()).or_insert_with(|| {
                    patterns.push(key);
                    owners.push((Vec::new(), Vec::new()));
                    patterns.len() - 1
                });
                let (of_keyword, of_required) = &mut owners[slot];
                let list = if what == Word::Keyword { of_keyword } else { of_required };
                if !list.contains(&rule) {
                    list.push(rule);
                }
            }
        }
        let automaton =
            if patterns.is_empty() { None } else { Some(Keywords::new(&patterns, owners)?) };
        Ok(Prefilter { automaton, keywordless })
    }

    /// Calls `hit(word, rule, start, end)` for every occurrence of every rule's keywords and
    /// `requires` literals. A rule may be called more than once for one place; callers merge
    /// windows.
    pub fn hits(&self, data: &[u8], mut hit: impl FnMut(Word, usize, usize, usize)) {
        let Some(keywords) = &self.automaton else { return };
        let mut report = |state: u32, end: usize| {
            if state < keywords.matching {
                for &(pattern, len) in &keywords.outputs[state as usize / keywords.classes] {
                    let (of_keyword, of_required) = &keywords.owners[pattern];
                    for &rule in of_keyword {
                        hit(Word::Keyword, rule, end - len, end);
                    }
                    for &rule in of_required {
                        hit(Word::Required, rule, end - len, end);
                    }
                }
            }
        };
        let start = keywords.start;
        let step = |state: u32, byte: u8| keywords.step(state, byte);

        // Lane k reports the matches ending in its piece [k*piece, (k+1)*piece). Its automaton
        // first reads the `longest - 1` bytes before the piece: an Aho-Corasick state is
        // determined by the last `longest` bytes read, so the lane is then exact.
        let piece = data.len() / LANES;
        let laned = if piece > keywords.longest { piece } else { 0 };
        let warm = |begin: usize| {
            data[begin + 1 - keywords.longest..begin].iter().fold(start, |s, &b| step(s, b))
        };
        let mut last = start;
        if laned > 0 {
            let mut states = [start, warm(laned), warm(2 * laned), warm(3 * laned)];
            let (p0, rest) = data.split_at(laned);
            let (p1, rest) = rest.split_at(laned);
            let (p2, rest) = rest.split_at(laned);
            let p3 = &rest[..laned];
            let mut j = 0;
            while j < laned {
                j += keywords.advance([&p0[j..], &p1[j..], &p2[j..], &p3[j..]], &mut states);
                for (k, &state) in states.iter().enumerate() {
                    report(state, k * laned + j);
                }
            }
            last = states[LANES - 1];
        }
        // The rest (all of a short blob) continues the last lane, which stopped just before it.
        let mut state = last;
        for (at, &byte) in data.iter().enumerate().skip(LANES * laned) {
            state = step(state, byte);
            report(state, at + 1);
        }
    }

    /// Rules that have no keywords.
    pub fn keywordless(&self) -> impl Iterator<Item = usize> + '_ {
        self.keywordless.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A prefilter of rules that have keywords only.
    fn keywords_only(rules: &[Vec<String>]) -> Prefilter {
        Prefilter::new(rules.iter().map(|words| (words.as_slice(), &[][..]))).expect("builds")
    }

    /// The keyword hits, sorted, without repeats.
    fn hits(p: &Prefilter, data: &[u8]) -> Vec<(usize, usize, usize)> {
        words(p, data)
            .into_iter()
            .filter(|w| w.0 == Word::Keyword)
            .map(|w| (w.1, w.2, w.3))
            .collect()
    }

    fn words(p: &Prefilter, data: &[u8]) -> Vec<(Word, usize, usize, usize)> {
        let mut got = Vec::new();
        p.hits(data, |w, r, s, e| got.push((w, r, s, e)));
        got.sort_unstable();
        got.dedup();
        got
    }

    /// Every (rule, start, end) where one of the rule's keywords occurs, by brute force.
    fn naive(rules: &[Vec<String>], data: &[u8]) -> Vec<(usize, usize, usize)> {
        let lower = data.to_ascii_lowercase();
        let mut got = Vec::new();
        for (rule, words) in rules.iter().enumerate() {
            for word in words.iter().filter(|w| !w.is_empty()) {
                let word = word.to_ascii_lowercase();
                for start in 0..lower.len() {
                    if lower[start..].starts_with(word.as_bytes()) {
                        got.push((rule, start, start + word.len()));
                    }
                }
            }
        }
        got.sort_unstable();
        got.dedup();
        got
    }

    #[test]
    fn contained_and_overlapping_keywords_reach_every_owner() {
        let rules = [
            vec!["key".to_string()],
            vec!["api_key".to_string(), "KEY".to_string()],
            vec![],
            vec!["tok".to_string(), "oken".to_string()],
        ];
        let p = keywords_only(&rules);
        assert_eq!(hits(&p, b"x API_KEY y"), [(0, 6, 9), (1, 2, 9), (1, 6, 9)]);
        assert_eq!(hits(&p, b"TOKEN"), [(3, 0, 3), (3, 1, 5)]);
        assert_eq!(p.keywordless().collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn required_literals_are_reported_apart_from_keywords() {
        let keywords = [vec!["user".to_string()], vec![], vec!["pass".to_string()]];
        let required = [vec!["pass".to_string()], vec!["token:".to_string()], vec![]];
        let p = Prefilter::new(
            keywords.iter().map(Vec::as_slice).zip(required.iter().map(Vec::as_slice)),
        )
        .expect("builds");
        assert_eq!(
            words(&p, b"User: x\nPASS: y token: z"),
            [
                (Word::Keyword, 0, 0, 4),
                (Word::Keyword, 2, 8, 12),
                (Word::Required, 0, 8, 12),
                (Word::Required, 1, 16, 22),
            ]
        );
        // A rule with `requires` but no keyword still runs over every blob.
        assert_eq!(p.keywordless().collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn rows_are_permuted_in_place_along_every_cycle() {
        // Six rows of width 2; the permutation has a 3-cycle, a 2-cycle and a fixed point.
        let order = [2, 0, 1, 4, 3, 5];
        let mut table: Vec<u32> = (0..12).collect();
        permute_rows(&mut table, 2, &order);
        let want: Vec<u32> = order.iter().flat_map(|&r| [2 * r as u32, 2 * r as u32 + 1]).collect();
        assert_eq!(table, want);
    }

    #[test]
    fn any_byte_can_be_part_of_a_keyword() {
        let rules = [vec!["\0x".to_string(), "\u{e9}t\u{e9}".to_string()]];
        let p = keywords_only(&rules);
        assert_eq!(hits(&p, "a\0Xb \u{e9}t\u{e9}".as_bytes()), [(0, 1, 3), (0, 5, 10)]);
    }

    #[test]
    fn keyword_across_a_lane_boundary_found_once() {
        let rules = [vec!["secret".to_string()]];
        let p = keywords_only(&rules);
        let len = 4000;
        let piece = len / LANES;
        for offset in [piece - 6, piece - 3, piece - 1, piece, 2 * piece - 2, len - 6] {
            let mut data = vec![b'x'; len];
            data[offset..offset + 6].copy_from_slice(b"SeCrEt");
            assert_eq!(hits(&p, &data), [(0, offset, offset + 6)], "at {offset}");
        }
    }

    proptest! {
        /// Whatever the blob's length (one lane or four) and wherever keywords sit, the hits
        /// are exactly the brute-force ones.
        #[test]
        fn hits_equal_brute_force(
            chunks in proptest::collection::vec(
                prop_oneof![Just("Key".to_string()), Just("api_KEY".to_string()),
                            Just("pass".to_string()), Just("passwd".to_string()),
                            "[a-zA-Z_ ]{0,40}"],
                0..120),
        ) {
            let rules = vec![
                vec!["key".to_string(), "api_key".to_string()],
                vec!["pass".to_string()],
                vec!["passwd".to_string(), String::new()],
                vec!["y_a".to_string()],
            ];
            let data = chunks.concat().into_bytes();
            let p = keywords_only(&rules);
            prop_assert_eq!(hits(&p, &data), naive(&rules, &data));
        }

        /// Many short keywords over a small alphabet, so that they overlap, nest and share
        /// suffixes (every failure link is exercised): still exactly the brute-force hits.
        #[test]
        fn random_keyword_sets_equal_brute_force(
            rules in proptest::collection::vec(
                proptest::collection::vec("[abc_]{1,5}", 1..4), 1..40),
            data in "[abcABC_x]{0,600}",
        ) {
            let p = keywords_only(&rules);
            prop_assert_eq!(hits(&p, data.as_bytes()), naive(&rules, data.as_bytes()));
        }
    }
}
