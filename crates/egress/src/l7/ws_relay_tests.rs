use tokio::io::DuplexStream;

use super::*;
use crate::l7::ws_frame::{FrameHeader, OP_CLOSE, OP_TEXT, apply_mask};

const KEY: [u8; 4] = [9, 8, 7, 6];

fn client_text(text: &str) -> Vec<u8> {
    let mut out = vec![0x81, 0x80 | text.len() as u8];
    out.extend_from_slice(&KEY);
    let mut payload = text.as_bytes().to_vec();
    apply_mask(&mut payload, KEY, 0);
    out.extend_from_slice(&payload);
    out
}

/// Reads one frame; returns opcode and unmasked payload.
async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Option<(u8, Vec<u8>)> {
    let mut buf = Vec::new();
    loop {
        if let Ok(Some(h)) = FrameHeader::parse(&buf)
            && buf.len() >= h.header_len + h.len as usize
        {
            let mut payload = buf[h.header_len..h.header_len + h.len as usize].to_vec();
            if let Some(key) = h.mask {
                apply_mask(&mut payload, key, 0);
            }
            return Some((h.opcode, payload));
        }
        let mut byte = [0u8; 1];
        if r.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
}

/// An upstream that echoes text frames back (unmasked, upper-cased) and answers a
/// close frame with a close frame. Returns what it saw.
async fn echo_upstream(mut io: DuplexStream) -> Vec<(u8, Vec<u8>)> {
    let mut seen = Vec::new();
    while let Some((op, payload)) = read_frame(&mut io).await {
        seen.push((op, payload.clone()));
        if op == OP_TEXT {
            let upper = payload.to_ascii_uppercase();
            let mut frame = vec![0x81, upper.len() as u8];
            frame.extend_from_slice(&upper);
            io.write_all(&frame).await.unwrap();
        } else if op == OP_CLOSE {
            let _ = io.write_all(&[0x88, 0]).await;
            break;
        }
    }
    let _ = io.shutdown().await;
    seen
}

fn decide(text: &str) -> TextDecision {
    if text.contains("forbidden") {
        TextDecision::Deny("policy denied this message".into())
    } else {
        TextDecision::Allow
    }
}

#[tokio::test]
async fn allowed_text_passes_and_replies_come_back() {
    let (mut client, proxy_client) = tokio::io::duplex(64 * 1024);
    let (proxy_upstream, upstream) = tokio::io::duplex(64 * 1024);
    let upstream_task = tokio::spawn(echo_upstream(upstream));
    let relay = tokio::spawn(relay_inspected(proxy_client, proxy_upstream, decide));

    client.write_all(&client_text("hello")).await.unwrap();
    assert_eq!(
        read_frame(&mut client).await.unwrap(),
        (OP_TEXT, b"HELLO".to_vec())
    );
    // Close handshake.
    let mut close = vec![0x88, 0x82];
    close.extend_from_slice(&KEY);
    let mut code = 1000u16.to_be_bytes().to_vec();
    apply_mask(&mut code, KEY, 0);
    close.extend_from_slice(&code);
    client.write_all(&close).await.unwrap();
    assert_eq!(read_frame(&mut client).await.unwrap().0, OP_CLOSE);
    client.shutdown().await.unwrap();

    let (end, stats) = relay.await.unwrap();
    assert!(matches!(end, WsEnd::Closed), "{end:?}");
    assert_eq!(stats.texts, 1);
    let seen = upstream_task.await.unwrap();
    assert_eq!(seen[0], (OP_TEXT, b"hello".to_vec()));
}

#[tokio::test]
async fn a_denied_text_closes_both_sides_with_1008() {
    let (mut client, proxy_client) = tokio::io::duplex(64 * 1024);
    let (proxy_upstream, upstream) = tokio::io::duplex(64 * 1024);
    let upstream_task = tokio::spawn(echo_upstream(upstream));
    let relay = tokio::spawn(relay_inspected(proxy_client, proxy_upstream, decide));

    client.write_all(&client_text("fine")).await.unwrap();
    assert_eq!(
        read_frame(&mut client).await.unwrap(),
        (OP_TEXT, b"FINE".to_vec())
    );
    client
        .write_all(&client_text("forbidden words"))
        .await
        .unwrap();
    let (op, payload) = read_frame(&mut client).await.unwrap();
    assert_eq!(op, OP_CLOSE);
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1008);
    assert_eq!(&payload[2..], b"policy denied this message");

    let (end, _) = relay.await.unwrap();
    assert!(matches!(end, WsEnd::Denied(_)), "{end:?}");
    let seen = upstream_task.await.unwrap();
    // The server got the allowed message and a (masked) close 1008, never the
    // denied text.
    assert_eq!(seen[0], (OP_TEXT, b"fine".to_vec()));
    assert_eq!(seen[1].0, OP_CLOSE);
    assert_eq!(seen[1].1[..2], 1008u16.to_be_bytes());
    assert!(
        !seen
            .iter()
            .any(|(_, p)| p.windows(9).any(|w| w == b"forbidden"))
    );
}

#[tokio::test]
async fn an_unmasked_client_frame_is_a_protocol_error() {
    let (mut client, proxy_client) = tokio::io::duplex(64 * 1024);
    let (proxy_upstream, upstream) = tokio::io::duplex(64 * 1024);
    let upstream_task = tokio::spawn(echo_upstream(upstream));
    let relay = tokio::spawn(relay_inspected(proxy_client, proxy_upstream, decide));
    client.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    let (op, payload) = read_frame(&mut client).await.unwrap();
    assert_eq!((op, &payload[..2]), (OP_CLOSE, &1002u16.to_be_bytes()[..]));
    let (end, _) = relay.await.unwrap();
    assert!(
        matches!(end, WsEnd::Violation(v) if v.code == 1002),
        "{end:?}"
    );
    upstream_task.await.unwrap();
}
