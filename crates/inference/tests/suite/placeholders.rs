//! Credential placeholders: swapped for the real value only where the endpoint binds
//! that credential, refused everywhere else — and never forwarded by the router.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;

use cordon_inference::BudgetLimits;
use cordon_secrets::{PlaceholderRefusal, Placeholders, SecretValue, Substitutor};

use super::common::*;

const REAL_TOKEN: &str = "ghp-real-service-token-0006";

fn substitutor() -> (Substitutor, String) {
    let mut placeholders = Placeholders::new();
    let placeholder = placeholders
        .issue("SERVICE_TOKEN", "service")
        .unwrap()
        .as_str()
        .to_owned();
    let secrets = HashMap::from([(
        "service".to_owned(),
        SecretValue::new(REAL_TOKEN.into()).unwrap(),
    )]);
    (Substitutor::new(placeholders, secrets), placeholder)
}

/// What the egress proxy does on an inspected request: substitute per the endpoint's
/// binding, then forward — or refuse and forward nothing.
async fn proxy_like_send(
    sub: &Substitutor,
    provider: &FakeProvider,
    bound: Option<&str>,
    placeholder: &str,
) -> Result<u16, PlaceholderRefusal> {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {placeholder}")).unwrap(),
    );
    sub.apply_to_headers(&mut headers, bound)?;
    let stream = TcpStream::connect(provider.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::post("/v1/chat/completions")
        .header("host", "service.test")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    req.headers_mut().extend(headers);
    Ok(sender.send_request(req).await.unwrap().status().as_u16())
}

#[tokio::test]
async fn placeholder_is_swapped_only_for_the_bound_endpoint() {
    // The "service" accepts only the real token.
    let service = FakeProvider::start(Style::OpenAi, REAL_TOKEN).await;
    let (sub, placeholder) = substitutor();

    assert_eq!(
        proxy_like_send(&sub, &service, Some("service"), &placeholder).await,
        Ok(200)
    );
    assert_eq!(
        service.seen()[0].headers["authorization"],
        format!("Bearer {REAL_TOKEN}").as_str()
    );

    let mismatch = proxy_like_send(&sub, &service, Some("other"), &placeholder).await;
    assert!(matches!(
        mismatch,
        Err(PlaceholderRefusal::WrongProvider { .. })
    ));
    let unbound = proxy_like_send(&sub, &service, None, &placeholder).await;
    assert!(matches!(unbound, Err(PlaceholderRefusal::NotBound { .. })));
    assert_eq!(service.seen().len(), 1, "refused requests never left");
    assert!(
        service
            .seen()
            .iter()
            .all(|s| !format!("{:?}", s.headers).contains("cordon-placeholder-"))
    );
}

#[tokio::test]
async fn router_refuses_placeholders_and_passes_the_same_request_without_one() {
    let provider = FakeProvider::start(Style::OpenAi, "sk-router-0007").await;
    let audit = AuditCapture::new();
    let router = router(&audit);
    router.set_route(Some(provider.route("oa", None, BudgetLimits::default())));
    let addr = serve_router(router).await;
    let (_, placeholder) = substitutor();

    // In a forwarded header.
    let reply = send(
        addr,
        "POST",
        "/v1/chat/completions",
        &[("x-stainless-token", &placeholder)],
        "{}",
    )
    .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json().await["error"]["type"], "placeholder_refused");
    // In the body.
    let body = json!({"messages": [{"role": "user", "content": format!("token={placeholder}")}]})
        .to_string();
    assert_eq!(
        send(addr, "POST", "/v1/chat/completions", &[], &body)
            .await
            .status,
        403
    );
    // In the URL.
    let path = format!("/v1/models?key={placeholder}");
    assert_eq!(send(addr, "GET", &path, &[], "").await.status, 403);
    assert!(provider.seen().is_empty());

    // The twin: the same requests without a placeholder pass, and a placeholder in
    // a credential header is simply dropped with the caller's credentials.
    let reply = send(
        addr,
        "POST",
        "/v1/chat/completions",
        &[
            ("x-stainless-token", "plain"),
            ("authorization", &format!("Bearer {placeholder}")),
        ],
        "{}",
    )
    .await;
    assert_eq!(reply.status, 200);
    let seen = provider.seen();
    assert_eq!(seen[0].headers["authorization"], "Bearer sk-router-0007");

    let lines = audit.lines().await;
    assert_eq!(lines.len(), 4);
    assert!(
        lines[..3]
            .iter()
            .all(|l| l["unmapped"]["action"] == "deny" && l["http_response"]["code"] == 403)
    );
    assert!(!audit.text().await.contains(&placeholder));
}
