//! The entry an operator approval adds to a running policy (`cordon approve`): the
//! narrowest `network_policies` entry that allows one denied (host, port, binary).
//!
//! It is built as YAML and parsed by the same loader as a policy file, so an approved
//! entry is normalised and validated exactly like one an operator wrote, and `policy
//! show` of the result loads back unchanged.

use crate::error::PolicyError;
use crate::model::{NetworkPolicy, Policy};

/// Prefix of every entry key an approval adds (`approved_<host>_<port>`).
pub const APPROVAL_KEY_PREFIX: &str = "approved_";

/// The entry key for an approval of `host:port`: `approved_<host>_<port>`, every
/// character of the host other than an ASCII letter or digit written as `_`.
pub fn approval_key(host: &str, port: u16) -> String {
    let host: String = host
        .trim_end_matches('.')
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{APPROVAL_KEY_PREFIX}{host}_{port}")
}

/// The narrowest entry allowing `binary` to reach `host:port`: that exact host (no
/// wildcard), that one port, that one executable. A caller whose binary is unknown
/// (it could not be identified) gets `/**`, any binary: nothing narrower can match
/// it, and the operator approved the destination knowing the binary was unknown.
pub fn approval_entry(
    key: &str,
    host: &str,
    port: u16,
    binary: Option<&str>,
) -> Result<NetworkPolicy, PolicyError> {
    // JSON strings are YAML double-quoted scalars: every value is quoted safely.
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    let yaml = format!(
        "version: 1\nnetwork_policies:\n  {}:\n    endpoints:\n      - host: {}\n        port: {port}\n    binaries:\n      - path: {}\n",
        quote(key),
        quote(host.trim_end_matches('.')),
        // The path came from the kernel but the agent chose it: a program named
        // `/sandbox/**` must not become a pattern matching every binary.
        quote(&binary.map_or_else(|| "/**".to_owned(), globset::escape)),
    );
    let mut loaded = crate::parse_str(&yaml, "<approval>")?;
    loaded.policy.network_policies.remove(key).ok_or_else(|| {
        PolicyError::single(crate::error::Problem::new(
            "network_policies",
            format!("the approval entry {key} did not load"),
        ))
    })
}

/// `policy` with an approval entry for (host, port, binary) added under a key no entry
/// uses yet (`approved_<host>_<port>`, then `_2`, `_3`, ... when another binary was
/// approved for the same destination). Returns the key and the new policy.
pub fn with_approval(
    policy: &Policy,
    host: &str,
    port: u16,
    binary: Option<&str>,
) -> Result<(String, Policy), PolicyError> {
    let base = approval_key(host, port);
    let mut key = base.clone();
    let mut n = 2u32;
    while policy.network_policies.contains_key(&key) {
        key = format!("{base}_{n}");
        n += 1;
    }
    let entry = approval_entry(&key, host, port, binary)?;
    let mut policy = policy.clone();
    policy.network_policies.insert(key.clone(), entry);
    Ok((key, policy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompiledPolicy, Verdict};

    fn empty() -> Policy {
        crate::parse_str("version: 1\n", "<test>").unwrap().policy
    }

    #[test]
    fn approval_allows_exactly_that_destination_and_binary() {
        let (key, policy) =
            with_approval(&empty(), "API.Example.com", 8443, Some("/usr/bin/curl")).unwrap();
        assert_eq!(key, "approved_api_example_com_8443");
        let compiled = CompiledPolicy::compile(&policy).unwrap();
        let decide = |host, port, binary| compiled.decide_connect(host, port, binary).verdict;
        assert_eq!(
            decide("api.example.com", 8443, Some("/usr/bin/curl")),
            Verdict::Allow
        );
        // The twins: another port, another host, another binary, an unknown binary.
        assert_eq!(
            decide("api.example.com", 443, Some("/usr/bin/curl")),
            Verdict::Deny
        );
        assert_eq!(
            decide("x.api.example.com", 8443, Some("/usr/bin/curl")),
            Verdict::Deny
        );
        assert_eq!(
            decide("api.example.com", 8443, Some("/usr/bin/wget")),
            Verdict::Deny
        );
        assert_eq!(decide("api.example.com", 8443, None), Verdict::Deny);
    }

    /// A program whose path looks like a glob is approved as that one path.
    #[test]
    fn a_binary_named_like_a_pattern_is_approved_literally() {
        let (_, policy) =
            with_approval(&empty(), "api.example.com", 443, Some("/sandbox/**")).unwrap();
        let compiled = CompiledPolicy::compile(&policy).unwrap();
        let decide = |binary| {
            compiled
                .decide_connect("api.example.com", 443, Some(binary))
                .verdict
        };
        assert_eq!(decide("/sandbox/**"), Verdict::Allow);
        assert_eq!(decide("/sandbox/bin/other"), Verdict::Deny);
        assert_eq!(decide("/sandbox/x"), Verdict::Deny);
    }

    #[test]
    fn unknown_binary_is_approved_for_any_binary_and_keys_do_not_collide() {
        let (first, policy) = with_approval(&empty(), "10.0.0.7", 80, None).unwrap();
        let (second, policy) =
            with_approval(&policy, "10.0.0.7", 80, Some("/usr/bin/python3")).unwrap();
        assert_eq!(first, "approved_10_0_0_7_80");
        assert_eq!(second, "approved_10_0_0_7_80_2");
        let compiled = CompiledPolicy::compile(&policy).unwrap();
        assert_eq!(
            compiled.decide_connect("10.0.0.7", 80, None).verdict,
            Verdict::Allow
        );
        // The result serialises to a policy that loads back unchanged.
        let yaml = policy.to_yaml().unwrap();
        assert_eq!(crate::parse_str(&yaml, "<again>").unwrap().policy, policy);
    }
}
