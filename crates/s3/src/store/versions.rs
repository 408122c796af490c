//! Object versions (https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html):
//! a bucket's versioning state, version ids, delete markers, the null version, and the one
//! place where a write makes a new version current ([`install`]).
//!
//! Layout (see [`keys`]): the current version of a key, when it is an object, is its
//! `s3/o/` record, so listings, reads without a version id and the edge read one record as
//! before; every other version and every delete marker is an `s3/v/` record ordered newest
//! first. Invariant: `s3/o/<key>` exists exactly when the key's latest version is an object;
//! otherwise the first `s3/v/` record of the key (if any) is a delete marker. Every change is
//! one store transaction, so a reader never sees a version twice or not at all; a blob stays
//! as long as some version refers to it (garbage collection reads both prefixes).
//!
//! Must not: know the wire protocol (headers, XML).

use base64::Engine as _;
use nuvem_store::{Direction, KeyRange, Read, Tx};
use serde::{Deserialize, Serialize};

use super::{ObjectMeta, decode, encode, keys, now_millis};
use crate::error::Error;

/// The id of the null version
/// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/AddingObjectstoVersionSuspendedBuckets.html).
pub const NULL: &str = "null";

/// A bucket's versioning state once it was first configured (it never returns to unversioned).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Versioning {
    Enabled,
    Suspended,
}

/// A new version id: a random (v4) UUID's 16 bytes as 22 URL-safe characters, so unique
/// without coordination and opaque.
pub fn new_version_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

/// Checks the form of a version id a client sent (`null`, or one of ours).
pub fn check_version_id(id: &str) -> Result<(), Error> {
    let ours = id.len() == 22
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if id == NULL || ours {
        Ok(())
    } else {
        Err(Error::InvalidArgument(
            "Invalid version id specified".into(),
        ))
    }
}

/// The order of a version among the versions of its key. Objects written before versions
/// existed have no `seq`: their modification time stands in.
fn seq_of(m: &ObjectMeta) -> u64 {
    if m.seq != 0 {
        m.seq
    } else {
        u64::try_from(m.last_modified_ms)
            .unwrap_or(0)
            .saturating_mul(1000)
    }
}

/// The versions of `key` other than the current object, newest first, with their store keys.
pub(crate) fn noncurrent(
    r: &dyn Read,
    bucket: &str,
    key: &str,
) -> Result<Vec<(Vec<u8>, ObjectMeta)>, Error> {
    let prefix = keys::versions_of_key(bucket, key);
    let mut out = Vec::new();
    for entry in r.scan(KeyRange::prefix(&prefix), Direction::Forward) {
        let (k, v) = entry?;
        // Longer keys that continue with `\0` share the prefix; ours end with 8 bytes.
        if k.len() == prefix.len() + 8 {
            out.push((k, decode(&v)?));
        }
    }
    Ok(out)
}

/// A delete marker made now.
pub(crate) fn marker() -> ObjectMeta {
    ObjectMeta {
        size: 0,
        etag: String::new(),
        last_modified_ms: now_millis(),
        blobs: Vec::new(),
        parts: None,
        headers: Default::default(),
        checksum: None,
        tags: Default::default(),
        version_id: None,
        seq: 0,
        delete_marker: true,
        encryption: None,
        acl: None,
        lock: None,
    }
}

/// Makes `new` (an object or a delete marker) the latest version of `key` inside `tx`,
/// following the bucket's `versioning`: unversioned, it replaces the current object; enabled,
/// the current version becomes noncurrent; suspended, `new` is the null version and replaces
/// any other null version. `current` is the key's `s3/o/` record as `tx` read it. Returns
/// `new` as written (its version id and order set) and the versions no longer stored, whose
/// blobs the caller removes after the commit.
pub(crate) fn install(
    tx: &mut dyn Tx,
    versioning: Option<Versioning>,
    bucket: &str,
    key: &str,
    current: Option<ObjectMeta>,
    mut new: ObjectMeta,
) -> Result<(ObjectMeta, Vec<ObjectMeta>), Error> {
    let okey = keys::object(bucket, key);
    let mut dropped = Vec::new();
    let now = u64::try_from(now_millis())
        .unwrap_or(0)
        .saturating_mul(1000);
    match versioning {
        None => {
            let last = current.as_ref().map_or(0, seq_of);
            new.seq = now.max(last + 1);
            new.version_id = None;
            dropped.extend(current);
        }
        Some(state) => {
            let others = noncurrent(tx, bucket, key)?;
            let last = current
                .as_ref()
                .map(seq_of)
                .into_iter()
                .chain(others.first().map(|(_, m)| seq_of(m)))
                .max()
                .unwrap_or(0);
            new.seq = now.max(last + 1);
            new.version_id = Some(match state {
                Versioning::Enabled => new_version_id(),
                Versioning::Suspended => NULL.to_string(),
            });
            if let Some(mut cur) = current {
                if state == Versioning::Suspended && cur.is_null_version() {
                    dropped.push(cur);
                } else {
                    cur.seq = seq_of(&cur);
                    cur.version_id = Some(cur.version().to_string());
                    tx.put(&keys::version(bucket, key, cur.seq), &encode(&cur));
                }
            }
            if state == Versioning::Suspended {
                for (k, m) in others {
                    if m.is_null_version() {
                        tx.delete(&k);
                        dropped.push(m);
                    }
                }
            }
        }
    }
    if new.delete_marker {
        tx.delete(&okey);
        tx.put(&keys::version(bucket, key, new.seq), &encode(&new));
    } else {
        tx.put(&okey, &encode(&new));
    }
    Ok((new, dropped))
}

/// Permanently deletes the version `id` of `key` inside `tx`, unless `allowed` refuses it; the newest remaining version
/// becomes current when it is an object. Returns the removed version, `None` when there is no
/// such version (deleting it again is not an error, as in S3).
pub(crate) fn delete_version(
    tx: &mut dyn Tx,
    bucket: &str,
    key: &str,
    id: &str,
    allowed: impl Fn(&ObjectMeta) -> Result<(), Error>,
) -> Result<Option<ObjectMeta>, Error> {
    let okey = keys::object(bucket, key);
    let current: Option<ObjectMeta> = tx.get(&okey)?.map(|v| decode(&v)).transpose()?;
    let removed = match current {
        Some(c) if c.version() == id => {
            allowed(&c)?;
            tx.delete(&okey);
            Some(c)
        }
        current => {
            let found = noncurrent(tx, bucket, key)?
                .into_iter()
                .find(|(_, m)| m.version() == id);
            match found {
                Some((k, m)) => {
                    allowed(&m)?;
                    tx.delete(&k);
                    if current.is_some() {
                        return Ok(Some(m));
                    }
                    Some(m)
                }
                None => None,
            }
        }
    };
    // Keep the invariant: with no current object, the newest version is not an object.
    if removed.is_some()
        && let Some((k, newest)) = noncurrent(tx, bucket, key)?.into_iter().next()
        && !newest.delete_marker
    {
        tx.delete(&k);
        tx.put(&okey, &encode(&newest));
    }
    Ok(removed)
}

/// What a version lookup found.
#[derive(Debug)]
pub(crate) enum Lookup {
    Object(ObjectMeta),
    Marker(ObjectMeta),
    Missing,
}

/// The version `id` of `key`, or its latest version when `id` is `None`, given the key's
/// current object as read from `r`.
pub(crate) fn find(
    r: &dyn Read,
    bucket: &str,
    key: &str,
    id: Option<&str>,
    current: Option<ObjectMeta>,
) -> Result<Lookup, Error> {
    if let Some(c) = current
        && id.is_none_or(|id| c.version() == id)
    {
        return Ok(Lookup::Object(c));
    }
    let others = noncurrent(r, bucket, key)?;
    let found = match id {
        // With no current object, the newest version is a delete marker (or nothing).
        None => others.into_iter().next(),
        Some(id) => others.into_iter().find(|(_, m)| m.version() == id),
    };
    Ok(match found {
        Some((_, m)) if m.delete_marker => Lookup::Marker(m),
        Some((_, m)) => Lookup::Object(m),
        None => Lookup::Missing,
    })
}
