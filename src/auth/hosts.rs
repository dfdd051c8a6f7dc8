//! Host patterns: where a profile's credentials may be sent.

/// One allowed host: `graph.microsoft.com`, `*.contoso.com`, `127.0.0.1:*`, `localhost:8080`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: String,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Default,
    Any,
    Exact(u16),
}

impl HostPattern {
    /// Parses a pattern; a pattern without a port allows only the scheme's default port.
    pub fn parse(source: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{source}` is not a host pattern (e.g. `graph.microsoft.com`, `*.contoso.com`, `127.0.0.1:*`)"
            )
        };
        let (host, port) = match source.rsplit_once(':') {
            Some((host, "*")) => (host, PortPattern::Any),
            Some((host, port)) => (host, PortPattern::Exact(port.parse().map_err(|_| bad())?)),
            None => (source, PortPattern::Default),
        };
        let name = host.strip_prefix("*.").unwrap_or(host);
        let valid = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            && !name.starts_with('.')
            && !name.ends_with('.');
        if !valid {
            return Err(bad());
        }
        Ok(Self { host: host.to_ascii_lowercase(), port })
    }

    /// Whether a request to `host` (`port` `None` for the default port) is allowed.
    pub fn allows(&self, host: &str, port: Option<u16>) -> bool {
        let host = host.to_ascii_lowercase();
        let host_ok = match self.host.strip_prefix("*.") {
            Some(suffix) => {
                host.len() > suffix.len() + 1
                    && host.ends_with(suffix)
                    && host[..host.len() - suffix.len()].ends_with('.')
            }
            None => host == self.host,
        };
        let port_ok = match self.port {
            PortPattern::Default => port.is_none(),
            PortPattern::Any => true,
            PortPattern::Exact(p) => port == Some(p),
        };
        host_ok && port_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let graph = HostPattern::parse("graph.microsoft.com").unwrap();
        assert!(graph.allows("Graph.Microsoft.com", None));
        assert!(!graph.allows("graph.microsoft.com", Some(8443)));
        assert!(!graph.allows("graph.microsoft.com.evil.com", None));
        let wild = HostPattern::parse("*.contoso.com").unwrap();
        assert!(wild.allows("api.contoso.com", None));
        assert!(!wild.allows("contoso.com", None));
        assert!(!wild.allows("evilcontoso.com", None));
        let loopback = HostPattern::parse("127.0.0.1:*").unwrap();
        assert!(loopback.allows("127.0.0.1", Some(4000)));
        assert!(!loopback.allows("127.0.0.2", Some(4000)));
        assert!(HostPattern::parse("localhost:8080").unwrap().allows("localhost", Some(8080)));
        for bad in ["", "*.", "a b", "host:port", ".x"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
