//! Credential placeholders (`--secret ENV=PROVIDER`) in real sandboxes, as root and
//! rootless: the agent holds an opaque placeholder; a local origin (record_server.py,
//! stdlib python on 127.0.0.1) records every request it receives, so each test asserts
//! on exactly what reached the network. Substituted on inspected requests to endpoints
//! binding the credential (plain-HTTP forward, CONNECT carrying HTTP, TLS-inspected
//! https, plain HTTP captured transparently); refused with 403 and an audit line everywhere else, with nothing sent; JSON
//! bodies only where the binding opts in. The real key is in no log.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod named;

use std::path::Path;

use serde_json::Value;

use super::common::{MODES, Mode, Run, WorldDir, cordon, policy_yaml, require};
use super::egress_run::audit_lines;
use super::recorder::Recorder;

/// A recording origin (record_server.py); killed when dropped.
pub struct Origin(Recorder);

impl std::ops::Deref for Origin {
    type Target = Recorder;
    fn deref(&self) -> &Recorder {
        &self.0
    }
}

impl Origin {
    /// Plain HTTP, or HTTPS with `srv.pem`/`srv.key` from `tls` (see `tls_run::mint`).
    pub fn start(tls: Option<&Path>) -> Origin {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite/credentials/record_server.py");
        Origin(Recorder::start(&script, |record| {
            let mut args = vec![record.into()];
            if let Some(tls) = tls {
                args.push(tls.join("srv.pem").into());
                args.push(tls.join("srv.key").into());
            }
            args
        }))
    }

    /// The last request received for `path`, if any.
    pub fn request(&self, path: &str) -> Option<Value> {
        self.requests()
            .into_iter()
            .rev()
            .find(|r| r["path"] == path)
    }
}

/// A unique real value per call, so any hit is a leak from this test.
pub fn planted(label: &str) -> String {
    let mut raw = [0u8; 12];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut raw))
        .unwrap();
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    format!("{label}_{hex}")
}

/// One user's cordon with its own configuration and state directories, holding the
/// generic credentials `github` (= `key`) and `other`.
pub struct User {
    pub mode: Mode,
    config: WorldDir,
    state: WorldDir,
    pub key: String,
    pub other_key: String,
}

impl User {
    pub fn new(mode: Mode) -> User {
        let user = User {
            mode,
            config: WorldDir::new(true),
            state: WorldDir::new(true),
            key: planted("ghp_planted"),
            other_key: planted("other_planted"),
        };
        for (name, var) in [("github", "KEY"), ("other", "OTHER_KEY")] {
            user.cordon(&[
                "provider",
                "create",
                name,
                "--type",
                "generic",
                "--key-env",
                var,
            ])
            .ok();
        }
        user
    }

    /// `cordon <args>` as this user (its directories, the keys in cordon's own
    /// environment for `provider create`).
    pub fn cordon(&self, args: &[&str]) -> Run {
        cordon(self.mode, args)
            .env("XDG_CONFIG_HOME", self.config.path().to_str().unwrap())
            .env("XDG_STATE_HOME", self.state.path().to_str().unwrap())
            .env("KEY", &self.key)
            .env("OTHER_KEY", &self.other_key)
            .run()
    }

    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// Asserts neither real key appears in `text`.
    #[track_caller]
    pub fn assert_no_key(&self, what: &str, text: &str) {
        assert!(
            !text.contains(&self.key) && !text.contains(&self.other_key),
            "{:?}: a real key leaked into {what}",
            self.mode
        );
    }
}

/// `curl -s -o /dev/null -w 'LABEL %{http_code}\n' ARGS`.
fn curl(label: &str, args: &str) -> String {
    format!("curl -s -o /dev/null -w '{label} %{{http_code}}\\n' {args}; ")
}

/// The status printed for `label`.
fn code<'a>(stdout: &'a str, label: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{label} ")))
        .unwrap_or("missing")
}

/// Audit denials whose reason mentions a placeholder, by request path.
fn placeholder_denials(audit: &Path) -> Vec<(String, String)> {
    audit_lines(audit)
        .into_iter()
        .filter(|l| {
            l["action"] == "Denied"
                && l["status_detail"]
                    .as_str()
                    .is_some_and(|r| r.contains("placeholder refused"))
        })
        .map(|l| {
            (
                l["http_request"]["url"]["path"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                l["status_detail"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// `protocol: rest` endpoint binding `provider` (with `extra` in the binding).
fn bound(host: &str, port: u16, provider: &str, extra: &str) -> String {
    format!(
        "      - {{host: {host}, port: {port}, protocol: rest, access: full, credential_binding: {{provider: {provider}{extra}}}}}\n"
    )
}

fn entry(name: &str, endpoints: &str) -> String {
    format!("  {name}:\n    endpoints:\n{endpoints}    binaries: [{{path: \"/**\"}}]\n")
}

#[test]
fn placeholders_reach_bound_endpoints_only_and_are_refused_elsewhere() {
    require("curl");
    let certs = WorldDir::new(false);
    super::tls_run::mint(&certs);
    let plain = Origin::start(None);
    let tls = Origin::start(Some(certs.path()));
    let (p, t) = (plain.port, tls.port);
    let tail = format!(
        "network_settings:\n  transparent: true\nnetwork_policies:\n{}{}{}",
        entry(
            "github",
            &(bound("api.test", p, "github", "") + &bound("api.test", t, "github", ""))
        ),
        entry("elsewhere", &bound("other.test", p, "other", "")),
        entry(
            "opaque",
            &format!("      - {{host: plain.test, port: {p}}}\n")
        ),
    );
    let auth = "-H \"Authorization: Bearer $TOKEN\"";
    let script = [
        curl("forward", &format!("{auth} http://api.test:{p}/forward")),
        curl("connect", &format!("-p {auth} http://api.test:{p}/connect")),
        curl("tls", &format!("{auth} https://api.test:{t}/tls")),
        curl("basic", &format!("-u \"x-access-token:$TOKEN\" http://api.test:{p}/basic")),
        curl("none", &format!("http://api.test:{p}/none")),
        curl("unbound", &format!("{auth} http://plain.test:{p}/unbound")),
        curl("wrong", &format!("{auth} http://other.test:{p}/wrong")),
        curl("url", &format!("\"http://api.test:{p}/url?token=$TOKEN\"")),
        curl("forged", &format!("-H \"x-api-key: cordon-placeholder-00000000000000000000000000000000\" http://api.test:{p}/forged")),
        curl("opaque", &format!("-p {auth} http://plain.test:{p}/opaque")),
        // Ignoring the proxy: captured transparently, inspected, decided the same way.
        curl("captured", &format!("--noproxy '*' {auth} http://api.test:{p}/captured")),
        curl("captured-wrong", &format!("--noproxy '*' {auth} http://other.test:{p}/captured-wrong")),
        "echo \"token $TOKEN\"".to_owned(),
    ]
    .concat();
    for mode in MODES {
        let user = User::new(mode);
        let work = WorldDir::new(true);
        let policy = work.file("policy.yaml", &policy_yaml(&[], &[], &tail));
        let audit = work.path().join("audit.jsonl");
        let run = user.cordon(&[
            "run",
            "--policy",
            policy.to_str().unwrap(),
            "--audit",
            audit.to_str().unwrap(),
            "--upstream-ca",
            certs.path().join("ca.pem").to_str().unwrap(),
            "--secret",
            "TOKEN=github",
            "--add-host",
            "api.test:127.0.0.1",
            "--add-host",
            "other.test:127.0.0.1",
            "--add-host",
            "plain.test:127.0.0.1",
            "--",
            "/bin/sh",
            "-c",
            &script,
        ]);
        let out = run.ok();
        let placeholder = out
            .lines()
            .find_map(|l| l.strip_prefix("token "))
            .unwrap()
            .to_owned();
        assert!(
            placeholder.starts_with("cordon-placeholder-"),
            "{mode:?}: {out}"
        );
        // Inspected requests to the bound endpoint: the origin sees the real key.
        for (label, origin) in [
            ("forward", &plain),
            ("connect", &plain),
            ("captured", &plain),
            ("tls", &tls),
            ("basic", &plain),
            ("none", &plain),
        ] {
            assert_eq!(code(out, label), "200", "{mode:?} {label}: {run:#?}");
            let seen = origin.request(&format!("/{label}")).unwrap();
            let auth = seen["headers"]["authorization"].as_str().unwrap_or("");
            match label {
                "basic" => assert_eq!(
                    seen["basic"],
                    format!("x-access-token:{}", user.key),
                    "{mode:?}"
                ),
                "none" => assert_eq!(auth, "", "{mode:?}"),
                _ => assert_eq!(auth, format!("Bearer {}", user.key), "{mode:?} {label}"),
            }
        }
        // Anywhere else: 403, and the origin received nothing.
        for label in ["unbound", "wrong", "url", "forged", "captured-wrong"] {
            assert_eq!(code(out, label), "403", "{mode:?} {label}: {run:#?}");
            assert!(
                plain.request(&format!("/{label}")).is_none()
                    && plain.requests().iter().all(|r| {
                        !r["path"]
                            .as_str()
                            .unwrap()
                            .starts_with(&format!("/{label}"))
                    }),
                "{mode:?}: /{label} reached the network"
            );
        }
        let denials = placeholder_denials(&audit);
        for (path, reason) in [
            ("/unbound", "has no credential_binding"),
            ("/wrong", "bound to `other`"),
            ("/url", "URL"),
            ("/forged", "was not given"),
            ("/captured-wrong", "bound to `other`"),
        ] {
            assert!(
                denials.iter().any(|(p, r)| p == path && r.contains(reason)),
                "{mode:?}: no audit denial for {path} ({reason}): {denials:?}"
            );
        }
        // A tunnel that is not inspected is relayed as it is (documented): the
        // destination may see the opaque placeholder, never the real key.
        assert_eq!(code(out, "opaque"), "200", "{mode:?}: {run:#?}");
        assert_eq!(
            plain.request("/opaque").unwrap()["headers"]["authorization"],
            format!("Bearer {placeholder}")
        );
        let audit_text = std::fs::read_to_string(&audit).unwrap();
        assert!(audit_text.contains("credential `github` substituted"));
        user.assert_no_key("cordon's output", &format!("{}{}", run.stdout, run.stderr));
        user.assert_no_key("the audit log", &audit_text);
    }
}

#[test]
fn json_bodies_are_substituted_only_where_the_binding_opts_in() {
    require("curl");
    let origin = Origin::start(None);
    let p = origin.port;
    let tail = format!(
        "network_policies:\n{}{}",
        entry("json", &bound("api.test", p, "github", ", json_body: true")),
        entry("headers", &bound("hdr.test", p, "github", "")),
    );
    let json = "-H 'content-type: application/json' -d \"{\\\"token\\\":\\\"$TOKEN\\\"}\"";
    // A streamed upload far above the size checked whole, the placeholder at its end.
    let big = "head -c 200000 /dev/zero | tr '\\0' a > /tmp/big; echo \"$TOKEN\" >> /tmp/big; ";
    let script = [
        curl("json", &format!("{json} http://api.test:{p}/json")),
        curl(
            "plain",
            &format!("-d 'no placeholder' http://hdr.test:{p}/plain"),
        ),
        curl("refused", &format!("{json} http://hdr.test:{p}/refused")),
        big.to_owned(),
        curl(
            "big",
            &format!("-T /tmp/big -H 'transfer-encoding: chunked' http://hdr.test:{p}/big"),
        ),
    ]
    .concat();
    for mode in MODES {
        let user = User::new(mode);
        let work = WorldDir::new(true);
        let policy = work.file("policy.yaml", &policy_yaml(&[], &[], &tail));
        let audit = work.path().join("audit.jsonl");
        let run = user.cordon(&[
            "run",
            "--policy",
            policy.to_str().unwrap(),
            "--audit",
            audit.to_str().unwrap(),
            "--secret",
            "TOKEN=github",
            "--add-host",
            "api.test:127.0.0.1",
            "--add-host",
            "hdr.test:127.0.0.1",
            "--",
            "/bin/sh",
            "-c",
            &script,
        ]);
        let out = run.ok();
        assert_eq!(code(out, "json"), "200", "{mode:?}: {run:#?}");
        let body: Value =
            serde_json::from_str(origin.request("/json").unwrap()["body"].as_str().unwrap())
                .unwrap();
        assert_eq!(body["token"], user.key.as_str(), "{mode:?}");
        assert_eq!(code(out, "plain"), "200", "{mode:?}: {run:#?}");
        assert_eq!(origin.request("/plain").unwrap()["body"], "no placeholder");
        // Not opted in: a small body is refused before anything is sent.
        assert_eq!(code(out, "refused"), "403", "{mode:?}: {run:#?}");
        assert!(origin.request("/refused").is_none(), "{mode:?}");
        // A streamed body is cut before the frame carrying the placeholder.
        assert_eq!(code(out, "big"), "403", "{mode:?}: {run:#?}");
        if let Some(seen) = origin.request("/big") {
            assert_eq!(seen["complete"], false, "{mode:?}");
            let body = seen["body"].as_str().unwrap();
            assert!(!body.contains("cordon-placeholder"), "{mode:?}");
        }
        let denials = placeholder_denials(&audit);
        for path in ["/refused", "/big"] {
            assert!(
                denials.iter().any(|(p, _)| p == path),
                "{mode:?}: no audit denial for {path}: {denials:?}"
            );
        }
        user.assert_no_key("cordon's output", &format!("{}{}", run.stdout, run.stderr));
        user.assert_no_key("the audit log", &std::fs::read_to_string(&audit).unwrap());
    }
}

#[test]
fn an_unknown_credential_stops_run_and_create_before_anything_starts() {
    for mode in MODES {
        let user = User::new(mode);
        let run = user.cordon(&["run", "--secret", "TOKEN=nosuch", "--", "true"]);
        assert_eq!(run.code, 125, "{mode:?}: {run:#?}");
        assert!(
            run.stderr.contains("no credential `nosuch` is stored"),
            "{run:#?}"
        );
        let run = user.cordon(&["run", "--secret", "TOKEN", "--", "true"]);
        assert_eq!(run.code, 125, "{mode:?}: {run:#?}");
        assert!(run.stderr.contains("ENV_NAME=PROVIDER"), "{run:#?}");
        let run = user.cordon(&["create", "box", "--secret", "T=nosuch", "--", "true"]);
        assert_eq!(run.code, 125, "{mode:?}: {run:#?}");
        assert!(
            !user.state_dir().join("cordon/sandboxes/box").exists(),
            "{mode:?}: create left a sandbox behind"
        );
        // The allowed twin: a stored credential starts.
        let run = user.cordon(&[
            "run",
            "--secret",
            "TOKEN=github",
            "--",
            "/bin/sh",
            "-c",
            "echo $TOKEN",
        ]);
        assert!(run.ok().starts_with("cordon-placeholder-"), "{mode:?}");
        user.assert_no_key("cordon's output", &format!("{}{}", run.stdout, run.stderr));
    }
}
