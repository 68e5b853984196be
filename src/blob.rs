//! Blobs: the bytes every source produces and the engine scans, with a git-style id so identical
//! content from any source is recognised as the same.

use std::fmt;

/// A git blob id: SHA-1 of `blob <len>\0` followed by the content.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(pub [u8; 20]);

impl BlobId {
    /// The id git would give `data`.
    pub fn of(data: &[u8]) -> BlobId {
        use sha1::{Digest, Sha1};
        let mut hasher = Sha1::new();
        hasher.update(format!("blob {}\0", data.len()).as_bytes());
        hasher.update(data);
        BlobId(hasher.finalize().into())
    }

    /// Lowercase hex, as git prints it.
    pub fn hex(&self) -> String {
        crate::rules::hex(&self.0)
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({})", self.hex())
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// Bytes to scan. `id` is set by sources that know it for free (git); a scan dedupes on it.
/// Files don't hash their content up front: on a source tree it cost more than duplicates save.
#[derive(Debug, Clone)]
pub struct Blob {
    /// The content id, when known.
    pub id: Option<BlobId>,
    /// The content.
    pub data: Vec<u8>,
}

impl Blob {
    /// A blob whose id is not known.
    pub fn new(data: Vec<u8>) -> Blob {
        Blob { id: None, data }
    }
}

/// How many leading bytes decide whether content is binary (as git and ripgrep do).
pub const BINARY_PROBE: usize = 8192;

/// True when content looks binary: a NUL byte in its first [`BINARY_PROBE`] bytes, unless it is
/// UTF-16 text (see [`utf16`]), whose ASCII characters all carry a zero byte.
pub fn looks_binary(data: &[u8]) -> bool {
    memchr::memchr(0, &data[..data.len().min(BINARY_PROBE)]).is_some() && utf16(data).is_none()
}

/// The byte order of UTF-16 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Utf16 {
    /// Little-endian (what Windows writes: `reg export`, PowerShell's `Out-File`).
    Le,
    /// Big-endian.
    Be,
}

impl Utf16 {
    fn unit(self, pair: &[u8]) -> u16 {
        let pair = [pair[0], pair[1]];
        match self {
            Utf16::Le => u16::from_le_bytes(pair),
            Utf16::Be => u16::from_be_bytes(pair),
        }
    }
}

/// The byte order when `data` is UTF-16 text: a byte-order mark says so, or, without one, the
/// first [`BINARY_PROBE`] bytes hold zeros in alternate positions (three pairs in four or more,
/// as ASCII-range text does). Either way those bytes must hold a zero byte (a newline or space
/// has one) and decode to text, so a binary that happens to start with `FF FE` or to be an array
/// of small 16-bit numbers, or a Latin-1 text starting with `ÿþ`, is not taken for it.
pub fn utf16(data: &[u8]) -> Option<Utf16> {
    let probe = &data[..data.len().min(BINARY_PROBE)];
    // Every ASCII character in UTF-16, newline and space included, has a zero byte: text without
    // a NUL (the usual case) costs one `memchr`, and a Latin-1 text that starts with `ÿþ` stays
    // what it is.
    memchr::memchr(0, probe)?;
    let (order, units) = match probe {
        // The UTF-32LE mark starts like UTF-16LE's.
        [0xFF, 0xFE, 0, 0, ..] => return None,
        [0xFF, 0xFE, rest @ ..] => (Utf16::Le, rest),
        [0xFE, 0xFF, rest @ ..] => (Utf16::Be, rest),
        _ => {
            let pairs = probe.len() / 2;
            let zeros = |parity: usize| {
                probe[..pairs * 2].iter().skip(parity).step_by(2).filter(|&&b| b == 0).count()
            };
            let (even, odd) = (zeros(0), zeros(1));
            let mostly = |n: usize| pairs > 0 && n * 4 >= pairs * 3;
            let order = match (mostly(even), mostly(odd)) {
                (false, true) => Utf16::Le,
                (true, false) => Utf16::Be,
                _ => return None,
            };
            (order, probe)
        }
    };
    let decoded = char::decode_utf16(units.chunks_exact(2).map(|p| order.unit(p)));
    let (mut chars, mut odd) = (0usize, 0usize);
    for c in decoded {
        chars += 1;
        let text = c.is_ok_and(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c'));
        odd += usize::from(!text);
    }
    // A stray control character (or a surrogate pair cut by the probe's end) is tolerated.
    (chars > 0 && odd * 100 <= chars).then_some(order)
}

/// UTF-16 text (see [`utf16`]) as UTF-8, without its byte-order mark; `None` for anything else.
/// An unpaired surrogate becomes U+FFFD; a last odd byte, which is no code unit, is dropped.
pub fn utf16_to_utf8(data: &[u8]) -> Option<Vec<u8>> {
    let order = utf16(data)?;
    let body = match (order, data) {
        (Utf16::Le, [0xFF, 0xFE, rest @ ..]) | (Utf16::Be, [0xFE, 0xFF, rest @ ..]) => rest,
        _ => data,
    };
    let mut out = Vec::with_capacity(body.len() / 2);
    let mut buf = [0; 4];
    for c in char::decode_utf16(body.chunks_exact(2).map(|p| order.unit(p))) {
        let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_git_hash_object() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(BlobId::of(b"hello\n").hex(), "ce013625030ba8dba906f756967f9e9ca394464a");
    }

    #[test]
    fn binary_probe() {
        assert!(looks_binary(b"ab\0cd"));
        assert!(!looks_binary(b"plain text"));
    }

    fn encode(text: &str, order: Utf16, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for unit in std::iter::once(0xFEFF).filter(|_| bom).chain(text.encode_utf16()) {
            out.extend(match order {
                Utf16::Le => unit.to_le_bytes(),
                Utf16::Be => unit.to_be_bytes(),
            });
        }
        out
    }

    #[test]
    fn utf16_text_is_decoded_and_not_binary() {
        let text = "Windows Registry Editor Version 5.00\r\n\r\n\"Key\"=\"välue €\"\r\n";
        for (order, bom) in
            [(Utf16::Le, true), (Utf16::Be, true), (Utf16::Le, false), (Utf16::Be, false)]
        {
            let data = encode(text, order, bom);
            assert_eq!(utf16(&data), Some(order), "{order:?} bom={bom}");
            assert!(!looks_binary(&data));
            assert_eq!(utf16_to_utf8(&data).as_deref(), Some(text.as_bytes()));
        }
        // Non-Latin text has few zero bytes: only a byte-order mark tells.
        let cjk = encode("密码 = 秘密", Utf16::Le, true);
        assert_eq!(utf16_to_utf8(&cjk).as_deref(), Some("密码 = 秘密".as_bytes()));
    }

    #[test]
    fn binaries_are_not_taken_for_utf16() {
        // Small 16-bit numbers (zeros in alternate positions, but control characters), a
        // UTF-32 mark, an executable header, and plain text.
        let shorts: Vec<u8> = (1u16..200).flat_map(|n| (n % 31).to_le_bytes()).collect();
        assert!(utf16(&shorts).is_none() && looks_binary(&shorts));
        assert!(utf16(b"\xff\xfe\0\0a\0\0\0").is_none());
        assert!(utf16(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0").is_none());
        assert!(utf16(b"plain text").is_none());
        assert!(utf16(b"\xff\xfe junk in Latin-1").is_none(), "a mark, but no zero byte");
        assert!(utf16_to_utf8(b"plain text").is_none());
    }
}
