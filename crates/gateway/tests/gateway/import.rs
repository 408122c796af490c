//! ImportApi / ReimportApi from OpenAPI 3 JSON: routes, integrations, CORS and JWT
//! authorizers as API Gateway's importer makes them, the errors it answers, serving an
//! imported API, and the per-route metrics of what it served.

use http::Method;
use serde_json::{Value, json};

use crate::support::Harness;

const FN_ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:echo";

fn doc(paths: Value) -> Value {
    json!({"openapi": "3.0.1", "info": {"title": "imported", "version": "1"}, "paths": paths})
}

fn lambda_op(uri: &str, version: &str) -> Value {
    json!({"x-amazon-apigateway-integration": {
        "type": "aws_proxy", "uri": uri, "payloadFormatVersion": version}})
}

/// `(routeKey, integrationType, integrationUri, payloadFormatVersion, integrationMethod)`.
type Row = (String, String, String, String, String);

/// Imports `definition` (sent as the SDKs do: `{"body": "<json text>"}`) and returns the
/// API and `(routeKey, integrationType, integrationUri, payloadFormatVersion, method)` per
/// route, sorted by route key.
fn import(h: &Harness, definition: &Value) -> (Value, Vec<Row>) {
    let api = h.op("PUT", "/v2/apis", json!({"body": definition.to_string()}));
    let id = api["apiId"].as_str().unwrap();
    let routes = h.op("GET", &format!("/v2/apis/{id}/routes"), json!({}));
    let ints = h.op("GET", &format!("/v2/apis/{id}/integrations"), json!({}));
    let mut out: Vec<_> = routes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let target = r["target"]
                .as_str()
                .unwrap_or("")
                .trim_start_matches("integrations/");
            let i = ints["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["integrationId"] == target)
                .cloned()
                .unwrap_or(json!({}));
            let s = |v: &Value| v.as_str().unwrap_or("").to_string();
            (
                s(&r["routeKey"]),
                s(&i["integrationType"]),
                s(&i["integrationUri"]),
                s(&i["payloadFormatVersion"]),
                s(&i["integrationMethod"]),
            )
        })
        .collect();
    out.sort();
    (api, out)
}

#[track_caller]
fn check(h: &Harness, paths: Value, want: &[(&str, &str, &str, &str, &str)]) {
    let (_, got) = import(h, &doc(paths));
    let want: Vec<_> = want
        .iter()
        .map(|(a, b, c, d, e)| {
            (
                a.to_string(),
                b.to_string(),
                c.to_string(),
                d.to_string(),
                e.to_string(),
            )
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn routes_and_integrations_from_paths() {
    let h = &Harness::new();
    check(
        h,
        json!({"/items/{id}": {"get": lambda_op(FN_ARN, "2.0")}}),
        &[("GET /items/{id}", "AWS_PROXY", FN_ARN, "2.0", "")],
    );
    check(
        h,
        json!({"/a": {"get": lambda_op("echo", "1.0"), "post": lambda_op("echo", "1.0")}}),
        &[
            ("GET /a", "AWS_PROXY", "echo", "1.0", ""),
            ("POST /a", "AWS_PROXY", "echo", "1.0", ""),
        ],
    );
    check(
        h,
        json!({"/{proxy+}": {"x-amazon-apigateway-any-method": lambda_op("echo", "2.0")}}),
        &[("ANY /{proxy+}", "AWS_PROXY", "echo", "2.0", "")],
    );
    check(
        h,
        json!({"/$default": {"x-amazon-apigateway-any-method": lambda_op("echo", "2.0")}}),
        &[("$default", "AWS_PROXY", "echo", "2.0", "")],
    );
    check(
        h,
        json!({"/up": {"get": {"x-amazon-apigateway-integration": {
            "type": "http_proxy", "uri": "http://127.0.0.1:9/x", "httpMethod": "GET",
            "payloadFormatVersion": "1.0"}}}}),
        &[(
            "GET /up",
            "HTTP_PROXY",
            "http://127.0.0.1:9/x",
            "1.0",
            "GET",
        )],
    );
    // No payloadFormatVersion: the importer's 1.0.
    check(
        h,
        json!({"/v": {"get": {"x-amazon-apigateway-integration": {"type": "AWS_PROXY", "uri": "echo"}}}}),
        &[("GET /v", "AWS_PROXY", "echo", "1.0", "")],
    );
    // No integration: a route without a target.
    check(
        h,
        json!({"/none": {"get": {}}}),
        &[("GET /none", "", "", "", "")],
    );
    check(h, json!({}), &[]);
}

#[track_caller]
fn check_err(h: &Harness, input: Value, message: &str) {
    match h.gw.route_management(&Method::PUT, "/v2/apis", &input) {
        Ok(v) => panic!("import succeeded: {v:?}"),
        Err(e) => {
            let aws = nuvem_aws::IntoAwsError::into_aws_error(e);
            assert_eq!(aws.code, "BadRequestException");
            assert!(aws.message.contains(message), "{}", aws.message);
        }
    }
    assert_eq!(h.op("GET", "/v2/apis", json!({}))["items"], json!([]));
}

#[test]
fn import_errors_store_nothing() {
    let h = &Harness::new();
    check_err(h, json!({}), "Body is required");
    check_err(
        h,
        json!({"body": "openapi: 3.0.1\ninfo:\n  title: y\n"}),
        "JSON",
    );
    check_err(h, json!({"body": 5}), "string");
    let swagger = json!({"swagger": "2.0", "info": {"title": "s"}, "paths": {}});
    check_err(h, json!({"body": swagger.to_string()}), "OpenAPI 3");
    let untitled = json!({"openapi": "3.0.1", "info": {}, "paths": {}});
    check_err(h, json!({"body": untitled.to_string()}), "title");
    let bad = |paths: Value| json!({"body": doc(paths).to_string()});
    check_err(
        h,
        bad(
            json!({"/a": {"get": {"x-amazon-apigateway-integration": {"type": "mock", "uri": "x"}}}}),
        ),
        "mock",
    );
    check_err(
        h,
        bad(json!({"/a": {"get": {"x-amazon-apigateway-integration": {"type": "aws_proxy"}}}})),
        "uri",
    );
    check_err(
        h,
        bad(
            json!({"/a": {"get": {"x-amazon-apigateway-integration": {"type": "http_proxy", "uri": "ftp://x"}}}}),
        ),
        "HTTP URL",
    );
    check_err(
        h,
        bad(json!({"/a": {"get": lambda_op("f", "3.0")}})),
        "PayloadFormatVersion",
    );
    check_err(
        h,
        bad(json!({"a": {"get": lambda_op("f", "2.0")}})),
        "Invalid OpenAPI input",
    );
    check_err(
        h,
        json!({"body": doc(json!({"/n": {"get": {}}})).to_string(), "failOnWarnings": true}),
        "no integration",
    );
}

#[tokio::test]
async fn imported_api_serves_and_reimport_replaces_it() {
    let h = Harness::new();
    h.canned("echo", r#"{"statusCode": 200, "body": "from echo"}"#);
    h.canned("other", r#"{"statusCode": 201, "body": "from other"}"#);
    let mut definition = doc(json!({
        "/items/{id}": {"get": lambda_op("echo", "2.0")},
        "/gone": {"get": lambda_op("echo", "2.0")},
    }));
    definition["info"]["description"] = json!("from openapi");
    definition["x-amazon-apigateway-cors"] = json!({
        "allowOrigins": ["https://site.example"], "allowMethods": ["GET"], "maxAge": 60,
        "allowCredentials": true});
    definition["components"] = json!({"securitySchemes": {"jwt": {
        "type": "oauth2",
        "x-amazon-apigateway-authorizer": {"type": "jwt",
            "identitySource": "$request.header.Authorization",
            "jwtConfiguration": {"issuer": "https://issuer.test", "audience": ["a1"]}}}}});
    definition["paths"]["/secret"] = json!({"get": {"security": [{"jwt": ["read"]}],
        "x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": "echo", "payloadFormatVersion": "2.0"}}});
    let (api, _) = import(&h, &definition);
    let id = api["apiId"].as_str().unwrap().to_string();
    assert_eq!(api["name"], "imported");
    assert_eq!(api["description"], "from openapi");
    assert_eq!(api["protocolType"], "HTTP");
    assert_eq!(
        api["corsConfiguration"]["allowOrigins"],
        json!(["https://site.example"])
    );
    assert_eq!(api["corsConfiguration"]["maxAge"], 60);
    let auths = h.op("GET", &format!("/v2/apis/{id}/authorizers"), json!({}));
    assert_eq!(auths["items"][0]["authorizerType"], "JWT");
    assert_eq!(
        auths["items"][0]["jwtConfiguration"]["audience"],
        json!(["a1"])
    );
    let routes = h.op("GET", &format!("/v2/apis/{id}/routes"), json!({}));
    let secret = routes["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["routeKey"] == "GET /secret")
        .unwrap();
    assert_eq!(secret["authorizationType"], "JWT");
    assert_eq!(secret["authorizerId"], auths["items"][0]["authorizerId"]);
    assert_eq!(secret["authorizationScopes"], json!(["read"]));

    // Nothing is deployed until a stage exists, as with API Gateway.
    assert_eq!(h.get(&id, "/items/1").await.status, 404);
    h.op(
        "POST",
        &format!("/v2/apis/{id}/stages"),
        json!({"stageName": "$default"}),
    );
    let got = h.get(&id, "/items/1").await;
    assert_eq!(
        (got.status.as_u16(), got.text().as_str()),
        (200, "from echo")
    );
    assert_eq!(h.get(&id, "/secret").await.status, 401);

    // Reimport: the new definition's routes replace the old ones; the stage stays.
    let next = doc(json!({"/items/{id}": {"get": lambda_op("other", "1.0")}}));
    let (status, again) =
        h.gw.route_management(
            &Method::PUT,
            &format!("/v2/apis/{id}"),
            &json!({"body": next.to_string()}),
        )
        .unwrap();
    assert_eq!(status, 201);
    assert_eq!(again["apiId"], id.as_str());
    assert!(again.get("corsConfiguration").is_none(), "{again}");
    let got = h.get(&id, "/items/1").await;
    assert_eq!(
        (got.status.as_u16(), got.text().as_str()),
        (201, "from other")
    );
    assert_eq!(h.get(&id, "/gone").await.status, 404);
    let routes = h.op("GET", &format!("/v2/apis/{id}/routes"), json!({}));
    assert_eq!(routes["items"].as_array().unwrap().len(), 1);
    assert!(
        h.gw.route_management(
            &Method::PUT,
            "/v2/apis/nope",
            &json!({"body": next.to_string()})
        )
        .is_err()
    );

    // Per-route metrics of what was served.
    let m = h.gw.metrics();
    let route = &m[id.as_str()]["GET /items/{id}"];
    assert_eq!(
        (
            route["count"].as_u64(),
            route["4xx"].as_u64(),
            route["5xx"].as_u64()
        ),
        (Some(2), Some(0), Some(0)),
        "{m}"
    );
    assert!(route["p99_us"].as_u64() >= route["p50_us"].as_u64(), "{m}");
    assert_eq!(m[id.as_str()]["GET /secret"]["4xx"], 1, "{m}");
}
