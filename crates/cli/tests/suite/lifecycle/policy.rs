//! `cordon policy get/set` on a running sandbox: a valid policy is in force for the next
//! connection, an invalid one and one changing a static section are refused (exit 1,
//! the reason on stderr) and the policy in force keeps being enforced; a stopped sandbox
//! takes any valid policy for its next start.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::Path;

use super::super::egress_run::network;
use super::super::egress_run::server::TestServer;
use super::{Fleet, eventually};
use crate::suite::common::{MODES, policy_yaml};

#[test]
fn policy_set_applies_valid_and_refuses_invalid_or_static_changes() {
    let api = TestServer::start("api");
    let p = api.port();
    for mode in MODES {
        let fleet = Fleet::new(mode);
        let allow = |host: &str| {
            policy_yaml(
                &[],
                &[],
                &network(&[("api", &[(host, p)], &["/usr/bin/curl"])]),
            )
        };
        let write = |file: &str, yaml: &str| fleet.scratch().file(file, yaml).display().to_string();
        let first = write("first.yaml", &allow("api.test"));
        let second = write("second.yaml", &allow("other.test"));
        let invalid = write(
            "invalid.yaml",
            "version: 1\nnetwork_policies:\n  api:\n    endpoints:\n      - { host: api.test, port: 99999 }\n",
        );
        let static_change = write(
            "static.yaml",
            &policy_yaml(
                &[Path::new("/var")],
                &[],
                &network(&[("api", &[("other.test", p)], &["/usr/bin/curl"])]),
            ),
        );
        fleet
            .run([
                "create",
                "pol",
                "--policy",
                &first,
                "--add-host",
                "api.test:127.0.0.1",
                "--add-host",
                "other.test:127.0.0.1",
                "--",
                "sleep",
                "600",
            ])
            .ok();
        let fetch = |host: &str| {
            fleet
                .run([
                    "exec",
                    "pol",
                    "--",
                    "curl",
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    &format!("http://{host}:{p}/"),
                ])
                .stdout
        };
        assert_eq!(fetch("api.test"), "200", "{mode:?}");
        assert_eq!(fetch("other.test"), "403", "{mode:?}");

        // Valid, waited for: in force at once.
        let set = fleet.run(["policy", "set", "pol", &second, "--wait"]);
        assert_eq!(set.ok(), "pol: policy generation 2 in force\n", "{mode:?}");
        assert_eq!(fetch("api.test"), "403");
        assert_eq!(fetch("other.test"), "200");
        assert_eq!(
            fleet.run(["policy", "get", "pol"]).ok(),
            allow("other.test")
        );

        // Invalid: refused with the problem; generation 2 still enforced.
        let bad = fleet.run(["policy", "set", "pol", &invalid, "--wait"]);
        assert_eq!(bad.code, 1, "{bad:?}");
        assert!(
            bad.stderr.contains("99999") && bad.stderr.contains("previous policy still in force"),
            "{bad:?}"
        );
        assert_eq!(fetch("other.test"), "200");
        assert_eq!(fetch("api.test"), "403");

        // Static section changed: refused as needing a restart, even without --wait.
        let restart = fleet.run(["policy", "set", "pol", &static_change]);
        assert_eq!(restart.code, 1, "{restart:?}");
        assert!(
            restart.stderr.contains("filesystem_policy") && restart.stderr.contains("restart"),
            "{restart:?}"
        );
        assert_eq!(fetch("other.test"), "200");
        let status = fleet.status("pol");
        assert_eq!(status["live"]["policy"]["generation"], 2);
        assert_eq!(status["live"]["egress"]["reloads_rejected"], 2);
        let audit = fleet.run(["logs", "pol", "--audit"]);
        assert_eq!(audit.ok().matches("policy-rejected").count(), 2, "{mode:?}");

        // Without --wait: accepted, then in force.
        fleet.run(["policy", "set", "pol", &first]).ok();
        assert!(eventually(|| fetch("api.test") == "200"), "{mode:?}");
        assert_eq!(fleet.status("pol")["live"]["policy"]["generation"], 3);

        // Stopped: a static change is fine, it applies at the next start.
        fleet.run(["stop", "pol", "--timeout", "0"]).ok();
        let stored = fleet.run(["policy", "set", "pol", &static_change, "--wait"]);
        assert_eq!(stored.ok(), "pol: stored; applied at the next start\n");
        fleet.run(["start", "pol"]).ok();
        assert_eq!(fetch("other.test"), "200");
        assert_eq!(fetch("api.test"), "403");
        let live = fleet.status("pol");
        assert!(
            live["live"]["policy"]["source"]
                .as_str()
                .unwrap()
                .ends_with("static.yaml")
        );
    }
}
