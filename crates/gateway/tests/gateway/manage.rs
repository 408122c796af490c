//! The management API: create, read, delete, validation errors, quick create, persistence.

use http::Method;
use serde_json::{Value, json};

use crate::support::Harness;

#[track_caller]
fn check_err(h: &Harness, method: &str, path: &str, input: Value, code: &str) {
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    match h.gw.route_management(&m, path, &input) {
        Ok(v) => panic!("{method} {path} succeeded: {v:?}"),
        Err(e) => {
            let aws = nuvem_aws::IntoAwsError::into_aws_error(e);
            assert_eq!(aws.code, code, "{method} {path}: {}", aws.message);
        }
    }
}

#[test]
fn errors() {
    let h = Harness::new();
    let id = h.op(
        "POST",
        "/v2/apis",
        json!({"name": "a", "protocolType": "HTTP"}),
    )["apiId"]
        .as_str()
        .unwrap()
        .to_string();
    let api = |rest: &str| format!("/v2/apis/{id}{rest}");
    check_err(
        &h,
        "POST",
        "/v2/apis",
        json!({"protocolType": "HTTP"}),
        "BadRequestException",
    );
    check_err(
        &h,
        "POST",
        "/v2/apis",
        json!({"name": "x"}),
        "BadRequestException",
    );
    check_err(
        &h,
        "POST",
        "/v2/apis",
        json!({"name": "x", "protocolType": "WEBSOCKET"}),
        "BadRequestException",
    );
    check_err(&h, "GET", "/v2/apis/nope", json!({}), "NotFoundException");
    check_err(
        &h,
        "POST",
        "/v2/apis/nope/routes",
        json!({"routeKey": "GET /"}),
        "NotFoundException",
    );
    check_err(
        &h,
        "POST",
        &api("/routes"),
        json!({"routeKey": "FETCH /"}),
        "BadRequestException",
    );
    check_err(
        &h,
        "POST",
        &api("/routes"),
        json!({"routeKey": "GET /", "target": "integrations/zzz"}),
        "BadRequestException",
    );
    check_err(
        &h,
        "POST",
        &api("/integrations"),
        json!({"integrationType": "AWS_PROXY", "integrationUri": "f"}),
        "BadRequestException",
    );
    check_err(
        &h,
        "POST",
        &api("/integrations"),
        json!({"integrationType": "HTTP_PROXY", "integrationUri": "ftp://x"}),
        "BadRequestException",
    );
    check_err(
        &h,
        "POST",
        &api("/integrations"),
        json!({"integrationType": "AWS_PROXY", "integrationUri": "f", "payloadFormatVersion": "2.0", "timeoutInMillis": 40000}),
        "BadRequestException",
    );
    check_err(
        &h,
        "POST",
        &api("/stages"),
        json!({}),
        "BadRequestException",
    );
    check_err(
        &h,
        "POST",
        &api("/authorizers"),
        json!({"name": "j", "authorizerType": "JWT"}),
        "BadRequestException",
    );
    h.op("POST", &api("/routes"), json!({"routeKey": "GET /"}));
    check_err(
        &h,
        "POST",
        &api("/routes"),
        json!({"routeKey": "GET /"}),
        "ConflictException",
    );
    h.op("POST", &api("/stages"), json!({"stageName": "dev"}));
    check_err(
        &h,
        "POST",
        &api("/stages"),
        json!({"stageName": "dev"}),
        "ConflictException",
    );
    check_err(
        &h,
        "DELETE",
        &api("/stages/prod"),
        json!({}),
        "NotFoundException",
    );
    h.op("DELETE", &api("/stages/dev"), json!({}));
    h.op("DELETE", &id_path(&id), json!({}));
    check_err(&h, "GET", &id_path(&id), json!({}), "NotFoundException");
}

fn id_path(id: &str) -> String {
    format!("/v2/apis/{id}")
}

#[tokio::test]
async fn quick_create_and_persistence() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let store = nuvem_store::Store::new(
            nuvem_store::FjallEngine::open(dir.path(), nuvem_store::Durability::Process).unwrap(),
        );
        nuvem_gateway::Gateway::open(
            store,
            nuvem_gateway::GatewayConfig {
                region: "us-east-1".into(),
                account_id: "000000000000".into(),
                extra_ca_pem: None,
            },
        )
        .unwrap()
    };
    let id = {
        let gw = open();
        let (status, api) = gw
            .route_management(
                &Method::POST,
                "/v2/apis",
                &json!({"name": "quick", "protocolType": "HTTP",
                        "target": "arn:aws:lambda:us-east-1:000000000000:function:f"}),
            )
            .unwrap();
        assert_eq!(status, 201);
        let id = api["apiId"].as_str().unwrap().to_string();
        assert_eq!(id.len(), 10);
        assert_eq!(
            api["apiEndpoint"],
            format!("http://{id}.execute-api.localhost.localstack.cloud:4566")
        );
        assert_eq!(api["protocolType"], "HTTP");
        id
    };
    // Reopened from the store: the quick-created route, integration and stage are there.
    let gw = open();
    let (_, routes) = gw
        .route_management(&Method::GET, &format!("/v2/apis/{id}/routes"), &json!({}))
        .unwrap();
    assert_eq!(routes["items"][0]["routeKey"], "$default");
    let (_, ints) = gw
        .route_management(
            &Method::GET,
            &format!("/v2/apis/{id}/integrations"),
            &json!({}),
        )
        .unwrap();
    assert_eq!(ints["items"][0]["integrationType"], "AWS_PROXY");
    assert_eq!(ints["items"][0]["payloadFormatVersion"], "2.0");
    let (_, stages) = gw
        .route_management(&Method::GET, &format!("/v2/apis/{id}/stages"), &json!({}))
        .unwrap();
    assert_eq!(stages["items"][0]["stageName"], "$default");
    let (_, apis) = gw
        .route_management(&Method::GET, "/v2/apis", &json!({}))
        .unwrap();
    assert_eq!(apis["items"].as_array().unwrap().len(), 1);
}

#[test]
fn execute_api_hosts() {
    use nuvem_gateway::api_id_from_host;
    assert_eq!(
        api_id_from_host("abc123.execute-api.localhost.localstack.cloud:4566"),
        Some("abc123")
    );
    assert_eq!(
        api_id_from_host("abc123.execute-api.localhost.localstack.cloud"),
        Some("abc123")
    );
    assert_eq!(
        api_id_from_host("abc123.execute-api.localhost:4566"),
        Some("abc123")
    );
    assert_eq!(api_id_from_host("localhost:4566"), None);
    assert_eq!(
        api_id_from_host(".execute-api.localhost.localstack.cloud"),
        None
    );
    assert_eq!(
        api_id_from_host("a.b.execute-api.localhost.localstack.cloud"),
        None
    );
}
