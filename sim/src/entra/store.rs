//! Issued grants: access tokens, refresh tokens, authorization codes and device codes.

use std::collections::HashMap;
use std::time::Instant;

/// Who an access token speaks for.
#[derive(Debug, Clone)]
pub(crate) enum Principal {
    /// An app-only token (client credentials) carrying the app's roles.
    App { roles: Vec<String> },
    /// A delegated token for a user, carrying the granted scopes.
    User { user_id: String, scopes: Vec<String> },
}

/// An issued access token.
#[derive(Debug, Clone)]
pub(crate) struct AccessGrant {
    pub(crate) principal: Principal,
    /// The app the token was issued to.
    pub(crate) client_id: String,
    pub(crate) expires: Instant,
}

/// An issued refresh token.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub(crate) client_id: String,
    pub(crate) user_id: String,
    pub(crate) scopes: Vec<String>,
    /// Set when the token was redeemed (and so replaced by a new one).
    pub(crate) used: bool,
}

/// An issued authorization code.
#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub(crate) client_id: String,
    pub(crate) user_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) redirect_uri: String,
    /// PKCE challenge and method (`S256` or `plain`).
    pub(crate) challenge: Option<(String, String)>,
    pub(crate) expires: Instant,
    pub(crate) used: bool,
}

/// Where a device code stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeviceStatus {
    Pending,
    Approved(String),
    Declined,
    Redeemed,
}

/// An issued device code.
#[derive(Debug, Clone)]
pub(crate) struct DeviceGrant {
    pub(crate) client_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) user_code: String,
    pub(crate) expires: Instant,
    pub(crate) last_poll: Option<Instant>,
    /// `slow_down` answers so far: each adds 5 s to the interval for good (RFC 8628 §3.5).
    pub(crate) slow_downs: u32,
    pub(crate) polls: u32,
    pub(crate) status: DeviceStatus,
}

/// Everything issued so far.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(crate) access: HashMap<String, AccessGrant>,
    pub(crate) refresh: HashMap<String, RefreshGrant>,
    pub(crate) codes: HashMap<String, CodeGrant>,
    /// Device grants by device code.
    pub(crate) devices: HashMap<String, DeviceGrant>,
}

/// Above this many access tokens, expired ones are dropped on the next issue, so long
/// benchmark runs don't grow without bound.
const PRUNE_ABOVE: usize = 10_000;

impl Store {
    /// Records an access token.
    pub(crate) fn add_access(&mut self, token: String, grant: AccessGrant) {
        if self.access.len() > PRUNE_ABOVE {
            let now = Instant::now();
            self.access.retain(|_, g| g.expires > now);
        }
        self.access.insert(token, grant);
    }

    /// Makes every access token issued so far expire now.
    pub(crate) fn expire_all(&mut self) {
        let now = Instant::now();
        for grant in self.access.values_mut() {
            grant.expires = now;
        }
    }

    /// The device grant with this user code (case-insensitive, dashes and spaces ignored).
    pub(crate) fn device_by_user_code(&mut self, user_code: &str) -> Option<&mut DeviceGrant> {
        let wanted: String = user_code
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        self.devices.values_mut().find(|d| d.user_code == wanted)
    }
}
