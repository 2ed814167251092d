//! What the keys do: approve and deny call the source for the selected request, the
//! filters filter, navigation moves the right thing, quitting quits.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use cordon_tui::{ActionFilter, App, Focus, Loaded, Source, View};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::fake::{Fake, NOW};

fn press(app: &mut App, source: &mut dyn Source, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE), source);
}

fn typed(app: &mut App, source: &mut dyn Source, text: &str) {
    for c in text.chars() {
        press(app, source, KeyCode::Char(c));
    }
}

fn started(fake: &mut Fake) -> App {
    let mut app = App::new(None);
    app.refresh(fake, NOW);
    app
}

fn hosts(app: &App) -> Vec<String> {
    app.visible_audit()
        .iter()
        .filter_map(|e| e.host.clone())
        .collect()
}

#[test]
fn a_approves_the_selected_request_and_d_denies_one() {
    let mut fake = Fake::new();
    let mut app = started(&mut fake);
    press(&mut app, &mut fake, KeyCode::Char('2'));
    assert_eq!(app.view, View::Approvals);
    // The selection moves in the view once it has the focus.
    press(&mut app, &mut fake, KeyCode::Tab);
    assert_eq!(app.focus, Focus::Detail);
    press(&mut app, &mut fake, KeyCode::Down);
    press(&mut app, &mut fake, KeyCode::Char('a'));
    assert_eq!(fake.calls, ["approve agent a2 save=false"]);
    assert!(
        app.notice
            .as_ref()
            .unwrap()
            .text
            .contains("exfil.example.net:443")
    );
    assert!(app.refresh_requested);
    app.refresh(&mut fake, NOW);
    // The list shrank; the selection stays on a real row.
    assert_eq!(app.current_approval().unwrap().id, "a1");
    press(&mut app, &mut fake, KeyCode::Char('d'));
    assert_eq!(fake.calls[1], "deny agent a1");
    app.refresh(&mut fake, NOW);
    assert_eq!(app.approvals, Loaded::Ready(Vec::new()));
    // Nothing left: a and d say so and call nothing.
    press(&mut app, &mut fake, KeyCode::Char('a'));
    assert_eq!(fake.calls.len(), 2);
    assert!(app.notice.as_ref().unwrap().error);
}

#[test]
fn shift_a_approves_and_saves() {
    let mut fake = Fake::new();
    let mut app = started(&mut fake);
    press(&mut app, &mut fake, KeyCode::Char('2'));
    press(&mut app, &mut fake, KeyCode::Char('A'));
    assert_eq!(fake.calls, ["approve agent a1 save=true"]);
}

#[test]
fn a_outside_the_approvals_view_only_opens_it() {
    let mut fake = Fake::new();
    let mut app = started(&mut fake);
    assert_eq!(app.view, View::Audit);
    press(&mut app, &mut fake, KeyCode::Char('a'));
    assert!(fake.calls.is_empty());
    assert_eq!(app.view, View::Approvals);
    // Now shown, the same keys act on the selected request.
    press(&mut app, &mut fake, KeyCode::Char('d'));
    assert_eq!(fake.calls, ["deny agent a1"]);
}

#[test]
fn approving_in_an_old_supervisor_reports_instead_of_failing() {
    let mut fake = Fake::new();
    fake.approvals_unsupported = true;
    let mut app = started(&mut fake);
    press(&mut app, &mut fake, KeyCode::Char('2'));
    press(&mut app, &mut fake, KeyCode::Char('a'));
    assert!(fake.calls.is_empty());
    match &app.approvals {
        Loaded::Failed(message) => assert!(message.contains("approvals"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn f_cycles_the_action_filter() {
    let mut fake = Fake::new();
    let mut app = started(&mut fake);
    assert_eq!(app.visible_audit().len(), 6);
    press(&mut app, &mut fake, KeyCode::Char('f'));
    assert_eq!(app.filter.action, ActionFilter::Deny);
    assert_eq!(hosts(&app), ["evil.test", "exfil.example.net"]);
    press(&mut app, &mut fake, KeyCode::Char('f'));
    assert_eq!(app.filter.action, ActionFilter::Allow);
    assert_eq!(hosts(&app), ["api.example.com", "pypi.org"]);
    for _ in 0..3 {
        press(&mut app, &mut fake, KeyCode::Char('f'));
    }
    assert_eq!(app.filter.action, ActionFilter::Policy);
    assert_eq!(app.visible_audit().len(), 1);
    press(&mut app, &mut fake, KeyCode::Char('f'));
    assert_eq!(app.filter.action, ActionFilter::All);
}

#[test]
fn slash_filters_by_host_and_binary_and_c_clears() {
    let mut fake = Fake::new();
    let mut app = started(&mut fake);
    press(&mut app, &mut fake, KeyCode::Char('/'));
    typed(&mut app, &mut fake, "bin:python3");
    // Typing does not quit or approve: q and a are text here.
    typed(&mut app, &mut fake, " qa");
    press(&mut app, &mut fake, KeyCode::Backspace);
    press(&mut app, &mut fake, KeyCode::Backspace);
    press(&mut app, &mut fake, KeyCode::Backspace);
    assert!(!app.quit && fake.calls.is_empty());
    press(&mut app, &mut fake, KeyCode::Enter);
    assert_eq!(app.input, None);
    assert_eq!(
        hosts(&app),
        ["pypi.org", "exfil.example.net", "files.pythonhosted.org"]
    );
    press(&mut app, &mut fake, KeyCode::Char('/'));
    assert_eq!(app.input.as_deref(), Some("bin:python3"));
    typed(&mut app, &mut fake, " host:exfil");
    press(&mut app, &mut fake, KeyCode::Enter);
    assert_eq!(hosts(&app), ["exfil.example.net"]);
    // Esc while typing cancels the edit, keeps the filter, and does not quit.
    press(&mut app, &mut fake, KeyCode::Char('/'));
    typed(&mut app, &mut fake, "zzz");
    press(&mut app, &mut fake, KeyCode::Esc);
    assert!(!app.quit);
    assert_eq!(hosts(&app), ["exfil.example.net"]);
    press(&mut app, &mut fake, KeyCode::Char('c'));
    assert_eq!(app.visible_audit().len(), 6);
}

#[test]
fn arrows_select_sandboxes_then_scroll_the_view() {
    let mut fake = Fake::new();
    let mut app = started(&mut fake);
    assert_eq!(app.current().unwrap().name, "agent");
    press(&mut app, &mut fake, KeyCode::Down);
    assert_eq!(app.current().unwrap().name, "builder");
    assert!(app.refresh_requested);
    app.refresh(&mut fake, NOW);
    assert!(app.audit.entries.is_empty(), "builder has no audit lines");
    press(&mut app, &mut fake, KeyCode::Up);
    app.refresh(&mut fake, NOW);
    assert_eq!(app.audit.entries.len(), 6);
    press(&mut app, &mut fake, KeyCode::Tab);
    press(&mut app, &mut fake, KeyCode::Up);
    assert_eq!(app.audit.scroll, 1);
    assert_eq!(app.current().unwrap().name, "agent");
    press(&mut app, &mut fake, KeyCode::End);
    assert_eq!(app.audit.scroll, 0);
    press(&mut app, &mut fake, KeyCode::Right);
    assert_eq!(app.view, View::Approvals);
    press(&mut app, &mut fake, KeyCode::Left);
    press(&mut app, &mut fake, KeyCode::Left);
    assert_eq!(app.view, View::Status);
}

#[test]
fn the_selection_follows_the_sandbox_not_the_row() {
    let mut fake = Fake::new();
    let mut app = started(&mut fake);
    press(&mut app, &mut fake, KeyCode::Down);
    app.refresh(&mut fake, NOW);
    fake.sandboxes.remove(0);
    app.refresh(&mut fake, NOW);
    assert_eq!(app.current().unwrap().name, "builder");
    let mut app = App::new(Some("old"));
    app.refresh(&mut fake, NOW);
    assert_eq!(app.current().unwrap().name, "old");
}

#[test]
fn q_esc_and_ctrl_c_quit_but_esc_first_closes_help() {
    let mut fake = Fake::new();
    for key in [KeyCode::Char('q'), KeyCode::Esc] {
        let mut app = started(&mut fake);
        press(&mut app, &mut fake, key);
        assert!(app.quit);
    }
    let mut app = started(&mut fake);
    press(&mut app, &mut fake, KeyCode::Char('?'));
    assert!(app.help);
    press(&mut app, &mut fake, KeyCode::Esc);
    assert!(!app.help && !app.quit);
    app.on_key(
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
        &mut fake,
    );
    assert!(app.quit);
}

#[test]
fn new_audit_lines_arrive_without_moving_a_scrolled_view() {
    let mut fake = Fake::new();
    let mut app = started(&mut fake);
    press(&mut app, &mut fake, KeyCode::Tab);
    press(&mut app, &mut fake, KeyCode::Up);
    press(&mut app, &mut fake, KeyCode::Up);
    let lines = fake.audit.get_mut("agent").unwrap();
    lines.push(super::fake::net(
        1,
        cordon_audit::Action::Deny,
        "new.test",
        "/bin/sh",
    ));
    app.refresh(&mut fake, NOW);
    assert_eq!(app.audit.entries.len(), 7);
    assert_eq!(app.audit.scroll, 3);
}
