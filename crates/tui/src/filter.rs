//! The audit pane's filters: an action (cycled with a key) and text typed after `/`.
//!
//! Text is whitespace-separated terms, all of which must match: `host:WORD` (the
//! destination host contains WORD), `bin:WORD` (the binary path contains WORD),
//! `action:VERB`, or a bare WORD (host, binary, request, policy entry or reason
//! contains it). Matching ignores case.

use cordon_audit::Action;

use crate::source::{AuditEntry, EntryKind};

/// Which kind of audit line is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActionFilter {
    #[default]
    All,
    Allow,
    Deny,
    AuditDeny,
    Route,
    /// Policy loads and reloads.
    Policy,
}

impl ActionFilter {
    /// The next one in the cycle the `f` key walks.
    pub fn next(self) -> ActionFilter {
        match self {
            ActionFilter::All => ActionFilter::Deny,
            ActionFilter::Deny => ActionFilter::Allow,
            ActionFilter::Allow => ActionFilter::AuditDeny,
            ActionFilter::AuditDeny => ActionFilter::Route,
            ActionFilter::Route => ActionFilter::Policy,
            ActionFilter::Policy => ActionFilter::All,
        }
    }

    /// The word shown (and accepted after `action:`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionFilter::All => "all",
            ActionFilter::Allow => "allow",
            ActionFilter::Deny => "deny",
            ActionFilter::AuditDeny => "audit-deny",
            ActionFilter::Route => "route",
            ActionFilter::Policy => "policy",
        }
    }

    fn parse(word: &str) -> Option<ActionFilter> {
        [
            ActionFilter::All,
            ActionFilter::Allow,
            ActionFilter::Deny,
            ActionFilter::AuditDeny,
            ActionFilter::Route,
            ActionFilter::Policy,
        ]
        .into_iter()
        .find(|a| a.as_str() == word)
    }

    fn matches(self, kind: EntryKind) -> bool {
        matches!(
            (self, kind),
            (ActionFilter::All, _)
                | (ActionFilter::Allow, EntryKind::Network(Action::Allow))
                | (ActionFilter::Deny, EntryKind::Network(Action::Deny))
                | (
                    ActionFilter::AuditDeny,
                    EntryKind::Network(Action::AuditDeny)
                )
                | (ActionFilter::Route, EntryKind::Network(Action::Route))
                | (ActionFilter::Policy, EntryKind::Policy { .. })
        )
    }
}

/// Everything the audit pane filters on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditFilter {
    pub action: ActionFilter,
    /// Substrings the host must contain (lower-case).
    pub host: Vec<String>,
    /// Substrings the binary path must contain (lower-case).
    pub binary: Vec<String>,
    /// Substrings found anywhere in the line (lower-case).
    pub words: Vec<String>,
    /// The text as typed, shown in the pane title and offered again by `/`.
    pub text: String,
}

fn contains(field: Option<&str>, needle: &str) -> bool {
    field.is_some_and(|f| f.to_lowercase().contains(needle))
}

impl AuditFilter {
    /// Replaces the text part with `text` (the action stays unless `action:` sets it).
    /// Returns the terms that were not understood (`action:bogus`).
    pub fn set_text(&mut self, text: &str) -> Vec<String> {
        self.host.clear();
        self.binary.clear();
        self.words.clear();
        self.text = text.trim().to_owned();
        let mut unknown = Vec::new();
        for term in text.split_whitespace() {
            let lower = term.to_lowercase();
            match lower.split_once(':') {
                Some(("host", v)) if !v.is_empty() => self.host.push(v.to_owned()),
                Some(("bin" | "binary", v)) if !v.is_empty() => self.binary.push(v.to_owned()),
                Some(("action", v)) => match ActionFilter::parse(v) {
                    Some(action) => self.action = action,
                    None => unknown.push(term.to_owned()),
                },
                _ => self.words.push(lower),
            }
        }
        unknown
    }

    /// Back to showing everything.
    pub fn clear(&mut self) {
        *self = AuditFilter::default();
    }

    /// Whether anything is filtered out.
    pub fn is_active(&self) -> bool {
        self.action != ActionFilter::All
            || !self.host.is_empty()
            || !self.binary.is_empty()
            || !self.words.is_empty()
    }

    /// Whether `entry` is shown.
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        self.action.matches(entry.kind)
            && self.host.iter().all(|h| contains(entry.host.as_deref(), h))
            && self
                .binary
                .iter()
                .all(|b| contains(entry.binary.as_deref(), b))
            && self.words.iter().all(|w| {
                [
                    entry.host.as_deref(),
                    entry.binary.as_deref(),
                    entry.request.as_deref(),
                    entry.entry.as_deref(),
                    entry.detail.as_deref(),
                ]
                .into_iter()
                .any(|field| contains(field, w))
            })
    }

    /// A short description for the pane title (`deny host~evil`).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.action != ActionFilter::All {
            parts.push(self.action.as_str().to_owned());
        }
        parts.extend(self.host.iter().map(|h| format!("host~{h}")));
        parts.extend(self.binary.iter().map(|b| format!("bin~{b}")));
        parts.extend(self.words.iter().map(|w| format!("~{w}")));
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: Action, host: &str, binary: &str) -> AuditEntry {
        AuditEntry {
            time_ms: 0,
            kind: EntryKind::Network(action),
            host: Some(host.into()),
            port: Some(443),
            binary: Some(binary.into()),
            request: None,
            entry: None,
            detail: Some("no endpoint matches".into()),
            generation: Some(1),
        }
    }

    #[test]
    fn action_cycle_visits_every_filter_and_returns() {
        let mut a = ActionFilter::All;
        let mut seen = vec![a];
        for _ in 0..5 {
            a = a.next();
            seen.push(a);
        }
        assert_eq!(a.next(), ActionFilter::All);
        seen.dedup();
        assert_eq!(seen.len(), 6);
    }

    #[test]
    fn terms_filter_host_binary_action_and_words() {
        let curl_evil = entry(Action::Deny, "evil.test", "/usr/bin/curl");
        let py_api = entry(Action::Allow, "api.test", "/usr/bin/python3");
        let mut f = AuditFilter::default();
        assert!(f.matches(&curl_evil) && f.matches(&py_api) && !f.is_active());
        assert!(f.set_text("host:EVIL").is_empty());
        assert!(f.matches(&curl_evil) && !f.matches(&py_api));
        f.set_text("bin:python");
        assert!(!f.matches(&curl_evil) && f.matches(&py_api));
        f.set_text("action:deny");
        assert_eq!(f.action, ActionFilter::Deny);
        assert!(f.matches(&curl_evil) && !f.matches(&py_api));
        f.action = ActionFilter::All;
        f.set_text("matches api");
        assert!(!f.matches(&curl_evil) && f.matches(&py_api));
        assert_eq!(f.set_text("action:bogus"), ["action:bogus"]);
        f.clear();
        assert!(!f.is_active());
    }
}
