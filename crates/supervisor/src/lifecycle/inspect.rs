//! `cordon list` and `cordon status`: the recorded state, corrected by the one fact that
//! cannot lie (is the supervisor's lock held?), plus what a running supervisor reports.
//!
//! - lock held: the recorded state (`running`, `restarting`);
//! - lock free, recorded as running, same boot: `crashed` — the supervisor died without
//!   recording anything (killed, or it crashed); its sandbox died with it (fail closed);
//! - lock free, recorded as running, another boot: `stopped` — the host restarted;
//! - otherwise the recorded state (`stopped`, with why).

use std::time::Duration;

use cordon_control::api::{self, LiveStatus, MainProcess};
use http::Method;
use serde::Serialize;

use crate::error::SupervisorError;
use crate::lifecycle::client::block_on;
use crate::state::{Meta, RunState, SandboxDir, State, StateRoot, boot_id};

/// How long `list`/`status` wait for a running supervisor's answer.
const LIVE_TIMEOUT: Duration = Duration::from_secs(2);

/// One line of `cordon list`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub name: String,
    pub state: State,
    /// Why it is in this state (for `stopped`, `crashed`, `restarting`).
    pub reason: Option<String>,
    /// Since when the current run has lasted (running only).
    pub uptime_ms: Option<u64>,
    /// The policy generation in force (running only).
    pub policy_generation: Option<u64>,
    pub allowed: Option<u64>,
    pub denied: Option<u64>,
    pub restarts: u32,
    pub exit_code: Option<u8>,
}

/// `cordon status`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    #[serde(flatten)]
    pub summary: Summary,
    pub meta: Meta,
    pub record: RunState,
    /// The main process (absent when the sandbox is not running); the sandbox can be
    /// running after its main process exited.
    pub main: Option<MainProcess>,
    /// What the running supervisor reports (absent when not running).
    pub live: Option<LiveStatus>,
}

/// The displayed state and reason.
fn effective(
    dir: &SandboxDir,
    record: &RunState,
) -> Result<(State, Option<String>), SupervisorError> {
    let alive = dir.supervisor_alive()?;
    Ok(match (alive, record.state) {
        (true, State::Stopped | State::Crashed) => (State::Running, Some("starting".into())),
        (true, state) => (state, record.reason.clone()),
        (false, State::Running | State::Restarting) => {
            if record.boot_id.as_deref().is_some_and(|b| b != boot_id()) {
                (State::Stopped, Some("the host restarted".into()))
            } else {
                let pid = record
                    .supervisor_pid
                    .map_or_else(|| "?".to_owned(), |p| p.to_string());
                (
                    State::Crashed,
                    Some(format!(
                        "its supervisor (pid {pid}) died without stopping it (killed or crashed); \
                         every process of the sandbox died with it; `cordon start {}` brings it back",
                        dir.name()
                    )),
                )
            }
        }
        (false, state) => (state, record.reason.clone()),
    })
}

fn live(dir: &SandboxDir) -> Option<LiveStatus> {
    let client = cordon_control::Client::new(&dir.control_socket());
    let reply = block_on(async {
        tokio::time::timeout(
            LIVE_TIMEOUT,
            client.request(Method::GET, api::STATUS, None::<&()>),
        )
        .await
    })
    .ok()?
    .ok()?
    .ok()?;
    if !reply.status.is_success() {
        return None;
    }
    reply.json().ok()
}

fn inspect(dir: &SandboxDir) -> Result<Status, SupervisorError> {
    let meta = dir.read_meta()?;
    let record = dir.read_state()?;
    let (state, reason) = effective(dir, &record)?;
    let live = if state == State::Running {
        live(dir)
    } else {
        None
    };
    let now = cordon_audit::now_ms();
    let summary = Summary {
        name: meta.name.clone(),
        state,
        reason,
        uptime_ms: live.as_ref().map(|l| now.saturating_sub(l.started_at_ms)),
        policy_generation: live.as_ref().map(|l| l.policy.generation),
        allowed: live.as_ref().map(|l| l.egress.allowed),
        denied: live.as_ref().map(|l| l.egress.denied),
        restarts: record.restarts,
        exit_code: record.exit_code,
    };
    Ok(Status {
        summary,
        meta,
        record,
        main: live.as_ref().map(LiveStatus::main_process),
        live,
    })
}

/// Every sandbox of the user, by name.
pub fn list(root: &StateRoot) -> Result<Vec<Summary>, SupervisorError> {
    let mut out = Vec::new();
    for name in root.names()? {
        // A sandbox removed meanwhile is simply not listed.
        match root.sandbox(&name).and_then(|dir| inspect(&dir)) {
            Ok(status) => out.push(status.summary),
            Err(SupervisorError::NoSuchSandbox(_)) | Err(SupervisorError::State { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Everything known about `name`.
pub fn status(root: &StateRoot, name: &str) -> Result<Status, SupervisorError> {
    inspect(&root.sandbox(name)?)
}
