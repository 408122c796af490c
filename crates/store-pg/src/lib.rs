//! The storage engine on the PostgreSQL wire protocol: one [`PgEngine`] that runs unchanged on
//! PostgreSQL, CockroachDB and YugabyteDB.
//!
//! What it owns: the `nuvem` schema in a database (one ordered key/value table,
//! `nuvem.kv (key BYTEA PRIMARY KEY, value BYTEA NOT NULL)`, and a `nuvem.meta` table with the
//! schema version), a small pool of connections, and the mapping of [`nuvem_store::Engine`]
//! onto SQL: write transactions are `SERIALIZABLE` and retried whole on serialization
//! failures and deadlocks (SQLSTATE 40001, which is also how CockroachDB and YugabyteDB report
//! restarts, and 40P01), with jittered exponential backoff and a bound, then
//! [`Error::TooManyConflicts`]; snapshots are `REPEATABLE READ, READ ONLY` transactions (a
//! consistent view that never fails with a conflict); scans page through the table by keyset
//! (`WHERE key > $last ORDER BY key LIMIT n`), so no result set is ever unbounded. `bytea`
//! compares as unsigned bytes, the order the trait promises. Only SQL that all three databases
//! accept is used.
//!
//! Blocking: the [`Engine`] trait is synchronous. The engine says it is remote
//! ([`Engine::is_remote`]), so services reach it through `Store::run`, which runs their work on
//! tokio's blocking pool. The engine owns a small tokio runtime of its own (one worker thread)
//! that drives every connection; a caller hands it a future and waits for the answer on its
//! (blocking-pool) thread. A call that arrives on an async worker anyway (counted by the
//! `Store` as `worker_calls`) waits inside [`tokio::task::block_in_place`], so that worker's
//! other tasks move to another thread meanwhile.
//!
//! Must not: know any AWS concept, read files, env or flags (the binary passes a URL), panic or
//! wait forever when the database is down (every round trip has a timeout; broken connections
//! are dropped and new ones made on the next use).

mod pool;
mod schema;
mod sql;
mod views;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use nuvem_store::{Engine, Error, Outcome, Result, Snapshot, Tx};
use tokio_postgres::error::SqlState;

use pool::{Conn, Pool};
pub use schema::SCHEMA_VERSION;
use views::{PgSnapshot, PgTx, Reader, ReaderState};

/// Why the engine could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the storage URL is not a PostgreSQL connection string: {0}")]
    Url(String),
    #[error("cannot start the storage engine's runtime: {0}")]
    Runtime(String),
    #[error("cannot reach the database: {0}")]
    Connect(String),
    #[error(
        "the database's nuvem schema is version {found}, newer than this binary knows \
         (version {known}): another, newer nuvem migrated it. Run that version (or newer); \
         nothing was changed"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("creating or migrating the nuvem schema failed: {0}")]
    Migrate(String),
}

/// How the engine talks to its database.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/dbname?sslmode=…` (libpq URL or key=value form).
    pub url: String,
    /// Most connections open at once. A snapshot or a write transaction holds one while it
    /// lives.
    pub max_connections: usize,
    /// How long one round trip (or waiting for a free connection, or connecting) may take
    /// before the operation fails and its connection is dropped.
    pub timeout: Duration,
    /// How many times a write transaction runs before [`Error::TooManyConflicts`].
    pub max_attempts: u32,
    /// Extra trust anchors for TLS to the database, besides the bundled Mozilla roots (DER).
    pub extra_roots: Vec<Vec<u8>>,
}

/// Translates the libpq URL options tokio-postgres does not take, so that a URL written for
/// `psql` works: `sslmode=verify-full` and `sslmode=verify-ca` become `require` (with TLS the
/// server's certificate and name are always verified, so both get at least what they ask);
/// `sslrootcert=PATH` is removed and returned, for the caller to read into
/// [`PgOptions::extra_roots`] (this crate reads no files).
pub fn libpq_url(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut rootcert = None;
    let kept: Vec<String> = query
        .split('&')
        .filter_map(|pair| match pair.split_once('=') {
            Some(("sslrootcert", path)) => {
                rootcert = Some(path.to_string());
                None
            }
            Some(("sslmode", "verify-full" | "verify-ca")) => Some("sslmode=require".into()),
            _ => Some(pair.to_string()),
        })
        .collect();
    let url = match kept.is_empty() {
        true => base.to_string(),
        false => format!("{base}?{}", kept.join("&")),
    };
    (url, rootcert)
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 32,
            timeout: Duration::from_secs(30),
            max_attempts: 100,
            extra_roots: Vec::new(),
        }
    }
}

/// Counters for health output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PgStats {
    /// Write transactions committed.
    pub commits: u64,
    /// Attempts thrown away because of a serialization failure or deadlock, then retried.
    pub conflicts: u64,
    /// Operations that failed because the database was unreachable or did not answer.
    pub unavailable: u64,
    /// Round trips a caller waited for: batches of statements sent together (pipelined) and
    /// awaited. A snapshot's closing `ROLLBACK` goes out after its reader is done, in the
    /// background, and is not counted; nor is connecting.
    pub round_trips: u64,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    conflicts: AtomicU64,
    unavailable: AtomicU64,
    round_trips: AtomicU64,
    /// Set when a round trip found the database unreachable, cleared by the next one that
    /// reached it; `last_failure` says why.
    down: AtomicBool,
    last_failure: std::sync::Mutex<String>,
}

/// The PostgreSQL-protocol engine. See the crate docs.
pub struct PgEngine {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    pool: Arc<Pool>,
    options: PgOptions,
    counters: Counters,
}

impl std::fmt::Debug for PgEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEngine").finish_non_exhaustive()
    }
}

/// What a failed database call means for the transaction that made it.
#[derive(Debug, Clone)]
enum Failure {
    /// A serialization failure or deadlock: run the whole body again.
    Conflict(String),
    /// The connection is gone or did not answer: drop it. Before COMMIT was sent this is safe
    /// to retry on a new connection.
    Broken(String),
    /// Anything else: give up with this message.
    Other(String),
}

impl Failure {
    fn message(&self) -> &str {
        match self {
            Failure::Conflict(m) | Failure::Broken(m) | Failure::Other(m) => m,
        }
    }

    fn into_error(self) -> Error {
        match self {
            Failure::Conflict(_) => Error::TooManyConflicts,
            Failure::Broken(m) => Error::Io(format!("database unavailable: {m}")),
            Failure::Other(m) => Error::Io(format!("database: {m}")),
        }
    }
}

fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            // "error connecting to server" says little without its cause.
            let mut message = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                message = format!("{message}: {cause}");
                source = cause.source();
            }
            message
        }
    }
}

fn classify(e: &tokio_postgres::Error) -> Failure {
    let message = describe(e);
    match e.code() {
        Some(code)
            if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            Failure::Conflict(message)
        }
        // The server going away mid-session (shutdown, restart, crash of a backend).
        Some(code)
            if *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW =>
        {
            Failure::Broken(message)
        }
        Some(_) => Failure::Other(message),
        None => Failure::Broken(message),
    }
}

/// Runs `f`, which blocks the calling thread; inside a multi-thread tokio runtime, the worker's
/// other tasks move to another thread meanwhile.
fn wait_blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

impl PgEngine {
    /// Connects, creates the `nuvem` schema on first use, applies pending migrations, and
    /// refuses a schema newer than this binary knows.
    pub fn open(options: PgOptions) -> Result<Self, OpenError> {
        let config: tokio_postgres::Config = options
            .url
            .parse()
            .map_err(|e: tokio_postgres::Error| OpenError::Url(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("nuvem-store-pg")
            .enable_all()
            .build()
            .map_err(|e| OpenError::Runtime(e.to_string()))?;
        let handle = runtime.handle().clone();
        let tls = pool::tls(&options.extra_roots).map_err(OpenError::Connect)?;
        let pool = Arc::new(Pool::new(
            config,
            tls,
            options.max_connections,
            options.timeout,
        ));
        let engine = Self {
            runtime: Some(runtime),
            handle,
            pool,
            options,
            counters: Counters::default(),
        };
        let pool = engine.pool.clone();
        engine
            .run(async move { Ok(schema::ensure(&pool).await) })
            .map_err(|f| OpenError::Connect(f.message().to_string()))??;
        Ok(engine)
    }

    /// Counters since open.
    pub fn stats(&self) -> PgStats {
        PgStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            conflicts: self.counters.conflicts.load(Ordering::Relaxed),
            unavailable: self.counters.unavailable.load(Ordering::Relaxed),
            round_trips: self.counters.round_trips.load(Ordering::Relaxed),
        }
    }

    /// Counts one batch of statements that a caller is about to send and wait for.
    pub(crate) fn count_round_trip(&self) {
        self.counters.round_trips.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs `fut` on the engine's runtime and waits for it on this thread.
    fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, Failure>> + Send + 'static,
    ) -> Result<T, Failure> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let timeout = self.options.timeout;
        self.handle.spawn(async move {
            let r = match tokio::time::timeout(timeout, fut).await {
                Ok(r) => r,
                Err(_) => Err(Failure::Broken(format!(
                    "no answer within {} s",
                    timeout.as_secs()
                ))),
            };
            // The waiter is gone only if its thread panicked; nothing to do then.
            let _ = tx.send(r);
        });
        let r = wait_blocking(|| rx.recv())
            .unwrap_or_else(|_| Err(Failure::Other("the storage runtime stopped".into())));
        match &r {
            Err(Failure::Broken(m)) => {
                self.counters.unavailable.fetch_add(1, Ordering::Relaxed);
                *self
                    .counters
                    .last_failure
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = m.clone();
                self.counters.down.store(true, Ordering::Relaxed);
            }
            // A database error (a conflict, a constraint) came from a database that answered.
            _ => {
                if self.counters.down.load(Ordering::Relaxed) {
                    self.counters.down.store(false, Ordering::Relaxed);
                }
            }
        }
        r
    }

    pub(crate) fn acquire(&self) -> Result<Conn, Failure> {
        let pool = self.pool.clone();
        self.run(async move { pool.acquire().await })
    }

    /// Sleeps before attempt `attempt + 1`: full jitter over an exponential ceiling.
    fn backoff(attempt: u32) {
        let ceiling_us = (1_000u64 << attempt.min(7)).min(100_000);
        let jitter = {
            use std::hash::{BuildHasher, RandomState};
            RandomState::new().hash_one(std::time::Instant::now())
        };
        let us = jitter % ceiling_us.max(1);
        wait_blocking(|| std::thread::sleep(Duration::from_micros(us)));
    }

    /// One attempt of a write transaction.
    fn attempt(&self, body: &mut dyn FnMut(&mut dyn Tx) -> Result<Outcome>) -> Attempt {
        let conn = match self.acquire() {
            Ok(c) => c,
            Err(f) => return Attempt::Failed(f.into_error()),
        };
        let mut tx = PgTx {
            reader: Reader::new(self, conn, sql::BEGIN_WRITE, false),
            writes: BTreeMap::new(),
        };
        let outcome = body(&mut tx);
        let PgTx { reader, writes } = tx;
        let state = reader.into_state();
        if let Some(failure) = state.failure.clone() {
            state.release(self);
            return Attempt::Retry(failure);
        }
        let begun = state.begun;
        let conn = match (outcome, state.conn) {
            (Err(e), conn) => {
                ReaderState {
                    conn,
                    begun,
                    failure: None,
                }
                .release(self);
                return Attempt::Failed(e);
            }
            (Ok(Outcome::Abort), conn) => {
                ReaderState {
                    conn,
                    begun,
                    failure: None,
                }
                .release(self);
                return Attempt::Done;
            }
            (Ok(Outcome::Commit), conn) if !begun && writes.is_empty() => {
                // Nothing was read or written: there is nothing to commit.
                ReaderState {
                    conn,
                    begun,
                    failure: None,
                }
                .release(self);
                return Attempt::Done;
            }
            (Ok(Outcome::Commit), Some(conn)) => conn,
            (Ok(Outcome::Commit), None) => {
                return Attempt::Retry(Failure::Broken("the connection was lost".into()));
            }
        };
        let client = conn.client();
        self.count_round_trip();
        match self.run(async move { sql::commit(&client, !begun, writes).await }) {
            Ok(()) => {
                self.handle.spawn(conn.release_after(""));
                self.counters.commits.fetch_add(1, Ordering::Relaxed);
                Attempt::Done
            }
            Err(f @ Failure::Conflict(_)) => {
                self.handle.spawn(conn.release_after("ROLLBACK"));
                Attempt::Retry(f)
            }
            Err(f) => {
                conn.discard();
                // COMMIT may or may not have been applied: never run the body again.
                Attempt::Failed(Error::Io(format!(
                    "database: the commit's outcome is unknown: {}",
                    f.message()
                )))
            }
        }
    }
}

enum Attempt {
    Done,
    Retry(Failure),
    Failed(Error),
}

/// How often a transaction is retried on a new connection after its connection broke before
/// COMMIT was sent (a database restart leaves every pooled connection broken).
pub(crate) const BROKEN_RETRIES: u32 = 3;

impl Engine for PgEngine {
    /// Takes a connection; the transaction begins with the first read (see `views::Reader`),
    /// which also replaces a pooled connection that died unnoticed.
    fn snapshot(&self) -> Box<dyn Snapshot + '_> {
        Box::new(match self.acquire() {
            Ok(conn) => PgSnapshot {
                reader: Some(Reader::new(self, conn, sql::BEGIN_SNAPSHOT, true)),
                failure: None,
            },
            Err(f) => PgSnapshot {
                reader: None,
                failure: Some(f),
            },
        })
    }

    fn write(&self, body: &mut dyn FnMut(&mut dyn Tx) -> Result<Outcome>) -> Result<()> {
        let mut conflicts = 0;
        let mut broken = 0;
        loop {
            match self.attempt(body) {
                Attempt::Done => return Ok(()),
                Attempt::Failed(e) => return Err(e),
                Attempt::Retry(f @ Failure::Conflict(_)) => {
                    self.counters.conflicts.fetch_add(1, Ordering::Relaxed);
                    conflicts += 1;
                    if conflicts >= self.options.max_attempts {
                        return Err(f.into_error());
                    }
                    Self::backoff(conflicts);
                }
                Attempt::Retry(f @ Failure::Broken(_)) => {
                    broken += 1;
                    if broken > BROKEN_RETRIES {
                        return Err(f.into_error());
                    }
                }
                Attempt::Retry(f) => return Err(f.into_error()),
            }
        }
    }

    /// Every acknowledged write was committed by the database, which made it as durable as the
    /// database is configured to (PostgreSQL: `synchronous_commit`, on by default).
    fn sync(&self) -> Result<()> {
        Ok(())
    }

    fn name(&self) -> &'static str {
        "postgres"
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn health(&self) -> nuvem_store::Health {
        let unreachable = self.counters.down.load(Ordering::Relaxed).then(|| {
            self.counters
                .last_failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        });
        let stats = self.stats();
        nuvem_store::Health {
            unreachable,
            counters: vec![
                ("commits", stats.commits),
                ("conflicts", stats.conflicts),
                ("unavailable", stats.unavailable),
                ("round_trips", stats.round_trips),
            ],
        }
    }
}

impl Drop for PgEngine {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks, which is not allowed inside another runtime
        // (the binary drops the store from async code); background shutdown never waits.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    #[track_caller]
    fn check(url: &str, expected: &str, rootcert: Option<&str>) {
        let (got, got_root) = super::libpq_url(url);
        assert_eq!(got, expected);
        assert_eq!(got_root.as_deref(), rootcert);
    }

    #[test]
    fn libpq_urls() {
        check("postgres://u@h/db", "postgres://u@h/db", None);
        check(
            "postgres://u@h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem",
            "postgres://u@h/db?sslmode=require",
            Some("/etc/ca.pem"),
        );
        check(
            "postgres://u@h/db?sslrootcert=ca.pem",
            "postgres://u@h/db",
            Some("ca.pem"),
        );
        check(
            "postgres://u@h/db?sslmode=verify-ca&application_name=x",
            "postgres://u@h/db?sslmode=require&application_name=x",
            None,
        );
        check(
            "postgres://u@h/db?sslmode=disable",
            "postgres://u@h/db?sslmode=disable",
            None,
        );
    }
}
