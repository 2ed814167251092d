//! Styles, in the 16 basic ANSI colours only (no true colour: terminals over SSH and in
//! tmux render them alike) and with every distinction also carried by a modifier or by
//! text, so the screen reads the same with colour off (`NO_COLOR`, `--no-color`).

use cordon_audit::Action;
use ratatui::style::{Color, Modifier, Style};

use crate::source::EntryKind;

/// Whether to colour, and the styles derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour on (`true`) or off.
    pub fn new(color: bool) -> Theme {
        Theme { color }
    }

    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    /// An audit line's verb.
    pub fn entry(self, kind: EntryKind) -> Style {
        match kind {
            EntryKind::Network(Action::Deny) => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            EntryKind::Network(Action::Allow) => self.fg(Color::Green),
            EntryKind::Network(Action::AuditDeny) => self.fg(Color::Yellow),
            EntryKind::Network(Action::Route) => self.fg(Color::Cyan),
            EntryKind::Policy { applied: true } => self.fg(Color::Magenta),
            EntryKind::Policy { applied: false } | EntryKind::Dropped(_) => {
                self.fg(Color::Red).add_modifier(Modifier::BOLD)
            }
        }
    }

    /// A sandbox's state word.
    pub fn state(self, state: &str) -> Style {
        match state {
            "running" => self.fg(Color::Green),
            "restarting" => self.fg(Color::Yellow),
            "crashed" => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            _ => Style::new().add_modifier(Modifier::DIM),
        }
    }

    /// The selected row of a table; brighter in the pane the arrows move.
    pub fn selected(self, focused: bool) -> Style {
        if focused {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        }
    }

    /// A pane's border: the focused one stands out.
    pub fn border(self, focused: bool) -> Style {
        if focused {
            self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        }
    }

    /// Column headers and labels.
    pub fn heading(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// Keys in hints and help.
    pub fn key(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// Secondary text (ages, sources).
    pub fn dim(self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }

    /// Errors and failed outcomes.
    pub fn error(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// Good outcomes.
    pub fn ok(self) -> Style {
        self.fg(Color::Green)
    }

    /// YAML keys in the policy pane.
    pub fn yaml_key(self) -> Style {
        self.fg(Color::Cyan)
    }
}
