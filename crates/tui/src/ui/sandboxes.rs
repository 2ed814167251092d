//! The sandboxes pane: one row per sandbox with its state, uptime, policy generation
//! and egress counters (what `cordon list` shows), the selected one highlighted.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, TableState};

use crate::app::{App, Focus};
use crate::theme::Theme;
use crate::time_text;

fn cell(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

pub(super) fn render(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let focused = app.focus == Focus::Sandboxes;
    let title = Line::from(vec![
        Span::raw(" Sandboxes "),
        Span::styled(format!("[{}] ", app.sandboxes.len()), theme.dim()),
    ]);
    let block = super::pane(title, theme, focused);
    if app.sandboxes.is_empty() {
        let text = match &app.list_error {
            Some(error) => error.clone(),
            None => "no sandboxes: create one with `cordon create NAME -- CMD`".to_owned(),
        };
        super::message(frame, block, &text, theme.dim(), area);
        return;
    }
    let name_width = app
        .sandboxes
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 24) as u16;
    let header = Row::new([
        "NAME", "STATE", "UPTIME", "GEN", "ALLOWED", "DENIED", "INFO",
    ])
    .style(theme.heading());
    let rows = app.sandboxes.iter().map(|s| {
        let info = match (&s.reason, s.restarts) {
            (Some(reason), _) => reason.clone(),
            (None, 0) => String::new(),
            (None, n) => format!("{n} restarts"),
        };
        Row::new([
            Cell::from(s.name.clone()),
            Cell::from(Span::styled(s.state.clone(), theme.state(&s.state))),
            Cell::from(
                s.uptime_ms
                    .map_or_else(|| "-".to_owned(), time_text::duration),
            ),
            Cell::from(cell(s.generation)),
            Cell::from(cell(s.allowed)),
            Cell::from(Span::styled(
                cell(s.denied),
                if s.denied.unwrap_or(0) > 0 {
                    theme.error()
                } else {
                    ratatui::style::Style::new()
                },
            )),
            Cell::from(Span::styled(info, theme.dim())),
        ])
    });
    let widths = [
        Constraint::Length(name_width),
        Constraint::Length(10),
        Constraint::Length(6),
        Constraint::Length(3),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Fill(1),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .row_highlight_style(theme.selected(focused));
    let mut state = TableState::default().with_selected(Some(app.selected));
    frame.render_stateful_widget(table, area, &mut state);
}
