//! What the simulator has seen, for tests to assert on ("exactly one token request",
//! "N pages served").

/// A snapshot of the simulator's counters since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Requests to the token endpoint, answered or not.
    pub token_requests: u64,
    /// Access tokens issued by the client credentials grant.
    pub tokens_client_credentials: u64,
    /// Access tokens issued by redeeming an authorization code.
    pub tokens_authorization_code: u64,
    /// Access tokens issued by the refresh token grant.
    pub tokens_refresh_token: u64,
    /// Access tokens issued by the device code grant.
    pub tokens_device_code: u64,
    /// Token requests answered with an Entra error (pending device polls included).
    pub token_errors: u64,
    /// Requests to the authorize endpoint.
    pub authorize_requests: u64,
    /// Requests to the devicecode endpoint.
    pub devicecode_requests: u64,
    /// Requests under `/v1.0`, answered or not.
    pub graph_requests: u64,
    /// Successful (200) calendarView pages.
    pub calendar_view_pages: u64,
    /// Successful (200) events pages.
    pub events_pages: u64,
    /// Successful (200) calendars listings.
    pub calendars_requests: u64,
    /// Items returned in successful calendarView and events pages.
    pub items_served: u64,
    /// Graph 401 answers (missing, unknown, expired or forced).
    pub graph_401: u64,
    /// Graph 401 answers forced by `SimHandle::force_unauthorized`.
    pub forced_401: u64,
    /// Graph 403 answers.
    pub graph_403: u64,
    /// Graph 400 and 404 answers.
    pub graph_client_errors: u64,
    /// Injected 429s.
    pub faults_429: u64,
    /// 429s for more concurrent requests per app and mailbox than Outlook allows.
    pub mailbox_throttled: u64,
    /// Injected 503s.
    pub faults_503: u64,
    /// Injected 504s.
    pub faults_504: u64,
    /// Connections dropped on purpose.
    pub faults_dropped: u64,
    /// Requests delayed on purpose.
    pub faults_latency: u64,
    /// Events created (`POST …/events`, or from outside).
    pub events_created: u64,
    /// POSTs answered with the event their `transactionId` created before: nothing created.
    pub events_repeated: u64,
    /// Events changed (`PATCH`, or from outside).
    pub events_updated: u64,
    /// Events deleted.
    pub events_deleted: u64,
    /// Pages of `calendarView/delta` answered.
    pub delta_pages: u64,
    /// Delta rounds refused with 410 `SyncStateNotFound` (an expired token).
    pub delta_expired: u64,
}

impl Counters {
    /// Access tokens issued by any grant.
    #[must_use]
    pub fn tokens_issued(&self) -> u64 {
        self.tokens_client_credentials
            + self.tokens_authorization_code
            + self.tokens_refresh_token
            + self.tokens_device_code
    }

    /// Faults injected of any kind.
    #[must_use]
    pub fn faults_injected(&self) -> u64 {
        self.faults_429
            + self.faults_503
            + self.faults_504
            + self.faults_dropped
            + self.faults_latency
    }
}
