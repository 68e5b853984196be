//! `FileZilla`'s saved passwords (`<Pass>` of a server in `sitemanager.xml` or
//! `recentservers.xml`): written `<Pass encoding="base64">`, base64 of the password's UTF-8, by
//! `FileZilla` 3.26 and later, as plain text before; only `encoding="crypt"` (a master password) is encrypted, and the rule
//! does not match it. `FileZilla`'s wiki documents the element
//! (<https://wiki.filezilla-project.org/Sitemanager.xml>).

use super::Failure;
use crate::engine::decode;

/// The password of `stored`, the text of the `<Pass …>` element `element`.
pub fn reveal(stored: &[u8], element: &[u8]) -> Result<Vec<u8>, Failure> {
    let tag = element.split(|&b| b == b'>').next().unwrap_or_default();
    if memchr::memmem::find(tag, b"\"base64\"").is_none() {
        return Ok(stored.to_vec());
    }
    decode::base64(stored).ok_or("it is marked base64 but is not")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn element(encoding: &str, value: &str) -> String {
        format!("<Pass{encoding}>{value}</Pass>")
    }

    #[test]
    fn base64_and_plain() {
        let stored = decode::base64_encode("Q7vMp2xKL9wZ-ü".as_bytes());
        let at = element(" encoding=\"base64\"", &stored);
        assert_eq!(reveal(stored.as_bytes(), at.as_bytes()), Ok("Q7vMp2xKL9wZ-ü".into()));
        assert_eq!(
            reveal(b"Hq7mZp2Lx9vW", element("", "Hq7mZp2Lx9vW").as_bytes()).as_deref(),
            Ok(&b"Hq7mZp2Lx9vW"[..])
        );
        // A plain password that happens to be base64 stays as written.
        assert_eq!(
            reveal(b"c2VjcmV0", element(" encoding=\"plain\"", "c2VjcmV0").as_bytes()).as_deref(),
            Ok(&b"c2VjcmV0"[..])
        );
        assert!(
            reveal(b"not*base64", element(" encoding=\"base64\"", "not*base64").as_bytes())
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn round_trips(password in "\\PC{1,40}") {
            let stored = decode::base64_encode(password.as_bytes());
            let at = element(" encoding=\"base64\"", &stored);
            prop_assert_eq!(reveal(stored.as_bytes(), at.as_bytes()), Ok(password.into_bytes()));
        }
    }
}
