//! The approvals view: destinations the sandbox was refused, each waiting for the
//! operator; `a` grants the selected one (`A` also saves it to the policy file), `d`
//! dismisses it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, TableState};

use crate::app::{App, Loaded};
use crate::theme::Theme;
use crate::time_text;

pub(super) fn render(frame: &mut Frame, app: &App, theme: Theme, area: Rect, focused: bool) {
    let count = match &app.approvals {
        Loaded::Ready(list) => format!("[{}] ", list.len()),
        _ => String::new(),
    };
    let title = Line::from(vec![
        Span::raw(" Pending approvals "),
        Span::styled(count, theme.dim()),
        Span::styled("a approve · A approve+save · d deny ", theme.dim()),
    ]);
    let block = super::pane(title, theme, focused);
    let list = match &app.approvals {
        Loaded::NotYet => return super::message(frame, block, "loading…", theme.dim(), area),
        Loaded::Failed(error) => {
            return super::message(frame, block, error, theme.error(), area);
        }
        Loaded::Ready(list) if list.is_empty() => {
            let text = "nothing pending: a refused destination appears here for approval";
            return super::message(frame, block, text, theme.dim(), area);
        }
        Loaded::Ready(list) => list,
    };
    let header =
        Row::new(["ID", "DESTINATION", "BINARY", "COUNT", "FIRST", "LAST"]).style(theme.heading());
    let rows = list.iter().map(|a| {
        Row::new([
            Cell::from(a.id.clone()),
            Cell::from(format!("{}:{}", a.host, a.port)),
            Cell::from(a.binary.clone().unwrap_or_else(|| "any".to_owned())),
            Cell::from(a.count.to_string()),
            Cell::from(Span::styled(
                time_text::ago(a.first_seen_ms, app.now_ms),
                theme.dim(),
            )),
            Cell::from(Span::styled(
                time_text::ago(a.last_seen_ms, app.now_ms),
                theme.dim(),
            )),
        ])
    });
    let widths = [
        Constraint::Length(8),
        Constraint::Fill(2),
        Constraint::Fill(1),
        Constraint::Length(5),
        Constraint::Length(10),
        Constraint::Length(10),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        // Always marked: `a` and `d` act on it whichever pane has the focus.
        .row_highlight_style(theme.selected(true))
        .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected(Some(app.approval_selected));
    frame.render_stateful_widget(table, area, &mut state);
}
