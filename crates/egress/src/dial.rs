//! Connecting to a destination: only the addresses the decision validated, in order,
//! within one overall deadline. Never a name: resolving again here would reopen the
//! DNS-rebinding window the SSRF check closed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http::StatusCode;
use tokio::net::TcpStream;

/// Why no connection could be made, ready for the response and the audit line.
#[derive(Debug)]
pub(crate) struct DialFailure {
    pub status: StatusCode,
    pub code: &'static str,
    pub reason: String,
    /// The last address tried.
    pub ip: Option<IpAddr>,
}

/// Dials `addrs` one after another until one answers or `timeout` passes.
pub(crate) async fn dial(
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<(TcpStream, SocketAddr), DialFailure> {
    let attempt = async {
        let mut last_err = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    // Small requests and interactive protocols must not wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    return Ok((stream, *addr));
                }
                Err(err) => last_err = Some((*addr, err)),
            }
        }
        Err(last_err)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(connected)) => Ok(connected),
        Ok(Err(last)) => {
            let (ip, reason) = match last {
                Some((addr, err)) => (
                    Some(addr.ip()),
                    format!("connecting to {addr} failed: {err}"),
                ),
                None => (None, "no address to connect to".to_owned()),
            };
            Err(DialFailure {
                status: StatusCode::BAD_GATEWAY,
                code: "upstream_connect_failed",
                reason,
                ip,
            })
        }
        Err(_) => Err(DialFailure {
            status: StatusCode::GATEWAY_TIMEOUT,
            code: "upstream_timeout",
            reason: format!("connecting timed out after {} s", timeout.as_secs()),
            ip: addrs.first().map(SocketAddr::ip),
        }),
    }
}
