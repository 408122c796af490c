//! Issue 15: the limits AWS puts on what a client attaches to an object or a bucket, through
//! aws-sdk-s3 against the real binary. Each refusal is AWS's error, and leaves nothing behind:
//! no object, no upload, no changed tags, no CORS configuration.
//!
//! - User-defined metadata: 2 KB, the sum of the UTF-8 bytes of each key and value
//!   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html#UserMetadata),
//!   400 `MetadataTooLarge`.
//! - Object tags: at most 10, unique keys of up to 128 characters, values of up to 256
//!   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-tagging.html).
//! - CORS: "The CORS configuration can have up to 100 rules"
//!   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/cors.html).

use std::fmt::Debug;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CorsConfiguration, CorsRule, MetadataDirective, Tag, Tagging, TaggingDirective,
};
use nuvem_testkit::Nuvem;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

/// The status and code of a refused request; panics if it succeeded.
#[track_caller]
fn refused<T: Debug, E: ProvideErrorMetadata + Debug>(
    r: Result<T, SdkError<E, HttpResponse>>,
) -> (u16, String, String) {
    let e = r.expect_err("the request must be refused");
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    let code = e.code().unwrap_or_default().to_string();
    let message = e.message().unwrap_or_default().to_string();
    (status, code, message)
}

#[track_caller]
fn check(got: (u16, String, String), status: u16, code: &str, message: &str) {
    assert_eq!(
        (got.0, got.1.as_str(), got.2.as_str()),
        (status, code, message)
    );
}

const TOO_MANY_TAGS: &str = "Object tags cannot be greater than 10";
const BAD_KEY: &str = "The TagKey you have provided is invalid";
const BAD_VALUE: &str = "The TagValue you have provided is invalid";
const BAD_HEADER: &str = "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.";
const METADATA: &str = "Your metadata headers exceed the maximum allowed metadata size.";

/// An `x-amz-tagging` header of `n` distinct tags.
fn header_tags(n: usize) -> String {
    (0..n)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join("&")
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().unwrap()
}

async fn exists(c: &aws_sdk_s3::Client, key: &str) -> bool {
    c.head_object().bucket("lim").key(key).send().await.is_ok()
}

async fn uploads(c: &aws_sdk_s3::Client) -> usize {
    c.list_multipart_uploads()
        .bucket("lim")
        .send()
        .await
        .unwrap()
        .uploads()
        .len()
}

#[tokio::test]
async fn issue_15_user_metadata_is_limited_to_2_kb() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("lim").send().await.unwrap();
    let put = |key: &str, k: &str, v: String| {
        c.put_object()
            .bucket("lim")
            .key(key)
            .metadata(k, v)
            .body(ByteStream::from_static(b"x"))
            .send()
    };

    // Exactly 2 KB: "k" and 2047 bytes.
    let full = "v".repeat(2047);
    put("full", "k", full.clone()).await.unwrap();
    let head = c
        .head_object()
        .bucket("lim")
        .key("full")
        .send()
        .await
        .unwrap();
    assert_eq!(head.metadata().unwrap().get("k"), Some(&full));

    // One byte more: the key counts too.
    check(
        refused(put("over", "kk", full.clone()).await),
        400,
        "MetadataTooLarge",
        METADATA,
    );
    assert!(!exists(&c, "over").await, "nothing was stored");

    // Multipart uploads and copies that replace the metadata are held to the same limit.
    let r = c
        .create_multipart_upload()
        .bucket("lim")
        .key("mpu")
        .metadata("kk", full.clone())
        .send()
        .await;
    check(refused(r), 400, "MetadataTooLarge", METADATA);
    assert_eq!(uploads(&c).await, 0, "no upload was created");
    let r = c
        .copy_object()
        .bucket("lim")
        .key("copy")
        .copy_source("lim/full")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("kk", full.clone())
        .send()
        .await;
    check(refused(r), 400, "MetadataTooLarge", METADATA);
    assert!(!exists(&c, "copy").await, "nothing was copied");
    // In place, too: the object keeps its metadata.
    let r = c
        .copy_object()
        .bucket("lim")
        .key("full")
        .copy_source("lim/full")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("other", "x".repeat(2048))
        .send()
        .await;
    check(refused(r), 400, "MetadataTooLarge", METADATA);
    let head = c
        .head_object()
        .bucket("lim")
        .key("full")
        .send()
        .await
        .unwrap();
    assert_eq!(head.metadata().unwrap().get("k"), Some(&full));
}

#[tokio::test]
async fn issue_15_object_tags_are_limited() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("lim").send().await.unwrap();
    let put = |key: &str, tagging: String| {
        c.put_object()
            .bucket("lim")
            .key(key)
            .tagging(tagging)
            .body(ByteStream::from_static(b"x"))
            .send()
    };

    // Ten tags of the longest key and value are accepted.
    let longest = format!("{}={}&", "k".repeat(128), "v".repeat(256)) + &header_tags(9);
    put("ok", longest).await.unwrap();
    let tags = c
        .get_object_tagging()
        .bucket("lim")
        .key("ok")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set().len(), 10);

    // PutObject's header.
    let cases = [
        (header_tags(11), "BadRequest", TOO_MANY_TAGS),
        (format!("{}=v", "k".repeat(129)), "InvalidTag", BAD_KEY),
        (format!("k={}", "v".repeat(257)), "InvalidTag", BAD_VALUE),
        ("a=1&a=2".to_string(), "InvalidArgument", BAD_HEADER),
    ];
    for (tagging, code, message) in &cases {
        check(
            refused(put("no", tagging.clone()).await),
            400,
            code,
            message,
        );
        assert!(!exists(&c, "no").await, "{tagging}: nothing was stored");
    }

    // CreateMultipartUpload and CopyObject with REPLACE take the same header.
    for (tagging, code, message) in &cases {
        let r = c
            .create_multipart_upload()
            .bucket("lim")
            .key("mpu")
            .tagging(tagging)
            .send()
            .await;
        check(refused(r), 400, code, message);
        let r = c
            .copy_object()
            .bucket("lim")
            .key("copy")
            .copy_source("lim/ok")
            .tagging_directive(TaggingDirective::Replace)
            .tagging(tagging)
            .send()
            .await;
        check(refused(r), 400, code, message);
    }
    assert_eq!(uploads(&c).await, 0, "no upload was created");
    assert!(!exists(&c, "copy").await, "nothing was copied");

    // PutObjectTagging's document: a repeated key is InvalidTag here.
    let before = c
        .get_object_tagging()
        .bucket("lim")
        .key("ok")
        .send()
        .await
        .unwrap()
        .tag_set()
        .to_vec();
    let eleven: Vec<Tag> = (0..11).map(|i| tag(&format!("k{i}"), "v")).collect();
    let documents = [
        (eleven, "BadRequest", TOO_MANY_TAGS),
        (vec![tag(&"k".repeat(129), "v")], "InvalidTag", BAD_KEY),
        (vec![tag("k", &"v".repeat(257))], "InvalidTag", BAD_VALUE),
        (
            vec![tag("a", "1"), tag("a", "2")],
            "InvalidTag",
            "Cannot provide multiple Tags with the same key",
        ),
    ];
    for (set, code, message) in documents {
        let r = c
            .put_object_tagging()
            .bucket("lim")
            .key("ok")
            .tagging(Tagging::builder().set_tag_set(Some(set)).build().unwrap())
            .send()
            .await;
        check(refused(r), 400, code, message);
    }
    let after = c
        .get_object_tagging()
        .bucket("lim")
        .key("ok")
        .send()
        .await
        .unwrap()
        .tag_set()
        .to_vec();
    assert_eq!(after, before, "the object kept its tags");
}

#[tokio::test]
async fn issue_15_cors_configuration_has_at_most_100_rules() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("lim").send().await.unwrap();
    let rules = |n: usize| {
        let rules = (0..n)
            .map(|i| {
                CorsRule::builder()
                    .allowed_methods("GET")
                    .allowed_origins(format!("https://{i}.example.com"))
                    .build()
                    .unwrap()
            })
            .collect();
        CorsConfiguration::builder()
            .set_cors_rules(Some(rules))
            .build()
            .unwrap()
    };
    let r = c
        .put_bucket_cors()
        .bucket("lim")
        .cors_configuration(rules(101))
        .send()
        .await;
    check(
        refused(r),
        400,
        "InvalidRequest",
        "The number of CORS rules should not exceed allowed limit of 100 rules.",
    );
    let r = c.get_bucket_cors().bucket("lim").send().await;
    assert_eq!(
        refused(r).1,
        "NoSuchCORSConfiguration",
        "nothing was stored"
    );

    c.put_bucket_cors()
        .bucket("lim")
        .cors_configuration(rules(100))
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_cors().bucket("lim").send().await.unwrap();
    assert_eq!(got.cors_rules().len(), 100);
}
