//! The lifecycle sweep through the store's public API, on the real embedded engine in a temp
//! dir, at chosen instants (no sleeping): an object expires exactly at creation + days rounded up
//! to the next midnight UTC and not a millisecond before; what no rule names stays; a versioned
//! bucket gets a delete marker and keeps the data; noncurrent versions go after NoncurrentDays
//! beyond NewerNoncurrentVersions; a version under object lock stays; expired data's blobs are
//! handed to the caller for removal.

use std::cell::RefCell;

use bytes::Bytes;
use nuvem_s3::store::ObjectStore;
use nuvem_s3::store::lifecycle::{Expiration, Filter, NoncurrentExpiration, Rule, Swept};
use nuvem_s3::store::lock::{BucketLock, DefaultRetention, Mode};
use nuvem_s3::store::objects::PutOptions;
use nuvem_s3::store::versions::Versioning;

const DAY: i64 = 86_400_000;

async fn open(dir: &std::path::Path) -> ObjectStore {
    let engine =
        nuvem_store::FjallEngine::open(&dir.join("store"), nuvem_store::Durability::Process)
            .unwrap();
    let s = ObjectStore::open(nuvem_store::Store::new(engine), &dir.join("s3"), false).unwrap();
    s.create_bucket("bkt", "us-east-1").await.unwrap();
    s
}

async fn put(s: &ObjectStore, key: &str, data: &str) -> nuvem_s3::store::ObjectMeta {
    let body = futures_util::stream::iter([Ok::<_, nuvem_s3::Error>(Bytes::from(
        data.as_bytes().to_vec(),
    ))]);
    s.put_object("bkt", key, body, PutOptions::default(), |_| Ok(()))
        .await
        .unwrap()
}

fn rule(id: &str, filter: Filter) -> Rule {
    Rule {
        id: id.into(),
        enabled: true,
        filter,
        expiration: None,
        noncurrent_expiration: None,
        abort_after_days: None,
        transitions: Vec::new(),
        noncurrent_transitions: Vec::new(),
    }
}

/// Sweeps at `now` and returns what it did and how many blobs it handed over for removal.
fn sweep(s: &ObjectStore, now: i64) -> (Swept, usize) {
    let removed = RefCell::new(0);
    let swept = s
        .lifecycle_sweep(now, &|ids| *removed.borrow_mut() += ids.len())
        .unwrap();
    (swept, removed.into_inner())
}

#[tokio::test]
async fn current_versions_expire_at_the_midnight_after_their_days() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    let mut tmp = rule("tmp", Filter::Prefix("tmp/".into()));
    tmp.expiration = Some(Expiration {
        days: Some(2),
        ..Default::default()
    });
    let mut tagged = rule("tagged", Filter::Tag("t".into(), "x".into()));
    tagged.expiration = Some(Expiration {
        days: Some(1),
        ..Default::default()
    });
    let rules = vec![tmp, tagged];
    s.update_bucket("bkt", move |b| {
        b.lifecycle = Some(rules.clone());
        Ok(())
    })
    .await
    .unwrap();
    let a = put(&s, "tmp/a", "a").await;
    put(&s, "keep/b", "b").await;
    let expiry = (a.last_modified_ms + 2 * DAY) / DAY * DAY + DAY;
    let b = s.bucket("bkt").await.unwrap();
    assert_eq!(
        s.expiration_of(&b, "tmp/a", &a),
        Some((expiry, "tmp".to_string()))
    );
    assert_eq!(sweep(&s, expiry - 1), (Swept::default(), 0));
    assert!(s.head_object("bkt", "tmp/a").await.is_ok());
    let (swept, removed) = sweep(&s, expiry);
    assert_eq!((swept.expired, removed), (1, 1));
    assert!(s.head_object("bkt", "tmp/a").await.is_err());
    assert!(s.head_object("bkt", "keep/b").await.is_ok());
    // Tags: only the object tagged t=x expires under the tag rule.
    s.set_object_tags("bkt", "keep/b", None, [("t".into(), "x".into())].into())
        .await
        .unwrap();
    let (swept, _) = sweep(&s, expiry + 10 * DAY);
    assert_eq!(swept.expired, 1);
    assert!(s.head_object("bkt", "keep/b").await.is_err());
}

#[tokio::test]
async fn versioned_buckets_keep_data_and_locked_versions() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    s.update_bucket("bkt", |b| {
        b.versioning = Some(Versioning::Enabled);
        Ok(())
    })
    .await
    .unwrap();
    let mut cur = rule("cur", Filter::Prefix("cur/".into()));
    cur.expiration = Some(Expiration {
        days: Some(1),
        ..Default::default()
    });
    let mut nc = rule("nc", Filter::Prefix("nc/".into()));
    nc.noncurrent_expiration = Some(NoncurrentExpiration {
        days: Some(1),
        newer_versions: Some(1),
    });
    let rules = vec![cur, nc];
    s.update_bucket("bkt", move |b| {
        b.lifecycle = Some(rules.clone());
        Ok(())
    })
    .await
    .unwrap();
    let x = put(&s, "cur/x", "x").await;
    for v in ["1", "2", "3", "4"] {
        put(&s, "nc/y", v).await;
    }
    let later = x.last_modified_ms + 3 * DAY;
    let (swept, removed) = sweep(&s, later);
    assert_eq!((swept.expired, swept.noncurrent, removed), (1, 2, 2));
    // cur/x: hidden behind a marker, its data kept as a noncurrent version.
    assert!(s.head_object("bkt", "cur/x").await.is_err());
    let v = s
        .head_version("bkt", "cur/x", x.version_id.as_deref())
        .await
        .unwrap();
    assert_eq!(v.size, 1);
    // Nothing more to do at the same instant, nor later for what is left (the marker of cur/x
    // is not an object to expire; nc/y keeps one noncurrent version).
    assert_eq!(sweep(&s, later + 10 * DAY).0, Swept::default());

    // Object lock: a locked noncurrent version stays.
    s.update_bucket("bkt", |b| {
        b.object_lock = Some(BucketLock {
            default: Some(DefaultRetention {
                mode: Mode::Governance,
                days: Some(30),
                years: None,
            }),
        });
        Ok(())
    })
    .await
    .unwrap();
    let locked = put(&s, "nc/z", "locked").await;
    assert!(locked.lock.is_some(), "the default retention applies");
    put(&s, "nc/z", "newer").await;
    put(&s, "nc/z", "newest").await;
    let now = locked.last_modified_ms + 3 * DAY;
    let (swept, _) = sweep(&s, now);
    assert_eq!(swept.noncurrent, 0, "every version of nc/z is retained");
    assert!(
        s.head_version("bkt", "nc/z", locked.version_id.as_deref())
            .await
            .is_ok()
    );
    // Once the retention is over, lifecycle removes it.
    let (swept, _) = sweep(&s, locked.last_modified_ms + 40 * DAY);
    assert_eq!(swept.noncurrent, 1);
}

/// What a client does to a key, in the property test.
#[derive(Debug, Clone)]
enum Op {
    Put(usize),
    Delete(usize),
    /// Deletes the n-th version (newest first, modulo their number) of a key for good.
    DeleteVersion(usize, usize),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        3 => (0..3usize).prop_map(Op::Put),
        1 => (0..3usize).prop_map(Op::Delete),
        1 => (0..3usize, 0..4usize).prop_map(|(k, n)| Op::DeleteVersion(k, n)),
    ]
}

/// (version id, modified, is a delete marker).
type Version = (String, i64, bool);

/// Each key with its versions, newest first.
type History = Vec<(String, Vec<Version>)>;

/// Every version of every key.
async fn all_versions(s: &ObjectStore) -> History {
    let page = s
        .list_versions(
            "bkt",
            &nuvem_s3::store::listing::VersionQuery {
                max_keys: 10_000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut out: History = Vec::new();
    for v in page.versions {
        let entry = (
            v.meta.version().to_string(),
            v.meta.last_modified_ms,
            v.meta.delete_marker,
        );
        match out.last_mut() {
            Some((k, list)) if *k == v.key => list.push(entry),
            _ => out.push((v.key, vec![entry])),
        }
    }
    out
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Any history of puts and deletes in a versioned bucket, any NoncurrentVersionExpiration
    /// (days, newer versions to keep) and ExpiredObjectDeleteMarker, swept at any instant: the
    /// versions left are exactly what S3's documented rules leave (a reference computed here
    /// from the listing before the sweep).
    #[test]
    fn noncurrent_expiry_matches_the_documented_rules(
        ops in proptest::collection::vec(op(), 1..14),
        days in 1u32..4,
        keep in proptest::option::of(1u32..3),
        eodm: bool,
        later_days in 0i64..5,
        later_ms in 0i64..DAY,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let s = open(dir.path()).await;
            let mut r = rule("nc", Filter::All);
            r.noncurrent_expiration = Some(NoncurrentExpiration {
                days: Some(days),
                newer_versions: keep,
            });
            let mut rules = vec![r];
            if eodm {
                let mut m = rule("dm", Filter::Prefix(String::new()));
                m.expiration = Some(Expiration {
                    expired_object_delete_marker: Some(true),
                    ..Default::default()
                });
                rules.push(m);
            }
            s.update_bucket("bkt", move |b| {
                b.versioning = Some(Versioning::Enabled);
                b.lifecycle = Some(rules.clone());
                Ok(())
            })
            .await
            .unwrap();
            for op in &ops {
                match op {
                    Op::Put(k) => {
                        put(&s, &format!("k{k}"), "data").await;
                    }
                    Op::Delete(k) => {
                        s.delete_object("bkt", &format!("k{k}"), None).await.unwrap();
                    }
                    Op::DeleteVersion(k, n) => {
                        let key = format!("k{k}");
                        let before = all_versions(&s).await;
                        if let Some((_, list)) = before.iter().find(|(x, _)| *x == key) {
                            let id = &list[n % list.len()].0;
                            s.delete_object("bkt", &key, Some(id)).await.unwrap();
                        }
                    }
                }
            }
            let before = all_versions(&s).await;
            let newest = before
                .iter()
                .flat_map(|(_, l)| l.iter().map(|v| v.1))
                .max()
                .unwrap_or(0);
            let now = newest + later_days * DAY + later_ms;
            let expiry = |since: i64| (since + i64::from(days) * DAY) / DAY * DAY + DAY;
            let mut expected: History = Vec::new();
            for (key, list) in &before {
                let mut left = vec![list[0].clone()];
                for (i, v) in list.iter().enumerate().skip(1) {
                    let j = i - 1;
                    let became = list[i - 1].1;
                    let expired = keep.is_none_or(|k| j >= k as usize) && now >= expiry(became);
                    if !expired {
                        left.push(v.clone());
                    }
                }
                let lone_marker = left.len() == 1 && left[0].2;
                if !(eodm && lone_marker) {
                    expected.push((key.clone(), left));
                }
            }
            // Two sweeps: a marker left alone by the first is removed by the second, as S3
            // removes it on a later run.
            sweep(&s, now);
            sweep(&s, now);
            let after = all_versions(&s).await;
            assert_eq!(after, expected, "ops {ops:?} at +{later_days}d{later_ms}ms");
        });
    }
}
