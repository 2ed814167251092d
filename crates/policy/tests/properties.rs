//! Property tests over the public API: path globs (through `decide_request`),
//! validation rules, and the parse → show → parse round trip.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use cordon_policy::{CompiledPolicy, EndpointId, Verdict, parse_str};
use proptest::prelude::*;

fn segment() -> impl Strategy<Value = String> {
    "[a-z0-9_-]{1,8}"
}

/// A policy whose one inspected endpoint allows GET on `pattern` only.
fn with_rule(pattern: &str) -> (CompiledPolicy, EndpointId) {
    let yaml = format!(
        "version: 1\nnetwork_policies:\n  e:\n    endpoints:\n      - host: api.example.com\n        port: 443\n        protocol: rest\n        rules:\n          - allow: {{ method: GET, path: {pattern:?} }}\n    binaries: [{{ path: /usr/bin/curl }}]\n"
    );
    let loaded = parse_str(&yaml, "<prop>").unwrap();
    let compiled = CompiledPolicy::compile(&loaded.policy).unwrap();
    let id = compiled
        .decide_connect("api.example.com", 443, Some("/usr/bin/curl"))
        .endpoint
        .unwrap();
    (compiled, id)
}

fn allowed(p: &(CompiledPolicy, EndpointId), path: &str) -> bool {
    p.0.decide_request(p.1, "GET", path, None).verdict == Verdict::Allow
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A literal pattern matches exactly its own path.
    #[test]
    fn literal_path_matches_only_itself(segs in prop::collection::vec(segment(), 1..5), other in segment()) {
        let path = format!("/{}", segs.join("/"));
        let p = with_rule(&path);
        prop_assert!(allowed(&p, &path));
        let other_path = format!("{path}/{other}");
        prop_assert!(!allowed(&p, &other_path));
    }

    /// `*` and `**` may cross `/` in L7 paths.
    #[test]
    fn star_crosses_slashes(head in segment(), middle in prop::collection::vec(segment(), 1..4), tail in segment()) {
        let path = format!("/{head}/{}/{tail}", middle.join("/"));
        let star = with_rule(&format!("/{head}/*/{tail}"));
        let double = with_rule(&format!("/{head}/**"));
        let other = with_rule(&format!("/{head}x/**"));
        prop_assert!(allowed(&star, &path));
        prop_assert!(allowed(&double, &path));
        prop_assert!(!allowed(&other, &path));
    }

    /// `?` matches exactly one character.
    #[test]
    fn question_mark_is_one_character(seg in "[a-z]{2,8}") {
        let pattern = format!("/{}?", &seg[..seg.len() - 1]);
        let p = with_rule(&pattern);
        let exact = format!("/{seg}");
        let longer = format!("/{seg}x");
        let shorter = format!("/{}", &seg[..seg.len() - 1]);
        prop_assert!(allowed(&p, &exact));
        prop_assert!(!allowed(&p, &longer));
        prop_assert!(!allowed(&p, &shorter));
    }

    /// Any filesystem path with a `..` component is rejected; any absolute path
    /// without one is accepted and normalised idempotently.
    #[test]
    fn filesystem_paths(segs in prop::collection::vec(prop_oneof![segment(), Just("..".to_owned()), Just(".".to_owned()), Just(String::new())], 1..6)) {
        let path = format!("/{}", segs.join("/"));
        let yaml = format!("version: 1\nfilesystem_policy:\n  read_only: [{path:?}]\n");
        let result = parse_str(&yaml, "<prop>");
        if segs.iter().any(|s| s == "..") {
            let err = result.unwrap_err();
            prop_assert_eq!(err.problems[0].field.as_str(), "filesystem_policy.read_only[0]");
        } else {
            let policy = result.unwrap().policy;
            let normalised = policy.filesystem_policy.read_only[0].display().to_string();
            let again = format!("version: 1\nfilesystem_policy:\n  read_only: [{normalised:?}]\n");
            let again = parse_str(&again, "<prop>").unwrap().policy;
            prop_assert_eq!(again.filesystem_policy.read_only, policy.filesystem_policy.read_only);
        }
    }

    /// Ports are accepted exactly in 1..=65535.
    #[test]
    fn ports(port in -5i64..70_000) {
        let yaml = format!("version: 1\nnetwork_policies:\n  e:\n    endpoints: [{{ host: a.example.com, port: {port} }}]\n    binaries: [{{ path: /usr/bin/curl }}]\n");
        let ok = parse_str(&yaml, "<prop>").is_ok();
        prop_assert_eq!(ok, (1..=65_535).contains(&port));
    }

    /// Ids are accepted exactly in 1..=4294967294, as numbers or strings.
    #[test]
    fn ids(id in prop_oneof![0i64..3, 4_294_967_290i64..4_294_967_300], quoted in any::<bool>()) {
        let value = if quoted { format!("\"{id}\"") } else { id.to_string() };
        let yaml = format!("version: 1\nprocess:\n  run_as_user: {value}\n");
        let ok = parse_str(&yaml, "<prop>").is_ok();
        prop_assert_eq!(ok, (1..=4_294_967_294).contains(&id));
    }

    /// parse → show (YAML) → parse is the identity on generated policies.
    #[test]
    fn show_round_trips(
        hosts in prop::collection::vec((segment(), 0..3u8), 1..5),
        ports in prop::collection::vec(1u16..=65535, 1..4),
        inspect in any::<bool>(),
        memory_mib in prop::option::of(1u64..4096),
    ) {
        let mut yaml = String::from("version: 1\nnetwork_policies:\n  e:\n    endpoints:\n");
        for (label, kind) in &hosts {
            let host = match kind { 0 => format!("{label}.example.com"), 1 => format!("*.{label}.example.com"), _ => format!("**.{label}.example.com") };
            yaml.push_str(&format!("      - host: {host:?}\n        ports: {ports:?}\n"));
            if inspect {
                yaml.push_str("        protocol: rest\n        access: read-write\n");
            }
        }
        yaml.push_str("    binaries: [{ path: \"/usr/bin/*\" }]\n");
        if let Some(mib) = memory_mib {
            yaml.push_str(&format!("resources:\n  memory: {mib}MiB\n"));
        }
        let first = parse_str(&yaml, "<prop>").unwrap().policy;
        let shown = first.to_yaml().unwrap();
        let second = parse_str(&shown, "<show>").unwrap().policy;
        prop_assert_eq!(first, second);
    }
}
