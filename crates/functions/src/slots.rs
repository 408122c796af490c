//! Concurrency slots shared by the nodes of a cluster: the allocator that keeps the sum of
//! invocations running on every node within a limit (a function's reserved concurrency, or
//! the account's unreserved concurrency) without a database round trip per invocation.
//!
//! Each node holds an *allocation* per bucket (a function name, or the account's shared
//! bucket): a row `lambda/slots/<bucket>/<node>` → (slots held, valid until). An invocation
//! takes a slot from the node's allocation in memory when one is free; only a node whose
//! allocation is saturated asks the store for one more, in one transaction that sums the
//! other nodes' live allocations and grows its own only if the sum stays within the limit.
//! [`Slots::maintain`] (every few hundred milliseconds) gives back slots unused for `linger`
//! and renews allocations before they expire; the rows of a node that stopped renewing (it
//! crashed) stop counting after `ttl`, so its slots are reclaimed. A node whose allocation is
//! about to expire treats it as gone and asks the store again, so a node cut off from the
//! database stops starting invocations before the others may count its slots as free.
//!
//! What can exceed the limit, briefly: invocations already running when their node's
//! allocation expired (a node that could not reach the database for `ttl` while busy), and
//! those running when the limit was lowered (as on AWS, lowering reserved concurrency does
//! not stop running invocations; no new slot is granted until the sum is below the new limit).
//!
//! Must not: know what a function is (the caller names buckets and computes limits), or be
//! called from an async worker without [`nuvem_store::Store::run`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nuvem_store::{Direction, KeyRange, Read, Store, Tx};

use crate::error::{Error, Result};

/// Where allocations live: `lambda/slots/<bucket>/<node>` → count (4 bytes BE), then valid
/// until (8 bytes BE, wall-clock ms).
pub const PREFIX: &[u8] = b"lambda/slots/";

fn bucket_prefix(bucket: &str) -> Vec<u8> {
    [PREFIX, bucket.as_bytes(), b"/"].concat()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

fn encode(count: u32, until_ms: u64) -> Vec<u8> {
    let mut v = count.to_be_bytes().to_vec();
    v.extend_from_slice(&until_ms.to_be_bytes());
    v
}

fn decode(v: &[u8]) -> Option<(u32, u64)> {
    let (count, until) = v.split_at_checked(4)?;
    Some((
        u32::from_be_bytes(count.try_into().ok()?),
        u64::from_be_bytes(until.try_into().ok()?),
    ))
}

/// How long allocations live and how long unused slots are kept.
#[derive(Debug, Clone, Copy)]
pub struct SlotTimes {
    /// An allocation not renewed for this long stops counting (its node is presumed dead).
    pub ttl: Duration,
    /// Slots unused for this long go back to the cluster at the next [`Slots::maintain`].
    pub linger: Duration,
}

impl Default for SlotTimes {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(10),
            linger: Duration::from_millis(500),
        }
    }
}

/// One node's allocator. Cheap to share behind an `Arc`.
pub struct Slots {
    store: Store,
    node: String,
    times: SlotTimes,
    buckets: Mutex<HashMap<String, Arc<Bucket>>>,
    transactions: AtomicU64,
}

struct Bucket {
    key: Vec<u8>,
    prefix: Vec<u8>,
    /// Serialises this node's transactions on the bucket, so `held` always mirrors the row
    /// the last one wrote.
    db: Mutex<()>,
    state: Mutex<State>,
}

struct State {
    held: u32,
    in_use: u32,
    until_ms: u64,
    last_busy: Instant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One running invocation's share of a bucket; dropping it frees the slot on this node (the
/// allocation keeps it for `linger`, for the next invocation).
pub struct Slot {
    bucket: Arc<Bucket>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = lock(&self.bucket.state);
        s.in_use = s.in_use.saturating_sub(1);
        s.last_busy = Instant::now();
    }
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slots").field("node", &self.node).finish()
    }
}

impl Slots {
    pub fn new(store: Store, node: impl Into<String>, times: SlotTimes) -> Self {
        Self {
            store,
            node: node.into(),
            times,
            buckets: Mutex::default(),
            transactions: AtomicU64::new(0),
        }
    }

    /// Transactions this allocator ran (acquisitions that needed the store, returns and
    /// renewals): what an invocation served from the node's allocation saves.
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    fn bucket(&self, name: &str) -> Arc<Bucket> {
        lock(&self.buckets)
            .entry(name.to_owned())
            .or_insert_with(|| {
                let prefix = bucket_prefix(name);
                Arc::new(Bucket {
                    key: [prefix.as_slice(), self.node.as_bytes()].concat(),
                    prefix,
                    db: Mutex::new(()),
                    state: Mutex::new(State {
                        held: 0,
                        in_use: 0,
                        until_ms: 0,
                        last_busy: Instant::now(),
                    }),
                })
            })
            .clone()
    }

    /// A slot from the node's allocation, if one is free and the allocation is well within
    /// its lifetime.
    fn take_local(&self, bucket: &Arc<Bucket>) -> Option<Slot> {
        let mut s = lock(&bucket.state);
        let margin = self.times.ttl.as_millis() as u64 / 4;
        if s.in_use < s.held && s.until_ms > now_ms() + margin {
            s.in_use += 1;
            s.last_busy = Instant::now();
            return Some(Slot {
                bucket: bucket.clone(),
            });
        }
        None
    }

    /// A slot from the node's allocation in `bucket`, from memory only (no store call, so an
    /// async caller may try it before [`Slots::acquire`] and its thread hop).
    pub fn try_take(&self, bucket: &str) -> Option<Slot> {
        let b = lock(&self.buckets).get(bucket).cloned()?;
        self.take_local(&b)
    }

    /// A slot in `bucket`, whose limit `limit` reads in the transaction (so that a limit
    /// stored beside the allocations is read consistently with them); `None` when every slot
    /// is taken cluster-wide. Served from memory when the node's allocation has a free slot;
    /// otherwise one transaction.
    pub fn acquire(
        &self,
        bucket: &str,
        limit: &dyn Fn(&dyn Read) -> Result<u32>,
    ) -> Result<Option<Slot>> {
        let b = self.bucket(bucket);
        if let Some(slot) = self.take_local(&b) {
            return Ok(Some(slot));
        }
        let _db = lock(&b.db);
        // Another thread of this node may have grown the allocation meanwhile.
        if let Some(slot) = self.take_local(&b) {
            return Ok(Some(slot));
        }
        let in_use = lock(&b.state).in_use;
        let want = in_use + 1;
        let ttl = self.times.ttl.as_millis() as u64;
        self.transactions.fetch_add(1, Ordering::Relaxed);
        let (held, until_ms) = self.store.transact(|tx| {
            let now = now_ms();
            let others = live_others(tx, &b, now)?;
            let limit = u64::from(limit(&*tx)?);
            // Granted: the allocation grows by one. Refused: it shrinks to what runs, which
            // also gives back what an expired allocation still counted.
            let held = if others + u64::from(want) <= limit {
                want
            } else {
                in_use
            };
            // A refusal that changes nothing writes nothing (throttled requests under load
            // read, they do not contend).
            let mine = tx.get(&b.key)?.as_deref().and_then(decode);
            if let Some((count, until)) = mine
                && held < want
                && count == held
                && until > now + ttl / 2
            {
                return Ok((held, until));
            }
            if mine.is_none() && held == 0 {
                return Ok((0, 0));
            }
            write_row(tx, &b.key, held, now + ttl);
            Ok::<_, Error>((held, now + ttl))
        })?;
        let mut s = lock(&b.state);
        s.held = held;
        s.until_ms = until_ms;
        if s.in_use < s.held {
            s.in_use += 1;
            s.last_busy = Instant::now();
            return Ok(Some(Slot { bucket: b.clone() }));
        }
        Ok(None)
    }

    /// Gives back slots unused for `linger` and renews allocations past half their lifetime.
    /// Call it every fraction of `ttl / 4` (the service does, from a blocking thread).
    pub fn maintain(&self) -> Result<()> {
        let buckets: Vec<Arc<Bucket>> = lock(&self.buckets).values().cloned().collect();
        let ttl = self.times.ttl.as_millis() as u64;
        for b in buckets {
            let _db = lock(&b.db);
            let target = {
                let mut s = lock(&b.state);
                let surplus = s.held > s.in_use && s.last_busy.elapsed() >= self.times.linger;
                let renew = s.held > 0 && s.until_ms < now_ms() + ttl / 2;
                if !surplus && !renew {
                    continue;
                }
                if surplus {
                    // Shrink in memory first: no invocation takes a slot that is on its way
                    // back.
                    s.held = s.in_use;
                }
                s.held
            };
            self.transactions.fetch_add(1, Ordering::Relaxed);
            let until_ms = self.store.transact(|tx| {
                let until = now_ms() + ttl;
                write_row(tx, &b.key, target, until);
                Ok::<_, Error>(until)
            })?;
            lock(&b.state).until_ms = until_ms;
        }
        Ok(())
    }

    /// Gives every allocation of this node back (shutdown), so the other nodes need not wait
    /// for them to expire. Slots still in use stay counted until they expire.
    pub fn release_all(&self) -> Result<()> {
        let buckets: Vec<Arc<Bucket>> = lock(&self.buckets).values().cloned().collect();
        for b in buckets {
            let _db = lock(&b.db);
            let target = {
                let mut s = lock(&b.state);
                s.held = s.in_use;
                s.held
            };
            let ttl = self.times.ttl.as_millis() as u64;
            self.store.transact(|tx| {
                write_row(tx, &b.key, target, now_ms() + ttl);
                Ok::<_, Error>(())
            })?;
        }
        Ok(())
    }
}

/// The slots other nodes hold in the bucket, counting only live allocations (and deleting
/// expired ones, so that the rows of dead nodes do not pile up).
fn live_others(tx: &mut dyn Tx, b: &Bucket, now: u64) -> Result<u64> {
    let mut sum = 0u64;
    let mut expired = Vec::new();
    for entry in tx.scan(KeyRange::prefix(&b.prefix), Direction::Forward) {
        let (k, v) = entry?;
        if k == b.key {
            continue;
        }
        match decode(&v) {
            Some((count, until)) if until > now => sum += u64::from(count),
            _ => expired.push(k),
        }
    }
    for k in expired {
        tx.delete(&k);
    }
    Ok(sum)
}

fn write_row(tx: &mut dyn Tx, key: &[u8], held: u32, until_ms: u64) {
    if held == 0 {
        tx.delete(key);
    } else {
        tx.put(key, &encode(held, until_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nuvem_store::{Durability, FjallEngine};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let engine = FjallEngine::open(dir.path(), Durability::Process).unwrap();
        (dir, Store::new(engine))
    }

    fn node(store: &Store, name: &str, ttl_ms: u64, linger_ms: u64) -> Slots {
        Slots::new(
            store.clone(),
            name,
            SlotTimes {
                ttl: Duration::from_millis(ttl_ms),
                linger: Duration::from_millis(linger_ms),
            },
        )
    }

    fn limit(n: u32) -> impl Fn(&dyn Read) -> Result<u32> {
        move |_| Ok(n)
    }

    #[track_caller]
    fn take(s: &Slots, bucket: &str, n: u32) -> Slot {
        s.acquire(bucket, &limit(n))
            .unwrap()
            .expect("a slot should be free")
    }

    #[track_caller]
    fn refused(s: &Slots, bucket: &str, n: u32) {
        assert!(s.acquire(bucket, &limit(n)).unwrap().is_none(), "no slot");
    }

    #[test]
    fn the_sum_over_nodes_stays_within_the_limit() {
        let (_dir, store) = store();
        let a = node(&store, "a", 60_000, 0);
        let b = node(&store, "b", 60_000, 0);
        let a1 = take(&a, "f", 3);
        let _a2 = take(&a, "f", 3);
        let _b1 = take(&b, "f", 3);
        refused(&b, "f", 3);
        refused(&a, "f", 3);
        // A freed slot stays with its node until maintain gives it back.
        drop(a1);
        refused(&b, "f", 3);
        a.maintain().unwrap();
        let _b2 = take(&b, "f", 3);
        refused(&a, "f", 3);
        // Buckets are independent.
        let _g = take(&a, "g", 1);
        refused(&b, "g", 1);
    }

    #[test]
    fn a_refused_node_holds_nothing() {
        let (_dir, store) = store();
        let a = node(&store, "a", 60_000, 0);
        let b = node(&store, "b", 60_000, 0);
        let _a1 = take(&a, "f", 1);
        let before = store
            .snapshot()
            .scan(KeyRange::prefix(PREFIX), Direction::Forward)
            .count();
        for _ in 0..3 {
            refused(&b, "f", 1);
        }
        let rows: Vec<_> = store
            .snapshot()
            .scan(KeyRange::prefix(PREFIX), Direction::Forward)
            .map(|e| e.unwrap().0)
            .collect();
        assert_eq!(
            (before, rows.len()),
            (1, 1),
            "only a's allocation: {rows:?}"
        );
    }

    #[test]
    fn a_held_slot_is_reused_without_the_store() {
        let (_dir, store) = store();
        let a = node(&store, "a", 60_000, 60_000);
        drop(take(&a, "f", 2));
        let before = a.transactions();
        for _ in 0..100 {
            drop(take(&a, "f", 2));
        }
        assert_eq!(
            a.transactions(),
            before,
            "served from the node's allocation"
        );
        a.maintain().unwrap();
        assert_eq!(
            a.transactions(),
            before,
            "within linger and ttl: nothing to do"
        );
    }

    #[test]
    fn a_dead_nodes_slots_are_reclaimed_after_its_ttl() {
        let (_dir, store) = store();
        let dead = node(&store, "dead", 200, 0);
        let held = take(&dead, "f", 1);
        std::mem::forget(held);
        drop(dead);
        let b = node(&store, "b", 60_000, 0);
        refused(&b, "f", 1);
        std::thread::sleep(Duration::from_millis(250));
        let _s = take(&b, "f", 1);
        let rows = store
            .snapshot()
            .scan(KeyRange::prefix(PREFIX), Direction::Forward)
            .count();
        assert_eq!(rows, 1, "the dead node's row is gone");
    }

    #[test]
    fn a_lowered_limit_grants_nothing_until_the_sum_is_below_it() {
        let (_dir, store) = store();
        let a = node(&store, "a", 60_000, 0);
        let b = node(&store, "b", 60_000, 0);
        let a1 = take(&a, "f", 4);
        let a2 = take(&a, "f", 4);
        refused(&b, "f", 1);
        drop(a1);
        a.maintain().unwrap();
        refused(&b, "f", 1);
        drop(a2);
        a.maintain().unwrap();
        let _b1 = take(&b, "f", 1);
    }

    #[test]
    fn renewal_keeps_an_allocation_alive_and_release_all_frees_it() {
        let (_dir, store) = store();
        let a = node(&store, "a", 400, 60_000);
        let b = node(&store, "b", 400, 0);
        let s = take(&a, "f", 1);
        for _ in 0..6 {
            std::thread::sleep(Duration::from_millis(100));
            a.maintain().unwrap();
        }
        refused(&b, "f", 1);
        drop(s);
        a.release_all().unwrap();
        let _b1 = take(&b, "f", 1);
    }

    #[test]
    fn concurrent_nodes_never_run_more_than_the_limit() {
        let (_dir, store) = store();
        let running = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let granted = Arc::new(AtomicU64::new(0));
        let nodes: Vec<Arc<Slots>> = (0..3)
            .map(|i| Arc::new(node(&store, &format!("n{i}"), 60_000, 1)))
            .collect();
        let mut threads = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            for t in 0..3 {
                let (n, running, peak, granted) =
                    (n.clone(), running.clone(), peak.clone(), granted.clone());
                threads.push(std::thread::spawn(move || {
                    for round in 0..60 {
                        if let Some(slot) = n.acquire("f", &limit(4)).unwrap() {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            granted.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_micros(200));
                            running.fetch_sub(1, Ordering::SeqCst);
                            drop(slot);
                        }
                        if (round + i + t) % 7 == 0 {
                            n.maintain().unwrap();
                        }
                    }
                }));
            }
        }
        for t in threads {
            t.join().unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) <= 4, "peak {peak:?}");
        assert!(granted.load(Ordering::Relaxed) > 0);
    }
}
