//! Shannon entropy of a byte string, in bits per byte.

/// Shannon entropy of `data` over its own byte histogram: 0 for empty or constant input, at most
/// `log2(number of distinct bytes)`.
pub fn shannon(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in data {
        counts[usize::from(b)] += 1;
    }
    let len = data.len() as f64;
    counts.iter().filter(|&&c| c > 0).fold(0.0, |acc, &c| {
        let p = f64::from(c) / len;
        acc - p * p.log2()
    })
}

#[cfg(test)]
mod tests {
    use super::shannon;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert!(shannon(b"").abs() < f64::EPSILON);
        assert!(shannon(b"aaaa").abs() < f64::EPSILON);
        assert!((shannon(b"abab") - 1.0).abs() < 1e-9);
        assert!((shannon(b"abcd") - 2.0).abs() < 1e-9);
    }

    proptest! {
        #[test]
        fn bounded_by_log2_alphabet(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let distinct = data.iter().collect::<std::collections::HashSet<_>>().len();
            let h = shannon(&data);
            prop_assert!(h >= 0.0);
            prop_assert!(h <= (distinct.max(1) as f64).log2() + 1e-9);
        }

        #[test]
        fn permutation_invariant(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut data = data;
            let before = shannon(&data);
            data.reverse();
            let third = data.len() / 3;
            data.rotate_left(third);
            prop_assert!((before - shannon(&data)).abs() < 1e-9);
        }
    }
}
