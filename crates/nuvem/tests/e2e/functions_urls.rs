//! Function URLs end to end: the configuration API with aws-sdk-lambda, and HTTP requests to
//! `<url-id>.lambda-url.<region>.localhost.localstack.cloud:<port>` (sent to 127.0.0.1 with that
//! `Host`): the payload 2.0 event the function gets, its answer mapped back, CORS, and who may
//! call (`NONE` needs the function's policy to allow everyone; `AWS_IAM` a signed request).

use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Cors, FunctionCode, FunctionUrlAuthType, Runtime};
use nuvem_testkit::{Nuvem, Options};
use serde_json::{Value, json};

use super::functions::zip_of;
use super::gateway::client;

const HANDLER: &str = r#"import json

def handler(event, context):
    if event.get("rawPath", "").startswith("/plain"):
        return {"plain": True, "host": event["headers"].get("host")}
    if event.get("rawPath") == "/fail":
        raise RuntimeError("boom")
    return {
        "statusCode": 201,
        "headers": {"x-from": "function", "content-type": "application/json"},
        "cookies": ["a=1; Path=/", "b=2"],
        "body": json.dumps(event),
    }
"#;

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// The signed headers of a request to a function URL (SigV4, service `lambda`), as a client
/// with the test credentials would send them.
fn signed(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity = aws_credential_types::Credentials::new("test", "test", None, None, "e2e").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("lambda")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().map(|(k, v)| (*k, *v)),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn send(
    n: &Nuvem,
    function_url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    sign: bool,
) -> Reply {
    let host = function_url
        .strip_prefix("http://")
        .unwrap()
        .trim_end_matches('/');
    let url = format!("http://{host}{path}");
    let mut req = client(None)
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", n.api_url),
        )
        .header("host", host)
        .body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if sign {
        for (k, v) in signed(method, &url, headers, body) {
            req = req.header(k, v);
        }
    }
    let resp = req.send().await.unwrap();
    Reply {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

fn code(e: &impl ProvideErrorMetadata) -> String {
    e.code().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_urls_serve_http_with_their_auth_type_and_cors() {
    let n = Nuvem::start(env!("CARGO_BIN_EXE_nuvem"));
    let c = n.lambda();
    c.create_function()
        .function_name("site")
        .runtime(Runtime::Python312)
        .handler("app.handler")
        .role("arn:aws:iam::000000000000:role/lambda")
        .timeout(30)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip_of(&[("app.py", HANDLER)])))
                .build(),
        )
        .send()
        .await
        .unwrap();

    // The configuration.
    let created = c
        .create_function_url_config()
        .function_name("site")
        .auth_type(FunctionUrlAuthType::None)
        .cors(
            Cors::builder()
                .allow_origins("https://example.com")
                .allow_methods("POST")
                .allow_headers("content-type")
                .max_age(60)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let url = created.function_url().to_string();
    let port = n.api_url.rsplit(':').next().unwrap();
    assert!(
        url.starts_with("http://")
            && url.ends_with(&format!(
                ".lambda-url.us-east-1.localhost.localstack.cloud:{port}/"
            )),
        "{url}"
    );
    let url_id = url
        .strip_prefix("http://")
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(url_id.len(), 32, "{url_id}");
    assert!(created.function_arn().ends_with(":function:site"));
    let again = c
        .create_function_url_config()
        .function_name("site")
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&again), "ResourceConflictException");
    let got = c
        .get_function_url_config()
        .function_name("site")
        .send()
        .await
        .unwrap();
    assert_eq!(got.function_url(), url);
    assert_eq!(got.cors().unwrap().max_age(), Some(60));
    let numeric = c
        .create_function_url_config()
        .function_name("site")
        .qualifier("1")
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&numeric), "ValidationException");
    let listed = c
        .list_function_url_configs()
        .function_name("site")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.function_url_configs().len(), 1);

    // AuthType NONE: the function's policy must allow everyone both actions.
    let body = br#"{"hello":"world"}"#;
    let json_type = [("content-type", "application/json")];
    let r = send(
        &n,
        &url,
        "POST",
        "/items/7?x=1&y=2",
        &json_type,
        body,
        false,
    )
    .await;
    assert_eq!((r.status, r.json()), (403, json!({"Message": "Forbidden"})));
    c.add_permission()
        .function_name("site")
        .statement_id("FunctionURLAllowPublicAccess")
        .action("lambda:InvokeFunctionUrl")
        .principal("*")
        .function_url_auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();
    let r = send(&n, &url, "POST", "/items/7", &json_type, body, false).await;
    assert_eq!(r.status, 403, "lambda:InvokeFunction is needed too");
    let statement = c
        .add_permission()
        .function_name("site")
        .statement_id("FunctionURLInvokeAllowPublicAccess")
        .action("lambda:InvokeFunction")
        .principal("*")
        .invoked_via_function_url(true)
        .send()
        .await
        .unwrap();
    let statement: Value = serde_json::from_str(statement.statement().unwrap()).unwrap();
    assert_eq!(
        statement["Condition"]["Bool"]["lambda:InvokedViaFunctionUrl"],
        "true"
    );
    let cookie = [
        ("content-type", "application/json"),
        ("cookie", "session=abc; theme=dark"),
        ("origin", "https://example.com"),
    ];
    let r = send(&n, &url, "POST", "/items/7?x=1&y=2", &cookie, body, false).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.headers["x-from"], "function");
    let set_cookies: Vec<&str> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(set_cookies, ["a=1; Path=/", "b=2"]);
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "https://example.com"
    );
    let event = r.json();
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "$default");
    assert_eq!(event["rawPath"], "/items/7");
    assert_eq!(event["rawQueryString"], "x=1&y=2");
    assert_eq!(event["queryStringParameters"], json!({"x": "1", "y": "2"}));
    assert_eq!(event["cookies"], json!(["session=abc", "theme=dark"]));
    assert_eq!(event["body"], r#"{"hello":"world"}"#);
    assert_eq!(event["isBase64Encoded"], false);
    let ctx = &event["requestContext"];
    assert_eq!(ctx["accountId"], "anonymous");
    assert_eq!(ctx["apiId"], url_id.as_str());
    assert_eq!(ctx["domainPrefix"], url_id.as_str());
    assert_eq!(ctx["http"]["method"], "POST");
    assert_eq!(ctx["http"]["path"], "/items/7");
    assert_eq!(ctx["stage"], "$default");
    // A NONE URL does not authenticate: a signature that would not verify is not evaluated.
    let mut bad = signed(
        "POST",
        &format!("{}items/7", url),
        &json_type,
        b"not the body",
    );
    bad.retain(|(k, _)| k != "x-amz-content-sha256");
    let host = url.strip_prefix("http://").unwrap().trim_end_matches('/');
    let mut req = client(None)
        .post(format!("{}/items/7", n.api_url))
        .header("host", host)
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in bad {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status().as_u16(), 201);
    // A form body is base64, as Lambda sends it.
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let r = send(&n, &url, "POST", "/form", &form, b"a=1&b=2", false).await;
    let event = r.json();
    assert_eq!(event["isBase64Encoded"], true, "{event}");
    assert_eq!(event["body"], "YT0xJmI9Mg==");
    // A plain JSON answer is a 200 application/json body; a failing function a 502.
    let r = send(&n, &url, "GET", "/plain", &[], b"", false).await;
    assert_eq!((r.status, r.json()["plain"].clone()), (200, json!(true)));
    let r = send(&n, &url, "GET", "/fail", &[], b"", false).await;
    assert_eq!(r.status, 502);

    // CORS preflight, answered from the URL's settings.
    let preflight = [
        ("origin", "https://example.com"),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "content-type"),
    ];
    let r = send(&n, &url, "OPTIONS", "/items/7", &preflight, b"", false).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "https://example.com"
    );
    assert_eq!(r.headers["access-control-max-age"], "60");

    // AWS_IAM: unsigned requests are refused, signed ones run (with the caller in the event).
    c.update_function_url_config()
        .function_name("site")
        .auth_type(FunctionUrlAuthType::AwsIam)
        .send()
        .await
        .unwrap();
    let r = send(&n, &url, "POST", "/items/8", &json_type, body, false).await;
    assert_eq!(r.status, 403);
    let r = send(&n, &url, "POST", "/items/8", &json_type, body, true).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let event = r.json();
    assert_eq!(
        event["requestContext"]["authorizer"]["iam"]["accessKey"],
        "test"
    );
    let mut tampered = signed("POST", &format!("{}items/8", url), &json_type, b"other");
    tampered.retain(|(k, _)| k != "x-amz-content-sha256");
    let mut req = client(None)
        .post(format!("{}/items/8", n.api_url))
        .header("host", host)
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in tampered {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status().as_u16(), 403);

    // Deleting the configuration (or the function) removes the URL.
    c.delete_function_url_config()
        .function_name("site")
        .send()
        .await
        .unwrap();
    let r = send(&n, &url, "GET", "/plain", &[], b"", false).await;
    assert_eq!(r.status, 404);
    let gone = c
        .get_function_url_config()
        .function_name("site")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&gone), "ResourceNotFoundException");
    let second = c
        .create_function_url_config()
        .function_name("site")
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();
    c.delete_function()
        .function_name("site")
        .send()
        .await
        .unwrap();
    let r = send(&n, second.function_url(), "GET", "/plain", &[], b"", false).await;
    assert_eq!(r.status, 404);
}

async fn create_site(c: &aws_sdk_lambda::Client) {
    c.create_function()
        .function_name("site")
        .runtime(Runtime::Python312)
        .handler("app.handler")
        .role("arn:aws:iam::000000000000:role/lambda")
        .timeout(30)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip_of(&[("app.py", HANDLER)])))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// A distribution whose origin is `function:site`: the function's URL, looked up per request,
/// with its AuthType (`AWS_IAM` as CloudFront's origin access control reaches it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_url_is_an_edge_origin() {
    let manifest = "[distribution]\n\n[[distribution.behaviors]]\npath_pattern = \"default\"\norigin = \"function:site\"\nmin_ttl = 0\ndefault_ttl = 0\nmax_ttl = 0\n";
    let n = Nuvem::start_with(
        env!("CARGO_BIN_EXE_nuvem"),
        Options {
            manifest: Some(manifest.to_string()),
            ..Default::default()
        },
    );
    let get = |path: &'static str| {
        let url = format!("{}{path}", n.edge_url);
        async move {
            let r = client(None)
                .get(url)
                .header("user-agent", "nuvem-e2e")
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.bytes().await.unwrap())
        }
    };
    // No function (and so no URL) yet: the origin cannot be reached.
    assert_eq!(get("/plain-0").await.0, 502);
    let c = n.lambda();
    create_site(&c).await;
    c.create_function_url_config()
        .function_name("site")
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();
    for (sid, action, via_url) in [
        ("url", "lambda:InvokeFunctionUrl", false),
        ("invoke", "lambda:InvokeFunction", true),
    ] {
        let mut add = c
            .add_permission()
            .function_name("site")
            .statement_id(sid)
            .action(action)
            .principal("*");
        add = if via_url {
            add.invoked_via_function_url(true)
        } else {
            add.function_url_auth_type(FunctionUrlAuthType::None)
        };
        add.send().await.unwrap();
    }
    let (status, body) = get("/plain-1").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["plain"], true);
    assert!(
        answer["host"]
            .as_str()
            .unwrap()
            .contains(".lambda-url.us-east-1."),
        "{answer}"
    );
    // AWS_IAM: only with the function's permission for cloudfront.amazonaws.com.
    c.update_function_url_config()
        .function_name("site")
        .auth_type(FunctionUrlAuthType::AwsIam)
        .send()
        .await
        .unwrap();
    assert_eq!(get("/plain-2").await.0, 403);
    for (sid, action) in [
        ("cf-url", "lambda:InvokeFunctionUrl"),
        ("cf-invoke", "lambda:InvokeFunction"),
    ] {
        c.add_permission()
            .function_name("site")
            .statement_id(sid)
            .action(action)
            .principal("cloudfront.amazonaws.com")
            .source_arn("arn:aws:cloudfront::000000000000:distribution/*")
            .send()
            .await
            .unwrap();
    }
    let (status, body) = get("/plain-3").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

/// `AWS_IAM` URLs called with IAM users' keys: both Lambda actions are needed.
#[test]
fn function_url_with_aws_iam_needs_both_actions_for_iam_users() {
    if !crate::have_boto3("function_url_with_aws_iam_needs_both_actions_for_iam_users") {
        return;
    }
    let n = Nuvem::start(env!("CARGO_BIN_EXE_nuvem"));
    crate::run_boto3(
        "function_url_iam_boto3.py",
        &n.api_url,
        "boto3 function url iam: ok",
    );
}
