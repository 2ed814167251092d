use super::super::{CompiledPolicy, Verdict};

fn compiled(yaml: &str) -> CompiledPolicy {
    let loaded = crate::parse_str(yaml, "<test>").unwrap();
    CompiledPolicy::compile(&loaded.policy).unwrap()
}

fn fixture(name: &str) -> CompiledPolicy {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/policies/"
    );
    let loaded = crate::load_file(std::path::Path::new(&format!("{path}{name}"))).unwrap();
    CompiledPolicy::compile(&loaded.policy).unwrap()
}

fn request(
    p: &CompiledPolicy,
    host: &str,
    method: &str,
    path: &str,
    query: Option<&str>,
) -> (Verdict, Option<String>) {
    let c = p.decide_connect(host, 443, Some("/usr/bin/git"));
    let id = c
        .endpoint
        .unwrap_or_else(|| panic!("{host} not allowed: {:?}", c.reason));
    let d = p.decide_request(id, method, path, query);
    (d.verdict, d.rule.map(str::to_owned))
}

#[test]
fn rules_deny_rules_and_queries_from_the_l7_fixture() {
    let p = fixture("valid-l7-rules.yaml");
    let host = "api.code.example.org";
    let r = |m, path, q| request(&p, host, m, path, q);
    assert_eq!(
        r("GET", "/repos/a/b", None),
        (Verdict::Allow, Some("rules[0]".into()))
    );
    // Deny rules win over the allow that also matches.
    assert_eq!(
        r("GET", "/repos/a/secret-repo/x", None),
        (Verdict::Deny, Some("deny_rules[0]".into()))
    );
    // ...even when smuggled with percent-encoding.
    assert_eq!(r("GET", "/repos/a/%73ecret-repo/x", None).0, Verdict::Deny);
    assert_eq!(r("POST", "/repos/a/b", None), (Verdict::Deny, None));
    assert_eq!(
        r(
            "GET",
            "/org/x.git/info/refs",
            Some("service=git-upload-pack")
        ),
        (Verdict::Allow, Some("rules[1]".into()))
    );
    assert_eq!(
        r("GET", "/org/x.git/info/refs", Some("service=other")).0,
        Verdict::Deny
    );
    assert_eq!(r("GET", "/org/x.git/info/refs", None).0, Verdict::Deny);
    // Every value of a repeated key must match an allow rule.
    assert_eq!(
        r(
            "GET",
            "/org/x.git/info/refs",
            Some("service=git-a&service=evil")
        )
        .0,
        Verdict::Deny
    );
    assert_eq!(
        r("POST", "/org/x.git/git-upload-pack", None).0,
        Verdict::Allow
    );
}

#[test]
fn audit_endpoints_audit_deny_instead_of_deny() {
    let p = fixture("valid-l7-rules.yaml");
    let c = p.decide_connect("hooks.chat.example.com", 443, Some("/usr/bin/curl"));
    let id = c.endpoint.unwrap();
    assert_eq!(
        p.decide_request(id, "POST", "/bot123/send", None).verdict,
        Verdict::Allow
    );
    assert_eq!(
        p.decide_request(id, "DELETE", "/bot123/send", None).verdict,
        Verdict::AuditDeny
    );
    // Query values use `.` as separator: `v1.*` matches `v1.2` but not `v1.2.3`.
    assert_eq!(
        p.decide_request(id, "GET", "/v1/items", Some("tag=v2.0"))
            .verdict,
        Verdict::Allow
    );
    assert_eq!(
        p.decide_request(id, "GET", "/v1/items", Some("tag=v2.0.1"))
            .verdict,
        Verdict::AuditDeny
    );
    // Malformed paths are refused even in audit mode.
    assert_eq!(
        p.decide_request(id, "POST", "/bot1/../admin", None).verdict,
        Verdict::Deny
    );
}

const PRESETS: &str = r#"
version: 1
network_policies:
  e:
    endpoints:
      - { host: ro.example.com, port: 443, protocol: rest, access: read-only }
      - { host: rw.example.com, port: 443, protocol: rest, access: read-write }
      - { host: full.example.com, port: 443, protocol: rest, access: full,
          deny_rules: [{ method: DELETE, path: "/keep/**" }] }
      - { host: npm.example.com, port: 443, protocol: rest, access: read-only, allow_encoded_slash: true }
      - { host: l4.example.com, port: 443 }
    binaries: [{ path: /usr/bin/git }]
"#;

#[test]
fn access_presets() {
    let p = compiled(PRESETS);
    let r = |host, m| request(&p, host, m, "/x", None).0;
    for m in ["GET", "head", "OPTIONS"] {
        assert_eq!(r("ro.example.com", m), Verdict::Allow, "{m}");
    }
    for m in ["POST", "PUT", "PATCH", "DELETE"] {
        assert_eq!(r("ro.example.com", m), Verdict::Deny, "{m}");
    }
    for m in ["GET", "POST", "PUT", "PATCH"] {
        assert_eq!(r("rw.example.com", m), Verdict::Allow, "{m}");
    }
    assert_eq!(r("rw.example.com", "DELETE"), Verdict::Deny);
    assert_eq!(r("full.example.com", "DELETE"), Verdict::Allow);
    assert_eq!(
        request(&p, "full.example.com", "DELETE", "/keep/a", None),
        (Verdict::Deny, Some("deny_rules[0]".into()))
    );
    assert_eq!(
        request(&p, "ro.example.com", "GET", "/x", None)
            .1
            .as_deref(),
        Some("access: read-only")
    );
}

#[test]
fn encoded_slash_needs_allow_encoded_slash() {
    let p = compiled(PRESETS);
    assert_eq!(
        request(&p, "ro.example.com", "GET", "/@types%2Fnode", None).0,
        Verdict::Deny
    );
    assert_eq!(
        request(&p, "ro.example.com", "GET", "/@types%2fnode", None).0,
        Verdict::Deny
    );
    assert_eq!(
        request(&p, "npm.example.com", "GET", "/@types%2Fnode", None).0,
        Verdict::Allow
    );
}

#[test]
fn malformed_paths_are_denied() {
    let p = compiled(PRESETS);
    for path in [
        "x",
        "/a/%zz",
        "/a/%2",
        "/a/./b",
        "/a/../b",
        "/a/%2e%2e/b",
        "/a%00",
    ] {
        assert_eq!(
            request(&p, "full.example.com", "GET", path, None).0,
            Verdict::Deny,
            "{path}"
        );
    }
    let long = format!("/{}", "a".repeat(5000));
    assert_eq!(
        request(&p, "full.example.com", "GET", &long, None).0,
        Verdict::Deny
    );
}

#[test]
fn uninspected_endpoints_allow_any_request() {
    let p = compiled(PRESETS);
    assert_eq!(
        request(&p, "l4.example.com", "DELETE", "/x", None),
        (Verdict::Allow, None)
    );
}

#[test]
fn path_globs_cross_slashes() {
    let p = compiled(
        r#"
version: 1
network_policies:
  e:
    endpoints:
      - host: api.example.com
        port: 443
        protocol: rest
        rules:
          - allow: { method: GET, path: "/a/*/z" }
          - allow: { method: GET, path: "/v?/[abc]x" }
    binaries: [{ path: /usr/bin/git }]
"#,
    );
    let r = |path| request(&p, "api.example.com", "GET", path, None).0;
    assert_eq!(r("/a/b/z"), Verdict::Allow);
    assert_eq!(r("/a/b/c/z"), Verdict::Allow);
    assert_eq!(r("/a/z"), Verdict::Deny);
    assert_eq!(r("/v1/bx"), Verdict::Allow);
    assert_eq!(r("/v12/bx"), Verdict::Deny);
    assert_eq!(r("/v1/dx"), Verdict::Deny);
}

#[test]
fn endpoint_path_selects_among_siblings() {
    let p = compiled(
        r#"
version: 1
network_policies:
  e:
    endpoints:
      - { host: api.example.com, port: 443, protocol: rest, access: read-only }
      - { host: api.example.com, port: 443, protocol: rest, path: "/admin/**", access: full }
    binaries: [{ path: /usr/bin/git }]
"#,
    );
    let r = |m, path| request(&p, "api.example.com", m, path, None).0;
    assert_eq!(r("DELETE", "/admin/users/1"), Verdict::Allow);
    assert_eq!(r("DELETE", "/admin"), Verdict::Allow);
    assert_eq!(r("DELETE", "/users/1"), Verdict::Deny);
    assert_eq!(r("GET", "/users/1"), Verdict::Allow);
}

#[test]
fn query_matcher_semantics() {
    let p = compiled(
        r#"
version: 1
network_policies:
  e:
    endpoints:
      - host: api.example.com
        port: 443
        protocol: rest
        rules:
          - allow: { method: GET, path: "/**", query: { v: { any: ["a*", "b"] } } }
        deny_rules:
          - { method: GET, path: "/**", query: { debug: "*" } }
    binaries: [{ path: /usr/bin/git }]
"#,
    );
    let r = |q| request(&p, "api.example.com", "GET", "/x", Some(q)).0;
    assert_eq!(r("v=abc"), Verdict::Allow);
    assert_eq!(r("v=b&x=1"), Verdict::Allow);
    assert_eq!(r("v=a%20b"), Verdict::Allow);
    assert_eq!(r("v=c"), Verdict::Deny);
    assert_eq!(r("v=abc&v=c"), Verdict::Deny);
    // One matching value of a deny key is enough; undecodable values fail closed.
    assert_eq!(r("v=abc&debug=1"), Verdict::Deny);
    assert_eq!(r("v=abc&debug=%zz"), Verdict::Deny);
    assert_eq!(r("v=%zz"), Verdict::Deny);
}
