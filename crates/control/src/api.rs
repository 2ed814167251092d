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
    /// `inference.local`: route and usage against budget (`None`: no router, or an
    /// older supervisor).
    #[serde(default)]
    pub inference: Option<InferenceInfo>,
}

impl LiveStatus {
    /// The main process as `cordon status` reports it (derived from
    /// [`LiveStatus::main_pid`], so older supervisors answer it too).
    pub fn main_process(&self) -> MainProcess {
        MainProcess {
            state: match self.main_pid {
                Some(_) => MainState::Running,
                None => MainState::Exited,
            },
            pid: self.main_pid,
        }
    }
}

/// The main process of a running sandbox: `cordon status --json`'s `main`. The
/// sandbox can outlive it (an idle sandbox kept for `exec`), so "running" of the
/// sandbox says nothing about it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct MainProcess {
    pub state: MainState,
    /// Host pid, while it runs.
    pub pid: Option<u32>,
}

/// Whether the main process runs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MainState {
    Running,
    Exited,
}

impl MainState {
    /// The word `cordon status` prints (same as the JSON value).
    pub fn as_str(self) -> &'static str {
        match self {
            MainState::Running => "running",
            MainState::Exited => "exited",
        }
    }
}

/// The inference router of a sandbox, as `cordon status` shows it (the serialisation
/// of `cordon_inference::InferenceStatus`; this crate depends on no other cordon crate).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct InferenceInfo {
    /// The active route (`None`: requests get 503).
    #[serde(default)]
    pub route: Option<InferenceRoute>,
    /// Why there is no route although one was asked for (an unknown or removed
    /// provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    #[serde(default)]
    pub usage: InferenceUsage,
}

/// Where `inference.local` goes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InferenceRoute {
    pub provider: String,
    /// Provider type (`openai`, `anthropic`, ...).
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub base_url: String,
    /// Model forced on every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// Usage in the budget windows, the limits, and totals since the sandbox started.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default)]
pub struct InferenceUsage {
    pub requests_last_minute: u64,
    pub tokens_last_hour: u64,
    pub limits: InferenceLimits,
    pub requests_total: u64,
    /// Requests refused by a budget.
    pub refused_total: u64,
    pub tokens_in_total: u64,
    pub tokens_out_total: u64,
}

/// The policy's inference budgets (`None` = no limit).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default)]
pub struct InferenceLimits {
    pub max_requests_per_minute: Option<u64>,
    pub max_tokens_per_hour: Option<u64>,
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
    /// Machine-readable: `invalid_policy`, `needs_restart`, `bad_request`, `not_found`
    /// (an unknown approval id).
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

/// `GET`: the sandbox's pending approvals, `[Approval]` (oldest first).
/// `POST {APPROVALS}/{id}/approve` with an [`Approve`]: [`Approved`];
/// `POST {APPROVALS}/{id}/deny` (no body): 204. An unknown id: 404 with an
/// [`ApiError`] `not_found`.
pub const APPROVALS: &str = "/v1/approvals";

/// A destination the sandbox was refused because no policy entry allows it, waiting
/// for the operator. Deduplicated by (host, port, binary).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Approval {
    /// Short and stable while pending (derived from host, port and binary).
    pub id: String,
    pub host: String,
    pub port: u16,
    /// The calling executable inside the sandbox (`None`: it could not be identified;
    /// approving then allows any binary to reach this host and port).
    #[serde(default)]
    pub binary: Option<String>,
    /// Denied connections so far.
    #[serde(default)]
    pub count: u64,
    #[serde(default)]
    pub first_seen_ms: u64,
    #[serde(default)]
    pub last_seen_ms: u64,
}

/// How to approve a request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Approve {
    /// Also write the rule into the sandbox's stored policy (kept across stop/start).
    #[serde(default)]
    pub save: bool,
    /// Seconds until the added rule is removed again (`None`: it stays). Refused
    /// together with `save`: a saved rule is permanent.
    #[serde(rename = "for", default)]
    pub for_seconds: Option<u64>,
    /// Approve a request whose binary could not be identified, for any binary (refused
    /// without it: the entry would not be narrowed to one program).
    #[serde(default)]
    pub any_binary: bool,
}

/// An approval applied.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Approved {
    /// The policy generation that allows the destination.
    #[serde(default)]
    pub generation: Option<u64>,
    /// The `network_policies` entry added.
    #[serde(default)]
    pub entry: Option<String>,
    /// The entry was written into the stored policy.
    #[serde(default)]
    pub saved: bool,
    /// When the entry will be removed (ms since the epoch), for `for`.
    #[serde(default)]
    pub expires_at_ms: Option<u64>,
}
