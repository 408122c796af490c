//! Objects: put (streamed into a blob, verified, then committed), read (by range, over the
//! object's blobs), delete, copy, tags, and the HTTP conditionals of GET/HEAD/PUT
//! (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, RFC 9110 §13).

use std::collections::BTreeMap;

use bytes::Bytes;
use futures_util::Stream;

use super::blobs::{self, BlobError, BlobStream};
use super::checksum::{Algorithm, Digests, Hasher};
use super::{BlobRef, Headers, ObjectMeta, ObjectStore, decode, encode, keys, now_millis};
use crate::error::Error;
use crate::events::ObjectEvent;

/// Preconditions a request carries. ETags are compared without quotes; `*` matches any.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    /// Seconds since the epoch.
    pub if_modified_since: Option<i64>,
    pub if_unmodified_since: Option<i64>,
}

impl Conditions {
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none()
            && self.if_none_match.is_none()
            && self.if_modified_since.is_none()
            && self.if_unmodified_since.is_none()
    }

    /// Evaluates the conditions of a GET/HEAD against the current object, in S3's order:
    /// If-Match wins over If-Unmodified-Since, If-None-Match over If-Modified-Since.
    pub fn check_read(&self, meta: &ObjectMeta) -> Result<(), Error> {
        let secs = meta.last_modified_ms.div_euclid(1000);
        if let Some(m) = &self.if_match {
            if !etag_matches(m, &meta.etag) {
                return Err(Error::PreconditionFailed);
            }
        } else if let Some(t) = self.if_unmodified_since
            && secs > t
        {
            return Err(Error::PreconditionFailed);
        }
        if let Some(m) = &self.if_none_match {
            if etag_matches(m, &meta.etag) {
                return Err(Error::NotModified);
            }
        } else if let Some(t) = self.if_modified_since
            && secs <= t
        {
            return Err(Error::NotModified);
        }
        Ok(())
    }

    /// Evaluates the conditions of a write against the object it would replace
    /// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
    fn check_write(&self, current: Option<&ObjectMeta>) -> Result<(), Error> {
        if let Some(m) = &self.if_none_match
            && current.is_some_and(|c| etag_matches(m, &c.etag))
        {
            return Err(Error::PreconditionFailed);
        }
        if let Some(m) = &self.if_match {
            match current {
                Some(c) if etag_matches(m, &c.etag) => {}
                Some(_) => return Err(Error::PreconditionFailed),
                None => return Err(Error::NoSuchKey(String::new())),
            }
        }
        Ok(())
    }
}

fn etag_matches(condition: &str, etag: &str) -> bool {
    condition.split(',').any(|c| {
        let c = c.trim();
        let c = c.strip_prefix("W/").unwrap_or(c);
        c == "*" || c.trim_matches('"') == etag
    })
}

/// Everything about a new object except its data.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub headers: Headers,
    pub tags: BTreeMap<String, String>,
    /// The `x-amz-checksum-*` algorithm to compute and store.
    pub checksum: Option<Algorithm>,
    /// Also compute SHA-256 of the data (to check a hex `x-amz-content-sha256`).
    pub want_sha256: bool,
    pub conditions: Conditions,
}

impl ObjectStore {
    /// The object's metadata; `NoSuchBucket` when the bucket is missing.
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectMeta, Error> {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        self.run(move |s| s.head_object_sync(&b, &k)).await
    }

    /// [`ObjectStore::head_object`] for work already inside [`nuvem_store::Store::run`].
    pub fn head_object_sync(&self, bucket: &str, key: &str) -> Result<ObjectMeta, Error> {
        match self.store.get(&keys::object(bucket, key))? {
            Some(v) => decode(&v),
            None => {
                self.bucket_sync(bucket)?;
                Err(Error::NoSuchKey(key.to_string()))
            }
        }
    }

    /// Streams `body` into a blob, lets `verify` refuse it by its digests (checksums known only
    /// after the body, e.g. trailers), then makes it the object in one transaction.
    pub async fn put_object<S, E>(
        &self,
        bucket: &str,
        key: &str,
        body: S,
        opts: PutOptions,
        verify: impl FnOnce(&Digests) -> Result<(), Error>,
    ) -> Result<ObjectMeta, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<Error>,
    {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let conditions = (!opts.conditions.is_empty()).then(|| opts.conditions.clone());
        self.run(move |s| {
            s.bucket_sync(&b)?;
            if let Some(c) = conditions {
                // Fail fast before reading the body; checked again at commit.
                let current = s.head_object_sync(&b, &k).ok();
                c.check_write(current.as_ref())?;
            }
            Ok::<_, Error>(())
        })
        .await?;
        let written = blobs::write(
            &*self.blobs,
            body,
            Hasher::new(opts.checksum, opts.want_sha256),
        )
        .await?;
        if let Err(e) = verify(&written.digests) {
            self.blobs.remove(&written.id).await;
            return Err(e);
        }
        let meta = ObjectMeta {
            size: written.len,
            etag: hex::encode(written.digests.md5),
            last_modified_ms: now_millis(),
            blobs: vec![BlobRef {
                id: written.id.clone(),
                len: written.len,
            }],
            parts: None,
            headers: opts.headers,
            checksum: written.digests.checksum.clone(),
            tags: opts.tags,
        };
        self.commit_object(bucket, key, meta, opts.conditions, vec![written.id])
            .await
    }

    /// Makes `meta` the object at `key`, replacing any old one, adopting its new blobs
    /// (`fresh`) in the same transaction, and removes the old data. On failure the new blobs
    /// are removed.
    pub(crate) async fn commit_object(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
        conditions: Conditions,
        fresh: Vec<String>,
    ) -> Result<ObjectMeta, Error> {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let ids = fresh.clone();
        let (result, meta) = self
            .run(move |s| {
                let bkey = keys::bucket(&b);
                let okey = keys::object(&b, &k);
                let value = encode(&meta);
                let result = s.store.transact(|tx| {
                    if tx.get(&bkey)?.is_none() {
                        return Err(Error::NoSuchBucket(b.clone()));
                    }
                    let old: Option<ObjectMeta> = tx.get(&okey)?.map(|v| decode(&v)).transpose()?;
                    conditions.check_write(old.as_ref()).map_err(|e| match e {
                        Error::NoSuchKey(_) => Error::NoSuchKey(k.clone()),
                        e => e,
                    })?;
                    for id in &ids {
                        s.blobs.adopt(tx, id)?;
                    }
                    tx.put(&okey, &value);
                    Ok(old)
                });
                (result, meta)
            })
            .await;
        match result {
            Ok(old) => {
                for b in old.into_iter().flat_map(|o| o.blobs) {
                    self.blobs.remove(&b.id).await;
                }
                self.notify(ObjectEvent::Created {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                    size: meta.size,
                    etag: meta.etag.clone(),
                });
                Ok(meta)
            }
            Err(e) => {
                for id in &fresh {
                    self.blobs.remove(id).await;
                }
                Err(e)
            }
        }
    }

    /// Opens `start..end` of the object `bucket`/`key` (described by `meta`) for streaming.
    /// The blobs are opened now, so a later overwrite or delete does not affect this read,
    /// and each is checked against the length it was written with: damaged data is an error
    /// here (logged at ERROR with the object's name), before a response promised any bytes.
    pub async fn read_object(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
        start: u64,
        end: u64,
    ) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static, Error>
    {
        match self.open_segments(meta, start, end).await {
            Ok(segments) => Ok(blobs::chain(segments)),
            Err((blob, BlobError::NotFound(_))) => {
                // Blobs are removed after the commit that drops them: a concurrent overwrite
                // or delete explains a missing blob only if the object no longer uses it.
                let still_used = self
                    .head_object(bucket, key)
                    .await
                    .is_ok_and(|now| now.blobs.iter().any(|b| b.id == blob));
                if !still_used {
                    tracing::warn!(bucket, key, "object changed while it was being opened");
                    return Err(Error::Io(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "object changed while it was being opened",
                    )));
                }
                Err(damaged(bucket, key, blob, "the blob is missing".into()))
            }
            Err((blob, BlobError::Damaged { problem, .. })) => {
                Err(damaged(bucket, key, blob, problem))
            }
            Err((_, e)) => Err(e.into()),
        }
    }

    /// Opens the segments of `start..end`; an error comes with the id of the blob it concerns.
    async fn open_segments(
        &self,
        meta: &ObjectMeta,
        start: u64,
        end: u64,
    ) -> Result<Vec<BlobStream>, (String, BlobError)> {
        let mut segments = Vec::new();
        let mut offset = 0u64;
        for b in &meta.blobs {
            let (b_start, b_end) = (offset, offset + b.len);
            offset = b_end;
            if b_end <= start || b_start >= end {
                continue;
            }
            let from = start.max(b_start) - b_start;
            let to = end.min(b_end) - b_start;
            let segment = self
                .blobs
                .open(&b.id, b.len, from, to - from)
                .await
                .map_err(|e| (b.id.clone(), e))?;
            segments.push(segment);
        }
        Ok(segments)
    }

    /// The byte range of part `n` (1-based) of an object: multipart objects by their parts,
    /// others have only part 1, the whole object.
    pub fn part_range(meta: &ObjectMeta, n: u32) -> Result<(u64, u64), Error> {
        let bad = || Error::InvalidRange;
        if meta.parts.is_none() {
            return if n == 1 {
                Ok((0, meta.size))
            } else {
                Err(bad())
            };
        }
        let idx = usize::try_from(n.checked_sub(1).ok_or_else(bad)?).map_err(|_| bad())?;
        let start: u64 = meta.blobs.iter().take(idx).map(|b| b.len).sum();
        let len = meta.blobs.get(idx).ok_or_else(bad)?.len;
        Ok((start, start + len))
    }

    /// Deletes an object; deleting a missing key succeeds, as in S3.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), Error> {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let old = self
            .run(move |s| {
                let bkey = keys::bucket(&b);
                let okey = keys::object(&b, &k);
                s.store.transact(|tx| {
                    if tx.get(&bkey)?.is_none() {
                        return Err(Error::NoSuchBucket(b.clone()));
                    }
                    let old: Option<ObjectMeta> = tx.get(&okey)?.map(|v| decode(&v)).transpose()?;
                    if old.is_some() {
                        tx.delete(&okey);
                    }
                    Ok(old)
                })
            })
            .await?;
        if let Some(old) = old {
            for b in old.blobs {
                self.blobs.remove(&b.id).await;
            }
            self.notify(ObjectEvent::Removed {
                bucket: bucket.to_string(),
                key: key.to_string(),
            });
        }
        Ok(())
    }

    /// Copies an object's data into a new blob (blobs are never shared, so deleting one object
    /// never touches another) with either the source's headers or `replace`.
    pub async fn copy_object(
        &self,
        src: (&str, &str),
        dst: (&str, &str),
        source_conditions: &Conditions,
        replace: Option<(Headers, BTreeMap<String, String>)>,
        checksum: Option<Algorithm>,
    ) -> Result<ObjectMeta, Error> {
        let source = self.head_object(src.0, src.1).await?;
        source_conditions.check_read(&source).map_err(|e| match e {
            Error::NotModified => Error::PreconditionFailed,
            e => e,
        })?;
        self.bucket(dst.0).await?;
        let data = Box::pin(
            self.read_object(src.0, src.1, &source, 0, source.size)
                .await?,
        );
        let algorithm = checksum.or(source.checksum.as_ref().map(|c| c.algorithm));
        let written = blobs::write(&*self.blobs, data, Hasher::new(algorithm, false)).await?;
        let (headers, tags) = replace.unwrap_or((source.headers.clone(), source.tags.clone()));
        let meta = ObjectMeta {
            size: written.len,
            etag: hex::encode(written.digests.md5),
            last_modified_ms: now_millis(),
            blobs: vec![BlobRef {
                id: written.id.clone(),
                len: written.len,
            }],
            parts: None,
            headers,
            checksum: written.digests.checksum.clone(),
            tags,
        };
        self.commit_object(dst.0, dst.1, meta, Conditions::default(), vec![written.id])
            .await
    }

    /// Replaces an object's tag set.
    pub async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let okey = keys::object(bucket, key);
        let key = key.to_owned();
        self.run(move |s| {
            s.store.transact(|tx| {
                let mut meta: ObjectMeta = match tx.get(&okey)? {
                    Some(v) => decode(&v)?,
                    None => return Err(Error::NoSuchKey(key.clone())),
                };
                meta.tags = tags.clone();
                tx.put(&okey, &encode(&meta));
                Ok(())
            })
        })
        .await
    }

    pub(crate) fn notify(&self, event: ObjectEvent) {
        if let Some(events) = &self.events {
            events.notify(&event);
        }
    }
}

/// The error for an object whose data is not what was written, logged loudly: the operator
/// must restore or overwrite it; the client gets InternalError before any header.
fn damaged(bucket: &str, key: &str, blob: String, problem: String) -> Error {
    tracing::error!(
        bucket,
        key,
        blob = %blob,
        problem = %problem,
        "OBJECT DATA DAMAGED: refusing to serve it (InternalError); restore the object from a \
         backup or overwrite it"
    );
    Error::BlobDamaged { blob, problem }
}
