//! The API gateway through the real binary: manifest APIs answer on the AWS endpoint by
//! host name (`{apiId}.execute-api.localhost.localstack.cloud`), without SigV4, and route to
//! real functions: a Rust function built with `lambda_http` (examples/functions/http-echo),
//! which answers with the request as lambda_http parsed it from payload 2.0 or 1.0, and
//! Python functions for raw events, bare JSON answers and malformed answers. Every field the
//! issue lists is asserted as the function saw it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;
use nuvem_testkit::{Nuvem, Options};
use serde_json::{Value, json};

/// A function binary of this workspace, built once per test process into the target folder
/// of `nuvem` (`CARGO_BIN_EXE_*` only exists for this package's own binaries).
pub(super) fn function_binary(package: &'static str) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<Vec<&'static str>>> = OnceLock::new();
    let nuvem = Path::new(env!("CARGO_BIN_EXE_nuvem"));
    let out = nuvem.parent().expect("target profile folder");
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap();
    if !built.contains(&package) {
        let mut cmd =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(["build", "--quiet", "-p", package])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if out.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        if let Some(target) = out.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building {package} failed");
        built.push(package);
    }
    out.join(package)
}

/// Python handlers: `raw` answers with the event it got, `bare` with a bare JSON object (no
/// `statusCode`), `broken` with a response API Gateway cannot map, `auth` is a Lambda
/// authorizer with simple responses.
const PY_HANDLERS: &str = r#"import json

def raw(event, context):
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}

def bare(event, context):
    return {"hello": "world", "n": [1, 2]}

def broken(event, context):
    return {"statusCode": "teapot"}

def auth(event, context):
    key = event.get("headers", {}).get("x-key")
    return {"isAuthorized": key == "open-sesame", "context": {"user": "py", "route": event["routeKey"]}}
"#;

/// nuvem with the http-echo function, the Python functions (code in `dir`) and `extra`
/// manifest text.
pub(super) fn start(dir: &Path, extra: &str) -> Nuvem {
    std::fs::write(dir.join("handler.py"), PY_HANDLERS).unwrap();
    let echo = function_binary("nuvem-fn-http-echo");
    let mut manifest = format!(
        "[[functions]]\nname = \"http-echo\"\nruntime = \"provided.al2023\"\ncode = {:?}\ntimeout_seconds = 5\n",
        echo.display().to_string()
    );
    for f in ["raw", "bare", "broken", "auth"] {
        manifest.push_str(&format!(
            "[[functions]]\nname = \"py-{f}\"\nruntime = \"python3.12\"\nhandler = \"handler.{f}\"\ncode = {:?}\ntimeout_seconds = 5\n",
            dir.display().to_string()
        ));
    }
    manifest.push_str(extra);
    Nuvem::start_with(
        env!("CARGO_BIN_EXE_nuvem"),
        Options {
            manifest: Some(manifest),
            ..Default::default()
        },
    )
}

/// A plain-HTTP client (reqwest still wants a TLS provider chosen), optionally bound to a
/// local address (another loopback address is another client to the gateway).
pub(super) fn client(local: Option<std::net::IpAddr>) -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .local_address(local)
        .build()
        .unwrap()
}

/// Request headers of a table row.
pub(super) type Headers<'a> = &'a [(&'a str, &'a str)];

/// What the gateway answered.
pub(super) struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }
}

/// Sends one request to API `api_id` through the AWS endpoint by execute-api host name.
pub(super) async fn send(
    n: &Nuvem,
    client: &reqwest::Client,
    api_id: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let port = n.api_url.rsplit(':').next().unwrap();
    let mut req = client
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", n.api_url),
        )
        .header(
            "host",
            format!("{api_id}.execute-api.localhost.localstack.cloud:{port}"),
        )
        .body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    Reply {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

/// `want` is contained in `got`: objects by key (recursively), strings as substrings, the
/// rest (arrays included) exactly.
pub(super) fn subset(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w
            .iter()
            .all(|(k, v)| g.get(k).is_some_and(|gv| subset(v, gv))),
        (Value::String(w), Value::String(g)) => g.contains(w.as_str()),
        _ => want == got,
    }
}

/// One answer: its status; its body (a JSON string is the exact body text, anything else a
/// subset of the JSON body, `null` skips it); and response headers with all their values.
#[track_caller]
pub(super) fn check(got: &Reply, status: u16, body: Value, headers: &[(&str, &[&str])]) {
    let text = String::from_utf8_lossy(&got.body);
    assert_eq!(got.status, status, "body {text}");
    match &body {
        Value::Null => {}
        Value::String(s) => assert_eq!(text, s.as_str()),
        want => assert!(
            subset(want, &got.json()),
            "body {text} should contain {want}"
        ),
    }
    for (name, values) in headers {
        assert_eq!(got.all(name), *values, "header {name}; body {text}");
    }
}

/// The API id the banner gives for manifest API `name`.
pub(super) fn api_id(n: &Nuvem, name: &str) -> String {
    let prefix = format!("api {name} at http://");
    let line = n
        .banner
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("the banner names API {name}: {:?}", n.banner));
    let host = line.trim_start_matches(&prefix);
    assert!(
        host.contains(".execute-api.localhost.localstack.cloud:"),
        "{host}"
    );
    host.split('.').next().unwrap().to_string()
}

const ERROR: &str = r#"{"message":"Internal Server Error"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_http_sees_both_payload_formats_field_for_field() {
    let dir = tempfile::tempdir().unwrap();
    let n = start(
        dir.path(),
        r#"
[[apis]]
name = "site"
[[apis.routes]]
key = "GET /items/{id}"
function = "http-echo"
[[apis.routes]]
key = "POST /upload"
function = "http-echo"
[[apis.routes]]
key = "ANY /v1/{proxy+}"
function = "http-echo"
payload_format = "1.0"
[[apis.routes]]
key = "GET /raw2"
function = "py-raw"
[[apis.routes]]
key = "GET /raw1"
function = "py-raw"
payload_format = "1.0"
[[apis.routes]]
key = "GET /bare"
function = "py-bare"
[[apis.routes]]
key = "GET /bare1"
function = "py-bare"
payload_format = "1.0"
[[apis.routes]]
key = "GET /broken"
function = "py-broken"
[[apis.routes]]
key = "GET /missing"
function = "not-deployed"
"#,
    );
    let id = api_id(&n, "site");
    let c = client(None);
    let domain = format!("{id}.execute-api.localhost.localstack.cloud");
    let ask = |method: &'static str, path: &'static str, headers: &'static [(&str, &str)]| {
        send(&n, &c, &id, method, path, headers, b"")
    };
    const H: &[(&str, &str)] = &[
        ("user-agent", "nuvem-e2e"),
        ("x-multi", "one"),
        ("x-multi", "two"),
        ("cookie", "a=1; b=2"),
    ];

    // Payload 2.0 as lambda_http parsed it.
    let v2 = ask("GET", "/items/42?tag=a&tag=b&q=hello%20world&empty=", H).await;
    check(
        &v2,
        200,
        json!({
            "method": "GET",
            "path": "/items/42",
            "raw_path": "/items/42",
            "query": {"tag": ["a", "b"], "q": ["hello world"], "empty": [""]},
            // 2.0 joins repeated headers with commas; lambda_http rebuilds `cookie` from `cookies`.
            "headers": {"x-multi": ["one,two"], "user-agent": ["nuvem-e2e"], "cookie": ["a=1; b=2"]},
            "cookies": ["a=1", "b=2"],
            "path_parameters": {"id": ["42"]},
            "stage_variables": {},
            "request_context": {
                "accountId": "000000000000", "apiId": id, "domainName": domain,
                "domainPrefix": id, "routeKey": "GET /items/{id}", "stage": "$default",
                "requestId": "", "time": " +0000",
                "http": {"method": "GET", "path": "/items/42", "protocol": "HTTP/1.1",
                         "sourceIp": "127.0.0.1", "userAgent": "nuvem-e2e"},
            },
            "body_kind": "empty",
        }),
        &[("content-type", &["application/json"])],
    );
    let ctx = &v2.json()["request_context"];
    assert!(
        ctx["timeEpoch"].as_i64().unwrap() > 1_700_000_000_000,
        "{ctx}"
    );
    assert_eq!(
        v2.all("apigw-requestid"),
        [ctx["requestId"].as_str().unwrap()]
    );

    // LocalStack's path-style address reaches the same route, on the endpoint's own host.
    let path_style = c
        .get(format!(
            "{}/_aws/execute-api/{id}/items/42?tag=a",
            n.api_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(path_style.status(), 200);
    let got: Value = path_style.json().await.unwrap();
    assert_eq!(got["raw_path"], "/items/42", "{got}");
    assert_eq!(got["query"], json!({"tag": ["a"]}), "{got}");
    let unknown = c
        .get(format!("{}/_aws/execute-api/nosuchapi/items/42", n.api_url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // Payload 1.0 as lambda_http parsed it: multi-value query wins; lambda_http keeps the
    // last value of a repeated header (the raw event below has them all).
    let v1 = ask("POST", "/v1/things/7?tag=a&tag=b", H).await;
    check(
        &v1,
        200,
        json!({
            "method": "POST",
            "raw_path": "/v1/things/7",
            "query": {"tag": ["a", "b"]},
            "headers": {"user-agent": ["nuvem-e2e"], "cookie": ["a=1; b=2"]},
            "cookies": ["a=1", "b=2"],
            "path_parameters": {"proxy": ["things/7"]},
            "request_context": {
                "accountId": "000000000000", "apiId": id, "domainName": domain,
                "httpMethod": "POST", "path": "/v1/things/7", "protocol": "HTTP/1.1",
                "resourcePath": "/v1/{proxy+}", "stage": "$default", "requestId": "",
                "requestTime": " +0000",
                "identity": {"sourceIp": "127.0.0.1", "userAgent": "nuvem-e2e"},
            },
            "body_kind": "empty",
        }),
        &[],
    );

    // The raw events, as a function without lambda_http sees them.
    let raw2 = ask("GET", "/raw2?tag=a&tag=b", H).await;
    check(
        &raw2,
        200,
        json!({"version": "2.0", "routeKey": "GET /raw2", "rawPath": "/raw2",
               "rawQueryString": "tag=a&tag=b", "cookies": ["a=1", "b=2"],
               "headers": {"x-multi": "one,two"}, "queryStringParameters": {"tag": "a,b"},
               "isBase64Encoded": false}),
        &[],
    );
    assert!(
        raw2.json()["headers"].get("cookie").is_none(),
        "{}",
        raw2.json()
    );
    let raw1 = ask("GET", "/raw1?tag=a&tag=b", H).await;
    check(
        &raw1,
        200,
        json!({"version": "1.0", "resource": "/raw1", "path": "/raw1", "httpMethod": "GET",
               "headers": {"x-multi": "two", "cookie": "a=1; b=2"},
               "multiValueHeaders": {"x-multi": ["one", "two"]},
               "queryStringParameters": {"tag": "b"},
               "multiValueQueryStringParameters": {"tag": ["a", "b"]},
               "isBase64Encoded": false}),
        &[],
    );

    // Bodies: text passes as text, anything else base64-encoded.
    let binary: &[u8] = &[0, 159, 146, 150, 255, b'\n'];
    let b64 = base64::engine::general_purpose::STANDARD.encode(binary);
    let bodies: &[(&str, &[u8], Value)] = &[
        (
            "application/octet-stream",
            binary,
            json!({"body_kind": "binary", "body": b64}),
        ),
        (
            "image/png",
            b"not really a png",
            json!({"body_kind": "binary", "body": base64::engine::general_purpose::STANDARD.encode("not really a png")}),
        ),
        (
            "application/json",
            "{\"a\": \"\u{fc}\"}".as_bytes(),
            json!({"body_kind": "text", "body": "{\"a\": \"\u{fc}\"}"}),
        ),
        (
            "text/plain; charset=utf-8",
            b"plain words",
            json!({"body_kind": "text", "body": "plain words"}),
        ),
    ];
    for (ct, body, want) in bodies {
        let got = send(
            &n,
            &c,
            &id,
            "POST",
            "/upload",
            &[("content-type", ct)],
            body,
        )
        .await;
        check(&got, 200, want.clone(), &[]);
    }

    // Responses mapped back: status, repeated headers, cookies, binary bodies, both formats.
    for path in ["/items/1", "/v1/x"] {
        let shaped = ask(
            "GET",
            path,
            &[
                ("x-echo-status", "201"),
                ("x-echo-set-cookie", "s=1; Path=/|t=2"),
                ("x-echo-binary", "1"),
            ],
        )
        .await;
        check(
            &shaped,
            201,
            Value::Null,
            &[
                ("set-cookie", &["s=1; Path=/", "t=2"]),
                ("content-type", &["application/octet-stream"]),
            ],
        );
        assert_eq!(shaped.body, (0..=255).collect::<Vec<u8>>(), "{path}");
    }
    // Repeated response headers: 1.0's multiValueHeaders become repeated headers. In 2.0
    // lambda_http (aws_lambda_events' `serialize_headers`) sends only the first value of a
    // repeated header, so only that one can arrive.
    let repeated: &[(&str, &[&str])] = &[("/v1/x", &["p", "q"]), ("/items/1", &["p"])];
    for (path, values) in repeated {
        let got = send(&n, &c, &id, "GET", path, &[("x-echo-header", "p|q")], b"").await;
        check(&got, 200, Value::Null, &[("x-echo", values)]);
    }

    // Function errors are 500s, malformed answers 502s, 2.0 infers a bare JSON body.
    let cases: &[(&str, Headers, u16, Value)] = &[
        ("/items/1", &[("x-echo-fail", "boom")], 500, json!(ERROR)),
        ("/v1/x", &[("x-echo-fail", "boom")], 500, json!(ERROR)),
        ("/missing", &[], 500, json!(ERROR)),
        ("/broken", &[], 502, json!(ERROR)),
        ("/bare1", &[], 502, json!(ERROR)),
        ("/bare", &[], 200, json!({"hello": "world", "n": [1, 2]})),
        ("/nothing", &[], 404, json!(r#"{"message":"Not Found"}"#)),
    ];
    for (path, headers, status, body) in cases {
        let got = send(&n, &c, &id, "GET", path, headers, b"").await;
        check(&got, *status, body.clone(), &[]);
        if *status == 200 {
            assert_eq!(got.all("content-type"), ["application/json"], "{path}");
        }
    }

    // Per-route metrics on the health endpoint: each of these routes served exactly the one
    // request of the table above.
    let health: Value = crate::endpoint::health_detail(&n.api_url).await;
    let routes = &health["stats"]["apigateway"][id.as_str()];
    let counts: &[(&str, u64, u64, u64)] = &[
        ("GET /broken", 1, 0, 1),
        ("GET /bare1", 1, 0, 1),
        ("GET /bare", 1, 0, 0),
        ("GET /missing", 1, 0, 1),
    ];
    for (route, count, c4, c5) in counts {
        let r = &routes[*route];
        assert_eq!(
            (&r["count"], &r["4xx"], &r["5xx"]),
            (&json!(count), &json!(c4), &json!(c5)),
            "{route}: {health}"
        );
        assert!(r["p99_us"].as_u64() >= r["p50_us"].as_u64(), "{health}");
        assert!(r["p50_us"].as_u64() > Some(0), "{health}");
    }
}
