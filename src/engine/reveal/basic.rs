//! HTTP Basic credentials stored as base64 of `user:password` (RFC 7617 section 2): npm's
//! `_auth`. base64 hides nothing, and the user-id cannot hold a `:`, so the password is
//! everything after the first one. (docker's config.json `auth` stays stored: its verifier logs
//! in with the user as well, which a revealed password alone would lose.)

use super::Failure;
use crate::engine::decode;

/// The password of `stored`, base64 of `user:password`.
pub fn reveal(stored: &[u8]) -> Result<Vec<u8>, Failure> {
    let pair = decode::base64(stored).ok_or("it is not base64")?;
    let colon =
        pair.iter().position(|&b| b == b':').ok_or("it decodes to no user:password pair")?;
    Ok(pair[colon + 1..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_password_follows_the_first_colon() {
        assert_eq!(reveal(b"ZGVwbG95OlhrN3BRMnZMbTl6Vw==").as_deref(), Ok(&b"Xk7pQ2vLm9zW"[..]));
        // `ops:pa:ss` — the password may hold a colon, the user-id may not.
        assert_eq!(reveal(b"b3BzOnBhOnNz").as_deref(), Ok(&b"pa:ss"[..]));
        assert!(reveal(b"ZGVwbG95").is_err(), "no colon");
        assert!(reveal(b"not base64!").is_err());
    }

    proptest! {
        #[test]
        fn round_trips(user in "[^:]{0,20}", password in ".{1,40}") {
            let stored = decode::base64_encode(format!("{user}:{password}").as_bytes());
            prop_assert_eq!(reveal(stored.as_bytes()), Ok(password.into_bytes()));
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = reveal(&data);
        }
    }
}
