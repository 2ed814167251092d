//! What a request head must satisfy on an inspected connection before its method
//! and path are even looked at: it is addressed to the host the connection was
//! allowed for, in a form the policy can match, and an upgrade is a WebSocket one.
//!
//! Why the Host header must agree with the CONNECT target (and SNI, checked at the
//! handshake): the upstream routes on Host. A request saying `Host: admin.internal`
//! inside a tunnel allowed for `api.example.com` asks a shared front end for a site
//! the policy never allowed.

use std::net::IpAddr;

use http::header::{self, HeaderMap};
use http::{Method, Uri};

/// The destination an inspected connection was allowed for.
#[derive(Debug, Clone, Copy)]
pub struct ConnTarget<'a> {
    /// Normalised host (lower case, no trailing dot, IPv6 without brackets).
    pub host: &'a str,
    /// Port.
    pub port: u16,
    /// Whether the client speaks TLS to us (the default port is then 443, else 80).
    pub tls: bool,
}

impl ConnTarget<'_> {
    fn default_port(&self) -> u16 {
        if self.tls { 443 } else { 80 }
    }

    fn display(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Why a request head was refused (400, with the reason in the body and audit).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadRefusal {
    /// Host names another destination.
    #[error("the Host header `{host}` does not match the connection's destination `{target}`")]
    HostMismatch {
        /// The header as sent (clipped).
        host: String,
        /// The allowed destination.
        target: String,
    },
    /// An absolute-form target names another destination.
    #[error(
        "the request URL's authority `{authority}` does not match the connection's destination `{target}`"
    )]
    AuthorityMismatch {
        /// The authority as sent (clipped).
        authority: String,
        /// The allowed destination.
        target: String,
    },
    /// Asterisk form, or an absolute form with the wrong scheme.
    #[error("{0}")]
    Form(&'static str),
}

/// Checks the request target form and the Host header against `target`.
pub fn check_head(
    uri: &Uri,
    headers: &HeaderMap,
    target: &ConnTarget<'_>,
) -> Result<(), HeadRefusal> {
    if let Some(authority) = uri.authority() {
        let scheme_ok = match uri.scheme_str() {
            Some("https") => target.tls,
            Some("http") => !target.tls,
            _ => false,
        };
        if !scheme_ok {
            return Err(HeadRefusal::Form(
                "the request URL's scheme does not match the connection",
            ));
        }
        if !same_destination(authority.as_str(), target) {
            return Err(HeadRefusal::AuthorityMismatch {
                authority: clip(authority.as_str()),
                target: target.display(),
            });
        }
    } else if uri.path() == "*" || !uri.path().starts_with('/') {
        return Err(HeadRefusal::Form(
            "only origin-form request targets (`/path`) are inspected",
        ));
    }
    for value in headers.get_all(header::HOST) {
        let host = String::from_utf8_lossy(value.as_bytes());
        if !same_destination(&host, target) {
            return Err(HeadRefusal::HostMismatch {
                host: clip(&host),
                target: target.display(),
            });
        }
    }
    Ok(())
}

/// Whether `authority` (`host`, `host:port`, `[v6]:port`) names `target`.
fn same_destination(authority: &str, target: &ConnTarget<'_>) -> bool {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return false;
        };
        match after.strip_prefix(':') {
            Some(port) => (host, port.parse().ok()),
            None if after.is_empty() => (host, Some(target.default_port())),
            None => return false,
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().ok()),
            None => (authority, Some(target.default_port())),
        }
    };
    let Some(port) = port else {
        return false;
    };
    port == target.port && normalize(host) == normalize(target.host)
}

fn normalize(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.to_canonical().to_string(),
        Err(_) => host,
    }
}

fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Whether a request asks for a WebSocket upgrade (RFC 6455 §4.1): GET, `Upgrade:
/// websocket` and `Connection` listing `upgrade`.
pub fn is_websocket_upgrade(method: &Method, headers: &HeaderMap) -> bool {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    method == Method::GET
        && has_token(header::UPGRADE, "websocket")
        && has_token(header::CONNECTION, "upgrade")
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn check(uri: &str, hosts: &[&str], target: ConnTarget<'_>) -> Result<(), HeadRefusal> {
        let uri: Uri = uri.parse().unwrap();
        let mut headers = HeaderMap::new();
        for h in hosts {
            headers.append(header::HOST, HeaderValue::from_str(h).unwrap());
        }
        check_head(&uri, &headers, &target)
    }

    const API: ConnTarget<'static> = ConnTarget {
        host: "api.example.com",
        port: 443,
        tls: true,
    };

    #[test]
    fn host_must_name_the_connect_target() {
        assert!(check("/x", &["api.example.com"], API).is_ok());
        assert!(check("/x", &["API.Example.com."], API).is_ok());
        assert!(check("/x", &["api.example.com:443"], API).is_ok());
        assert!(
            check("/x", &[], API).is_ok(),
            "HTTP/1.0 without Host (the gate requires it for 1.1)"
        );
        assert!(matches!(
            check("/x", &["admin.internal"], API),
            Err(HeadRefusal::HostMismatch { .. })
        ));
        assert!(matches!(
            check("/x", &["api.example.com:8443"], API),
            Err(HeadRefusal::HostMismatch { .. })
        ));
        assert!(matches!(
            check("/x", &["api.example.com:x"], API),
            Err(HeadRefusal::HostMismatch { .. })
        ));
        let other_port = ConnTarget {
            host: "api.example.com",
            port: 8443,
            tls: true,
        };
        assert!(check("/x", &["api.example.com:8443"], other_port).is_ok());
        assert!(check("/x", &["api.example.com"], other_port).is_err());
        let plain = ConnTarget {
            host: "api.example.com",
            port: 80,
            tls: false,
        };
        assert!(check("/x", &["api.example.com"], plain).is_ok());
    }

    #[test]
    fn ip_targets_compare_as_addresses() {
        let v6 = ConnTarget {
            host: "::1",
            port: 443,
            tls: true,
        };
        assert!(check("/", &["[::1]"], v6).is_ok());
        assert!(check("/", &["[0:0::1]:443"], v6).is_ok());
        assert!(check("/", &["::1"], v6).is_err());
        let v4 = ConnTarget {
            host: "127.0.0.1",
            port: 443,
            tls: true,
        };
        assert!(check("/", &["[::ffff:127.0.0.1]"], v4).is_ok());
    }

    #[test]
    fn only_origin_form_or_a_matching_absolute_form() {
        assert!(check("https://api.example.com/x", &["api.example.com"], API).is_ok());
        assert!(matches!(
            check("https://evil.example.com/x", &["api.example.com"], API),
            Err(HeadRefusal::AuthorityMismatch { .. })
        ));
        assert!(matches!(
            check("http://api.example.com/x", &[], API),
            Err(HeadRefusal::Form(_))
        ));
        assert!(matches!(
            check("*", &["api.example.com"], API),
            Err(HeadRefusal::Form(_))
        ));
    }

    #[test]
    fn detects_websocket_upgrades() {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(is_websocket_upgrade(&Method::GET, &headers));
        assert!(!is_websocket_upgrade(&Method::POST, &headers));
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        assert!(!is_websocket_upgrade(&Method::GET, &headers));
    }
}
