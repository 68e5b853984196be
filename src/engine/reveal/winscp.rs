//! `WinSCP`'s stored session passwords (`Password=` of a `[Sessions\…]` section of `WinSCP.ini`,
//! or `"Password"=` of a session key in a registry export), when no master password is set: every byte complemented and xor-ed with `0xA3`, written as two
//! hex digits. The bytes are a flag (`0xFF`), a spare byte, the length, a count of random bytes
//! to skip, then the session's user name and host name followed by the password, then random
//! padding. `WinSCP` says itself that without a master password the stored passwords are only
//! obfuscated (<https://winscp.net/eng/docs/security_credentials>); the scheme is in its
//! published source (`core/Security.cpp`).

use super::{Failure, hex_pair};
use crate::engine::decode;

/// What every byte is xor-ed with, after it is complemented.
const MAGIC: u8 = 0xA3;

/// The first byte of a value in today's layout (length in the third byte, the key in front of
/// the password).
const FLAG: u8 = 0xFF;

const NOT_WINSCP: Failure = "it is not WinSCP's obfuscation of a password (a master password \
                             protects it, or the value is damaged)";
const OTHER_SESSION: Failure = "it does not hold this session's user and host name (a master \
                                password protects it, or it was copied from another session)";

/// The password of `stored`, the password of `session` (the section's text from its header on,
/// where the user and host names that make up the key are written).
pub fn reveal(stored: &[u8], session: &[u8]) -> Result<Vec<u8>, Failure> {
    let mut bytes = stored.chunks(2).map(|pair| hex_pair(pair).map(|b| !b ^ MAGIC));
    let mut next = || bytes.next().flatten().ok_or(NOT_WINSCP);
    let flag = next()?;
    let length = if flag == FLAG {
        next()?;
        next()?
    } else {
        flag
    };
    for _ in 0..next()? {
        next()?;
    }
    let plain = (0..length).map(|_| next()).collect::<Result<Vec<u8>, Failure>>()?;
    if flag != FLAG {
        return Ok(plain);
    }
    let key = [setting(session, "UserName"), setting(session, "HostName")].concat();
    plain.strip_prefix(key.as_slice()).map(<[u8]>::to_vec).ok_or(OTHER_SESSION)
}

/// The value of `name` in the section: `name=value` in `WinSCP.ini`, percent-decoded as `WinSCP`
/// writes values there, or `"name"="value"` in a registry export, with the export's `\\` and `\"`
/// escapes undone; empty when the section does not set it.
fn setting(session: &[u8], name: &str) -> Vec<u8> {
    let (ini, exported) = (format!("{name}="), format!("\"{name}\"=\""));
    let lines = session.split(|&b| b == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    for line in lines {
        if let Some(value) = line.strip_prefix(ini.as_bytes()) {
            return decode::percent(value).unwrap_or_else(|| value.to_vec());
        }
        if let Some(value) = line.strip_prefix(exported.as_bytes()) {
            let value = value.strip_suffix(b"\"").unwrap_or(value);
            let mut out = Vec::with_capacity(value.len());
            let mut bytes = value.iter();
            while let Some(&b) = bytes.next() {
                out.push(if b == b'\\' { bytes.next().copied().unwrap_or(b) } else { b });
            }
            return out;
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `WinSCP`'s obfuscation of `password` for `user` at `host`, with `skip` random bytes (here
    /// `random`'s) in front and padding to 50 bytes after.
    fn encode(user: &str, host: &str, password: &str, random: &[u8]) -> String {
        let plain = format!("{user}{host}{password}");
        let skip = random.len().min(50usize.saturating_sub(plain.len()));
        let mut bytes = vec![FLAG, 0, plain.len() as u8, skip as u8];
        bytes.extend_from_slice(&random[..skip]);
        bytes.extend_from_slice(plain.as_bytes());
        bytes.extend(random.iter().cycle().take(50usize.saturating_sub(bytes.len())));
        bytes
            .iter()
            .flat_map(|b| format!("{:02X}", !(b ^ MAGIC)).into_bytes())
            .map(char::from)
            .collect()
    }

    fn session(user: &str, host: &str) -> String {
        format!("[Sessions\\{user}@{host}]\r\nHostName={host}\r\nUserName={user}\r\nPassword=")
    }

    #[test]
    fn reveals_with_the_sessions_key() {
        let stored = encode("deploy", "sftp.corp.internal", "Hv72mQpLx9-k", &[0x5a, 0x11, 0xc3]);
        let at = session("deploy", "sftp.corp.internal");
        assert_eq!(reveal(stored.as_bytes(), at.as_bytes()).as_deref(), Ok(&b"Hv72mQpLx9-k"[..]));
        // Another session's key does not fit; a damaged value does not parse.
        assert_eq!(reveal(stored.as_bytes(), session("root", "x").as_bytes()), Err(OTHER_SESSION));
        assert_eq!(reveal(&stored.as_bytes()[..20], at.as_bytes()), Err(NOT_WINSCP));
        assert_eq!(reveal(b"A35C4D5D6E6B1F2B3B2F", at.as_bytes()), Err(NOT_WINSCP));
    }

    #[test]
    fn key_values_are_percent_decoded() {
        // WinSCP.ini escapes `@` and other special characters in values.
        let stored = encode("ops@corp", "10.0.0.7", "Qm7vX2pLk9Tz", &[1, 2]);
        let at = "[Sessions\\x]\nHostName=10.0.0.7\nUserName=ops%40corp\nPassword=";
        assert_eq!(reveal(stored.as_bytes(), at.as_bytes()).as_deref(), Ok(&b"Qm7vX2pLk9Tz"[..]));
    }

    #[test]
    fn registry_exports_name_the_key_in_quotes() {
        let stored = encode("ops", "db\\prod", "Tr7kLm2QwX9z", &[9]);
        let at = "[HKEY_CURRENT_USER\\Software\\Martin Prikryl\\WinSCP 2\\Sessions\\ops@db]\r\n\
                  \"HostName\"=\"db\\\\prod\"\r\n\"UserName\"=\"ops\"\r\n\"Password\"=\"";
        assert_eq!(reveal(stored.as_bytes(), at.as_bytes()).as_deref(), Ok(&b"Tr7kLm2QwX9z"[..]));
    }

    proptest! {
        #[test]
        fn round_trips(
            user in "[a-z]{0,12}",
            host in "[a-z0-9.]{1,30}",
            password in "[!-~]{1,60}",
            random in proptest::collection::vec(any::<u8>(), 0..50),
        ) {
            let stored = encode(&user, &host, &password, &random);
            let at = session(&user, &host);
            prop_assert_eq!(reveal(stored.as_bytes(), at.as_bytes()), Ok(password.into_bytes()));
        }

        #[test]
        fn never_panics(data in "[0-9A-F]{0,200}", at in "\\PC{0,100}") {
            let _ = reveal(data.as_bytes(), at.as_bytes());
        }
    }
}
