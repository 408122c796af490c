//! Object operations: put (with Content-MD5, checksum headers or trailers verified before the
//! commit), get/head (ranges, `partNumber`, conditionals), delete, batch delete, copy, tags.

use base64::Engine as _;
use futures_util::TryStreamExt;
use s3s::S3Request;
use s3s::dto::*;

use super::sse::{self, Echo, set_sse};
use super::{Handler, body_error, epoch_seconds, quoted, timestamp};
use crate::error::Error;
use crate::kms::KmsCaller;
use crate::limits::{self, TagSource};
use crate::store::checksum::{Algorithm, Digests};
use crate::store::objects::{Conditions, CopyOptions, PutOptions};
use crate::store::sealing::Encryption;
use crate::store::{Headers, ObjectMeta, ObjectStore};

type Res<T> = Result<T, Error>;

fn http_date(t: &Timestamp) -> Option<String> {
    let mut buf = Vec::new();
    t.format(TimestampFormat::HttpDate, &mut buf).ok()?;
    String::from_utf8(buf).ok()
}

pub(crate) fn headers_of(
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<&Timestamp>,
    metadata: Option<Metadata>,
) -> Res<Headers> {
    let headers = Headers {
        content_type,
        content_encoding: content_encoding.and_then(|e| stored_encoding(&e)),
        content_disposition,
        content_language,
        cache_control,
        expires: expires.and_then(http_date),
        user: metadata
            .map(|m| m.into_iter().collect())
            .unwrap_or_default(),
    };
    limits::check_metadata(&headers.user)?;
    Ok(headers)
}

/// The Content-Encoding to store: `aws-chunked` describes the request's framing, not the
/// object, and is dropped as S3 drops it (`gzip,aws-chunked` is stored as `gzip`).
pub(crate) fn stored_encoding(value: &str) -> Option<String> {
    let kept: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(","))
}

/// The bucket, key and version of an `x-amz-copy-source` (CopyObject, UploadPartCopy).
pub(crate) fn copy_source(source: &CopySource) -> Res<(&str, &str, Option<&str>)> {
    match source {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => Ok((bucket, key, version_id.as_deref())),
        _ => Err(Error::InvalidArgument(
            "Copy from an access point is not supported".into(),
        )),
    }
}

/// The checksum a client sent in a header, if any, and the algorithm it asked for.
pub(crate) struct ChecksumRequest {
    pub algorithm: Option<Algorithm>,
    pub header_value: Option<(Algorithm, String)>,
}

impl ChecksumRequest {
    pub(crate) fn new(
        declared: Option<&ChecksumAlgorithm>,
        values: [Option<&String>; 5],
        headers: &http::HeaderMap,
    ) -> Self {
        let algos = [
            Algorithm::Crc32,
            Algorithm::Crc32c,
            Algorithm::Crc64Nvme,
            Algorithm::Sha1,
            Algorithm::Sha256,
        ];
        let header_value = algos
            .iter()
            .zip(values)
            .find_map(|(a, v)| v.map(|v| (*a, v.clone())));
        // With trailers, `x-amz-trailer` names the checksum header that follows the body.
        let trailer = headers
            .get("x-amz-trailer")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| {
                algos
                    .iter()
                    .copied()
                    .find(|a| a.header().eq_ignore_ascii_case(t.trim()))
            });
        let algorithm = header_value
            .as_ref()
            .map(|(a, _)| *a)
            .or(trailer)
            .or_else(|| declared.and_then(|d| Algorithm::parse(d.as_str())));
        Self {
            algorithm,
            header_value,
        }
    }

    /// Checks the computed digests against Content-MD5 and the header or trailer checksum.
    pub(crate) fn verify(
        &self,
        d: &Digests,
        content_md5: Option<&str>,
        trailers: Option<&s3s::TrailingHeaders>,
    ) -> Res<()> {
        if let Some(md5) = content_md5 {
            // Not base64 of 16 bytes: 400 InvalidDigest, as AWS answers.
            let given = base64::engine::general_purpose::STANDARD
                .decode(md5.trim())
                .ok()
                .filter(|g| g.len() == 16)
                .ok_or(Error::InvalidDigest)?;
            if given != d.md5 {
                return Err(Error::BadDigest("Content-MD5"));
            }
        }
        let Some(computed) = &d.checksum else {
            return Ok(());
        };
        let expected = match &self.header_value {
            Some((_, v)) => Some(v.clone()),
            None => trailers.and_then(|t| {
                t.read(|h| {
                    h.get(computed.algorithm.header())
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                })
                .flatten()
            }),
        };
        if let Some(expected) = expected
            && expected.trim() != computed.value
        {
            return Err(Error::BadDigest(computed.algorithm.name()));
        }
        Ok(())
    }
}

/// Fills the `checksum_*` fields of an output from a stored checksum.
macro_rules! set_checksum {
    ($out:expr, $checksum:expr) => {
        if let Some(c) = $checksum {
            let v = Some(c.value.clone());
            match c.algorithm {
                Algorithm::Crc32 => $out.checksum_crc32 = v,
                Algorithm::Crc32c => $out.checksum_crc32c = v,
                Algorithm::Crc64Nvme => $out.checksum_crc64nvme = v,
                Algorithm::Sha1 => $out.checksum_sha1 = v,
                Algorithm::Sha256 => $out.checksum_sha256 = v,
            }
        }
    };
}
pub(crate) use set_checksum;

pub(crate) fn conditions(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    modified: Option<&Timestamp>,
    unmodified: Option<&Timestamp>,
) -> Conditions {
    let text = |c: &ETagCondition| match c {
        ETagCondition::Any => "*".to_string(),
        ETagCondition::ETag(e) => e.value().to_string(),
    };
    Conditions {
        if_match: if_match.map(text),
        if_none_match: if_none_match.map(text),
        if_modified_since: modified.and_then(epoch_seconds),
        if_unmodified_since: unmodified.and_then(epoch_seconds),
    }
}

/// The byte range a GET/HEAD asks for; `None` for the whole object.
fn wanted_range(
    meta: &ObjectMeta,
    range: Option<&Range>,
    part: Option<i32>,
) -> Res<Option<(u64, u64)>> {
    if let Some(n) = part {
        // 0 and numbers above 10000 are malformed; a well-formed number past the object's
        // parts is 400 InvalidPart, as AWS answers.
        let n = u32::try_from(n)
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| {
                Error::InvalidArgument(
                    "Part number must be an integer between 1 and 10000, inclusive".into(),
                )
            })?;
        return ObjectStore::part_range(meta, n).map(Some);
    }
    match range {
        None => Ok(None),
        Some(r) => {
            let r = r.check(meta.size).map_err(|_| Error::InvalidRange)?;
            Ok(Some((r.start, r.end)))
        }
    }
}

impl Handler {
    pub(crate) async fn put_object(&self, req: S3Request<PutObjectInput>) -> Res<PutObjectOutput> {
        let trailers = req.trailing_headers.clone();
        let caller = sse::caller(&req);
        let input = req.input;
        let sums = ChecksumRequest::new(
            input.checksum_algorithm.as_ref(),
            [
                input.checksum_crc32.as_ref(),
                input.checksum_crc32c.as_ref(),
                input.checksum_crc64nvme.as_ref(),
                input.checksum_sha1.as_ref(),
                input.checksum_sha256.as_ref(),
            ],
            &req.headers,
        );
        let customer = sse::customer_key(
            input.sse_customer_algorithm.as_ref(),
            input.sse_customer_key.as_ref(),
            input.sse_customer_key_md5.as_ref(),
        )?;
        let acl = self
            .object_acl_for(&input.bucket, super::acl::object_acl_request!(input))
            .await?;
        let lock = super::lock::request(
            input.object_lock_mode.as_ref(),
            input.object_lock_retain_until_date.as_ref(),
            input.object_lock_legal_hold_status.as_ref(),
            Some(input.content_md5.is_some() || sums.algorithm.is_some()),
        )?;
        let opts = PutOptions {
            acl,
            headers: headers_of(
                input.content_type,
                input.content_encoding,
                input.content_disposition,
                input.content_language,
                input.cache_control,
                input.expires.as_ref(),
                input.metadata,
            )?,
            tags: limits::header_tags(input.tagging.as_deref())?,
            checksum: sums.algorithm,
            want_sha256: false,
            conditions: conditions(
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
                None,
                None,
            ),
            encryption: sse::seal_request(
                input.server_side_encryption.as_ref(),
                customer.clone(),
                input.ssekms_key_id.as_ref(),
                input.ssekms_encryption_context.as_ref(),
            )?,
            lock,
            caller,
        };
        let body = input.body.map(|b| b.map_err(body_error));
        let content_md5 = input.content_md5;
        let verify = |d: &Digests| sums.verify(d, content_md5.as_deref(), trailers.as_ref());
        let (meta, bucket) = match body {
            Some(body) => {
                self.store
                    .put_object_in(&input.bucket, &input.key, body, opts, verify)
                    .await?
            }
            None => {
                let empty = futures_util::stream::empty::<Result<bytes::Bytes, Error>>();
                self.store
                    .put_object_in(&input.bucket, &input.key, empty, opts, verify)
                    .await?
            }
        };
        let expiration =
            super::lifecycle::expiration_header(&self.store, &bucket, &input.key, &meta);
        let mut out = PutObjectOutput {
            e_tag: Some(quoted(&meta.etag)),
            size: i64::try_from(meta.size).ok(),
            version_id: meta.version_id.clone(),
            expiration,
            ..Default::default()
        };
        let echo = Echo::of_meta(&meta, customer.as_ref());
        out.ssekms_encryption_context = echo.kms_context.clone();
        set_sse!(out, echo);
        set_checksum!(out, meta.checksum.as_ref());
        if meta.checksum.is_some() {
            out.checksum_type = Some(ChecksumType::from_static(ChecksumType::FULL_OBJECT));
        }
        Ok(out)
    }

    pub(crate) async fn get_object(&self, req: S3Request<GetObjectInput>) -> Res<GetObjectOutput> {
        let caller = sse::caller(&req);
        let input = req.input;
        let (meta, bucket) = self
            .store
            .head_version_in(&input.bucket, &input.key, input.version_id.as_deref())
            .await?;
        let customer = sse::customer_key(
            input.sse_customer_algorithm.as_ref(),
            input.sse_customer_key.as_ref(),
            input.sse_customer_key_md5.as_ref(),
        )?;
        let root = self
            .store
            .root_for(&meta, customer.as_ref(), &caller)
            .await?;
        conditions(
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )
        .check_read(&meta)?;
        let range = wanted_range(&meta, input.range.as_ref(), input.part_number)?;
        let (start, end) = range.unwrap_or((0, meta.size));
        let stream = self
            .store
            .read_object_with(&input.bucket, &input.key, &meta, start, end, root.as_ref())
            .await?;
        let h = meta.headers.clone();
        let mut out = GetObjectOutput {
            accept_ranges: Some("bytes".into()),
            body: Some(StreamingBlob::wrap(stream)),
            content_length: i64::try_from(end - start).ok(),
            content_range: range
                .map(|(s, e)| format!("bytes {s}-{}/{}", e.saturating_sub(1), meta.size)),
            e_tag: Some(quoted(&meta.etag)),
            last_modified: Some(timestamp(meta.last_modified_ms)),
            content_type: input
                .response_content_type
                .or(h.content_type)
                .or_else(|| Some("binary/octet-stream".into())),
            content_encoding: input.response_content_encoding.or(h.content_encoding),
            content_disposition: input.response_content_disposition.or(h.content_disposition),
            content_language: input.response_content_language.or(h.content_language),
            cache_control: input.response_cache_control.or(h.cache_control),
            expires: h
                .expires
                .as_deref()
                .and_then(|e| Timestamp::parse(TimestampFormat::HttpDate, e).ok()),
            metadata: Some(h.user.into_iter().collect()).filter(|m: &Metadata| !m.is_empty()),
            parts_count: meta
                .parts
                .and_then(|p| i32::try_from(p).ok())
                .filter(|_| input.part_number.is_some()),
            tag_count: i32::try_from(meta.tags.len()).ok().filter(|n| *n > 0),
            version_id: meta.version_id.clone(),
            expiration: super::lifecycle::read_expiration_header(
                &self.store,
                &bucket,
                &input.key,
                &meta,
                input.version_id.as_deref(),
            )
            .await,
            ..Default::default()
        };
        (
            out.object_lock_mode,
            out.object_lock_retain_until_date,
            out.object_lock_legal_hold_status,
        ) = super::lock::headers(&meta);
        set_sse!(out, Echo::of_meta(&meta, customer.as_ref()));
        // Only a checksum of exactly the returned bytes may be sent: SDKs validate it.
        if range.is_none() && input.checksum_mode.is_some() {
            set_checksum!(out, meta.checksum.as_ref());
            out.checksum_type = meta
                .checksum
                .as_ref()
                .map(|c| ChecksumType::from(c.kind.name().to_string()));
        }
        Ok(out)
    }

    pub(crate) async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> Res<HeadObjectOutput> {
        let input = req.input;
        // HEAD needs no data key: S3 answers it without calling KMS (only SSE-C keys are
        // checked, since they come with the request).
        let (meta, bucket) = self
            .store
            .head_version_in(&input.bucket, &input.key, input.version_id.as_deref())
            .await?;
        let customer = sse::customer_key(
            input.sse_customer_algorithm.as_ref(),
            input.sse_customer_key.as_ref(),
            input.sse_customer_key_md5.as_ref(),
        )?;
        if !matches!(meta.encryption, Some(Encryption::Kms { .. })) {
            self.store
                .root_for(&meta, customer.as_ref(), &KmsCaller::Service)
                .await?;
        } else if customer.is_some() {
            return Err(Error::InvalidRequest(
                "The encryption parameters are not applicable to this object.".into(),
            ));
        }
        conditions(
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )
        .check_read(&meta)?;
        let range = wanted_range(&meta, input.range.as_ref(), input.part_number)?;
        let (start, end) = range.unwrap_or((0, meta.size));
        let h = meta.headers.clone();
        let mut out = HeadObjectOutput {
            accept_ranges: Some("bytes".into()),
            content_length: i64::try_from(end - start).ok(),
            content_range: range
                .map(|(s, e)| format!("bytes {s}-{}/{}", e.saturating_sub(1), meta.size)),
            e_tag: Some(quoted(&meta.etag)),
            last_modified: Some(timestamp(meta.last_modified_ms)),
            content_type: h
                .content_type
                .or_else(|| Some("binary/octet-stream".into())),
            content_encoding: h.content_encoding,
            content_disposition: h.content_disposition,
            content_language: h.content_language,
            cache_control: h.cache_control,
            expires: h
                .expires
                .as_deref()
                .and_then(|e| Timestamp::parse(TimestampFormat::HttpDate, e).ok()),
            metadata: Some(h.user.into_iter().collect()).filter(|m: &Metadata| !m.is_empty()),
            parts_count: meta
                .parts
                .and_then(|p| i32::try_from(p).ok())
                .filter(|_| input.part_number.is_some()),
            version_id: meta.version_id.clone(),
            expiration: super::lifecycle::read_expiration_header(
                &self.store,
                &bucket,
                &input.key,
                &meta,
                input.version_id.as_deref(),
            )
            .await,
            ..Default::default()
        };
        (
            out.object_lock_mode,
            out.object_lock_retain_until_date,
            out.object_lock_legal_hold_status,
        ) = super::lock::headers(&meta);
        set_sse!(out, Echo::of_meta(&meta, customer.as_ref()));
        if range.is_none() && input.checksum_mode.is_some() {
            set_checksum!(out, meta.checksum.as_ref());
            out.checksum_type = meta
                .checksum
                .as_ref()
                .map(|c| ChecksumType::from(c.kind.name().to_string()));
        }
        Ok(out)
    }

    pub(crate) async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> Res<DeleteObjectOutput> {
        let input = req.input;
        if let Some(cond) = &input.if_match {
            let meta = self.store.head_object(&input.bucket, &input.key).await?;
            conditions(Some(cond), None, None, None).check_read(&meta)?;
        }
        let deleted = self
            .store
            .delete_object_with(
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
                input.bypass_governance_retention.unwrap_or(false),
            )
            .await?;
        Ok(DeleteObjectOutput {
            delete_marker: deleted.delete_marker.then_some(true),
            version_id: deleted.version_id,
            ..Default::default()
        })
    }

    pub(crate) async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> Res<DeleteObjectsOutput> {
        // DeleteObjects requires an integrity header
        // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html).
        let has_integrity = req.headers.contains_key("content-md5")
            || req
                .headers
                .keys()
                .any(|k| k.as_str().starts_with("x-amz-checksum-"));
        if !has_integrity {
            return Err(Error::InvalidRequest(
                "Missing required header for this request: Content-Md5.".into(),
            ));
        }
        let input = req.input;
        self.store.bucket(&input.bucket).await?;
        if input.delete.objects.len() > 1000 {
            return Err(Error::MalformedXml);
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let bypass = input.bypass_governance_retention.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for obj in input.delete.objects {
            let version = obj.version_id.as_deref();
            match self
                .store
                .delete_object_with(&input.bucket, &obj.key, version, bypass)
                .await
            {
                Ok(_) if quiet => {}
                Ok(d) => deleted.push(DeletedObject {
                    key: Some(obj.key),
                    // Deleting a version names it; making a marker names the marker.
                    version_id: obj.version_id.clone(),
                    delete_marker: d.delete_marker.then_some(true),
                    delete_marker_version_id: d.version_id.filter(|_| d.delete_marker),
                }),
                Err(e) => errors.push(s3s::dto::Error {
                    code: Some(e.code().to_string()),
                    key: Some(obj.key),
                    message: Some(e.to_string()),
                    version_id: obj.version_id,
                }),
            }
        }
        Ok(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors).filter(|e| !e.is_empty()),
            ..Default::default()
        })
    }

    pub(crate) async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> Res<CopyObjectOutput> {
        let caller = sse::caller(&req);
        let input = req.input;
        let (src_bucket, src_key, src_version) = copy_source(&input.copy_source)?;
        let replace_meta = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let replace_tags = input
            .tagging_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
        let source_key = sse::customer_key(
            input.copy_source_sse_customer_algorithm.as_ref(),
            input.copy_source_sse_customer_key.as_ref(),
            input.copy_source_sse_customer_key_md5.as_ref(),
        )?;
        let customer = sse::customer_key(
            input.sse_customer_algorithm.as_ref(),
            input.sse_customer_key.as_ref(),
            input.sse_customer_key_md5.as_ref(),
        )?;
        let encryption = sse::seal_request(
            input.server_side_encryption.as_ref(),
            customer.clone(),
            input.ssekms_key_id.as_ref(),
            input.ssekms_encryption_context.as_ref(),
        )?;
        if !replace_meta
            && !replace_tags
            && encryption.is_none()
            && src_version.is_none()
            && src_bucket == &*input.bucket
            && src_key == &*input.key
        {
            return Err(Error::InvalidRequest("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.".into()));
        }
        let source = self
            .store
            .head_version(src_bucket, src_key, src_version)
            .await?;
        let headers = if replace_meta {
            headers_of(
                input.content_type,
                input.content_encoding,
                input.content_disposition,
                input.content_language,
                input.cache_control,
                input.expires.as_ref(),
                input.metadata,
            )?
        } else {
            source.headers.clone()
        };
        let tags = if replace_tags {
            limits::header_tags(input.tagging.as_deref())?
        } else {
            source.tags.clone()
        };
        let cond = conditions(
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        );
        let algorithm = input
            .checksum_algorithm
            .as_ref()
            .and_then(|a| Algorithm::parse(a.as_str()));
        let acl = self
            .object_acl_for(&input.bucket, super::acl::object_acl_request!(input))
            .await?;
        let lock = super::lock::request(
            input.object_lock_mode.as_ref(),
            input.object_lock_retain_until_date.as_ref(),
            input.object_lock_legal_hold_status.as_ref(),
            None,
        )?;
        let (source, meta) = self
            .store
            .copy_object(
                (src_bucket, src_key),
                (&input.bucket, &input.key),
                CopyOptions {
                    source_version: src_version,
                    source_conditions: cond,
                    source_key: source_key.as_ref(),
                    replace: Some((headers, tags)),
                    checksum: algorithm,
                    encryption,
                    acl,
                    lock,
                    caller,
                },
            )
            .await?;
        let mut result = CopyObjectResult {
            e_tag: Some(quoted(&meta.etag)),
            last_modified: Some(timestamp(meta.last_modified_ms)),
            ..Default::default()
        };
        set_checksum!(result, meta.checksum.as_ref());
        let mut out = CopyObjectOutput {
            copy_object_result: Some(result),
            copy_source_version_id: source.version_id,
            version_id: meta.version_id.clone(),
            ..Default::default()
        };
        let echo = Echo::of_meta(&meta, customer.as_ref());
        out.ssekms_encryption_context = echo.kms_context.clone();
        set_sse!(out, echo);
        Ok(out)
    }

    pub(crate) async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> Res<PutObjectTaggingOutput> {
        let input = req.input;
        let pairs = input
            .tagging
            .tag_set
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect();
        let tags = limits::tag_set(pairs, TagSource::Document)?;
        let version = input.version_id.as_deref();
        self.store
            .head_version(&input.bucket, &input.key, version)
            .await?;
        self.store
            .set_object_tags(&input.bucket, &input.key, version, tags)
            .await?;
        Ok(PutObjectTaggingOutput {
            version_id: input.version_id,
        })
    }

    pub(crate) async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> Res<GetObjectTaggingOutput> {
        let input = req.input;
        let meta = self
            .store
            .head_version(&input.bucket, &input.key, input.version_id.as_deref())
            .await?;
        Ok(GetObjectTaggingOutput {
            tag_set: meta
                .tags
                .into_iter()
                .map(|(k, v)| Tag {
                    key: Some(k),
                    value: Some(v),
                })
                .collect(),
            version_id: meta.version_id,
        })
    }
}
