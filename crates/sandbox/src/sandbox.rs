//! The supervisor's side: [`Sandbox::spawn`] prepares everything that can fail on the host,
//! creates the init process in new namespaces, writes its id maps, lets it go, and collects
//! its reports until the agent's `execve` closes the channel. [`Sandbox::wait`] then relays
//! the terminal (with `-t`), forwards signals, and returns the agent's status.

use std::ffi::CString;
use std::net::TcpListener;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, PidfdFlags};

use crate::agent::Layers;
use crate::cgroup::Cgroup;
use crate::channel::{self, Failure, Message};
use crate::error::SandboxError;
use crate::exec::Executor;
use crate::idmap::IdMapping;
use crate::init::{self, Exec, FORWARDED_SIGNALS, Launch};
use crate::mounts::plan::{self, PlanInput};
use crate::relay::Relay;
use crate::seccomp::SeccompFilters;
use crate::spec::{SandboxSpec, WORKDIR_INSIDE};
use crate::sys::{self, SignalSet};
use crate::{limits, tty};

/// Namespaces the init process is created in. The cgroup namespace is entered by init
/// itself, after the supervisor moved it into its cgroup, so that group becomes its root.
const NAMESPACES: u64 = (libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS) as u64;

/// `PATH` used to find the command when the environment has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Longest hostname the UTS namespace accepts.
const MAX_HOSTNAME: usize = 64;

/// How the agent ended, as cordon reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Exited with this code.
    Exited(u8),
    /// Killed by this signal.
    Signaled(i32),
}

impl ExitStatus {
    /// The shell convention: the exit code, or 128+N for signal N.
    pub fn code(&self) -> u8 {
        match *self {
            ExitStatus::Exited(code) => code,
            ExitStatus::Signaled(sig) => 128u8.saturating_add(sig.clamp(0, 127) as u8),
        }
    }
}

/// Something the sandbox reported while starting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Always shown: a path skipped, a layer weaker than asked.
    Warning(String),
    /// Shown with `-v`: one applied layer and how.
    Layer(String),
}

/// A running sandbox. Dropping it without [`Sandbox::wait`] kills it.
#[derive(Debug)]
pub struct Sandbox {
    /// Host pid of the init process.
    pid: libc::pid_t,
    /// Readable when init exits.
    pidfd: Option<OwnedFd>,
    /// Receives the forwarded signals (blocked in this thread since before the clone).
    signals: OwnedFd,
    /// The signal mask to restore when the sandbox is gone.
    old_mask: SignalSet,
    /// `-t`: the pty master and the caller's terminal mode.
    relay: Option<Relay>,
    proxy_listener: Option<TcpListener>,
    /// `NETLINK_SOCK_DIAG` socket of the sandbox's network namespace (with a listener).
    sock_diag: Option<OwnedFd>,
    /// Transparent capture's sockets (`SandboxSpec::transparent`).
    capture: Option<crate::capture::CaptureSockets>,
    /// Starts more processes through init (`SandboxSpec::exec`).
    executor: Option<Executor>,
    notices: Vec<Notice>,
    /// Set once init has been reaped.
    reaped: bool,
    /// Removed after the processes are gone (field drop order follows `Drop::drop`).
    _cgroup: Option<Cgroup>,
}

/// Whether `name` can be a sandbox name (it becomes the hostname): 1-64 letters, digits,
/// `-`, `_` or `.`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_HOSTNAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn validate(spec: &SandboxSpec) -> Result<(), SandboxError> {
    if spec.command.is_empty() {
        return Err(SandboxError::InvalidSpec("no command given".into()));
    }
    if !valid_name(&spec.name) {
        return Err(SandboxError::InvalidSpec(format!(
            "sandbox name {:?} must be 1-{MAX_HOSTNAME} letters, digits, '-', '_' or '.'",
            spec.name
        )));
    }
    Ok(())
}

/// Fails unless this process has exactly one thread: `clone` copies only the calling
/// thread, and the new namespaces must be created before any runtime starts threads.
fn ensure_single_threaded() -> Result<(), SandboxError> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| SandboxError::setup("read /proc/self/status", e))?;
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .map(str::trim);
    if threads != Some("1") {
        return Err(SandboxError::InvalidSpec(
            "the sandbox must be created while the process is single-threaded".into(),
        ));
    }
    Ok(())
}

fn c_string(bytes: &[u8], what: &str) -> Result<CString, SandboxError> {
    CString::new(bytes)
        .map_err(|_| SandboxError::InvalidSpec(format!("{what} contains a NUL byte")))
}

fn prepare_exec(spec: &SandboxSpec) -> Result<Exec, SandboxError> {
    let argv = spec
        .command
        .iter()
        .map(|a| c_string(a.as_bytes(), "an argument"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut path = DEFAULT_PATH.as_bytes().to_vec();
    let mut envp = Vec::with_capacity(spec.env.len());
    for (key, value) in &spec.env {
        if key.as_bytes() == b"PATH" {
            path = value.as_bytes().to_vec();
        }
        let entry = [key.as_bytes(), b"=", value.as_bytes()].concat();
        envp.push(c_string(&entry, "an environment variable")?);
    }
    let search = path
        .split(|&b| b == b':')
        .map(|dir| if dir.is_empty() { &b"."[..] } else { dir })
        .map(|dir| PathBuf::from(std::ffi::OsStr::from_bytes(dir)))
        .collect();
    let cwd = if spec.workdir.is_some() {
        PathBuf::from(WORKDIR_INSIDE)
    } else {
        PathBuf::from("/")
    };
    Ok(Exec {
        argv,
        envp,
        search,
        cwd,
    })
}

fn userns_unavailable(err: std::io::Error) -> SandboxError {
    SandboxError::Unsupported {
        feature: "support for unprivileged user namespaces",
        detail: format!("clone: {err}"),
        hint: "enable them with `sysctl -w kernel.unprivileged_userns_clone=1` (Debian), \
               `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` (Ubuntu 24.04+) \
               and a non-zero user.max_user_namespaces",
    }
}

impl Sandbox {
    /// Starts the sandbox described by `spec` and returns once the agent's `execve`
    /// succeeded. Must be called while the process is single-threaded.
    pub fn spawn(spec: &SandboxSpec) -> Result<Sandbox, SandboxError> {
        validate(spec)?;
        ensure_single_threaded()?;
        let ids = IdMapping::for_invoker(spec.identity)?;
        let plan = plan::plan(
            &PlanInput {
                read_only: spec.read_only.clone(),
                read_write: spec.read_write.clone(),
                workdir: spec.workdir.clone(),
                extra_ro_files: spec.extra_ro_files.clone(),
            },
            spec.landlock,
        )?;
        let seccomp = SeccompFilters::build()
            .map_err(|e| SandboxError::setup("build seccomp filters", std::io::Error::other(e)))?;
        let exec = prepare_exec(spec)?;

        let mut notices = vec![Notice::Layer(format!(
            "namespaces: user ({}), mount, pid (cordon init is pid 1), network (loopback only{}), \
             ipc, uts (hostname {}), cgroup",
            ids.describe(),
            match spec.proxy_listen {
                Some(addr) => format!(", proxy listener {addr}"),
                None => String::new(),
            },
            spec.name
        ))];
        notices.extend(plan::describe(&plan).into_iter().map(Notice::Layer));
        notices.extend(plan.warnings.iter().cloned().map(Notice::Warning));
        // SAFETY: ensure_single_threaded() verified above that this is the only thread.
        let premade = match unsafe { crate::mounts::idmapped::workdir(&plan, &ids) } {
            Ok(Some(premade)) => {
                notices.push(Notice::Layer(
                    "mounts: /sandbox idmapped: the workdir's owner is the agent inside".into(),
                ));
                Some(premade)
            }
            Ok(None) => None,
            Err(e) => {
                notices.push(Notice::Warning(format!(
                    "the workdir cannot be idmapped to the agent ({e}); its files keep their \
                     host owners, so the agent may not read or write them"
                )));
                None
            }
        };

        let wants_limits = spec.resources != Default::default();
        let cgroup = if wants_limits {
            match Cgroup::create(&spec.name, &spec.resources) {
                Ok(cgroup) => Some(cgroup),
                Err(reason) => {
                    notices.push(Notice::Layer(format!(
                        "limits: no delegated cgroup v2 subtree ({reason}); using rlimits"
                    )));
                    None
                }
            }
        } else {
            None
        };
        notices.push(Notice::Layer(limits::describe(
            &spec.resources,
            cgroup.is_some(),
        )));

        let (ours, theirs) = channel::pair().map_err(|e| SandboxError::setup("socketpair", e))?;
        let forwarded = SignalSet::of(&FORWARDED_SIGNALS);
        let old_mask = forwarded
            .block()
            .map_err(|e| SandboxError::setup("block signals", e))?;
        let signals = match forwarded.signalfd() {
            Ok(fd) => fd,
            Err(e) => {
                let _ = old_mask.set_as_mask();
                return Err(SandboxError::setup("signalfd", e));
            }
        };
        let (control_ours, control_theirs) = if spec.exec {
            let (a, b) = channel::pair().map_err(|e| SandboxError::setup("socketpair", e))?;
            (Some(a), Some(b))
        } else {
            (None, None)
        };
        let layers = Layers {
            landlock_read: plan.landlock_read.clone(),
            landlock_write: plan.landlock_write.clone(),
            landlock: spec.landlock,
            seccomp,
            resources: spec.resources,
            rlimits: cgroup.is_none(),
        };
        let launch = Launch {
            hostname: spec.name.clone(),
            ids,
            plan,
            channel: theirs,
            control: control_theirs,
            tty: spec.tty,
            terminal: None,
            stdin: spec.stdin,
            proxy_listen: spec.proxy_listen,
            capture: spec.transparent,
            exec,
            layers,
            premade,
        };

        // SAFETY: ensure_single_threaded() verified above that this is the only thread, and
        // nothing since has started one.
        let pid = match unsafe { sys::clone_into_namespaces(NAMESPACES) } {
            Ok(None) => init::run(launch),
            Ok(Some(pid)) => pid,
            Err(err) => {
                let _ = old_mask.set_as_mask();
                return Err(userns_unavailable(err));
            }
        };
        // The child has its own copy; ours would keep the channel open and the pty alive.
        drop(launch);

        let mut sandbox = Sandbox {
            pid,
            pidfd: None,
            signals,
            old_mask,
            relay: None,
            proxy_listener: None,
            sock_diag: None,
            capture: None,
            executor: None,
            notices,
            reaped: false,
            _cgroup: cgroup,
        };
        ids.write(pid)
            .map_err(|e| SandboxError::setup("write the user namespace id maps", e))?;
        if let Some(cgroup) = &sandbox._cgroup {
            cgroup
                .add(pid)
                .map_err(|e| SandboxError::setup("move the sandbox into its cgroup", e))?;
        }
        let pidfd = Pid::from_raw(pid)
            .ok_or_else(|| SandboxError::InvalidSpec("clone returned pid 0".into()))
            .and_then(|p| {
                rustix::process::pidfd_open(p, PidfdFlags::empty())
                    .map_err(|e| SandboxError::setup("pidfd_open", e.into()))
            })?;
        sandbox.pidfd = Some(pidfd);
        ours.send(&Message::Go)
            .map_err(|e| SandboxError::setup("start the sandbox", e))?;
        sandbox.collect_reports(&ours, spec)?;
        if let Some(control) = control_ours {
            // The agent runs: threads are allowed from here on.
            sandbox.executor = Some(Executor::start(control)?);
        }
        Ok(sandbox)
    }

    /// Reads the channel until the agent's exec closes it; a failure report becomes the error.
    fn collect_reports(
        &mut self,
        channel: &channel::Channel,
        spec: &SandboxSpec,
    ) -> Result<(), SandboxError> {
        let mut failed = None;
        loop {
            match channel.recv() {
                Ok(Some(Message::Warning(text))) => self.notices.push(Notice::Warning(text)),
                Ok(Some(Message::Layer(text))) => self.notices.push(Notice::Layer(text)),
                Ok(Some(Message::Listener(fd))) => {
                    self.proxy_listener = Some(TcpListener::from(fd));
                }
                Ok(Some(Message::SockDiag(fd))) => self.sock_diag = Some(fd),
                Ok(Some(Message::Capture {
                    active,
                    ipv6,
                    detail,
                    fds,
                })) => {
                    let line = if active {
                        Notice::Layer(format!("transparent capture: active ({detail})"))
                    } else {
                        Notice::Warning(format!(
                            "transparent capture inactive: {detail}; programs that ignore the \
                             proxy variables cannot reach the network"
                        ))
                    };
                    self.notices.push(line);
                    self.capture =
                        crate::capture::CaptureSockets::from_fds(fds, active, ipv6, detail);
                }
                Ok(Some(Message::PtyMaster(fd))) => {
                    tty::copy_size(&fd);
                    self.relay = Some(Relay::new(fd, spec.stdin));
                }
                Ok(Some(Message::Failed {
                    failure,
                    errno,
                    text,
                })) => failed = Some((failure, errno, text)),
                Ok(Some(Message::Go | Message::Exec { .. } | Message::Signal { .. })) => {}
                Ok(Some(Message::Exited { .. })) => {}
                Ok(None) => break,
                Err(e) => return Err(SandboxError::setup("read the sandbox's reports", e)),
            }
        }
        let Some((failure, errno, text)) = failed else {
            return Ok(());
        };
        // The reporting process exits right after its report; reap init so nothing stays.
        if sys::wait_for(self.pid).is_ok() {
            self.reaped = true;
        }
        let command = spec.command[0].to_string_lossy().into_owned();
        Err(match failure {
            Failure::NotFound => SandboxError::CommandNotFound { command },
            Failure::NotExecutable => SandboxError::NotExecutable {
                command,
                source: std::io::Error::from_raw_os_error(errno),
            },
            Failure::Landlock => SandboxError::Landlock(text),
            Failure::Setup => SandboxError::Child(text),
        })
    }

    /// Host pid of the sandbox's init process (for `/proc/<pid>/...` lookups by the
    /// egress layer, e.g. resolving a peer's executable).
    pub fn init_pid(&self) -> u32 {
        self.pid as u32
    }

    /// Host pid of the agent (init's first child), read from procfs.
    ///
    /// Why it exists: init is non-dumpable and its memory map belongs to the host user
    /// namespace (it was cloned, never exec'd), so a rootless supervisor cannot read
    /// `/proc/<init>/ns/*` or `/proc/<init>/fd`; the agent's entries it can. Any process of
    /// the sandbox identifies its namespaces, and the agent lives exactly as long as the
    /// sandbox (init exits with it). `None` once the agent is gone.
    pub fn agent_pid(&self) -> Option<u32> {
        let children =
            std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.pid)).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }

    /// The TCP listener created inside the sandbox's network namespace (from
    /// `SandboxSpec::proxy_listen`), non-blocking; `None` if none was asked or already taken.
    pub fn take_proxy_listener(&mut self) -> Option<TcpListener> {
        self.proxy_listener.take()
    }

    /// A `NETLINK_SOCK_DIAG` socket created inside the sandbox's network namespace
    /// (whenever a proxy listener was asked for), for finding which process owns a
    /// client connection; `None` if none or already taken.
    pub fn take_sock_diag(&mut self) -> Option<OwnedFd> {
        self.sock_diag.take()
    }

    /// Transparent capture's sockets (from `SandboxSpec::transparent`), for the
    /// supervisor's egress layer to serve; `None` if none was asked or already taken.
    pub fn take_capture(&mut self) -> Option<crate::capture::CaptureSockets> {
        self.capture.take()
    }

    /// Starts more processes in this sandbox (`None` unless `SandboxSpec::exec`).
    pub fn executor(&self) -> Option<Executor> {
        self.executor.clone()
    }

    /// A handle that signals the sandbox's init from any thread, safe against pid reuse
    /// (a pidfd), for `cordon stop` while another thread waits in [`Sandbox::wait`].
    pub fn signaller(&self) -> Result<Signaller, SandboxError> {
        let pidfd = self
            .pidfd
            .as_ref()
            .ok_or_else(|| SandboxError::InvalidSpec("sandbox already waited for".into()))?;
        let pidfd = pidfd
            .try_clone()
            .map_err(|e| SandboxError::setup("duplicate the pidfd", e))?;
        Ok(Signaller { pidfd })
    }

    /// What the sandbox reported while starting, in order.
    pub fn notices(&self) -> &[Notice] {
        &self.notices
    }

    /// Sends `signal` to the init process, which forwards it to the agent.
    pub fn signal(&self, signal: i32) -> Result<(), SandboxError> {
        sys::kill(self.pid, signal).map_err(|e| SandboxError::setup("signal the sandbox", e))
    }

    /// Runs until the agent exits: relays the pty, forwards signals, then returns the
    /// agent's status (init exits with it, 128+N for a signal).
    pub fn wait(mut self) -> Result<ExitStatus, SandboxError> {
        let Some(pidfd) = self.pidfd.take() else {
            return Err(SandboxError::InvalidSpec(
                "sandbox already waited for".into(),
            ));
        };
        loop {
            let in_flags = PollFlags::IN;
            let mut fds = vec![
                PollFd::new(&pidfd, in_flags),
                PollFd::new(&self.signals, in_flags),
            ];
            if let Some(relay) = &self.relay {
                relay.poll_fds(&mut fds);
            }
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(SandboxError::setup("poll", e.into())),
            }
            let ready: Vec<PollFlags> = fds.iter().map(|f| f.revents()).collect();
            drop(fds);
            if !ready[1].is_empty() {
                self.forward_signals();
            }
            if let Some(relay) = &mut self.relay {
                relay.pump(&ready[2..]);
            }
            if !ready[0].is_empty() {
                break;
            }
        }
        let status = sys::wait_for(self.pid).map_err(|e| SandboxError::setup("waitpid", e))?;
        self.reaped = true;
        if let Some(relay) = &mut self.relay {
            relay.drain();
        }
        Ok(sys::decode_wait_status(status))
    }

    fn forward_signals(&mut self) {
        while let Ok(Some(sig)) = sys::read_signalfd(self.signals.as_fd()) {
            if let (libc::SIGWINCH, Some(relay)) = (sig, &self.relay) {
                relay.resize();
            }
            let _ = sys::kill(self.pid, sig);
        }
    }
}

/// Sends signals to a sandbox's init (which forwards them to the agent).
#[derive(Debug)]
pub struct Signaller {
    pidfd: OwnedFd,
}

impl Signaller {
    /// Sends `signal` (a number such as `libc::SIGTERM`); forwarded signals reach the
    /// agent, SIGKILL ends the whole sandbox at once.
    pub fn send(&self, signal: i32) -> Result<(), SandboxError> {
        let signal = rustix::process::Signal::from_named_raw(signal)
            .ok_or_else(|| SandboxError::InvalidSpec(format!("unknown signal {signal}")))?;
        rustix::process::pidfd_send_signal(&self.pidfd, signal)
            .map_err(|e| SandboxError::setup("signal the sandbox", e.into()))
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = sys::kill(self.pid, libc::SIGKILL);
            let _ = sys::wait_for(self.pid);
        }
        self.relay = None; // restores the caller's terminal
        let _ = self.old_mask.set_as_mask();
    }
}
