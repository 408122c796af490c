//! JWT authorizers (HS256 with an inline JWKS, RS256 with keys from the issuer's OIDC
//! discovery over HTTP; tokens signed here with generated keys) and Lambda authorizers
//! (simple responses, caching by identity source).

use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::Request;
use nuvem_gateway::InvokeResult;
use serde_json::{Value, json};

use crate::support::{Harness, lambda};

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub(crate) fn hs256(secret: &[u8], kid: &str, claims: &Value) -> String {
    let head = b64(json!({"alg": "HS256", "typ": "JWT", "kid": kid})
        .to_string()
        .as_bytes());
    let body = b64(claims.to_string().as_bytes());
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(format!("{head}.{body}").as_bytes());
    format!("{head}.{body}.{}", b64(&mac.finalize().into_bytes()))
}

/// Sets up an API whose `GET /me` needs a JWT from `authorizer`, with `scopes`.
pub(crate) fn jwt_api(h: &Harness, authorizer: Value, scopes: &[&str]) -> String {
    h.canned("f", r#"{"statusCode": 200, "body": "ok"}"#);
    let api = h.op(
        "POST",
        "/v2/apis",
        json!({"name": "j", "protocolType": "HTTP"}),
    );
    let id = api["apiId"].as_str().unwrap().to_string();
    let a = h.op("POST", &format!("/v2/apis/{id}/authorizers"), authorizer);
    let i = h.op(
        "POST",
        &format!("/v2/apis/{id}/integrations"),
        lambda("f", "2.0"),
    );
    h.op(
        "POST",
        &format!("/v2/apis/{id}/routes"),
        json!({"routeKey": "GET /me", "target": format!("integrations/{}", i["integrationId"].as_str().unwrap()),
               "authorizationType": "JWT", "authorizerId": a["authorizerId"], "authorizationScopes": scopes}),
    );
    h.op(
        "POST",
        &format!("/v2/apis/{id}/stages"),
        json!({"stageName": "$default"}),
    );
    id
}

pub(crate) async fn with_token(h: &Harness, id: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = Request::get("/me");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let r = h.send(id, req.body(Bytes::new()).unwrap()).await;
    (r.status.as_u16(), r.json())
}

#[tokio::test]
async fn jwt_hs256() {
    let h = Harness::new();
    let secret = b"a-shared-secret-of-enough-length";
    let id = jwt_api(
        &h,
        json!({"name": "jwt", "authorizerType": "JWT", "identitySource": ["$request.header.Authorization"],
               "jwtConfiguration": {"issuer": "https://issuer.test", "audience": ["app"],
                                    "jwks": {"keys": [{"kty": "oct", "kid": "k1", "k": b64(secret)}]}}}),
        &["read"],
    );
    let good = json!({"iss": "https://issuer.test", "aud": "app", "sub": "u1", "exp": now() + 60, "scope": "read write"});
    let unauthorized = json!({"message": "Unauthorized"});
    #[track_caller]
    fn case(got: (u16, Value), status: u16, body: &Value) {
        assert_eq!(got.0, status);
        if status != 200 {
            assert_eq!(&got.1, body);
        }
    }
    case(
        with_token(&h, &id, Some(&hs256(secret, "k1", &good))).await,
        200,
        &Value::Null,
    );
    let ev = h.last_event();
    let claims = &ev["requestContext"]["authorizer"]["jwt"]["claims"];
    assert_eq!(claims["sub"], "u1");
    assert_eq!(
        claims["exp"],
        (now() + 60)
            .to_string()
            .as_str()
            .into_value_or(&claims["exp"])
    );
    assert_eq!(
        ev["requestContext"]["authorizer"]["jwt"]["scopes"],
        json!(["read", "write"])
    );

    case(with_token(&h, &id, None).await, 401, &unauthorized);
    case(
        with_token(&h, &id, Some("not.a.jwt")).await,
        401,
        &unauthorized,
    );
    case(
        with_token(&h, &id, Some(&hs256(b"wrong-secret", "k1", &good))).await,
        401,
        &unauthorized,
    );
    let mut c = good.clone();
    c["exp"] = json!(now() - 10);
    case(
        with_token(&h, &id, Some(&hs256(secret, "k1", &c))).await,
        401,
        &unauthorized,
    );
    let mut c = good.clone();
    c["iss"] = json!("https://other.test");
    case(
        with_token(&h, &id, Some(&hs256(secret, "k1", &c))).await,
        401,
        &unauthorized,
    );
    let mut c = good.clone();
    c["aud"] = json!("other");
    case(
        with_token(&h, &id, Some(&hs256(secret, "k1", &c))).await,
        401,
        &unauthorized,
    );
    let mut c = good.clone();
    c["nbf"] = json!(now() + 600);
    case(
        with_token(&h, &id, Some(&hs256(secret, "k1", &c))).await,
        401,
        &unauthorized,
    );
    let mut c = good.clone();
    c["scope"] = json!("write");
    case(
        with_token(&h, &id, Some(&hs256(secret, "k1", &c))).await,
        403,
        &json!({"message": "Forbidden"}),
    );
    case(
        with_token(&h, &id, Some(&hs256(secret, "unknown-kid", &good))).await,
        401,
        &unauthorized,
    );
}

trait IntoValueOr {
    fn into_value_or(self, v: &Value) -> Value;
}

impl IntoValueOr for &str {
    /// The claim as API Gateway passes it: a string (allowing a second's drift).
    fn into_value_or(self, v: &Value) -> Value {
        let got: u64 = v.as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
        let want: u64 = self.parse().unwrap_or(0);
        if got.abs_diff(want) <= 1 {
            v.clone()
        } else {
            Value::String(self.to_string())
        }
    }
}

/// Serves `/.well-known/openid-configuration` and `/jwks.json` on 127.0.0.1:0.
async fn issuer(jwks: Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let b = base.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (jwks, base) = (jwks.clone(), b.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let body = match req.uri().path() {
                        "/.well-known/openid-configuration" => {
                            json!({"issuer": base, "jwks_uri": format!("{base}/jwks.json")})
                        }
                        _ => jwks.clone(),
                    };
                    async move {
                        Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(
                            Bytes::from(body.to_string()),
                        )))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    base
}

/// The INTEGERs of a PKCS#1 `RSAPublicKey` (SEQUENCE { n, e }), without leading zeros.
fn der_integers(der: &[u8]) -> Vec<Vec<u8>> {
    fn len(d: &[u8], i: &mut usize) -> usize {
        let first = d[*i] as usize;
        *i += 1;
        if first < 0x80 {
            return first;
        }
        let mut n = 0;
        for _ in 0..(first & 0x7f) {
            n = (n << 8) | d[*i] as usize;
            *i += 1;
        }
        n
    }
    let mut i = 1; // SEQUENCE tag
    len(der, &mut i);
    let mut out = Vec::new();
    while i < der.len() {
        assert_eq!(der[i], 0x02, "INTEGER");
        i += 1;
        let n = len(der, &mut i);
        let mut v = &der[i..i + n];
        while v.first() == Some(&0) {
            v = &v[1..];
        }
        out.push(v.to_vec());
        i += n;
    }
    out
}

#[tokio::test]
async fn jwt_rs256_with_oidc_discovery() {
    use aws_lc_rs::signature::KeyPair as _;
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let public = key.public_key();
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "r1", "alg": "RS256", "use": "sig",
        "n": b64(&der_integers(public.as_ref())[0]),
        "e": b64(&der_integers(public.as_ref())[1])}]});
    let iss = issuer(jwks).await;
    let h = Harness::new();
    let id = jwt_api(
        &h,
        json!({"name": "jwt", "authorizerType": "JWT", "identitySource": ["$request.header.Authorization"],
               "jwtConfiguration": {"issuer": iss, "audience": ["app"]}}),
        &[],
    );
    let sign = |claims: &Value| {
        let head = b64(json!({"alg": "RS256", "typ": "JWT", "kid": "r1"})
            .to_string()
            .as_bytes());
        let body = b64(claims.to_string().as_bytes());
        let mut sig = vec![0; key.public_modulus_len()];
        key.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            format!("{head}.{body}").as_bytes(),
            &mut sig,
        )
        .unwrap();
        format!("{head}.{body}.{}", b64(&sig))
    };
    let good = json!({"iss": iss, "client_id": "app", "sub": "svc", "exp": now() + 60});
    assert_eq!(with_token(&h, &id, Some(&sign(&good))).await.0, 200);
    assert_eq!(
        h.last_event()["requestContext"]["authorizer"]["jwt"]["claims"]["sub"],
        "svc"
    );
    let token = sign(&good);
    let tampered = token.replace(
        &b64(good.to_string().as_bytes()),
        &b64(
            json!({"iss": iss, "client_id": "app", "sub": "admin", "exp": now() + 60})
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(with_token(&h, &id, Some(&tampered)).await.0, 401);
}

#[tokio::test]
async fn lambda_authorizer_simple_responses_and_cache() {
    let h = Harness::new();
    h.canned("f", r#"{"statusCode": 200, "body": "ok"}"#);
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = calls.clone();
    h.function("auth", move |ev| {
        c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let token = ev["identitySource"][0].as_str().unwrap_or("").to_string();
        Ok(InvokeResult::ok(match token.as_str() {
            "allow" => json!({"isAuthorized": true, "context": {"user": "ann"}}).to_string(),
            "broken" => "{\"no\": 1}".to_string(),
            _ => json!({"isAuthorized": false}).to_string(),
        }))
    });
    let api = h.op(
        "POST",
        "/v2/apis",
        json!({"name": "l", "protocolType": "HTTP"}),
    );
    let id = api["apiId"].as_str().unwrap().to_string();
    let a = h.op(
        "POST",
        &format!("/v2/apis/{id}/authorizers"),
        json!({"name": "la", "authorizerType": "REQUEST", "authorizerUri": "arn:aws:lambda:us-east-1:000000000000:function:auth",
               "identitySource": ["$request.header.X-Token"], "enableSimpleResponses": true,
               "authorizerPayloadFormatVersion": "2.0", "authorizerResultTtlInSeconds": 300}),
    );
    let i = h.op(
        "POST",
        &format!("/v2/apis/{id}/integrations"),
        lambda("f", "2.0"),
    );
    h.op(
        "POST",
        &format!("/v2/apis/{id}/routes"),
        json!({"routeKey": "GET /p", "target": format!("integrations/{}", i["integrationId"].as_str().unwrap()),
               "authorizationType": "CUSTOM", "authorizerId": a["authorizerId"]}),
    );
    h.op(
        "POST",
        &format!("/v2/apis/{id}/stages"),
        json!({"stageName": "$default"}),
    );
    let send = |token: Option<&'static str>| {
        let mut req = Request::get("/p");
        if let Some(t) = token {
            req = req.header("x-token", t);
        }
        let req = req.body(Bytes::new()).unwrap();
        let h = &h;
        let id = id.clone();
        async move {
            let r = h.send(&id, req).await;
            (r.status.as_u16(), r.json())
        }
    };
    assert_eq!(send(Some("allow")).await.0, 200);
    let ev = h.last_event();
    assert_eq!(
        ev["requestContext"]["authorizer"]["lambda"],
        json!({"user": "ann"})
    );
    assert_eq!(send(Some("allow")).await.0, 200);
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "cached by identity"
    );
    assert_eq!(
        send(Some("deny")).await,
        (403, json!({"message": "Forbidden"}))
    );
    assert_eq!(send(None).await, (401, json!({"message": "Unauthorized"})));
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "no call without identity"
    );
    assert_eq!(
        send(Some("broken")).await,
        (500, json!({"message": "Internal Server Error"}))
    );
}
