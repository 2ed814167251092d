//! The environment an agent needs to use the proxy: `HTTP_PROXY`, `HTTPS_PROXY`,
//! `ALL_PROXY` and `NO_PROXY`, each in upper and lower case because clients disagree
//! on which they read (curl ignores upper-case `HTTP_PROXY`; Go reads both; Python
//! prefers lower case). `NO_PROXY` lists loopback only: everything else must go
//! through the proxy, and loopback inside the sandbox is the sandbox's own.

use std::net::SocketAddr;

/// What `NO_PROXY` holds: loopback names and addresses only.
pub const NO_PROXY: &str = "localhost,127.0.0.1,::1";

/// The proxy variables for an agent whose proxy listens on `proxy` (inside the
/// sandbox), as (name, value) pairs in a stable order.
pub fn agent_proxy_env(proxy: SocketAddr) -> Vec<(&'static str, String)> {
    let url = format!("http://{proxy}");
    let mut vars = Vec::with_capacity(8);
    for (upper, lower) in [
        ("HTTP_PROXY", "http_proxy"),
        ("HTTPS_PROXY", "https_proxy"),
        ("ALL_PROXY", "all_proxy"),
    ] {
        vars.push((upper, url.clone()));
        vars.push((lower, url.clone()));
    }
    vars.push(("NO_PROXY", NO_PROXY.to_owned()));
    vars.push(("no_proxy", NO_PROXY.to_owned()));
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_variable_in_both_cases() {
        let vars = agent_proxy_env("127.0.0.1:3128".parse().unwrap());
        assert_eq!(vars.len(), 8);
        assert!(vars.contains(&("https_proxy", "http://127.0.0.1:3128".to_owned())));
        assert!(vars.contains(&("NO_PROXY", "localhost,127.0.0.1,::1".to_owned())));
    }
}
