//! cordon-sandbox: the kernel layer. Given a plain-data [`SandboxSpec`], it starts the agent
//! in new user, mount, pid, network, ipc, uts and cgroup namespaces, on a new root holding
//! only the listed paths, under Landlock, `no_new_privs`, no capabilities, a seccomp
//! deny-list and resource limits, and reports how each layer was applied.
//!
//! It owns every `unsafe` block of cordon (raw calls fenced in `sys.rs`, process creation
//! in `sandbox.rs`/`init.rs`). It must never read a policy file, environment or
//! configuration of its own: the supervisor decides, this crate enforces.
//!
//! # Layout
//! - `sandbox`: the supervisor side ([`Sandbox::spawn`], [`Sandbox::wait`]);
//! - `init`: pid 1 inside (setup inside the namespaces, reaping, signal forwarding);
//! - `agent`: a process between fork and exec (the process layers, in order);
//! - `exec`: more processes in a running sandbox, started by init ([`Executor`]);
//! - `mounts/`: the new root (plan, sequencing, real calls);
//! - `landlock`, `seccomp`, `caps`, `limits`, `cgroup`, `netns`, `idmap`: one layer each;
//! - `capture/`: transparent capture (redirect rules, routes, the sockets handed out);
//! - `channel`: supervisor <-> sandbox reports; `tty`, `relay`: `-t`; `attach`: the
//!   caller's side of `cordon exec`;
//! - `sys`: the raw `libc` calls.

mod agent;
mod attach;
mod caps;
mod capture;
mod cgroup;
mod channel;
mod error;
// Forks the processes `cordon exec` asks for (inside init).
#[allow(unsafe_code)]
mod exec;
mod idmap;
// Process creation: `fork`/`clone` are unsafe because the child copies one thread only.
#[allow(unsafe_code)]
mod init;
mod landlock;
mod limits;
mod mounts;
mod netns;
mod relay;
#[allow(unsafe_code)]
mod sandbox;
pub mod seccomp;
mod spec;
// The only raw libc calls; each block carries its `// SAFETY:` argument.
#[allow(unsafe_code)]
mod sys;
mod tty;

pub use attach::attach;
pub use caps::retain_only as retain_capabilities;
pub use capture::{CaptureSockets, CaptureSpec};
pub use error::SandboxError;
pub use exec::{ExecRequest, ExecSignaller, Execution, Executor};
pub use idmap::{IdMapping, ROOT_ID_BASE, ROOT_ID_RANGE};
pub use sandbox::{ExitStatus, Notice, Sandbox, Signaller, valid_name};
pub use spec::{Identity, LandlockMode, Resources, SandboxSpec, WORKDIR_INSIDE};

/// The kernel's Landlock ABI version (0 when absent), for `-v` and diagnostics.
pub fn landlock_abi() -> i32 {
    landlock::kernel_abi()
}
