//! Decoders: secrets hidden one encoding deep. A Kubernetes Secret's `data:` values, a
//! kubeconfig's `client-key-data`, a docker config's `auth` are base64; a password in a URL may be
//! percent-encoded; a PEM inside a JSON string has its newlines escaped as `\n`.
//!
//! [`views`] finds encoded spans in a blob and returns, for each, a *view*: the span's line with
//! the span replaced by its decoded text, so that the name in front of a value (`password:`) still
//! sits next to it for the rules. The engine scans views (recursively, up to a depth limit) and
//! reports what it finds there at the encoded span in the original blob.
//!
//! Decoding must stay cheap on ordinary code, because every blob goes through it:
//! - base64 is only tried on runs of at least [`MIN_BASE64`] alphabet bytes that mix upper case,
//!   lower case and digits, and the result is kept only when it is mostly printable text (binary
//!   payloads such as images, fonts and DER bodies are dropped without a second look);
//! - percent-decoding only looks at runs around `%XX` found with `memchr`;
//! - JSON unescaping only looks at string literals holding a backslash found with `memchr`.
//!
//! This module knows nothing of rules, sources or reports.

use memchr::{memchr_iter, memchr2_iter};

use super::alphabet;

/// Shortest base64 run the blind search decodes (32 characters decode to 24 bytes). Shorter
/// values are mostly identifiers; a short base64 value that a rule picked out (a Kubernetes
/// Secret's password) is decoded through [`base64_view`] instead.
pub const MIN_BASE64: usize = 32;

/// Longest encoded run decoded (a kubeconfig's embedded certificate chain fits; a 10 MB blob of
/// base64 does not need to be turned into text).
pub const MAX_ENCODED: usize = 64 * 1024;

/// How much of the line either side of an encoded span a view keeps (a minified file's one line
/// may be megabytes long; a name in front of a value is a few dozen bytes).
pub const CONTEXT: usize = 256;

/// At most this many views per blob, so a file of a million base64 lines stays linear and bounded.
pub const MAX_VIEWS: usize = 4096;

/// How the span was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// RFC 4648 base64, standard or URL-safe alphabet, padding optional.
    Base64,
    /// RFC 3986 percent-encoding.
    Percent,
    /// JSON string escapes (`\n`, `\"`, `\u00XX`, …).
    JsonString,
}

/// An encoded span of a blob and the text around it, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// How the span was encoded.
    pub encoding: Encoding,
    /// Byte offset of the encoded span in the blob.
    pub start: usize,
    /// Byte offset just past the encoded span.
    pub end: usize,
    /// The span's line (at most [`CONTEXT`] bytes either side), with the span replaced by its
    /// decoded bytes.
    pub text: Vec<u8>,
    /// Where the decoded bytes sit in `text`.
    pub decoded: std::ops::Range<usize>,
}

/// Every decodable span of `data`, in ascending order of `start` (capped at [`MAX_VIEWS`]).
pub fn views(data: &[u8]) -> Vec<View> {
    let mut out = Vec::new();
    base64_views(data, &mut out);
    percent_views(data, &mut out);
    json_views(data, &mut out);
    out.sort_by_key(|v| (v.start, v.end));
    out.truncate(MAX_VIEWS);
    out
}

/// Builds the view of `start..end` decoded as `decoded`.
fn view(data: &[u8], encoding: Encoding, start: usize, end: usize, decoded: &[u8]) -> View {
    let before = start.saturating_sub(CONTEXT);
    let after = (end + CONTEXT).min(data.len());
    let line_start =
        memchr::memrchr(b'\n', &data[before..start]).map_or(before, |p| before + p + 1);
    let line_end = memchr::memchr(b'\n', &data[end..after]).map_or(after, |p| end + p);
    let mut text = Vec::with_capacity(line_end - line_start - (end - start) + decoded.len());
    text.extend_from_slice(&data[line_start..start]);
    let at = text.len();
    text.extend_from_slice(decoded);
    let decoded_range = at..text.len();
    text.extend_from_slice(&data[end..line_end]);
    View { encoding, start, end, text, decoded: decoded_range }
}

// ---------------------------------------------------------------------------------------------
// base64

const INVALID: u8 = 0xff;

/// Maps a byte to its 6-bit value in either alphabet (`+`/`-` are 62, `/`/`_` are 63).
const B64: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0u8;
    while i < 26 {
        table[(b'A' + i) as usize] = i;
        table[(b'a' + i) as usize] = 26 + i;
        i += 1;
    }
    let mut d = 0u8;
    while d < 10 {
        table[(b'0' + d) as usize] = 52 + d;
        d += 1;
    }
    table[b'+' as usize] = 62;
    table[b'-' as usize] = 62;
    table[b'/' as usize] = 63;
    table[b'_' as usize] = 63;
    table
};

/// Decodes base64 in the standard or URL-safe alphabet, with or without `=` padding. `None` when
/// a byte is outside the alphabet, the length is impossible, or padding is misplaced.
pub fn base64(input: &[u8]) -> Option<Vec<u8>> {
    let trimmed = input.strip_suffix(b"==").or_else(|| input.strip_suffix(b"=")).unwrap_or(input);
    if trimmed.len() % 4 == 1 || (trimmed.len() != input.len() && !input.len().is_multiple_of(4)) {
        return None;
    }
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for &b in trimmed {
        let v = B64[usize::from(b)];
        if v == INVALID {
            return None;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Standard base64 with padding; the inverse of [`base64`] (used by tests and fixtures).
pub fn base64_encode(input: &[u8]) -> String {
    const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(DIGITS[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decoded bytes worth scanning: mostly printable ASCII or UTF-8 text.
fn looks_textual(decoded: &[u8]) -> bool {
    if decoded.len() < 6 {
        return false;
    }
    if let Ok(text) = std::str::from_utf8(decoded) {
        let control = text.chars().filter(|c| c.is_control() && !c.is_whitespace()).count();
        return control * 50 <= text.chars().count();
    }
    let printable =
        decoded.iter().filter(|&&b| (0x20..0x7f).contains(&b) || b"\t\r\n".contains(&b)).count();
    printable * 100 >= decoded.len() * 97
}

/// Character classes of the base64 alphabets, as bits: which kinds a run mixes.
const UPPER: u8 = 1;
const LOWER: u8 = 2;
const DIGIT: u8 = 4;
const SYMBOL: u8 = 8;
const CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = if b.is_ascii_uppercase() {
            UPPER
        } else if b.is_ascii_lowercase() {
            LOWER
        } else if b.is_ascii_digit() {
            DIGIT
        } else if alphabet::in_alphabet(b) {
            SYMBOL
        } else {
            0
        };
        i += 1;
    }
    table
};

/// Finds base64 runs of at least [`MIN_BASE64`] bytes (see [`alphabet`] for how they are found
/// fast) that mix upper case, lower case and digits, and keeps those that decode to text.
fn base64_views(data: &[u8], out: &mut Vec<View>) {
    alphabet::long_runs::<MIN_BASE64>(data, |start| {
        // One pass finds the run's end and the kinds of bytes it mixes.
        let mut kinds = 0;
        let mut run_end = start;
        while let Some(&b) = data.get(run_end)
            && CLASS[usize::from(b)] != 0
        {
            kinds |= CLASS[usize::from(b)];
            run_end += 1;
        }
        let mut end = run_end;
        while end < data.len() && end - run_end < 2 && data[end] == b'=' {
            end += 1;
        }
        if out.len() >= MAX_VIEWS || !(MIN_BASE64..=MAX_ENCODED).contains(&(end - start)) {
            return end;
        }
        if kinds & (UPPER | LOWER | DIGIT) == UPPER | LOWER | DIGIT
            && let Some(decoded) = base64(&data[start..end])
            && looks_textual(&decoded)
        {
            out.push(view(data, Encoding::Base64, start, end, &decoded));
        }
        end
    });
}

/// A view of `data[start..end]` when that span is base64 of text, whatever its length (the engine
/// asks about values that a rule already picked out, such as a short Kubernetes Secret value).
pub fn base64_view(data: &[u8], start: usize, end: usize) -> Option<View> {
    let span = data.get(start..end)?;
    if span.len() < 8 || span.iter().any(|&b| !alphabet::in_alphabet(b) && b != b'=') {
        return None;
    }
    let decoded = base64(span).filter(|d| looks_textual(d))?;
    Some(view(data, Encoding::Base64, start, end, &decoded))
}

// ---------------------------------------------------------------------------------------------
// percent-encoding

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes; other bytes are copied. `None` when nothing was escaped.
pub fn percent(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut escaped = false;
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && let (Some(h), Some(l)) = (
                input.get(i + 1).copied().and_then(hex_value),
                input.get(i + 2).copied().and_then(hex_value),
            )
        {
            out.push(h << 4 | l);
            escaped = true;
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    escaped.then_some(out)
}

/// Bytes that may appear in a URL or form-encoded value.
fn is_url_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"%-._~:/?#[]@!$&()*+,;=".contains(&b)
}

fn percent_views(data: &[u8], out: &mut Vec<View>) {
    let mut covered = 0;
    for pos in memchr_iter(b'%', data) {
        if pos < covered
            || !(data.get(pos + 1).is_some_and(|&b| hex_value(b).is_some())
                && data.get(pos + 2).is_some_and(|&b| hex_value(b).is_some()))
        {
            continue;
        }
        let mut start = pos;
        let floor = covered.max(pos.saturating_sub(MAX_ENCODED));
        while start > floor && is_url_byte(data[start - 1]) {
            start -= 1;
        }
        let mut end = pos;
        while end < data.len() && is_url_byte(data[end]) && end - start < MAX_ENCODED {
            end += 1;
        }
        covered = end;
        // Only escapes of characters that matter in credentials are worth a view; `%20` in prose
        // and `%s` format strings are not.
        if let Some(decoded) = percent(&data[start..end])
            && decoded.iter().any(|b| b"@:/=&;+\"'\\!#$%^*(){}[]<>,?".contains(b))
            && std::str::from_utf8(&decoded).is_ok()
        {
            out.push(view(data, Encoding::Percent, start, end, &decoded));
            if out.len() >= MAX_VIEWS {
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON string escapes

/// Decodes the body of a JSON string literal (without its quotes). `None` on a malformed escape.
pub fn json_unescape(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let esc = *body.get(i + 1)?;
        i += 2;
        match esc {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'"' | b'\\' | b'/' => out.push(esc),
            b'u' => {
                let hex = body.get(i..i + 4)?;
                let mut code = 0u32;
                for &h in hex {
                    code = code << 4 | u32::from(hex_value(h)?);
                }
                i += 4;
                let ch = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            _ => return None,
        }
    }
    Some(out)
}

fn json_views(data: &[u8], out: &mut Vec<View>) {
    let mut covered = 0;
    for pos in memchr_iter(b'\\', data) {
        if pos < covered {
            continue;
        }
        // The string literal around the backslash: back to the opening quote on this line,
        // forward to the closing quote that is not escaped.
        // Nothing before `covered` is looked at again, so a long line full of backslashes
        // stays linear.
        let line_start =
            memchr::memrchr(b'\n', &data[covered..pos]).map_or(covered, |p| covered + p + 1);
        let Some(open) = memchr::memrchr(b'"', &data[line_start..pos]).map(|p| line_start + p)
        else {
            covered = pos + 2;
            continue;
        };
        let mut close = None;
        let limit = (open + 1 + MAX_ENCODED).min(data.len());
        // Where the search stopped without a closing quote: nothing before it is retried, so a
        // long line of unbalanced quotes and backslashes stays linear.
        let mut stop = limit;
        for k in memchr2_iter(b'"', b'\n', &data[open + 1..limit]) {
            let at = open + 1 + k;
            if data[at] == b'\n' {
                stop = at;
                break;
            }
            // Count the backslashes right before the quote: an odd number escapes it.
            let slashes = data[open + 1..at].iter().rev().take_while(|&&b| b == b'\\').count();
            if slashes % 2 == 0 {
                close = Some(at);
                break;
            }
        }
        let Some(close) = close else {
            covered = stop.max(pos + 2);
            continue;
        };
        covered = close + 1;
        let body = &data[open + 1..close];
        // Escaped newlines and tabs alone change nothing a rule sees (a PEM with `\n` escapes
        // matches in place); escaped slashes, quotes and `\u` code points do.
        let telling = memchr_iter(b'\\', body)
            .any(|i| body.get(i + 1).is_some_and(|e| matches!(e, b'/' | b'u' | b'"' | b'\\')));
        if !telling {
            continue;
        }
        if let Some(decoded) = json_unescape(body) {
            out.push(view(data, Encoding::JsonString, open + 1, close, &decoded));
            if out.len() >= MAX_VIEWS {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn base64_both_alphabets_and_padding() {
        assert_eq!(base64(b"aGVsbG8gd29ybGQ=").as_deref(), Some(&b"hello world"[..]));
        assert_eq!(base64(b"aGVsbG8gd29ybGQ").as_deref(), Some(&b"hello world"[..]));
        assert_eq!(base64(b"-_-_").as_deref(), base64(b"+/+/").as_deref());
        assert_eq!(base64(b"a"), None);
        assert_eq!(base64(b"ab!d"), None);
    }

    #[test]
    fn kubernetes_secret_value_becomes_a_view_with_its_key() {
        let secret = base64_encode(b"S3cr3t-Pa55w0rd!-for-the-db");
        let yaml = format!("data:\n  password: {secret}\n  user: YWRtaW4=\n");
        let v = views(yaml.as_bytes());
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].encoding, Encoding::Base64);
        assert_eq!(&yaml[v[0].start..v[0].end], secret);
        assert_eq!(String::from_utf8_lossy(&v[0].text), "  password: S3cr3t-Pa55w0rd!-for-the-db");
        assert_eq!(&v[0].text[v[0].decoded.clone()], b"S3cr3t-Pa55w0rd!-for-the-db");
    }

    #[test]
    fn short_values_decode_on_request() {
        let yaml = b"  password: Y2hhbmdlbWU=\n";
        assert!(views(yaml).is_empty(), "shorter than the blind search looks for");
        let v = base64_view(yaml, 12, 24).expect("base64 of text");
        assert_eq!(String::from_utf8_lossy(&v.text), "  password: changeme");
        assert!(base64_view(b"k: Zq8rT2mLx5ab", 3, 15).is_none(), "random bytes are not text");
    }

    #[test]
    fn binary_base64_and_identifiers_are_ignored() {
        // A PNG header and an identifier with no digits give no view.
        let png = base64_encode(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06");
        let text =
            format!("img = 'data:image/png;base64,{png}'\nsomeVeryLongIdentifierWithoutDigits()");
        assert!(views(text.as_bytes()).is_empty());
    }

    #[test]
    fn percent_and_json_views() {
        let v = views(b"url = postgres://app:p%40ss%21w0rd@db/app");
        assert_eq!(v.len(), 1);
        assert!(String::from_utf8_lossy(&v[0].text).contains("app:p@ss!w0rd@db"));
        assert!(views(b"printf(\"%d items\", n); width: 100%;").is_empty());

        // A PEM with escaped newlines matches in place: no view needed.
        assert!(views(br#"{"key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END"}"#).is_empty());
        let v = views(br#"{"url": "https:\/\/svc:s3cr\u0065t-v4lu3@db.internal\/app"}"#);
        assert_eq!(v.len(), 1);
        assert_eq!(
            String::from_utf8_lossy(&v[0].text),
            r#"{"url": "https://svc:s3cret-v4lu3@db.internal/app"}"#
        );
    }

    #[test]
    fn escaped_quotes_stay_inside_the_literal() {
        let v = views(br#"x = "a \"quoted\" pass\tword" + y"#);
        assert_eq!(v.len(), 1);
        assert_eq!(&v[0].text[v[0].decoded.clone()], b"a \"quoted\" pass\tword");
    }

    proptest! {
        #[test]
        fn base64_round_trips(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let encoded = base64_encode(&data);
            prop_assert_eq!(base64(encoded.as_bytes()), Some(data.clone()));
            prop_assert_eq!(base64(encoded.trim_end_matches('=').as_bytes()), Some(data));
        }

        #[test]
        fn percent_round_trips(data in proptest::collection::vec(any::<u8>(), 1..256)) {
            let encoded: String = data.iter().fold(String::new(), |mut s, b| {
                use std::fmt::Write as _;
                let _ = write!(s, "%{b:02X}");
                s
            });
            prop_assert_eq!(percent(encoded.as_bytes()), Some(data));
        }

        #[test]
        fn json_round_trips(text in "\\PC{0,64}") {
            let encoded = serde_json::to_string(&text).expect("serializes");
            let body = &encoded.as_bytes()[1..encoded.len() - 1];
            prop_assert_eq!(json_unescape(body), Some(text.into_bytes()));
        }

        #[test]
        fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let _ = base64(&data);
            let _ = percent(&data);
            let _ = json_unescape(&data);
            for v in views(&data) {
                prop_assert!(v.start <= v.end && v.end <= data.len());
                prop_assert!(v.decoded.end <= v.text.len());
            }
        }

        #[test]
        fn decoders_never_panic_on_textual_input(data in "[A-Za-z0-9+/=%\\\\\"\n :_-]{0,512}") {
            for v in views(data.as_bytes()) {
                prop_assert!(v.start <= v.end && v.end <= data.len());
            }
        }
    }
}
