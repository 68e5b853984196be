//! mRemoteNG's connection passwords (`Password="…"` of a confCons.xml `<Node>`), under either
//! scheme mRemoteNG has stored them with. Unless the user sets one, the master password is the
//! published default `mR3m`, so the file is readable by anyone
//! (<https://mremoteng.readthedocs.io/en/latest/howtos/encryption.html>).
//!
//! - mRemoteNG 1.75 and later (`EncryptionEngine="AES" BlockCipherMode="GCM"` on the root
//!   element): base64 of a 16-byte salt, a 16-byte nonce and the AES-256-GCM ciphertext with its
//!   16-byte tag, the salt also the associated data, under a key derived with PBKDF2-HMAC-SHA1
//!   (1000 iterations by default) from the master password (mRemoteNG's
//!   `AeadCryptographyProvider`).
//! - Before 1.75 (no such attributes; mRemoteNG's `CryptoProviderFactoryFromXml` falls back to
//!   its `LegacyRijndaelCryptographyProvider` when they are absent or unknown): base64 of a
//!   16-byte IV and the ciphertext of .NET's `RijndaelManaged` defaults, AES-128-CBC with PKCS#7
//!   padding, keyed by the MD5 of the master password's UTF-8 (`mRemoteV1/Security/
//!   SymmetricEncryption/LegacyRijndaelCryptographyProvider.cs` in the mRemoteNG repository,
//!   whose test decrypts `RmV7zw/a7ZRRzZdcTkrLDgBfyEmeh8OFMgg2OKFJnwg=` to `MySecret!` under
//!   `mR3m`).
//!
//! The match holds only the `<Node>`, not the root element's attributes, so the value is opened
//! as GCM first (its tag proves the key) and then as CBC (its padding, and the text check of
//! [`super::reveal`], refuse a wrong key).

use std::num::NonZeroU32;

use aes::{Aes128, Aes256};
use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U16;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use md5::Digest;

use super::Failure;
use crate::engine::decode;

/// The master password mRemoteNG uses when the user has not set one.
const DEFAULT_MASTER_PASSWORD: &[u8] = b"mR3m";

/// mRemoteNG's default `KdfIterations`.
const ITERATIONS: NonZeroU32 = NonZeroU32::new(1000).expect("not zero");

/// AES-256-GCM with mRemoteNG's 128-bit nonce (ring's AEAD takes 96-bit nonces only).
type Cipher = AesGcm<Aes256, U16>;

/// The AES-128-CBC of mRemoteNG before 1.75 (.NET `RijndaelManaged` with a 16-byte key).
type LegacyCipher = cbc::Decryptor<Aes128>;

/// The IV that leads a pre-1.75 value, one AES block.
const IV: usize = 16;

const SALT: usize = 16;
const NONCE: usize = 16;
const TAG: usize = 16;

/// The password of `stored`, under the default master password.
pub fn reveal(stored: &[u8]) -> Result<Vec<u8>, Failure> {
    let raw = decode::base64(stored).ok_or("it is not base64, so not mRemoteNG's encryption")?;
    gcm(&raw).or_else(|| cbc(&raw)).ok_or(
        "it does not open with mRemoteNG's default master password, neither as AES-GCM (1.75 \
         and later) nor as AES-CBC (before 1.75): the user set their own, or changed \
         KdfIterations",
    )
}

/// The password of `raw` under mRemoteNG 1.75's AES-256-GCM, when its tag says the default
/// master password sealed it.
fn gcm(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() <= SALT + NONCE + TAG {
        return None;
    }
    let (salt, rest) = raw.split_at(SALT);
    let (nonce, sealed) = rest.split_at(NONCE);
    Cipher::new(&key(salt).into()).decrypt(nonce.into(), Payload { msg: sealed, aad: salt }).ok()
}

/// The password of `raw` under the AES-128-CBC of mRemoteNG before 1.75, when it unpads.
fn cbc(raw: &[u8]) -> Option<Vec<u8>> {
    let (iv, sealed) = raw.split_at_checked(IV)?;
    if sealed.is_empty() || sealed.len() % IV != 0 {
        return None;
    }
    let key = md5::Md5::digest(DEFAULT_MASTER_PASSWORD);
    let mut buffer = sealed.to_vec();
    let opened = LegacyCipher::new_from_slices(&key, iv)
        .ok()?
        .decrypt_padded_mut::<Pkcs7>(&mut buffer)
        .ok()?
        .len();
    buffer.truncate(opened);
    Some(buffer)
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

    /// mRemoteNG's pre-1.75 encryption of `password` under `master` with `iv`.
    fn encode_legacy(password: &[u8], master: &[u8], iv: [u8; IV]) -> String {
        use cbc::cipher::BlockEncryptMut;
        let key = md5::Md5::digest(master);
        let mut buffer = [&iv[..], password, &[0; IV]].concat();
        let sealed = cbc::Encryptor::<Aes128>::new_from_slices(&key, &iv)
            .expect("16-byte key and IV")
            .encrypt_padded_mut::<Pkcs7>(&mut buffer[IV..], password.len())
            .expect("room for the padding")
            .len();
        decode::base64_encode(&buffer[..IV + sealed])
    }

    #[test]
    fn legacy_vector_of_mremotengs_own_tests() {
        // mRemoteNG's `LegacyRijndaelCryptographyProviderTests`: `MySecret!` under `mR3m`.
        let stored = b"RmV7zw/a7ZRRzZdcTkrLDgBfyEmeh8OFMgg2OKFJnwg=";
        assert_eq!(reveal(stored).as_deref(), Ok(&b"MySecret!"[..]));
    }

    #[test]
    fn legacy_values_reveal_and_other_master_passwords_refuse() {
        let stored = encode_legacy(b"Lk2Xw7Zp4Rt9-legacy", DEFAULT_MASTER_PASSWORD, [5; IV]);
        assert_eq!(reveal(stored.as_bytes()).as_deref(), Ok(&b"Lk2Xw7Zp4Rt9-legacy"[..]));
        // A user's own master password: the padding (or, by a 1-in-256 chance, the text check
        // of `super::reveal`) refuses what the default key makes of it.
        let own = encode_legacy(b"Lk2Xw7Zp4Rt9-legacy", b"correct horse", [5; IV]);
        let why = reveal(own.as_bytes()).expect_err("another master password");
        assert!(why.contains("AES-CBC"), "{why}");
        // Not whole blocks after the IV, or nothing after it.
        let raw = decode::base64(stored.as_bytes()).expect("base64");
        assert!(reveal(decode::base64_encode(&raw[..raw.len() - 1]).as_bytes()).is_err());
        assert!(reveal(decode::base64_encode(&raw[..IV]).as_bytes()).is_err());
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
        fn legacy_round_trips(password in "[^\\p{Cc}]{1,40}", iv in any::<[u8; 16]>()) {
            let stored = encode_legacy(password.as_bytes(), DEFAULT_MASTER_PASSWORD, iv);
            prop_assert_eq!(reveal(stored.as_bytes()), Ok(password.into_bytes()));
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = reveal(&data);
        }
    }
}
