//! `$skiptoken`: the offset of the next page, bound by a MAC to the request it continues, so
//! a token is opaque to clients and a tampered one is refused.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::rng::hash64;

/// The MAC over the seed, the canonical request and the offset.
fn mac(seed: u64, canonical: &str, offset: usize) -> u64 {
    hash64(format!("{seed}\u{0}{canonical}\u{0}{offset}").as_bytes())
}

/// A token for `offset` within the request `canonical` describes.
pub(crate) fn encode(seed: u64, canonical: &str, offset: usize) -> String {
    let raw = format!("{offset}.{:016x}", mac(seed, canonical, offset));
    URL_SAFE_NO_PAD.encode(raw)
}

/// The offset in `token`, if it was issued for `canonical`.
pub(crate) fn decode(seed: u64, canonical: &str, token: &str) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (offset, tag) = raw.split_once('.')?;
    let offset: usize = offset.parse().ok()?;
    let tag = u64::from_str_radix(tag, 16).ok()?;
    (tag == mac(seed, canonical, offset)).then_some(offset)
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
