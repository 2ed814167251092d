//! Real clients through the proxy: python3 urllib (forward and CONNECT), git clone
//! over HTTP, wget, and node. Node 20's built-in `fetch` ignores proxy variables (its
//! proxy support arrives with NODE_USE_ENV_PROXY in node 24), so node is driven with
//! `http.request` in absolute form, which is what proxy-aware node libraries do.

use std::process::Command;

use super::common::servers::HttpServer;
use super::common::{Env, run, tool};
use super::forward::any_binary;

fn policy(port: u16) -> String {
    any_binary(&format!(
        "  api:\n    endpoints:\n      - {{ host: api.test, port: {port} }}\n    binaries:\n      - {{ path: \"/**\" }}\n"
    ))
}

#[test]
fn python_urllib_forward_and_tunnel() {
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    let p = srv.port();
    let env = Env::start(&policy(p), &["api.test:127.0.0.1", "evil.test:127.0.0.1"]);
    let script = format!(
        r#"
import http.client, urllib.request, urllib.error
print(urllib.request.urlopen('http://api.test:{p}/py').read().decode().strip())
try:
    urllib.request.urlopen('http://evil.test:{p}/py')
except urllib.error.HTTPError as e:
    print(e.code)
c = http.client.HTTPConnection('{proxy}')
c.set_tunnel('api.test', {p})
c.request('GET', '/tunnelled')
print(c.getresponse().read().decode().strip())
c = http.client.HTTPConnection('{proxy}')
c.set_tunnel('evil.test', {p})
try:
    c.request('GET', '/tunnelled')
except OSError as e:
    print('tunnel refused:', e)
"#,
        proxy = env.addr
    );
    let out = run(Command::new(tool("python3"))
        .args(["-c", &script])
        .env("http_proxy", env.proxy_url()));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..3],
        ["srv GET /py len=0", "403", "srv GET /tunnelled len=0"],
        "{text} {out:?}"
    );
    assert!(
        lines[3].starts_with("tunnel refused:") && lines[3].contains("403"),
        "{text}"
    );
}

#[test]
fn git_clone_over_http_through_the_proxy() {
    let git = tool("git");
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let bare = work.path().join("www/repo.git");
    let sh = |args: &[&str], dir: &std::path::Path| {
        let out = run(Command::new(&git).args(args).current_dir(dir));
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::create_dir_all(&src).unwrap();
    sh(&["init", "-q", "-b", "main"], &src);
    std::fs::write(src.join("README"), "hello through cordon\n").unwrap();
    sh(&["add", "README"], &src);
    sh(
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "-m",
            "init",
        ],
        &src,
    );
    sh(
        &[
            "clone",
            "-q",
            "--bare",
            src.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
        work.path(),
    );
    sh(&["update-server-info"], &bare);

    let srv = HttpServer::serve("git", "127.0.0.1:0", Some(work.path().join("www")));
    let p = srv.port();
    let env = Env::start(&policy(p), &["api.test:127.0.0.1", "evil.test:127.0.0.1"]);
    let clone = work.path().join("clone");
    let out = run(Command::new(&git)
        .args([
            "clone",
            "-q",
            &format!("http://api.test:{p}/repo.git"),
            clone.to_str().unwrap(),
        ])
        .env("http_proxy", env.proxy_url()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(clone.join("README")).unwrap(),
        "hello through cordon\n"
    );

    // Twin: the same repository under a denied name.
    let out = run(Command::new(&git)
        .args([
            "clone",
            "-q",
            &format!("http://evil.test:{p}/repo.git"),
            work.path().join("no").to_str().unwrap(),
        ])
        .env("http_proxy", env.proxy_url()));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = env.audit_for("api.test", 1);
    assert!(
        lines[0]["actor"]["process"]["file"]["path"]
            .as_str()
            .unwrap()
            .contains("git"),
        "{lines:?}"
    );
}

#[test]
fn wget_allowed_and_denied() {
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    let p = srv.port();
    let env = Env::start(&policy(p), &["api.test:127.0.0.1", "evil.test:127.0.0.1"]);
    let wget = |host: &str| {
        run(Command::new(tool("wget"))
            .args([
                "-q",
                "-O",
                "-",
                "--content-on-error",
                &format!("http://{host}:{p}/w"),
            ])
            .env("http_proxy", env.proxy_url()))
    };
    let ok = wget("api.test");
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "srv GET /w len=0\n");
    let denied = wget("evil.test");
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stdout).contains("policy_denied"));
}

#[test]
fn node_http_through_the_proxy() {
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    let p = srv.port();
    let env = Env::start(&policy(p), &["api.test:127.0.0.1", "evil.test:127.0.0.1"]);
    let script = format!(
        r#"
const http = require('http');
function get(host) {{
  return new Promise((resolve) => {{
    http.get({{ host: '127.0.0.1', port: {proxy_port}, path: `http://${{host}}:{p}/node`, headers: {{ Host: `${{host}}:{p}` }} }}, (res) => {{
      let body = '';
      res.on('data', (d) => body += d);
      res.on('end', () => resolve(`${{res.statusCode}} ${{body.trim()}}`));
    }});
  }});
}}
(async () => {{
  console.log(await get('api.test'));
  console.log((await get('evil.test')).split(' ')[0]);
}})();
"#,
        proxy_port = env.addr.port()
    );
    let out = run(Command::new(tool("node")).args(["-e", &script]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200 srv GET /node len=0\n403\n",
        "{out:?}"
    );
}
