//! The UI's state and what the keys do to it. Nothing here draws or touches the
//! terminal: [`App::refresh`] pulls from a [`Source`], [`App::on_key`] changes the
//! state (and calls the source for approve/deny), `ui::render` draws the result.

use std::collections::VecDeque;

use cordon_control::api::LiveStatus;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::error::TuiError;
use crate::filter::AuditFilter;
use crate::source::{
    Approval, ApproveOptions, AuditCursor, AuditEntry, InferenceView, PolicyView, SandboxRow,
    Source,
};

/// Audit lines kept in memory for the selected sandbox (older ones scroll away).
pub const AUDIT_KEEP: usize = 2000;

/// How long an action's outcome stays in the footer.
const NOTICE_MS: u64 = 6000;

/// Lines PageUp/PageDown move.
const PAGE: usize = 10;

/// The detail view shown under the sandboxes pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Audit,
    Approvals,
    Policy,
    Inference,
    Status,
}

impl View {
    /// In tab order (keys 1 to 5).
    pub const ALL: [View; 5] = [
        View::Audit,
        View::Approvals,
        View::Policy,
        View::Inference,
        View::Status,
    ];

    pub fn title(self) -> &'static str {
        match self {
            View::Audit => "Audit",
            View::Approvals => "Approvals",
            View::Policy => "Policy",
            View::Inference => "Inference",
            View::Status => "Status",
        }
    }

    fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }

    fn step(self, forward: bool) -> View {
        let n = View::ALL.len();
        let i = if forward {
            (self.index() + 1) % n
        } else {
            (self.index() + n - 1) % n
        };
        View::ALL[i]
    }
}

/// Which pane the arrow keys move in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Sandboxes,
    Detail,
}

/// Data fetched for a pane: not yet, there, or why not.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded<T> {
    NotYet,
    Ready(T),
    Failed(String),
}

impl<T> Loaded<T> {
    fn from(result: Result<T, TuiError>) -> Loaded<T> {
        match result {
            Ok(value) => Loaded::Ready(value),
            Err(e) => Loaded::Failed(e.to_string()),
        }
    }
}

/// A one-line message in the footer (the outcome of the last action).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

/// The audit lines of the selected sandbox.
#[derive(Debug, Default)]
pub struct AuditPane {
    /// Which sandbox they belong to.
    pub of: Option<String>,
    /// Oldest first, at most [`AUDIT_KEEP`].
    pub entries: VecDeque<AuditEntry>,
    cursor: Option<AuditCursor>,
    /// Filtered lines hidden below the view (0: follow the newest).
    pub scroll: usize,
    pub error: Option<String>,
}

/// Everything the screen shows.
#[derive(Debug)]
pub struct App {
    pub sandboxes: Vec<SandboxRow>,
    /// Index into `sandboxes`.
    pub selected: usize,
    /// Why the list could not be read (the last good one stays on screen).
    pub list_error: Option<String>,
    pub view: View,
    pub focus: Focus,
    pub audit: AuditPane,
    pub filter: AuditFilter,
    /// The filter being typed after `/` (`None`: not typing).
    pub input: Option<String>,
    pub approvals: Loaded<Vec<Approval>>,
    pub approval_selected: usize,
    pub policy: Loaded<PolicyView>,
    pub policy_scroll: usize,
    pub inference: Loaded<Option<InferenceView>>,
    pub status: Loaded<Option<LiveStatus>>,
    /// Lines of the status view scrolled off the top.
    pub status_scroll: usize,
    pub notice: Option<Notice>,
    /// When the notice was set (`now_ms` then).
    notice_at_ms: u64,
    pub help: bool,
    pub quit: bool,
    /// A key asked for fresh data now (selection changed, approval sent, `r`).
    pub refresh_requested: bool,
    /// The time of the last refresh (ms since the epoch): every age on screen is
    /// relative to it, so a frame depends on the data alone.
    pub now_ms: u64,
}

impl App {
    /// An empty screen; `select` names the sandbox to start on.
    pub fn new(select: Option<&str>) -> App {
        App {
            sandboxes: Vec::new(),
            selected: 0,
            list_error: None,
            view: View::Audit,
            focus: Focus::Sandboxes,
            audit: AuditPane {
                of: select.map(str::to_owned),
                ..AuditPane::default()
            },
            filter: AuditFilter::default(),
            input: None,
            approvals: Loaded::NotYet,
            approval_selected: 0,
            policy: Loaded::NotYet,
            policy_scroll: 0,
            inference: Loaded::NotYet,
            status: Loaded::NotYet,
            status_scroll: 0,
            notice: None,
            notice_at_ms: 0,
            help: false,
            quit: false,
            refresh_requested: false,
            now_ms: 0,
        }
    }

    /// The selected sandbox.
    pub fn current(&self) -> Option<&SandboxRow> {
        self.sandboxes.get(self.selected)
    }

    /// The audit lines the filter lets through, oldest first.
    pub fn visible_audit(&self) -> Vec<&AuditEntry> {
        self.audit
            .entries
            .iter()
            .filter(|e| self.filter.matches(e))
            .collect()
    }

    /// The selected approval request.
    pub fn current_approval(&self) -> Option<&Approval> {
        match &self.approvals {
            Loaded::Ready(list) => list.get(self.approval_selected),
            _ => None,
        }
    }

    /// Reads everything the screen shows from `source`.
    pub fn refresh(&mut self, source: &mut dyn Source, now_ms: u64) {
        self.now_ms = now_ms;
        self.refresh_requested = false;
        if now_ms.saturating_sub(self.notice_at_ms) > NOTICE_MS {
            self.notice = None;
        }
        let keep = self
            .current()
            .map(|s| s.name.clone())
            .or(self.audit.of.clone());
        match source.sandboxes() {
            Ok(list) => {
                self.sandboxes = list;
                self.list_error = None;
            }
            Err(e) => self.list_error = Some(e.to_string()),
        }
        self.selected = keep
            .and_then(|name| self.sandboxes.iter().position(|s| s.name == name))
            .unwrap_or(self.selected)
            .min(self.sandboxes.len().saturating_sub(1));
        let Some(name) = self.current().map(|s| s.name.clone()) else {
            self.audit = AuditPane::default();
            self.approvals = Loaded::NotYet;
            self.policy = Loaded::NotYet;
            self.inference = Loaded::NotYet;
            self.status = Loaded::NotYet;
            return;
        };
        self.refresh_audit(source, &name);
        self.approvals = Loaded::from(source.approvals(&name));
        if let Loaded::Ready(list) = &self.approvals {
            self.approval_selected = self.approval_selected.min(list.len().saturating_sub(1));
        }
        match self.view {
            View::Policy => self.policy = Loaded::from(source.policy(&name)),
            View::Inference => self.inference = Loaded::from(source.inference(&name)),
            View::Status => self.status = Loaded::from(source.status(&name)),
            View::Audit | View::Approvals => {}
        }
    }

    fn refresh_audit(&mut self, source: &mut dyn Source, name: &str) {
        if self.audit.of.as_deref() != Some(name) || self.audit.cursor.is_none() {
            self.audit = AuditPane {
                of: Some(name.to_owned()),
                ..AuditPane::default()
            };
        }
        match source.audit(name, self.audit.cursor, AUDIT_KEEP) {
            Ok(chunk) => {
                if self.audit.scroll > 0 {
                    // Keep the lines being read still while new ones arrive below.
                    let shown = chunk
                        .entries
                        .iter()
                        .filter(|e| self.filter.matches(e))
                        .count();
                    self.audit.scroll += shown;
                }
                self.audit.entries.extend(chunk.entries);
                let excess = self.audit.entries.len().saturating_sub(AUDIT_KEEP);
                self.audit.entries.drain(..excess);
                self.audit.cursor = Some(chunk.cursor);
                self.audit.error = None;
            }
            Err(e) => self.audit.error = Some(e.to_string()),
        }
    }

    fn say(&mut self, text: impl Into<String>, error: bool) {
        self.notice = Some(Notice {
            text: text.into(),
            error,
        });
        self.notice_at_ms = self.now_ms;
    }

    /// Applies one key press.
    pub fn on_key(&mut self, key: KeyEvent, source: &mut dyn Source) {
        if key.kind != KeyEventKind::Press {
            return;
        }
        if self.input.is_some() {
            self.on_filter_key(key);
            return;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) {
            if matches!(key.code, KeyCode::Char('c' | 'd')) {
                self.quit = true;
            }
            return;
        }
        if self.help {
            match key.code {
                KeyCode::Char('q') => self.quit = true,
                KeyCode::Char('?') | KeyCode::Esc | KeyCode::Enter => self.help = false,
                _ => {}
            }
            return;
        }
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Tab | KeyCode::BackTab => {
                self.focus = match self.focus {
                    Focus::Sandboxes => Focus::Detail,
                    Focus::Detail => Focus::Sandboxes,
                };
            }
            KeyCode::Right | KeyCode::Char('l') => self.show(self.view.step(true)),
            KeyCode::Left | KeyCode::Char('h') => self.show(self.view.step(false)),
            KeyCode::Char(c @ '1'..='5') => {
                let index = usize::from(c as u8 - b'1');
                self.show(View::ALL[index]);
            }
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::PageUp => self.move_by(-(PAGE as isize)),
            KeyCode::PageDown => self.move_by(PAGE as isize),
            KeyCode::Home | KeyCode::Char('g') => self.move_by(isize::MIN),
            KeyCode::End | KeyCode::Char('G') => self.move_by(isize::MAX),
            KeyCode::Char('/') => {
                self.view = View::Audit;
                self.input = Some(self.filter.text.clone());
            }
            KeyCode::Char('f') => {
                self.view = View::Audit;
                self.filter.action = self.filter.action.next();
                self.audit.scroll = 0;
            }
            KeyCode::Char('c') => {
                self.filter.clear();
                self.audit.scroll = 0;
                self.say("filters cleared", false);
            }
            KeyCode::Char('r') => self.refresh_requested = true,
            KeyCode::Char('a') => self.approve(source, false),
            KeyCode::Char('A') => self.approve(source, true),
            KeyCode::Char('d') => self.deny(source),
            _ => {}
        }
    }

    fn show(&mut self, view: View) {
        if self.view != view {
            self.view = view;
            // The newly shown pane has no data yet: fetch it now, not in a second.
            self.refresh_requested = true;
        }
    }

    fn on_filter_key(&mut self, key: KeyEvent) {
        let Some(input) = &mut self.input else {
            return;
        };
        match key.code {
            KeyCode::Enter => {
                let text = input.clone();
                self.input = None;
                self.audit.scroll = 0;
                let unknown = self.filter.set_text(&text);
                if !unknown.is_empty() {
                    self.say(format!("ignored: {}", unknown.join(" ")), true);
                }
            }
            KeyCode::Esc => self.input = None,
            KeyCode::Backspace => {
                input.pop();
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => input.clear(),
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.input = None;
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => input.push(c),
            _ => {}
        }
    }

    /// Moves the selection or scroll of the focused pane by `delta` (`MIN`/`MAX`: to the
    /// first/last).
    fn move_by(&mut self, delta: isize) {
        let step = |at: usize, len: usize| -> usize {
            let last = len.saturating_sub(1);
            match delta {
                isize::MIN => 0,
                isize::MAX => last,
                d if d < 0 => at.saturating_sub(d.unsigned_abs()),
                d => at.saturating_add(d.unsigned_abs()).min(last),
            }
        };
        if self.focus == Focus::Sandboxes {
            let before = self.selected;
            self.selected = step(self.selected, self.sandboxes.len());
            if self.selected != before {
                self.approval_selected = 0;
                self.policy_scroll = 0;
                self.status_scroll = 0;
                self.policy = Loaded::NotYet;
                self.inference = Loaded::NotYet;
                self.status = Loaded::NotYet;
                self.approvals = Loaded::NotYet;
                self.refresh_requested = true;
            }
            return;
        }
        match self.view {
            View::Audit => {
                // Scroll counts lines hidden below: moving up shows older lines.
                let len = self.visible_audit().len();
                let up = len.saturating_sub(1);
                self.audit.scroll = match delta {
                    isize::MIN => up,
                    isize::MAX => 0,
                    d if d < 0 => self.audit.scroll.saturating_add(d.unsigned_abs()).min(up),
                    d => self.audit.scroll.saturating_sub(d.unsigned_abs()),
                };
            }
            View::Approvals => {
                let len = match &self.approvals {
                    Loaded::Ready(list) => list.len(),
                    _ => 0,
                };
                self.approval_selected = step(self.approval_selected, len);
            }
            View::Policy => {
                let len = match &self.policy {
                    Loaded::Ready(p) => p.yaml.lines().count(),
                    _ => 0,
                };
                self.policy_scroll = step(self.policy_scroll, len);
            }
            View::Status => {
                let len = match &self.status {
                    // The fixed fields, one line per layer and per warning.
                    Loaded::Ready(Some(s)) => 8 + s.layers.len() + s.warnings.len(),
                    _ => 0,
                };
                self.status_scroll = step(self.status_scroll, len);
            }
            View::Inference => {}
        }
    }

    fn approve(&mut self, source: &mut dyn Source, save: bool) {
        let Some((name, approval)) = self.target() else {
            return;
        };
        let options = ApproveOptions {
            save,
            for_seconds: None,
        };
        let what = format!("{}:{}", approval.host, approval.port);
        match source.approve(&name, &approval.id, options) {
            Ok(generation) => {
                let generation =
                    generation.map_or_else(String::new, |g| format!(" (generation {g})"));
                let saved = if save {
                    ", saved to the policy file"
                } else {
                    ""
                };
                self.say(
                    format!("approved {what} for {name}{generation}{saved}"),
                    false,
                );
            }
            Err(e) => self.say(format!("approve {what}: {e}"), true),
        }
        self.refresh_requested = true;
    }

    fn deny(&mut self, source: &mut dyn Source) {
        let Some((name, approval)) = self.target() else {
            return;
        };
        let what = format!("{}:{}", approval.host, approval.port);
        match source.deny(&name, &approval.id) {
            Ok(()) => self.say(format!("denied {what} for {name}"), false),
            Err(e) => self.say(format!("deny {what}: {e}"), true),
        }
        self.refresh_requested = true;
    }

    /// The sandbox and request `a`/`d` act on; switches to the approvals view (and says
    /// why nothing happened) when none is selected there.
    fn target(&mut self) -> Option<(String, Approval)> {
        if self.view != View::Approvals {
            self.show(View::Approvals);
            self.say(
                "approvals: select a request, then a (approve) or d (deny)",
                false,
            );
            return None;
        }
        let name = self.current()?.name.clone();
        match self.current_approval() {
            Some(approval) => Some((name, approval.clone())),
            None => {
                self.say("no pending approval selected", true);
                None
            }
        }
    }
}
