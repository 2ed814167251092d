//! The status view: what the running supervisor reports about the selected sandbox
//! (processes, policy, proxy and counters, kernel layers, limits, warnings), as
//! `cordon status` shows it.

use cordon_control::api::LiveStatus;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::{App, Loaded};
use crate::theme::Theme;
use crate::time_text;

fn field(label: &str, value: String, theme: Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{label:<14}"), theme.heading()),
        Span::raw(value),
    ])
}

fn limit(value: Option<u64>) -> String {
    value.map_or_else(|| "unlimited".to_owned(), |v| v.to_string())
}

/// `2.0 GiB`, `512 MiB`, `900 KiB`.
fn bytes(value: Option<u64>) -> String {
    let Some(v) = value else {
        return "unlimited".to_owned();
    };
    let units = [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in units {
        if v >= size {
            return format!("{:.1} {unit}", v as f64 / size as f64);
        }
    }
    format!("{v} B")
}

fn lines(status: &LiveStatus, now_ms: u64, theme: Theme) -> Vec<Line<'static>> {
    let main = status
        .main_pid
        .map_or_else(|| "exited".to_owned(), |p| format!("pid {p}"));
    let mut out = vec![
        field(
            "processes",
            format!(
                "supervisor {} · init {} · main {main} · restarts {}{}",
                status.supervisor_pid,
                status.init_pid,
                status.restarts,
                if status.stopping { " · stopping" } else { "" }
            ),
            theme,
        ),
        field(
            "started",
            format!(
                "{} UTC ({})",
                time_text::clock(status.started_at_ms),
                time_text::ago(status.started_at_ms, now_ms)
            ),
            theme,
        ),
        field(
            "policy",
            format!(
                "generation {} from {}",
                status.policy.generation, status.policy.source
            ),
            theme,
        ),
        field(
            "proxy",
            format!(
                "{} · {} open, {} connections since start",
                status.egress.proxy,
                status.egress.active_connections,
                status.egress.total_connections,
            ),
            theme,
        ),
        field(
            "decisions",
            format!(
                "{} allowed · {} denied · {} audit-denied · {} reloads refused",
                status.egress.allowed,
                status.egress.denied,
                status.egress.audit_denied,
                status.egress.reloads_rejected
            ),
            theme,
        ),
        field(
            "landlock",
            match status.landlock_abi {
                0 => "not available".to_owned(),
                abi => format!("ABI {abi}"),
            },
            theme,
        ),
        field(
            "limits",
            format!(
                "memory {} · pids {} · cpu {}",
                bytes(status.limits.memory_bytes),
                limit(status.limits.pids),
                status
                    .limits
                    .cpu
                    .map_or_else(|| "unlimited".to_owned(), |c| format!("{c}"))
            ),
            theme,
        ),
        field(
            "CA",
            status
                .ca_fingerprint
                .clone()
                .unwrap_or_else(|| "none (no TLS inspection)".to_owned()),
            theme,
        ),
    ];
    for layer in &status.layers {
        out.push(field("layer", layer.clone(), theme));
    }
    for warning in &status.warnings {
        out.push(Line::from(vec![
            Span::styled(format!("{:<14}", "warning"), theme.error()),
            Span::raw(warning.clone()),
        ]));
    }
    out
}

pub(super) fn render(frame: &mut Frame, app: &App, theme: Theme, area: Rect, focused: bool) {
    let block = super::pane(" Status ", theme, focused);
    match &app.status {
        Loaded::NotYet => super::message(frame, block, "loading…", theme.dim(), area),
        Loaded::Failed(error) => super::message(frame, block, error, theme.error(), area),
        Loaded::Ready(None) => {
            let text = match app.current() {
                Some(s) => format!(
                    "{} is {}{}",
                    s.name,
                    s.state,
                    s.reason
                        .as_deref()
                        .map_or_else(String::new, |r| format!(": {r}"))
                ),
                None => String::new(),
            };
            super::message(frame, block, &text, theme.dim(), area);
        }
        Loaded::Ready(Some(status)) => {
            let shown: Vec<Line> = lines(status, app.now_ms, theme)
                .into_iter()
                .skip(app.status_scroll)
                .collect();
            let paragraph = Paragraph::new(shown)
                .block(block)
                .wrap(Wrap { trim: false });
            frame.render_widget(paragraph, area);
        }
    }
}
