//! Long runs of base64 alphabet bytes, found 64 bytes at a time.
//!
//! Every blob is searched for base64 worth decoding, so this search touches every byte of every
//! scan. The byte-at-a-time probe it replaces cost a fifth of a directory scan's CPU (perf, the
//! benches/dir.sh tree). Classifying 16 bytes per SSE2 instruction and finding runs with bit
//! operations on the resulting masks ran at 3.1-4.0 GB/s on one core over those 561 MB, against
//! 0.43-0.51 GB/s for the same masks built a byte at a time (scratch benchmark). Where the CPU
//! has AVX-512BW, one instruction classifies all 64 bytes of a block.
//!
//! This module knows only bytes; what a run means is the decoder's business.

/// Whether a byte belongs to the standard or URL-safe base64 alphabet (padding excluded).
pub const fn in_alphabet(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')
}

/// Calls `visit(start)` for each run of at least `MIN` (1..=64) alphabet bytes, in order, where
/// `start` is where the run begins, or the position `visit` last returned if the run began before
/// it (and still has `MIN` bytes from there). `visit` returns where the search resumes (the run's
/// end, say); nothing before that is reported again.
///
/// `MIN` is a constant so the run test compiles to shifts by immediates: with a variable length
/// the shifts of the 128-bit mask were a tenth of a directory scan (perf, benches/dir.sh tree).
pub fn long_runs<const MIN: usize>(data: &[u8], visit: impl FnMut(usize) -> usize) {
    const { assert!(1 <= MIN && MIN <= 64, "run length outside 1..=64") };
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512bw") {
        // SAFETY: the CPU has AVX-512BW, as just checked.
        #[allow(unsafe_code)]
        unsafe {
            long_runs_avx512::<MIN>(data, visit);
        }
        return;
    }
    runs::<MIN>(data, visit, mask_at);
}

/// [`long_runs`] with masks of 64 bytes in one AVX-512 step: the SSE2 masks, four steps a block,
/// were a third of the blind base64 search (perf annotate, benches/dir.sh tree). In a function
/// of its own so that the whole loop is compiled for AVX-512 and the mask inlined into it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw")]
fn long_runs_avx512<const MIN: usize>(data: &[u8], visit: impl FnMut(usize) -> usize) {
    runs::<MIN>(data, visit, |data, at| match data.get(at..at + 64) {
        Some(block) => block_mask_avx512(block.try_into().expect("64 bytes")),
        None => scalar_mask(data.get(at..).unwrap_or_default()),
    });
}

/// The search of [`long_runs`], with `mask(data, at)` giving the alphabet mask of the 64 bytes
/// at `at` (see [`mask_at`]). Always inlined: inside [`long_runs_avx512`] the loop and its mask
/// must be compiled with that function's target feature.
#[allow(clippy::inline_always)]
#[inline(always)]
fn runs<const MIN: usize>(
    data: &[u8],
    mut visit: impl FnMut(usize) -> usize,
    mask: impl Fn(&[u8], usize) -> u64,
) {
    let mut resume: usize = 0;
    let mut current = mask(data, 0);
    let mut base = 0;
    while base < data.len() {
        let next = mask(data, base + 64);
        let mut starts = window_starts::<MIN>(current, next);
        loop {
            // Windows starting before `resume` were looked at already.
            let skip = resume.saturating_sub(base);
            starts = if skip >= 64 { 0 } else { starts & (u64::MAX << skip) };
            if starts == 0 {
                break;
            }
            let at = base + starts.trailing_zeros() as usize;
            resume = visit(at).max(at + 1);
        }
        current = next;
        base += 64;
    }
}

/// Bit `i` set when bits `i..i + MIN` of `next:current` (128 bits, `current` low) are all set:
/// the positions of `current`'s block where a window of `MIN` alphabet bytes starts.
fn window_starts<const MIN: usize>(current: u64, next: u64) -> u64 {
    // A window of 31 or more bits holds one of the eight aligned 16-bit chunks whole, so blocks
    // without one are done: this file's instructions fell from 76.4M to 67.8M (cachegrind,
    // `cargo bench --bench engine` over 21 MB of crate sources). `full_chunk` is the exact
    // has-a-zero-lane test on the 16-bit lanes of `!m`.
    const LOW: u64 = 0x0001_0001_0001_0001;
    let full_chunk = |m: u64| (!m).wrapping_sub(LOW) & m & (LOW << 15) != 0;
    if MIN >= 31 && !full_chunk(current) && !full_chunk(next) {
        return 0;
    }
    let mut windows = (u128::from(next) << 64) | u128::from(current);
    // After each step, bit i says bits i..i + covered are all set.
    let mut covered = 1;
    while covered < MIN {
        let step = covered.min(MIN - covered);
        windows &= windows >> step;
        covered += step;
    }
    windows as u64
}

/// Bit `i` set when `data[at + i]` is in the alphabet; bits past the end of `data` are clear.
fn mask_at(data: &[u8], at: usize) -> u64 {
    match data.get(at..at + 64) {
        Some(block) => block_mask(block.try_into().expect("64 bytes")),
        None => scalar_mask(data.get(at..).unwrap_or_default()),
    }
}

/// The mask of up to 64 bytes, one byte at a time (the tail of a blob, or CPUs without SSE2).
fn scalar_mask(bytes: &[u8]) -> u64 {
    bytes.iter().enumerate().fold(0, |m, (i, &b)| m | (u64::from(in_alphabet(b)) << i))
}

#[cfg(not(target_arch = "x86_64"))]
fn block_mask(block: &[u8; 64]) -> u64 {
    scalar_mask(block)
}

/// The mask of 64 bytes, 16 at a time: each class is a range test done as a wrapping subtract
/// and an unsigned minimum (SSE2 has no unsigned byte compare).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
fn block_mask(block: &[u8; 64]) -> u64 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_sub_epi8,
    };
    let mut mask = 0u64;
    for (k, lane) in block.chunks_exact(16).enumerate() {
        // SAFETY: SSE2 is part of the x86_64 baseline, so these instructions exist on every CPU
        // this code runs on; the load reads exactly the 16 bytes of `lane`, unaligned loads
        // being allowed.
        let bits = unsafe {
            let x = _mm_loadu_si128(lane.as_ptr().cast());
            let in_range = |v, lo: u8, len: u8| {
                let offset = _mm_sub_epi8(v, _mm_set1_epi8(lo.cast_signed()));
                _mm_cmpeq_epi8(_mm_min_epu8(offset, _mm_set1_epi8((len - 1).cast_signed())), offset)
            };
            let is = |c: u8| _mm_cmpeq_epi8(x, _mm_set1_epi8(c.cast_signed()));
            let letter = in_range(_mm_or_si128(x, _mm_set1_epi8(0x20)), b'a', 26);
            let digit = in_range(x, b'0', 10);
            let symbol =
                _mm_or_si128(_mm_or_si128(is(b'+'), is(b'/')), _mm_or_si128(is(b'-'), is(b'_')));
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(letter, digit), symbol))
        };
        mask |= u64::from(bits as u16) << (16 * k);
    }
    mask
}

/// The mask of 64 bytes in one step: each class is a range test (a wrapping subtract and an
/// unsigned compare, straight to a bit mask) or an equality.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw")]
#[allow(unsafe_code)]
fn block_mask_avx512(block: &[u8; 64]) -> u64 {
    use std::arch::x86_64::{
        __m512i, _mm512_cmpeq_epi8_mask, _mm512_cmplt_epu8_mask, _mm512_loadu_si512,
        _mm512_or_si512, _mm512_set1_epi8, _mm512_sub_epi8,
    };
    // SAFETY: the load reads exactly the 64 bytes of `block`, unaligned loads being allowed; the
    // caller runs on a CPU with AVX-512BW (this function's target feature).
    let x = unsafe { _mm512_loadu_si512(block.as_ptr().cast()) };
    let splat = |b: u8| _mm512_set1_epi8(b.cast_signed());
    let in_range = |v: __m512i, lo: u8, len: u8| {
        _mm512_cmplt_epu8_mask(_mm512_sub_epi8(v, splat(lo)), splat(len))
    };
    let is = |c: u8| _mm512_cmpeq_epi8_mask(x, splat(c));
    let letter = in_range(_mm512_or_si512(x, splat(0x20)), b'a', 26);
    letter | in_range(x, b'0', 10) | is(b'+') | is(b'/') | is(b'-') | is(b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The runs by brute force: (start, end) of every maximal run of at least `min` bytes.
    fn naive_runs(data: &[u8], min: usize) -> Vec<usize> {
        let mut starts = Vec::new();
        let mut i = 0;
        while i < data.len() {
            let len = data[i..].iter().take_while(|&&b| in_alphabet(b)).count();
            if len >= min {
                starts.push(i);
            }
            i += len.max(1);
        }
        starts
    }

    /// The runs `long_runs` reports, which must be the ones its SSE2 path reports as well
    /// (it takes AVX-512 where the CPU has it).
    fn found_runs<const MIN: usize>(data: &[u8]) -> Vec<usize> {
        let run_end = |at: usize| at + data[at..].iter().take_while(|&&b| in_alphabet(b)).count();
        let (mut dispatched, mut sse2) = (Vec::new(), Vec::new());
        long_runs::<MIN>(data, |at| {
            dispatched.push(at);
            run_end(at)
        });
        runs::<MIN>(
            data,
            |at| {
                sse2.push(at);
                run_end(at)
            },
            mask_at,
        );
        assert_eq!(dispatched, sse2, "the two paths disagree");
        dispatched
    }

    #[test]
    fn block_and_scalar_masks_agree_on_every_byte() {
        for first in (0..=255u8).step_by(64) {
            let block: [u8; 64] = std::array::from_fn(|i| first.wrapping_add(i as u8));
            assert_eq!(block_mask(&block), scalar_mask(&block), "bytes from {first}");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx512bw") {
                // SAFETY: the CPU has AVX-512BW, as just checked.
                #[allow(unsafe_code)]
                let avx512 = unsafe { block_mask_avx512(&block) };
                assert_eq!(avx512, scalar_mask(&block), "bytes from {first}");
            }
        }
    }

    #[test]
    fn runs_across_blocks_and_at_the_end() {
        let mut data = vec![b' '; 300];
        data[50..90].fill(b'A'); // spans the first block boundary
        data[130..150].fill(b'b'); // too short
        data[200..300].fill(b'9'); // runs to the end, over two blocks
        assert_eq!(found_runs::<32>(&data), [50, 200]);
        assert_eq!(found_runs::<20>(&data), [50, 130, 200]);
    }

    proptest! {
        #[test]
        fn runs_equal_brute_force(
            pieces in proptest::collection::vec("[A-Za-z0-9+/_-]{0,80}|[ =.\n\u{e9}]{1,3}", 0..40),
        ) {
            let data = pieces.concat().into_bytes();
            prop_assert_eq!(found_runs::<1>(&data), naive_runs(&data, 1));
            prop_assert_eq!(found_runs::<7>(&data), naive_runs(&data, 7));
            prop_assert_eq!(found_runs::<32>(&data), naive_runs(&data, 32));
            prop_assert_eq!(found_runs::<33>(&data), naive_runs(&data, 33));
            prop_assert_eq!(found_runs::<64>(&data), naive_runs(&data, 64));
        }
    }
}
