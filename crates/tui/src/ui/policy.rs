//! The policy view: the YAML in force for the selected sandbox (the stored file when it
//! is not running), scrollable, keys highlighted.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{App, Loaded};
use crate::theme::Theme;

/// One YAML line with its key (up to the first `: ` or a trailing `:`) highlighted
/// and comments dimmed.
fn highlight(line: &str, theme: Theme) -> Line<'static> {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') {
        return Line::from(Span::styled(line.to_owned(), theme.dim()));
    }
    let key_end = line
        .find(": ")
        .or_else(|| line.ends_with(':').then(|| line.len() - 1));
    match key_end {
        Some(end) if !line[..end].contains(['"', '\'']) => Line::from(vec![
            Span::styled(line[..end].to_owned(), theme.yaml_key()),
            Span::raw(line[end..].to_owned()),
        ]),
        _ => Line::from(line.to_owned()),
    }
}

pub(super) fn render(frame: &mut Frame, app: &App, theme: Theme, area: Rect, focused: bool) {
    let title = match &app.policy {
        Loaded::Ready(p) => {
            let generation = p.generation.map_or_else(
                || "stored, not running".to_owned(),
                |g| format!("generation {g}"),
            );
            Line::from(vec![
                Span::raw(" Policy "),
                Span::styled(format!("{generation} · {} ", p.source), theme.dim()),
            ])
        }
        _ => Line::from(" Policy "),
    };
    let block = super::pane(title, theme, focused);
    let policy = match &app.policy {
        Loaded::NotYet => return super::message(frame, block, "loading…", theme.dim(), area),
        Loaded::Failed(error) => return super::message(frame, block, error, theme.error(), area),
        Loaded::Ready(policy) => policy,
    };
    let lines: Vec<Line> = policy
        .yaml
        .lines()
        .skip(app.policy_scroll)
        .map(|l| highlight(l, theme))
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
