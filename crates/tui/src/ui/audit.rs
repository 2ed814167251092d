//! The audit view: the selected sandbox's decisions as they happen, newest at the
//! bottom (followed unless scrolled up), through the action and text filters.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};

use crate::app::App;
use crate::source::{AuditEntry, EntryKind};
use crate::theme::Theme;
use crate::time_text;

/// The verb column.
fn verb(kind: EntryKind) -> String {
    match kind {
        EntryKind::Network(action) => action.as_str().to_owned(),
        EntryKind::Policy { applied: true } => "policy".to_owned(),
        EntryKind::Policy { applied: false } => "rejected".to_owned(),
        EntryKind::Dropped(_) => "dropped".to_owned(),
    }
}

/// The destination column (`host:port`; the generation for policy lines).
fn destination(entry: &AuditEntry) -> String {
    match (entry.kind, &entry.host, entry.port) {
        (EntryKind::Network(_), Some(host), Some(port)) => format!("{host}:{port}"),
        (EntryKind::Network(_), Some(host), None) => host.clone(),
        (EntryKind::Policy { .. }, _, _) => entry
            .generation
            .map_or_else(String::new, |g| format!("generation {g}")),
        (EntryKind::Dropped(n), _, _) => format!("{n} events lost"),
        _ => String::new(),
    }
}

/// The last column: the request, the policy entry, the reason (first line).
fn detail(entry: &AuditEntry) -> String {
    let mut parts = Vec::new();
    if let Some(request) = &entry.request {
        parts.push(request.clone());
    }
    if let Some(name) = &entry.entry
        && entry.kind != EntryKind::Network(cordon_audit::Action::Deny)
    {
        parts.push(format!("[{name}]"));
    }
    if let Some(detail) = &entry.detail {
        parts.push(detail.lines().next().unwrap_or_default().to_owned());
    }
    parts.join(" ")
}

fn binary_name(entry: &AuditEntry) -> String {
    entry
        .binary
        .as_deref()
        .map(|b| b.rsplit('/').next().unwrap_or(b).to_owned())
        .unwrap_or_default()
}

pub(super) fn render(frame: &mut Frame, app: &App, theme: Theme, area: Rect, focused: bool) {
    let visible = app.visible_audit();
    let mut title = vec![Span::raw(" Audit ")];
    if app.filter.is_active() {
        title.push(Span::styled(
            format!("filter: {} ", app.filter.describe()),
            theme.key(),
        ));
    }
    title.push(Span::styled(
        format!("[{}/{}] ", visible.len(), app.audit.entries.len()),
        theme.dim(),
    ));
    if app.audit.scroll > 0 {
        title.push(Span::styled(
            format!("↑{} (End: follow) ", app.audit.scroll),
            theme.key(),
        ));
    }
    let block = super::pane(Line::from(title), theme, focused);
    if app.current().is_none() {
        super::message(frame, block, "", theme.dim(), area);
        return;
    }
    if let Some(error) = &app.audit.error {
        super::message(frame, block, error, theme.error(), area);
        return;
    }
    if visible.is_empty() {
        let text = if app.audit.entries.is_empty() {
            "no audit lines yet: decisions appear here as the sandbox makes connections"
        } else {
            "no audit line matches the filter (c clears it)"
        };
        super::message(frame, block, text, theme.dim(), area);
        return;
    }
    let height = usize::from(area.height.saturating_sub(2));
    let end = visible.len().saturating_sub(app.audit.scroll);
    let start = end.saturating_sub(height);
    let shown = &visible[start..end];
    // Columns as wide as what is shown (capped), so the reason keeps the rest.
    let widest = |text: &dyn Fn(&AuditEntry) -> String, cap: usize| {
        shown
            .iter()
            .map(|e| text(e).chars().count())
            .max()
            .unwrap_or(0)
            .min(cap) as u16
    };
    let widths = [
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(widest(&destination, 32)),
        Constraint::Length(widest(&binary_name, 12)),
        Constraint::Fill(1),
    ];
    let rows = shown.iter().map(|entry| {
        Row::new([
            Cell::from(Span::styled(time_text::clock(entry.time_ms), theme.dim())),
            Cell::from(Span::styled(verb(entry.kind), theme.entry(entry.kind))),
            Cell::from(destination(entry)),
            Cell::from(binary_name(entry)),
            Cell::from(detail(entry)),
        ])
    });
    frame.render_widget(Table::new(rows, widths).block(block), area);
}
