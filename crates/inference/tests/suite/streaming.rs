//! Streamed responses are relayed event by event: the agent has the first event while
//! the provider is still holding back the rest (see the gate in `common`), and the
//! usage in the final events reaches the audit line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use http_body_util::BodyExt;
use serde_json::json;

use cordon_inference::BudgetLimits;

use super::common::*;

const KEY: &str = "sk-stream-key-0002";

/// Reads the body frame by frame; releases the provider's gate once the first frame
/// (the first event) has arrived, and checks the provider had not finished by then.
async fn read_gated(reply: Reply, provider: &FakeProvider) -> String {
    let mut body = reply.body;
    let mut text = String::new();
    let mut released = false;
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap();
        if let Some(data) = frame.data_ref() {
            text.push_str(std::str::from_utf8(data).unwrap());
        }
        if !released && !text.is_empty() {
            assert!(provider.gate.first_sent());
            assert!(
                !provider.gate.finished(),
                "the first event arrived only after the provider finished the stream"
            );
            provider.gate.release();
            released = true;
        }
    }
    assert!(released, "no event arrived");
    assert!(
        !provider.gate.timed_out(),
        "the provider never learned the client had the first event: the router held the stream back"
    );
    text
}

#[tokio::test]
async fn openai_stream_is_relayed_incrementally_with_usage() {
    let provider = FakeProvider::start(Style::OpenAi, KEY).await;
    let audit = AuditCapture::new();
    let router = router(&audit);
    router.set_route(Some(provider.route(
        "oa",
        Some("m-stream"),
        BudgetLimits::default(),
    )));
    let addr = serve_router(router).await;

    let reply = send(
        addr,
        "POST",
        "/v1/chat/completions",
        &[("accept", "text/event-stream")],
        &json!({"model": "x", "stream": true, "messages": []}).to_string(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "text/event-stream");
    let text = read_gated(reply, &provider).await;
    assert!(
        text.contains("\"first\"")
            && text.contains("\"second\"")
            && text.ends_with("data: [DONE]\n\n"),
        "{text}"
    );

    // The router asked the provider to include usage in the stream.
    let sent = provider.seen()[0].json();
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(sent["model"], "m-stream");

    let lines = audit.lines().await;
    assert_eq!(lines.len(), 1);
    let info = inference_of(&lines[0]);
    assert_eq!(info["streamed"], true);
    assert_eq!(
        (info["tokens_in"].as_u64(), info["tokens_out"].as_u64()),
        (Some(5), Some(7))
    );
    assert_eq!(
        lines[0]["traffic"]["bytes_in"].as_u64(),
        Some(text.len() as u64)
    );
}

#[tokio::test]
async fn anthropic_stream_is_relayed_incrementally_with_usage() {
    let provider = FakeProvider::start(Style::Anthropic, KEY).await;
    let audit = AuditCapture::new();
    let router = router(&audit);
    router.set_route(Some(provider.route("ant", None, BudgetLimits::default())));
    let addr = serve_router(router).await;

    let reply = send(
        addr,
        "POST",
        "/v1/messages",
        &[],
        &json!({"model": "claude", "stream": true, "max_tokens": 5, "messages": []}).to_string(),
    )
    .await;
    assert_eq!(reply.status, 200);
    let text = read_gated(reply, &provider).await;
    assert!(text.starts_with("event: message_start"), "{text}");
    assert!(text.contains("event: message_stop"), "{text}");
    // Anthropic requests are not given OpenAI's stream_options.
    assert!(provider.seen()[0].json().get("stream_options").is_none());

    let lines = audit.lines().await;
    let info = inference_of(&lines[0]);
    assert_eq!(info["streamed"], true);
    assert_eq!(
        (info["tokens_in"].as_u64(), info["tokens_out"].as_u64()),
        (Some(10), Some(20))
    );
}

#[tokio::test]
async fn a_client_leaving_mid_stream_is_still_audited() {
    let provider = FakeProvider::start(Style::OpenAi, KEY).await;
    let audit = AuditCapture::new();
    let router = router(&audit);
    router.set_route(Some(provider.route("oa", None, BudgetLimits::default())));
    let addr = serve_router(router).await;

    let reply = send(
        addr,
        "POST",
        "/v1/chat/completions",
        &[],
        &json!({"stream": true}).to_string(),
    )
    .await;
    let mut body = reply.body;
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.data_ref().is_some());
    drop(body);
    provider.gate.release();
    // The router notices when it next writes to the closed connection.
    let mut lines = audit.lines().await;
    for _ in 0..1000 {
        if !lines.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        lines = audit.lines().await;
    }
    assert_eq!(lines[0]["unmapped"]["action"], "route");
    assert!(
        lines[0]["status_detail"]
            .as_str()
            .unwrap()
            .contains("ended early"),
        "{}",
        lines[0]
    );
}
