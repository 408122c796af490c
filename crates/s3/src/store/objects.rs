//! Objects: put (streamed into a blob, verified, then committed), read (by range, over the
//! object's blobs), delete, copy, tags, and the HTTP conditionals of GET/HEAD/PUT
//! (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, RFC 9110 §13).

use std::collections::BTreeMap;

use bytes::Bytes;
use futures_util::Stream;

use super::blobs::{self, BlobError, BlobStream};
use super::checksum::{Algorithm, Digests, Hasher};
use super::lock::{self, ObjectLock};
use super::sealing::{self, BlobKey, CustomerKey, Encryption, RootKey, SealRequest};
use super::versions::{self, Lookup};
use super::{
    BlobRef, BucketMeta, Headers, ObjectMeta, ObjectStore, decode, encode, keys, now_millis,
};
use crate::error::Error;
use crate::events::ObjectEvent;
use crate::kms::KmsCaller;
use base64::Engine as _;

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
                return Err(not_modified(meta));
            }
        } else if let Some(t) = self.if_modified_since
            && secs <= t
        {
            return Err(not_modified(meta));
        }
        Ok(())
    }

    /// Evaluates the conditions of a write against the object it would replace
    /// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
    pub(crate) fn check_write(&self, current: Option<&ObjectMeta>) -> Result<(), Error> {
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

fn not_modified(meta: &ObjectMeta) -> Error {
    Error::NotModified {
        etag: meta.etag.clone(),
        last_modified_ms: meta.last_modified_ms,
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
    /// Encryption asked for by the request; `None`: the bucket's default, if any.
    pub encryption: Option<SealRequest>,
    /// The ACL the request sets (already checked against the bucket); `None`: private.
    pub acl: Option<crate::acl::Acl>,
    /// Retention and legal hold asked for by the request (`x-amz-object-lock-*`); the bucket's
    /// default retention applies when it names none.
    pub lock: Option<ObjectLock>,
    /// Who SSE-KMS calls are made for (the protocol layer sets the requester; the default,
    /// nuvem itself, is for the manifest and other services' hooks).
    pub caller: KmsCaller,
}

/// What a DeleteObject did, for its response headers.
#[derive(Debug, Clone, Default)]
pub struct Deleted {
    /// The version removed, or of the delete marker made (`None` in unversioned buckets).
    pub version_id: Option<String>,
    /// Whether that version is a delete marker.
    pub delete_marker: bool,
}

impl ObjectStore {
    /// The object's (current version's) metadata; `NoSuchBucket` when the bucket is missing.
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectMeta, Error> {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        self.run(move |s| s.head_object_sync(&b, &k)).await
    }

    /// [`ObjectStore::head_object`] for work already inside [`nuvem_store::Store::run`].
    pub fn head_object_sync(&self, bucket: &str, key: &str) -> Result<ObjectMeta, Error> {
        match self.store.get(&keys::object(bucket, key))? {
            Some(v) => decode(&v),
            None => self.head_version_sync(bucket, key, None).map(|(m, _)| m),
        }
    }

    /// The metadata of version `version` of an object, or of its current version. A delete
    /// marker is `DeleteMarker` (current) or `MethodNotAllowed` (asked for by id), as in S3.
    pub async fn head_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<ObjectMeta, Error> {
        if let Some(v) = version {
            versions::check_version_id(v)?;
        }
        let (b, k, v) = (
            bucket.to_owned(),
            key.to_owned(),
            version.map(str::to_owned),
        );
        self.run(move |s| s.head_version_sync(&b, &k, v.as_deref()).map(|(m, _)| m))
            .await
    }

    /// [`ObjectStore::head_version`] with the bucket's record, read in the same snapshot.
    pub async fn head_version_in(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<(ObjectMeta, BucketMeta), Error> {
        if let Some(v) = version {
            versions::check_version_id(v)?;
        }
        let (b, k, v) = (
            bucket.to_owned(),
            key.to_owned(),
            version.map(str::to_owned),
        );
        self.run(move |s| s.head_version_sync(&b, &k, v.as_deref()))
            .await
    }

    fn head_version_sync(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<(ObjectMeta, BucketMeta), Error> {
        let snap = self.store.snapshot();
        // The object and its bucket in one read (one round trip on a remote engine).
        let (okey, bkey) = (keys::object(bucket, key), keys::bucket(bucket));
        let mut got = snap.get_many(&[&okey, &bkey])?.into_iter();
        let current: Option<ObjectMeta> = got.next().flatten().map(|v| decode(&v)).transpose()?;
        let bucket_meta: Option<BucketMeta> =
            got.next().flatten().map(|v| decode(&v)).transpose()?;
        let Some(bucket_meta) = bucket_meta else {
            return Err(Error::NoSuchBucket(bucket.to_string()));
        };
        match versions::find(&*snap, bucket, key, version, current)? {
            // An object from before versioning was configured is the null version, and
            // says so once the bucket has versioning.
            Lookup::Object(mut m) => {
                if m.version_id.is_none() && bucket_meta.versioning.is_some() {
                    m.version_id = Some(versions::NULL.to_string());
                }
                Ok((m, bucket_meta))
            }
            Lookup::Marker(m) if version.is_some() => Err(Error::MethodNotAllowed {
                version_id: m.version().to_string(),
                last_modified_ms: m.last_modified_ms,
            }),
            Lookup::Marker(m) => Err(Error::DeleteMarker {
                key: key.to_string(),
                version_id: m.version().to_string(),
            }),
            Lookup::Missing => match version {
                Some(v) => Err(Error::NoSuchVersion(v.to_string())),
                None => Err(Error::NoSuchKey(key.to_string())),
            },
        }
    }

    /// The encryption of a new object `key` and its root key: the request's, else the
    /// bucket's default, else none. SSE-KMS asks the key service for a data key on `caller`'s
    /// behalf, for the encryption context `aws:s3:arn` = the object's ARN plus the request's
    /// pairs (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#encryption-context).
    pub(crate) async fn seal_for(
        &self,
        bucket: &BucketMeta,
        key: &str,
        request: Option<&SealRequest>,
        caller: &KmsCaller,
    ) -> Result<Option<(Encryption, RootKey)>, Error> {
        let default;
        let request = match request {
            Some(r) => r,
            None => match &bucket.encryption {
                Some(d) if d.algorithm == "aws:kms" => {
                    default = SealRequest::Kms {
                        key_id: d.kms_master_key_id.clone(),
                        context: Default::default(),
                    };
                    &default
                }
                Some(_) => &SealRequest::S3,
                None => return Ok(None),
            },
        };
        let SealRequest::Kms { key_id, context } = request else {
            return sealing::new_encryption(request, self.master.as_deref()).map(Some);
        };
        if *caller == KmsCaller::Anonymous {
            return Err(kms_needs_sigv4());
        }
        let mut context = context.clone();
        context.insert(
            "aws:s3:arn".into(),
            format!("arn:aws:s3:::{}/{key}", bucket.name),
        );
        let kms = self.key_service()?;
        let key_id = key_id.clone().unwrap_or_else(|| "alias/aws/s3".into());
        let data_key = kms
            .generate_data_key(key_id, context.clone(), caller.clone())
            .await
            .map_err(Error::Kms)?;
        let root = RootKey::from_data_key(&data_key.plaintext)?;
        Ok(Some((
            Encryption::Kms {
                key_arn: data_key.key_arn,
                blob: base64::engine::general_purpose::STANDARD.encode(&data_key.ciphertext),
                context,
            },
            root,
        )))
    }

    /// The root key to read data encrypted as `encryption` with (checking an SSE-C key;
    /// asking the key service, on `caller`'s behalf, for an SSE-KMS data key); `None` for
    /// plaintext. A customer key sent for an object that is not SSE-C is refused, as S3
    /// refuses it.
    pub async fn unlock(
        &self,
        encryption: Option<&Encryption>,
        customer: Option<&CustomerKey>,
        caller: &KmsCaller,
    ) -> Result<Option<RootKey>, Error> {
        match encryption {
            None | Some(Encryption::S3 { .. } | Encryption::Kms { .. }) if customer.is_some() => {
                Err(Error::InvalidRequest(
                    "The encryption parameters are not applicable to this object.".into(),
                ))
            }
            None => Ok(None),
            Some(Encryption::Kms { blob, context, .. }) => {
                if *caller == KmsCaller::Anonymous {
                    return Err(kms_needs_sigv4());
                }
                let blob = base64::engine::general_purpose::STANDARD
                    .decode(blob)
                    .map_err(|_| Error::Corrupt("an SSE-KMS data key blob".into()))?;
                let kms = self.key_service()?;
                let data_key = kms
                    .decrypt(blob, context.clone(), caller.clone())
                    .await
                    .map_err(Error::Kms)?;
                RootKey::from_data_key(&data_key.plaintext).map(Some)
            }
            Some(e) => sealing::root_key(e, self.master.as_deref(), customer).map(Some),
        }
    }

    /// [`ObjectStore::unlock`] for an object.
    pub async fn root_for(
        &self,
        meta: &ObjectMeta,
        customer: Option<&CustomerKey>,
        caller: &KmsCaller,
    ) -> Result<Option<RootKey>, Error> {
        self.unlock(meta.encryption.as_ref(), customer, caller)
            .await
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
        self.put_object_in(bucket, key, body, opts, verify)
            .await
            .map(|(m, _)| m)
    }

    /// [`ObjectStore::put_object`], also returning the bucket's record as read before the body
    /// (for the response's `x-amz-expiration`).
    pub async fn put_object_in<S, E>(
        &self,
        bucket: &str,
        key: &str,
        body: S,
        opts: PutOptions,
        verify: impl FnOnce(&Digests) -> Result<(), Error>,
    ) -> Result<(ObjectMeta, BucketMeta), Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<Error>,
    {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let conditions = (!opts.conditions.is_empty()).then(|| opts.conditions.clone());
        let wants_lock = opts.lock.clone();
        let bucket_meta = self
            .run(move |s| {
                let meta = s.bucket_sync(&b)?;
                // Refused before the body is read when the bucket has no object lock.
                lock::for_new_version(&meta, wants_lock, 0)?;
                if let Some(c) = conditions {
                    // Fail fast before reading the body; checked again at commit.
                    let current = s.head_object_sync(&b, &k).ok();
                    c.check_write(current.as_ref())?;
                }
                Ok::<_, Error>(meta)
            })
            .await?;
        let sealing = self
            .seal_for(&bucket_meta, key, opts.encryption.as_ref(), &opts.caller)
            .await?;
        let written = self
            .write_blob(
                body,
                Hasher::new(opts.checksum, opts.want_sha256),
                sealing.as_ref().map(|s| &s.1),
            )
            .await?;
        if let Err(e) = verify(&written.0.digests) {
            self.blobs.remove(&written.0.id).await;
            return Err(e);
        }
        let (written, salt) = written;
        let meta = ObjectMeta {
            size: written.len,
            etag: etag_of(&written.digests.md5, sealing.as_ref()),
            last_modified_ms: now_millis(),
            blobs: vec![BlobRef {
                id: written.id.clone(),
                len: written.len,
                sealed: salt,
            }],
            parts: None,
            headers: opts.headers,
            checksum: written.digests.checksum.clone(),
            tags: opts.tags,
            version_id: None,
            seq: 0,
            delete_marker: false,
            encryption: sealing.map(|s| s.0),
            acl: opts.acl,
            lock: opts.lock,
        };
        let meta = self
            .commit_object(bucket, key, meta, opts.conditions, vec![written.id])
            .await?;
        Ok((meta, bucket_meta))
    }

    /// Streams `body` into a new blob, sealed under a fresh blob key of `root` when given;
    /// returns the blob and its salt.
    pub(crate) async fn write_blob<S, E>(
        &self,
        body: S,
        hasher: Hasher,
        root: Option<&RootKey>,
    ) -> Result<(blobs::Written, Option<String>), Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<Error>,
    {
        let (sealer, salt) = match root {
            Some(r) => {
                let (sealer, salt) = r.new_blob()?;
                (Some(sealer), Some(salt))
            }
            None => (None, None),
        };
        let written = blobs::write(&*self.blobs, body, hasher, sealer).await?;
        Ok((written, salt))
    }

    /// Makes `meta` the latest version at `key` (see [`versions::install`]: unversioned, it
    /// replaces the old object), adopting its new blobs (`fresh`) in the same transaction,
    /// and removes the data no version refers to any more. On failure the new blobs are
    /// removed.
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
        let result = self
            .run(move |s| {
                let bkey = keys::bucket(&b);
                let okey = keys::object(&b, &k);
                s.store.transact(|tx| {
                    let bucket: BucketMeta = match tx.get(&bkey)? {
                        Some(v) => decode(&v)?,
                        None => return Err(Error::NoSuchBucket(b.clone())),
                    };
                    let old: Option<ObjectMeta> = tx.get(&okey)?.map(|v| decode(&v)).transpose()?;
                    conditions.check_write(old.as_ref()).map_err(|e| match e {
                        Error::NoSuchKey(_) => Error::NoSuchKey(k.clone()),
                        e => e,
                    })?;
                    for id in &ids {
                        s.blobs.adopt(tx, id)?;
                    }
                    super::record_master(tx, meta.encryption.as_ref())?;
                    let mut meta = meta.clone();
                    meta.lock = lock::for_new_version(&bucket, meta.lock.take(), now_millis())?;
                    versions::install(tx, bucket.versioning, &b, &k, old, meta)
                })
            })
            .await;
        match result {
            Ok((meta, dropped)) => {
                for b in dropped.into_iter().flat_map(|o| o.blobs) {
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
    /// An SSE-C object needs its key: see [`ObjectStore::read_object_with`].
    pub async fn read_object(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
        start: u64,
        end: u64,
    ) -> Result<BlobStream, Error> {
        let root = self.root_for(meta, None, &KmsCaller::Service).await?;
        self.read_object_with(bucket, key, meta, start, end, root.as_ref())
            .await
    }

    /// [`ObjectStore::read_object`] with the object's root key (from
    /// [`ObjectStore::root_for`]), which encrypted data needs; only the chunks of the range
    /// are read and decrypted.
    pub async fn read_object_with(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
        start: u64,
        end: u64,
        root: Option<&RootKey>,
    ) -> Result<BlobStream, Error> {
        if meta.encryption.is_some() && root.is_none() {
            return Err(Error::Corrupt(
                "reading encrypted data without its key".into(),
            ));
        }
        match self.open_segments(meta, start, end, root).await {
            Ok(segments) => Ok(Box::pin(blobs::chain(segments))),
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
        root: Option<&RootKey>,
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
            let segment = match (&b.sealed, root) {
                (Some(salt), Some(root)) => {
                    let damaged = |problem: String| {
                        (
                            b.id.clone(),
                            BlobError::Damaged {
                                blob: b.id.clone(),
                                problem,
                            },
                        )
                    };
                    let key = root.blob(salt).map_err(|e| damaged(e.to_string()))?;
                    let (offset, len) = BlobKey::stored_range(b.len, from, to);
                    let inner = self
                        .blobs
                        .open(&b.id, b.stored_len(), offset, len)
                        .await
                        .map_err(|e| (b.id.clone(), e))?;
                    key.unseal(inner, b.len, from, to)
                }
                _ => self
                    .blobs
                    .open(&b.id, b.len, from, to - from)
                    .await
                    .map_err(|e| (b.id.clone(), e))?,
            };
            segments.push(segment);
        }
        Ok(segments)
    }

    /// The byte range of part `n` (1-based) of an object: multipart objects by their parts,
    /// others have only part 1, the whole object. A part past the last is `InvalidPart`.
    pub fn part_range(meta: &ObjectMeta, n: u32) -> Result<(u64, u64), Error> {
        let bad = || Error::InvalidPart;
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

    /// Deletes an object (deleting a missing key succeeds, as in S3): in a bucket with
    /// versioning configured, adds a delete marker; with `version`, removes that version for
    /// good.
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<Deleted, Error> {
        self.delete_object_with(bucket, key, version, false).await
    }

    /// [`ObjectStore::delete_object`]; removing a version under object lock is refused
    /// (AccessDenied), unless it is only under GOVERNANCE retention and `bypass` is set.
    pub async fn delete_object_with(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        bypass: bool,
    ) -> Result<Deleted, Error> {
        if let Some(v) = version {
            versions::check_version_id(v)?;
        }
        let (b, k, v) = (
            bucket.to_owned(),
            key.to_owned(),
            version.map(str::to_owned),
        );
        let (deleted, dropped) = self
            .run(move |s| {
                let bkey = keys::bucket(&b);
                let okey = keys::object(&b, &k);
                s.store.transact(|tx| {
                    let bucket: BucketMeta = match tx.get(&bkey)? {
                        Some(v) => decode(&v)?,
                        None => return Err(Error::NoSuchBucket(b.clone())),
                    };
                    if let Some(id) = &v {
                        let now = now_millis();
                        let removed = versions::delete_version(tx, &b, &k, id, |m| {
                            m.removal_refused(now, bypass).map_or(Ok(()), Err)
                        })?;
                        let deleted = Deleted {
                            version_id: Some(id.clone()),
                            delete_marker: removed.as_ref().is_some_and(|r| r.delete_marker),
                        };
                        return Ok((deleted, removed.into_iter().collect::<Vec<_>>()));
                    }
                    let old: Option<ObjectMeta> = tx.get(&okey)?.map(|v| decode(&v)).transpose()?;
                    if bucket.versioning.is_none() {
                        if old.is_some() {
                            tx.delete(&okey);
                        }
                        return Ok((Deleted::default(), old.into_iter().collect()));
                    }
                    let (marker, dropped) =
                        versions::install(tx, bucket.versioning, &b, &k, old, versions::marker())?;
                    let deleted = Deleted {
                        version_id: marker.version_id,
                        delete_marker: true,
                    };
                    Ok((deleted, dropped))
                })
            })
            .await?;
        let removed_current = !dropped.is_empty() || deleted.delete_marker;
        for b in dropped.into_iter().flat_map(|m| m.blobs) {
            self.blobs.remove(&b.id).await;
        }
        if removed_current {
            self.notify(ObjectEvent::Removed {
                bucket: bucket.to_string(),
                key: key.to_string(),
            });
        }
        Ok(deleted)
    }

    /// Copies an object version's data into a new blob (blobs are never shared, so deleting
    /// one object never touches another) with either the source's headers or `replace`,
    /// decrypting with the source's key and encrypting as `copy.encryption` (or the
    /// destination bucket's default) asks.
    pub async fn copy_object(
        &self,
        src: (&str, &str),
        dst: (&str, &str),
        copy: CopyOptions<'_>,
    ) -> Result<(ObjectMeta, ObjectMeta), Error> {
        let source = self.head_version(src.0, src.1, copy.source_version).await?;
        copy.source_conditions
            .check_read(&source)
            .map_err(|e| match e {
                Error::NotModified { .. } => Error::PreconditionFailed,
                e => e,
            })?;
        let source_root = self
            .root_for(&source, copy.source_key, &copy.caller)
            .await?;
        let dst_bucket = self.bucket(dst.0).await?;
        let sealing = self
            .seal_for(&dst_bucket, dst.1, copy.encryption.as_ref(), &copy.caller)
            .await?;
        let data = Box::pin(
            self.read_object_with(src.0, src.1, &source, 0, source.size, source_root.as_ref())
                .await?,
        );
        let algorithm = copy
            .checksum
            .or(source.checksum.as_ref().map(|c| c.algorithm));
        let (written, salt) = self
            .write_blob(
                data,
                Hasher::new(algorithm, false),
                sealing.as_ref().map(|s| &s.1),
            )
            .await?;
        let (headers, tags) = copy
            .replace
            .unwrap_or((source.headers.clone(), source.tags.clone()));
        let meta = ObjectMeta {
            size: written.len,
            etag: etag_of(&written.digests.md5, sealing.as_ref()),
            last_modified_ms: now_millis(),
            blobs: vec![BlobRef {
                id: written.id.clone(),
                len: written.len,
                sealed: salt,
            }],
            parts: None,
            headers,
            checksum: written.digests.checksum.clone(),
            tags,
            version_id: None,
            seq: 0,
            delete_marker: false,
            encryption: sealing.map(|s| s.0),
            // S3 copies no ACL: the copy gets the request's, or the private default.
            acl: copy.acl,
            lock: copy.lock,
        };
        let meta = self
            .commit_object(dst.0, dst.1, meta, Conditions::default(), vec![written.id])
            .await?;
        Ok((source, meta))
    }

    /// Replaces the tag set of an object's current version, or of version `version`.
    pub async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        tags: BTreeMap<String, String>,
    ) -> Result<(), Error> {
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
                let okey = keys::object(&b, &k);
                let current: Option<ObjectMeta> = tx.get(&okey)?.map(|x| decode(&x)).transpose()?;
                let found = match (current, &v) {
                    (Some(c), None) => Some((okey, c)),
                    (Some(c), Some(id)) if c.version() == id => Some((okey, c)),
                    (_, Some(id)) => versions::noncurrent(tx, &b, &k)?
                        .into_iter()
                        .find(|(_, m)| m.version() == id),
                    (None, None) => None,
                };
                let Some((store_key, mut meta)) = found else {
                    return Err(match &v {
                        Some(id) => Error::NoSuchVersion(id.clone()),
                        None => Error::NoSuchKey(k.clone()),
                    });
                };
                if meta.delete_marker {
                    return Err(Error::MethodNotAllowed {
                        version_id: meta.version().to_string(),
                        last_modified_ms: meta.last_modified_ms,
                    });
                }
                meta.tags = tags.clone();
                tx.put(&store_key, &encode(&meta));
                Ok(())
            })
        })
        .await
    }

    /// Replaces the ACL of an object's current version, or of version `version`; returns
    /// the version changed.
    pub async fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        acl: Option<crate::acl::Acl>,
    ) -> Result<ObjectMeta, Error> {
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
                if tx.get(&keys::bucket(&b))?.is_none() {
                    return Err(Error::NoSuchBucket(b.clone()));
                }
                let okey = keys::object(&b, &k);
                let current: Option<ObjectMeta> = tx.get(&okey)?.map(|x| decode(&x)).transpose()?;
                let found = match (current, &v) {
                    (Some(c), None) => Some((okey, c)),
                    (Some(c), Some(id)) if c.version() == id => Some((okey, c)),
                    (_, Some(id)) => versions::noncurrent(tx, &b, &k)?
                        .into_iter()
                        .find(|(_, m)| m.version() == id),
                    (None, None) => None,
                };
                let Some((store_key, mut meta)) = found else {
                    return Err(match &v {
                        Some(id) => Error::NoSuchVersion(id.clone()),
                        None => Error::NoSuchKey(k.clone()),
                    });
                };
                if meta.delete_marker {
                    return Err(match &v {
                        Some(_) => Error::MethodNotAllowed {
                            version_id: meta.version().to_string(),
                            last_modified_ms: meta.last_modified_ms,
                        },
                        None => Error::NoSuchKey(k.clone()),
                    });
                }
                meta.acl = acl.clone();
                tx.put(&store_key, &encode(&meta));
                Ok(meta)
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

/// How CopyObject copies.
#[derive(Default)]
pub struct CopyOptions<'a> {
    /// `?versionId=` of `x-amz-copy-source`; `None`: the current version.
    pub source_version: Option<&'a str>,
    pub source_conditions: Conditions,
    /// The source's SSE-C key (`x-amz-copy-source-server-side-encryption-customer-*`).
    pub source_key: Option<&'a CustomerKey>,
    /// New headers and tags; `None`: the source's.
    pub replace: Option<(Headers, BTreeMap<String, String>)>,
    pub checksum: Option<Algorithm>,
    pub encryption: Option<SealRequest>,
    /// The copy's ACL (the source's is not copied); `None`: private.
    pub acl: Option<crate::acl::Acl>,
    /// The copy's retention and legal hold (`x-amz-object-lock-*`; never the source's).
    pub lock: Option<ObjectLock>,
    /// Who SSE-KMS calls (decrypting the source, encrypting the copy) are made for.
    pub caller: KmsCaller,
}

/// The ETag of single-part data: its MD5, except for SSE-C, whose ETag must not reveal it.
pub(crate) fn etag_of(md5: &[u8], sealing: Option<&(Encryption, RootKey)>) -> String {
    match sealing {
        Some((Encryption::C { .. } | Encryption::Kms { .. }, root)) => root.opaque_etag(md5),
        _ => hex::encode(md5),
    }
}

/// S3 refuses SSE-KMS to unsigned requests
/// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html: requests
/// for objects protected by KMS must be signed with SigV4).
fn kms_needs_sigv4() -> Error {
    Error::InvalidArgument(
        "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4.".into(),
    )
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
