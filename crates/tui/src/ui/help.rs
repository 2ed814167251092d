//! The `?` overlay: every key, in one box that fits 80×24.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::theme::Theme;

/// (keys, what they do); `None` keys make a section heading.
const KEYS: &[(Option<&str>, &str)] = &[
    (None, "Moving"),
    (Some("Tab"), "focus the sandboxes or the view below"),
    (Some("↑↓ j k"), "select / scroll in the focused pane"),
    (
        Some("PgUp PgDn g G"),
        "page, first, last (G: follow the audit)",
    ),
    (
        Some("←→ h l  1-5"),
        "switch view: audit, approvals, policy, ...",
    ),
    (None, "Audit"),
    (Some("/"), "filter: words, host:H bin:B action:deny"),
    (Some("f"), "cycle the action: all deny allow audit-deny ..."),
    (Some("c"), "clear the filters"),
    (None, "Approvals"),
    (Some("a"), "approve the selected request (running policy)"),
    (Some("A"), "approve and save it to the policy file"),
    (Some("d"), "deny (dismiss) the selected request"),
    (None, "Other"),
    (Some("r"), "refresh now (otherwise every second)"),
    (Some("?  Esc"), "close this help"),
    (Some("q  Ctrl-C"), "quit"),
];

pub(super) fn render(frame: &mut Frame, theme: Theme) {
    let width = 68.min(frame.area().width);
    let height = (KEYS.len() as u16 + 2).min(frame.area().height);
    let area: Rect = frame
        .area()
        .centered(Constraint::Length(width), Constraint::Length(height));
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(keys, what)| match keys {
            None => Line::from(Span::styled(format!(" {what}"), theme.heading())),
            Some(keys) => Line::from(vec![
                Span::styled(format!("   {keys:<15}"), theme.key()),
                Span::raw((*what).to_owned()),
            ]),
        })
        .collect();
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .title(" Help: cordon term ")
        .border_style(theme.border(true));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
