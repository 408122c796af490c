//! The behaviour every blob tier must have, as one suite: tests call [`run`] with a tier on a
//! real store (the store tier on every engine; the local tier in a temp dir).

use bytes::Bytes;
use futures_util::StreamExt;

use super::{BlobError, Blobs, Written};
use crate::Store;

/// Deterministic bytes that differ at every offset of interest (not periodic in 1 MiB).
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(2_654_435_761).rotate_right(13) as u8 ^ seed)
        .collect()
}

/// Writes `data` in pieces of the given sizes (cycled), then finishes.
pub async fn write(blobs: &dyn Blobs, data: &[u8], pieces: &[usize]) -> Written {
    let mut w = blobs.create().await.expect("create");
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = pieces[i % pieces.len()].min(rest.len()).max(1);
        w.write(Bytes::copy_from_slice(&rest[..n]))
            .await
            .expect("write");
        rest = &rest[n..];
        i += 1;
    }
    w.finish().await.expect("finish")
}

/// Reads `len` bytes from `offset` of a blob whose length is `total`.
pub async fn read(
    blobs: &dyn Blobs,
    id: &str,
    total: u64,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, BlobError> {
    let mut s = blobs.open(id, total, offset, len).await?;
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// The user's metadata transaction, reduced to the adoption. The suite's own store calls are
/// marked [`Store::blocking`]: only the tier's calls count as `worker_calls`.
fn adopt(store: &Store, blobs: &dyn Blobs, id: &str) -> Result<(), BlobError> {
    Store::blocking(|| store.transact(|tx| blobs.adopt(tx, id)))
}

#[track_caller]
fn check_range(data: &[u8], got: &[u8], offset: usize, len: usize) {
    let want = &data[offset..offset + len];
    assert!(
        got == want,
        "range {offset}+{len}: got {} bytes, differing from the written data",
        got.len()
    );
}

/// Runs every check against `blobs`, whose metadata transactions go to `store`.
pub async fn run(blobs: &dyn Blobs, store: &Store) {
    const MIB: usize = 1 << 20;
    // Sizes around the store tier's chunk and the local tier's buffer.
    for (len, pieces) in [
        (0usize, &[1usize][..]),
        (1, &[1]),
        (1000, &[7, 300]),
        (MIB, &[MIB]),
        (MIB + 1, &[65_536]),
        (2 * MIB + MIB / 2, &[100_000, 1, 3 * MIB]),
    ] {
        let data = pattern(len, len as u8);
        let w = write(blobs, &data, pieces).await;
        assert_eq!(w.len, len as u64, "length of a {len}-byte blob");
        assert_eq!(w.id.len(), 32);
        adopt(store, blobs, &w.id).expect("adopt a written blob");
        let all = read(blobs, &w.id, w.len, 0, w.len).await.unwrap();
        check_range(&data, &all, 0, len);
        let mut ranges = vec![(0, 0), (len, 0)];
        if len > 0 {
            ranges.extend([(len - 1, 1), (0, len / 2), (len / 3, len - len / 3)]);
        }
        if len > MIB {
            ranges.extend([(MIB - 1, 2), (MIB, len - MIB), (10, len - 10)]);
        }
        for (offset, n) in ranges {
            let got = read(blobs, &w.id, w.len, offset as u64, n as u64)
                .await
                .unwrap();
            check_range(&data, &got, offset, n);
        }
        // A recorded length that is not the blob's is refused at open.
        match blobs.open(&w.id, w.len + 1, 0, 1).await {
            Err(BlobError::Damaged { blob, .. }) => assert_eq!(blob, w.id),
            Err(e) => panic!("wrong length: {e}"),
            Ok(_) => panic!("a wrong length was accepted"),
        }
        blobs.remove(&w.id).await;
    }

    // An id never written.
    let missing = super::new_id();
    assert!(matches!(
        blobs.open(&missing, 3, 0, 3).await,
        Err(BlobError::NotFound(id)) if id == missing
    ));
    // Removing what is not there is no error.
    blobs.remove(&missing).await;

    // A reader that opened a blob reads it whole even if it is removed meanwhile.
    let data = pattern(3 * MIB, 9);
    let w = write(blobs, &data, &[MIB / 2]).await;
    adopt(store, blobs, &w.id).unwrap();
    let mut s = blobs.open(&w.id, w.len, 0, w.len).await.unwrap();
    let first = s.next().await.unwrap().unwrap();
    blobs.remove(&w.id).await;
    let mut got = first.to_vec();
    while let Some(c) = s.next().await {
        got.extend_from_slice(&c.unwrap());
    }
    check_range(&data, &got, 0, data.len());

    // Blobs are independent: writing two at once interleaved.
    let (a, b) = (pattern(MIB + 5, 1), pattern(MIB + 7, 2));
    let mut wa = blobs.create().await.unwrap();
    let mut wb = blobs.create().await.unwrap();
    for i in (0..a.len().max(b.len())).step_by(MIB / 4) {
        if i < a.len() {
            wa.write(Bytes::copy_from_slice(&a[i..a.len().min(i + MIB / 4)]))
                .await
                .unwrap();
        }
        if i < b.len() {
            wb.write(Bytes::copy_from_slice(&b[i..b.len().min(i + MIB / 4)]))
                .await
                .unwrap();
        }
    }
    let (wa, wb) = (wa.finish().await.unwrap(), wb.finish().await.unwrap());
    assert_ne!(wa.id, wb.id);
    let ga = read(blobs, &wa.id, wa.len, 0, wa.len).await.unwrap();
    let gb = read(blobs, &wb.id, wb.len, 0, wb.len).await.unwrap();
    check_range(&a, &ga, 0, a.len());
    check_range(&b, &gb, 0, b.len());
    blobs.remove(&wa.id).await;
    blobs.remove(&wb.id).await;
}

/// The store tier's garbage collection on `store` (which must hold no blob yet): what a
/// sweep collects, what it keeps, and what a writer whose blob was collected sees.
pub async fn run_store_tier(store: &Store) {
    use std::collections::HashSet;
    use std::time::Duration;

    use super::{HeadState, StoreBlobs};
    use crate::{Direction, KeyRange};

    const MIB: usize = 1 << 20;
    let patient = StoreBlobs::new(store.clone(), Duration::from_secs(3600));
    let eager = StoreBlobs::new(store.clone(), Duration::ZERO);
    let sweep = |tier: &StoreBlobs, refs: &[&str]| {
        let refs: HashSet<String> = refs.iter().map(|s| s.to_string()).collect();
        Store::blocking(|| tier.sweep(|_| Ok::<_, BlobError>(refs))).expect("sweep")
    };
    let states = || {
        Store::blocking(|| {
            let snap = store.snapshot();
            StoreBlobs::heads(&*snap)
                .unwrap()
                .into_iter()
                .map(|(id, h)| (id, h.state))
                .collect::<Vec<_>>()
        })
    };
    let tick = || tokio::time::sleep(Duration::from_millis(5));

    // A referenced blob stays; unreferenced, it is marked Gone (still readable), and deleted
    // once the grace period is over.
    let data = pattern(2 * MIB + 3, 4);
    let a = write(&patient, &data, &[MIB / 3]).await;
    adopt(store, &patient, &a.id).unwrap();
    assert_eq!(sweep(&eager, &[a.id.as_str()]).deleted, 0);
    assert_eq!(states(), vec![(a.id.clone(), HeadState::Live)]);
    assert_eq!(sweep(&patient, &[]).marked, 1, "unreferenced live blob");
    let got = read(&patient, &a.id, a.len, 0, a.len).await.unwrap();
    check_range(&data, &got, 0, data.len());
    assert_eq!(sweep(&patient, &[]).deleted, 0, "within the grace period");
    tick().await;
    let r = sweep(&eager, &[]);
    assert_eq!((r.deleted, r.deleted_bytes), (1, a.len));
    assert!(matches!(
        patient.open(&a.id, a.len, 0, 1).await,
        Err(BlobError::NotFound(_))
    ));

    // A pending blob (written, never adopted) is kept while young, collected when idle; its
    // adoption afterwards is refused.
    let b = write(&patient, &pattern(MIB + 1, 5), &[MIB]).await;
    assert_eq!(sweep(&patient, &[]), Default::default());
    tick().await;
    assert_eq!(sweep(&eager, &[]).deleted, 1);
    assert!(matches!(
        adopt(store, &patient, &b.id),
        Err(BlobError::Collected(_))
    ));

    // A writer idle past the grace period loses its blob and is told at its next chunk.
    let mut w = patient.create().await.unwrap();
    w.write(Bytes::from(pattern(MIB + 10, 6))).await.unwrap();
    tick().await;
    assert_eq!(sweep(&eager, &[]).deleted, 1);
    let next = w.write(Bytes::from(pattern(MIB, 7))).await;
    assert!(matches!(next, Err(BlobError::Collected(_))), "{next:?}");
    drop(w);

    // A writer dropped unfinished (a failed upload) gives its blob up at once; so does
    // removing a blob that was never referenced.
    let mut w = patient.create().await.unwrap();
    w.write(Bytes::from(pattern(2 * MIB, 8))).await.unwrap();
    drop(w);
    let c = write(&patient, &pattern(10, 9), &[10]).await;
    patient.remove(&c.id).await;
    let mut waited = 0;
    while states().iter().any(|(_, s)| *s != HeadState::Gone) {
        assert!(waited < 200, "dropped writer not given up: {:?}", states());
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    assert_eq!(sweep(&patient, &[]).deleted, 2);

    // Nothing is left: no head, no chunk.
    let left = Store::blocking(|| {
        store
            .snapshot()
            .scan(KeyRange::prefix(b"nuvem/blob/"), Direction::Forward)
            .count()
    });
    assert_eq!(left, 0, "keys left under nuvem/blob/");
}
