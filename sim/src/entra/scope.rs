//! Scope checks: client credentials want exactly one `<resource>/.default`; delegated flows
//! take Graph permissions (short or resource-qualified) and OpenID scopes.

use crate::config::{GRAPH_APP_ID, GRAPH_RESOURCE, SimApp};

use super::error::EntraError;

/// Scopes that are about the sign-in itself, not Graph.
const OIDC: &[&str] = &["openid", "profile", "email", "offline_access"];

/// True when `resource` names Microsoft Graph (its URL or app id) or the simulator itself.
fn is_graph(resource: &str, base_url: &str) -> bool {
    let r = resource.trim_end_matches('/');
    r.eq_ignore_ascii_case(GRAPH_RESOURCE)
        || r.eq_ignore_ascii_case(GRAPH_APP_ID)
        || r.eq_ignore_ascii_case(base_url)
}

/// Checks a client credentials `scope`: one resource's `/.default`, the resource being
/// Graph (`https://graph.microsoft.com`, its app id, or the simulator's base URL).
pub(crate) fn client_credentials(
    scope: &str,
    base_url: &str,
    tenant: &str,
) -> Result<(), EntraError> {
    let parts: Vec<&str> = scope.split_whitespace().collect();
    if parts.iter().any(|p| !p.ends_with("/.default")) {
        return Err(EntraError::bad_request(
            "invalid_scope",
            1_002_012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows \
                 must have a scope value with /.default suffixed to the resource identifier \
                 (application ID URI)."
            ),
        ));
    }
    if parts.len() != 1 {
        return Err(EntraError::bad_request(
            "invalid_scope",
            700_022,
            format!(
                "The provided value for the input parameter scope is not valid because it \
                 contains more than one resource. Scope {scope} is not valid."
            ),
        ));
    }
    let resource = parts.first().map_or("", |p| p.trim_end_matches("/.default"));
    if !is_graph(resource, base_url) {
        return Err(EntraError::bad_request(
            "invalid_resource",
            500_011,
            format!(
                "The resource principal named {resource} was not found in the tenant named \
                 {tenant}. This can happen if the application has not been installed by the \
                 administrator of the tenant or consented to by any user in the tenant. You \
                 might have sent your authentication request to the wrong tenant."
            ),
        ));
    }
    Ok(())
}

/// Parses delegated scopes into the granted list: Graph permissions in short form
/// (`Calendars.Read`), `.default` expanded to the app's delegated permissions, OpenID
/// scopes kept as they are. Consent is automatic.
pub(crate) fn delegated(
    scope: &str,
    app: &SimApp,
    base_url: &str,
) -> Result<Vec<String>, EntraError> {
    let mut granted: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        if !granted.iter().any(|g| g.eq_ignore_ascii_case(s)) {
            granted.push(s.to_owned());
        }
    };
    for part in scope.split_whitespace() {
        if let Some(oidc) = OIDC.iter().find(|o| o.eq_ignore_ascii_case(part)) {
            push(oidc);
            continue;
        }
        let (resource, permission) = match part.rsplit_once('/') {
            Some((r, p)) if r.contains("://") || r.eq_ignore_ascii_case(GRAPH_APP_ID) => {
                (Some(r), p)
            }
            _ => (None, part),
        };
        if resource.is_some_and(|r| !is_graph(r, base_url)) || permission.is_empty() {
            return Err(EntraError::bad_request(
                "invalid_scope",
                70011,
                format!(
                    "The provided request must include a 'scope' input parameter. The provided \
                     value for the input parameter 'scope' is not valid. The scope {scope} is \
                     not valid."
                ),
            ));
        }
        if permission == ".default" {
            for p in &app.delegated {
                push(p);
            }
        } else {
            push(permission);
        }
    }
    if granted.is_empty() {
        return Err(EntraError::missing("scope"));
    }
    Ok(granted)
}

/// True when the granted scopes include `name` (case-insensitive).
pub(crate) fn has(scopes: &[String], name: &str) -> bool {
    scopes.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// The `scope` string of a token response: everything granted but `offline_access`, which
/// Entra doesn't echo.
pub(crate) fn response_scope(scopes: &[String]) -> String {
    scopes
        .iter()
        .filter(|s| !s.eq_ignore_ascii_case("offline_access"))
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;

    #[test]
    fn client_credentials_scope() {
        let base = "http://127.0.0.1:1";
        assert!(client_credentials("https://graph.microsoft.com/.default", base, "t").is_ok());
        assert!(client_credentials("http://127.0.0.1:1/.default", base, "t").is_ok());
        let e = client_credentials("Calendars.Read", base, "t").err().map(|e| e.code);
        assert_eq!(e, Some(1_002_012));
        let e = client_credentials(
            "https://graph.microsoft.com/.default https://x.test/.default",
            base,
            "t",
        )
        .err()
        .map(|e| e.code);
        assert_eq!(e, Some(700_022));
        let e = client_credentials("https://x.test/.default", base, "t").err().map(|e| e.code);
        assert_eq!(e, Some(500_011));
    }

    #[test]
    fn delegated_scopes() {
        let apps = SimConfig::default_apps();
        let app = &apps[2];
        let got =
            delegated("openid offline_access https://graph.microsoft.com/Calendars.Read", app, "")
                .unwrap_or_default();
        assert_eq!(got, ["openid", "offline_access", "Calendars.Read"]);
        let got = delegated("https://graph.microsoft.com/.default", app, "").unwrap_or_default();
        assert_eq!(got, ["Calendars.Read", "Calendars.ReadWrite", "User.Read"]);
        assert!(delegated("https://other.test/x", app, "").is_err());
        assert_eq!(response_scope(&["offline_access".into(), "User.Read".into()]), "User.Read");
    }
}
