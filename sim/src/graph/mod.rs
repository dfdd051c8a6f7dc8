//! Microsoft Graph v1.0 calendar endpoints under `/v1.0`: calendarView, events, calendars,
//! and the user itself, behind bearer token checks, injected faults and fixed latency.

mod auth;
mod delta;
mod error;
mod list;
mod options;
mod resources;
mod skiptoken;
pub(crate) mod write;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::json;

use crate::config::SimUser;
use crate::conn::ConnTag;
use crate::entra::store::Principal;
use crate::event::{Event, make_id};
use crate::inject::{Injected, inject};
use crate::pages::Page;
use crate::state::{State, client_request_id};

use error::GraphError;
use list::{PageContext, ok_json, page};
use options::Prefer;

/// The Graph routes.
pub(crate) fn routes() -> Router<Arc<State>> {
    Router::new().route("/v1.0/{*rest}", any(handle))
}

/// The ids Graph puts on every response.
pub(crate) struct RequestIds {
    pub(crate) request_id: String,
    pub(crate) client_request_id: String,
}

async fn handle(
    AxState(state): AxState<Arc<State>>,
    ConnectInfo(conn): ConnectInfo<ConnTag>,
    Path(rest): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.count(|c| c.graph_requests += 1);
    let request_id = state.guid();
    let ids = RequestIds {
        client_request_id: client_request_id(&headers).unwrap_or_else(|| request_id.clone()),
        request_id,
    };
    // Held until the answer is built: the request is in flight meanwhile, latency included.
    let in_flight =
        mailbox(&state, &rest, &headers).map(|(app, mailbox)| state.mailboxes.enter(app, mailbox));
    // Over the limit: answered at once, as Graph does.
    let throttled = matches!(in_flight, Some(None));
    if !throttled {
        state.wait_latency().await;
    }
    let mut response = if throttled {
        state.count(|c| c.mailbox_throttled += 1);
        GraphError {
            retry_after: Some("1".into()),
            ..GraphError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
            )
        }
        .respond(&state, &ids)
    } else if state.take_forced_401() {
        state.count(|c| c.forced_401 += 1);
        GraphError::unauthenticated(auth::EXPIRED).respond(&state, &ids)
    } else if let Some(injected) = inject(&state, &conn, false).await {
        match injected {
            Injected::Dropped => return StatusCode::OK.into_response(),
            Injected::Status(status, retry_after) => {
                fault(status, retry_after).respond(&state, &ids)
            }
        }
    } else {
        let request = Request { method: &method, uri: &uri, headers: &headers, body: &body };
        serve(&state, &rest, &request).unwrap_or_else(|e| e.respond(&state, &ids))
    };
    let h = response.headers_mut();
    for (name, value) in [
        ("request-id", ids.request_id.as_str()),
        ("client-request-id", ids.client_request_id.as_str()),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    h.insert(
        "x-ms-ags-diagnostic",
        HeaderValue::from_static(
            r#"{"ServerInfo":{"DataCenter":"Loopback","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"WEFTSIM","ADSiteName":"LOC"}}"#,
        ),
    );
    response
}

/// The app and mailbox of a request whose token and path name them, when the simulator keeps
/// Outlook's limit on concurrent requests.
fn mailbox(state: &State, rest: &str, headers: &HeaderMap) -> Option<(String, String)> {
    if !state.mailboxes.limited() {
        return None;
    }
    let grant = auth::grant(state, headers).ok()?;
    let (target, _) = route(rest).ok()?;
    let user = resolve(state, &grant.principal, &target, false).ok()?;
    Some((grant.client_id, user.id.clone()))
}

/// The Graph error an injected status fault answers with.
fn fault(status: StatusCode, retry_after: Option<String>) -> GraphError {
    let (code, message) = match status.as_u16() {
        429 => (
            "TooManyRequests",
            "Too many requests. Please retry after the interval given in Retry-After.",
        ),
        503 => {
            ("ServiceNotAvailable", "The service is temporarily unavailable. Please retry later.")
        }
        _ => ("GatewayTimeout", "The request timed out before the backend answered."),
    };
    GraphError { retry_after, ..GraphError::new(status, code, message) }
}

/// Whose data a request asks for.
enum Target<'a> {
    Me,
    User(&'a str),
}

/// What a request asks for.
enum Resource<'a> {
    Profile,
    Calendars,
    CalendarView(Option<&'a str>),
    /// `calendarView/delta` of the primary calendar.
    Delta,
    Events(Option<&'a str>),
    /// One event, by id.
    Event(&'a str),
    Messages,
    TodoLists,
    /// The tasks of a To Do list.
    Tasks(&'a str),
    Trending,
}

impl Resource<'_> {
    /// The application roles and the delegated scopes (any one of each) that may read a
    /// resource other than a calendar; `None` for calendars (checked apart).
    fn permissions(&self) -> Option<(&'static [&'static str], &'static [&'static str])> {
        Some(match self {
            Self::Profile => (
                &["User.Read.All", "User.ReadBasic.All"],
                &["User.Read", "User.ReadBasic.All", "User.Read.All"],
            ),
            Self::Messages => {
                (&["Mail.Read", "Mail.ReadBasic.All"], &["Mail.Read", "Mail.ReadBasic"])
            }
            Self::TodoLists | Self::Tasks(_) => {
                (&["Tasks.Read.All", "Tasks.ReadWrite.All"], &["Tasks.Read", "Tasks.ReadWrite"])
            }
            Self::Trending => (&["Sites.Read.All"], &["Sites.Read.All"]),
            _ => return None,
        })
    }
}

/// A Graph request, as `serve` reads it.
struct Request<'r> {
    method: &'r Method,
    uri: &'r Uri,
    headers: &'r HeaderMap,
    body: &'r [u8],
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn not_found_segment(segment: &str) -> GraphError {
    GraphError::bad_request(
        "BadRequest",
        format!("Resource not found for the segment '{segment}'."),
    )
}

/// Reads the path after `/v1.0/` (segment names are case-insensitive, as in Graph).
fn route(rest: &str) -> Result<(Target<'_>, Resource<'_>), GraphError> {
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let (target, tail) = match segments.as_slice() {
        [me, tail @ ..] if eq(me, "me") => (Target::Me, tail),
        [users, id, tail @ ..] if eq(users, "users") => (Target::User(id), tail),
        [first, ..] => return Err(not_found_segment(first)),
        [] => return Err(GraphError::bad_request("BadRequest", "Invalid request.")),
    };
    let resource = match tail {
        [] => Resource::Profile,
        [c] if eq(c, "calendars") => Resource::Calendars,
        [v] if eq(v, "calendarView") => Resource::CalendarView(None),
        [e] if eq(e, "events") => Resource::Events(None),
        [c, v] if eq(c, "calendar") && eq(v, "calendarView") => Resource::CalendarView(None),
        [c, e] if eq(c, "calendar") && eq(e, "events") => Resource::Events(None),
        [c, id, v] if eq(c, "calendars") && eq(v, "calendarView") => {
            Resource::CalendarView(Some(id))
        }
        [c, id, e] if eq(c, "calendars") && eq(e, "events") => Resource::Events(Some(id)),
        [v, d] if eq(v, "calendarView") && eq(d, "delta") => Resource::Delta,
        [c, v, d] if eq(c, "calendar") && eq(v, "calendarView") && eq(d, "delta") => {
            Resource::Delta
        }
        [e, id] if eq(e, "events") => Resource::Event(id),
        [m] if eq(m, "messages") => Resource::Messages,
        [t, l] if eq(t, "todo") && eq(l, "lists") => Resource::TodoLists,
        [t, l, id, k] if eq(t, "todo") && eq(l, "lists") && eq(k, "tasks") => Resource::Tasks(id),
        [i, t] if eq(i, "insights") && eq(t, "trending") => Resource::Trending,
        [c, e, id] if eq(c, "calendar") && eq(e, "events") => Resource::Event(id),
        [c, _, e, id] if eq(c, "calendars") && eq(e, "events") => Resource::Event(id),
        [.., last] => return Err(not_found_segment(last)),
    };
    Ok((target, resource))
}

/// The user a request is about, after the permission checks.
fn resolve<'s>(
    state: &'s State,
    principal: &Principal,
    target: &Target<'_>,
    needs_calendars: bool,
) -> Result<&'s SimUser, GraphError> {
    if matches!(target, Target::Me) && matches!(principal, Principal::App { .. }) {
        return Err(GraphError::bad_request(
            "BadRequest",
            "/me request is only valid with delegated authentication flow.",
        ));
    }
    if needs_calendars && !auth::can_read_calendars(principal) {
        return Err(GraphError::access_denied());
    }
    let user = match (target, principal) {
        (Target::Me, Principal::User { user_id, .. }) => state.config.user(user_id),
        (Target::User(id), _) => state.config.user(id),
        (Target::Me, Principal::App { .. }) => None,
    };
    let user = user.ok_or_else(|| {
        let name = match target {
            Target::User(id) => *id,
            Target::Me => "me",
        };
        GraphError::new(
            StatusCode::NOT_FOUND,
            "ErrorInvalidUser",
            format!("The requested user '{name}' is invalid."),
        )
    })?;
    if let Principal::User { user_id, .. } = principal
        && needs_calendars
        && user.id != *user_id
        && !auth::can_read_shared(principal)
    {
        return Err(GraphError::access_denied());
    }
    Ok(user)
}

/// The ids of a user's two calendars: the default one, and Birthdays (always empty here).
fn calendar_ids(state: &State, user: &SimUser) -> (String, String) {
    (
        make_id(state.config.seed, &user.id, "calendar:default"),
        make_id(state.config.seed, &user.id, "calendar:birthdays"),
    )
}

/// Whether the named calendar (none: the default one) holds the user's events.
fn calendar_has_events(
    state: &State,
    user: &SimUser,
    calendar: Option<&str>,
) -> Result<bool, GraphError> {
    let (default, birthdays) = calendar_ids(state, user);
    match calendar {
        None => Ok(true),
        Some(id) if id == default => Ok(true),
        Some(id) if id == birthdays => Ok(false),
        Some(_) => Err(GraphError::item_not_found()),
    }
}

/// 405 for a method the resource does not take.
fn not_allowed(method: &Method) -> GraphError {
    GraphError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "BadRequest",
        format!("The HTTP method '{method}' is not supported for this resource."),
    )
}

fn serve(state: &State, rest: &str, request: &Request<'_>) -> Result<Response, GraphError> {
    let Request { method, uri, headers, body } = *request;
    let principal = auth::authenticate(state, headers)?;
    let (target, resource) = route(rest)?;
    let allowed: &[Method] = match resource {
        Resource::Events(_) => &[Method::GET, Method::POST],
        Resource::Event(_) => &[Method::GET, Method::PATCH, Method::DELETE],
        _ => &[Method::GET],
    };
    if !allowed.contains(method) {
        return Err(not_allowed(method));
    }
    let permissions = resource.permissions();
    let user = resolve(state, &principal, &target, permissions.is_none())?;
    if let Some((roles, scopes)) = permissions
        && !auth::may_read(&principal, &user.id, roles, scopes)
    {
        return Err(GraphError::access_denied());
    }
    if *method != Method::GET && !auth::can_write_calendar(&principal, &user.id) {
        return Err(GraphError::access_denied());
    }
    let link_base = state.link_base(headers);
    let pairs =
        Query::<Vec<(String, String)>>::try_from_uri(uri).map(|Query(p)| p).map_err(|_| {
            GraphError::bad_request("BadRequest", "The query string could not be read.")
        })?;
    let metadata = format!("{link_base}/v1.0/$metadata#users('{}')", user.id);
    // The request's address without its query: what links and skip tokens are built on (made
    // only when a page is built: a cached page needs none).
    let url = || format!("{link_base}{}", uri.path());
    let generated = |items: fn(&State, &SimUser) -> Vec<serde_json::Value>, suffix: &str| {
        resources::page(state, &items(state, user), &pairs, &url(), &format!("{metadata}/{suffix}"))
    };
    match resource {
        Resource::Messages => generated(resources::messages, "messages"),
        Resource::TodoLists => generated(resources::todo_lists, "todo/lists"),
        Resource::Trending => generated(resources::trending, "insights/trending"),
        Resource::Tasks(list) => {
            let items =
                resources::tasks(state, user, list).ok_or_else(GraphError::item_not_found)?;
            let context = format!("{metadata}/todo/lists('{list}')/tasks");
            resources::page(state, &items, &pairs, &url(), &context)
        }
        Resource::Profile => Ok(ok_json(
            &json!({
                "@odata.context": format!("{link_base}/v1.0/$metadata#users/$entity"),
                "id": user.id,
                "displayName": user.display_name,
                "userPrincipalName": user.upn,
                "mail": user.upn,
                "preferredLanguage": "en-US",
                "givenName": user.display_name.split(' ').next(),
                "surname": user.display_name.split(' ').nth(1),
                "jobTitle": "Product Manager",
                "officeLocation": "18/2111",
                "businessPhones": ["+1 425 555 0109"],
                "mobilePhone": null,
            }),
            None,
        )),
        Resource::Calendars => {
            state.count(|c| c.calendars_requests += 1);
            Ok(ok_json(&calendars(state, user, &metadata), None))
        }
        Resource::CalendarView(calendar) => {
            let prefer = Prefer::from_headers(headers);
            let cal = state.calendar(user);
            let page =
                state.page(page_key(user, cal.version(), &link_base, uri, &prefer), || {
                    let (start, end) = options::window(&pairs)?;
                    let has = calendar_has_events(state, user, calendar)?;
                    let events = if has { cal.view(start, end) } else { Vec::new() };
                    let context = format!("{metadata}/calendarView");
                    list(state, user, uri, &url(), prefer, &pairs, &events, context)
                })?;
            state.count(|c| {
                c.calendar_view_pages += 1;
                c.items_served += page.served as u64;
            });
            Ok(page.response())
        }
        Resource::Delta => {
            delta::page(state, user, &url(), &link_base, &pairs, &Prefer::from_headers(headers))
        }
        Resource::Event(id) => {
            let prefer = Prefer::from_headers(headers);
            match *method {
                Method::PATCH => write::update(state, user, id, headers, body, &prefer),
                Method::DELETE => write::delete(state, user, id, headers),
                _ => write::get(state, user, id, &prefer),
            }
        }
        Resource::Events(calendar) if *method == Method::POST => {
            // Birthdays takes no events; an unknown calendar is not found.
            if !calendar_has_events(state, user, calendar)? {
                return Err(GraphError::access_denied());
            }
            write::create(state, user, body, &Prefer::from_headers(headers))
        }
        Resource::Events(calendar) => {
            let prefer = Prefer::from_headers(headers);
            let cal = state.calendar(user);
            let page =
                state.page(page_key(user, cal.version(), &link_base, uri, &prefer), || {
                    let has = calendar_has_events(state, user, calendar)?;
                    let events = if has { cal.listing() } else { Vec::new() };
                    let context = format!("{metadata}/events");
                    list(state, user, uri, &url(), prefer, &pairs, &events, context)
                })?;
            state.count(|c| {
                c.events_pages += 1;
                c.items_served += page.served as u64;
            });
            Ok(page.response())
        }
    }
}

/// Everything a page's text depends on: the user and their calendar's `version`, the address
/// links are built on, the request URI (path, query options, skip token) and the preferences
/// applied (not the raw `Prefer` headers: preferences Graph ignores must not make new keys).
fn page_key(user: &SimUser, version: u64, link_base: &str, uri: &Uri, prefer: &Prefer) -> String {
    let zone = prefer.time_zone.as_ref().map(|(name, _)| name);
    format!(
        "{}\n{version}\n{link_base}\n{uri}\n{zone:?}\n{:?}\n{}",
        user.id, prefer.max_page_size, prefer.immutable_id
    )
}

/// A page of `events` as the request at `uri` asks for it, its links on `url` (the request's
/// absolute address without its query).
#[allow(clippy::too_many_arguments)]
fn list(
    state: &State,
    user: &SimUser,
    uri: &Uri,
    url: &str,
    prefer: Prefer,
    pairs: &[(String, String)],
    events: &[&Event],
    context: String,
) -> Result<Page, GraphError> {
    let bound_to = format!("{}|{}", user.id, uri.path());
    let opts = options::parse(pairs, &bound_to, state.config.seed, prefer)?;
    Ok(page(events, &opts, &PageContext { context, url, seed: state.config.seed }))
}

fn calendars(state: &State, user: &SimUser, metadata: &str) -> serde_json::Value {
    let (default, birthdays) = calendar_ids(state, user);
    let owner = json!({ "name": user.display_name, "address": user.upn });
    let calendar = |id: &str, name: &str, color: &str, hex: &str, default: bool| {
        json!({
            "id": id,
            "name": name,
            "color": color,
            "hexColor": hex,
            "isDefaultCalendar": default,
            "changeKey": format!("{}AAA", &id.get(6..16).unwrap_or_default()),
            "canShare": default,
            "canViewPrivateItems": true,
            "canEdit": default,
            "allowedOnlineMeetingProviders": ["teamsForBusiness"],
            "defaultOnlineMeetingProvider": "teamsForBusiness",
            "isTallyingResponses": default,
            "isRemovable": !default,
            "owner": owner,
        })
    };
    json!({
        "@odata.context": format!("{metadata}/calendars"),
        "value": [
            calendar(&default, "Calendar", "auto", "", true),
            calendar(&birthdays, "Birthdays", "lightGreen", "#87d28e", false),
        ],
    })
}
