//! Everyday CLI quality: shell completions and manual pages generated from the clap
//! definition, checked for what a user relies on (the script loads in bash and offers
//! the commands; every command has a page; internals stay hidden), and `NO_COLOR`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Command;

use super::common::{Mode, WorldDir, cordon, cordon_bin, require};

/// The visible top-level commands, from `cordon --help`.
fn commands() -> Vec<String> {
    let help = cordon(Mode::Root, ["--help"]).run();
    let text = help.ok();
    let start = text.find("Commands:").unwrap();
    text[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect()
}

#[test]
fn tui_completions_load_in_bash_and_offer_every_command_but_internals() {
    require("bash");
    let script = cordon(Mode::Root, ["completions", "bash"]).run();
    let script = script.ok();
    assert!(!script.contains("__supervise"));
    let dir = WorldDir::new(false);
    let file = dir.file("cordon.bash", script);
    // Ask bash itself what it would complete after `cordon `.
    let probe = format!(
        "source {}; COMP_WORDS=(cordon ''); COMP_CWORD=1; COMP_LINE='cordon '; COMP_POINT=7; \
         _cordon cordon '' cordon; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let offered = String::from_utf8(out.stdout).unwrap();
    let offered: Vec<&str> = offered.lines().collect();
    for command in commands() {
        assert!(
            offered.contains(&command.as_str()),
            "{command} not offered: {offered:?}"
        );
    }
    assert!(!offered.contains(&"__supervise"));
    // Subcommand arguments too: the shells of `completions` itself.
    let probe = format!(
        "source {}; COMP_WORDS=(cordon completions ''); COMP_CWORD=2; _cordon cordon '' completions; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    let offered = String::from_utf8(out.stdout).unwrap();
    for shell in ["bash", "zsh", "fish"] {
        assert!(offered.lines().any(|l| l == shell), "{offered}");
    }
}

#[test]
fn tui_completions_for_zsh_and_fish_and_a_refused_shell() {
    let zsh = cordon(Mode::Root, ["completions", "zsh"]).run();
    assert!(zsh.ok().starts_with("#compdef cordon"));
    let fish = cordon(Mode::Root, ["completions", "fish"]).run();
    let fish = fish.ok();
    for command in commands() {
        assert!(
            fish.contains(&format!("-a \"{command}\"")),
            "{command} missing from fish"
        );
    }
    assert!(!zsh.stdout.contains("__supervise") && !fish.contains("__supervise"));
    let tcsh = cordon(Mode::Root, ["completions", "tcsh"]).run();
    assert_eq!(tcsh.code, 125, "{tcsh:?}");
    // A closed pipe is not an error (`cordon completions bash | head`).
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} completions bash | head -1 >/dev/null",
            cordon_bin(Mode::Root).display()
        ))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{out:?}"
    );
}

#[test]
fn tui_man_pages_for_cordon_and_every_subcommand() {
    let page = cordon(Mode::Root, ["man"]).run();
    let page = page.ok();
    assert!(page.contains(".TH cordon 1"), "{page}");
    for command in commands() {
        assert!(
            page.contains(&format!("cordon\\-{}(1)", command.replace('-', "\\-"))),
            "{command}"
        );
    }
    let nested = cordon(Mode::Root, ["man", "policy", "set"]).run();
    assert!(
        nested.ok().contains(".TH cordon-policy-set 1"),
        "{nested:?}"
    );
    let unknown = cordon(Mode::Root, ["man", "policy", "nope"]).run();
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(unknown.stderr.contains("cordon policy nope"), "{unknown:?}");

    let dir = WorldDir::new(true);
    let out = dir.path().join("man1");
    cordon(Mode::Root, ["man", "--dir", out.to_str().unwrap()])
        .run()
        .ok();
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert!(files.contains(&"cordon.1".to_owned()));
    assert!(
        files.contains(&"cordon-policy-set.1".to_owned()),
        "{files:?}"
    );
    for command in commands() {
        assert!(
            files.contains(&format!("cordon-{command}.1")),
            "{command}: {files:?}"
        );
    }
    assert!(!files.iter().any(|f| f.contains("supervise")), "{files:?}");
    // Every page is valid roff for man(1): it formats without a warning.
    require("man");
    for file in &files {
        let out = Command::new("man")
            .arg("-l")
            .arg(out.join(file))
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_FORMATTING", "0")
            .output()
            .unwrap();
        assert!(out.status.success(), "{file}: {out:?}");
        assert!(
            out.stderr.is_empty(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty(), "{file}");
    }
}

/// `cordon ... | head -1`: a reader that has gone away ends cordon quietly with 0, as
/// `completions` always did, with no panic or backtrace (Rust ignores SIGPIPE, so a
/// `println!` to a closed pipe panics unless cordon catches it). The allowed twin: the
/// same listing with its reader prints the whole document.
#[test]
fn tui_a_closed_stdout_ends_cordon_quietly() {
    for args in [&["profile", "list", "--json"][..], &["preset", "list"]] {
        let full = cordon(Mode::Root, args).run();
        assert!(full.ok().contains("openclaw") || full.stdout.contains("pypi"));

        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(cordon_bin(Mode::Root))
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

/// The same for `cordon logs` (which streams files rather than printing): a closed
/// stdout is the reader's choice, exit 0 with nothing on stderr; with a reader, the
/// output is all there.
#[test]
fn tui_logs_to_a_closed_stdout_ends_quietly() {
    let fleet = super::lifecycle::Fleet::new(Mode::Root);
    fleet
        .run(["create", "piped", "--", "sh", "-c", "seq 1 5; sleep 300"])
        .ok();
    assert!(super::lifecycle::eventually(|| {
        fleet.run(["logs", "piped"]).stdout.contains("5\n")
    }));
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(cordon_bin(Mode::Root))
        .args(["logs", "piped"])
        .env("XDG_STATE_HOME", fleet.state_home())
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    fleet.run(["rm", "--force", "piped"]).ok();
}
