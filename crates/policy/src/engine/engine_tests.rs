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
    assert_eq!((d.verdict, d.reason), (Verdict::Deny, DenyReason::PortNotAllowed));
    assert_eq!(d.endpoint, None);
}

#[test]
fn unlisted_binary_is_denied_and_names_the_near_entry() {
    let p = compiled(POLICY);
    let d = p.decide_connect("api.github.com", 443, Some("/usr/bin/curl"));
    assert_eq!((d.verdict, d.reason), (Verdict::Deny, DenyReason::BinaryNotAllowed));
    assert_eq!(d.entry, Some("github"));
    // `*` in a binary glob stays in one path component.
    let d = p.decide_connect("api.github.com", 443, Some("/usr/lib/git-core/git-remote-https"));
    assert_eq!(d.verdict, Verdict::Allow);
    let d = p.decide_connect("api.github.com", 443, Some("/usr/lib/git-core/x/evil"));
    assert_eq!(d.verdict, Verdict::Deny);
}

#[test]
fn unknown_binary_only_passes_entries_that_allow_any_binary() {
    let p = compiled(POLICY);
    let d = p.decide_connect("api.github.com", 443, None);
    assert_eq!((d.verdict, d.reason), (Verdict::Deny, DenyReason::BinaryUnknown));
    let d = p.decide_connect("a.b.cdn.example.org", 443, None);
    assert_eq!(d.verdict, Verdict::Allow);
}

#[test]
fn entry_without_binaries_allows_nothing() {
    let p = compiled(POLICY);
    let d = p.decide_connect("lonely.example.com", 443, Some("/usr/bin/curl"));
    assert_eq!((d.verdict, d.reason), (Verdict::Deny, DenyReason::BinaryNotAllowed));
}

#[test]
fn wildcards_and_ip_literals() {
    let p = compiled(POLICY);
    let git = Some("/usr/bin/git");
    assert_eq!(p.decide_connect("raw.githubusercontent.com", 80, git).verdict, Verdict::Allow);
    assert_eq!(p.decide_connect("a.raw.githubusercontent.com", 80, git).verdict, Verdict::Deny);
    assert_eq!(p.decide_connect("githubusercontent.com", 80, git).verdict, Verdict::Deny);
    assert!(!p.endpoint(p.decide_connect("raw.githubusercontent.com", 443, git).endpoint.unwrap()).host_is_exact);
    assert_eq!(p.decide_connect("10.1.2.3", 5432, Some("/usr/bin/psql")).verdict, Verdict::Allow);
    assert_eq!(p.decide_connect("10.1.2.4", 5432, Some("/usr/bin/psql")).reason, DenyReason::NoEndpointForHost);
}

#[test]
fn invalid_hosts_are_denied() {
    let p = compiled(POLICY);
    for host in ["", "*.github.com", "api github.com", "api.github.com/x"] {
        let d = p.decide_connect(host, 443, Some("/usr/bin/git"));
        assert_eq!((d.verdict, d.reason), (Verdict::Deny, DenyReason::InvalidHost), "{host:?}");
    }
}

#[test]
fn default_policy_denies_everything() {
    let p = CompiledPolicy::compile(&crate::default_policy()).unwrap();
    let d = p.decide_connect("example.com", 443, Some("/usr/bin/curl"));
    assert_eq!((d.verdict, d.reason), (Verdict::Deny, DenyReason::NoEndpointForHost));
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
    assert_eq!(p.decide_request(id, "POST", "/x", None).verdict, Verdict::Deny);
    // Another host under the wildcard keeps its L4 allow.
    assert_eq!(p.decide_connect("www.example.com", 443, Some("/usr/bin/curl")).entry, Some("a_l4"));
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
