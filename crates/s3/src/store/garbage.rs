//! Blob garbage: which blobs no metadata refers to, and what may remove them.
//!
//! **Local tier.**
//! A crash between a blob's rename and the commit that references it (or between the commit
//! that drops a reference and the blob's removal) leaves a few unreferenced blobs: opening
//! the object store removes those, up to a small limit. More than that means the metadata
//! lost something (a store that recovered to an earlier point than its blobs, or one replaced
//! by an empty store): then nothing is removed and a WARN says how many blobs are kept. Only
//! an explicit operator decision (`nuvem repair`, through [`unreferenced`] and
//! [`BlobDir::remove_files`]) deletes them.
//!
//! **Store tier.** Blobs and metadata live in the same database and change in the same
//! transactions (a blob is adopted by the transaction that first refers to it), so they cannot
//! drift apart the way files and a recovered journal can: [`sweep`] runs at open on every node
//! and then periodically on one ([`ObjectStore::sweep_forever`]), with the references read from
//! the same snapshot as the blob heads. It deletes pending blobs idle past the grace period
//! (an upload whose process died), and blobs no metadata refers to once the grace period has
//! passed since they were found or removed (readers still streaming them finish first).
//!
//! Must not: delete local blob files beyond the limit on its own.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use nuvem_store::cluster::Lease;
use nuvem_store::{Direction, KeyRange, Read, Store};

use super::blobs::{BlobDir, BlobFile, StoreBlobs};
use super::{ObjectMeta, ObjectStore, decode, keys, multipart};
use crate::error::Error;

/// How many unreferenced blobs opening the object store removes on its own: a crash leaves
/// at most one per write in flight, so a few; anything above this is left to `nuvem repair`.
pub const DEFAULT_LIMIT: usize = 16;

/// The lease of the periodic store-tier sweep (one node of a cluster sweeps at a time).
const SWEEP_LEASE: &str = "s3/blob-sweep";

/// What opening the object store found and did about unreferenced blobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Unreferenced blobs removed (crash leftovers, within the limit).
    pub removed: usize,
    /// Unreferenced blobs kept because there were too many of them, or no bucket at all.
    pub kept: usize,
    /// Their total size in bytes.
    pub kept_bytes: u64,
}

/// The ids of every blob the metadata refers to: object versions and uploaded parts.
fn referenced(store: &Store) -> Result<HashSet<String>, Error> {
    referenced_in(&*store.snapshot())
}

fn referenced_in(snap: &dyn Read) -> Result<HashSet<String>, Error> {
    let mut ids = HashSet::new();
    for prefix in [keys::OBJECTS, keys::VERSIONS] {
        for entry in snap.scan(KeyRange::prefix(prefix), Direction::Forward) {
            let (_, v) = entry?;
            let meta: ObjectMeta = decode(&v)?;
            ids.extend(meta.blobs.into_iter().map(|b| b.id));
        }
    }
    for entry in snap.scan(KeyRange::prefix(keys::PARTS), Direction::Forward) {
        let (_, v) = entry?;
        let part: multipart::PartMeta = decode(&v)?;
        ids.insert(part.blob.id);
    }
    Ok(ids)
}

/// The blob files under `root` (the object store's data dir) that no metadata in `store`
/// refers to; every blob when there is no store. Reads only.
pub fn unreferenced(store: Option<&Store>, root: &Path) -> Result<Vec<BlobFile>, Error> {
    let ids = match store {
        Some(s) => referenced(s)?,
        None => HashSet::new(),
    };
    let mut files = BlobDir::scan(root)?;
    files.retain(|f| !ids.contains(&f.id));
    Ok(files)
}

fn has_buckets(store: &Store) -> Result<bool, Error> {
    let snap = store.snapshot();
    let first = snap
        .scan(KeyRange::prefix(keys::BUCKETS), Direction::Forward)
        .next();
    Ok(first.transpose()?.is_some())
}

/// Removes the crash leftovers among unreferenced blobs when there are at most `limit` of
/// them and the store knows at least one bucket (a blob is only ever written into an existing
/// bucket, so blobs without any bucket mean lost metadata); otherwise keeps them all and says
/// so at WARN.
pub(crate) fn collect(store: &Store, root: &Path, limit: usize) -> Result<Report, Error> {
    let orphans = unreferenced(Some(store), root)?;
    if orphans.is_empty() {
        return Ok(Report::default());
    }
    let buckets = has_buckets(store)?;
    if orphans.len() <= limit && buckets {
        BlobDir::remove_files(&orphans)?;
        tracing::info!(
            removed = orphans.len(),
            "removed unreferenced blobs left by a crash"
        );
        return Ok(Report {
            removed: orphans.len(),
            ..Report::default()
        });
    }
    let kept_bytes = orphans.iter().map(|f| f.len).sum();
    let why = if buckets {
        "more than start-up removes on its own"
    } else {
        "and the store has no bucket at all"
    };
    tracing::warn!(
        unreferenced = orphans.len(),
        bytes = kept_bytes,
        limit,
        blobs = %root.join("blobs").display(),
        "{} blob files are not referenced by the store ({why}): the store may have recovered \
         to an earlier point than its blobs (a truncated or lost journal: objects written after \
         that point are missing), or a crash interrupted a large delete. Nothing was deleted. Restore the store from a backup, or run \
         `nuvem repair` to list these blobs and `nuvem repair --yes` to delete them",
        orphans.len(),
    );
    Ok(Report {
        removed: 0,
        kept: orphans.len(),
        kept_bytes,
    })
}

/// One sweep of the store tier (see the module doc). Synchronous: async callers use
/// [`ObjectStore::sweep`].
pub(crate) fn sweep(blobs: &StoreBlobs) -> Result<Report, Error> {
    let done = blobs.sweep(referenced_in)?;
    if done.deleted > 0 || done.marked > 0 {
        tracing::info!(
            deleted = done.deleted,
            bytes = done.deleted_bytes,
            unreferenced = done.marked,
            "swept the blobs in the store"
        );
    }
    Ok(Report {
        removed: done.deleted,
        ..Report::default()
    })
}

impl ObjectStore {
    /// Sweeps the store tier once (nothing to do for local blobs, whose garbage only a crash
    /// makes and only opening collects).
    pub async fn sweep(&self) -> Result<Report, Error> {
        self.run(|s| match &s.shared {
            Some(shared) => sweep(shared),
            None => Ok(Report::default()),
        })
        .await
    }

    /// Sweeps the store tier every half grace period (between 1 s and 5 min), for as long as
    /// the runtime runs, on the one node of the cluster that holds the sweep's lease (a sweep
    /// reads every reference; once per cluster is enough, and a dead holder's lease expires
    /// after two rounds). Errors (the database away) are logged and the next round retries.
    pub async fn sweep_forever(self) {
        let Some(grace) = self.shared.as_ref().map(StoreBlobs::grace) else {
            return;
        };
        let every = (grace / 2).clamp(Duration::from_secs(1), Duration::from_secs(300));
        let holder = nuvem_store::blobs::new_id();
        loop {
            tokio::time::sleep(every).await;
            let (store, me) = (self.store.clone(), holder.clone());
            let ours = self
                .store
                .run(move || Lease::try_acquire(&store, SWEEP_LEASE, &me, every * 2))
                .await;
            match ours {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "could not take the blob sweep's lease; retrying later");
                    continue;
                }
            }
            if let Err(e) = self.sweep().await {
                tracing::warn!(error = %e, "sweeping the blobs in the store failed; retrying later");
            }
        }
    }
}
