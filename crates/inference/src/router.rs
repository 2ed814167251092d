//! [`InferenceRouter`]: answers requests addressed to `inference.local`.
//!
//! One request, in order: the active route is loaded (one atomic read, so a request
//! sees exactly one route even while `set_route` swaps it); the path must be a
//! supported API; no cordon placeholder may travel (URL, forwarded headers, body);
//! the sandbox's budgets must admit it; the body is read (bounded) and the route's
//! model written into it; the caller's headers are filtered and the provider's key
//! added; the request goes to the provider and the response comes back as a
//! [`crate::exchange::MeteredBody`], relayed frame by frame while usage is read on the
//! side. Every request ends in exactly one audit line.

use std::sync::Arc;
use std::time::Instant;

use crate::tls::LazyTls;
use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Uri, header};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use serde::Serialize;
use serde_json::{Map, Value, json};

use cordon_audit::{AuditSink, NetworkEvent, now_ms};
use cordon_secrets::{contains_placeholder, headers_contain_placeholder};

use crate::audit_event::{Caller, RequestFacts, RoutedOutcome};
use crate::budget::{BudgetState, BudgetUsage};
use crate::endpoint::{ApiEndpoint, Unsupported};
use crate::exchange::{Exchange, MeteredBody, Scanner};
use crate::headers::{downstream_headers, is_forwarded, upstream_headers};
use crate::limits::MAX_REQUEST_BODY_BYTES;
use crate::request_body::{BodyRejected, prepare};
use crate::respond::{RouterBody, error};
use crate::upstream::{Upstream, UpstreamFailure};
use crate::usage::{JsonUsageScanner, SseUsageScanner};
use crate::{ProviderKind, Route};

/// What the supervisor hands the router when it builds it.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// The sandbox's name, for audit lines.
    pub sandbox: String,
    /// Where audit lines go (`None`: nowhere; benchmarks).
    pub audit: Option<AuditSink>,
    /// TLS client configuration for `https` providers (see [`crate::client_tls`]),
    /// built on the first `https` request.
    pub tls: LazyTls,
}

/// State shared by the router handle and the response bodies still streaming.
pub(crate) struct Shared {
    sandbox: String,
    audit: Option<AuditSink>,
    /// The active route; swapped whole on reload.
    route: ArcSwapOption<Route>,
    /// Why there is no route although one was asked for (an unknown or removed
    /// provider): said in the 503 and in `status`.
    unrouted: ArcSwapOption<String>,
    /// Budget counters; survive route changes.
    pub(crate) budget: BudgetState,
    /// Provider connections.
    pub(crate) upstream: Upstream,
}

impl Shared {
    pub(crate) fn emit(&self, event: NetworkEvent) {
        if let Some(audit) = &self.audit {
            audit.emit(event.into_event());
        }
    }
}

/// The router of one sandbox. Cheap to clone; clones share route, budgets and pool.
#[derive(Clone)]
pub struct InferenceRouter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for InferenceRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InferenceRouter")
            .field("sandbox", &self.shared.sandbox)
            .field(
                "route",
                &self
                    .shared
                    .route
                    .load()
                    .as_deref()
                    .map(|r| &r.provider().name),
            )
            .finish_non_exhaustive()
    }
}

/// The active route, as `cordon status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteSummary {
    /// Provider name.
    pub provider: String,
    /// Provider type.
    #[serde(rename = "type")]
    pub kind: ProviderKind,
    /// Where requests go.
    pub base_url: String,
    /// Model forced on requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// Route and usage against budget, for `cordon status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InferenceStatus {
    /// The active route (`None`: requests get 503).
    pub route: Option<RouteSummary>,
    /// Why there is no route although the policy or default asked for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Budget usage.
    pub usage: BudgetUsage,
}

impl InferenceRouter {
    /// A router with no route yet (requests get 503 until [`InferenceRouter::set_route`]).
    pub fn new(config: RouterConfig) -> InferenceRouter {
        InferenceRouter {
            shared: Arc::new(Shared {
                sandbox: config.sandbox,
                audit: config.audit,
                route: ArcSwapOption::empty(),
                unrouted: ArcSwapOption::empty(),
                budget: BudgetState::default(),
                upstream: Upstream::new(config.tls),
            }),
        }
    }

    /// Replaces the active route atomically (hot reload). Requests already sent keep
    /// the route they started with; every later request sees the new one.
    pub fn set_route(&self, route: Option<Route>) {
        self.shared.route.store(route.map(Arc::new));
        self.shared.unrouted.store(None);
    }

    /// No route, because the one asked for cannot be built (`why`: an unknown or
    /// removed provider). Requests get a 503 naming it; `status` shows it.
    pub fn set_unrouted(&self, why: String) {
        self.shared.route.store(None);
        self.shared.unrouted.store(Some(Arc::new(why)));
    }

    /// The active route.
    pub fn route(&self) -> Option<Arc<Route>> {
        self.shared.route.load_full()
    }

    /// Route and budget usage now.
    pub fn status(&self) -> InferenceStatus {
        let route = self.route();
        let limits = route.as_ref().map(|r| *r.budget()).unwrap_or_default();
        InferenceStatus {
            route: route.map(|r| RouteSummary {
                provider: r.provider().name.clone(),
                kind: r.provider().kind,
                base_url: r.base().to_string(),
                model: r.model().map(str::to_owned),
            }),
            problem: self.shared.unrouted.load_full().map(|why| why.to_string()),
            usage: self.shared.budget.snapshot(&limits, Instant::now()),
        }
    }

    /// Answers one request addressed to `inference.local` (already decrypted when the
    /// client used https). Never fails: every problem is an HTTP answer with a JSON
    /// body and an audit line.
    pub async fn handle<B>(&self, req: Request<B>, caller: Caller) -> Response<RouterBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let route = self.shared.route.load_full();
        let (parts, body) = req.into_parts();
        let mut facts = RequestFacts {
            sandbox: self.shared.sandbox.clone(),
            generation: route.as_ref().map_or(0, |r| r.generation()),
            caller,
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            start_ms: now_ms(),
            started: Instant::now(),
            provider: route.as_ref().map(|r| r.provider().name.clone()),
            model: None,
            bytes_up: 0,
        };
        let Some(route) = route else {
            let message = match self.shared.unrouted.load_full() {
                Some(why) => format!("inference.local has no route: {why}"),
                None => "no inference route is configured for this sandbox (cordon inference set, or the policy's inference section)".to_owned(),
            };
            return self.refuse(
                &facts,
                StatusCode::SERVICE_UNAVAILABLE,
                "no_inference_route",
                &message,
                Map::new(),
            );
        };
        let (endpoint, suffix) = match ApiEndpoint::classify(&parts.method, parts.uri.path()) {
            Ok(found) => found,
            Err(Unsupported::Path) => {
                return self.refuse(
                    &facts,
                    StatusCode::NOT_FOUND,
                    "unsupported_endpoint",
                    "inference.local serves /v1/chat/completions, /v1/completions, /v1/responses, /v1/embeddings, /v1/models and /v1/messages",
                    Map::new(),
                );
            }
            Err(Unsupported::Method(allowed)) => {
                let mut response = self.refuse(
                    &facts,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    &format!("this endpoint accepts {allowed} only"),
                    Map::new(),
                );
                if let Ok(value) = HeaderValue::from_str(allowed.as_str()) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
                return response;
            }
        };
        let target = parts.uri.path_and_query().map_or("", |pq| pq.as_str());
        let forwarded_placeholder = contains_placeholder(target.as_bytes())
            || headers_contain_placeholder(&forwardable(&parts.headers));
        if forwarded_placeholder {
            return self.refuse_placeholder(&facts);
        }
        if let Err(over) = self.shared.budget.admit(route.budget(), Instant::now()) {
            let retry = over.retry_after.as_secs().max(1);
            let mut extra = Map::new();
            extra.insert("budget".into(), over.budget.into());
            extra.insert("limit".into(), over.limit.into());
            extra.insert("used".into(), over.used.into());
            extra.insert("retry_after_seconds".into(), retry.into());
            let mut response = self.refuse(
                &facts,
                StatusCode::TOO_MANY_REQUESTS,
                "budget_exceeded",
                &format!(
                    "inference budget {} exceeded ({} of {} used)",
                    over.budget, over.used, over.limit
                ),
                extra,
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry));
            return response;
        }
        let bytes = match Limited::new(body, MAX_REQUEST_BODY_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) if err.is::<http_body_util::LengthLimitError>() => {
                return self.refuse(
                    &facts,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request_too_large",
                    &format!("request bodies are limited to {MAX_REQUEST_BODY_BYTES} bytes"),
                    Map::new(),
                );
            }
            Err(_) => {
                return self.refuse(
                    &facts,
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the request body could not be read",
                    Map::new(),
                );
            }
        };
        facts.bytes_up = bytes.len() as u64;
        if contains_placeholder(&bytes) {
            return self.refuse_placeholder(&facts);
        }
        let prepared = match prepare(endpoint, bytes, route.model()) {
            Ok(prepared) => prepared,
            Err(BodyRejected(why)) => {
                return self.refuse(
                    &facts,
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    why,
                    Map::new(),
                );
            }
        };
        facts.model.clone_from(&prepared.model);
        self.forward(route, facts, parts, suffix, prepared.bytes, prepared.stream)
            .await
    }

    async fn forward(
        &self,
        route: Arc<Route>,
        facts: RequestFacts,
        parts: http::request::Parts,
        suffix: String,
        body: Bytes,
        asked_stream: bool,
    ) -> Response<RouterBody> {
        let base = route.base();
        let mut target = base.target(&suffix);
        if let Some(query) = parts.uri.query() {
            target.push('?');
            target.push_str(query);
        }
        let uri: Uri = match target.parse() {
            Ok(uri) => uri,
            Err(_) => {
                return self.refuse(
                    &facts,
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "unusable request path",
                    Map::new(),
                );
            }
        };
        let headers = upstream_headers(
            &parts.headers,
            &base.host_header(),
            route.provider().kind.auth_style(),
            route.provider().key.as_ref(),
            body.len(),
        );
        let make = || {
            let mut req = Request::new(Full::new(body.clone()));
            *req.method_mut() = parts.method.clone();
            *req.uri_mut() = uri.clone();
            *req.headers_mut() = headers.clone();
            req
        };
        let (response, connection) = match self.shared.upstream.send(base, make).await {
            Ok(done) => done,
            Err(failure) => return self.upstream_failed(&facts, &failure, asked_stream),
        };
        let (up, incoming) = response.into_parts();
        let sse = up
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.trim_start().starts_with("text/event-stream"));
        let scanner = if sse {
            Scanner::Sse(SseUsageScanner::default())
        } else {
            Scanner::Json(JsonUsageScanner::default())
        };
        let exchange = Exchange {
            shared: Arc::clone(&self.shared),
            facts,
            status: up.status.as_u16(),
            connection: Some(connection),
            streamed: sse,
        };
        let mut out = Response::new(MeteredBody::new(incoming, scanner, exchange).boxed_unsync());
        *out.status_mut() = up.status;
        *out.headers_mut() = downstream_headers(&up.headers);
        out
    }

    fn upstream_failed(
        &self,
        facts: &RequestFacts,
        failure: &UpstreamFailure,
        streamed: bool,
    ) -> Response<RouterBody> {
        let (status, reason) = match failure {
            UpstreamFailure::Connect(why) => (
                StatusCode::BAD_GATEWAY,
                format!("cannot reach the provider: {why}"),
            ),
            UpstreamFailure::Protocol(why) => (
                StatusCode::BAD_GATEWAY,
                format!("the provider broke the exchange: {why}"),
            ),
            UpstreamFailure::Timeout(why) => (StatusCode::GATEWAY_TIMEOUT, (*why).to_owned()),
        };
        self.shared.emit(facts.routed(RoutedOutcome {
            status: Some(status.as_u16()),
            streamed,
            reason: Some(&reason),
            ..RoutedOutcome::default()
        }));
        error(status, "upstream_error", &reason, Map::new())
    }

    fn refuse_placeholder(&self, facts: &RequestFacts) -> Response<RouterBody> {
        self.refuse(
            facts,
            StatusCode::FORBIDDEN,
            "placeholder_refused",
            "the request carries a cordon credential placeholder; inference.local never forwards placeholders (the provider's key is added by cordon)",
            Map::new(),
        )
    }

    fn refuse(
        &self,
        facts: &RequestFacts,
        status: StatusCode,
        kind: &str,
        message: &str,
        extra: Map<String, Value>,
    ) -> Response<RouterBody> {
        self.shared.emit(facts.denied(status.as_u16(), message));
        let mut extra = extra;
        extra.insert("cordon".into(), json!(true));
        error(status, kind, message, extra)
    }
}

/// The caller headers that would be forwarded (the placeholder check looks at these:
/// dropped headers never reach the network anyway).
fn forwardable(headers: &http::HeaderMap) -> http::HeaderMap {
    headers
        .iter()
        .filter(|(name, _)| is_forwarded(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}
