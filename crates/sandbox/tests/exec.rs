//! `Executor::exec`: a second process in a running sandbox, started by init, sees the same
//! root, hostname and identity as the agent, carries the same seccomp filter and
//! `no_new_privs`, gets its stdio from the caller, and reports its exit status; a missing
//! command is reported as such. Runs as root, then as uid 65534 through `setpriv`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::io::Read;
use std::os::fd::OwnedFd;

use cordon_sandbox::{
    ExecRequest, ExitStatus, Identity, LandlockMode, Resources, Sandbox, SandboxError, SandboxSpec,
};

const TEST: &str = "exec_starts_a_process_inside_the_running_sandbox";

/// What both processes print about themselves.
const PROBE: &str = "echo $(hostname) $(id -u) $(grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | tr -d '\\t\\n') $(ls /)";

fn spec() -> SandboxSpec {
    SandboxSpec {
        name: "exec-test".into(),
        command: vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("{PROBE} > /tmp/agent; while [ ! -e /tmp/stop ]; do sleep 0.01; done").into(),
        ],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        workdir: None,
        read_only: ["/usr", "/lib", "/lib64", "/bin", "/etc"]
            .map(Into::into)
            .to_vec(),
        read_write: vec!["/tmp".into()],
        extra_ro_files: Vec::new(),
        landlock: LandlockMode::BestEffort,
        resources: Resources::default(),
        identity: Identity::SANDBOX,
        tty: false,
        stdin: false,
        verbose: false,
        proxy_listen: None,
        transparent: None,
        exec: true,
    }
}

fn pipe() -> (std::fs::File, OwnedFd) {
    let (r, w) = rustix::pipe::pipe().unwrap();
    (std::fs::File::from(r), w)
}

fn run(sandbox: &Sandbox, script: &str) -> (String, ExitStatus) {
    let executor = sandbox.executor().expect("an executor");
    let (mut out, out_w) = pipe();
    let null = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
    let err = OwnedFd::from(
        std::fs::File::options()
            .write(true)
            .open("/dev/null")
            .unwrap(),
    );
    let execution = executor
        .exec(ExecRequest {
            command: vec!["/bin/sh".into(), "-c".into(), script.into()],
            stdio: Some([null, out_w, err]),
        })
        .expect("exec");
    let status = execution.wait();
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    (text, status)
}

fn check() {
    let sandbox = Sandbox::spawn(&spec()).expect("spawn");
    let (agent, _) = run(
        &sandbox,
        "while [ ! -s /tmp/agent ]; do sleep 0.01; done; cat /tmp/agent",
    );
    let (exec, status) = run(&sandbox, &format!("{PROBE}; exit 3"));
    assert_eq!(status, ExitStatus::Exited(3));
    assert_eq!(exec, agent, "exec sees what the agent sees");
    assert!(
        exec.starts_with("exec-test 1000 NoNewPrivs:1Seccomp:2"),
        "{exec}"
    );
    let missing = sandbox.executor().unwrap().exec(ExecRequest {
        command: vec!["no-such-command".into()],
        stdio: Some([
            OwnedFd::from(std::fs::File::open("/dev/null").unwrap()),
            OwnedFd::from(std::fs::File::open("/dev/null").unwrap()),
            OwnedFd::from(std::fs::File::open("/dev/null").unwrap()),
        ]),
    });
    assert!(
        matches!(missing, Err(SandboxError::CommandNotFound { .. })),
        "{missing:?}"
    );
    // A process still running when the sandbox ends dies with it.
    let executor = sandbox.executor().unwrap();
    let sleeper = executor
        .exec(ExecRequest {
            command: vec!["/bin/sleep".into(), "600".into()],
            stdio: Some([
                OwnedFd::from(std::fs::File::open("/dev/null").unwrap()),
                OwnedFd::from(std::fs::File::open("/dev/null").unwrap()),
                OwnedFd::from(std::fs::File::open("/dev/null").unwrap()),
            ]),
        })
        .unwrap();
    let (_, status) = run(&sandbox, "touch /tmp/stop");
    // The agent exits as soon as it sees the file, and the sandbox's end kills what is
    // left inside: `touch` may be reported exited or killed, depending on which comes
    // first. The agent's clean exit below is what proves the exec'd process ran.
    assert!(
        matches!(status, ExitStatus::Exited(0) | ExitStatus::Signaled(9)),
        "{status:?}"
    );
    assert_eq!(sandbox.wait().unwrap(), ExitStatus::Exited(0));
    assert_eq!(sleeper.wait(), ExitStatus::Signaled(9));
}

fn main() {
    support::run_root_and_rootless(TEST, check);
}
