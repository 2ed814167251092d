use super::*;

const KEY: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

/// A client frame: masked with KEY, minimal length encoding.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=65535 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&KEY);
    let mut masked = payload.to_vec();
    apply_mask(&mut masked, KEY, 0);
    out.extend_from_slice(&masked);
    out
}

fn events(bytes: &[u8]) -> Result<Vec<ClientEvent>, Violation> {
    let mut asm = ClientAssembler::new();
    // Feed one byte at a time: every boundary case of partial input is exercised.
    let mut out = Vec::new();
    for b in bytes {
        asm.push(std::slice::from_ref(b));
        while let Some(ev) = asm.next_event()? {
            out.push(ev);
        }
    }
    Ok(out)
}

/// Concatenates forwarded bytes, keeps text messages as-is.
fn summarize(evs: Vec<ClientEvent>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut fwd = Vec::new();
    for ev in evs {
        match ev {
            ClientEvent::Forward(b) => fwd.extend_from_slice(&b),
            ClientEvent::Text { text, .. } => {
                if !fwd.is_empty() {
                    out.push(format!("fwd {}", fwd.len()));
                    fwd.clear();
                }
                out.push(format!("text {text}"));
            }
            ClientEvent::Closed => {
                if !fwd.is_empty() {
                    out.push(format!("fwd {}", fwd.len()));
                    fwd.clear();
                }
                out.push("closed".into());
            }
        }
    }
    if !fwd.is_empty() {
        out.push(format!("fwd {}", fwd.len()));
    }
    out
}

#[test]
fn parses_headers_and_refuses_non_minimal_lengths() {
    let h = FrameHeader::parse(&frame(true, OP_TEXT, b"hi"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (h.fin, h.opcode, h.len, h.header_len, h.mask),
        (true, OP_TEXT, 2, 6, Some(KEY))
    );
    let h = FrameHeader::parse(&frame(true, OP_BINARY, &[0; 300]))
        .unwrap()
        .unwrap();
    assert_eq!((h.len, h.header_len), (300, 8));
    let h = FrameHeader::parse(&frame(true, OP_BINARY, &[0; 70_000]))
        .unwrap()
        .unwrap();
    assert_eq!((h.len, h.header_len), (70_000, 14));
    assert_eq!(FrameHeader::parse(&[0x81]).unwrap(), None);
    assert_eq!(FrameHeader::parse(&[0x81, 0xfe, 0x00]).unwrap(), None);
    assert!(FrameHeader::parse(&[0x82, 126, 0, 5]).is_err());
    assert!(FrameHeader::parse(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff]).is_err());
    assert!(FrameHeader::parse(&[0x82, 127, 0x80, 0, 0, 0, 0, 1, 0, 0]).is_err());
}

#[test]
fn text_messages_are_assembled_and_unmasked() {
    let mut raw = frame(true, OP_TEXT, b"hello");
    raw.extend(frame(true, OP_BINARY, &[1, 2, 3]));
    raw.extend(frame(true, OP_TEXT, "h\u{e9}llo w\u{f6}rld".as_bytes()));
    let evs = events(&raw).unwrap();
    assert_eq!(
        summarize(evs),
        ["text hello", "fwd 9", "text h\u{e9}llo w\u{f6}rld"]
    );
}

#[test]
fn the_raw_frames_of_a_text_message_are_returned_unchanged() {
    let raw = frame(true, OP_TEXT, b"hello");
    let mut asm = ClientAssembler::new();
    asm.push(&raw);
    let Some(ClientEvent::Text { raw: back, .. }) = asm.next_event().unwrap() else {
        panic!("expected a text message");
    };
    assert_eq!(&back[..], &raw[..]);
}

#[test]
fn fragmented_text_with_an_interleaved_ping_is_one_message() {
    let mut raw = frame(false, OP_TEXT, b"hel");
    raw.extend(frame(true, OP_PING, b"p"));
    raw.extend(frame(false, OP_CONTINUATION, b""));
    raw.extend(frame(true, OP_CONTINUATION, b"lo"));
    let evs = events(&raw).unwrap();
    // The ping goes through at once; the text is held until complete.
    assert_eq!(summarize(evs), ["fwd 7", "text hello"]);
}

#[test]
fn fragmented_binary_streams_through() {
    let mut raw = frame(false, OP_BINARY, &[0; 200]);
    raw.extend(frame(true, OP_CONTINUATION, &[0; 10]));
    raw.extend(frame(true, OP_CLOSE, &1000u16.to_be_bytes()));
    let total = raw.len();
    let evs = events(&raw).unwrap();
    assert_eq!(summarize(evs), [format!("fwd {total}"), "closed".into()]);
}

#[test]
fn protocol_violations_are_refused() {
    let unmasked = [0x81, 0x02, b'h', b'i'];
    let mut rsv = frame(true, OP_TEXT, b"hi");
    rsv[0] |= 0x40;
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (unmasked.to_vec(), CLOSE_PROTOCOL_ERROR),
        (rsv, CLOSE_PROTOCOL_ERROR),
        (frame(true, 0x3, b""), CLOSE_PROTOCOL_ERROR),
        (frame(false, OP_PING, b""), CLOSE_PROTOCOL_ERROR),
        (frame(true, OP_PING, &[0; 126]), CLOSE_PROTOCOL_ERROR),
        (frame(true, OP_CLOSE, &[3]), CLOSE_PROTOCOL_ERROR),
        (frame(true, OP_CONTINUATION, b"x"), CLOSE_PROTOCOL_ERROR),
        (
            [frame(false, OP_TEXT, b"a"), frame(true, OP_TEXT, b"b")].concat(),
            CLOSE_PROTOCOL_ERROR,
        ),
        (
            [frame(true, OP_CLOSE, b""), frame(true, OP_TEXT, b"b")].concat(),
            CLOSE_PROTOCOL_ERROR,
        ),
        (frame(true, OP_TEXT, &[0xff, 0xfe]), CLOSE_INVALID_PAYLOAD),
    ];
    for (raw, code) in cases {
        let err = events(&raw).unwrap_err();
        assert_eq!(err.code, code, "{raw:?}: {err}");
    }
}

#[test]
fn oversized_text_is_refused_with_1009_but_binary_of_that_size_passes() {
    let mut asm = ClientAssembler::new();
    let big = frame(true, OP_TEXT, &vec![b'a'; MAX_TEXT_MESSAGE_BYTES + 1]);
    asm.push(&big[..20]);
    assert_eq!(asm.next_event().unwrap_err().code, CLOSE_TOO_BIG);

    // Fragments adding up past the limit.
    let mut asm = ClientAssembler::new();
    asm.push(&frame(false, OP_TEXT, &vec![b'a'; MAX_TEXT_MESSAGE_BYTES]));
    asm.push(&frame(true, OP_CONTINUATION, b"b"));
    let mut result = Ok(None);
    for _ in 0..4 {
        result = asm.next_event();
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result.unwrap_err().code, CLOSE_TOO_BIG);

    let binary = frame(true, OP_BINARY, &vec![0; MAX_TEXT_MESSAGE_BYTES + 1]);
    let mut asm = ClientAssembler::new();
    asm.push(&binary);
    let mut forwarded = 0;
    while let Some(ClientEvent::Forward(b)) = asm.next_event().unwrap() {
        forwarded += b.len();
    }
    assert_eq!(forwarded, binary.len());
}

#[test]
fn close_frames_carry_code_and_reason() {
    let unmasked = close_frame(CLOSE_POLICY_VIOLATION, "denied", None);
    assert_eq!(unmasked[..4], [0x88, 8, 0x03, 0xf0]);
    assert_eq!(&unmasked[4..], b"denied");
    let masked = close_frame(CLOSE_POLICY_VIOLATION, "denied", Some(KEY));
    let events = events(&masked).unwrap();
    assert_eq!(summarize(events), ["fwd 14", "closed"]);
    let long = close_frame(1008, &"\u{e9}".repeat(100), None);
    assert!(long.len() <= 127);
    assert!(std::str::from_utf8(&long[4..]).is_ok());
}

#[test]
fn server_framing_stops_before_incomplete_headers() {
    let mut server = vec![0x81, 3, b'a', b'b', b'c'];
    server.extend_from_slice(&[0x82, 126]);
    let mut framing = ServerFraming::default();
    assert_eq!(framing.writable(&server).unwrap(), 5);
    assert!(framing.at_boundary());
    // The header completes; its payload arrives in two pieces.
    let mut rest = vec![0x82, 126, 0, 200];
    rest.extend_from_slice(&[0; 100]);
    assert_eq!(framing.writable(&rest).unwrap(), 104);
    assert!(!framing.at_boundary());
    assert_eq!(framing.writable(&[0; 100]).unwrap(), 100);
    assert!(framing.at_boundary());
}
