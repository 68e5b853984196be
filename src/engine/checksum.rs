//! Checksums and structure checks that some token formats carry; a candidate that fails its
//! check is not a token of that kind (a typo, a redaction, a made-up example).

use super::decode;

/// The names a rule may give in `checksum = "…"`.
pub const NAMES: &[&str] = &[
    "github-crc32",
    "npm-crc32",
    "pypi-macaroon",
    "jwt-structure",
    "discord-bot",
    "confluent-crc32",
];

/// Verifies `secret` with the named check. Unknown names are rejected when the engine is built.
pub fn verify(name: &str, secret: &[u8]) -> bool {
    match name {
        // npm adopted GitHub's format in 2021: prefix, 30 base62 characters, base62 CRC32.
        "github-crc32" | "npm-crc32" => github_crc32(secret),
        "pypi-macaroon" => pypi_macaroon(secret),
        "jwt-structure" => jwt_structure(secret),
        "discord-bot" => discord_bot(secret),
        "confluent-crc32" => confluent_crc32(secret),
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

/// Confluent Cloud API secrets made since 30 July 2025 are `cflt`, 54 random base64 characters,
/// and "a Base64-encoded CRC32 checksum of the prior 54 characters" in the last 6, as Confluent
/// documents them ("Use API Keys to Authenticate to Confluent Cloud", API secret format). Its
/// published example secret settles what the sentence leaves open: the CRC32 is of the 54
/// characters after `cflt`, its four bytes little-endian, in standard base64 without the padding.
fn confluent_crc32(secret: &[u8]) -> bool {
    let Some(body) = secret.strip_prefix(b"cflt").filter(|b| b.len() == 60) else { return false };
    let (random, check) = body.split_at(54);
    decode::base64_encode(&crc32(random).to_le_bytes()).as_bytes()[..6] == *check
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

/// Reads an unsigned LEB128 varint at `*at`.
fn varint(data: &[u8], at: &mut usize) -> Option<usize> {
    let mut value = 0usize;
    for shift in (0..35).step_by(7) {
        let b = *data.get(*at)?;
        *at += 1;
        value |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Reads one macaroon v2 field: `(type, data)`; type 0 (end of section) has no length.
fn macaroon_field<'a>(data: &'a [u8], at: &mut usize) -> Option<(usize, &'a [u8])> {
    let kind = varint(data, at)?;
    if kind == 0 {
        return Some((0, &[]));
    }
    let len = varint(data, at)?;
    let body = data.get(*at..at.checked_add(len)?)?;
    *at += len;
    Some((kind, body))
}

/// `PyPI` API tokens are `pypi-` + a base64url macaroon in the libmacaroons v2 binary format
/// (version byte 2; location and identifier fields; caveat sections; a 32-byte signature). The
/// whole structure must parse, with the location being pypi.org or test.pypi.org.
fn pypi_macaroon(secret: &[u8]) -> bool {
    let Some(body) = secret.strip_prefix(b"pypi-") else { return false };
    let Some(raw) = decode::base64(body) else { return false };
    let mut at = 1;
    if raw.first() != Some(&2) {
        return false;
    }
    let mut location = None;
    let mut identifier = false;
    // Header section: location (1), identifier (2), then end of section.
    loop {
        match macaroon_field(&raw, &mut at) {
            Some((0, _)) => break,
            Some((1, loc)) => location = Some(loc),
            Some((2, _)) => identifier = true,
            _ => return false,
        }
    }
    if !identifier || !matches!(location, Some(b"pypi.org" | b"test.pypi.org")) {
        return false;
    }
    // Caveat sections, each ended by a 0; an empty section ends the list.
    loop {
        let mut fields = 0;
        loop {
            match macaroon_field(&raw, &mut at) {
                Some((0, _)) => break,
                Some((1..=5, _)) => fields += 1,
                _ => return false,
            }
        }
        if fields == 0 {
            break;
        }
    }
    matches!(macaroon_field(&raw, &mut at), Some((6, sig)) if sig.len() == 32) && at == raw.len()
}

/// A JWT's first two segments are base64url JSON objects and the header names its `alg`
/// (RFC 7519 §7.2, RFC 7515 §4.1.1).
fn jwt_structure(secret: &[u8]) -> bool {
    let mut parts = secret.split(|&b| b == b'.');
    let (Some(header), Some(payload)) = (parts.next(), parts.next()) else { return false };
    let object = |part: &[u8]| {
        decode::base64(part)
            .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
            .filter(serde_json::Value::is_object)
    };
    object(header).is_some_and(|h| h.get("alg").is_some_and(serde_json::Value::is_string))
        && object(payload).is_some()
}

/// A Discord bot token's first segment is the bot's user id (a snowflake: 17 to 20 decimal
/// digits) in base64.
fn discord_bot(secret: &[u8]) -> bool {
    let Some(first) = secret.split(|&b| b == b'.').next() else { return false };
    decode::base64(first)
        .is_some_and(|id| (17..=20).contains(&id.len()) && id.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::decode::base64_encode;

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn github_and_npm_token_round_trip() {
        let random = "Zx9Qm2Lk7Wp4Rt8Yv3Bn6Hc1Jd5Fg0";
        for prefix in ["ghp_", "npm_"] {
            let token = format!("{prefix}{random}{}", base62(crc32(random.as_bytes()), 6));
            assert!(verify("github-crc32", token.as_bytes()));
            assert!(verify("npm-crc32", token.as_bytes()));
            let mut bad = token.into_bytes();
            bad[5] = b'a';
            assert!(!verify("npm-crc32", &bad));
        }
    }

    #[test]
    fn confluent_secret_checksum() {
        // The example secret on Confluent's API key page.
        let published = b"cfltT8d8RzkNseTMEDKcjNM1BZTFPHqRn/dQm9q7w6SjzZ12wZfwjaJdipHZtDjw";
        assert!(verify("confluent-crc32", published));
        let random = "Rq7vLm2Zp9Xw4Kt8Ny6Bs1Hd5Gf0Jc3Ve7Ua9OqLm2Zp9Xv4Kw8Rt3";
        let check = base64_encode(&crc32(random.as_bytes()).to_le_bytes());
        let secret = format!("cflt{random}{}", &check[..6]);
        assert!(verify("confluent-crc32", secret.as_bytes()));
        // One character changed, the CRC over the prefix too, a big-endian CRC, a wrong length.
        let mut typo = secret.clone().into_bytes();
        typo[10] = if typo[10] == b'A' { b'B' } else { b'A' };
        assert!(!verify("confluent-crc32", &typo));
        let over_all = base64_encode(&crc32(format!("cflt{random}").as_bytes()).to_le_bytes());
        assert!(!verify("confluent-crc32", format!("cflt{random}{}", &over_all[..6]).as_bytes()));
        let big = base64_encode(&crc32(random.as_bytes()).to_be_bytes());
        assert!(!verify("confluent-crc32", format!("cflt{random}{}", &big[..6]).as_bytes()));
        assert!(!verify("confluent-crc32", &published[..63]));
        assert!(!verify("confluent-crc32", &published[4..]));
    }

    fn url_safe(b: &[u8]) -> String {
        base64_encode(b).trim_end_matches('=').replace('+', "-").replace('/', "_")
    }

    #[test]
    fn pypi_macaroon_structure() {
        let field = |kind: u8, data: &[u8]| {
            let mut f = vec![kind, u8::try_from(data.len()).expect("short field")];
            f.extend_from_slice(data);
            f
        };
        let mut mac = vec![2];
        mac.extend(field(1, b"pypi.org"));
        mac.extend(field(2, b"{\"nonce\":\"n\"}"));
        mac.push(0);
        mac.extend(field(2, b"{\"version\":1}"));
        mac.push(0);
        mac.push(0);
        mac.extend(field(6, &[7; 32]));
        let token = format!("pypi-{}", url_safe(&mac));
        assert!(verify("pypi-macaroon", token.as_bytes()));
        mac.pop();
        assert!(!verify("pypi-macaroon", format!("pypi-{}", url_safe(&mac)).as_bytes()));
        assert!(!verify("pypi-macaroon", b"pypi-AgEIcHlwaS5vcmcxxxxxxxx"));
    }

    #[test]
    fn jwt_and_discord_structure() {
        let h = url_safe(br#"{"alg":"HS256","typ":"JWT"}"#);
        let p = url_safe(br#"{"sub":"1"}"#);
        assert!(verify("jwt-structure", format!("{h}.{p}.sig").as_bytes()));
        let no_alg = url_safe(br#"{"typ":"JWT"}"#);
        assert!(!verify("jwt-structure", format!("{no_alg}.{p}.sig").as_bytes()));
        let id = url_safe(b"123456789012345678");
        assert!(verify("discord-bot", format!("{id}.abcdef.x").as_bytes()));
        assert!(!verify(
            "discord-bot",
            format!("{}.abcdef.x", url_safe(b"hello world, hi!!")).as_bytes()
        ));
    }
}
