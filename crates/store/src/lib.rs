//! The storage engine behind every stateful nuvem service.
//!
//! This crate owns one idea: an ordered key-value space with atomic, serializable read-write
//! transactions and consistent snapshots. Services (tables, bucket metadata, function state)
//! lay their data out on top of it with their own key encodings; this crate knows nothing about
//! DynamoDB, S3 or any AWS concept, and must not learn about them.
//!
//! The [`Engine`] trait is what a backend implements. It is deliberately small and free of
//! engine types, so that a second backend on a distributed transactional store (FoundationDB,
//! TiKV) can implement it: [`Engine::write`] takes a closure that the engine may run more than
//! once (optimistic engines retry on conflict), exactly like those stores' transaction APIs.
//! [`Store`] is the facade services use. [`conformance`] is one test suite that every engine
//! must pass.
//!
//! The embedded engine, [`FjallEngine`], keeps everything in one local directory.
//!
//! [`blobs`] is the other half of storage: large immutable byte strings behind their own
//! trait, in a local directory or as chunks in the store itself.

pub mod blobs;
pub mod cluster;
pub mod conformance;
mod fjall_engine;

use std::ops::Bound;
use std::sync::Arc;

pub use fjall_engine::{Durability, FjallEngine, OnDisk};

/// What went wrong inside the storage engine. Service crates map any of these to an
/// internal error: none of them is the client's fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("storage engine I/O failed: {0}")]
    Io(String),
    #[error("storage engine is corrupt or unreadable: {0}")]
    Corrupt(String),
    #[error("transaction conflicted too many times and was given up")]
    TooManyConflicts,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A key-value pair as stored.
pub type Entry = (Vec<u8>, Vec<u8>);

/// The iterator a scan returns; items come in key order (or reverse key order).
pub type ScanIter<'a> = Box<dyn Iterator<Item = Result<Entry>> + 'a>;

/// Direction of a range scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Reverse,
}

/// A half-open or closed range of keys, compared as unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub start: Bound<Vec<u8>>,
    pub end: Bound<Vec<u8>>,
}

impl KeyRange {
    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> Self {
        let end = match prefix_successor(prefix) {
            Some(succ) => Bound::Excluded(succ),
            None => Bound::Unbounded,
        };
        Self {
            start: Bound::Included(prefix.to_vec()),
            end,
        }
    }

    /// `start <= key < end`.
    pub fn half_open(start: &[u8], end: &[u8]) -> Self {
        Self {
            start: Bound::Included(start.to_vec()),
            end: Bound::Excluded(end.to_vec()),
        }
    }

    /// Does `key` fall inside this range?
    pub fn contains(&self, key: &[u8]) -> bool {
        let after_start = match &self.start {
            Bound::Included(s) => key >= s.as_slice(),
            Bound::Excluded(s) => key > s.as_slice(),
            Bound::Unbounded => true,
        };
        let before_end = match &self.end {
            Bound::Included(e) => key <= e.as_slice(),
            Bound::Excluded(e) => key < e.as_slice(),
            Bound::Unbounded => true,
        };
        after_start && before_end
    }
}

/// The smallest byte string greater than every string with this prefix, if there is one
/// (there is none when the prefix is all `0xFF`).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut succ = prefix.to_vec();
    while let Some(last) = succ.pop() {
        if last < 0xFF {
            succ.push(last + 1);
            return Some(succ);
        }
    }
    None
}

/// Reads, shared by snapshots and write transactions.
pub trait Read {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Reads several keys at once: one value (or `None`) per key, in the order asked (a key
    /// may appear twice). A network engine answers in one round trip; the default asks
    /// [`Read::get`] for each key.
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    fn scan(&self, range: KeyRange, direction: Direction) -> ScanIter<'_>;
}

/// A consistent, read-only view of the store at one instant.
pub trait Snapshot: Read + Send + Sync {}

/// A read-write transaction. Reads see the transaction's own writes (read-your-writes);
/// nothing is visible to others until the engine commits the whole transaction atomically.
pub trait Tx: Read {
    fn put(&mut self, key: &[u8], value: &[u8]);
    fn delete(&mut self, key: &[u8]);
}

/// Whether a write closure wants its transaction committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Commit,
    Abort,
}

/// A storage backend. Implementations must make every committed transaction atomic,
/// serializable with respect to every other transaction, and durable once `write` returns
/// (to the level the engine was configured for).
pub trait Engine: Send + Sync + 'static {
    /// A consistent snapshot of the latest committed state: of an instant between this call
    /// and the snapshot's first read (a network engine begins it with that read, in the same
    /// round trip). Writes committed before `snapshot()` are always seen; none committed after
    /// the first read ever are.
    fn snapshot(&self) -> Box<dyn Snapshot + '_>;

    /// Runs `body` inside a read-write transaction and commits it if it returns
    /// [`Outcome::Commit`]. The engine may run `body` more than once (on conflict), so it must
    /// be free of side effects outside the transaction.
    fn write(&self, body: &mut dyn FnMut(&mut dyn Tx) -> Result<Outcome>) -> Result<()>;

    /// Makes every committed write durable on stable storage (fsync), whatever the
    /// configured per-write durability. Called at shutdown.
    fn sync(&self) -> Result<()>;

    /// A short engine name for health output ("fjall").
    fn name(&self) -> &'static str;

    /// Whether a call may wait on the network (a database round trip) rather than take the
    /// microseconds of an embedded engine. [`Store::run`] keeps such calls off async workers.
    fn is_remote(&self) -> bool {
        false
    }

    /// The engine's state for health output. An embedded engine is always reachable; a
    /// network engine says why it is not.
    fn health(&self) -> Health {
        Health::default()
    }
}

/// What [`Engine::health`] reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// Why the engine's last attempt to reach its storage failed, until one succeeds;
    /// `None` while it is reachable.
    pub unreachable: Option<String>,
    /// Counters since the engine opened, by name (commits, conflicts…).
    pub counters: Vec<(&'static str, u64)>,
}

/// The facade that services hold: a cheap, cloneable handle on one engine.
///
/// Its calls are synchronous. Async code (every service handler) reaches the store through
/// [`Store::run`], which calls an embedded engine in place and moves the work of a network
/// engine to tokio's blocking pool, so that no async worker ever waits on a database.
#[derive(Clone)]
pub struct Store {
    engine: Arc<dyn Engine>,
    /// Calls to a remote engine made from an async worker instead of through [`Store::run`]
    /// (a bug in the caller: such a call stalls every task of that worker). Counted and shown
    /// in health output; the engine still answers them.
    worker_calls: Arc<std::sync::atomic::AtomicU64>,
}

thread_local! {
    /// Set while a thread runs work handed to [`Store::run`] on the blocking pool.
    static IN_RUN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Clears [`IN_RUN`] when the work returns or unwinds (blocking-pool threads are reused).
struct InRun;

impl InRun {
    fn enter() -> Self {
        IN_RUN.with(|c| c.set(true));
        InRun
    }
}

impl Drop for InRun {
    fn drop(&mut self) {
        IN_RUN.with(|c| c.set(false));
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("engine", &self.engine.name())
            .finish()
    }
}

impl Store {
    pub fn new(engine: impl Engine) -> Self {
        Self {
            engine: Arc::new(engine),
            worker_calls: Arc::default(),
        }
    }

    pub fn engine_name(&self) -> &'static str {
        self.engine.name()
    }

    /// Whether the engine waits on the network (see [`Engine::is_remote`]).
    pub fn is_remote(&self) -> bool {
        self.engine.is_remote()
    }

    /// The engine's health, with the facade's own counter: `worker_calls`, calls to a remote
    /// engine that blocked an async worker (zero unless a caller skipped [`Store::run`]).
    pub fn health(&self) -> Health {
        let mut health = self.engine.health();
        if self.engine.is_remote() {
            health.counters.push((
                "worker_calls",
                self.worker_calls.load(std::sync::atomic::Ordering::Relaxed),
            ));
        }
        health
    }

    /// Runs `work`, which uses this store (or a service built on it) synchronously, where
    /// that suits an async caller: in place for an embedded engine, whose calls take
    /// microseconds, and on tokio's blocking pool for a remote engine, so that the caller's
    /// worker serves other tasks while `work` waits on the database. Outside a tokio runtime
    /// `work` runs in place. A panic in `work` resumes in the caller.
    pub async fn run<T, F>(&self, work: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if !self.engine.is_remote() || IN_RUN.with(|c| c.get()) {
            return work();
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return work();
        };
        // The request's span (its request id) follows the work to the pool thread.
        let span = tracing::Span::current();
        match handle
            .spawn_blocking(move || {
                let _span = span.enter();
                let _in_run = InRun::enter();
                work()
            })
            .await
        {
            Ok(value) => value,
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                // Blocking work is cancelled only when the runtime shuts down, which drops
                // this future too; nothing waits for the value then.
                Err(_) => std::panic::resume_unwind(Box::new("runtime shut down")),
            },
        }
    }

    /// Runs `work` on tokio's blocking pool whatever the engine: for work that is heavy in
    /// itself (unzipping and hashing a function package), which must not hold an async
    /// worker even on an embedded engine. Outside a tokio runtime `work` runs in place. A
    /// panic in `work` resumes in the caller.
    pub async fn offload<T, F>(&self, work: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if IN_RUN.with(|c| c.get()) {
            return work();
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return work();
        };
        let span = tracing::Span::current();
        match handle
            .spawn_blocking(move || {
                let _span = span.enter();
                let _in_run = InRun::enter();
                work()
            })
            .await
        {
            Ok(value) => value,
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(_) => std::panic::resume_unwind(Box::new("runtime shut down")),
            },
        }
    }

    /// Runs `work` on this thread, which the caller knows may block (start-up before the
    /// listeners serve, a dedicated thread): its store calls are not counted as
    /// `worker_calls`.
    pub fn blocking<T>(work: impl FnOnce() -> T) -> T {
        let outer = IN_RUN.with(|c| c.get());
        let _in_run = (!outer).then(InRun::enter);
        work()
    }

    /// Counts a call that a remote engine answers on the calling thread, when that thread
    /// is an async worker (not inside [`Store::run`]).
    fn note_call(&self) {
        if self.engine.is_remote()
            && !IN_RUN.with(|c| c.get())
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let n = self
                .worker_calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n == 0 {
                tracing::warn!(
                    "a storage call blocked an async worker (not made through Store::run); \
                     counted as worker_calls in /_nuvem/health"
                );
            }
        }
    }

    pub fn snapshot(&self) -> Box<dyn Snapshot + '_> {
        self.note_call();
        self.engine.snapshot()
    }

    /// Reads one key from the latest committed state.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.snapshot().get(key)
    }

    /// Whether the store holds no key at all.
    pub fn is_empty(&self) -> Result<bool> {
        let snap = self.snapshot();
        let first = snap.scan(KeyRange::prefix(b""), Direction::Forward).next();
        Ok(first.transpose()?.is_none())
    }

    /// Runs `body` in a serializable read-write transaction. If `body` returns `Err`, nothing
    /// it wrote is committed and the error is returned; if it returns `Ok`, its writes are
    /// committed atomically before `transact` returns. `body` may run more than once.
    pub fn transact<T, E>(
        &self,
        mut body: impl FnMut(&mut dyn Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        E: From<Error>,
    {
        self.note_call();
        let mut result = None;
        self.engine.write(&mut |tx| {
            let r = body(tx);
            let outcome = if r.is_ok() {
                Outcome::Commit
            } else {
                Outcome::Abort
            };
            result = Some(r);
            Ok(outcome)
        })?;
        // An engine that reports success must have run the body; treat a broken engine as an
        // internal failure rather than a panic.
        result.unwrap_or_else(|| {
            Err(Error::Io("engine committed without running the body".into()).into())
        })
    }

    /// Writes a batch of puts (`Some`) and deletes (`None`) atomically.
    pub fn apply(&self, batch: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        self.transact(|tx| {
            for (k, v) in batch {
                match v {
                    Some(v) => tx.put(k, v),
                    None => tx.delete(k),
                }
            }
            Ok::<_, Error>(())
        })
    }

    pub fn sync(&self) -> Result<()> {
        self.engine.sync()
    }
}
