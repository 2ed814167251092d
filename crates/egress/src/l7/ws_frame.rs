//! WebSocket wire format (RFC 6455 §5), sans I/O: frame headers, masking, the
//! client-side message assembler that extracts text messages for `WEBSOCKET_TEXT`
//! rules, and close frames.
//!
//! The assembler is strict on purpose: every frame a client may send is checked
//! (masked, no reserved bits, known opcodes, control frames short and unfragmented,
//! fragments in order, minimal length encodings), because a frame the proxy reads
//! differently from the server is a message that escapes inspection. Reserved bits
//! are refused outright since the proxy strips `Sec-WebSocket-Extensions` from
//! inspected upgrades (no permessage-deflate to decode).

use bytes::{Bytes, BytesMut};

/// Continuation frame.
pub const OP_CONTINUATION: u8 = 0x0;
/// Text frame.
pub const OP_TEXT: u8 = 0x1;
/// Binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Ping frame.
pub const OP_PING: u8 = 0x9;
/// Pong frame.
pub const OP_PONG: u8 = 0xA;

/// Close code: the peer broke the protocol.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code: a text message was not UTF-8.
pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;
/// Close code: a message violates policy (a denied `WEBSOCKET_TEXT`).
pub const CLOSE_POLICY_VIOLATION: u16 = 1008;
/// Close code: a message is larger than the proxy inspects.
pub const CLOSE_TOO_BIG: u16 = 1009;

/// Largest client text message the proxy assembles and inspects. At the limit: both
/// sides get a close frame with code 1009 and the connection ends (an audit line
/// says why). 1 MiB is well above chat-style JSON messages; a client streaming bigger
/// payloads should use binary frames, which are relayed without assembly.
pub const MAX_TEXT_MESSAGE_BYTES: usize = 1024 * 1024;

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Final fragment of a message.
    pub fin: bool,
    /// The three reserved bits (shifted to the low bits).
    pub rsv: u8,
    /// The opcode.
    pub opcode: u8,
    /// The masking key (client frames).
    pub mask: Option<[u8; 4]>,
    /// Payload length.
    pub len: u64,
    /// Bytes the header occupies.
    pub header_len: usize,
}

/// A protocol violation: the close code to send and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (close code {code})")]
pub struct Violation {
    /// RFC 6455 close code.
    pub code: u16,
    /// Why.
    pub reason: &'static str,
}

const fn too_big() -> Violation {
    Violation {
        code: CLOSE_TOO_BIG,
        reason: "text message larger than the proxy inspects (1 MiB)",
    }
}

const fn protocol(reason: &'static str) -> Violation {
    Violation {
        code: CLOSE_PROTOCOL_ERROR,
        reason,
    }
}

impl FrameHeader {
    /// Parses a header at the start of `buf` (`Ok(None)` = need more bytes).
    /// Refuses non-minimal length encodings and lengths with the top bit set.
    pub fn parse(buf: &[u8]) -> Result<Option<FrameHeader>, Violation> {
        let [first, second, ..] = *buf else {
            return Ok(None);
        };
        let masked = second & 0x80 != 0;
        let (len, mut at) = match second & 0x7f {
            126 => {
                let Some(b) = buf.get(2..4) else {
                    return Ok(None);
                };
                let len = u64::from(u16::from_be_bytes([b[0], b[1]]));
                if len < 126 {
                    return Err(protocol("non-minimal 16-bit frame length"));
                }
                (len, 4)
            }
            127 => {
                let Some(b) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut raw = [0u8; 8];
                raw.copy_from_slice(b);
                let len = u64::from_be_bytes(raw);
                if len >> 63 != 0 {
                    return Err(protocol("frame length has the top bit set"));
                }
                if len <= u64::from(u16::MAX) {
                    return Err(protocol("non-minimal 64-bit frame length"));
                }
                (len, 10)
            }
            short => (u64::from(short), 2),
        };
        let mask = if masked {
            let Some(key) = buf.get(at..at + 4) else {
                return Ok(None);
            };
            at += 4;
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        Ok(Some(FrameHeader {
            fin: first & 0x80 != 0,
            rsv: (first >> 4) & 0x7,
            opcode: first & 0x0f,
            mask,
            len,
            header_len: at,
        }))
    }
}

/// XORs `data` with the masking key, `offset` bytes into the payload (so a payload
/// can be unmasked in pieces).
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= key[(offset + i) % 4];
    }
}

/// A close frame with `code` and a short reason; masked with `mask` when sent by a
/// client (to the upstream), unmasked when sent to the client.
pub fn close_frame(code: u16, reason: &str, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    // Control payloads are at most 125 bytes; cut the reason on a char boundary.
    let mut reason_len = reason.len().min(123);
    while !reason.is_char_boundary(reason_len) {
        reason_len -= 1;
    }
    payload.extend_from_slice(&reason.as_bytes()[..reason_len]);
    let mut frame = vec![0x80 | OP_CLOSE];
    let len = payload.len() as u8;
    match mask {
        Some(key) => {
            frame.push(0x80 | len);
            frame.extend_from_slice(&key);
            apply_mask(&mut payload, key, 0);
        }
        None => frame.push(len),
    }
    frame.extend_from_slice(&payload);
    frame
}

/// What the assembler found in the client's bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// Bytes to pass upstream now (binary and control frames, unchanged).
    Forward(Bytes),
    /// A complete text message: decide on `text`, then send `raw` (its frames,
    /// unchanged) or refuse it.
    Text {
        /// The unmasked, UTF-8 checked message.
        text: String,
        /// The original frames.
        raw: Bytes,
    },
    /// The client sent a close frame (already included in a `Forward`).
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fragmented {
    None,
    Text,
    Binary,
}

#[derive(Debug)]
struct Payload {
    header: FrameHeader,
    left: u64,
    /// Part of a text message (held, unmasked into `text`).
    text: bool,
}

/// Assembles client frames: binary and control frames stream through, text
/// messages are held until complete.
#[derive(Debug)]
pub struct ClientAssembler {
    buf: BytesMut,
    payload: Option<Payload>,
    fragmented: Fragmented,
    text_raw: BytesMut,
    text: Vec<u8>,
    close_seen: bool,
    pending_closed: bool,
}

impl Default for ClientAssembler {
    fn default() -> Self {
        ClientAssembler::new()
    }
}

impl ClientAssembler {
    /// An assembler at the start of a connection.
    pub fn new() -> ClientAssembler {
        ClientAssembler {
            buf: BytesMut::new(),
            payload: None,
            fragmented: Fragmented::None,
            text_raw: BytesMut::new(),
            text: Vec::new(),
            close_seen: false,
            pending_closed: false,
        }
    }

    /// Feeds bytes read from the client.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered and not yet turned into events.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.text_raw.len()
    }

    /// The next event, `Ok(None)` when more bytes are needed.
    pub fn next_event(&mut self) -> Result<Option<ClientEvent>, Violation> {
        if self.pending_closed {
            self.pending_closed = false;
            return Ok(Some(ClientEvent::Closed));
        }
        loop {
            if let Some(payload) = &mut self.payload {
                if payload.left > 0 && self.buf.is_empty() {
                    return Ok(None);
                }
                let take = usize::try_from(payload.left)
                    .unwrap_or(usize::MAX)
                    .min(self.buf.len());
                let chunk = self.buf.split_to(take);
                let offset = (payload.header.len - payload.left) as usize;
                payload.left -= take as u64;
                let done = payload.left == 0;
                let header = payload.header;
                if payload.text {
                    if self.text.len() + chunk.len() > MAX_TEXT_MESSAGE_BYTES {
                        return Err(too_big());
                    }
                    let start = self.text.len();
                    self.text.extend_from_slice(&chunk);
                    if let Some(key) = header.mask {
                        apply_mask(&mut self.text[start..], key, offset);
                    }
                    self.text_raw.unsplit(chunk);
                    if done {
                        self.payload = None;
                        if header.fin {
                            return self.finish_text().map(Some);
                        }
                    }
                    continue;
                }
                if done {
                    self.payload = None;
                    if header.opcode == OP_CLOSE {
                        self.pending_closed = true;
                    }
                }
                if chunk.is_empty() {
                    continue;
                }
                return Ok(Some(ClientEvent::Forward(chunk.freeze())));
            }
            let Some(header) = FrameHeader::parse(&self.buf)? else {
                return Ok(None);
            };
            self.check(&header)?;
            let raw_header = self.buf.split_to(header.header_len);
            let text = header.opcode == OP_TEXT
                || (header.opcode == OP_CONTINUATION && self.fragmented == Fragmented::Text);
            match header.opcode {
                OP_TEXT | OP_BINARY if !header.fin => {
                    self.fragmented = if text {
                        Fragmented::Text
                    } else {
                        Fragmented::Binary
                    };
                }
                OP_CONTINUATION if header.fin => self.fragmented = Fragmented::None,
                OP_CLOSE => self.close_seen = true,
                _ => {}
            }
            self.payload = Some(Payload {
                header,
                left: header.len,
                text,
            });
            if text {
                self.text_raw.unsplit(raw_header);
                if header.len == 0 {
                    self.payload = None;
                    if header.fin {
                        return self.finish_text().map(Some);
                    }
                }
                continue;
            }
            if header.len == 0 {
                self.payload = None;
                if header.opcode == OP_CLOSE {
                    self.pending_closed = true;
                }
            }
            return Ok(Some(ClientEvent::Forward(raw_header.freeze())));
        }
    }

    fn check(&self, header: &FrameHeader) -> Result<(), Violation> {
        if self.close_seen {
            return Err(protocol("frame after the client's close frame"));
        }
        if header.rsv != 0 {
            return Err(protocol("reserved bits set (no extension was negotiated)"));
        }
        if header.mask.is_none() {
            return Err(protocol("client frame is not masked"));
        }
        match header.opcode {
            OP_CONTINUATION if self.fragmented == Fragmented::None => {
                Err(protocol("continuation frame without a fragmented message"))
            }
            OP_TEXT | OP_BINARY if self.fragmented != Fragmented::None => {
                Err(protocol("new message before the fragmented one ended"))
            }
            OP_TEXT if header.len > MAX_TEXT_MESSAGE_BYTES as u64 => Err(too_big()),
            OP_CONTINUATION
                if self.fragmented == Fragmented::Text
                    && header.len > MAX_TEXT_MESSAGE_BYTES as u64 =>
            {
                Err(too_big())
            }
            OP_CONTINUATION | OP_TEXT | OP_BINARY => Ok(()),
            OP_CLOSE | OP_PING | OP_PONG if !header.fin => {
                Err(protocol("fragmented control frame"))
            }
            OP_CLOSE | OP_PING | OP_PONG if header.len > 125 => {
                Err(protocol("control frame longer than 125 bytes"))
            }
            OP_CLOSE if header.len == 1 => Err(protocol("close frame with a one-byte payload")),
            OP_CLOSE | OP_PING | OP_PONG => Ok(()),
            _ => Err(protocol("reserved opcode")),
        }
    }

    fn finish_text(&mut self) -> Result<ClientEvent, Violation> {
        let text = std::mem::take(&mut self.text);
        let raw = self.text_raw.split().freeze();
        match String::from_utf8(text) {
            Ok(text) => Ok(ClientEvent::Text { text, raw }),
            Err(_) => Err(Violation {
                code: CLOSE_INVALID_PAYLOAD,
                reason: "text message is not valid UTF-8",
            }),
        }
    }
}

/// Finds frame boundaries in server-to-client bytes (which pass unchanged), so a
/// close frame can be inserted between two frames, never inside one.
#[derive(Debug, Default)]
pub struct ServerFraming {
    /// Payload bytes left in the current frame.
    left: u64,
}

impl ServerFraming {
    /// Of `buf` (bytes from the server not yet written, starting where the previous
    /// call stopped), how many can be written now: everything up to an incomplete
    /// frame header, which stays in the buffer until its remaining bytes arrive.
    pub fn writable(&mut self, buf: &[u8]) -> Result<usize, Violation> {
        let mut at = 0;
        loop {
            if self.left > 0 {
                let take = usize::try_from(self.left)
                    .unwrap_or(usize::MAX)
                    .min(buf.len() - at);
                self.left -= take as u64;
                at += take;
            }
            if at == buf.len() || self.left > 0 {
                return Ok(at);
            }
            match FrameHeader::parse(&buf[at..])? {
                None => return Ok(at),
                Some(header) => {
                    at += header.header_len;
                    self.left = header.len;
                }
            }
        }
    }

    /// Whether everything written so far ends on a frame boundary.
    pub fn at_boundary(&self) -> bool {
        self.left == 0
    }
}

#[cfg(test)]
#[path = "ws_frame_tests.rs"]
mod tests;
