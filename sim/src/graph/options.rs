//! Query options and `Prefer` preferences of a Graph collection request.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};

use crate::event::PROPERTIES;
use crate::time::{self, Tz};

use super::error::GraphError;
use super::skiptoken;

/// Largest `$top` Graph accepts.
pub(crate) const MAX_TOP: usize = 1000;
/// Page size without `$top` (Graph's observed default).
pub(crate) const DEFAULT_TOP: usize = 10;

/// The parsed options of one list request.
#[derive(Debug)]
pub(crate) struct ListOptions {
    /// Page size.
    pub(crate) top: usize,
    /// Properties to keep besides `id` and `@odata.etag`; `None` keeps all.
    pub(crate) select: Option<Vec<&'static str>>,
    /// Where this page starts.
    pub(crate) offset: usize,
    /// `$count=true`.
    pub(crate) count: bool,
    /// The request's query pairs minus paging ones, to carry into the next link.
    pub(crate) carried: Vec<(String, String)>,
    /// What a skip token is bound to.
    pub(crate) canonical: String,
    /// The `Prefer` preferences applied.
    pub(crate) prefer: Prefer,
}

/// The `Prefer` preferences Graph honours for events.
#[derive(Debug, Default, Clone)]
pub(crate) struct Prefer {
    /// `outlook.timezone` as given (Graph echoes it) and the zone it names, when it names one.
    pub(crate) time_zone: Option<(String, Tz)>,
    /// `odata.maxpagesize`.
    pub(crate) max_page_size: Option<usize>,
    /// `IdType="ImmutableId"`.
    pub(crate) immutable_id: bool,
}

/// A page size as `$top` or `odata.maxpagesize` give it: a whole number from 1 to [`MAX_TOP`].
pub(crate) fn top(value: &str) -> Option<usize> {
    value.parse().ok().filter(|n| (1..=MAX_TOP).contains(n))
}

impl Prefer {
    /// The zone `outlook.timezone` names, with its name as given.
    pub(crate) fn zone(&self) -> Option<(&str, Tz)> {
        self.time_zone.as_ref().map(|(name, tz)| (name.as_str(), *tz))
    }

    /// Reads every `Prefer` header; unknown or invalid preferences are ignored, as the
    /// `Prefer` header semantics require (RFC 7240).
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        let mut prefer = Self::default();
        for value in headers.get_all("prefer") {
            let Ok(value) = value.to_str() else { continue };
            for item in value.split(',') {
                let Some((name, v)) = item.split_once('=') else {
                    continue;
                };
                let v = v.trim().trim_matches('"').trim();
                match name.trim().to_ascii_lowercase().as_str() {
                    "outlook.timezone" => {
                        if let Some(zone) = time::zone(v) {
                            prefer.time_zone = Some((v.to_owned(), zone));
                        }
                    }
                    "odata.maxpagesize" => {
                        prefer.max_page_size = top(v);
                    }
                    // The simulator's ids never change (nothing moves between folders), so
                    // every id is immutable: the preference is honoured by being said.
                    "idtype" if v.eq_ignore_ascii_case("ImmutableId") => prefer.immutable_id = true,
                    _ => {}
                }
            }
        }
        prefer
    }

    /// The `Preference-Applied` header value, if anything was applied.
    pub(crate) fn applied(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some((tz, _)) = &self.time_zone {
            parts.push(format!("outlook.timezone=\"{tz}\""));
        }
        if let Some(n) = self.max_page_size {
            parts.push(format!("odata.maxpagesize={n}"));
        }
        if self.immutable_id {
            parts.push("IdType=\"ImmutableId\"".to_owned());
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// The value of a query option, names compared without case (as Graph does).
pub(crate) fn option<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn invalid(message: impl Into<String>) -> GraphError {
    GraphError::bad_request("ErrorInvalidParameter", message)
}

/// The calendarView window, required.
pub(crate) fn window(
    pairs: &[(String, String)],
) -> Result<(DateTime<Utc>, DateTime<Utc>), GraphError> {
    let (Some(start), Some(end)) = (option(pairs, "startDateTime"), option(pairs, "endDateTime"))
    else {
        return Err(invalid(
            "This request requires a time window specified by the query string parameters \
             StartDateTime and EndDateTime.",
        ));
    };
    let parse = |name: &str, v: &str| {
        time::parse_instant(v)
            .ok_or_else(|| invalid(format!("The value '{v}' of parameter '{name}' is invalid.")))
    };
    Ok((parse("StartDateTime", start)?, parse("EndDateTime", end)?))
}

/// Parses `$top`, `$select`, `$orderby`, `$count`, `$skip` and `$skiptoken`; `context`
/// (the resource path and user) binds skip tokens to this request.
pub(crate) fn parse(
    pairs: &[(String, String)],
    context: &str,
    seed: u64,
    prefer: Prefer,
) -> Result<ListOptions, GraphError> {
    let mut carried = Vec::new();
    let mut skiptoken = None;
    let mut skip = None;
    for (k, v) in pairs {
        let key = k.to_ascii_lowercase();
        match key.as_str() {
            "$skiptoken" => skiptoken = Some(v.as_str()),
            "$skip" => {
                skip = Some(v.parse::<usize>().map_err(|_| {
                    GraphError::bad_request("BadRequest", format!("Invalid $skip value '{v}'."))
                })?);
            }
            "$top" | "$select" | "$orderby" | "$count" => carried.push((k.clone(), v.clone())),
            _ if key.starts_with('$') => {
                return Err(GraphError::bad_request(
                    "BadRequest",
                    format!("Query option '{k}' is not supported by the simulator."),
                ));
            }
            _ => carried.push((k.clone(), v.clone())),
        }
    }
    let top = match option(pairs, "$top") {
        Some(v) => top(v).ok_or_else(|| {
            GraphError::bad_request(
                "BadRequest",
                format!("Invalid $top value '{v}': it must be an integer from 1 to {MAX_TOP}."),
            )
        })?,
        None => prefer.max_page_size.unwrap_or(DEFAULT_TOP),
    };
    let select = option(pairs, "$select").map(parse_select).transpose()?;
    if let Some(order) = option(pairs, "$orderby") {
        let normal = order.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase();
        if normal != "start/datetime" && normal != "start/datetime asc" {
            return Err(GraphError::bad_request(
                "BadRequest",
                format!(
                    "The simulator supports only $orderby=start/dateTime (ascending), not '{order}'."
                ),
            ));
        }
    }
    let count = match option(pairs, "$count") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(GraphError::bad_request(
                "BadRequest",
                format!("Invalid $count value '{other}'."),
            ));
        }
    };
    let mut sorted: Vec<String> =
        carried.iter().map(|(k, v)| format!("{}={v}", k.to_ascii_lowercase())).collect();
    sorted.sort();
    let canonical = format!("{}?{}", context.to_ascii_lowercase(), sorted.join("&"));
    let offset = match skiptoken {
        Some(token) => skiptoken::decode(seed, &canonical, token).ok_or_else(|| {
            GraphError::bad_request("BadRequest", "The $skiptoken is invalid for this request.")
        })?,
        None => skip.unwrap_or(0),
    };
    Ok(ListOptions { top, select, offset, count, carried, canonical, prefer })
}

fn parse_select(list: &str) -> Result<Vec<&'static str>, GraphError> {
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            PROPERTIES.iter().find(|known| known.eq_ignore_ascii_case(p)).copied().ok_or_else(
                || {
                    GraphError::bad_request(
                        "RequestBroker--ParseUri",
                        format!(
                            "Could not find a property named '{p}' on type 'microsoft.graph.event'."
                        ),
                    )
                },
            )
        })
        .collect()
}
