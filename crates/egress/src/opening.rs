//! The opening of a captured connection: which name the client's own first bytes
//! claim. A TLS ClientHello carries SNI, an HTTP/1 request a `Host` header; the
//! transparent path checks that name against the one the client resolved through the
//! policy DNS, so a connection to the address of an allowed name cannot carry a
//! request for another host (domain fronting through a shared front end).
//!
//! Server-first protocols (SMTP, MySQL, FTP...) send before the client does: until
//! the client speaks, whatever the destination sends is passed to the client, so
//! waiting for the client's bytes never deadlocks. Nothing the client sent is lost:
//! the bytes read are handed back to be relayed first.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::limits::MAX_REQUEST_HEAD_BYTES;
use crate::tls::{Sniffed, sniff::classify};

/// Most bytes read while looking for a complete ClientHello or request head. At the
/// limit the name is taken as absent (TLS) or the head as unparsable (HTTP) and the
/// connection is refused. Same bound as a request head on the proxy path.
pub const MAX_OPENING_BYTES: usize = MAX_REQUEST_HEAD_BYTES;

/// Read size while waiting for the client's first bytes.
const CHUNK: usize = 16 * 1024;

/// One event while waiting for the client's first bytes.
enum Step {
    Client(usize),
    Destination(usize),
    Idle,
}

/// What the client's first bytes say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    /// A ClientHello; the SNI name if it carries one (lower-case, no trailing dot).
    Tls(Option<String>),
    /// An HTTP/1 request; its `Host` without port (lower-case), if any.
    Http(Option<String>),
    /// Something else: no name to check.
    Other,
    /// A ClientHello or HTTP request head that could not be read (cut short, past
    /// [`MAX_OPENING_BYTES`], or malformed): refused, since its name cannot be checked.
    Unreadable(&'static str),
}

/// The opening: the client's bytes read so far (to relay first) and what they claim.
/// (Destination bytes passed on before the client spoke, a server's banner, are not
/// in the connection's audited byte counts.)
#[derive(Debug)]
pub(crate) struct Opening {
    pub prefix: Vec<u8>,
    pub claim: Claim,
}

/// Waits for the client's first bytes (passing the destination's bytes on meanwhile),
/// then reads until the ClientHello or request head is complete, within `complete_within`.
/// `Ok(None)`: one side closed before the client sent anything.
pub(crate) async fn read_opening(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    idle_limit: Duration,
    complete_within: Duration,
) -> io::Result<Option<Opening>> {
    let mut down = vec![0u8; CHUNK];
    let mut first = vec![0u8; CHUNK];
    // `read` is cancel-safe on both sides: the branch that loses the race read nothing.
    let n = loop {
        let step = tokio::select! {
            read = client.read(&mut first) => Step::Client(read?),
            read = upstream.read(&mut down) => Step::Destination(read?),
            () = tokio::time::sleep(idle_limit) => Step::Idle,
        };
        match step {
            Step::Client(n) => break n,
            Step::Destination(0) => return Ok(None),
            Step::Destination(n) => client.write_all(&down[..n]).await?,
            Step::Idle => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "idle before the client spoke",
                ));
            }
        }
    };
    if n == 0 {
        return Ok(None);
    }
    let mut prefix = first[..n].to_vec();
    let complete = async {
        let mut chunk = vec![0u8; CHUNK];
        while claim(&prefix).is_none() && prefix.len() < MAX_OPENING_BYTES {
            let n = client.read(&mut chunk).await?;
            if n == 0 {
                return Ok::<(), io::Error>(());
            }
            prefix.extend_from_slice(&chunk[..n]);
        }
        Ok(())
    };
    // Timed out, closed half-way or at the size bound: what arrived is judged below.
    if let Ok(Err(err)) = tokio::time::timeout(complete_within, complete).await {
        return Err(err);
    }
    // Still undecided: a ClientHello or head cut short (slowly, or past the size
    // bound) must not slip by unchecked.
    let claim = claim(&prefix).unwrap_or(match classify(&prefix) {
        Sniffed::Tls => Claim::Unreadable("TLS ClientHello"),
        Sniffed::Http => Claim::Unreadable("HTTP request head"),
        Sniffed::Other => Claim::Other,
    });
    Ok(Some(Opening { prefix, claim }))
}

/// What `bytes` claim, or `None` when more bytes are needed to tell.
pub(crate) fn claim(bytes: &[u8]) -> Option<Claim> {
    match classify(bytes) {
        Sniffed::Tls => tls_server_name(bytes).map(Claim::Tls),
        Sniffed::Http => http_host(bytes),
        Sniffed::Other if bytes.len() < 3 => None,
        Sniffed::Other => Some(Claim::Other),
    }
}

/// The SNI of a complete ClientHello (`Some(None)`: complete, no SNI), `None` when
/// incomplete. Parsed by rustls's own acceptor, which never answers: the bytes are
/// only read.
fn tls_server_name(bytes: &[u8]) -> Option<Option<String>> {
    let mut acceptor = rustls::server::Acceptor::default();
    let mut rest = bytes;
    while !rest.is_empty() {
        match acceptor.read_tls(&mut rest) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    match acceptor.accept() {
        Ok(Some(accepted)) => Some(
            accepted
                .client_hello()
                .server_name()
                .map(|name| name.trim_end_matches('.').to_ascii_lowercase()),
        ),
        Ok(None) => None,
        // Not a ClientHello rustls accepts: complete, but no name to go by.
        Err(_) => Some(None),
    }
}

/// The `Host` of a complete request head, `None` when incomplete. Bytes that only
/// looked like HTTP (an SMTP `EHLO`) are [`Claim::Other`].
fn http_host(bytes: &[u8]) -> Option<Claim> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => Some(Claim::Http(
            request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("host"))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .map(host_without_port),
        )),
        Ok(httparse::Status::Partial) => None,
        // A request line ending in an HTTP version is HTTP however malformed the rest:
        // a lenient origin might still read a Host from it.
        Err(_)
            if first_line(bytes).ends_with(b" HTTP/1.1")
                || first_line(bytes).ends_with(b" HTTP/1.0") =>
        {
            Some(Claim::Unreadable("HTTP request head"))
        }
        Err(_) => Some(Claim::Other),
    }
}

fn first_line(bytes: &[u8]) -> &[u8] {
    let end = memchr_crlf(bytes);
    &bytes[..end]
}

fn memchr_crlf(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len())
}

/// `Host: name:port` / `[v6]:port` -> the name, lower-case, without trailing dot.
fn host_without_port(value: &str) -> String {
    let value = value.trim();
    let host = if let Some(rest) = value.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        value.rsplit_once(':').map_or(value, |(host, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                host
            } else {
                value
            }
        })
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real ClientHello for `name`, produced by rustls's client.
    fn client_hello(name: &str) -> Vec<u8> {
        let roots = rustls::RootCertStore::empty();
        let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let server = rustls_pki_types::ServerName::try_from(name.to_owned()).unwrap();
        let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), server).unwrap();
        let mut out = Vec::new();
        conn.write_tls(&mut out).unwrap();
        out
    }

    #[test]
    fn reads_sni_from_a_complete_client_hello_only() {
        let hello = client_hello("API.test");
        assert_eq!(claim(&hello), Some(Claim::Tls(Some("api.test".into()))));
        assert_eq!(claim(&hello[..hello.len() / 2]), None);
        let by_ip = client_hello("127.0.0.1");
        assert_eq!(claim(&by_ip), Some(Claim::Tls(None)));
    }

    #[test]
    fn reads_the_host_header_of_a_complete_head_only() {
        let head = b"GET /x HTTP/1.1\r\nHost: Api.Test:8080\r\nAccept: */*\r\n\r\n";
        assert_eq!(claim(head), Some(Claim::Http(Some("api.test".into()))));
        assert_eq!(claim(&head[..20]), None);
        assert_eq!(
            claim(b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"),
            Some(Claim::Http(Some("::1".into())))
        );
        assert_eq!(claim(b"GET / HTTP/1.0\r\n\r\n"), Some(Claim::Http(None)));
        assert_eq!(claim(b"SSH-2.0-OpenSSH_9.2\r\n"), Some(Claim::Other));
        assert_eq!(claim(b"EHLO mail.test\r\n"), Some(Claim::Other));
        assert_eq!(
            claim(b"GET / HTTP/1.1\r\nHost : evil.test\r\n\r\n"),
            Some(Claim::Unreadable("HTTP request head"))
        );
        assert_eq!(claim(b"SS"), None);
    }

    #[tokio::test]
    async fn server_first_bytes_reach_the_client_before_it_speaks() {
        let client_side = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server_side = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut agent = TcpStream::connect(client_side.local_addr().unwrap())
            .await
            .unwrap();
        let (mut client, _) = client_side.accept().await.unwrap();
        let mut upstream = TcpStream::connect(server_side.local_addr().unwrap())
            .await
            .unwrap();
        let (mut origin, _) = server_side.accept().await.unwrap();
        let agent_task = tokio::spawn(async move {
            let mut banner = [0u8; 9];
            agent.read_exact(&mut banner).await.unwrap();
            assert_eq!(&banner, b"220 hello");
            agent.write_all(b"EHLO x\r\n").await.unwrap();
            agent
        });
        origin.write_all(b"220 hello").await.unwrap();
        let opening = read_opening(
            &mut client,
            &mut upstream,
            Duration::from_secs(10),
            Duration::from_secs(10),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(opening.prefix, b"EHLO x\r\n");
        assert_eq!(opening.claim, Claim::Other);
        drop(agent_task.await.unwrap());
    }
}
