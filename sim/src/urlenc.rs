//! Percent-encoding for the URLs the simulator writes (next links, redirects) and decoding for
//! the Basic credentials it reads.

/// Percent-encodes a query component, keeping RFC 3986 unreserved characters, and `$` and
/// `:` which Graph leaves readable in its next links.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'$' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string from name/value pairs.
pub(crate) fn query(pairs: &[(String, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// Appends query pairs to a URL that may already carry a query.
pub(crate) fn append_query(url: &str, pairs: &[(String, String)]) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}", query(pairs))
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space); `None` when the result
/// is not UTF-8.
pub(crate) fn decode_form(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(v) = hex {
                    out.push(v);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = "a b+c/ü:$x&y=z";
        assert_eq!(decode_form(&encode(s)).as_deref(), Some(s));
        assert_eq!(encode("2026-11-23T00:00:00+01:00"), "2026-11-23T00:00:00%2B01:00");
        assert_eq!(decode_form("a+b%2Bc%").as_deref(), Some("a b+c%"));
        assert_eq!(
            append_query("http://x/cb?a=1", &[("code".into(), "c d".into())]),
            "http://x/cb?a=1&code=c%20d"
        );
    }
}
