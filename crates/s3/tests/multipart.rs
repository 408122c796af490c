//! Multipart completion and the object-events hook through the store's public API, on the real
//! embedded engine in a temp dir: object checksums derived from part checksums (COMPOSITE and
//! FULL_OBJECT), UploadPartCopy, and which operations tell the hook what.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use nuvem_s3::store::ObjectStore;
use nuvem_s3::store::checksum::{self, Algorithm, Kind};
use nuvem_s3::store::multipart::{ChosenPart, Completion, PartCopy};
use nuvem_s3::store::objects::{Conditions, CopyOptions, PutOptions};
use nuvem_s3::{ObjectEvent, ObjectEvents};

#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<ObjectEvent>>>);

impl ObjectEvents for Recorder {
    fn notify(&self, event: &ObjectEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

async fn open(dir: &std::path::Path, events: Option<Recorder>) -> ObjectStore {
    let engine =
        nuvem_store::FjallEngine::open(&dir.join("store"), nuvem_store::Durability::Process)
            .unwrap();
    let mut s = ObjectStore::open(nuvem_store::Store::new(engine), &dir.join("s3"), false).unwrap();
    if let Some(e) = events {
        s.set_events(Arc::new(e));
    }
    s.create_bucket("bkt", "us-east-1").await.unwrap();
    s
}

fn body(data: &[u8]) -> impl futures_util::Stream<Item = Result<Bytes, nuvem_s3::Error>> + Unpin {
    futures_util::stream::iter([Ok(Bytes::copy_from_slice(data))])
}

const MIB5: usize = 5 * 1024 * 1024;

fn parts_data() -> [Vec<u8>; 2] {
    [
        (0..MIB5).map(|i| (i % 249) as u8).collect(),
        b"last part".to_vec(),
    ]
}

/// Uploads the two parts with `algorithm` and completes with the client's `object_checksum`
/// (computed over the whole data when `Some("")`); returns the stored checksum or the error code.
async fn complete(
    algorithm: Option<Algorithm>,
    kind: Option<Kind>,
    object_checksum: Option<&str>,
) -> Result<Option<(String, Kind)>, &'static str> {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), None).await;
    let opts = PutOptions {
        checksum: algorithm,
        ..Default::default()
    };
    let id = s
        .create_upload("bkt", "k", opts, kind)
        .await
        .map_err(|e| e.code())?;
    let mut parts = Vec::new();
    for (i, data) in parts_data().iter().enumerate() {
        let n = u32::try_from(i + 1).unwrap();
        let p = s
            .upload_part(
                "bkt",
                "k",
                &id,
                n,
                body(data),
                false,
                None,
                None,
                &nuvem_s3::kms::KmsCaller::Service,
                |_| Ok(()),
            )
            .await
            .unwrap();
        parts.push(ChosenPart {
            number: n,
            etag: p.etag,
            checksum: p.checksum.map(|c| c.value),
        });
    }
    let whole: Vec<u8> = parts_data().concat();
    let checksum = match (algorithm, object_checksum) {
        (Some(a), Some("")) => Some((a, checksum::of(a, &whole))),
        (Some(a), Some(v)) => Some((a, v.to_string())),
        _ => None,
    };
    let done = s
        .complete_upload(
            "bkt",
            "k",
            &id,
            &Completion {
                parts,
                checksum,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.code())?;
    Ok(done.checksum.map(|c| (c.value, c.kind)))
}

#[track_caller]
fn check_full_object(got: Result<Option<(String, Kind)>, &str>, a: Algorithm) {
    let whole: Vec<u8> = parts_data().concat();
    assert_eq!(got, Ok(Some((checksum::of(a, &whole), Kind::FullObject))));
}

#[tokio::test]
async fn multipart_object_checksums() {
    use Algorithm::*;
    // FULL_OBJECT: the CRC of the whole object, from the part CRCs, verified when sent.
    for a in [Crc32, Crc32c, Crc64Nvme] {
        check_full_object(complete(Some(a), Some(Kind::FullObject), Some("")).await, a);
        check_full_object(complete(Some(a), Some(Kind::FullObject), None).await, a);
    }
    check_full_object(complete(Some(Crc64Nvme), None, Some("")).await, Crc64Nvme);
    assert_eq!(
        complete(Some(Crc32), Some(Kind::FullObject), Some("AAAAAA==")).await,
        Err("BadDigest")
    );
    // COMPOSITE (the default for the others): checksum of the part checksums, `-N`.
    let composite = complete(Some(Sha256), None, None).await.unwrap().unwrap();
    assert_eq!(composite.1, Kind::Composite);
    assert!(composite.0.ends_with("-2"), "{composite:?}");
    let base = composite.0.trim_end_matches("-2").to_string();
    assert_eq!(
        complete(Some(Sha256), None, Some(&base)).await,
        Ok(Some(composite.clone()))
    );
    assert_eq!(
        complete(Some(Sha256), None, Some("bm9wZQ==")).await,
        Err("BadDigest")
    );
    // Combinations S3 refuses, and no checksum without an algorithm.
    assert_eq!(
        complete(Some(Sha1), Some(Kind::FullObject), None).await,
        Err("InvalidRequest")
    );
    assert_eq!(
        complete(Some(Crc64Nvme), Some(Kind::Composite), None).await,
        Err("InvalidRequest")
    );
    assert_eq!(
        complete(None, Some(Kind::Composite), None).await,
        Err("InvalidRequest")
    );
    assert_eq!(complete(None, None, None).await, Ok(None));
}

#[tokio::test]
async fn part_checksums_and_algorithm_must_match_the_upload() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), None).await;
    let opts = PutOptions {
        checksum: Some(Algorithm::Crc32),
        ..Default::default()
    };
    let id = s.create_upload("bkt", "k", opts, None).await.unwrap();
    let wrong = s
        .upload_part(
            "bkt",
            "k",
            &id,
            1,
            body(b"x"),
            false,
            Some(Algorithm::Sha1),
            None,
            &nuvem_s3::kms::KmsCaller::Service,
            |_| Ok(()),
        )
        .await;
    assert_eq!(wrong.unwrap_err().code(), "InvalidRequest");
    let p = s
        .upload_part(
            "bkt",
            "k",
            &id,
            1,
            body(b"x"),
            false,
            None,
            None,
            &nuvem_s3::kms::KmsCaller::Service,
            |_| Ok(()),
        )
        .await
        .unwrap();
    let listed = ChosenPart {
        number: 1,
        etag: p.etag.clone(),
        checksum: Some("AAAAAA==".into()),
    };
    let r = s
        .complete_upload(
            "bkt",
            "k",
            &id,
            &Completion {
                parts: vec![listed],
                ..Default::default()
            },
        )
        .await;
    assert_eq!(r.unwrap_err().code(), "InvalidPart");
}

#[tokio::test]
async fn upload_part_copy_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), None).await;
    let src: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
    s.put_object("bkt", "src", body(&src), PutOptions::default(), |_| Ok(()))
        .await
        .unwrap();
    let id = s
        .create_upload("bkt", "dst", PutOptions::default(), None)
        .await
        .unwrap();
    let none = PartCopy::default();
    for (range, ok) in [
        (Some((10, 20)), true),
        (None, true),
        (Some((999, 1000)), true),
        (Some((5, 1001)), false),
        (Some((7, 7)), false),
    ] {
        let r = s
            .upload_part_copy("bkt", "dst", &id, 1, ("bkt", "src"), range, &none)
            .await;
        match (r, ok) {
            (Ok(p), true) => {
                let (a, b) = range.unwrap_or((0, 1000));
                assert_eq!(p.blob.len, b - a, "{range:?}");
                let md5 = checksum::Hasher::new(None, false);
                let mut md5 = md5;
                md5.update(&src[a as usize..b as usize]);
                assert_eq!(p.etag, hex::encode(md5.finish().md5), "{range:?}");
            }
            (Err(e), false) => assert_eq!(e.code(), "InvalidArgument", "{range:?}"),
            (r, _) => panic!("{range:?}: {:?}", r.map(|p| p.etag)),
        }
    }
    let missing = s
        .upload_part_copy("bkt", "dst", &id, 2, ("bkt", "nope"), None, &none)
        .await;
    assert_eq!(missing.unwrap_err().code(), "NoSuchKey");
}

#[tokio::test]
async fn object_events_follow_committed_changes() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::default();
    let s = open(dir.path(), Some(rec.clone())).await;
    let created = |key: &str, data: &[u8]| ObjectEvent::Created {
        bucket: "bkt".into(),
        key: key.into(),
        size: data.len() as u64,
        etag: {
            let mut h = checksum::Hasher::new(None, false);
            h.update(data);
            hex::encode(h.finish().md5)
        },
    };
    let removed = |key: &str| ObjectEvent::Removed {
        bucket: "bkt".into(),
        key: key.into(),
    };
    s.put_object("bkt", "a", body(b"one"), PutOptions::default(), |_| Ok(()))
        .await
        .unwrap();
    // A refused write and a failed condition tell nothing.
    let refused = s
        .put_object("bkt", "b", body(b"x"), PutOptions::default(), |_| {
            Err(nuvem_s3::Error::BadDigest("Content-MD5"))
        })
        .await;
    assert!(refused.is_err());
    let exists = PutOptions {
        conditions: Conditions {
            if_none_match: Some("*".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(
        s.put_object("bkt", "a", body(b"x"), exists, |_| Ok(()))
            .await
            .is_err()
    );
    s.copy_object(("bkt", "a"), ("bkt", "c"), CopyOptions::default())
        .await
        .unwrap();
    let id = s
        .create_upload("bkt", "m", PutOptions::default(), None)
        .await
        .unwrap();
    let p = s
        .upload_part(
            "bkt",
            "m",
            &id,
            1,
            body(b"mp"),
            false,
            None,
            None,
            &nuvem_s3::kms::KmsCaller::Service,
            |_| Ok(()),
        )
        .await
        .unwrap();
    let done = s
        .complete_upload(
            "bkt",
            "m",
            &id,
            &Completion {
                parts: vec![ChosenPart {
                    number: 1,
                    etag: p.etag,
                    checksum: None,
                }],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    s.delete_object("bkt", "a", None).await.unwrap();
    // Deleting a missing key succeeds but removes nothing.
    s.delete_object("bkt", "a", None).await.unwrap();
    let events = rec.0.lock().unwrap().clone();
    assert_eq!(
        events,
        [
            created("a", b"one"),
            created("c", b"one"),
            ObjectEvent::Created {
                bucket: "bkt".into(),
                key: "m".into(),
                size: 2,
                etag: done.etag,
            },
            removed("a"),
        ]
    );
}
