//! `https://` upstreams: HTTP integrations and OIDC discovery + JWKS against TLS backends on
//! 127.0.0.1:0 whose certificates come from a CA made in the test. The gateway trusts that
//! CA only when it is configured as the extra CA; a backend it cannot verify is unreachable,
//! as on API Gateway (<https://repost.aws/knowledge-center/api-gateway-ssl-certificate-errors>).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::auth::{b64, hs256, jwt_api, now, with_token};
use crate::support::{Answer, Harness, TestCa, http_integration, https_backend};

/// Which CA signs the backend's certificate, and which CA the gateway trusts besides
/// Mozilla's roots.
#[derive(Clone, Copy)]
enum Trust {
    /// The backend's CA is the configured extra CA.
    Configured,
    /// No extra CA: the test CA is in no root store.
    Nothing,
    /// An extra CA is configured, but the backend's certificate comes from another one.
    OtherCa,
}

fn harness_and_ca(trust: Trust) -> (Harness, TestCa) {
    let backend_ca = TestCa::new("nuvem test CA");
    let h = match trust {
        Trust::Configured => Harness::trusting(Some(&backend_ca.pem)),
        Trust::Nothing => Harness::new(),
        Trust::OtherCa => Harness::trusting(Some(&TestCa::new("another CA").pem)),
    };
    (h, backend_ca)
}

/// An HTTP integration to an HTTPS backend: the status the client gets, and the path the
/// backend saw (when it answered).
#[track_caller]
fn check_integration(trust: Trust, status: u16, backend_path: Option<&str>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (got_status, got_path, got_header) = rt.block_on(async {
        let (h, ca) = harness_and_ca(trust);
        let echo: Answer = Arc::new(|parts, _| json!({"uri": parts.uri.to_string()}));
        let backend = https_backend(&ca, echo).await;
        let id = h.api(&[(
            "GET /items/{id}",
            http_integration(&format!("{backend}/v1/items/{{id}}")),
        )]);
        let r = h.get(&id, "/items/42?x=1").await;
        let path = r.json()["uri"].as_str().map(String::from);
        (
            r.status.as_u16(),
            path,
            r.header("x-backend").map(String::from),
        )
    });
    assert_eq!(got_status, status);
    assert_eq!(got_path.as_deref(), backend_path);
    let header = backend_path.map(|_| "tls");
    assert_eq!(
        got_header.as_deref(),
        header,
        "backend headers pass through"
    );
}

#[test]
fn http_integration_over_https() {
    check_integration(Trust::Configured, 200, Some("/v1/items/42?x=1"));
    check_integration(Trust::Nothing, 503, None);
    check_integration(Trust::OtherCa, 503, None);
}

/// A JWT authorizer whose issuer (OIDC discovery and JWKS) is an HTTPS backend: the status a
/// valid token gets.
#[track_caller]
fn check_jwks(trust: Trust, status: u16) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let got = rt.block_on(async {
        let (h, ca) = harness_and_ca(trust);
        let secret = b"a-shared-secret-of-enough-length";
        let jwks = json!({"keys": [{"kty": "oct", "kid": "k1", "k": b64(secret)}]});
        let issuer: Answer = Arc::new(move |parts, base| match parts.uri.path() {
            "/.well-known/openid-configuration" => {
                json!({"issuer": base, "jwks_uri": format!("{base}/keys")})
            }
            "/keys" => jwks.clone(),
            _ => Value::Null,
        });
        let iss = https_backend(&ca, issuer).await;
        let id = jwt_api(
            &h,
            json!({"name": "jwt", "authorizerType": "JWT",
                   "identitySource": ["$request.header.Authorization"],
                   "jwtConfiguration": {"issuer": iss, "audience": ["app"]}}),
            &[],
        );
        let token = hs256(
            secret,
            "k1",
            &json!({"iss": iss, "aud": "app", "exp": now() + 60}),
        );
        with_token(&h, &id, Some(&token)).await.0
    });
    assert_eq!(got, status);
}

#[test]
fn jwks_over_https() {
    check_jwks(Trust::Configured, 200);
    // Keys that cannot be fetched verify no token (API Gateway answers 401).
    check_jwks(Trust::Nothing, 401);
    check_jwks(Trust::OtherCa, 401);
}

/// An extra CA bundle without a certificate is refused when the gateway opens.
#[test]
fn unusable_extra_ca_is_refused() {
    for pem in ["", "not a certificate"] {
        let dir = tempfile::tempdir().unwrap();
        let store = nuvem_store::Store::new(
            nuvem_store::FjallEngine::open(dir.path(), nuvem_store::Durability::Process).unwrap(),
        );
        let got = nuvem_gateway::Gateway::open(
            store,
            nuvem_gateway::GatewayConfig {
                region: "us-east-1".into(),
                account_id: "000000000000".into(),
                extra_ca_pem: Some(pem.as_bytes().to_vec()),
            },
        );
        assert!(
            matches!(got, Err(nuvem_gateway::Error::UpstreamCa(_))),
            "{pem:?}"
        );
    }
}
