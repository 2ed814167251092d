//! `inference.local` from inside real sandboxes (`cordon run`), as root and rootless:
//! curl reaches a fake provider (crates/inference/tests/fake_provider.py, stdlib
//! python on 127.0.0.1) through the router with the provider's key, never the
//! caller's; without a route the same request is refused; and a planted key (also
//! given as a `--secret` placeholder) is found nowhere in the sandbox's view
//! (environment, /proc environ and cmdline, every readable file) nor in the audit log or
//! cordon's output.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::Path;

use serde_json::Value;

use super::common::{MODES, Mode, PYTHON, Run, WorldDir, cordon, require};
use super::recorder::Recorder;

/// The fake provider (crates/inference/tests/fake_provider.py); killed when dropped.
pub struct Provider(Recorder);

impl std::ops::Deref for Provider {
    type Target = Recorder;
    fn deref(&self) -> &Recorder {
        &self.0
    }
}

impl Provider {
    /// Starts `fake_provider.py` accepting only `key`.
    pub fn start(key: &str) -> Provider {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../inference/tests/fake_provider.py");
        Provider(Recorder::start(&script, |record| {
            vec![key.into(), record.into()]
        }))
    }
}

/// A unique key per call, so any hit is a leak from this test.
fn planted_key() -> (String, String) {
    let mut raw = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut raw))
        .unwrap();
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    // The fragment searched for inside the sandbox: part of the key, never the key.
    (format!("sk-planted-{hex}"), hex[4..20].to_owned())
}

/// One user's cordon with its own configuration directory holding `key` as provider
/// `fake` (openai-compatible at `provider`), routed by default with model `route-m`.
struct Setup {
    mode: Mode,
    config: WorldDir,
    key: String,
}

impl Setup {
    fn new(mode: Mode, key: &str, provider: Option<&Provider>) -> Setup {
        let setup = Setup {
            mode,
            config: WorldDir::new(true),
            key: key.to_owned(),
        };
        if let Some(provider) = provider {
            let url = format!("http://127.0.0.1:{}", provider.port);
            setup
                .cordon(&[
                    "provider",
                    "create",
                    "fake",
                    "--type",
                    "openai-compatible",
                    "--base-url",
                    &url,
                    "--key-env",
                    "PLANTED",
                ])
                .ok();
            setup
                .cordon(&[
                    "inference",
                    "set",
                    "--provider",
                    "fake",
                    "--model",
                    "route-m",
                ])
                .ok();
        }
        setup
    }

    fn cordon(&self, args: &[&str]) -> Run {
        cordon(self.mode, args)
            .env("XDG_CONFIG_HOME", self.config.path().to_str().unwrap())
            .env("PLANTED", &self.key)
            .run()
    }

    fn cordon_stdin(&self, args: &[&str], input: &str) -> Run {
        cordon(self.mode, args)
            .env("XDG_CONFIG_HOME", self.config.path().to_str().unwrap())
            .env("PLANTED", &self.key)
            .stdin(input.as_bytes())
            .run()
    }
}

fn audit_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn curl_in_the_sandbox_reaches_the_provider_with_its_key_only() {
    require("curl");
    for mode in MODES {
        let (key, _) = planted_key();
        let provider = Provider::start(&key);
        let setup = Setup::new(mode, &key, Some(&provider));
        let out = WorldDir::new(true);
        let audit = out.path().join("audit.jsonl");
        let run = setup.cordon(&[
            "run", "--audit", audit.to_str().unwrap(), "--", "/bin/sh", "-c",
            "curl -s -H 'authorization: Bearer caller-own' -H 'x-api-key: caller-own' -H 'cookie: s=1' \
             -H 'content-type: application/json' http://inference.local/v1/chat/completions \
             -d '{\"model\":\"caller-model\",\"messages\":[]}'; echo; \
             curl -sN http://inference.local/v1/chat/completions -d '{\"stream\":true}'; \
             curl -s -p http://inference.local/v1/models; \
             curl -s https://inference.local/v1/models",
        ]);
        let stdout = run.ok();
        assert!(
            stdout.contains("\"model\": \"route-m\""),
            "{mode:?}: {stdout}"
        );
        assert!(stdout.contains("data: [DONE]"), "{mode:?}: {stdout}");
        // The third request went through a CONNECT tunnel carrying plain HTTP.
        assert!(stdout.contains("\"m1\""), "{mode:?}: {stdout}");

        let seen = provider.requests();
        assert_eq!(seen.len(), 4, "{mode:?}: {seen:?}");
        let headers = &seen[0]["headers"];
        assert_eq!(headers["authorization"], format!("Bearer {key}"));
        for gone in ["x-api-key", "cookie"] {
            assert!(headers.get(gone).is_none(), "{gone} reached the provider");
        }
        let body: Value = serde_json::from_str(seen[0]["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["model"], "route-m");
        let streamed: Value = serde_json::from_str(seen[1]["body"].as_str().unwrap()).unwrap();
        assert_eq!(streamed["stream_options"]["include_usage"], true);

        let lines = audit_lines(&audit);
        let routed: Vec<_> = lines
            .iter()
            .filter(|l| l["unmapped"]["action"] == "route")
            .collect();
        assert_eq!(routed.len(), 4, "{lines:?}");
        assert_eq!(routed[2]["http_request"]["url"]["path"], "/v1/models");
        // The fourth spoke TLS to inference.local (terminated with the sandbox CA).
        assert_eq!(routed[2]["http_request"]["url"]["scheme"], "http");
        assert_eq!(routed[3]["http_request"]["url"]["scheme"], "https");
        for line in &routed[..2] {
            assert_eq!(line["dst_endpoint"]["hostname"], "inference.local");
            assert_eq!(line["actor"]["process"]["file"]["path"], "/usr/bin/curl");
            let info = &line["unmapped"]["inference"];
            assert_eq!(
                (info["provider"].as_str(), info["model"].as_str()),
                (Some("fake"), Some("route-m"))
            );
            assert_eq!(
                (info["tokens_in"].as_u64(), info["tokens_out"].as_u64()),
                (Some(5), Some(7))
            );
        }
        assert_eq!(routed[1]["unmapped"]["inference"]["streamed"], true);
        let everything = format!(
            "{}{}{}",
            run.stdout,
            run.stderr,
            std::fs::read_to_string(&audit).unwrap()
        );
        assert!(!everything.contains(&key), "{mode:?}: the key leaked");
    }
}

#[test]
fn without_a_route_nothing_reaches_the_provider() {
    require("curl");
    for mode in MODES {
        let (key, _) = planted_key();
        let provider = Provider::start(&key);
        // The provider exists and listens, but this user has no route to it.
        let setup = Setup::new(mode, &key, None);
        let url = format!("http://127.0.0.1:{}/v1/models", provider.port);
        let script = format!(
            "curl -s -o /dev/null -w '%{{http_code}}\\n' http://inference.local/v1/models; \
             curl -s -o /dev/null -w '%{{http_code}}\\n' --max-time 5 {url}; \
             curl -s -o /dev/null -w '%{{http_code}}\\n' --max-time 5 --noproxy '' --proxy http://127.0.0.1:3128 {url}"
        );
        let run = setup.cordon(&["run", "--", "/bin/sh", "-c", &script]);
        let codes: Vec<_> = run.stdout.lines().collect();
        // 503 from the router; the provider's own address is unreachable directly
        // (000: nothing listens in the sandbox's loopback) and refused by the proxy.
        assert_eq!(codes, ["503", "000", "403"], "{mode:?}: {run:#?}");
        assert!(provider.requests().is_empty());
    }
}

/// Scans the sandbox's whole view for a fragment read from stdin: the environment,
/// every process's environ and cmdline, every readable regular file outside /proc,
/// /sys and /dev (in `quick` mode: outside /usr too). Makes one inference request
/// first so the router has used the key.
const SCAN: &str = r#"
import json, os, sys, urllib.request
req = urllib.request.Request("http://inference.local/v1/chat/completions", data=b"{}",
                             headers={"content-type": "application/json"})
status = urllib.request.urlopen(req).status
frag = sys.stdin.readline().strip().encode()
assert len(frag) == 16
hits, files = [], 0
for k, v in os.environ.items():
    if frag in (k + "=" + v).encode():
        hits.append("env:" + k)
for pid in os.listdir("/proc"):
    if pid.isdigit():
        for what in ("environ", "cmdline"):
            try:
                with open("/proc/%s/%s" % (pid, what), "rb") as f:
                    if frag in f.read():
                        hits.append("/proc/%s/%s" % (pid, what))
            except OSError:
                pass
skip = {"proc", "sys", "dev"} | ({"usr"} if sys.argv[1] == "quick" else set())
for root, dirs, names in os.walk("/"):
    if root == "/":
        dirs[:] = [d for d in dirs if d not in skip]
    for name in names:
        path = os.path.join(root, name)
        try:
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        files += 1
        if frag in data:
            hits.append(path)
print(json.dumps({"status": status, "files": files, "hits": hits,
                  "token": os.environ.get("FAKE_TOKEN", "")}))
"#;

#[test]
fn the_planted_key_is_nowhere_in_the_sandbox_or_the_logs() {
    for mode in MODES {
        let (key, fragment) = planted_key();
        let provider = Provider::start(&key);
        let setup = Setup::new(mode, &key, Some(&provider));
        let work = WorldDir::new(true);
        work.file("scan.py", SCAN);
        let audit = work.path().join("audit.jsonl");
        // The whole view once (root); the rootless run skips /usr to keep the suite fast.
        let depth = if mode == Mode::Root { "full" } else { "quick" };
        let run = setup.cordon_stdin(
            &[
                "run",
                "-i",
                "-v",
                "--audit",
                audit.to_str().unwrap(),
                "--workdir",
                work.path().to_str().unwrap(),
                "--env",
                "HOME=/sandbox",
                // The same credential as a `--secret` placeholder: still nowhere inside.
                "--secret",
                "FAKE_TOKEN=fake",
                "--",
                PYTHON,
                "/sandbox/scan.py",
                depth,
            ],
            &format!("{fragment}\n"),
        );
        let report: Value =
            serde_json::from_str(run.ok().trim()).unwrap_or_else(|e| panic!("{e}: {run:#?}"));
        assert_eq!(report["status"], 200, "{mode:?}");
        assert!(
            report["token"]
                .as_str()
                .is_some_and(|t| t.starts_with("cordon-placeholder-")),
            "{mode:?}: {report}"
        );
        assert!(
            report["files"].as_u64().unwrap() > 100,
            "{mode:?}: the scan saw too little: {report}"
        );
        assert_eq!(
            report["hits"],
            serde_json::json!([]),
            "{mode:?}: key material inside the sandbox"
        );
        assert_eq!(
            provider.requests()[0]["headers"]["authorization"],
            format!("Bearer {key}")
        );
        let logs = format!(
            "{}{}{}",
            run.stdout,
            run.stderr,
            std::fs::read_to_string(&audit).unwrap()
        );
        assert!(logs.contains("inference.local"), "the request was audited");
        assert!(
            !logs.contains(&key) && !logs.contains(&fragment),
            "{mode:?}: the key reached a log"
        );
    }
}
