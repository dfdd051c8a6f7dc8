//! The URL as logs, traces and errors show it: query values whose names look secret
//! redacted, no password.

use crate::scrub::{REDACTED, is_secret_param};
use url::Url;

/// The URL for logs and traces: query values whose names look secret are redacted.
pub(super) fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_param(&k) { REDACTED.to_owned() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.set_password(None).ok();
    shown.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_for_traces_hide_secret_query_values() {
        let url =
            Url::parse("https://x.test/a?startDateTime=2026&api_key=k1&access_token=t&$top=10")
                .unwrap();
        let shown = display_url(&url);
        assert!(!shown.contains("k1") && !shown.contains("=t&"), "{shown}");
        assert!(shown.contains("startDateTime=2026"), "{shown}");
    }
}
