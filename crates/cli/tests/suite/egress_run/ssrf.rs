//! Internal addresses through the proxy: the cloud metadata address, a loopback port the
//! policy does not name, a wildcard name pointed at 127.0.0.1, `[::1]` and the
//! IPv4-mapped `[::ffff:127.0.0.1]` are refused; each beside an allowed twin (an exact
//! name, or the exact literal 127.0.0.1 written in the policy).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use super::server::TestServer;
use super::{curl_line, denial, network, policy_file, result};
use crate::suite::common::{MODES, WorldDir, cordon};

#[test]
fn internal_addresses_are_refused_unless_named_exactly() {
    let api = TestServer::start("api");
    let other = TestServer::start("other");
    let (p, q) = (api.port(), other.port());
    for mode in MODES {
        let dir = WorldDir::new(false);
        let policy = policy_file(
            &dir,
            "policy.yaml",
            &network(&[
                ("exact", &[("api.test", p), ("127.0.0.1", p)], &["/**"]),
                ("wild", &[("*.wild.test", p)], &["/**"]),
                ("meta", &[("*.cloud.test", 80)], &["/**"]),
            ]),
        );
        // NO_PROXY lists loopback, so curl is told to use the proxy for literals too:
        // this is what an agent trying to reach the host's loopback would do.
        let via = "--noproxy '' -x http://127.0.0.1:3128";
        let mut script = String::new();
        for (label, url) in [
            ("exact_name", format!("http://api.test:{p}/")),
            ("exact_literal", format!("http://127.0.0.1:{p}/")),
            (
                "metadata_ip",
                "http://169.254.169.254/latest/meta-data/".into(),
            ),
            (
                "metadata_name",
                "http://meta.cloud.test/latest/meta-data/".into(),
            ),
            ("other_port_name", format!("http://api.test:{q}/")),
            ("other_port_literal", format!("http://127.0.0.1:{q}/")),
            ("wildcard_loopback", format!("http://a.wild.test:{p}/")),
            ("v6_loopback", format!("http://[::1]:{p}/")),
            ("v4_mapped", format!("http://[::ffff:127.0.0.1]:{q}/")),
        ] {
            script.push_str(&curl_line(label, &format!("{via} '{url}'")));
        }
        // The CONNECT path is judged the same way.
        script.push_str(&curl_line(
            "connect_exact",
            &format!("{via} -p http://api.test:{p}/"),
        ));
        // A refused CONNECT has no body to show: print the CONNECT response code.
        script.push_str(&format!(
            "printf 'connect_wildcard '; curl -sS -o /dev/null -w '%{{http_connect}}' {via} -p \
             http://a.wild.test:{p}/ 2>/dev/null; echo\n"
        ));
        let run = cordon(
            mode,
            [
                "run",
                "--policy",
                &policy,
                "--add-host",
                "api.test:127.0.0.1",
                "--add-host",
                "a.wild.test:127.0.0.1",
                "--add-host",
                "meta.cloud.test:169.254.169.254",
                "--",
                "/bin/sh",
                "-c",
                &script,
            ],
        )
        .run();
        let out = run.ok();
        let ctx = format!("{mode:?}: {run:#?}");
        // Twins: the operator wrote the name, or the literal, exactly.
        assert_eq!(result(out, "exact_name"), "200 api GET /", "{ctx}");
        assert_eq!(result(out, "exact_literal"), "200 api GET /", "{ctx}");
        assert_eq!(result(out, "connect_exact"), "200 api GET /", "{ctx}");
        assert_eq!(
            other.hits(),
            0,
            "{ctx}: a refused request reached the other port"
        );

        let reason = |label: &str| {
            denial(result(out, label))["reason"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert!(
            reason("metadata_ip").contains("no network_policies endpoint"),
            "{ctx}"
        );
        assert!(reason("metadata_name").contains("metadata"), "{ctx}");
        assert!(reason("other_port_name").contains("port"), "{ctx}");
        assert!(!reason("other_port_literal").is_empty(), "{ctx}");
        assert!(reason("wildcard_loopback").contains("loopback"), "{ctx}");
        assert!(!reason("v6_loopback").is_empty(), "{ctx}");
        assert!(!reason("v4_mapped").is_empty(), "{ctx}");
        // A refused CONNECT is answered 403 before any tunnel exists.
        assert_eq!(result(out, "connect_wildcard"), "403", "{ctx}");
    }
}
