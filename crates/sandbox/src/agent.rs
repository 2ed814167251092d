//! A process of the sandbox between `fork` and `execve` — the agent, and every process
//! `Sandbox::exec` starts later, through the same code: stdio, working directory, clean
//! signal state, rlimits, `no_new_privs`, Landlock, dropped capabilities, seccomp, in that
//! order (each step needs the ones before it and nothing after it), then the exec with a
//! `PATH` search. Every failure goes to the supervisor over the channel, which the exec
//! closes.

use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::process::Signal;

use crate::channel::{Channel, Failure, Message};
use crate::init::{Exec, SETUP_FAILED};
use crate::seccomp::SeccompFilters;
use crate::spec::{LandlockMode, Resources};
use crate::{caps, landlock, limits, sys};

/// The process layers every process of the sandbox gets, kept by init for later execs.
#[derive(Debug)]
pub(crate) struct Layers {
    /// Paths inside the sandbox Landlock allows reading (and executing).
    pub landlock_read: Vec<PathBuf>,
    /// Paths inside the sandbox Landlock allows writing.
    pub landlock_write: Vec<PathBuf>,
    pub landlock: LandlockMode,
    pub seccomp: SeccompFilters,
    pub resources: Resources,
    /// Apply the limits as rlimits (no cgroup took them).
    pub rlimits: bool,
}

/// Where the new process's stdio comes from.
#[derive(Debug)]
pub(crate) enum Stdio<'a> {
    /// Keep init's stdout/stderr; stdin too with `true`, else `/dev/null`.
    Inherit { stdin: bool },
    /// A pty's terminal end: stdio, controlling terminal, new session.
    Terminal(&'a OwnedFd),
    /// Explicit stdin, stdout, stderr (an exec request).
    Fds(&'a [OwnedFd; 3]),
}

/// One process to start.
#[derive(Debug)]
pub(crate) struct Start<'a> {
    /// Its report channel (close-on-exec).
    pub channel: &'a Channel,
    pub stdio: Stdio<'a>,
    pub exec: &'a Exec,
    pub layers: &'a Layers,
}

/// Exit status when the command is not found (also reported over the channel).
const NOT_FOUND: i32 = 127;
/// Exit status when the command cannot be executed.
const NOT_EXECUTABLE: i32 = 126;

/// Entry point of the forked child; never returns.
pub(crate) fn run(launch: Start<'_>) -> ! {
    if let Err(text) = prepare(&launch) {
        launch.channel.send_or_ignore(&Message::Failed {
            failure: if text.starts_with("landlock") {
                Failure::Landlock
            } else {
                Failure::Setup
            },
            errno: 0,
            text,
        });
        sys::exit_now(SETUP_FAILED);
    }
    let (failure, err, shown) = exec(&launch);
    launch.channel.send_or_ignore(&Message::Failed {
        failure,
        errno: err.raw_os_error().unwrap_or(0),
        text: format!("{shown}: {err}"),
    });
    sys::exit_now(match failure {
        Failure::NotFound => NOT_FOUND,
        Failure::NotExecutable => NOT_EXECUTABLE,
        _ => SETUP_FAILED,
    })
}

fn prepare(launch: &Start<'_>) -> Result<(), String> {
    let channel = launch.channel;
    let layers = launch.layers;
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(|e| format!("set parent-death signal: {e}"))?;
    setup_stdio(launch)?;
    rustix::process::chdir(&launch.exec.cwd)
        .map_err(|e| format!("chdir {}: {e}", launch.exec.cwd.display()))?;
    sys::reset_signals().map_err(|e| format!("reset signal dispositions: {e}"))?;
    if layers.rlimits {
        limits::apply_rlimits(&layers.resources)?;
    }
    rustix::thread::set_no_new_privs(true).map_err(|e| format!("set no_new_privs: {e}"))?;
    let applied = landlock::restrict(
        &layers.landlock_read,
        &layers.landlock_write,
        layers.landlock,
    )
    .map_err(|e| format!("landlock: {e}"))?;
    for warning in applied.warnings {
        channel.send_or_ignore(&Message::Warning(warning));
    }
    channel.send_or_ignore(&Message::Layer(applied.layer));
    channel.send_or_ignore(&Message::Layer(caps::drop_all()?));
    // Descriptors the caller of cordon leaked (anything above stdio) must not reach the
    // agent; the channel is already close-on-exec.
    sys::cloexec_from(3).map_err(|e| format!("mark descriptors close-on-exec: {e}"))?;
    channel.send_or_ignore(&Message::Layer(
        "no_new_privs: set (setuid bits and file capabilities grant nothing)".into(),
    ));
    let seccomp = layers.seccomp.install()?;
    // Sent after installing: nothing may fail between the filter and the exec but the exec.
    channel.send_or_ignore(&Message::Layer(seccomp));
    Ok(())
}

fn setup_stdio(launch: &Start<'_>) -> Result<(), String> {
    match launch.stdio {
        Stdio::Terminal(terminal) => {
            rustix::process::setsid().map_err(|e| format!("setsid: {e}"))?;
            rustix::stdio::dup2_stdin(terminal).map_err(|e| format!("pty stdin: {e}"))?;
            rustix::stdio::dup2_stdout(terminal).map_err(|e| format!("pty stdout: {e}"))?;
            rustix::stdio::dup2_stderr(terminal).map_err(|e| format!("pty stderr: {e}"))?;
            rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())
                .map_err(|e| format!("make the pty the controlling terminal: {e}"))?;
        }
        Stdio::Fds([stdin, stdout, stderr]) => {
            rustix::stdio::dup2_stdin(stdin).map_err(|e| format!("stdin: {e}"))?;
            rustix::stdio::dup2_stdout(stdout).map_err(|e| format!("stdout: {e}"))?;
            rustix::stdio::dup2_stderr(stderr).map_err(|e| format!("stderr: {e}"))?;
        }
        Stdio::Inherit { stdin: true } => {}
        Stdio::Inherit { stdin: false } => null_stdin()?,
    }
    Ok(())
}

fn null_stdin() -> Result<(), String> {
    let null = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| format!("open /dev/null: {e}"))?;
    rustix::stdio::dup2_stdin(&null).map_err(|e| format!("stdin from /dev/null: {e}"))?;
    Ok(())
}

/// Classifies an exec error the way shells and docker do.
fn classify(err: &io::Error) -> Failure {
    match err.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => Failure::NotFound,
        _ => Failure::NotExecutable,
    }
}

/// Execs the command; returns only on failure: (kind, error, what was tried).
fn exec(launch: &Start<'_>) -> (Failure, io::Error, String) {
    let exec = &launch.exec;
    let Some(command) = exec.argv.first() else {
        return (
            Failure::Setup,
            io::Error::other("empty command"),
            String::new(),
        );
    };
    let shown = command.to_string_lossy().into_owned();
    if command.as_bytes().contains(&b'/') {
        let err = sys::execve(command, &exec.argv, &exec.envp);
        return (classify(&err), err, shown);
    }
    // execvp's rules: skip directories where the name is absent; remember a permission
    // error and report it only if no later directory has an executable of that name.
    let mut denied = None;
    for dir in &exec.search {
        let candidate =
            Path::new(dir).join(Path::new(std::ffi::OsStr::from_bytes(command.as_bytes())));
        let Ok(candidate) = CString::new(candidate.as_os_str().as_bytes()) else {
            continue;
        };
        let err = sys::execve(&candidate, &exec.argv, &exec.envp);
        match err.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => continue,
            Some(libc::EACCES) => denied = Some(err),
            _ => {
                return (
                    classify(&err),
                    err,
                    candidate.to_string_lossy().into_owned(),
                );
            }
        }
    }
    match denied {
        Some(err) => (Failure::NotExecutable, err, shown),
        None => (
            Failure::NotFound,
            io::Error::from_raw_os_error(libc::ENOENT),
            shown,
        ),
    }
}
