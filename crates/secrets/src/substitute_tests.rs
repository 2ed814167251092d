//! Placeholder substitution: each refusal has an allowed twin.

use base64::Engine;
use http::HeaderValue;

use super::*;
use crate::headers_contain_placeholder;

const GH_SECRET: &str = "ghp_real_secret_value_0001";
const OTHER_SECRET: &str = "glpat-real-other-0002";

fn substitutor() -> (Substitutor, String, String) {
    let mut placeholders = Placeholders::new();
    let gh = placeholders
        .issue("GITHUB_TOKEN", "github")
        .unwrap()
        .as_str()
        .to_owned();
    let gl = placeholders
        .issue("GITLAB_TOKEN", "gitlab")
        .unwrap()
        .as_str()
        .to_owned();
    let secrets = HashMap::from([
        (
            "github".to_owned(),
            SecretValue::new(GH_SECRET.into()).unwrap(),
        ),
        (
            "gitlab".to_owned(),
            SecretValue::new(OTHER_SECRET.into()).unwrap(),
        ),
    ]);
    (Substitutor::new(placeholders, secrets), gh, gl)
}

fn headers_with(name: &'static str, value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("accept", HeaderValue::from_static("*/*"));
    headers.insert(name, HeaderValue::from_str(value).unwrap());
    headers
}

#[test]
fn bound_endpoint_gets_the_real_value() {
    let (sub, gh, _) = substitutor();
    let mut headers = headers_with("authorization", &format!("Bearer {gh}"));
    let done = sub.apply_to_headers(&mut headers, Some("github")).unwrap();
    assert_eq!(done.count, 1);
    assert_eq!(
        headers["authorization"],
        format!("Bearer {GH_SECRET}").as_str()
    );
    assert!(headers["authorization"].is_sensitive());
    assert_eq!(headers["accept"], "*/*");
    assert!(!headers_contain_placeholder(&headers));
    // Debug of the map never shows the secret.
    assert!(!format!("{headers:?}").contains(GH_SECRET));
}

#[test]
fn unbound_endpoint_is_refused_and_headers_are_untouched() {
    let (sub, gh, _) = substitutor();
    let mut headers = headers_with("authorization", &format!("Bearer {gh}"));
    let before = headers.clone();
    let err = sub.apply_to_headers(&mut headers, None).unwrap_err();
    assert!(
        matches!(err, PlaceholderRefusal::NotBound { ref provider, .. } if provider == "github")
    );
    assert_eq!(headers, before);
    assert!(err.hint().contains("credential_binding"));
}

#[test]
fn endpoint_bound_to_another_credential_is_refused() {
    let (sub, gh, _) = substitutor();
    let mut headers = headers_with("authorization", &format!("Bearer {gh}"));
    let err = sub
        .apply_to_headers(&mut headers, Some("gitlab"))
        .unwrap_err();
    assert!(
        matches!(err, PlaceholderRefusal::WrongProvider { ref bound, .. } if bound == "gitlab")
    );
}

#[test]
fn one_wrong_placeholder_refuses_the_whole_request() {
    let (sub, gh, gl) = substitutor();
    let mut headers = headers_with("authorization", &format!("Bearer {gh}"));
    headers.insert("x-other", HeaderValue::from_str(&gl).unwrap());
    let before = headers.clone();
    assert!(sub.apply_to_headers(&mut headers, Some("github")).is_err());
    assert_eq!(headers, before, "all-or-nothing");
}

#[test]
fn unknown_and_malformed_placeholders_are_refused() {
    let (sub, _, _) = substitutor();
    let foreign = crate::Placeholder::generate().unwrap();
    let mut headers = headers_with("x-api-key", foreign.as_str());
    assert_eq!(
        sub.apply_to_headers(&mut headers, Some("github")),
        Err(PlaceholderRefusal::Unknown)
    );
    let mut headers = headers_with("x-api-key", "cordon-placeholder-zz");
    assert_eq!(
        sub.apply_to_headers(&mut headers, Some("github")),
        Err(PlaceholderRefusal::Unknown)
    );
}

#[test]
fn basic_credentials_are_decoded_substituted_and_reencoded() {
    let (sub, gh, _) = substitutor();
    let engine = base64::engine::general_purpose::STANDARD;
    let basic = engine.encode(format!("x-access-token:{gh}"));
    let mut headers = headers_with("authorization", &format!("Basic {basic}"));
    sub.apply_to_headers(&mut headers, Some("github")).unwrap();
    let value = headers["authorization"].to_str().unwrap();
    let decoded = engine
        .decode(value.strip_prefix("Basic ").unwrap())
        .unwrap();
    assert_eq!(decoded, format!("x-access-token:{GH_SECRET}").as_bytes());

    let mut headers = headers_with("authorization", &format!("Basic {basic}"));
    assert!(sub.apply_to_headers(&mut headers, None).is_err());
}

#[test]
fn repeated_header_names_keep_their_order() {
    let (sub, gh, _) = substitutor();
    let mut headers = HeaderMap::new();
    headers.append("x-multi", HeaderValue::from_static("one"));
    headers.append("x-multi", HeaderValue::from_str(&gh).unwrap());
    headers.append("x-multi", HeaderValue::from_static("three"));
    sub.apply_to_headers(&mut headers, Some("github")).unwrap();
    let values: Vec<_> = headers.get_all("x-multi").iter().collect();
    assert_eq!(values, ["one", GH_SECRET, "three"]);
}

#[test]
fn requests_without_placeholders_pass_unchanged_whatever_the_binding() {
    let (sub, _, _) = substitutor();
    let mut headers = headers_with("authorization", "Bearer caller-own-token");
    let before = headers.clone();
    assert_eq!(
        sub.apply_to_headers(&mut headers, None).unwrap(),
        Substituted::default()
    );
    assert_eq!(headers, before);
}

#[test]
fn placeholders_in_urls_are_refused_even_percent_encoded() {
    let (sub, gh, _) = substitutor();
    assert_eq!(
        sub.check_target(&format!("/api?token={gh}")),
        Err(PlaceholderRefusal::InUrl)
    );
    let encoded = gh.replace('-', "%2D");
    assert_eq!(
        sub.check_target(&format!("/api?token={encoded}")),
        Err(PlaceholderRefusal::InUrl)
    );
    sub.check_target("/api?token=plain").unwrap();
}

#[test]
fn json_bodies_are_substituted_with_escaping_when_bound() {
    let mut placeholders = Placeholders::new();
    let p = placeholders
        .issue("TOK", "svc")
        .unwrap()
        .as_str()
        .to_owned();
    let secrets = HashMap::from([(
        "svc".to_owned(),
        SecretValue::new(r#"a"b\c"#.into()).unwrap(),
    )]);
    let sub = Substitutor::new(placeholders, secrets);
    let body = format!(r#"{{"token":"{p}","n":1}}"#);
    let (out, done) = sub
        .apply_to_json_body(body.as_bytes(), Some("svc"))
        .unwrap()
        .unwrap();
    assert_eq!(done.count, 1);
    let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(parsed["token"], r#"a"b\c"#);
    assert!(sub.apply_to_json_body(body.as_bytes(), None).is_err());
    assert!(sub.apply_to_json_body(b"{}", None).unwrap().is_none());
}

#[test]
fn missing_secret_is_a_refusal_not_a_leak() {
    let mut placeholders = Placeholders::new();
    let p = placeholders
        .issue("TOK", "svc")
        .unwrap()
        .as_str()
        .to_owned();
    let sub = Substitutor::new(placeholders, HashMap::new());
    let mut headers = headers_with("x-api-key", &p);
    assert!(matches!(
        sub.apply_to_headers(&mut headers, Some("svc")),
        Err(PlaceholderRefusal::MissingSecret { .. })
    ));
}

#[test]
fn bodies_relayed_as_they_are_are_checked() {
    let (s, github, _) = substitutor();
    assert_eq!(s.check_body(b"{\"plain\":true}"), Ok(()));
    let body = format!("{{\"token\":\"{github}\"}}");
    let err = s.check_body(body.as_bytes()).unwrap_err();
    assert!(matches!(err, PlaceholderRefusal::InBody { ref provider, .. } if provider == "github"));
    assert!(err.hint().contains("json_body: true"));
    let forged = format!("{}{}", crate::PLACEHOLDER_PREFIX, "0".repeat(32));
    assert_eq!(
        s.check_body(forged.as_bytes()),
        Err(PlaceholderRefusal::Unknown)
    );
}
