//! Relaying an upgraded WebSocket connection with client text messages checked
//! against `WEBSOCKET_TEXT` rules.
//!
//! Client to server: parsed by [`ClientAssembler`]; binary and control frames pass
//! at once, each text message is held until complete, decided, then sent unchanged
//! or refused. Server to client: passed unchanged, but frame boundaries are tracked
//! so that a close frame can be slipped in between two frames. A refused message
//! closes the connection with code 1008 on both sides (the client gets an unmasked
//! close frame, the server a masked one, as each direction requires).

use std::io;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;

use super::ws_frame::{
    CLOSE_POLICY_VIOLATION, ClientAssembler, ClientEvent, ServerFraming, Violation, close_frame,
};

/// After one direction ends, how long the other may take to finish (the closing
/// handshake) before the relay drops both sockets.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Bytes read per call in either direction.
const READ_CHUNK: usize = 16 * 1024;

/// The verdict on one client text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextDecision {
    /// Send it on.
    Allow,
    /// Refuse it and close the connection with 1008; the string says why (sent as
    /// the close reason, so keep it short and free of message content).
    Deny(String),
}

/// How a relay ended.
#[derive(Debug)]
pub enum WsEnd {
    /// Either side closed.
    Closed,
    /// A text message was denied; the connection was closed with 1008.
    Denied(String),
    /// The client broke the protocol; the connection was closed with its code.
    Violation(Violation),
    /// An I/O error on either side.
    Failed(io::Error),
}

/// What passed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WsStats {
    /// Bytes sent to the server.
    pub up: u64,
    /// Bytes sent to the client.
    pub down: u64,
    /// Text messages allowed.
    pub texts: u64,
}

/// Relays until both sides are done (or one is done and [`CLOSE_GRACE`] passed),
/// asking `decide` about every complete client text message.
pub async fn relay_inspected<C, U, F>(client: C, upstream: U, mut decide: F) -> (WsEnd, WsStats)
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
    F: FnMut(&str) -> TextDecision,
{
    let (mut client_read, client_write) = tokio::io::split(client);
    let (upstream_read, mut upstream_write) = tokio::io::split(upstream);
    let (close_tx, close_rx) = oneshot::channel::<Vec<u8>>();
    let mut stats = WsStats::default();

    let up = async {
        let end = client_to_server(
            &mut client_read,
            &mut upstream_write,
            &mut decide,
            &mut stats,
        )
        .await;
        let code = match &end {
            WsEnd::Denied(reason) => Some((CLOSE_POLICY_VIOLATION, reason.clone())),
            WsEnd::Violation(v) => Some((v.code, v.reason.to_owned())),
            WsEnd::Closed | WsEnd::Failed(_) => None,
        };
        if let Some((code, reason)) = code {
            let _ = close_tx.send(close_frame(code, &reason, None));
            let _ = upstream_write
                .write_all(&close_frame(code, &reason, Some(mask_key())))
                .await;
        }
        let _ = upstream_write.shutdown().await;
        (end, stats)
    };
    let down = server_to_client(upstream_read, client_write, close_rx);
    tokio::pin!(up);
    tokio::pin!(down);
    tokio::select! {
        (end, mut stats) = &mut up => {
            if let Ok(Ok(down)) = tokio::time::timeout(CLOSE_GRACE, &mut down).await {
                stats.down = down;
            }
            (end, stats)
        }
        down_result = &mut down => {
            let (end, mut stats) = match tokio::time::timeout(CLOSE_GRACE, &mut up).await {
                Ok(done) => done,
                Err(_) => (WsEnd::Closed, WsStats::default()),
            };
            match down_result {
                Ok(down) => stats.down = down,
                Err(err) if matches!(end, WsEnd::Closed) => return (WsEnd::Failed(err), stats),
                Err(_) => {}
            }
            (end, stats)
        }
    }
}

async fn client_to_server<R, W, F>(
    client: &mut R,
    upstream: &mut W,
    decide: &mut F,
    stats: &mut WsStats,
) -> WsEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    F: FnMut(&str) -> TextDecision,
{
    let mut assembler = ClientAssembler::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let n = match client.read(&mut chunk).await {
            Ok(0) => return WsEnd::Closed,
            // A peer dropping the connection (no TLS close_notify, or a reset once its
            // socket is gone) is an ordinary end; browsers and Python do both.
            Err(err) if is_hangup(&err) => return WsEnd::Closed,
            Ok(n) => n,
            Err(err) => return WsEnd::Failed(err),
        };
        assembler.push(&chunk[..n]);
        loop {
            let send = match assembler.next_event() {
                Ok(None) => break,
                Ok(Some(ClientEvent::Forward(bytes))) => bytes,
                Ok(Some(ClientEvent::Text { text, raw })) => match decide(&text) {
                    TextDecision::Allow => {
                        stats.texts += 1;
                        raw
                    }
                    TextDecision::Deny(reason) => return WsEnd::Denied(reason),
                },
                Ok(Some(ClientEvent::Closed)) => continue,
                Err(violation) => return WsEnd::Violation(violation),
            };
            if let Err(err) = upstream.write_all(&send).await {
                return WsEnd::Failed(err);
            }
            stats.up += send.len() as u64;
        }
    }
}

/// Copies server frames to the client; when `close` delivers a frame, writes it at
/// the next frame boundary (or drops it when a server frame is half written) and
/// ends. Returns the bytes written.
async fn server_to_client<R, W>(
    mut upstream: R,
    mut client: W,
    mut close: oneshot::Receiver<Vec<u8>>,
) -> io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut framing = ServerFraming::default();
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut total = 0u64;
    let mut close_pending = true;
    loop {
        buf.reserve(READ_CHUNK);
        let read = tokio::select! {
            biased;
            frame = &mut close, if close_pending => {
                match frame {
                    Ok(frame) => {
                        if framing.at_boundary() {
                            client.write_all(&frame).await?;
                            total += frame.len() as u64;
                        }
                        let _ = client.shutdown().await;
                        return Ok(total);
                    }
                    Err(_) => {
                        close_pending = false;
                        continue;
                    }
                }
            }
            read = upstream.read_buf(&mut buf) => match read {
                Err(err) if is_hangup(&err) => 0,
                other => other?,
            },
        };
        if read == 0 {
            let _ = client.shutdown().await;
            return Ok(total);
        }
        let n = framing
            .writable(&buf)
            .map_err(|v| io::Error::new(io::ErrorKind::InvalidData, v))?;
        client.write_all(&buf[..n]).await?;
        buf.advance(n);
        total += n as u64;
    }
}

/// End-of-connection errors that mean "the peer went away", not a failure.
fn is_hangup(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

/// A fresh masking key for frames the proxy sends upstream as a client (RFC 6455
/// §5.3 wants them unpredictable).
fn mask_key() -> [u8; 4] {
    let mut key = [0u8; 4];
    if rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut key)
        .is_err()
    {
        key = [0x5a, 0xa5, 0x3c, 0xc3];
    }
    key
}

#[cfg(test)]
#[path = "ws_relay_tests.rs"]
mod tests;
