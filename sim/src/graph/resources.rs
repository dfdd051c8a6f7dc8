//! The other resources of a mailbox the examples read: messages, To Do lists and their tasks,
//! trending documents — generated from the seed per user, the same on every request, and
//! listed in pages (`$top`, a `$skiptoken` next link, `$select`).

use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::catalog::EXTERNALS;
use crate::config::SimUser;
use crate::event::{graph_instant, make_id};
use crate::rng::Rng;
use crate::state::State;

use super::error::GraphError;
use super::list::Listing;
use super::options::{self, DEFAULT_TOP};
use super::skiptoken;

const SUBJECTS: &[&str] = &[
    "Quarterly numbers",
    "Re: Offsite agenda",
    "Your expense report was approved",
    "Lunch on Friday?",
    "Design review notes",
    "[Action required] Security training",
    "Invoice 2026-118",
    "Fwd: Customer feedback",
    "Build is green again",
    "Welcome to the team!",
];

const TASKS: &[&str] = &[
    "Book the offsite venue",
    "Review the Q4 budget",
    "Send the customer survey",
    "Renew the TLS certificates",
    "Prepare the demo",
    "Update the onboarding guide",
    "Call the supplier back",
    "Plan the retro",
];

const DOCUMENTS: &[(&str, &str)] = &[
    ("Q4 roadmap", "PowerPoint"),
    ("Budget 2027", "Excel"),
    ("Onboarding guide", "Word"),
    ("Architecture overview", "Word"),
    ("Customer list", "Excel"),
    ("Team offsite plan", "OneNote"),
];

/// A mailbox's messages, newest first.
pub(super) fn messages(state: &State, user: &SimUser) -> Vec<Value> {
    let mut rng = Rng::derive(state.config.seed, &format!("{}:messages", user.id));
    let anchor = state.config.anchor;
    (0..25)
        .map(|i| {
            let (name, address) =
                rng.pick(EXTERNALS).copied().unwrap_or(("Nestor Wilke", "nestor@contoso.example"));
            let subject = rng.pick(SUBJECTS).copied().unwrap_or_default();
            let received: DateTime<Utc> = anchor - Duration::minutes(i * 173 + rng.range(0, 90));
            let received = received.format("%Y-%m-%dT%H:%M:%SZ").to_string();
            json!({
                "id": make_id(state.config.seed, &user.id, &format!("message:{i}")),
                "subject": subject,
                "from": { "emailAddress": { "name": name, "address": address } },
                "receivedDateTime": received,
                "bodyPreview": format!("{subject}: the details are in the attached notes."),
                "isRead": rng.chance(0.6),
                "importance": if rng.chance(0.1) { "high" } else { "normal" },
                "hasAttachments": rng.chance(0.2),
            })
        })
        .collect()
}

/// A mailbox's To Do lists, by name, with their `wellknownListName`: the default one and two of
/// the user's own.
const LISTS: [(&str, &str); 3] = [("Tasks", "defaultList"), ("Work", "none"), ("Home", "none")];

/// A mailbox's To Do lists.
pub(super) fn todo_lists(state: &State, user: &SimUser) -> Vec<Value> {
    LISTS
        .iter()
        .map(|(name, known)| {
            json!({
                "id": list_id(state, user, name),
                "displayName": name,
                "isOwner": true,
                "isShared": false,
                "wellknownListName": known,
            })
        })
        .collect()
}

fn list_id(state: &State, user: &SimUser, name: &str) -> String {
    make_id(state.config.seed, &user.id, &format!("todo:{name}"))
}

/// The tasks of the list `list`, or `None` when the user has no such list.
pub(super) fn tasks(state: &State, user: &SimUser, list: &str) -> Option<Vec<Value>> {
    let name = LISTS.iter().map(|(n, _)| *n).find(|n| list_id(state, user, n) == list)?;
    let mut rng = Rng::derive(state.config.seed, &format!("{}:tasks:{name}", user.id));
    let statuses = ["notStarted", "inProgress", "completed", "waitingOnOthers", "deferred"];
    let count = 3 + rng.below(5);
    Some(
        (0..count)
            .map(|i| {
                let created = state.config.anchor - Duration::days(rng.range(1, 30));
                let due = state.config.anchor + Duration::days(rng.range(-3, 14));
                let mut task = json!({
                    "id": make_id(state.config.seed, &user.id, &format!("task:{name}:{i}")),
                    "title": rng.pick(TASKS).copied().unwrap_or_default(),
                    "status": rng.pick(&statuses).copied().unwrap_or("notStarted"),
                    "importance": if rng.chance(0.2) { "high" } else { "normal" },
                    "createdDateTime": graph_instant(&created),
                    "lastModifiedDateTime": graph_instant(&created),
                    "body": { "content": "", "contentType": "text" },
                });
                if rng.chance(0.7) {
                    task["dueDateTime"] = json!({
                        "dateTime": crate::event::graph_date_time(&due.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default()),
                        "timeZone": "UTC",
                    });
                }
                task
            })
            .collect(),
    )
}

/// The documents trending around the user, most trending first.
pub(super) fn trending(state: &State, user: &SimUser) -> Vec<Value> {
    let mut rng = Rng::derive(state.config.seed, &format!("{}:trending", user.id));
    let mut items: Vec<(f64, Value)> = DOCUMENTS
        .iter()
        .enumerate()
        .map(|(i, (title, kind))| {
            let id = make_id(state.config.seed, &user.id, &format!("trending:{i}"));
            let weight = (rng.unit() * 1000.0).round() / 100.0;
            let url = format!("https://contoso.sharepoint.com/sites/team/Shared%20Documents/{}", title.replace(' ', "%20"));
            (weight, json!({
                "id": id,
                "weight": weight,
                "resourceVisualization": {
                    "title": title, "type": kind, "mediaType": "application/octet-stream",
                    "previewImageUrl": "", "previewText": "", "containerWebUrl": "https://contoso.sharepoint.com/sites/team",
                    "containerDisplayName": "Team site", "containerType": "Site",
                },
                "resourceReference": { "webUrl": url, "id": format!("drives/b!team/items/{id}"), "type": "microsoft.graph.driveItem" },
            }))
        })
        .collect();
    items.sort_by(|a, b| b.0.total_cmp(&a.0));
    items.into_iter().map(|(_, item)| item).collect()
}

/// A page of `items`: `$top` (default 10), the next page's `$skiptoken`, `$select`.
pub(super) fn page(
    state: &State,
    items: &[Value],
    pairs: &[(String, String)],
    url: &str,
    context: &str,
) -> Result<Response, GraphError> {
    let mut top = DEFAULT_TOP;
    let mut offset = 0;
    let mut select: Option<Vec<&str>> = None;
    let mut carried = Vec::new();
    for (name, value) in pairs {
        match name.as_str() {
            "$top" => {
                top = options::top(value).ok_or_else(|| {
                    GraphError::bad_request("BadRequest", format!("Invalid $top value '{value}'."))
                })?;
                carried.push((name.clone(), value.clone()));
            }
            "$skiptoken" => {
                offset = skiptoken::decode(state.config.seed, url, value).ok_or_else(|| {
                    GraphError::bad_request("BadRequest", "The $skiptoken is not valid.")
                })?;
            }
            "$select" => {
                select = Some(value.split(',').map(str::trim).collect());
                carried.push((name.clone(), value.clone()));
            }
            _ => carried.push((name.clone(), value.clone())),
        }
    }
    // These items have no `@odata.etag`, so the listing keeps `id` and the selection alone.
    let listing = Listing {
        context: context.to_owned(),
        offset,
        top,
        select: select.as_deref(),
        count: false,
        carried: &carried,
        canonical: url,
        url,
        seed: state.config.seed,
        applied: None,
    };
    Ok(listing.page(items, Value::clone).response())
}
