//! Real handshakes, in process (rustls client against the terminator) and with real
//! tools (curl, python3) against a loopback listener.

use std::process::Command;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::tls::{SandboxCa, UpstreamError, UpstreamTls};

fn terminator() -> TlsTerminator {
    let ca = Arc::new(SandboxCa::generate().unwrap());
    TlsTerminator::new(Arc::new(LeafCache::new(ca)))
}

fn client_trusting(ca: &SandboxCa, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der().clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Serves one connection: terminate, then echo one line back.
async fn serve_once(
    term: TlsTerminator,
    io: tokio::io::DuplexStream,
    target: &'static str,
) -> Result<Option<String>, AcceptError> {
    let mut accepted = term.accept(io, target).await?;
    let mut buf = [0u8; 5];
    accepted.stream.read_exact(&mut buf).await.unwrap();
    accepted.stream.write_all(&buf).await.unwrap();
    accepted.stream.flush().await.unwrap();
    Ok(accepted.sni)
}

#[tokio::test]
async fn terminates_with_a_leaf_for_the_connect_target() {
    let term = terminator();
    let ca = Arc::clone(term.leaves().ca());
    let (client_io, server_io) = tokio::io::duplex(16 * 1024);
    let server = tokio::spawn(serve_once(term.clone(), server_io, "API.example.com."));
    let name = ServerName::try_from("api.example.com").unwrap();
    let mut tls = client_trusting(&ca, &[b"h2", b"http/1.1"])
        .connect(name, client_io)
        .await
        .unwrap();
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(&b"http/1.1"[..]),
        "ALPN is forced to http/1.1"
    );
    tls.write_all(b"hello").await.unwrap();
    let mut back = [0u8; 5];
    tls.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"hello");
    assert_eq!(
        server.await.unwrap().unwrap(),
        Some("api.example.com".into())
    );
}

#[tokio::test]
async fn refuses_sni_naming_another_host() {
    let term = terminator();
    let ca = Arc::clone(term.leaves().ca());
    let (client_io, server_io) = tokio::io::duplex(16 * 1024);
    let server = tokio::spawn(serve_once(term, server_io, "allowed.example.com"));
    let name = ServerName::try_from("evil.example.com").unwrap();
    let client = client_trusting(&ca, &[]).connect(name, client_io).await;
    assert!(client.is_err());
    let err = server.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, AcceptError::SniMismatch { sni, target } if sni == "evil.example.com" && target == "allowed.example.com"),
        "{err}"
    );
}

#[tokio::test]
async fn accepts_no_sni_for_an_ip_target() {
    let term = terminator();
    let ca = Arc::clone(term.leaves().ca());
    let (client_io, server_io) = tokio::io::duplex(16 * 1024);
    let server = tokio::spawn(serve_once(term, server_io, "127.0.0.1"));
    // rustls never sends an IP address as SNI: this is a no-SNI ClientHello, and the
    // leaf must carry the IP as a SAN for verification to pass.
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = client_trusting(&ca, &[])
        .connect(name, client_io)
        .await
        .unwrap();
    tls.write_all(b"12345").await.unwrap();
    let mut back = [0u8; 5];
    tls.read_exact(&mut back).await.unwrap();
    assert_eq!(server.await.unwrap().unwrap(), None);
}

#[tokio::test]
async fn a_client_pinning_another_ca_is_reported_as_rejecting_our_certificate() {
    let term = terminator();
    let other = SandboxCa::generate().unwrap();
    let (client_io, server_io) = tokio::io::duplex(16 * 1024);
    let server = tokio::spawn(serve_once(term, server_io, "api.example.com"));
    let name = ServerName::try_from("api.example.com").unwrap();
    assert!(
        client_trusting(&other, &[])
            .connect(name, client_io)
            .await
            .is_err()
    );
    let err = server.await.unwrap().unwrap_err();
    assert!(
        matches!(err, AcceptError::ClientRejectedCertificate { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("UnknownCA"), "{err}");
}

#[tokio::test]
async fn a_client_offering_only_h2_fails_the_handshake() {
    let term = terminator();
    let ca = Arc::clone(term.leaves().ca());
    let (client_io, server_io) = tokio::io::duplex(16 * 1024);
    let server = tokio::spawn(serve_once(term, server_io, "api.example.com"));
    let name = ServerName::try_from("api.example.com").unwrap();
    assert!(
        client_trusting(&ca, &[b"h2"])
            .connect(name, client_io)
            .await
            .is_err()
    );
    let err = server.await.unwrap().unwrap_err();
    assert!(matches!(err, AcceptError::Handshake(_)), "{err}");
}

#[tokio::test]
async fn plain_bytes_are_not_a_handshake() {
    let term = terminator();
    let (mut client_io, server_io) = tokio::io::duplex(16 * 1024);
    let server = tokio::spawn(serve_once(term, server_io, "api.example.com"));
    client_io
        .write_all(b"GET / HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let err = server.await.unwrap().unwrap_err();
    assert!(matches!(err, AcceptError::Handshake(_)), "{err}");
}

/// A TLS echo-ish HTTP server on loopback that terminates with the given terminator
/// and answers every connection with a fixed HTTP response.
async fn http_listener(term: TlsTerminator, target: &'static str) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let term = term.clone();
            tokio::spawn(async move {
                let Ok(mut accepted) = term.accept(tcp, target).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let _ = accepted.stream.read(&mut buf).await;
                let body = "terminated\n";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = accepted.stream.write_all(response.as_bytes()).await;
                let _ = accepted.stream.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn curl_and_python_trust_the_leaf_through_the_sandbox_ca() {
    let term = terminator();
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, term.leaves().ca().cert_pem()).unwrap();
    let addr = http_listener(term, "api.example.com").await;

    let curl = tokio::task::spawn_blocking({
        let ca_path = ca_path.clone();
        move || {
            Command::new("curl")
                .args(["-sS", "--cacert"])
                .arg(&ca_path)
                .args([
                    "--resolve",
                    &format!("api.example.com:{}:127.0.0.1", addr.port()),
                ])
                .arg(format!("https://api.example.com:{}/", addr.port()))
                .output()
                .expect("curl must be installed for this test")
        }
    })
    .await
    .unwrap();
    assert!(
        curl.status.success(),
        "{}",
        String::from_utf8_lossy(&curl.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&curl.stdout), "terminated\n");

    let script = format!(
        "import ssl,socket\nctx=ssl.create_default_context(cafile='{}')\ns=ctx.wrap_socket(socket.create_connection(('127.0.0.1',{})),server_hostname='api.example.com')\ns.sendall(b'GET / HTTP/1.1\\r\\nHost: api.example.com\\r\\n\\r\\n')\nprint(s.recv(4096).decode().split('\\r\\n')[0])\n",
        ca_path.display(),
        addr.port()
    );
    let py = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-c", &script])
            .output()
            .expect("python3 must be installed for this test")
    })
    .await
    .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&py.stdout).trim(),
        "HTTP/1.1 200 OK"
    );

    // The twin: curl with its default system bundle does not trust the sandbox CA.
    let plain = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args([
                "-sS",
                "--resolve",
                &format!("api.example.com:{}:127.0.0.1", addr.port()),
            ])
            .arg(format!("https://api.example.com:{}/", addr.port()))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!plain.status.success());
}

#[tokio::test]
async fn upstream_verification_accepts_the_right_ca_and_name_only() {
    let term = terminator();
    let ca_pem = term.leaves().ca().cert_pem().to_owned();
    let addr = http_listener(term, "upstream.test").await;

    let only = UpstreamTls::only(&ca_pem).unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = only.connect("upstream.test", tcp).await.unwrap();
    tls.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut out = String::new();
    tls.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");

    // System roots (+ an unrelated extra CA) do not trust this server.
    let unrelated = SandboxCa::generate().unwrap();
    let system = UpstreamTls::new(Some(unrelated.cert_pem())).unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let err = system.connect("upstream.test", tcp).await.unwrap_err();
    assert!(
        matches!(&err, UpstreamError::Certificate { reason, .. } if reason.contains("UnknownIssuer")),
        "{err}"
    );

    // The right CA but the wrong name: the server's leaf is for upstream.test only
    // (the listener refuses the mismatching SNI, so the handshake fails either way).
    let tcp = TcpStream::connect(addr).await.unwrap();
    assert!(only.connect("other.test", tcp).await.is_err());
}
