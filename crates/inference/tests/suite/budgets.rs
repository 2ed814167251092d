//! Budgets: past the limit the router answers 429 naming the budget, and the
//! provider sees nothing; below it, requests pass.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cordon_inference::BudgetLimits;

use super::common::*;

const KEY: &str = "sk-budget-key-0003";

#[tokio::test]
async fn requests_per_minute_budget_refuses_the_third_request() {
    let provider = FakeProvider::start(Style::OpenAi, KEY).await;
    let audit = AuditCapture::new();
    let router = router(&audit);
    let budget = BudgetLimits {
        max_requests_per_minute: Some(2),
        max_tokens_per_hour: None,
    };
    router.set_route(Some(provider.route("oa", None, budget)));
    let addr = serve_router(router.clone()).await;

    for _ in 0..2 {
        let reply = send(addr, "POST", "/v1/chat/completions", &[], "{}").await;
        assert_eq!(reply.status, 200);
        reply.text().await;
    }
    let reply = send(addr, "POST", "/v1/chat/completions", &[], "{}").await;
    assert_eq!(reply.status, 429);
    let retry: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let body = reply.json().await;
    assert_eq!(body["error"]["type"], "budget_exceeded");
    assert_eq!(body["error"]["budget"], "max_requests_per_minute");
    assert_eq!(
        (
            body["error"]["limit"].as_u64(),
            body["error"]["used"].as_u64()
        ),
        (Some(2), Some(2))
    );
    assert_eq!(provider.seen().len(), 2, "the refused request never left");

    let status = router.status();
    assert_eq!(status.usage.requests_last_minute, 2);
    assert_eq!(status.usage.refused_total, 1);
    assert_eq!(status.usage.limits, budget);
    assert_eq!(status.usage.tokens_in_total, 10);

    let lines = audit.lines().await;
    assert_eq!(lines[2]["unmapped"]["action"], "deny");
    assert_eq!(lines[2]["http_response"]["code"], 429);
    assert!(
        lines[2]["status_detail"]
            .as_str()
            .unwrap()
            .contains("max_requests_per_minute")
    );
}

#[tokio::test]
async fn tokens_per_hour_budget_counts_reported_usage() {
    let provider = FakeProvider::start(Style::OpenAi, KEY).await;
    let audit = AuditCapture::new();
    let router = router(&audit);
    // One completion uses 5 + 7 = 12 tokens.
    let budget = BudgetLimits {
        max_requests_per_minute: None,
        max_tokens_per_hour: Some(20),
    };
    router.set_route(Some(provider.route("oa", None, budget)));
    let addr = serve_router(router.clone()).await;

    for expected in [200, 200, 429] {
        let reply = send(addr, "POST", "/v1/chat/completions", &[], "{}").await;
        assert_eq!(reply.status, expected);
        if expected == 429 {
            let body = reply.json().await;
            assert_eq!(body["error"]["budget"], "max_tokens_per_hour");
            assert_eq!(body["error"]["used"].as_u64(), Some(24));
        } else {
            reply.text().await;
        }
    }
    assert_eq!(provider.seen().len(), 2);
    assert_eq!(router.status().usage.tokens_last_hour, 24);
}

#[tokio::test]
async fn budgets_survive_a_route_switch() {
    let first = FakeProvider::start(Style::OpenAi, KEY).await;
    let second = FakeProvider::start(Style::OpenAi, KEY).await;
    let audit = AuditCapture::new();
    let router = router(&audit);
    let budget = BudgetLimits {
        max_requests_per_minute: Some(1),
        max_tokens_per_hour: None,
    };
    router.set_route(Some(first.route("a", None, budget)));
    let addr = serve_router(router.clone()).await;
    assert_eq!(
        send(addr, "POST", "/v1/chat/completions", &[], "{}")
            .await
            .status,
        200
    );
    router.set_route(Some(second.route("b", None, budget)));
    assert_eq!(
        send(addr, "POST", "/v1/chat/completions", &[], "{}")
            .await
            .status,
        429
    );
    assert!(second.seen().is_empty());
}
