//! Reads over one connection: [`PgSnapshot`] (a read-only transaction) and [`PgTx`] (a write
//! transaction whose writes stay here until commit), and the keyset-paged scans both share.
//! Must not commit, or retry anything but a snapshot's first statement on a pooled connection
//! that turned out dead (nothing began on it): retries are the engine's `write` loop.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::ops::Bound;
use std::sync::Arc;

use nuvem_store::{Direction, Entry, Error, KeyRange, Read, Result, ScanIter, Snapshot, Tx};
use tokio_postgres::Client;

use crate::pool::Conn;
use crate::{BROKEN_RETRIES, Failure, PgEngine, classify, sql};

/// Reads over one connection, for a snapshot or a write transaction. The transaction begins
/// lazily: its `BEGIN` is pipelined with the first statement, so a snapshot with one read, or
/// a blind write, is one round trip. The first failure is kept: it decides whether the
/// transaction is retried.
pub(crate) struct Reader<'e> {
    pub(crate) engine: &'e PgEngine,
    /// Sent, pipelined, ahead of the first statement.
    begin: &'static str,
    /// Whether a first statement that found its (pooled) connection broken is sent again on a
    /// new connection. Snapshots do this; write transactions are retried whole by the
    /// engine's `write` loop instead.
    retry_stale: bool,
    state: std::sync::Mutex<ReaderState>,
}

/// What a [`Reader`] leaves behind: its connection, whether `BEGIN` was sent on it, and the
/// first failure.
pub(crate) struct ReaderState {
    /// `None` only when the connection broke and no new one could be had (`failure` says why).
    pub(crate) conn: Option<Conn>,
    pub(crate) begun: bool,
    pub(crate) failure: Option<Failure>,
}

impl ReaderState {
    /// Gives the connection back: after `ROLLBACK` when a transaction began on it (sent in
    /// the background: nobody waits for it), dropped when it broke.
    pub(crate) fn release(self, engine: &PgEngine) {
        let Some(conn) = self.conn else {
            return;
        };
        match (&self.failure, self.begun) {
            (Some(Failure::Broken(_)), _) => conn.discard(),
            (_, true) => {
                engine.handle.spawn(conn.release_after("ROLLBACK"));
            }
            (_, false) => {
                engine.handle.spawn(conn.release_after(""));
            }
        }
    }
}

impl<'e> Reader<'e> {
    pub(crate) fn new(
        engine: &'e PgEngine,
        conn: Conn,
        begin: &'static str,
        retry_stale: bool,
    ) -> Self {
        Self {
            engine,
            begin,
            retry_stale,
            state: std::sync::Mutex::new(ReaderState {
                conn: Some(conn),
                begun: false,
                failure: None,
            }),
        }
    }

    pub(crate) fn into_state(self) -> ReaderState {
        self.state.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    fn call<T, F, Fut>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(Arc<Client>) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<T, Failure>> + Send,
    {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = state.failure.as_ref() {
            return Err(Error::Io(format!(
                "database: the transaction already failed: {}",
                f.message()
            )));
        }
        let mut stale = 0;
        loop {
            let Some(conn) = state.conn.as_ref() else {
                return Err(Error::Io("database: no connection".into()));
            };
            let client = conn.client();
            let begin = (!state.begun).then_some(self.begin);
            state.begun = true;
            let op = op.clone();
            self.engine.count_round_trip();
            let r = self.engine.run(async move {
                match begin {
                    Some(sql) => {
                        let (b, r) = tokio::join!(client.batch_execute(sql), op(client.clone()));
                        b.map_err(|e| classify(&e))?;
                        r
                    }
                    None => op(client).await,
                }
            });
            let f = match r {
                Ok(v) => return Ok(v),
                Err(f) => f,
            };
            // A pooled connection that died unnoticed (a database restart): nothing began on
            // it, so the statement goes again on a new one. A failure to connect is final.
            if matches!(f, Failure::Broken(_))
                && begin.is_some()
                && self.retry_stale
                && stale < BROKEN_RETRIES
            {
                stale += 1;
                if let Some(conn) = state.conn.take() {
                    conn.discard();
                }
                state.begun = false;
                match self.engine.acquire() {
                    Ok(conn) => {
                        state.conn = Some(conn);
                        continue;
                    }
                    Err(f) => {
                        let e = Error::Io(format!("database: {}", f.message()));
                        state.failure = Some(f);
                        return Err(e);
                    }
                }
            }
            let e = Error::Io(format!("database: {}", f.message()));
            state.failure = Some(f);
            return Err(e);
        }
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let key = Arc::new(key.to_vec());
        self.call(move |client| {
            let key = key.clone();
            async move { sql::get(&client, &key).await }
        })
    }

    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Arc<Vec<Vec<u8>>> = Arc::new(keys.iter().map(|k| k.to_vec()).collect());
        self.call(move |client| {
            let keys = keys.clone();
            async move { sql::get_many(&client, &keys).await }
        })
    }

    fn page(&self, range: &KeyRange, direction: Direction) -> Result<Vec<Entry>> {
        let range = Arc::new(range.clone());
        self.call(move |client| {
            let range = range.clone();
            async move { sql::page(&client, &range, direction).await }
        })
    }

    fn scan(&self, range: KeyRange, direction: Direction) -> Pages<'_, 'e> {
        Pages {
            reader: self,
            range,
            direction,
            buffered: VecDeque::new(),
            done: false,
        }
    }
}

/// A scan, one page of [`sql::PAGE`] rows at a time: each page starts after the last key of
/// the one before (keyset pagination).
struct Pages<'r, 'e> {
    reader: &'r Reader<'e>,
    range: KeyRange,
    direction: Direction,
    buffered: VecDeque<Entry>,
    done: bool,
}

impl Iterator for Pages<'_, '_> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.buffered.pop_front() {
            return Some(Ok(e));
        }
        if self.done {
            return None;
        }
        match self.reader.page(&self.range, self.direction) {
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
            Ok(rows) => {
                self.done = rows.len() < sql::PAGE;
                if let Some((last, _)) = rows.last() {
                    let after = Bound::Excluded(last.clone());
                    match self.direction {
                        Direction::Forward => self.range.start = after,
                        Direction::Reverse => self.range.end = after,
                    }
                }
                self.buffered.extend(rows);
                self.buffered.pop_front().map(Ok)
            }
        }
    }
}

/// A snapshot: a `REPEATABLE READ, READ ONLY` transaction that begins with its first read.
pub(crate) struct PgSnapshot<'e> {
    pub(crate) reader: Option<Reader<'e>>,
    /// Why there is no reader (no connection could be had).
    pub(crate) failure: Option<Failure>,
}

impl PgSnapshot<'_> {
    fn unavailable(&self) -> Error {
        self.failure
            .clone()
            .unwrap_or_else(|| Failure::Other("no snapshot".into()))
            .into_error()
    }
}

impl Read for PgSnapshot<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match &self.reader {
            Some(r) => r.get(key),
            None => Err(self.unavailable()),
        }
    }

    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        match &self.reader {
            Some(r) => r.get_many(keys),
            None => Err(self.unavailable()),
        }
    }

    fn scan(&self, range: KeyRange, direction: Direction) -> ScanIter<'_> {
        match &self.reader {
            Some(r) => Box::new(r.scan(range, direction)),
            None => Box::new(std::iter::once(Err(self.unavailable()))),
        }
    }
}

impl Snapshot for PgSnapshot<'_> {}

impl Drop for PgSnapshot<'_> {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            let engine = reader.engine;
            reader.into_state().release(engine);
        }
    }
}

/// A write transaction: reads go to the database (inside the transaction), writes are kept
/// here until commit and overlay the reads (read-your-writes).
pub(crate) struct PgTx<'e> {
    pub(crate) reader: Reader<'e>,
    pub(crate) writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Read for PgTx<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.reader.get(key),
        }
    }

    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        // The transaction's own writes answer locally; the rest in one statement.
        let stored: Vec<&[u8]> = keys
            .iter()
            .copied()
            .filter(|k| !self.writes.contains_key(*k))
            .collect();
        let mut stored = self.reader.get_many(&stored)?.into_iter();
        keys.iter()
            .map(|k| match self.writes.get(*k) {
                Some(v) => Ok(v.clone()),
                None => stored
                    .next()
                    .ok_or_else(|| Error::Io("database: a read answered too few keys".into())),
            })
            .collect()
    }

    fn scan(&self, range: KeyRange, direction: Direction) -> ScanIter<'_> {
        let mut local: Vec<_> = self
            .writes
            .iter()
            .filter(|(k, _)| range.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if direction == Direction::Reverse {
            local.reverse();
        }
        Box::new(Overlay {
            stored: self.reader.scan(range, direction).peekable(),
            local: local.into_iter().peekable(),
            direction,
        })
    }
}

impl Tx for PgTx<'_> {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.writes.insert(key.to_vec(), Some(value.to_vec()));
    }

    fn delete(&mut self, key: &[u8]) {
        self.writes.insert(key.to_vec(), None);
    }
}

/// A put (`Some`) or delete (`None`) a transaction has not committed yet.
type PendingWrite = (Vec<u8>, Option<Vec<u8>>);

/// The stored entries of a scan with the transaction's own puts and deletes laid over them.
struct Overlay<S: Iterator<Item = Result<Entry>>> {
    stored: std::iter::Peekable<S>,
    local: std::iter::Peekable<std::vec::IntoIter<PendingWrite>>,
    direction: Direction,
}

impl<S: Iterator<Item = Result<Entry>>> Iterator for Overlay<S> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let local_first = match (self.stored.peek(), self.local.peek()) {
                (None, None) => return None,
                (Some(Err(_)), _) | (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(Ok((stored, _))), Some((local, _))) => {
                    let order = match self.direction {
                        Direction::Forward => local.cmp(stored),
                        Direction::Reverse => stored.cmp(local),
                    };
                    if order == std::cmp::Ordering::Equal {
                        // The transaction's own write replaces the stored entry.
                        self.stored.next();
                    }
                    order != std::cmp::Ordering::Greater
                }
            };
            if !local_first {
                return self.stored.next();
            }
            match self.local.next() {
                Some((k, Some(v))) => return Some(Ok((k, v))),
                // A delete of this transaction hides the key.
                Some((_, None)) => continue,
                None => return None,
            }
        }
    }
}
