//! Blobs: large immutable byte strings (object data, later function code) behind a small
//! async trait, [`Blobs`], so that where they live is a deployment choice.
//!
//! Two tiers implement it: [`BlobDir`], files in a local directory (one node; the embedded
//! engine's choice), and [`StoreBlobs`], chunks in the store itself (every node that shares a
//! remote store sees them). A blob is written once, streamed in through a [`BlobWriter`]
//! (bounded memory whatever its size), gets a random id, and is never changed; it is read by
//! range as a stream, and removed when nothing refers to it any more.
//!
//! The protocol between a tier and its user (the object store) is: write the blob, then make
//! it reachable in one metadata transaction that also calls [`Blobs::adopt`] (a tier with
//! pending records clears the blob's there, atomically with the reference), and call
//! [`Blobs::remove`] after the transaction that makes it unreachable. A crash in between
//! leaves an unreferenced blob, which the user's garbage collection finds: for [`BlobDir`] by
//! listing files, for [`StoreBlobs`] with [`StoreBlobs::sweep`].
//!
//! Must not: know who refers to a blob (buckets, keys, functions), or hash its data: callers
//! see every byte as they push it and hash it themselves.

mod local;
mod shared;

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

use crate::Tx;

pub use local::{BlobDir, BlobFile};
pub use shared::{CHUNK, Head, HeadState, StoreBlobs, SweepReport};

/// What can go wrong with a blob.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No such blob (never written, or removed since its id was read).
    #[error("blob {0} not found")]
    NotFound(String),
    /// The blob is not what was written (truncated, wrong length).
    #[error("blob {blob} is damaged: {problem}")]
    Damaged { blob: String, problem: String },
    /// A pending blob was collected before the transaction that was to refer to it (its
    /// writer stayed idle past the grace period): that transaction must not commit.
    #[error("blob {0} was collected before it was referenced (its writer was idle too long)")]
    Collected(String),
    #[error("blob I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::Error),
}

/// A blob that was written completely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub id: String,
    pub len: u64,
}

/// The bytes of a blob range, in order; an error ends it.
pub type BlobStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync>>;

/// A blob tier.
#[async_trait::async_trait]
pub trait Blobs: Send + Sync + 'static {
    /// A short name for logs and health ("local", "store").
    fn name(&self) -> &'static str;

    /// Starts a new blob. Nothing is visible to readers until [`BlobWriter::finish`]; a writer
    /// dropped or failed before it leaves nothing a reader can see (what it wrote so far is
    /// removed, or collected later).
    async fn create(&self) -> Result<Box<dyn BlobWriter>, BlobError>;

    /// Opens `len` bytes of blob `id` from `offset`, after checking that the blob holds
    /// `expected_len` bytes (its length when written): a damaged blob is an error now, before
    /// a response promised anything. A reader that opened a blob keeps reading it for a while
    /// even if it is removed meanwhile (the local tier for as long as it reads, the store
    /// tier for the grace period of [`StoreBlobs`]).
    async fn open(
        &self,
        id: &str,
        expected_len: u64,
        offset: u64,
        len: u64,
    ) -> Result<BlobStream, BlobError>;

    /// Called inside the metadata transaction that makes blob `id` reachable: a tier with
    /// pending records clears it there, and refuses (so the transaction aborts) when the blob
    /// was collected meanwhile. Reads and writes only through `tx`.
    fn adopt(&self, tx: &mut dyn Tx, id: &str) -> Result<(), BlobError>;

    /// Removes a blob nothing refers to any more. Failures are logged, not returned: the
    /// metadata change already happened, and garbage collection retries.
    async fn remove(&self, id: &str);
}

/// A blob being written.
#[async_trait::async_trait]
pub trait BlobWriter: Send {
    /// Appends `data`. The writer holds at most one tier-sized buffer (a megabyte or so)
    /// before it writes out.
    async fn write(&mut self, data: Bytes) -> Result<(), BlobError>;

    /// Makes the blob readable (durably, to the tier's configured level) and returns its id
    /// and length. Until its user calls [`Blobs::adopt`] it is still garbage to a sweep.
    async fn finish(self: Box<Self>) -> Result<Written, BlobError>;
}

/// A new random blob id: 32 lowercase hex digits.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub mod conformance;
