//! Request-level (L7) inspection for `protocol: rest` and `protocol: websocket`
//! endpoints: what the proxy checks on each HTTP request and WebSocket message it
//! reads in clear, before and around asking the policy engine
//! (`CompiledPolicy::decide_request`).
//!
//! `WEBSOCKET_TEXT` rules follow OpenShell's schema: a client text message on a
//! WebSocket is decided like a request whose method is `WEBSOCKET_TEXT` and whose
//! path and query are those of the upgrade request, e.g.
//! `rules: [{allow: {method: GET, path: "/ws/**"}}, {allow: {method: WEBSOCKET_TEXT, path: "/ws/chat/**"}}]`.
//! There is no matcher on the message content (a text glob over JSON is trivially
//! evaded with whitespace); `access: read-write` and `full` include `WEBSOCKET_TEXT`.
//!
//! # Layout
//! - `gate`: a guard in front of the HTTP/1 parser refusing ambiguous framing
//!   (request smuggling) and oversized heads.
//! - `head`: Host and request-target agreement with the connection's destination;
//!   WebSocket upgrade detection.
//! - `path`: the request path as matched and forwarded (ambiguous forms refused).
//! - `deny`: the 403 JSON body and its hint.
//! - `ws_frame`: WebSocket frames, client text-message assembly, close frames.
//! - `ws_relay`: relaying an upgraded connection, text messages decided.
//! - `inspect`: serving an allowed tunnel in clear ([`Inspection`] is its config).
//! - `session`, `exchange`, `origin`: one connection's state, one request, the
//!   upstream connection.
//! - `upgrade`: a WebSocket upgrade and the relay after it, for inspected
//!   connections and for absolute-form requests on the forward path alike.
//! - `forwarded`: the same rules for plain-HTTP requests on the forward path.

pub mod deny;
mod exchange;
mod forwarded;
pub mod gate;
pub mod head;
mod inspect;
mod origin;
pub mod path;
mod session;
mod upgrade;
pub mod ws_frame;
pub mod ws_relay;

pub(crate) use exchange::{join_reason, strip_hop_by_hop};
pub(crate) use forwarded::{Ruling, rule as rule_forwarded};
pub(crate) use inspect::run;
pub use inspect::{CLIENT_HANDSHAKE_TIMEOUT, Inspection};
pub(crate) use session::View;
pub(crate) use upgrade::{
    Relay, TextRules, answer as answer_upgrade, inspects_text, restrict_offer,
};
