//! Twenty sandboxes at once, each fetching through its own proxy: they are created in
//! parallel, all run, all traffic is decided and counted per sandbox, and all go away.
//! Named `heavy_*` so nextest runs it alone (`.config/nextest.toml`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use super::super::egress_run::server::TestServer;
use super::super::egress_run::{network, policy_file};
use super::{Fleet, eventually};
use crate::suite::common::Mode;

const SANDBOXES: usize = 20;
const FETCHES: usize = 5;

#[test]
fn heavy_twenty_sandboxes_at_once_each_doing_traffic() {
    let api = TestServer::start("api");
    let p = api.port();
    let fleet = Fleet::new(Mode::Root);
    let policy = policy_file(
        fleet.scratch(),
        "policy.yaml",
        &network(&[("api", &[("api.test", p)], &["/usr/bin/curl"])]),
    );
    let agent = format!(
        "i=0; while [ $i -lt {FETCHES} ]; do curl -s -o /dev/null -w '%{{http_code}}\\n' \
         http://api.test:{p}/$(hostname); i=$((i+1)); done; curl -s -o /dev/null -w 'denied %{{http_code}}\\n' \
         http://evil.test:{p}/; exec sleep 600"
    );
    std::thread::scope(|scope| {
        for t in 0..4 {
            let (fleet, policy, agent) = (&fleet, &policy, &agent);
            scope.spawn(move || {
                for i in (t..SANDBOXES).step_by(4) {
                    let name = format!("fleet-{i:02}");
                    fleet
                        .run([
                            "create",
                            &name,
                            "--policy",
                            policy,
                            "--add-host",
                            "api.test:127.0.0.1",
                            "--add-host",
                            "evil.test:127.0.0.1",
                            "--",
                            "/bin/sh",
                            "-c",
                            agent,
                        ])
                        .ok();
                }
            });
        }
    });
    let want = format!("{}denied 403\n", "200\n".repeat(FETCHES));
    for i in 0..SANDBOXES {
        let name = format!("fleet-{i:02}");
        assert!(
            eventually(|| fleet.run(["logs", &name]).stdout == want),
            "{name}: {:?}",
            fleet.run(["logs", &name])
        );
    }
    let list = fleet.list();
    assert_eq!(list.len(), SANDBOXES);
    for sandbox in &list {
        assert_eq!(sandbox["state"], "running", "{sandbox}");
        assert_eq!(sandbox["allowed"], FETCHES as u64, "{sandbox}");
        assert_eq!(sandbox["denied"], 1, "{sandbox}");
    }
    assert_eq!(api.hits(), (SANDBOXES * FETCHES) as u64);
    for i in 0..SANDBOXES {
        fleet.run(["rm", "--force", &format!("fleet-{i:02}")]).ok();
    }
    assert!(fleet.list().is_empty());
}
