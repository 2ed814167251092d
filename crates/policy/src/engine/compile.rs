//! Building a [`CompiledPolicy`]: host indexes, binary glob sets, L7 matchers.

use globset::GlobSetBuilder;

use super::index::HostIndex;
use super::request::L7Endpoint;
use super::{BinaryMatcher, CompiledEndpoint, CompiledEntry, CompiledPolicy, EndpointMatcher};
use crate::error::{PolicyError, Problem};
use crate::globs;
use crate::host;
use crate::model::{NetworkPolicy, Policy, Protocol, TlsMode};

pub(super) fn compile(policy: &Policy) -> Result<CompiledPolicy, PolicyError> {
    let mut problems = Vec::new();
    let mut entries = Vec::new();
    let mut endpoints = Vec::new();
    let mut matchers = Vec::new();
    for (entry_index, (key, entry)) in policy.network_policies.iter().enumerate() {
        let entry_id = u32::try_from(entry_index).unwrap_or(u32::MAX);
        match binaries(entry) {
            Ok(binaries) => entries.push(CompiledEntry {
                key: key.clone(),
                binaries,
            }),
            Err(message) => {
                problems.push(Problem::new(
                    format!("network_policies.{key}.binaries"),
                    message,
                ));
                continue;
            }
        }
        for (index, endpoint) in entry.endpoints.iter().enumerate() {
            let field = format!("network_policies.{key}.endpoints[{index}]");
            let host = match host::parse(&endpoint.host) {
                Ok(host) => host,
                Err((message, hint)) => {
                    problems.push(Problem::new(format!("{field}.host"), message).hint(hint));
                    continue;
                }
            };
            let l7 = match L7Endpoint::compile(endpoint) {
                Ok(l7) => l7,
                Err(message) => {
                    problems.push(Problem::new(field, message));
                    continue;
                }
            };
            let inspect = l7.inspect;
            endpoints.push(CompiledEndpoint {
                entry: key.clone(),
                index,
                host: host.to_string(),
                ports: endpoint.ports.clone(),
                protocol: endpoint.protocol,
                tls: endpoint.tls,
                enforcement: endpoint.enforcement,
                allowed_ips: endpoint.allowed_ips.clone(),
                host_is_exact: host.is_exact(),
                inspect,
                allow_encoded_slash: endpoint.allow_encoded_slash,
            });
            matchers.push(EndpointMatcher {
                entry: entry_id,
                host,
                ports: endpoint.ports.clone(),
                l7,
            });
        }
    }
    if !problems.is_empty() {
        return Err(PolicyError { problems });
    }
    link_path_siblings(&mut matchers);
    let mut compiled = CompiledPolicy {
        policy: policy.clone(),
        endpoints,
        matchers,
        entries,
        hosts: HostIndex::default(),
    };
    index_hosts(&mut compiled);
    Ok(compiled)
}

fn binaries(entry: &NetworkPolicy) -> Result<BinaryMatcher, String> {
    let mut builder = GlobSetBuilder::new();
    let mut any = false;
    for rule in &entry.binaries {
        any |= rule.path == "/**" || rule.path == "**";
        builder.add(
            globs::binary_glob(&rule.path)
                .map_err(|err| format!("invalid binary glob `{}`: {err}", rule.path))?,
        );
        if let Some(target) = symlink_target(&rule.path) {
            builder.add(
                globs::binary_glob(&globset::escape(&target))
                    .map_err(|err| format!("invalid binary glob `{target}`: {err}"))?,
            );
        }
    }
    let set = builder
        .build()
        .map_err(|err| format!("binary globs do not compile together: {}", err.kind()))?;
    Ok(BinaryMatcher { set, any })
}

/// Where a literal binary path leads when it is (or passes through) a symlink: the
/// egress layer reports the executable the kernel ran (`/proc/PID/exe`, always the
/// resolved file), while OpenShell policies name what users type (`/usr/bin/python3`
/// -> `python3.11`, `/bin/curl` -> `/usr/bin/curl`). As in OpenShell, a listed link
/// also admits its target. Resolved on the host, whose system trees the sandbox
/// shows at the same paths; glob patterns and paths that do not exist here are left
/// as written. Two limits keep this from widening a policy:
/// - every symlink on the way and the target belong to root: links the system
///   installed, never ones an agent made (it cannot own a file as root) in a tree it
///   can write, to point a listed name at a program of its choice;
/// - the target's name starts with the link's (`python3` -> `python3.11`): a link to a
///   multi-call binary (`wget` -> `busybox`) would admit every program it contains.
fn symlink_target(path: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    if path.contains(['*', '?', '[', '{']) {
        return None;
    }
    let listed = std::path::Path::new(path);
    let links_are_roots = listed.ancestors().all(|prefix| {
        std::fs::symlink_metadata(prefix)
            .is_ok_and(|meta| !meta.file_type().is_symlink() || meta.uid() == 0)
    });
    if !links_are_roots {
        return None;
    }
    let resolved = std::fs::canonicalize(path).ok()?;
    if resolved.as_os_str() == path || std::fs::metadata(&resolved).ok()?.uid() != 0 {
        return None;
    }
    let (name, target) = (
        listed.file_name()?.to_str()?,
        resolved.file_name()?.to_str()?,
    );
    if !target.starts_with(name) {
        return None;
    }
    resolved.to_str().map(str::to_owned)
}

/// Endpoints of one entry with the same host pattern and overlapping ports form a
/// group; an endpoint `path` selects among them per request.
fn link_path_siblings(matchers: &mut [EndpointMatcher]) {
    let len = matchers.len();
    for i in 0..len {
        let mut group = Vec::new();
        let mut any_selector = false;
        for j in 0..len {
            let (a, b) = (&matchers[i], &matchers[j]);
            let same = a.entry == b.entry
                && a.host == b.host
                && a.ports.iter().any(|p| b.ports.contains(p))
                && (i == j || b.l7.inspect);
            if same {
                any_selector |= b.l7.has_selector();
                group.push(u32::try_from(j).unwrap_or(u32::MAX));
            }
        }
        if !any_selector {
            group.clear();
        }
        matchers[i].l7.siblings = group;
    }
}

/// Fills the host index; each candidate list sorted inspected-first so
/// `decide_connect` can stop at the first allow in a list.
fn index_hosts(compiled: &mut CompiledPolicy) {
    for (id, matcher) in compiled.matchers.iter().enumerate() {
        let id = u32::try_from(id).unwrap_or(u32::MAX);
        compiled.hosts.insert(&matcher.host, id);
    }
    let matchers = &compiled.matchers;
    compiled
        .hosts
        .sort_lists(|id| (!matchers[id as usize].l7.inspect, id));
}

/// Whether the proxy inspects this endpoint: rest/websocket and not `tls: skip`.
pub(super) fn is_inspected(protocol: Option<Protocol>, tls: Option<TlsMode>) -> bool {
    protocol.is_some_and(Protocol::is_inspected) && tls != Some(TlsMode::Skip)
}
