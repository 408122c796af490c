//! HTTP proxy integrations against a real backend, throttling and CORS.

use bytes::Bytes;
use http::Request;
use serde_json::json;

use crate::support::{
    Harness, chunked_body, counting_backend, echo_backend, http_integration, lambda,
};

#[tokio::test]
async fn http_proxy_passes_path_query_headers_and_body() {
    let backend = echo_backend().await;
    let h = Harness::new();
    let mut slow = http_integration(&format!("{backend}/slow"));
    slow["timeoutInMillis"] = json!(100);
    let id = h.api(&[
        (
            "ANY /svc/{proxy+}",
            http_integration(&format!("{backend}/base/{{proxy}}")),
        ),
        ("GET /slow", slow),
        ("GET /down", http_integration("http://127.0.0.1:1/x")),
        ("$default", http_integration(&backend)),
    ]);

    let req = Request::post("/svc/a/b?x=1&x=2")
        .header("content-type", "text/plain")
        .header("x-custom", "v")
        .header("connection", "keep-alive")
        .body(Bytes::from_static(b"payload"))
        .unwrap();
    let r = h.send(&id, req).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-backend"), Some("yes"));
    let all: Vec<_> = r.headers.get_all("set-cookie").iter().collect();
    assert_eq!(all.len(), 2, "multi-value response headers survive");
    let echo = r.json();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["uri"], "/base/a/b?x=1&x=2");
    assert_eq!(echo["body"], "payload");
    assert_eq!(echo["headers"]["x-custom"], "v");
    assert_eq!(echo["headers"]["x-forwarded-for"], "127.0.0.1");
    assert!(
        echo["headers"]["forwarded"]
            .as_str()
            .unwrap()
            .contains("for=127.0.0.1")
    );

    // `$default` appends the client's path.
    let r = h.get(&id, "/teapot?q=1").await;
    assert_eq!(r.status, 418, "backend statuses pass through");
    assert_eq!(r.json()["uri"], "/teapot?q=1");

    let r = h.get(&id, "/slow").await;
    assert_eq!(
        (r.status.as_u16(), r.json()),
        (504, json!({"message": "Gateway Timeout"}))
    );
    let r = h.get(&id, "/down").await;
    assert_eq!(
        (r.status.as_u16(), r.json()),
        (503, json!({"message": "Service Unavailable"}))
    );
}

#[tokio::test]
async fn throttling_per_stage_and_route() {
    let h = Harness::new();
    h.canned("f", r#"{"statusCode": 200}"#);
    let id = h.api_with(
        json!({"name": "t", "protocolType": "HTTP"}),
        &[
            ("GET /a", lambda("f", "2.0")),
            ("GET /b", lambda("f", "2.0")),
        ],
        json!({
            "stageName": "$default",
            // A rate too small to refill during the test: exactly `burst` requests pass.
            "defaultRouteSettings": {"throttlingBurstLimit": 3, "throttlingRateLimit": 0.001},
            "routeSettings": {"GET /b": {"throttlingBurstLimit": 1, "throttlingRateLimit": 0.001}},
        }),
    );
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(h.get(&id, "/a").await.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let r = h.get(&id, "/a").await;
    assert_eq!(r.json(), json!({"message": "Too Many Requests"}));
    let b: Vec<u16> = [
        h.get(&id, "/b").await.status.as_u16(),
        h.get(&id, "/b").await.status.as_u16(),
    ]
    .into();
    assert_eq!(b, [200, 429], "route settings override the stage's");
}

#[tokio::test]
async fn cors_preflight_and_actual_requests() {
    let h = Harness::new();
    h.canned("f", r#"{"statusCode": 200, "body": "x"}"#);
    let id = h.api_with(
        json!({"name": "c", "protocolType": "HTTP", "corsConfiguration": {
            "allowOrigins": ["https://site.example"],
            "allowMethods": ["GET", "POST"],
            "allowHeaders": ["content-type", "authorization"],
            "exposeHeaders": ["x-total"],
            "maxAge": 600,
            "allowCredentials": true,
        }}),
        &[("GET /items", lambda("f", "2.0"))],
        json!({"stageName": "$default"}),
    );
    let before = h.fns.events.lock().unwrap().len();
    let pre = Request::options("/items")
        .header("origin", "https://site.example")
        .header("access-control-request-method", "POST")
        .body(Bytes::new())
        .unwrap();
    let r = h.send(&id, pre).await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://site.example")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("GET,POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type,authorization")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        h.fns.events.lock().unwrap().len(),
        before,
        "no integration for preflights"
    );

    let pre = Request::options("/items")
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .body(Bytes::new())
        .unwrap();
    let r = h.send(&id, pre).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), None);

    let req = Request::get("/items")
        .header("origin", "https://site.example")
        .body(Bytes::new())
        .unwrap();
    let r = h.send(&id, req).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://site.example")
    );
    assert_eq!(r.header("access-control-expose-headers"), Some("x-total"));
}

/// Issue 15: API Gateway's 10 MB payload limit
/// (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html) holds
/// for HTTP integrations too, whose bodies are streamed: a larger request is a 413 and the
/// backend never receives it whole.
#[tokio::test]
async fn issue_15_payload_limit_for_http_and_lambda_integrations() {
    const MB: usize = 1024 * 1024;
    let (backend, received) = counting_backend().await;
    let h = Harness::new();
    h.canned("f", r#"{"statusCode": 200}"#);
    let id = h.api(&[
        ("POST /http", http_integration(&backend)),
        ("POST /fn", lambda("f", "2.0")),
    ]);
    let too_large = |r: &crate::support::Reply| {
        assert_eq!(
            (r.status.as_u16(), r.json()),
            (413, json!({"message": "Request Entity Too Large"}))
        );
    };
    let post = |path: &str, body: nuvem_aws::Body| {
        Request::post(path)
            .header("content-type", "application/octet-stream")
            .body(body)
            .unwrap()
    };

    // Exactly 10 MB passes, as a stream of unknown length, to both integrations.
    let r = h.send_body(&id, post("/http", chunked_body(10, MB))).await;
    assert_eq!(r.status, 200);
    assert_eq!(received.load(std::sync::atomic::Ordering::SeqCst), 1);
    let r = h.send_body(&id, post("/fn", chunked_body(10, MB))).await;
    assert_eq!(r.status, 200);
    assert_eq!(h.fns.events.lock().unwrap().len(), 1);

    // One byte more, declared by Content-Length: refused before anything is forwarded.
    let mut req = Request::post("/http")
        .body(Bytes::from(vec![b'x'; 10 * MB + 1]))
        .unwrap();
    req.headers_mut()
        .insert("content-length", (10 * MB + 1).into());
    too_large(&h.send(&id, req).await);
    // A stream that turns out to be longer: cut at the limit, never delivered whole.
    too_large(&h.send_body(&id, post("/http", chunked_body(11, MB))).await);
    too_large(&h.send_body(&id, post("/fn", chunked_body(11, MB))).await);
    assert_eq!(
        received.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the backend got no request over the limit"
    );
    assert_eq!(
        h.fns.events.lock().unwrap().len(),
        1,
        "the function was not invoked"
    );
}
