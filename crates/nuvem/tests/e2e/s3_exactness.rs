//! S3 exactness, one `check` per area, each against AWS's documented answer: part numbers on
//! GET/HEAD, 304 headers, listing details, Content-MD5 codes, re-creating your own bucket,
//! ListBuckets paging, conditional and retried CompleteMultipartUpload, `aws-chunked` never
//! stored as a Content-Encoding. aws-sdk-s3 where it shows the behaviour, raw signed HTTP where
//! the bytes matter.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CompletedMultipartUpload, CompletedPart, CorsConfiguration, CorsRule,
    CreateBucketConfiguration,
};
use nuvem_testkit::Nuvem;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");
const MIB5: usize = 5 * 1024 * 1024;

/// A raw signed request (unsigned payload); the response as reqwest gives it.
async fn send(
    nuvem: &Nuvem,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> reqwest::Response {
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", nuvem.api_url))
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(body.to_string()).unwrap();
    crate::s3_errors::sign(&mut req, "test");
    let req = reqwest::Request::try_from(req).unwrap();
    crate::s3::http().execute(req).await.unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

/// The text of `<name>` in an XML body.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let from = xml.find(&open)? + open.len();
    let rest = &xml[from..];
    Some(&rest[..rest.find(&format!("</{name}>"))?])
}

/// A raw request's status and error code (the body's `<Code>`, "" for none).
#[track_caller]
fn check_status(what: &str, got: (u16, String), status: u16, code: &str) {
    assert_eq!(got, (status, code.to_string()), "{what}");
}

async fn status_code(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    (status, element(&body, "Code").unwrap_or("").to_string())
}

async fn sdk_code<T, E: ProvideErrorMetadata>(r: Result<T, E>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.code().unwrap_or("?").to_string(),
    }
}

/// Uploads `parts` (all but the last 5 MiB) as `key` and completes; returns the upload id.
async fn multipart(
    c: &Client,
    bucket: &str,
    key: &str,
    sizes: &[usize],
) -> (String, Vec<CompletedPart>) {
    let id = c
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let mut done = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap();
        let p = c
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(vec![
                b'a' + u8::try_from(i).unwrap();
                *size
            ]))
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag.unwrap())
                .build(),
        );
    }
    (id, done)
}

async fn complete(
    c: &Client,
    bucket: &str,
    key: &str,
    id: &str,
    parts: &[CompletedPart],
    if_match: Option<&str>,
) -> Result<String, String> {
    c.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .set_if_match(if_match.map(str::to_string))
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts.to_vec()))
                .build(),
        )
        .send()
        .await
        .map(|o| o.e_tag.unwrap())
        .map_err(|e| e.into_service_error().code().unwrap_or("?").to_string())
}

/// GET/HEAD `partNumber`: 0 and above 10000 are 400 InvalidArgument, a part past the object's
/// last is 400 InvalidPart (never 416), part 1 of a plain object is the object.
async fn check_part_numbers(nuvem: &Nuvem, c: &Client) {
    let (id, parts) = multipart(c, "exact", "two-parts", &[MIB5, 10]).await;
    complete(c, "exact", "two-parts", &id, &parts, None)
        .await
        .unwrap();
    c.put_object()
        .bucket("exact")
        .key("plain")
        .body(ByteStream::from_static(b"plain"))
        .send()
        .await
        .unwrap();
    let cases: &[(&str, &str, u16, &str)] = &[
        ("GET", "/exact/two-parts?partNumber=2", 206, ""),
        ("GET", "/exact/two-parts?partNumber=3", 400, "InvalidPart"),
        (
            "GET",
            "/exact/two-parts?partNumber=0",
            400,
            "InvalidArgument",
        ),
        (
            "GET",
            "/exact/two-parts?partNumber=10001",
            400,
            "InvalidArgument",
        ),
        ("GET", "/exact/plain?partNumber=1", 206, ""),
        ("GET", "/exact/plain?partNumber=2", 400, "InvalidPart"),
        ("HEAD", "/exact/two-parts?partNumber=3", 400, ""),
        ("HEAD", "/exact/plain?partNumber=2", 400, ""),
    ];
    for (method, path, status, code) in cases {
        let r = send(nuvem, method, path, &[], "").await;
        check_status(
            &format!("{method} {path}"),
            status_code(r).await,
            *status,
            code,
        );
    }
    let got = c
        .get_object()
        .bucket("exact")
        .key("two-parts")
        .part_number(3)
        .send()
        .await;
    assert_eq!(sdk_code(got).await, "InvalidPart");
}

/// A 304 carries the ETag and Last-Modified of the object (RFC 9110 §15.4.5), as S3 sends.
async fn check_not_modified(nuvem: &Nuvem, c: &Client) {
    let put = c
        .put_object()
        .bucket("exact")
        .key("cached")
        .body(ByteStream::from_static(b"cached"))
        .send()
        .await
        .unwrap();
    let etag = put.e_tag.unwrap();
    let future = "Sat, 29 Oct 2100 19:43:31 GMT";
    for (method, cond) in [
        ("GET", ("if-none-match", etag.as_str())),
        ("HEAD", ("if-none-match", etag.as_str())),
        ("GET", ("if-modified-since", future)),
    ] {
        let r = send(nuvem, method, "/exact/cached", &[cond], "").await;
        assert_eq!(r.status().as_u16(), 304, "{method} {cond:?}");
        assert_eq!(
            header(&r, "etag").as_deref(),
            Some(etag.as_str()),
            "{method}"
        );
        assert!(header(&r, "last-modified").is_some(), "{method} {cond:?}");
        assert_eq!(r.text().await.unwrap(), "");
    }
}

/// ListObjects details: an empty delimiter is not echoed, `max-keys=0` is not truncated, v1
/// with `encoding-type=url` leaves Prefix alone and encodes Marker and keys.
async fn check_listing(nuvem: &Nuvem, c: &Client) {
    for key in ["list/a b", "list/c+d"] {
        c.put_object()
            .bucket("exact")
            .key(key)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let list = |q: &'static str| async move {
        let r = send(nuvem, "GET", &format!("/exact?{q}"), &[], "").await;
        assert_eq!(r.status().as_u16(), 200, "{q}");
        r.text().await.unwrap()
    };
    let v1 = list("delimiter=&prefix=list/").await;
    assert!(!v1.contains("<Delimiter"), "{v1}");
    let v2 = list("list-type=2&delimiter=&prefix=list/").await;
    assert!(!v2.contains("<Delimiter"), "{v2}");
    assert_eq!(element(&v2, "KeyCount"), Some("2"), "{v2}");
    for q in ["max-keys=0", "list-type=2&max-keys=0"] {
        let body = list(q).await;
        assert_eq!(element(&body, "IsTruncated"), Some("false"), "{q}: {body}");
        assert!(!body.contains("<Contents>"), "{q}: {body}");
    }
    let v1 = list("encoding-type=url&prefix=list/&marker=list/a%20b").await;
    assert_eq!(element(&v1, "Prefix"), Some("list/"), "{v1}");
    assert_eq!(element(&v1, "Marker"), Some("list/a%20b"), "{v1}");
    assert_eq!(element(&v1, "Key"), Some("list/c%2Bd"), "{v1}");
    let v2 = list("list-type=2&encoding-type=url&prefix=list/%20").await;
    assert_eq!(element(&v2, "Prefix"), Some("list/%20"), "{v2}");
    // The SDK decodes what AWS encodes, so it sees the keys as written.
    let sdk = c
        .list_objects()
        .bucket("exact")
        .prefix("list/")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(sdk.prefix.as_deref(), Some("list/"));
    let keys: Vec<_> = sdk.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["list/a%20b", "list/c%2Bd"]);
}

/// A Content-MD5 that is not base64 of 16 bytes is 400 InvalidDigest; a well-formed one that
/// does not match is 400 BadDigest.
async fn check_content_md5(nuvem: &Nuvem) {
    let wrong_md5 = "XrY7u+Ae7tCTyyK7j1rNww=="; // MD5 of "hello world"
    let cases = [
        ("not base64!", 400, "InvalidDigest"),
        ("AAAA", 400, "InvalidDigest"),
        (wrong_md5, 400, "BadDigest"),
        ("XUFAKrxLKna5cZ2REBfFkg==", 200, ""), // MD5 of "hello"
    ];
    for (md5, status, code) in cases {
        let r = send(nuvem, "PUT", "/exact/md5", &[("content-md5", md5)], "hello").await;
        check_status(md5, status_code(r).await, status, code);
    }
}

/// Re-creating your own bucket answers 200 in us-east-1 (legacy compatibility) and 409
/// BucketAlreadyOwnedByYou elsewhere; its objects are untouched.
async fn check_recreate(c: &Client) {
    c.put_object()
        .bucket("exact")
        .key("kept")
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        sdk_code(c.create_bucket().bucket("exact").send().await).await,
        "ok"
    );
    let kept = c.head_object().bucket("exact").key("kept").send().await;
    assert_eq!(sdk_code(kept).await, "ok");
    let eu = || {
        c.create_bucket()
            .bucket("exact-eu")
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::EuWest1)
                    .build(),
            )
            .send()
    };
    assert_eq!(sdk_code(eu().await).await, "ok");
    assert_eq!(sdk_code(eu().await).await, "BucketAlreadyOwnedByYou");
}

/// ListBuckets with Prefix and MaxBuckets pages with a ContinuationToken.
async fn check_list_buckets(nuvem: &Nuvem, c: &Client) {
    for b in ["lb-one", "lb-three", "lb-two"] {
        c.create_bucket().bucket(b).send().await.unwrap();
    }
    let page = c
        .list_buckets()
        .prefix("lb-")
        .max_buckets(2)
        .send()
        .await
        .unwrap();
    let names: Vec<_> = page.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["lb-one", "lb-three"]);
    assert_eq!(page.prefix(), Some("lb-"));
    let token = page.continuation_token().unwrap().to_string();
    let next = c
        .list_buckets()
        .prefix("lb-")
        .max_buckets(2)
        .continuation_token(token)
        .send()
        .await
        .unwrap();
    let names: Vec<_> = next.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["lb-two"]);
    assert_eq!(next.continuation_token(), None);
    let all = c.list_buckets().send().await.unwrap();
    assert!(all.buckets().len() >= 4);
    for q in [
        "max-buckets=0",
        "max-buckets=10001",
        "continuation-token=%21%21",
    ] {
        let r = send(nuvem, "GET", &format!("/?{q}"), &[], "").await;
        check_status(q, status_code(r).await, 400, "InvalidArgument");
    }
}

/// CompleteMultipartUpload honours If-Match (a current delete marker is no object) and
/// If-None-Match like a conditional PutObject; a retried completion answers 200 with the same
/// object while it is still the key's current version, NoSuchUpload once it is not.
async fn check_complete(c: &Client) {
    let put = c
        .put_object()
        .bucket("exact")
        .key("mpu")
        .body(ByteStream::from_static(b"original"))
        .send()
        .await
        .unwrap();
    let current = put.e_tag.unwrap();
    let (id, parts) = multipart(c, "exact", "mpu", &[10]).await;
    let cases = [
        (
            Some("\"ffffffffffffffffffffffffffffffff\""),
            Err("PreconditionFailed".to_string()),
        ),
        (Some(current.as_str()), Ok(())),
    ];
    let mut etag = String::new();
    for (if_match, want) in cases {
        let got = complete(c, "exact", "mpu", &id, &parts, if_match).await;
        match (got, want) {
            (Ok(e), Ok(())) => etag = e,
            (Err(code), Err(w)) => assert_eq!(code, w),
            (got, want) => panic!("If-Match {if_match:?}: {got:?}, want {want:?}"),
        }
        if etag.is_empty() {
            let body = c
                .get_object()
                .bucket("exact")
                .key("mpu")
                .send()
                .await
                .unwrap();
            assert_eq!(
                body.body.collect().await.unwrap().into_bytes().as_ref(),
                b"original"
            );
        }
    }
    // The retry of a completed upload: the same 200, while that object is current.
    let again = complete(c, "exact", "mpu", &id, &parts, None).await;
    assert_eq!(again, Ok(etag.clone()));
    c.put_object()
        .bucket("exact")
        .key("mpu")
        .body(ByteStream::from_static(b"newer"))
        .send()
        .await
        .unwrap();
    let stale = complete(c, "exact", "mpu", &id, &parts, None).await;
    assert_eq!(stale, Err("NoSuchUpload".to_string()));
    // Two completions of one upload at once both answer 200 with the same object.
    for _ in 0..3 {
        let (id, parts) = multipart(c, "exact", "twice", &[10]).await;
        let (a, b) = tokio::join!(
            complete(c, "exact", "twice", &id, &parts, None),
            complete(c, "exact", "twice", &id, &parts, None)
        );
        assert!(a.is_ok(), "{a:?}");
        assert_eq!(a, b);
    }
    // If-Match on a key without an object, or whose current version is a delete marker.
    let (id, parts) = multipart(c, "exact", "never", &[10]).await;
    let got = complete(c, "exact", "never", &id, &parts, Some("*")).await;
    assert_eq!(got, Err("NoSuchKey".to_string()));
    crate::versioned_bucket(c, "exact-ver").await;
    c.put_object()
        .bucket("exact-ver")
        .key("k")
        .body(ByteStream::from_static(b"v1"))
        .send()
        .await
        .unwrap();
    c.delete_object()
        .bucket("exact-ver")
        .key("k")
        .send()
        .await
        .unwrap();
    let (id, parts) = multipart(c, "exact-ver", "k", &[10]).await;
    let got = complete(c, "exact-ver", "k", &id, &parts, Some("*")).await;
    assert_eq!(got, Err("NoSuchKey".to_string()));
    let done = complete(c, "exact-ver", "k", &id, &parts, None)
        .await
        .unwrap();
    let retried = complete(c, "exact-ver", "k", &id, &parts, None).await;
    assert_eq!(retried, Ok(done));
}

/// `aws-chunked` is the request's framing, never the object's Content-Encoding.
async fn check_aws_chunked(nuvem: &Nuvem, c: &Client) {
    let cases = [
        ("gzip,aws-chunked", Some("gzip")),
        ("aws-chunked", None),
        ("aws-chunked, br", Some("br")),
        ("gzip", Some("gzip")),
    ];
    for (i, (sent, stored)) in cases.into_iter().enumerate() {
        let path = format!("/exact/enc{i}");
        let r = send(nuvem, "PUT", &path, &[("content-encoding", sent)], "data").await;
        assert_eq!(r.status().as_u16(), 200, "{sent}");
        let head = c
            .head_object()
            .bucket("exact")
            .key(format!("enc{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_encoding(), stored, "{sent}");
    }
}

/// SigV4 with the date in a `Date` header (ISO 8601 basic format) and no `X-Amz-Date`, as AWS
/// accepts it; a wrong signature over the same headers is still refused.
async fn check_date_header(nuvem: &Nuvem) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let date = {
        let (days, secs) = (now / 86_400, now % 86_400);
        // Civil date from days since the epoch (Howard Hinnant's algorithm).
        let z = i64::try_from(days).unwrap() + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!(
            "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    };
    let day = &date[..8];
    let host = nuvem.api_url.trim_start_matches("http://").to_string();
    let canonical = format!(
        "GET\n/exact\n\ndate:{date}\nhost:{host}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n\ndate;host;x-amz-content-sha256\nUNSIGNED-PAYLOAD"
    );
    let scope = format!("{day}/us-east-1/s3/aws4_request");
    let to_sign = nuvem_aws::sigv4::string_to_sign(&date, &scope, &canonical);
    let key = nuvem_aws::sigv4::signing_key("test", day, "us-east-1", "s3");
    let good = aws_sigv4::sign::v4::calculate_signature(key, to_sign.as_bytes());
    for (signature, status) in [(good.as_str(), 200), ("0".repeat(64).as_str(), 403)] {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=test/{scope}, SignedHeaders=date;host;x-amz-content-sha256, Signature={signature}"
        );
        let r = crate::s3::http()
            .get(format!("{}/exact", nuvem.api_url))
            .header("date", &date)
            .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        let got = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_eq!(got, status, "{body}");
    }
}

/// Non-ASCII user metadata: sent as UTF-8 (signed as such) or RFC 2047 encoded, it is stored
/// as text and answered RFC 2047 encoded, as S3 answers it; the SDK reads the encoded form.
async fn check_metadata(nuvem: &Nuvem, c: &Client) {
    let cases = [
        ("x-amz-meta-greeting", "Ol\u{e1} mundo"),
        ("x-amz-meta-greeting", "=?UTF-8?B?T2zDoSBtdW5kbw==?="),
    ];
    for (i, (name, value)) in cases.into_iter().enumerate() {
        let path = format!("/exact/meta{i}");
        let r = send(nuvem, "PUT", &path, &[(name, value)], "m").await;
        assert_eq!(r.status().as_u16(), 200, "{value}");
        let r = send(nuvem, "HEAD", &path, &[], "").await;
        assert_eq!(
            header(&r, name).as_deref(),
            Some("=?UTF-8?B?T2zDoSBtdW5kbw==?="),
            "{value}"
        );
    }
    let head = c
        .head_object()
        .bucket("exact")
        .key("meta0")
        .send()
        .await
        .unwrap();
    let got = head.metadata().and_then(|m| m.get("greeting")).cloned();
    assert_eq!(got.as_deref(), Some("=?UTF-8?B?T2zDoSBtdW5kbw==?="));
}

fn cors_rule(origins: &[&str], methods: &[&str], headers: &[&str], expose: &[&str]) -> CorsRule {
    let strings = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    CorsRule::builder()
        .set_allowed_origins(strings(origins))
        .set_allowed_methods(strings(methods))
        .set_allowed_headers(strings(headers).filter(|v| !v.is_empty()))
        .set_expose_headers(strings(expose).filter(|v| !v.is_empty()))
        .max_age_seconds(600)
        .build()
        .unwrap()
}

/// CORS per rule field: origin wildcards, methods, AllowedHeaders wildcards, ExposeHeaders and
/// MaxAgeSeconds on preflight and actual responses; the rule validation AWS does.
async fn check_cors(nuvem: &Nuvem, c: &Client) {
    let put = |rules: Vec<CorsRule>| {
        c.put_bucket_cors()
            .bucket("exact")
            .cors_configuration(
                CorsConfiguration::builder()
                    .set_cors_rules(Some(rules))
                    .build()
                    .unwrap(),
            )
            .send()
    };
    let invalid = [
        cors_rule(&["http://*.*.com"], &["GET"], &[], &[]),
        cors_rule(&["*"], &["GET"], &["x-*-*"], &[]),
        cors_rule(&["*"], &["GET"], &[], &["*"]),
        cors_rule(&["*"], &["FETCH"], &[], &[]),
    ];
    for rule in invalid {
        assert_eq!(
            sdk_code(put(vec![rule.clone()]).await).await,
            "InvalidRequest",
            "{rule:?}"
        );
    }
    put(vec![
        cors_rule(&["*suffix"], &["GET"], &[], &["x-amz-meta-a", "ETag"]),
        cors_rule(&["start*end"], &["GET", "HEAD"], &["x-amz-*"], &[]),
        cors_rule(&["*.put"], &["PUT"], &["*"], &[]),
    ])
    .await
    .unwrap();
    let url = format!("{}/exact/cached", nuvem.api_url);
    let preflight =
        |origin: Option<&'static str>, method: &'static str, headers: Option<&'static str>| {
            let mut r = crate::s3::http().request(reqwest::Method::OPTIONS, &url);
            if let Some(o) = origin {
                r = r.header("origin", o);
            }
            if !method.is_empty() {
                r = r.header("access-control-request-method", method);
            }
            if let Some(h) = headers {
                r = r.header("access-control-request-headers", h);
            }
            r.send()
        };
    // (origin, method, requested headers) → status, allowed origin, allowed methods,
    // allowed headers.
    type Case = (
        Option<&'static str>,
        &'static str,
        Option<&'static str>,
        u16,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
    );
    let cases: [Case; 8] = [
        (None, "GET", None, 400, None, None, None),
        (Some("foo.suffix"), "", None, 400, None, None, None),
        (
            Some("foo.suffix"),
            "GET",
            None,
            200,
            Some("foo.suffix"),
            Some("GET"),
            None,
        ),
        (Some("foo.bar"), "GET", None, 403, None, None, None),
        (Some("foo.suffix"), "PUT", None, 403, None, None, None),
        (
            Some("start-x-end"),
            "HEAD",
            Some("x-amz-meta-a, x-amz-date"),
            200,
            Some("start-x-end"),
            Some("GET, HEAD"),
            Some("x-amz-meta-a, x-amz-date"),
        ),
        (
            Some("start-x-end"),
            "GET",
            Some("content-type"),
            403,
            None,
            None,
            None,
        ),
        (
            Some("a.put"),
            "PUT",
            Some("content-type, x-anything"),
            200,
            Some("a.put"),
            Some("PUT"),
            Some("content-type, x-anything"),
        ),
    ];
    for (origin, method, headers, status, allow_origin, allow_methods, allow_headers) in cases {
        let r = preflight(origin, method, headers).await.unwrap();
        let what = format!("{origin:?} {method} {headers:?}");
        assert_eq!(r.status().as_u16(), status, "{what}");
        assert_eq!(
            header(&r, "access-control-allow-origin").as_deref(),
            allow_origin,
            "{what}"
        );
        assert_eq!(
            header(&r, "access-control-allow-methods").as_deref(),
            allow_methods,
            "{what}"
        );
        assert_eq!(
            header(&r, "access-control-allow-headers").as_deref(),
            allow_headers,
            "{what}"
        );
        if status == 200 {
            assert_eq!(
                header(&r, "access-control-max-age").as_deref(),
                Some("600"),
                "{what}"
            );
        }
    }
    // An actual request from a matching origin gets the rule's headers, ExposeHeaders too.
    let r = send(nuvem, "GET", "/exact/cached", &[("origin", "x.suffix")], "").await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("x.suffix")
    );
    assert_eq!(
        header(&r, "access-control-expose-headers").as_deref(),
        Some("x-amz-meta-a, ETag")
    );
    let r = send(nuvem, "GET", "/exact/cached", &[("origin", "x.other")], "").await;
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    c.delete_bucket_cors().bucket("exact").send().await.unwrap();
}

/// A presigned URL past its lifetime is 403 AccessDenied ("Request has expired"); an
/// `X-Amz-Expires` outside 1..604800 is 400 AuthorizationQueryParametersError, as AWS answers.
async fn check_presigned_expiry(c: &Client) {
    use aws_sdk_s3::presigning::PresigningConfig;
    let presigned = |secs: u64| {
        c.get_object()
            .bucket("exact")
            .key("cached")
            .presigned(PresigningConfig::expires_in(std::time::Duration::from_secs(secs)).unwrap())
    };
    let short = presigned(1).await.unwrap().uri().to_string();
    let week = presigned(604_800).await.unwrap().uri().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let get = |url: String| async move {
        status_code(crate::s3::http().get(url).send().await.unwrap()).await
    };
    check_status("expired", get(short).await, 403, "AccessDenied");
    check_status("a week", get(week.clone()).await, 200, "");
    for bad in ["0", "604801"] {
        let url = week.replace("X-Amz-Expires=604800", &format!("X-Amz-Expires={bad}"));
        assert_ne!(url, week);
        check_status(
            bad,
            get(url).await,
            400,
            "AuthorizationQueryParametersError",
        );
    }
}

#[tokio::test]
async fn s3_answers_as_aws_documents() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("exact").send().await.unwrap();
    check_part_numbers(&nuvem, &c).await;
    check_not_modified(&nuvem, &c).await;
    check_listing(&nuvem, &c).await;
    check_content_md5(&nuvem).await;
    check_recreate(&c).await;
    check_list_buckets(&nuvem, &c).await;
    check_complete(&c).await;
    check_aws_chunked(&nuvem, &c).await;
    check_date_header(&nuvem).await;
    check_metadata(&nuvem, &c).await;
    check_cors(&nuvem, &c).await;
    check_presigned_expiry(&c).await;
}
