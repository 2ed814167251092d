//! Request-level (L7) inspection for `protocol: rest` and `protocol: websocket`
//! endpoints.
//!
//! # Layout
