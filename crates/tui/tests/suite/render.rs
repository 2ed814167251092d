//! Every screen at 80×24 against ratatui's `TestBackend`, as insta snapshots
//! (`snapshots/`): a change to what the operator sees shows up as a reviewed diff.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use cordon_tui::{App, Source, Theme, View, render};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::fake::{Fake, NOW};

/// The app after one refresh against `fake`, showing `view`.
fn app(fake: &mut Fake, view: View) -> App {
    let mut app = App::new(None);
    app.view = view;
    app.refresh(fake, NOW);
    app
}

/// The screen as text, 80 columns by 24 rows.
fn screen(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal
        .draw(|frame| render(frame, app, Theme::new(true)))
        .unwrap();
    terminal.backend().to_string()
}

fn press(app: &mut App, source: &mut dyn Source, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE), source);
}

#[test]
fn sandboxes_and_audit_stream() {
    let mut fake = Fake::new();
    let screen = screen(&app(&mut fake, View::Audit));
    assert!(screen.contains("agent") && screen.contains("evil.test:443"));
    insta::assert_snapshot!("audit", screen);
}

#[test]
fn audit_filtered_by_action_and_host() {
    let mut fake = Fake::new();
    let mut app = app(&mut fake, View::Audit);
    app.filter.set_text("action:deny host:exfil");
    insta::assert_snapshot!("audit_filtered", screen(&app));
}

#[test]
fn audit_filter_being_typed() {
    let mut fake = Fake::new();
    let mut app = app(&mut fake, View::Audit);
    press(&mut app, &mut fake, KeyCode::Char('/'));
    for c in "bin:py".chars() {
        press(&mut app, &mut fake, KeyCode::Char(c));
    }
    insta::assert_snapshot!("audit_filter_input", screen(&app));
}

#[test]
fn pending_approvals() {
    let mut fake = Fake::new();
    let screen = screen(&app(&mut fake, View::Approvals));
    assert!(screen.contains("exfil.example.net:443"));
    insta::assert_snapshot!("approvals", screen);
}

#[test]
fn approvals_from_a_supervisor_without_the_endpoint() {
    let mut fake = Fake::new();
    fake.approvals_unsupported = true;
    insta::assert_snapshot!(
        "approvals_unsupported",
        screen(&app(&mut fake, View::Approvals))
    );
}

#[test]
fn active_policy() {
    let mut fake = Fake::new();
    insta::assert_snapshot!("policy", screen(&app(&mut fake, View::Policy)));
}

#[test]
fn inference_usage_against_budget() {
    let mut fake = Fake::new();
    insta::assert_snapshot!("inference", screen(&app(&mut fake, View::Inference)));
}

#[test]
fn inference_not_reported_is_na() {
    let mut fake = Fake::new();
    fake.inference = None;
    let screen = screen(&app(&mut fake, View::Inference));
    assert!(screen.contains("n/a"));
    insta::assert_snapshot!("inference_na", screen);
}

#[test]
fn supervisor_status() {
    let mut fake = Fake::new();
    insta::assert_snapshot!("status", screen(&app(&mut fake, View::Status)));
}

#[test]
fn a_stopped_sandbox() {
    let mut fake = Fake::new();
    let mut app = app(&mut fake, View::Status);
    press(&mut app, &mut fake, KeyCode::End);
    app.refresh(&mut fake, NOW);
    assert_eq!(app.current().unwrap().name, "old");
    insta::assert_snapshot!("stopped", screen(&app));
}

#[test]
fn help_overlay() {
    let mut fake = Fake::new();
    let mut app = app(&mut fake, View::Audit);
    press(&mut app, &mut fake, KeyCode::Char('?'));
    insta::assert_snapshot!("help", screen(&app));
}

#[test]
fn no_sandboxes_yet() {
    let mut fake = Fake::new();
    fake.sandboxes.clear();
    insta::assert_snapshot!("empty", screen(&app(&mut fake, View::Audit)));
}

#[test]
fn outcome_of_an_approval_in_the_footer() {
    let mut fake = Fake::new();
    let mut app = app(&mut fake, View::Approvals);
    press(&mut app, &mut fake, KeyCode::Char('a'));
    app.refresh(&mut fake, NOW);
    insta::assert_snapshot!("approved", screen(&app));
}

#[test]
fn renders_without_colour_and_in_small_terminals() {
    let mut fake = Fake::new();
    for view in View::ALL {
        let app = app(&mut fake, view);
        for (w, h) in [(80, 24), (40, 12), (20, 6), (200, 60)] {
            let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
            terminal
                .draw(|frame| render(frame, &app, Theme::new(false)))
                .unwrap();
        }
    }
}
