//! Invalidations shared by every node that serves one distribution from one store.
//!
//! CreateInvalidation on any node is one transaction that records the batch under the next
//! sequence number (`cloudfront/<dist>/inv/<seq>`, with indexes by id and CallerReference)
//! and touches [`TOPIC`]. Each node applies the batches past the last one it applied, in
//! order, clearing its location tiers, regional memory and disk, and only then acknowledges
//! them in its node record (`cloudfront/<dist>/node/<node id>`: the last sequence applied,
//! and a heartbeat). A batch is `Completed` once every live node (a heartbeat within
//! [`LIVE_MS`]) acknowledged it; a node that stopped heartbeating no longer holds it back
//! (it is gone, and a restarted process is a new node that replays what it missed).
//!
//! A node that joins replays, on its disk tier, the stored batches made after its oldest
//! cache file was written (its memory tiers start empty), then acknowledges up to the latest.
//!
//! Must not: touch caches itself (the edge passes what clears them), or keep anything but
//! invalidation and node records under `cloudfront/`.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nuvem_store::{Direction, KeyRange, Read, Store, Tx, cluster};
use serde::{Deserialize, Serialize};

use crate::invalidation::{Invalidation, InvalidationError};

/// The change-notice topic of the invalidations.
pub const TOPIC: &str = "edge/invalidations";
/// How recent a node's heartbeat must be for the node to count as live.
pub const LIVE_MS: u64 = 5_000;
/// How often a node should heartbeat (the binary's task): well inside [`LIVE_MS`].
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// Node records without a heartbeat for this long are removed when a node joins.
const FORGET_MS: u64 = 3_600_000;
/// Allowance for clocks that disagree, when a joining node decides which of its cache files
/// were written before a batch (a file written up to this long after it is cleared too).
const CLOCK_SLACK_MS: u64 = 5_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    id: String,
    caller_reference: String,
    paths: Vec<String>,
    create_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct NodeRecord {
    applied: u64,
    heartbeat_ms: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn time_of(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn store_error(e: impl std::fmt::Display) -> InvalidationError {
    InvalidationError::Unavailable(e.to_string())
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, InvalidationError> {
    serde_json::from_slice(bytes).map_err(|e| store_error(format!("a stored record: {e}")))
}

fn seq_of(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or_default()
}

/// One node's handle on the shared invalidations of one distribution.
pub(crate) struct Shared {
    store: Store,
    /// `cloudfront/<distribution id>/`.
    prefix: String,
    node: String,
    /// The last sequence number this node applied; held while applying, so batches are
    /// applied in order and acknowledged once.
    applied: Mutex<u64>,
}

impl Shared {
    pub fn new(store: Store, distribution_id: &str, node: &str) -> Self {
        Self {
            store,
            prefix: format!("cloudfront/{distribution_id}/"),
            node: node.to_owned(),
            applied: Mutex::new(0),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn key(&self, what: &str) -> Vec<u8> {
        format!("{}{what}", self.prefix).into_bytes()
    }

    fn inv_key(&self, seq: u64) -> Vec<u8> {
        self.key(&format!("inv/{seq:020}"))
    }

    fn node_key(&self) -> Vec<u8> {
        self.key(&format!("node/{}", self.node))
    }

    fn lock_applied(&self) -> std::sync::MutexGuard<'_, u64> {
        self.applied.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers this node: replays on the disk tier (through `replay(patterns, created)`)
    /// the stored batches it may hold stale files for, then acknowledges up to the latest.
    pub fn join(
        &self,
        oldest_file: Option<SystemTime>,
        replay: impl Fn(&[String], SystemTime),
    ) -> Result<(), InvalidationError> {
        let mut applied = self.lock_applied();
        let snap = self.store.snapshot();
        let latest = snap
            .get(&self.key("seq"))
            .map_err(store_error)?
            .map_or(0, |b| seq_of(&b));
        if let Some(oldest) = oldest_file {
            let oldest_ms = oldest
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            for entry in snap.scan(KeyRange::prefix(&self.key("inv/")), Direction::Forward) {
                let (_, v) = entry.map_err(store_error)?;
                let rec: Record = decode(&v)?;
                if rec.create_ms + CLOCK_SLACK_MS >= oldest_ms {
                    replay(&rec.paths, time_of(rec.create_ms + CLOCK_SLACK_MS));
                }
            }
        }
        drop(snap);
        *applied = latest;
        let now = now_ms();
        let node_prefix = self.key("node/");
        self.store
            .transact(|tx| {
                let stale: Vec<Vec<u8>> = tx
                    .scan(KeyRange::prefix(&node_prefix), Direction::Forward)
                    .filter_map(|e| e.ok())
                    .filter(|(_, v)| {
                        serde_json::from_slice::<NodeRecord>(v)
                            .map_or(true, |n| n.heartbeat_ms + FORGET_MS < now)
                    })
                    .map(|(k, _)| k)
                    .collect();
                for k in stale {
                    tx.delete(&k);
                }
                self.put_node(tx, latest, now);
                Ok::<_, nuvem_store::Error>(())
            })
            .map_err(store_error)
    }

    fn put_node(&self, tx: &mut dyn Tx, applied: u64, now: u64) {
        let rec = NodeRecord {
            applied,
            heartbeat_ms: now,
        };
        tx.put(
            &self.node_key(),
            &serde_json::to_vec(&rec).unwrap_or_default(),
        );
    }

    /// Removes this node's record (a clean shutdown): it no longer holds batches back.
    pub fn leave(&self) -> Result<(), InvalidationError> {
        let key = self.node_key();
        self.store
            .transact(|tx| {
                tx.delete(&key);
                Ok::<_, nuvem_store::Error>(())
            })
            .map_err(store_error)
    }

    /// Records a batch, or finds the one made with the same CallerReference (CloudFront
    /// returns it again for the same paths, and refuses other paths).
    pub fn create(
        &self,
        caller_reference: &str,
        paths: &[String],
    ) -> Result<u64, InvalidationError> {
        let ref_key = self.key(&format!("ref/{caller_reference}"));
        let seq_key = self.key("seq");
        self.store.transact(|tx| {
            if let Some(seq) = tx.get(&ref_key).map_err(store_error)? {
                let seq = seq_of(&seq);
                let rec = self.record(&*tx, seq)?;
                return if rec.paths == paths {
                    Ok(seq)
                } else {
                    Err(InvalidationError::BatchAlreadyExists(
                        caller_reference.into(),
                    ))
                };
            }
            let seq = tx
                .get(&seq_key)
                .map_err(store_error)?
                .map_or(0, |b| seq_of(&b))
                + 1;
            let rec = Record {
                id: format!(
                    "I{}",
                    uuid::Uuid::new_v4().simple().to_string()[..13].to_ascii_uppercase()
                ),
                caller_reference: caller_reference.to_owned(),
                paths: paths.to_vec(),
                create_ms: now_ms(),
            };
            tx.put(&seq_key, &seq.to_be_bytes());
            tx.put(
                &self.inv_key(seq),
                &serde_json::to_vec(&rec).unwrap_or_default(),
            );
            tx.put(&self.key(&format!("id/{}", rec.id)), &seq.to_be_bytes());
            tx.put(&ref_key, &seq.to_be_bytes());
            cluster::touch(tx, TOPIC).map_err(store_error)?;
            Ok(seq)
        })
    }

    fn record<R: Read + ?Sized>(&self, r: &R, seq: u64) -> Result<Record, InvalidationError> {
        let bytes = r
            .get(&self.inv_key(seq))
            .map_err(store_error)?
            .ok_or_else(|| store_error(format!("invalidation {seq} is indexed but missing")))?;
        decode(&bytes)
    }

    /// Applies (through `clear`) every batch past the last one this node applied, in order,
    /// then acknowledges them and heartbeats.
    pub fn catch_up(&self, clear: impl Fn(&[String])) -> Result<(), InvalidationError> {
        let mut applied = self.lock_applied();
        let start = self.inv_key(*applied + 1);
        let end = self.key("inv0");
        let mut last = *applied;
        {
            let snap = self.store.snapshot();
            for entry in snap.scan(KeyRange::half_open(&start, &end), Direction::Forward) {
                let (k, v) = entry.map_err(store_error)?;
                let rec: Record = decode(&v)?;
                clear(&rec.paths);
                let digits = &k[k.len().saturating_sub(20)..];
                last = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(last);
            }
        }
        // Cleared before acknowledged: a batch counts as applied here only once it is.
        *applied = last;
        let now = now_ms();
        self.store
            .transact(|tx| {
                self.put_node(tx, last, now);
                Ok::<_, nuvem_store::Error>(())
            })
            .map_err(store_error)
    }

    /// The last sequence number every live node has applied.
    fn completed_through<R: Read + ?Sized>(&self, r: &R) -> Result<u64, InvalidationError> {
        let mine = *self.lock_applied();
        // The embedded store has one process: other node records are a previous run's.
        if !self.store.is_remote() {
            return Ok(mine);
        }
        let now = now_ms();
        let mut through = mine;
        for entry in r.scan(KeyRange::prefix(&self.key("node/")), Direction::Forward) {
            let (k, v) = entry.map_err(store_error)?;
            if k == self.node_key() {
                continue;
            }
            let Ok(node) = serde_json::from_slice::<NodeRecord>(&v) else {
                continue;
            };
            if node.heartbeat_ms + LIVE_MS >= now {
                through = through.min(node.applied);
            }
        }
        Ok(through)
    }

    fn invalidation(rec: Record, seq: u64, through: u64) -> Invalidation {
        Invalidation {
            id: rec.id,
            caller_reference: rec.caller_reference,
            paths: rec.paths,
            status: if seq <= through {
                "Completed"
            } else {
                "InProgress"
            },
            create_time: time_of(rec.create_ms),
        }
    }

    /// One batch by sequence number, with its status now.
    pub fn by_seq(&self, seq: u64) -> Result<Invalidation, InvalidationError> {
        let snap = self.store.snapshot();
        let rec = self.record(&*snap, seq)?;
        Ok(Self::invalidation(
            rec,
            seq,
            self.completed_through(&*snap)?,
        ))
    }

    /// GetInvalidation.
    pub fn get(&self, id: &str) -> Result<Invalidation, InvalidationError> {
        let snap = self.store.snapshot();
        let seq = snap
            .get(&self.key(&format!("id/{id}")))
            .map_err(store_error)?
            .ok_or(InvalidationError::NoSuchInvalidation)?;
        let seq = seq_of(&seq);
        let rec = self.record(&*snap, seq)?;
        Ok(Self::invalidation(
            rec,
            seq,
            self.completed_through(&*snap)?,
        ))
    }

    /// ListInvalidations: newest first.
    pub fn list(&self) -> Result<Vec<Invalidation>, InvalidationError> {
        let snap = self.store.snapshot();
        let through = self.completed_through(&*snap)?;
        let mut out = Vec::new();
        for entry in snap.scan(KeyRange::prefix(&self.key("inv/")), Direction::Reverse) {
            let (k, v) = entry.map_err(store_error)?;
            let seq = std::str::from_utf8(&k[k.len().saturating_sub(20)..])
                .ok()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            out.push(Self::invalidation(decode(&v)?, seq, through));
        }
        Ok(out)
    }
}
