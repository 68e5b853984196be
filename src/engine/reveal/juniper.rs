//! Junos `$9$` secrets: after the `$9$`, a salt character, as many random characters as the
//! salt's family says, then each password byte spread over two to four characters whose
//! distances in a fixed 65-character alphabet, weighted by a repeating table, sum to the byte.
//! The scheme is public: CPAN's `Crypt::Juniper` (Kevin Brintnall) describes it in full, with the
//! vector `$9$LbHX-wg4Z` for `lc` (<https://metacpan.org/pod/Crypt::Juniper>).

use super::Failure;

/// The four letter families; the alphabet is their concatenation, and a salt character from
/// family `i` is followed by `3 - i` random characters.
const FAMILIES: [&[u8]; 4] =
    [b"QzF3n6/9CAtpu0O", b"B1IREhcSyrleKvMW8LXx", b"7N-dVbwsY2g4oaJZGUDj", b"iHkq.mPf5T"];

/// The weights of each byte's characters, by the byte's position (cycled).
const WEIGHTS: [&[u32]; 7] =
    [&[1, 4, 32], &[1, 16, 32], &[1, 8, 32], &[1, 64], &[1, 32], &[1, 4, 16, 128], &[1, 32, 64]];

const NOT_JUNIPER: Failure = "it is not a Junos $9$ secret (a character outside its alphabet, or \
                              one missing at the end)";

/// The alphabet: the families one after another (65 characters).
fn alphabet() -> impl Iterator<Item = u8> {
    FAMILIES.iter().flat_map(|f| f.iter().copied())
}

/// A character's place in the alphabet.
fn position(c: u8) -> Option<u32> {
    alphabet().position(|a| a == c).map(|p| p as u32)
}

/// How many random characters follow a salt character.
fn padding(salt: u8) -> Option<usize> {
    FAMILIES.iter().position(|f| f.contains(&salt)).map(|i| 3 - i)
}

/// The alphabet's length.
fn size() -> u32 {
    FAMILIES.iter().map(|f| f.len() as u32).sum()
}

/// The password of a `$9$` secret.
pub fn reveal(stored: &[u8]) -> Result<Vec<u8>, Failure> {
    let body = stored.strip_prefix(b"$9$").unwrap_or(stored);
    let (&salt, rest) = body.split_first().ok_or(NOT_JUNIPER)?;
    let mut rest = rest.get(padding(salt).ok_or(NOT_JUNIPER)?..).ok_or(NOT_JUNIPER)?;
    let mut previous = position(salt).ok_or(NOT_JUNIPER)?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let weights = WEIGHTS[out.len() % WEIGHTS.len()];
        let (chars, tail) = rest.split_at_checked(weights.len()).ok_or(NOT_JUNIPER)?;
        let mut byte = 0u32;
        for (&c, weight) in chars.iter().zip(weights) {
            let at = position(c).ok_or(NOT_JUNIPER)?;
            // The distance from the previous character, less one: at least 0, below 64.
            let gap = (at + size() - previous) % size();
            byte += gap.checked_sub(1).ok_or(NOT_JUNIPER)? * weight;
            previous = at;
        }
        out.push((byte % 256) as u8);
        rest = tail;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The `$9$` of `password` with salt character `salt` and random characters `padding` (as many
    /// as the salt asks for are used), as `Crypt::Juniper`'s `juniper_encrypt` builds it.
    fn encode(password: &[u8], salt: u8, padding_chars: &[u8]) -> String {
        let chars: Vec<u8> = alphabet().collect();
        let mut out = vec![salt];
        out.extend_from_slice(&padding_chars[..padding(salt).expect("a salt character")]);
        let mut previous = position(salt).expect("in the alphabet");
        for (i, &b) in password.iter().enumerate() {
            let weights = WEIGHTS[i % WEIGHTS.len()];
            // Largest weight first: how many of each, the remainder going to the smaller ones.
            let mut left = u32::from(b);
            let mut gaps = vec![0; weights.len()];
            for (k, &w) in weights.iter().enumerate().rev() {
                gaps[k] = left / w;
                left %= w;
            }
            for gap in gaps {
                previous = (previous + gap + 1) % size();
                out.push(chars[previous as usize]);
            }
        }
        format!("$9${}", String::from_utf8(out).expect("ASCII"))
    }

    #[test]
    fn published_vector() {
        assert_eq!(reveal(b"$9$LbHX-wg4Z").as_deref(), Ok(&b"lc"[..]));
        assert_eq!(encode(b"lc", b'L', b"bH"), "$9$LbHX-wg4Z");
    }

    #[test]
    fn not_juniper() {
        // No salt, a salt without its padding, a character outside the alphabet, half a byte.
        for bad in [&b"$9$"[..], b"$9$Q", b"$9$LbHX-w_4Z", b"$9$LbHX-wg4"] {
            assert_eq!(reveal(bad).map_err(|_| ()), Err(()), "{}", String::from_utf8_lossy(bad));
        }
    }

    proptest! {
        #[test]
        fn round_trips(password in "[ -~]{1,40}", salt in 0usize..65, padding in "[a-z]{3}") {
            let salt = alphabet().nth(salt).expect("65 characters");
            let stored = encode(password.as_bytes(), salt, padding.as_bytes());
            prop_assert_eq!(reveal(stored.as_bytes()), Ok(password.into_bytes()));
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = reveal(&data);
        }
    }
}
