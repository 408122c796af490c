//! The store blob tier on PostgreSQL: the blob conformance suite and the garbage collection
//! checks, on a throwaway server. The engine is remote, so every chunk goes through
//! `Store::run` to tokio's blocking pool, as it does in `nuvem up`.

#[allow(dead_code)]
mod support;

use std::collections::HashSet;
use std::time::Duration;

use nuvem_store::Store;
use nuvem_store::blobs::{BlobError, StoreBlobs, conformance};
use nuvem_store_pg::{PgEngine, PgOptions};
use support::PgServer;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn store_tier_passes_conformance_on_postgres() {
    let Some(server) = PgServer::start("store_tier_passes_conformance_on_postgres", true) else {
        return;
    };
    let store = Store::new(PgEngine::open(PgOptions::new(server.url())).unwrap());
    runtime().block_on(async {
        let blobs = StoreBlobs::new(store.clone(), Duration::from_secs(3600));
        conformance::run(&blobs, &store).await;
        // Everything the suite removed goes at the next sweep past the grace period.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let eager = StoreBlobs::new(store.clone(), Duration::ZERO);
        let swept = Store::blocking(|| eager.sweep(|_| Ok::<_, BlobError>(HashSet::new())));
        assert_eq!(swept.unwrap().deleted, 9);
        conformance::run_store_tier(&store).await;
    });
    let worker_calls = store
        .health()
        .counters
        .iter()
        .find(|(n, _)| *n == "worker_calls")
        .map(|(_, v)| *v);
    assert_eq!(
        worker_calls,
        Some(0),
        "every blob call went through Store::run"
    );
}
