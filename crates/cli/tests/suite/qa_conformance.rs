//! Conformance checks of `cordon run` against the issue texts that the other suites do not
//! already hold: the README's first command, OpenShell/NemoClaw-style policies, relative
//! and `/sandbox` paths, signals from outside, odd working directories. Security checks
//! come with an allowed twin; each runs as root and rootless.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::common::{MODES, Mode, NOBODY, WorldDir, cordon, cordon_bin, require, sh};

/// `Command` running cordon as `mode` (setpriv for rootless), not yet given arguments.
fn command(mode: Mode) -> Command {
    let bin = cordon_bin(mode);
    match mode {
        Mode::Root => Command::new(bin),
        Mode::Rootless => {
            require("setpriv");
            let mut cmd = Command::new("setpriv");
            cmd.args([
                format!("--reuid={NOBODY}"),
                format!("--regid={NOBODY}"),
                "--clear-groups".into(),
            ])
            .arg(bin);
            cmd
        }
    }
}

/// A world-writable directory inside `dir` (so the agent's id may write it in both modes:
/// a write that fails there fails because of the sandbox, not the host's permissions).
fn open_dir(dir: &WorldDir, name: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::create_dir_all(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    path
}

#[test]
fn the_readme_command_prints_its_line_and_nothing_else() {
    for mode in MODES {
        let run = cordon(
            mode,
            ["run", "--", "sh", "-c", "echo hello from the sandbox"],
        )
        .run();
        assert_eq!(run.ok(), "hello from the sandbox\n", "{mode:?}");
        // The built-in policy must not warn about its own paths on a stock host.
        assert!(!run.stderr.contains("warning"), "{mode:?}: {}", run.stderr);
    }
}

/// A policy written the NemoClaw way: `/usr` and `/lib` but no `/bin` or `/lib64`, the
/// workdir named `/sandbox`, a read-only config directory inside a writable workdir.
fn nemoclaw_style(dir: &WorldDir) -> String {
    dir.file(
        "nemoclaw.yaml",
        "version: 1\nfilesystem_policy:\n  include_workdir: true\n  read_only:\n    - /usr\n    \
         - /lib\n    - /proc\n    - /dev/urandom\n    - /etc\n    - /sandbox/.config\n  \
         read_write:\n    - /sandbox\n    - /tmp\n    - /dev/null\n    - /sandbox/.data\n\
         landlock:\n  compatibility: best_effort\nprocess:\n  run_as_user: sandbox\n  \
         run_as_group: sandbox\n",
    )
    .display()
    .to_string()
}

#[test]
fn a_nemoclaw_style_policy_runs_and_its_sandbox_subpaths_are_enforced() {
    for mode in MODES {
        let dir = WorldDir::new(false);
        let policy = nemoclaw_style(&dir);
        let workdir = open_dir(&dir, "work");
        open_dir(&dir, "work/.config");
        open_dir(&dir, "work/.data");
        let wd = workdir.display().to_string();
        // `/bin/sh` exists only through the recreated merged-/usr link, and its ELF
        // interpreter only through the recreated `/lib64` link.
        let run = sh(
            mode,
            &["--policy", &policy, "--workdir", &wd],
            "echo a > /sandbox/.data/x && echo data-written; \
             (echo b > /sandbox/.config/x) 2>/dev/null || echo config-refused; \
             echo c > /sandbox/top && echo top-written",
        );
        assert_eq!(
            run.ok(),
            "data-written\nconfig-refused\ntop-written\n",
            "{mode:?}: {run:?}"
        );
        assert!(workdir.join(".data/x").exists(), "{mode:?}");
        assert!(!workdir.join(".config/x").exists(), "{mode:?}");
        assert!(
            !run.stderr.contains("/sandbox does not exist"),
            "{mode:?}: /sandbox is the workdir, not a host path: {}",
            run.stderr
        );
    }
}

#[test]
fn a_symlink_planted_at_a_sandbox_subpath_of_the_policy_is_not_followed() {
    for mode in MODES {
        let dir = WorldDir::new(false);
        let policy = nemoclaw_style(&dir);
        dir.file("secrets/token", "PLANTED-TOKEN");
        let workdir = open_dir(&dir, "work");
        std::os::unix::fs::symlink(dir.path().join("secrets"), workdir.join(".config")).unwrap();
        let wd = workdir.display().to_string();
        let run = sh(
            mode,
            &["--policy", &policy, "--workdir", &wd],
            "cat /sandbox/.config/token 2>/dev/null || echo refused",
        );
        assert_eq!(run.ok(), "refused\n", "{mode:?}: {run:?}");
        assert!(run.stderr.contains("/sandbox/.config"), "{mode:?}: {run:?}");
        // Twin: the same directory, listed by its host path, is readable.
        let direct = dir.file(
            "direct.yaml",
            &format!(
                "version: 1\nfilesystem_policy:\n  include_workdir: true\n  read_only: [/usr, \
                 /lib, /etc, {}]\n",
                dir.path().join("secrets").display()
            ),
        );
        let run = sh(
            mode,
            &["--policy", direct.to_str().unwrap()],
            &format!("cat {}/token", dir.path().join("secrets").display()),
        );
        assert_eq!(run.ok(), "PLANTED-TOKEN", "{mode:?}: {run:?}");
    }
}

#[test]
fn a_relative_workdir_is_the_callers_directory() {
    for mode in MODES {
        let dir = WorldDir::new(true);
        open_dir(&dir, "project");
        for (workdir, file) in [("project", "project/from-rel"), (".", "from-dot")] {
            let cwd = dir.path();
            let out = command(mode)
                .args(["run", "--workdir", workdir, "--", "sh", "-c"])
                .arg(format!(
                    "pwd; echo x > /sandbox/{}",
                    Path::new(file).file_name().unwrap().to_str().unwrap()
                ))
                .current_dir(cwd)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "/sandbox\n",
                "{mode:?} {workdir}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(cwd.join(file).exists(), "{mode:?}: {workdir} was not bound");
        }
    }
}

#[test]
fn cordon_runs_from_a_directory_the_user_cannot_read() {
    // /root-like: private to root, so uid 65534 cannot even stat it.
    let private = tempfile::Builder::new()
        .prefix("cordon-qa-private-")
        .tempdir_in("/var/tmp")
        .unwrap();
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    for mode in MODES {
        let out = command(mode)
            .args(["run", "--", "sh", "-c", "pwd"])
            .current_dir(private.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "/sandbox\n");
    }
}

#[test]
fn a_signal_to_cordon_ends_an_untrapping_command_with_128_plus_n() {
    for mode in MODES {
        for (signal, code) in [("TERM", 143), ("INT", 130), ("HUP", 129)] {
            let mut child = command(mode)
                .args(["run", "--", "sh", "-c", "echo ready; exec sleep 30"])
                .current_dir("/")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
            assert_eq!(lines.next().unwrap().unwrap(), "ready");
            // setpriv execs cordon: the child's pid is cordon's in both modes.
            let sent = Command::new("kill")
                .args([format!("-{signal}"), child.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
            assert_eq!(
                child.wait().unwrap().code(),
                Some(code),
                "{mode:?} {signal}"
            );
        }
    }
}

#[test]
fn a_filesystem_section_without_include_workdir_leaves_out_sandbox() {
    for mode in MODES {
        let dir = WorldDir::new(true);
        let without = dir.file(
            "without.yaml",
            "version: 1\nfilesystem_policy:\n  read_only: [/usr, /bin, /lib, /lib64, /etc]\n",
        );
        let run = sh(
            mode,
            &["--policy", without.to_str().unwrap()],
            "pwd; test -e /sandbox || echo no-sandbox",
        );
        assert_eq!(run.ok(), "/\nno-sandbox\n", "{mode:?}: {run:?}");
        // An explicit --workdir is not silently dropped.
        let wd = dir.path().display().to_string();
        let run = sh(
            mode,
            &["--policy", without.to_str().unwrap(), "--workdir", &wd],
            "true",
        );
        run.ok();
        assert!(
            run.stderr.contains("--workdir ignored"),
            "{mode:?}: {run:?}"
        );
        // Twin: with include_workdir: true, /sandbox is there and is the start directory.
        let with = dir.file(
            "with.yaml",
            "version: 1\nfilesystem_policy:\n  include_workdir: true\n  read_only: [/usr, /bin, \
             /lib, /lib64, /etc]\n",
        );
        let run = sh(mode, &["--policy", with.to_str().unwrap()], "pwd");
        assert_eq!(run.ok(), "/sandbox\n", "{mode:?}");
    }
}

#[test]
fn env_by_name_passes_the_host_value_and_name_value_sets_it() {
    for mode in MODES {
        let run = cordon(
            mode,
            [
                "run",
                "--env",
                "QA_PLAIN",
                "--env",
                "QA_SET=given",
                "--env",
                "QA_UNSET_ON_HOST",
                "--",
                "/usr/bin/env",
            ],
        )
        .env("QA_PLAIN", "from-host")
        .env("QA_HIDDEN", "not-named")
        .run();
        let env = run.ok();
        assert!(env.contains("QA_PLAIN=from-host\n"), "{mode:?}: {env}");
        assert!(env.contains("QA_SET=given\n"), "{mode:?}: {env}");
        assert!(env.contains("HOME=/sandbox\n"), "{mode:?}: {env}");
        assert!(
            !env.contains("QA_HIDDEN"),
            "{mode:?}: not on the allow-list"
        );
        assert!(!env.contains("QA_UNSET_ON_HOST"), "{mode:?}");
        assert!(run.stderr.contains("QA_UNSET_ON_HOST"), "{mode:?}: {run:?}");
        // A secret-looking name given a value on the command line still warns.
        let run = cordon(mode, ["run", "--env", "QA_API_KEY=v", "--", "/usr/bin/env"]).run();
        assert!(run.ok().contains("QA_API_KEY=v\n"));
        assert!(run.stderr.contains("QA_API_KEY"), "{mode:?}: {run:?}");
    }
}

#[test]
fn binary_stdin_passes_through_unchanged_with_i() {
    let mut data = Vec::with_capacity(1 << 20);
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..(1 << 20) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.push((x & 0xff) as u8);
    }
    for mode in MODES {
        let mut child = command(mode)
            .args(["run", "-i", "--", "/bin/cat"])
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let feed = data.clone();
        let writer = std::thread::spawn(move || std::io::Write::write_all(&mut input, &feed));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert_eq!(out.status.code(), Some(0), "{mode:?}");
        assert!(
            out.stdout == data,
            "{mode:?}: {} bytes back",
            out.stdout.len()
        );
    }
}

/// A workdir private to its owner (0700, files 0600), owned by the invoker of each mode:
/// root's own directory as root, uid 65534's as rootless.
fn private_workdir(mode: Mode) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("cordon-qa-workdir-")
        .tempdir_in("/var/tmp")
        .unwrap();
    std::fs::write(dir.path().join("in.txt"), "owner-only").unwrap();
    std::fs::set_permissions(
        dir.path().join("in.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    if mode == Mode::Rootless {
        for path in [dir.path().to_path_buf(), dir.path().join("in.txt")] {
            std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
        }
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

#[test]
fn a_workdir_private_to_the_invoker_is_the_agents_to_read_and_write() {
    use std::os::unix::fs::MetadataExt;
    for mode in MODES {
        let dir = private_workdir(mode);
        let wd = dir.path().display().to_string();
        let run = sh(
            mode,
            &["--workdir", &wd],
            "cat /sandbox/in.txt; echo; echo made > /sandbox/out.txt && mkdir /sandbox/sub && \
             echo wrote",
        );
        assert_eq!(run.ok(), "owner-only\nwrote\n", "{mode:?}: {run:?}");
        // What the agent made belongs to the invoker on the host, as rootless.
        let owner = if mode == Mode::Root { 0 } else { NOBODY };
        for made in ["out.txt", "sub"] {
            let meta = std::fs::metadata(dir.path().join(made)).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (owner, owner), "{mode:?} {made}");
        }
    }
}

#[test]
fn setuid_and_setgid_bits_cannot_be_set_in_the_workdir() {
    use std::os::unix::fs::MetadataExt;
    for mode in MODES {
        let dir = private_workdir(mode);
        let wd = dir.path().display().to_string();
        let run = super::common::py(
            mode,
            &["--workdir", &wd],
            "import os\n\
             def attempt(name, f):\n    try:\n        f(); print(name, 'ok')\n    except \
             OSError as e:\n        print(name, e.errno)\n\
             open('/sandbox/tool', 'w').close()\n\
             attempt('chmod-4755', lambda: os.chmod('/sandbox/tool', 0o4755))\n\
             attempt('chmod-2755', lambda: os.chmod('/sandbox/tool', 0o2755))\n\
             attempt('create-4755', lambda: os.close(os.open('/sandbox/made', os.O_CREAT | \
             os.O_WRONLY, 0o4755)))\n\
             attempt('chmod-755', lambda: os.chmod('/sandbox/tool', 0o755))\n\
             attempt('create-755', lambda: os.close(os.open('/sandbox/plain', os.O_CREAT | \
             os.O_WRONLY, 0o755)))\n",
        );
        assert_eq!(
            run.ok(),
            "chmod-4755 1\nchmod-2755 1\ncreate-4755 1\nchmod-755 ok\ncreate-755 ok\n",
            "{mode:?}: {run:?}"
        );
        let tool = std::fs::metadata(dir.path().join("tool")).unwrap();
        assert_eq!(tool.mode() & 0o7777, 0o755, "{mode:?}");
        assert!(!dir.path().join("made").exists(), "{mode:?}");
    }
}

#[test]
fn a_system_directory_as_workdir_is_never_the_agents_own() {
    // Root only: rootless, the invoker owns nothing in /etc to begin with.
    let name = super::common::unique("cordon-qa-etc");
    let run = sh(
        Mode::Root,
        &["--workdir", "/etc"],
        &format!("touch /sandbox/{name} 2>/dev/null || echo refused"),
    );
    let planted = Path::new("/etc").join(&name);
    let leaked = planted.exists();
    let _ = std::fs::remove_file(&planted);
    assert!(!leaked, "the agent wrote into the host's /etc");
    assert_eq!(run.ok(), "refused\n", "{run:?}");
    assert!(run.stderr.contains("system directory"), "{run:?}");
    // Twin: a workdir of the invoker's own is the agent's (see the private-workdir test).
    let dir = private_workdir(Mode::Root);
    let wd = dir.path().display().to_string();
    let run = sh(
        Mode::Root,
        &["--workdir", &wd],
        &format!("touch /sandbox/{name} && echo made"),
    );
    assert_eq!(run.ok(), "made\n", "{run:?}");
}
