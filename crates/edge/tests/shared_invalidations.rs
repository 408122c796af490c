//! Invalidations kept in a store shared by several edges (nodes): one node's
//! CreateInvalidation is found, listed and applied by the others, and a node that restarts
//! clears the disk files that batches made while it was down spoiled.

mod support;

use nuvem_edge::InvalidationError;
use nuvem_store::{Durability, FjallEngine, Store};
use support::{Reply, TestOrigin, edge, edge_on_disk, runtime, send, simple, wait_for_files};

fn store(dir: &std::path::Path) -> Store {
    Store::new(FjallEngine::open(dir, Durability::Process).unwrap())
}

#[test]
fn one_nodes_invalidation_is_applied_by_the_others() {
    let rt = runtime();
    rt.block_on(async {
        let db = tempfile::tempdir().unwrap();
        let store = store(db.path());
        let o = TestOrigin::start().await;
        o.set("/a", Reply::ok(&[("cache-control", "max-age=600")], "A"));
        let (one, two) = (edge(&simple(""), &o.url), edge(&simple(""), &o.url));
        one.share_invalidations(store.clone(), "one").unwrap();
        two.share_invalidations(store.clone(), "two").unwrap();
        for e in [&one, &two] {
            assert_eq!(send(e, 0, "GET", "/a", &[]).await.x_cache(), "Miss");
            assert_eq!(send(e, 0, "GET", "/a", &[]).await.x_cache(), "Hit");
        }

        let inv = one.invalidate("ref-1", vec!["/a".into()]).unwrap();
        assert_eq!(send(&one, 0, "GET", "/a", &[]).await.x_cache(), "Miss");
        assert_eq!(
            send(&two, 0, "GET", "/a", &[]).await.x_cache(),
            "Hit",
            "not applied on two until it syncs (on the change notice)"
        );
        two.sync_invalidations();
        assert_eq!(send(&two, 0, "GET", "/a", &[]).await.x_cache(), "Miss");

        // One set of records: any node finds, lists and deduplicates them.
        assert_eq!(two.get_invalidation(&inv.id).unwrap().paths, ["/a"]);
        assert_eq!(two.list_invalidations().unwrap().len(), 1);
        assert_eq!(
            two.invalidate("ref-1", vec!["/a".into()]).unwrap().id,
            inv.id
        );
        assert!(matches!(
            two.invalidate("ref-1", vec!["/b".into()]),
            Err(InvalidationError::BatchAlreadyExists(_))
        ));
        let second = two.invalidate("ref-2", vec!["/*".into()]).unwrap();
        let listed = one.list_invalidations().unwrap();
        assert_eq!(
            listed.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            [second.id.as_str(), inv.id.as_str()],
            "newest first"
        );
        assert!(matches!(
            one.get_invalidation("INOPE"),
            Err(InvalidationError::NoSuchInvalidation)
        ));
        // On the embedded store there is one process: a batch is Completed once applied here.
        assert_eq!(second.status, "Completed");
    });
}

#[test]
fn a_node_that_joins_clears_what_it_missed_from_disk() {
    let rt = runtime();
    rt.block_on(async {
        let (db, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let store = store(db.path());
        let o = TestOrigin::start().await;
        o.set("/a", Reply::ok(&[("cache-control", "max-age=600")], "A"));
        o.set("/b", Reply::ok(&[("cache-control", "max-age=600")], "B"));
        let e = edge_on_disk(&simple(""), &o.url, cache.path());
        e.share_invalidations(store.clone(), "disk-1").unwrap();
        send(&e, 0, "GET", "/a", &[]).await;
        send(&e, 0, "GET", "/b", &[]).await;
        assert_eq!(wait_for_files(cache.path(), 2).await, 2);
        drop(e);

        // While it is down, another node invalidates /a.
        let other = edge(&simple(""), &o.url);
        other.share_invalidations(store.clone(), "other").unwrap();
        other.invalidate("while-down", vec!["/a".into()]).unwrap();

        let e = edge_on_disk(&simple(""), &o.url, cache.path());
        e.share_invalidations(store.clone(), "disk-2").unwrap();
        assert_eq!(send(&e, 0, "GET", "/a", &[]).await.x_cache(), "Miss");
        assert_eq!(send(&e, 0, "GET", "/b", &[]).await.x_cache(), "Hit");
        assert_eq!((o.hits("/a"), o.hits("/b")), (2, 1));
    });
}
