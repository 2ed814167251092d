//! What does a client speak inside a tunnel? The first bytes tell: a TLS record
//! starts with content type 22 (handshake) and protocol major version 3; an HTTP/1
//! request starts with an upper-case method token. Nothing is consumed: the bytes
//! read come back in a [`Rewind`] stream.

use std::io;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::Rewind;

/// Bytes needed to classify a stream; fewer only when the client stops sending.
const SNIFF_BYTES: usize = 3;

/// What the first bytes of a stream look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// A TLS handshake record (`0x16 0x03 ..`).
    Tls,
    /// Something that starts like an HTTP/1 request line (`GET `, `POST ` ...).
    Http,
    /// Anything else, or nothing before the client closed.
    Other,
}

/// Classifies the bytes at the start of a stream.
pub fn classify(bytes: &[u8]) -> Sniffed {
    match bytes {
        [0x16, 0x03, rest @ ..] if rest.first().is_none_or(|&minor| minor <= 0x04) => Sniffed::Tls,
        [first, ..]
            if first.is_ascii_uppercase()
                && bytes
                    .iter()
                    .take_while(|&&b| b != b' ')
                    .all(|b| b.is_ascii_uppercase() || *b == b'-' || *b == b'_') =>
        {
            Sniffed::Http
        }
        _ => Sniffed::Other,
    }
}

/// Reads until the start of `io` (after `prefix`, bytes already read from it) can be
/// classified, and returns the class with a stream replaying everything read. The
/// caller bounds the wait with a timeout: a client that sends nothing is not our
/// problem to wait for forever.
pub async fn sniff<S: AsyncRead + Unpin>(
    mut io: S,
    prefix: Bytes,
) -> io::Result<(Sniffed, Rewind<S>)> {
    let mut buf = BytesMut::from(&prefix[..]);
    while buf.len() < SNIFF_BYTES {
        let mut chunk = [0u8; 512];
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let class = classify(&buf);
    Ok((class, Rewind::new(buf.freeze(), io)))
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[test]
    fn classifies_tls_http_and_other() {
        assert_eq!(classify(&[0x16, 0x03, 0x01, 0x02, 0x00]), Sniffed::Tls);
        assert_eq!(classify(&[0x16, 0x03]), Sniffed::Tls);
        assert_eq!(classify(&[0x16, 0x03, 0x09]), Sniffed::Other);
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Sniffed::Http);
        assert_eq!(classify(b"PO"), Sniffed::Http);
        assert_eq!(classify(b"SSH-2.0"), Sniffed::Other);
        assert_eq!(classify(b"get /"), Sniffed::Other);
        assert_eq!(classify(b""), Sniffed::Other);
        assert_eq!(classify(&[0x17, 0x03, 0x03]), Sniffed::Other);
    }

    #[tokio::test]
    async fn sniffing_loses_no_byte() {
        let (mut far, near) = tokio::io::duplex(64);
        far.write_all(b"ET / HTTP/1.1\r\n").await.unwrap();
        drop(far);
        let (class, mut s) = sniff(near, Bytes::from_static(b"G")).await.unwrap();
        assert_eq!(class, Sniffed::Http);
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "GET / HTTP/1.1\r\n");
    }
}
