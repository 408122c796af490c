//! SigV2 presigned URLs, checked before s3s (issue 15): AWS's example from "Query string
//! request authentication" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/RESTAuthentication.html),
//! with the signature s3s's own test of that example computes.

use std::time::{Duration, UNIX_EPOCH};

use nuvem_aws::sigv4::Keyring;
use nuvem_s3::sigv2::{self, Refusal};

const EXPIRES: u64 = 1_175_139_620;
const SIGNATURE: &str = "1No4mq5ETf02z8aet9voy6gui6E%3D";

#[track_caller]
fn check(query: &str, now: u64, expected: Result<(), Refusal>) {
    let mut keyring = Keyring::new();
    keyring.insert(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    let (parts, ()) = http::Request::builder()
        .uri(format!("/photos/puppy.jpg?{query}"))
        .header("host", "awsexamplebucket1.s3.localhost")
        .body(())
        .unwrap()
        .into_parts();
    let got = sigv2::check_presigned(
        &parts,
        Some("awsexamplebucket1"),
        &keyring,
        UNIX_EPOCH + Duration::from_secs(now),
    );
    assert_eq!(got, expected, "{query}");
}

fn url(key: &str, expires: u64, signature: &str) -> String {
    format!("AWSAccessKeyId={key}&Expires={expires}&Signature={signature}")
}

#[test]
fn issue_15_sigv2_signature_of_the_aws_example() {
    let (parts, ()) = http::Request::builder()
        .uri(format!(
            "/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires={EXPIRES}"
        ))
        .body(())
        .unwrap()
        .into_parts();
    assert_eq!(
        sigv2::signature(
            &parts,
            Some("awsexamplebucket1"),
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        ),
        "1No4mq5ETf02z8aet9voy6gui6E="
    );
}

#[test]
fn issue_15_sigv2_presigned_urls() {
    let valid = url("AKIAIOSFODNN7EXAMPLE", EXPIRES, SIGNATURE);
    check(&valid, EXPIRES - 60, Ok(()));
    check("", EXPIRES, Ok(()));
    check("versionId=1", EXPIRES, Ok(()));
    check(&valid, EXPIRES + 1, Err(Refusal::Expired));
    // Seven days is the longest life, counted from now.
    check(&valid, EXPIRES - 604_800, Ok(()));
    check(&valid, EXPIRES - 604_801, Err(Refusal::TooLong));
    check(
        &url(
            "AKIAIOSFODNN7EXAMPLE",
            EXPIRES,
            "0No4mq5ETf02z8aet9voy6gui6E%3D",
        ),
        EXPIRES - 60,
        Err(Refusal::SignatureMismatch),
    );
    check(
        &url("AKIAIOSFODNN7EXAMPLE", EXPIRES - 1, SIGNATURE),
        EXPIRES - 60,
        Err(Refusal::SignatureMismatch),
    );
    check(
        &url("nobody", EXPIRES, SIGNATURE),
        EXPIRES - 60,
        Err(Refusal::UnknownAccessKey),
    );
    check(
        &format!("{valid}&Signature=AAAA"),
        EXPIRES - 60,
        Err(Refusal::Malformed),
    );
    check(
        &format!("Expires={EXPIRES}&Signature={SIGNATURE}"),
        EXPIRES - 60,
        Err(Refusal::Malformed),
    );
}
