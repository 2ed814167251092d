//! cordon-egress: the only way out of a sandbox. An HTTP proxy served by the
//! supervisor (outside the sandbox) on a listener bound inside the sandbox's network
//! namespace; every CONNECT tunnel and every forwarded request is decided by the one
//! policy engine (cordon-policy) and recorded in the audit log (cordon-audit).
//!
//! What a decision checks, in order: the caller's binary is the one first seen at its
//! path (trust on first use); the policy allows host, port and binary; every address
//! the host resolves to is acceptable (SSRF rules); then the proxy dials exactly a
//! validated address. This crate never reads environment variables, files or globals
//! on its own: the supervisor builds an [`EgressConfig`] and keeps the [`EgressProxy`].
//!
//! # Layout
//! - `server`: config, the accept loop, the connection limit, the [`EgressProxy`] handle.
//! - `connect` / `forward`: CONNECT tunnels; absolute-form HTTP/1.1 forwarding.
//! - `decide`: policy → resolve → SSRF for one destination.
//! - `caller`, `peer`, `sockdiag`, `tofu`: who is calling (socket → inode → process →
//!   binary → digest).
//! - `resolve`, `hosts`, `ssrf`, `dial`: names, pinned names, address rules, connecting.
//! - `relay`: moving tunnel bytes (splice or copy); `body`: counting forwarded bodies.
//! - `generation`, `watch`: reloadable policy generations and the policy file watcher.
//! - `respond`: the proxy's own responses (403 JSON and errors).
//! - `limits`: every bound, with its behaviour at the limit.
//! - `agent_env`: the proxy variables the agent is started with.
//! - `transparent`, `dns_server`, `dns_map`: transparent capture — connections that
//!   ignored the proxy (original destination from `SO_ORIGINAL_DST`), and the policy
//!   DNS whose synthetic addresses map back to names.
//! - `approvals`: destinations refused for want of an entry, pending for the operator
//!   (and `network_settings.hold_on_deny_seconds`, the wait for one, in `decide`).
//! - `credentials`: credential placeholders on requests read in clear (substituted
//!   where the endpoint binds the credential, refused elsewhere).
//! - `inference`: `inference.local`, answered by the inference router (no policy entry).
#![forbid(unsafe_code)]

mod agent_env;
mod approvals;
mod body;
mod caller;
mod connect;
mod credentials;
mod decide;
mod dial;
pub mod dns_map;
mod dns_server;
mod error;
mod forward;
mod generation;
mod hosts;
mod inference;
pub mod l7;
pub mod limits;
mod opening;
mod peer;
mod relay;
mod resolve;
mod respond;
mod server;
mod sockdiag;
pub mod ssrf;
pub mod tls;
mod tofu;
mod transparent;
mod watch;

pub use agent_env::{NO_PROXY, agent_proxy_env};
pub use approvals::{Approvals, PendingRequest};
pub use error::{EgressError, ReloadError};
pub use generation::{Generation, PolicyHandle};
pub use hosts::StaticHosts;
pub use limits::{Limits, raise_descriptor_limit};
pub use peer::PeerScope;
pub use relay::RelayMode;
pub use resolve::DnsMode;
pub use server::{EgressConfig, EgressProxy, EgressStats};
pub use sockdiag::SockDiag;
pub use transparent::TransparentConfig;
pub use watch::{PolicyWatcher, RELOAD_DEBOUNCE, reload_file};
