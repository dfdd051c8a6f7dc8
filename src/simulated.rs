//! Runs against the Entra ID + Graph simulator instead of Microsoft (`--sim`): requests for
//! Microsoft's sign-in and Graph hosts go to the simulator, its links read as Graph's own, and
//! its apps stand in for every `oauth2` profile — so a flow written for a real tenant, with its
//! real profiles file, runs offline with no setup and no secrets to export.

use crate::auth::Profiles;
use crate::auth::profiles::Text;
use reqwest::Url;
use std::sync::Arc;
use weft_nodes::services::{BoxFuture, Http, HttpError, HttpRequest, HttpResponse};

/// The hosts whose requests go to the simulator.
pub const SIMULATED_HOSTS: [&str; 2] = ["login.microsoftonline.com", "graph.microsoft.com"];

/// Whether requests for `host` go to the simulator: it is one of [`SIMULATED_HOSTS`].
pub fn is_simulated_host(host: &str) -> bool {
    SIMULATED_HOSTS.iter().any(|h| host.eq_ignore_ascii_case(h))
}

/// Graph's real base, which the simulator's links are written back to.
const GRAPH_BASE: &str = "https://graph.microsoft.com";

/// Where a running simulator answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimTarget {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// Its token endpoint.
    pub token_url: String,
    /// Its authorization endpoint.
    pub authorize_url: String,
    /// Its device authorization endpoint.
    pub device_url: String,
}

impl SimTarget {
    /// The addresses of `sim`.
    pub fn of(sim: &weft_sim::SimHandle) -> Self {
        Self {
            base_url: sim.base_url(),
            token_url: sim.token_url(),
            authorize_url: sim.authorize_url(),
            device_url: sim.device_url(),
        }
    }

    /// `url` sent to the simulator when its host is one of [`SIMULATED_HOSTS`] (path and query
    /// kept), else `None`.
    fn route(&self, url: &str) -> Option<String> {
        let parsed = Url::parse(url).ok()?;
        if !parsed.host_str().is_some_and(is_simulated_host) {
            return None;
        }
        let mut routed = format!("{}{}", self.base_url, parsed.path());
        if let Some(query) = parsed.query() {
            routed.push('?');
            routed.push_str(query);
        }
        Some(routed)
    }

    /// Whether the simulator answers `url`: it is for one of [`SIMULATED_HOSTS`] or for the
    /// simulator's own address (its token endpoint, once its apps stand in for a profile).
    pub fn serves(&self, url: &str) -> bool {
        Url::parse(url).is_ok_and(|u| u.host_str().is_some_and(is_simulated_host))
            || url
                .strip_prefix(&self.base_url)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// Makes the simulator's apps stand in for every `oauth2` profile of `profiles`: the
    /// confidential app (its id and secret) for the grants an application signs in with, the
    /// public client for those a user signs in with; the endpoints are the simulator's.
    pub fn stand_in(&self, profiles: &mut Profiles) {
        for wire in profiles.oauth2_mut() {
            let inline = |text: &str| Text::Inline(text.to_owned());
            wire.token_url = inline(&self.token_url);
            wire.auth_url = Some(inline(&self.authorize_url));
            wire.device_url = Some(inline(&self.device_url));
            wire.client_certificate = None;
            if wire.grant.is_user() {
                wire.client_id = inline(weft_sim::PUBLIC_CLIENT_ID);
                wire.client_secret = None;
            } else {
                wire.client_id = inline(weft_sim::APP_CLIENT_ID);
                wire.client_secret = Some(inline(weft_sim::APP_CLIENT_SECRET));
            }
        }
    }
}

/// An HTTP client that sends requests for [`SIMULATED_HOSTS`] to the simulator through
/// `inner`, and writes the simulator's own address in the answers (`@odata.nextLink`) back to
/// Graph's, so that a flow follows links as it would against Graph and its profiles' `hosts`
/// keep applying.
pub struct SimRouted {
    inner: Arc<dyn Http>,
    target: SimTarget,
}

impl SimRouted {
    /// Routes through `inner` to `target`.
    pub fn new(inner: Arc<dyn Http>, target: SimTarget) -> Self {
        Self { inner, target }
    }

    /// Whether the simulator answers `url` ([`SimTarget::serves`]).
    pub fn serves(&self, url: &str) -> bool {
        self.target.serves(url)
    }
}

impl Http for SimRouted {
    fn send(&self, mut request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, HttpError>> {
        let routed = self.target.route(&request.url);
        Box::pin(async move {
            let Some(url) = routed else {
                return self.inner.send(request).await;
            };
            request.url = url;
            let mut response = self.inner.send(request).await?;
            let own = self.target.base_url.as_bytes();
            if response.body.windows(own.len()).any(|w| w == own) {
                response.body = String::from_utf8_lossy(&response.body)
                    .replace(&self.target.base_url, GRAPH_BASE)
                    .into_bytes();
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> SimTarget {
        SimTarget {
            base_url: "http://127.0.0.1:9".into(),
            token_url: "http://127.0.0.1:9/t/token".into(),
            authorize_url: "http://127.0.0.1:9/t/authorize".into(),
            device_url: "http://127.0.0.1:9/t/devicecode".into(),
        }
    }

    #[test]
    fn routes_microsoft_hosts_only() {
        let t = target();
        assert_eq!(
            t.route("https://graph.microsoft.com/v1.0/users/a%40b/calendarView?$top=5").as_deref(),
            Some("http://127.0.0.1:9/v1.0/users/a%40b/calendarView?$top=5")
        );
        assert_eq!(
            t.route("https://LOGIN.microsoftonline.com/x/oauth2/v2.0/token").as_deref(),
            Some("http://127.0.0.1:9/x/oauth2/v2.0/token")
        );
        assert_eq!(t.route("https://graph.microsoft.com.evil.example/v1.0"), None);
        assert_eq!(t.route("https://example.com/"), None);
    }

    #[test]
    fn serves_microsoft_hosts_and_its_own_address_not_a_longer_port() {
        let t = target();
        assert!(t.serves("https://graph.microsoft.com/v1.0/me"));
        assert!(t.serves("http://127.0.0.1:9/t/token"));
        assert!(!t.serves("http://127.0.0.1:99/t/token"));
        assert!(!t.serves("https://example.com/"));
    }
}
