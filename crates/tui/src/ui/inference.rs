//! The inference view: where `inference.local` routes and the usage against the
//! sandbox's budgets (requests per minute, tokens per hour), or `n/a` when the
//! supervisor does not report it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph};

use crate::app::{App, Loaded};
use crate::source::InferenceView;
use crate::theme::Theme;

fn budget_line(label: &str, used: u64, limit: Option<u64>, theme: Theme) -> Line<'static> {
    let limit = limit.map_or_else(|| "no budget".to_owned(), |l| format!("of {l}"));
    Line::from(vec![
        Span::styled(format!("{label:<16}"), theme.heading()),
        Span::raw(format!("{used} {limit}")),
    ])
}

fn gauge(used: u64, limit: Option<u64>, theme: Theme) -> Option<Gauge<'static>> {
    let limit = limit.filter(|l| *l > 0)?;
    let ratio = (used as f64 / limit as f64).clamp(0.0, 1.0);
    let style = if ratio >= 0.9 { theme.error() } else { theme.ok() };
    Some(
        Gauge::default()
            .ratio(ratio)
            .label(format!("{:.0}%", ratio * 100.0))
            .gauge_style(style),
    )
}

fn usage(frame: &mut Frame, view: &InferenceView, theme: Theme, inner: Rect) {
    let [route, req_label, req_gauge, tok_label, tok_gauge, totals] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    let routed = match (&view.provider, &view.model) {
        (Some(p), Some(m)) => format!("{p} (model {m})"),
        (Some(p), None) => p.clone(),
        (None, _) => "no route: requests to inference.local get 503".to_owned(),
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(format!("{:<16}", "route"), theme.heading()),
            Span::raw(routed),
        ])),
        route,
    );
    let lines = [
        (req_label, req_gauge, "requests/minute", view.requests_last_minute, view.max_requests_per_minute),
        (tok_label, tok_gauge, "tokens/hour", view.tokens_last_hour, view.max_tokens_per_hour),
    ];
    for (label_area, gauge_area, label, used, limit) in lines {
        frame.render_widget(Paragraph::new(budget_line(label, used, limit, theme)), label_area);
        if let Some(g) = gauge(used, limit, theme) {
            frame.render_widget(g, gauge_area);
        }
    }
    let text = format!(
        "since start: {} requests, {} refused by budget, {} tokens in, {} tokens out",
        view.requests_total, view.refused_total, view.tokens_in_total, view.tokens_out_total
    );
    frame.render_widget(
        Paragraph::new(Span::styled(text, theme.dim())).wrap(ratatui::widgets::Wrap { trim: true }),
        totals,
    );
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
            let inner = block.inner(area);
            frame.render_widget(block, area);
            usage(frame, view, theme, inner);
        }
    }
}
