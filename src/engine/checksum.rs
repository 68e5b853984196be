//! Checksums that some token formats carry; a candidate that fails its checksum is not a token.

/// The names a rule may give in `checksum = "…"`.
pub const NAMES: &[&str] = &["github-crc32"];

/// Verifies `secret` with the named checksum. Unknown names are rejected when the engine is built.
pub fn verify(name: &str, secret: &[u8]) -> bool {
    match name {
        "github-crc32" => github_crc32(secret),
        _ => false,
    }
}

/// GitHub's tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`) end in 6 base62 characters holding the
/// CRC32 of the 30 random characters before them, as GitHub documented when it introduced them.
fn github_crc32(secret: &[u8]) -> bool {
    let Some(underscore) = secret.iter().position(|&b| b == b'_') else { return false };
    let body = &secret[underscore + 1..];
    if body.len() != 36 {
        return false;
    }
    let (random, check) = body.split_at(30);
    base62(crc32(random), 6).as_bytes() == check
}

/// IEEE CRC32 (the one zlib and PNG use).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & 0u32.wrapping_sub(crc & 1));
        }
    }
    !crc
}

/// `value` in base62 (`0-9A-Za-z`), left-padded with `0` to `width` characters.
pub fn base62(mut value: u32, width: usize) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(out).expect("base62 digits are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn github_token_round_trip() {
        let random = "Zx9Qm2Lk7Wp4Rt8Yv3Bn6Hc1Jd5Fg0";
        let token = format!("ghp_{random}{}", base62(crc32(random.as_bytes()), 6));
        assert!(verify("github-crc32", token.as_bytes()));
        let mut bad = token.into_bytes();
        bad[5] = b'a';
        assert!(!verify("github-crc32", &bad));
    }
}
