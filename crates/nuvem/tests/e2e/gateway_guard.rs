//! The gateway's guards through the real binary, on an API built with the apigatewayv2
//! management API (signed REST JSON on the AWS endpoint): named stages with stage variables,
//! CORS preflights answered without the integration, throttling per route and per client
//! (source IP), JWT authorizers with an RS256 key generated here and its JWKS served over
//! HTTP, and a Python Lambda authorizer with simple responses.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use base64::Engine as _;
use nuvem_testkit::Nuvem;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::gateway::{Headers, Reply, check, client, send, start};

/// Signs a request with the real aws-sigv4 signer (nuvem has no apigatewayv2 SDK client in
/// its dev-dependencies, and needs none for a few calls).
pub(super) fn sign(req: &mut http::Request<String>) {
    sign_as(req, "apigateway");
}

/// Signs `req` with the root key for `service`'s credential scope.
pub(super) fn sign_as(req: &mut http::Request<String>, service: &str) {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity = Credentials::new("test", "test", None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let uri = req.uri().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let signable = SignableRequest::new(
        req.method().as_str(),
        &uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(req.body().as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(req);
}

/// One management call; panics unless it succeeds.
pub(super) async fn manage(n: &Nuvem, method: &str, path: &str, input: Value) -> Value {
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", n.api_url))
        .header("host", n.api_url.trim_start_matches("http://"))
        .header("content-type", "application/json")
        .body(input.to_string())
        .unwrap();
    sign(&mut req);
    let resp = client(None)
        .execute(reqwest::Request::try_from(req).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{method} {path}: {status} {body}");
    body
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
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
    let mut i = 1;
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

/// An RS256 signer and its JWKS.
struct Issuer {
    key: aws_lc_rs::rsa::KeyPair,
}

impl Issuer {
    fn new() -> Self {
        Self {
            key: aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap(),
        }
    }

    fn jwks(&self) -> Value {
        use aws_lc_rs::signature::KeyPair as _;
        let ints = der_integers(self.key.public_key().as_ref());
        json!({"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
                         "n": b64(&ints[0]), "e": b64(&ints[1])}]})
    }

    fn token(&self, claims: &Value) -> String {
        let head = b64(json!({"alg": "RS256", "typ": "JWT", "kid": "k1"})
            .to_string()
            .as_bytes());
        let body = b64(claims.to_string().as_bytes());
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                format!("{head}.{body}").as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{head}.{body}.{}", b64(&sig))
    }
}

/// Serves `doc` to every request on a loopback port (the issuer's JWKS URL).
pub(super) async fn serve_json(doc: Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = doc.to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/.well-known/jwks.json")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

const ORIGIN: &str = "https://site.example";
const ISS: &str = "https://issuer.nuvem.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_cors_throttling_and_authorizers() {
    let dir = tempfile::tempdir().unwrap();
    let n = start(dir.path(), "");
    let issuer = Issuer::new();
    let jwks_url = serve_json(issuer.jwks()).await;

    let api = manage(
        &n,
        "POST",
        "/v2/apis",
        json!({"name": "guarded", "protocolType": "HTTP", "corsConfiguration": {
            "allowOrigins": [ORIGIN], "allowMethods": ["GET", "POST"],
            "allowHeaders": ["authorization", "content-type"], "exposeHeaders": ["x-echo"],
            "maxAge": 600, "allowCredentials": true}}),
    )
    .await;
    let id = api["apiId"].as_str().unwrap().to_string();
    assert_eq!(
        api["apiEndpoint"],
        format!(
            "http://{id}.execute-api.localhost.localstack.cloud:{}",
            n.api_url.rsplit(':').next().unwrap()
        )
    );
    let base = format!("/v2/apis/{id}");
    let echo = manage(
        &n,
        "POST",
        &format!("{base}/integrations"),
        json!({"integrationType": "AWS_PROXY", "integrationUri": "arn:aws:lambda:us-east-1:000000000000:function:http-echo",
               "payloadFormatVersion": "2.0"}),
    )
    .await;
    let target = format!("integrations/{}", echo["integrationId"].as_str().unwrap());
    let jwt = manage(
        &n,
        "POST",
        &format!("{base}/authorizers"),
        json!({"name": "jwt", "authorizerType": "JWT", "identitySource": ["$request.header.Authorization"],
               "jwtConfiguration": {"issuer": ISS, "audience": ["app"], "jwksUri": jwks_url}}),
    )
    .await;
    let lambda = manage(
        &n,
        "POST",
        &format!("{base}/authorizers"),
        json!({"name": "py", "authorizerType": "REQUEST", "identitySource": ["$request.header.x-key"],
               "authorizerUri": "py-auth", "authorizerPayloadFormatVersion": "2.0",
               "enableSimpleResponses": true, "authorizerResultTtlInSeconds": 300}),
    )
    .await;
    for (key, auth) in [
        ("ANY /{proxy+}", json!({})),
        (
            "GET /jwt",
            json!({"authorizationType": "JWT", "authorizerId": jwt["authorizerId"], "authorizationScopes": ["read"]}),
        ),
        (
            "GET /lambda",
            json!({"authorizationType": "CUSTOM", "authorizerId": lambda["authorizerId"]}),
        ),
        ("GET /limited", json!({})),
        ("GET /per-client", json!({})),
    ] {
        let mut input = json!({"routeKey": key, "target": target});
        input
            .as_object_mut()
            .unwrap()
            .extend(auth.as_object().unwrap().clone());
        manage(&n, "POST", &format!("{base}/routes"), input).await;
    }
    let limits = json!({
        "GET /limited": {"throttlingBurstLimit": 2, "throttlingRateLimit": 0.01},
        "GET /per-client": {"throttlingBurstLimit": 1, "throttlingRateLimit": 0.01, "throttlingPerClient": true},
    });
    manage(
        &n,
        "POST",
        &format!("{base}/stages"),
        json!({"stageName": "$default", "routeSettings": limits}),
    )
    .await;
    manage(
        &n,
        "POST",
        &format!("{base}/stages"),
        json!({"stageName": "dev", "stageVariables": {"color": "blue", "table": "items-dev"}}),
    )
    .await;

    // API Gateway may invoke the integration's function from any route and stage of this
    // API, and the authorizer's from this API's authorizers.
    for (function, sid, source) in [
        ("http-echo", "guarded-routes", "*"),
        ("py-auth", "guarded-authorizers", "authorizers/*"),
    ] {
        n.lambda()
            .add_permission()
            .function_name(function)
            .statement_id(sid)
            .action("lambda:InvokeFunction")
            .principal("apigateway.amazonaws.com")
            .source_arn(format!(
                "arn:aws:execute-api:us-east-1:000000000000:{id}/{source}"
            ))
            .send()
            .await
            .unwrap();
    }

    let c = client(None);
    let other = client(Some("127.0.0.2".parse().unwrap()));
    let ask = |path: &'static str, headers: &'static [(&str, &str)]| {
        send(&n, &c, &id, "GET", path, headers, b"")
    };

    // A named stage: its prefix in rawPath, its name and variables in the event.
    check(
        &ask("/dev/things/1", &[]).await,
        200,
        json!({"raw_path": "/dev/things/1", "path_parameters": {"proxy": ["things/1"]},
               "stage_variables": {"color": ["blue"], "table": ["items-dev"]},
               "request_context": {"stage": "dev", "routeKey": "ANY /{proxy+}",
                                   "http": {"path": "/dev/things/1"}}}),
        &[],
    );

    // CORS: the preflight is answered by the gateway (the integration would answer 200
    // with a JSON body); actual responses get the CORS headers when the origin is allowed.
    let preflight = send(
        &n,
        &c,
        &id,
        "OPTIONS",
        "/things",
        &[
            ("origin", ORIGIN),
            ("access-control-request-method", "POST"),
        ],
        b"",
    )
    .await;
    check(
        &preflight,
        204,
        json!(""),
        &[
            ("access-control-allow-origin", &[ORIGIN]),
            ("access-control-allow-methods", &["GET,POST"]),
            (
                "access-control-allow-headers",
                &["authorization,content-type"],
            ),
            ("access-control-max-age", &["600"]),
            ("access-control-allow-credentials", &["true"]),
        ],
    );
    let cases: &[(Headers, &[&str], &[&str])] = &[
        (&[("origin", ORIGIN)], &[ORIGIN], &["x-echo"]),
        (&[("origin", "https://evil.example")], &[], &[]),
        (&[], &[], &[]),
    ];
    for (headers, allow, expose) in cases {
        let got = send(&n, &c, &id, "GET", "/things", headers, b"").await;
        check(
            &got,
            200,
            json!({"raw_path": "/things"}),
            &[
                ("access-control-allow-origin", allow),
                ("access-control-expose-headers", expose),
            ],
        );
    }

    // Throttling: a burst of 2 for one route, then 429; per client, by source IP.
    let throttled = json!(r#"{"message":"Too Many Requests"}"#);
    for expected in [200, 200, 429] {
        let got = ask("/limited", &[]).await;
        let body = if expected == 429 {
            throttled.clone()
        } else {
            Value::Null
        };
        check(&got, expected, body, &[]);
    }
    check(&ask("/things", &[]).await, 200, Value::Null, &[]);
    check(
        &ask("/per-client", &[]).await,
        200,
        json!({"request_context": {"http": {"sourceIp": "127.0.0.1"}}}),
        &[],
    );
    check(&ask("/per-client", &[]).await, 429, throttled.clone(), &[]);
    let from_other = send(&n, &other, &id, "GET", "/per-client", &[], b"").await;
    check(
        &from_other,
        200,
        json!({"request_context": {"http": {"sourceIp": "127.0.0.2"}}}),
        &[],
    );
    check(
        &send(&n, &other, &id, "GET", "/per-client", &[], b"").await,
        429,
        throttled,
        &[],
    );

    // JWT: 401 without a valid token, 403 without the route's scope, else the claims reach
    // the function.
    let claims = |scope: &str, exp: u64| json!({"iss": ISS, "aud": "app", "sub": "user-1", "scope": scope, "exp": exp});
    let good = issuer.token(&claims("read write", now() + 300));
    let other_key = Issuer::new().token(&claims("read", now() + 300));
    let unauthorized = json!(r#"{"message":"Unauthorized"}"#);
    let forbidden = json!(r#"{"message":"Forbidden"}"#);
    let tokens: &[(Option<String>, u16, &Value)] = &[
        (None, 401, &unauthorized),
        (Some("not-a-jwt".into()), 401, &unauthorized),
        (Some(other_key), 401, &unauthorized),
        (
            Some(issuer.token(&claims("read", now() - 60))),
            401,
            &unauthorized,
        ),
        (
            Some(issuer.token(&json!({"iss": "https://other.test", "aud": "app", "scope": "read", "exp": now() + 300}))),
            401,
            &unauthorized,
        ),
        (
            Some(issuer.token(&json!({"iss": ISS, "aud": "other", "scope": "read", "exp": now() + 300}))),
            401,
            &unauthorized,
        ),
        (
            Some(issuer.token(&claims("write", now() + 300))),
            403,
            &forbidden,
        ),
    ];
    for (token, status, body) in tokens {
        let auth = token.as_ref().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let got = send(&n, &c, &id, "GET", "/jwt", &headers, b"").await;
        check(&got, *status, (*body).clone(), &[]);
    }
    let bearer = format!("Bearer {good}");
    let ok = send(
        &n,
        &c,
        &id,
        "GET",
        "/jwt",
        &[("authorization", &bearer)],
        b"",
    )
    .await;
    check(
        &ok,
        200,
        json!({"request_context": {"authorizer": {"jwt": {
            "claims": {"sub": "user-1", "iss": ISS, "aud": "app"},
            "scopes": ["read", "write"]}}}}),
        &[],
    );

    // A Python Lambda authorizer: 401 without the identity source, 403 when it refuses,
    // its context in requestContext.authorizer.lambda when it allows.
    let verdicts: &[(Headers, u16, Value)] = &[
        (&[], 401, unauthorized.clone()),
        (&[("x-key", "wrong")], 403, forbidden.clone()),
        (
            &[("x-key", "open-sesame")],
            200,
            json!({"request_context": {"authorizer": {"lambda": {"user": "py", "route": "GET /lambda"}}}}),
        ),
        // Cached by identity source: the same answers again.
        (&[("x-key", "wrong")], 403, forbidden.clone()),
        (
            &[("x-key", "open-sesame")],
            200,
            json!({"request_context": {"authorizer": {"lambda": {"user": "py"}}}}),
        ),
    ];
    for (headers, status, body) in verdicts {
        let got: Reply = send(&n, &c, &id, "GET", "/lambda", headers, b"").await;
        check(&got, *status, body.clone(), &[]);
    }
}
