//! rclone's `obscure` (the `pass`/`password`/`password2` of an rclone.conf remote): AES-256-CTR
//! under a fixed key that rclone publishes in its source, a random 16-byte IV in front, the
//! whole in unpadded URL-safe base64. rclone's documentation says as much: "this is not a secure
//! way of encrypting these passwords as rclone can decrypt them" (`rclone reveal`,
//! <https://rclone.org/commands/rclone_obscure/>; the key is in rclone's
//! `fs/config/obscure/obscure.go`).

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};

use super::Failure;
use crate::engine::decode;

/// rclone's key (`cryptKey` in `fs/config/obscure/obscure.go`).
const KEY: [u8; 32] = [
    0x9c, 0x93, 0x5b, 0x48, 0x73, 0x0a, 0x55, 0x4d, 0x6b, 0xfd, 0x7c, 0x63, 0xc8, 0x86, 0xa9, 0x2b,
    0xd3, 0x90, 0x19, 0x8e, 0xb8, 0x12, 0x8a, 0xfb, 0xf4, 0xde, 0x16, 0x2b, 0x8b, 0x95, 0xf6, 0x38,
];

/// Go's `cipher.NewCTR`: the IV is a 128-bit big-endian counter.
type Cipher = ctr::Ctr128BE<Aes256>;

/// The password of an obscured value.
pub fn reveal(stored: &[u8]) -> Result<Vec<u8>, Failure> {
    let raw = decode::base64(stored).ok_or("it is not base64, so not rclone's obscure")?;
    let Some((iv, sealed)) = raw.split_at_checked(16).filter(|(_, s)| !s.is_empty()) else {
        return Err("it is too short for rclone's obscure (a 16-byte IV, then the password)");
    };
    let mut out = sealed.to_vec();
    Cipher::new(&KEY.into(), iv.into()).apply_keystream(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `rclone obscure` of `password` with IV `iv`.
    fn encode(password: &[u8], iv: [u8; 16]) -> String {
        let mut sealed = password.to_vec();
        Cipher::new(&KEY.into(), &iv.into()).apply_keystream(&mut sealed);
        let raw: Vec<u8> = iv.iter().chain(&sealed).copied().collect();
        decode::base64_encode(&raw).trim_end_matches('=').replace('+', "-").replace('/', "_")
    }

    #[test]
    fn published_vectors() {
        // rclone's own tests of `Reveal` (fs/config/obscure/obscure_test.go): IVs of sixteen `a`s
        // and sixteen `b`s.
        assert_eq!(reveal(b"YWFhYWFhYWFhYWFhYWFhYXMaGgIlEQ").as_deref(), Ok(&b"potato"[..]));
        assert_eq!(reveal(b"YmJiYmJiYmJiYmJiYmJiYp3gcEWbAw").as_deref(), Ok(&b"potato"[..]));
        assert_eq!(encode(b"potato", [b'b'; 16]), "YmJiYmJiYmJiYmJiYmJiYp3gcEWbAw");
    }

    #[test]
    fn reveals_and_refuses() {
        let stored = encode(b"Zq8mW2xK-backup", [7; 16]);
        assert_eq!(reveal(stored.as_bytes()).as_deref(), Ok(&b"Zq8mW2xK-backup"[..]));
        assert!(reveal(b"not base64!").is_err());
        assert!(reveal(decode::base64_encode(&[1; 16]).as_bytes()).is_err(), "an IV alone");
    }

    proptest! {
        #[test]
        fn round_trips(password in proptest::collection::vec(any::<u8>(), 1..100), iv in any::<[u8; 16]>()) {
            let stored = encode(&password, iv);
            prop_assert_eq!(reveal(stored.as_bytes()), Ok(password));
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = reveal(&data);
        }
    }
}
