//! cordon-audit: the audit log. Every egress decision (allow, deny, audit-deny, route)
//! and every policy change becomes one JSON line, written off the hot path.
//!
//! The proxy must never wait for the disk: [`AuditSink::emit`] puts the event on a
//! bounded channel and returns; a dedicated writer thread serialises and writes. When
//! the channel is full the event is dropped and counted, and the writer reports the
//! count in one `audit_dropped` line as soon as it can, so gaps are visible instead of
//! silent. Allow/deny counters are kept in the sink itself (never dropped) for the
//! `-v` summary line.
//!
//! What an event may contain is decided by its types: there is no free-form map, no
//! header, no query string and no body anywhere in [`AuditEvent`], so credentials
//! cannot reach the log by accident. Paths are stripped of query and fragment at
//! construction ([`HttpInfo::new`]).
//!
//! # Layout
//! - `event`: the typed events.
//! - `ocsf`: their JSON shape, using OCSF Network Activity (4001), HTTP Activity
//!   (4002) and Device Config State Change (5019) field names (see docs/audit.md).
//! - `writer`: the writer thread, the sink handle, drop counting and rotation.
//! - `counters`: lock-free decision counters and the summary line.
#![forbid(unsafe_code)]

mod counters;
mod event;
mod ocsf;
mod writer;

pub use counters::{AuditCounters, CounterSnapshot};
pub use event::{
    Action, AuditEvent, ConfigEvent, ConfigOutcome, HttpInfo, InferenceInfo, NetworkEvent,
    Severity, Transport, now_ms,
};
pub use ocsf::to_json_line;
pub use writer::{AUDIT_CHANNEL_CAPACITY, AuditError, AuditLog, AuditLogOptions, AuditSink};
