//! The object store with its data in the store tier (chunks in the store, as with PostgreSQL),
//! on the embedded engine in a temp dir: objects, overwrites, deletes and multipart uploads
//! adopt and give up their blobs so that a sweep leaves exactly the referenced ones, and the
//! data dir holds no blob file.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use nuvem_s3::store::multipart::{ChosenPart, Completion};
use nuvem_s3::store::objects::PutOptions;
use nuvem_s3::store::{BlobTier, ObjectStore};
use nuvem_store::blobs::StoreBlobs;

const MIB: usize = 1 << 20;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    nuvem_store::blobs::conformance::pattern(len, seed)
}

fn body(data: &[u8]) -> impl futures_util::Stream<Item = Result<Bytes, nuvem_s3::Error>> + Unpin {
    let pieces: Vec<_> = data
        .chunks(100_000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures_util::stream::iter(pieces)
}

async fn read(s: &ObjectStore, key: &str, start: u64, end: u64) -> Vec<u8> {
    let meta = s.head_object("bkt", key).await.unwrap();
    let mut stream = Box::pin(s.read_object("bkt", key, &meta, start, end).await.unwrap());
    let mut out = Vec::new();
    while let Some(c) = stream.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    out
}

/// The heads' states, sorted.
fn states(store: &nuvem_store::Store) -> Vec<String> {
    let mut v: Vec<String> = StoreBlobs::heads(&*store.snapshot())
        .unwrap()
        .into_iter()
        .map(|(_, h)| format!("{:?}", h.state))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_in_the_store_tier_are_adopted_and_collected() {
    let dir = tempfile::tempdir().unwrap();
    let engine =
        nuvem_store::FjallEngine::open(&dir.path().join("store"), nuvem_store::Durability::Process)
            .unwrap();
    let store = nuvem_store::Store::new(engine);
    let tier = BlobTier::Store {
        grace: Duration::ZERO,
    };
    let s = ObjectStore::open_tier(store.clone(), &dir.path().join("s3"), tier, 16).unwrap();
    assert_eq!(s.blob_tier(), "store");
    s.create_bucket("bkt", "us-east-1").await.unwrap();

    let data = pattern(3 * MIB + 17, 1);
    let meta = s
        .put_object("bkt", "k", body(&data), PutOptions::default(), |_| Ok(()))
        .await
        .unwrap();
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(states(&store), ["Live"]);
    assert!(read(&s, "k", 0, meta.size).await == data);
    assert!(read(&s, "k", MIB as u64 - 3, 2 * MIB as u64 + 5).await == data[MIB - 3..2 * MIB + 5]);

    // Overwritten: the old blob is given up, the new one adopted.
    let data2 = pattern(10, 2);
    s.put_object("bkt", "k", body(&data2), PutOptions::default(), |_| Ok(()))
        .await
        .unwrap();
    let now = states(&store);
    assert!(now == ["Gone", "Live"] || now == ["Live"], "{now:?}");
    // A refused body leaves a blob given up at once.
    let refused = s
        .put_object("bkt", "r", body(&data2), PutOptions::default(), |_| {
            Err(nuvem_s3::Error::BadDigest("MD5"))
        })
        .await;
    assert!(refused.is_err());

    // A multipart upload: parts are adopted with their records, and moved to the object.
    let id = s
        .create_upload("bkt", "m", PutOptions::default(), None)
        .await
        .unwrap();
    let parts = [pattern(5 * MIB, 3), pattern(100, 4)];
    let mut chosen = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = u32::try_from(i + 1).unwrap();
        let part = s
            .upload_part(
                "bkt",
                "m",
                &id,
                n,
                body(p),
                false,
                None,
                None,
                &nuvem_s3::kms::KmsCaller::Service,
                |_| Ok(()),
            )
            .await
            .unwrap();
        chosen.push(ChosenPart {
            number: n,
            etag: part.etag,
            checksum: None,
        });
    }
    // A part uploaded and then abandoned with its upload.
    let other = s
        .create_upload("bkt", "x", PutOptions::default(), None)
        .await
        .unwrap();
    s.upload_part(
        "bkt",
        "x",
        &other,
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
    s.abort_upload("bkt", "x", &other).await.unwrap();
    let completion = Completion {
        parts: chosen,
        ..Default::default()
    };
    s.complete_upload("bkt", "m", &id, &completion)
        .await
        .unwrap();
    assert!(read(&s, "m", 0, 5 * MIB as u64 + 100).await == parts.concat());

    tokio::time::sleep(Duration::from_millis(5)).await;
    // (The periodic sweep may have done part of it already.)
    let swept = s.sweep().await.unwrap();
    assert!(
        swept.removed <= 3,
        "the overwritten, the refused and the aborted blob"
    );
    assert_eq!(states(&store), ["Live", "Live", "Live"]);
    s.delete_object("bkt", "m", None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    s.sweep().await.unwrap();
    assert_eq!(states(&store), ["Live"]);
    assert!(read(&s, "k", 0, 10).await == data2);
    // No blob file in the data dir.
    assert!(!dir.path().join("s3/blobs").exists());
}
