//! The conformance suite and the crash tests, run against the PostgreSQL engine on a throwaway
//! PostgreSQL server that each test starts (see `support`).

mod support;

use nuvem_store::{Direction, Engine, Error, KeyRange, Store, conformance};
use nuvem_store_pg::{OpenError, PgEngine, PgOptions, SCHEMA_VERSION};
use support::PgServer;

fn open(url: &str) -> PgEngine {
    PgEngine::open(PgOptions::new(url)).expect("open the PostgreSQL engine")
}

#[test]
fn postgres_passes_conformance() {
    let Some(server) = PgServer::start("postgres_passes_conformance", true) else {
        return;
    };
    let engine = std::sync::Arc::new(open(&server.url()));
    let store = Store::new(Shared(engine.clone()));
    let started = std::time::Instant::now();
    conformance::run_all(&store);
    // Measurements for the log, not assertions: how many attempts serialization threw away.
    eprintln!(
        "conformance on PostgreSQL took {:?}: {:?}",
        started.elapsed(),
        engine.stats()
    );
}

/// Round trips per store-level pattern, counted by the engine (`round_trips` in health):
/// a transaction begins with its first statement, `get_many` is one statement, and a write's
/// upsert, delete and `COMMIT` go out together.
#[test]
fn round_trips_per_pattern() {
    let Some(server) = PgServer::start("round_trips_per_pattern", true) else {
        return;
    };
    let engine = std::sync::Arc::new(open(&server.url()));
    let store = Store::new(Shared(engine.clone()));
    let batch: Vec<_> = (0..10u8).map(|i| (vec![b'k', i], Some(vec![i]))).collect();
    store.apply(&batch).unwrap();

    #[track_caller]
    fn check(engine: &PgEngine, expected: u64, pattern: &str, work: impl FnOnce()) {
        let before = engine.stats().round_trips;
        work();
        assert_eq!(engine.stats().round_trips - before, expected, "{pattern}");
    }
    let e = &*engine;
    check(e, 1, "blind write (apply)", || {
        store
            .apply(&[(b"w".to_vec(), Some(b"1".to_vec()))])
            .unwrap();
    });
    check(e, 1, "Store::get", || {
        assert_eq!(store.get(b"w").unwrap().as_deref(), Some(&b"1"[..]));
    });
    check(e, 0, "a snapshot never read", || drop(store.snapshot()));
    check(e, 1, "snapshot: get_many of 3 keys", || {
        let got = store
            .snapshot()
            .get_many(&[&[b'k', 1], b"none", &[b'k', 2]])
            .unwrap();
        assert_eq!(got, vec![Some(vec![1]), None, Some(vec![2])]);
    });
    check(e, 2, "snapshot: two gets", || {
        let snap = store.snapshot();
        snap.get(&[b'k', 1]).unwrap();
        snap.get(&[b'k', 2]).unwrap();
    });
    check(e, 1, "snapshot: a scan of one page", || {
        let n = store
            .snapshot()
            .scan(KeyRange::prefix(b"k"), Direction::Forward)
            .count();
        assert_eq!(n, 10);
    });
    check(
        e,
        2,
        "read-modify-write: get_many, then puts + COMMIT",
        || {
            store
                .transact(|tx| {
                    let got = tx.get_many(&[&[b'k', 3], b"w"])?;
                    tx.put(b"w", &got[0].clone().unwrap_or_default());
                    tx.put(b"x", b"new");
                    Ok::<_, Error>(())
                })
                .unwrap();
        },
    );
    check(e, 1, "a transaction whose body fails after a read", || {
        let r = store.transact(|tx| {
            tx.get(b"w")?;
            Err::<(), _>(Error::Io("refused".into()))
        });
        assert!(r.is_err());
    });
    check(e, 1, "a transaction's own writes answer locally", || {
        store
            .transact(|tx| {
                tx.put(b"y", b"1");
                assert_eq!(tx.get_many(&[b"y"])?, vec![Some(b"1".to_vec())]);
                Ok::<_, Error>(())
            })
            .unwrap();
    });
}

/// An engine shared with the test, which reads its counters.
struct Shared(std::sync::Arc<PgEngine>);

impl Engine for Shared {
    fn snapshot(&self) -> Box<dyn nuvem_store::Snapshot + '_> {
        self.0.snapshot()
    }
    fn write(
        &self,
        body: &mut dyn FnMut(&mut dyn nuvem_store::Tx) -> nuvem_store::Result<nuvem_store::Outcome>,
    ) -> nuvem_store::Result<()> {
        self.0.write(body)
    }
    fn sync(&self) -> nuvem_store::Result<()> {
        self.0.sync()
    }
    fn name(&self) -> &'static str {
        self.0.name()
    }
}

/// Scans page through the table: more keys than one page, both directions, with the
/// transaction's own writes laid over the stored ones.
#[test]
fn scans_cross_pages_and_overlay_own_writes() {
    let Some(server) = PgServer::start("scans_cross_pages_and_overlay_own_writes", true) else {
        return;
    };
    let store = Store::new(open(&server.url()));
    let n = 1000u32;
    let batch: Vec<_> = (0..n)
        .map(|i| {
            (
                format!("p/{i:05}").into_bytes(),
                Some(i.to_be_bytes().to_vec()),
            )
        })
        .collect();
    store.apply(&batch).unwrap();
    let snap = store.snapshot();
    let forward: Vec<_> = snap
        .scan(KeyRange::prefix(b"p/"), Direction::Forward)
        .map(|r| r.unwrap().0)
        .collect();
    let mut expected: Vec<_> = batch.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(forward, expected, "forward over pages");
    let reverse: Vec<_> = snap
        .scan(KeyRange::prefix(b"p/"), Direction::Reverse)
        .map(|r| r.unwrap().0)
        .collect();
    expected.reverse();
    assert_eq!(reverse, expected, "reverse over pages");
    drop(snap);

    let seen = store
        .transact(|tx| {
            tx.delete(b"p/00000");
            tx.delete(b"p/00500");
            tx.put(b"p/00500x", b"new");
            tx.put(b"p/00999", b"replaced");
            tx.put(b"p/zz", b"last");
            tx.scan(KeyRange::prefix(b"p/"), Direction::Reverse)
                .collect::<Result<Vec<_>, Error>>()
        })
        .unwrap();
    assert_eq!(seen.len(), 1000 - 2 + 2, "deletes hidden, new keys shown");
    assert_eq!(seen[0], (b"p/zz".to_vec(), b"last".to_vec()));
    assert_eq!(seen[1], (b"p/00999".to_vec(), b"replaced".to_vec()));
    assert!(seen.iter().all(|(k, _)| k != b"p/00500" && k != b"p/00000"));
    let pos = seen.iter().position(|(k, _)| k == b"p/00500x").unwrap();
    assert_eq!(seen[pos + 1].0, b"p/00499".to_vec(), "own put in key order");
}

/// The schema is versioned: a database that a newer nuvem migrated is refused with a message
/// that says so, and nothing is changed.
#[test]
fn newer_schema_is_refused() {
    let Some(server) = PgServer::start("newer_schema_is_refused", true) else {
        return;
    };
    let store = Store::new(open(&server.url()));
    store
        .apply(&[(b"k".to_vec(), Some(b"v".to_vec()))])
        .unwrap();
    drop(store);
    // Reopening the same version works and keeps the data.
    let store = Store::new(open(&server.url()));
    assert_eq!(store.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    drop(store);
    server.psql(&format!(
        "UPDATE nuvem.meta SET value = {} WHERE name = 'schema_version'",
        SCHEMA_VERSION + 1
    ));
    match PgEngine::open(PgOptions::new(server.url())) {
        Err(e @ OpenError::SchemaTooNew { .. }) => {
            let message = e.to_string();
            assert!(message.contains("newer"), "{message}");
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

/// A database that is down gives errors, not a hang or a panic; once it is back, the same
/// engine works again (its broken connections are replaced).
#[test]
fn database_restart_gives_errors_then_reconnects() {
    let Some(server) = PgServer::start("database_restart_gives_errors_then_reconnects", true)
    else {
        return;
    };
    let mut options = PgOptions::new(server.url());
    options.timeout = std::time::Duration::from_secs(5);
    let store = Store::new(PgEngine::open(options).unwrap());
    store
        .apply(&[(b"a".to_vec(), Some(b"1".to_vec()))])
        .unwrap();
    server.stop();
    let down = std::time::Instant::now();
    assert!(
        store
            .apply(&[(b"b".to_vec(), Some(b"2".to_vec()))])
            .is_err()
    );
    assert!(store.get(b"a").is_err());
    assert!(
        down.elapsed() < std::time::Duration::from_secs(10),
        "errors come within the engine's timeout, not a hang"
    );
    server.start_again();
    store
        .apply(&[(b"c".to_vec(), Some(b"3".to_vec()))])
        .unwrap();
    assert_eq!(store.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(store.get(b"c").unwrap().as_deref(), Some(&b"3"[..]));
}

/// TLS to the database with rustls: a server that takes only TLS is reached with
/// `sslmode=require` when its certificate chains to a trust anchor, and refused otherwise.
#[test]
fn tls_to_the_database_is_verified() {
    let Some(server) = PgServer::start_with("tls_to_the_database_is_verified", true, true) else {
        return;
    };
    let url = |mode: &str| {
        format!(
            "postgres://nuvem@localhost:{}/nuvem?sslmode={mode}",
            server.port
        )
    };
    let with_root = |mode: &str| {
        let mut options = PgOptions::new(url(mode));
        options.extra_roots = vec![server.cert_der.clone().unwrap()];
        options.timeout = std::time::Duration::from_secs(10);
        options
    };
    let store = Store::new(PgEngine::open(with_root("require")).expect("TLS with a trusted root"));
    store
        .apply(&[(b"k".to_vec(), Some(b"v".to_vec()))])
        .unwrap();
    assert_eq!(store.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    let refused = |options: PgOptions, why: &str| match PgEngine::open(options) {
        Err(OpenError::Connect(_)) => {}
        other => panic!("{why}: expected a connection error, got {other:?}"),
    };
    refused(
        PgOptions::new(url("require")),
        "a certificate no trust anchor vouches for",
    );
    refused(with_root("disable"), "no TLS, where the server requires it");
}

const CHILD_URL: &str = "NUVEM_STORE_PG_CRASH_CHILD_URL";

/// The child half of the crash test: writes keys forever, announcing each one after its write
/// returned. Does nothing unless the parent set the variable.
#[test]
fn crash_child_writer() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        return;
    };
    let store = Store::new(open(&url));
    for i in 0u64.. {
        let key = format!("crash/{i:010}");
        store
            .apply(&[(key.into_bytes(), Some(i.to_be_bytes().to_vec()))])
            .unwrap();
        println!("acked {i}");
    }
}

/// A write that returned OK survives `kill -9` of the writing process, and then a crash of
/// the database server too (fsync on, the server's defaults).
#[test]
fn acknowledged_writes_survive_kill_9() {
    let Some(server) = PgServer::start("acknowledged_writes_survive_kill_9", false) else {
        return;
    };
    let acked =
        conformance::kill_writer_after("crash_child_writer", (CHILD_URL, &server.url()), 500);
    let check = |what: &str| {
        let engine = open(&server.url());
        let snap = engine.snapshot();
        for i in 0..=acked {
            let v = snap.get(format!("crash/{i:010}").as_bytes()).unwrap();
            assert_eq!(
                v,
                Some(i.to_be_bytes().to_vec()),
                "acknowledged write {i} lost after {what}"
            );
        }
    };
    check("kill -9 of the writer");
    server.crash_and_restart();
    check("kill -9 of the writer and a crash of the database");
}
