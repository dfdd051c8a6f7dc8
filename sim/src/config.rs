//! What the simulator serves: tenant, registered apps, users, calendar density, lifetimes.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::faults::FaultConfig;

/// The tenant name the simulator answers for unless configured otherwise.
pub const DEFAULT_TENANT: &str = "weft-sim";
/// The tenant's directory id, also reported as `tid` in id tokens.
pub const TENANT_ID: &str = "5e1f0c2a-7b3d-4c8e-9a61-0d2f4b6c8e10";

/// Client id of the confidential app holding the application permission `Calendars.Read`.
pub const APP_CLIENT_ID: &str = "11111111-1111-1111-1111-111111111111";
/// Default client secret of [`APP_CLIENT_ID`].
pub const APP_CLIENT_SECRET: &str = "sim-app-secret";
/// Client id of a confidential app with no calendar permission (Graph answers it 403).
pub const NOPERM_CLIENT_ID: &str = "22222222-2222-2222-2222-222222222222";
/// Client secret of [`NOPERM_CLIENT_ID`].
pub const NOPERM_CLIENT_SECRET: &str = "sim-noperm-secret";
/// Client id of the public client used for delegated flows (auth code + PKCE, device code).
pub const PUBLIC_CLIENT_ID: &str = "33333333-3333-3333-3333-333333333333";

/// Microsoft Graph's application id; a scope `<it>/.default` names Graph like its URL does.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// Graph's resource URL, the usual scope prefix.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// A user in the simulated tenant, with their own seeded calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimUser {
    /// The object id (a GUID), accepted in `/users/{id}`.
    pub id: String,
    /// The user principal name and mail address, also accepted in `/users/{upn}`.
    pub upn: String,
    /// The display name.
    pub display_name: String,
    /// The mailbox time zone, a Windows name (`Pacific Standard Time`) as Outlook stores it;
    /// the user's meetings are scheduled and all-day events bounded in it.
    pub time_zone: String,
}

impl SimUser {
    /// A user from its parts.
    #[must_use]
    pub fn new(id: &str, upn: &str, display_name: &str, time_zone: &str) -> Self {
        Self {
            id: id.to_owned(),
            upn: upn.to_owned(),
            display_name: display_name.to_owned(),
            time_zone: time_zone.to_owned(),
        }
    }
}

/// An app registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimApp {
    /// The application (client) id.
    pub client_id: String,
    /// The display name, used in error messages as Entra does.
    pub name: String,
    /// The client secret; `None` makes this a public client (no secret allowed).
    pub secret: Option<String>,
    /// Application permissions granted (app roles in app-only tokens), e.g. `Calendars.Read`.
    pub roles: Vec<String>,
    /// Delegated permissions granted by a `…/.default` scope in a delegated flow.
    pub delegated: Vec<String>,
}

impl SimApp {
    /// True for a public client (no secret).
    #[must_use]
    pub fn is_public(&self) -> bool {
        self.secret.is_none()
    }
}

/// Everything that shapes a simulator. Start from [`SimConfig::default`] and set fields.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every generated calendar, id and random fault.
    pub seed: u64,
    /// TCP port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The tenant in Entra paths (`/{tenant}/oauth2/v2.0/…`). Delegated grants also accept
    /// `common` and `organizations`; [`TENANT_ID`] is accepted as an alias.
    pub tenant: String,
    /// Access token lifetime (`expires_in`, whole seconds).
    pub token_lifetime: Duration,
    /// Authorization code lifetime.
    pub code_lifetime: Duration,
    /// Fixed delay added to every Graph response (for benchmarks), kept to within the OS
    /// timer's slack rather than tokio's whole milliseconds.
    pub latency: Duration,
    /// Injected failures; changeable at run time with `SimHandle::set_faults`.
    pub faults: FaultConfig,
    /// Outlook's limit on concurrent requests per app and mailbox (4); more in flight are
    /// answered 429 `ApplicationThrottled`. 0: no limit (for benchmarks that load one mailbox).
    pub mailbox_concurrency: usize,
    /// The tenant's users.
    pub users: Vec<SimUser>,
    /// UPN of the user who signs in (auto-consents) in authorize and device code flows when
    /// the request gives no matching `login_hint`.
    pub default_user: String,
    /// The instant calendars are centred on (generated `span_days` either side of its date).
    pub anchor: DateTime<Utc>,
    /// Days of calendar generated before and after the anchor.
    pub span_days: u32,
    /// Mean number of single meetings on a working day (weekends get far fewer).
    pub events_per_day: u32,
    /// The registered apps.
    pub apps: Vec<SimApp>,
    /// Device code polling interval in seconds (`interval`); polls closer together than this
    /// get `slow_down`.
    pub device_interval: u64,
    /// Device code lifetime (`expires_in`).
    pub device_code_lifetime: Duration,
    /// Approve a pending device code by itself on this poll (1 = the first), for demos.
    pub device_auto_approve_after: Option<u32>,
    /// Changes made to the calendars from outside per second (0: none), as other clients
    /// would: events created, renamed or moved, and deleted near the anchor.
    pub churn_per_second: f64,
    /// How long a `calendarView/delta` token stays valid (`None`: until
    /// [`crate::SimHandle::expire_delta_tokens`]); an expired one gets 410 `SyncStateNotFound`.
    pub delta_token_lifetime: Option<Duration>,
}

impl SimConfig {
    /// The same configuration with another client secret for [`APP_CLIENT_ID`].
    #[must_use]
    pub fn with_app_secret(mut self, secret: &str) -> Self {
        for app in &mut self.apps {
            if app.client_id == APP_CLIENT_ID {
                app.secret = Some(secret.to_owned());
            }
        }
        self
    }

    /// The registered app with this client id.
    #[must_use]
    pub fn app(&self, client_id: &str) -> Option<&SimApp> {
        self.apps.iter().find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// The user with this object id or UPN (case-insensitive).
    #[must_use]
    pub fn user(&self, id_or_upn: &str) -> Option<&SimUser> {
        self.users
            .iter()
            .find(|u| u.id.eq_ignore_ascii_case(id_or_upn) || u.upn.eq_ignore_ascii_case(id_or_upn))
    }

    /// The default apps: [`APP_CLIENT_ID`] (confidential: `Calendars.Read`,
    /// `Calendars.ReadWrite`, and `User.Read.All`, `Mail.Read`, `Tasks.Read.All` and
    /// `Sites.Read.All` for the other examples),
    /// [`NOPERM_CLIENT_ID`] (confidential, no calendar permission) and [`PUBLIC_CLIENT_ID`]
    /// (public).
    #[must_use]
    pub fn default_apps() -> Vec<SimApp> {
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        vec![
            SimApp {
                client_id: APP_CLIENT_ID.to_owned(),
                name: "Weft calendar reader".to_owned(),
                secret: Some(APP_CLIENT_SECRET.to_owned()),
                roles: strings(&[
                    "Calendars.Read",
                    "Calendars.ReadWrite",
                    "User.Read.All",
                    "Mail.Read",
                    "Tasks.Read.All",
                    "Sites.Read.All",
                ]),
                delegated: strings(&["Calendars.Read", "Calendars.ReadWrite", "User.Read"]),
            },
            SimApp {
                client_id: NOPERM_CLIENT_ID.to_owned(),
                name: "Weft no-permission app".to_owned(),
                secret: Some(NOPERM_CLIENT_SECRET.to_owned()),
                roles: Vec::new(),
                delegated: strings(&["User.Read"]),
            },
            SimApp {
                client_id: PUBLIC_CLIENT_ID.to_owned(),
                name: "Weft CLI".to_owned(),
                secret: None,
                roles: Vec::new(),
                delegated: strings(&["Calendars.Read", "Calendars.ReadWrite", "User.Read"]),
            },
        ]
    }

    /// `n` more users for load tests: `user0001@weft.test` … in UTC, ids derived from their
    /// number; their calendars are generated like every user's, from the seed.
    #[must_use]
    pub fn with_generated_users(mut self, n: usize) -> Self {
        for i in 1..=n {
            let id = format!("00000000-0000-4000-8000-{i:012}");
            let upn = format!("user{i:04}@weft.test");
            self.users.push(SimUser::new(&id, &upn, &format!("User {i}"), "UTC"));
        }
        self
    }

    /// The default users: Adele Vance (London), Megan Bowen (Seattle), Alex Wilber (Berlin).
    #[must_use]
    pub fn default_users() -> Vec<SimUser> {
        vec![
            SimUser::new(
                "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
                "adele@weft.test",
                "Adele Vance",
                "GMT Standard Time",
            ),
            SimUser::new(
                "48d31887-5fad-4d73-a9f5-3c356e68a038",
                "megan@weft.test",
                "Megan Bowen",
                "Pacific Standard Time",
            ),
            SimUser::new(
                "626cbf8c-5dde-46b0-8385-9e40d64736fe",
                "alex@weft.test",
                "Alex Wilber",
                "W. Europe Standard Time",
            ),
        ]
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            port: 0,
            tenant: DEFAULT_TENANT.to_owned(),
            token_lifetime: Duration::from_secs(3599),
            code_lifetime: Duration::from_secs(600),
            latency: Duration::ZERO,
            faults: FaultConfig::default(),
            mailbox_concurrency: 4,
            users: Self::default_users(),
            default_user: "adele@weft.test".to_owned(),
            anchor: Utc::now(),
            span_days: 730,
            events_per_day: 5,
            apps: Self::default_apps(),
            device_interval: 5,
            device_code_lifetime: Duration::from_secs(900),
            device_auto_approve_after: None,
            delta_token_lifetime: None,
            churn_per_second: 0.0,
        }
    }
}
