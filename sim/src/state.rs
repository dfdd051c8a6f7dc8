//! The state every handler shares: configuration, issued grants, calendars, faults, counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::config::{SimConfig, SimUser};
use super::counters::Counters;
use super::data::Calendar;
use super::delay::Delays;
use super::entra::store::Store;
use super::faults::FaultState;
use super::mailbox::Mailboxes;
use super::pages::Page;
use super::rng::Rng;
use super::sync::lock;

/// How many lines of the request log a slow listener may fall behind before it misses some.
const REQUEST_BACKLOG: usize = 1024;

/// The text kept for repeated page requests, at most.
const MAX_PAGE_BYTES: usize = 64 << 20;

/// Stored pages and their size.
#[derive(Default)]
struct Pages {
    by_key: HashMap<String, Page>,
    bytes: usize,
}

/// Shared simulator state.
pub(crate) struct State {
    pub(crate) config: SimConfig,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base_url: String,
    pub(crate) faults: Mutex<FaultState>,
    /// Graph requests still to be answered 401 regardless of their token.
    pub(crate) forced_401: AtomicU32,
    /// Delta tokens of an earlier generation have expired.
    delta_generation: AtomicU32,
    pub(crate) store: Mutex<Store>,
    calendars: Mutex<HashMap<String, Arc<Calendar>>>,
    /// Pages already answered, by everything their text depends on (`graph::page_key`, the
    /// calendar's version included), so a stored page can't go stale; answering a
    /// repeated request from it keeps the simulator's CPU per page small, so that a benchmark
    /// measures the engine in front of it rather than the simulator.
    pages: Mutex<Pages>,
    counters: Mutex<Counters>,
    ids: Mutex<Rng>,
    /// The timer of the configured latency, when there is one.
    delays: Option<Delays>,
    /// Requests in flight per app and mailbox, against Outlook's limit.
    pub(crate) mailboxes: Mailboxes,
    /// The request log: a line per request answered, for whoever listens.
    pub(crate) requests: tokio::sync::broadcast::Sender<String>,
}

impl State {
    pub(crate) fn new(config: SimConfig, base_url: String) -> Self {
        let faults = FaultState::new(config.faults.clone(), config.seed);
        let ids = Rng::derive(config.seed, "ids");
        let delays = if config.latency.is_zero() { None } else { Delays::start() };
        Self {
            delays,
            mailboxes: Mailboxes::new(config.mailbox_concurrency),
            requests: tokio::sync::broadcast::channel(REQUEST_BACKLOG).0,
            config,
            base_url,
            faults: Mutex::new(faults),
            forced_401: AtomicU32::new(0),
            delta_generation: AtomicU32::new(0),
            store: Mutex::new(Store::default()),
            calendars: Mutex::new(HashMap::new()),
            pages: Mutex::new(Pages::default()),
            counters: Mutex::new(Counters::default()),
            ids: Mutex::new(ids),
        }
    }

    /// Waits the configured latency (nothing when it is zero).
    pub(crate) async fn wait_latency(&self) {
        let latency = self.config.latency;
        match &self.delays {
            Some(delays) => delays.sleep(latency).await,
            None if !latency.is_zero() => tokio::time::sleep(latency).await,
            None => {}
        }
    }

    /// The page stored under `key`, or the one `make` builds, stored when it succeeds.
    pub(crate) fn page<E>(
        &self,
        key: String,
        make: impl FnOnce() -> Result<Page, E>,
    ) -> Result<Page, E> {
        if let Some(page) = lock(&self.pages).by_key.get(&key) {
            return Ok(page.clone());
        }
        let page = make()?;
        let mut pages = lock(&self.pages);
        // Bounded in bytes: requests for ever-new windows must not grow it without limit.
        if pages.bytes + page.text.len() > MAX_PAGE_BYTES {
            *pages = Pages::default();
        }
        if page.text.len() <= MAX_PAGE_BYTES {
            pages.bytes += page.text.len();
            if let Some(old) = pages.by_key.insert(key, page.clone()) {
                pages.bytes -= old.text.len();
            }
        }
        Ok(page)
    }

    /// Changes the user's calendar (generated first when it was not yet); a page built from
    /// an earlier version is never answered again (the version is part of its key).
    pub(crate) fn edit_calendar<R>(&self, user: &SimUser, f: impl FnOnce(&mut Calendar) -> R) -> R {
        let mut cache = lock(&self.calendars);
        // Readers holding the old version keep it; this one is copied once, then changed.
        f(Arc::make_mut(self.cached(&mut cache, user)))
    }

    /// The generation of delta tokens: those of an earlier one have expired.
    pub(crate) fn delta_generation(&self) -> u64 {
        self.delta_generation.load(Ordering::SeqCst).into()
    }

    /// Makes every delta token issued so far expire.
    pub(crate) fn expire_delta_tokens(&self) {
        self.delta_generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether a delta token of `generation` issued at `issued_ms` has expired.
    pub(crate) fn delta_expired(&self, generation: u64, issued_ms: i64) -> bool {
        let too_old = self.config.delta_token_lifetime.is_some_and(|life| {
            let age = chrono::Utc::now().timestamp_millis().saturating_sub(issued_ms);
            u128::try_from(age).unwrap_or(0) > life.as_millis()
        });
        generation != self.delta_generation() || too_old
    }

    /// The user's calendar, generated on first use.
    pub(crate) fn calendar(&self, user: &SimUser) -> Arc<Calendar> {
        Arc::clone(self.cached(&mut lock(&self.calendars), user))
    }

    /// The user's entry in `cache`, generated when it has none.
    fn cached<'c>(
        &self,
        cache: &'c mut HashMap<String, Arc<Calendar>>,
        user: &SimUser,
    ) -> &'c mut Arc<Calendar> {
        cache
            .entry(user.id.clone())
            .or_insert_with(|| Arc::new(Calendar::generate(&self.config, user)))
    }

    /// Updates the counters.
    pub(crate) fn count(&self, f: impl FnOnce(&mut Counters)) {
        f(&mut lock(&self.counters));
    }

    pub(crate) fn counters(&self) -> Counters {
        lock(&self.counters).clone()
    }

    pub(crate) fn reset_counters(&self) {
        *lock(&self.counters) = Counters::default();
    }

    /// A fresh GUID (request ids, trace ids).
    pub(crate) fn guid(&self) -> String {
        lock(&self.ids).guid()
    }

    /// A fresh opaque credential: `prefix` and 32 random bytes, base64url. The prefix makes
    /// a leaked simulator credential easy to spot in output.
    pub(crate) fn opaque(&self, prefix: &str) -> String {
        let mut rng = lock(&self.ids);
        let mut bytes = Vec::with_capacity(32);
        for _ in 0..4 {
            bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
        format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Takes one forced 401, if any are pending.
    pub(crate) fn take_forced_401(&self) -> bool {
        self.forced_401
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// The base URL to write into links: the request's own loopback `Host` when it has one
    /// (so a client that called `localhost` keeps calling `localhost`), else ours.
    pub(crate) fn link_base(&self, headers: &HeaderMap) -> String {
        let host =
            headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
        let loopback = ["127.0.0.1:", "localhost:", "[::1]:"]
            .iter()
            .any(|p| host.starts_with(p) && host[p.len()..].bytes().all(|b| b.is_ascii_digit()));
        if loopback { format!("http://{host}") } else { self.base_url.clone() }
    }
}

/// The value of the `client-request-id` header, if it is a sane token to echo.
pub(crate) fn client_request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 100)
        .filter(|v| v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(bytes: usize) -> Page {
        Page { text: vec![b' '; bytes].into(), applied: None, served: 1 }
    }

    #[test]
    fn stored_pages_are_bounded_in_bytes() {
        let state = State::new(SimConfig::default(), "http://127.0.0.1:1".into());
        let ok = |p: Page| Ok::<_, ()>(p);
        let third = MAX_PAGE_BYTES / 3;
        for key in ["a", "b", "c"] {
            state.page(key.into(), || ok(page(third))).unwrap();
        }
        // Stored: asked again, `make` is not called.
        state.page("a".into(), || Err(())).unwrap();
        assert_eq!(lock(&state.pages).bytes, 3 * third);
        // A fourth would pass the budget: the store starts again.
        state.page("d".into(), || ok(page(third))).unwrap();
        assert_eq!(lock(&state.pages).by_key.len(), 1);
        assert!(state.page("a".into(), || Err(())).is_err());
        // A page larger than the budget is served, never stored.
        state.page("huge".into(), || ok(page(MAX_PAGE_BYTES + 1))).unwrap();
        assert!(!lock(&state.pages).by_key.contains_key("huge"));
    }
}
