//! Approvals end to end, as root and rootless: a destination no policy entry allows is
//! refused and becomes one pending request (repeats count, they do not add entries);
//! `cordon approve` allows it in the running sandbox with no restart (and with
//! `--save` across `stop`/`start`, without it not); `cordon deny` dismisses it for
//! good; unknown ids fail with exit 1; `hold_on_deny_seconds` lets a waiting curl
//! through when approved in time and refuses it cleanly when not; `--for` expires;
//! captured (transparent) connections become requests too; and `cordon term` under
//! tmux shows the request and approves it with `a`.
//!
//! Traffic goes to test servers on the host's 127.0.0.1 only (`--add-host` points the
//! test names at it); every blocked attempt has an allowed twin.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use serde_json::Value;

use super::common::{MODES, Mode, NOBODY, PYTHON, cordon_bin, policy_yaml, require};
use super::egress_run::network;
use super::egress_run::server::TestServer;
use super::lifecycle::{Fleet, eventually};
use super::tmux::Tmux;

/// Creates sandbox `name` (idle main process) allowing curl to `api.test:port` only,
/// with `extra` appended to the policy; the test names all point at 127.0.0.1.
fn sandbox(fleet: &Fleet, name: &str, port: u16, extra: &str) {
    let yaml = policy_yaml(
        &[],
        &[],
        &format!(
            "{}{extra}",
            network(&[("api", &[("api.test", port)], &["/usr/bin/curl"])])
        ),
    );
    let policy = fleet.scratch().file(&format!("{name}.yaml"), &yaml);
    let mut args = vec![
        "create".to_owned(),
        name.to_owned(),
        "--policy".to_owned(),
        policy.display().to_string(),
    ];
    for host in ["api.test", "evil.test", "other.test", "late.test"] {
        args.extend(["--add-host".to_owned(), format!("{host}:127.0.0.1")]);
    }
    args.extend(["--", "sleep", "3600"].map(String::from));
    fleet.run(&args).ok();
}

/// `curl` inside the sandbox through the proxy: the HTTP status (`000`: no response).
fn fetch(fleet: &Fleet, name: &str, url: &str) -> String {
    fleet
        .run([
            "exec",
            name,
            "--",
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            url,
        ])
        .stdout
}

/// `cordon approvals NAME --json`, parsed.
fn pending(fleet: &Fleet, name: &str) -> Vec<Value> {
    let run = fleet.run(["approvals", name, "--json"]);
    serde_json::from_str(run.ok()).unwrap()
}

/// The pending request for `host`, if any.
fn request_for(fleet: &Fleet, name: &str, host: &str) -> Option<Value> {
    pending(fleet, name).into_iter().find(|r| r["host"] == host)
}

#[test]
fn approvals_approve_allows_without_restart_and_save_survives_stop_start() {
    let server = TestServer::start("origin");
    let p = server.port();
    for mode in MODES {
        let fleet = Fleet::new(mode);
        sandbox(&fleet, "ap", p, "");
        let evil = format!("http://evil.test:{p}/");
        let other = format!("http://other.test:{p}/");

        // Refused, then one pending request whose count grows with each repeat.
        assert_eq!(fetch(&fleet, "ap", &evil), "403", "{mode:?}");
        let list = pending(&fleet, "ap");
        assert_eq!(list.len(), 1, "{mode:?}: {list:?}");
        assert_eq!(list[0]["host"], "evil.test");
        assert_eq!(list[0]["port"], p);
        assert_eq!(list[0]["binary"], "/usr/bin/curl");
        assert_eq!(list[0]["count"], 1);
        assert_eq!(fetch(&fleet, "ap", &evil), "403");
        let list = pending(&fleet, "ap");
        assert_eq!(list.len(), 1, "{mode:?}: a repeat added an entry: {list:?}");
        assert_eq!(list[0]["count"], 2);
        assert!(list[0]["last_seen_ms"].as_u64() >= list[0]["first_seen_ms"].as_u64());
        let id = list[0]["id"].as_str().unwrap().to_owned();
        // The allowed twin is no request.
        assert_eq!(fetch(&fleet, "ap", &format!("http://api.test:{p}/")), "200");
        assert_eq!(pending(&fleet, "ap").len(), 1);

        // The table form.
        let table = fleet.run(["approvals", "ap"]);
        let text = table.ok();
        assert!(
            text.starts_with("ID") && text.contains("BINARY") && text.contains(&id),
            "{text}"
        );

        // An unknown sandbox: exit 1.
        let run = fleet.run(["approvals", "nosuch"]);
        assert_eq!(run.code, 1, "{run:?}");

        // Unknown ids: exit 1 with a message, nothing changes.
        for verb in ["approve", "deny"] {
            let run = fleet.run([verb, "ap", "nope1234"]);
            assert_eq!(run.code, 1, "{mode:?} {verb}: {run:?}");
            assert!(run.stderr.contains("no pending approval"), "{run:?}");
        }

        // Approved: the same curl goes through in the running sandbox.
        let approved = fleet.run(["approve", "ap", &id]);
        assert!(
            approved.ok().contains("policy generation 2 in force"),
            "{approved:?}"
        );
        assert_eq!(fetch(&fleet, "ap", &evil), "200", "{mode:?}");
        assert!(pending(&fleet, "ap").is_empty());
        assert_eq!(fleet.status("ap")["live"]["policy"]["generation"], 2);
        // The narrowest rule: that host and port, that binary; wget-like twins and
        // other ports stay refused (python3 is another binary).
        let python = fleet.run([
            "exec",
            "ap",
            "--",
            "python3",
            "-c",
            &format!(
                "import urllib.request as u\ntry:\n  u.urlopen('{evil}')\n  print('allowed')\nexcept Exception as e:\n  print('refused', getattr(e, 'code', e))"
            ),
        ]);
        assert_eq!(python.ok().trim(), "refused 403", "{mode:?}: {python:?}");

        // Another destination, approved with --save.
        assert_eq!(fetch(&fleet, "ap", &other), "403");
        let other_id = request_for(&fleet, "ap", "other.test").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let saved = fleet.run(["approve", "ap", &other_id, "--save"]);
        assert!(saved.ok().contains("saved"), "{saved:?}");
        assert_eq!(fetch(&fleet, "ap", &other), "200");

        // stop/start: the saved approval is kept, the unsaved one is gone.
        fleet.run(["stop", "ap", "--timeout", "0"]).ok();
        let stopped = fleet.run(["approvals", "ap"]);
        assert_eq!(stopped.code, 1, "{stopped:?}");
        assert!(stopped.stderr.contains("not running"), "{stopped:?}");
        fleet.run(["start", "ap"]).ok();
        assert_eq!(fetch(&fleet, "ap", &other), "200", "{mode:?}");
        assert_eq!(fetch(&fleet, "ap", &evil), "403", "{mode:?}");
        let stored = fleet.run(["policy", "get", "ap"]);
        assert!(
            stored.ok().contains(&format!("approved_other_test_{p}")),
            "{stored:?}"
        );
    }
}

#[test]
fn approvals_deny_dismisses_for_good_and_for_expires() {
    let server = TestServer::start("origin");
    let p = server.port();
    let fleet = Fleet::new(Mode::Root);
    sandbox(&fleet, "dn", p, "");
    let evil = format!("http://evil.test:{p}/");
    let other = format!("http://other.test:{p}/");

    // Dismissed: gone from the list, and the next identical attempt (still refused)
    // does not bring it back.
    assert_eq!(fetch(&fleet, "dn", &evil), "403");
    let id = request_for(&fleet, "dn", "evil.test").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        fleet.run(["deny", "dn", &id]).ok(),
        format!("dn: dismissed {id}\n")
    );
    assert!(pending(&fleet, "dn").is_empty());
    assert_eq!(fetch(&fleet, "dn", &evil), "403");
    assert!(pending(&fleet, "dn").is_empty());
    // Its id is no longer pending.
    assert_eq!(fleet.run(["approve", "dn", &id]).code, 1);

    // --save and --for do not combine (a usage error); a bad duration neither.
    assert_eq!(
        fleet
            .run(["approve", "dn", &id, "--save", "--for", "1m"])
            .code,
        125
    );
    assert_eq!(fleet.run(["approve", "dn", &id, "--for", "soon"]).code, 125);

    // --for: allowed now, refused again once it ran out (a later generation).
    assert_eq!(fetch(&fleet, "dn", &other), "403");
    let other_id = request_for(&fleet, "dn", "other.test").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let approved = fleet.run(["approve", "dn", &other_id, "--for", "2s"]);
    assert!(
        approved.ok().contains("removed again in 2 s"),
        "{approved:?}"
    );
    assert_eq!(fetch(&fleet, "dn", &other), "200");
    assert!(
        eventually(|| fetch(&fleet, "dn", &other) == "403"),
        "the approval never expired"
    );
    assert_eq!(fleet.status("dn")["live"]["policy"]["generation"], 3);
    // The twin: the policy's own entry is untouched by the expiry.
    assert_eq!(fetch(&fleet, "dn", &format!("http://api.test:{p}/")), "200");
    // Temporary: never written to the stored policy.
    let stored = std::fs::read_to_string(fleet.sandbox_dir("dn").join("policy.yaml")).unwrap();
    assert!(!stored.contains("approved_"), "{stored}");
}

/// `curl` in the background (through `cordon exec`), printing `CODE BODY`.
fn fetch_in_background(fleet: &Fleet, name: &str, url: &str) -> std::process::Child {
    fleet.spawn(&["exec", name, "--", "curl", "-s", "-w", " %{http_code}", url])
}

fn finished(child: std::process::Child) -> String {
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn approvals_hold_on_deny_lets_a_waiting_curl_through_or_refuses_it_cleanly() {
    let server = TestServer::start("origin");
    let p = server.port();
    for mode in MODES {
        let fleet = Fleet::new(mode);
        sandbox(
            &fleet,
            "hold",
            p,
            "network_settings:\n  hold_on_deny_seconds: 60\n",
        );

        // Approved while curl waits: the very same request succeeds.
        let waiting = fetch_in_background(&fleet, "hold", &format!("http://evil.test:{p}/x"));
        let mut id = String::new();
        assert!(
            eventually(|| {
                request_for(&fleet, "hold", "evil.test")
                    .map(|r| id = r["id"].as_str().unwrap().to_owned())
                    .is_some()
            }),
            "{mode:?}: the held connection never became a request"
        );
        fleet.run(["approve", "hold", &id]).ok();
        let out = finished(waiting);
        assert_eq!(out, "origin GET /x\n 200", "{mode:?}");

        // Dismissed while curl waits: refused at once, with the usual 403.
        let waiting = fetch_in_background(&fleet, "hold", &format!("http://other.test:{p}/"));
        assert!(
            eventually(|| {
                request_for(&fleet, "hold", "other.test")
                    .map(|r| id = r["id"].as_str().unwrap().to_owned())
                    .is_some()
            }),
            "{mode:?}"
        );
        fleet.run(["deny", "hold", &id]).ok();
        let out = finished(waiting);
        assert!(out.ends_with(" 403"), "{mode:?}: {out}");
        assert!(
            out.contains("policy_denied") && out.contains("dismissed"),
            "{out}"
        );

        // No decision in time: a hold of 1 s (hot-reloaded) ends in the same 403.
        let short = fleet.scratch().file(
            "short.yaml",
            &policy_yaml(
                &[],
                &[],
                &format!(
                    "{}network_settings:\n  hold_on_deny_seconds: 1\n",
                    network(&[("api", &[("api.test", p)], &["/usr/bin/curl"])])
                ),
            ),
        );
        fleet
            .run(["policy", "set", "hold", short.to_str().unwrap(), "--wait"])
            .ok();
        let out = finished(fetch_in_background(
            &fleet,
            "hold",
            &format!("http://late.test:{p}/"),
        ));
        assert!(out.ends_with(" 403"), "{mode:?}: {out}");
        assert!(out.contains("none came"), "{out}");
        assert_eq!(
            request_for(&fleet, "hold", "late.test").unwrap()["count"],
            1
        );
        // The twin under the same policy: an allowed destination is never held.
        assert_eq!(
            fetch(&fleet, "hold", &format!("http://api.test:{p}/")),
            "200"
        );
        // Audited: the held-then-refused and the held-then-allowed connections.
        let audit = fleet.run(["logs", "hold", "--audit"]);
        let text = audit.ok();
        assert!(text.contains("none came"), "{text}");
        assert!(text.contains("until generation"), "{text}");
    }
}

#[test]
fn approvals_cover_transparently_captured_connections() {
    let api = TestServer::start("api");
    let side = TestServer::start("side");
    let (p, q) = (api.port(), side.port());
    for mode in MODES {
        let fleet = Fleet::new(mode);
        sandbox(&fleet, "tp", p, "");
        // curl ignoring the proxy: the policy DNS answers api.test (the policy names
        // it), the connection to port q is captured and refused (no entry for it).
        let direct = |port: u16| {
            fleet
                .run([
                    "exec",
                    "tp",
                    "--",
                    "curl",
                    "-s",
                    "--noproxy",
                    "*",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    &format!("http://api.test:{port}/"),
                ])
                .stdout
        };
        assert_eq!(direct(p), "200", "{mode:?}: the allowed twin");
        assert_eq!(direct(q), "000", "{mode:?}: refused (reset)");
        let request = request_for(&fleet, "tp", "api.test").unwrap();
        assert_eq!(request["port"], q);
        assert_eq!(request["binary"], "/usr/bin/curl");
        fleet
            .run(["approve", "tp", request["id"].as_str().unwrap()])
            .ok();
        assert_eq!(direct(q), "200", "{mode:?}");
        let audit = fleet.run(["logs", "tp", "--audit"]);
        assert!(audit.ok().contains("approval "), "{audit:?}");
    }
}

#[test]
fn approvals_term_shows_a_pending_request_and_a_approves_it() {
    let server = TestServer::start("origin");
    let p = server.port();
    for mode in MODES {
        let fleet = Fleet::new(mode);
        sandbox(&fleet, "tui", p, "");
        let evil = format!("http://evil.test:{p}/");
        assert_eq!(fetch(&fleet, "tui", &evil), "403", "{mode:?}");
        let runner = match mode {
            Mode::Root => String::new(),
            Mode::Rootless => {
                require("setpriv");
                format!("setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups ")
            }
        };
        let tmux = Tmux::start(&format!(
            "env XDG_STATE_HOME={} {runner}{} term; exec sleep 600",
            fleet.state_home().display(),
            cordon_bin(mode).display()
        ));
        tmux.wait_for(&["tui", "running"]);
        tmux.keys("2");
        tmux.wait_for(&["Approvals (1)", "evil.test"]);
        tmux.keys("a");
        tmux.wait_for(&["approved evil.test:"]);
        // Approved from the UI: the same curl now goes through, nothing is pending.
        assert_eq!(fetch(&fleet, "tui", &evil), "200", "{mode:?}");
        assert!(pending(&fleet, "tui").is_empty());
        tmux.keys("q");
    }
}

/// A caller the proxy cannot name (one socket held by two programs: python3 and the
/// `sleep` it handed the socket to before connecting) becomes a request with no
/// binary. Approving it would allow every binary, so `approve` refuses it (blocked)
/// unless `--any-binary` is given (allowed twin: then even curl gets through).
#[test]
fn approvals_an_unidentified_caller_is_approved_only_with_any_binary() {
    require(PYTHON);
    let server = TestServer::start("origin");
    let p = server.port();
    let script = format!(
        "import socket, subprocess\n\
         s = socket.socket()\n\
         s.set_inheritable(True)\n\
         child = subprocess.Popen(['/bin/sleep', '5'], pass_fds=[s.fileno()])\n\
         s.connect(('127.0.0.1', 3128))\n\
         s.sendall(b'GET http://evil.test:{p}/ HTTP/1.1\\r\\nHost: evil.test:{p}\\r\\nConnection: close\\r\\n\\r\\n')\n\
         print(s.recv(100).split(b'\\r\\n')[0].decode())\n\
         child.kill()\n"
    );
    for mode in MODES {
        let fleet = Fleet::new(mode);
        sandbox(&fleet, "anyb", p, "");
        let run = fleet.run(["exec", "anyb", "--", PYTHON, "-c", &script]);
        assert!(run.ok().contains(" 403"), "{mode:?}: {run:?}");
        let request = request_for(&fleet, "anyb", "evil.test").expect("a pending request");
        assert!(request["binary"].is_null(), "{mode:?}: {request}");
        let id = request["id"].as_str().unwrap().to_owned();

        let refused = fleet.run(["approve", "anyb", &id]);
        assert_eq!(refused.code, 125, "{mode:?}: {refused:?}");
        assert!(refused.stderr.contains("--any-binary"), "{refused:?}");
        assert!(request_for(&fleet, "anyb", "evil.test").is_some());
        let evil = format!("http://evil.test:{p}/");
        assert_eq!(fetch(&fleet, "anyb", &evil), "403", "{mode:?}");

        fleet.run(["approve", "anyb", &id, "--any-binary"]).ok();
        assert_eq!(fetch(&fleet, "anyb", &evil), "200", "{mode:?}");
    }
}
