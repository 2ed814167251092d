//! A scripted source: fixed sandboxes, audit lines, approvals and policy; records the
//! approve/deny calls it receives.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::collections::HashMap;

use cordon_audit::Action;
use cordon_control::api::{EgressInfo, Limits, LiveStatus, PolicyInfo};
use cordon_tui::{
    Approval, ApproveOptions, AuditChunk, AuditCursor, AuditEntry, EntryKind, InferenceView,
    PolicyView, SandboxRow, Source, TuiError,
};

/// The clock of every scripted screen: 2026-11-25 16:17:34 UTC.
pub const NOW: u64 = 1_795_623_454_000;

pub struct Fake {
    pub sandboxes: Vec<SandboxRow>,
    pub audit: HashMap<String, Vec<AuditEntry>>,
    pub approvals: HashMap<String, Vec<Approval>>,
    /// Answer approvals with this error instead (an older supervisor).
    pub approvals_unsupported: bool,
    pub policy: PolicyView,
    pub inference: Option<InferenceView>,
    /// `approve NAME ID save` / `deny NAME ID`, in order.
    pub calls: Vec<String>,
}

pub fn row(name: &str, state: &str, allowed: u64, denied: u64) -> SandboxRow {
    let running = state == "running";
    SandboxRow {
        name: name.into(),
        state: state.into(),
        reason: (!running).then(|| "stopped by cordon stop".to_owned()),
        uptime_ms: running.then_some(3_723_000),
        generation: running.then_some(3),
        allowed: running.then_some(allowed),
        denied: running.then_some(denied),
        restarts: 0,
    }
}

pub fn net(secs_ago: u64, action: Action, host: &str, binary: &str) -> AuditEntry {
    AuditEntry {
        time_ms: NOW - secs_ago * 1000,
        kind: EntryKind::Network(action),
        host: Some(host.into()),
        port: Some(443),
        binary: Some(binary.into()),
        request: None,
        entry: (action != Action::Deny).then(|| "api".to_owned()),
        detail: (action == Action::Deny)
            .then(|| "no network_policies endpoint matches this host".to_owned()),
        generation: Some(3),
    }
}

pub fn approval(id: &str, host: &str, count: u64) -> Approval {
    Approval {
        id: id.into(),
        host: host.into(),
        port: 443,
        binary: Some("/usr/bin/curl".into()),
        count,
        first_seen_ms: NOW - 300_000,
        last_seen_ms: NOW - 12_000,
    }
}

pub const POLICY: &str = "\
version: 1
# the agent may reach its API and nothing else
filesystem_policy:
  read_only: [/usr, /lib, /etc]
  read_write: [/sandbox, /tmp]
network_policies:
  api:
    endpoints:
      - host: api.example.com
        port: 443
    binaries:
      - path: /usr/bin/curl
";

impl Fake {
    /// Three sandboxes; `agent` running with traffic and two pending approvals.
    pub fn new() -> Fake {
        let mut audit = HashMap::new();
        audit.insert(
            "agent".to_owned(),
            vec![
                net(50, Action::Allow, "api.example.com", "/usr/bin/curl"),
                net(40, Action::Deny, "evil.test", "/usr/bin/curl"),
                net(30, Action::Allow, "pypi.org", "/usr/bin/python3"),
                AuditEntry {
                    time_ms: NOW - 20_000,
                    kind: EntryKind::Policy { applied: true },
                    host: None,
                    port: None,
                    binary: None,
                    request: None,
                    entry: None,
                    detail: Some("policy /home/op/agent.yaml applied".into()),
                    generation: Some(3),
                },
                net(10, Action::Deny, "exfil.example.net", "/usr/bin/python3"),
                AuditEntry {
                    request: Some("GET /simple/requests/".into()),
                    ..net(
                        5,
                        Action::AuditDeny,
                        "files.pythonhosted.org",
                        "/usr/bin/python3",
                    )
                },
            ],
        );
        let mut approvals = HashMap::new();
        approvals.insert(
            "agent".to_owned(),
            vec![
                approval("a1", "evil.test", 3),
                approval("a2", "exfil.example.net", 1),
            ],
        );
        Fake {
            sandboxes: vec![
                row("agent", "running", 42, 4),
                row("builder", "running", 7, 0),
                row("old", "stopped", 0, 0),
            ],
            audit,
            approvals,
            approvals_unsupported: false,
            policy: PolicyView {
                generation: Some(3),
                source: "/home/op/agent.yaml".into(),
                yaml: POLICY.into(),
            },
            inference: Some(InferenceView {
                provider: Some("openai".into()),
                model: Some("gpt-5-mini".into()),
                requests_last_minute: 12,
                max_requests_per_minute: Some(60),
                tokens_last_hour: 95_000,
                max_tokens_per_hour: Some(100_000),
                requests_total: 340,
                refused_total: 2,
                tokens_in_total: 410_000,
                tokens_out_total: 52_000,
            }),
            calls: Vec::new(),
        }
    }

    fn live(&self, name: &str) -> Option<&SandboxRow> {
        self.sandboxes
            .iter()
            .find(|s| s.name == name && s.state == "running")
    }
}

impl Source for Fake {
    fn sandboxes(&mut self) -> Result<Vec<SandboxRow>, TuiError> {
        Ok(self.sandboxes.clone())
    }

    fn status(&mut self, name: &str) -> Result<Option<LiveStatus>, TuiError> {
        Ok(self.live(name).map(|s| LiveStatus {
            name: s.name.clone(),
            supervisor_pid: 4100,
            init_pid: 4102,
            main_pid: Some(4105),
            started_at_ms: NOW - 3_723_000,
            restarts: 0,
            policy: PolicyInfo {
                source: "/home/op/agent.yaml".into(),
                generation: 3,
            },
            egress: EgressInfo {
                proxy: "127.0.0.1:3128".into(),
                allowed: 42,
                denied: 4,
                audit_denied: 1,
                reloads_rejected: 0,
                active_connections: 1,
                total_connections: 47,
            },
            layers: vec![
                "namespaces: user mount pid net ipc uts cgroup".into(),
                "landlock: ABI 7, 5 rules".into(),
                "seccomp: 42 syscalls denied".into(),
            ],
            warnings: vec!["cgroup v2 controllers unavailable: rlimits only".into()],
            landlock_abi: 7,
            limits: Limits {
                memory_bytes: Some(2 << 30),
                pids: Some(512),
                cpu: None,
            },
            ca_fingerprint: None,
            stopping: false,
            inference: None,
        }))
    }

    fn audit(
        &mut self,
        name: &str,
        cursor: Option<AuditCursor>,
        tail: usize,
    ) -> Result<AuditChunk, TuiError> {
        let all = self.audit.get(name).cloned().unwrap_or_default();
        let from = cursor.map_or(all.len().saturating_sub(tail), |c| c.offset as usize);
        Ok(AuditChunk {
            entries: all[from.min(all.len())..].to_vec(),
            cursor: AuditCursor {
                inode: 1,
                offset: all.len() as u64,
            },
        })
    }

    fn approvals(&mut self, name: &str) -> Result<Vec<Approval>, TuiError> {
        if self.approvals_unsupported {
            return Err(TuiError::Unsupported("approvals".into()));
        }
        if self.live(name).is_none() {
            return Err(TuiError::NotRunning(name.into()));
        }
        Ok(self.approvals.get(name).cloned().unwrap_or_default())
    }

    fn approve(
        &mut self,
        name: &str,
        id: &str,
        options: ApproveOptions,
    ) -> Result<Option<u64>, TuiError> {
        self.calls
            .push(format!("approve {name} {id} save={}", options.save));
        let list = self.approvals.get_mut(name).unwrap();
        list.retain(|a| a.id != id);
        Ok(Some(4))
    }

    fn deny(&mut self, name: &str, id: &str) -> Result<(), TuiError> {
        self.calls.push(format!("deny {name} {id}"));
        let list = self.approvals.get_mut(name).unwrap();
        list.retain(|a| a.id != id);
        Ok(())
    }

    fn policy(&mut self, _name: &str) -> Result<PolicyView, TuiError> {
        Ok(self.policy.clone())
    }

    fn inference(&mut self, name: &str) -> Result<Option<InferenceView>, TuiError> {
        Ok(self.live(name).and(self.inference.clone()))
    }
}
