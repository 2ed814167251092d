//! cordon-tui: `cordon term`, the operator's full-screen view of their sandboxes, in the
//! manner of k9s: the sandboxes with state and counters on top; below, for the selected
//! one, the live audit stream (filtered by action, host, binary), the pending approvals
//! (`a` approves, `d` denies), the policy in force, inference usage against budget, and
//! the supervisor's status. Refreshes every second; 80×24 is enough; keyboard only.
//!
//! Data comes through one trait, [`Source`]: the real [`ControlSource`] speaks each
//! supervisor's control API (`cordon-control`) and reads the sandbox's audit log; tests
//! use a scripted one. This crate never depends on the supervisor: the CLI finds the
//! sandboxes ([`Locator`]) and hands them in.
//!
//! # Layout
//! - `source`: the [`Source`] trait and the data it returns.
//! - `control`: [`ControlSource`] over the control API, and the [`Locator`] it needs.
//! - `audit_file`: reading `audit.jsonl` (tail, then follow across rotations).
//! - `app`: the UI state and the keys.
//! - `filter`: the audit filters.
//! - `ui/`: drawing, one file per pane; `theme`: colours (16 ANSI, off with NO_COLOR);
//!   `time_text`: durations and clock times.
//! - `terminal`: raw mode, alternate screen, restore on exit and on panic, the loop.
//! - `error`: [`TuiError`].
#![forbid(unsafe_code)]

mod app;
mod audit_file;
mod control;
mod error;
mod filter;
mod source;
mod terminal;
mod theme;
mod time_text;
mod ui;

pub use app::{AUDIT_KEEP, App, Focus, Loaded, Notice, View};
pub use audit_file::{parse_line, read_audit};
pub use control::{ControlSource, Endpoint, Locator};
pub use error::TuiError;
pub use filter::{ActionFilter, AuditFilter};
pub use source::{
    Approval, ApproveOptions, AuditChunk, AuditCursor, AuditEntry, EntryKind, InferenceView,
    PolicyView, SandboxRow, Source,
};
pub use terminal::{MAX_REFRESH, Options, run};
pub use theme::Theme;
pub use ui::render;
