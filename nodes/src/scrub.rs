//! Keeping secrets out of what Weft shows: the one place that decides which names look secret
//! and that removes known secret values from text a server sent back.
//!
//! A server may echo what it was sent — a token endpoint its form body in `error_description`,
//! an API the `Authorization` header in an error message — and by then a secret is no longer
//! in the form it was given: it is percent-encoded (either case of hex), form-encoded (`+` for
//! a space), base64-encoded (the HTTP Basic value `base64(id:secret)`, or the secret alone) or
//! JSON-escaped. [`Scrubber`] finds every one of these forms. It decodes the text it searches
//! (percent escapes, JSON escapes, `+` as a space) and looks for the secrets decoded the same
//! way, so one search finds a secret however it was encoded, and the match is cut out of the
//! original text.

use crate::secret::Secret;
use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

/// What stands where a secret was.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not searched for: scrubbing every `abc` from messages would
/// make them unreadable and protect nothing.
pub const MIN_SECRET_LEN: usize = 4;

/// Whether a JSON key names a credential (`client_secret`, `access_token`, `Authorization`, …):
/// its value is redacted in traces and wherever values are shown. A key that names something
/// *about* a credential — its type, lifetime, address or name (`token_type`, `tokenType`,
/// `token_endpoint`, `secret_name`, `password_expires_at`) — is not: its value says what a
/// credential is, not what it holds, and hiding `"Bearer"` only misleads whoever reads a trace.
/// Fields that name no credential at all (`expires_in`, `scope`, an error `code`) never were.
pub fn is_secret_name(key: &str) -> bool {
    // Compared without case, `_` or `-`: `token_type`, `tokenType` and `Token-Type` alike.
    let key: String =
        key.chars().filter(|c| !matches!(c, '_' | '-')).map(|c| c.to_ascii_lowercase()).collect();
    let names_credential = [
        "token",
        "secret",
        "password",
        "passwd",
        "authorization",
        "apikey",
        "credential",
        "assertion",
    ]
    .iter()
    .any(|s| key.contains(s));
    let describes_one = [
        "type",
        "typehint",
        "url",
        "uri",
        "endpoint",
        "expiresin",
        "expiresat",
        "expiry",
        "expiration",
        "name",
        "id",
        "length",
        "count",
    ]
    .iter()
    .any(|s| key.ends_with(s));
    names_credential && !describes_one
}

/// Whether a query or form parameter name looks secret (`access_token`, `api_key`, `sig`,
/// `code`, `client_assertion`, …). Broader than [`is_secret_name`]: in a URL or a token request
/// a `code` is an authorization code and a `key` a credential.
pub fn is_secret_param(name: &str) -> bool {
    is_secret_name(name) || {
        let name = name.to_ascii_lowercase();
        ["key", "sig", "code", "auth"].iter().any(|s| name.contains(s))
    }
}

/// A form (`name=value` pairs joined by `&`) with the values of secret-looking fields
/// ([`is_secret_param`]: `client_secret`, `code`, `assertion`, …) replaced by [`REDACTED`].
pub fn redact_form(form: &str) -> String {
    form.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_param(name) => format!("{name}={REDACTED}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Replaces the values of keys that name a credential ([`is_secret_name`]), at any depth.
pub fn redact(value: &mut Value) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if is_secret_name(key) {
                        *v = Value::String(REDACTED.into());
                    } else {
                        stack.push(v);
                    }
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

/// The secrets a [`Scrubber`] looks for: secret values, and client credentials as HTTP Basic
/// sends them.
#[derive(Debug, Clone, Default)]
pub struct KnownSecrets {
    secrets: Vec<Secret>,
    clients: Vec<(String, Secret)>,
}

impl KnownSecrets {
    /// Nothing known yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secret (client secret, token, password, code, key).
    pub fn add(&mut self, secret: &Secret) -> &mut Self {
        if !self.secrets.contains(secret) {
            self.secrets.push(secret.clone());
        }
        self
    }

    /// Adds a client's secret and the credentials HTTP Basic makes of it with `id`:
    /// `base64(id:secret)`, also with both form-encoded first (as OAuth 2.0 asks, RFC 6749
    /// §2.3.1), so that a whole echoed `Basic …` value goes.
    pub fn add_client(&mut self, id: &str, secret: &Secret) -> &mut Self {
        self.add(secret);
        if !self.clients.iter().any(|(i, s)| i == id && s == secret) {
            self.clients.push((id.to_owned(), secret.clone()));
        }
        self
    }

    /// Adds everything `other` knows.
    pub fn extend(&mut self, other: &KnownSecrets) -> &mut Self {
        for secret in &other.secrets {
            self.add(secret);
        }
        for (id, secret) in &other.clients {
            self.add_client(id, secret);
        }
        self
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The scrubber for these secrets.
    pub fn scrubber(&self) -> Scrubber {
        let mut needles = BTreeSet::new();
        for secret in &self.secrets {
            secret_needles(secret.expose(), &mut needles);
        }
        for (id, secret) in &self.clients {
            let secret = secret.expose();
            if secret.len() < MIN_SECRET_LEN {
                continue;
            }
            for (id, secret) in [(id.clone(), secret.to_owned()), (form(id), form(secret))] {
                let pair = format!("{id}:{secret}");
                for engine in [STANDARD, URL_SAFE] {
                    needles.insert(decode(&engine.encode(&pair)).bytes.into_owned());
                }
            }
        }
        needles.retain(|n| n.len() >= MIN_SECRET_LEN);
        if needles.is_empty() {
            return Scrubber::default();
        }
        // Leftmost-longest: a whole `Basic` value wins over the secret's own part of it.
        let finder =
            AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(&needles).ok();
        Scrubber { finder }
    }
}

/// Removes known secrets, in any of the forms they take on the wire, from text. Built by
/// [`KnownSecrets::scrubber`]; cheap to clone. The default scrubber knows nothing and changes
/// nothing.
#[derive(Clone, Default)]
pub struct Scrubber {
    finder: Option<AhoCorasick>,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let patterns = self.finder.as_ref().map_or(0, AhoCorasick::patterns_len);
        f.debug_struct("Scrubber").field("patterns", &patterns).finish()
    }
}

impl Scrubber {
    /// Whether it knows no secret (and so changes nothing).
    pub fn is_empty(&self) -> bool {
        self.finder.is_none()
    }

    /// `text` with every known secret, however encoded, replaced by [`REDACTED`].
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(finder) = &self.finder else { return Cow::Borrowed(text) };
        let decoded = decode(text);
        let mut out = String::new();
        let mut copied = 0;
        let mut any = false;
        for found in finder.find_iter(decoded.bytes.as_ref()) {
            let mut start = decoded.original(found.start()).max(copied);
            let mut end = decoded.original(found.end()).min(text.len()).max(start);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            while !text.is_char_boundary(end) {
                end += 1;
            }
            start = start.max(copied);
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = end;
            any = true;
        }
        if !any {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }

    /// Scrubs every string (and object key) of a JSON value, at any depth.
    pub fn scrub_json(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        let mut stack = vec![value];
        while let Some(value) = stack.pop() {
            match value {
                Value::String(text) => {
                    if let Cow::Owned(clean) = self.scrub(text) {
                        *text = clean;
                    }
                }
                Value::Array(items) => stack.extend(items.iter_mut()),
                Value::Object(map) => {
                    if map.keys().any(|k| matches!(self.scrub(k), Cow::Owned(_))) {
                        let members = std::mem::take(map);
                        for (key, v) in members {
                            map.insert(self.scrub(&key).into_owned(), v);
                        }
                    }
                    stack.extend(map.values_mut());
                }
                _ => {}
            }
        }
    }
}

/// Every form of `secret` a search of decoded text must look for: the secret decoded as text
/// is (a `%41` in it read as `A`), the secret as sent (its `+` read as a space, as text's are),
/// and its base64 at each of the three alignments it can have inside a longer base64 value
/// (the characters that depend on its bytes only), in both alphabets, of the secret and of its
/// form encoding.
fn secret_needles(secret: &str, needles: &mut BTreeSet<Vec<u8>>) {
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    needles.insert(decode(secret).bytes.into_owned());
    needles.insert(plus_as_space(secret.as_bytes()));
    let form = form(secret);
    for text in [secret, form.as_str()] {
        for engine in [STANDARD, URL_SAFE] {
            for offset in 0..3 {
                let mut bytes = vec![0u8; offset];
                bytes.extend_from_slice(text.as_bytes());
                let encoded = engine.encode(&bytes);
                // Characters whose six bits all come from the secret.
                let first = (8 * offset).div_ceil(6);
                let last = 8 * bytes.len() / 6;
                if let Some(part) = encoded.get(first..last) {
                    needles.insert(plus_as_space(part.as_bytes()));
                }
            }
        }
    }
}

/// `application/x-www-form-urlencoded` encoding, as token requests use it.
fn form(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn plus_as_space(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect()
}

/// Text decoded for searching: percent escapes and JSON escapes replaced by what they stand
/// for, and `+` read as a space (so `a+b`, `a%2Bb` and `a b` all read `a b`), with what is
/// needed to map a position back to the text.
struct Decoded<'a> {
    bytes: Cow<'a, [u8]>,
    /// After each escape: (position in `bytes`, position in the text). Between these marks,
    /// positions move in step.
    marks: Vec<(usize, usize)>,
}

impl Decoded<'_> {
    /// The text position of decoded position `at` (the start of what produced that byte).
    fn original(&self, at: usize) -> usize {
        match self.marks.partition_point(|&(decoded, _)| decoded <= at) {
            0 => at,
            i => {
                let (decoded, text) = self.marks[i - 1];
                text + (at - decoded)
            }
        }
    }
}

/// What an escape stands for.
enum Unit {
    Byte(u8),
    Char(char),
}

fn decode(text: &str) -> Decoded<'_> {
    let bytes = text.as_bytes();
    if !bytes.iter().any(|b| matches!(b, b'%' | b'\\' | b'+')) {
        return Decoded { bytes: Cow::Borrowed(bytes), marks: Vec::new() };
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut marks = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let escape = match bytes[i] {
            b'%' => percent(&bytes[i..]).map(|b| (Unit::Byte(b), 3)),
            b'\\' => json_escape(&bytes[i..]).map(|(c, len)| (Unit::Char(c), len)),
            _ => None,
        };
        let Some((unit, len)) = escape else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
            continue;
        };
        match unit {
            // A percent escape is one byte, which need not be a character of its own.
            Unit::Byte(byte) => out.push(if byte == b'+' { b' ' } else { byte }),
            Unit::Char(c) => out.extend(plus_as_space(c.encode_utf8(&mut [0u8; 4]).as_bytes())),
        }
        i += len;
        marks.push((out.len(), i));
    }
    Decoded { bytes: Cow::Owned(out), marks }
}

/// The byte of a `%XX` escape at the start of `bytes` (either case of hex).
fn percent(bytes: &[u8]) -> Option<u8> {
    let hex = bytes.get(1..3)?;
    let text = std::str::from_utf8(hex).ok()?;
    u8::from_str_radix(text, 16).ok().filter(|_| hex.iter().all(u8::is_ascii_hexdigit))
}

/// The character of a JSON escape at the start of `bytes`, and the escape's length; a
/// surrogate pair is one character.
fn json_escape(bytes: &[u8]) -> Option<(char, usize)> {
    let simple = match bytes.get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let high = hex4(bytes.get(2..6)?)?;
            if let Some(c) = char::from_u32(high) {
                return Some((c, 6));
            }
            // A surrogate: a character only with its other half.
            let low =
                bytes.get(6..8).filter(|u| *u == b"\\u").and_then(|_| hex4(bytes.get(8..12)?))?;
            if !(0xD800..0xDC00).contains(&high) || !(0xDC00..0xE000).contains(&low) {
                return None;
            }
            let c = char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?;
            return Some((c, 12));
        }
        _ => return None,
    };
    Some((simple, 2))
}

fn hex4(bytes: &[u8]) -> Option<u32> {
    if !bytes.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(bytes).ok()?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "weft-client";
    const SECRET: &str = "Xy8Q~Ab Cd+/=é-ünï\"\\z";

    fn scrubber() -> Scrubber {
        KnownSecrets::new().add_client(ID, &Secret::new(SECRET)).scrubber()
    }

    fn percent_encoded(text: &str, lower: bool, space_as_plus: bool) -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                b' ' if space_as_plus => "+".into(),
                _ if lower => format!("%{b:02x}"),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    fn json_ascii(text: &str) -> String {
        let mut out = String::new();
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' => out.push_str("\\/"),
                c if c.is_ascii() => out.push(c),
                c => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04X}"));
                    }
                }
            }
        }
        out
    }

    /// Every form of the secret the wire may show.
    fn forms() -> Vec<(&'static str, String)> {
        let form = form(SECRET);
        vec![
            ("raw", SECRET.to_owned()),
            ("form-encoded", form.clone()),
            ("form-encoded, lower-case hex", percent_encoded(SECRET, true, true)),
            ("percent-encoded", percent_encoded(SECRET, false, false)),
            ("percent-encoded, lower-case hex", percent_encoded(SECRET, true, false)),
            ("JSON-escaped", serde_json::to_string(SECRET).unwrap()),
            ("JSON-escaped, ASCII only", json_ascii(SECRET)),
            ("base64", STANDARD.encode(SECRET)),
            ("base64url", URL_SAFE.encode(SECRET)),
            ("Basic value", format!("Basic {}", STANDARD.encode(format!("{ID}:{SECRET}")))),
            (
                "Basic value, form-encoded",
                format!("Basic {}", STANDARD.encode(format!("{ID}:{form}"))),
            ),
            ("base64 after another id", STANDARD.encode(format!("someone-else:{SECRET}"))),
            ("base64 after a one-letter id", STANDARD.encode(format!("a:{SECRET}"))),
            (
                "form body in JSON",
                json_ascii(&format!("grant_type=x&client_secret={form}&scope=y")),
            ),
        ]
    }

    #[test]
    fn every_form_of_a_secret_goes() {
        let scrubber = scrubber();
        for (name, form) in forms() {
            let text = format!("the server said: <{form}> (end)");
            let clean = scrubber.scrub(&text);
            assert!(clean.contains(REDACTED), "{name}: {clean}");
            assert!(clean.starts_with("the server said: <"), "{name}: {clean}");
            assert!(clean.ends_with("> (end)"), "{name}: {clean}");
            for (other, form) in forms() {
                assert!(!clean.contains(&form), "{name}: {other} left in {clean}");
            }
            for part in ["Xy8Q", "ünï", "WHk4U", "Cd+/", "Cd%2B"] {
                assert!(!clean.contains(part), "{name}: {part} left in {clean}");
            }
        }
    }

    #[test]
    fn text_without_secrets_is_borrowed_and_unchanged() {
        let scrubber = scrubber();
        for text in ["", "plain", "a+b%20c\\u00e9 %zz \\x \\ud800", "100% \\", "Xy8Q~Ab"] {
            assert!(matches!(scrubber.scrub(text), Cow::Borrowed(t) if t == text), "{text}");
        }
        assert!(Scrubber::default().is_empty());
        let short = KnownSecrets::new().add(&Secret::new("abc")).scrubber();
        assert!(short.is_empty(), "secrets under {MIN_SECRET_LEN} bytes are not searched");
    }

    #[test]
    fn json_values_are_scrubbed_in_strings_and_keys() {
        let scrubber = scrubber();
        let mut value = serde_json::json!({
            "echo": [{ "body": format!("client_secret={}", form(SECRET)) }],
            SECRET: 1,
            "n": 2,
        });
        scrubber.scrub_json(&mut value);
        let text = value.to_string();
        assert!(!text.contains("Xy8Q"), "{text}");
        assert_eq!(value["echo"][0]["body"], "client_secret=[redacted]");
        assert_eq!(value[REDACTED], 1);
        assert_eq!(value["n"], 2);
    }

    #[test]
    fn regression_token_type_bearer_was_redacted() {
        // A token response as a flow keeps it: what the token is shows, the token doesn't.
        let mut v = serde_json::json!({ "access_token": "at", "refresh_token": "rt",
            "token_type": "Bearer", "tokenType": "Bearer", "expires_in": 3600,
            "scope": "Calendars.Read", "token_endpoint": "https://login.example/token",
            "client_secret": "s", "password": "p", "secret_name": "graph" });
        redact(&mut v);
        for key in ["access_token", "refresh_token", "client_secret", "password"] {
            assert_eq!(v[key], REDACTED, "{key}");
        }
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["tokenType"], "Bearer");
        assert_eq!(v["expires_in"], 3600);
        assert_eq!(v["scope"], "Calendars.Read");
        assert_eq!(v["token_endpoint"], "https://login.example/token");
        assert_eq!(v["secret_name"], "graph");
    }

    #[test]
    fn names_that_look_secret() {
        for key in ["client_secret", "Access_Token", "password", "Authorization", "x-api-key"] {
            assert!(is_secret_param(key), "{key}");
        }
        for key in ["client_secret", "Access_Token", "password", "Authorization", "api_key"] {
            assert!(is_secret_name(key), "{key}");
        }
        for key in ["code", "sig", "key"] {
            assert!(is_secret_param(key) && !is_secret_name(key), "{key}");
        }
        assert!(!is_secret_param("startDateTime") && !is_secret_name("status"));
        for key in ["refresh_token", "id_token", "client-secret", "clientSecret", "x_api_key"] {
            assert!(is_secret_name(key), "{key}");
        }
        let mut v = serde_json::json!({ "a": [{ "client_secret": "s3cr3t", "ok": 1 }], "Access_Token": "t" });
        redact(&mut v);
        assert_eq!(v["a"][0]["client_secret"], REDACTED);
        assert_eq!(v["a"][0]["ok"], 1);
        assert_eq!(v["Access_Token"], REDACTED);
    }
}
