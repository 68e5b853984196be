//! The value model (issue #14): is the text a generic or keyword-anchored rule picked out a
//! secret at all? A rule finds *where* a secret would sit (`password = "…"`); this module judges
//! *what* sits there, once for every such rule, so rules do not each carry their own copy of
//! "not an identifier, not a path, not a template".
//!
//! A value is not a secret when it is
//! - a published sample: a provider's documentation example ([`published_sample`], applied to
//!   every rule, since these values are public whatever their format);
//! - a reference or template: `$X`, `${X}`, `%(x)s`, `{{ x }}`, `<your-key>`, `os.environ[…]`,
//!   a function call, a CSS selector or a YAML anchor;
//! - a path, URL or host name;
//! - natural language, in any script: words and spaces with function words or a closing
//!   punctuation mark, or letters of non-Latin scripts with no secret-like mix of digits and
//!   symbols;
//! - an identifier or constant: `SCREAMING_CASE`, snake, kebab, camel or dotted names made of
//!   word-like parts, header and field names (`X-Amz-Credential`, `credentialId`);
//! - low in information: one repeated character or pattern, a sequential run (`abcdef`,
//!   `123456`, `qwerty`), digits only, control characters, or nothing but well-known weak words
//!   (`changeme`, `test`, `password`, `opensesame`).
//!
//! A weak word dressed up with digits, symbols or leetspeak (`Password123!`, `p@ssw0rd`,
//! `admin123`) is [`Reason::Guessable`]: no placeholder is written that way, but people set such
//! passwords, so the engine reports it at `low` confidence instead of dropping it (issue #13:
//! `DB_PASSWORD=admin123` in a `.env`, `mysql://app:s3cr3tP4ss@…`).
//!
//! What passes is graded [`Strength::Strong`] (a mix of character classes, as generated secrets
//! have) or [`Strength::Weak`] (letters only, passphrases), which the engine turns into a
//! confidence. Specific rules (provider prefixes, checksums) are never judged here: their format
//! already says "secret". This module is pure: bytes in, verdict out; it runs only on candidates
//! that already matched a rule, so it costs nothing on the bytes of a scan.

use super::entropy;

/// Why a candidate value is not a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A provider's published documentation example.
    PublishedSample,
    /// A variable reference, template, placeholder, lookup or call.
    Reference,
    /// A file path, URL path, URL or host name.
    Path,
    /// Words of a human language.
    NaturalLanguage,
    /// A code identifier, constant, or header/field/property name.
    Identifier,
    /// Repeated, sequential, numeric or weak-word values.
    LowInformation,
    /// A weak word with digits, symbols or leetspeak: a guessable password, yet a password.
    Guessable,
}

/// How secret-like a value that passed the model looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strength {
    /// A mix of character classes, as generated secrets and good passwords have.
    Strong,
    /// Plausible but plain: letters only, or words (a passphrase).
    Weak,
}

/// Judges a candidate value of a generic or keyword-anchored rule.
pub fn judge(value: &[u8]) -> Result<Strength, Reason> {
    if published_sample(value) {
        return Err(Reason::PublishedSample);
    }
    let text = String::from_utf8_lossy(value);
    let text = text.trim();
    // Percent-encoded and escaped values (URL test tables: `pass%5B%7F`, `pass[\u007F`) are
    // judged by what they encode.
    let decoded = unescaped(text);
    let text = decoded.as_deref().unwrap_or(text);
    if text.chars().any(char::is_control) {
        return Err(Reason::LowInformation);
    }
    if let Some(password) = authority_password(text) {
        return judge(password.as_bytes());
    }
    if reference(text) {
        return Err(Reason::Reference);
    }
    if path(text) {
        return Err(Reason::Path);
    }
    if natural_language(text) {
        return Err(Reason::NaturalLanguage);
    }
    // `github-actions[bot]`, `dependabot[bot]`: a bot account's login.
    let bot = text.strip_suffix("[bot]").is_some_and(|login| {
        !login.is_empty() && login.split(['-', '_']).all(|p| !p.is_empty() && wordish(p))
    });
    if bot || identifier(text) {
        return Err(Reason::Identifier);
    }
    if low_information(text) {
        return Err(if guessable(text) { Reason::Guessable } else { Reason::LowInformation });
    }
    Ok(strength(text))
}

/// Providers' published sample credentials: public by construction, whatever rule matches them.
///
/// - AWS marks every sample credential in its documentation with `EXAMPLE` (access key id
///   `AKIAIOSFODNN7EXAMPLE`, secret `wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`, session tokens
///   with `EXAMPLE` inside): <https://docs.aws.amazon.com/IAM/latest/UserGuide/security-creds.html>.
/// - jwt.io's debugger token, payload `{"sub":"1234567890","name":"John Doe","iat":1516239022}`:
///   <https://jwt.io/>.
/// - The Azure storage emulator's well-known account key:
///   <https://learn.microsoft.com/azure/storage/common/storage-use-azurite>.
/// - Stripe's documentation test keys: <https://docs.stripe.com/keys>.
/// - The OAuth RFCs' example tokens and client credentials: RFC 6749 §4.1.3–5.1
///   (`2YotnFZFEjr1zCsicMWpAA`, `tGzv3JOkF0XG5Qx2TlKWIA`, `s6BhdRkqt3:gX1fBat3bV`), RFC 7009 §2.1
///   (`45ghiukldjahdnhzdauz`) and RFC 5849 §1.2 (`ad180jjd733klru7`, `hh5s93j4hdidpola`,
///   `nnch734d00sl2jdk`, `kd94hf93k423kf44`, `pfkkdhi9sl3r4s00`).
/// - `PyJWT`'s documentation token, payload `{"some":"payload"}`: <https://pyjwt.readthedocs.io/>.
/// - The session token of AWS's Signature Version 4 test suite, as the `aws-sigv4` crate ships
///   it (`aws-signing-test-suite/v4/get-vanilla-with-session-token/context.json`, next to the
///   suite's `AKIDEXAMPLE` key id; #14).
pub fn published_sample(value: &[u8]) -> bool {
    const SAMPLES: &[&[u8]] = &[
        b"2YotnFZFEjr1zCsicMWpAA",
        b"tGzv3JOkF0XG5Qx2TlKWIA",
        b"gX1fBat3bV",
        // base64 of RFC 6749's `s6BhdRkqt3:gX1fBat3bV` (its HTTP Basic example).
        b"czZCaGRSa3F0MzpnWDFmQmF0M2JW",
        b"45ghiukldjahdnhzdauz",
        b"ad180jjd733klru7",
        b"hh5s93j4hdidpola",
        b"nnch734d00sl2jdk",
        b"kd94hf93k423kf44",
        b"pfkkdhi9sl3r4s00",
        b"eyJzb21lIjoicGF5bG9hZCJ9",
        // jwt.io: the payload segment of its sample token.
        b"eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ",
        // Azurite / storage emulator `devstoreaccount1` key.
        b"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
        // Stripe docs' test secret and publishable keys.
        b"sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        b"pk_test_TYooMQauvdEDq54NiTphI7jx",
        // AWS SigV4 test suite's session token.
        b"6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
    ];
    memchr::memmem::find(value, b"EXAMPLE").is_some()
        || SAMPLES.iter().any(|s| memchr::memmem::find(value, s).is_some())
}

/// `%XX`, `\xXX` and `\uXXXX` sequences decoded, when the text has any; `None` when there is
/// nothing to decode.
fn unescaped(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let hex = |at: usize, n: usize| -> Option<u32> {
        let digits = text.get(at..at + n)?;
        u32::from_str_radix(digits, 16)
            .ok()
            .filter(|_| digits.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut decoded_any = false;
    let mut i = 0;
    while i < bytes.len() {
        let escape = match (bytes[i], bytes.get(i + 1)) {
            (b'%', _) => hex(i + 1, 2).map(|v| (vec![v as u8], 3)),
            (b'\\', Some(b'x')) => hex(i + 2, 2).map(|v| (vec![v as u8], 4)),
            (b'\\', Some(b'u')) => hex(i + 2, 4).and_then(char::from_u32).map(|c| {
                let mut buf = [0; 4];
                (c.encode_utf8(&mut buf).as_bytes().to_vec(), 6)
            }),
            _ => None,
        };
        if let Some((decoded, len)) = escape {
            out.extend(decoded);
            decoded_any = true;
            i += len;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    decoded_any.then(|| String::from_utf8_lossy(&out).into_owned())
}

/// The password of a `user:password@host[:port]` authority picked up whole.
fn authority_password(text: &str) -> Option<&str> {
    let (userinfo, host) = text.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    let host = host
        .split_once(':')
        .map_or(host, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { "" });
    let hostlike =
        !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b));
    (hostlike && !password.is_empty()).then_some(password)
}

/// Prefixes of environment and configuration lookups, vault and secret-manager references.
const LOOKUPS: &[&str] = &[
    "process.env",
    "os.environ",
    "os.getenv",
    "getenv",
    "system.getenv",
    "environ[",
    "env[",
    "env.",
    "env:",
    "!env",
    "secrets.",
    "vars.",
    "vault:",
    "ref+",
    "secretref",
    "op://",
    "sm://",
    "akv:",
    "awssm:",
    "doppler:",
    "gcp:",
    "keyvault",
    "azure-keyvault",
    "arn:aws:",
    "enc(",
    "$ansible_vault",
    "!vault",
    "!ref",
    "!sub",
    "file:",
    "projects/",
];

/// `$X`, `${X}`, `$(cmd)`, `{{ x }}`, `%(x)s`, `#{x}`, `{x}`, `<your-key>`, `[[x]]`, lookups,
/// calls (`getSecret(name)`), code (`a::b`, `a->b`), selectors (`#add-password`) and anchors.
fn reference(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let ident_start = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_');
    if bytes.first() == Some(&b'$')
        && (ident_start(bytes.get(1)) || matches!(bytes.get(1), Some(b'{' | b'(')))
    {
        return true;
    }
    if ["${", "{{", "}}", "%(", "#{", "[[", "]]", "((", "::", "->", "$("]
        .iter()
        .any(|m| text.contains(m))
    {
        return true;
    }
    if matches!(bytes.first(), Some(b'<')) || (text.starts_with('{') && text.ends_with('}')) {
        return true;
    }
    if LOOKUPS.iter().any(|p| lower.starts_with(p)) {
        return true;
    }
    // Selectors, decorators, YAML anchors/aliases/tags, symbols and negations: sigils and a
    // name (`#add-password`, `@@webpackFullHash`, `!!config.withCredentials`).
    let name = match bytes.first() {
        Some(&sigil @ (b'#' | b'@' | b'&' | b'*' | b'!' | b':')) => {
            text.trim_start_matches(char::from(sigil))
        }
        _ => text,
    };
    if name.len() < text.len()
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        && name.split(['_', '-', '.']).all(|p| p.is_empty() || wordish(p))
    {
        return true;
    }
    // `[device_key]`, `[your api key]`: a bracketed placeholder.
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']'))
        && !inner.is_empty()
        && inner.split([' ', '_', '-']).all(|p| p.is_empty() || wordish(p))
    {
        return true;
    }
    call(text) || (text.contains(['$', '[']) && member_access(text)) || format_string(text)
}

/// A printf-style template (`\npassword_expiry_utc=%s`, `token: %v`, `pass=%-12s`): names and
/// conversions only, once escapes are dropped.
fn format_string(text: &str) -> bool {
    if !text.contains('%') {
        return false;
    }
    let mut rest = String::with_capacity(text.len());
    let mut conversions = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '%' => {
                while chars.peek().is_some_and(|c| "-+ #0123456789.*".contains(*c)) {
                    chars.next();
                }
                if !chars.next().is_some_and(|c| "sdiuxXfvqp@".contains(c)) {
                    return false;
                }
                conversions += 1;
                rest.push(' ');
            }
            '\\' => {
                chars.next();
                rest.push(' ');
            }
            c => rest.push(c),
        }
    }
    conversions > 0
        && rest
            .split([' ', '=', ':', '&', ',', ';'])
            .all(|p| p.is_empty() || p.split(['_', '-', '.']).all(|w| w.is_empty() || wordish(w)))
}

/// `app$1.settings.appCheckToken`, `Description.Shards[-1].ShardId`: a chain of member accesses
/// and indexes, as minified and generated code writes them. Every part is a name once `$N`
/// renamings and `[index]` steps are dropped. (A plain `a.b` is [`identifier`]'s.)
fn member_access(text: &str) -> bool {
    let mut plain = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']') else { return false };
        let index = &rest[open + 1..open + close];
        if !index.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_'\"".contains(&b)) {
            return false;
        }
        plain.push_str(&rest[..open]);
        rest = &rest[open + close + 1..];
    }
    plain.push_str(rest);
    let parts: Vec<&str> = plain.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|part| {
            let name: String = part
                .split('$')
                .enumerate()
                .map(|(i, piece)| {
                    if i == 0 {
                        piece
                    } else {
                        piece.trim_start_matches(|c: char| c.is_ascii_digit())
                    }
                })
                .collect();
            !name.is_empty()
                && name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && name.split('_').all(|p| p.is_empty() || wordish(p))
        })
}

/// `name(…)` or `a.b.name(…)`: a function call, not a literal.
fn call(text: &str) -> bool {
    let Some(open) = text.find('(') else { return false };
    let head = &text[..open];
    !head.is_empty()
        && head.split('.').all(|part| {
            part.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'$')
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        })
}

/// Paths (`/etc/x`, `./x`, `~/x`, `C:\x`, `a/b/c`), URLs and host names (`host.example:80`).
fn path(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    if let Some((scheme, _)) = lower.split_once("://")
        && !scheme.is_empty()
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
    {
        return true;
    }
    let bytes = text.as_bytes();
    let drive = bytes.len() > 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    let drive = drive && matches!(bytes[2], b'\\' | b'/');
    let rooted = drive || ["./", "../", "~/", "\\\\", "/"].iter().any(|p| text.starts_with(p));
    let body = if drive { &text[2..] } else { text };
    let segments: Vec<&str> = body
        .split(['/', '\\'])
        .filter(|s| !s.is_empty() && !matches!(*s, "." | ".." | "~"))
        .collect();
    if body.contains(['/', '\\'])
        && !segments.is_empty()
        && (rooted || segments.len() >= 2)
        && segments.iter().all(|s| path_segment(s))
    {
        return true;
    }
    // A dotfile name (`.env.local`, `.netrc`).
    let dotfile = text.len() > 1
        && text.starts_with('.')
        && text[1..]
            .split(['.', '-', '_'])
            .all(|p| !p.is_empty() && wordish(p) && p.bytes().all(|b| !b.is_ascii_uppercase()));
    dotfile || host(text)
}

/// A path segment: word-like parts joined by `.`, `-`, `_`, `:` (`credentials-file`,
/// `site-updates.py`, `:id`).
fn path_segment(segment: &str) -> bool {
    let segment = segment.trim_start_matches(':');
    !segment.is_empty()
        && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-:~%@+".contains(&b))
        && segment.split(['.', '-', '_', ':', '~', '@', '+']).all(|p| p.is_empty() || wordish(p))
}

/// Top-level names that make a dotted name a host name without a port.
const TOP_LEVEL: &[&str] = &[
    "com",
    "org",
    "net",
    "io",
    "dev",
    "app",
    "edu",
    "gov",
    "co",
    "uk",
    "de",
    "fr",
    "jp",
    "cn",
    "ru",
    "eu",
    "us",
    "internal",
    "local",
    "localhost",
    "lan",
    "corp",
    "home",
    "test",
    "example",
];

/// `www.python.org`, `db.internal:5432`: dotted names with a top-level part and an optional port.
fn host(text: &str) -> bool {
    let (name, port) = text.rsplit_once(':').unwrap_or((text, ""));
    if !port.bytes().all(|b| b.is_ascii_digit()) || (text.contains(':') && port.is_empty()) {
        return false;
    }
    let labels: Vec<&str> = name.split('.').collect();
    let tld = labels.last().copied().unwrap_or_default();
    let named = labels.len() >= 2 || (!port.is_empty() && name.eq_ignore_ascii_case("localhost"));
    named
        && (!port.is_empty() || TOP_LEVEL.contains(&tld))
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && l.split('-').all(|p| p.is_empty() || wordish(p))
        })
}

/// Short function words of a few languages: their presence makes a spaced text a sentence,
/// not a passphrase.
const FUNCTION_WORDS: &[&str] = &[
    "a", "an", "the", "your", "you", "to", "of", "for", "is", "are", "be", "and", "or", "in", "on",
    "with", "please", "enter", "not", "no", "this", "that", "it", "my", "here", "de", "la", "le",
    "les", "el", "los", "las", "und", "der", "die", "das", "ein", "eine", "ihr", "il", "di", "per",
    "och", "het", "een", "do", "da", "para", "at", "by", "from", "as", "if", "must", "should",
    "can", "will", "has", "have", "all", "any", "than", "least", "new", "was", "were",
];

/// Words of a human language: spaced words with function words or closing punctuation, or
/// letters of a non-Latin script (or accented Latin) with no digits or symbols mixed in.
fn natural_language(text: &str) -> bool {
    let non_ascii_letters = text.chars().any(|c| c.is_alphabetic() && !c.is_ascii());
    let only_letters_and_prose =
        text.chars().all(|c| c.is_alphabetic() || c.is_whitespace() || is_prose_punctuation(c));
    if non_ascii_letters && only_letters_and_prose {
        return true;
    }
    // A prompt: a word or words and a colon or question mark (`Password:`).
    let prompt = text.ends_with([':', '?', '：'])
        && text.len() > 1
        && text
            .chars()
            .filter(|c| !matches!(c, ':' | '?' | '：'))
            .all(|c| c.is_alphabetic() || c == ' ');
    if prompt {
        return true;
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() < 2 {
        return false;
    }
    // A title or label: every word capitalized, letters only (`Registry Realm`).
    let title = words.iter().all(|w| {
        let mut chars = w.chars();
        chars.next().is_some_and(char::is_uppercase) && chars.all(char::is_lowercase)
    });
    if title {
        return true;
    }
    let closing = text.ends_with([':', '.', '?', '!', '…', '：', '。']);
    let function_word = words.iter().any(|w| {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
        FUNCTION_WORDS.contains(&w.as_str())
    });
    let proseish =
        text.chars().all(|c| c.is_alphanumeric() || c.is_whitespace() || is_prose_punctuation(c));
    proseish && (closing || function_word)
}

fn is_prose_punctuation(c: char) -> bool {
    matches!(
        c,
        '.' | ','
            | ':'
            | ';'
            | '?'
            | '!'
            | '\''
            | '-'
            | '('
            | ')'
            | '…'
            | '：'
            | '。'
            | '、'
            | '？'
            | '！'
    )
}

/// Words that identifiers near secrets are made of: a name built from them is a name.
const VOCABULARY: &[&str] = &[
    "id",
    "ids",
    "key",
    "keys",
    "token",
    "tokens",
    "secret",
    "secrets",
    "password",
    "passwords",
    "passphrase",
    "blob",
    "passwd",
    "pwd",
    "pass",
    "credential",
    "credentials",
    "cred",
    "creds",
    "auth",
    "name",
    "type",
    "len",
    "length",
    "size",
    "bytes",
    "byte",
    "value",
    "path",
    "file",
    "dir",
    "url",
    "uri",
    "config",
    "user",
    "username",
    "data",
    "info",
    "mac",
    "hash",
    "based",
    "loader",
    "library",
    "system",
    "client",
    "server",
    "api",
    "access",
    "header",
    "field",
    "count",
    "max",
    "min",
    "env",
    "param",
    "params",
    "string",
    "str",
    "list",
    "map",
    "get",
    "set",
    "new",
    "default",
    "handler",
    "request",
    "response",
    "session",
    "cookie",
    "cache",
    "store",
    "storage",
    "manager",
    "provider",
    "service",
    "error",
    "input",
    "output",
    "label",
    "text",
    "prefix",
    "format",
    "kind",
    "mode",
    "control",
    "security",
    "amz",
    "private",
    "public",
    "signing",
    "signature",
    "encrypt",
    "encryption",
    "reset",
    "refresh",
    "bearer",
    "account",
    "field",
];

/// An identifier or constant: word-like parts joined by `_`, `-`, `.`, `:`, `#` (a namespaced
/// name: `identitytoolkit#VerifyPasswordResponse`) or camel humps, that
/// is `SCREAMING_CASE`, header-cased (`X-Amz-Credential`), dotted or snake (`a.b`, `a_b`), or
/// built from identifier vocabulary (`credentialId`, `id-PasswordBasedMac`).
fn identifier(text: &str) -> bool {
    if text.contains('$') {
        return dollar_joined(text);
    }
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:#".contains(&b))
        || !text.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
    {
        return false;
    }
    let parts: Vec<&str> =
        text.split(['_', '-', '.', ':', '#']).filter(|p| !p.is_empty()).collect();
    if parts.is_empty() || !parts.iter().all(|p| wordish(p)) {
        return false;
    }
    let separated = parts.len() >= 2;
    let screaming = text.bytes().all(|b| !b.is_ascii_lowercase()) && (separated || text.len() >= 8);
    let header = text.contains('-')
        && parts.iter().all(|p| p.bytes().next().is_some_and(|b| b.is_ascii_uppercase()));
    // `Config.Secret`, `request.form.password`: member access, each part a name.
    let dotted = text.contains('.')
        && text
            .split('.')
            .all(|p| p.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_'));
    let lower_joined = separated
        && (text.contains('_') || text.contains('.'))
        && text.bytes().all(|b| !b.is_ascii_uppercase());
    let vocabulary = parts.iter().flat_map(|p| humps(p)).any(|h| {
        let h = h.to_ascii_lowercase();
        VOCABULARY.contains(&h.as_str())
    });
    let humped = parts
        .iter()
        .any(|p| humps(p).filter(|h| h.bytes().all(|b| b.is_ascii_alphabetic())).count() >= 2);
    // Letters only, in word-like humps or parts: `CircleOfLife`, `NSRecursiveLock`,
    // `CRYPTO_dynlock`, `bpki-ct-setpwd-req`. Generated secrets mix in digits or break into
    // one- and two-letter humps.
    let lettered = (separated || humped)
        && text.bytes().all(|b| b.is_ascii_alphabetic() || b"_-.#".contains(&b))
        && parts.iter().all(|p| humps(p).enumerate().all(|(i, h)| word_hump(h, i == 0)));
    // Three or more lowercase words joined by hyphens: a slug or an OID name
    // (`bpki-ct-setpwd-req`), as CSS classes, routes and feature names are written.
    let kebab = parts.len() >= 3 && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
    screaming
        || header
        || compound_name(text)
        || dotted
        || lower_joined
        || lettered
        || kebab
        || (vocabulary && (separated || humped))
}

/// `Iamcredentials`, `Idptokens`: one capitalized word that is a name and a vocabulary word of
/// five letters or more run together, as code generators capitalize a service's name
/// (googleapis' `iamcredentials` API, #14). A password of capital and lowercase letters only
/// would have to end in such a word and begin with a pronounceable one.
fn compound_name(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() < 8
        || !bytes[0].is_ascii_uppercase()
        || !bytes[1..].iter().all(u8::is_ascii_lowercase)
    {
        return false;
    }
    let lower = text.to_ascii_lowercase();
    VOCABULARY
        .iter()
        .filter(|w| w.len() >= 5)
        .any(|w| lower.strip_suffix(w).is_some_and(|head| head.len() >= 2 && pronounceable(head)))
}

/// `Resource$Projects$Secrets`: capitalized words joined by `$`, as code generators name nested
/// classes (googleapis' TypeScript clients, Java's `Outer$Inner`). A password with a `$` in it
/// (`Pa$$w0rd`) has no capitalized word on each side.
fn dollar_joined(text: &str) -> bool {
    let mut parts = text.split('$');
    parts.clone().count() >= 2
        && parts.all(|p| {
            p.len() >= 3
                && p.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
                && p.bytes().all(|b| b.is_ascii_alphabetic())
                && humps(p).enumerate().all(|(i, h)| word_hump(h, i == 0))
        })
}

/// A hump that reads as part of a name: a lowercase or capitalized word with a vowel, a short
/// acronym (`NS`, `PAN`), a pronounceable uppercase word (`CRYPTO`), or a one-letter prefix at
/// the start (`kEnumerable`).
fn word_hump(hump: &str, first: bool) -> bool {
    let bytes = hump.as_bytes();
    let upper = bytes.iter().all(u8::is_ascii_uppercase);
    let cased = bytes.iter().skip(1).all(u8::is_ascii_lowercase);
    let lower = hump.to_ascii_lowercase();
    match bytes.len() {
        0 => false,
        1 => first || upper,
        2 => upper || cased,
        _ if upper && bytes.len() <= 5 => true,
        _ => (upper || cased) && pronounceable(&lower),
    }
}

/// Vowels throughout and no consonant cluster over four (`setpwd`), as words and the names made
/// of them have and random letters rarely do.
fn pronounceable(lower: &str) -> bool {
    let vowel = |b: u8| b"aeiouy".contains(&b);
    let vowels = lower.bytes().filter(|&b| vowel(b)).count();
    // Short words need only a vowel (`lock`); longer ones vowels in proportion.
    let enough = if lower.len() <= 5 { vowels >= 1 } else { vowels * 4 >= lower.len() };
    let mut run = 0;
    let mut longest = 0;
    for b in lower.bytes() {
        run = if vowel(b) { 0 } else { run + 1 };
        longest = longest.max(run);
    }
    enough && longest <= 4
}

/// Camel humps and digit runs of an alphanumeric part: `pkcs15Token` → `pkcs`, `15`, `Token`;
/// `PANToken` → `PAN`, `Token`.
fn humps(part: &str) -> impl Iterator<Item = &str> {
    let bytes = part.as_bytes();
    let mut cuts = vec![0];
    for i in 1..bytes.len() {
        let (a, b) = (bytes[i - 1], bytes[i]);
        let next_lower = bytes.get(i + 1).is_some_and(u8::is_ascii_lowercase);
        let cut = (a.is_ascii_digit() != b.is_ascii_digit())
            || (a.is_ascii_lowercase() && b.is_ascii_uppercase())
            || (a.is_ascii_uppercase() && b.is_ascii_uppercase() && next_lower);
        if cut {
            cuts.push(i);
        }
    }
    cuts.push(bytes.len());
    cuts.windows(2).map(move |w| &part[w[0]..w[1]]).collect::<Vec<_>>().into_iter()
}

/// A word-like part: its letter humps average three letters or more, digit runs are short and
/// few. Random strings break into many one- and two-letter humps. In a part of mixed case an
/// all-capitals hump counts four letters at most: acronyms are short (`PAN`, `XML`), while the
/// long capital runs of a random token (`BXRFYF` in an AWS secret key) would otherwise lift the
/// average of its short humps over the bar; and a long run of all three classes is a token.
fn wordish(part: &str) -> bool {
    if !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let mixed = part.bytes().any(|b| b.is_ascii_lowercase())
        && part.bytes().any(|b| b.is_ascii_uppercase());
    // Twenty characters and more of capitals, lowercase and digits with no separator: a token,
    // unless its humps are words and its digits a version or a size (`PrivateKeyAttributesV2`,
    // `NonEmptyMaxLength64String`, `imdsV2SessionTokenUrl`: generated type and property names,
    // #14), which no random value has.
    if mixed && part.len() >= 20 && part.bytes().any(|b| b.is_ascii_digit()) && !camel_words(part) {
        return false;
    }
    let (mut letters, mut letter_humps, mut digit_runs) = (0, 0, 0);
    for h in humps(part) {
        if h.bytes().all(|b| b.is_ascii_digit()) {
            if h.len() > 4 {
                return false;
            }
            digit_runs += 1;
        } else {
            let capitals = h.bytes().all(|b| b.is_ascii_uppercase());
            letters += if mixed && capitals { h.len().min(4) } else { h.len() };
            letter_humps += 1;
        }
    }
    // Short parts (`X`, `db`, `9`, `at`) are words of their own.
    if part.len() <= 3 || letter_humps == 0 {
        return part.len() <= 4;
    }
    digit_runs <= 2 && letters >= 3 * letter_humps && digit_runs <= letter_humps
}

/// Camel humps that are all words of three letters or more (`Private`, `Key`, `imds`) or
/// acronyms of three or four capitals, a version marker `V` or `v` before its number (`V2`),
/// and digit runs of at most four that follow a word (`Length64`, `String1600`). A random token
/// breaks into one- and two-letter humps and unpronounceable runs, and its digits stand
/// anywhere.
fn camel_words(part: &str) -> bool {
    let humps: Vec<&str> = humps(part).collect();
    let digits = |h: &str| h.bytes().all(|b| b.is_ascii_digit());
    let upper = |h: &str| h.bytes().all(|b| b.is_ascii_uppercase());
    humps.iter().enumerate().all(|(i, h)| {
        if digits(h) {
            h.len() <= 4 && i > 0 && (matches!(humps[i - 1], "V" | "v") || !upper(humps[i - 1]))
        } else if matches!(*h, "V" | "v") {
            humps.get(i + 1).is_some_and(|next| digits(next))
        } else if upper(h) {
            // An acronym (`IMDS`, `URL`); the long capital runs of random text are not.
            (3..=4).contains(&h.len())
        } else {
            h.len() >= 3 && (word_hump(h, i == 0) || spelled(h))
        }
    }) && humps.iter().filter(|h| !digits(h)).count() >= 3
}

/// A lowercase or capitalized word with a vowel and no consonant run over four (`String`,
/// `Chunks`), for the humps of [`camel_words`], whose other conditions keep random text out.
fn spelled(hump: &str) -> bool {
    let lower = hump.to_ascii_lowercase();
    let longest_consonants =
        lower.split(|c: char| "aeiouy".contains(c)).map(str::len).max().unwrap_or_default();
    hump.bytes().skip(1).all(|b| b.is_ascii_lowercase())
        && lower.contains(|c: char| "aeiouy".contains(c))
        && longest_consonants <= 4
}

/// Weak words: defaults, placeholders and the classics of password lists, plus "password" and
/// "secret" in a few languages. A value made of nothing else carries no secret.
const WEAK_WORDS: &[&str] = &[
    "password",
    "passwort",
    "passwd",
    "pass",
    "pwd",
    "secret",
    "secrets",
    "geheim",
    "parole",
    "contrasena",
    "senha",
    "wachtwoord",
    "motdepasse",
    "changeme",
    "change",
    "me",
    "test",
    "testing",
    "tester",
    "admin",
    "administrator",
    "root",
    "user",
    "guest",
    "default",
    "letmein",
    "let",
    "in",
    "welcome",
    "qwerty",
    "hunter",
    "foo",
    "bar",
    "baz",
    "qux",
    "example",
    "sample",
    "dummy",
    "fake",
    "mock",
    "placeholder",
    "redacted",
    "my",
    "your",
    "super",
    "top",
    "open",
    "sesame",
    "demo",
    "dev",
    "local",
    "localhost",
    "abc",
    "xyz",
    "token",
    "key",
    "api",
    "value",
    "hello",
    "world",
    "dragon",
    "monkey",
    "master",
    "login",
    "access",
    "private",
    "public",
    "none",
    "null",
    "nil",
    "todo",
    "fixme",
    "xxx",
    "mysql",
    "postgres",
    "oracle",
    "db",
    "new",
    "old",
];

/// Short, mostly punctuation, repeated or sequential characters, digits only, or nothing but
/// weak words.
fn low_information(text: &str) -> bool {
    // A handful of characters, or mostly punctuation: test tables and separators.
    let chars = text.chars().count();
    if chars < 6 || text.chars().filter(|c| c.is_alphanumeric()).count() * 2 < chars {
        return true;
    }
    let bytes = text.as_bytes();
    let mut distinct: Vec<u8> = bytes.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() <= 2 || (bytes.len() >= 8 && distinct.len() <= 3) {
        return true;
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b"-. ".contains(&b)) || timestamp(text) {
        return true;
    }
    // Elided in documentation: `MGYZLAHX1T5a....`, `sk_live_…`.
    if text.ends_with("...") || text.ends_with('…') {
        return true;
    }
    // One short pattern repeated (`abcabcabc`).
    if (1..=bytes.len() / 2)
        .any(|p| bytes.len().is_multiple_of(p) && bytes.chunks(p).all(|c| c == &bytes[..p]))
    {
        return true;
    }
    if sequential(bytes) {
        return true;
    }
    weak_words(text) || dictionary_like(text)
}

/// An ISO 8601 date or time (`2016-09-08`, `2016-09-08T21:47:36Z`, `...+02:00`): a field such
/// as `PasswordLastUsed` holds when, not what.
fn timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && b[10..].iter().all(|c| c.is_ascii_digit() || b"T:.+-Z ".contains(c))
}

/// One lowercase word that reads like a word (`butterfly`, `repository`, `getpwuid`): vowels
/// throughout and no long consonant clusters, which random letters rarely manage.
fn dictionary_like(text: &str) -> bool {
    text.len() >= 6 && text.bytes().all(|b| b.is_ascii_lowercase()) && pronounceable(text)
}

/// Most neighbours one apart (`abcdef`, `654321`), or a keyboard row (`qwerty`, `asdfgh`).
fn sequential(bytes: &[u8]) -> bool {
    if bytes.len() < 4 {
        return false;
    }
    let steps = bytes.windows(2).filter(|w| w[1].abs_diff(w[0]) == 1).count();
    if steps * 5 >= (bytes.len() - 1) * 4 {
        return true;
    }
    let lower = String::from_utf8_lossy(bytes).to_ascii_lowercase();
    let core = lower.trim_end_matches(|c: char| !c.is_ascii_alphabetic());
    core.len() >= 5
        && ["qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890"].iter().any(|row| row.contains(core))
}

/// The value is nothing but weak words, once trailing digits and symbols are dropped and
/// leetspeak (`p@ssw0rd`) is read back.
fn weak_words(text: &str) -> bool {
    let lower = text.to_lowercase();
    let core = letter_core(&lower);
    if core.is_empty() {
        return false;
    }
    let split = core.split(|c: char| !c.is_alphabetic()).filter(|w| !w.is_empty());
    segmentable(&leet(core)) || split.clone().count() > 0 && split.clone().all(segmentable)
}

/// The text without its leading and trailing digits and symbols (`123pass!` → `pass`).
fn letter_core(lower: &str) -> &str {
    lower
        .trim_end_matches(|c: char| !c.is_alphabetic())
        .trim_start_matches(|c: char| !c.is_alphabetic())
}

/// Leetspeak read back as letters (`p@ssw0rd` → `password`); other non-letters dropped.
fn leet(core: &str) -> String {
    core.chars()
        .filter_map(|c| match c {
            '0' => Some('o'),
            '1' => Some('i'),
            '3' => Some('e'),
            '4' | '@' => Some('a'),
            '5' | '$' => Some('s'),
            '7' => Some('t'),
            c if c.is_alphabetic() => Some(c),
            _ => None,
        })
        .collect()
}

/// Weak words that someone dressed up as a password: at least six characters, letters with two
/// or more digits or symbols (`admin123`, `s3cr3tP4ss`, `hunter22`), but none of the shapes
/// that placeholders take: a repeated or sequential run, digits only, an elision, the one-digit
/// jokes of documentation (`hunter2`, `secret1`), or the word "password" itself however dressed
/// (`P@ssw0rd123!`, `Password1!`), the stock placeholder of every tutorial.
fn guessable(text: &str) -> bool {
    let lower = text.to_lowercase();
    if matches!(leet(letter_core(&lower)).as_str(), "password" | "passwort" | "passwd") {
        return false;
    }
    let bytes = text.as_bytes();
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    let others = text.chars().filter(|c| !c.is_alphabetic() && !c.is_whitespace()).count();
    text.chars().count() >= 6
        && letters >= 3
        && others >= 2
        && !text.contains(char::is_whitespace)
        && !text.ends_with("...")
        && !sequential(bytes)
        && weak_words(text)
}

/// `word` is a concatenation of [`WEAK_WORDS`].
fn segmentable(word: &str) -> bool {
    let n = word.len();
    if n == 0 {
        return false;
    }
    let mut reach = vec![false; n + 1];
    reach[0] = true;
    for i in 0..n {
        if !reach[i] || !word.is_char_boundary(i) {
            continue;
        }
        for w in WEAK_WORDS {
            if word[i..].starts_with(w) {
                reach[i + w.len()] = true;
            }
        }
    }
    reach[n]
}

/// Strong: three character classes, or two with the length and entropy of a generated value.
fn strength(text: &str) -> Strength {
    let classes = [
        text.bytes().any(|b| b.is_ascii_lowercase()),
        text.bytes().any(|b| b.is_ascii_uppercase()),
        text.bytes().any(|b| b.is_ascii_digit()),
        text.bytes().any(|b| !b.is_ascii_alphanumeric() && b != b' '),
    ]
    .iter()
    .filter(|&&c| c)
    .count();
    let long_random = text.len() >= 12 && entropy::shannon(text.as_bytes()) >= 3.3;
    // A passphrase of four or more words (diceware) is strong by design.
    let passphrase = text.split_whitespace().count() >= 4 && text.len() >= 20;
    if classes >= 3 || (classes >= 2 && long_random) || passphrase {
        Strength::Strong
    } else {
        Strength::Weak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(value: &str) -> Result<Strength, Reason> {
        judge(value.as_bytes())
    }

    #[test]
    fn published_samples() {
        for v in [
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBu",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
            "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
            "2YotnFZFEjr1zCsicMWpAA",
            "czZCaGRSa3F0MzpnWDFmQmF0M2JW",
            "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
        ] {
            assert_eq!(verdict(v), Err(Reason::PublishedSample), "{v}");
        }
    }

    #[test]
    fn references_and_templates() {
        for v in [
            "$PRECOMPILE_PASSWORD",
            "${DB_PASSWORD}",
            "$(cat /run/secrets/db)",
            "%(db_password)s",
            "{{ .Values.secretKey }}",
            "{{vault_db_password}}",
            "#{secrets.token}",
            "{password}",
            "<your-api-key>",
            "<password>",
            "os.environ['TOKEN']",
            "os.getenv(\"TOKEN\")",
            "process.env.API_TOKEN",
            "getSecretFromStore(name)",
            "vault:secret/data/prod#key",
            "ENC(MLNJi7v4u1vu2hoI6I/MnK00)",
            "#add-password",
            "@password_field",
            "&default_token",
            "[[ .Token ]]",
            "Settings::SECRET",
            // Found in an npm tree (firebase, axios, webpack, aws-sdk):
            "!!_config.withCredentials",
            "@@webpackFullHash",
            "app$1.settings.appCheckToken",
            "StreamDescription.Shards[-1].ShardId",
            "[claim_signature]",
            "[secret_block]",
            // Found in git's history:
            "\\npassword_expiry_utc=%s",
            "\\noauth_refresh_token=%s",
            "token: %v",
            "user=%s&pass=%-12s",
        ] {
            assert_eq!(verdict(v), Err(Reason::Reference), "{v}");
        }
    }

    #[test]
    fn paths_urls_and_hosts() {
        for v in [
            "some/path/to/credentials-file",
            "C:\\users\\user\\.aws\\credentials",
            "/var/run/secrets/kubernetes.io/serviceaccount/token",
            "./secrets/token.txt",
            "~/.ssh/id_rsa",
            "/api/tokens/:id",
            "https://auth.example.org/oauth/token",
            "www.python.org:080",
            "localhost:22",
            "db.internal",
            ".env.local",
        ] {
            assert_eq!(verdict(v), Err(Reason::Path), "{v}");
        }
    }

    #[test]
    fn natural_language_in_any_script() {
        for v in [
            "Password:",
            "Enter your API key",
            "Mot de passe",
            "Contraseña",
            "Passwort eingeben:",
            "パスワードを入力してください",
            "Пароль",
            "密码",
            "비밀번호를 입력하세요",
            "كلمة المرور",
            "The token is invalid.",
            "Registry Realm",
            "at least 8 characters",
        ] {
            assert_eq!(verdict(v), Err(Reason::NaturalLanguage), "{v}");
        }
    }

    #[test]
    fn identifiers_constants_and_names() {
        for v in [
            "MLKEM512_SECRET_KEY_BYTES",
            "SSH2_MLKEM_768_PRIVATE_KEY_LEN",
            // Class names of generated API clients (an npm tree's googleapis, #14).
            "Resource$Projects$Locations$Secrets",
            "Resource$Enterprises$Enrollmenttokens",
            "Resource$Inboundsamlssoprofiles$Idpcredentials",
            "setct-PANToken",
            "Win32_System_LibraryLoader",
            "pkcs-9-at-pkcs15Token",
            "id-PasswordBasedMac",
            "credentialId",
            "X-Amz-Credential",
            "X-Amz-Security-Token",
            "Access-Control-Allow-Headers",
            "auth.token.refresh",
            "api_key_header",
            "YOUR_API_KEY_HERE",
            "clientSecretKey",
            "AWS_SECRET_ACCESS_KEY",
            "Config.Secret",
            "CircleOfLife",
            "NSRecursiveLock",
            "CRYPTO_dynlock",
            "bpki-ct-setpwd-req",
            "correct-horse-battery-staple",
            "identitytoolkit#VerifyPasswordResponse",
            "PassphraseBlob",
            "github-actions[bot]",
            "dependabot[bot]",
            // Found in an npm tree (aws-sdk, google-auth-library, googleapis, #14): type names
            // with a version or a size, property chains of them, a capitalized API name.
            "PrivateKeyAttributesV2",
            "PrivateKeyAttributesV4",
            "NonEmptySensitiveString1600",
            "NonEmptyMaxLength64String",
            "opts.imdsV2SessionTokenUrl",
            "this.imdsV2SessionTokenUrl",
            "Iamcredentials",
            "Idptokens",
        ] {
            assert_eq!(verdict(v), Err(Reason::Identifier), "{v}");
        }
    }

    /// Near the names above, values that are still secrets: digits that are not a version or a
    /// size after a word, short humps, a capitalized word that ends in no name word.
    #[test]
    fn near_names_secrets_pass() {
        for v in [
            "PrivateKeyAttributesV2x9Q",
            "Xk7pQ2vLm9zWPrivateKeyAttr",
            "7PrivateKeyAttributesVxQ",
            "opts.imdsV2Sess7onTokenUrlQ9",
            "Iamcredentialz",
            "Qzxcredentials",
        ] {
            assert!(verdict(v).is_ok(), "{v}: {:?}", verdict(v));
        }
    }

    #[test]
    fn low_information_values() {
        for v in [
            "changeme",
            "test",
            "password",
            "p@ssw0rd",
            "Password123!",
            "hunter2",
            "opensesame",
            "secret1",
            "geheim$parole",
            "testpassword",
            "aaaaaaaaaa",
            "xxxxxxxxxxxx",
            "abcabcabcabc",
            "abcdefghij",
            "1234567890",
            "9876543210",
            "qwerty123",
            "ababababab",
            "pass%5B%7F",
            "%00%01%09%0A",
            "user:pass@localhost:3000",
            "%3A%40c",
            "pass[\\u007F",
            "%20!%22$%&'()*+,-.%3A%3B%3C%3D%3E%40%5B%5D%5E_%60%7B%7C%7D~",
            "abc12",
            "butterfly",
            "repository",
            "getpwuid",
            "2016-09-08T21:47:36Z",
            "2024-05-01 10:00:00+02:00",
            "MGYZLAHX1T5a....",
        ] {
            assert_eq!(verdict(v), Err(Reason::LowInformation), "{v}");
        }
    }

    /// Weak words with digits, symbols or leetspeak: set as passwords, never as placeholders.
    #[test]
    fn guessable_passwords() {
        for v in
            ["hunter22", "admin123", "s3cr3tP4ss", "Pass!12345", "app:admin123@db.internal:3306"]
        {
            assert_eq!(verdict(v), Err(Reason::Guessable), "{v}");
        }
        // The shapes placeholders take stay low in information.
        for v in ["qwerty123", "pass...", "test 123", "hunter2", "P@ssw0rd123!", "Password1!"] {
            assert_ne!(verdict(v), Err(Reason::Guessable), "{v}");
        }
    }

    #[test]
    fn secrets_pass_with_their_strength() {
        for v in [
            "9f8Kq2LmZx7Vb3Nw5Rt1",
            "dRJJAeDS59CbK7WIBQUrSnbVUyHUXCUb",
            "hG7#kL9x!Qm2vP4z",
            "Tr0ub4dor&3x",
            "u_Zk2ifzEgWnX2ln8k1Zga_Km29OQ7HIdTS7tXFDIBJtO5_n",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8wLmKEY1",
            "c2VjcmV0LXZhbHVlLXdpdGgtd29yZHM=",
            "5f4dcc3b5aa765d61d8327deb882cf99",
            "Пароль2024!x",
            "admin:Xk7pQ2vLm9zW@db.internal:5432",
            "correct horse battery staple",
            "nqTocTcCMkgCEtflhcC",
            // Near the new rejections, still secrets:
            "Pa$$w0rd.Kx9v",
            "[Xk7pQ2vLm9zW]",
            "!Xk7pQ2vLm9zW",
            "2016-09-08Xk7pQ2vLm9zW",
            "Xk7%sQ2vLm9zW",
            "Xk7pQ2vLm9zW[bot]",
        ] {
            assert_eq!(verdict(v), Ok(Strength::Strong), "{v}");
        }
        // Hard positives a naive model would drop: letters only, words, spaces.
        assert_eq!(verdict("qhzvxkrtplmnwq"), Ok(Strength::Weak));
    }

    /// Random base62 values of secret length are never mistaken for names, paths or words (a
    /// fixed-seed generator, so a failure reproduces).
    #[test]
    fn random_values_are_never_rejected() {
        const A62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for i in 0..2000 {
            let len = 16 + (i % 33);
            let v: String = (0..len).map(|_| A62[(next() % 62) as usize] as char).collect();
            assert!(verdict(&v).is_ok(), "{v}: {:?}", verdict(&v));
        }
        // AWS secret access keys: 40 base64 characters, often with a `/`, which once made the
        // value read as a two-part path (`BXRF…zWY/i`, found by the #16 tests).
        assert!(verdict("BXRFYFVloP76szRbLgheYLWXTB3pRBFCHuqzWY/i").is_ok());
        for _ in 0..2000 {
            let mut v: Vec<u8> = (0..40).map(|_| A62[(next() % 62) as usize]).collect();
            let at = 1 + (next() % 38) as usize;
            v[at] = b'/';
            let v = String::from_utf8(v).expect("ascii");
            assert!(verdict(&v).is_ok(), "{v}: {:?}", verdict(&v));
        }
    }
}
