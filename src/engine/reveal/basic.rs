//! HTTP Basic credentials stored as base64 of `user:password` (RFC 7617 section 2): npm's
//! `_auth`, docker's config.json `auth`. base64 hides nothing, and the user-id cannot hold a
//! `:`, so the user is everything before the first one and the password everything after it.
//! The user is revealed too: the registry verifier logs in with both.

use super::Failure;
use crate::engine::decode;

/// The user and the password of `stored`, base64 of `user:password`.
pub fn reveal(stored: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Failure> {
    let mut pair = decode::base64(stored).ok_or("it is not base64")?;
    let colon =
        pair.iter().position(|&b| b == b':').ok_or("it decodes to no user:password pair")?;
    let password = pair.split_off(colon + 1);
    pair.truncate(colon);
    Ok((pair, password))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_password_follows_the_first_colon() {
        let pair = |user: &str, password: &str| Ok((user.into(), password.into()));
        assert_eq!(reveal(b"ZGVwbG95OlhrN3BRMnZMbTl6Vw=="), pair("deploy", "Xk7pQ2vLm9zW"));
        // `ops:pa:ss` — the password may hold a colon, the user-id may not.
        assert_eq!(reveal(b"b3BzOnBhOnNz"), pair("ops", "pa:ss"));
        assert!(reveal(b"ZGVwbG95").is_err(), "no colon");
        assert!(reveal(b"not base64!").is_err());
    }

    proptest! {
        #[test]
        fn round_trips(user in "[^:]{0,20}", password in ".{1,40}") {
            let stored = decode::base64_encode(format!("{user}:{password}").as_bytes());
            prop_assert_eq!(reveal(stored.as_bytes()), Ok((user.into_bytes(), password.into_bytes())));
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = reveal(&data);
        }
    }
}
