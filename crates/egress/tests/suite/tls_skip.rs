//! What is not inspected: `tls: skip` endpoints are tunnelled untouched (the client
//! sees the origin's own certificate and no request rule applies), and a client that
//! pins its own CA on an inspected endpoint fails cleanly with an audit line naming
//! the fix.

use serde_json::Value;

use super::tls_support::{Origin, curl_https, start};

fn policy(port: u16) -> String {
    format!(
        r#"
version: 1
network_policies:
  api:
    endpoints:
      - host: api.test
        port: {port}
        protocol: rest
        access: read-only
      - host: skip.test
        port: {port}
        tls: skip
    binaries:
      - {{path: "/**"}}
"#
    )
}

#[test]
fn tls_skip_is_tunnelled_untouched_and_not_inspected() {
    let origin = Origin::start();
    let (env, trust) = start(&policy(origin.port()), &origin, &["api.test", "skip.test"]);
    let url = format!("https://skip.test:{}/anything", origin.port());
    // The client talks TLS to the origin itself: it must trust the origin's CA ...
    let (code, body, _, err) = curl_https(&env, &trust.origin_ca, &["-X", "POST", &url]);
    assert_eq!(code, 200, "{body} {err}");
    assert_eq!(
        body, "origin /anything len=0",
        "the origin answered directly"
    );
    // ... and the sandbox CA does not help, since nothing is terminated.
    let (_, _, exit, _) = curl_https(&env, &trust.sandbox_ca, &[&url]);
    assert_eq!(exit, 60, "curl: peer certificate cannot be authenticated");
    let lines = env.audit_for("skip.test", 2);
    assert!(
        lines.iter().all(|l| l["http_request"].is_null()),
        "no request-level lines: {lines:?}"
    );
    assert!(lines.iter().all(|l| l["class_uid"] == 4001), "{lines:?}");
}

#[test]
fn a_client_pinning_its_own_ca_fails_cleanly_with_a_clear_audit_line() {
    let origin = Origin::start();
    let (env, trust) = start(&policy(origin.port()), &origin, &["api.test", "skip.test"]);
    let url = format!("https://api.test:{}/x", origin.port());
    let (code, _, exit, err) = curl_https(&env, &trust.origin_ca, &[&url]);
    assert_eq!((code, exit), (0, 60), "{err}");
    let lines = env.audit_for("api.test", 1);
    let line: &Value = lines
        .iter()
        .find(|l| l["unmapped"]["action"] == "deny")
        .unwrap_or_else(|| panic!("no deny line: {lines:?}"));
    let reason = line["status_detail"].as_str().unwrap();
    assert!(
        reason.contains("rejected the sandbox certificate"),
        "{reason}"
    );
    assert!(
        reason.contains(
            "remove `protocol` and the request rules from network_policies.api.endpoints[0]"
        ),
        "{reason}"
    );
    assert!(origin.seen().is_empty());
    // The twin: trusting the sandbox CA works.
    let (code, _, _, _) = curl_https(&env, &trust.sandbox_ca, &[&url]);
    assert_eq!(code, 200);
}
