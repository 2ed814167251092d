//! Decision counters for the `-v` summary line and `stats()`. Counted when an event
//! is emitted, before the channel, so a full channel never makes the counts lie.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::event::{Action, AuditEvent};

/// Lock-free counters shared by every clone of a sink.
#[derive(Debug, Default)]
pub struct AuditCounters {
    allowed: AtomicU64,
    denied: AtomicU64,
    audit_denied: AtomicU64,
    routed: AtomicU64,
    config_rejected: AtomicU64,
    dropped: AtomicU64,
}

/// A point-in-time copy of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CounterSnapshot {
    /// Connections and requests allowed.
    pub allowed: u64,
    /// Connections and requests refused.
    pub denied: u64,
    /// Would-be denials passed by `enforcement: audit`.
    pub audit_denied: u64,
    /// Requests sent to the inference router.
    pub routed: u64,
    /// Policy reloads refused.
    pub config_rejected: u64,
    /// Events lost because the writer fell behind (or was closed).
    pub dropped: u64,
}

impl AuditCounters {
    /// Counts one event by its action.
    pub fn record(&self, event: &AuditEvent) {
        let counter = match event {
            AuditEvent::Network(net) => match net.action {
                Action::Allow => &self.allowed,
                Action::Deny => &self.denied,
                Action::AuditDeny => &self.audit_denied,
                Action::Route => &self.routed,
            },
            AuditEvent::Config(cfg) if cfg.outcome == crate::ConfigOutcome::Rejected => {
                &self.config_rejected
            }
            AuditEvent::Config(_) | AuditEvent::Dropped { .. } => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one event lost.
    pub fn record_drop(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            allowed: self.allowed.load(Ordering::Relaxed),
            denied: self.denied.load(Ordering::Relaxed),
            audit_denied: self.audit_denied.load(Ordering::Relaxed),
            routed: self.routed.load(Ordering::Relaxed),
            config_rejected: self.config_rejected.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

impl CounterSnapshot {
    /// The summary line `cordon run -v` prints at exit.
    pub fn summary_line(&self) -> String {
        let mut line = format!(
            "cordon: egress: {} allowed, {} denied",
            self.allowed, self.denied
        );
        if self.audit_denied > 0 {
            line.push_str(&format!(", {} audit-denied", self.audit_denied));
        }
        if self.routed > 0 {
            line.push_str(&format!(", {} routed", self.routed));
        }
        if self.dropped > 0 {
            line.push_str(&format!(", {} audit events dropped", self.dropped));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{NetworkEvent, Transport};

    #[test]
    fn counts_by_action_and_prints_summary() {
        let counters = AuditCounters::default();
        for action in [
            Action::Allow,
            Action::Allow,
            Action::Deny,
            Action::AuditDeny,
        ] {
            counters
                .record(&NetworkEvent::new("s", 1, action, Transport::Tunnel, "h", 1).into_event());
        }
        let snap = counters.snapshot();
        assert_eq!((snap.allowed, snap.denied, snap.audit_denied), (2, 1, 1));
        assert_eq!(
            snap.summary_line(),
            "cordon: egress: 2 allowed, 1 denied, 1 audit-denied"
        );
    }
}
