//! mRemoteNG's connection passwords (`Password="…"` of a confCons.xml `<Node>`, mRemoteNG 1.75
//! and later, `EncryptionEngine="AES" BlockCipherMode="GCM"`): base64 of a 16-byte salt, a
//! 16-byte nonce and the AES-256-GCM ciphertext with its 16-byte tag, the salt also the
//! associated data, under a key derived with PBKDF2-HMAC-SHA1 (1000 iterations by default) from
//! the master password. Unless the user sets one, the master password is the published default
//! `mR3m`, so the file is readable by anyone
//! (<https://mremoteng.readthedocs.io/en/latest/howtos/encryption.html>; the layout is
//! mRemoteNG's `AeadCryptographyProvider`).

use std::num::NonZeroU32;

use aes::Aes256;
use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U16;
use aes_gcm::aead::{Aead, KeyInit, Payload};

use super::Failure;
use crate::engine::decode;

/// The master password mRemoteNG uses when the user has not set one.
const DEFAULT_MASTER_PASSWORD: &[u8] = b"mR3m";

/// mRemoteNG's default `KdfIterations`.
const ITERATIONS: NonZeroU32 = NonZeroU32::new(1000).expect("not zero");

/// AES-256-GCM with mRemoteNG's 128-bit nonce (ring's AEAD takes 96-bit nonces only).
type Cipher = AesGcm<Aes256, U16>;

const SALT: usize = 16;
const NONCE: usize = 16;
const TAG: usize = 16;

/// The password of `stored`, under the default master password.
pub fn reveal(stored: &[u8]) -> Result<Vec<u8>, Failure> {
    let raw = decode::base64(stored).ok_or("it is not base64, so not mRemoteNG's encryption")?;
    if raw.len() <= SALT + NONCE + TAG {
        return Err("it is too short for mRemoteNG's AES-GCM (salt, nonce, ciphertext, tag)");
    }
    let (salt, rest) = raw.split_at(SALT);
    let (nonce, sealed) = rest.split_at(NONCE);
    Cipher::new(&key(salt).into())
        .decrypt(nonce.into(), Payload { msg: sealed, aad: salt })
        .map_err(|_| {
            "it does not open with mRemoteNG's default master password (the user set their own, \
             changed KdfIterations, or the file predates AES-GCM)"
        })
}

/// The AES key for `salt` under the default master password.
fn key(salt: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA1,
        ITERATIONS,
        salt,
        DEFAULT_MASTER_PASSWORD,
        &mut key,
    );
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// mRemoteNG's encryption of `password` with `salt` and `nonce`.
    fn encode(password: &[u8], salt: [u8; SALT], nonce: [u8; NONCE]) -> String {
        let sealed = Cipher::new(&key(&salt).into())
            .encrypt(&nonce.into(), Payload { msg: password, aad: &salt })
            .expect("encrypts");
        let raw: Vec<u8> = salt.iter().chain(&nonce).chain(&sealed).copied().collect();
        decode::base64_encode(&raw)
    }

    #[test]
    fn published_vector() {
        // The `Protected` attribute of a confCons.xml saved with the default master password, as
        // published in write-ups of the format: mRemoteNG encrypts the marker
        // `ThisIsNotProtected` there, so a reader knows no master password was set.
        let protected =
            b"QcMB21irFadMtSQvX5ONMEh7X+TSqRX3uXO5DKShwpWEgzQ2YBWgD/uQ86zbtNC65Kbu3LKEdedcgDNO6N41Srqe";
        assert_eq!(reveal(protected).as_deref(), Ok(&b"ThisIsNotProtected"[..]));
    }

    #[test]
    fn reveals_and_refuses() {
        let stored = encode(b"Q7vMp2xKL9wZ_Rt9kW2mQx7Lp", [3; SALT], [9; NONCE]);
        assert_eq!(reveal(stored.as_bytes()).as_deref(), Ok(&b"Q7vMp2xKL9wZ_Rt9kW2mQx7Lp"[..]));
        // A flipped bit fails the tag; short and non-base64 values are refused.
        let mut raw = decode::base64(stored.as_bytes()).expect("base64");
        raw[SALT + NONCE] ^= 1;
        assert!(reveal(decode::base64_encode(&raw).as_bytes()).is_err());
        assert!(reveal(b"UTd2TXAyeEtMOXdaX1J0OWtXMm1ReDdMcA==").is_err(), "too short");
        assert!(reveal(b"not base64!").is_err());
    }

    proptest! {
        // Each case derives two keys with 1000 PBKDF2 rounds: a few dozen cases are plenty.
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn round_trips(password in proptest::collection::vec(any::<u8>(), 1..64), salt in any::<[u8; 16]>(), nonce in any::<[u8; 16]>()) {
            let stored = encode(&password, salt, nonce);
            prop_assert_eq!(reveal(stored.as_bytes()), Ok(password));
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = reveal(&data);
        }
    }
}
