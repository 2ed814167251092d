//! Placeholders and `inference.local` beyond one `cordon run`: a named sandbox keeps
//! its placeholder across stop/start without the real key ever reaching its state
//! directory, `cordon status` reports inference usage against the policy's budgets,
//! and transparent capture hands `inference.local` to the router.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use serde_json::Value;

use super::super::common::{MODES, PYTHON, WorldDir, policy_yaml, require};
use super::super::inference_run::Provider;
use super::{Origin, User, bound, entry};

/// Registers the fake inference provider (accepting `user.other_key`) as `fake`.
fn fake_provider(user: &User, provider: &Provider) {
    let url = format!("http://127.0.0.1:{}", provider.port);
    user.cordon(&[
        "provider",
        "create",
        "fake",
        "--type",
        "openai-compatible",
        "--base-url",
        &url,
        "--key-env",
        "OTHER_KEY",
    ])
    .ok();
}

/// Every regular file below `dir`, with its contents.
fn files_below(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let bytes = std::fs::read(&path).unwrap_or_default();
                out.push((path, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
    out
}

#[test]
fn heavy_named_sandbox_keeps_its_placeholder_and_status_shows_inference_usage() {
    require("curl");
    let origin = Origin::start(None);
    let p = origin.port;
    let tail = format!(
        "inference:\n  provider: fake\n  model: route-m\n  max_requests_per_minute: 60\n  \
         max_tokens_per_hour: 1000\nnetwork_policies:\n{}",
        entry("github", &bound("api.test", p, "github", "")),
    );
    for mode in MODES {
        let user = User::new(mode);
        let provider = Provider::start(&user.other_key);
        fake_provider(&user, &provider);
        let work = WorldDir::new(true);
        let policy = work.file("policy.yaml", &policy_yaml(&[], &[], &tail));
        user.cordon(&[
            "create",
            "box",
            "--policy",
            policy.to_str().unwrap(),
            "--secret",
            "TOKEN=github",
            "--add-host",
            "api.test:127.0.0.1",
            "--",
            "/bin/sh",
            "-c",
            "sleep 600",
        ])
        .ok();
        let exec = |path: &str| {
            let script = format!(
                "echo \"token $TOKEN\"; \
                 curl -s -o /dev/null http://inference.local/v1/chat/completions -d '{{}}'; \
                 curl -s -o /dev/null http://inference.local/v1/chat/completions -d '{{}}'; \
                 curl -s -o /dev/null -w 'api %{{http_code}}\\n' -H \"Authorization: Bearer $TOKEN\" http://api.test:{p}{path}"
            );
            let run = user.cordon(&["exec", "box", "--", "/bin/sh", "-c", &script]);
            let out = run.ok().to_owned();
            assert!(out.contains("api 200"), "{mode:?}: {run:#?}");
            out.lines()
                .find_map(|l| l.strip_prefix("token "))
                .unwrap()
                .to_owned()
        };
        let first = exec("/first");
        assert!(first.starts_with("cordon-placeholder-"), "{mode:?}");

        let status = user.cordon(&["status", "box"]);
        let text = status.ok();
        for line in [
            "inference:   fake (openai-compatible) at ",
            ", model route-m",
            "requests:  2 / 60 in the last minute",
            "tokens:    24 / 1000 in the last hour",
            "totals:    2 requests, 0 refused by budget, 10 tokens in, 14 tokens out",
        ] {
            assert!(text.contains(line), "{mode:?}: `{line}` missing:\n{text}");
        }
        let json: Value =
            serde_json::from_str(user.cordon(&["status", "box", "--json"]).ok()).unwrap();
        let inference = &json["live"]["inference"];
        assert_eq!(inference["route"]["provider"], "fake", "{json}");
        assert_eq!(inference["usage"]["requests_total"], 2, "{json}");
        assert_eq!(
            inference["usage"]["limits"]["max_tokens_per_hour"], 1000,
            "{json}"
        );

        // Stop and start: the same placeholder, still swapped for the real key.
        user.cordon(&["stop", "box"]).ok();
        user.cordon(&["start", "box"]).ok();
        let second = exec("/second");
        assert_eq!(
            first, second,
            "{mode:?}: the placeholder changed on restart"
        );
        for path in ["/first", "/second"] {
            assert_eq!(
                origin.request(path).unwrap()["headers"]["authorization"],
                format!("Bearer {}", user.key),
                "{mode:?} {path}"
            );
        }
        let state = files_below(&user.state_dir().join("cordon/sandboxes/box"));
        assert!(
            state
                .iter()
                .any(|(path, text)| path.ends_with("meta.json") && text.contains(&first)),
            "{mode:?}: meta.json keeps the placeholder"
        );
        for (path, text) in &state {
            user.assert_no_key(&path.display().to_string(), text);
        }
        user.cordon(&["rm", "--force", "box"]).ok();
    }
}

/// Asks `inference.local` three ways, each ignoring the proxy variables.
const CAPTURED: &str = r#"
curl -s --noproxy '*' http://inference.local/v1/models; echo
curl -s --noproxy '*' https://inference.local/v1/models; echo
env -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY \
  /usr/bin/python3 -c '
import urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
req = urllib.request.Request("http://inference.local/v1/chat/completions", data=b"{}",
                             headers={"content-type": "application/json"})
print(opener.open(req).read().decode())'
"#;

#[test]
fn transparent_capture_routes_inference_local_to_the_router() {
    require("curl");
    require(PYTHON);
    for mode in MODES {
        let user = User::new(mode);
        let provider = Provider::start(&user.other_key);
        fake_provider(&user, &provider);
        user.cordon(&["inference", "set", "--provider", "fake", "--model", "cap-m"])
            .ok();
        let work = WorldDir::new(true);
        let on = work.file(
            "on.yaml",
            &policy_yaml(&[], &[], "network_settings:\n  transparent: true\n"),
        );
        let run = user.cordon(&[
            "run",
            "--policy",
            on.to_str().unwrap(),
            "--",
            "/bin/sh",
            "-c",
            CAPTURED,
        ]);
        let out = run.ok();
        // The fake provider lists model `m1`; the chat answer names the route's model.
        assert_eq!(out.matches("\"m1\"").count(), 2, "{mode:?}: {run:#?}");
        assert!(out.contains("\"model\": \"cap-m\""), "{mode:?}: {run:#?}");
        let seen = provider.requests();
        assert_eq!(seen.len(), 3, "{mode:?}: {seen:?}");
        for request in &seen {
            assert_eq!(
                request["headers"]["authorization"],
                format!("Bearer {}", user.other_key)
            );
        }
        // The twin: without transparent capture such clients have no way to the name.
        let off = work.file(
            "off.yaml",
            &policy_yaml(&[], &[], "network_settings:\n  transparent: false\n"),
        );
        let run = user.cordon(&[
            "run",
            "--policy",
            off.to_str().unwrap(),
            "--",
            "/bin/sh",
            "-c",
            "curl -s --max-time 5 --noproxy '*' http://inference.local/v1/models; echo \"curl $?\"",
        ]);
        assert!(!run.stdout.contains("m1"), "{mode:?}: {run:#?}");
        assert!(!run.stdout.contains("curl 0"), "{mode:?}: {run:#?}");
        assert_eq!(provider.requests().len(), 3, "{mode:?}");
        user.assert_no_key("cordon's output", &format!("{}{}", run.stdout, run.stderr));
    }
}
