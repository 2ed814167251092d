//! New processes in a running sandbox (`cordon exec`), both sides of the control channel.
//!
//! Why init starts them instead of a host process entering the namespaces with `setns`:
//! a process that enters brings host state along (descriptors, memory, credentials in the
//! parent user namespace) and needs capabilities over the namespaces; a child of init is
//! born inside, in the sandbox's root, and then takes exactly the agent's path
//! (`agent.rs`): same identity, rlimits, `no_new_privs`, Landlock rules, dropped
//! capabilities and seccomp filters. Stdio descriptors travel with the request
//! (SCM_RIGHTS), so bytes never pass through the supervisor; with a terminal, init opens
//! the pty on the sandbox's devpts and the master goes back out.
//!
//! Supervisor side: [`Executor`] sends requests and routes exit statuses (read by one
//! thread) to each [`Execution`]. Init side: `InitExecs` forks and reaps.

use std::collections::HashMap;
use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel as mpsc};
use std::sync::{Arc, Mutex};

use rustix::event::{PollFd, PollFlags};

use crate::agent::{self, Layers, Start, Stdio};
use crate::channel::{self, Channel, Failure, Message};
use crate::error::SandboxError;
use crate::init::Exec;
use crate::{ExitStatus, sys, tty};

/// What to start in the sandbox.
#[derive(Debug)]
pub struct ExecRequest {
    /// argv; `argv[0]` is looked up in the sandbox's `PATH` when it has no `/`.
    pub command: Vec<OsString>,
    /// Stdin, stdout and stderr of the new process; `None` = a new pty (see
    /// [`Execution::take_pty_master`]).
    pub stdio: Option<[OwnedFd; 3]>,
}

/// Starts processes in one sandbox; cheap to clone, usable from any thread.
#[derive(Debug, Clone)]
pub struct Executor {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    control: Channel,
    next_id: AtomicU64,
    /// Exit-status receivers of the processes still running, by request id.
    waiters: Mutex<HashMap<u64, Sender<ExitStatus>>>,
}

/// A process started by [`Executor::exec`].
#[derive(Debug)]
pub struct Execution {
    id: u64,
    status: Receiver<ExitStatus>,
    pty_master: Option<OwnedFd>,
    shared: Arc<Shared>,
}

impl Executor {
    /// Takes the supervisor's end of the control channel and starts the thread that
    /// reads exit statuses from it.
    pub(crate) fn start(control: Channel) -> Result<Executor, SandboxError> {
        let shared = Arc::new(Shared {
            control,
            next_id: AtomicU64::new(1),
            waiters: Mutex::new(HashMap::new()),
        });
        let reader = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("cordon-exec".into())
            .spawn(move || read_statuses(&reader))
            .map_err(|e| SandboxError::setup("start the exec status thread", e))?;
        Ok(Executor { shared })
    }

    /// Starts `request` in the sandbox and returns once it has exec'd (or why it could not).
    pub fn exec(&self, request: ExecRequest) -> Result<Execution, SandboxError> {
        let command = request
            .command
            .first()
            .map(|c| c.to_string_lossy().into_owned())
            .ok_or_else(|| SandboxError::InvalidSpec("no command given".into()))?;
        let argv = request
            .command
            .iter()
            .map(|a| {
                if a.as_bytes().contains(&0) {
                    Err(SandboxError::InvalidSpec(
                        "an argument contains a NUL byte".into(),
                    ))
                } else {
                    Ok(a.as_bytes().to_vec())
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (ours, theirs) = channel::pair().map_err(|e| SandboxError::setup("socketpair", e))?;
        let tty = request.stdio.is_none();
        let mut fds = vec![theirs.into_fd()];
        fds.extend(request.stdio.into_iter().flatten());
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, status) = mpsc();
        lock(&self.shared.waiters).insert(id, tx);
        let forget = || lock(&self.shared.waiters).remove(&id);
        if let Err(e) = self
            .shared
            .control
            .send(&Message::Exec { id, tty, argv, fds })
        {
            forget();
            return Err(SandboxError::setup("send the exec request to init", e));
        }
        let mut pty_master = None;
        loop {
            match ours.recv() {
                Ok(Some(Message::PtyMaster(fd))) => pty_master = Some(fd),
                Ok(Some(Message::Failed {
                    failure,
                    errno,
                    text,
                })) => {
                    forget();
                    return Err(match failure {
                        Failure::NotFound => SandboxError::CommandNotFound { command },
                        Failure::NotExecutable => SandboxError::NotExecutable {
                            command,
                            source: std::io::Error::from_raw_os_error(errno),
                        },
                        Failure::Landlock => SandboxError::Landlock(text),
                        Failure::Setup => SandboxError::Child(text),
                    });
                }
                Ok(Some(_)) => {}
                Ok(None) => break, // exec'd: the channel closed on exec
                Err(e) => {
                    forget();
                    return Err(SandboxError::setup("read the exec reports", e));
                }
            }
        }
        Ok(Execution {
            id,
            status,
            pty_master,
            shared: Arc::clone(&self.shared),
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn read_statuses(shared: &Shared) {
    while let Ok(Some(message)) = shared.control.recv() {
        if let Message::Exited { id, status } = message
            && let Some(tx) = lock(&shared.waiters).remove(&id)
        {
            let _ = tx.send(status);
        }
    }
    // Init is gone: so is every process it started (the pid namespace died with it).
    lock(&shared.waiters).clear();
}

impl Execution {
    /// The pty master of a process started with a terminal (once).
    pub fn take_pty_master(&mut self) -> Option<OwnedFd> {
        self.pty_master.take()
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: i32) {
        self.signaller().signal(signal);
    }

    /// A handle that signals the process from another thread while this one waits.
    pub fn signaller(&self) -> ExecSignaller {
        ExecSignaller {
            id: self.id,
            shared: Arc::clone(&self.shared),
        }
    }

    /// Blocks until the process ends. When the sandbox itself ends first, the kernel has
    /// killed the process with the pid namespace: reported as SIGKILL.
    pub fn wait(self) -> ExitStatus {
        self.status
            .recv()
            .unwrap_or(ExitStatus::Signaled(libc::SIGKILL))
    }
}

/// Signals one process started by [`Executor::exec`].
#[derive(Debug, Clone)]
pub struct ExecSignaller {
    id: u64,
    shared: Arc<Shared>,
}

impl ExecSignaller {
    /// Sends `signal` to the process (nothing happens once it has ended).
    pub fn signal(&self, signal: i32) {
        let _ = self.shared.control.send(&Message::Signal {
            id: self.id,
            signal,
        });
    }
}

/// Init's side: the control channel and what each new process needs.
#[derive(Debug)]
pub(crate) struct InitExecs {
    control: Channel,
    /// The agent's command: its environment, `PATH` search and working directory are
    /// every exec's too.
    base: Exec,
    layers: Layers,
    /// Request ids of the processes still running, by pid (inside).
    running: HashMap<libc::pid_t, u64>,
}

impl InitExecs {
    pub(crate) fn new(control: Channel, base: Exec, layers: Layers) -> InitExecs {
        InitExecs {
            control,
            base,
            layers,
            running: HashMap::new(),
        }
    }

    /// The control channel's descriptor (kept open when init closes the rest).
    pub(crate) fn raw_fd(&self) -> u32 {
        self.control.as_fd().as_raw_fd() as u32
    }

    /// Waits for a signal or a control message; `true` when the control channel is ready.
    pub(crate) fn wait_ready(&self, signals: &OwnedFd) -> std::io::Result<bool> {
        loop {
            let control = self.control.as_fd();
            let mut fds = [
                PollFd::new(signals, PollFlags::IN),
                PollFd::new(&control, PollFlags::IN),
            ];
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => return Ok(!fds[1].revents().is_empty() && fds[0].revents().is_empty()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Serves one control message; `false` when the supervisor closed the channel.
    pub(crate) fn serve_one(&mut self) -> bool {
        match self.control.recv() {
            Ok(Some(Message::Exec { id, tty, argv, fds })) => {
                self.spawn(id, tty, argv, fds);
                true
            }
            Ok(Some(Message::Signal { id, signal })) => {
                if let Some((&pid, _)) = self.running.iter().find(|(_, i)| **i == id) {
                    let _ = sys::kill(pid, signal);
                }
                true
            }
            Ok(Some(_)) => true,
            Ok(None) | Err(_) => false,
        }
    }

    fn spawn(&mut self, id: u64, tty: bool, argv: Vec<Vec<u8>>, mut fds: Vec<OwnedFd>) {
        if fds.is_empty() {
            return; // no report channel: nobody to answer
        }
        let report = Channel::from_fd(fds.remove(0));
        let fail = |text: String| {
            report.send_or_ignore(&Message::Failed {
                failure: Failure::Setup,
                errno: 0,
                text,
            });
        };
        let argv: Vec<CString> = argv
            .into_iter()
            .filter_map(|a| CString::new(a).ok())
            .collect();
        if argv.is_empty() {
            return fail("exec: no command given".into());
        }
        let exec = Exec {
            argv,
            ..self.base.clone()
        };
        let stdio: Result<[OwnedFd; 3], _> = fds.try_into();
        let (pty, stdio) = match (tty, stdio) {
            (true, _) => match tty::open() {
                Ok(pty) => {
                    if let Err(e) = report.send(&Message::PtyMaster(pty.master)) {
                        return fail(format!("hand the pty to the supervisor: {e}"));
                    }
                    (Some(pty.terminal), None)
                }
                Err(e) => return fail(format!("allocate a pty: {e}")),
            },
            (false, Ok(stdio)) => (None, Some(stdio)),
            (false, Err(_)) => return fail("exec: stdin, stdout and stderr are required".into()),
        };
        // SAFETY: init is single-threaded (created by clone from a single-threaded
        // supervisor, and it never starts a thread).
        match unsafe { sys::fork() } {
            Ok(None) => agent::run(Start {
                channel: &report,
                stdio: match (&pty, &stdio) {
                    (Some(terminal), _) => Stdio::Terminal(terminal),
                    (None, Some(fds)) => Stdio::Fds(fds),
                    (None, None) => Stdio::Inherit { stdin: false },
                },
                exec: &exec,
                layers: &self.layers,
            }),
            Ok(Some(pid)) => {
                self.running.insert(pid, id);
            }
            Err(e) => fail(format!("fork: {e}")),
        }
    }

    /// A child was reaped: report it if it was one of ours.
    pub(crate) fn reaped(&mut self, pid: libc::pid_t, status: ExitStatus) {
        if let Some(id) = self.running.remove(&pid) {
            self.control.send_or_ignore(&Message::Exited { id, status });
        }
    }
}
