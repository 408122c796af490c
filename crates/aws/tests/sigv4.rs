//! SigV4 verification against signatures made by others: AWS's published example and the real
//! `aws-sigv4` signer that every aws-sdk-rust client uses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use nuvem_aws::sigv4::{self, AuthError, Keyring, PayloadMode};

const T0: u64 = 1_700_000_000; // 2023-11-14T22:13:20Z

fn keyring() -> Keyring {
    let mut k = Keyring::new();
    k.insert("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    k.insert("test", "test");
    k
}

struct Signed {
    parts: http::request::Parts,
    payload_hash: String,
}

/// Signs a request the way aws-sdk-rust does. (Test helper: the arguments mirror the signer's
/// inputs one to one.)
#[allow(clippy::too_many_arguments)]
fn sign_request(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    service: &str,
    secret: &str,
    presigned: Option<Duration>,
    signed_payload_header: bool,
) -> Signed {
    let identity = Credentials::new("test", secret, None, None, "tests").into();
    let mut settings = SigningSettings::default();
    if signed_payload_header {
        settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    }
    if service == "s3" {
        // What aws-sdk-s3 configures: S3 signs the path as sent, without normalization.
        settings.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
        settings.uri_path_normalization_mode =
            aws_sigv4::http_request::UriPathNormalizationMode::Disabled;
    }
    if let Some(exp) = presigned {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(exp);
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(UNIX_EPOCH + Duration::from_secs(T0))
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let mut req = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(()).unwrap();
    let signable_body = if presigned.is_some() {
        SignableBody::UnsignedPayload
    } else {
        SignableBody::Bytes(body)
    };
    let signable = SignableRequest::new(
        method,
        uri,
        req.headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap())),
        signable_body,
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut req);
    let (parts, ()) = req.into_parts();
    let payload_hash = match parts.headers.get("x-amz-content-sha256") {
        Some(v) => v.to_str().unwrap().to_string(),
        None if presigned.is_some() => sigv4::UNSIGNED_PAYLOAD.to_string(),
        None => sigv4::sha256_hex(body),
    };
    Signed {
        parts,
        payload_hash,
    }
}

fn verify_at(s: &Signed, now: u64) -> Result<sigv4::Verified, AuthError> {
    let parsed = sigv4::parse(&s.parts)?.expect("request is signed");
    sigv4::verify(
        &s.parts,
        &parsed,
        &s.payload_hash,
        &keyring(),
        UNIX_EPOCH + Duration::from_secs(now),
    )
}

#[track_caller]
fn check(s: Signed, now: u64, expected: Result<&str, AuthError>) {
    match (verify_at(&s, now), expected) {
        (Ok(v), Ok(service)) => assert_eq!(v.service, service),
        (Err(e), Err(expected)) => assert_eq!(e, expected),
        (got, expected) => panic!("got {got:?}, expected {expected:?}"),
    }
}

const DDB: &[(&str, &str)] = &[
    ("content-type", "application/x-amz-json-1.0"),
    ("x-amz-target", "DynamoDB_20120810.ListTables"),
];

#[test]
fn header_signatures_from_aws_sigv4() {
    let ddb = |body: &[u8], secret| {
        sign_request(
            "POST",
            "http://localhost:4566/",
            DDB,
            body,
            "dynamodb",
            secret,
            None,
            false,
        )
    };
    check(ddb(b"{}", "test"), T0, Ok("dynamodb"));
    check(ddb(b"{}", "test"), T0 + 14 * 60, Ok("dynamodb"));
    check(ddb(b"{}", "wrong"), T0, Err(AuthError::SignatureMismatch));
    check(ddb(b"{}", "test"), T0 + 16 * 60, Err(AuthError::TimeSkewed));
    check(ddb(b"{}", "test"), T0 - 16 * 60, Err(AuthError::TimeSkewed));

    // A body other than the one signed.
    let mut tampered = ddb(b"{}", "test");
    tampered.payload_hash = sigv4::sha256_hex(b"{\"Limit\":1}");
    check(tampered, T0, Err(AuthError::SignatureMismatch));

    // S3 style: path signed as sent, x-amz-content-sha256 header, odd keys and queries.
    let s3 = sign_request(
        "PUT",
        "http://localhost:4566/bucket/a%20b/%E2%82%AC/c~d?x-id=PutObject&tagging=&z=1%2B2",
        &[
            ("content-type", "text/plain"),
            ("x-amz-meta-who", "  many   spaces  "),
        ],
        b"hello",
        "s3",
        "test",
        None,
        true,
    );
    check(s3, T0, Ok("s3"));

    // Lambda style: path with characters that get double-encoded.
    let lambda = sign_request(
        "POST",
        "http://localhost:4566/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Ahello/invocations",
        &[],
        b"{}",
        "lambda",
        "test",
        None,
        false,
    );
    check(lambda, T0, Ok("lambda"));
}

#[test]
fn presigned_urls_from_aws_sigv4() {
    let url = "http://localhost:4566/bucket/photo.jpg?response-content-type=image%2Fjpeg";
    let presign = |secret, exp| {
        sign_request(
            "GET",
            url,
            &[],
            b"",
            "s3",
            secret,
            Some(Duration::from_secs(exp)),
            false,
        )
    };
    check(presign("test", 300), T0 + 299, Ok("s3"));
    check(presign("test", 300), T0 + 301, Err(AuthError::Expired));
    check(presign("wrong", 300), T0, Err(AuthError::SignatureMismatch));
    // Presigned URLs may be used long after signing, within their expiry.
    check(presign("test", 604_800), T0 + 600_000, Ok("s3"));
}

#[test]
fn malformed_signatures() {
    let req = |auth: &str| {
        let (parts, ()) = http::Request::builder()
            .uri("/")
            .header("authorization", auth)
            .header("x-amz-date", "20231114T221320Z")
            .body(())
            .unwrap()
            .into_parts();
        sigv4::parse(&parts)
    };
    assert!(matches!(
        req("AWS4-HMAC-SHA256 Credential=x"),
        Err(AuthError::MalformedAuthorization(_))
    ));
    assert_eq!(req("AWS abc:def"), Err(AuthError::SigV2Header));
    let refusal = AuthError::SigV2Header.to_aws_error(nuvem_aws::Protocol::RestXml);
    assert_eq!(
        (refusal.status.as_u16(), refusal.code),
        (400, "InvalidRequest")
    );
    assert!(matches!(
        req("AWS3 abc"),
        Err(AuthError::UnsupportedAlgorithm(_))
    ));
    assert!(matches!(
        req("AWS4-HMAC-SHA256 Credential=test/2023/us-east-1/s3, SignedHeaders=host, Signature=00"),
        Err(AuthError::MalformedAuthorization(_))
    ));
    let (parts, ()) = http::Request::builder()
        .uri("/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=test%2F20231114%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20231114T221320Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=00")
        .body(())
        .unwrap()
        .into_parts();
    assert_eq!(sigv4::parse(&parts), Err(AuthError::InvalidExpires));
    let (parts, ()) = http::Request::builder()
        .uri("/b/k")
        .body(())
        .unwrap()
        .into_parts();
    assert_eq!(sigv4::parse(&parts), Ok(None), "anonymous");
}

/// The example from AWS's "Examples of the complete Signature Version 4 signing process"
/// (IAM ListUsers, 2015-08-30), verified with the published signature.
#[test]
fn aws_published_example() {
    let (parts, ()) = http::Request::builder()
        .method("GET")
        .uri("https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08")
        .header("host", "iam.amazonaws.com")
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .header("x-amz-date", "20150830T123600Z")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        )
        .body(())
        .unwrap()
        .into_parts();
    let parsed = sigv4::parse(&parts).unwrap().unwrap();
    let hash = sigv4::sha256_hex(b"");
    let canonical = sigv4::canonical_request(&parts, &parsed, &hash).unwrap();
    assert_eq!(
        sigv4::sha256_hex(canonical.as_bytes()),
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59",
        "canonical request hash from the AWS example"
    );
    let now = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    let verified = sigv4::verify(&parts, &parsed, &hash, &keyring(), now).unwrap();
    assert_eq!(verified.region, "us-east-1");
    assert_eq!(
        hex::encode(sigv4::signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam"
        )),
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    );
    let _ = SystemTime::now();
}

#[test]
fn payload_modes() {
    assert_eq!(
        PayloadMode::parse("UNSIGNED-PAYLOAD"),
        Ok(PayloadMode::Unsigned)
    );
    assert_eq!(
        PayloadMode::parse("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        Ok(PayloadMode::StreamingSigned)
    );
    assert_eq!(
        PayloadMode::parse("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        Ok(PayloadMode::StreamingUnsignedTrailer)
    );
    assert_eq!(
        PayloadMode::parse("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"),
        Ok(PayloadMode::StreamingSignedTrailer)
    );
    assert_eq!(
        PayloadMode::parse(&sigv4::sha256_hex(b"")),
        Ok(PayloadMode::Sha256(sha_empty()))
    );
    assert_eq!(
        PayloadMode::parse("abc"),
        Err(AuthError::InvalidContentSha256)
    );
    assert!(PayloadMode::StreamingSigned.is_streaming());
}

fn sha_empty() -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        &mut out,
    )
    .unwrap();
    out
}

const CREDENTIAL: &str = "test/20231114/us-east-1/s3/aws4_request";

/// What `parse` makes of a request with these headers (issue 15: ambiguity is refused).
#[track_caller]
fn check_parse(uri: &str, headers: &[(&str, &str)], expected: Result<(), AuthError>) {
    let mut req = http::Request::builder().uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (parts, ()) = req.body(()).unwrap().into_parts();
    match (sigv4::parse(&parts), expected) {
        (Ok(Some(_)), Ok(())) => {}
        (Err(got), Err(expected)) => assert_eq!(got, expected),
        (got, expected) => panic!("got {got:?}, expected {expected:?}"),
    }
}

fn auth(signed_headers: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={CREDENTIAL}, SignedHeaders={signed_headers}, Signature=00"
    )
}

fn presigned_query(signed_headers: &str) -> String {
    format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=test%2F20231114%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20231114T221320Z&X-Amz-Expires=300&X-Amz-SignedHeaders={signed_headers}&X-Amz-Signature=00"
    )
}

#[test]
fn issue_15_ambiguous_or_incomplete_signatures_are_refused() {
    let date = ("x-amz-date", "20231114T221320Z");
    let a = auth("host;x-amz-date");
    check_parse("/b/k", &[("authorization", &a), date], Ok(()));
    // host must be signed, in the header and in the query.
    let no_host = auth("x-amz-date");
    check_parse(
        "/b/k",
        &[("authorization", &no_host), date],
        Err(AuthError::HostNotSigned),
    );
    check_parse(&format!("/b/k?{}", presigned_query("host")), &[], Ok(()));
    check_parse(
        &format!("/b/k?{}", presigned_query("x-amz-meta-a")),
        &[],
        Err(AuthError::HostNotSigned),
    );
    // Two Authorization headers; a header and a presigned query; SigV4 and SigV2 queries.
    check_parse(
        "/b/k",
        &[("authorization", &a), ("authorization", &a), date],
        Err(AuthError::MultipleAuth),
    );
    check_parse(
        &format!("/b/k?{}", presigned_query("host")),
        &[("authorization", &a), date],
        Err(AuthError::MultipleAuth),
    );
    check_parse(
        &format!("/b/k?{}&Signature=abc", presigned_query("host")),
        &[],
        Err(AuthError::MultipleAuth),
    );
    // A field of the header, or a parameter of the query, given twice.
    let twice = format!("{a}, Signature=11");
    check_parse(
        "/b/k",
        &[("authorization", &twice), date],
        Err(AuthError::MalformedAuthorization(
            "Signature given more than once".into(),
        )),
    );
    check_parse(
        &format!("/b/k?{}&X-Amz-Signature=11", presigned_query("host")),
        &[],
        Err(AuthError::MalformedQuery(
            "X-Amz-Signature given more than once".into(),
        )),
    );
    check_parse(
        &format!(
            "/b/k?{}&X-Amz-Credential=other%2F20231114%2Fus-east-1%2Fs3%2Faws4_request",
            presigned_query("host")
        ),
        &[],
        Err(AuthError::MalformedQuery(
            "X-Amz-Credential given more than once".into(),
        )),
    );
}

#[test]
fn issue_15_s3_refuses_unsigned_amz_headers() {
    let url = "http://localhost:4566/bucket/k";
    let presign = || {
        sign_request(
            "PUT",
            url,
            &[],
            b"",
            "s3",
            "test",
            Some(Duration::from_secs(300)),
            false,
        )
    };
    let with = |mut s: Signed, headers: &[(&'static str, &'static str)]| {
        for (k, v) in headers {
            s.parts
                .headers
                .append(*k, http::HeaderValue::from_static(v));
        }
        s
    };
    check(presign(), T0, Ok("s3"));
    // x-amz-content-sha256 is exempt: its value is bound to the body anyway.
    check(
        with(presign(), &[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]),
        T0,
        Ok("s3"),
    );
    check(
        with(
            presign(),
            &[("x-amz-meta-owner", "mallory"), ("x-amz-tagging", "a=b")],
        ),
        T0,
        Err(AuthError::HeadersNotSigned(vec![
            "x-amz-meta-owner".into(),
            "x-amz-tagging".into(),
        ])),
    );
    // Header-signed requests too; an unsigned header that is not x-amz-* is fine.
    let header_signed = || {
        sign_request(
            "PUT",
            url,
            &[("x-amz-meta-a", "1")],
            b"hi",
            "s3",
            "test",
            None,
            true,
        )
    };
    check(header_signed(), T0, Ok("s3"));
    check(
        with(header_signed(), &[("content-disposition", "inline")]),
        T0,
        Ok("s3"),
    );
    check(
        with(header_signed(), &[("x-amz-acl", "public-read")]),
        T0,
        Err(AuthError::HeadersNotSigned(vec!["x-amz-acl".into()])),
    );
    // The rule is S3's; AWS does not enforce it for other services.
    let mut ddb = sign_request(
        "POST",
        "http://localhost:4566/",
        DDB,
        b"{}",
        "dynamodb",
        "test",
        None,
        false,
    );
    ddb.parts
        .headers
        .insert("x-amz-extra", http::HeaderValue::from_static("1"));
    check(ddb, T0, Ok("dynamodb"));
}

#[test]
fn issue_15_precheck_needs_no_body() {
    let signed = |secret| {
        sign_request(
            "POST",
            "http://localhost:4566/",
            DDB,
            b"{}",
            "dynamodb",
            secret,
            None,
            false,
        )
    };
    let precheck = |s: &Signed, now: u64| {
        let parsed = sigv4::parse(&s.parts).unwrap().unwrap();
        sigv4::precheck(&parsed, &keyring(), UNIX_EPOCH + Duration::from_secs(now))
    };
    // A wrong secret passes the precheck: only the HMAC, over the body, can tell.
    assert_eq!(precheck(&signed("wrong"), T0), Ok(()));
    assert_eq!(
        precheck(&signed("test"), T0 + 16 * 60),
        Err(AuthError::TimeSkewed)
    );
    let mut unknown = signed("test");
    let auth = unknown.parts.headers["authorization"]
        .to_str()
        .unwrap()
        .replace("Credential=test/", "Credential=nobody/");
    unknown
        .parts
        .headers
        .insert("authorization", auth.parse().unwrap());
    assert_eq!(
        precheck(&unknown, T0),
        Err(AuthError::UnknownAccessKey("nobody".into()))
    );
}
