//! Signed tokens: `$skiptoken` (the offset of the next page) and the delta round's tokens, each
//! bound by a MAC to what it continues, so a token is opaque to clients and a tampered one is
//! refused.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::rng::hash64;

/// The MAC over the seed, what the token is bound to and its text.
fn mac(seed: u64, binding: &str, raw: &str) -> u64 {
    hash64(format!("{seed}\u{0}{binding}\u{0}{raw}").as_bytes())
}

/// `raw`, signed for `binding`: base64url of `{raw}.{mac:016x}`.
pub(crate) fn seal(seed: u64, binding: &str, raw: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{raw}.{:016x}", mac(seed, binding, raw)))
}

/// The text `token` carries, if it was sealed for `binding`.
pub(crate) fn open(seed: u64, binding: &str, token: &str) -> Option<String> {
    let raw = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
    let mut raw = String::from_utf8(raw).ok()?;
    // The last dot: the text may hold dots of its own (a delta round's fields).
    let (body, tag) = raw.rsplit_once('.')?;
    let tag = u64::from_str_radix(tag, 16).ok()?;
    if tag != mac(seed, binding, body) {
        return None;
    }
    raw.truncate(body.len());
    Some(raw)
}

/// A token for `offset` within the request `canonical` describes.
pub(crate) fn encode(seed: u64, canonical: &str, offset: usize) -> String {
    seal(seed, canonical, &offset.to_string())
}

/// The offset in `token`, if it was issued for `canonical`.
pub(crate) fn decode(seed: u64, canonical: &str, token: &str) -> Option<usize> {
    open(seed, canonical, token)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_to_request() {
        let t = encode(1, "a", 20);
        assert_eq!(decode(1, "a", &t), Some(20));
        assert_eq!(decode(1, "b", &t), None);
        assert_eq!(decode(2, "a", &t), None);
        assert_eq!(decode(1, "a", "garbage"), None);
        let forged = URL_SAFE_NO_PAD.encode("30.0000000000000000");
        assert_eq!(decode(1, "a", &forged), None);
    }
}
