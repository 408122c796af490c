//! Multipart uploads beyond the basics, with aws-sdk-s3: UploadPartCopy, object checksums of
//! completed uploads (FULL_OBJECT validated by the SDK on GET, COMPOSITE with its `-N`), and
//! ListMultipartUploads paging and delimiter.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
};
use nuvem_testkit::Nuvem;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");
const MIB5: usize = 5 * 1024 * 1024;

async fn create(
    c: &Client,
    key: &str,
    algorithm: Option<ChecksumAlgorithm>,
    kind: Option<ChecksumType>,
) -> String {
    c.create_multipart_upload()
        .bucket("mpu")
        .key(key)
        .set_checksum_algorithm(algorithm)
        .set_checksum_type(kind)
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap()
}

async fn part(
    c: &Client,
    key: &str,
    id: &str,
    n: i32,
    data: Vec<u8>,
    algorithm: Option<ChecksumAlgorithm>,
) -> CompletedPart {
    let p = c
        .upload_part()
        .bucket("mpu")
        .key(key)
        .upload_id(id)
        .part_number(n)
        .set_checksum_algorithm(algorithm)
        .body(ByteStream::from(data))
        .send()
        .await
        .unwrap();
    CompletedPart::builder()
        .part_number(n)
        .e_tag(p.e_tag.unwrap())
        .set_checksum_crc32(p.checksum_crc32)
        .set_checksum_sha256(p.checksum_sha256)
        .build()
}

fn parts(p: Vec<CompletedPart>) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(p))
        .build()
}

#[tokio::test]
async fn upload_part_copy_and_object_checksums() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("mpu").send().await.unwrap();
    let src: Vec<u8> = (0..MIB5 + 1000).map(|i| (i % 251) as u8).collect();
    c.put_object()
        .bucket("mpu")
        .key("src")
        .body(ByteStream::from(src.clone()))
        .send()
        .await
        .unwrap();

    // UploadPartCopy: the whole first 5 MiB, then a range, then an uploaded part.
    let id = create(&c, "assembled", None, None).await;
    let mut done = Vec::new();
    for (n, range) in [
        (1, format!("bytes=0-{}", MIB5 - 1)),
        (2, "bytes=10-19".to_string()),
    ] {
        let r = c
            .upload_part_copy()
            .bucket("mpu")
            .key("assembled")
            .upload_id(&id)
            .part_number(n)
            .copy_source("mpu/src")
            .copy_source_range(range)
            .send()
            .await
            .unwrap();
        let etag = r.copy_part_result.unwrap().e_tag.unwrap();
        done.push(CompletedPart::builder().part_number(n).e_tag(etag).build());
    }
    let bad = c
        .upload_part_copy()
        .bucket("mpu")
        .key("assembled")
        .upload_id(&id)
        .part_number(3)
        .copy_source("mpu/src")
        .copy_source_range(format!("bytes=0-{}", src.len()))
        .send()
        .await;
    assert_eq!(bad.unwrap_err().code(), Some("InvalidArgument"));
    c.complete_multipart_upload()
        .bucket("mpu")
        .key("assembled")
        .upload_id(&id)
        .multipart_upload(parts(done))
        .send()
        .await
        .unwrap();
    let got = c
        .get_object()
        .bucket("mpu")
        .key("assembled")
        .send()
        .await
        .unwrap();
    let got = got.body.collect().await.unwrap().into_bytes();
    let mut want = src[..MIB5].to_vec();
    want.extend_from_slice(&src[10..20]);
    assert!(got == want, "assembled object differs");

    // FULL_OBJECT CRC32: the SDK validates the returned checksum against the body it reads.
    let crc = Some(ChecksumAlgorithm::Crc32);
    let id = create(&c, "full", crc.clone(), Some(ChecksumType::FullObject)).await;
    let p1 = part(&c, "full", &id, 1, src[..MIB5].to_vec(), crc.clone()).await;
    let p2 = part(&c, "full", &id, 2, src[MIB5..].to_vec(), crc.clone()).await;
    let out = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("full")
        .upload_id(&id)
        .checksum_type(ChecksumType::FullObject)
        .multipart_upload(parts(vec![p1, p2]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.checksum_type, Some(ChecksumType::FullObject));
    let full = out.checksum_crc32.unwrap();
    let got = c
        .get_object()
        .bucket("mpu")
        .key("full")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(got.checksum_crc32.as_deref(), Some(full.as_str()));
    assert!(got.body.collect().await.unwrap().into_bytes() == src);

    // A wrong whole-object checksum is refused and nothing becomes visible.
    let id = create(&c, "wrong", crc.clone(), Some(ChecksumType::FullObject)).await;
    let p1 = part(&c, "wrong", &id, 1, b"abc".to_vec(), crc.clone()).await;
    let r = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("wrong")
        .upload_id(&id)
        .checksum_crc32("AAAAAA==")
        .multipart_upload(parts(vec![p1]))
        .send()
        .await;
    assert_eq!(r.unwrap_err().code(), Some("BadDigest"));
    let head = c.head_object().bucket("mpu").key("wrong").send().await;
    assert_eq!(head.unwrap_err().code(), Some("NotFound"));

    // COMPOSITE SHA256: a checksum of the part checksums, `-N`.
    let sha = Some(ChecksumAlgorithm::Sha256);
    let id = create(&c, "composite", sha.clone(), None).await;
    let p1 = part(&c, "composite", &id, 1, src[..MIB5].to_vec(), sha.clone()).await;
    let p2 = part(&c, "composite", &id, 2, b"tail".to_vec(), sha.clone()).await;
    let out = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("composite")
        .upload_id(&id)
        .multipart_upload(parts(vec![p1, p2]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.checksum_type, Some(ChecksumType::Composite));
    assert!(out.checksum_sha256.unwrap().ends_with("-2"));
}

#[tokio::test]
async fn list_multipart_uploads_pages_and_delimiter() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    c.create_bucket().bucket("mpu").send().await.unwrap();
    let mut all = Vec::new();
    for key in ["b", "a/1", "c/x/y", "b", "a/2", "d"] {
        let id = create(&c, key, None, None).await;
        all.push((key.to_string(), id));
    }
    // Key order, then creation order within a key.
    all.sort_by(|a, b| a.0.cmp(&b.0));

    // Pages of two, following NextKeyMarker/NextUploadIdMarker, give every upload once.
    let (mut key_marker, mut id_marker, mut seen) = (None::<String>, None::<String>, Vec::new());
    loop {
        let page = c
            .list_multipart_uploads()
            .bucket("mpu")
            .max_uploads(2)
            .set_key_marker(key_marker.clone())
            .set_upload_id_marker(id_marker.clone())
            .send()
            .await
            .unwrap();
        assert!(page.uploads().len() <= 2);
        for u in page.uploads() {
            seen.push((u.key.clone().unwrap(), u.upload_id.clone().unwrap()));
        }
        if page.is_truncated != Some(true) {
            break;
        }
        key_marker = page.next_key_marker;
        id_marker = page.next_upload_id_marker;
    }
    assert_eq!(seen, all);

    let grouped = c
        .list_multipart_uploads()
        .bucket("mpu")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<_> = grouped
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix.clone())
        .collect();
    let keys: Vec<_> = grouped
        .uploads()
        .iter()
        .filter_map(|u| u.key.clone())
        .collect();
    assert_eq!(prefixes, ["a/", "c/"]);
    assert_eq!(keys, ["b", "b", "d"]);
    let nested = c
        .list_multipart_uploads()
        .bucket("mpu")
        .prefix("c/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(nested.common_prefixes()[0].prefix.as_deref(), Some("c/x/"));
    // Prefixes count toward max-uploads, and paging resumes after a prefix.
    let first = c
        .list_multipart_uploads()
        .bucket("mpu")
        .delimiter("/")
        .max_uploads(1)
        .send()
        .await
        .unwrap();
    assert_eq!(first.common_prefixes()[0].prefix.as_deref(), Some("a/"));
    assert_eq!(first.next_key_marker.as_deref(), Some("a/"));
    let second = c
        .list_multipart_uploads()
        .bucket("mpu")
        .delimiter("/")
        .max_uploads(1)
        .key_marker("a/")
        .send()
        .await
        .unwrap();
    assert_eq!(second.uploads()[0].key.as_deref(), Some("b"));
}
