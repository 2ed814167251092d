//! https providers: the router verifies the provider's certificate (here against a
//! test CA) and refuses one it cannot verify.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use cordon_inference::{BudgetLimits, InferenceRouter, Route, RouterConfig, client_tls_only};

use super::common::*;

/// A CA and a `localhost` server configuration signed by it; returns (CA PEM, config).
fn test_pki() -> (String, Arc<rustls::ServerConfig>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "cordon inference test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    (ca_cert.pem(), Arc::new(config))
}

fn tls_router(audit: &AuditCapture, ca_pem: &str) -> InferenceRouter {
    InferenceRouter::new(RouterConfig {
        sandbox: "tls".into(),
        audit: Some(audit.sink()),
        tls: cordon_inference::LazyTls::ready(client_tls_only(ca_pem).unwrap()),
    })
}

#[tokio::test]
async fn https_provider_with_trusted_certificate() {
    let (ca_pem, server) = test_pki();
    let provider = FakeProvider::start_with(Style::OpenAi, "sk-tls-0008", Some(server)).await;
    let audit = AuditCapture::new();
    let router = tls_router(&audit, &ca_pem);
    let base = format!("https://localhost:{}/v1", provider.addr.port());
    router.set_route(Some(
        Route::new(
            provider.resolved_at("tls", &base),
            None,
            BudgetLimits::default(),
        )
        .unwrap(),
    ));
    let addr = serve_router(router).await;
    let reply = send(addr, "POST", "/v1/chat/completions", &[], "{}").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        provider.seen()[0].headers["authorization"],
        "Bearer sk-tls-0008"
    );
    assert_eq!(
        provider.seen()[0].headers["host"],
        format!("localhost:{}", provider.addr.port()).as_str()
    );
}

#[tokio::test]
async fn https_provider_with_untrusted_certificate_is_refused() {
    let (_, server) = test_pki();
    let (other_ca, _) = test_pki();
    let provider = FakeProvider::start_with(Style::OpenAi, "sk-tls-0009", Some(server)).await;
    let audit = AuditCapture::new();
    let router = tls_router(&audit, &other_ca);
    let base = format!("https://localhost:{}/v1", provider.addr.port());
    router.set_route(Some(
        Route::new(
            provider.resolved_at("tls", &base),
            None,
            BudgetLimits::default(),
        )
        .unwrap(),
    ));
    let addr = serve_router(router).await;
    let reply = send(addr, "POST", "/v1/chat/completions", &[], "{}").await;
    assert_eq!(reply.status, 502);
    assert!(
        provider.seen().is_empty(),
        "no request over an unverified connection"
    );
    let lines = audit.lines().await;
    let detail = lines[0]["status_detail"].as_str().unwrap();
    assert!(
        detail.contains("TLS") && detail.to_lowercase().contains("certificate"),
        "{detail}"
    );
}
