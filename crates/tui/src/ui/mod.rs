//! Drawing the [`App`] into a frame: a header line, the sandboxes pane, the tabs of
//! the detail views, the selected view, and a footer (filter input, last outcome or key
//! hints). Sized for 80×24 and up: columns shrink before anything is dropped.
//!
//! - `sandboxes`: the sandboxes table;
//! - `audit`, `approvals`, `policy`, `inference`, `status`: one file per detail view;
//! - `help`: the `?` overlay.

mod approvals;
mod audit;
mod help;
mod inference;
mod policy;
mod sandboxes;
mod status;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::app::{App, Focus, Loaded, View};
use crate::theme::Theme;
use crate::time_text;

/// Most sandbox rows shown at once (the pane scrolls beyond).
const MAX_SANDBOX_ROWS: u16 = 6;

/// Draws the whole screen.
pub fn render(frame: &mut Frame, app: &App, theme: Theme) {
    let rows = (app.sandboxes.len() as u16).clamp(1, MAX_SANDBOX_ROWS);
    let [header, list, tabs, detail, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(rows + 3),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    render_header(frame, app, theme, header);
    sandboxes::render(frame, app, theme, list);
    render_tabs(frame, app, theme, tabs);
    let focused = app.focus == Focus::Detail;
    match app.view {
        View::Audit => audit::render(frame, app, theme, detail, focused),
        View::Approvals => approvals::render(frame, app, theme, detail, focused),
        View::Policy => policy::render(frame, app, theme, detail, focused),
        View::Inference => inference::render(frame, app, theme, detail, focused),
        View::Status => status::render(frame, app, theme, detail, focused),
    }
    render_footer(frame, app, theme, footer);
    if app.help {
        help::render(frame, theme);
    }
}

fn render_header(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let count = match app.sandboxes.len() {
        1 => "1 sandbox".to_owned(),
        n => format!("{n} sandboxes"),
    };
    let updated = if app.now_ms == 0 {
        String::new()
    } else {
        format!("updated {} UTC ", time_text::clock(app.now_ms))
    };
    let [left, right] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(updated.len() as u16)])
            .areas(area);
    let line = Line::from(vec![
        Span::styled(" cordon term ", theme.key()),
        Span::styled("· ", theme.dim()),
        Span::raw(count),
        Span::styled("  ? help  q quit", theme.dim()),
    ]);
    frame.render_widget(Paragraph::new(line), left);
    frame.render_widget(Paragraph::new(Span::styled(updated, theme.dim())), right);
}

fn render_tabs(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let mut spans = vec![Span::raw(" ")];
    for (i, view) in View::ALL.iter().enumerate() {
        let mut label = format!(" {} {} ", i + 1, view.title());
        if *view == View::Approvals
            && let Loaded::Ready(list) = &app.approvals
            && !list.is_empty()
        {
            label = format!(" {} {} ({}) ", i + 1, view.title(), list.len());
        }
        let style = if *view == app.view {
            theme.selected(true)
        } else {
            Style::new()
        };
        spans.push(Span::styled(label, style));
        spans.push(Span::raw(" "));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Key hints for the footer, per view.
fn hints(view: View) -> &'static [(&'static str, &'static str)] {
    match view {
        View::Audit => &[
            ("Tab", "focus"),
            ("←→", "view"),
            ("/", "filter"),
            ("f", "action"),
            ("c", "clear"),
            ("?", "help"),
            ("q", "quit"),
        ],
        View::Approvals => &[
            ("Tab", "focus"),
            ("a", "approve"),
            ("A", "approve+save"),
            ("d", "deny"),
            ("?", "help"),
            ("q", "quit"),
        ],
        View::Policy | View::Inference | View::Status => &[
            ("Tab", "focus"),
            ("↑↓", "move"),
            ("←→", "view"),
            ("r", "refresh"),
            ("?", "help"),
            ("q", "quit"),
        ],
    }
}

fn render_footer(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    if let Some(input) = &app.input {
        let line = Line::from(vec![
            Span::styled("/", theme.key()),
            Span::raw(input.clone()),
            Span::styled(
                "   Enter apply · Esc cancel · host: bin: action:",
                theme.dim(),
            ),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        let x = area.x + 1 + input.chars().count() as u16;
        frame.set_cursor_position(Position::new(x.min(area.right().saturating_sub(1)), area.y));
        return;
    }
    if let Some(notice) = &app.notice {
        let style = if notice.error {
            theme.error()
        } else {
            theme.ok()
        };
        frame.render_widget(
            Paragraph::new(Span::styled(notice.text.clone(), style)),
            area,
        );
        return;
    }
    if let Some(error) = &app.list_error {
        frame.render_widget(
            Paragraph::new(Span::styled(error.clone(), theme.error())),
            area,
        );
        return;
    }
    let mut spans = Vec::new();
    for (key, what) in hints(app.view) {
        spans.push(Span::styled(format!(" {key}"), theme.key()));
        spans.push(Span::raw(format!(" {what} ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A pane's frame: borders, a title, the focus shown by the border style.
pub(crate) fn pane<'a>(title: impl Into<Line<'a>>, theme: Theme, focused: bool) -> Block<'a> {
    Block::bordered()
        .title(title)
        .border_style(theme.border(focused))
}

/// A message in place of a pane's content (loading, not running, an error).
pub(crate) fn message(frame: &mut Frame, block: Block<'_>, text: &str, style: Style, area: Rect) {
    let paragraph = Paragraph::new(Span::styled(text.to_owned(), style))
        .block(block)
        .wrap(ratatui::widgets::Wrap { trim: true });
    frame.render_widget(paragraph, area);
}
