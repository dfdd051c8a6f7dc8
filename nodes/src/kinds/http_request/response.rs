//! A response as the flow sees it: `{ status, headers, body }`, a JSON body parsed (or kept as
//! checked text when nothing in the flow reads it).

use super::HttpRequest;
use crate::node::NodeError;
use crate::services::HttpResponse;
use crate::vars::JsonText;
use rhai::{Dynamic, Map};

impl HttpRequest {
    /// `{ status, headers, body }`, the body parsed as JSON when the response says JSON; with
    /// `keep_text`, JSON is only checked and comes back beside the value (whose `body` is then
    /// `()`) as text to write at `body`.
    pub(super) fn response_value(
        &self,
        mut response: HttpResponse,
        keep_text: bool,
    ) -> Result<(Dynamic, Option<JsonText>), NodeError> {
        let is_json = response.header("content-type").is_some_and(is_json_type);
        let body = if response.body.is_empty() {
            if is_json { Dynamic::UNIT } else { Dynamic::from(String::new()) }
        } else if is_json {
            if keep_text {
                match JsonText::new(std::mem::take(&mut response.body)) {
                    Ok(text) => {
                        return Ok((Self::response_map(&response, Dynamic::UNIT), Some(text)));
                    }
                    // Not JSON: parsed below, for the error and its position.
                    Err(bytes) => response.body = bytes,
                }
            }
            crate::expr::parse_json(&response.body).map_err(|e| {
                NodeError::new(
                    "http",
                    format!(
                        "the HTTP {} response body is not valid JSON: {} (line {}, column {})",
                        response.status,
                        strip_position(&e.to_string()),
                        e.line(),
                        e.column()
                    ),
                )
                .with_status(response.status)
            })?
        } else {
            Dynamic::from(String::from_utf8_lossy(&response.body).into_owned())
        };
        Ok((Self::response_map(&response, body), None))
    }

    /// `{ status, headers, body }` of a response.
    fn response_map(response: &HttpResponse, body: Dynamic) -> Dynamic {
        let mut headers = Map::new();
        for (name, value) in &response.headers {
            match headers.get_mut(name.as_str()) {
                Some(existing) => {
                    let joined = format!("{existing}, {value}");
                    *existing = joined.into();
                }
                None => {
                    headers.insert(name.as_str().into(), value.clone().into());
                }
            }
        }
        let mut value = Map::new();
        value.insert("status".into(), Dynamic::from_int(response.status.into()));
        value.insert("headers".into(), Dynamic::from_map(headers));
        value.insert("body".into(), body);
        Dynamic::from_map(value)
    }
}

fn is_json_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json") || essence == "text/json"
}

fn strip_position(message: &str) -> &str {
    message.find(" at line ").map_or(message, |i| &message[..i])
}
