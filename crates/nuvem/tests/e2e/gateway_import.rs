//! OpenAPI 3 import through the real binary: ImportApi and ReimportApi (signed apigatewayv2
//! REST JSON, `PUT /v2/apis[/{apiId}]` with the definition as the `body` string), then the
//! imported routes served on the execute-api host name: a Python function by ARN, an HTTP
//! backend, CORS preflights from `x-amazon-apigateway-cors`, and the per-route metrics the
//! health endpoint shows for them.

use nuvem_testkit::Nuvem;
use serde_json::{Value, json};

use super::gateway::{Headers, check, client, send, start};
use super::gateway_guard::{manage, serve_json, sign};

const ORIGIN: &str = "https://site.example";

/// One management call's status and error code (`x-amzn-errortype`), for calls that fail.
async fn manage_err(n: &Nuvem, method: &str, path: &str, input: Value) -> (u16, String) {
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
    let code = resp
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (resp.status().as_u16(), code)
}

fn definition(paths: Value) -> Value {
    json!({
        "openapi": "3.0.1",
        "info": {"title": "from-openapi", "description": "imported", "version": "1.0"},
        "x-amazon-apigateway-cors": {"allowOrigins": [ORIGIN], "allowMethods": ["GET"],
            "maxAge": 300},
        "paths": paths,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_and_reimport_openapi() {
    let dir = tempfile::tempdir().unwrap();
    let n = start(dir.path(), "");
    let backend = serve_json(json!({"from": "backend"})).await;
    let bare = "arn:aws:lambda:us-east-1:000000000000:function:py-bare";

    let first = definition(json!({
        "/bare": {"get": {"x-amazon-apigateway-integration": {
            "type": "aws_proxy", "uri": bare, "payloadFormatVersion": "2.0"}}},
        "/web": {"get": {"x-amazon-apigateway-integration": {
            "type": "http_proxy", "uri": backend, "httpMethod": "GET",
            "payloadFormatVersion": "1.0"}}},
    }));
    let api = manage(&n, "PUT", "/v2/apis", json!({"body": first.to_string()})).await;
    let id = api["apiId"].as_str().unwrap().to_string();
    assert_eq!(api["name"], "from-openapi");
    assert_eq!(api["description"], "imported");
    assert!(
        api["apiEndpoint"].as_str().unwrap().starts_with(&format!(
            "http://{id}.execute-api.localhost.localstack.cloud:"
        )),
        "{api}"
    );
    manage(
        &n,
        "POST",
        &format!("/v2/apis/{id}/stages"),
        json!({"stageName": "$default"}),
    )
    .await;
    // Import adds no permission (as on AWS): API Gateway may invoke the function once its
    // policy says so.
    n.lambda()
        .add_permission()
        .function_name("py-bare")
        .statement_id("imported-api")
        .action("lambda:InvokeFunction")
        .principal("apigateway.amazonaws.com")
        .source_arn(format!(
            "arn:aws:execute-api:us-east-1:000000000000:{id}/*/GET/bare"
        ))
        .send()
        .await
        .unwrap();

    let c = client(None);
    let preflight: &[(&str, &str)] =
        &[("origin", ORIGIN), ("access-control-request-method", "GET")];
    let cases: &[(&str, &str, Headers, u16, Value)] = &[
        ("GET", "/bare", &[], 200, json!({"hello": "world"})),
        ("GET", "/web", &[], 200, json!({"from": "backend"})),
        ("GET", "/nope", &[], 404, json!({"message": "Not Found"})),
        ("OPTIONS", "/web", preflight, 204, Value::Null),
    ];
    for (method, path, headers, status, body) in cases {
        let got = send(&n, &c, &id, method, path, headers, b"").await;
        check(&got, *status, body.clone(), &[]);
    }
    let got = send(&n, &c, &id, "OPTIONS", "/web", preflight, b"").await;
    check(
        &got,
        204,
        Value::Null,
        &[
            ("access-control-allow-origin", &[ORIGIN]),
            ("access-control-max-age", &["300"]),
        ],
    );

    // Reimport: the new definition replaces the routes, the stage stays.
    let second = definition(json!({
        "/moved": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {
            "type": "http_proxy", "uri": backend, "httpMethod": "ANY",
            "payloadFormatVersion": "1.0"}}},
    }));
    let again = manage(
        &n,
        "PUT",
        &format!("/v2/apis/{id}"),
        json!({"body": second.to_string()}),
    )
    .await;
    assert_eq!(again["apiId"], id.as_str());
    let after: &[(&str, &str, u16)] = &[("GET", "/web", 404), ("POST", "/moved", 200)];
    for (method, path, status) in after {
        let got = send(&n, &c, &id, method, path, &[], b"").await;
        check(&got, *status, Value::Null, &[]);
    }

    // Bad definitions are refused as API Gateway refuses them, and store nothing.
    let errors: &[(&str, &str, Value)] = &[
        ("PUT", "/v2/apis", json!({"body": "openapi: 3.0.1\n"})),
        (
            "PUT",
            "/v2/apis",
            json!({"body": json!({"swagger": "2.0"}).to_string()}),
        ),
        ("PUT", "/v2/apis", json!({})),
        ("PUT", "/v2/apis/nope", json!({"body": second.to_string()})),
    ];
    for (method, path, input) in errors {
        let got = manage_err(&n, method, path, input.clone()).await;
        let want = if path.ends_with("nope") {
            (404, "NotFoundException".to_string())
        } else {
            (400, "BadRequestException".to_string())
        };
        assert_eq!(got, want, "{method} {path} {input}");
    }
    let apis = manage(&n, "GET", "/v2/apis", json!({})).await;
    assert_eq!(apis["items"].as_array().unwrap().len(), 1, "{apis}");

    // The health endpoint's per-route metrics for what was served.
    let health: Value = crate::endpoint::health_detail(&n.api_url).await;
    let routes = &health["stats"]["apigateway"][id.as_str()];
    for (route, count) in [("GET /bare", 1), ("GET /web", 1), ("ANY /moved", 1)] {
        assert_eq!(routes[route]["count"], count, "{route}: {health}");
        assert_eq!(routes[route]["5xx"], 0, "{route}: {health}");
    }
}
