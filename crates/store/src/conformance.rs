//! One behaviour suite that every [`Engine`](crate::Engine) must pass. The embedded engine runs
//! it in this crate's tests; a future distributed backend runs the same functions against a
//! live cluster. Each check panics with a message naming the broken promise.

use std::ops::Bound;

use crate::{Direction, Error, KeyRange, Store};

fn keys(store: &Store, range: KeyRange, direction: Direction) -> Vec<Vec<u8>> {
    let snap = store.snapshot();
    snap.scan(range, direction)
        .map(|r| r.expect("scan item").0)
        .collect()
}

/// Keys come back in unsigned-byte order, in both directions, whatever the insertion order.
pub fn ordering(store: &Store) {
    let inserted: Vec<&[u8]> = vec![
        b"o/b", b"o/a", b"o/\xff", b"o/", b"o/a\x00", b"o/ab", b"o/\x00", b"o/B",
    ];
    let batch: Vec<_> = inserted
        .iter()
        .map(|k| (k.to_vec(), Some(b"v".to_vec())))
        .collect();
    store.apply(&batch).expect("apply");
    let mut expected: Vec<Vec<u8>> = inserted.iter().map(|k| k.to_vec()).collect();
    expected.sort();
    assert_eq!(
        keys(store, KeyRange::prefix(b"o/"), Direction::Forward),
        expected,
        "forward order"
    );
    expected.reverse();
    assert_eq!(
        keys(store, KeyRange::prefix(b"o/"), Direction::Reverse),
        expected,
        "reverse order"
    );
}

/// Range bounds are honoured exactly: included, excluded, unbounded; prefixes stop at the
/// prefix's successor, including prefixes ending in 0xFF.
pub fn range_scans(store: &Store) {
    let batch: Vec<_> = (0u8..10)
        .map(|i| (vec![b'r', i], Some(vec![i])))
        .chain([(vec![b'r', 0xff, 1], Some(vec![]))])
        .collect();
    store.apply(&batch).expect("apply");
    store
        .apply(&[(b"s".to_vec(), Some(vec![]))])
        .expect("apply");
    let r = |start, end| KeyRange { start, end };
    let got = keys(
        store,
        r(
            Bound::Included(vec![b'r', 2]),
            Bound::Excluded(vec![b'r', 5]),
        ),
        Direction::Forward,
    );
    assert_eq!(
        got,
        vec![vec![b'r', 2], vec![b'r', 3], vec![b'r', 4]],
        "[2,5)"
    );
    let got = keys(
        store,
        r(
            Bound::Excluded(vec![b'r', 2]),
            Bound::Included(vec![b'r', 5]),
        ),
        Direction::Reverse,
    );
    assert_eq!(
        got,
        vec![vec![b'r', 5], vec![b'r', 4], vec![b'r', 3]],
        "(2,5] reversed"
    );
    assert_eq!(
        keys(store, KeyRange::prefix(b"r"), Direction::Forward).len(),
        11,
        "prefix r"
    );
    assert_eq!(
        keys(store, KeyRange::prefix(&[b'r', 0xff]), Direction::Forward),
        vec![vec![b'r', 0xff, 1]],
        "prefix ending in 0xFF"
    );
    let got = keys(
        store,
        r(Bound::Included(vec![b'r', 8]), Bound::Unbounded),
        Direction::Forward,
    );
    assert_eq!(
        got.last().map(Vec::as_slice),
        Some(&b"s"[..]),
        "unbounded end reaches the last key"
    );
}

/// A transaction's writes are all visible after commit, none after an error, and reads inside
/// it see its own writes (point reads and scans).
pub fn batches(store: &Store) {
    store
        .apply(&[
            (b"b/1".to_vec(), Some(b"one".to_vec())),
            (b"b/2".to_vec(), Some(b"two".to_vec())),
        ])
        .expect("apply");
    let seen = store
        .transact(|tx| {
            tx.put(b"b/3", b"three");
            tx.delete(b"b/1");
            let own = tx.get(b"b/3")?;
            let deleted = tx.get(b"b/1")?;
            let scanned: Vec<_> = tx
                .scan(KeyRange::prefix(b"b/"), Direction::Forward)
                .map(|r| r.map(|e| e.0))
                .collect::<Result<_, _>>()?;
            Ok::<_, Error>((own, deleted, scanned))
        })
        .expect("transaction");
    assert_eq!(
        seen.0.as_deref(),
        Some(&b"three"[..]),
        "read-your-writes: put"
    );
    assert_eq!(seen.1, None, "read-your-writes: delete");
    assert_eq!(
        seen.2,
        vec![b"b/2".to_vec(), b"b/3".to_vec()],
        "read-your-writes: scan"
    );
    assert_eq!(
        keys(store, KeyRange::prefix(b"b/"), Direction::Forward),
        vec![b"b/2".to_vec(), b"b/3".to_vec()],
        "committed"
    );

    #[derive(Debug)]
    struct Refused;
    impl From<Error> for Refused {
        fn from(_: Error) -> Self {
            Refused
        }
    }
    let r: Result<(), Refused> = store.transact(|tx| {
        tx.put(b"b/4", b"four");
        tx.delete(b"b/2");
        Err(Refused)
    });
    assert!(r.is_err());
    assert_eq!(
        keys(store, KeyRange::prefix(b"b/"), Direction::Forward),
        vec![b"b/2".to_vec(), b"b/3".to_vec()],
        "aborted transaction left no trace"
    );
}

/// A snapshot keeps seeing the state of its instant while later writes commit. Its instant
/// is at its first read at the latest (a network engine begins it there), so the check reads
/// once before the writes.
pub fn snapshots(store: &Store) {
    store
        .apply(&[(b"n/a".to_vec(), Some(b"1".to_vec()))])
        .expect("apply");
    let snap = store.snapshot();
    assert_eq!(
        snap.get(b"n/a").expect("get").as_deref(),
        Some(&b"1"[..]),
        "a snapshot sees what committed before it"
    );
    store
        .apply(&[
            (b"n/a".to_vec(), Some(b"2".to_vec())),
            (b"n/b".to_vec(), Some(b"2".to_vec())),
        ])
        .expect("apply");
    assert_eq!(
        snap.get(b"n/a").expect("get").as_deref(),
        Some(&b"1"[..]),
        "snapshot point read"
    );
    let n = snap
        .scan(KeyRange::prefix(b"n/"), Direction::Forward)
        .count();
    assert_eq!(n, 1, "snapshot scan does not see later keys");
    assert_eq!(
        store.get(b"n/a").expect("get").as_deref(),
        Some(&b"2"[..]),
        "latest state"
    );
}

/// `get_many` answers one value per key, in the order asked, with missing keys as `None`
/// and repeated keys answered twice; in a transaction it sees the transaction's own writes.
pub fn multi_key_reads(store: &Store) {
    store
        .apply(&[
            (b"m/a".to_vec(), Some(b"1".to_vec())),
            (b"m/b".to_vec(), Some(b"2".to_vec())),
            (b"m/c".to_vec(), Some(Vec::new())),
        ])
        .expect("apply");
    let v = |s: &[u8]| Some(s.to_vec());
    let snap = store.snapshot();
    assert_eq!(
        snap.get_many(&[b"m/b", b"m/none", b"m/a", b"m/c", b"m/b"])
            .expect("get_many"),
        vec![v(b"2"), None, v(b"1"), v(b""), v(b"2")],
        "snapshot get_many: order, missing, empty value, repeats"
    );
    assert_eq!(
        snap.get_many(&[]).expect("get_many of nothing"),
        Vec::<Option<Vec<u8>>>::new()
    );
    drop(snap);
    let seen = store
        .transact(|tx| {
            tx.put(b"m/new", b"3");
            tx.delete(b"m/a");
            tx.get_many(&[b"m/a", b"m/new", b"m/b"])
        })
        .expect("transaction");
    assert_eq!(
        seen,
        vec![None, v(b"3"), v(b"2")],
        "transaction get_many: read-your-writes"
    );
}

/// Concurrent read-modify-write transactions are serializable: no increment is lost.
pub fn serializable_increments(store: &Store) {
    let threads = 8;
    let per_thread = 250;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..per_thread {
                    store
                        .transact(|tx| {
                            let n = tx
                                .get(b"c/counter")?
                                .map(|v| u64::from_be_bytes(v.try_into().expect("8 bytes")))
                                .unwrap_or(0);
                            tx.put(b"c/counter", &(n + 1).to_be_bytes());
                            Ok::<_, Error>(())
                        })
                        .expect("increment");
                }
            });
        }
    });
    let n = store
        .get(b"c/counter")
        .expect("get")
        .expect("counter exists");
    assert_eq!(
        u64::from_be_bytes(n.try_into().expect("8 bytes")),
        (threads * per_thread) as u64,
        "lost updates"
    );
}

/// Runs every check against one store; each check uses its own key prefix.
pub fn run_all(store: &Store) {
    ordering(store);
    range_scans(store);
    batches(store);
    snapshots(store);
    multi_key_reads(store);
    serializable_increments(store);
}

/// The parent's half of a `kill -9` test: runs this test binary's `child_test` in a child
/// process with `env` set, reads the `acked N` lines it prints after each acknowledged write
/// until N reaches `at_least`, then kills it with SIGKILL. Returns the last N acknowledged;
/// the caller checks that every write up to it is in the engine.
pub fn kill_writer_after(child_test: &str, env: (&str, &str), at_least: u64) -> u64 {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", child_test, "--nocapture", "--test-threads=1"])
        .env(env.0, env.1)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the writer");
    let lines = BufReader::new(child.stdout.take().expect("child stdout")).lines();
    let mut acked = None;
    for line in lines {
        if let Some(n) = line.expect("child output").strip_prefix("acked ") {
            let n: u64 = n.trim().parse().expect("acked N");
            acked = Some(n);
            if n >= at_least {
                break;
            }
        }
    }
    child.kill().expect("kill the writer"); // SIGKILL on Unix
    child.wait().expect("reap the writer");
    acked.expect("child acknowledged writes")
}
