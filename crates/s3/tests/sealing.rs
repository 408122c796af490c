//! Encryption at rest through the object store's public API on the real embedded engine:
//! every range of objects of sizes around the 64 KiB chunk boundaries reads back exactly, the
//! blob files never hold the plaintext, a flipped byte on disk is an error (never wrong data),
//! and a store whose objects are under one master key refuses another (recorded with the
//! first encrypted object).

use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use nuvem_s3::store::ObjectStore;
use nuvem_s3::store::objects::PutOptions;
use nuvem_s3::store::sealing::{CHUNK, MasterKey, SealRequest, sealed_len};

fn open(dir: &Path, master: [u8; 32]) -> Result<ObjectStore, nuvem_s3::Error> {
    let engine =
        nuvem_store::FjallEngine::open(&dir.join("store"), nuvem_store::Durability::Process)
            .unwrap();
    let mut s = ObjectStore::open(nuvem_store::Store::new(engine), &dir.join("s3"), false)?;
    s.set_master_key(Arc::new(MasterKey::from_bytes(&master)?))?;
    Ok(s)
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ 0x5a).collect()
}

async fn put(s: &ObjectStore, key: &str, body: &[u8]) {
    // Fed in odd-sized pieces, so chunking does not follow the client's framing.
    let pieces: Vec<_> = body
        .chunks(7_777)
        .map(|c| Ok::<_, nuvem_s3::Error>(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let opts = PutOptions {
        encryption: Some(SealRequest::S3),
        ..Default::default()
    };
    s.put_object("bkt", key, futures_util::stream::iter(pieces), opts, |_| {
        Ok(())
    })
    .await
    .unwrap();
}

async fn read(s: &ObjectStore, key: &str, start: u64, end: u64) -> Result<Vec<u8>, String> {
    let meta = s.head_object("bkt", key).await.map_err(|e| e.to_string())?;
    let mut stream = s
        .read_object("bkt", key, &meta, start, end)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
    }
    Ok(out)
}

fn blob_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(blob_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn ranges_read_back_exactly_and_disk_holds_no_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), [3; 32]).unwrap();
    s.create_bucket("bkt", "us-east-1").await.unwrap();
    let c = CHUNK as usize;
    for len in [0, 1, c - 1, c, c + 1, 3 * c + 100] {
        let key = format!("k{len}");
        let body = data(len);
        put(&s, &key, &body).await;
        let meta = s.head_object("bkt", &key).await.unwrap();
        assert_eq!(meta.size, len as u64);
        assert_eq!(meta.blobs[0].stored_len(), sealed_len(len as u64));
        let l = len as u64;
        let cuts = [
            0,
            1,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            2 * CHUNK + 3,
            l.saturating_sub(1),
            l,
        ];
        for &a in &cuts {
            for &b in &cuts {
                if a < b && b <= l {
                    let got = read(&s, &key, a, b).await.unwrap();
                    assert_eq!(got, &body[a as usize..b as usize], "len {len}, {a}..{b}");
                }
            }
        }
    }
    let files = blob_files(&dir.path().join("s3").join("blobs"));
    assert_eq!(files.len(), 6);
    let needle = &data(3 * c + 100)[1000..1064];
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{} holds plaintext",
            f.display()
        );
    }
}

#[tokio::test]
async fn tampering_is_an_error_and_the_master_key_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path(), [4; 32]).unwrap();
        s.create_bucket("bkt", "us-east-1").await.unwrap();
        put(&s, "k", &data(3 * CHUNK as usize)).await;
        assert_eq!(read(&s, "k", 0, 10).await.unwrap(), &data(10)[..]);
        // One flipped bit in the second chunk: its reads fail, the first chunk's still work.
        let file = blob_files(&dir.path().join("s3").join("blobs")).remove(0);
        let mut bytes = std::fs::read(&file).unwrap();
        let at = (CHUNK + 16 + 5) as usize;
        bytes[at] ^= 1;
        std::fs::write(&file, bytes).unwrap();
        assert!(read(&s, "k", CHUNK, CHUNK + 10).await.is_err());
        assert!(read(&s, "k", 0, 3 * CHUNK).await.is_err());
        assert_eq!(read(&s, "k", 0, 10).await.unwrap(), &data(10)[..]);
    }
    // The store remembers which master key its objects are under.
    let err = open(dir.path(), [5; 32])
        .err()
        .expect("another master key is refused");
    assert!(err.to_string().contains("master key"), "{err}");
    assert!(open(dir.path(), [4; 32]).is_ok());
}

#[tokio::test]
async fn the_master_key_is_recorded_with_the_first_encrypted_object() {
    let dir = tempfile::tempdir().unwrap();
    {
        // Without encrypted objects, any key opens (nodes that never used SSE-S3).
        let s = open(dir.path(), [6; 32]).unwrap();
        s.create_bucket("bkt", "us-east-1").await.unwrap();
    }
    let s = open(dir.path(), [7; 32]).unwrap();
    put(&s, "k", b"sealed under key 7").await;
    drop(s);
    assert!(open(dir.path(), [6; 32]).is_err());
    let s = open(dir.path(), [7; 32]).unwrap();
    assert_eq!(read(&s, "k", 0, 18).await.unwrap(), b"sealed under key 7");
}
