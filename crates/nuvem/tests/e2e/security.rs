//! Findings of the security review, each against the real binary: a request reaches the same
//! decision whichever door it comes through, and what only the account's root may do stays
//! the root's.

use aws_credential_types::Credentials;
use nuvem_testkit::Nuvem;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

/// An HTTP client (reqwest wants a TLS configuration even for cleartext).
fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(crate::endpoint::tls_config(None))
        .build()
        .unwrap()
}

/// One request to the AWS endpoint signed (SigV4) with `key` for `service`: status and body.
async fn signed(
    base: &str,
    service: &str,
    key: (&str, &str),
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let url = format!("{base}/");
    let signature =
        nuvem_testkit::sigv4_sign("POST", &url, service, key, headers, body.as_bytes(), false);
    let mut req = plain().post(&url).body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    for (k, v) in &signature {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// An IAM Query action as the root (`test`); the answer's body, which must be a success.
async fn iam(base: &str, form: &[(&str, &str)]) -> String {
    let mut body: Vec<String> = form
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect();
    body.push("Version=2010-05-08".into());
    let (status, text) = signed(
        base,
        "iam",
        ("test", "test"),
        &[("content-type", "application/x-www-form-urlencoded")],
        &body.join("&"),
    )
    .await;
    assert_eq!(status, 200, "{form:?}: {text}");
    text
}

fn xml_text(body: &str, tag: &str) -> String {
    body.split(&format!("<{tag}>"))
        .nth(1)
        .and_then(|s| s.split(&format!("</{tag}>")).next())
        .unwrap_or_else(|| panic!("no <{tag}> in {body}"))
        .to_owned()
}

/// A user with the inline policy `policy`, and its new access key (id, secret).
async fn user_with_policy(base: &str, name: &str, policy: &serde_json::Value) -> (String, String) {
    iam(base, &[("Action", "CreateUser"), ("UserName", name)]).await;
    iam(
        base,
        &[
            ("Action", "PutUserPolicy"),
            ("UserName", name),
            ("PolicyName", "p"),
            ("PolicyDocument", &policy.to_string()),
        ],
    )
    .await;
    let key = iam(base, &[("Action", "CreateAccessKey"), ("UserName", name)]).await;
    (
        xml_text(&key, "AccessKeyId"),
        xml_text(&key, "SecretAccessKey"),
    )
}

/// One S3 request signed (SigV4, `x-amz-content-sha256`) with `key`, over `client`, with the
/// `Host` header `host` when given (else the URL's authority): status and body.
async fn s3_signed(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    host: Option<&str>,
    key: (&str, &str),
) -> (u16, String) {
    let headers: Vec<(&str, &str)> = host.map(|h| ("host", h)).into_iter().collect();
    s3_signed_with(client, method, url, &headers, key).await
}

/// [`s3_signed`] with the request's own (signed) headers.
async fn s3_signed_with(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    key: (&str, &str),
) -> (u16, String) {
    let signature = nuvem_testkit::sigv4_sign(method, url, "s3", key, headers, b"", true);
    let mut req = client.request(method.parse().unwrap(), url);
    let signature = signature.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    for (k, v) in headers.iter().copied().chain(signature) {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// IAM judges the bucket and key that S3 serves. The endpoint read the bucket from the `Host`
/// header alone and cut its port at the first `:`, while S3 (s3s) takes HTTP/2's
/// `:authority` and keeps a port that is not a number as part of the name: a user allowed
/// one bucket (`mine`) read another's objects (`Host: mine.s3.localhost:x` with the path
/// `/secret/k`, judged as `mine/secret/k`), and over HTTP/2 listed it (`:authority:
/// secret.s3.localhost`, `GET /`, judged as ListAllMyBuckets).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_s3_iam_judges_the_bucket_s3_serves() {
    let n = Nuvem::start(BIN);
    let base = n.api_url.clone();
    let s3 = n.s3();
    for bucket in ["mine", "secret"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
        s3.put_object()
            .bucket(bucket)
            .key("k")
            .body(format!("{bucket} data").into_bytes().into())
            .send()
            .await
            .unwrap();
    }
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::mine", "arn:aws:s3:::mine/*"]}]});
    let (id, secret) = user_with_policy(&base, "tenant", &policy).await;
    let me = (id.as_str(), secret.as_str());
    let port = base.rsplit(':').next().unwrap().to_owned();

    // HTTP/1.1: the user's own bucket, path style and virtual-hosted; the other's, refused
    // however the host is written.
    let h1 = plain();
    let own = [
        (format!("{base}/mine/k"), None),
        (
            format!("{base}/k"),
            Some(format!("mine.s3.localhost:{port}")),
        ),
    ];
    for (url, host) in &own {
        let (status, body) = s3_signed(&h1, "GET", url, host.as_deref(), me).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "mine data"),
            "{url} {host:?}"
        );
    }
    let other = [
        (format!("{base}/secret/k"), None),
        (
            format!("{base}/secret/k"),
            Some("mine.s3.localhost:x".to_owned()),
        ),
        (
            format!("{base}/secret/k"),
            Some(format!("mine.s3.localhost:{port}:1")),
        ),
        (
            format!("{base}/k"),
            Some(format!("secret.s3.localhost:{port}")),
        ),
    ];
    for (url, host) in &other {
        let (status, body) = s3_signed(&h1, "GET", url, host.as_deref(), me).await;
        assert_eq!(status, 403, "{url} {host:?}: {body}");
        assert!(!body.contains("secret data"), "{body}");
    }

    // HTTP/2 (cleartext, prior knowledge): the host is the `:authority`.
    let h2 = reqwest::Client::builder()
        .use_preconfigured_tls(crate::endpoint::tls_config(None))
        .http2_prior_knowledge()
        .resolve(
            "secret.s3.localhost",
            base.trim_start_matches("http://").parse().unwrap(),
        )
        .resolve(
            "mine.s3.localhost",
            base.trim_start_matches("http://").parse().unwrap(),
        )
        .build()
        .unwrap();
    let (status, body) = s3_signed(
        &h2,
        "GET",
        &format!("http://mine.s3.localhost:{port}/"),
        None,
        me,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Key>k</Key>"), "{body}");
    for path in ["/", "/k", "/mine/k"] {
        let url = format!("http://secret.s3.localhost:{port}{path}");
        let (status, body) = s3_signed(&h2, "GET", &url, None, me).await;
        assert_eq!(status, 403, "{url}: {body}");
    }
    // The root reads both ways.
    let root = ("test", "test");
    let url = format!("http://secret.s3.localhost:{port}/k");
    let (status, body) = s3_signed(&h2, "GET", &url, None, root).await;
    assert_eq!((status, body.as_str()), (200, "secret data"));
}

const LIST_TABLES: &[(&str, &str)] = &[
    ("x-amz-target", "DynamoDB_20120810.ListTables"),
    ("content-type", "application/x-amz-json-1.0"),
];
const CREATE_TABLE: &[(&str, &str)] = &[
    ("x-amz-target", "DynamoDB_20120810.CreateTable"),
    ("content-type", "application/x-amz-json-1.0"),
];
const TABLE: &str = r#"{"TableName":"tbl","KeySchema":[{"AttributeName":"k","KeyType":"HASH"}],"AttributeDefinitions":[{"AttributeName":"k","AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST"}"#;

/// A call through the console's API door decides `aws:SourceIp` and `aws:SecureTransport` as
/// the browser's connection has them, like a call the user signs itself: the console dropped
/// them, so a `Deny` unless TLS (`"Bool": {"aws:SecureTransport": "false"}`) did not apply
/// to console sessions, and an `Allow` pinned to a source address never did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_console_calls_keep_source_ip_and_secure_transport() {
    let n = Nuvem::start(BIN);
    let base = n.api_url.clone();
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "dynamodb:ListTables", "Resource": "*",
         "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}},
        {"Effect": "Allow", "Action": "dynamodb:CreateTable", "Resource": "*"},
        {"Effect": "Deny", "Action": "dynamodb:CreateTable", "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]});
    let (id, secret) = user_with_policy(&base, "remote", &policy).await;

    // Signed by the user itself, over plain HTTP from 127.0.0.1.
    let me = (id.as_str(), secret.as_str());
    let (status, body) = signed(&base, "dynamodb", me, LIST_TABLES, "{}").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = signed(&base, "dynamodb", me, CREATE_TABLE, TABLE).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("AccessDeniedException"), "{body}");

    // The same through the console: the same answers.
    let http = plain();
    let r = http
        .post(format!("{base}/_nuvem/console/signin"))
        .header("x-nuvem-console", "signin")
        .header("content-type", "application/json")
        .body(serde_json::json!({"accessKeyId": id, "secretAccessKey": secret}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let answer: serde_json::Value = r.json().await.unwrap();
    let token = answer["session"].as_str().unwrap().to_owned();
    let console = |headers: &[(&str, &str)], body: &str| {
        let mut req = http
            .post(format!("{base}/_nuvem/console/api/dynamodb/"))
            .header("cookie", &cookie)
            .header("x-nuvem-console", &token)
            .body(body.to_owned());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    let r = console(LIST_TABLES, "{}").await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let r = console(CREATE_TABLE, TABLE).await.unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("AccessDeniedException"), "{body}");
}

/// A function's code from a local path (`S3Bucket: hot-reload`) is the root's only: an IAM
/// user allowed `lambda:*` could otherwise make any folder of the host its function's code,
/// read by nuvem's user (or copied by root for an isolated function's user), and so read the
/// master key or the store. The user deploys zips; the root keeps local paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_local_code_paths_are_refused_to_iam_principals() {
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::{FunctionCode, Runtime};
    let n = Nuvem::start(BIN);
    let base = n.api_url.clone();
    let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    iam(
        &base,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "fn"),
            ("AssumeRolePolicyDocument", &trust.to_string()),
        ],
    )
    .await;
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["lambda:*", "iam:PassRole"], "Resource": "*"}]});
    let (id, secret) = user_with_policy(&base, "deployer", &policy).await;
    let conf = aws_sdk_lambda::Config::builder()
        .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
        .region(aws_sdk_lambda::config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new(id, secret, None, None, "security"))
        .endpoint_url(&base)
        .build();
    let deployer = aws_sdk_lambda::Client::from_conf(conf);
    let role = "arn:aws:iam::000000000000:role/fn";

    // What a local path would expose: nuvem's own data dir.
    let local = || {
        FunctionCode::builder()
            .s3_bucket("hot-reload")
            .s3_key(n.dir().to_string_lossy())
            .build()
    };
    let create = |client: &aws_sdk_lambda::Client, name: &str, code: FunctionCode| {
        client
            .create_function()
            .function_name(name)
            .runtime(Runtime::Providedal2023)
            .handler("bootstrap")
            .role(role)
            .code(code)
            .send()
    };
    let refused = |text: String, what: &str| {
        assert!(
            text.contains("InvalidParameterValueException") && text.contains("root credentials"),
            "{what}: {text}"
        );
    };
    let e = create(&deployer, "peek", local()).await.unwrap_err();
    refused(format!("{e:?}"), "CreateFunction");

    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("bootstrap", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut zip, b"#!/bin/sh\n").unwrap();
    let zip = zip.finish().unwrap().into_inner();
    create(
        &deployer,
        "zipped",
        FunctionCode::builder().zip_file(Blob::new(zip)).build(),
    )
    .await
    .unwrap();
    let e = deployer
        .update_function_code()
        .function_name("zipped")
        .s3_bucket("hot-reload")
        .s3_key(n.dir().to_string_lossy())
        .send()
        .await
        .unwrap_err();
    refused(format!("{e:?}"), "UpdateFunctionCode");
    let config = deployer
        .get_function()
        .function_name("zipped")
        .send()
        .await
        .unwrap();
    let size = config.configuration().unwrap().code_size();
    assert!(size > 0, "the zip is still the code: {size}");

    // The root (the manifest's keys) keeps local paths.
    create(&n.lambda(), "local", local()).await.unwrap();
}

/// Signs in to the console at `base` as `key`: the answer's `Set-Cookie` and page token.
async fn console_sign_in(
    http: &reqwest::Client,
    base: &str,
    key: (&str, &str),
) -> (String, String) {
    let r = http
        .post(format!("{base}/_nuvem/console/signin"))
        .header("x-nuvem-console", "signin")
        .header("content-type", "application/json")
        .body(serde_json::json!({"accessKeyId": key.0, "secretAccessKey": key.1}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let answer: serde_json::Value = r.json().await.unwrap();
    (set_cookie, answer["session"].as_str().unwrap().to_owned())
}

/// Over TLS the console's session cookie is `Secure` (the browser then never sends it over
/// plain HTTP), and a call through its door counts as TLS (`aws:SecureTransport`); every
/// console page keeps a same-origin page that opens it from reaching into its window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_console_cookie_is_secure_over_tls() {
    let n = Nuvem::start_with(
        BIN,
        nuvem_testkit::Options {
            tls: true,
            ..Default::default()
        },
    );
    let base = n.api_url.clone();
    let tls_base = n
        .api_tls_url
        .clone()
        .expect("a TLS endpoint")
        .replace("127.0.0.1", "localhost");
    let cert = n.dir().join("data/tls/cert.pem");
    let https = reqwest::Client::builder()
        .use_preconfigured_tls(crate::endpoint::tls_config(Some(&cert)))
        .build()
        .unwrap();
    let http = plain();

    let (plain, _) = console_sign_in(&http, &base, ("test", "test")).await;
    assert!(!plain.contains("Secure"), "{plain}");
    let (secure, _) = console_sign_in(&https, &tls_base, ("test", "test")).await;
    assert!(secure.ends_with("; Secure"), "{secure}");
    for (client, url) in [(&http, &base), (&https, &tls_base)] {
        let r = client
            .get(format!("{url}/_nuvem/console/signin"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["cross-origin-opener-policy"], "same-origin");
    }

    // Deny unless TLS: refused through the plain listener's console, allowed through the TLS one's.
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "dynamodb:CreateTable", "Resource": "*"},
        {"Effect": "Deny", "Action": "dynamodb:CreateTable", "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]});
    let (id, secret) = user_with_policy(&base, "tls-only", &policy).await;
    for (client, url, expected) in [(&http, &base, 400), (&https, &tls_base, 200)] {
        let (set_cookie, token) = console_sign_in(client, url, (&id, &secret)).await;
        let mut req = client
            .post(format!("{url}/_nuvem/console/api/dynamodb/"))
            .header("cookie", set_cookie.split(';').next().unwrap())
            .header("x-nuvem-console", &token)
            .body(TABLE);
        for (k, v) in CREATE_TABLE {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_eq!(status, expected, "{url}: {body}");
    }
}

/// A copy reads its source: an IAM user needs `s3:GetObject` on it, and an anonymous caller
/// that a bucket policy lets write (a public drop box) needs the source to be public too.
/// Only the destination was judged, so either could copy any object into a bucket it reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_s3_copies_need_read_access_to_their_source() {
    let n = Nuvem::start(BIN);
    let base = n.api_url.clone();
    let s3 = n.s3();
    for bucket in ["mine", "secret", "drop"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
        s3.put_object()
            .bucket(bucket)
            .key("k")
            .body(format!("{bucket} data").into_bytes().into())
            .send()
            .await
            .unwrap();
    }
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::mine", "arn:aws:s3:::mine/*"]}]});
    let (id, secret) = user_with_policy(&base, "copier", &policy).await;
    let tenant = n.s3_with(Credentials::new(id, secret, None, None, "security"));
    tenant
        .copy_object()
        .bucket("mine")
        .key("k2")
        .copy_source("mine/k")
        .send()
        .await
        .unwrap();
    for source in ["secret/k", "/secret/k", "secret/k?versionId=null"] {
        let e = tenant
            .copy_object()
            .bucket("mine")
            .key("stolen")
            .copy_source(source)
            .send()
            .await
            .unwrap_err();
        let text = format!("{e:?}");
        assert!(text.contains("AccessDenied"), "{source}: {text}");
    }
    let upload = tenant
        .create_multipart_upload()
        .bucket("mine")
        .key("parts")
        .send()
        .await
        .unwrap();
    let e = tenant
        .upload_part_copy()
        .bucket("mine")
        .key("parts")
        .upload_id(upload.upload_id().unwrap())
        .part_number(1)
        .copy_source("secret/k")
        .send()
        .await
        .unwrap_err();
    assert!(format!("{e:?}").contains("AccessDenied"), "{e:?}");
    let e = tenant
        .get_object()
        .bucket("mine")
        .key("stolen")
        .send()
        .await
        .unwrap_err();
    assert!(format!("{e:?}").contains("NoSuchKey"), "{e:?}");

    // A drop box anyone may write to.
    let drop_policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
         "Resource": "arn:aws:s3:::drop/*"}]});
    s3.put_bucket_policy()
        .bucket("drop")
        .policy(drop_policy.to_string())
        .send()
        .await
        .unwrap();
    let anonymous = |key: &str, source: Option<&str>| {
        let mut req = plain()
            .put(format!("{base}/drop/{key}"))
            .header("content-length", "0");
        if let Some(s) = source {
            req = req.header("x-amz-copy-source", s);
        }
        req.send()
    };
    let r = anonymous("note", None).await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let r = anonymous("stolen", Some("secret/k")).await.unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(
        s3.head_object()
            .bucket("drop")
            .key("stolen")
            .send()
            .await
            .is_err()
    );
}

/// One version of an object is an action of its own, as on AWS: reading an old version takes
/// `s3:GetObjectVersion`, deleting one for good `s3:DeleteObjectVersion`, listing versions
/// `s3:ListBucketVersions`. They were judged as `s3:GetObject`, `s3:DeleteObject` and
/// `s3:ListBucket`: a user kept to the current objects read overwritten data and destroyed
/// the versions a versioned bucket keeps against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_s3_object_versions_need_their_own_actions() {
    let n = Nuvem::start(BIN);
    let base = n.api_url.clone();
    let s3 = n.s3();
    crate::versioned_bucket(&s3, "kept").await;
    let mut versions = Vec::new();
    for body in ["old", "new"] {
        let put = s3
            .put_object()
            .bucket("kept")
            .key("k")
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
        versions.push(put.version_id().unwrap().to_owned());
    }
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": "arn:aws:s3:::kept/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::kept"}]});
    let (id, secret) = user_with_policy(&base, "current-only", &policy).await;
    let user = n.s3_with(Credentials::new(id, secret, None, None, "security"));
    let denied = |e: String, what: &str| assert!(e.contains("AccessDenied"), "{what}: {e}");

    let current = user
        .get_object()
        .bucket("kept")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &current.body.collect().await.unwrap().into_bytes()[..],
        b"new"
    );
    let e = user
        .get_object()
        .bucket("kept")
        .key("k")
        .version_id(&versions[0])
        .send()
        .await
        .unwrap_err();
    denied(format!("{e:?}"), "GetObject of a version");
    let e = user
        .delete_object()
        .bucket("kept")
        .key("k")
        .version_id(&versions[0])
        .send()
        .await
        .unwrap_err();
    denied(format!("{e:?}"), "DeleteObject of a version");
    let e = user
        .list_object_versions()
        .bucket("kept")
        .send()
        .await
        .unwrap_err();
    denied(format!("{e:?}"), "ListObjectVersions");
    user.list_objects_v2().bucket("kept").send().await.unwrap();
    // A delete without a version only adds a delete marker: allowed, and the versions stay.
    user.delete_object()
        .bucket("kept")
        .key("k")
        .send()
        .await
        .unwrap();
    let listed = s3
        .list_object_versions()
        .bucket("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.versions().len(), 2, "{listed:?}");

    // A bucket policy speaks of versions the same way.
    let deny = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObjectVersion",
         "Resource": "arn:aws:s3:::kept/*"}]});
    s3.put_bucket_policy()
        .bucket("kept")
        .policy(deny.to_string())
        .send()
        .await
        .unwrap();
    let e = s3
        .get_object()
        .bucket("kept")
        .key("k")
        .version_id(&versions[1])
        .send()
        .await
        .unwrap_err();
    denied(
        format!("{e:?}"),
        "the root's GetObject of a version under a Deny",
    );
}

/// IAM judges the operation S3 runs. A query naming two sub-resources (`?tagging&acl`) was
/// judged by the first the endpoint looked for (PutBucketTagging) while s3s ran the first it
/// looked for (PutBucketAcl): a user allowed to tag a bucket made it public. Such a request
/// is now refused to IAM principals, percent-encoded names included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_s3_two_sub_resources_are_refused() {
    use aws_sdk_s3::types::ObjectOwnership;
    let n = Nuvem::start(BIN);
    let base = n.api_url.clone();
    let s3 = n.s3();
    s3.create_bucket()
        .bucket("tags")
        .object_ownership(ObjectOwnership::ObjectWriter)
        .send()
        .await
        .unwrap();
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:PutBucketTagging", "s3:GetBucketTagging"],
         "Resource": "arn:aws:s3:::tags"}]});
    let (id, secret) = user_with_policy(&base, "tagger", &policy).await;
    let me = (id.as_str(), secret.as_str());
    let http = plain();
    for query in ["tagging&acl", "acl&tagging", "tagging&%61cl"] {
        let url = format!("{base}/tags?{query}");
        let headers = [("x-amz-acl", "public-read-write")];
        let (status, body) = s3_signed_with(&http, "PUT", &url, &headers, me).await;
        assert_eq!(status, 403, "{query}: {body}");
    }
    let acl = s3.get_bucket_acl().bucket("tags").send().await.unwrap();
    assert_eq!(acl.grants().len(), 1, "{acl:?}");
    // One sub-resource at a time is judged as itself.
    let (status, body) = s3_signed(&http, "GET", &format!("{base}/tags?tagging"), None, me).await;
    assert!(status == 200 || body.contains("NoSuchTagSet"), "{body}");
    let (status, _) = s3_signed(&http, "GET", &format!("{base}/tags?acl"), None, me).await;
    assert_eq!(status, 403);
}

/// A bucket's CORS rules answer for that bucket only. They were looked up by the path's first
/// segment even for a virtual-hosted request: `closed.s3.localhost` with the path `/open/x`
/// got the rules of the bucket `open` for the object `x`… of `closed` (its key `open/x`), so a
/// page anywhere could read, in a browser on the private network, a bucket that allows no
/// origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_s3_cors_rules_are_the_addressed_buckets() {
    use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
    let n = Nuvem::start(BIN);
    let base = n.api_url.clone();
    let port = base.rsplit(':').next().unwrap().to_owned();
    let s3 = n.s3();
    for bucket in ["open", "closed"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    s3.put_object()
        .bucket("closed")
        .key("open/x")
        .body(b"private".to_vec().into())
        .send()
        .await
        .unwrap();
    let rule = CorsRule::builder()
        .allowed_origins("*")
        .allowed_methods("GET")
        .build()
        .unwrap();
    s3.put_bucket_cors()
        .bucket("open")
        .cors_configuration(
            CorsConfiguration::builder()
                .cors_rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let preflight = |host: String, path: &str| {
        plain()
            .request(reqwest::Method::OPTIONS, format!("{base}{path}"))
            .header("host", host)
            .header("origin", "https://elsewhere.example")
            .header("access-control-request-method", "GET")
            .send()
    };
    // The open bucket's own objects, either addressing.
    let r = preflight(format!("127.0.0.1:{port}"), "/open/x")
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = preflight(format!("open.s3.localhost:{port}"), "/x")
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // The closed bucket's, whatever its key looks like.
    let r = preflight(format!("closed.s3.localhost:{port}"), "/open/x")
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    // Nor does an actual request to it carry the open bucket's headers.
    let r = plain()
        .get(format!("{base}/open/x"))
        .header("host", format!("closed.s3.localhost:{port}"))
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    let r = plain()
        .get(format!("{base}/x"))
        .header("host", format!("open.s3.localhost:{port}"))
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
}
