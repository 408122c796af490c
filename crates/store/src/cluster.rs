//! What several nodes on one shared store need to agree on: change notices for state that
//! each node keeps in memory, and leases for work that must run once per cluster.
//!
//! Both live in the store itself, under the reserved prefix `nuvem/`, so they work on any
//! [`Engine`](crate::Engine) and need nothing beside the database (PostgreSQL, CockroachDB and
//! YugabyteDB alike: no LISTEN/NOTIFY, which the latter two lack).
//!
//! - **Change notices.** A service that caches stored state in memory (WebACLs, routes,
//!   function configuration…) calls [`touch`] inside the transaction that changes that state:
//!   the topic's counter goes up atomically with the change. Every node runs one [`Watcher`],
//!   which reads all counters in one scan every `interval` and calls the subscribers of each
//!   topic whose counter moved, on a thread that may use the store synchronously. The node that
//!   made the change updates its own memory at once, as on one node; the others follow within
//!   one interval. On the embedded engine (one process per data dir) there is no other node and
//!   the watcher does not poll.
//! - **Leases.** [`Lease::try_acquire`] takes or renews a named lease for one holder until a
//!   deadline, in one transaction; another holder gets it only after the deadline passed. Work
//!   that must run once per cluster (sweeps, pollers, retries) runs while its lease is held and
//!   renews it well before it ends. Deadlines are wall-clock milliseconds: nodes' clocks must
//!   agree to well within the lease's length (NTP does that).
//!
//! Must not: know any service, or keep anything but counters and lease records under
//! `nuvem/changes/` and `nuvem/lease/`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Direction, Error, KeyRange, Result, Store, Tx};

/// Where change counters live: `nuvem/changes/<topic>` → the counter, 8 bytes big-endian.
pub const CHANGES_PREFIX: &[u8] = b"nuvem/changes/";
/// Where leases live: `nuvem/lease/<name>` → holder and deadline.
pub const LEASE_PREFIX: &[u8] = b"nuvem/lease/";

fn change_key(topic: &str) -> Vec<u8> {
    [CHANGES_PREFIX, topic.as_bytes()].concat()
}

fn counter(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or_default()
}

/// Records, in `tx`, that the state behind `topic` changed: other nodes' watchers call the
/// topic's subscribers after the transaction commits. Topics are short names of the form
/// `service/what` ("waf/acls", "gateway/apis"). Two transactions touching one topic conflict,
/// so keep topics to state that changes at human pace, not per request.
pub fn touch(tx: &mut dyn Tx, topic: &str) -> Result<u64> {
    let key = change_key(topic);
    let next = tx.get(&key)?.map(|v| counter(&v)).unwrap_or(0) + 1;
    tx.put(&key, &next.to_be_bytes());
    Ok(next)
}

/// Reads every topic's counter in one scan.
pub fn counters(store: &Store) -> Result<HashMap<String, u64>> {
    let snap = store.snapshot();
    let mut out = HashMap::new();
    for entry in snap.scan(KeyRange::prefix(CHANGES_PREFIX), Direction::Forward) {
        let (k, v) = entry?;
        let topic = String::from_utf8_lossy(&k[CHANGES_PREFIX.len()..]).into_owned();
        out.insert(topic, counter(&v));
    }
    Ok(out)
}

type Subscriber = Arc<dyn Fn(&str) + Send + Sync>;

/// One node's view of the change counters, and who to tell when one moves.
#[derive(Clone)]
pub struct Watcher {
    store: Store,
    inner: Arc<Mutex<WatchState>>,
}

#[derive(Default)]
struct WatchState {
    seen: HashMap<String, u64>,
    /// (topic prefix, callback): a subscriber hears every topic that starts with its prefix.
    subscribers: Vec<(String, Subscriber)>,
    primed: bool,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").finish_non_exhaustive()
    }
}

impl Watcher {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            inner: Arc::default(),
        }
    }

    /// Calls `on_change(topic)` whenever another node changes a topic that starts with
    /// `topic_prefix`. The callback runs on a thread that may use the store synchronously
    /// (inside [`Store::run`]); it should reload what it caches.
    pub fn subscribe(&self, topic_prefix: &str, on_change: impl Fn(&str) + Send + Sync + 'static) {
        self.lock()
            .subscribers
            .push((topic_prefix.to_owned(), Arc::new(on_change)));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WatchState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the counters once and calls the subscribers of every topic that moved since the
    /// last poll (the first poll only records where the counters stand). Returns the topics
    /// that moved.
    pub fn poll(&self) -> Result<Vec<String>> {
        let now = counters(&self.store)?;
        let (moved, subscribers) = {
            let mut state = self.lock();
            let moved: Vec<String> = if state.primed {
                now.iter()
                    .filter(|(t, n)| state.seen.get(*t) != Some(n))
                    .map(|(t, _)| t.clone())
                    .collect()
            } else {
                Vec::new()
            };
            state.primed = true;
            state.seen = now;
            (moved, state.subscribers.clone())
        };
        for topic in &moved {
            for (prefix, callback) in &subscribers {
                if topic.starts_with(prefix.as_str()) {
                    callback(topic);
                }
            }
        }
        Ok(moved)
    }

    /// Polls every `interval` until the returned task is aborted, when the store is shared
    /// with other nodes (a remote engine); on the embedded engine nothing else can change the
    /// store, and this returns at once. A failed poll (the database is down) is retried at the
    /// next tick; nothing is missed, since counters only grow.
    pub async fn watch(self, interval: Duration) {
        if !self.store.is_remote() {
            return;
        }
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let me = self.clone();
            if let Err(e) = self.store.run(move || me.poll()).await {
                tracing::debug!(error = %e, "change watcher: poll failed; retrying");
            }
        }
    }
}

/// This process's name among the nodes sharing a store: host name, process id and a random
/// suffix (a restarted process is a new node). The same for the life of the process.
pub fn node_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "node".into());
        let random = {
            use std::hash::{BuildHasher, RandomState};
            RandomState::new().hash_one(SystemTime::now()) & 0xffff_ffff
        };
        format!("{host}-{}-{random:08x}", std::process::id())
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// A lease record: who holds it and until when (wall-clock ms since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub until_ms: u64,
}

impl Lease {
    fn encode(&self) -> Vec<u8> {
        let mut v = self.until_ms.to_be_bytes().to_vec();
        v.extend_from_slice(self.holder.as_bytes());
        v
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (until, holder) = bytes.split_at_checked(8)?;
        Some(Self {
            holder: String::from_utf8(holder.to_vec()).ok()?,
            until_ms: u64::from_be_bytes(until.try_into().ok()?),
        })
    }

    /// Takes lease `name` for `holder` for `ttl` when it is free, expired or already
    /// `holder`'s (then it is renewed). Returns whether `holder` holds it now.
    pub fn try_acquire(store: &Store, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let key = [LEASE_PREFIX, name.as_bytes()].concat();
        store.transact(|tx| {
            let now = now_ms();
            let current = tx.get(&key)?.and_then(|v| Self::decode(&v));
            match current {
                Some(l) if l.holder != holder && l.until_ms > now => Ok(false),
                _ => {
                    let lease = Self {
                        holder: holder.to_owned(),
                        until_ms: now + ttl.as_millis() as u64,
                    };
                    tx.put(&key, &lease.encode());
                    Ok::<_, Error>(true)
                }
            }
        })
    }

    /// Gives lease `name` up if `holder` holds it, so another node may take it at once.
    pub fn release(store: &Store, name: &str, holder: &str) -> Result<()> {
        let key = [LEASE_PREFIX, name.as_bytes()].concat();
        store.transact(|tx| {
            if let Some(l) = tx.get(&key)?.and_then(|v| Self::decode(&v))
                && l.holder == holder
            {
                tx.delete(&key);
            }
            Ok::<_, Error>(())
        })
    }

    /// Who holds lease `name`, if anyone holds it now.
    pub fn holder(store: &Store, name: &str) -> Result<Option<Self>> {
        let key = [LEASE_PREFIX, name.as_bytes()].concat();
        Ok(store
            .get(&key)?
            .and_then(|v| Self::decode(&v))
            .filter(|l| l.until_ms > now_ms()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Durability, FjallEngine};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let engine = FjallEngine::open(dir.path(), Durability::Process).unwrap();
        (dir, Store::new(engine))
    }

    #[test]
    fn watchers_hear_topics_that_moved_after_priming() {
        let (_dir, store) = store();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let w = Watcher::new(store.clone());
        let h = heard.clone();
        w.subscribe("waf/", move |t| h.lock().unwrap().push(t.to_owned()));
        store
            .transact(|tx| touch(tx, "waf/acls").map(drop))
            .unwrap();
        // The first poll primes: what changed before the node started is already loaded.
        assert!(w.poll().unwrap().is_empty());
        store
            .transact(|tx| {
                touch(tx, "waf/acls")?;
                touch(tx, "gateway/apis").map(drop)
            })
            .unwrap();
        let mut moved = w.poll().unwrap();
        moved.sort();
        assert_eq!(moved, ["gateway/apis", "waf/acls"]);
        assert_eq!(*heard.lock().unwrap(), ["waf/acls"]);
        assert!(w.poll().unwrap().is_empty(), "nothing moved since");
        assert_eq!(counters(&store).unwrap()["waf/acls"], 2);
    }

    #[test]
    fn a_touch_in_an_aborted_transaction_is_not_a_change() {
        let (_dir, store) = store();
        let w = Watcher::new(store.clone());
        w.poll().unwrap();
        let r: Result<()> = store.transact(|tx| {
            touch(tx, "waf/acls")?;
            Err(Error::Io("the change failed".into()))
        });
        assert!(r.is_err());
        assert!(w.poll().unwrap().is_empty());
    }

    #[test]
    fn a_lease_has_one_holder_until_it_expires_or_is_released() {
        let (_dir, store) = store();
        let long = Duration::from_secs(60);
        assert!(Lease::try_acquire(&store, "ttl", "a", long).unwrap());
        assert!(!Lease::try_acquire(&store, "ttl", "b", long).unwrap());
        assert!(
            Lease::try_acquire(&store, "ttl", "a", long).unwrap(),
            "renewal"
        );
        assert_eq!(Lease::holder(&store, "ttl").unwrap().unwrap().holder, "a");
        Lease::release(&store, "ttl", "b").unwrap();
        assert!(
            !Lease::try_acquire(&store, "ttl", "b", long).unwrap(),
            "b never held it"
        );
        Lease::release(&store, "ttl", "a").unwrap();
        assert!(Lease::try_acquire(&store, "ttl", "b", long).unwrap());
        // An expired lease goes to whoever asks.
        assert!(Lease::try_acquire(&store, "short", "a", Duration::ZERO).unwrap());
        assert!(Lease::try_acquire(&store, "short", "b", long).unwrap());
        assert_eq!(Lease::holder(&store, "short").unwrap().unwrap().holder, "b");
    }
}
