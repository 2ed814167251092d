//! The wire types of the control API, version 1. Paths carry the version, so a newer CLI
//! talking to an older supervisor gets a clean 404 instead of a misread body. Fields are
//! only ever added (with `#[serde(default)]`), never renamed, within a version.

use serde::{Deserialize, Serialize};

/// `GET`: [`LiveStatus`].
pub const STATUS: &str = "/v1/status";
/// `GET`: [`PolicyDocument`]; `PUT` a [`SetPolicy`]: [`PolicyApplied`] or [`ApiError`].
pub const POLICY: &str = "/v1/policy";
/// `POST` a [`Stop`]: 202, the supervisor stops the sandbox and exits.
pub const STOP: &str = "/v1/stop";

/// What a running supervisor knows about its sandbox.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LiveStatus {
    pub name: String,
    /// Host pid of the supervisor.
    pub supervisor_pid: u32,
    /// Host pid of the sandbox's init (pid 1 inside).
    pub init_pid: u32,
    /// Host pid of the main process (`None` once it exited).
    pub main_pid: Option<u32>,
    /// When this incarnation of the sandbox started (ms since the epoch).
    pub started_at_ms: u64,
    /// Restarts done by the restart policy since `cordon start`/`create`.
    pub restarts: u32,
    pub policy: PolicyInfo,
    pub egress: EgressInfo,
    /// Every layer applied and how (the `-v` lines of `cordon run`).
    pub layers: Vec<String>,
    /// Layers weaker than asked, paths skipped.
    pub warnings: Vec<String>,
    /// The kernel's Landlock ABI (0 = none).
    pub landlock_abi: i32,
    pub limits: Limits,
    /// SHA-256 of the sandbox CA certificate, when TLS inspection is configured.
    pub ca_fingerprint: Option<String>,
    /// A stop was requested and is in progress.
    pub stopping: bool,
}

/// The policy in force.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PolicyInfo {
    /// Where it came from: the file given to `create`, `policy set FILE`, or `default`.
    pub source: String,
    /// 1 at start, +1 per applied reload.
    pub generation: u64,
}

/// The egress proxy's address and counters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EgressInfo {
    /// The proxy's address inside the sandbox.
    pub proxy: String,
    pub allowed: u64,
    pub denied: u64,
    pub audit_denied: u64,
    /// Policy reloads refused.
    pub reloads_rejected: u64,
    pub active_connections: u64,
    pub total_connections: u64,
}

/// Resource limits in force (`None` = unlimited).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Limits {
    pub memory_bytes: Option<u64>,
    pub pids: Option<u64>,
    pub cpu: Option<f64>,
}

/// The policy text in force.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PolicyDocument {
    pub generation: u64,
    pub source: String,
    pub yaml: String,
}

/// A new policy for the running sandbox.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SetPolicy {
    pub yaml: String,
    /// Shown in audit lines and `status` (the file name the user gave).
    pub source: String,
    /// Answer only once the new generation is in force (or refused); otherwise the
    /// supervisor answers 202 after queueing it.
    pub wait: bool,
}

/// A policy accepted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PolicyApplied {
    /// The generation now in force (`None` when the reload was only queued).
    pub generation: Option<u64>,
}

/// Stop the sandbox: SIGTERM to the main process, SIGKILL to everything after
/// `timeout_ms`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stop {
    pub timeout_ms: u64,
}

/// Every non-2xx answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiError {
    /// Machine-readable: `invalid_policy`, `needs_restart`, `bad_request`, `not_found`.
    pub error: String,
    /// For the operator, complete (every problem of a policy, one per line).
    pub message: String,
}

impl ApiError {
    pub fn new(error: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            error: error.to_owned(),
            message: message.into(),
        }
    }
}
