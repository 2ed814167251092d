//! The plain-data description of one sandbox. The supervisor maps a policy onto it; this
//! crate never sees a policy file, so the kernel layer cannot grow policy semantics of its own.

use std::ffi::OsString;
use std::net::SocketAddrV4;
use std::path::PathBuf;

/// Everything needed to start one sandbox, decided before any namespace exists.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxSpec {
    /// Sandbox name; also the hostname inside the UTS namespace.
    pub name: String,
    /// argv of the agent: `command[0]` is looked up in the sandbox's `PATH` when it has no `/`.
    pub command: Vec<OsString>,
    /// The complete environment of the agent (already filtered by the supervisor).
    pub env: Vec<(OsString, OsString)>,
    /// Host directory bound read-write at `/sandbox` (the agent's working directory);
    /// `None` leaves `/sandbox` out and starts the agent in `/`.
    pub workdir: Option<PathBuf>,
    /// Host paths visible read-only, at the same path inside.
    pub read_only: Vec<PathBuf>,
    /// Host paths visible read-write, at the same path inside.
    pub read_write: Vec<PathBuf>,
    /// Single files mounted read-only over a path inside: `(inside, host)`. Used by the
    /// supervisor for files it generates (e.g. a CA bundle), never for policy paths.
    pub extra_ro_files: Vec<(PathBuf, PathBuf)>,
    /// What to do when Landlock cannot be applied as asked.
    pub landlock: LandlockMode,
    /// Resource limits; `None` fields are unlimited.
    pub resources: Resources,
    /// The uid/gid the agent runs as inside the user namespace.
    pub identity: Identity,
    /// Allocate a pseudo-terminal for the agent (`-t`).
    pub tty: bool,
    /// Forward the caller's stdin to the agent (`-i`); without it the agent reads `/dev/null`.
    pub stdin: bool,
    /// `-v` was asked. Informational: the layer reports are always collected (they cost
    /// nothing) and the caller decides what to print.
    pub verbose: bool,
    /// A TCP listener to create inside the sandbox's network namespace and hand back to the
    /// supervisor (the egress proxy's entry point). `None` = no listener.
    pub proxy_listen: Option<SocketAddrV4>,
    /// Transparent capture (`capture.rs`): outbound TCP and DNS of programs that ignore
    /// the proxy variables are redirected to sockets the supervisor serves. `None` = no
    /// capture (outside addresses are simply unreachable).
    pub transparent: Option<crate::capture::CaptureSpec>,
    /// Keep a control channel to init so `Sandbox::executor` can start more processes in
    /// the sandbox later (named sandboxes: `cordon exec`).
    pub exec: bool,
}

/// Landlock compatibility, as the policy's `landlock.compatibility` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LandlockMode {
    /// Apply what the kernel supports; skip missing paths with a warning; run without
    /// Landlock (with a warning) only when the kernel has none.
    BestEffort,
    /// Refuse to start unless every listed path exists and the ruleset is fully enforced.
    HardRequirement,
}

/// Resource limits of the whole sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Resources {
    /// Memory in bytes (cgroup `memory.max`, else `RLIMIT_AS` per process).
    pub memory_bytes: Option<u64>,
    /// Maximum number of processes/threads (cgroup `pids.max`, else `RLIMIT_NPROC`, which
    /// the kernel counts per user namespace and uid, i.e. per sandbox).
    pub pids: Option<u64>,
    /// CPUs worth of time (cgroup `cpu.max`; no rlimit equivalent).
    pub cpu: Option<f64>,
}

/// The ids the agent has inside its user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// uid inside (1000 for the policy's `sandbox` user).
    pub uid: u32,
    /// gid inside (1000 for the policy's `sandbox` group).
    pub gid: u32,
}

impl Identity {
    /// The `sandbox` user and group of the policy schema.
    pub const SANDBOX: Identity = Identity {
        uid: 1000,
        gid: 1000,
    };
}

/// Where the workdir appears inside the sandbox.
pub const WORKDIR_INSIDE: &str = "/sandbox";
