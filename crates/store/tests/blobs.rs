//! The blob conformance suite on both tiers: the local directory, and chunks in the embedded
//! engine (the store tier works on any engine; `store-pg`'s tests run it on PostgreSQL).

use std::collections::HashSet;
use std::time::Duration;

use nuvem_store::blobs::{BlobDir, BlobError, StoreBlobs, conformance};
use nuvem_store::{Durability, FjallEngine, Store};

fn store(dir: &std::path::Path) -> Store {
    Store::new(FjallEngine::open(&dir.join("store"), Durability::Process).expect("open engine"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_tier_passes_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobDir::open(&dir.path().join("s3"), false).unwrap();
    conformance::run(&blobs, &store(dir.path())).await;
    // Everything the suite removed is gone, and no temp file is left.
    assert_eq!(BlobDir::scan(&dir.path().join("s3")).unwrap(), vec![]);
    assert_eq!(
        std::fs::read_dir(dir.path().join("s3/tmp"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_tier_passes_conformance_on_fjall() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let blobs = StoreBlobs::new(store.clone(), Duration::from_secs(3600));
    conformance::run(&blobs, &store).await;
    // Everything the suite removed goes at the next sweep past the grace period.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let eager = StoreBlobs::new(store.clone(), Duration::ZERO);
    let swept = eager.sweep(|_| Ok::<_, BlobError>(HashSet::new())).unwrap();
    assert_eq!(swept.deleted, 9);
    assert_eq!(StoreBlobs::heads(&*store.snapshot()).unwrap(), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_tier_collects_garbage_on_fjall() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run_store_tier(&store(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_tier_dropped_writer_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    let blobs = BlobDir::open(&root, false).unwrap();
    let mut w = nuvem_store::blobs::Blobs::create(&blobs).await.unwrap();
    w.write(bytes::Bytes::from(conformance::pattern(3 << 20, 1)))
        .await
        .unwrap();
    drop(w);
    assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    assert_eq!(BlobDir::scan(&root).unwrap(), vec![]);
}
