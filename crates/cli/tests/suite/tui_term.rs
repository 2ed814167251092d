//! `cordon term` for real: a real sandbox doing real traffic, the UI in a real terminal
//! (tmux, 80×24), read back with `capture-pane` — the sandboxes pane, the live audit
//! stream and its filter, the policy and status views, approvals — then `q`, after
//! which the terminal must be as it was: main screen, cursor shown, cooked mode.
//! Colours appear on a terminal and disappear with `NO_COLOR` (a pair).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::Path;

use super::common::{Mode, NOBODY, cordon_bin, require};
use super::egress_run::server::TestServer;
use super::egress_run::{network, policy_file};
use super::lifecycle::{Fleet, eventually};
use super::tmux::Tmux;

/// The shell command line running `cordon term` as the fleet's user, then recording its
/// exit code and the terminal's mode into `report`, then idling (a dead pane reports no
/// cursor state, so the pane stays alive for the checks).
fn term_command(fleet: &Fleet, report: &Path, env: &str) -> String {
    let cordon = cordon_bin(fleet.mode);
    let runner = match fleet.mode {
        Mode::Root => String::new(),
        Mode::Rootless => {
            require("setpriv");
            format!("setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups ")
        }
    };
    format!(
        "env XDG_STATE_HOME={} {env} {runner}{} term; echo \"exit=$?\" > {r}.tmp; \
         stty -a >> {r}.tmp; mv {r}.tmp {r}; exec sleep 600",
        fleet.state_home().display(),
        cordon.display(),
        r = report.display()
    )
}

/// A sandbox `watched` whose agent fetches an allowed and a refused host, then idles.
fn watched(fleet: &Fleet, server: &TestServer) {
    let p = server.port();
    let policy = policy_file(
        fleet.scratch(),
        "policy.yaml",
        &network(&[("api", &[("api.test", p)], &["/usr/bin/curl"])]),
    );
    let agent = format!(
        "curl -s -o /dev/null http://api.test:{p}/; curl -s -o /dev/null http://evil.test:{p}/; \
         exec sleep 600"
    );
    fleet
        .run([
            "create",
            "watched",
            "--policy",
            &policy,
            "--add-host",
            "api.test:127.0.0.1",
            "--add-host",
            "evil.test:127.0.0.1",
            "--",
            "/bin/sh",
            "-c",
            &agent,
        ])
        .ok();
    assert!(
        eventually(|| {
            let list = fleet.list();
            list[0]["allowed"] == 1 && list[0]["denied"] == 1
        }),
        "the agent's two fetches were never decided: {:?}",
        fleet.list()
    );
}

/// SGR parameters that set a colour (foreground or background, any palette).
fn colour_codes(escaped: &str) -> Vec<String> {
    let mut found = Vec::new();
    for part in escaped.split("\x1b[").skip(1) {
        let Some(end) = part.find('m') else { continue };
        let params = &part[..end];
        if !params.chars().all(|c| c.is_ascii_digit() || c == ';') {
            continue;
        }
        for param in params.split(';') {
            if let Ok(n) = param.parse::<u16>()
                && matches!(n, 30..=38 | 40..=48 | 90..=97 | 100..=107)
            {
                found.push(params.to_owned());
            }
        }
    }
    found
}

#[test]
fn tui_term_shows_a_real_sandbox_its_audit_stream_and_exits_clean() {
    let server = TestServer::start("api");
    let fleet = Fleet::new(Mode::Root);
    watched(&fleet, &server);
    let report = fleet.scratch().path().join("report");
    let tmux = Tmux::start(&term_command(&fleet, &report, ""));

    // The sandboxes pane and the audit stream of the (only, so selected) sandbox.
    let screen = tmux.wait_for(&[
        "Sandboxes [1]",
        "watched",
        "running",
        "evil.test:",
        "api.test:",
    ]);
    assert!(
        screen.contains("deny") && screen.contains("allow"),
        "{screen}"
    );
    assert_eq!(tmux.pane("alternate_on"), "1");

    // `f` narrows the stream to denials.
    tmux.keys("f");
    let screen = tmux.wait_for(&["filter: deny"]);
    assert!(
        screen.contains("evil.test:") && !screen.contains("api.test:"),
        "{screen}"
    );
    // `/` filters by host; Enter applies it.
    tmux.keys("c/host:api");
    tmux.press("Enter");
    let screen = tmux.wait_for(&["filter: host~api"]);
    assert!(
        screen.contains("api.test:") && !screen.contains("evil.test:"),
        "{screen}"
    );

    // The policy in force, and the supervisor's status.
    tmux.keys("3");
    tmux.wait_for(&["Policy generation 1", "network_policies", "api.test"]);
    tmux.keys("5");
    tmux.wait_for(&["processes", "landlock", "127.0.0.1:3128"]);

    // Approvals: the refused destination waits for the operator once the supervisor
    // serves the approvals API; until then the pane says so (and `a` changes nothing).
    tmux.keys("2");
    let screen = tmux.wait_for(&["Pending approvals"]);
    if screen.contains("no approvals endpoint") {
        tmux.keys("a");
        tmux.wait_for(&["no approvals endpoint"]);
    } else {
        let screen = tmux.wait_for(&["evil.test:"]);
        assert!(screen.contains("Approvals (1)"), "{screen}");
        tmux.keys("a");
        tmux.wait_for(&["approved evil.test:"]);
    }

    // `?` opens help over everything; Esc closes it without quitting.
    tmux.keys("?");
    tmux.wait_for(&["Help: cordon term"]);
    tmux.press("Escape");
    assert!(
        eventually(|| !tmux.screen().contains("Help: cordon term")),
        "{}",
        tmux.screen()
    );
    assert_eq!(tmux.pane("pane_dead"), "0");

    // `q`: back to the shell, and the terminal as it was.
    tmux.keys("q");
    assert_clean(&tmux, &report);
}

/// After `cordon term` ended: exit 0, main screen, cursor visible, cooked mode.
#[track_caller]
fn assert_clean(tmux: &Tmux, report: &Path) {
    assert!(
        eventually(|| report.exists()),
        "cordon term did not end:\n{}",
        tmux.screen()
    );
    let report = std::fs::read_to_string(report).unwrap();
    assert!(report.starts_with("exit=0\n"), "{report}");
    let words: Vec<&str> = report.split_whitespace().collect();
    for mode in ["icanon", "echo", "isig", "opost"] {
        assert!(
            words.contains(&mode),
            "terminal left without {mode}:\n{report}"
        );
    }
    assert_eq!(
        tmux.pane("alternate_on"),
        "0",
        "still on the alternate screen"
    );
    assert_eq!(tmux.pane("cursor_flag"), "1", "cursor left hidden");
    assert!(!tmux.screen().contains("Sandboxes ["), "{}", tmux.screen());
}

#[test]
fn tui_term_rootless_sees_its_own_sandbox() {
    let server = TestServer::start("api");
    let fleet = Fleet::new(Mode::Rootless);
    watched(&fleet, &server);
    let report = fleet.scratch().path().join("report");
    let tmux = Tmux::start(&term_command(&fleet, &report, ""));
    tmux.wait_for(&["Sandboxes [1]", "watched", "running", "evil.test:"]);
    tmux.keys("q");
    assert_clean(&tmux, &report);
}

#[test]
fn tui_term_colours_only_without_no_color() {
    let server = TestServer::start("api");
    let fleet = Fleet::new(Mode::Root);
    watched(&fleet, &server);
    let report = fleet.scratch().path().join("report");
    for (env, coloured) in [("", true), ("NO_COLOR=1", false)] {
        let tmux = Tmux::start(&term_command(&fleet, &report, env));
        tmux.wait_for(&["watched", "running", "evil.test:"]);
        let codes = colour_codes(&tmux.screen_with_escapes());
        assert_eq!(
            !codes.is_empty(),
            coloured,
            "{env:?}: colour codes {codes:?}"
        );
        tmux.keys("q");
        assert_clean(&tmux, &report);
        std::fs::remove_file(&report).unwrap();
    }
}

#[test]
fn tui_term_without_a_terminal_or_with_an_unknown_name_fails_in_one_line() {
    let fleet = Fleet::new(Mode::Root);
    let run = fleet.run(["term"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert!(run.stderr.contains("needs a terminal"), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    let run = fleet.run(["term", "nope"]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("nope"), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
}
