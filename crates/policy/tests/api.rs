//! Public API behaviour not covered by fixtures: the default policy, static changes,
//! sizes, query `**`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use cordon_policy::{
    CompiledPolicy, DEFAULT_POLICY_YAML, IdSpec, LandlockCompatibility, Verdict, default_policy,
    parse_str, static_changes,
};

#[test]
fn default_policy_parses_cleanly_and_denies_all_network() {
    let loaded = parse_str(DEFAULT_POLICY_YAML, "<default>").unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let policy = default_policy();
    assert_eq!(loaded.policy, policy);
    assert!(policy.network_policies.is_empty());
    assert!(policy.filesystem_policy.include_workdir);
    for dir in ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/opt"] {
        assert!(
            policy
                .filesystem_policy
                .read_only
                .iter()
                .any(|p| p.as_os_str() == dir),
            "{dir}"
        );
    }
    assert!(
        policy
            .filesystem_policy
            .read_write
            .iter()
            .any(|p| p.as_os_str() == "/tmp")
    );
    assert_eq!(
        policy.landlock.compatibility,
        LandlockCompatibility::BestEffort
    );
    assert_eq!(policy.process.run_as_user, IdSpec::Sandbox);
    assert!(policy.network_settings.transparent);
    assert_eq!(policy.network_settings.hold_on_deny_seconds, 0);
}

#[test]
fn omitted_filesystem_section_means_the_default_filesystem() {
    let policy = parse_str("version: 1\n", "<t>").unwrap().policy;
    assert_eq!(policy.filesystem_policy, default_policy().filesystem_policy);
    let policy = parse_str(
        "version: 1\nfilesystem_policy:\n  read_only: [/usr]\n",
        "<t>",
    )
    .unwrap()
    .policy;
    assert!(!policy.filesystem_policy.include_workdir);
    assert!(policy.filesystem_policy.read_write.is_empty());
}

#[test]
fn static_changes_name_sections_that_need_a_restart() {
    let base = default_policy();
    assert!(static_changes(&base, &base).is_empty());
    let network_only = parse_str(
        "version: 1\nnetwork_policies:\n  a:\n    endpoints: [{ host: a.example.com, port: 443 }]\n    binaries: [{ path: /usr/bin/curl }]\nnetwork_settings: { hold_on_deny_seconds: 5 }\n",
        "<t>",
    )
    .unwrap()
    .policy;
    assert!(static_changes(&base, &network_only).is_empty());
    let mut changed = base.clone();
    changed.filesystem_policy.read_write.clear();
    changed.process.run_as_user = IdSpec::Id(1000);
    changed.resources.pids = Some(10);
    changed.landlock.compatibility = LandlockCompatibility::HardRequirement;
    assert_eq!(
        static_changes(&base, &changed),
        ["filesystem_policy", "landlock", "process", "resources"]
    );
}

#[test]
fn sizes_and_cpu() {
    let parse = |memory: &str| {
        parse_str(
            &format!("version: 1\nresources:\n  memory: {memory}\n  cpu: 1.5\n  pids: 64\n"),
            "<t>",
        )
        .map(|l| l.policy.resources)
    };
    assert_eq!(parse("2GiB").unwrap().memory_bytes, Some(2 << 30));
    assert_eq!(parse("512MiB").unwrap().memory_bytes, Some(512 << 20));
    assert_eq!(parse("2G").unwrap().memory_bytes, Some(2_000_000_000));
    assert_eq!(parse("1048576").unwrap().memory_bytes, Some(1 << 20));
    assert_eq!(parse("2GiB").unwrap().cpu, Some(1.5));
    assert_eq!(parse("2GiB").unwrap().pids, Some(64));
    for bad in ["0", "-5", "lots", "\"\""] {
        let err = parse(bad).unwrap_err();
        assert_eq!(err.problems[0].field, "resources.memory", "{bad}");
    }
}

#[test]
fn query_double_star_crosses_dots() {
    let yaml = "version: 1\nnetwork_policies:\n  e:\n    endpoints:\n      - host: api.example.com\n        port: 443\n        protocol: rest\n        rules:\n          - allow: { method: GET, path: \"/**\", query: { v: \"**\", w: \"a.*\" } }\n    binaries: [{ path: /usr/bin/curl }]\n";
    let compiled = CompiledPolicy::compile(&parse_str(yaml, "<t>").unwrap().policy).unwrap();
    let id = compiled
        .decide_connect("api.example.com", 443, Some("/usr/bin/curl"))
        .endpoint
        .unwrap();
    let verdict = |q| compiled.decide_request(id, "GET", "/", Some(q)).verdict;
    assert_eq!(verdict("v=1.2.3&w=a.b"), Verdict::Allow);
    assert_eq!(verdict("v=x/y&w=a.b"), Verdict::Allow);
    assert_eq!(verdict("v=1&w=a.b.c"), Verdict::Deny);
}

#[test]
fn hold_on_deny_seconds_is_bounded_with_a_fix() {
    let yaml = |n: i64| format!("version: 1\nnetwork_settings:\n  hold_on_deny_seconds: {n}\n");
    let held = parse_str(&yaml(300), "<t>").unwrap().policy;
    assert_eq!(
        held.network_settings.hold_on_deny_seconds,
        cordon_policy::MAX_HOLD_ON_DENY_SECONDS
    );
    for bad in [301, 86400, -1] {
        let err = parse_str(&yaml(bad), "p.yaml").unwrap_err().to_string();
        assert!(
            err.contains("p.yaml:3:") && err.contains("network_settings.hold_on_deny_seconds"),
            "{err}"
        );
        assert!(err.contains("fix:"), "{err}");
    }
    let err = parse_str(&yaml(301), "p.yaml").unwrap_err().to_string();
    assert!(err.contains("from 0 to 300"), "{err}");
}

#[test]
fn credential_bindings_take_an_opt_in_for_json_bodies_and_warn_when_not_inspected() {
    let yaml = "version: 1\nnetwork_policies:\n  gh:\n    endpoints:\n      \
                - {host: api.test, port: 443, protocol: rest, access: full, \
                credential_binding: {provider: github, json_body: true}}\n      \
                - {host: raw.test, port: 443, credential_binding: {provider: github}}\n    \
                binaries: [{path: /usr/bin/curl}]\n";
    let loaded = parse_str(yaml, "<test>").unwrap();
    let endpoints = &loaded.policy.network_policies["gh"].endpoints;
    let inspected = endpoints[0].credential_binding.as_ref().unwrap();
    assert_eq!(
        (inspected.provider.as_str(), inspected.json_body),
        ("github", true)
    );
    let raw = endpoints[1].credential_binding.as_ref().unwrap();
    assert!(!raw.json_body, "json_body is off unless asked for");
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0]
            .to_string()
            .contains("endpoints[1].credential_binding"),
        "{:?}",
        loaded.warnings
    );
    let unknown = yaml.replace("json_body: true", "json_bodies: true");
    assert!(parse_str(&unknown, "<test>").is_err());
}
