//! Lambda proxy integration: the events of payload formats 2.0 and 1.0, and how function
//! output maps back to the client's response.

use bytes::Bytes;
use http::Request;
use nuvem_gateway::{InvokeError, InvokeResult};
use serde_json::{Value, json};

use crate::support::{Harness, lambda};

fn request() -> Request<Bytes> {
    Request::post("/items/42?a=1&a=2&b=x%20y")
        .header("content-type", "application/json")
        .header("user-agent", "test-agent")
        .header("x-multi", "one")
        .header("x-multi", "two")
        .header("cookie", "c1=v1; c2=v2")
        .header("cookie", "c3=v3")
        .body(Bytes::from_static(br#"{"hello":"world"}"#))
        .unwrap()
}

#[tokio::test]
async fn payload_v2_field_for_field() {
    let h = Harness::new();
    h.canned("f", r#"{"statusCode": 200}"#);
    let id = h.api(&[("POST /items/{id}", lambda("f", "2.0"))]);
    h.send(&id, request()).await;
    let ev = h.last_event();
    assert_eq!(ev["version"], "2.0");
    assert_eq!(ev["routeKey"], "POST /items/{id}");
    assert_eq!(ev["rawPath"], "/items/42");
    assert_eq!(ev["rawQueryString"], "a=1&a=2&b=x%20y");
    assert_eq!(ev["cookies"], json!(["c1=v1", "c2=v2", "c3=v3"]));
    assert_eq!(
        ev["headers"]["x-multi"], "one,two",
        "duplicates comma-joined"
    );
    assert_eq!(ev["headers"]["content-type"], "application/json");
    assert!(
        ev["headers"].get("cookie").is_none(),
        "cookies move out of headers"
    );
    assert_eq!(ev["queryStringParameters"], json!({"a": "1,2", "b": "x y"}));
    assert_eq!(ev["pathParameters"], json!({"id": "42"}));
    assert_eq!(ev["body"], r#"{"hello":"world"}"#);
    assert_eq!(ev["isBase64Encoded"], false);
    assert!(
        ev.get("stageVariables").is_none(),
        "absent maps are omitted"
    );
    let ctx = &ev["requestContext"];
    assert_eq!(ctx["accountId"], "000000000000");
    assert_eq!(ctx["apiId"], id.as_str());
    assert_eq!(
        ctx["domainName"],
        format!("{id}.execute-api.localhost.localstack.cloud")
    );
    assert_eq!(ctx["domainPrefix"], id.as_str());
    assert_eq!(
        ctx["http"],
        json!({"method": "POST", "path": "/items/42", "protocol": "HTTP/1.1",
               "sourceIp": "127.0.0.1", "userAgent": "test-agent"})
    );
    assert_eq!(ctx["routeKey"], "POST /items/{id}");
    assert_eq!(ctx["stage"], "$default");
    assert!(ctx["requestId"].as_str().is_some_and(|s| !s.is_empty()));
    let time = ctx["time"].as_str().unwrap();
    assert_eq!(time.len(), "12/Mar/2020:19:03:58 +0000".len(), "{time}");
    assert!(time.ends_with(" +0000"));
    assert!(ctx["timeEpoch"].as_u64().unwrap() > 1_600_000_000_000);
}

#[tokio::test]
async fn payload_v1_field_for_field() {
    let h = Harness::new();
    h.canned("f", r#"{"statusCode": 200}"#);
    let id = h.api(&[("POST /items/{id}", lambda("f", "1.0"))]);
    h.send(&id, request()).await;
    let ev = h.last_event();
    assert_eq!(ev["version"], "1.0");
    assert_eq!(ev["resource"], "/items/{id}");
    assert_eq!(ev["path"], "/items/42");
    assert_eq!(ev["httpMethod"], "POST");
    assert_eq!(ev["headers"]["x-multi"], "two", "the last value");
    assert_eq!(ev["multiValueHeaders"]["x-multi"], json!(["one", "two"]));
    assert_eq!(
        ev["multiValueHeaders"]["cookie"],
        json!(["c1=v1; c2=v2", "c3=v3"])
    );
    assert_eq!(ev["queryStringParameters"], json!({"a": "2", "b": "x y"}));
    assert_eq!(
        ev["multiValueQueryStringParameters"],
        json!({"a": ["1", "2"], "b": ["x y"]})
    );
    assert_eq!(ev["pathParameters"], json!({"id": "42"}));
    assert_eq!(ev["stageVariables"], Value::Null, "absent maps are null");
    assert_eq!(ev["body"], r#"{"hello":"world"}"#);
    assert_eq!(ev["isBase64Encoded"], false);
    let ctx = &ev["requestContext"];
    assert_eq!(ctx["httpMethod"], "POST");
    assert_eq!(ctx["resourcePath"], "/items/{id}");
    assert_eq!(ctx["path"], "/items/42");
    assert_eq!(ctx["protocol"], "HTTP/1.1");
    assert_eq!(ctx["stage"], "$default");
    assert_eq!(ctx["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(ctx["identity"]["userAgent"], "test-agent");
    assert!(ctx["requestTimeEpoch"].as_u64().is_some());
    assert_eq!(ctx["authorizer"], json!({"claims": null, "scopes": null}));
}

#[tokio::test]
async fn binary_bodies_are_base64_encoded() {
    let h = Harness::new();
    h.canned("f", r#"{"statusCode": 200}"#);
    let id = h.api(&[("$default", lambda("f", "2.0"))]);
    for (ct, body, b64, expected) in [
        ("image/png", &b"\x89PNG\x00\x01"[..], true, "iVBORwAB"),
        ("text/plain", b"plain", false, "plain"),
        ("application/octet-stream", b"abc", true, "YWJj"),
        ("text/plain", b"\xff\xfe", true, "//4="),
        ("text/html; charset=utf-8", b"<p>", false, "<p>"),
        ("application/json; charset=utf-8", b"{}", false, "{}"),
        ("application/xml", b"<a/>", false, "<a/>"),
        ("application/javascript", b"x()", false, "x()"),
        // HTTP APIs base64-encode forms and bodies without a content type.
        (
            "application/x-www-form-urlencoded",
            b"a=1&b=2",
            true,
            "YT0xJmI9Mg==",
        ),
        ("", b"a=1", true, "YT0x"),
        ("application/vnd.api+json", b"{}", true, "e30="),
    ] {
        let mut req = Request::put("/up");
        if !ct.is_empty() {
            req = req.header("content-type", ct);
        }
        let req = req.body(Bytes::copy_from_slice(body)).unwrap();
        h.send(&id, req).await;
        let ev = h.last_event();
        assert_eq!(ev["isBase64Encoded"], b64, "{ct}");
        assert_eq!(ev["body"], expected, "{ct}");
    }
    // No body: no `body` field in 2.0.
    h.get(&id, "/").await;
    assert!(h.last_event().get("body").is_none());
}

/// Function output → (status, headers as (name, all values joined by '|'), body).
#[track_caller]
fn check_mapping(
    (rt, h): (&tokio::runtime::Runtime, &Harness),
    version: &str,
    output: &str,
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
) {
    // One function and API per case, in one store.
    let name = format!("f{}", h.fns.events.lock().unwrap().len());
    h.canned(&name, output);
    let id = h.api(&[("$default", lambda(&name, version))]);
    let r = rt.block_on(h.get(&id, "/x"));
    assert_eq!(
        r.status.as_u16(),
        status,
        "{version} {output}: {}",
        r.text()
    );
    for (name, value) in headers {
        let all: Vec<&str> = r
            .headers
            .get_all(*name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(all.join("|"), *value, "{version} {output}: header {name}");
    }
    assert_eq!(r.text(), body, "{version} {output}");
}

#[test]
fn response_mapping() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let h = Harness::new();
    let rt = (&rt, &h);
    let ise = r#"{"message":"Internal Server Error"}"#;
    // 2.0: full responses.
    check_mapping(
        rt,
        "2.0",
        r#"{"statusCode": 201, "headers": {"x-a": "1"}, "body": "made"}"#,
        201,
        &[("x-a", "1")],
        "made",
    );
    check_mapping(
        rt,
        "2.0",
        r#"{"statusCode": 200, "cookies": ["a=1; Path=/", "b=2"], "body": ""}"#,
        200,
        &[("set-cookie", "a=1; Path=/|b=2")],
        "",
    );
    check_mapping(
        rt,
        "2.0",
        r#"{"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}"#,
        200,
        &[],
        "hi",
    );
    check_mapping(
        rt,
        "2.0",
        r#"{"statusCode": 200, "multiValueHeaders": {"x-m": ["1", "2"]}}"#,
        200,
        &[("x-m", "1|2")],
        "",
    );
    check_mapping(
        rt,
        "2.0",
        r#"{"statusCode": "404", "body": "nope"}"#,
        404,
        &[],
        "nope",
    );
    // 2.0 inference: valid JSON without statusCode is a 200 JSON body, as returned.
    check_mapping(
        rt,
        "2.0",
        r#"{"hello": "world"}"#,
        200,
        &[("content-type", "application/json")],
        r#"{"hello": "world"}"#,
    );
    check_mapping(
        rt,
        "2.0",
        r#""just a string""#,
        200,
        &[("content-type", "application/json")],
        r#""just a string""#,
    );
    check_mapping(rt, "2.0", "[1,2]", 200, &[], "[1,2]");
    // 1.0: statusCode is required; multiValueHeaders kept.
    check_mapping(
        rt,
        "1.0",
        r#"{"statusCode": 200, "headers": {"x-a": "1"}, "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]}, "body": "ok"}"#,
        200,
        &[("x-a", "1"), ("set-cookie", "a=1|b=2")],
        "ok",
    );
    check_mapping(
        rt,
        "1.0",
        r#"{"statusCode": 200, "body": "AAEC", "isBase64Encoded": true}"#,
        200,
        &[],
        "\u{0}\u{1}\u{2}",
    );
    // Malformed output: 502 with API Gateway's message.
    check_mapping(rt, "1.0", r#"{"hello": "world"}"#, 502, &[], ise);
    check_mapping(
        rt,
        "1.0",
        r#"{"statusCode": 200, "body": {"not": "a string"}}"#,
        502,
        &[],
        ise,
    );
    check_mapping(rt, "2.0", "not json", 502, &[], ise);
    check_mapping(rt, "2.0", r#"{"statusCode": 99}"#, 502, &[], ise);
    check_mapping(
        rt,
        "2.0",
        r#"{"statusCode": 200, "body": "%%%", "isBase64Encoded": true}"#,
        502,
        &[],
        ise,
    );
    check_mapping(
        rt,
        "2.0",
        r#"{"statusCode": 200, "headers": {"bad header": "x"}}"#,
        502,
        &[],
        ise,
    );
}

#[tokio::test]
async fn function_errors_and_timeouts() {
    let h = Harness::new();
    h.function("boom", |_| {
        Ok(InvokeResult::function_error(
            r#"{"errorMessage":"boom","errorType":"Error"}"#,
        ))
    });
    h.function("gone", |_| Err(InvokeError::NotFound("gone".into())));
    h.function("busy", |_| Err(InvokeError::Throttled));
    h.fns.functions.lock().unwrap().insert(
        "slow".into(),
        std::sync::Arc::new(|_| {
            Box::pin(async {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                Ok(InvokeResult::ok("{}"))
            })
        }),
    );
    let mut slow = lambda("slow", "2.0");
    slow["timeoutInMillis"] = json!(50);
    let id = h.api(&[
        ("GET /boom", lambda("boom", "2.0")),
        ("GET /gone", lambda("gone", "2.0")),
        ("GET /busy", lambda("busy", "2.0")),
        ("GET /slow", slow),
    ]);
    for (path, status, message) in [
        ("/boom", 500, "Internal Server Error"),
        ("/gone", 500, "Internal Server Error"),
        ("/busy", 429, "Too Many Requests"),
        ("/slow", 503, "Service Unavailable"),
    ] {
        let r = h.get(&id, path).await;
        assert_eq!(r.status.as_u16(), status, "{path}");
        assert_eq!(r.json(), json!({"message": message}), "{path}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("retry-after"), None, "{path}");
    }
}

/// A function whose code is still building (`nuvem up` builds manifest functions in the
/// background): 503 with `Retry-After` and why, not a 500.
#[tokio::test]
async fn issue_23_function_not_ready_is_503_with_retry_after() {
    let h = Harness::new();
    h.function("building", |_| {
        Err(InvokeError::NotReady(
            "api: building (cargo build --release -p meusite-api)".into(),
        ))
    });
    let id = h.api(&[("GET /items", lambda("building", "2.0"))]);
    let r = h.get(&id, "/items").await;
    assert_eq!(r.status.as_u16(), 503);
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(
        r.json(),
        json!({"message": "Service Unavailable: api: building (cargo build --release -p meusite-api)"})
    );
}
