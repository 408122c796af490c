//! Lifecycle (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lifecycle-mgmt.html):
//! a bucket's rules ([`Rule`], kept in [`BucketMeta::lifecycle`]), which objects they expire
//! and when ([`Clock`]), and the sweep that applies them ([`ObjectStore::lifecycle_sweep`]).
//!
//! Expiring goes through the same paths as the API: the current version of an object is
//! deleted in an unversioned bucket and gets a delete marker (made by [`versions::install`])
//! in a versioned one; noncurrent versions and expired delete markers are removed as a
//! DeleteObject with a version id removes them; incomplete multipart uploads are aborted.
//! Every expiry is its own small transaction that reads the object again and checks that it is
//! still the one found expired (an overwrite since the page was read saves it); a version under
//! object lock is never removed. Pages are read from snapshots ([`SWEEP_PAGE`] records), so the
//! sweep holds no transaction across pages and foreground requests wait for at most one expiry.
//!
//! Days are [`Clock::day_ms`] long (86 400 000 unless the binary accelerates time for tests);
//! an object's expiry is its creation time plus the rule's days, rounded up to the next
//! midnight UTC (the next multiple of the day length since the epoch), as S3 computes it.
//! Transitions are accepted and returned by GetBucketLifecycleConfiguration, and do nothing:
//! nuvem has one storage class.
//!
//! Must not: know the wire protocol (s3s types); decide when sweeps run (the binary does,
//! under a cluster lease).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use nuvem_store::{Direction, KeyRange};
use serde::{Deserialize, Serialize};

use super::{BucketMeta, ObjectMeta, ObjectStore, decode, keys, versions};
use crate::error::Error;
use crate::events::ObjectEvent;

/// How many records one page of the sweep reads.
pub const SWEEP_PAGE: usize = 500;

/// "You can have up to 1,000 rules" per configuration.
pub const MAX_RULES: usize = 1000;

/// A real day: dates in rules are calendar dates, at midnight UTC.
pub const DAY_MS: i64 = 86_400_000;

/// One lifecycle rule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub enabled: bool,
    pub filter: Filter,
    #[serde(default)]
    pub expiration: Option<Expiration>,
    #[serde(default)]
    pub noncurrent_expiration: Option<NoncurrentExpiration>,
    /// AbortIncompleteMultipartUpload's DaysAfterInitiation.
    #[serde(default)]
    pub abort_after_days: Option<u32>,
    /// Recorded and returned; they do nothing (one storage class).
    #[serde(default)]
    pub transitions: Vec<Transition>,
    #[serde(default)]
    pub noncurrent_transitions: Vec<NoncurrentTransition>,
}

/// Which objects a rule applies to, in the form the client sent it (so it reads back the same).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Filter {
    /// The rule's own `<Prefix>` (the deprecated form, outside `<Filter>`).
    Legacy(String),
    /// `<Filter/>`: every object.
    All,
    Prefix(String),
    Tag(String, String),
    GreaterThan(u64),
    LessThan(u64),
    And {
        prefix: Option<String>,
        tags: Vec<(String, String)>,
        greater_than: Option<u64>,
        less_than: Option<u64>,
    },
}

impl Filter {
    /// The key prefix the filter requires ("" for none).
    pub fn prefix(&self) -> &str {
        match self {
            Self::Legacy(p) | Self::Prefix(p) => p,
            Self::And {
                prefix: Some(p), ..
            } => p,
            _ => "",
        }
    }

    pub fn has_tags(&self) -> bool {
        match self {
            Self::Tag(..) => true,
            Self::And { tags, .. } => !tags.is_empty(),
            _ => false,
        }
    }

    pub fn has_size(&self) -> bool {
        match self {
            Self::GreaterThan(_) | Self::LessThan(_) => true,
            Self::And {
                greater_than,
                less_than,
                ..
            } => greater_than.is_some() || less_than.is_some(),
            _ => false,
        }
    }

    /// Whether an object (or version) with this key, size and tags is in the filter.
    pub fn matches(&self, key: &str, size: u64, tags: &BTreeMap<String, String>) -> bool {
        let tag = |k: &str, v: &str| tags.get(k).is_some_and(|have| have == v);
        match self {
            Self::Legacy(p) | Self::Prefix(p) => key.starts_with(p.as_str()),
            Self::All => true,
            Self::Tag(k, v) => tag(k, v),
            Self::GreaterThan(n) => size > *n,
            Self::LessThan(n) => size < *n,
            Self::And {
                prefix,
                tags: wanted,
                greater_than,
                less_than,
            } => {
                prefix.as_deref().is_none_or(|p| key.starts_with(p))
                    && wanted.iter().all(|(k, v)| tag(k, v))
                    && greater_than.is_none_or(|n| size > n)
                    && less_than.is_none_or(|n| size < n)
            }
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Expiration {
    pub days: Option<u32>,
    /// Midnight UTC, milliseconds since the epoch.
    pub date_ms: Option<i64>,
    pub expired_object_delete_marker: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NoncurrentExpiration {
    pub days: Option<u32>,
    /// Keep this many newer noncurrent versions whatever their age.
    pub newer_versions: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Transition {
    pub days: Option<u32>,
    pub date_ms: Option<i64>,
    pub storage_class: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NoncurrentTransition {
    pub days: Option<u32>,
    pub newer_versions: Option<u32>,
    pub storage_class: Option<String>,
}

/// Checks a configuration as S3 does (after the protocol layer refused what does not fit the
/// schema: both `Days` and `Date`, a filter with two conditions outside `<And>`...).
pub fn validate(rules: &[Rule]) -> Result<(), Error> {
    if rules.is_empty() || rules.len() > MAX_RULES {
        return Err(Error::MalformedXml);
    }
    let mut ids = std::collections::HashSet::new();
    for r in rules {
        if r.id.chars().count() > 255 {
            return Err(Error::InvalidArgument(
                "ID length should not exceed allowed limit of 255".into(),
            ));
        }
        if !ids.insert(r.id.as_str()) {
            return Err(Error::InvalidArgument(
                "Rule ID must be unique. Found same ID for more than one rule".into(),
            ));
        }
        if r.expiration.is_none()
            && r.noncurrent_expiration.is_none()
            && r.abort_after_days.is_none()
            && r.transitions.is_empty()
            && r.noncurrent_transitions.is_empty()
        {
            return Err(Error::InvalidRequest(
                "At least one action needs to be specified in a rule".into(),
            ));
        }
        if let Some(e) = &r.expiration {
            // `false` is what some tools send beside Days: it asks for nothing.
            let eodm = e.expired_object_delete_marker == Some(true);
            if (e.days.is_some() as u8 + e.date_ms.is_some() as u8 + eodm as u8) != 1 {
                return Err(Error::MalformedXml);
            }
            if e.expired_object_delete_marker == Some(true) && r.filter.has_tags() {
                return Err(Error::InvalidRequest(
                    "ExpiredObjectDeleteMarker cannot be specified with Tags.".into(),
                ));
            }
        }
        if r.abort_after_days.is_some() && (r.filter.has_tags() || r.filter.has_size()) {
            return Err(Error::InvalidRequest(if r.filter.has_tags() {
                "AbortIncompleteMultipartUpload cannot be specified with Tags.".into()
            } else {
                "AbortIncompleteMultipartUpload cannot be specified with an object size filter."
                    .into()
            }));
        }
        if let Some(n) = &r.noncurrent_expiration
            && n.days.is_none()
        {
            return Err(Error::MalformedXml);
        }
        if let Filter::And {
            greater_than: Some(gt),
            less_than: Some(lt),
            ..
        } = &r.filter
            && gt >= lt
        {
            return Err(Error::InvalidArgument(
                "ObjectSizeGreaterThan must be less than ObjectSizeLessThan".into(),
            ));
        }
        if let Filter::And { tags, .. } = &r.filter {
            let mut seen = std::collections::HashSet::new();
            if tags.iter().any(|(k, _)| !seen.insert(k)) {
                return Err(Error::InvalidRequest(
                    "Duplicate Tag Keys are not allowed.".into(),
                ));
            }
        }
    }
    Ok(())
}

/// A day count from the wire: S3 wants a positive integer (`field` of `action`).
pub fn positive_days(days: Option<i32>, field: &str, action: &str) -> Result<Option<u32>, Error> {
    match days {
        None => Ok(None),
        Some(d) if d > 0 => Ok(u32::try_from(d).ok()),
        Some(_) => Err(Error::InvalidArgument(format!(
            "'{field}' for {action} action must be a positive integer"
        ))),
    }
}

/// A date from the wire: S3 wants midnight UTC.
pub fn midnight(ms: i64, what: &str) -> Result<i64, Error> {
    if ms.rem_euclid(DAY_MS) != 0 {
        return Err(Error::InvalidArgument(format!(
            "'{what}' must be at midnight GMT"
        )));
    }
    Ok(ms)
}

/// The length of a lifecycle day, shared by every clone of the object store (the binary may
/// shorten it for tests: `[server] lifecycle_day_secs`).
#[derive(Debug, Clone)]
pub struct Clock(Arc<AtomicI64>);

impl Default for Clock {
    fn default() -> Self {
        Self(Arc::new(AtomicI64::new(DAY_MS)))
    }
}

impl Clock {
    pub fn day_ms(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set_day_ms(&self, ms: i64) {
        self.0.store(ms.max(1), Ordering::Relaxed);
    }

    /// `since` plus `days`, rounded up to the next midnight (a multiple of the day length).
    pub fn after_days(&self, since_ms: i64, days: u32) -> i64 {
        let day = self.day_ms();
        let at = since_ms.saturating_add(i64::from(days).saturating_mul(day));
        (at.div_euclid(day) + 1).saturating_mul(day)
    }

    /// When the current version `meta` of `key` expires under `rules`, and by which rule (the
    /// earliest); `None` when no enabled rule expires it.
    pub fn current_expiry<'a>(
        &self,
        rules: &'a [Rule],
        key: &str,
        meta: &ObjectMeta,
    ) -> Option<(i64, &'a str)> {
        rules
            .iter()
            .filter(|r| r.enabled && r.filter.matches(key, meta.size, &meta.tags))
            .filter_map(|r| {
                let e = r.expiration.as_ref()?;
                let at = match (e.days, e.date_ms) {
                    (Some(d), _) => self.after_days(meta.last_modified_ms, d),
                    (None, Some(date)) => date,
                    (None, None) => return None,
                };
                Some((at, r.id.as_str()))
            })
            .min()
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// Current versions expired (deleted, or hidden behind a delete marker).
    pub expired: usize,
    /// Noncurrent versions removed.
    pub noncurrent: usize,
    /// Expired object delete markers removed.
    pub markers: usize,
    /// Incomplete multipart uploads aborted.
    pub aborted: usize,
}

fn enabled(b: &BucketMeta) -> Vec<Rule> {
    b.lifecycle
        .iter()
        .flatten()
        .filter(|r| r.enabled)
        .cloned()
        .collect()
}

impl ObjectStore {
    /// The lifecycle clock (day length) of this object store.
    pub fn lifecycle_clock(&self) -> &Clock {
        &self.lifecycle
    }

    /// The `x-amz-expiration` value for the current version `meta` of `key` in `bucket`:
    /// `expiry-date="<HTTP date>", rule-id="<id>"`; the caller formats the date.
    pub fn expiration_of(
        &self,
        bucket: &BucketMeta,
        key: &str,
        meta: &ObjectMeta,
    ) -> Option<(i64, String)> {
        let rules = bucket.lifecycle.as_deref()?;
        self.lifecycle
            .current_expiry(rules, key, meta)
            .map(|(at, id)| (at, id.to_string()))
    }

    /// Applies every bucket's lifecycle rules at `now_ms`, in bounded pages; blobs no version
    /// refers to any more are removed after each expiry's commit (`remove` runs them: the
    /// caller, on a blocking thread, blocks on the async removal). Blocking code: call it on a
    /// blocking thread inside [`nuvem_store::Store::blocking`].
    pub fn lifecycle_sweep(
        &self,
        now_ms: i64,
        remove: &dyn Fn(Vec<String>),
    ) -> Result<Swept, Error> {
        let mut swept = Swept::default();
        let buckets: Vec<BucketMeta> = {
            let snap = self.store.snapshot();
            snap.scan(KeyRange::prefix(keys::BUCKETS), Direction::Forward)
                .map(|e| decode(&e?.1))
                .collect::<Result<_, Error>>()?
        };
        for b in buckets {
            let rules = enabled(&b);
            if rules.is_empty() {
                continue;
            }
            if rules.iter().any(|r| {
                r.expiration
                    .as_ref()
                    .is_some_and(|e| e.days.is_some() || e.date_ms.is_some())
            }) {
                swept.expired += self.sweep_current(&b.name, now_ms, remove)?;
            }
            if rules.iter().any(|r| {
                r.noncurrent_expiration.is_some()
                    || r.expiration.as_ref().is_some_and(|e| {
                        e.expired_object_delete_marker == Some(true) || e.days.is_some()
                    })
            }) {
                let (n, m) = self.sweep_versions(&b.name, now_ms, remove)?;
                swept.noncurrent += n;
                swept.markers += m;
            }
            if rules.iter().any(|r| r.abort_after_days.is_some()) {
                swept.aborted += self.sweep_uploads(&b.name, now_ms, remove)?;
            }
        }
        Ok(swept)
    }

    /// Expires the current versions of `bucket` that are due.
    fn sweep_current(
        &self,
        bucket: &str,
        now_ms: i64,
        remove: &dyn Fn(Vec<String>),
    ) -> Result<usize, Error> {
        let prefix = keys::objects_of(bucket);
        let mut cursor: Option<Vec<u8>> = None;
        let mut done = 0;
        loop {
            let (due, last, full) = {
                let snap = self.store.snapshot();
                let Some(b) = snap.get(&keys::bucket(bucket))? else {
                    return Ok(done);
                };
                let b: BucketMeta = decode(&b)?;
                let rules = enabled(&b);
                let mut range = KeyRange::prefix(&prefix);
                if let Some(c) = &cursor {
                    range.start = std::ops::Bound::Excluded(c.clone());
                }
                let page: Vec<(Vec<u8>, Vec<u8>)> = snap
                    .scan(range, Direction::Forward)
                    .take(SWEEP_PAGE)
                    .collect::<Result<_, _>>()?;
                let mut due = Vec::new();
                for (k, v) in &page {
                    let Some(key) = keys::object_key(&prefix, k) else {
                        continue;
                    };
                    let meta: ObjectMeta = decode(v)?;
                    if self
                        .lifecycle
                        .current_expiry(&rules, key, &meta)
                        .is_some_and(|(at, _)| at <= now_ms)
                    {
                        due.push((key.to_string(), meta.seq, meta.etag));
                    }
                }
                (
                    due,
                    page.last().map(|(k, _)| k.clone()),
                    page.len() == SWEEP_PAGE,
                )
            };
            for (key, seq, etag) in due {
                if self.expire_current(bucket, &key, seq, &etag, now_ms, remove)? {
                    done += 1;
                }
            }
            if !full {
                return Ok(done);
            }
            cursor = last;
        }
    }

    /// Expires the current version of `key` in its own transaction, if it is still the version
    /// found due (same order and ETag) and still due under the bucket's rules now.
    fn expire_current(
        &self,
        bucket: &str,
        key: &str,
        seq: u64,
        etag: &str,
        now_ms: i64,
        remove: &dyn Fn(Vec<String>),
    ) -> Result<bool, Error> {
        let (bkey, okey) = (keys::bucket(bucket), keys::object(bucket, key));
        let dropped = self.store.transact(|tx| {
            let Some(b) = tx.get(&bkey)? else {
                return Ok::<_, Error>(None);
            };
            let b: BucketMeta = decode(&b)?;
            let Some(cur) = tx.get(&okey)? else {
                return Ok(None);
            };
            let cur: ObjectMeta = decode(&cur)?;
            let still_due = cur.seq == seq
                && cur.etag == etag
                && self
                    .lifecycle
                    .current_expiry(&enabled(&b), key, &cur)
                    .is_some_and(|(at, _)| at <= now_ms);
            if !still_due {
                return Ok(None);
            }
            if b.versioning.is_none() {
                tx.delete(&okey);
                return Ok(Some(vec![cur]));
            }
            let (_, dropped) =
                versions::install(tx, b.versioning, bucket, key, Some(cur), versions::marker())?;
            Ok(Some(dropped))
        })?;
        let Some(dropped) = dropped else {
            return Ok(false);
        };
        remove(
            dropped
                .into_iter()
                .flat_map(|m| m.blobs)
                .map(|b| b.id)
                .collect(),
        );
        self.notify(ObjectEvent::Removed {
            bucket: bucket.to_string(),
            key: key.to_string(),
        });
        Ok(true)
    }

    /// Removes the noncurrent versions and expired delete markers of `bucket` that are due.
    fn sweep_versions(
        &self,
        bucket: &str,
        now_ms: i64,
        remove: &dyn Fn(Vec<String>),
    ) -> Result<(usize, usize), Error> {
        let prefix = keys::versions_of(bucket);
        let mut cursor: Option<Vec<u8>> = None;
        let (mut noncurrent, mut markers) = (0, 0);
        loop {
            let (page_keys, last, full) = {
                let snap = self.store.snapshot();
                let mut range = KeyRange::prefix(&prefix);
                if let Some(c) = &cursor {
                    range.start = std::ops::Bound::Excluded(c.clone());
                }
                let page: Vec<Vec<u8>> = snap
                    .scan(range, Direction::Forward)
                    .take(SWEEP_PAGE)
                    .map(|e| e.map(|(k, _)| k))
                    .collect::<Result<_, _>>()?;
                let mut page_keys: Vec<String> = Vec::new();
                for k in &page {
                    if let Some(key) = keys::version_key(&prefix, k)
                        && page_keys.last().is_none_or(|l| l != key)
                    {
                        page_keys.push(key.to_string());
                    }
                }
                (page_keys, page.last().cloned(), page.len() == SWEEP_PAGE)
            };
            for key in page_keys {
                let (n, m) = self.expire_versions(bucket, &key, now_ms, remove)?;
                noncurrent += n;
                markers += m;
            }
            if !full {
                return Ok((noncurrent, markers));
            }
            cursor = last;
        }
    }

    /// In one transaction, removes the versions of `key` that the rules expire at `now_ms`:
    /// noncurrent versions past their NoncurrentDays (beyond NewerNoncurrentVersions), and a
    /// delete marker that is the only version left (ExpiredObjectDeleteMarker). A locked
    /// version stays. Returns (noncurrent versions, markers) removed.
    fn expire_versions(
        &self,
        bucket: &str,
        key: &str,
        now_ms: i64,
        remove: &dyn Fn(Vec<String>),
    ) -> Result<(usize, usize), Error> {
        let (bkey, okey) = (keys::bucket(bucket), keys::object(bucket, key));
        let (dropped, counts) = self.store.transact(|tx| {
            let Some(b) = tx.get(&bkey)? else {
                return Ok::<_, Error>((Vec::new(), (0, 0)));
            };
            let b: BucketMeta = decode(&b)?;
            let rules = enabled(&b);
            let current: Option<ObjectMeta> = tx.get(&okey)?.map(|v| decode(&v)).transpose()?;
            let all = versions::noncurrent(tx, bucket, key)?;
            let mut dropped = Vec::new();
            let (mut n, mut m) = (0, 0);
            // The newest `s3/v/` record is the current version when there is no current object.
            let (newest_time, rest) = match &current {
                Some(c) => (c.last_modified_ms, &all[..]),
                None => match all.split_first() {
                    Some((first, rest)) => {
                        let only_marker = rest.is_empty() && first.1.delete_marker;
                        if only_marker && self.marker_expired(&rules, key, &first.1, now_ms) {
                            tx.delete(&first.0);
                            m += 1;
                            return Ok((Vec::new(), (0, m)));
                        }
                        (first.1.last_modified_ms, rest)
                    }
                    None => return Ok((Vec::new(), (0, 0))),
                },
            };
            // Version i became noncurrent when the version just newer than it was made.
            let mut newer_time = newest_time;
            for (i, (k, v)) in rest.iter().enumerate() {
                let became_noncurrent = newer_time;
                newer_time = v.last_modified_ms;
                if n >= SWEEP_PAGE {
                    break;
                }
                let due = rules.iter().any(|r| {
                    let Some(ne) = &r.noncurrent_expiration else {
                        return false;
                    };
                    let Some(days) = ne.days else {
                        return false;
                    };
                    r.filter.matches(key, v.size, &v.tags)
                        && ne.newer_versions.is_none_or(|keep| i >= keep as usize)
                        && self.lifecycle.after_days(became_noncurrent, days) <= now_ms
                });
                if due && !v.locked(now_ms) {
                    tx.delete(k);
                    n += 1;
                    dropped.push(v.clone());
                }
            }
            Ok((dropped, (n, m)))
        })?;
        remove(
            dropped
                .into_iter()
                .flat_map(|m| m.blobs)
                .map(|b| b.id)
                .collect(),
        );
        Ok(counts)
    }

    /// Whether the expired object delete marker `marker` of `key` (the only version left) is
    /// removed now: at once under an ExpiredObjectDeleteMarker rule, and under an expiring
    /// Days rule once the marker is as old as the rule's days ("When you specify the Days
    /// tag, Amazon S3 automatically performs ExpiredObjectDeleteMarker cleanup when the
    /// delete markers are old enough to satisfy the age criteria",
    /// https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-configuration-examples.html#lifecycle-config-conceptual-ex7).
    fn marker_expired(&self, rules: &[Rule], key: &str, marker: &ObjectMeta, now_ms: i64) -> bool {
        rules.iter().any(|r| {
            let Some(e) = &r.expiration else {
                return false;
            };
            if e.expired_object_delete_marker == Some(true) {
                return key.starts_with(r.filter.prefix());
            }
            e.days.is_some_and(|d| {
                r.filter.matches(key, marker.size, &marker.tags)
                    && self.lifecycle.after_days(marker.last_modified_ms, d) <= now_ms
            })
        })
    }

    /// When version `meta` of `key` expires, and by which rule, for `x-amz-expiration` on a
    /// GET or HEAD naming a version: the current version's expiry, or for a noncurrent version
    /// the earliest NoncurrentVersionExpiration that removes it (counted, as the sweep does,
    /// from when the next newer version was made; a version kept by NewerNoncurrentVersions
    /// has none).
    pub async fn version_expiration(
        &self,
        bucket: &BucketMeta,
        key: &str,
        meta: &ObjectMeta,
    ) -> Option<(i64, String)> {
        let rules = bucket.lifecycle.as_deref()?;
        if meta.delete_marker {
            return None;
        }
        let (b, k, seq, rules) = (
            bucket.name.clone(),
            key.to_owned(),
            meta.seq,
            rules.to_vec(),
        );
        self.run(move |s| {
            let snap = s.store.snapshot();
            let current: Option<ObjectMeta> = snap
                .get(&keys::object(&b, &k))
                .ok()
                .flatten()
                .and_then(|v| decode(&v).ok());
            if let Some(c) = &current
                && c.seq == seq
            {
                return s
                    .lifecycle
                    .current_expiry(&rules, &k, c)
                    .map(|(at, id)| (at, id.to_string()));
            }
            let all = versions::noncurrent(&*snap, &b, &k).ok()?;
            // The versions newer than each: the current object, else the newest record.
            let (newest_time, rest) = match &current {
                Some(c) => (c.last_modified_ms, &all[..]),
                None => {
                    let (first, rest) = all.split_first()?;
                    if first.1.seq == seq {
                        return None;
                    }
                    (first.1.last_modified_ms, rest)
                }
            };
            let mut newer_time = newest_time;
            for (i, (_, v)) in rest.iter().enumerate() {
                let became_noncurrent = newer_time;
                newer_time = v.last_modified_ms;
                if v.seq != seq {
                    continue;
                }
                return rules
                    .iter()
                    .filter(|r| r.enabled && r.filter.matches(&k, v.size, &v.tags))
                    .filter_map(|r| {
                        let ne = r.noncurrent_expiration.as_ref()?;
                        let days = ne.days?;
                        if ne.newer_versions.is_some_and(|keep| i < keep as usize) {
                            return None;
                        }
                        Some((
                            s.lifecycle.after_days(became_noncurrent, days),
                            r.id.clone(),
                        ))
                    })
                    .min();
            }
            None
        })
        .await
    }

    /// Aborts the incomplete multipart uploads of `bucket` initiated long enough ago.
    fn sweep_uploads(
        &self,
        bucket: &str,
        now_ms: i64,
        remove: &dyn Fn(Vec<String>),
    ) -> Result<usize, Error> {
        let prefix = keys::uploads_of(bucket);
        let due: Vec<Vec<u8>> = {
            let snap = self.store.snapshot();
            let Some(b) = snap.get(&keys::bucket(bucket))? else {
                return Ok(0);
            };
            let rules = enabled(&decode::<BucketMeta>(&b)?);
            let mut due = Vec::new();
            for e in snap.scan(KeyRange::prefix(&prefix), Direction::Forward) {
                let (k, v) = e?;
                let u: super::multipart::UploadMeta = decode(&v)?;
                let expired = rules.iter().any(|r| {
                    r.abort_after_days.is_some_and(|d| {
                        u.key.starts_with(r.filter.prefix())
                            && self.lifecycle.after_days(u.initiated_ms, d) <= now_ms
                    })
                });
                if expired {
                    due.push(k);
                }
                if due.len() >= SWEEP_PAGE {
                    break;
                }
            }
            due
        };
        let mut done = 0;
        for ukey in due {
            let Some(id) = ukey.strip_prefix(prefix.as_slice()) else {
                continue;
            };
            let id = String::from_utf8_lossy(id).into_owned();
            let ids = self.store.transact(|tx| {
                if tx.get(&ukey)?.is_none() {
                    return Ok::<_, Error>(None);
                }
                tx.delete(&ukey);
                Self::drop_parts(tx, &id).map(Some)
            })?;
            if let Some(ids) = ids {
                done += 1;
                remove(ids);
            }
        }
        Ok(done)
    }

    /// Runs the lifecycle sweep every `every` on the node holding the `s3-lifecycle` lease.
    pub async fn lifecycle_forever(self, every: std::time::Duration) {
        use nuvem_store::cluster::{Lease, node_id};
        const LEASE: &str = "s3-lifecycle";
        let lease_ttl = (every * 2).max(std::time::Duration::from_secs(2));
        loop {
            tokio::time::sleep(every).await;
            let store = self.store.clone();
            let ours = self
                .store
                .run(move || Lease::try_acquire(&store, LEASE, node_id(), lease_ttl))
                .await;
            match ours {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "s3: could not take the lifecycle lease; retrying later");
                    continue;
                }
            }
            let this = self.clone();
            let runtime = tokio::runtime::Handle::current();
            let swept = tokio::task::spawn_blocking(move || {
                nuvem_store::Store::blocking(|| {
                    let remove = |ids: Vec<String>| {
                        for id in ids {
                            runtime.block_on(this.blobs.remove(&id));
                        }
                    };
                    this.lifecycle_sweep(super::now_millis(), &remove)
                })
            })
            .await;
            match swept {
                Ok(Ok(s)) if s != Swept::default() => {
                    tracing::info!(?s, "s3: lifecycle sweep");
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "s3: the lifecycle sweep failed; retrying later")
                }
                Err(e) => tracing::error!(error = %e, "s3: the lifecycle sweep panicked"),
            }
        }
    }
}
