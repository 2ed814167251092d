//! A unique key planted in a provider never shows up in audit output, Debug output or
//! the router's answers; only its fingerprint does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cordon_inference::{BudgetLimits, NewProvider, ProviderKind, ProviderRegistry};
use cordon_secrets::{ConfigDir, SecretValue};
use serde_json::json;

use super::common::*;

const PLANTED: &str = "sk-planted-UNIQUE-9f3c2a71e4";

#[tokio::test]
async fn the_key_never_reaches_audit_debug_or_responses() {
    let provider = FakeProvider::start(Style::OpenAi, PLANTED).await;
    let audit = AuditCapture::new();
    let router = router(&audit);
    router.set_route(Some(provider.route(
        "planted",
        Some("m"),
        BudgetLimits {
            max_requests_per_minute: Some(3),
            max_tokens_per_hour: None,
        },
    )));
    let addr = serve_router(router.clone()).await;

    let mut answers = String::new();
    for (path, body) in [
        ("/v1/chat/completions", json!({"stream": true}).to_string()),
        ("/v1/chat/completions", "{}".to_owned()),
        ("/v1/files", "{}".to_owned()),
        ("/v1/embeddings", "{}".to_owned()),
        ("/v1/chat/completions", "{}".to_owned()),
    ] {
        if path == "/v1/chat/completions" && body.contains("stream") {
            provider.gate.release();
        }
        let reply = send(
            addr,
            "POST",
            path,
            &[("authorization", "Bearer caller")],
            &body,
        )
        .await;
        answers.push_str(&format!("{:?}", reply.headers));
        answers.push_str(&reply.text().await);
    }
    // The provider got the key (the requests were real)...
    assert!(
        provider
            .seen()
            .iter()
            .any(|s| s.headers["authorization"] == format!("Bearer {PLANTED}").as_str())
    );
    // ...and nothing else did.
    let audit_text = audit.text().await;
    assert!(audit_text.lines().count() >= 5, "{audit_text}");
    assert!(!audit_text.contains(PLANTED), "{audit_text}");
    assert!(!answers.contains(PLANTED));
    let debug = format!("{router:?} {:?} {:?}", router.route(), router.status());
    assert!(!debug.contains(PLANTED), "{debug}");
}

#[test]
fn stored_keys_stay_out_of_the_provider_file_and_debug() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ConfigDir::at(tmp.path().join("cordon"));
    let registry = ProviderRegistry::new(dir.clone());
    let record = registry
        .create(
            NewProvider {
                name: "planted".into(),
                kind: ProviderKind::OpenAi,
                base_url: None,
                key: Some(SecretValue::new(PLANTED.into()).unwrap()),
            },
            false,
            0,
        )
        .unwrap();
    let providers = std::fs::read_to_string(dir.file(cordon_inference::PROVIDERS_FILE)).unwrap();
    assert!(!providers.contains(PLANTED));
    assert!(providers.contains(record.key_fingerprint.as_ref().unwrap().as_str()));
    let resolved = registry.resolve("planted").unwrap();
    assert!(!format!("{resolved:?} {registry:?} {record:?}").contains(PLANTED));
    // The credential file is the one place it lives.
    let creds = std::fs::read_to_string(dir.file(cordon_secrets::CREDENTIALS_FILE)).unwrap();
    assert!(creds.contains(PLANTED));
}
