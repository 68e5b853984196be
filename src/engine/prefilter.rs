//! The keyword prefilter: one case-insensitive Aho-Corasick pass over a blob finds every keyword
//! of every rule, so only rules with a keyword present run their regexes.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

/// Keywords of all rules in one automaton.
pub struct Prefilter {
    automaton: Option<AhoCorasick>,
    /// For each automaton pattern, the rules that use it as a keyword.
    owners: Vec<Vec<usize>>,
    /// Rules with no keywords: they run over every blob.
    keywordless: Vec<usize>,
}

impl Prefilter {
    /// Builds the automaton from each rule's keywords (rules given in index order).
    pub fn new<'a>(keywords: impl Iterator<Item = &'a [String]>) -> Result<Prefilter, String> {
        let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut owners: Vec<Vec<usize>> = Vec::new();
        let mut keywordless = Vec::new();
        for (rule, words) in keywords.enumerate() {
            if words.is_empty() {
                keywordless.push(rule);
            }
            for word in words {
                let key = word.to_ascii_lowercase().into_bytes();
                let slot = *index.entry(key.clone()).or_insert_with(|| {
                    patterns.push(key);
                    owners.push(Vec::new());
                    patterns.len() - 1
                });
                if !owners[slot].contains(&rule) {
                    owners[slot].push(rule);
                }
            }
        }
        let automaton = if patterns.is_empty() {
            None
        } else {
            // A DFA is fastest for a few hundred short keywords; measured ~2x over the NFA here.
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(&patterns)
                    .map_err(|e| format!("cannot build keyword automaton: {e}"))?,
            )
        };
        Ok(Prefilter { automaton, owners, keywordless })
    }

    /// Calls `hit(rule, start, end)` for every keyword occurrence of every rule.
    pub fn hits(&self, data: &[u8], mut hit: impl FnMut(usize, usize, usize)) {
        let Some(automaton) = &self.automaton else { return };
        for m in automaton.find_overlapping_iter(data) {
            for &rule in &self.owners[m.pattern().as_usize()] {
                hit(rule, m.start(), m.end());
            }
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

    #[test]
    fn overlapping_keywords_reach_every_owner() {
        let rules =
            [vec!["key".to_string()], vec!["api_key".to_string(), "KEY".to_string()], vec![]];
        let p = Prefilter::new(rules.iter().map(Vec::as_slice)).expect("builds");
        let mut got = Vec::new();
        p.hits(b"x API_KEY y", |r, s, e| got.push((r, s, e)));
        got.sort_unstable();
        assert_eq!(got, [(0, 6, 9), (1, 2, 9), (1, 6, 9)]);
        assert_eq!(p.keywordless().collect::<Vec<_>>(), [2]);
    }
}
