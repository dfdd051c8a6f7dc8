//! Status exits: a response takes the exit wired for its exact status (`404`), else for its
//! class (`4xx`), else `ok` for 2xx and an error carrying the status and the body's error code.

use super::HttpRequest;
use crate::clip::clip;
use crate::node::{NodeError, Outcome, RunCx};
use rhai::{Dynamic, Map};

/// Whether `exit` is an HTTP status exit: `404` or `4xx`.
pub fn is_status_exit(exit: &str) -> bool {
    let b = exit.as_bytes();
    b.len() == 3
        && (b'1'..=b'5').contains(&b[0])
        && ((b[1].is_ascii_digit() && b[2].is_ascii_digit()) || (b[1] == b'x' && b[2] == b'x'))
}

impl HttpRequest {
    /// The exit for a final status: the exact code if wired, then its class, then `ok` for 2xx;
    /// anything else is an error carrying the status and the body's error code.
    pub(super) fn status_exit(
        &self,
        cx: &RunCx<'_>,
        status: u16,
        value: &Dynamic,
    ) -> Result<Outcome, NodeError> {
        let exact = status.to_string();
        if cx.is_wired(&exact) {
            return Ok(Outcome::Exit(exact.into()));
        }
        let class = format!("{}xx", status / 100);
        if cx.is_wired(&class) {
            return Ok(Outcome::Exit(class.into()));
        }
        if (200..300).contains(&status) {
            return Ok(Outcome::OK);
        }
        let (code, detail) = error_details(value);
        let mut message = format!("{} answered HTTP {status}", self.method.as_str());
        if let Some(code) = &code {
            message.push_str(&format!(" {}", clip(code)));
        }
        if let Some(detail) = detail {
            message.push_str(&format!(": {}", clip(&detail)));
        }
        let err = NodeError::new("http", message).with_status(status);
        Err(match code {
            Some(code) => err.with_code(code),
            None => err,
        })
    }
}

/// The error code and message of a Graph (`{ error: { code, message } }`) or OAuth
/// (`{ error, error_description }`) error body.
fn error_details(value: &Dynamic) -> (Option<String>, Option<String>) {
    let text = |d: Option<&Dynamic>| {
        d.and_then(|d| d.clone().into_immutable_string().ok()).map(|s| s.to_string())
    };
    let Some(response) = value.read_lock::<Map>() else { return (None, None) };
    let Some(body) = response.get("body").and_then(|b| b.read_lock::<Map>().map(|m| m.clone()))
    else {
        return (None, None);
    };
    match body.get("error") {
        Some(error) if error.is_map() => {
            let error = error.read_lock::<Map>().map(|m| m.clone()).unwrap_or_default();
            (text(error.get("code")), text(error.get("message")))
        }
        Some(error) => {
            let description = text(body.get("error_description"))
                .map(|d| d.lines().next().unwrap_or("").to_owned());
            (text(Some(error)), description)
        }
        None => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_exits() {
        for exit in ["404", "4xx", "200", "5xx", "599"] {
            assert!(is_status_exit(exit), "{exit}");
        }
        for exit in ["600", "4x", "xx4", "40", "4044", "ok", "0xx"] {
            assert!(!is_status_exit(exit), "{exit}");
        }
    }
}
