//! API Gateway invokes a function only when it may (issue 17): the function's resource-based
//! policy allows `apigateway.amazonaws.com` from the route's execute-api ARN, or the
//! integration's `credentialsArn` role (trusting API Gateway) allows `lambda:InvokeFunction`.
//! Otherwise the route answers API Gateway's 500. Quick create adds the permission itself, as
//! on AWS; manifest APIs get one for their functions (as SAM's implicit permissions).

use serde_json::{Value, json};

use super::gateway::{check, client, send, start};
use super::gateway_guard::{manage, sign_as};

const ACCOUNT: &str = "000000000000";

/// An IAM query call signed with the root key; panics on an error answer.
pub(super) async fn iam(n: &nuvem_testkit::Nuvem, params: &[(&str, &str)]) {
    let mut body = String::from("Version=2010-05-08");
    for (k, v) in params {
        body.push('&');
        body.push_str(k);
        body.push('=');
        body.push_str(
            &percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
        );
    }
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("{}/", n.api_url))
        .header("host", n.api_url.trim_start_matches("http://"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .unwrap();
    sign_as(&mut req, "iam");
    let resp = client(None)
        .execute(reqwest::Request::try_from(req).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "{params:?}: {status} {text}");
}

/// A `GET /bare` API on `py-bare` made through the management API, with `integration`'s
/// extra fields; returns its id.
async fn api_on_bare(n: &nuvem_testkit::Nuvem, extra: Value) -> String {
    let api = manage(
        n,
        "POST",
        "/v2/apis",
        json!({"name": "perm", "protocolType": "HTTP"}),
    )
    .await;
    let id = api["apiId"].as_str().unwrap().to_string();
    let mut integration = json!({"integrationType": "AWS_PROXY",
        "integrationUri": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:py-bare"),
        "payloadFormatVersion": "2.0"});
    integration
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let i = manage(
        n,
        "POST",
        &format!("/v2/apis/{id}/integrations"),
        integration,
    )
    .await;
    manage(
        n,
        "POST",
        &format!("/v2/apis/{id}/routes"),
        json!({"routeKey": "GET /bare", "target": format!("integrations/{}", i["integrationId"].as_str().unwrap())}),
    )
    .await;
    manage(
        n,
        "POST",
        &format!("/v2/apis/{id}/stages"),
        json!({"stageName": "$default"}),
    )
    .await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_gateway_needs_the_functions_permission() {
    let dir = tempfile::tempdir().unwrap();
    let n = start(dir.path(), "");
    let lambda = n.lambda();
    let c = client(None);
    let refused = json!({"message": "Internal Server Error"});
    let hello = json!({"hello": "world"});

    // No permission: API Gateway's 500, and the function never runs.
    let id = api_on_bare(&n, json!({})).await;
    check(
        &send(&n, &c, &id, "GET", "/bare", &[], b"").await,
        500,
        refused.clone(),
        &[],
    );

    // A permission for another API's routes does not count.
    let other = api_on_bare(&n, json!({})).await;
    lambda
        .add_permission()
        .function_name("py-bare")
        .statement_id("other-api")
        .action("lambda:InvokeFunction")
        .principal("apigateway.amazonaws.com")
        .source_arn(format!(
            "arn:aws:execute-api:us-east-1:{ACCOUNT}:{other}/*/GET/bare"
        ))
        .send()
        .await
        .unwrap();
    check(
        &send(&n, &c, &id, "GET", "/bare", &[], b"").await,
        500,
        refused.clone(),
        &[],
    );
    check(
        &send(&n, &c, &other, "GET", "/bare", &[], b"").await,
        200,
        hello.clone(),
        &[],
    );

    // This API's route on any stage: allowed.
    lambda
        .add_permission()
        .function_name("py-bare")
        .statement_id("this-api")
        .action("lambda:InvokeFunction")
        .principal("apigateway.amazonaws.com")
        .source_arn(format!(
            "arn:aws:execute-api:us-east-1:{ACCOUNT}:{id}/*/GET/bare"
        ))
        .send()
        .await
        .unwrap();
    check(
        &send(&n, &c, &id, "GET", "/bare", &[], b"").await,
        200,
        hello.clone(),
        &[],
    );
    // Removed again: refused again.
    lambda
        .remove_permission()
        .function_name("py-bare")
        .statement_id("this-api")
        .send()
        .await
        .unwrap();
    check(
        &send(&n, &c, &id, "GET", "/bare", &[], b"").await,
        500,
        refused.clone(),
        &[],
    );

    // Quick create lets API Gateway invoke its target, and the policy says so.
    let quick = manage(
        &n,
        "POST",
        "/v2/apis",
        json!({"name": "quick", "protocolType": "HTTP",
               "target": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:py-raw")}),
    )
    .await;
    let quick = quick["apiId"].as_str().unwrap().to_string();
    let got = send(&n, &c, &quick, "GET", "/anything", &[], b"").await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    let policy = lambda
        .get_policy()
        .function_name("py-raw")
        .send()
        .await
        .unwrap();
    let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let statement = &policy["Statement"][0];
    assert_eq!(
        statement["Principal"],
        json!({"Service": "apigateway.amazonaws.com"})
    );
    assert_eq!(
        statement["Condition"]["ArnLike"]["AWS:SourceArn"],
        format!("arn:aws:execute-api:us-east-1:{ACCOUNT}:{quick}/*/$default")
    );

    // An integration role: it must trust API Gateway and allow the invocation.
    let trust_apigw = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    .to_string();
    let trust_lambda = trust_apigw.replace("apigateway", "lambda");
    let invoke_bare = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "lambda:InvokeFunction",
        "Resource": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:py-bare")}]})
    .to_string();
    for (role, trust, policy) in [
        ("apigw-invoker", &trust_apigw, Some(&invoke_bare)),
        ("lambda-only", &trust_lambda, Some(&invoke_bare)),
        ("apigw-no-policy", &trust_apigw, None),
    ] {
        iam(
            &n,
            &[
                ("Action", "CreateRole"),
                ("RoleName", role),
                ("AssumeRolePolicyDocument", trust),
            ],
        )
        .await;
        if let Some(p) = policy {
            iam(
                &n,
                &[
                    ("Action", "PutRolePolicy"),
                    ("RoleName", role),
                    ("PolicyName", "invoke"),
                    ("PolicyDocument", p),
                ],
            )
            .await;
        }
    }
    let cases = [
        ("apigw-invoker", 200, hello.clone()),
        ("lambda-only", 500, refused.clone()),
        ("apigw-no-policy", 500, refused.clone()),
        ("does-not-exist", 500, refused.clone()),
    ];
    for (role, status, body) in cases {
        let arn = format!("arn:aws:iam::{ACCOUNT}:role/{role}");
        let api = api_on_bare(&n, json!({"credentialsArn": arn})).await;
        let got = send(&n, &c, &api, "GET", "/bare", &[], b"").await;
        assert_eq!(
            got.status,
            status,
            "role {role}: {}",
            String::from_utf8_lossy(&got.body)
        );
        check(&got, status, body, &[]);
    }
}
