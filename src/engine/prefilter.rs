//! The keyword prefilter: one pass of an Aho-Corasick automaton over a blob finds every keyword
//! of every rule, so only rules with a keyword present run their regexes.
//!
//! Keywords match case-insensitively. Rather than ask the automaton for ASCII case folding, we
//! lowercase the blob in small chunks and search with a case-sensitive automaton: folding in the
//! automaton disables its SIMD prefilter, and measured here (560 MB of crate sources, 29
//! keywords) the fold-then-search pass ran 3-10x faster than the folding automaton.
//!
//! The search is leftmost-longest, restarted one byte after each hit's start, so every position
//! where some keyword starts is visited. A hit also counts for every keyword contained in the one
//! that matched (`key` inside `api_key`), so no rule misses a keyword hidden by a longer one.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, Input, MatchKind};

/// Bytes lowercased and searched at a time; small enough to stay in L2.
const CHUNK: usize = 64 * 1024;

/// Keywords of all rules in one automaton.
pub struct Prefilter {
    automaton: Option<AhoCorasick>,
    /// For each automaton pattern, the rules owning it or a keyword it contains.
    owners: Vec<Vec<usize>>,
    /// Length of the longest keyword: chunks overlap by this much less one.
    longest: usize,
    /// Rules with no keywords: they run over every blob.
    keywordless: Vec<usize>,
}

impl Prefilter {
    /// Builds the automaton from each rule's keywords (rules given in index order).
    pub fn new<'a>(keywords: impl Iterator<Item = &'a [String]>) -> Result<Prefilter, String> {
        let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut direct: Vec<Vec<usize>> = Vec::new();
        let mut keywordless = Vec::new();
        for (rule, words) in keywords.enumerate() {
            if words.is_empty() {
                keywordless.push(rule);
            }
            for word in words {
                let key = word.to_ascii_lowercase().into_bytes();
                let slot = *index.entry(key.clone()).or_insert_with(|| {
                    patterns.push(key);
                    direct.push(Vec::new());
                    patterns.len() - 1
                });
                if !direct[slot].contains(&rule) {
                    direct[slot].push(rule);
                }
            }
        }
        let owners = patterns
            .iter()
            .map(|outer| {
                let mut rules: Vec<usize> = patterns
                    .iter()
                    .zip(&direct)
                    .filter(|(inner, _)| memchr::memmem::find(outer, inner).is_some())
                    .flat_map(|(_, rules)| rules.iter().copied())
                    .collect();
                rules.sort_unstable();
                rules.dedup();
                rules
            })
            .collect();
        let longest = patterns.iter().map(Vec::len).max().unwrap_or(0);
        let automaton = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostLongest)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(&patterns)
                    .map_err(|e| format!("cannot build keyword automaton: {e}"))?,
            )
        };
        Ok(Prefilter { automaton, owners, longest, keywordless })
    }

    /// Calls `hit(rule, start, end)` for keyword occurrences of every rule. A rule may be called
    /// more than once for one place; callers merge windows.
    pub fn hits(&self, data: &[u8], mut hit: impl FnMut(usize, usize, usize)) {
        let Some(automaton) = &self.automaton else { return };
        let mut lower = Vec::with_capacity(data.len().min(CHUNK) + self.longest);
        let mut chunk_start = 0;
        while chunk_start < data.len() {
            let own_end = (chunk_start + CHUNK).min(data.len());
            let search_end = (own_end + self.longest.saturating_sub(1)).min(data.len());
            lower.clear();
            lower.extend(data[chunk_start..search_end].iter().map(u8::to_ascii_lowercase));
            let own_len = own_end - chunk_start;
            let mut pos = 0;
            while pos < own_len {
                let Some(m) = automaton.find(Input::new(&lower).span(pos..lower.len())) else {
                    break;
                };
                if m.start() >= own_len {
                    break;
                }
                for &rule in &self.owners[m.pattern().as_usize()] {
                    hit(rule, chunk_start + m.start(), chunk_start + m.end());
                }
                pos = m.start() + 1;
            }
            chunk_start = own_end;
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

    fn hits(p: &Prefilter, data: &[u8]) -> Vec<(usize, usize, usize)> {
        let mut got = Vec::new();
        p.hits(data, |r, s, e| got.push((r, s, e)));
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
        let p = Prefilter::new(rules.iter().map(Vec::as_slice)).expect("builds");
        assert_eq!(hits(&p, b"x API_KEY y"), [(0, 2, 9), (0, 6, 9), (1, 2, 9), (1, 6, 9)]);
        assert_eq!(hits(&p, b"TOKEN"), [(3, 0, 3), (3, 1, 5)]);
        assert_eq!(p.keywordless().collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn keyword_across_a_chunk_boundary_found_once() {
        let rules = [vec!["secret".to_string()]];
        let p = Prefilter::new(rules.iter().map(Vec::as_slice)).expect("builds");
        for offset in [CHUNK - 3, CHUNK - 6, CHUNK, CHUNK - 1] {
            let mut data = vec![b'x'; offset];
            data.extend_from_slice(b"SeCrEt");
            data.extend_from_slice(&[b'y'; 10]);
            assert_eq!(hits(&p, &data), [(0, offset, offset + 6)], "at {offset}");
        }
    }
}
