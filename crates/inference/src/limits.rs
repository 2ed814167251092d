//! Every bound the router enforces, with what happens at the limit (also listed in
//! `docs/inference.md`).

use std::time::Duration;

/// Largest request body read from the agent. Chat requests with inline images reach a
/// few MiB; 32 MiB leaves room without letting one request pin unbounded memory. At
/// the limit: `413` with a JSON error, nothing sent upstream.
pub const MAX_REQUEST_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Dialing the provider (DNS + TCP + TLS handshake). At the limit: `504`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// From sending the request to receiving the response head. Non-streamed completions
/// of long outputs take minutes, so this is generous. At the limit: `504`.
pub const RESPONSE_HEAD_TIMEOUT: Duration = Duration::from_secs(600);

/// Idle upstream connections kept per provider origin, for keep-alive reuse. Beyond
/// it: a finished connection is closed instead of pooled.
pub const MAX_IDLE_PER_ORIGIN: usize = 32;

/// How long an idle pooled connection is reused; older ones are closed on checkout
/// (servers close idle keep-alive connections after 60-120 s).
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(55);

/// Longest SSE line kept for usage parsing. At the limit: the rest of that line is not
/// parsed (its bytes are still relayed); usage events are a few hundred bytes.
pub const SSE_MAX_LINE_BYTES: usize = 1024 * 1024;

/// A non-streamed JSON body is kept whole for usage parsing up to this size; beyond
/// it only the last [`JSON_USAGE_TAIL_BYTES`] are kept (usage comes last).
pub const JSON_USAGE_FULL_BYTES: usize = 4 * 1024 * 1024;

/// Tail kept of larger JSON bodies.
pub const JSON_USAGE_TAIL_BYTES: usize = 64 * 1024;

/// Budget windows: requests are counted per minute in one-second slots, tokens per
/// hour in one-minute slots (a sliding window at slot granularity).
pub const REQUEST_WINDOW: Duration = Duration::from_secs(60);

/// See [`REQUEST_WINDOW`].
pub const TOKEN_WINDOW: Duration = Duration::from_secs(3600);
