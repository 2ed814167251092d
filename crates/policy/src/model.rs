//! The normalised, validated policy: what every other layer reads.
//!
//! These types are the output of [`crate::parse_str`] after every default has been
//! filled in and every rule in `docs/policy.md` has been checked, so consumers never
//! re-validate. They serialise back to the OpenShell v1 field names, which makes
//! `cordon policy show` output a policy file that loads unchanged.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Serialize, Serializer};

/// A whole policy file (OpenShell v1 schema plus cordon's own sections).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    /// Schema version; only `1` exists.
    pub version: u32,
    /// What the sandboxed process may read and write.
    pub filesystem_policy: FilesystemPolicy,
    /// How strictly Landlock must be available.
    pub landlock: LandlockPolicy,
    /// Which identity the agent runs as.
    pub process: ProcessPolicy,
    /// Allowed egress, keyed by entry key; an empty map denies all network.
    pub network_policies: BTreeMap<String, NetworkPolicy>,
    /// cordon extension: how the egress layer behaves (transparent capture, hold on deny).
    pub network_settings: NetworkSettings,
    /// cordon extension: the inference route and its budgets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference: Option<InferencePolicy>,
    /// cordon extension: resource limits (all `None` = unlimited).
    pub resources: ResourcesPolicy,
}

/// Filesystem access granted to the sandbox (enforced with Landlock and mounts).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilesystemPolicy {
    /// Grant read-write access to the working directory the agent starts in.
    pub include_workdir: bool,
    /// Absolute paths readable (and executable) but not writable.
    pub read_only: Vec<PathBuf>,
    /// Absolute paths readable and writable.
    pub read_write: Vec<PathBuf>,
}

/// Landlock settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LandlockPolicy {
    /// What to do when the kernel's Landlock cannot express the policy.
    pub compatibility: LandlockCompatibility,
}

/// Whether a kernel without (full) Landlock support is acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LandlockCompatibility {
    /// Apply what the kernel supports; skip missing paths. The OpenShell default.
    #[default]
    BestEffort,
    /// Refuse to start unless every rule can be enforced exactly.
    HardRequirement,
}

/// The identity the agent process runs as inside the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProcessPolicy {
    /// User id inside the sandbox.
    pub run_as_user: IdSpec,
    /// Group id inside the sandbox.
    pub run_as_group: IdSpec,
}

/// A user or group id: the dedicated `sandbox` identity or an explicit number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdSpec {
    /// cordon's unprivileged sandbox identity (the sandbox layer picks the number).
    #[default]
    Sandbox,
    /// An explicit id in `1..=4294967294` (0 = root and `u32::MAX` = "no id" are rejected).
    Id(u32),
}

impl Serialize for IdSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            IdSpec::Sandbox => serializer.serialize_str("sandbox"),
            IdSpec::Id(id) => serializer.serialize_u32(*id),
        }
    }
}

/// cordon extension: resource limits. `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ResourcesPolicy {
    /// Memory ceiling in bytes (`memory: 2GiB` in YAML).
    #[serde(rename = "memory", skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Maximum number of processes/threads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<u64>,
    /// CPU limit in cores, fractional (`1.5` = one and a half cores).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
}

/// Longest `network_settings.hold_on_deny_seconds` a policy may ask for. Validation
/// refuses more: each held connection keeps one of the proxy's connection slots and its
/// client waiting, and five minutes is already longer than most clients wait for a
/// response before giving up themselves.
pub const MAX_HOLD_ON_DENY_SECONDS: u64 = 300;

/// cordon extension: egress behaviour knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NetworkSettings {
    /// Capture all TCP/UDP transparently (not only proxy-aware clients). Default true.
    pub transparent: bool,
    /// Seconds to hold a connection no entry allows, waiting for an operator approval
    /// (`cordon approve`). Default 0 (refuse at once); at most [`MAX_HOLD_ON_DENY_SECONDS`].
    pub hold_on_deny_seconds: u64,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        Self {
            transparent: true,
            hold_on_deny_seconds: 0,
        }
    }
}

/// cordon extension: the inference route and budgets.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct InferencePolicy {
    /// Named provider the route forwards to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Model name forced on requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Request budget per minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_requests_per_minute: Option<u64>,
    /// Token budget per hour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens_per_hour: Option<u64>,
}

/// One `network_policies` entry: which binaries may reach which endpoints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkPolicy {
    /// Display name (defaults to the map key).
    pub name: String,
    /// Destinations this entry allows.
    pub endpoints: Vec<Endpoint>,
    /// Executables allowed to use the endpoints; empty = any binary (see docs/policy.md).
    pub binaries: Vec<BinaryRule>,
}

/// One allowed destination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Endpoint {
    /// Host name, IP literal or first-label wildcard pattern, lowercased.
    pub host: String,
    /// Allowed ports (`port` or `ports` in YAML), sorted, deduplicated, never empty.
    pub ports: Vec<u16>,
    /// Optional URL path prefix glob applied on inspected endpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `None` = plain L4 passthrough.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// TLS handling override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsMode>,
    /// `audit` lets would-be denials through, logging them.
    #[serde(skip_serializing_if = "Enforcement::is_enforce")]
    pub enforcement: Enforcement,
    /// Method preset; mutually exclusive with `rules`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<Access>,
    /// Explicit L7 allow rules.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<L7Rule>,
    /// L7 deny rules; they win over every allow.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny_rules: Vec<L7Match>,
    /// Resolved addresses permitted for this host (private services), beyond public ones.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_ips: Vec<ipnet::IpNet>,
    /// Accept `%2F` inside request paths.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_encoded_slash: bool,
    /// Credential injected by the proxy for this endpoint (used by the credentials work).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_binding: Option<CredentialBinding>,
}

/// Names the credential provider whose secret the proxy injects for an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialBinding {
    /// Provider name, resolved by the credentials layer.
    pub provider: String,
    /// Opt-in (cordon extension): also swap placeholders inside JSON request bodies,
    /// not only in headers. Off by default because it means buffering and rewriting
    /// bodies, and a body is data the agent may legitimately echo back.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub json_body: bool,
}

/// Application protocol of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// HTTP/1.1 REST: inspected, L7 rules apply.
    Rest,
    /// WebSocket upgrade: inspected, L7 rules apply to the upgrade request.
    Websocket,
    /// Raw TCP to a DNS host: no inspection.
    Tcp,
    /// Parsed, not yet enforced beyond L4.
    Graphql,
    /// Parsed, not yet enforced beyond L4.
    Mcp,
    /// Parsed, not yet enforced beyond L4.
    JsonRpc,
}

impl Protocol {
    /// Whether the proxy terminates TLS and applies L7 rules for this protocol.
    pub fn is_inspected(self) -> bool {
        matches!(self, Protocol::Rest | Protocol::Websocket)
    }
}

/// TLS handling of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Never terminate TLS, even on an inspected endpoint.
    Skip,
    /// Deprecated: termination is automatic for inspected endpoints.
    Terminate,
    /// Deprecated: passthrough is automatic for uninspected endpoints.
    Passthrough,
}

/// Whether a failing L7 match blocks the request or only logs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    /// Deny what the rules do not allow.
    #[default]
    Enforce,
    /// Let it through and record an audit denial.
    Audit,
}

impl Enforcement {
    /// The default, left out of `policy show` output.
    fn is_enforce(&self) -> bool {
        *self == Enforcement::Enforce
    }
}

/// Method presets for inspected endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// GET, HEAD, OPTIONS.
    ReadOnly,
    /// Read-only plus POST, PUT, PATCH.
    ReadWrite,
    /// Every method.
    Full,
}

/// `rules: [{allow: {...}}]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct L7Rule {
    /// What this rule allows.
    pub allow: L7Match,
}

/// A request matcher: method, path glob and query matchers; absent parts match anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct L7Match {
    /// HTTP method (uppercased) or `*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Path glob (`*`/`**` may cross `/`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Query parameter matchers; every listed key must be present and match.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, QueryMatcher>,
}

/// Matcher for one query parameter's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum QueryMatcher {
    /// `key: "glob"`.
    Glob(String),
    /// `key: {any: [globs]}`.
    Any {
        /// Alternatives; one must match.
        any: Vec<String>,
    },
}

/// `binaries: [{path}]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BinaryRule {
    /// Absolute executable path or glob (`*` within a component, `**` across).
    pub path: String,
}
