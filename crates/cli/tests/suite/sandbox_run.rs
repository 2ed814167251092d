//! `cordon run` as a user sees it: exit codes, stdio, terminals, identity, init, the
//! environment, `-v`, and failures that leave nothing behind.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use super::common::{MODES, Mode, WorldDir, cordon, cordon_bin, policy_yaml, py, sh};

#[test]
fn exit_codes_follow_the_command_and_the_docker_convention() {
    let workdir = WorldDir::new(true);
    workdir.file("not-executable.sh", "echo never");
    let wd = workdir.path().to_str().unwrap();
    for mode in MODES {
        assert_eq!(sh(mode, &[], "exit 0").code, 0, "{mode:?}");
        assert_eq!(sh(mode, &[], "exit 42").code, 42, "{mode:?}");
        assert_eq!(sh(mode, &[], "kill -TERM $$").code, 128 + 15, "{mode:?}");
        let run = cordon(mode, ["run", "--", "no-such-command-xyz"]).run();
        assert_eq!(run.code, 127, "{mode:?}: {run:?}");
        assert!(run.stderr.contains("not found"), "{run:?}");
        let run = cordon(
            mode,
            ["run", "--workdir", wd, "--", "/sandbox/not-executable.sh"],
        )
        .run();
        assert_eq!(run.code, 126, "{mode:?}: {run:?}");
    }
}

#[test]
fn cordon_failures_exit_125_and_leave_no_fresh_workdir() {
    let dir = WorldDir::new(false);
    let invalid = dir.file(
        "invalid.yaml",
        "version: 1\nprocess:\n  run_as_user: \"0\"\n",
    );
    let unreadable = dir.file("unreadable.yaml", "version: 1\n");
    std::fs::set_permissions(
        &unreadable,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let hard = dir.file(
        "hard.yaml",
        &policy_yaml(
            &[std::path::Path::new("/no/such/path")],
            &[],
            "landlock:\n  compatibility: hard_requirement\n",
        ),
    );
    for mode in MODES {
        let name = format!("fail-{mode:?}").to_lowercase();
        for args in [
            vec![
                "run",
                "--workdir",
                "/no/such/dir",
                "--name",
                &name,
                "--",
                "true",
            ],
            vec!["run", "--policy", invalid.to_str().unwrap(), "--", "true"],
            vec!["run", "--policy", "/no/such/policy.yaml", "--", "true"],
            vec![
                "run",
                "--policy",
                hard.to_str().unwrap(),
                "--name",
                &name,
                "--",
                "true",
            ],
            vec!["run", "--name", "bad name!", "--", "true"],
        ] {
            let run = cordon(mode, &args).run();
            assert_eq!(run.code, 125, "{mode:?} {args:?}: {run:?}");
            // One line saying what failed (warnings aside).
            let lines = run
                .stderr
                .lines()
                .filter(|l| !l.contains("warning"))
                .count();
            assert!(lines >= 1, "{mode:?} {args:?}: no message");
        }
        if mode == super::common::Mode::Rootless {
            let run = cordon(
                mode,
                [
                    "run",
                    "--policy",
                    unreadable.to_str().unwrap(),
                    "--",
                    "true",
                ],
            )
            .run();
            assert_eq!(run.code, 125, "{run:?}");
            assert!(run.stderr.contains("cannot read"), "{run:?}");
        }
        let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("cordon-{name}-"))
            })
            .collect();
        assert!(leftovers.is_empty(), "{mode:?}: left behind {leftovers:?}");
    }
}

#[test]
fn the_fresh_workdir_is_private_to_the_run_and_removed_afterwards() {
    for mode in MODES {
        let name = format!("fresh-{mode:?}").to_lowercase();
        let run = sh(
            mode,
            &["--name", &name],
            "echo data > /sandbox/f && pwd && echo $HOME",
        );
        assert_eq!(run.ok(), "/sandbox\n/sandbox\n", "{mode:?}");
        let leftovers = std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("cordon-{name}-"))
            })
            .count();
        assert_eq!(leftovers, 0, "{mode:?}");
    }
}

#[test]
fn the_agent_is_not_pid_1_and_runs_as_the_sandbox_user_with_the_name_as_hostname() {
    for mode in MODES {
        let run = sh(
            mode,
            &["--name", "box-1"],
            "echo $$; id -u; id -g; hostname",
        );
        assert_eq!(run.ok(), "2\n1000\n1000\nbox-1\n", "{mode:?}");
    }
}

#[test]
fn orphans_are_reaped_by_init() {
    // A grandchild orphaned to init must not stay a zombie.
    let code = "import os, time\nr, w = os.pipe()\npid = os.fork()\nif pid == 0:\n    \
g = os.fork()\n    if g == 0:\n        time.sleep(0.2)\n        os._exit(0)\n    \
os.write(w, str(g).encode())\n    os._exit(0)\nos.waitpid(pid, 0)\ng = int(os.read(r, 32))\n\
for _ in range(500):\n    try:\n        state = open(f'/proc/{g}/stat').read().split()[2]\n    \
except (FileNotFoundError, ProcessLookupError):\n        print('reaped')\n        break\n    time.sleep(0.01)\n\
else:\n    print('zombie', state)\n";
    for mode in MODES {
        assert_eq!(py(mode, &[], code).ok(), "reaped\n", "{mode:?}");
    }
}

#[test]
fn without_t_stdin_and_stdout_pass_through_as_pipes_both_ways() {
    for mode in MODES {
        let run = cordon(mode, ["run", "--", "/usr/bin/tr", "a-z", "A-Z"])
            .stdin(b"piped in\n")
            .run();
        assert_eq!(run.ok(), "PIPED IN\n", "{mode:?}");
        // -i changes nothing without -t.
        let run = cordon(mode, ["run", "-i", "--", "/bin/cat"])
            .stdin(b"piped in\n")
            .run();
        assert_eq!(run.ok(), "piped in\n", "{mode:?}");
        // Blocked twin: stdin is the caller's, so an empty one gives nothing.
        let run = cordon(mode, ["run", "--", "/bin/cat"]).stdin(b"").run();
        assert_eq!(run.ok(), "", "{mode:?}");
    }
}

#[test]
fn t_gives_the_command_a_terminal_inside_the_sandbox() {
    for mode in MODES {
        let run = sh(mode, &["-t"], "test -t 0 && test -t 1 && tty && stty size");
        assert_eq!(
            run.ok().replace('\r', ""),
            "/dev/pts/0\n24 80\n",
            "{mode:?}"
        );
        // Without -t, stdio is what the caller gave (pipes here).
        let run = sh(mode, &[], "test -t 1 || echo pipe");
        assert_eq!(run.ok(), "pipe\n", "{mode:?}");
    }
}

#[test]
fn v_reports_every_layer() {
    for mode in MODES {
        let run = sh(mode, &["-v"], "true");
        run.ok();
        for layer in [
            "namespaces: user",
            "mounts: read-only:",
            "landlock: ABI",
            "capabilities: none",
            "no_new_privs: set",
            "seccomp:",
            "limits:",
        ] {
            assert!(
                run.stderr.contains(layer),
                "{mode:?}: {layer} missing in {}",
                run.stderr
            );
        }
    }
}

#[test]
fn limits_without_cgroup_delegation_fall_back_to_rlimits_and_say_so() {
    let dir = WorldDir::new(false);
    let policy = dir.file(
        "limits.yaml",
        &policy_yaml(
            &[],
            &[],
            "resources:\n  memory: 1GiB\n  pids: 100\n  cpu: 1.5\n",
        ),
    );
    for mode in MODES {
        let run = py(
            mode,
            &["-v", "--policy", policy.to_str().unwrap()],
            "import resource as r\nprint(r.getrlimit(r.RLIMIT_NPROC)[0], r.getrlimit(r.RLIMIT_AS)[0])",
        );
        assert_eq!(run.ok(), "100 1073741824\n", "{mode:?}");
        assert!(
            run.stderr.contains("cpu 1.5: not applied"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn include_workdir_false_leaves_out_sandbox() {
    let dir = WorldDir::new(false);
    let policy = dir.file(
        "noworkdir.yaml",
        "version: 1\nfilesystem_policy:\n  include_workdir: false\n  read_only: [/usr, /bin, /lib, /lib64, /etc]\n",
    );
    for mode in MODES {
        let run = sh(
            mode,
            &["--policy", policy.to_str().unwrap()],
            "pwd; ls /sandbox || echo absent",
        );
        assert_eq!(run.ok(), "/\nabsent\n", "{mode:?}");
    }
}

#[test]
fn sigterm_to_cordon_reaches_the_agent() {
    use std::io::BufRead;
    for mode in MODES {
        let bin = super::common::cordon_bin(mode);
        let mut cmd = match mode {
            super::common::Mode::Root => std::process::Command::new(&bin),
            super::common::Mode::Rootless => {
                let mut c = std::process::Command::new("setpriv");
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                    .arg(&bin);
                c
            }
        };
        let script = "trap 'echo got-term; exit 7' TERM; echo ready; sleep 30 & wait";
        let mut child = cmd
            .args(["run", "--", "/bin/sh", "-c", script])
            .current_dir("/")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        // setpriv execs cordon, so the child's pid is cordon's in both modes.
        let pid = child.id().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        assert_eq!(lines.next().unwrap().unwrap(), "got-term", "{mode:?}");
        assert_eq!(child.wait().unwrap().code(), Some(7), "{mode:?}");
    }
}

#[test]
fn the_agent_is_the_sandbox_user_and_host_accounts_are_not_listed() {
    // A host account the sandbox must not list (any but root and nobody).
    let host_passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let host_user = host_passwd
        .lines()
        .filter_map(|l| l.split(':').next())
        .find(|u| !["root", "nobody", "sandbox", ""].contains(u))
        .expect("a host account besides root and nobody")
        .to_owned();
    for mode in MODES {
        let script = format!(
            "id -un; id -gn; getent passwd sandbox | cut -d: -f6; getent passwd {host_user} || echo absent; getent passwd root | cut -d: -f1"
        );
        let run = sh(mode, &[], &script);
        assert_eq!(
            run.ok(),
            "sandbox\nsandbox\n/sandbox\nabsent\nroot\n",
            "{mode:?}"
        );
    }
    // The host itself still lists the account (the twin: the lookup can succeed).
    assert!(
        host_passwd.contains(&format!("\n{host_user}:"))
            || host_passwd.starts_with(&format!("{host_user}:"))
    );
}

/// The supervisor's capability sets, read from /proc while its sandbox runs.
fn supervisor_caps(mode: Mode) -> (u64, u64) {
    use std::io::BufRead;
    let bin = cordon_bin(mode);
    let mut cmd = match mode {
        Mode::Root => std::process::Command::new(bin),
        Mode::Rootless => {
            let mut cmd = std::process::Command::new("setpriv");
            cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(bin);
            cmd
        }
    };
    let mut child = cmd
        .args(["run", "--", "sh", "-c", "echo ready; sleep 30"])
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    let read = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        let field = |name: &str| {
            let value = status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap()
                .trim();
            u64::from_str_radix(value, 16).unwrap()
        };
        (field("CapEff:"), field("CapBnd:"))
    };
    // The agent may print before the supervisor has narrowed itself (right after the
    // spawn): give it up to 2 s to drop cap_sys_admin, which `run` never keeps.
    let mut caps = read();
    for _ in 0..200 {
        if caps.0 & (1 << 21) == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        caps = read();
    }
    // SIGTERM, not SIGKILL: cordon then ends the sandbox and removes its files.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    caps
}

#[test]
fn the_supervisor_keeps_only_the_capabilities_it_needs() {
    // As root: ptrace, dac_override, dac_read_search, fowner, kill, nothing else, in the
    // effective and the bounding set (cap_sys_admin, cap_net_admin, cap_sys_module... gone).
    let (eff, bnd) = supervisor_caps(Mode::Root);
    let wanted = (1 << 19) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5);
    assert_eq!((eff, bnd), (wanted, wanted), "{eff:x} {bnd:x}");
    // Twin: the test itself (root) still holds cap_sys_admin, so the narrowing is the
    // supervisor's own doing.
    let me = std::fs::read_to_string("/proc/self/status").unwrap();
    let mine = me
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    assert_ne!(mine & (1 << 21), 0);
    // Rootless: nothing effective to begin with.
    let (eff, _) = supervisor_caps(Mode::Rootless);
    assert_eq!(eff, 0);
}
