//! `suggest_entry`: the narrowest policy entry that would allow a denied connection,
//! as a YAML snippet for 403 hints, approvals and `cordon policy explain`.

use std::fmt::Write as _;

/// YAML snippet of the narrowest `network_policies` entry allowing (host, port, binary).
///
/// Exact host and port, and the exact binary when known (a connection whose binary
/// is unknown gets a `/**` placeholder the operator should narrow). The entry key is
/// derived from the host so snippets for different hosts do not collide.
pub fn suggest_entry(host: &str, port: u16, binary: Option<&str>) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let key: String = host
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut out = String::new();
    let _ = writeln!(out, "network_policies:");
    let _ = writeln!(out, "  allow_{key}_{port}:");
    let _ = writeln!(out, "    endpoints:");
    let _ = writeln!(out, "      - host: {}", yaml_scalar(&host));
    let _ = writeln!(out, "        port: {port}");
    let _ = writeln!(out, "    binaries:");
    match binary {
        Some(binary) => {
            let _ = writeln!(out, "      - path: {}", yaml_scalar(binary));
        }
        None => {
            let _ = writeln!(
                out,
                "      - path: \"/**\"  # binary unknown: narrow this to the real executable"
            );
        }
    }
    out
}

/// Quotes a scalar unless it is plainly safe in YAML.
fn yaml_scalar(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'))
        && !value.starts_with(['-', '.'])
        && value.parse::<f64>().is_err();
    if plain {
        value.to_owned()
    } else {
        format!("{value:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestion_is_a_valid_policy_that_allows_the_connection() {
        for (host, port, binary) in [
            ("API.Example.com", 443, Some("/usr/bin/curl")),
            ("10.0.0.7", 8080, None),
            ("2001:db8::1", 443, Some("/opt/my tool/bin/x")),
        ] {
            let yaml = format!("version: 1\n{}", suggest_entry(host, port, binary));
            let loaded = crate::parse_str(&yaml, "<suggestion>").unwrap();
            let compiled = crate::CompiledPolicy::compile(&loaded.policy).unwrap();
            let decision = compiled.decide_connect(host, port, binary);
            assert_eq!(decision.verdict, crate::Verdict::Allow, "{yaml}");
        }
    }
}
