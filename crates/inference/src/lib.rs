//! cordon-inference: the router behind `inference.local`.
//!
//! Inside every sandbox, `http://inference.local` and `https://inference.local` reach
//! this router in the supervisor, with no network policy entry. The router strips the
//! caller's credentials, adds the provider's real key (which never enters the
//! sandbox), forces the route's model, forwards to the provider, relays streamed
//! responses event by event, reads token usage on the side, enforces the sandbox's
//! budgets and writes one audit line per request.
//!
//! The egress proxy hands requests in ([`InferenceRouter::handle`]); the supervisor
//! builds the router ([`RouterConfig`]) and swaps its route on reload
//! ([`InferenceRouter::set_route`]); the CLI manages providers ([`ProviderRegistry`]).
//! Keys are stored and held by cordon-secrets.
//!
//! # Layout
//! - `provider`, `registry`: provider types, base URLs, the stored providers.
//! - `route`: the active route, route settings and their precedence.
//! - `router`: [`InferenceRouter`], one request from arrival to response.
//! - `endpoint`, `headers`, `request_body`: what is served, what crosses, the rewrite.
//! - `upstream`, `resolve`, `tls`: provider connections and their pool.
//! - `exchange`, `usage`: the relayed body and the usage scanners.
//! - `budget`: per-sandbox request and token budgets.
//! - `audit_event`, `respond`: audit lines and the router's own JSON answers.
//! - `limits`: every bound.
#![forbid(unsafe_code)]

mod audit_event;
mod budget;
mod endpoint;
mod error;
mod exchange;
mod headers;
pub mod limits;
mod provider;
mod registry;
mod request_body;
mod resolve;
mod respond;
mod route;
mod router;
mod tls;
mod upstream;
mod usage;

pub use audit_event::{Caller, INFERENCE_HOST};
pub use budget::{BudgetExceeded, BudgetLimits, BudgetState, BudgetUsage};
pub use endpoint::ApiEndpoint;
pub use error::InferenceError;
pub use provider::{AuthStyle, BaseUrl, DEFAULT_ANTHROPIC_VERSION, ProviderKind};
pub use registry::{
    NewProvider, PROVIDERS_FILE, ProviderRecord, ProviderRegistry, ResolvedProvider,
};
pub use respond::RouterBody;
pub use route::{DEFAULT_ROUTE_FILE, Route, RouteSetting, current_route, resolve_route};
pub use router::{InferenceRouter, InferenceStatus, RouteSummary, RouterConfig};
pub use tls::{LazyTls, client_tls, client_tls_only};
pub use usage::{JsonUsageScanner, SseUsageScanner, Usage};
