//! The token manager: one per process, shared by every node and run. It caches a token per
//! profile, makes exactly one token request when many callers need the same profile at once,
//! renews ahead of expiry, forgets a token a server rejected, and keeps refresh tokens in the
//! state directory.

use super::grants::{Grants, TokenSet};
use super::profiles::{Grant, KeyPlace, Profile, ProfileKind};
use super::state::{StateDir, Stored};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Semaphore};
use weft_nodes::scrub::{KnownSecrets, Scrubber};
use weft_nodes::services::{BoxFuture, Credential, SignIn, SlotGuard};
use weft_nodes::{Credentials, NodeError, Secret};

/// A cached access token.
#[derive(Clone)]
struct Cached {
    access_token: Secret,
    token_type: String,
    scopes: Vec<String>,
    /// When to stop using it: expiry less the renewal skew.
    renew_at: Option<Instant>,
    /// Until when it is still used should renewing it fail: halfway through the skew.
    fallback_until: Option<Instant>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    generation: u64,
}

/// What a profile's lock guards: the cached token and the last failed fetch.
#[derive(Default)]
struct Slot {
    cached: Option<Cached>,
    /// When the last fetch failed, and how: callers that were waiting for that fetch get the
    /// same answer instead of each sending a request of its own.
    failure: Option<(Instant, NodeError)>,
}

struct Entry {
    profile: Profile,
    /// Held while a token is fetched, so concurrent callers wait for that one request.
    cache: Mutex<Slot>,
    /// The highest generation a server rejected (`invalidate`): tokens of this generation or
    /// older are not handed out again. An atomic, so an invalidation is never lost to a caller
    /// holding the lock.
    invalidated: AtomicU64,
    slots: Option<Arc<Semaphore>>,
    /// `max_concurrent_per_key`: the slots of each key (a mailbox) requests were sent with.
    per_key: Option<PerKey>,
}

/// The request slots of each concurrency key of one profile, shared by every run.
struct PerKey {
    limit: usize,
    keys: std::sync::Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl PerKey {
    /// How many keys are kept before those no request holds are forgotten.
    const KEPT: usize = 1024;

    fn of(&self, key: &str) -> Arc<Semaphore> {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slots) = keys.get(key) {
            return slots.clone();
        }
        if keys.len() >= Self::KEPT {
            // A key whose semaphore only the map holds has no request in flight.
            keys.retain(|_, slots| Arc::strong_count(slots) > 1);
        }
        keys.entry(key.to_owned()).or_insert_with(|| Arc::new(Semaphore::new(self.limit))).clone()
    }
}

/// Tokens and credentials for the profiles of a process.
pub struct TokenManager {
    entries: HashMap<String, Entry>,
    http: reqwest::Client,
    state: StateDir,
    generations: AtomicU64,
    requests: AtomicU64,
    /// When set, token requests go here instead of reqwest (the test harness's canned HTTP).
    via: Option<Arc<dyn weft_nodes::services::Http>>,
    /// The secrets the manager knows, for scrubbing what servers echo.
    known: Known,
}

/// The secrets a token manager knows: every profile's own, and the latest tokens of each.
struct Known {
    profiles: KnownSecrets,
    /// The last few tokens (access and refresh) of each profile: the current ones, and those
    /// runs still in flight may have sent.
    recent: std::sync::Mutex<HashMap<String, VecDeque<Secret>>>,
    scrubber: std::sync::RwLock<Scrubber>,
}

/// How many tokens of each profile stay known.
const RECENT_TOKENS: usize = 4;

impl Known {
    fn new(profiles: KnownSecrets) -> Self {
        let scrubber = std::sync::RwLock::new(profiles.scrubber());
        Self { profiles, recent: std::sync::Mutex::default(), scrubber }
    }

    /// Adds tokens of `profile`; the scrubber is rebuilt when one is new.
    fn remember<'a>(&self, profile: &str, tokens: impl IntoIterator<Item = &'a Secret>) {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let list = recent.entry(profile.to_owned()).or_default();
        let mut changed = false;
        for token in tokens {
            if !list.contains(token) {
                list.push_back(token.clone());
                if list.len() > RECENT_TOKENS {
                    list.pop_front();
                }
                changed = true;
            }
        }
        if !changed {
            return;
        }
        let mut known = self.profiles.clone();
        for token in recent.values().flatten() {
            known.add(token);
        }
        *self.scrubber.write().unwrap_or_else(PoisonError::into_inner) = known.scrubber();
    }

    fn scrubber(&self) -> Scrubber {
        self.scrubber.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// The renewal skew: min(60 s, lifetime / 10), so even 2-second tokens are renewed in time.
pub fn renewal_skew(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(60))
}

impl TokenManager {
    /// A manager for `profiles`, keeping sign-ins in `state`.
    pub fn new(profiles: Vec<Profile>, state: StateDir) -> Result<Self, String> {
        let http = super::grants::token_http_client()?;
        let mut known = KnownSecrets::new();
        for profile in &profiles {
            known.extend(&profile.known_secrets());
        }
        let entries = profiles
            .into_iter()
            .map(|profile| {
                let slots = profile.max_concurrent.map(|n| Arc::new(Semaphore::new(n as usize)));
                let per_key = profile
                    .max_concurrent_per_key
                    .map(|n| PerKey { limit: n as usize, keys: std::sync::Mutex::default() });
                let entry = Entry {
                    profile,
                    cache: Mutex::new(Slot::default()),
                    invalidated: AtomicU64::new(0),
                    slots,
                    per_key,
                };
                (entry.profile.name.clone(), entry)
            })
            .collect();
        Ok(Self {
            entries,
            http,
            state,
            generations: AtomicU64::new(1),
            requests: AtomicU64::new(0),
            via: None,
            known: Known::new(known),
        })
    }

    /// Sends token requests through `http` (a node-services HTTP client, such as the test
    /// harness's canned HTTP) instead of the manager's own client.
    pub fn with_http(mut self, http: Arc<dyn weft_nodes::services::Http>) -> Self {
        self.via = Some(http);
        self
    }

    /// How many token requests this manager has made (for tests and benchmarks).
    pub fn token_requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The state directory.
    pub fn state(&self) -> &StateDir {
        &self.state
    }

    fn entry(&self, name: &str) -> Result<&Entry, NodeError> {
        self.entries.get(name).ok_or_else(|| {
            NodeError::new("auth", format!("profile `{}` is not loaded", weft_nodes::clip(name)))
        })
    }

    /// The profile `name`.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.entries.get(name).map(|e| &e.profile)
    }

    /// A valid token for an OAuth 2.0 profile, fetching one when the cache has none.
    ///
    /// Callers queue on the profile's lock, so one request serves everyone waiting; when it
    /// fails, those that were already waiting share the failure rather than each retrying.
    async fn token(&self, entry: &Entry) -> Result<Cached, NodeError> {
        let arrived = Instant::now();
        let mut slot = entry.cache.lock().await;
        let invalidated = entry.invalidated.load(Ordering::Acquire);
        let current = slot.cached.clone().filter(|c| c.generation > invalidated);
        if let Some(cached) = &current
            && cached.renew_at.is_none_or(|at| Instant::now() < at)
        {
            return Ok(cached.clone());
        }
        let err = match &slot.failure {
            Some((failed_at, err)) if *failed_at >= arrived => err.clone(),
            _ => match self.fetch(&entry.profile).await {
                Ok(fresh) => {
                    *slot = Slot { cached: Some(fresh.clone()), failure: None };
                    return Ok(fresh);
                }
                Err(err) => {
                    slot.failure = Some((Instant::now(), err.clone()));
                    err
                }
            },
        };
        // A renewal that failed (the token endpoint briefly down, say) leaves the current
        // token in use until it really expires; a sign-in that is gone does not.
        match current {
            Some(cached)
                if err.exit != "unauthenticated"
                    && cached.fallback_until.is_some_and(|at| Instant::now() < at) =>
            {
                tracing::warn!(
                    profile = %entry.profile.name,
                    "renewing the token failed, the current one is still valid: {}",
                    err.message
                );
                Ok(cached)
            }
            _ => Err(err),
        }
    }

    async fn fetch(&self, profile: &Profile) -> Result<Cached, NodeError> {
        let ProfileKind::OAuth2(oauth) = &profile.kind else {
            return Err(NodeError::new(
                "auth",
                format!("profile `{}` has no tokens to fetch", profile.name),
            ));
        };
        let grants = || {
            Grants::new(&profile.name, oauth, &self.http, profile.known_secrets())
                .through(self.via.clone())
        };
        let state_path = self.state.path(&profile.name, &oauth.token_url, &oauth.client_id);
        let started = Instant::now();
        let set: TokenSet = match oauth.grant {
            Grant::ClientCredentials => {
                self.requests.fetch_add(1, Ordering::Relaxed);
                grants().client_credentials().await?
            }
            Grant::RefreshToken | Grant::AuthorizationCode | Grant::DeviceCode => {
                let stored = self
                    .state
                    .read(&state_path)
                    .map_err(|e| NodeError::new("auth", e.to_string()))?;
                let refresh = match (stored, &oauth.refresh_token) {
                    (Some(stored), _) => stored.refresh_token,
                    (None, Some(given)) => given.clone(),
                    (None, None) => {
                        return Err(NodeError::new(
                            "auth",
                            format!(
                                "profile `{}` has no sign-in yet: run `weft login {}`",
                                profile.name, profile.name
                            ),
                        )
                        .unauthenticated());
                    }
                };
                self.known.remember(&profile.name, [&refresh]);
                self.requests.fetch_add(1, Ordering::Relaxed);
                match grants().refresh(&refresh).await {
                    Ok(set) => set,
                    Err(err) if oauth.grant.is_user() && lost_sign_in(err.code.as_deref()) => {
                        let why = if err.code.as_deref() == Some("invalid_grant") {
                            "the sign-in has expired or was revoked"
                        } else {
                            "the user must sign in again (consent or another factor)"
                        };
                        return Err(NodeError {
                            message: format!(
                                "{}; {why}: run `weft login {}`",
                                err.message, profile.name
                            ),
                            ..err
                        }
                        .unauthenticated());
                    }
                    Err(err) => return Err(err),
                }
            }
        };
        self.known
            .remember(&profile.name, [&set.access_token].into_iter().chain(&set.refresh_token));
        if let Some(rotated) = &set.refresh_token {
            let stored = Stored { refresh_token: rotated.clone(), scopes: set.scopes.clone() };
            self.state
                .write(&state_path, &stored)
                .map_err(|e| NodeError::new("auth", e.to_string()))?;
        }
        tracing::debug!(profile = %profile.name, ms = started.elapsed().as_millis() as u64, "token fetched");
        Ok(self.cache_entry(set, started))
    }

    fn cache_entry(&self, set: TokenSet, requested: Instant) -> Cached {
        let renew_at = set.expires_in.map(|life| requested + life - renewal_skew(life));
        let fallback_until = set.expires_in.map(|life| requested + life - renewal_skew(life) / 2);
        let expires_at = set
            .expires_in
            .and_then(|life| chrono::Duration::from_std(life).ok())
            .map(|life| chrono::Utc::now() + life);
        Cached {
            access_token: set.access_token,
            token_type: set.token_type,
            scopes: set.scopes,
            renew_at,
            fallback_until,
            expires_at,
            generation: self.generations.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Stores a sign-in made by `weft login` and caches its token.
    pub async fn store_login(&self, name: &str, set: TokenSet) -> Result<(), NodeError> {
        let entry = self.entry(name)?;
        let ProfileKind::OAuth2(oauth) = &entry.profile.kind else {
            return Err(NodeError::new(
                "auth",
                format!("profile `{name}` is not an oauth2 profile"),
            ));
        };
        let Some(refresh) = &set.refresh_token else {
            return Err(NodeError::new(
                "auth",
                format!(
                    "the sign-in gave no refresh token, so it can't be kept: {}",
                    if oauth.scopes.iter().any(|s| s == "offline_access") {
                        "the server did not grant `offline_access` (an OpenID Connect server may also want `prompt=consent`, or refuse refresh tokens to this client)".to_owned()
                    } else {
                        format!("add `offline_access` to the scopes of `{name}`")
                    }
                ),
            ));
        };
        self.known.remember(name, [&set.access_token, refresh]);
        let path = self.state.path(name, &oauth.token_url, &oauth.client_id);
        let stored = Stored { refresh_token: refresh.clone(), scopes: set.scopes.clone() };
        self.state.write(&path, &stored).map_err(|e| NodeError::new("auth", e.to_string()))?;
        *entry.cache.lock().await =
            Slot { cached: Some(self.cache_entry(set, Instant::now())), failure: None };
        Ok(())
    }

    fn check_host(profile: &Profile, host: &str, port: Option<u16>) -> Result<(), NodeError> {
        match &profile.hosts {
            Some(hosts) if !hosts.iter().any(|h| h.allows(host, port)) => {
                let target = port.map_or(host.to_owned(), |p| format!("{host}:{p}"));
                Err(NodeError::new(
                    "auth",
                    format!(
                        "profile `{}` may not send its credentials to `{target}` (not in its `hosts`); nothing was sent",
                        profile.name
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Request slots held until the request is over: its key's, then the profile's.
struct Permits(#[allow(dead_code)] Vec<tokio::sync::OwnedSemaphorePermit>);

impl Credentials for TokenManager {
    fn sign_in<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<SignIn, NodeError>> {
        Box::pin(async move {
            let entry = self.entry(name)?;
            let (token_type, expires_at, scopes) = match &entry.profile.kind {
                ProfileKind::OAuth2(_) => {
                    let token = self.token(entry).await?;
                    (token.token_type, token.expires_at, token.scopes)
                }
                ProfileKind::Bearer(_) => ("Bearer".to_owned(), None, Vec::new()),
                ProfileKind::Basic { .. } => ("Basic".to_owned(), None, Vec::new()),
                ProfileKind::ApiKey { .. } => ("ApiKey".to_owned(), None, Vec::new()),
            };
            Ok(SignIn {
                profile: name.to_owned(),
                token_type,
                expires_at: expires_at
                    .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                scopes,
            })
        })
    }

    fn credential<'a>(
        &'a self,
        name: &'a str,
        host: &'a str,
        port: Option<u16>,
    ) -> BoxFuture<'a, Result<Credential, NodeError>> {
        Box::pin(async move {
            let entry = self.entry(name)?;
            Self::check_host(&entry.profile, host, port)?;
            let header = |value: String| vec![("Authorization".to_owned(), Secret::new(value))];
            Ok(match &entry.profile.kind {
                ProfileKind::OAuth2(_) => {
                    let token = self.token(entry).await?;
                    Credential {
                        headers: header(format!("Bearer {}", token.access_token.expose())),
                        query: Vec::new(),
                        generation: token.generation,
                    }
                }
                ProfileKind::Bearer(token) => Credential {
                    headers: header(format!("Bearer {}", token.expose())),
                    query: Vec::new(),
                    generation: 0,
                },
                ProfileKind::Basic { username, password } => {
                    let pair = STANDARD.encode(format!("{username}:{}", password.expose()));
                    Credential {
                        headers: header(format!("Basic {pair}")),
                        query: Vec::new(),
                        generation: 0,
                    }
                }
                ProfileKind::ApiKey { value, place } => match place {
                    KeyPlace::Header(name) => Credential {
                        headers: vec![(name.clone(), value.clone())],
                        query: Vec::new(),
                        generation: 0,
                    },
                    KeyPlace::Query(name) => Credential {
                        headers: Vec::new(),
                        query: vec![(name.clone(), value.clone())],
                        generation: 0,
                    },
                },
            })
        })
    }

    fn invalidate(&self, name: &str, generation: u64) {
        // Recorded outside the lock: a caller holding it (reading the cache, or fetching) must
        // not make the invalidation go missing. Generations only grow, so a token fetched
        // after this one stays usable.
        if let Some(entry) = self.entries.get(name) {
            entry.invalidated.fetch_max(generation, Ordering::AcqRel);
        }
    }

    fn scrubber(&self) -> Scrubber {
        self.known.scrubber()
    }

    fn slot<'a>(&'a self, name: &'a str, key: Option<&'a str>) -> BoxFuture<'a, Option<SlotGuard>> {
        Box::pin(async move {
            let entry = self.entries.get(name)?;
            // Always the key's slot first, then the profile's: a request holding the
            // profile's slot never waits for another, so no two requests wait for each other.
            let mut held = Vec::new();
            if let (Some(per_key), Some(key)) = (&entry.per_key, key) {
                held.push(per_key.of(key).acquire_owned().await.ok()?);
            }
            if let Some(slots) = &entry.slots {
                held.push(slots.clone().acquire_owned().await.ok()?);
            }
            (!held.is_empty()).then(|| Box::new(Permits(held)) as SlotGuard)
        })
    }
}

/// Whether a refresh failed because only the user can renew the sign-in: the refresh token is
/// expired or revoked (`invalid_grant`), or Entra ID wants the user present
/// (`interaction_required`, `consent_required`).
fn lost_sign_in(code: Option<&str>) -> bool {
    matches!(code, Some("invalid_grant" | "interaction_required" | "consent_required"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_is_a_tenth_capped_at_a_minute() {
        assert_eq!(renewal_skew(Duration::from_secs(3599)), Duration::from_secs(60));
        assert_eq!(renewal_skew(Duration::from_secs(2)), Duration::from_millis(200));
    }
}
