//! `network_policies`: entries, endpoints and binaries.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::{Ctx, field, rules};
use crate::globs;
use crate::host::{self, HostPattern};
use crate::model::{
    Access, BinaryRule, CredentialBinding, Endpoint, Enforcement, NetworkPolicy, Protocol, TlsMode,
};
use crate::raw::{
    RawAccess, RawBinary, RawEndpoint, RawEnforcement, RawEntry, RawProtocol, RawTls, S, loc,
};

pub(super) fn network_policies(
    raw: Option<&BTreeMap<String, S<RawEntry>>>,
    ctx: &mut Ctx,
) -> BTreeMap<String, NetworkPolicy> {
    let mut out = BTreeMap::new();
    for (key, entry) in raw.into_iter().flatten() {
        let path = format!("network_policies.{key}");
        if key.trim().is_empty() {
            ctx.error(
                &path,
                loc(entry),
                "entry key is empty",
                "give the entry a name",
            );
            continue;
        }
        let name = entry
            .value
            .name
            .as_ref()
            .map_or_else(|| key.clone(), |n| n.value.clone());
        let endpoints: Vec<Endpoint> = entry
            .value
            .endpoints
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, e)| endpoint(e, &format!("{path}.endpoints[{i}]"), ctx))
            .collect();
        let binaries: Vec<BinaryRule> = entry
            .value
            .binaries
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, b)| binary(b, &format!("{path}.binaries[{i}]"), ctx))
            .collect();
        if entry.value.endpoints.as_ref().is_none_or(Vec::is_empty) {
            ctx.warn(
                field(&path, "endpoints"),
                loc(entry),
                "entry lists no endpoints, so it allows nothing",
                "add `endpoints: [{host: ..., port: ...}]` or remove the entry",
            );
        }
        if entry.value.binaries.as_ref().is_none_or(Vec::is_empty) {
            ctx.warn(
                field(&path, "binaries"),
                loc(entry),
                "entry lists no binaries; as in OpenShell, an empty list matches no binary, so it allows nothing",
                "add `binaries: [{path: /usr/bin/curl}]`, or `{path: \"/**\"}` for any binary",
            );
        }
        out.insert(
            key.clone(),
            NetworkPolicy {
                name,
                endpoints,
                binaries,
            },
        );
    }
    out
}

fn binary(raw: &S<RawBinary>, path: &str, ctx: &mut Ctx) -> Option<BinaryRule> {
    let Some(value) = &raw.value.path else {
        ctx.error(
            path,
            loc(raw),
            "binary has no `path`",
            "write `{path: /usr/bin/curl}`",
        );
        return None;
    };
    if let Some(harness) = &raw.value.harness {
        ctx.warn(
            field(path, "harness"),
            loc(harness),
            "`harness` is deprecated and has no effect",
            "remove it",
        );
    }
    let field = field(path, "path");
    let text = value.value.as_str();
    if !text.starts_with('/') {
        ctx.error(
            &field,
            loc(value),
            format!("binary path `{text}` is not absolute"),
            "write the executable's absolute real path, e.g. `/usr/bin/python3.11`",
        );
        return None;
    }
    if text.split('/').any(|c| c == "..") {
        ctx.error(
            &field,
            loc(value),
            format!("binary path `{text}` contains `..`"),
            "write the resolved absolute path",
        );
        return None;
    }
    if let Err(err) = globs::binary(text) {
        ctx.error(
            &field,
            loc(value),
            format!("invalid glob `{text}`: {err}"),
            "fix the glob syntax",
        );
        return None;
    }
    Some(BinaryRule {
        path: text.to_owned(),
    })
}

fn endpoint(raw: &S<RawEndpoint>, path: &str, ctx: &mut Ctx) -> Option<Endpoint> {
    let errors_before = ctx.errors.len();
    let e = &raw.value;
    let protocol = e.protocol.as_ref().map(|p| protocol(p, path, ctx));
    let inspected = protocol.is_some_and(Protocol::is_inspected);
    let host = host(raw, protocol, path, ctx);
    let ports = ports(raw, path, ctx);
    let tls = e.tls.as_ref().map(|t| tls(t, inspected, path, ctx));
    let access = e.access.as_ref().map(|a| match a.value {
        RawAccess::ReadOnly => Access::ReadOnly,
        RawAccess::ReadWrite => Access::ReadWrite,
        RawAccess::Full => Access::Full,
    });
    let enforcement = match e.enforcement.as_ref().map(|s| s.value) {
        Some(RawEnforcement::Audit) => Enforcement::Audit,
        Some(RawEnforcement::Enforce) | None => Enforcement::Enforce,
    };
    if protocol == Some(Protocol::Tcp) {
        tcp_rejects_l7(e, path, ctx);
    }
    let (rules, deny_rules) = rules::rules(raw, protocol, path, ctx);
    let selector = e.path.as_ref().and_then(|p| selector(p, path, ctx));
    let allowed_ips = allowed_ips(e, path, ctx);
    let credential_binding = e.credential_binding.as_ref().and_then(|c| {
        match c
            .value
            .provider
            .as_ref()
            .filter(|p| !p.value.trim().is_empty())
        {
            Some(provider) => {
                if !inspected {
                    ctx.warn(
                        field(path, "credential_binding"),
                        loc(c),
                        "credential_binding has no effect on an endpoint cordon does not inspect: its requests are never read, so no placeholder is swapped",
                        "add `protocol: rest` (and no `tls: skip`) so the proxy can swap the placeholder in the request headers",
                    );
                }
                Some(CredentialBinding {
                    provider: provider.value.clone(),
                    json_body: c.value.json_body.as_ref().is_some_and(|b| b.value),
                })
            }
            None => {
                ctx.error(
                    field(path, "credential_binding.provider"),
                    loc(c),
                    "credential_binding needs a non-empty `provider`",
                    "write `credential_binding: {provider: NAME}`",
                );
                None
            }
        }
    });
    if ctx.errors.len() > errors_before {
        return None;
    }
    Some(Endpoint {
        host: host?,
        ports,
        path: selector,
        protocol,
        tls,
        enforcement,
        access,
        rules,
        deny_rules,
        allowed_ips,
        allow_encoded_slash: e.allow_encoded_slash.as_ref().is_some_and(|s| s.value),
        credential_binding,
    })
}

fn protocol(raw: &S<RawProtocol>, path: &str, ctx: &mut Ctx) -> Protocol {
    let protocol = match raw.value {
        RawProtocol::Rest => Protocol::Rest,
        RawProtocol::Websocket => Protocol::Websocket,
        RawProtocol::Tcp => Protocol::Tcp,
        RawProtocol::Graphql => Protocol::Graphql,
        RawProtocol::Mcp => Protocol::Mcp,
        RawProtocol::JsonRpc => Protocol::JsonRpc,
    };
    if matches!(
        protocol,
        Protocol::Graphql | Protocol::Mcp | Protocol::JsonRpc
    ) {
        ctx.warn(
            field(path, "protocol"),
            loc(raw),
            "this protocol is parsed but not yet enforced: the endpoint is an L4 passthrough and its rules are not applied",
            "use `protocol: rest` to inspect HTTP method and path, or accept L4-only control",
        );
    }
    protocol
}

fn host(
    raw: &S<RawEndpoint>,
    protocol: Option<Protocol>,
    path: &str,
    ctx: &mut Ctx,
) -> Option<String> {
    let Some(value) = &raw.value.host else {
        ctx.error(
            path,
            loc(raw),
            "endpoint has no `host`",
            "add `host: api.example.com` (a DNS name, IP address or first-label wildcard)",
        );
        return None;
    };
    let field = field(path, "host");
    match host::parse(&value.value) {
        Err((message, hint)) => {
            ctx.error(field, loc(value), message, hint);
            None
        }
        Ok(pattern) => {
            if protocol == Some(Protocol::Tcp) && !matches!(pattern, HostPattern::Exact(_)) {
                ctx.error(
                    field,
                    loc(value),
                    format!(
                        "`protocol: tcp` needs an exact DNS hostname, not `{}`",
                        value.value
                    ),
                    "name the host exactly (e.g. `db.example.com`), or drop `protocol: tcp` for plain L4",
                );
            }
            Some(pattern.to_string())
        }
    }
}

fn ports(raw: &S<RawEndpoint>, path: &str, ctx: &mut Ctx) -> Vec<u16> {
    let mut out = Vec::new();
    let mut check = |value: &S<i64>, field: String, ctx: &mut Ctx| match u16::try_from(value.value)
    {
        Ok(port) if port > 0 => out.push(port),
        _ => ctx.error(
            field,
            loc(value),
            format!("port {} is outside 1..65535", value.value),
            "use a TCP port from 1 to 65535",
        ),
    };
    match (&raw.value.port, &raw.value.ports) {
        (Some(_), Some(ports)) => ctx.error(
            field(path, "ports"),
            loc(ports),
            "both `port` and `ports` are set",
            "keep one: `port: 443` or `ports: [80, 443]`",
        ),
        (None, None) => ctx.error(
            path,
            loc(raw),
            "endpoint has no `port`",
            "add `port: 443` or `ports: [80, 443]`",
        ),
        (Some(port), None) => check(port, field(path, "port"), ctx),
        (None, Some(ports)) => {
            if ports.value.is_empty() {
                ctx.error(
                    field(path, "ports"),
                    loc(ports),
                    "`ports: []` allows no port",
                    "list at least one port, e.g. `ports: [443]`",
                );
            }
            for (i, port) in ports.value.iter().enumerate() {
                check(port, format!("{path}.ports[{i}]"), ctx);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn tls(raw: &S<RawTls>, inspected: bool, path: &str, ctx: &mut Ctx) -> TlsMode {
    let field = field(path, "tls");
    match raw.value {
        RawTls::Skip => {
            if inspected {
                ctx.error(
                    field,
                    loc(raw),
                    "`tls: skip` on an inspected endpoint: its request rules could never be applied",
                    "remove `tls: skip`, or remove `protocol` to allow the endpoint at L4",
                );
            }
            TlsMode::Skip
        }
        RawTls::Terminate | RawTls::Passthrough => {
            let (mode, word) = if matches!(raw.value, RawTls::Terminate) {
                (TlsMode::Terminate, "terminate")
            } else {
                (TlsMode::Passthrough, "passthrough")
            };
            ctx.warn(
                field,
                loc(raw),
                format!("`tls: {word}` is deprecated and has no effect"),
                "remove it: TLS is terminated automatically for `protocol: rest|websocket` endpoints",
            );
            mode
        }
    }
}

fn tcp_rejects_l7(e: &RawEndpoint, path: &str, ctx: &mut Ctx) {
    let fields = [
        ("path", e.path.as_ref().and_then(loc)),
        ("enforcement", e.enforcement.as_ref().and_then(loc)),
        ("access", e.access.as_ref().and_then(loc)),
        ("rules", e.rules.as_ref().and_then(loc)),
        ("deny_rules", e.deny_rules.as_ref().and_then(loc)),
        (
            "allow_encoded_slash",
            e.allow_encoded_slash.as_ref().and_then(loc),
        ),
    ];
    let present = [
        e.path.is_some(),
        e.enforcement.is_some(),
        e.access.is_some(),
        e.rules.is_some(),
        e.deny_rules.is_some(),
        e.allow_encoded_slash.is_some(),
    ];
    for ((name, at), present) in fields.into_iter().zip(present) {
        if present {
            ctx.error(
                field(path, name),
                at,
                format!("`protocol: tcp` takes no request field, but `{name}` is set"),
                format!("remove `{name}`, or use `protocol: rest` to inspect HTTP"),
            );
        }
    }
}

fn selector(raw: &S<String>, path: &str, ctx: &mut Ctx) -> Option<String> {
    let text = raw.value.as_str();
    let ok = text.is_empty() || text.starts_with('/') || text == "**";
    match globs::PathSelector::new(text) {
        Ok(_) if ok => Some(text.to_owned()),
        Ok(_) => {
            ctx.error(
                field(path, "path"),
                loc(raw),
                format!("endpoint path `{text}` does not start with `/`"),
                "write a path glob such as `/v1/**`",
            );
            None
        }
        Err(err) => {
            ctx.error(
                field(path, "path"),
                loc(raw),
                format!("invalid path glob `{text}`: {err}"),
                "fix the glob syntax",
            );
            None
        }
    }
}

/// Ranges a policy may never open: loopback, link-local (incl. cloud metadata) and
/// the unspecified address, in both families and as IPv4-mapped IPv6.
const BLOCKED: &[(&str, &str)] = &[
    ("127.0.0.0/8", "loopback"),
    ("::1/128", "loopback"),
    ("::ffff:127.0.0.0/104", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("fe80::/10", "link-local"),
    ("::ffff:169.254.0.0/112", "link-local"),
    ("0.0.0.0/32", "the unspecified address 0.0.0.0"),
    ("::/128", "the unspecified address ::"),
    ("::ffff:0.0.0.0/128", "the unspecified address 0.0.0.0"),
];

fn allowed_ips(e: &RawEndpoint, path: &str, ctx: &mut Ctx) -> Vec<IpNet> {
    let mut out = Vec::new();
    for (i, raw) in e.allowed_ips.iter().flat_map(|l| &l.value).enumerate() {
        let field = format!("{path}.allowed_ips[{i}]");
        let text = raw.value.trim();
        let net = text
            .parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from));
        let Ok(net) = net else {
            ctx.error(
                field,
                loc(raw),
                format!("`{text}` is not an IP address or CIDR range"),
                "write an address such as `10.0.0.5` or a range such as `10.20.0.0/16`",
            );
            continue;
        };
        let net = net.trunc();
        let blocked = BLOCKED.iter().find_map(|(range, what)| {
            let range: IpNet = range.parse().ok()?;
            overlaps(&net, &range).then_some(*what)
        });
        if let Some(what) = blocked {
            ctx.error(
                field,
                loc(raw),
                format!("allowed_ips entry `{text}` overlaps {what}, which a policy can never allow"),
                "list only the private or public ranges the service really uses, e.g. `10.20.0.0/16`",
            );
            continue;
        }
        if !out.contains(&net) {
            out.push(net);
        }
    }
    out
}

/// Two CIDR ranges overlap iff one contains the other's network address.
fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}
