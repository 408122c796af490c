//! Multipart uploads (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html):
//! each part is a blob; completing writes an object whose blob list is the chosen parts
//! (no data is copied) and whose ETag is the MD5 of the parts' MD5s, `-N`.

use bytes::Bytes;
use futures_util::Stream;
use md5::Digest as _;
use nuvem_store::{Direction, KeyRange, Tx};
use serde::{Deserialize, Serialize};

use super::checksum::{Algorithm, Checksum, Digests, Hasher, Kind};
use super::multipart_checksum;
use super::objects::{Conditions, PutOptions};
use super::sealing::{self, CustomerKey, Encryption};
use super::versions;
use super::{
    BlobRef, BucketMeta, Headers, ObjectMeta, ObjectStore, decode, encode, keys, now_millis,
};
use crate::error::Error;
use crate::kms::KmsCaller;

/// Parts smaller than this are refused at completion, except the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
pub const MAX_PART_NUMBER: u32 = 10_000;

/// How long the result of a completed upload is remembered for retried completions.
const COMPLETED_KEPT_MS: i64 = 24 * 60 * 60 * 1000;
/// At most this many expired completion records are removed by each completion: the records
/// of a bucket stay bounded by a day of completions, and no completion does unbounded work.
const COMPLETED_TRIM_BATCH: usize = 16;

/// What a completed upload produced, so that a retried CompleteMultipartUpload (its answer
/// lost on the way back) gets the same 200 while that object is still the result.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CompletedUpload {
    key: String,
    etag: String,
    version_id: Option<String>,
    last_modified_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadMeta {
    pub key: String,
    pub initiated_ms: i64,
    pub headers: Headers,
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub checksum: Option<Algorithm>,
    /// How the object checksum is derived from the parts' (set when `checksum` is).
    #[serde(default)]
    pub checksum_kind: Option<Kind>,
    /// The encryption every part is sealed with, and the completed object has.
    #[serde(default)]
    pub encryption: Option<Encryption>,
    /// The ACL the completed object gets; `None`: private.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<crate::acl::Acl>,
    /// The retention and legal hold the object gets (`x-amz-object-lock-*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<super::lock::ObjectLock>,
}

/// One part a client chose in CompleteMultipartUpload.
#[derive(Debug, Clone, Default)]
pub struct ChosenPart {
    pub number: u32,
    pub etag: String,
    /// The part checksum the client lists, checked against the stored one.
    pub checksum: Option<String>,
}

/// What CompleteMultipartUpload asks for and asserts.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub parts: Vec<ChosenPart>,
    /// `x-amz-checksum-<algorithm>` for the whole object.
    pub checksum: Option<(Algorithm, String)>,
    /// `x-amz-checksum-type`: must match the upload's.
    pub checksum_kind: Option<Kind>,
    /// `x-amz-mp-object-size`: the object's expected size.
    pub object_size: Option<u64>,
    pub conditions: Conditions,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartMeta {
    pub blob: BlobRef,
    pub etag: String,
    pub last_modified_ms: i64,
    #[serde(default)]
    pub checksum: Option<super::checksum::Checksum>,
}

impl ObjectStore {
    pub async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        opts: PutOptions,
        checksum_kind: Option<Kind>,
    ) -> Result<String, Error> {
        let checksum_kind = match (opts.checksum, checksum_kind) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(Error::InvalidRequest(
                    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.".into(),
                ));
            }
            (Some(a), kind) => {
                let kind = kind.unwrap_or_else(|| multipart_checksum::default_kind(a));
                multipart_checksum::validate(a, kind)?;
                Some(kind)
            }
        };
        // Ids sort in creation order (hex milliseconds, then randomness), so ListMultipartUploads
        // can order the uploads of one key by id and page with `upload-id-marker`.
        let random = uuid::Uuid::new_v4().simple().to_string();
        let id = format!(
            "{:012x}{}",
            now_millis(),
            random.get(..20).unwrap_or(&random)
        );
        let bucket_meta = self.bucket(bucket).await?;
        // Refused now, before any part, when the bucket has no object lock.
        super::lock::for_new_version(&bucket_meta, opts.lock.clone(), 0)?;
        let encryption = self
            .seal_for(&bucket_meta, key, opts.encryption.as_ref(), &opts.caller)
            .await?
            .map(|(e, _)| e);
        let meta = UploadMeta {
            key: key.to_string(),
            initiated_ms: now_millis(),
            headers: opts.headers,
            tags: opts.tags,
            checksum: opts.checksum,
            checksum_kind,
            encryption,
            acl: opts.acl,
            lock: opts.lock,
        };
        let bkey = keys::bucket(bucket);
        let ukey = keys::upload(bucket, &id);
        let bucket = bucket.to_owned();
        self.run(move |s| {
            let value = encode(&meta);
            s.store.transact(|tx| {
                if tx.get(&bkey)?.is_none() {
                    return Err(Error::NoSuchBucket(bucket.clone()));
                }
                super::record_master(tx, meta.encryption.as_ref())?;
                tx.put(&ukey, &value);
                Ok(())
            })
        })
        .await?;
        Ok(id)
    }

    /// The upload, checked to belong to `key`.
    pub async fn upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<UploadMeta, Error> {
        let (b, k, u) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        self.run(move |s| s.upload_sync(&b, &k, &u)).await
    }

    fn upload_sync(&self, bucket: &str, key: &str, upload_id: &str) -> Result<UploadMeta, Error> {
        let meta: Option<UploadMeta> = self
            .store
            .get(&keys::upload(bucket, upload_id))?
            .map(|v| decode(&v))
            .transpose()?;
        match meta {
            Some(m) if m.key == key => Ok(m),
            _ => {
                self.bucket_sync(bucket)?;
                Err(Error::NoSuchUpload(upload_id.to_string()))
            }
        }
    }

    /// Stores one part (replacing an earlier part with the same number).
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part<S, E>(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        body: S,
        want_sha256: bool,
        checksum: Option<Algorithm>,
        customer: Option<&CustomerKey>,
        caller: &KmsCaller,
        verify: impl FnOnce(&Digests) -> Result<(), Error>,
    ) -> Result<PartMeta, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<Error>,
    {
        if !(1..=MAX_PART_NUMBER).contains(&number) {
            return Err(Error::InvalidArgument(
                "Part number must be an integer between 1 and 10000, inclusive".into(),
            ));
        }
        let upload = self.upload(bucket, key, upload_id).await?;
        if let (Some(want), Some(got)) = (upload.checksum, checksum)
            && want != got
        {
            return Err(Error::InvalidRequest(format!(
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                want.name().to_ascii_lowercase(),
                got.name().to_ascii_lowercase()
            )));
        }
        let algorithm = checksum.or(upload.checksum);
        // Every part of an SSE-C upload needs the upload's key
        // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html).
        // Every part of an SSE-KMS upload needs its data key: `kms:Decrypt`
        // (https://repost.aws/knowledge-center/s3-large-file-encryption-kms-key).
        let root = match &upload.encryption {
            Some(e @ Encryption::Kms { .. }) => self.unlock(Some(e), customer, caller).await?,
            Some(e) => Some(sealing::root_key(e, self.master.as_deref(), customer)?),
            None if customer.is_some() => {
                return Err(Error::InvalidRequest(
                    "The multipart upload was not initiated with customer-provided encryption keys.".into(),
                ));
            }
            None => None,
        };
        let (written, salt) = self
            .write_blob(body, Hasher::new(algorithm, want_sha256), root.as_ref())
            .await?;
        if let Err(e) = verify(&written.digests) {
            self.blobs.remove(&written.id).await;
            return Err(e);
        }
        let etag = match (&upload.encryption, &root) {
            (Some(Encryption::C { .. } | Encryption::Kms { .. }), Some(root)) => {
                root.opaque_etag(&written.digests.md5)
            }
            _ => hex::encode(written.digests.md5),
        };
        let part = PartMeta {
            blob: BlobRef {
                id: written.id.clone(),
                len: written.len,
                sealed: salt,
            },
            etag,
            last_modified_ms: now_millis(),
            checksum: written.digests.checksum.clone(),
        };
        let ukey = keys::upload(bucket, upload_id);
        let pkey = keys::part(upload_id, number);
        let upload_id = upload_id.to_owned();
        let (result, part) = self
            .run(move |s| {
                let value = encode(&part);
                let result = s.store.transact(|tx| {
                    if tx.get(&ukey)?.is_none() {
                        return Err(Error::NoSuchUpload(upload_id.clone()));
                    }
                    let old: Option<PartMeta> = tx.get(&pkey)?.map(|v| decode(&v)).transpose()?;
                    s.blobs.adopt(tx, &part.blob.id)?;
                    tx.put(&pkey, &value);
                    Ok(old)
                });
                (result, part)
            })
            .await;
        match result {
            Ok(old) => {
                if let Some(old) = old {
                    self.blobs.remove(&old.blob.id).await;
                }
                Ok(part)
            }
            Err(e) => {
                self.blobs.remove(&written.id).await;
                Err(e)
            }
        }
    }

    /// UploadPartCopy: stores `start..end` of an existing object (the whole object when
    /// `range` is `None`) as part `number`, through the same path as an uploaded part.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part_copy(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        src: (&str, &str),
        range: Option<(u64, u64)>,
        copy: &PartCopy<'_>,
    ) -> Result<PartMeta, Error> {
        let source_conditions = &copy.source_conditions;
        self.upload(bucket, key, upload_id).await?;
        let source = self.head_version(src.0, src.1, copy.source_version).await?;
        let source_root = self
            .root_for(&source, copy.source_key, &copy.caller)
            .await?;
        source_conditions.check_read(&source).map_err(|e| match e {
            Error::NotModified { .. } => Error::PreconditionFailed,
            e => e,
        })?;
        let (start, end) = match range {
            None => (0, source.size),
            Some((s, e)) if s < e && e <= source.size => (s, e),
            Some(_) => {
                return Err(Error::InvalidArgument(format!(
                    "Range specified is not valid for source object of size: {}",
                    source.size
                )));
            }
        };
        let data = Box::pin(
            self.read_object_with(src.0, src.1, &source, start, end, source_root.as_ref())
                .await?,
        );
        self.upload_part(
            bucket,
            key,
            upload_id,
            number,
            data,
            false,
            None,
            copy.key,
            &copy.caller,
            |_| Ok(()),
        )
        .await
    }

    /// The parts uploaded so far, by number.
    pub async fn list_parts(&self, upload_id: &str) -> Result<Vec<(u32, PartMeta)>, Error> {
        let upload_id = upload_id.to_owned();
        self.run(move |s| s.list_parts_sync(&upload_id)).await
    }

    fn list_parts_sync(&self, upload_id: &str) -> Result<Vec<(u32, PartMeta)>, Error> {
        let prefix = keys::parts_of(upload_id);
        let snap = self.store.snapshot();
        snap.scan(KeyRange::prefix(&prefix), Direction::Forward)
            .map(|e| {
                let (k, v) = e?;
                let n = k
                    .get(prefix.len()..)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_be_bytes)
                    .ok_or_else(|| Error::Corrupt("part key".into()))?;
                Ok((n, decode(&v)?))
            })
            .collect()
    }

    /// In-progress uploads of a bucket: (upload id, upload), in key then id order.
    pub async fn list_uploads(&self, bucket: &str) -> Result<Vec<(String, UploadMeta)>, Error> {
        let bucket = bucket.to_owned();
        self.run(move |s| s.list_uploads_sync(&bucket)).await
    }

    fn list_uploads_sync(&self, bucket: &str) -> Result<Vec<(String, UploadMeta)>, Error> {
        self.bucket_sync(bucket)?;
        let prefix = keys::uploads_of(bucket);
        let snap = self.store.snapshot();
        let mut out: Vec<(String, UploadMeta)> = snap
            .scan(KeyRange::prefix(&prefix), Direction::Forward)
            .map(|e| {
                let (k, v) = e?;
                let id = String::from_utf8_lossy(k.get(prefix.len()..).unwrap_or(&[])).into_owned();
                Ok((id, decode(&v)?))
            })
            .collect::<Result<_, Error>>()?;
        // Key order, then creation order, which is id order (see `create_upload`).
        out.sort_by(|a, b| a.1.key.cmp(&b.1.key).then_with(|| a.0.cmp(&b.0)));
        Ok(out)
    }

    /// Deletes an upload's part records inside `tx`, returning their blob ids.
    pub(crate) fn drop_parts(tx: &mut dyn Tx, upload_id: &str) -> Result<Vec<String>, Error> {
        let prefix = keys::parts_of(upload_id);
        let parts: Vec<(Vec<u8>, Vec<u8>)> = tx
            .scan(KeyRange::prefix(&prefix), Direction::Forward)
            .collect::<Result<_, _>>()?;
        let mut ids = Vec::with_capacity(parts.len());
        for (k, v) in parts {
            let p: PartMeta = decode(&v)?;
            ids.push(p.blob.id);
            tx.delete(&k);
        }
        Ok(ids)
    }

    pub async fn abort_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), Error> {
        self.upload(bucket, key, upload_id).await?;
        let ukey = keys::upload(bucket, upload_id);
        let upload_id = upload_id.to_owned();
        let ids = self
            .run(move |s| {
                s.store.transact(|tx| {
                    if tx.get(&ukey)?.is_none() {
                        return Err(Error::NoSuchUpload(upload_id.clone()));
                    }
                    tx.delete(&ukey);
                    Self::drop_parts(tx, &upload_id)
                })
            })
            .await?;
        for id in ids {
            self.blobs.remove(&id).await;
        }
        Ok(())
    }

    /// Completes an upload from the client's list of parts, which must be in ascending order
    /// and name uploaded parts; all but the last must be at least 5 MiB. The object checksum
    /// (when the upload has an algorithm) is derived from the parts' and checked against the
    /// one the client sent.
    pub async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        completion: &Completion,
    ) -> Result<ObjectMeta, Error> {
        let (b, k, u) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        let found = self
            .run(move |s| {
                let upload = match s.upload_sync(&b, &k, &u) {
                    Ok(upload) => upload,
                    Err(Error::NoSuchUpload(id)) => {
                        return match s.completed_result_sync(&b, &k, &u)? {
                            Some(done) => Ok(Err(done)),
                            None => Err(Error::NoSuchUpload(id)),
                        };
                    }
                    Err(e) => return Err(e),
                };
                Ok::<_, Error>(Ok((upload, s.list_parts_sync(&u)?)))
            })
            .await?;
        let (upload, stored) = match found {
            Ok(found) => found,
            // Already completed, and that object is still the key's current version.
            Err(done) => return Ok(done),
        };
        let chosen = &completion.parts;
        if chosen.is_empty() {
            return Err(Error::MalformedXml);
        }
        if chosen.windows(2).any(|w| w[0].number >= w[1].number) {
            return Err(Error::InvalidPartOrder);
        }
        let stored: std::collections::BTreeMap<u32, PartMeta> = stored.into_iter().collect();
        let mut blobs = Vec::with_capacity(chosen.len());
        let mut sums: Vec<(Option<&Checksum>, u64)> = Vec::with_capacity(chosen.len());
        let mut md5s = md5::Md5::new();
        for (i, c) in chosen.iter().enumerate() {
            let part = stored.get(&c.number).ok_or(Error::InvalidPart)?;
            if c.etag.trim_matches('"') != part.etag {
                return Err(Error::InvalidPart);
            }
            if let Some(given) = &c.checksum
                && part
                    .checksum
                    .as_ref()
                    .is_none_or(|p| p.value != given.trim())
            {
                return Err(Error::InvalidPart);
            }
            if i + 1 < chosen.len() && part.blob.len < MIN_PART_SIZE {
                return Err(Error::EntityTooSmall);
            }
            let raw = hex::decode(&part.etag).map_err(|e| Error::Corrupt(e.to_string()))?;
            md5s.update(&raw);
            blobs.push(part.blob.clone());
            sums.push((part.checksum.as_ref(), part.blob.len));
        }
        let size: u64 = blobs.iter().map(|b| b.len).sum();
        if let Some(expected) = completion.object_size
            && expected != size
        {
            return Err(Error::InvalidRequest(format!(
                "The provided 'x-amz-mp-object-size' header value {expected} does not match what was computed: {size}"
            )));
        }
        let checksum = match (upload.checksum, upload.checksum_kind) {
            (Some(a), kind) => {
                let kind = kind.unwrap_or_else(|| multipart_checksum::default_kind(a));
                if let Some(k) = completion.checksum_kind
                    && k != kind
                {
                    return Err(Error::InvalidRequest(format!(
                        "The upload was created using the {} checksum mode. The complete request must use the same checksum mode.",
                        kind.name()
                    )));
                }
                let computed = multipart_checksum::combine(a, kind, &sums)?;
                if let Some((given_a, given)) = &completion.checksum
                    && (*given_a != a || !multipart_checksum::matches(given, &computed))
                {
                    return Err(Error::BadDigest(a.name()));
                }
                Some(computed)
            }
            (None, _) => {
                if completion.checksum.is_some() || completion.checksum_kind.is_some() {
                    return Err(Error::InvalidRequest(
                        "The upload was created without a checksum algorithm, so the complete request cannot carry an object checksum.".into(),
                    ));
                }
                None
            }
        };
        let used: std::collections::HashSet<&str> = blobs.iter().map(|b| b.id.as_str()).collect();
        let unused: Vec<String> = stored
            .values()
            .filter(|p| !used.contains(p.blob.id.as_str()))
            .map(|p| p.blob.id.clone())
            .collect();
        let meta = ObjectMeta {
            size,
            etag: format!("{}-{}", hex::encode(md5s.finalize()), chosen.len()),
            last_modified_ms: now_millis(),
            parts: Some(u32::try_from(chosen.len()).unwrap_or(u32::MAX)),
            blobs,
            headers: upload.headers,
            checksum,
            tags: upload.tags,
            version_id: None,
            seq: 0,
            delete_marker: false,
            encryption: upload.encryption,
            acl: upload.acl,
            lock: upload.lock,
        };
        let conditions = completion.conditions.clone();
        let bkey = keys::bucket(bucket);
        let okey = keys::object(bucket, key);
        let ukey = keys::upload(bucket, upload_id);
        let prefix = keys::parts_of(upload_id);
        let ckey = keys::completed(bucket, upload_id);
        let cprefix = keys::completed_of(bucket);
        let (b, k, u) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        // The parts' blobs were adopted with their part records: moving the references from
        // the parts to the object is all this transaction does with them.
        let committed = self
            .run(move |s| {
                s.store.transact(|tx| {
                    let bucket: BucketMeta = match tx.get(&bkey)? {
                        Some(v) => decode(&v)?,
                        None => return Err(Error::NoSuchBucket(b.clone())),
                    };
                    if tx.get(&ukey)?.is_none() {
                        return Err(Error::NoSuchUpload(u.clone()));
                    }
                    let old: Option<ObjectMeta> = tx.get(&okey)?.map(|v| decode(&v)).transpose()?;
                    conditions_check(&conditions, old.as_ref(), &k)?;
                    let part_keys: Vec<Vec<u8>> = tx
                        .scan(KeyRange::prefix(&prefix), Direction::Forward)
                        .map(|e| e.map(|(k, _)| k))
                        .collect::<Result<_, _>>()?;
                    for k in part_keys {
                        tx.delete(&k);
                    }
                    tx.delete(&ukey);
                    let mut meta = meta.clone();
                    meta.lock =
                        super::lock::for_new_version(&bucket, meta.lock.take(), now_millis())?;
                    let installed = versions::install(tx, bucket.versioning, &b, &k, old, meta)?;
                    trim_completed(tx, &cprefix, installed.0.last_modified_ms)?;
                    let done = CompletedUpload {
                        key: k.clone(),
                        etag: installed.0.etag.clone(),
                        version_id: installed.0.version_id.clone(),
                        last_modified_ms: installed.0.last_modified_ms,
                    };
                    tx.put(&ckey, &encode(&done));
                    Ok(installed)
                })
            })
            .await;
        let (meta, dropped) = match committed {
            // A concurrent completion of the same upload won: answer with its object, as a
            // retry after it would be answered; its transaction owns the parts' blobs.
            Err(Error::NoSuchUpload(id)) => {
                let (b, k, u) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
                return match self
                    .run(move |s| s.completed_result_sync(&b, &k, &u))
                    .await?
                {
                    Some(done) => Ok(done),
                    None => Err(Error::NoSuchUpload(id)),
                };
            }
            r => r?,
        };
        for id in unused.iter().cloned().chain(
            dropped
                .into_iter()
                .flat_map(|o| o.blobs.into_iter().map(|b| b.id)),
        ) {
            self.blobs.remove(&id).await;
        }
        self.notify(crate::events::ObjectEvent::Created {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size: meta.size,
            etag: meta.etag.clone(),
        });
        Ok(meta)
    }
}

/// What UploadPartCopy copies from, and with which keys.
#[derive(Default)]
pub struct PartCopy<'a> {
    pub source_version: Option<&'a str>,
    pub source_conditions: Conditions,
    /// The source's SSE-C key.
    pub source_key: Option<&'a CustomerKey>,
    /// The upload's SSE-C key.
    pub key: Option<&'a CustomerKey>,
    /// Who SSE-KMS calls (decrypting the source, the upload's data key) are made for.
    pub caller: KmsCaller,
}

/// `If-None-Match: *` and `If-Match` on completion, against the key's current object (a
/// current delete marker is no object): the same rules as a conditional PutObject.
fn conditions_check(c: &Conditions, current: Option<&ObjectMeta>, key: &str) -> Result<(), Error> {
    c.check_write(current).map_err(|e| match e {
        Error::NoSuchKey(_) => Error::NoSuchKey(key.to_string()),
        e => e,
    })
}

/// Removes up to [`COMPLETED_TRIM_BATCH`] completion records older than a day, in upload-id
/// order (ids begin with their creation time), stopping at the first one still kept: one
/// record of a long-lived upload holds the others back at most a day.
fn trim_completed(tx: &mut dyn Tx, prefix: &[u8], now_ms: i64) -> Result<(), Error> {
    let mut expired = Vec::new();
    for entry in tx.scan(KeyRange::prefix(prefix), Direction::Forward) {
        let (key, value) = entry?;
        let done: CompletedUpload = decode(&value)?;
        if now_ms - done.last_modified_ms < COMPLETED_KEPT_MS
            || expired.len() >= COMPLETED_TRIM_BATCH
        {
            break;
        }
        expired.push(key);
    }
    for key in expired {
        tx.delete(&key);
    }
    Ok(())
}

impl ObjectStore {
    /// The object a completed upload made, if the record is kept and that object is still the
    /// key's current version.
    fn completed_result_sync(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<Option<ObjectMeta>, Error> {
        let Some(value) = self.store.get(&keys::completed(bucket, upload_id))? else {
            return Ok(None);
        };
        let done: CompletedUpload = decode(&value)?;
        if done.key != key {
            return Ok(None);
        }
        Ok(self.head_object_sync(bucket, key).ok().filter(|current| {
            current.etag == done.etag
                && current.last_modified_ms == done.last_modified_ms
                && current.version_id == done.version_id
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &std::path::Path) -> nuvem_store::Store {
        let engine =
            nuvem_store::FjallEngine::open(&dir.join("store"), nuvem_store::Durability::Process)
                .unwrap();
        nuvem_store::Store::new(engine)
    }

    fn record(ms: i64) -> Vec<u8> {
        encode(&CompletedUpload {
            key: "k".into(),
            etag: "e".into(),
            version_id: None,
            last_modified_ms: ms,
        })
    }

    fn count(s: &nuvem_store::Store, prefix: &[u8]) -> usize {
        s.snapshot()
            .scan(KeyRange::prefix(prefix), Direction::Forward)
            .count()
    }

    /// Completion records older than a day go, at most a batch per completion and in
    /// upload-id order; a kept record stops the trim; other buckets' records are untouched.
    #[test]
    fn completed_records_are_trimmed_in_bounded_batches() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let now = 10 * COMPLETED_KEPT_MS;
        let old = now - COMPLETED_KEPT_MS - 1;
        s.transact(|tx| {
            for i in 0..20 {
                tx.put(&keys::completed("b", &format!("{i:012x}old")), &record(old));
            }
            tx.put(
                &keys::completed("b", "ffffffffffffnew"),
                &record(now - 1000),
            );
            tx.put(&keys::completed("other", "000000000000old"), &record(old));
            Ok::<_, Error>(())
        })
        .unwrap();
        let prefix = keys::completed_of("b");
        let trim = || {
            s.transact(|tx| trim_completed(tx, &prefix, now)).unwrap();
            count(&s, &prefix)
        };
        assert_eq!(trim(), 21 - COMPLETED_TRIM_BATCH);
        assert_eq!(trim(), 1);
        assert_eq!(trim(), 1);
        assert_eq!(count(&s, &keys::completed_of("other")), 1);
        // A record still kept in front holds back the expired ones behind it.
        s.transact(|tx| {
            tx.put(&keys::completed("b", "000000000000kept"), &record(now));
            tx.put(&keys::completed("b", "000000000001old"), &record(old));
            Ok::<_, Error>(())
        })
        .unwrap();
        assert_eq!(trim(), 3);
    }
}
