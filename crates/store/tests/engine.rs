//! The conformance suite and the crash test, run against the embedded engine on a real temp dir.

use nuvem_store::{Durability, FjallEngine, OnDisk, Store, conformance};

fn open(dir: &std::path::Path) -> Store {
    Store::new(FjallEngine::open(dir, Durability::Process).expect("open engine"))
}

#[test]
fn fjall_passes_conformance() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run_all(&open(dir.path()));
}

#[test]
fn data_survives_clean_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store
            .apply(&[(b"k".to_vec(), Some(b"v".to_vec()))])
            .unwrap();
        store.sync().unwrap();
    }
    assert_eq!(
        open(dir.path()).get(b"k").unwrap().as_deref(),
        Some(&b"v"[..])
    );
}

/// Issue 15: opening creates a store wherever there is none, so start-up looks first and
/// must tell a new folder from a lost or damaged store.
#[test]
fn issue_15_what_is_on_disk_before_opening() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let check = |expected: OnDisk| assert_eq!(FjallEngine::on_disk(&store_dir).unwrap(), expected);
    check(OnDisk::Missing);
    std::fs::create_dir(&store_dir).unwrap();
    check(OnDisk::Empty);
    {
        let store = open(&store_dir);
        assert!(store.is_empty().unwrap());
        store
            .apply(&[(b"k".to_vec(), Some(b"v".to_vec()))])
            .unwrap();
        assert!(!store.is_empty().unwrap());
        store.sync().unwrap();
    }
    check(OnDisk::Present);
    std::fs::remove_file(store_dir.join("version")).unwrap();
    check(OnDisk::Unrecognized);
}

const CHILD_DIR: &str = "NUVEM_STORE_CRASH_CHILD_DIR";

/// The child half of the crash test: writes keys forever, announcing each one after its write
/// returned. Does nothing unless the parent set the variable.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let store = open(std::path::Path::new(&dir));
    for i in 0u64.. {
        let key = format!("crash/{i:010}");
        store
            .apply(&[(key.into_bytes(), Some(i.to_be_bytes().to_vec()))])
            .unwrap();
        println!("acked {i}");
    }
}

/// A write that returned OK survives `kill -9` of the writing process.
#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let acked = conformance::kill_writer_after(
        "crash_child_writer",
        (CHILD_DIR, dir.path().to_str().unwrap()),
        2000,
    );
    let store = open(dir.path());
    for i in 0..=acked {
        let v = store.get(format!("crash/{i:010}").as_bytes()).unwrap();
        assert_eq!(
            v,
            Some(i.to_be_bytes().to_vec()),
            "acknowledged write {i} lost after kill -9"
        );
    }
}
