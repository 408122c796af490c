//! Browser uploads (POST Object with a SigV4-signed policy document) end to end: forms built
//! by hand and sent with reqwest (every success status, the redirect, `${filename}`, metadata,
//! the ACL field, and the refusals S3 gives: failed conditions, extra fields and an expired
//! policy as 403 AccessDenied "Invalid according to Policy: ...", a size outside
//! `content-length-range`, a bad signature, malformed forms), then boto3's
//! `generate_presigned_post` (`tests/e2e/boto3/s3_post_boto3.py`).
//! (https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html,
//! https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html)

use aws_sdk_s3::types::{ObjectOwnership, OwnershipControls, OwnershipControlsRule};
use base64::Engine as _;
use nuvem_testkit::Nuvem;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");
const DATE: &str = "20261206";
const CREDENTIAL: &str = "test/20261206/us-east-1/s3/aws4_request";

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    aws_lc_rs::hmac::sign(&k, msg).as_ref().to_vec()
}

/// The SigV4 signature of a base64 policy with the test key's secret (`test`).
fn sign(policy_b64: &str) -> String {
    let mut k = hmac(b"AWS4test", DATE.as_bytes());
    for part in ["us-east-1", "s3", "aws4_request"] {
        k = hmac(&k, part.as_bytes());
    }
    hmac(&k, policy_b64.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A multipart form: the fields in order, then the file.
fn form(fields: &[(&str, String)], filename: &str, file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----nuvemFormBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The signed fields of a policy with `conditions`, expiring at `expiration`.
fn signed(expiration: &str, conditions: serde_json::Value) -> Vec<(&'static str, String)> {
    let mut all = vec![
        serde_json::json!({"x-amz-algorithm": "AWS4-HMAC-SHA256"}),
        serde_json::json!({"x-amz-credential": CREDENTIAL}),
        serde_json::json!({"x-amz-date": format!("{DATE}T000000Z")}),
    ];
    all.extend(conditions.as_array().cloned().unwrap_or_default());
    let policy = serde_json::json!({"expiration": expiration, "conditions": all});
    let b64 = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
    vec![
        ("x-amz-algorithm", "AWS4-HMAC-SHA256".into()),
        ("x-amz-credential", CREDENTIAL.into()),
        ("x-amz-date", format!("{DATE}T000000Z")),
        ("x-amz-signature", sign(&b64)),
        ("policy", b64),
    ]
}

struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

async fn post(url: &str, fields: &[(&str, String)], filename: &str, file: &[u8]) -> Answer {
    let (ct, body) = form(fields, filename, file);
    let r = crate::s3_acl::http()
        .post(url)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Answer {
        status,
        location,
        body: r.text().await.unwrap(),
    }
}

fn with(
    mut base: Vec<(&'static str, String)>,
    extra: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    base.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    base
}

const LATER: &str = "2099-01-01T00:00:00.000Z";

#[tokio::test(flavor = "multi_thread")]
async fn s3_post_object_with_a_signed_policy() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("forms").send().await.unwrap();
    let url = format!("{}/forms", nuvem.api_url);
    let conditions = serde_json::json!([
        {"bucket": "forms"},
        ["starts-with", "$key", "uploads/"],
        ["starts-with", "$Content-Type", "text/"],
        ["eq", "$x-amz-meta-owner", "ana"],
        ["content-length-range", 1, 1024],
        ["starts-with", "$success_action_status", ""],
        ["starts-with", "$success_action_redirect", ""],
    ]);
    let good = |extra: &[(&'static str, &str)]| {
        let mut f = vec![("key", "uploads/${filename}".to_string())];
        f.extend(signed(LATER, conditions.clone()));
        f.extend([
            ("Content-Type", "text/plain".to_string()),
            ("x-amz-meta-owner", "ana".to_string()),
        ]);
        with(f, extra)
    };

    // Default: 204, the key from ${filename}, type and metadata stored.
    let a = post(&url, &good(&[]), "hello.txt", b"hello, form").await;
    assert_eq!(a.status, 204, "{}", a.body);
    let got = c
        .get_object()
        .bucket("forms")
        .key("uploads/hello.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("owner"))
            .map(String::as_str),
        Some("ana")
    );
    let data = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&data[..], b"hello, form");

    // 201 with a PostResponse document, 200 empty, a redirect with bucket, key and etag.
    let a = post(
        &url,
        &good(&[("success_action_status", "201")]),
        "b.txt",
        b"b",
    )
    .await;
    assert_eq!(a.status, 201);
    assert!(
        a.body.contains("<Key>uploads/b.txt</Key>") && a.body.contains("<Bucket>forms</Bucket>"),
        "{}",
        a.body
    );
    let a = post(
        &url,
        &good(&[("success_action_status", "200")]),
        "c.txt",
        b"c",
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (200, ""));
    let a = post(
        &url,
        &good(&[("success_action_redirect", "http://example.com/done")]),
        "d.txt",
        b"d",
    )
    .await;
    assert_eq!(a.status, 303);
    let loc = a.location.unwrap();
    assert!(
        loc.starts_with("http://example.com/done?bucket=forms&key=uploads%2Fd.txt&etag="),
        "{loc}"
    );

    // Refusals: 403 AccessDenied with S3's "Invalid according to Policy" messages.
    #[track_caller]
    fn refused(a: &Answer, status: u16, code: &str, message: &str) {
        assert_eq!(a.status, status, "{}", a.body);
        assert!(
            a.body.contains(&format!("<Code>{code}</Code>")),
            "{}",
            a.body
        );
        assert!(a.body.contains(message), "{message} not in {}", a.body);
    }
    let mut f = good(&[]);
    f[0].1 = "elsewhere/x".into();
    let a = post(&url, &f, "x", b"x").await;
    refused(
        &a,
        403,
        "AccessDenied",
        "Invalid according to Policy: Policy Condition failed: [",
    );
    assert!(a.body.contains("$key"), "{}", a.body);
    let a = post(&url, &good(&[("x-amz-meta-other", "1")]), "x", b"x").await;
    refused(
        &a,
        403,
        "AccessDenied",
        "Invalid according to Policy: Extra input fields: x-amz-meta-other",
    );
    // x-ignore- fields are exempt.
    let a = post(&url, &good(&[("x-ignore-tracking", "1")]), "y.txt", b"y").await;
    assert_eq!(a.status, 204, "{}", a.body);
    let mut f = vec![("key", "uploads/old".to_string())];
    f.extend(signed("2001-01-01T00:00:00Z", conditions.clone()));
    f.extend([
        ("Content-Type", "text/plain".to_string()),
        ("x-amz-meta-owner", "ana".to_string()),
    ]);
    let a = post(&url, &f, "x", b"x").await;
    refused(
        &a,
        403,
        "AccessDenied",
        "Invalid according to Policy: Policy expired.",
    );
    let a = post(&url, &good(&[]), "big.txt", &[b'z'; 2000]).await;
    refused(
        &a,
        400,
        "EntityTooLarge",
        "exceeds the maximum allowed size",
    );
    let a = post(&url, &good(&[]), "empty.txt", b"").await;
    refused(&a, 400, "EntityTooSmall", "smaller than the minimum");
    let mut f = good(&[]);
    let sig = f.iter_mut().find(|(k, _)| *k == "x-amz-signature").unwrap();
    sig.1 = "0".repeat(64);
    let a = post(&url, &f, "x", b"x").await;
    refused(&a, 403, "SignatureDoesNotMatch", "signature");
    for key in [
        "uploads/big.txt",
        "uploads/empty.txt",
        "elsewhere/x",
        "uploads/x",
    ] {
        assert!(
            c.head_object()
                .bucket("forms")
                .key(key)
                .send()
                .await
                .is_err(),
            "{key} must not exist"
        );
    }

    // Malformed forms: 400.
    let r = crate::s3_acl::http()
        .post(&url)
        .header("content-type", "multipart/form-data; boundary=abc")
        .body("this is not a form")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("MalformedPOSTRequest"));
    let (ct, _) = form(&[], "f", b"");
    let r = crate::s3_acl::http()
        .post(&url)
        .header("content-type", ct)
        .body("------nuvemFormBoundary7MA4YWxkTrZu0gW\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n------nuvemFormBoundary7MA4YWxkTrZu0gW--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("POST requires exactly one file upload")
    );

    // A form without a policy is anonymous: refused unless the bucket lets anyone write.
    let a = post(&url, &[("key", "anon".into())], "a", b"a").await;
    refused(&a, 403, "AccessDenied", "Access Denied");

    // Fields nuvem does not apply to forms are refused, not ignored.
    let tagged =
        serde_json::json!([{"bucket": "forms"}, {"key": "t.txt"}, ["starts-with", "$tagging", ""]]);
    let mut f = vec![
        ("key", "t.txt".to_string()),
        ("tagging", "<Tagging></Tagging>".to_string()),
    ];
    f.extend(signed(LATER, tagged));
    let a = post(&url, &f, "t.txt", b"t").await;
    refused(&a, 501, "NotImplemented", "tagging");

    // The acl field, on a bucket with ACLs enabled, makes the upload public.
    c.put_bucket_ownership_controls()
        .bucket("forms")
        .ownership_controls(
            OwnershipControls::builder()
                .rules(
                    OwnershipControlsRule::builder()
                        .object_ownership(ObjectOwnership::ObjectWriter)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let with_acl =
        serde_json::json!([{"bucket": "forms"}, {"key": "pub.txt"}, {"acl": "public-read"}]);
    let mut f = vec![
        ("key", "pub.txt".to_string()),
        ("acl", "public-read".to_string()),
    ];
    f.extend(signed(LATER, with_acl));
    let a = post(&url, &f, "p", b"public").await;
    assert_eq!(a.status, 204, "{}", a.body);
    let r = crate::s3_acl::http()
        .get(format!("{}/forms/pub.txt", nuvem.api_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // The older SigV2 form (AWSAccessKeyId, signature: base64 HMAC-SHA1 of the policy).
    let v2 = base64::engine::general_purpose::STANDARD.encode(
        serde_json::json!({"expiration": LATER, "conditions": [{"bucket": "forms"}, {"key": "v2.txt"}]})
            .to_string(),
    );
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, b"test");
    let v2_sig = base64::engine::general_purpose::STANDARD
        .encode(aws_lc_rs::hmac::sign(&k, v2.as_bytes()).as_ref());
    let f = vec![
        ("key", "v2.txt".to_string()),
        ("AWSAccessKeyId", "test".to_string()),
        ("policy", v2),
        ("signature", v2_sig),
    ];
    let a = post(&url, &f, "v2", b"v2").await;
    assert_eq!(a.status, 204, "{}", a.body);

    // A larger file streams through in many frames.
    let big_conditions = serde_json::json!([{"bucket": "forms"}, {"key": "big.bin"}, ["content-length-range", 0, 20_000_000]]);
    let mut f = vec![("key", "big.bin".to_string())];
    f.extend(signed(LATER, big_conditions));
    let file: Vec<u8> = (0..9_000_000u32).map(|i| (i % 251) as u8).collect();
    let a = post(&url, &f, "big.bin", &file).await;
    assert_eq!(a.status, 204, "{}", a.body);
    let got = c
        .get_object()
        .bucket("forms")
        .key("big.bin")
        .send()
        .await
        .unwrap();
    let data = got.body.collect().await.unwrap().into_bytes();
    assert!(
        data.len() == file.len() && data[..] == file[..],
        "the file round-trips"
    );
}

#[test]
fn s3_post_object_boto3_presigned_post() {
    if !crate::have_boto3("s3_post_object_boto3_presigned_post") {
        return;
    }
    let nuvem = Nuvem::start(BIN);
    crate::run_boto3("s3_post_boto3.py", &nuvem.api_url, "boto3 s3 post: ok");
}

/// SigV2 in a header is refused with S3's own words, naming SigV4 (issue 19).
#[tokio::test(flavor = "multi_thread")]
async fn issue_19_sigv2_header_authentication_is_refused_naming_sigv4() {
    let nuvem = Nuvem::start(BIN);
    let r = crate::s3_acl::http()
        .get(format!("{}/forms", nuvem.api_url))
        .header("authorization", "AWS test:bWFkZS11cC1zaWduYXR1cmU=")
        .header("date", "Sun, 06 Dec 2026 10:00:00 GMT")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("<Code>InvalidRequest</Code>"), "{body}");
    assert!(body.contains("Please use AWS4-HMAC-SHA256"), "{body}");
}
