//! The URL and body as logs, traces and errors show them: query values and members whose
//! names look secret redacted, no password, bounded.

use crate::clip::{MESSAGE_MAX, clip_message_to};
use crate::scrub::{REDACTED, is_secret_param, redact, redact_form};
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

/// A request body for traces, at most [`MESSAGE_MAX`] bytes: JSON with the values of members
/// named like credentials redacted ([`redact`]); a form with secret-looking fields redacted
/// (`client_secret`, `code`, `assertion`, …); other text as it is. The run's known secrets are
/// scrubbed after, by the trace.
pub(super) fn display_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let shown = if let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&text) {
        redact(&mut value);
        value.to_string()
    } else if is_form(&text) {
        redact_form(&text)
    } else {
        text.into_owned()
    };
    clip_message_to(shown, MESSAGE_MAX)
}

/// Whether `text` reads as `application/x-www-form-urlencoded`: `name=value` pairs joined by
/// `&`, nothing a form encoder would have escaped.
fn is_form(text: &str) -> bool {
    text.contains('=')
        && text.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'{' | b'<'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_for_traces_hide_secret_members_and_fields() {
        let json = br#"{"subject":"Standup","password":"p4ss","nested":[{"client_secret":"s"}]}"#;
        let shown = display_body(json);
        assert!(!shown.contains("p4ss") && !shown.contains("\"s\""), "{shown}");
        assert!(shown.contains(r#""subject":"Standup""#), "{shown}");
        let form = b"grant_type=authorization_code&code=c0de&client_secret=s3c&scope=a+b";
        assert_eq!(
            display_body(form),
            "grant_type=authorization_code&code=[redacted]&client_secret=[redacted]&scope=a+b"
        );
        assert_eq!(display_body(b"plain text, a=b"), "plain text, a=b");
        assert!(display_body(&[b'x'; 5000]).len() < 2100);
    }

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
