//! What the terminal UI shows, and the one trait it reads it through.
//!
//! The UI never talks to a supervisor or a file itself: every fact comes from a
//! [`Source`]. The real one ([`crate::ControlSource`]) speaks the control API; tests
//! hand the UI a scripted one, so every screen can be rendered without a sandbox.

use cordon_audit::Action;
use cordon_control::api::LiveStatus;

use crate::error::TuiError;

/// One row of the sandboxes pane (what `cordon list` shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxRow {
    pub name: String,
    /// `running`, `restarting`, `stopped`, `crashed`.
    pub state: String,
    /// Why it is in this state (stopped/crashed/restarting).
    pub reason: Option<String>,
    /// How long the current run has lasted (running only).
    pub uptime_ms: Option<u64>,
    /// The policy generation in force (running only).
    pub generation: Option<u64>,
    pub allowed: Option<u64>,
    pub denied: Option<u64>,
    pub restarts: u32,
}

/// What an audit line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// An egress decision.
    Network(Action),
    /// A policy load or reload: applied (`true`) or rejected.
    Policy { applied: bool },
    /// The audit writer fell behind and lost this many events.
    Dropped(u64),
}

/// One line of the audit log, reduced to what the audit pane shows and filters on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When it was written (ms since the epoch).
    pub time_ms: u64,
    pub kind: EntryKind,
    /// Destination host (network events).
    pub host: Option<String>,
    pub port: Option<u16>,
    /// The calling executable, as seen inside the sandbox.
    pub binary: Option<String>,
    /// `GET /path` for forwarded HTTP requests.
    pub request: Option<String>,
    /// The `network_policies` entry that allowed (or nearly matched).
    pub entry: Option<String>,
    /// The engine's reason, or the policy change's message.
    pub detail: Option<String>,
    /// The policy generation that decided.
    pub generation: Option<u64>,
}

/// Where the audit pane stopped reading, so the next refresh reads only what is new.
/// The inode tells a rotation (`audit.jsonl` renamed to `audit.jsonl.1`) from growth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditCursor {
    pub inode: u64,
    pub offset: u64,
}

/// Audit lines read by one call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditChunk {
    /// Oldest first.
    pub entries: Vec<AuditEntry>,
    /// Where to continue next time.
    pub cursor: AuditCursor,
}

/// A destination the sandbox was refused, waiting for the operator (deduplicated by
/// host, port and binary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub id: String,
    pub host: String,
    pub port: u16,
    pub binary: Option<String>,
    /// Attempts seen.
    pub count: u64,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
}

/// How an approval is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApproveOptions {
    /// Also write the new rule into the sandbox's policy file (survives `stop`/`start`).
    pub save: bool,
    /// The rule expires after this many seconds.
    pub for_seconds: Option<u64>,
}

/// The policy shown in the policy pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyView {
    /// The generation in force (`None` when the sandbox is not running: the stored file).
    pub generation: Option<u64>,
    /// Where it came from.
    pub source: String,
    pub yaml: String,
}

/// Inference usage against the sandbox's budgets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InferenceView {
    /// Provider of the active route (`None`: no route, requests get 503).
    pub provider: Option<String>,
    pub model: Option<String>,
    pub requests_last_minute: u64,
    pub max_requests_per_minute: Option<u64>,
    pub tokens_last_hour: u64,
    pub max_tokens_per_hour: Option<u64>,
    pub requests_total: u64,
    pub refused_total: u64,
    pub tokens_in_total: u64,
    pub tokens_out_total: u64,
}

/// Everything the UI reads and the two things it changes (approve, deny). Methods take
/// `&mut self` so a test double can record calls without interior mutability.
pub trait Source {
    /// Every sandbox of the user, sorted by name.
    fn sandboxes(&mut self) -> Result<Vec<SandboxRow>, TuiError>;

    /// What the running supervisor reports (`None` when the sandbox is not running).
    fn status(&mut self, name: &str) -> Result<Option<LiveStatus>, TuiError>;

    /// Audit lines after `cursor`; without one, the last `tail` lines.
    fn audit(
        &mut self,
        name: &str,
        cursor: Option<AuditCursor>,
        tail: usize,
    ) -> Result<AuditChunk, TuiError>;

    /// Pending approval requests, oldest first.
    fn approvals(&mut self, name: &str) -> Result<Vec<Approval>, TuiError>;

    /// Grants request `id`; returns the policy generation that now allows it.
    fn approve(
        &mut self,
        name: &str,
        id: &str,
        options: ApproveOptions,
    ) -> Result<Option<u64>, TuiError>;

    /// Dismisses request `id`.
    fn deny(&mut self, name: &str, id: &str) -> Result<(), TuiError>;

    /// The policy in force (the stored one when the sandbox is not running).
    fn policy(&mut self, name: &str) -> Result<PolicyView, TuiError>;

    /// Inference usage against budget (`None`: the supervisor does not report it).
    fn inference(&mut self, name: &str) -> Result<Option<InferenceView>, TuiError>;
}
