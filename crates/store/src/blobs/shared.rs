//! The store tier: blobs as chunks in the store itself, so every node sharing a remote store
//! (PostgreSQL) reads what any of them wrote.
//!
//! Layout, under the reserved prefix `nuvem/blob/` (no service uses `nuvem/`):
//! `nuvem/blob/h/<id>` is the blob's head ([`Head`]: state, length, chunk count, time of last
//! change) and `nuvem/blob/c/<id>/<n: u32 BE>` its chunks of [`CHUNK`] bytes (the last one
//! shorter). Sweeps scan heads only, never chunk data.
//!
//! A blob's life: each chunk is written in a small transaction of its own, together with the
//! head, which says `Pending` and is touched every time (so a pending blob's age is its
//! writer's idle time, not its size). The user's metadata transaction calls [`Blobs::adopt`],
//! which turns `Pending` into `Live` in the same transaction that refers to the blob: a crash
//! before it leaves a pending blob that no metadata names and that no reader can reach. After
//! the transaction that drops the last reference, [`Blobs::remove`] marks the blob `Gone`;
//! readers that opened it keep reading for the grace period, then [`StoreBlobs::sweep`]
//! deletes its chunks and, last, its head. The sweep also collects pending blobs idle longer
//! than the grace period (a writer killed mid-upload) and `Live` blobs the user's snapshot
//! does not refer to (a crash between a reference's removal and `remove`); a writer whose
//! pending blob was collected gets [`BlobError::Collected`] at its next chunk or at adoption,
//! never a half-deleted blob.
//!
//! Memory: a writer holds one chunk; a reader at most two chunks ahead of its consumer. Every
//! store call goes through [`Store::run`], so a remote engine's round trips never block an
//! async worker.
//!
//! Must not: know who refers to blobs (the sweep asks its caller), or keep state outside the
//! store (any node may finish what another began).

use std::collections::HashSet;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;

use super::{BlobError, BlobStream, BlobWriter, Blobs, Written, new_id};
use crate::{Direction, KeyRange, Read, Store, Tx};

/// The size of one chunk: big enough that a round trip per chunk is cheap next to its data,
/// small enough that a value and a transaction stay ordinary for any engine.
pub const CHUNK: usize = 1 << 20;
const HEADS: &[u8] = b"nuvem/blob/h/";
const CHUNKS: &[u8] = b"nuvem/blob/c/";
/// How many chunks one sweep transaction deletes.
const DELETE_BATCH: u32 = 32;

/// Where a blob is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadState {
    /// Being written, or written and not yet referenced.
    Pending,
    /// Referenced by its user's metadata.
    Live,
    /// Unreferenced; deleted by a sweep once `touched_ms` is older than the grace period
    /// (0: at once).
    Gone,
}

/// A blob's head record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub state: HeadState,
    pub len: u64,
    pub chunks: u32,
    /// Milliseconds since the epoch of the last change.
    pub touched_ms: i64,
}

impl Head {
    fn encode(&self) -> [u8; 21] {
        let mut out = [0u8; 21];
        out[0] = match self.state {
            HeadState::Pending => b'p',
            HeadState::Live => b'l',
            HeadState::Gone => b'g',
        };
        out[1..9].copy_from_slice(&self.len.to_be_bytes());
        out[9..13].copy_from_slice(&self.chunks.to_be_bytes());
        out[13..21].copy_from_slice(&self.touched_ms.to_be_bytes());
        out
    }

    fn decode(id: &str, v: &[u8]) -> Result<Self, BlobError> {
        let bad = || crate::Error::Corrupt(format!("blob head {id}"));
        let state = match v.first() {
            Some(b'p') => HeadState::Pending,
            Some(b'l') => HeadState::Live,
            Some(b'g') => HeadState::Gone,
            _ => return Err(bad().into()),
        };
        let int = |r: std::ops::Range<usize>| v.get(r).ok_or_else(bad);
        Ok(Self {
            state,
            len: u64::from_be_bytes(int(1..9)?.try_into().map_err(|_| bad())?),
            chunks: u32::from_be_bytes(int(9..13)?.try_into().map_err(|_| bad())?),
            touched_ms: i64::from_be_bytes(int(13..21)?.try_into().map_err(|_| bad())?),
        })
    }
}

fn head_key(id: &str) -> Vec<u8> {
    let mut k = HEADS.to_vec();
    k.extend_from_slice(id.as_bytes());
    k
}

fn chunk_key(id: &str, n: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(CHUNKS.len() + id.len() + 5);
    k.extend_from_slice(CHUNKS);
    k.extend_from_slice(id.as_bytes());
    k.push(b'/');
    k.extend_from_slice(&n.to_be_bytes());
    k
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn read_head(r: &dyn Read, id: &str) -> Result<Option<Head>, BlobError> {
    r.get(&head_key(id))?
        .map(|v| Head::decode(id, &v))
        .transpose()
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Blobs deleted (chunks and head).
    pub deleted: usize,
    pub deleted_bytes: u64,
    /// Unreferenced live blobs marked `Gone` (deleted by a later sweep).
    pub marked: usize,
}

/// Blobs as chunks in a [`Store`].
#[derive(Debug, Clone)]
pub struct StoreBlobs {
    store: Store,
    grace: Duration,
}

impl StoreBlobs {
    /// The tier on `store`. `grace` is how long a pending blob's writer may stay idle, and how
    /// long readers of a removed blob keep reading it, before a sweep deletes it.
    pub fn new(store: Store, grace: Duration) -> Self {
        Self { store, grace }
    }

    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Every blob head in `snap`, by id.
    pub fn heads(snap: &dyn Read) -> Result<Vec<(String, Head)>, BlobError> {
        snap.scan(KeyRange::prefix(HEADS), Direction::Forward)
            .map(|e| {
                let (k, v) = e?;
                let id = String::from_utf8_lossy(k.get(HEADS.len()..).unwrap_or(&[])).into_owned();
                let head = Head::decode(&id, &v)?;
                Ok((id, head))
            })
            .collect()
    }

    /// Collects garbage: deletes pending blobs idle past the grace period and removed blobs
    /// past it, and marks `Gone` the live blobs that `referenced` (the user's references, read
    /// from the same snapshot as the heads) does not name. Synchronous: async callers call it
    /// through [`Store::run`]. Safe beside writers and sweeps on other nodes.
    pub fn sweep<E>(
        &self,
        referenced: impl FnOnce(&dyn Read) -> Result<HashSet<String>, E>,
    ) -> Result<SweepReport, E>
    where
        E: From<BlobError>,
    {
        let (refs, heads) = {
            let snap = self.store.snapshot();
            let refs = referenced(&*snap)?;
            (refs, Self::heads(&*snap)?)
        };
        let now = now_ms();
        let grace = i64::try_from(self.grace.as_millis()).unwrap_or(i64::MAX);
        let mut report = SweepReport::default();
        for (id, head) in heads {
            let old = now.saturating_sub(head.touched_ms) > grace;
            let deleted = match head.state {
                HeadState::Live if !refs.contains(&id) => {
                    if self.mark_gone(&id, HeadState::Live, false, now)? {
                        report.marked += 1;
                    }
                    false
                }
                // Gone first, so the writer (if it is only slow) stops at its next chunk.
                HeadState::Pending if old => {
                    self.mark_gone(&id, HeadState::Pending, true, 0)? && self.delete(&id)?
                }
                HeadState::Gone if old || head.touched_ms == 0 => self.delete(&id)?,
                _ => false,
            };
            if deleted {
                report.deleted += 1;
                report.deleted_bytes += head.len;
            }
        }
        Ok(report)
    }

    /// Turns `id` from `from` into `Gone` touched at `at`, if it is still in `from` and, with
    /// `if_idle`, untouched for the grace period. Returns whether it did.
    fn mark_gone(
        &self,
        id: &str,
        from: HeadState,
        if_idle: bool,
        at: i64,
    ) -> Result<bool, BlobError> {
        let key = head_key(id);
        let grace = i64::try_from(self.grace.as_millis()).unwrap_or(i64::MAX);
        self.store.transact(|tx| {
            let Some(mut head) = read_head(tx, id)? else {
                return Ok(false);
            };
            let idle = now_ms().saturating_sub(head.touched_ms) > grace;
            if head.state != from || (if_idle && !idle) {
                return Ok(false);
            }
            head.state = HeadState::Gone;
            head.touched_ms = at;
            tx.put(&key, &head.encode());
            Ok(true)
        })
    }

    /// Deletes a `Gone` blob: chunks in batches, the head last (a crash midway leaves the head,
    /// and the next sweep finishes). Returns whether there was one to delete.
    fn delete(&self, id: &str) -> Result<bool, BlobError> {
        let key = head_key(id);
        let head = match read_head(&*self.store.snapshot(), id)? {
            Some(h) if h.state == HeadState::Gone => h,
            _ => return Ok(false),
        };
        let mut n = 0;
        while n < head.chunks {
            let end = head.chunks.min(n + DELETE_BATCH);
            self.store.transact(|tx| {
                for i in n..end {
                    tx.delete(&chunk_key(id, i));
                }
                Ok::<_, crate::Error>(())
            })?;
            n = end;
        }
        self.store.transact(|tx| {
            tx.delete(&key);
            Ok::<_, crate::Error>(())
        })?;
        Ok(true)
    }
}

/// A blob streaming into the store, one chunk per transaction.
struct StoreWriter {
    store: Store,
    id: String,
    buf: BytesMut,
    len: u64,
    chunks: u32,
    finished: bool,
}

impl StoreWriter {
    /// Writes `data` as the next chunk (or, with no data and no chunk yet, just the head of
    /// an empty blob), with the head, `Pending` and touched now.
    async fn put_chunk(&mut self, data: Option<Bytes>) -> Result<(), BlobError> {
        let store = self.store.clone();
        let id = self.id.clone();
        let n = self.chunks;
        let len = self.len;
        let has_data = data.is_some();
        self.store
            .run(move || {
                store.transact(|tx| {
                    match read_head(tx, &id)? {
                        Some(h) if h.state == HeadState::Pending => {}
                        None if n == 0 => {}
                        _ => return Err(BlobError::Collected(id.clone())),
                    }
                    let chunks = match &data {
                        Some(d) => {
                            tx.put(&chunk_key(&id, n), d);
                            n + 1
                        }
                        None => n,
                    };
                    let head = Head {
                        state: HeadState::Pending,
                        len,
                        chunks,
                        touched_ms: now_ms(),
                    };
                    tx.put(&head_key(&id), &head.encode());
                    Ok(())
                })
            })
            .await?;
        if has_data {
            self.chunks = n + 1;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), BlobError> {
        let data = self.buf.split().freeze();
        self.put_chunk(Some(data)).await
    }
}

impl Drop for StoreWriter {
    /// A writer given up (a failed or cancelled upload) marks its blob `Gone` at once rather
    /// than leaving it for the idle sweep.
    fn drop(&mut self) {
        if self.finished || self.chunks == 0 {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let blobs = StoreBlobs::new(self.store.clone(), Duration::ZERO);
        let id = std::mem::take(&mut self.id);
        let store = self.store.clone();
        handle.spawn(async move {
            let _ = store
                .run(move || blobs.mark_gone(&id, HeadState::Pending, false, 0))
                .await;
        });
    }
}

#[async_trait::async_trait]
impl BlobWriter for StoreWriter {
    async fn write(&mut self, mut data: Bytes) -> Result<(), BlobError> {
        while !data.is_empty() {
            let room = CHUNK - self.buf.len();
            let take = room.min(data.len());
            self.buf.extend_from_slice(&data.split_to(take));
            self.len += take as u64;
            if self.buf.len() == CHUNK {
                self.flush().await?;
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<Written, BlobError> {
        if !self.buf.is_empty() {
            self.flush().await?;
        } else if self.chunks == 0 {
            self.put_chunk(None).await?;
        }
        self.finished = true;
        Ok(Written {
            id: self.id.clone(),
            len: self.len,
        })
    }
}

/// What a reader fetches: `len` bytes from `offset` of a blob of `total` bytes.
struct Fetch {
    store: Store,
    id: String,
    total: u64,
    offset: u64,
    len: u64,
}

impl Fetch {
    /// Starts the producer task, which fetches chunk after chunk (each through
    /// [`Store::run`]) and sends it, at most one ahead of the one the reader holds.
    fn start(self) -> tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>> {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let Fetch {
            store,
            id,
            total,
            offset,
            len,
        } = self;
        tokio::spawn(async move {
            let chunk = CHUNK as u64;
            let end = offset.saturating_add(len).min(total);
            let mut pos = offset;
            while pos < end {
                let n = u32::try_from(pos / chunk).unwrap_or(u32::MAX);
                let base = u64::from(n) * chunk;
                let (s, k) = (store.clone(), chunk_key(&id, n));
                let got = store.run(move || s.get(&k)).await;
                let want = chunk.min(total - base);
                let item = match got {
                    Ok(Some(v)) if v.len() as u64 == want => {
                        let from = usize::try_from(pos - base).unwrap_or(0);
                        let to = usize::try_from(end.min(base + chunk) - base).unwrap_or(v.len());
                        pos = base + to as u64;
                        Ok(Bytes::from(v).slice(from..to))
                    }
                    Ok(found) => Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!(
                            "blob {id} chunk {n} {} (collected while being read?)",
                            if found.is_some() {
                                "has the wrong length"
                            } else {
                                "is missing"
                            }
                        ),
                    )),
                    Err(e) => Err(std::io::Error::other(e.to_string())),
                };
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        rx
    }
}

/// A blob range as a stream. Nothing is fetched before the first poll, so an object of many
/// parts, whose parts are all opened before its response starts, holds no chunk of a part
/// until that part is read.
struct ChunkStream {
    fetch: Option<Fetch>,
    rx: Option<tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>>,
}

impl Stream for ChunkStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.rx.is_none() {
            match self.fetch.take() {
                Some(fetch) => self.rx = Some(fetch.start()),
                None => return Poll::Ready(None),
            }
        }
        match self.rx.as_mut() {
            Some(rx) => rx.poll_recv(cx),
            None => Poll::Ready(None),
        }
    }
}

#[async_trait::async_trait]
impl Blobs for StoreBlobs {
    fn name(&self) -> &'static str {
        "store"
    }

    async fn create(&self) -> Result<Box<dyn BlobWriter>, BlobError> {
        Ok(Box::new(StoreWriter {
            store: self.store.clone(),
            id: new_id(),
            buf: BytesMut::with_capacity(CHUNK),
            len: 0,
            chunks: 0,
            finished: false,
        }))
    }

    async fn open(
        &self,
        id: &str,
        expected_len: u64,
        offset: u64,
        len: u64,
    ) -> Result<BlobStream, BlobError> {
        let store = self.store.clone();
        let owned = id.to_string();
        let head = self
            .store
            .run(move || read_head(&*store.snapshot(), &owned))
            .await?;
        // A `Gone` blob is still whole until a sweep deletes it after the grace period: a
        // reader that read a reference before its removal may read it.
        let Some(head) = head else {
            return Err(BlobError::NotFound(id.to_string()));
        };
        if head.len != expected_len {
            return Err(BlobError::Damaged {
                blob: id.to_string(),
                problem: format!(
                    "the blob holds {} bytes, {expected_len} were written",
                    head.len
                ),
            });
        }
        Ok(Box::pin(ChunkStream {
            fetch: Some(Fetch {
                store: self.store.clone(),
                id: id.to_string(),
                total: head.len,
                offset,
                len,
            }),
            rx: None,
        }))
    }

    fn adopt(&self, tx: &mut dyn Tx, id: &str) -> Result<(), BlobError> {
        match read_head(tx, id)? {
            Some(mut head) if head.state == HeadState::Pending => {
                head.state = HeadState::Live;
                head.touched_ms = now_ms();
                tx.put(&head_key(id), &head.encode());
                Ok(())
            }
            Some(head) if head.state == HeadState::Live => Ok(()),
            _ => Err(BlobError::Collected(id.to_string())),
        }
    }

    async fn remove(&self, id: &str) {
        let blobs = self.clone();
        let owned = id.to_string();
        let store = self.store.clone();
        let now = now_ms();
        let marked = store
            .run(move || {
                let live = blobs.mark_gone(&owned, HeadState::Live, false, now)?;
                // Nobody reads a blob that was never referenced: it may go at the next sweep.
                let pending = !live && blobs.mark_gone(&owned, HeadState::Pending, false, 0)?;
                Ok::<_, BlobError>(live || pending)
            })
            .await;
        if let Err(e) = marked {
            tracing::warn!(blob = id, error = %e, "could not mark a blob for removal");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_round_trip() {
        let h = Head {
            state: HeadState::Gone,
            len: 5 << 30,
            chunks: 5 << 10,
            touched_ms: 1_700_000_000_000,
        };
        assert_eq!(Head::decode("x", &h.encode()).unwrap(), h);
        assert!(Head::decode("x", b"p1").is_err());
    }
}
