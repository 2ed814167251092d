//! The life of a named sandbox, names and errors, isolation between users, and
//! concurrent CLI calls.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Command;

use super::super::egress_run::server::TestServer;
use super::super::egress_run::{network, policy_file};
use super::{Fleet, eventually};
use crate::suite::common::{MODES, Mode, NOBODY, cordon_bin};

/// A main process that writes a marker, then fetches through the proxy every 50 ms.
fn looping_agent(port: u16) -> String {
    format!(
        "echo started >> /sandbox/marker; while true; do \
         curl -s -o /dev/null -w '%{{http_code}}\\n' http://api.test:{port}/; sleep 0.05; done"
    )
}

#[test]
fn full_lifecycle() {
    let api = TestServer::start("api");
    let p = api.port();
    for mode in MODES {
        let fleet = Fleet::new(mode);
        let policy = policy_file(
            fleet.scratch(),
            "policy.yaml",
            &network(&[("api", &[("api.test", p)], &["/usr/bin/curl"])]),
        );
        let agent = looping_agent(p);
        let run = fleet.run([
            "create",
            "life",
            "--policy",
            &policy,
            "--add-host",
            "api.test:127.0.0.1",
            "--",
            "/bin/sh",
            "-c",
            &agent,
        ]);
        assert_eq!(run.ok(), "life\n", "{mode:?}");

        // Running, with traffic counted and the policy generation shown.
        let list = fleet.list();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["name"], "life");
        assert_eq!(list[0]["state"], "running");
        assert_eq!(list[0]["policy_generation"], 1);
        assert!(
            eventually(|| fleet.list()[0]["allowed"].as_u64().unwrap_or(0) >= 2),
            "{mode:?}: no traffic counted"
        );
        let table = fleet.run(["list"]);
        assert!(
            table
                .ok()
                .lines()
                .any(|l| l.starts_with("life ") && l.contains("running"))
        );

        let status = fleet.status("life");
        let live = &status["live"];
        assert_eq!(live["egress"]["proxy"], "127.0.0.1:3128");
        assert_eq!(live["policy"]["generation"], 1);
        assert!(
            live["policy"]["source"]
                .as_str()
                .unwrap()
                .ends_with("policy.yaml")
        );
        assert!(live["landlock_abi"].as_i64().unwrap() >= 1);
        assert!(live["main_pid"].as_u64().is_some());
        let layers: Vec<&str> = live["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        for layer in [
            "namespaces:",
            "landlock:",
            "seccomp:",
            "capabilities:",
            "limits:",
        ] {
            assert!(
                layers.iter().any(|l| l.starts_with(layer)),
                "{layer} missing: {layers:?}"
            );
        }
        let text = fleet.run(["status", "life"]);
        assert!(text.ok().contains("state:       running"), "{text:?}");

        // The main process's output, and the audit log.
        assert!(eventually(|| fleet
            .run(["logs", "life", "--tail", "1"])
            .ok()
            == "200\n"));
        let audit = fleet.run(["logs", "life", "--audit", "--tail", "1"]);
        let line: serde_json::Value = serde_json::from_str(audit.ok().trim()).unwrap();
        assert_eq!(line["dst_endpoint"]["hostname"], "api.test");
        assert_eq!(line["container"]["name"], "life");

        // The policy in force is the one given.
        let got = fleet.run(["policy", "get", "life"]);
        assert_eq!(got.ok(), std::fs::read_to_string(&policy).unwrap());

        // Stop: nothing left, and it says why.
        fleet.run(["stop", "life", "--timeout", "5"]).ok();
        let list = fleet.list();
        assert_eq!(list[0]["state"], "stopped", "{list:?}");
        assert!(list[0]["reason"].as_str().unwrap().contains("cordon stop"));
        assert_eq!(fleet.run(["exec", "life", "--", "true"]).code, 1);

        // Start: the same workdir (the marker survives) and the same policy.
        assert_eq!(fleet.run(["start", "life"]).ok(), "life\n");
        assert!(eventually(|| fleet
            .run(["exec", "life", "--", "cat", "/sandbox/marker"])
            .stdout
            == "started\nstarted\n"));
        let again = fleet.run(["start", "life"]);
        assert_eq!(again.code, 0, "starting a running sandbox is a no-op");
        assert!(again.stderr.contains("already running"));

        // rm refuses a running sandbox; --force stops it first; then it is gone.
        let refused = fleet.run(["rm", "life"]);
        assert_eq!(refused.code, 1, "{refused:?}");
        assert!(refused.stderr.contains("is running"));
        fleet.run(["rm", "--force", "life"]).ok();
        assert!(fleet.list().is_empty());
        assert!(!fleet.sandbox_dir("life").exists());
    }
}

/// One line on stderr, starting with `cordon: `.
#[track_caller]
fn one_line(stderr: &str) {
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.starts_with("cordon: "), "{stderr:?}");
}

#[test]
fn invalid_names_and_unknown_sandboxes_give_one_line_errors() {
    let fleet = Fleet::new(Mode::Rootless);
    for bad in ["Bad", "_x", "a b", "a/b", ".hidden", &"x".repeat(64)] {
        let run = fleet.run(["create", bad, "--", "true"]);
        assert_eq!(run.code, 125, "{bad}: {run:?}");
        one_line(&run.stderr);
        assert!(run.stderr.contains("invalid sandbox name"), "{run:?}");
        let run = fleet.run(["status", bad]);
        assert_eq!(run.code, 125, "{bad}: {run:?}");
    }
    // The longest valid name works.
    let longest = "a".repeat(63);
    fleet.run(["create", &longest, "--", "sleep", "600"]).ok();
    let unknown: [&[&str]; 9] = [
        &["status", "nope"],
        &["exec", "nope", "--", "true"],
        &["connect", "nope"],
        &["logs", "nope"],
        &["stop", "nope"],
        &["start", "nope"],
        &["rm", "nope"],
        &["policy", "get", "nope"],
        &["policy", "set", "nope", "/dev/null"],
    ];
    for args in unknown {
        let run = fleet.run(args);
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        one_line(&run.stderr);
        assert!(run.stderr.contains("no sandbox named \"nope\""), "{run:?}");
    }
    // Twin: the same commands find an existing sandbox.
    assert_eq!(fleet.run(["status", &longest]).code, 0);
    // A second sandbox of the same name is refused.
    let dup = fleet.run(["create", &longest, "--", "true"]);
    assert_eq!(dup.code, 1, "{dup:?}");
    one_line(&dup.stderr);
    assert!(dup.stderr.contains("already exists"));
}

#[test]
fn concurrent_creates_of_one_name_make_exactly_one_sandbox() {
    let fleet = Fleet::new(Mode::Root);
    let state = fleet.state_home();
    let children: Vec<_> = (0..6)
        .map(|_| {
            Command::new(cordon_bin(Mode::Root))
                .args(["create", "race", "--", "sleep", "600"])
                .env("XDG_STATE_HOME", &state)
                .current_dir("/")
                .output()
        })
        .collect();
    let codes: Vec<i32> = children
        .into_iter()
        .map(|o| o.unwrap().status.code().unwrap())
        .collect();
    // One after the other: the first wins. Then truly in parallel.
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 1, "{codes:?}");
    fleet.run(["rm", "--force", "race"]).ok();
    let spawned: Vec<_> = (0..6)
        .map(|_| {
            Command::new(cordon_bin(Mode::Root))
                .args(["create", "race", "--", "sleep", "600"])
                .env("XDG_STATE_HOME", &state)
                .current_dir("/")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = spawned
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let ok = outputs.iter().filter(|o| o.status.success()).count();
    assert_eq!(ok, 1, "{outputs:?}");
    for failed in outputs.iter().filter(|o| !o.status.success()) {
        assert_eq!(failed.status.code(), Some(1), "{failed:?}");
        assert!(String::from_utf8_lossy(&failed.stderr).contains("already exists"));
    }
    assert_eq!(fleet.list().len(), 1);
    // Concurrent stops and lists of one sandbox are safe too.
    let calls: [&[&str]; 4] = [&["stop", "race"], &["list"], &["stop", "race"], &["list"]];
    let calls: Vec<_> = calls
        .iter()
        .map(|args| {
            Command::new(cordon_bin(Mode::Root))
                .args(*args)
                .env("XDG_STATE_HOME", &state)
                .current_dir("/")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for call in calls {
        let out = call.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    assert_eq!(fleet.list()[0]["state"], "stopped");
    let record = fleet.record("race");
    assert_eq!(record["state"], "stopped");
}

#[test]
fn two_users_cannot_see_or_reach_each_others_sandboxes() {
    let root = Fleet::new(Mode::Root);
    let nobody = Fleet::new(Mode::Rootless);
    root.run(["create", "shared-name", "--", "sleep", "600"])
        .ok();
    // Names are per user: the other user may use the same one.
    nobody
        .run(["create", "shared-name", "--", "sleep", "600"])
        .ok();
    assert_eq!(root.list().len(), 1);
    assert_eq!(nobody.list().len(), 1);
    assert_eq!(
        nobody.status("shared-name")["live"]["supervisor_pid"],
        nobody.record("shared-name")["supervisor_pid"]
    );

    // nobody pointed at root's state directory: refused outright.
    let intruder = crate::suite::common::cordon(Mode::Rootless, ["list"])
        .env("XDG_STATE_HOME", root.state_home().to_str().unwrap())
        .run();
    assert_eq!(intruder.code, 125, "{intruder:?}");
    assert!(intruder.stderr.contains("state directory"), "{intruder:?}");

    // The sockets: nobody cannot even reach root's (0700 directory); root, who can
    // traverse anything, is refused by nobody's supervisor on its uid.
    let probe = |sock: &std::path::Path, uid: u32| {
        let code = format!(
            "import socket\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect('{}')\n    \
             s.sendall(b'GET /v1/status HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')\n    \
             print('answered' if s.recv(100) else 'closed')\nexcept OSError as e:\n    print('refused', e.errno)\n",
            sock.display()
        );
        let out = Command::new("setpriv")
            .args([
                format!("--reuid={uid}"),
                format!("--regid={uid}"),
                "--clear-groups".into(),
            ])
            .args(["/usr/bin/python3", "-c", &code])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let root_sock = root.sandbox_dir("shared-name").join("control.sock");
    let nobody_sock = nobody.sandbox_dir("shared-name").join("control.sock");
    assert!(
        probe(&root_sock, NOBODY).starts_with("refused 13"),
        "nobody reached root's socket"
    );
    let as_root = probe(&nobody_sock, 0);
    assert!(
        as_root == "closed" || as_root.starts_with("refused"),
        "root was served by nobody's supervisor: {as_root}"
    );
    // Twins: each user is answered by its own supervisor.
    assert_eq!(probe(&root_sock, 0), "answered");
    assert_eq!(probe(&nobody_sock, NOBODY), "answered");
    let mode = std::fs::metadata(&nobody_sock).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let dir_mode = std::fs::metadata(nobody.sandbox_dir("shared-name")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&dir_mode.permissions()) & 0o777,
        0o700
    );
}

#[test]
fn rm_right_after_a_command_that_ends_at_once_waits_for_its_supervisor() {
    for mode in MODES {
        let fleet = Fleet::new(mode);
        for i in 0..3 {
            let name = format!("brief{i}");
            fleet.run(["create", &name, "--", "true"]).ok();
            fleet.run(["rm", &name]).ok();
            assert!(!fleet.sandbox_dir(&name).exists(), "{mode:?}");
        }
        // Twin: a sandbox whose command still runs is refused without --force.
        fleet.run(["create", "long", "--", "sleep", "600"]).ok();
        let refused = fleet.run(["rm", "long"]);
        assert_eq!(refused.code, 1, "{mode:?}: {refused:#?}");
        fleet.run(["rm", "--force", "long"]).ok();
    }
}
