//! Fail closed: when a supervisor dies, even by SIGKILL, every process of its sandbox dies
//! with it (checked by pid namespace) and nothing is left to carry traffic; `list` says
//! `crashed` and why, and `start` brings the sandbox back. The same holds for the
//! supervisor `cordon run` is. Restart policies start a main process again.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::PathBuf;

use super::{Fleet, eventually, processes_in_namespace_of};
use crate::suite::common::{MODES, Mode};
use crate::suite::egress_run::spawn_cordon;

fn kill9(pid: u64) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn pid_ns(pid: u64) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap()
}

#[test]
fn kill_9_of_a_supervisor_leaves_no_process_and_start_recovers() {
    for mode in MODES {
        let fleet = Fleet::new(mode);
        fleet
            .run([
                "create",
                "victim",
                "--",
                "/bin/sh",
                "-c",
                "echo alive >> /sandbox/runs; sleep 600 & sleep 600 & wait",
            ])
            .ok();
        // Plus a process started by exec, which must die too.
        let record = fleet.record("victim");
        let supervisor = record["supervisor_pid"].as_u64().unwrap();
        let init = record["init_pid"].as_u64().unwrap();
        let ns = pid_ns(init);
        let exec = fleet.spawn(&["exec", "victim", "--", "sleep", "600"]);
        assert!(
            eventually(|| processes_in_namespace_of(&ns).len() >= 5),
            "{mode:?}"
        );

        kill9(supervisor);
        assert!(
            eventually(|| processes_in_namespace_of(&ns).is_empty()),
            "{mode:?}: processes left in the sandbox: {:?}",
            processes_in_namespace_of(&ns)
        );
        let list = fleet.list();
        assert_eq!(list[0]["state"], "crashed", "{mode:?}: {list:?}");
        let reason = list[0]["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("pid {supervisor}")) && reason.contains("cordon start"),
            "{reason}"
        );
        assert_eq!(fleet.run(["exec", "victim", "--", "true"]).code, 1);
        // The same record after a reboot (another boot id) reads as stopped, not crashed.
        let state_file = fleet.sandbox_dir("victim").join("state.json");
        let original = std::fs::read_to_string(&state_file).unwrap();
        let mut rebooted: serde_json::Value = serde_json::from_str(&original).unwrap();
        rebooted["boot_id"] = "00000000-0000-0000-0000-000000000000".into();
        std::fs::write(&state_file, rebooted.to_string()).unwrap();
        let list = fleet.list();
        assert_eq!(list[0]["state"], "stopped", "{list:?}");
        assert_eq!(list[0]["reason"], "the host restarted");
        std::fs::write(&state_file, original).unwrap();
        // The exec client learns that its process is gone.
        let out = exec.wait_with_output().unwrap();
        assert_ne!(out.status.code(), Some(0), "{out:?}");

        fleet.run(["start", "victim"]).ok();
        assert_eq!(fleet.list()[0]["state"], "running");
        assert!(eventually(|| fleet
            .run(["exec", "victim", "--", "cat", "/sandbox/runs"])
            .stdout
            == "alive\nalive\n"));
        fleet.run(["stop", "victim", "--timeout", "0"]).ok();
        remove_temp_files_of("victim");
        assert_eq!(fleet.list()[0]["state"], "stopped");
    }
}

#[test]
fn kill_9_of_cordon_run_leaves_no_process() {
    for mode in MODES {
        let args = [
            "run",
            "--name",
            "killed-run",
            "--",
            "/bin/sh",
            "-c",
            "sleep 600 & sleep 600",
        ]
        .map(Into::into);
        let mut run = spawn_cordon(mode, &args);
        // setpriv execs cordon, so the child's pid is cordon's.
        let supervisor = u64::from(run.id());
        let children = || {
            std::fs::read_to_string(format!("/proc/{supervisor}/task/{supervisor}/children"))
                .unwrap_or_default()
        };
        assert!(eventually(|| !children().trim().is_empty()));
        let init: u64 = children()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let ns = pid_ns(init);
        assert!(eventually(|| processes_in_namespace_of(&ns).len() >= 3));
        kill9(supervisor);
        let _ = run.wait();
        assert!(
            eventually(|| processes_in_namespace_of(&ns).is_empty()),
            "{mode:?}: left: {:?}",
            processes_in_namespace_of(&ns)
        );
        // A killed supervisor cannot remove its temporary files: the test does.
        remove_temp_files_of("killed-run");
    }
}

/// Removes what a SIGKILLed supervisor of sandbox `name` left in the temp directory
/// (its fresh workdir and generated mount sources, `cordon-NAME-*`).
fn remove_temp_files_of(name: &str) {
    let prefix = format!("cordon-{name}-");
    for entry in std::fs::read_dir(std::env::temp_dir()).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let path = entry.path();
            let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir_all(&path));
        }
    }
}

#[test]
fn restart_policies_start_the_main_process_again_until_stopped() {
    // As root the restarted supervisor starts with the capabilities the first one
    // narrowed itself to: a restart must work from those alone.
    for mode in MODES {
        restarts(mode);
    }
}

fn restarts(mode: Mode) {
    let fleet = Fleet::new(mode);
    fleet
        .run([
            "create",
            "flaky",
            "--restart",
            "on-failure",
            "--",
            "/bin/sh",
            "-c",
            "echo run >> /sandbox/runs; exit 3",
        ])
        .ok();
    assert!(eventually(|| fleet.record("flaky")["restarts"]
        .as_u64()
        .unwrap_or(0)
        >= 2));
    let list = fleet.list();
    assert!(
        matches!(list[0]["state"].as_str(), Some("running" | "restarting")),
        "{list:?}"
    );
    fleet.run(["stop", "flaky"]).ok();
    let list = fleet.list();
    assert_eq!(list[0]["state"], "stopped", "{list:?}");
    assert_eq!(list[0]["exit_code"], 3);
    let runs = std::fs::read_to_string(fleet.sandbox_dir("flaky").join("workdir/runs")).unwrap();
    assert!(runs.lines().count() >= 3, "{runs}");

    // on-failure does not restart a success; `no` never restarts.
    for (policy, code) in [("on-failure", 0), ("no", 3)] {
        let name = format!("once-{policy}");
        fleet
            .run([
                "create",
                &name,
                "--restart",
                policy,
                "--",
                "/bin/sh",
                "-c",
                &format!("exit {code}"),
            ])
            .ok();
        assert!(eventually(|| fleet
            .list()
            .iter()
            .any(|s| s["name"] == name.as_str() && s["state"] == "stopped")));
        assert_eq!(fleet.record(&name)["restarts"], 0);
    }
}
