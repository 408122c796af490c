//! On whose behalf the gateway invokes functions: the execute-api source ARN of the route
//! (or the authorizer), the integration's role, and API Gateway's answer when the function's
//! policy refuses it.

use nuvem_gateway::route_source_arn;
use serde_json::json;

use crate::support::{Harness, lambda};

/// The source ARN of each route shape, as Lambda's `aws:SourceArn` shows it.
#[test]
fn source_arns() {
    let check = |stage: &str, key: &str, want: &str| {
        assert_eq!(
            route_source_arn("us-east-1", "000000000000", "abc123", stage, key),
            format!("arn:aws:execute-api:us-east-1:000000000000:abc123/{want}"),
            "{stage} {key}"
        );
    };
    check("$default", "GET /items/{id}", "$default/GET/items/{id}");
    check("prod", "ANY /{proxy+}", "prod/*/{proxy+}");
    check("$default", "$default", "$default/$default");
    check("*", "POST /", "*/POST/");
}

#[tokio::test]
async fn routes_invoke_as_api_gateway_from_their_arn() {
    let h = Harness::new();
    h.canned("f", r#"{"statusCode": 200, "body": "ok"}"#);
    let id = h.api(&[
        ("GET /items/{id}", lambda("f", "2.0")),
        ("$default", lambda("f", "2.0")),
    ]);
    assert_eq!(h.get(&id, "/items/7").await.status, 200);
    assert_eq!(h.get(&id, "/elsewhere").await.status, 200);
    let callers = h.fns.callers.lock().unwrap().clone();
    let arns: Vec<&str> = callers.iter().map(|c| c.source_arn.as_str()).collect();
    assert_eq!(
        arns,
        [
            format!("arn:aws:execute-api:us-east-1:000000000000:{id}/$default/GET/items/{{id}}"),
            format!("arn:aws:execute-api:us-east-1:000000000000:{id}/$default/$default"),
        ]
    );
    assert!(callers.iter().all(|c| c.credentials_arn.is_none()));
}

#[tokio::test]
async fn an_integration_role_is_passed_on() {
    let h = Harness::new();
    h.canned("f", r#"{"statusCode": 200}"#);
    let role = "arn:aws:iam::000000000000:role/apigw-invoke";
    let mut integration = lambda("f", "2.0");
    integration["credentialsArn"] = json!(role);
    let id = h.api(&[("GET /", integration)]);
    assert_eq!(h.get(&id, "/").await.status, 200);
    let callers = h.fns.callers.lock().unwrap().clone();
    assert_eq!(callers[0].credentials_arn.as_deref(), Some(role));
    // GetIntegrations shows it.
    let ints = h.op("GET", &format!("/v2/apis/{id}/integrations"), json!({}));
    assert_eq!(ints["items"][0]["credentialsArn"], role);
}

#[tokio::test]
async fn a_refusing_function_is_api_gateways_500() {
    let h = Harness::new();
    h.canned("f", r#"{"statusCode": 200, "body": "should not run"}"#);
    h.fns.refused.lock().unwrap().push("f".into());
    let id = h.api(&[("GET /", lambda("f", "2.0"))]);
    let r = h.get(&id, "/").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json(), json!({"message": "Internal Server Error"}));
    assert!(
        h.fns.events.lock().unwrap().is_empty(),
        "the function never ran"
    );
}

#[tokio::test]
async fn authorizers_invoke_from_their_own_arn() {
    let h = Harness::new();
    h.canned("authz", r#"{"isAuthorized": true}"#);
    h.canned("f", r#"{"statusCode": 200}"#);
    let id = h.api(&[]);
    let auth = h.op(
        "POST",
        &format!("/v2/apis/{id}/authorizers"),
        json!({"name": "a", "authorizerType": "REQUEST",
               "authorizerUri": "arn:aws:lambda:us-east-1:000000000000:function:authz",
               "authorizerPayloadFormatVersion": "2.0", "enableSimpleResponses": true,
               "identitySource": ["$request.header.x-token"]}),
    );
    let i = h.op(
        "POST",
        &format!("/v2/apis/{id}/integrations"),
        lambda("f", "2.0"),
    );
    h.op(
        "POST",
        &format!("/v2/apis/{id}/routes"),
        json!({"routeKey": "GET /", "target": format!("integrations/{}", i["integrationId"].as_str().unwrap()),
               "authorizationType": "CUSTOM", "authorizerId": auth["authorizerId"]}),
    );
    let r = h
        .send(
            &id,
            http::Request::get("/")
                .header("x-token", "t")
                .body(bytes::Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200);
    let callers = h.fns.callers.lock().unwrap().clone();
    assert_eq!(
        callers[0].source_arn,
        format!(
            "arn:aws:execute-api:us-east-1:000000000000:{id}/authorizers/{}",
            auth["authorizerId"].as_str().unwrap()
        )
    );
}
