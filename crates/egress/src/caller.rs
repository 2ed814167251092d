//! The caller of a client connection: which process and binary, and whether that
//! binary is still the one first trusted. Found once per client connection (a
//! connection does not change owner in any way the proxy could follow).

use std::net::SocketAddr;
use std::sync::Arc;

use crate::peer::PeerError;
use crate::server::Shared;
use crate::tofu::{BinaryChanged, TrustError};

/// Who is on the other end of a client connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct Caller {
    /// The client's address inside the sandbox.
    pub src: Option<SocketAddr>,
    /// The owning process.
    pub pid: Option<u32>,
    /// Its executable path inside the sandbox, when identified and trusted.
    pub binary: Option<String>,
    /// SHA-256 of that executable.
    pub sha256: Option<String>,
    /// Set when the binary changed since first use: every connection is refused.
    pub changed: Option<BinaryChanged>,
    /// Why the binary is unknown, if it is (for the audit reason).
    pub unknown: Option<String>,
    /// The connection was captured transparently (`transparent.rs`), not sent to the
    /// proxy: every audit line about it says so.
    pub transparent: bool,
}

impl Caller {
    /// Looks the caller up (procfs walk and maybe a hash: runs on the blocking pool).
    pub(crate) async fn identify(
        shared: &Arc<Shared>,
        src: SocketAddr,
        proxy: SocketAddr,
    ) -> Caller {
        let shared = Arc::clone(shared);
        tokio::task::spawn_blocking(move || identify_blocking(&shared, src, proxy))
            .await
            .unwrap_or_else(|err| Caller {
                src: Some(src),
                unknown: Some(format!("caller lookup failed: {err}")),
                ..Caller::default()
            })
    }
}

fn identify_blocking(shared: &Shared, src: SocketAddr, proxy: SocketAddr) -> Caller {
    let mut caller = Caller {
        src: Some(src),
        ..Caller::default()
    };
    let peer = match shared.peers.find(src, proxy) {
        Ok(peer) => peer,
        Err(err @ (PeerError::NoSocket | PeerError::NoOwner | PeerError::Ambiguous(_))) => {
            caller.unknown = Some(err.to_string());
            return caller;
        }
    };
    caller.pid = Some(peer.pid);
    match shared.trust.check(peer.pid, &peer.exe) {
        Ok(sha) => {
            caller.binary = Some(peer.exe);
            caller.sha256 = Some(sha);
        }
        Err(TrustError::Changed(changed)) => {
            caller.sha256 = Some(changed.now.clone());
            caller.binary = Some(peer.exe);
            caller.changed = Some(changed);
        }
        Err(TrustError::Unreadable(why)) => {
            caller.unknown = Some(format!("cannot read the caller's executable: {why}"));
        }
    }
    caller
}
