use super::*;

fn compiled(yaml: &str) -> CompiledPolicy {
    let loaded = crate::parse_str(yaml, "<test>").unwrap();
    CompiledPolicy::compile(&loaded.policy).unwrap()
}

const POLICY: &str = r#"
version: 1
network_policies:
  github:
    endpoints:
      - { host: api.github.com, port: 443, protocol: rest, access: read-only }
      - { host: "*.githubusercontent.com", ports: [80, 443] }
    binaries:
      - { path: /usr/bin/git }
      - { path: "/usr/lib/git-core/*" }
  anything:
    endpoints:
      - { host: "**.cdn.example.org", port: 443 }
      - { host: 10.1.2.3, port: 5432 }
    binaries:
      - { path: "/**" }
  nobody:
    endpoints:
      - { host: lonely.example.com, port: 443 }
"#;

#[test]
fn exact_host_port_and_binary_allow() {
    let p = compiled(POLICY);
    let d = p.decide_connect("API.GitHub.com", 443, Some("/usr/bin/git"));
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!(d.entry, Some("github"));
    let ep = p.endpoint(d.endpoint.unwrap());
    assert_eq!((ep.entry.as_str(), ep.index), ("github", 0));
    assert!(ep.inspect && ep.host_is_exact);
}

#[test]
fn wrong_port_is_denied_with_reason() {
    let p = compiled(POLICY);
    let d = p.decide_connect("api.github.com", 80, Some("/usr/bin/git"));
    assert_eq!(
        (d.verdict, d.reason),
        (Verdict::Deny, DenyReason::PortNotAllowed)
    );
    assert_eq!(d.endpoint, None);
}

#[test]
fn unlisted_binary_is_denied_and_names_the_near_entry() {
    let p = compiled(POLICY);
    let d = p.decide_connect("api.github.com", 443, Some("/usr/bin/curl"));
    assert_eq!(
        (d.verdict, d.reason),
        (Verdict::Deny, DenyReason::BinaryNotAllowed)
    );
    assert_eq!(d.entry, Some("github"));
    // `*` in a binary glob stays in one path component.
    let d = p.decide_connect(
        "api.github.com",
        443,
        Some("/usr/lib/git-core/git-remote-https"),
    );
    assert_eq!(d.verdict, Verdict::Allow);
    let d = p.decide_connect("api.github.com", 443, Some("/usr/lib/git-core/x/evil"));
    assert_eq!(d.verdict, Verdict::Deny);
}

#[test]
fn unknown_binary_only_passes_entries_that_allow_any_binary() {
    let p = compiled(POLICY);
    let d = p.decide_connect("api.github.com", 443, None);
    assert_eq!(
        (d.verdict, d.reason),
        (Verdict::Deny, DenyReason::BinaryUnknown)
    );
    let d = p.decide_connect("a.b.cdn.example.org", 443, None);
    assert_eq!(d.verdict, Verdict::Allow);
}

#[test]
fn entry_without_binaries_allows_nothing() {
    let p = compiled(POLICY);
    let d = p.decide_connect("lonely.example.com", 443, Some("/usr/bin/curl"));
    assert_eq!(
        (d.verdict, d.reason),
        (Verdict::Deny, DenyReason::BinaryNotAllowed)
    );
}

#[test]
fn wildcards_and_ip_literals() {
    let p = compiled(POLICY);
    let git = Some("/usr/bin/git");
    assert_eq!(
        p.decide_connect("raw.githubusercontent.com", 80, git)
            .verdict,
        Verdict::Allow
    );
    assert_eq!(
        p.decide_connect("a.raw.githubusercontent.com", 80, git)
            .verdict,
        Verdict::Deny
    );
    assert_eq!(
        p.decide_connect("githubusercontent.com", 80, git).verdict,
        Verdict::Deny
    );
    assert!(
        !p.endpoint(
            p.decide_connect("raw.githubusercontent.com", 443, git)
                .endpoint
                .unwrap()
        )
        .host_is_exact
    );
    assert_eq!(
        p.decide_connect("10.1.2.3", 5432, Some("/usr/bin/psql"))
            .verdict,
        Verdict::Allow
    );
    assert_eq!(
        p.decide_connect("10.1.2.4", 5432, Some("/usr/bin/psql"))
            .reason,
        DenyReason::NoEndpointForHost
    );
}

#[test]
fn invalid_hosts_are_denied() {
    let p = compiled(POLICY);
    for host in ["", "*.github.com", "api github.com", "api.github.com/x"] {
        let d = p.decide_connect(host, 443, Some("/usr/bin/git"));
        assert_eq!(
            (d.verdict, d.reason),
            (Verdict::Deny, DenyReason::InvalidHost),
            "{host:?}"
        );
    }
}

#[test]
fn default_policy_denies_everything() {
    let p = CompiledPolicy::compile(&crate::default_policy()).unwrap();
    let d = p.decide_connect("example.com", 443, Some("/usr/bin/curl"));
    assert_eq!(
        (d.verdict, d.reason),
        (Verdict::Deny, DenyReason::NoEndpointForHost)
    );
    assert!(!p.host_could_match("example.com"));
}

#[test]
fn inspected_endpoint_wins_over_an_l4_one_for_the_same_host() {
    let p = compiled(
        r#"
version: 1
network_policies:
  a_l4:
    endpoints: [{ host: "*.example.com", port: 443 }]
    binaries: [{ path: /usr/bin/curl }]
  b_rest:
    endpoints: [{ host: api.example.com, port: 443, protocol: rest, access: read-only }]
    binaries: [{ path: /usr/bin/curl }]
"#,
    );
    let d = p.decide_connect("api.example.com", 443, Some("/usr/bin/curl"));
    assert_eq!(d.entry, Some("b_rest"));
    let id = d.endpoint.unwrap();
    assert_eq!(
        p.decide_request(id, "POST", "/x", None).verdict,
        Verdict::Deny
    );
    // Another host under the wildcard keeps its L4 allow.
    assert_eq!(
        p.decide_connect("www.example.com", 443, Some("/usr/bin/curl"))
            .entry,
        Some("a_l4")
    );
}

#[test]
fn host_could_match_ignores_port_and_binary() {
    let p = compiled(POLICY);
    assert!(p.host_could_match("API.github.com"));
    assert!(p.host_could_match("x.y.cdn.example.org"));
    assert!(p.host_could_match("10.1.2.3"));
    assert!(!p.host_could_match("cdn.example.org"));
    assert!(!p.host_could_match("evil.com"));
}

#[test]
fn compiled_policy_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CompiledPolicy>();
}

#[test]
fn many_intra_label_patterns_under_one_domain() {
    let mut yaml = String::from("version: 1\nnetwork_policies:\n  e:\n    endpoints:\n");
    for i in 0..300 {
        yaml.push_str(&format!(
            "      - {{ host: \"*-api{i}.example.net\", port: 443 }}\n"
        ));
    }
    yaml.push_str("      - { host: \"api-*.example.net\", port: 8443 }\n");
    yaml.push_str("      - { host: \"a*b*c.example.net\", port: 9443 }\n");
    yaml.push_str("    binaries: [{ path: /usr/bin/curl }]\n");
    let p = compiled(&yaml);
    let curl = Some("/usr/bin/curl");
    let d = p.decide_connect("eu-west-api123.example.net", 443, curl);
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!(p.endpoint(d.endpoint.unwrap()).index, 123);
    assert_eq!(
        p.decide_connect("-api7.example.net", 443, curl).verdict,
        Verdict::Allow
    );
    assert_eq!(
        p.decide_connect("x.eu-api7.example.net", 443, curl).verdict,
        Verdict::Deny
    );
    assert_eq!(
        p.decide_connect("eu-api7x.example.net", 443, curl).verdict,
        Verdict::Deny
    );
    assert_eq!(
        p.decide_connect("api-anything.example.net", 8443, curl)
            .verdict,
        Verdict::Allow
    );
    assert_eq!(
        p.decide_connect("api.example.net", 8443, curl).verdict,
        Verdict::Deny
    );
    assert_eq!(
        p.decide_connect("axxbyyc.example.net", 9443, curl).verdict,
        Verdict::Allow
    );
    assert_eq!(
        p.decide_connect("axxbyy.example.net", 9443, curl).verdict,
        Verdict::Deny
    );
    assert!(p.host_could_match("zz-api299.example.net"));
    assert!(!p.host_could_match("zz-api300.example.net"));
}

mod index_properties {
    use proptest::prelude::*;

    use super::*;

    fn label() -> impl Strategy<Value = String> {
        "[a-c]{1,3}"
    }

    fn pattern() -> impl Strategy<Value = String> {
        (label(), label(), 0..5u8, label()).prop_map(|(a, b, kind, c)| match kind {
            0 => format!("{a}.{b}.test"),
            1 => format!("*.{b}.test"),
            2 => format!("**.{b}.test"),
            3 => format!("*{a}.{b}.test"),
            _ => format!("{a}*{c}.{b}.test"),
        })
    }

    fn host() -> impl Strategy<Value = String> {
        prop::collection::vec(label(), 1..4).prop_map(|labels| format!("{}.test", labels.join(".")))
    }

    proptest! {
        /// The host index finds exactly the endpoints a full scan would.
        #[test]
        fn index_agrees_with_a_full_scan(patterns in prop::collection::vec(pattern(), 1..12), hosts in prop::collection::vec(host(), 1..12)) {
            let mut yaml = String::from("version: 1\nnetwork_policies:\n  e:\n    endpoints:\n");
            for p in &patterns {
                yaml.push_str(&format!("      - {{ host: \"{p}\", port: 443 }}\n"));
            }
            yaml.push_str("    binaries: [{ path: /usr/bin/curl }]\n");
            let p = compiled(&yaml);
            for h in &hosts {
                let mut buf = [0u8; MAX_HOST_LEN];
                let host_ref = host::normalize(h, &mut buf).unwrap();
                let scan = p.matchers.iter().any(|m| m.host.matches(host_ref));
                prop_assert_eq!(p.host_could_match(h), scan, "{} vs {:?}", h, patterns);
                let allowed = p.decide_connect(h, 443, Some("/usr/bin/curl")).verdict == Verdict::Allow;
                prop_assert_eq!(allowed, scan, "{} vs {:?}", h, patterns);
            }
        }
    }
}

fn link_policy(link: &std::path::Path) -> CompiledPolicy {
    compiled(&format!(
        "version: 1\nnetwork_policies:\n  py:\n    endpoints: [{{ host: pypi.org, port: 443 }}]\n    binaries: [{{ path: \"{}\" }}]\n",
        link.display()
    ))
}

fn admits(p: &CompiledPolicy, binary: &std::path::Path) -> bool {
    let binary = std::fs::canonicalize(binary).unwrap();
    p.decide_connect("pypi.org", 443, binary.to_str()).verdict == Verdict::Allow
}

#[test]
fn a_listed_system_symlink_also_admits_its_target_but_nothing_else() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    // Files this test creates are root's exactly when it runs as root.
    let root = std::fs::metadata(dir.path()).unwrap().uid() == 0;
    let real = dir.path().join("python3.11");
    let other = dir.path().join("perl");
    std::fs::write(&real, "").unwrap();
    std::fs::write(&other, "").unwrap();
    let link = dir.path().join("python3");
    std::os::unix::fs::symlink("python3.11", &link).unwrap();
    let p = link_policy(&link);
    // The kernel reports the resolved file (/proc/PID/exe). Only links owned by root
    // (the system's) are followed: as root this one is.
    assert_eq!(admits(&p, &real), root);
    let d = p.decide_connect("pypi.org", 443, link.to_str());
    assert_eq!(d.verdict, Verdict::Allow);
    // Blocked twin: a file beside it that the link does not lead to.
    assert!(!admits(&p, &other));
    if root {
        // A link someone else owns (an agent's, in a tree it can write) is not followed.
        std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
        assert!(!admits(&link_policy(&link), &real));
    }
}

#[test]
fn a_link_to_a_multi_call_binary_admits_only_its_own_name() {
    let dir = tempfile::tempdir().unwrap();
    let busybox = dir.path().join("busybox");
    std::fs::write(&busybox, "").unwrap();
    let wget = dir.path().join("wget");
    std::os::unix::fs::symlink("busybox", &wget).unwrap();
    // busybox is every applet (nc, sh...): listing wget must not admit it.
    assert!(!admits(&link_policy(&wget), &busybox));
}
