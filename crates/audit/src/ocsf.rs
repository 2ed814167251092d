//! The JSON shape of an audit line, using OCSF 1.3 field names where a field maps:
//! Network Activity (4001) for tunnels, HTTP Activity (4002) for forwarded requests,
//! DNS Activity (4003) for names the policy DNS refused,
//! Device Config State Change (5019) for policy loads. What OCSF has no field for
//! (cordon's own verb, the numeric policy generation) sits under `unmapped`, as the
//! schema intends. docs/audit.md is the field-by-field reference.

use std::net::IpAddr;

use serde::Serialize;

use crate::event::{
    Action, AuditEvent, ConfigEvent, ConfigOutcome, NetworkEvent, Severity, Transport,
};

/// OCSF schema version the field names follow.
const OCSF_VERSION: &str = "1.3.0";

/// Serialises one event as a single JSON line (with the trailing newline).
pub fn to_json_line(event: &AuditEvent) -> String {
    let mut line = match event {
        AuditEvent::Network(net) => serde_json::to_string(&network(net)),
        AuditEvent::Config(cfg) => serde_json::to_string(&config(cfg)),
        AuditEvent::Dropped { time_ms, count } => serde_json::to_string(&dropped(*time_ms, *count)),
    }
    // Serialising plain structs of strings and numbers cannot fail; keep a line anyway.
    .unwrap_or_else(|err| format!("{{\"error\":\"audit serialisation failed: {err}\"}}"));
    line.push('\n');
    line
}

#[derive(Serialize)]
struct Metadata {
    version: &'static str,
    product: Product,
    log_name: &'static str,
}

#[derive(Serialize)]
struct Product {
    name: &'static str,
    vendor_name: &'static str,
    version: &'static str,
}

fn metadata() -> Metadata {
    Metadata {
        version: OCSF_VERSION,
        product: Product {
            name: "cordon",
            vendor_name: "cordon",
            version: env!("CARGO_PKG_VERSION"),
        },
        log_name: "audit",
    }
}

#[derive(Serialize)]
struct Container<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Endpoint<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<IpAddr>,
    port: u16,
}

#[derive(Serialize)]
struct Hash<'a> {
    algorithm_id: u8,
    algorithm: &'static str,
    value: &'a str,
}

#[derive(Serialize)]
struct File<'a> {
    path: &'a str,
    name: &'a str,
    type_id: u8,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hashes: Vec<Hash<'a>>,
}

#[derive(Serialize)]
struct Process<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<File<'a>>,
}

#[derive(Serialize)]
struct Actor<'a> {
    process: Process<'a>,
}

#[derive(Serialize)]
struct Policy<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    version: String,
}

#[derive(Serialize)]
struct Traffic {
    bytes_out: u64,
    bytes_in: u64,
    bytes: u64,
}

#[derive(Serialize)]
struct ConnectionInfo {
    protocol_name: &'static str,
    direction_id: u8,
    direction: &'static str,
}

#[derive(Serialize)]
struct Url<'a> {
    scheme: &'static str,
    hostname: &'a str,
    port: u16,
    path: &'a str,
}

#[derive(Serialize)]
struct HttpRequest<'a> {
    http_method: &'a str,
    url: Url<'a>,
}

#[derive(Serialize)]
struct HttpResponse {
    code: u16,
}

#[derive(Serialize)]
struct NetworkUnmapped<'a> {
    action: &'static str,
    policy_generation: u64,
    sandbox: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    inference: Option<InferenceUnmapped<'a>>,
    /// Captured transparently (the client ignored the proxy variables).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    transparent: bool,
}

/// Inference routing facts (`route` lines); OCSF has no attributes for them.
#[derive(Serialize)]
struct InferenceUnmapped<'a> {
    provider: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens_in: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens_out: Option<u64>,
    streamed: bool,
}

#[derive(Serialize)]
struct NetworkLine<'a> {
    time: u64,
    start_time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<u64>,
    class_uid: u32,
    class_name: &'static str,
    category_uid: u8,
    category_name: &'static str,
    activity_id: u8,
    activity_name: &'static str,
    type_uid: u32,
    severity_id: u8,
    severity: &'static str,
    action_id: u8,
    action: &'static str,
    disposition_id: u8,
    disposition: &'static str,
    status_id: u8,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_detail: Option<&'a str>,
    metadata: Metadata,
    container: Container<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_endpoint: Option<Endpoint<'a>>,
    dst_endpoint: Endpoint<'a>,
    actor: Actor<'a>,
    policy: Policy<'a>,
    traffic: Traffic,
    connection_info: ConnectionInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_request: Option<HttpRequest<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_response: Option<HttpResponse>,
    unmapped: NetworkUnmapped<'a>,
}

fn severity(sev: Severity) -> (u8, &'static str) {
    match sev {
        Severity::Informational => (1, "Informational"),
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
    }
}

/// OCSF `action_id`/`action` and `disposition_id`/`disposition` for a cordon verb.
fn action_ids(action: Action) -> (u8, &'static str, u8, &'static str) {
    match action {
        Action::Allow => (1, "Allowed", 1, "Allowed"),
        Action::Deny => (2, "Denied", 2, "Blocked"),
        // Traffic passed and was only recorded: OCSF "Observed" / "Logged".
        Action::AuditDeny => (3, "Observed", 17, "Logged"),
        // The destination was rewritten by the router: OCSF "Modified".
        Action::Route => (4, "Modified", 1, "Allowed"),
    }
}

/// OCSF HTTP Activity `activity_id` for a method (4002).
fn http_activity(method: &str) -> (u8, &'static str) {
    match method.to_ascii_uppercase().as_str() {
        "CONNECT" => (1, "Connect"),
        "DELETE" => (2, "Delete"),
        "GET" => (3, "Get"),
        "HEAD" => (4, "Head"),
        "OPTIONS" => (5, "Options"),
        "POST" => (6, "Post"),
        "PUT" => (7, "Put"),
        "TRACE" => (8, "Trace"),
        "PATCH" => (9, "Patch"),
        _ => (99, "Other"),
    }
}

fn network(ev: &NetworkEvent) -> NetworkLine<'_> {
    let (severity_id, severity_name) = severity(ev.severity);
    let (action_id, action, disposition_id, disposition) = action_ids(ev.action);
    let denied = ev.action == Action::Deny;
    let (class_uid, class_name, activity_id, activity_name) = match (&ev.transport, &ev.http) {
        (Transport::Forward, Some(http)) => {
            let (id, name) = http_activity(&http.method);
            (4002, "HTTP Activity", id, name)
        }
        (Transport::Forward, None) => (4002, "HTTP Activity", 99, "Other"),
        // Network Activity: 5 Refuse for denials, 2 Close for a finished tunnel,
        // 1 Open for an allow reported before the end.
        (Transport::Tunnel, _) if denied => (4001, "Network Activity", 5, "Refuse"),
        (Transport::Tunnel, _) if ev.duration_ms.is_some() => {
            (4001, "Network Activity", 2, "Close")
        }
        (Transport::Tunnel, _) => (4001, "Network Activity", 1, "Open"),
        (Transport::Dns, _) => (4003, "DNS Activity", 1, "Query"),
    };
    let file = ev.binary.as_deref().map(|path| File {
        path,
        name: path.rsplit('/').next().unwrap_or(path),
        type_id: 1,
        hashes: ev
            .binary_sha256
            .as_deref()
            .map(|value| Hash {
                algorithm_id: 3,
                algorithm: "SHA-256",
                value,
            })
            .into_iter()
            .collect(),
    });
    NetworkLine {
        time: ev.time_ms,
        start_time: ev.start_ms,
        end_time: ev.duration_ms.map(|_| ev.time_ms),
        duration: ev.duration_ms,
        class_uid,
        class_name,
        category_uid: 4,
        category_name: "Network Activity",
        activity_id,
        activity_name,
        type_uid: class_uid * 100 + u32::from(activity_id),
        severity_id,
        severity: severity_name,
        action_id,
        action,
        disposition_id,
        disposition,
        status_id: if denied { 2 } else { 1 },
        status: if denied { "Failure" } else { "Success" },
        status_detail: ev.reason.as_deref(),
        metadata: metadata(),
        container: Container { name: &ev.sandbox },
        src_endpoint: ev.src.map(|src| Endpoint {
            hostname: None,
            ip: Some(src.ip()),
            port: src.port(),
        }),
        dst_endpoint: Endpoint {
            hostname: Some(&ev.host),
            ip: ev.ip,
            port: ev.port,
        },
        actor: Actor {
            process: Process { pid: ev.pid, file },
        },
        policy: Policy {
            name: ev.entry.as_deref(),
            version: ev.generation.to_string(),
        },
        traffic: Traffic {
            bytes_out: ev.bytes_up,
            bytes_in: ev.bytes_down,
            bytes: ev.bytes_up.saturating_add(ev.bytes_down),
        },
        connection_info: ConnectionInfo {
            protocol_name: if ev.transport == Transport::Dns {
                "udp"
            } else {
                "tcp"
            },
            direction_id: 2,
            direction: "Outbound",
        },
        http_request: ev.http.as_ref().map(|http| HttpRequest {
            http_method: &http.method,
            url: Url {
                scheme: if http.tls { "https" } else { "http" },
                hostname: &ev.host,
                port: ev.port,
                path: &http.path,
            },
        }),
        http_response: ev
            .http
            .as_ref()
            .and_then(|http| http.status)
            .map(|code| HttpResponse { code }),
        unmapped: NetworkUnmapped {
            action: ev.action.as_str(),
            policy_generation: ev.generation,
            sandbox: &ev.sandbox,
            inference: ev.inference.as_ref().map(|info| InferenceUnmapped {
                provider: &info.provider,
                model: info.model.as_deref(),
                tokens_in: info.tokens_in,
                tokens_out: info.tokens_out,
                streamed: info.streamed,
            }),
            transparent: ev.transparent,
        },
    }
}

#[derive(Serialize)]
struct ConfigUnmapped<'a> {
    action: &'static str,
    policy_generation: u64,
    sandbox: &'a str,
    source: &'a str,
}

#[derive(Serialize)]
struct ConfigLine<'a> {
    time: u64,
    class_uid: u32,
    class_name: &'static str,
    category_uid: u8,
    category_name: &'static str,
    activity_id: u8,
    activity_name: &'static str,
    type_uid: u32,
    severity_id: u8,
    severity: &'static str,
    status_id: u8,
    status: &'static str,
    message: &'a str,
    metadata: Metadata,
    container: Container<'a>,
    policy: Policy<'a>,
    unmapped: ConfigUnmapped<'a>,
}

fn config(ev: &ConfigEvent) -> ConfigLine<'_> {
    let applied = ev.outcome == ConfigOutcome::Applied;
    ConfigLine {
        time: ev.time_ms,
        class_uid: 5019,
        class_name: "Device Config State Change",
        category_uid: 5,
        category_name: "Discovery",
        activity_id: 1,
        activity_name: "Log",
        type_uid: 501_901,
        severity_id: if applied { 1 } else { 3 },
        severity: if applied { "Informational" } else { "Medium" },
        status_id: if applied { 1 } else { 2 },
        status: if applied { "Success" } else { "Failure" },
        message: &ev.message,
        metadata: metadata(),
        container: Container { name: &ev.sandbox },
        policy: Policy {
            name: None,
            version: ev.generation.to_string(),
        },
        unmapped: ConfigUnmapped {
            action: if applied {
                "policy-applied"
            } else {
                "policy-rejected"
            },
            policy_generation: ev.generation,
            sandbox: &ev.sandbox,
            source: &ev.source,
        },
    }
}

#[derive(Serialize)]
struct DroppedUnmapped {
    action: &'static str,
    dropped: u64,
}

#[derive(Serialize)]
struct DroppedLine {
    time: u64,
    class_uid: u32,
    class_name: &'static str,
    category_uid: u8,
    category_name: &'static str,
    activity_id: u8,
    activity_name: &'static str,
    type_uid: u32,
    severity_id: u8,
    severity: &'static str,
    message: String,
    metadata: Metadata,
    unmapped: DroppedUnmapped,
}

fn dropped(time_ms: u64, count: u64) -> DroppedLine {
    DroppedLine {
        time: time_ms,
        // Base Event (0): OCSF has no class for "the logger lost events".
        class_uid: 0,
        class_name: "Base Event",
        category_uid: 0,
        category_name: "Uncategorized",
        activity_id: 99,
        activity_name: "Other",
        type_uid: 99,
        severity_id: 3,
        severity: "Medium",
        message: format!("audit writer fell behind: {count} events dropped"),
        metadata: metadata(),
        unmapped: DroppedUnmapped {
            action: "audit_dropped",
            dropped: count,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::HttpInfo;

    fn parse(event: &AuditEvent) -> serde_json::Value {
        let line = to_json_line(event);
        assert!(line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1, "one line per event");
        serde_json::from_str(&line).unwrap()
    }

    #[test]
    fn tunnel_close_maps_to_network_activity() {
        let mut ev = NetworkEvent::new(
            "box",
            3,
            Action::Allow,
            Transport::Tunnel,
            "api.example.com",
            443,
        );
        ev.ip = Some("93.184.216.34".parse().unwrap());
        ev.binary = Some("/usr/bin/curl".into());
        ev.binary_sha256 = Some("ab".repeat(32));
        ev.pid = Some(42);
        ev.entry = Some("github".into());
        ev.bytes_up = 10;
        ev.bytes_down = 20;
        ev.duration_ms = Some(5);
        let v = parse(&ev.into_event());
        assert_eq!(v["class_uid"], 4001);
        assert_eq!(v["activity_name"], "Close");
        assert_eq!(v["type_uid"], 400_102);
        assert_eq!(v["action"], "Allowed");
        assert_eq!(v["unmapped"]["action"], "allow");
        assert_eq!(v["unmapped"]["policy_generation"], 3);
        assert_eq!(v["container"]["name"], "box");
        assert_eq!(v["dst_endpoint"]["hostname"], "api.example.com");
        assert_eq!(v["dst_endpoint"]["ip"], "93.184.216.34");
        assert_eq!(v["dst_endpoint"]["port"], 443);
        assert_eq!(v["actor"]["process"]["pid"], 42);
        assert_eq!(v["actor"]["process"]["file"]["path"], "/usr/bin/curl");
        assert_eq!(v["actor"]["process"]["file"]["name"], "curl");
        assert_eq!(
            v["actor"]["process"]["file"]["hashes"][0]["algorithm_id"],
            3
        );
        assert_eq!(v["policy"]["name"], "github");
        assert_eq!(v["policy"]["version"], "3");
        assert_eq!(v["traffic"]["bytes_out"], 10);
        assert_eq!(v["traffic"]["bytes_in"], 20);
        assert_eq!(v["duration"], 5);
    }

    #[test]
    fn denial_and_audit_deny_dispositions() {
        let ev = NetworkEvent::new("box", 1, Action::Deny, Transport::Tunnel, "evil.test", 443)
            .with_reason("no network_policies endpoint matches this host");
        let v = parse(&ev.into_event());
        assert_eq!(v["activity_name"], "Refuse");
        assert_eq!(v["action_id"], 2);
        assert_eq!(v["disposition"], "Blocked");
        assert_eq!(v["status"], "Failure");
        assert_eq!(
            v["status_detail"],
            "no network_policies endpoint matches this host"
        );

        let ev = NetworkEvent::new("box", 1, Action::AuditDeny, Transport::Tunnel, "x.test", 80);
        let v = parse(&ev.into_event());
        assert_eq!(v["action"], "Observed");
        assert_eq!(v["disposition"], "Logged");
        assert_eq!(v["unmapped"]["action"], "audit-deny");
    }

    #[test]
    fn forward_request_maps_to_http_activity_without_query() {
        let mut ev = NetworkEvent::new("box", 1, Action::Allow, Transport::Forward, "h.test", 8080);
        ev.http = Some(HttpInfo::new("POST", "/upload?key=SECRET", Some(201)));
        let line = to_json_line(&ev.into_event());
        assert!(!line.contains("SECRET"));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["class_uid"], 4002);
        assert_eq!(v["activity_name"], "Post");
        assert_eq!(v["http_request"]["http_method"], "POST");
        assert_eq!(v["http_request"]["url"]["path"], "/upload");
        assert_eq!(v["http_response"]["code"], 201);
        assert_eq!(v["http_request"]["url"]["scheme"], "http");
    }

    #[test]
    fn a_request_read_inside_tls_has_the_https_scheme() {
        let mut ev = NetworkEvent::new("box", 1, Action::Allow, Transport::Forward, "h.test", 443);
        ev.http = Some(HttpInfo::new("GET", "/", Some(200)).over_tls(true));
        let v = parse(&ev.into_event());
        assert_eq!(v["http_request"]["url"]["scheme"], "https");
    }

    #[test]
    fn config_and_dropped_lines() {
        let ev = ConfigEvent::new("box", 4, ConfigOutcome::Rejected, "/p.yaml", "bad port");
        let v = parse(&AuditEvent::Config(ev));
        assert_eq!(v["class_uid"], 5019);
        assert_eq!(v["unmapped"]["action"], "policy-rejected");
        assert_eq!(v["message"], "bad port");
        let v = parse(&AuditEvent::Dropped {
            time_ms: 1,
            count: 7,
        });
        assert_eq!(v["unmapped"]["action"], "audit_dropped");
        assert_eq!(v["unmapped"]["dropped"], 7);
    }
}
