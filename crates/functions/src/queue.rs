//! The asynchronous invocations (InvocationType=Event) of a store shared by several nodes:
//! a queue in the store with per-item claims, so that each accepted event runs (and is
//! retried) once in the cluster, whichever node accepted it, and survives that node.
//!
//! An accepted event is one record `lambda/q/<enqueue ms, 16 hex>-<uuid>` (JSON [`Item`]),
//! committed before the 202. Any node may run a *due* item (its retry time has come, and it
//! is not claimed, or its claim expired): it first waits for a concurrency slot, then claims
//! the item in a transaction (holder and deadline: long enough for the environment's init and
//! the function's timeout, so a claim never needs renewing), runs it, and then deletes it, or
//! on failure records the attempt and when to retry, unclaimed, for any node to pick up. A
//! node that dies with a claim leaves it to expire; another node then runs the event again
//! (Lambda's asynchronous invocation is at least once as well). The accepting node starts
//! on its event at once; every node also sweeps the queue for due items.
//!
//! Must not: run functions (see [`crate::dispatch`]), or be called from an async worker
//! without [`nuvem_store::Store::run`].

use std::time::{SystemTime, UNIX_EPOCH};

use nuvem_store::{Direction, KeyRange, Store};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const PREFIX: &[u8] = b"lambda/q/";

/// One queued event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub function: String,
    pub request_id: String,
    /// The event (JSON text).
    pub payload: String,
    pub client_context: Option<String>,
    /// Attempts that failed so far.
    pub attempt: u32,
    /// Not to run before (wall-clock ms): the retry delay.
    pub not_before_ms: u64,
    /// The node running it, until `until_ms`.
    pub holder: Option<String>,
    pub until_ms: u64,
    /// When the event was accepted (wall-clock ms), for its maximum age; 0 in items queued
    /// before this was recorded.
    #[serde(default)]
    pub accepted_ms: u64,
}

impl Item {
    fn due(&self, now: u64) -> bool {
        self.not_before_ms <= now && (self.holder.is_none() || self.until_ms <= now)
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

fn decode(k: &[u8], v: &[u8]) -> Result<Item> {
    serde_json::from_slice(v)
        .map_err(|e| Error::Corrupt(format!("{}: {e}", String::from_utf8_lossy(k))))
}

fn encode(item: &Item) -> Result<Vec<u8>> {
    serde_json::to_vec(item).map_err(|e| Error::Corrupt(e.to_string()))
}

/// Stores an accepted event; returns its key.
pub fn enqueue(store: &Store, item: &Item) -> Result<Vec<u8>> {
    let key = [
        PREFIX,
        format!("{:016x}-{}", now_ms(), uuid::Uuid::new_v4()).as_bytes(),
    ]
    .concat();
    let value = encode(item)?;
    store.apply(&[(key.clone(), Some(value))])?;
    Ok(key)
}

/// The items any node may run now, oldest first.
pub fn due(store: &Store) -> Result<Vec<(Vec<u8>, Item)>> {
    let now = now_ms();
    let snap = store.snapshot();
    let mut out = Vec::new();
    for entry in snap.scan(KeyRange::prefix(PREFIX), Direction::Forward) {
        let (k, v) = entry?;
        let item = decode(&k, &v)?;
        if item.due(now) {
            out.push((k, item));
        }
    }
    Ok(out)
}

/// Claims the item for `holder` until `for_ms` from now, if it is still due; `None` when it
/// is gone or another node holds it.
pub fn claim(store: &Store, key: &[u8], holder: &str, for_ms: u64) -> Result<Option<Item>> {
    store.transact(|tx| {
        let Some(v) = tx.get(key)? else {
            return Ok(None);
        };
        let mut item = decode(key, &v)?;
        let now = now_ms();
        if !item.due(now) {
            return Ok(None);
        }
        item.holder = Some(holder.to_owned());
        item.until_ms = now + for_ms;
        tx.put(key, &encode(&item)?);
        Ok(Some(item))
    })
}

/// The event ran (or is given up): it leaves the queue.
pub fn finish(store: &Store, key: &[u8]) -> Result<()> {
    Ok(store.apply(&[(key.to_vec(), None)])?)
}

/// The attempt failed: retry after `delay_ms`, on whichever node gets there first.
pub fn retry_later(store: &Store, key: &[u8], delay_ms: u64) -> Result<()> {
    store.transact(|tx| {
        let Some(v) = tx.get(key)? else {
            return Ok(());
        };
        let mut item = decode(key, &v)?;
        item.attempt += 1;
        item.not_before_ms = now_ms() + delay_ms;
        item.holder = None;
        item.until_ms = 0;
        tx.put(key, &encode(&item)?);
        Ok::<_, Error>(())
    })
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

    fn event() -> Item {
        Item {
            function: "f".into(),
            request_id: "r".into(),
            payload: "{}".into(),
            client_context: None,
            attempt: 0,
            not_before_ms: 0,
            holder: None,
            until_ms: 0,
            accepted_ms: 0,
        }
    }

    #[test]
    fn one_node_at_a_time_holds_an_event_until_its_claim_expires() {
        let (_dir, store) = store();
        let key = enqueue(&store, &event()).unwrap();
        assert_eq!(due(&store).unwrap().len(), 1);
        assert!(claim(&store, &key, "a", 150).unwrap().is_some());
        assert!(
            claim(&store, &key, "b", 60_000).unwrap().is_none(),
            "a holds it"
        );
        assert!(due(&store).unwrap().is_empty());
        // a died: after its claim, b runs the event.
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(due(&store).unwrap().len(), 1);
        let got = claim(&store, &key, "b", 60_000).unwrap().unwrap();
        assert_eq!(got.holder.as_deref(), Some("b"));
        finish(&store, &key).unwrap();
        assert!(due(&store).unwrap().is_empty());
        assert!(claim(&store, &key, "a", 60_000).unwrap().is_none(), "gone");
    }

    #[test]
    fn a_failed_attempt_waits_for_its_retry_unclaimed() {
        let (_dir, store) = store();
        let key = enqueue(&store, &event()).unwrap();
        claim(&store, &key, "a", 60_000).unwrap().unwrap();
        retry_later(&store, &key, 150).unwrap();
        assert!(due(&store).unwrap().is_empty(), "not yet");
        std::thread::sleep(std::time::Duration::from_millis(200));
        let (_, item) = due(&store).unwrap().pop().unwrap();
        assert_eq!((item.attempt, item.holder), (1, None));
        assert!(claim(&store, &key, "b", 60_000).unwrap().is_some());
    }
}
