//! Shared generators for cordon's benchmarks (see `benches/`).
//!
//! `generated_policy` writes a realistic large policy (the Foundation issue's
//! 1,000-endpoint mix of exact hosts, wildcards and L7 rules); `connect_probes` and
//! `request_probes` give a fixed mix of allowed and denied lookups against it, so
//! the numbers measure the engine, not the generator.
#![forbid(unsafe_code)]

use std::fmt::Write as _;

/// Endpoints per generated entry.
const PER_ENTRY: usize = 10;

/// YAML of a policy with `endpoints` endpoints: per ten, five exact hosts, one `*.`,
/// one `**.` and one intra-label wildcard, and two `protocol: rest` endpoints with
/// allow rules, a query matcher and a deny rule.
pub fn generated_policy(endpoints: usize) -> String {
    let mut out = String::from("version: 1\nnetwork_policies:\n");
    for entry in 0..endpoints.div_ceil(PER_ENTRY) {
        let _ = writeln!(out, "  svc{entry}:\n    endpoints:");
        for i in 0..PER_ENTRY.min(endpoints - entry * PER_ENTRY) {
            let n = entry * PER_ENTRY + i;
            let _ = match i {
                0..=4 => writeln!(
                    out,
                    "      - {{ host: api{n}.example{entry}.com, ports: [443, 8443] }}"
                ),
                5 => writeln!(
                    out,
                    "      - {{ host: \"*.wild{n}.example.com\", port: 443 }}"
                ),
                6 => writeln!(
                    out,
                    "      - {{ host: \"**.deep{n}.example.org\", port: 443 }}"
                ),
                7 => writeln!(
                    out,
                    "      - {{ host: \"*-api{n}.example.net\", port: 443 }}"
                ),
                _ => writeln!(
                    out,
                    "      - host: rest{n}.example.io\n        port: 443\n        protocol: rest\n        rules:\n          - allow: {{ method: GET, path: \"/v1/repos/**\" }}\n          - allow: {{ method: POST, path: \"/v1/*/issues\", query: {{ state: {{ any: [\"open\", \"closed\"] }} }} }}\n          - allow: {{ method: GET, path: \"/**/info/refs*\" }}\n        deny_rules:\n          - {{ method: \"*\", path: \"/v1/repos/*/secret/**\" }}"
                ),
            };
        }
        let _ = writeln!(
            out,
            "    binaries:\n      - {{ path: /usr/bin/tool{entry} }}\n      - {{ path: /usr/bin/git }}\n      - {{ path: \"/opt/agent{entry}/**\" }}"
        );
    }
    out
}

/// (host, port, binary) lookups: allowed exact/wildcard/L7 hosts, wrong ports,
/// wrong binaries and unknown hosts, spread over the whole policy.
pub fn connect_probes(endpoints: usize) -> Vec<(String, u16, String)> {
    let entries = endpoints.div_ceil(PER_ENTRY);
    let mut probes = Vec::new();
    for k in 0..64 {
        let entry = (k * 37) % entries;
        let base = entry * PER_ENTRY;
        let git = "/usr/bin/git".to_owned();
        probes.push(match k % 8 {
            0 => (format!("API{}.Example{entry}.com", base + 2), 443, git),
            1 => (
                format!("x.wild{}.example.com", base + 5),
                443,
                format!("/opt/agent{entry}/bin/node"),
            ),
            2 => (format!("a.b.c.deep{}.example.org", base + 6), 443, git),
            3 => (format!("eu-west-api{}.example.net", base + 7), 443, git),
            4 => (format!("rest{}.example.io", base + 8), 443, git),
            5 => (format!("api{}.example{entry}.com", base + 1), 80, git),
            6 => (
                format!("api{}.example{entry}.com", base + 3),
                443,
                "/usr/bin/curl".to_owned(),
            ),
            _ => (format!("unknown{k}.example.com"), 443, git),
        });
    }
    probes
}

/// (method, path, query) requests for an L7 endpoint of [`generated_policy`].
pub fn request_probes() -> Vec<(&'static str, &'static str, Option<&'static str>)> {
    vec![
        ("GET", "/v1/repos/acme/widgets/pulls", None),
        ("GET", "/v1/repos/acme/secret/keys", None),
        ("POST", "/v1/acme/issues", Some("state=open&page=2")),
        ("POST", "/v1/acme/issues", Some("state=deleted")),
        (
            "GET",
            "/acme/widgets.git/info/refs",
            Some("service=git-upload-pack"),
        ),
        ("DELETE", "/v1/repos/acme/widgets", None),
        ("GET", "/v1/repos/a%2Fb", None),
    ]
}
