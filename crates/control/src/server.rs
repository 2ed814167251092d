//! The server side of the control socket: binding it private, and refusing every
//! connection whose peer is not the supervisor's own user.
//!
//! The 0700 directory already keeps other users out; the uid check is the second lock,
//! and the one that holds against root-owned state directories shared by mistake or a
//! descriptor passed to another user.

use std::future::Future;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use axum::Router;
use tokio::net::{UnixListener, UnixStream};

use crate::error::ControlError;

/// Binds a Unix socket at `path` (replacing a stale one) with mode 0600. Must run inside
/// a tokio runtime.
pub fn bind_control(path: &Path) -> Result<UnixListener, ControlError> {
    let fail = |source| ControlError::Bind {
        path: path.to_owned(),
        source,
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e)),
    }
    let listener = std::os::unix::net::UnixListener::bind(path).map_err(fail)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    listener.set_nonblocking(true).map_err(fail)?;
    UnixListener::from_std(listener).map_err(fail)
}

/// A listener that hands out only connections from processes running as `uid`.
#[derive(Debug)]
pub struct PeerChecked {
    inner: UnixListener,
    uid: u32,
}

impl PeerChecked {
    /// Accepts on `inner`, admitting peers whose uid is `uid`.
    pub fn new(inner: UnixListener, uid: u32) -> PeerChecked {
        PeerChecked { inner, uid }
    }
}

impl axum::serve::Listener for PeerChecked {
    type Io = UnixStream;
    type Addr = tokio::net::unix::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    // Dropping the stream closes it: the peer reads end-of-file.
                    if stream.peer_cred().is_ok_and(|cred| cred.uid() == self.uid) {
                        return (stream, addr);
                    }
                }
                // Out of descriptors or a transient error: back off instead of spinning.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: PeerChecked,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
