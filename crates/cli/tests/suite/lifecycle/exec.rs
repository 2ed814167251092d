//! `exec` and `connect` start processes in the same sandbox as the main process: same
//! files, identity, hostname, limits, seccomp filters, `no_new_privs` and egress policy.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use super::super::egress_run::network;
use super::super::egress_run::server::TestServer;
use super::{Fleet, eventually};
use crate::suite::common::{MODES, policy_yaml};

/// One line describing the process that runs it.
fn probe(port: u16) -> String {
    format!(
        "field() {{ grep -E \"^$1:\" /proc/self/status | tr -d ' \\t'; }}\n\
         printf 'PROBE uid=%s nproc=%s host=%s %s %s %s marker=%s api=%s evil=%s\\n' \
         \"$(id -u)\" \"$(awk '/Max processes/ {{print $3}}' /proc/self/limits)\" \"$(hostname)\" \"$(field NoNewPrivs)\" \"$(field Seccomp)\" \
         \"$(field Seccomp_filters)\" \"$(cat /sandbox/marker)\" \
         \"$(curl -s -o /dev/null -w '%{{http_code}}' http://api.test:{port}/)\" \
         \"$(curl -s -o /dev/null -w '%{{http_code}}' http://evil.test:{port}/)\"\n"
    )
}

fn probe_line(text: &str) -> String {
    // On a terminal the shell's prompt comes first on the line.
    text.lines()
        .find_map(|l| {
            l.trim_end_matches('\r')
                .split_once("PROBE ")
                .map(|(_, rest)| rest)
        })
        .unwrap_or_else(|| panic!("no probe line in {text:?}"))
        .to_owned()
}

#[test]
fn exec_and_connect_see_the_same_files_policy_and_limits() {
    let api = TestServer::start("api");
    let p = api.port();
    for mode in MODES {
        let fleet = Fleet::new(mode);
        let work = fleet.scratch().path().join("work");
        std::fs::create_dir(&work).unwrap();
        std::fs::set_permissions(&work, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        std::fs::write(work.join("marker"), "shared-file").unwrap();
        std::fs::write(work.join("probe.sh"), probe(p)).unwrap();
        let policy = fleet.scratch().file(
            "policy.yaml",
            &policy_yaml(
                &[],
                &[],
                &format!(
                    "resources:\n  pids: 64\n{}",
                    network(&[("api", &[("api.test", p)], &["/usr/bin/curl"])])
                ),
            ),
        );
        fleet
            .run([
                "create",
                "twin",
                "--policy",
                policy.to_str().unwrap(),
                "--workdir",
                work.to_str().unwrap(),
                "--add-host",
                "api.test:127.0.0.1",
                "--add-host",
                "evil.test:127.0.0.1",
                "--",
                "/bin/sh",
                "-c",
                "sh /sandbox/probe.sh > /sandbox/main.out; exec sleep 600",
            ])
            .ok();
        assert!(eventually(|| std::fs::read_to_string(
            work.join("main.out")
        )
        .is_ok_and(|t| t.ends_with('\n'))));
        let main = probe_line(&std::fs::read_to_string(work.join("main.out")).unwrap());
        assert!(
            main.contains("uid=1000 nproc=64 host=twin NoNewPrivs:1 Seccomp:2 Seccomp_filters:3 marker=shared-file api=200 evil=403"),
            "{mode:?}: {main}"
        );

        let exec = fleet.run(["exec", "twin", "--", "/bin/sh", "/sandbox/probe.sh"]);
        assert_eq!(
            probe_line(exec.ok()),
            main,
            "{mode:?}: exec differs from the main process"
        );

        let connect = fleet.run_with_stdin(&["connect", "twin"], b"sh /sandbox/probe.sh; exit\n");
        assert_eq!(connect.code, 0, "{mode:?}: {connect:?}");
        assert_eq!(
            probe_line(&connect.stdout),
            main,
            "{mode:?}: connect differs"
        );
        let tty = fleet.run(["exec", "-t", "twin", "--", "/bin/sh", "-c", "tty"]);
        assert!(tty.ok().starts_with("/dev/pts/"), "{mode:?}: {tty:?}");

        // stdin reaches the process only with -i; exit codes and signals come back.
        let echoed = fleet.run_with_stdin(&["exec", "-i", "twin", "--", "cat"], b"through stdin");
        assert_eq!(echoed.ok(), "through stdin");
        let closed = fleet.run_with_stdin(&["exec", "twin", "--", "cat"], b"through stdin");
        assert_eq!(closed.ok(), "");
        assert_eq!(
            fleet.run(["exec", "twin", "--", "sh", "-c", "exit 7"]).code,
            7
        );
        assert_eq!(
            fleet
                .run(["exec", "twin", "--", "sh", "-c", "kill -9 $$"])
                .code,
            137
        );
        let missing = fleet.run(["exec", "twin", "--", "no-such-command"]);
        assert_eq!(missing.code, 127, "{missing:?}");
        assert_eq!(
            fleet.run(["exec", "twin", "--", "/sandbox/marker"]).code,
            126
        );
        // A process started by exec cannot escape what the main process cannot.
        let escape = fleet.run([
            "exec",
            "twin",
            "--",
            "/bin/sh",
            "-c",
            "touch /usr/x 2>/dev/null || echo refused",
        ]);
        assert_eq!(escape.ok(), "refused\n");
    }
}
