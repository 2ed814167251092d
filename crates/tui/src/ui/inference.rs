//! The inference view: where `inference.local` routes and the usage against the
//! sandbox's budgets (requests per minute, tokens per hour), or `n/a` when the
//! supervisor does not report it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{App, Loaded};
use crate::source::InferenceView;
use crate::theme::Theme;

/// Width of the text bar drawn for a budget.
const BAR: usize = 24;

/// `requests/minute  12 of 60  [█████░░░░░░░░░░░░░░░░░░░]  20%` — a text bar reads the
/// same with or without colour.
fn budget_line(label: &str, used: u64, limit: Option<u64>, theme: Theme) -> Line<'static> {
    let mut spans = vec![Span::styled(format!("{label:<16}"), theme.heading())];
    match limit.filter(|l| *l > 0) {
        None => spans.push(Span::raw(format!("{used} (no budget)"))),
        Some(limit) => {
            let ratio = (used as f64 / limit as f64).clamp(0.0, 1.0);
            let filled = (ratio * BAR as f64).round() as usize;
            let style = if ratio >= 0.9 {
                theme.error()
            } else {
                theme.ok()
            };
            spans.push(Span::raw(format!("{:<18}", format!("{used} of {limit}"))));
            spans.push(Span::raw("["));
            spans.push(Span::styled("█".repeat(filled), style));
            spans.push(Span::styled("░".repeat(BAR - filled), theme.dim()));
            spans.push(Span::raw("]"));
            spans.push(Span::styled(format!(" {:>3.0}%", ratio * 100.0), style));
        }
    }
    Line::from(spans)
}

fn usage(view: &InferenceView, theme: Theme) -> Vec<Line<'static>> {
    let routed = match (&view.provider, &view.model) {
        (Some(p), Some(m)) => format!("{p} (model {m})"),
        (Some(p), None) => p.clone(),
        (None, _) => "no route: requests to inference.local get 503".to_owned(),
    };
    vec![
        Line::from(vec![
            Span::styled(format!("{:<16}", "route"), theme.heading()),
            Span::raw(routed),
        ]),
        Line::default(),
        budget_line(
            "requests/minute",
            view.requests_last_minute,
            view.max_requests_per_minute,
            theme,
        ),
        budget_line(
            "tokens/hour",
            view.tokens_last_hour,
            view.max_tokens_per_hour,
            theme,
        ),
        Line::default(),
        Line::from(vec![
            Span::styled(format!("{:<16}", "since start"), theme.heading()),
            Span::raw(format!(
                "{} requests ({} refused by budget)",
                view.requests_total, view.refused_total
            )),
        ]),
        Line::from(vec![
            Span::raw(" ".repeat(16)),
            Span::raw(format!(
                "{} tokens in, {} tokens out",
                view.tokens_in_total, view.tokens_out_total
            )),
        ]),
    ]
}

pub(super) fn render(frame: &mut Frame, app: &App, theme: Theme, area: Rect, focused: bool) {
    let block = super::pane(" Inference usage ", theme, focused);
    match &app.inference {
        Loaded::NotYet => super::message(frame, block, "loading…", theme.dim(), area),
        Loaded::Failed(error) => super::message(frame, block, error, theme.error(), area),
        Loaded::Ready(None) => {
            let text = "n/a: this sandbox's supervisor does not report inference usage";
            super::message(frame, block, text, theme.dim(), area);
        }
        Loaded::Ready(Some(view)) => {
            frame.render_widget(Paragraph::new(usage(view, theme)).block(block), area);
        }
    }
}
