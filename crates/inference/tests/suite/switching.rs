//! Switching the route on a running router: new requests go to the new provider with
//! its key and style; a stream that started before the switch finishes where it began.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use http_body_util::BodyExt;
use serde_json::json;

use cordon_inference::BudgetLimits;

use super::common::*;

#[tokio::test]
async fn switching_provider_and_model_at_runtime() {
    let openai = FakeProvider::start(Style::OpenAi, "sk-first-0004").await;
    let anthropic = FakeProvider::start(Style::Anthropic, "sk-second-0005").await;
    let audit = AuditCapture::new();
    let router = router(&audit);
    router.set_route(Some(openai.route(
        "first",
        Some("model-a"),
        BudgetLimits::default(),
    )));
    let addr = serve_router(router.clone()).await;

    // A stream in flight on the first route.
    let streaming = send(
        addr,
        "POST",
        "/v1/chat/completions",
        &[],
        &json!({"stream": true}).to_string(),
    )
    .await;
    let mut stream_body = streaming.body;
    stream_body.frame().await.unwrap().unwrap();

    router.set_route(Some(anthropic.route(
        "second",
        Some("model-b"),
        BudgetLimits::default(),
    )));
    let reply = send(
        addr,
        "POST",
        "/v1/messages",
        &[],
        &json!({"model": "x"}).to_string(),
    )
    .await;
    assert_eq!(reply.status, 200);
    reply.text().await;
    let seen = anthropic.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers["x-api-key"], "sk-second-0005");
    assert_eq!(seen[0].json()["model"], "model-b");

    // The old stream completes from the first provider.
    openai.gate.release();
    let rest = stream_body.collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&rest).contains("[DONE]"));
    assert_eq!(openai.seen().len(), 1);

    // Switching back, and removing the route.
    router.set_route(Some(openai.route("first", None, BudgetLimits::default())));
    let reply = send(addr, "POST", "/v1/chat/completions", &[], "{}").await;
    assert_eq!(reply.status, 200);
    reply.text().await;
    assert_eq!(openai.seen().len(), 2);
    router.set_route(None);
    assert_eq!(
        send(addr, "POST", "/v1/chat/completions", &[], "{}")
            .await
            .status,
        503
    );

    let providers: Vec<_> = audit
        .lines()
        .await
        .iter()
        .filter_map(|l| inference_of(l)["provider"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(providers, ["second", "first", "first"]);
}
