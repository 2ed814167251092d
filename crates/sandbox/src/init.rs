//! The sandbox's pid 1. Created by `clone` in fresh namespaces, it finishes the setup that
//! must happen inside them (identity, hostname, loopback, proxy listener, the new root),
//! then acts as a minimal init: starts the agent, reaps every zombie, forwards SIGINT,
//! SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGUSR1/2 to the agent, and exits with the agent's
//! status (128+N when the agent was killed by signal N). When it exits the kernel kills
//! whatever else is left in the pid namespace.
//!
//! For a named sandbox it also serves the control channel (`exec.rs`): it forks each
//! process `Sandbox::exec` asks for, which then goes through exactly the agent's steps
//! (`agent.rs`), and reports its exit status. No process outside ever enters the
//! sandbox's namespaces: new processes descend from init.
//!
//! It never execs and is made non-dumpable, so the agent (same uid) can neither read its
//! memory nor follow its `/proc/1/root` or `/proc/1/fd`.

use std::ffi::CString;
use std::net::SocketAddrV4;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use rustix::process::Signal;

use crate::agent::{self, Layers, Start, Stdio};
use crate::channel::{Channel, Failure, Message};
use crate::exec::InitExecs;
use crate::idmap::IdMapping;
use crate::mounts::apply::apply;
use crate::mounts::linux::{LinuxMounts, open_sources};
use crate::mounts::plan::MountPlan;
use crate::sys::{self, SignalSet};
use crate::{netns, tty};

/// Signals the supervisor and init pass on to the agent.
pub(crate) const FORWARDED_SIGNALS: [libc::c_int; 7] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGWINCH,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Exit status for a failure of cordon's own setup (docker's 125).
pub(crate) const SETUP_FAILED: i32 = 125;

/// The agent's command, prepared as C strings before the fork.
#[derive(Debug, Clone)]
pub(crate) struct Exec {
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    /// `PATH` entries to search when `argv[0]` has no `/`.
    pub search: Vec<PathBuf>,
    pub cwd: PathBuf,
}

/// Everything the processes inside need, prepared by the supervisor before `clone`.
#[derive(Debug)]
pub(crate) struct Launch {
    pub hostname: String,
    pub ids: IdMapping,
    pub plan: MountPlan,
    /// The child end of the channel; close-on-exec.
    pub channel: Channel,
    /// Init's end of the control channel (named sandboxes): kept open for exec requests.
    pub control: Option<Channel>,
    /// `-t`: init opens a pty on the sandbox's devpts and sends the master out.
    pub tty: bool,
    /// The pty's terminal end, once init opened it.
    pub terminal: Option<OwnedFd>,
    /// Keep the caller's stdin (`-i`); otherwise the agent reads `/dev/null`.
    pub stdin: bool,
    pub proxy_listen: Option<SocketAddrV4>,
    /// Transparent capture to set up in the network namespace (`capture.rs`).
    pub capture: Option<crate::capture::CaptureSpec>,
    pub exec: Exec,
    /// What the agent (and every process started later) gets applied.
    pub layers: Layers,
    /// The idmapped workdir the supervisor made (as root), moved into place by `apply`.
    pub premade: Option<crate::mounts::idmapped::Premade>,
}

/// Entry point of the cloned child; never returns.
pub(crate) fn run(launch: Launch) -> ! {
    let code = match start(launch) {
        Ok((agent, execs)) => supervise(agent, execs),
        Err((channel, text)) => {
            channel.send_or_ignore(&Message::Failed {
                failure: Failure::Setup,
                errno: 0,
                text,
            });
            SETUP_FAILED
        }
    };
    sys::exit_now(code)
}

type StartError = (Channel, String);

fn start(mut launch: Launch) -> Result<(libc::pid_t, Option<InitExecs>), StartError> {
    // Die with the supervisor (fail closed). Set before waiting for "go": if the supervisor
    // is already gone, the read below sees end-of-file.
    fn step(text: &str) -> impl FnOnce(std::io::Error) -> String + '_ {
        move |e| format!("{text}: {e}")
    }
    if let Err(e) = rustix::process::set_parent_process_death_signal(Some(Signal::KILL)) {
        return Err((launch.channel, format!("set parent-death signal: {e}")));
    }
    match launch.channel.recv() {
        Ok(Some(Message::Go)) => {}
        _ => sys::exit_now(SETUP_FAILED), // the supervisor is gone or failed: nobody to tell
    }
    // Mount sources are opened here, inside the new mount namespace but before any mount
    // changed: a bind must come from a mount of the caller's own namespace. Opened before
    // the identity change so the invoker's own access rights apply.
    let sources = match open_sources(&launch.plan.sources) {
        Ok(sources) => sources,
        Err(e) => return Err((launch.channel, format!("open mount source {e}"))),
    };
    let result = (|| {
        become_identity(&launch.ids)?;
        // A change of uid/gid clears the parent-death signal (commit_creds): set it again,
        // then make sure the supervisor did not die in between (it holds its end of the
        // channel until the agent runs, so a hang-up means it is gone).
        rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
            .map_err(|e| format!("set parent-death signal: {e}"))?;
        if launch.channel.peer_gone() {
            sys::exit_now(SETUP_FAILED);
        }
        sys::unshare_cgroup_namespace().map_err(|e| format!("new cgroup namespace: {e}"))?;
        Ok::<(), String>(())
    })();
    if let Err(text) = result {
        return Err((launch.channel, text));
    }
    let result = (|| {
        rustix::system::sethostname(launch.hostname.as_bytes())
            .map_err(|e| step("set hostname")(e.into()))?;
        netns::bring_up_loopback().map_err(step("bring up loopback"))?;
        if let Some(addr) = launch.proxy_listen {
            let listener = netns::listen(addr).map_err(step(&format!("listen on {addr}")))?;
            launch
                .channel
                .send(&Message::Listener(listener))
                .map_err(step("hand the proxy listener to the supervisor"))?;
            let diag = netns::sock_diag().map_err(step("open a sock_diag socket"))?;
            launch
                .channel
                .send(&Message::SockDiag(diag))
                .map_err(step("hand the sock_diag socket to the supervisor"))?;
        }
        if let Some(spec) = launch.capture {
            // Before the new root: the rule tool is a host binary.
            let installed = crate::capture::install(spec)?;
            launch
                .channel
                .send(&Message::Capture {
                    active: installed.active,
                    ipv6: installed.ipv6,
                    detail: installed.detail,
                    fds: installed.fds,
                })
                .map_err(step("hand the capture sockets to the supervisor"))?;
        }
        let mut mounts = LinuxMounts {
            sources,
            premade: launch.premade.take(),
        };
        apply(&mut mounts, &launch.plan).map_err(|e| format!("build the sandbox root: {e}"))?;
        drop(mounts); // closes the host source descriptors
        if launch.tty {
            // From the sandbox's own devpts, so the agent's terminal is /dev/pts/N inside
            // (ttyname works) and no host pty is involved.
            let pty = tty::open().map_err(step("allocate a pty"))?;
            launch
                .channel
                .send(&Message::PtyMaster(pty.master))
                .map_err(step("hand the pty to the supervisor"))?;
            launch.terminal = Some(pty.terminal);
        }
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
            .map_err(|e| step("make init non-dumpable")(e.into()))?;
        // A session of its own: the caller's terminal signals reach only the supervisor,
        // which forwards them exactly once.
        rustix::process::setsid().map_err(|e| step("setsid")(e.into()))?;
        SignalSet::of(&[libc::SIGCHLD])
            .block()
            .map_err(step("block SIGCHLD"))?;
        Ok::<(), String>(())
    })();
    if let Err(text) = result {
        return Err((launch.channel, text));
    }
    // SAFETY: this process was created by clone from a single-threaded supervisor and has
    // started no thread since, so it is single-threaded.
    match unsafe { sys::fork() } {
        Ok(None) => agent::run(Start {
            channel: &launch.channel,
            stdio: match &launch.terminal {
                Some(terminal) => Stdio::Terminal(terminal),
                None => Stdio::Inherit {
                    stdin: launch.stdin,
                },
            },
            exec: &launch.exec,
            layers: &launch.layers,
        }),
        Ok(Some(agent)) => {
            // Only the agent keeps the channel and the terminal: their end-of-file must mean
            // "exec happened" and "the agent's terminal closed". What later execs need
            // stays: the control channel, the command's environment and the layers.
            let Launch {
                channel,
                terminal,
                control,
                exec,
                layers,
                ..
            } = launch;
            drop((channel, terminal));
            let execs = control.map(|control| InitExecs::new(control, exec, layers));
            let keep = execs.as_ref().map(InitExecs::raw_fd);
            let _ = match keep {
                Some(fd) => sys::close_range(3, fd.saturating_sub(1))
                    .and_then(|()| sys::close_range(fd.saturating_add(1), u32::MAX)),
                None => sys::close_range(3, u32::MAX),
            };
            Ok((agent, execs))
        }
        Err(e) => Err((launch.channel, format!("fork the agent: {e}"))),
    }
}

/// Changes to the inside ids. As root, root's supplementary groups are dropped first (the
/// supervisor left `setgroups` allowed for exactly this); rootless they are the invoker's.
fn become_identity(ids: &IdMapping) -> Result<(), String> {
    use rustix::process::{Gid, Uid};
    if ids.rootful {
        rustix::thread::set_thread_groups(&[])
            .map_err(|e| format!("drop supplementary groups: {e}"))?;
    }
    let gid = Gid::from_raw(ids.inside.gid);
    let uid = Uid::from_raw(ids.inside.uid);
    rustix::thread::set_thread_res_gid(gid, gid, gid)
        .map_err(|e| format!("become gid {}: {e}", ids.inside.gid))?;
    rustix::thread::set_thread_res_uid(uid, uid, uid)
        .map_err(|e| format!("become uid {}: {e}", ids.inside.uid))?;
    Ok(())
}

/// The init loop: forward signals, serve exec requests, reap zombies, return the agent's
/// status as an exit code.
fn supervise(agent: libc::pid_t, mut execs: Option<InitExecs>) -> i32 {
    let mut waited = FORWARDED_SIGNALS.to_vec();
    waited.push(libc::SIGCHLD);
    let set = SignalSet::of(&waited);
    let signals = match set.signalfd() {
        Ok(fd) => fd,
        Err(_) => return SETUP_FAILED,
    };
    loop {
        match execs.as_ref().map(|e| e.wait_ready(&signals)) {
            None => {}
            Some(Ok(false)) => {}
            Some(Ok(true)) => {
                if let Some(e) = execs.as_mut()
                    && !e.serve_one()
                {
                    execs = None; // the supervisor closed the channel
                }
                continue;
            }
            Some(Err(_)) => return SETUP_FAILED,
        }
        let sig = if execs.is_some() {
            match sys::read_signalfd(std::os::fd::AsFd::as_fd(&signals)) {
                Ok(Some(sig)) => sig,
                Ok(None) => continue,
                Err(_) => return SETUP_FAILED,
            }
        } else {
            match set.wait() {
                Ok(sig) => sig,
                Err(_) => return SETUP_FAILED,
            }
        };
        if sig != libc::SIGCHLD {
            let _ = sys::kill(agent, sig);
            continue;
        }
        loop {
            match sys::reap_any() {
                Ok(Some((pid, status))) if pid == agent => {
                    return sys::decode_wait_status(status).code().into();
                }
                Ok(Some((pid, status))) => {
                    // An exec'd process (reported) or an orphan reparented to us (reaped).
                    if let Some(e) = execs.as_mut() {
                        e.reaped(pid, sys::decode_wait_status(status));
                    }
                }
                Ok(None) => break,
                Err(_) => return SETUP_FAILED,
            }
        }
    }
}
