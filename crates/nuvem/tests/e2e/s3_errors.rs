//! S3 error bodies end to end: whoever rejects a request (s3s's parsing and SigV2 check, the
//! object store, the endpoint's SigV4 check), the client gets AWS's
//! `<Error><Code/><Message/>[<Resource/>]<RequestId/><HostId/></Error>`
//! (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html) with the RequestId of
//! the `x-amz-request-id` header. Raw HTTP so the bytes are visible, then aws-sdk-s3 to show
//! that a real client reads the same fields.

use std::io::{Read, Write};
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::{RequestId, RequestIdExt};
use aws_sdk_s3::primitives::ByteStream;
use nuvem_testkit::Nuvem;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

/// A raw response: status, the `x-amz-request-id` and `x-amz-id-2` headers, the body.
struct Raw {
    status: u16,
    request_id: String,
    host_id: String,
    body: String,
}

/// The text of `<name>` in an XML error body.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let from = xml.find(&open)? + open.len();
    let rest = &xml[from..];
    Some(&rest[..rest.find(&format!("</{name}>"))?])
}

/// What an error must look like; `resource` `None` means "absent", `host_id` whether the S3
/// service (rather than the endpoint's SigV4 check) answered.
#[track_caller]
fn check(raw: &Raw, status: u16, code: &str, resource: Option<&str>, host_id: bool) {
    let b = &raw.body;
    assert_eq!(raw.status, status, "{b}");
    assert!(
        b.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{b}"
    );
    assert_eq!(element(b, "Code"), Some(code), "{b}");
    assert!(
        element(b, "Message").is_some_and(|m| !m.trim().is_empty()),
        "{b}"
    );
    assert_eq!(element(b, "Resource"), resource, "{b}");
    assert!(!raw.request_id.is_empty());
    assert_eq!(
        element(b, "RequestId"),
        Some(raw.request_id.as_str()),
        "{b}"
    );
    if host_id {
        assert!(!raw.host_id.is_empty(), "{b}");
        assert_eq!(element(b, "HostId"), Some(raw.host_id.as_str()), "{b}");
    }
}

async fn raw(resp: reqwest::Response) -> Raw {
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (request_id, host_id) = (header("x-amz-request-id"), header("x-amz-id-2"));
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    Raw {
        status,
        request_id,
        host_id,
        body,
    }
}

/// Signs `req` with SigV4 for S3 and an unsigned payload (`secret` may be wrong on purpose).
pub(crate) fn sign(req: &mut http::Request<String>, secret: &str) {
    use aws_sigv4::http_request::{
        PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
        UriPathNormalizationMode, sign,
    };
    // S3 signs the path as sent: encoded once, never normalized.
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let identity = Credentials::new("test", secret, None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let uri = req.uri().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            let v = std::str::from_utf8(v.as_bytes()).unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    let signable = SignableRequest::new(
        req.method().as_str(),
        &uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::UnsignedPayload,
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(req);
}

/// A request signed with the right (`secret` "test") or a wrong secret, sent with reqwest.
async fn signed(nuvem: &Nuvem, method: &str, path: &str, body: &str, secret: &str) -> Raw {
    signed_with(nuvem, method, path, body, secret, &[]).await
}

async fn signed_with(
    nuvem: &Nuvem,
    method: &str,
    path: &str,
    body: &str,
    secret: &str,
    headers: &[(&str, &str)],
) -> Raw {
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", nuvem.api_url))
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(body.to_string()).unwrap();
    sign(&mut req, secret);
    let req = reqwest::Request::try_from(req).unwrap();
    raw(crate::s3::http().execute(req).await.unwrap()).await
}

/// A signed request with a `Transfer-Encoding: chunked` body and no length, over a raw socket
/// (reqwest only streams bodies with a feature we do not build).
fn signed_chunked(nuvem: &Nuvem, method: &str, path: &str, body: &str) -> Raw {
    let url: http::Uri = format!("{}{path}", nuvem.api_url).parse().unwrap();
    let addr = url.authority().unwrap().to_string();
    let mut req = http::Request::builder()
        .method(method)
        .uri(url.clone())
        .header("host", &addr)
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        .body(String::new())
        .unwrap();
    sign(&mut req, "test");
    let mut head = format!("{method} {} HTTP/1.1\r\n", url.path_and_query().unwrap());
    for (k, v) in req.headers() {
        head.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    head.push_str("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len()).as_bytes())
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let header = |n: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(n).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    Raw {
        status: head[9..12].parse().unwrap(),
        request_id: header("x-amz-request-id"),
        host_id: header("x-amz-id-2"),
        body: body.to_string(),
    }
}

#[tokio::test]
async fn every_s3_error_has_code_message_and_request_id() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("errs").send().await.unwrap();
    c.put_object()
        .bucket("errs")
        .key("obj.txt")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    let http = crate::s3::http();
    let url = |p: &str| format!("{}{p}", nuvem.api_url);
    let expires = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300;
    let sigv2 = format!(
        "/errs/obj.txt?AWSAccessKeyId=test&Expires={expires}&Signature=AAAAAAAAAAAAAAAAAAAAAAAAAAA%3D"
    );

    // s3s's own rejections, before the object store runs.
    check(
        &signed(&nuvem, "PUT", "/ab", "", "test").await,
        400,
        "InvalidBucketName",
        None,
        true,
    );
    check(
        &signed(
            &nuvem,
            "PUT",
            "/errs?cors",
            "<CORSConfiguration><nope",
            "test",
        )
        .await,
        400,
        "MalformedXML",
        None,
        true,
    );
    check(
        &signed_chunked(&nuvem, "POST", "/errs?delete", "<Delete/>"),
        411,
        "MissingContentLength",
        None,
        true,
    );
    check(
        &raw(http.get(url(&sigv2)).send().await.unwrap()).await,
        403,
        "SignatureDoesNotMatch",
        None,
        true,
    );
    // The object store's errors, with the Resource they are about.
    check(
        &signed(&nuvem, "GET", "/nosuch/k", "", "test").await,
        404,
        "NoSuchBucket",
        Some("/nosuch"),
        true,
    );
    check(
        &signed(&nuvem, "GET", "/errs/missing.txt", "", "test").await,
        404,
        "NoSuchKey",
        Some("/errs/missing.txt"),
        true,
    );
    check(
        &signed(&nuvem, "GET", "/errs/a%20b.txt", "", "test").await,
        404,
        "NoSuchKey",
        Some("/errs/a b.txt"),
        true,
    );
    check(
        &signed(&nuvem, "DELETE", "/errs", "", "test").await,
        409,
        "BucketNotEmpty",
        Some("/errs"),
        true,
    );
    let range = [("range", "bytes=100-200")];
    check(
        &signed_with(&nuvem, "GET", "/errs/obj.txt", "", "test", &range).await,
        416,
        "InvalidRange",
        None,
        true,
    );
    // Policy: anonymous callers get AccessDenied without a bucket policy.
    check(
        &raw(http.get(url("/errs/obj.txt")).send().await.unwrap()).await,
        403,
        "AccessDenied",
        None,
        true,
    );
    check(
        &raw(http.put(url("/errs/x")).body("x").send().await.unwrap()).await,
        403,
        "AccessDenied",
        None,
        true,
    );
    // Our own pre-check of plain chunked PUTs (before s3s).
    check(
        &signed_chunked(&nuvem, "PUT", "/errs/chunked.txt", "hello"),
        411,
        "MissingContentLength",
        None,
        true,
    );
    // The endpoint's SigV4 check answers before the S3 service (no HostId there).
    check(
        &signed(&nuvem, "GET", "/errs/obj.txt", "", "wrong").await,
        403,
        "SignatureDoesNotMatch",
        None,
        false,
    );

    // HEAD errors have no body, but both ids in headers.
    let head = http.head(url("/errs/obj.txt")).send().await.unwrap();
    let head = raw(head).await;
    assert_eq!((head.status, head.body.as_str()), (403, ""));
    assert!(!head.request_id.is_empty() && !head.host_id.is_empty());
}

/// aws-sdk-s3 reads the same fields: code, message, request id and extended request id.
#[tokio::test]
async fn the_sdk_sees_message_and_request_ids() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("errs").send().await.unwrap();
    c.put_object()
        .bucket("errs")
        .key("obj.txt")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();

    #[track_caller]
    fn check_sdk<T: std::fmt::Debug, E>(r: Result<T, E>, code: &str)
    where
        E: ProvideErrorMetadata + RequestId + RequestIdExt + std::fmt::Debug,
    {
        let e = r.expect_err(code);
        assert_eq!(e.code(), Some(code), "{e:?}");
        assert!(e.message().is_some_and(|m| !m.is_empty()), "{e:?}");
        assert!(e.request_id().is_some_and(|m| !m.is_empty()), "{e:?}");
        assert!(
            e.extended_request_id().is_some_and(|m| !m.is_empty()),
            "{e:?}"
        );
    }

    let get = |k: &'static str| c.get_object().bucket("errs").key(k).send();
    check_sdk(
        get("missing").await.map_err(|e| e.into_service_error()),
        "NoSuchKey",
    );
    let ranged = c
        .get_object()
        .bucket("errs")
        .key("obj.txt")
        .range("bytes=100-200");
    check_sdk(
        ranged.send().await.map_err(|e| e.into_service_error()),
        "InvalidRange",
    );
    let nosuch = c.list_objects_v2().bucket("nosuch").send().await;
    check_sdk(nosuch.map_err(|e| e.into_service_error()), "NoSuchBucket");
    let not_empty = c.delete_bucket().bucket("errs").send().await;
    check_sdk(
        not_empty.map_err(|e| e.into_service_error()),
        "BucketNotEmpty",
    );
    let short = c.create_bucket().bucket("ab").send().await;
    check_sdk(
        short.map_err(|e| e.into_service_error()),
        "InvalidBucketName",
    );
}
