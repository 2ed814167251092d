use proptest::prelude::*;

use super::*;

fn matches(pattern: &str, host: &str) -> bool {
    let pattern = parse(pattern).unwrap();
    let mut buf = [0u8; MAX_HOST_LEN];
    normalize(host, &mut buf).is_some_and(|h| pattern.matches(h))
}

#[test]
fn exact_names_match_case_insensitively() {
    assert!(matches("API.Example.com", "api.example.COM"));
    assert!(matches("api.example.com", "api.example.com."));
    assert!(!matches("api.example.com", "xapi.example.com"));
    assert!(!matches("api.example.com", "api.example.com.evil.net"));
}

#[test]
fn ip_literals_compare_as_addresses() {
    assert!(matches("192.168.50.7", "192.168.50.7"));
    assert!(!matches("192.168.50.7", "192.168.50.70"));
    assert!(matches("2001:db8::1", "2001:db8:0:0::1"));
    assert!(matches("[2001:db8::1]", "[2001:DB8::1]"));
    assert!(!matches("2001:db8::1", "2001:db8::2"));
    assert!(matches("10.1.2.3", "::ffff:10.1.2.3"));
    assert!(matches("::ffff:10.1.2.3", "10.1.2.3"));
}

#[test]
fn single_star_matches_exactly_one_label() {
    assert!(matches("*.example.com", "api.example.com"));
    assert!(!matches("*.example.com", "a.b.example.com"));
    assert!(!matches("*.example.com", "example.com"));
    assert!(!matches("*.example.com", "api.example.org"));
}

#[test]
fn double_star_matches_one_or_more_labels() {
    assert!(matches("**.cdn.example.org", "a.cdn.example.org"));
    assert!(matches("**.cdn.example.org", "a.b.c.cdn.example.org"));
    assert!(!matches("**.cdn.example.org", "cdn.example.org"));
    assert!(!matches("**.cdn.example.org", "xcdn.example.org"));
}

#[test]
fn intra_label_patterns_stay_in_the_first_label() {
    assert!(matches("*-storage.example.com", "eu-storage.example.com"));
    assert!(matches("*-storage.example.com", "a-b-storage.example.com"));
    assert!(!matches("*-storage.example.com", "storage.example.com"));
    assert!(!matches(
        "*-storage.example.com",
        "x.eu-storage.example.com"
    ));
    assert!(matches("api-*-v*.example.com", "api-eu-v2.example.com"));
    assert!(!matches("api-*-v*.example.com", "api-eu.example.com"));
}

#[test]
fn wildcards_never_match_ip_literals() {
    assert!(!matches("*.example.com", "10.0.0.1"));
}

#[test]
fn rejected_patterns_say_why() {
    for (pattern, needle) in [
        ("*", "every host"),
        ("**", "every host"),
        ("*.com", "top-level"),
        ("**.com", "top-level"),
        ("api-*.com", "top-level"),
        ("api.*.example.com", "outside the first"),
        ("foo.**.example.com", "outside the first"),
        ("foo**.example.com", "mixes `**`"),
        ("*.0.0.1", "IP address"),
        ("a..example.com", "empty label"),
        ("ex ample.com", "not valid"),
        ("", "empty"),
    ] {
        let (message, hint) = parse(pattern).unwrap_err();
        assert!(message.contains(needle), "{pattern}: {message}");
        assert!(!hint.is_empty());
    }
}

#[test]
fn normalize_rejects_junk_without_allocating_a_result() {
    let mut buf = [0u8; MAX_HOST_LEN];
    assert!(normalize("", &mut buf).is_none());
    assert!(normalize("a b.com", &mut buf).is_none());
    assert!(normalize(&"a".repeat(300), &mut buf).is_none());
    assert!(normalize("*.example.com", &mut buf).is_none());
}

fn label() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9-]{0,10}[a-z0-9])?"
}

proptest! {
    /// `*.suffix` matches exactly the hosts with one more label than the suffix.
    #[test]
    fn star_matches_one_label(first in label(), extra in label(), a in label(), b in label()) {
        let suffix = format!("{a}.{b}.test");
        let pattern = format!("*.{suffix}");
        let one_label = format!("{first}.{suffix}");
        let two_labels = format!("{extra}.{first}.{suffix}");
        prop_assert!(matches(&pattern, &one_label));
        prop_assert!(!matches(&pattern, &two_labels));
        let recursive = format!("**.{}", suffix);
        prop_assert!(matches(&recursive, &two_labels));
    }

    /// A wildcard never crosses a dot: the matched prefix of `*x.suffix` is one label.
    #[test]
    fn intra_label_star_never_crosses_a_dot(a in label(), b in label(), tail in label()) {
        let pattern = format!("*{tail}.example.test");
        let host = format!("{a}.{b}{tail}.example.test");
        prop_assert!(!matches(&pattern, &host));
        let host = format!("{b}{tail}.example.test");
        prop_assert!(matches(&pattern, &host));
    }

    /// Exact patterns match themselves in any letter case and nothing longer.
    #[test]
    fn exact_is_case_insensitive(a in label(), b in label(), upper in any::<bool>()) {
        let host = format!("{a}.{b}.test");
        let probe = if upper { host.to_ascii_uppercase() } else { host.clone() };
        prop_assert!(matches(&host, &probe));
        let longer = format!("x{host}");
        prop_assert!(!matches(&host, &longer));
    }

    /// Parsing then printing a valid pattern is stable (normalisation is idempotent).
    #[test]
    fn display_round_trips(a in label(), b in label(), c in label(), kind in 0..3u8) {
        let pattern = match kind {
            0 => format!("{a}.{b}.{c}"),
            1 => format!("*.{b}.{c}"),
            _ => format!("*-{a}.{b}.{c}"),
        };
        let parsed = parse(&pattern.to_ascii_uppercase()).unwrap();
        prop_assert_eq!(parse(&parsed.to_string()).unwrap(), parsed);
    }
}
