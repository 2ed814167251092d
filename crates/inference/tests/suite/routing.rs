//! Requests through the router reach the provider with the provider's key, never the
//! caller's, with the route's model; unsupported APIs never reach it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cordon_inference::BudgetLimits;
use serde_json::json;

use super::common::*;

const PROVIDER_KEY: &str = "sk-provider-routing-0001";

const CALLER_CREDENTIALS: [(&str, &str); 5] = [
    ("authorization", "Bearer sk-caller-own"),
    ("x-api-key", "sk-caller-own"),
    ("api-key", "sk-caller-own"),
    ("cookie", "session=caller"),
    ("proxy-authorization", "Basic Y2FsbGVyOnB3"),
];

#[tokio::test]
async fn openai_request_gets_provider_key_and_route_model() {
    let provider = FakeProvider::start(Style::OpenAi, PROVIDER_KEY).await;
    let audit = AuditCapture::new();
    let router = router(&audit);
    router.set_route(Some(provider.route(
        "oa",
        Some("route-model"),
        BudgetLimits::default(),
    )));
    let addr = serve_router(router).await;

    let mut headers = CALLER_CREDENTIALS.to_vec();
    headers.push(("content-type", "application/json"));
    let reply = send(
        addr,
        "POST",
        "/v1/chat/completions",
        &headers,
        &json!({"model": "caller-model", "messages": [{"role": "user", "content": "hi"}]})
            .to_string(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(
        !reply.headers.contains_key("set-cookie"),
        "provider cookies stay out"
    );
    let body = reply.json().await;
    assert_eq!(body["model"], "route-model");

    let seen = provider.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(
        req.headers["authorization"],
        format!("Bearer {PROVIDER_KEY}").as_str()
    );
    for gone in ["x-api-key", "api-key", "cookie", "proxy-authorization"] {
        assert!(
            !req.headers.contains_key(gone),
            "{gone} reached the provider"
        );
    }
    assert_eq!(req.json()["model"], "route-model");
    assert_eq!(req.json()["messages"][0]["content"], "hi");

    let lines = audit.lines().await;
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    assert_eq!(line["unmapped"]["action"], "route");
    assert_eq!(line["dst_endpoint"]["hostname"], "inference.local");
    assert_eq!(line["http_response"]["code"], 200);
    let info = inference_of(line);
    assert_eq!(info["provider"], "oa");
    assert_eq!(info["model"], "route-model");
    assert_eq!(
        (info["tokens_in"].as_u64(), info["tokens_out"].as_u64()),
        (Some(5), Some(7))
    );
    assert!(line["duration"].is_u64());
}

#[tokio::test]
async fn anthropic_request_gets_x_api_key_and_version() {
    let provider = FakeProvider::start(Style::Anthropic, PROVIDER_KEY).await;
    let audit = AuditCapture::new();
    let router = router(&audit);
    router.set_route(Some(provider.route(
        "ant",
        Some("claude-route"),
        BudgetLimits::default(),
    )));
    let addr = serve_router(router).await;

    let reply = send(
        addr,
        "POST",
        "/v1/messages",
        &CALLER_CREDENTIALS,
        &json!({"model": "claude-caller", "max_tokens": 5, "messages": []}).to_string(),
    )
    .await;
    assert_eq!(reply.status, 200);
    let seen = provider.seen();
    let req = &seen[0];
    assert_eq!(req.headers["x-api-key"], PROVIDER_KEY);
    assert_eq!(req.headers["anthropic-version"], "2023-06-01");
    assert!(!req.headers.contains_key("authorization"));
    assert_eq!(req.json()["model"], "claude-route");
    let lines = audit.lines().await;
    let info = inference_of(&lines[0]);
    assert_eq!(
        (info["tokens_in"].as_u64(), info["tokens_out"].as_u64()),
        (Some(10), Some(20))
    );
}

#[tokio::test]
async fn every_openai_api_is_forwarded_and_the_callers_model_kept_without_route_model() {
    let provider = FakeProvider::start(Style::OpenAi, PROVIDER_KEY).await;
    let audit = AuditCapture::new();
    let router = router(&audit);
    router.set_route(Some(provider.route("oa", None, BudgetLimits::default())));
    let addr = serve_router(router).await;
    let body = json!({"model": "caller-model", "input": "x", "prompt": "x"}).to_string();
    for path in [
        "/v1/completions",
        "/v1/responses",
        "/v1/embeddings",
        "/chat/completions",
    ] {
        let reply = send(addr, "POST", path, &[], &body).await;
        assert_eq!(reply.status, 200, "{path}");
    }
    let reply = send(addr, "GET", "/v1/models?limit=5", &[], "").await;
    assert_eq!(reply.status, 200);
    let paths: Vec<_> = provider.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths,
        [
            "/v1/completions",
            "/v1/responses",
            "/v1/embeddings",
            "/v1/chat/completions",
            "/v1/models?limit=5"
        ]
    );
    assert!(
        provider.seen()[..4]
            .iter()
            .all(|s| s.json()["model"] == "caller-model")
    );
    let lines = audit.lines().await;
    // responses API usage uses input/output names.
    let info = inference_of(&lines[1]);
    assert_eq!(
        (info["tokens_in"].as_u64(), info["tokens_out"].as_u64()),
        (Some(3), Some(4))
    );
}

#[tokio::test]
async fn unsupported_apis_never_reach_the_provider() {
    let provider = FakeProvider::start(Style::OpenAi, PROVIDER_KEY).await;
    let audit = AuditCapture::new();
    let router = router(&audit);
    router.set_route(Some(provider.route("oa", None, BudgetLimits::default())));
    let addr = serve_router(router).await;

    let reply = send(addr, "POST", "/v1/files", &[], "{}").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json().await["error"]["type"], "unsupported_endpoint");
    let reply = send(addr, "GET", "/v1/chat/completions", &[], "").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.headers["allow"], "POST");
    let reply = send(addr, "POST", "/v1/chat/completions", &[], "not json").await;
    assert_eq!(reply.status, 400);
    assert!(provider.seen().is_empty());

    // The allowed twin on the same router.
    let reply = send(addr, "POST", "/v1/chat/completions", &[], "{}").await;
    assert_eq!(reply.status, 200);
    assert_eq!(provider.seen().len(), 1);

    let actions: Vec<_> = audit
        .lines()
        .await
        .iter()
        .map(|l| l["unmapped"]["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["deny", "deny", "deny", "route"]);
}

#[tokio::test]
async fn no_route_is_503_and_a_dead_provider_is_502() {
    let audit = AuditCapture::new();
    let router = router(&audit);
    let addr = serve_router(router.clone()).await;
    let reply = send(addr, "POST", "/v1/chat/completions", &[], "{}").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json().await["error"]["type"], "no_inference_route");

    // A provider that is not listening: bind a port, then free it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = listener.local_addr().unwrap();
    drop(listener);
    let provider = FakeProvider::start(Style::OpenAi, PROVIDER_KEY).await;
    let mut resolved = provider.resolved("dead");
    resolved.base = Some(cordon_inference::BaseUrl::parse(&format!("http://{dead}/v1")).unwrap());
    router.set_route(Some(
        cordon_inference::Route::new(resolved, None, BudgetLimits::default()).unwrap(),
    ));
    let reply = send(addr, "POST", "/v1/chat/completions", &[], "{}").await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json().await["error"]["type"], "upstream_error");
    let lines = audit.lines().await;
    assert_eq!(lines[1]["unmapped"]["action"], "route");
    assert_eq!(lines[1]["http_response"]["code"], 502);
    assert!(
        lines[1]["status_detail"]
            .as_str()
            .unwrap()
            .contains("cannot reach")
    );
}

#[tokio::test]
async fn keep_alive_connections_to_the_provider_are_reused() {
    let provider = FakeProvider::start(Style::OpenAi, PROVIDER_KEY).await;
    let audit = AuditCapture::new();
    let router = router(&audit);
    router.set_route(Some(provider.route("oa", None, BudgetLimits::default())));
    let addr = serve_router(router).await;
    for _ in 0..5 {
        let reply = send(addr, "POST", "/v1/chat/completions", &[], "{}").await;
        assert_eq!(reply.status, 200);
        reply.text().await;
    }
    assert_eq!(provider.seen().len(), 5);
    assert_eq!(provider.connections(), 1, "one pooled upstream connection");
}
