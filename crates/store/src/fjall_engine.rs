//! The embedded engine: one fjall keyspace (an LSM tree with a write-ahead journal) in one
//! local directory, holding a single partition. Callers namespace their keys themselves.
//!
//! Why fjall and not redb (measured by `benches/engine-choice`, numbers in its README): tables
//! take many small independent read-modify-write transactions. fjall appends each commit to
//! its journal and hands it to the OS (`PersistMode::Buffer`), which survives `kill -9` of the
//! process at ~3 µs per commit (179k commits/s on our 2-core CI machine). redb's only crash-safe
//! commit mode fsyncs every commit (3.4k commits/s, p99 3.8 ms there), and its cheaper mode lost
//! every acknowledged commit on `kill -9` in the same benchmark. redb scans faster; small
//! durable writes matter more here.
//! Power-loss durability is available with [`Durability::Fsync`].

use std::path::Path;

use fjall::{Config, PartitionCreateOptions, PersistMode, TxKeyspace, TxPartitionHandle};

use crate::{Direction, Engine, Error, KeyRange, Outcome, Read, Result, ScanIter, Snapshot, Tx};

/// How far an acknowledged write has travelled before `write` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Written to the operating system: survives a crash of nuvem (`kill -9`), not a power
    /// loss of the machine. The default, like most databases' group-commit defaults.
    #[default]
    Process,
    /// fsynced before the write returns: survives power loss too.
    Fsync,
}

/// What is on disk where a store should be, before it is opened. Opening creates a store
/// wherever there is none, so a caller that must not mistake a lost store for a new one
/// looks first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDisk {
    /// No folder: a new data dir, or a store that was removed.
    Missing,
    /// The folder exists and holds nothing.
    Empty,
    /// The folder holds a store (fjall's `version` marker is there).
    Present,
    /// The folder holds files but no store marker: what is left of a damaged store.
    Unrecognized,
}

pub struct FjallEngine {
    keyspace: TxKeyspace,
    data: TxPartitionHandle,
    durability: Durability,
}

fn io(e: impl std::fmt::Display) -> Error {
    Error::Io(e.to_string())
}

impl FjallEngine {
    /// What is on disk in `dir`, without creating or changing anything.
    pub fn on_disk(dir: &Path) -> Result<OnDisk> {
        let mut entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(OnDisk::Missing),
            Err(e) => return Err(io(e)),
        };
        if entries.next().is_none() {
            return Ok(OnDisk::Empty);
        }
        // fjall writes this marker when it creates a keyspace and never removes it.
        if dir.join("version").is_file() {
            Ok(OnDisk::Present)
        } else {
            Ok(OnDisk::Unrecognized)
        }
    }

    /// Opens (or creates) the engine in `dir`, recovering from the journal after a crash.
    pub fn open(dir: &Path, durability: Durability) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io)?;
        let keyspace = Config::new(dir)
            // A background fsync once a second bounds what a power loss can take in
            // `Process` mode.
            .fsync_ms(Some(1000))
            .open_transactional()
            .map_err(|e| Error::Corrupt(e.to_string()))?;
        let data = keyspace
            .open_partition("data", PartitionCreateOptions::default())
            .map_err(|e| Error::Corrupt(e.to_string()))?;
        Ok(Self {
            keyspace,
            data,
            durability,
        })
    }
}

fn scan_iter<'a, I>(iter: I, direction: Direction) -> ScanIter<'a>
where
    I: DoubleEndedIterator<Item = fjall::Result<fjall::KvPair>> + 'a,
{
    let map =
        |r: fjall::Result<fjall::KvPair>| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(io);
    match direction {
        Direction::Forward => Box::new(iter.map(map)),
        Direction::Reverse => Box::new(iter.rev().map(map)),
    }
}

struct FjallSnapshot<'a> {
    tx: fjall::ReadTransaction,
    data: &'a TxPartitionHandle,
}

impl Read for FjallSnapshot<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tx.get(self.data, key).map_err(io)?.map(|v| v.to_vec()))
    }

    fn scan(&self, range: KeyRange, direction: Direction) -> ScanIter<'_> {
        scan_iter(
            self.tx
                .range::<Vec<u8>, _>(self.data, (range.start, range.end)),
            direction,
        )
    }
}

impl Snapshot for FjallSnapshot<'_> {}

struct FjallTx<'a, 'k> {
    tx: fjall::WriteTransaction<'k>,
    data: &'a TxPartitionHandle,
}

impl Read for FjallTx<'_, '_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tx.get(self.data, key).map_err(io)?.map(|v| v.to_vec()))
    }

    fn scan(&self, range: KeyRange, direction: Direction) -> ScanIter<'_> {
        scan_iter(
            self.tx
                .range::<Vec<u8>, _>(self.data, (range.start, range.end)),
            direction,
        )
    }
}

impl Tx for FjallTx<'_, '_> {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.tx.insert(self.data, key, value);
    }

    fn delete(&mut self, key: &[u8]) {
        self.tx.remove(self.data, key);
    }
}

impl Engine for FjallEngine {
    fn snapshot(&self) -> Box<dyn Snapshot + '_> {
        Box::new(FjallSnapshot {
            tx: self.keyspace.read_tx(),
            data: &self.data,
        })
    }

    fn write(&self, body: &mut dyn FnMut(&mut dyn Tx) -> Result<Outcome>) -> Result<()> {
        let mode = match self.durability {
            Durability::Process => PersistMode::Buffer,
            Durability::Fsync => PersistMode::SyncData,
        };
        // fjall's single-writer transactions are serialized by a lock, so the body runs once.
        let mut tx = FjallTx {
            tx: self.keyspace.write_tx().durability(Some(mode)),
            data: &self.data,
        };
        match body(&mut tx)? {
            Outcome::Commit => tx.tx.commit().map_err(io),
            Outcome::Abort => {
                tx.tx.rollback();
                Ok(())
            }
        }
    }

    fn sync(&self) -> Result<()> {
        self.keyspace.persist(PersistMode::SyncAll).map_err(io)
    }

    fn name(&self) -> &'static str {
        "fjall"
    }
}
