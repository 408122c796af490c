//! The S3-compatible object store end to end: aws-sdk-s3 (over HTTP, and over HTTPS where the
//! SDK switches to aws-chunked uploads with trailing checksums), presigned URLs used by a plain
//! HTTP client, and anonymous access governed by the bucket policy.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, MetadataDirective, ObjectIdentifier,
};
use nuvem_testkit::{Nuvem, Options};

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

/// A plain HTTP client (reqwest needs its TLS provider chosen explicitly).
pub(crate) fn http() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .unwrap()
}

/// An aws-sdk-s3 client on the TLS listener, trusting the generated certificate.
fn tls_client(nuvem: &Nuvem) -> Client {
    use aws_smithy_http_client::tls;
    let pem = std::fs::read(nuvem.dir().join("data/tls/cert.pem")).unwrap();
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(
            tls::TlsContext::builder()
                .with_trust_store(tls::TrustStore::empty().with_pem_certificate(pem))
                .build()
                .unwrap(),
        )
        .build_https();
    let url = nuvem
        .api_tls_url
        .clone()
        .unwrap()
        .replace("127.0.0.1", "localhost");
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(nuvem.credentials())
        .endpoint_url(url)
        .force_path_style(true)
        .http_client(http)
        .build();
    Client::from_conf(conf)
}

async fn body(c: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = c.get_object().bucket(bucket).key(key).send().await.unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

#[track_caller]
fn check_code<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, E>,
    code: &str,
) {
    match r {
        Ok(v) => panic!("expected {code}, got {v:?}"),
        Err(e) => assert_eq!(e.code(), Some(code), "{e:?}"),
    }
}

/// Buckets and objects: the core a client needs, run over HTTP and HTTPS.
async fn buckets_and_objects(c: &Client) {
    c.create_bucket().bucket("photos").send().await.unwrap();
    // Re-creating your own bucket answers 200 in us-east-1, as AWS does (409 elsewhere:
    // s3_exactness).
    c.create_bucket().bucket("photos").send().await.unwrap();
    check_code(
        c.create_bucket().bucket("Bad_Name").send().await,
        "InvalidBucketName",
    );
    c.head_bucket().bucket("photos").send().await.unwrap();
    let names: Vec<_> = c
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name.clone())
        .collect();
    assert_eq!(names, ["photos"]);

    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let put = c
        .put_object()
        .bucket("photos")
        .key("2024/cat.jpg")
        .content_type("image/jpeg")
        .metadata("owner", "ana")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let etag = put.e_tag.unwrap();
    assert_eq!(etag.trim_matches('"').len(), 32);
    assert_eq!(body(c, "photos", "2024/cat.jpg").await, data);
    let head = c
        .head_object()
        .bucket("photos")
        .key("2024/cat.jpg")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length, Some(200_000));
    assert_eq!(head.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(
        head.metadata.unwrap().get("owner").map(String::as_str),
        Some("ana")
    );
    assert_eq!(head.e_tag.as_deref(), Some(etag.as_str()));

    // Keys are never paths: all of these are distinct, legal keys.
    let long = "k".repeat(1024);
    let keys = [
        "a",
        "a/b",
        "a//c",
        "../x",
        "trailing/",
        "ünï cødé",
        long.as_str(),
    ];
    for k in keys {
        c.put_object()
            .bucket("photos")
            .key(k)
            .body(ByteStream::from(k.as_bytes().to_vec()))
            .send()
            .await
            .unwrap();
    }
    for k in keys {
        assert_eq!(body(c, "photos", k).await, k.as_bytes(), "key {k}");
    }

    let list = c
        .list_objects_v2()
        .bucket("photos")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let top: Vec<_> = list
        .contents()
        .iter()
        .filter_map(|o| o.key.clone())
        .collect();
    let prefixes: Vec<_> = list
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix.clone())
        .collect();
    assert_eq!(top, ["a", long.as_str(), "ünï cødé"]);
    assert_eq!(prefixes, ["../", "2024/", "a/", "trailing/"]);
    let page = c
        .list_objects_v2()
        .bucket("photos")
        .max_keys(3)
        .send()
        .await
        .unwrap();
    assert_eq!(page.key_count, Some(3));
    assert_eq!(page.is_truncated, Some(true));
    let rest = c
        .list_objects_v2()
        .bucket("photos")
        .continuation_token(page.next_continuation_token.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.key_count, Some(5));
    // UTF-8 binary order: '/' (0x2F) sorts before 'b'.
    assert_eq!(rest.contents()[0].key.as_deref(), Some("a//c"));

    check_code(
        c.get_object().bucket("photos").key("nope").send().await,
        "NoSuchKey",
    );
    check_code(
        c.get_object().bucket("nobucket").key("k").send().await,
        "NoSuchBucket",
    );
    check_code(
        c.delete_bucket().bucket("photos").send().await,
        "BucketNotEmpty",
    );

    c.delete_object()
        .bucket("photos")
        .key("a")
        .send()
        .await
        .unwrap();
    check_code(
        c.head_object().bucket("photos").key("a").send().await,
        "NotFound",
    );
    let all: Vec<_> = c
        .list_objects_v2()
        .bucket("photos")
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key.clone())
        .collect();
    let mut ids = Vec::new();
    for k in all {
        ids.push(ObjectIdentifier::builder().key(k).build().unwrap());
    }
    let del = c
        .delete_objects()
        .bucket("photos")
        .delete(
            Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(del.errors().is_empty() && del.deleted().is_empty());
    c.delete_bucket().bucket("photos").send().await.unwrap();
    check_code(c.head_bucket().bucket("photos").send().await, "NotFound");
}

#[tokio::test]
async fn buckets_and_objects_over_http() {
    let nuvem = Nuvem::start(BIN);
    buckets_and_objects(&nuvem.s3()).await;
}

#[tokio::test]
async fn buckets_and_objects_over_https_with_aws_chunked_trailers() {
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            tls: true,
            ..Default::default()
        },
    );
    buckets_and_objects(&tls_client(&nuvem)).await;
}

#[tokio::test]
async fn multipart_upload_over_https() {
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            tls: true,
            ..Default::default()
        },
    );
    let c = tls_client(&nuvem);
    c.create_bucket().bucket("videos").send().await.unwrap();
    let part1: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect();
    let part2 = b"the end".to_vec();
    let up = c
        .create_multipart_upload()
        .bucket("videos")
        .key("clip.mp4")
        .content_type("video/mp4")
        .send()
        .await
        .unwrap();
    let id = up.upload_id.unwrap();
    let mut parts = Vec::new();
    for (n, data) in [(1, &part1), (2, &part2)] {
        let p = c
            .upload_part()
            .bucket("videos")
            .key("clip.mp4")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag.unwrap())
                .build(),
        );
    }
    let listed = c
        .list_parts()
        .bucket("videos")
        .key("clip.mp4")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), 2);
    // Parts out of order are refused, and nothing becomes visible.
    let reversed = CompletedMultipartUpload::builder()
        .set_parts(Some(parts.iter().rev().cloned().collect()))
        .build();
    check_code(
        c.complete_multipart_upload()
            .bucket("videos")
            .key("clip.mp4")
            .upload_id(&id)
            .multipart_upload(reversed)
            .send()
            .await,
        "InvalidPartOrder",
    );
    let done = c
        .complete_multipart_upload()
        .bucket("videos")
        .key("clip.mp4")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(done.e_tag.unwrap().ends_with("-2\""));
    let mut whole = part1.clone();
    whole.extend_from_slice(&part2);
    assert_eq!(body(&c, "videos", "clip.mp4").await, whole);
    // A range across the part boundary, and partNumber reads.
    let start = part1.len() - 3;
    let r = c
        .get_object()
        .bucket("videos")
        .key("clip.mp4")
        .range(format!("bytes={start}-{}", start + 5))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.content_range.as_deref(),
        Some(format!("bytes {start}-{}/{}", start + 5, whole.len()).as_str())
    );
    assert_eq!(
        r.body.collect().await.unwrap().into_bytes().to_vec(),
        whole[start..start + 6]
    );
    let p2 = c
        .get_object()
        .bucket("videos")
        .key("clip.mp4")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(p2.parts_count, Some(2));
    assert_eq!(
        p2.body.collect().await.unwrap().into_bytes().to_vec(),
        part2
    );

    // A small first part is refused at completion.
    let up = c
        .create_multipart_upload()
        .bucket("videos")
        .key("small")
        .send()
        .await
        .unwrap();
    let id = up.upload_id.unwrap();
    let mut parts = Vec::new();
    for n in 1..=2 {
        let p = c
            .upload_part()
            .bucket("videos")
            .key("small")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from_static(b"tiny"))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag.unwrap())
                .build(),
        );
    }
    check_code(
        c.complete_multipart_upload()
            .bucket("videos")
            .key("small")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await,
        "EntityTooSmall",
    );
    let uploads = c
        .list_multipart_uploads()
        .bucket("videos")
        .send()
        .await
        .unwrap();
    assert_eq!(uploads.uploads().len(), 1);
    c.abort_multipart_upload()
        .bucket("videos")
        .key("small")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    check_code(
        c.list_parts()
            .bucket("videos")
            .key("small")
            .upload_id(&id)
            .send()
            .await,
        "NoSuchUpload",
    );
    check_code(
        c.head_object().bucket("videos").key("small").send().await,
        "NotFound",
    );
}

#[tokio::test]
async fn copy_range_and_conditionals() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("docs").send().await.unwrap();
    let put = c
        .put_object()
        .bucket("docs")
        .key("a.txt")
        .content_type("text/plain")
        .metadata("v", "1")
        .body(ByteStream::from_static(b"0123456789"))
        .send()
        .await
        .unwrap();
    let etag = put.e_tag.unwrap();

    c.copy_object()
        .bucket("docs")
        .key("b.txt")
        .copy_source("docs/a.txt")
        .send()
        .await
        .unwrap();
    let b = c
        .head_object()
        .bucket("docs")
        .key("b.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(b.metadata.unwrap().get("v").map(String::as_str), Some("1"));
    c.copy_object()
        .bucket("docs")
        .key("c.txt")
        .copy_source("docs/a.txt")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("v", "2")
        .content_type("text/csv")
        .send()
        .await
        .unwrap();
    let cc = c
        .head_object()
        .bucket("docs")
        .key("c.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(cc.metadata.unwrap().get("v").map(String::as_str), Some("2"));
    assert_eq!(cc.content_type.as_deref(), Some("text/csv"));
    assert_eq!(body(&c, "docs", "c.txt").await, b"0123456789");

    for (range, expected) in [
        ("bytes=2-5", &b"2345"[..]),
        ("bytes=7-", b"789"),
        ("bytes=-3", b"789"),
        ("bytes=8-100", b"89"),
    ] {
        let r = c
            .get_object()
            .bucket("docs")
            .key("a.txt")
            .range(range)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.body.collect().await.unwrap().into_bytes().as_ref(),
            expected,
            "{range}"
        );
    }
    check_code(
        c.get_object()
            .bucket("docs")
            .key("a.txt")
            .range("bytes=10-")
            .send()
            .await,
        "InvalidRange",
    );

    c.get_object()
        .bucket("docs")
        .key("a.txt")
        .if_match(&etag)
        .send()
        .await
        .unwrap();
    check_code(
        c.get_object()
            .bucket("docs")
            .key("a.txt")
            .if_match("\"nope\"")
            .send()
            .await,
        "PreconditionFailed",
    );
    let not_modified = c
        .get_object()
        .bucket("docs")
        .key("a.txt")
        .if_none_match(&etag)
        .send()
        .await;
    assert_eq!(
        not_modified
            .unwrap_err()
            .raw_response()
            .map(|r| r.status().as_u16()),
        Some(304)
    );
    // Conditional create: If-None-Match: * refuses to overwrite.
    check_code(
        c.put_object()
            .bucket("docs")
            .key("a.txt")
            .if_none_match("*")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "PreconditionFailed",
    );
    c.put_object()
        .bucket("docs")
        .key("new.txt")
        .if_none_match("*")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(body(&c, "docs", "a.txt").await, b"0123456789");

    // A wrong Content-MD5 is refused before anything is stored.
    check_code(
        c.put_object()
            .bucket("docs")
            .key("a.txt")
            .content_md5("1B2M2Y8AsgTpgAmY7PhCfg==")
            .body(ByteStream::from_static(b"changed"))
            .send()
            .await,
        "BadDigest",
    );
    assert_eq!(body(&c, "docs", "a.txt").await, b"0123456789");

    // Versioning answers for unversioned buckets.
    let v = c
        .get_bucket_versioning()
        .bucket("docs")
        .send()
        .await
        .unwrap();
    assert!(v.status.is_none());
    let versions = c
        .list_object_versions()
        .bucket("docs")
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 4);
    assert!(
        versions
            .versions()
            .iter()
            .all(|v| v.version_id.as_deref() == Some("null"))
    );
}

#[tokio::test]
async fn presigned_get_and_put_with_a_plain_http_client() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("uploads").send().await.unwrap();
    let conf = PresigningConfig::expires_in(std::time::Duration::from_secs(300)).unwrap();
    let put = c
        .put_object()
        .bucket("uploads")
        .key("from-browser.txt")
        .presigned(conf.clone())
        .await
        .unwrap();
    let http = http();
    let resp = http
        .put(put.uri())
        .body("hello from a browser")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let get = c
        .get_object()
        .bucket("uploads")
        .key("from-browser.txt")
        .presigned(conf)
        .await
        .unwrap();
    let resp = http.get(get.uri()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "hello from a browser");
    // A tampered presigned URL is refused.
    let bad = get.uri().replace("from-browser.txt", "other.txt");
    let resp = http.get(bad).send().await.unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn manifest_bucket_is_uploaded_and_public_read_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("site/img")).unwrap();
    std::fs::write(dir.path().join("site/index.html"), "<h1>oi</h1>").unwrap();
    std::fs::write(dir.path().join("site/img/logo.svg"), "<svg/>").unwrap();
    let manifest = format!(
        "[[buckets]]\nname = \"site\"\nfiles = \"{}\"\npublic_read = true\n\n[[buckets]]\nname = \"private\"\n",
        dir.path().join("site").display()
    );
    let nuvem = Nuvem::start_with(
        BIN,
        Options {
            manifest: Some(manifest),
            ..Default::default()
        },
    );
    let c = nuvem.s3();
    let head = c
        .head_object()
        .bucket("site")
        .key("index.html")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.content_type.as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(body(&c, "site", "img/logo.svg").await, b"<svg/>");
    c.put_object()
        .bucket("private")
        .key("secret")
        .body(ByteStream::from_static(b"s"))
        .send()
        .await
        .unwrap();

    let http = http();
    let anon = |path: &str| http.get(format!("{}/{path}", nuvem.api_url)).send();
    let resp = anon("site/index.html").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "<h1>oi</h1>");
    // Public read covers objects, not listing, writes or other buckets.
    assert_eq!(anon("site").await.unwrap().status(), 403);
    assert_eq!(anon("private/secret").await.unwrap().status(), 403);
    let put = http
        .put(format!("{}/site/x", nuvem.api_url))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 403);
    assert!(
        put.text()
            .await
            .unwrap()
            .contains("<Code>AccessDenied</Code>")
    );
}
