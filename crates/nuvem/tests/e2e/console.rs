//! The console's doors over plain HTTP against the real binary: nothing without a session,
//! the one-time link works once, sign-in with a key (wrong secrets refused), the API door
//! needs the cookie and the page token together, and an IAM user's session can do what the
//! user's policy allows and nothing more.

use nuvem_testkit::Nuvem;
use reqwest::header::HeaderMap;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

fn client() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The one-time link `nuvem up` printed.
pub fn console_link(n: &Nuvem) -> String {
    let line = n
        .banner
        .iter()
        .find(|l| l.trim_start().starts_with("console"))
        .unwrap_or_else(|| panic!("no console line in {:#?}", n.banner));
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a URL on the console line")
        .to_string()
}

/// A signed-in browser, as the console's script behaves: the cookie and the page token.
struct Session {
    cookie: String,
    token: String,
}

/// One POST through the console's API door: status, body and headers.
async fn api(
    http: &reqwest::Client,
    base: &str,
    session: Option<&Session>,
    service_path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, HeaderMap) {
    api_with(
        http,
        reqwest::Method::POST,
        base,
        session,
        service_path,
        headers,
        body,
    )
    .await
}

async fn api_with(
    http: &reqwest::Client,
    method: reqwest::Method,
    base: &str,
    session: Option<&Session>,
    service_path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, HeaderMap) {
    let mut req = http
        .request(method, format!("{base}/_nuvem/console/api/{service_path}"))
        .body(body.to_owned());
    if let Some(s) = session {
        if !s.cookie.is_empty() {
            req = req.header("cookie", format!("nuvem_console={}", s.cookie));
        }
        if !s.token.is_empty() {
            req = req.header("x-nuvem-console", &s.token);
        }
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, r.text().await.unwrap(), h)
}

const LIST_TABLES: &[(&str, &str)] = &[
    ("x-amz-target", "DynamoDB_20120810.ListTables"),
    ("content-type", "application/x-amz-json-1.0"),
];

fn cookie_of(h: &HeaderMap) -> String {
    let set = h
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a Set-Cookie")
        .to_string();
    for attr in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/_nuvem/console/",
        "Max-Age=",
    ] {
        assert!(set.contains(attr), "{set}");
    }
    set.strip_prefix("nuvem_console=")
        .and_then(|s| s.split(';').next())
        .expect("the console cookie")
        .to_string()
}

async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    secret: &str,
) -> (u16, String, HeaderMap) {
    let r = http
        .post(format!("{base}/_nuvem/console/signin"))
        .header("x-nuvem-console", "signin")
        .header("content-type", "application/json")
        .body(serde_json::json!({"accessKeyId": key, "secretAccessKey": secret}).to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, r.text().await.unwrap(), h)
}

fn csp(h: &HeaderMap) -> &str {
    h.get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_refuses_anonymous_callers_and_the_link_works_once() {
    let n = Nuvem::start(BIN);
    let base = n.api_url.clone();
    let http = client();

    // The page itself: to the sign-in page, never data.
    let r = http
        .get(format!("{base}/_nuvem/console/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/_nuvem/console/signin");
    let r = http
        .get(format!("{base}/_nuvem/console/signin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let policy = csp(r.headers()).to_owned();
    assert!(
        policy.contains("script-src 'self'") && !policy.contains("unsafe"),
        "{policy}"
    );
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script: {html}");

    // The API door without a session, with a forged cookie, with a cookie but no page token.
    let forged = Session {
        cookie: "0".repeat(64),
        token: "0".repeat(64),
    };
    let (status, body, h) = api(&http, &base, None, "dynamodb/", LIST_TABLES, "{}").await;
    assert_eq!(
        (status, body.contains("NotSignedIn")),
        (401, true),
        "{body}"
    );
    assert!(csp(&h).contains("default-src 'none'"));
    let (status, _, _) = api(&http, &base, Some(&forged), "dynamodb/", LIST_TABLES, "{}").await;
    assert_eq!(status, 401);

    // No presigned link without a session either.
    let r = http
        .post(format!("{base}/_nuvem/console/presign"))
        .body(r#"{"bucket":"b","key":"k"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // A wrong secret, a sign-in without the script's header, then the right key.
    let (status, body, _) = sign_in(&http, &base, "test", "not-the-secret").await;
    assert_eq!(
        (status, body.contains("InvalidCredentials")),
        (401, true),
        "{body}"
    );
    let r = http
        .post(format!("{base}/_nuvem/console/signin"))
        .header("content-type", "application/json")
        .body(r#"{"accessKeyId":"test","secretAccessKey":"test"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let (status, body, h) = sign_in(&http, &base, "test", "test").await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let session = Session {
        cookie: cookie_of(&h),
        token: answer["session"].as_str().unwrap().to_owned(),
    };
    let cookie_only = Session {
        cookie: session.cookie.clone(),
        token: String::new(),
    };
    let token_only = Session {
        cookie: String::new(),
        token: session.token.clone(),
    };
    let wrong_token = Session {
        cookie: session.cookie.clone(),
        token: "1".repeat(64),
    };
    for s in [&cookie_only, &token_only, &wrong_token] {
        let (status, body, _) = api(&http, &base, Some(s), "dynamodb/", LIST_TABLES, "{}").await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, body, _) = api(&http, &base, Some(&session), "dynamodb/", LIST_TABLES, "{}").await;
    assert_eq!((status, body.as_str()), (200, r#"{"TableNames":[]}"#));
    // The page now loads for this cookie.
    let r = http
        .get(format!("{base}/_nuvem/console/"))
        .header("cookie", format!("nuvem_console={}", session.cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // A service the console does not call, and a nuvem path other than health and metrics.
    let (status, _, _) = api(&http, &base, Some(&session), "ec2/", &[], "").await;
    assert_eq!(status, 404);
    let (status, _, _) = api(&http, &base, Some(&session), "nuvem/_nuvem/other", &[], "").await;
    assert_eq!(status, 404);

    // The one-time link: a session once, then refused.
    let link = console_link(&n);
    assert!(
        link.starts_with(&format!("{base}/_nuvem/console/?token=")),
        "{link}"
    );
    let r = http.get(&link).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let linked = Session {
        cookie: cookie_of(r.headers()),
        token: location
            .strip_prefix("/_nuvem/console/#session=")
            .unwrap_or_else(|| panic!("{location}"))
            .to_owned(),
    };
    let r = http.get(&link).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.headers().get("set-cookie").is_none());
    let wrong = format!("{base}/_nuvem/console/?token={}", "f".repeat(64));
    assert_eq!(
        http.get(&wrong).send().await.unwrap().status().as_u16(),
        403
    );
    let (status, _, _) = api(&http, &base, Some(&linked), "dynamodb/", LIST_TABLES, "{}").await;
    assert_eq!(status, 200);

    // Signing out ends the session.
    let r = http
        .post(format!("{base}/_nuvem/console/signout"))
        .header("cookie", format!("nuvem_console={}", linked.cookie))
        .header("x-nuvem-console", &linked.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (status, _, _) = api(&http, &base, Some(&linked), "dynamodb/", LIST_TABLES, "{}").await;
    assert_eq!(status, 401);
}

/// `Action=…&…` to IAM through the console's door; the answer's text.
async fn iam(http: &reqwest::Client, base: &str, s: &Session, form: &[(&str, &str)]) -> String {
    let mut body = form.to_vec();
    body.push(("Version", "2010-05-08"));
    let body: String = body
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let (status, text, _) = api(
        http,
        base,
        Some(s),
        "iam/",
        &[("content-type", "application/x-www-form-urlencoded")],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{form:?}: {text}");
    text
}

fn xml_text<'a>(body: &'a str, tag: &str) -> &'a str {
    body.split(&format!("<{tag}>"))
        .nth(1)
        .and_then(|s| s.split(&format!("</{tag}>")).next())
        .unwrap_or_else(|| panic!("no <{tag}> in {body}"))
}

/// An IAM user's console session goes through the user's policies like any client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_calls_are_authorized_as_the_signed_in_key() {
    let n = Nuvem::start(BIN);
    let base = n.api_url.clone();
    let http = client();
    let (status, body, h) = sign_in(&http, &base, "test", "test").await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let root = Session {
        cookie: cookie_of(&h),
        token: answer["session"].as_str().unwrap().to_owned(),
    };
    iam(
        &http,
        &base,
        &root,
        &[("Action", "CreateUser"), ("UserName", "viewer")],
    )
    .await;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:ListTables","Resource":"*"}]}"#;
    iam(
        &http,
        &base,
        &root,
        &[
            ("Action", "PutUserPolicy"),
            ("UserName", "viewer"),
            ("PolicyName", "list"),
            ("PolicyDocument", policy),
        ],
    )
    .await;
    let key = iam(
        &http,
        &base,
        &root,
        &[("Action", "CreateAccessKey"), ("UserName", "viewer")],
    )
    .await;
    let (id, secret) = (
        xml_text(&key, "AccessKeyId"),
        xml_text(&key, "SecretAccessKey"),
    );

    let (status, _, _) = sign_in(&http, &base, id, "wrong").await;
    assert_eq!(status, 401);
    let (status, body, h) = sign_in(&http, &base, id, secret).await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let viewer = Session {
        cookie: cookie_of(&h),
        token: answer["session"].as_str().unwrap().to_owned(),
    };
    let (status, body, _) = api(&http, &base, Some(&viewer), "dynamodb/", LIST_TABLES, "{}").await;
    assert_eq!(status, 200, "{body}");
    let create = &[
        ("x-amz-target", "DynamoDB_20120810.CreateTable"),
        ("content-type", "application/x-amz-json-1.0"),
    ];
    let table = r#"{"TableName":"notes","KeySchema":[{"AttributeName":"k","KeyType":"HASH"}],"AttributeDefinitions":[{"AttributeName":"k","AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST"}"#;
    let (status, body, _) = api(&http, &base, Some(&viewer), "dynamodb/", create, table).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("AccessDeniedException") && body.contains("dynamodb:CreateTable"),
        "{body}"
    );
    // The same call in the root's session succeeds.
    let (status, body, _) = api(&http, &base, Some(&root), "dynamodb/", create, table).await;
    assert_eq!(status, 200, "{body}");
    // A presigned link is the session key's: the root's opens the object (a key with a space
    // and a non-ASCII letter), the viewer's is refused by S3 when it is used.
    let put = reqwest::Method::PUT;
    let (status, body, _) =
        api_with(&http, put.clone(), &base, Some(&root), "s3/pics", &[], "").await;
    assert_eq!(status, 200, "{body}");
    let (status, body, _) = api_with(
        &http,
        put,
        &base,
        Some(&root),
        "s3/pics/a%20b/%C3%A7.txt",
        &[("content-type", "text/plain")],
        "presigned content",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let presign = |s: &Session| {
        http.post(format!("{base}/_nuvem/console/presign"))
            .header("cookie", format!("nuvem_console={}", s.cookie))
            .header("x-nuvem-console", &s.token)
            .body(r#"{"bucket":"pics","key":"a b/ç.txt","expiresSeconds":600}"#)
            .send()
    };
    for (who, expected) in [(&root, 200), (&viewer, 403)] {
        let r = presign(who).await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let answer: serde_json::Value = r.json().await.unwrap();
        let path = answer["path"].as_str().unwrap();
        assert!(
            path.starts_with("/pics/a%20b/%C3%A7.txt?X-Amz-Algorithm="),
            "{path}"
        );
        let r = client().get(format!("{base}{path}")).send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_eq!(status, expected, "{body}");
        if expected == 200 {
            assert_eq!(body, "presigned content");
        }
    }

    // The metrics: the root's key reads them; an IAM user's is refused, as when it signs itself.
    let get = reqwest::Method::GET;
    let metrics = "nuvem/_nuvem/metrics";
    let (status, body, _) =
        api_with(&http, get.clone(), &base, Some(&root), metrics, &[], "").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("nuvem_api_requests_total{service=\"dynamodb\""),
        "{body}"
    );
    let (status, _, _) = api_with(&http, get, &base, Some(&viewer), metrics, &[], "").await;
    assert_eq!(status, 401);
}

/// Past 20 failed sign-ins in a minute, every sign-in is refused for the rest of the minute,
/// the right secret's too; sessions already open keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_sign_ins_are_throttled_after_repeated_failures() {
    let n = Nuvem::start(BIN);
    let base = n.api_url.clone();
    let http = client();
    let (status, body, h) = sign_in(&http, &base, "test", "test").await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let open = Session {
        cookie: cookie_of(&h),
        token: answer["session"].as_str().unwrap().to_owned(),
    };
    for i in 0..20 {
        let (status, _, _) = sign_in(&http, &base, "test", &format!("guess-{i}")).await;
        assert_eq!(status, 401, "attempt {i}");
    }
    let (status, body, h) = sign_in(&http, &base, "test", "test").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(h["retry-after"], "60");
    let (status, _, _) = api(&http, &base, Some(&open), "dynamodb/", LIST_TABLES, "{}").await;
    assert_eq!(status, 200);
}
