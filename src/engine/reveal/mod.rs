//! Reveal: the password behind a stored value that a client tool only obfuscates, or encrypts
//! under a key it publishes (#13). `WinSCP`'s session passwords, rclone's `obscure`, `FileZilla`'s
//! base64, Cisco type 7, Junos `$9$`, mRemoteNG's default master password and the base64 of
//! npm's `_auth` `user:password` pairs are all reversed by anyone who reads the tool's public
//! description, so what such a file leaks is the password itself. A rule names its scheme in
//! its `decode` field; the engine reports the revealed password as the finding's secret (so
//! fingerprints, baselines, grouping and verification see the password, however it was stored)
//! at the stored value's place. Where the stored value names the user as well (HTTP Basic's
//! `user:password`), the user is revealed beside the password ([`Revealed::user`]), so a
//! verifier that logs in still has both.
//!
//! Each scheme is written from its public description, named in its module. A value that does
//! not reveal (a master password set, a hand-edited value) is reported as stored with the
//! [`Failure`] as a note, never dropped.
//!
//! This module knows nothing of rules, sources or reports.

mod basic;
mod cisco;
mod filezilla;
mod juniper;
mod mremoteng;
mod rclone;
mod winscp;

/// The schemes a rule's `decode` field may name.
pub const NAMES: &[&str] =
    &["basic-auth", "cisco-type7", "filezilla", "juniper-9", "mremoteng", "rclone", "winscp"];

/// Why a stored value did not reveal a password, in words for the finding's note.
pub type Failure = &'static str;

/// What a stored value reveals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revealed {
    /// The password: text, never empty.
    pub password: Vec<u8>,
    /// The user the stored value names with the password (HTTP Basic's `user:password`), when it
    /// names one as text; never the secret.
    pub user: Option<String>,
}

/// The password that `stored` stands for under `scheme`. `around` is the whole match of the rule
/// that found it: the schemes that need more than the value read it there (`WinSCP`'s key is the
/// session's user and host; `FileZilla`'s `encoding` attribute says whether there is anything to
/// decode).
pub fn reveal(scheme: &str, stored: &[u8], around: &[u8]) -> Result<Revealed, Failure> {
    let (user, password) = match scheme {
        "basic-auth" => basic::reveal(stored).map(|(user, password)| (Some(user), password))?,
        other => (None, password_of(other, stored, around)?),
    };
    Ok(Revealed {
        password: text(password)?,
        user: user.and_then(|u| String::from_utf8(text(u).ok()?).ok()),
    })
}

/// The password `stored` stands for under `scheme`, a scheme that stores the password alone.
fn password_of(scheme: &str, stored: &[u8], around: &[u8]) -> Result<Vec<u8>, Failure> {
    match scheme {
        "cisco-type7" => cisco::reveal(stored),
        "filezilla" => filezilla::reveal(stored, around),
        "juniper-9" => juniper::reveal(stored),
        "mremoteng" => mremoteng::reveal(stored),
        "rclone" => rclone::reveal(stored),
        "winscp" => winscp::reveal(stored, around),
        _ => Err("no such scheme"),
    }
}

/// A password is text: what reveals to bytes that are not (control characters, invalid UTF-8) was
/// not stored under the scheme, whatever the scheme's arithmetic made of it.
fn text(revealed: Vec<u8>) -> Result<Vec<u8>, Failure> {
    match std::str::from_utf8(&revealed) {
        Ok(t) if !t.is_empty() && !t.chars().any(char::is_control) => Ok(revealed),
        Ok("") => Err("it reveals an empty password"),
        _ => Err("what it reveals is not text"),
    }
}

/// The value of two hex digits, either case.
fn hex_pair(pair: &[u8]) -> Option<u8> {
    let digit = |b: u8| char::from(b).to_digit(16);
    match pair {
        &[h, l] => Some((digit(h)? << 4 | digit(l)?) as u8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_a_scheme() {
        for name in NAMES {
            assert_ne!(reveal(name, b"", b""), Err("no such scheme"), "{name}");
        }
        assert_eq!(reveal("rot13", b"x", b""), Err("no such scheme"));
    }

    #[test]
    fn basic_auth_reveals_the_user_beside_the_password() {
        // `ci-bot:pa:ss`
        let revealed = reveal("basic-auth", b"Y2ktYm90OnBhOnNz", b"");
        assert_eq!(
            revealed,
            Ok(Revealed { password: b"pa:ss".to_vec(), user: Some("ci-bot".into()) })
        );
        // `:Xk7pQ2vLm9zW`: an empty user is no user.
        let revealed = reveal("basic-auth", b"OlhrN3BRMnZMbTl6Vw==", b"");
        assert_eq!(revealed.map(|r| r.user), Ok(None));
        // `\x01x:Xk7pQ2vLm9zW`: a user that is not text is not named, the password still is.
        let stored = crate::engine::decode::base64_encode(b"\x01x:Xk7pQ2vLm9zW");
        let revealed = reveal("basic-auth", stored.as_bytes(), b"");
        assert_eq!(revealed, Ok(Revealed { password: b"Xk7pQ2vLm9zW".to_vec(), user: None }));
        assert_eq!(reveal("cisco-type7", b"104F0B1A011214", b"").map(|r| r.user), Ok(None));
    }

    #[test]
    fn only_text_is_a_password() {
        assert_eq!(text(b"S3cr3t pass".to_vec()), Ok(b"S3cr3t pass".to_vec()));
        assert_eq!(text("pässwörd".as_bytes().to_vec()), Ok("pässwörd".as_bytes().to_vec()));
        assert!(text(b"ab\x01cd".to_vec()).is_err());
        assert!(text(b"\xff\xfe".to_vec()).is_err());
        assert!(text(Vec::new()).is_err());
    }

    #[test]
    fn hex_pairs() {
        assert_eq!(hex_pair(b"a3"), Some(0xa3));
        assert_eq!(hex_pair(b"A3"), Some(0xa3));
        assert_eq!(hex_pair(b"g0"), None);
        assert_eq!(hex_pair(b"0"), None);
    }
}
