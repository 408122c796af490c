//! Object lock (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html): a
//! bucket's lock configuration and default retention ([`BucketLock`], in
//! [`BucketMeta::object_lock`]), and each version's retention and legal hold ([`ObjectLock`], in
//! [`ObjectMeta::lock`]).
//!
//! Invariants: a bucket with a lock configuration has versioning Enabled and keeps it (suspending
//! is refused); a version under a legal hold, or retained until a time not yet come, is never
//! removed for good: not by DeleteObject with its version id (unless GOVERNANCE and the caller
//! bypasses it), not by lifecycle. Deleting without a version id only adds a delete marker, which
//! is allowed. A COMPLIANCE retention is never shortened nor weakened.
//!
//! Must not: know the wire protocol.

use serde::{Deserialize, Serialize};

use super::{BucketMeta, ObjectMeta, ObjectStore, decode, encode, keys, now_millis, versions};
use crate::error::Error;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Mode {
    Governance,
    Compliance,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GOVERNANCE" => Some(Self::Governance),
            "COMPLIANCE" => Some(Self::Compliance),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Governance => "GOVERNANCE",
            Self::Compliance => "COMPLIANCE",
        }
    }
}

/// A bucket's object lock configuration (present: lock enabled).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BucketLock {
    #[serde(default)]
    pub default: Option<DefaultRetention>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DefaultRetention {
    pub mode: Mode,
    /// Exactly one of `days` and `years`.
    pub days: Option<u32>,
    pub years: Option<u32>,
}

impl DefaultRetention {
    /// The retention a new version written at `now_ms` gets.
    pub fn retention_from(&self, now_ms: i64) -> Retention {
        let days = i64::from(self.days.unwrap_or(0)) + 365 * i64::from(self.years.unwrap_or(0));
        Retention {
            mode: self.mode,
            until_ms: now_ms.saturating_add(days.saturating_mul(86_400_000)),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Retention {
    pub mode: Mode,
    pub until_ms: i64,
}

/// A version's lock.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectLock {
    #[serde(default)]
    pub retention: Option<Retention>,
    #[serde(default)]
    pub legal_hold: Option<bool>,
}

impl ObjectMeta {
    /// Whether this version may not be removed at `now_ms` (a legal hold, or a retention).
    pub fn locked(&self, now_ms: i64) -> bool {
        self.lock.as_ref().is_some_and(|l| {
            l.legal_hold == Some(true) || l.retention.is_some_and(|r| r.until_ms > now_ms)
        })
    }

    /// Why removing this version at `now_ms` is refused, if it is: a legal hold, COMPLIANCE,
    /// or GOVERNANCE without `bypass`.
    pub fn removal_refused(&self, now_ms: i64, bypass: bool) -> Option<Error> {
        let l = self.lock.as_ref()?;
        let retained = l.retention.filter(|r| r.until_ms > now_ms);
        let refused = l.legal_hold == Some(true)
            || retained.is_some_and(|r| r.mode == Mode::Compliance || !bypass);
        refused.then(|| {
            Error::AccessDeniedWith("Access Denied because object protected by object lock.".into())
        })
    }
}

/// The lock a new version gets: the request's, else the bucket's default retention.
pub(crate) fn for_new_version(
    bucket: &BucketMeta,
    requested: Option<ObjectLock>,
    now_ms: i64,
) -> Result<Option<ObjectLock>, Error> {
    let Some(config) = &bucket.object_lock else {
        return match requested {
            Some(_) => Err(Error::InvalidRequest(
                "Bucket is missing Object Lock Configuration".into(),
            )),
            None => Ok(None),
        };
    };
    let mut lock = requested.unwrap_or_default();
    if lock.retention.is_none() {
        lock.retention = config.default.as_ref().map(|d| d.retention_from(now_ms));
    }
    Ok((lock != ObjectLock::default()).then_some(lock))
}

/// What a retention or legal hold request changes.
pub enum Change {
    /// PutObjectRetention: `None` removes the retention.
    Retention {
        retention: Option<Retention>,
        bypass: bool,
    },
    LegalHold(bool),
}

impl ObjectStore {
    /// Changes the retention or legal hold of version `version` (or the current one) of `key`.
    /// Returns the version id changed.
    pub async fn set_object_lock(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        change: Change,
    ) -> Result<Option<String>, Error> {
        if let Some(v) = version {
            versions::check_version_id(v)?;
        }
        let (b, k, v) = (
            bucket.to_owned(),
            key.to_owned(),
            version.map(str::to_owned),
        );
        self.run(move |s| {
            s.store.transact(|tx| {
                let bucket: BucketMeta = match tx.get(&keys::bucket(&b))? {
                    Some(x) => decode(&x)?,
                    None => return Err(Error::NoSuchBucket(b.clone())),
                };
                if bucket.object_lock.is_none() {
                    return Err(Error::InvalidRequest(
                        "Bucket is missing Object Lock Configuration".into(),
                    ));
                }
                let (store_key, mut meta) = find_version(tx, &b, &k, v.as_deref())?;
                let now = now_millis();
                let mut lock = meta.lock.clone().unwrap_or_default();
                match &change {
                    Change::LegalHold(on) => lock.legal_hold = Some(*on),
                    Change::Retention { retention, bypass } => {
                        if let Some(old) = lock.retention.filter(|r| r.until_ms > now) {
                            let weaker = match retention {
                                None => true,
                                Some(new) => new.until_ms < old.until_ms || new.mode != old.mode,
                            };
                            let allowed = !weaker || (old.mode == Mode::Governance && *bypass);
                            if !allowed {
                                return Err(Error::AccessDeniedWith(
                                    "Access Denied because object protected by object lock.".into(),
                                ));
                            }
                        }
                        lock.retention = *retention;
                    }
                }
                meta.lock = (lock != ObjectLock::default()).then_some(lock);
                tx.put(&store_key, &encode(&meta));
                Ok(meta.version_id.clone())
            })
        })
        .await
    }
}

/// The store key and record of version `id` (or the current version) of `key`; a delete marker
/// is `MethodNotAllowed`, as S3 answers for it.
pub(crate) fn find_version(
    tx: &mut dyn nuvem_store::Tx,
    bucket: &str,
    key: &str,
    id: Option<&str>,
) -> Result<(Vec<u8>, ObjectMeta), Error> {
    let okey = keys::object(bucket, key);
    let current: Option<ObjectMeta> = tx.get(&okey)?.map(|x| decode(&x)).transpose()?;
    let found = match (current, id) {
        (Some(c), None) => Some((okey, c)),
        (Some(c), Some(id)) if c.version() == id => Some((okey, c)),
        (_, Some(id)) => versions::noncurrent(tx, bucket, key)?
            .into_iter()
            .find(|(_, m)| m.version() == id),
        (None, None) => {
            return match versions::noncurrent(tx, bucket, key)?.into_iter().next() {
                Some((_, m)) => Err(Error::DeleteMarker {
                    key: key.to_string(),
                    version_id: m.version().to_string(),
                }),
                None => Err(Error::NoSuchKey(key.to_string())),
            };
        }
    };
    let Some((store_key, meta)) = found else {
        return Err(match id {
            Some(id) => Error::NoSuchVersion(id.to_string()),
            None => Error::NoSuchKey(key.to_string()),
        });
    };
    if meta.delete_marker {
        return Err(Error::MethodNotAllowed {
            version_id: meta.version().to_string(),
            last_modified_ms: meta.last_modified_ms,
        });
    }
    Ok((store_key, meta))
}
