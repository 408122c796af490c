//! Route selection as API Gateway documents it: most specific wins, greedy variables,
//! `ANY`, `$default`; and stages in the path.

use nuvem_gateway::routes::{RouteKey, select};

use crate::support::{Harness, lambda};

const ROUTES: &[&str] = &[
    "GET /pets/dog/1",
    "GET /pets/dog/{id}",
    "GET /pets/{proxy+}",
    "ANY /{proxy+}",
    "GET /",
    "POST /pets",
    "ANY /pets",
    "$default",
];

#[track_caller]
fn check(method: &str, path: &str, expected: &str, params: &[(&str, &str)]) {
    let keys: Vec<(RouteKey, &str)> = ROUTES
        .iter()
        .map(|k| (RouteKey::parse(k).unwrap(), *k))
        .collect();
    let m = select(keys.iter().map(|(k, s)| (k, *s)), method, path).expect("a route");
    assert_eq!(m.route, expected, "{method} {path}");
    let got: Vec<(&str, &str)> = m
        .path_parameters
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(got, params, "{method} {path}");
}

#[test]
fn most_specific_route_wins() {
    // The examples of https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html
    check("GET", "/pets/dog/1", "GET /pets/dog/1", &[]);
    check("GET", "/pets/dog/2", "GET /pets/dog/{id}", &[("id", "2")]);
    check(
        "GET",
        "/pets/cat/1",
        "GET /pets/{proxy+}",
        &[("proxy", "cat/1")],
    );
    check(
        "POST",
        "/pets/dog/1",
        "ANY /{proxy+}",
        &[("proxy", "pets/dog/1")],
    );
    check("GET", "/pets", "ANY /pets", &[]);
    check("POST", "/pets", "POST /pets", &[]);
    check("GET", "/", "GET /", &[]);
    check("POST", "/", "$default", &[]);
    check(
        "GET",
        "/pets/dog/a%20b",
        "GET /pets/dog/{id}",
        &[("id", "a b")],
    );
    check("DELETE", "/a/b/c", "ANY /{proxy+}", &[("proxy", "a/b/c")]);
}

#[track_caller]
fn check_key(key: &str, ok: bool) {
    assert_eq!(RouteKey::parse(key).is_ok(), ok, "{key}");
}

#[test]
fn route_keys() {
    check_key("$default", true);
    check_key("GET /", true);
    check_key("ANY /{proxy+}", true);
    check_key("GET /items/{id}/tags", true);
    check_key("FETCH /x", false);
    check_key("GET x", false);
    check_key("GET /{proxy+}/x", false);
    check_key("GET /a//b", false);
    check_key("GET /{}", false);
    check_key("GET", false);
}

#[tokio::test]
async fn stages_in_the_path_and_stage_variables() {
    let h = Harness::new();
    h.canned("f", r#"{"statusCode": 200, "body": "ok"}"#);
    let id = h.api_with(
        serde_json::json!({"name": "s", "protocolType": "HTTP"}),
        &[("GET /items", lambda("f", "2.0"))],
        serde_json::json!({"stageName": "dev", "stageVariables": {"table": "items-dev"}}),
    );
    assert_eq!(h.get(&id, "/dev/items").await.status, 200);
    let ev = h.last_event();
    assert_eq!(ev["rawPath"], "/dev/items");
    assert_eq!(ev["requestContext"]["stage"], "dev");
    assert_eq!(ev["stageVariables"]["table"], "items-dev");
    // No `$default` stage: a path without a stage is not found.
    let r = h.get(&id, "/items").await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (404, r#"{"message":"Not Found"}"#.to_string())
    );
    assert_eq!(h.get(&id, "/dev/nothing").await.status, 404);
    assert_eq!(h.get("no-such-api", "/dev/items").await.status, 404);
    // By name too (the edge and the manifest name APIs).
    assert_eq!(h.get("s", "/dev/items").await.status, 200);
}
