//! `--shard I/N`: a deterministic split of a sweep's work between N independent jobs. Layers go
//! to the shard their digest hashes to, so N jobs cover every unique layer exactly once however
//! the images share them; an image's config goes to the shard its manifest digest hashes to.
//!
//! Pure arithmetic: it must not depend on sources, the engine or the cache.

use std::fmt;
use std::str::FromStr;

/// One job's share of a sweep: `index` counted from 0, of `count` jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    /// This job, from 0.
    pub index: u32,
    /// How many jobs.
    pub count: u32,
}

impl Shard {
    /// The whole sweep in one job.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// True when this job scans the blob (layer or manifest) with `digest`.
    pub fn owns(&self, digest: &str) -> bool {
        bucket(digest, self.count) == self.index
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::ALL
    }
}

/// The shard (0..count) a digest belongs to: the first 8 bytes of SHA-256 of the digest string,
/// modulo `count`. Hashing again (rather than reading the digest's own hex) keeps the split even
/// for any digest algorithm and for hand-made digests in tests.
pub fn bucket(digest: &str, count: u32) -> u32 {
    use sha2::{Digest, Sha256};
    if count <= 1 {
        return 0;
    }
    let hash = Sha256::digest(digest.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    (u64::from_be_bytes(first) % u64::from(count)) as u32
}

/// Checks that `shards` (each with the digest of the rule set it ran with) are every shard of
/// one split exactly once, all run with the same rules: a merge of anything less would be a
/// smaller report that looks whole.
pub fn check_whole<'a>(shards: impl IntoIterator<Item = (Shard, &'a str)>) -> Result<(), String> {
    let mut shards = shards.into_iter();
    let Some((first, rules)) = shards.next() else {
        return Err("no shard reports to merge".into());
    };
    let mut seen = std::collections::BTreeSet::from([first.index]);
    for (shard, other_rules) in shards {
        if other_rules != rules {
            return Err(format!(
                "shard {shard} ran with another rule set than shard {first}: rerun every shard with the same rules"
            ));
        }
        if shard.count != first.count {
            return Err(format!(
                "shard {shard} and shard {first} come from runs split differently"
            ));
        }
        if !seen.insert(shard.index) {
            return Err(format!("shard {shard} is given twice"));
        }
    }
    let count = first.count;
    let missing: Vec<String> =
        (0..count).filter(|i| !seen.contains(i)).map(|i| format!("{i}/{count}")).collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing shard reports: {} (every shard of the run is needed)",
            missing.join(", ")
        ));
    }
    Ok(())
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || {
            format!(
                "invalid shard {text:?}: give I/N with I counted from 0 and below N (0/3, 1/3, 2/3)"
            )
        };
        let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot set up should fail loudly
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!("1/3".parse::<Shard>().unwrap(), Shard { index: 1, count: 3 });
        assert_eq!("0/1".parse::<Shard>().unwrap(), Shard::ALL);
        for bad in ["3/3", "1/0", "-1/3", "1", "a/b", "1/3/4"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!(Shard { index: 2, count: 5 }.to_string(), "2/5");
    }

    #[test]
    fn every_digest_has_exactly_one_owner() {
        let digests: Vec<String> = (0..600).map(|i| format!("sha256:{i:064x}")).collect();
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        let mut per_shard = [0usize; 3];
        for d in &digests {
            let owners: Vec<&Shard> = shards.iter().filter(|s| s.owns(d)).collect();
            assert_eq!(owners.len(), 1, "{d}");
            per_shard[owners[0].index as usize] += 1;
        }
        // Roughly even: each of 3 shards gets 200 ± 60 of 600.
        assert!(per_shard.iter().all(|&n| (140..=260).contains(&n)), "{per_shard:?}");
        assert!(digests.iter().all(|d| Shard::ALL.owns(d)));
    }
}
