//! The 403 an inspected request gets when the policy refuses it: a JSON body naming
//! the method, the path (never the query: it may carry tokens), the policy entry and
//! endpoint, the rule that decided, and a hint naming the change that would allow it.
//!
//! Same shape as the proxy's connection-level denial (`error`, `host`, `port`,
//! `binary`, `reason`, `hint`) plus `method`, `path`, `entry` and `rule`, so agents and
//! humans read one format.

use cordon_policy::{Access, CompiledPolicy, EndpointId};

use super::path::PathRefusal;

/// Everything a request-level denial names.
#[derive(Debug, Clone)]
pub struct L7Denial<'a> {
    /// Destination host.
    pub host: &'a str,
    /// Destination port.
    pub port: u16,
    /// Calling binary, if known.
    pub binary: Option<&'a str>,
    /// Request method (`WEBSOCKET_TEXT` for a refused WebSocket message).
    pub method: &'a str,
    /// Request path without query.
    pub path: &'a str,
    /// `network_policies` entry key of the deciding endpoint.
    pub entry: Option<&'a str>,
    /// The rule that decided (`deny_rules[0]`, `access: read-only`), if any.
    pub rule: Option<&'a str>,
    /// Why, in words.
    pub reason: &'a str,
    /// What to change.
    pub hint: &'a str,
}

impl L7Denial<'_> {
    /// The JSON body, newline-terminated.
    pub fn body(&self) -> String {
        let mut text = serde_json::json!({
            "error": "policy_denied",
            "host": self.host,
            "port": self.port,
            "binary": self.binary,
            "method": self.method,
            "path": self.path,
            "entry": self.entry,
            "rule": self.rule,
            "reason": self.reason,
            "hint": self.hint,
        })
        .to_string();
        text.push('\n');
        text
    }
}

/// The hint for a request refused by `decide_request` on `endpoint`.
pub fn hint(
    policy: &CompiledPolicy,
    endpoint: EndpointId,
    method: &str,
    path: &str,
    rule: Option<&str>,
) -> String {
    let ep = policy.endpoint(endpoint);
    let at = format!("network_policies.{}.endpoints[{}]", ep.entry, ep.index);
    let method = method.to_ascii_uppercase();
    if let Some(rule) = rule.filter(|r| r.starts_with("deny_rules")) {
        return format!(
            "`{rule}` of {at} matches {method} {path}; narrow or remove that deny rule to allow it"
        );
    }
    let access = policy
        .policy()
        .network_policies
        .get(&ep.entry)
        .and_then(|entry| entry.endpoints.get(ep.index))
        .and_then(|e| e.access);
    match access {
        Some(Access::ReadOnly)
            if matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "WEBSOCKET_TEXT") =>
        {
            format!(
                "{at} has `access: read-only`; `access: read-write` allows {method} (or replace `access` with explicit `rules`)"
            )
        }
        Some(Access::ReadOnly | Access::ReadWrite) => {
            format!(
                "{at} has an `access` preset that does not include {method}; `access: full` allows every method (or replace `access` with explicit `rules`)"
            )
        }
        _ => format!(
            "add to {at}.rules: `- allow: {{method: {method}, path: \"{}\"}}`",
            path_glob(path)
        ),
    }
}

/// The hint for a path refused before matching.
pub fn path_hint(policy: &CompiledPolicy, endpoint: EndpointId, refusal: PathRefusal) -> String {
    let ep = policy.endpoint(endpoint);
    match refusal {
        PathRefusal::EncodedSlash => format!(
            "if this API needs encoded slashes in path segments, set `allow_encoded_slash: true` on network_policies.{}.endpoints[{}]",
            ep.entry, ep.index
        ),
        _ => "send the path in plain origin form: no `.`/`..` segments, backslashes, control characters or double encoding".into(),
    }
}

/// A glob matching exactly `path`, or its directory when the path holds glob
/// syntax (which would otherwise be read as a pattern).
fn path_glob(path: &str) -> String {
    if !path.contains(['*', '?', '[', ']', '{', '}', '\\', '"']) {
        return path.to_owned();
    }
    let safe_prefix: String = path
        .split('/')
        .take_while(|seg| !seg.contains(['*', '?', '[', ']', '{', '}', '\\', '"']))
        .collect::<Vec<_>>()
        .join("/");
    format!("{}/**", safe_prefix.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(yaml: &str) -> CompiledPolicy {
        let loaded = cordon_policy::parse_str(yaml, "test.yaml").unwrap();
        CompiledPolicy::compile(&loaded.policy).unwrap()
    }

    const POLICY: &str = r#"
version: 1
network_policies:
  gh:
    endpoints:
      - host: api.github.com
        port: 443
        protocol: rest
        rules:
          - allow: {method: GET, path: "/repos/**"}
        deny_rules:
          - {method: GET, path: "/repos/*/secrets/**"}
      - host: ro.example.com
        port: 443
        protocol: rest
        access: read-only
    binaries:
      - {path: "/**"}
"#;

    #[test]
    fn hints_name_the_change_that_allows() {
        let p = compiled(POLICY);
        let gh = p
            .decide_connect("api.github.com", 443, Some("/usr/bin/curl"))
            .endpoint
            .unwrap();
        let d = p.decide_request(gh, "POST", "/repos/a/b", None);
        let h = hint(&p, d.endpoint, "POST", "/repos/a/b", d.rule);
        assert_eq!(
            h,
            "add to network_policies.gh.endpoints[0].rules: `- allow: {method: POST, path: \"/repos/a/b\"}`"
        );

        let d = p.decide_request(gh, "GET", "/repos/a/secrets/x", None);
        let h = hint(&p, d.endpoint, "GET", "/repos/a/secrets/x", d.rule);
        assert!(
            h.starts_with("`deny_rules[0]` of network_policies.gh.endpoints[0]"),
            "{h}"
        );

        let ro = p
            .decide_connect("ro.example.com", 443, Some("/usr/bin/curl"))
            .endpoint
            .unwrap();
        let d = p.decide_request(ro, "POST", "/x", None);
        let h = hint(&p, d.endpoint, "POST", "/x", d.rule);
        assert!(h.contains("`access: read-write`"), "{h}");
        let d = p.decide_request(ro, "DELETE", "/x", None);
        let h = hint(&p, d.endpoint, "DELETE", "/x", d.rule);
        assert!(h.contains("`access: full`"), "{h}");
    }

    #[test]
    fn body_names_method_path_entry_and_hint() {
        let body = L7Denial {
            host: "api.github.com",
            port: 443,
            binary: Some("/usr/bin/curl"),
            method: "POST",
            path: "/repos/a/b",
            entry: Some("gh"),
            rule: None,
            reason: "no allow rule matches",
            hint: "add a rule",
        }
        .body();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"], "policy_denied");
        assert_eq!(v["method"], "POST");
        assert_eq!(v["path"], "/repos/a/b");
        assert_eq!(v["entry"], "gh");
        assert_eq!(v["hint"], "add a rule");
        assert!(body.ends_with('\n'));
    }

    #[test]
    fn glob_syntax_in_paths_falls_back_to_the_directory() {
        assert_eq!(path_glob("/a/b"), "/a/b");
        assert_eq!(path_glob("/a/b*c/d"), "/a/**");
        assert_eq!(path_glob("/[x]"), "/**");
    }
}
