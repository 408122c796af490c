//! Reads over one connection: [`PgSnapshot`] (a read-only transaction) and [`PgTx`] (a write
//! transaction whose writes stay here until commit), and the keyset-paged scans both share.
//! Must not commit or retry anything: that is the engine's `write` loop.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nuvem_store::{Direction, Entry, Error, KeyRange, Read, Result, ScanIter, Snapshot, Tx};
use tokio_postgres::Client;

use crate::pool::Conn;
use crate::{Failure, PgEngine, classify, sql};

/// Reads over one connection, for a snapshot or a write transaction. The first failure is
/// kept: it decides whether the transaction is retried.
pub(crate) struct Reader<'e> {
    pub(crate) engine: &'e PgEngine,
    client: Arc<Client>,
    /// Sent, pipelined, ahead of the first statement (write transactions start lazily, so a
    /// blind write is one round trip).
    begin: Option<&'static str>,
    pub(crate) begun: AtomicBool,
    pub(crate) failure: std::sync::Mutex<Option<Failure>>,
}

impl<'e> Reader<'e> {
    pub(crate) fn new(
        engine: &'e PgEngine,
        client: Arc<Client>,
        begin: Option<&'static str>,
    ) -> Self {
        Self {
            engine,
            client,
            begin,
            begun: AtomicBool::new(false),
            failure: std::sync::Mutex::new(None),
        }
    }

    fn call<T, F, Fut>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Client>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Failure>> + Send,
    {
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = failure.as_ref() {
            return Err(Error::Io(format!(
                "database: the transaction already failed: {}",
                f.message()
            )));
        }
        let begin = match self.begin {
            Some(sql) if !self.begun.swap(true, Ordering::Relaxed) => Some(sql),
            _ => None,
        };
        let client = self.client.clone();
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
        r.map_err(|f| {
            let e = Error::Io(format!("database: {}", f.message()));
            *failure = Some(f);
            e
        })
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let key = key.to_vec();
        self.call(move |client| async move { sql::get(&client, &key).await })
    }

    fn page(&self, range: &KeyRange, direction: Direction) -> Result<Vec<Entry>> {
        let range = range.clone();
        self.call(move |client| async move { sql::page(&client, &range, direction).await })
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

pub(crate) struct PgSnapshot<'e> {
    pub(crate) reader: Option<Reader<'e>>,
    pub(crate) conn: Option<Conn>,
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
        let Some(conn) = self.conn.take() else {
            return;
        };
        let Some(reader) = self.reader.take() else {
            return;
        };
        let engine = reader.engine;
        let failure = reader
            .failure
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(Failure::Broken(_)) = failure {
            conn.discard();
        } else {
            engine.handle.spawn(conn.release_after("ROLLBACK"));
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
