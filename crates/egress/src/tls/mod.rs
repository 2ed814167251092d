//! TLS for inspected endpoints (`protocol: rest` / `websocket`): the sandbox's own
//! certificate authority, the trust bundle the sandbox sees, per-host leaf
//! certificates, terminating the client's TLS, and a verified TLS client for the
//! upstream side.
//!
//! The trust model in one paragraph: each sandbox gets a fresh CA whose private key
//! stays in the supervisor (file mode 0600, outside every sandbox mount). The sandbox
//! trusts that CA through a combined bundle (system roots + sandbox CA) mounted over
//! the standard bundle paths. When policy needs to see requests, the proxy presents a
//! leaf minted for the host the client asked for, reads the requests in clear, and
//! talks to the real host over a separately verified TLS connection whose certificate
//! errors are never ignored. Endpoints without request rules, and `tls: skip`
//! endpoints, are never terminated.
//!
//! # Layout
//! - `ca`: minting, saving and loading the sandbox CA; its fingerprint.
//! - `bundle`: the combined trust bundle, the paths it is mounted over, the env vars.
//! - `mint`: leaf certificates per host, in a bounded cache.
//! - `sniff` / `rewind`: is this stream TLS? (peek without losing bytes).
//! - `accept`: terminate the client's TLS with a minted leaf, SNI checked.
//! - `upstream`: the verified client configuration and connect helper.
//! - `error`: [`TlsError`].

pub mod accept;
pub mod bundle;
pub mod ca;
mod error;
pub mod mint;
pub mod rewind;
pub mod sniff;
pub mod upstream;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

pub use accept::{AcceptError, Accepted, TlsTerminator};
pub use bundle::{CA_BUNDLE_ENV_VARS, SYSTEM_BUNDLE_PATHS, SystemRoots, TrustBundle};
pub use ca::SandboxCa;
pub use error::TlsError;
pub use mint::{LeafCache, MAX_CACHED_LEAVES};
pub use rewind::Rewind;
pub use sniff::{Sniffed, sniff};
pub use upstream::{UpstreamError, UpstreamTls};

/// The one crypto provider (ring) used for both sides, passed explicitly so no
/// process-wide default has to be installed (another crate in the process could
/// install a different one).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The only application protocol offered on either side: request rules are applied
/// to HTTP/1.1. HTTP/2 is not offered; every mainstream client also offers
/// `http/1.1` and falls back to it, and a client offering only `h2` fails the
/// handshake with a `no_application_protocol` alert instead of bypassing inspection.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";
