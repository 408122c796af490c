//! Object and bucket tagging and GetObjectAttributes end to end with aws-sdk-s3:
//! DeleteObjectTagging (by version too), `x-amz-tagging-count`, the characters and the `aws:`
//! prefix S3 refuses, the tagging directive of CopyObject, bucket tags (50 at most,
//! NoSuchTagSet), and GetObjectAttributes of single-part and multipart objects and versions.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectAttributes, StorageClass,
    Tag, Tagging, TaggingDirective,
};
use nuvem_testkit::Nuvem;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");
const B: &str = "tags";

fn tagging(pairs: &[(&str, &str)]) -> Tagging {
    Tagging::builder()
        .set_tag_set(Some(
            pairs
                .iter()
                .map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap())
                .collect(),
        ))
        .build()
        .unwrap()
}

fn as_refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[tokio::test]
async fn s3_object_and_bucket_tagging() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    crate::versioned_bucket(&c, B).await;
    let v1 = c
        .put_object()
        .bucket(B)
        .key("k")
        .tagging("a=1&b=2")
        .body(ByteStream::from_static(b"one"))
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let got = c.get_object().bucket(B).key("k").send().await.unwrap();
    assert_eq!(got.tag_count(), Some(2));
    let v2 = c
        .put_object()
        .bucket(B)
        .key("k")
        .tagging("c=3")
        .body(ByteStream::from_static(b"two"))
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();

    // DeleteObjectTagging of the old version leaves the current one's tags.
    let out = c
        .delete_object_tagging()
        .bucket(B)
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(out.version_id(), Some(v1.as_str()));
    let old = c
        .get_object_tagging()
        .bucket(B)
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert!(old.tag_set().is_empty());
    let current = c
        .get_object_tagging()
        .bucket(B)
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(current.tag_set().len(), 1);
    let out = c
        .delete_object_tagging()
        .bucket(B)
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(out.version_id(), Some(v2.as_str()));
    let got = c.get_object().bucket(B).key("k").send().await.unwrap();
    assert_eq!(got.tag_count(), None, "no tags: no x-amz-tagging-count");

    // What S3 refuses in a tag: (tag set, code, message).
    let refused = [
        (
            ("aws:cost", "1"),
            "InvalidTag",
            "Your TagKey cannot be prefixed with aws:",
        ),
        (
            ("a#b", "1"),
            "InvalidTag",
            "The TagKey you have provided is invalid",
        ),
        (
            ("k", "<v>"),
            "InvalidTag",
            "The TagValue you have provided is invalid",
        ),
    ];
    for ((k, v), code, message) in refused {
        let e = c
            .put_object_tagging()
            .bucket(B)
            .key("k")
            .tagging(tagging(&[(k, v)]))
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            (e.code(), e.message()),
            (Some(code), Some(message)),
            "{k}={v}"
        );
    }
    let e = c
        .put_object()
        .bucket(B)
        .key("k2")
        .tagging("aws%3Ax=1")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidTag"));
    c.put_object_tagging()
        .bucket(B)
        .key("k")
        .tagging(tagging(&[("Ünïcode +-=._:/@", "with spaces")]))
        .send()
        .await
        .unwrap();

    // CopyObject: the source's tags by default, the request's with REPLACE.
    c.copy_object()
        .bucket(B)
        .key("copied")
        .copy_source(format!("{B}/k"))
        .send()
        .await
        .unwrap();
    let t = c
        .get_object_tagging()
        .bucket(B)
        .key("copied")
        .send()
        .await
        .unwrap();
    assert_eq!(t.tag_set()[0].key(), "Ünïcode +-=._:/@");
    c.copy_object()
        .bucket(B)
        .key("replaced")
        .copy_source(format!("{B}/k"))
        .tagging_directive(TaggingDirective::Replace)
        .tagging("x=y")
        .send()
        .await
        .unwrap();
    let t = c
        .get_object_tagging()
        .bucket(B)
        .key("replaced")
        .send()
        .await
        .unwrap();
    assert_eq!(
        t.tag_set()
            .iter()
            .map(|t| (t.key(), t.value()))
            .collect::<Vec<_>>(),
        [("x", "y")]
    );

    // Bucket tags.
    let e = c.get_bucket_tagging().bucket(B).send().await.unwrap_err();
    assert_eq!(e.code(), Some("NoSuchTagSet"));
    let fifty: Vec<(String, String)> = (0..50).map(|i| (format!("k{i}"), "v".into())).collect();
    c.put_bucket_tagging()
        .bucket(B)
        .tagging(tagging(&as_refs(&fifty)))
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_tagging().bucket(B).send().await.unwrap();
    assert_eq!(got.tag_set().len(), 50);
    let mut many = fifty.clone();
    many.push(("k50".into(), "v".into()));
    let e = c
        .put_bucket_tagging()
        .bucket(B)
        .tagging(tagging(&as_refs(&many)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("BadRequest"));
    let e = c
        .put_bucket_tagging()
        .bucket(B)
        .tagging(tagging(&[("aws:createdBy", "me")]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidTag"));
    c.delete_bucket_tagging().bucket(B).send().await.unwrap();
    let e = c.get_bucket_tagging().bucket(B).send().await.unwrap_err();
    assert_eq!(e.code(), Some("NoSuchTagSet"));
}

#[tokio::test]
async fn s3_get_object_attributes() {
    let nuvem = Nuvem::start(BIN);
    let c = nuvem.s3();
    crate::versioned_bucket(&c, "attrs").await;
    let first = c
        .put_object()
        .bucket("attrs")
        .key("one")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket("attrs")
        .key("one")
        .body(ByteStream::from_static(b"hello, again"))
        .send()
        .await
        .unwrap();
    let all = [
        ObjectAttributes::Etag,
        ObjectAttributes::Checksum,
        ObjectAttributes::ObjectParts,
        ObjectAttributes::StorageClass,
        ObjectAttributes::ObjectSize,
    ];
    let a = c
        .get_object_attributes()
        .bucket("attrs")
        .key("one")
        .version_id(first.version_id().unwrap())
        .set_object_attributes(Some(all.to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(a.object_size(), Some(5));
    assert_eq!(a.version_id(), first.version_id());
    assert_eq!(
        a.e_tag().map(|e| e.trim_matches('"')),
        first.e_tag().map(|e| e.trim_matches('"'))
    );
    assert_eq!(
        a.checksum().and_then(|c| c.checksum_sha256()),
        first.checksum_sha256()
    );
    assert_eq!(a.storage_class(), Some(&StorageClass::Standard));
    assert!(
        a.object_parts().is_none(),
        "single-part objects have no parts"
    );
    let a = c
        .get_object_attributes()
        .bucket("attrs")
        .key("one")
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!(a.object_size(), Some(12));
    assert_eq!(a.e_tag(), None, "only what was asked for");

    // A multipart object lists its parts, paged.
    let up = c
        .create_multipart_upload()
        .bucket("attrs")
        .key("multi")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, len) in [(1, 5 << 20), (2, 5 << 20), (3, 7)] {
        let p = c
            .upload_part()
            .bucket("attrs")
            .key("multi")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(vec![n as u8; len]))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag().unwrap())
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket("attrs")
        .key("multi")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let a = c
        .get_object_attributes()
        .bucket("attrs")
        .key("multi")
        .object_attributes(ObjectAttributes::ObjectParts)
        .max_parts(2)
        .send()
        .await
        .unwrap();
    let p = a.object_parts().unwrap();
    assert_eq!(p.total_parts_count(), Some(3));
    assert_eq!(p.is_truncated(), Some(true));
    let sizes: Vec<(Option<i32>, Option<i64>)> = p
        .parts()
        .iter()
        .map(|p| (p.part_number(), p.size()))
        .collect();
    assert_eq!(sizes, [(Some(1), Some(5 << 20)), (Some(2), Some(5 << 20))]);
    let a = c
        .get_object_attributes()
        .bucket("attrs")
        .key("multi")
        .object_attributes(ObjectAttributes::ObjectParts)
        .part_number_marker("2")
        .send()
        .await
        .unwrap();
    let p = a.object_parts().unwrap();
    assert_eq!(p.is_truncated(), Some(false));
    assert_eq!(p.parts().len(), 1);
    assert_eq!(p.parts()[0].size(), Some(7));

    let e = c
        .get_object_attributes()
        .bucket("attrs")
        .key("missing")
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("NoSuchKey"));
}
