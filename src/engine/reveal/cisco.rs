//! Cisco IOS type 7 (`password 7 …`, `key 7 …`): each byte of the password xor-ed with a byte of
//! a fixed 53-byte key, starting at the offset the first two decimal digits give; the rest is the
//! xor-ed bytes in hex. The scheme and its key are public (Cisco's own advice is that type 7 is
//! not encryption; the key is published in, among others,
//! <http://www.binaria.co.uk/conclusivecreations/ciscot7.html> and CPAN's `Crypt::Cisco`).

use super::{Failure, hex_pair};

/// The key the bytes are xor-ed with.
const KEY: &[u8; 53] = b"dsfd;kfoA,.iyewrkldJKDHSUBsgvca69834ncxv9873254k;fg87";

/// The password of a type 7 value.
pub fn reveal(stored: &[u8]) -> Result<Vec<u8>, Failure> {
    const NOT_TYPE7: Failure =
        "it is not Cisco type 7 (two decimal digits, then pairs of hex digits)";
    let (offset, body) = stored.split_at_checked(2).ok_or(NOT_TYPE7)?;
    let offset = std::str::from_utf8(offset)
        .ok()
        .filter(|o| o.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|o| o.parse::<usize>().ok())
        .filter(|&o| o < KEY.len())
        .ok_or(NOT_TYPE7)?;
    if body.is_empty() || body.len() % 2 != 0 {
        return Err(NOT_TYPE7);
    }
    body.chunks(2)
        .enumerate()
        .map(|(i, pair)| Some(hex_pair(pair)? ^ KEY[(offset + i) % KEY.len()]))
        .collect::<Option<Vec<u8>>>()
        .ok_or(NOT_TYPE7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Type 7 of `password` at key offset `offset`, as IOS writes it.
    fn encode(password: &[u8], offset: usize) -> String {
        let body: String = password
            .iter()
            .enumerate()
            .flat_map(|(i, b)| format!("{:02X}", b ^ KEY[(offset + i) % KEY.len()]).into_bytes())
            .map(char::from)
            .collect();
        format!("{offset:02}{body}")
    }

    #[test]
    fn published_vectors() {
        // The pairs the scheme's public descriptions give (l0pht's notes; a Cisco key chain's
        // `show key chain`).
        assert_eq!(reveal(b"08204E").as_deref(), Ok(&b"ab"[..]));
        assert_eq!(reveal(b"1513090F").as_deref(), Ok(&b"abc"[..]));
        assert_eq!(reveal(b"104F0B1A011214").as_deref(), Ok(&b"abcdef"[..]));
        assert_eq!(reveal(b"0822455D0A16").as_deref(), Ok(&b"cisco"[..]));
    }

    #[test]
    fn not_type7() {
        // No body, half a pair, an offset past the key, not digits, not hex.
        for bad in [&b""[..], b"08", b"08204", b"9920", b"x820", b"08ZZ"] {
            assert_eq!(reveal(bad).map_err(|_| ()), Err(()), "{}", String::from_utf8_lossy(bad));
        }
    }

    proptest! {
        #[test]
        fn round_trips(password in "[ -~]{1,40}", offset in 0usize..53) {
            let stored = encode(password.as_bytes(), offset);
            prop_assert_eq!(reveal(stored.as_bytes()), Ok(password.into_bytes()));
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = reveal(&data);
        }
    }
}
