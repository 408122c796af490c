//! The key layout of the object store inside the shared `Store` (prefix `s3/`).
//!
//! `s3/b/<bucket>` bucket · `s3/o/<bucket>\0<key>` object (the current version, when it is
//! not a delete marker) · `s3/v/<bucket>\0<key>\0<!seq: u64 BE>` every other version and
//! delete marker, newest first · `s3/u/<bucket>\0<upload>` multipart upload ·
//! `s3/p/<upload>\0<part: u32 BE>` part · `s3/c/<bucket>\0<upload>` a completed upload's
//! result, kept a day for retried completions · `s3/k/master` the master key's id. Bucket names never contain `\0`,
//! so the objects of a bucket are one contiguous range in UTF-8 binary key order, which is
//! S3's listing order; keys are never mapped to paths.

pub const BUCKETS: &[u8] = b"s3/b/";
pub const OBJECTS: &[u8] = b"s3/o/";
pub const VERSIONS: &[u8] = b"s3/v/";
/// The id (a hash prefix, never the key) of the master key SSE-S3 data keys are wrapped under.
pub const MASTER_KEY: &[u8] = b"s3/k/master";
pub const UPLOADS: &[u8] = b"s3/u/";
pub const PARTS: &[u8] = b"s3/p/";
pub const COMPLETED: &[u8] = b"s3/c/";

fn join(prefix: &[u8], a: &str, sep: bool, b: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + a.len() + 1 + b.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(a.as_bytes());
    if sep {
        k.push(0);
    }
    k.extend_from_slice(b);
    k
}

pub fn bucket(name: &str) -> Vec<u8> {
    join(BUCKETS, name, false, b"")
}

/// The prefix of every object key of `bucket`.
pub fn objects_of(bucket: &str) -> Vec<u8> {
    join(OBJECTS, bucket, true, b"")
}

pub fn object(bucket: &str, key: &str) -> Vec<u8> {
    join(OBJECTS, bucket, true, key.as_bytes())
}

/// The object key back from a store key under [`objects_of`]`(bucket)`.
pub fn object_key<'a>(bucket_prefix: &[u8], store_key: &'a [u8]) -> Option<&'a str> {
    std::str::from_utf8(store_key.strip_prefix(bucket_prefix)?).ok()
}

pub fn uploads_of(bucket: &str) -> Vec<u8> {
    join(UPLOADS, bucket, true, b"")
}

pub fn upload(bucket: &str, upload_id: &str) -> Vec<u8> {
    join(UPLOADS, bucket, true, upload_id.as_bytes())
}

/// The prefix of the completed-upload records of `bucket` (upload ids sort by creation time).
pub fn completed_of(bucket: &str) -> Vec<u8> {
    join(COMPLETED, bucket, true, b"")
}

pub fn completed(bucket: &str, upload_id: &str) -> Vec<u8> {
    join(COMPLETED, bucket, true, upload_id.as_bytes())
}

pub fn parts_of(upload_id: &str) -> Vec<u8> {
    join(PARTS, upload_id, true, b"")
}

pub fn part(upload_id: &str, number: u32) -> Vec<u8> {
    join(PARTS, upload_id, true, &number.to_be_bytes())
}

/// The prefix of every version key of `bucket`.
pub fn versions_of(bucket: &str) -> Vec<u8> {
    join(VERSIONS, bucket, true, b"")
}

/// The prefix of the versions of one key (also matches longer keys that continue with `\0`:
/// check the length, see [`version_key`]).
pub fn versions_of_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = join(VERSIONS, bucket, true, key.as_bytes());
    k.push(0);
    k
}

/// A noncurrent version (or delete marker) of `key`; newer versions sort first.
pub fn version(bucket: &str, key: &str, seq: u64) -> Vec<u8> {
    let mut k = versions_of_key(bucket, key);
    k.extend_from_slice(&(u64::MAX - seq).to_be_bytes());
    k
}

/// The object key of a store key under [`versions_of`]`(bucket)`.
pub fn version_key<'a>(bucket_prefix: &[u8], store_key: &'a [u8]) -> Option<&'a str> {
    let rest = store_key.strip_prefix(bucket_prefix)?;
    let key = rest.get(..rest.len().checked_sub(9)?)?;
    (rest.get(key.len()) == Some(&0))
        .then(|| std::str::from_utf8(key).ok())
        .flatten()
}
