//! Multipart upload operations on top of `store::multipart`.

use futures_util::TryStreamExt;
use s3s::S3Request;
use s3s::dto::*;

use super::objects::{ChecksumRequest, copy_source, headers_of, set_checksum};
use super::sse::{self, Echo, set_sse};
use super::{Handler, body_error, quoted, timestamp};
use crate::error::Error;
use crate::store::checksum::{Algorithm, Kind};
use crate::store::multipart::{ChosenPart, Completion, PartCopy};
use crate::store::objects::PutOptions;

type Res<T> = Result<T, Error>;

impl Handler {
    pub(crate) async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> Res<CreateMultipartUploadOutput> {
        let caller = sse::caller(&req);
        let input = req.input;
        let algorithm = input
            .checksum_algorithm
            .as_ref()
            .and_then(|a| Algorithm::parse(a.as_str()));
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
        let acl = self
            .object_acl_for(&input.bucket, super::acl::object_acl_request!(input))
            .await?;
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
            tags: crate::limits::header_tags(input.tagging.as_deref())?,
            checksum: algorithm,
            encryption,
            lock: super::lock::request(
                input.object_lock_mode.as_ref(),
                input.object_lock_retain_until_date.as_ref(),
                input.object_lock_legal_hold_status.as_ref(),
                None,
            )?,
            caller,
            ..Default::default()
        };
        let kind = input
            .checksum_type
            .as_ref()
            .map(|t| {
                Kind::parse(t.as_str()).ok_or_else(|| {
                    Error::InvalidRequest("Value for x-amz-checksum-type header is invalid.".into())
                })
            })
            .transpose()?;
        let id = self
            .store
            .create_upload(&input.bucket, &input.key, opts, kind)
            .await?;
        let upload = self.store.upload(&input.bucket, &input.key, &id).await?;
        let mut out = CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            checksum_algorithm: input.checksum_algorithm,
            checksum_type: input.checksum_type,
            ..Default::default()
        };
        let echo = Echo::of(upload.encryption.as_ref(), customer.as_ref());
        out.ssekms_encryption_context = echo.kms_context.clone();
        set_sse!(out, echo);
        Ok(out)
    }

    pub(crate) async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> Res<UploadPartOutput> {
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
        let number = u32::try_from(input.part_number).unwrap_or(0);
        let customer = sse::customer_key(
            input.sse_customer_algorithm.as_ref(),
            input.sse_customer_key.as_ref(),
            input.sse_customer_key_md5.as_ref(),
        )?;
        let content_md5 = input.content_md5;
        let verify = |d: &_| sums.verify(d, content_md5.as_deref(), trailers.as_ref());
        let part = match input.body {
            Some(body) => {
                let body = body.map_err(body_error);
                self.store
                    .upload_part(
                        &input.bucket,
                        &input.key,
                        &input.upload_id,
                        number,
                        body,
                        false,
                        sums.algorithm,
                        customer.as_ref(),
                        &caller,
                        verify,
                    )
                    .await?
            }
            None => {
                let body = futures_util::stream::empty::<Result<bytes::Bytes, Error>>();
                self.store
                    .upload_part(
                        &input.bucket,
                        &input.key,
                        &input.upload_id,
                        number,
                        body,
                        false,
                        sums.algorithm,
                        customer.as_ref(),
                        &caller,
                        verify,
                    )
                    .await?
            }
        };
        let upload = self
            .store
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await;
        let mut out = UploadPartOutput {
            e_tag: Some(quoted(&part.etag)),
            ..Default::default()
        };
        if let Ok(upload) = upload {
            set_sse!(out, Echo::of(upload.encryption.as_ref(), customer.as_ref()));
        }
        set_checksum!(out, part.checksum.as_ref());
        Ok(out)
    }

    pub(crate) async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> Res<CompleteMultipartUploadOutput> {
        let input = req.input;
        let mut parts = Vec::new();
        for p in input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
        {
            let number = p
                .part_number
                .and_then(|n| u32::try_from(n).ok())
                .ok_or(Error::MalformedXml)?;
            let etag = p
                .e_tag
                .map(|e| e.value().to_string())
                .ok_or(Error::InvalidPart)?;
            let checksum = p
                .checksum_crc32
                .or(p.checksum_crc32c)
                .or(p.checksum_crc64nvme)
                .or(p.checksum_sha1)
                .or(p.checksum_sha256);
            parts.push(ChosenPart {
                number,
                etag,
                checksum,
            });
        }
        let checksum = [
            (Algorithm::Crc32, input.checksum_crc32),
            (Algorithm::Crc32c, input.checksum_crc32c),
            (Algorithm::Crc64Nvme, input.checksum_crc64nvme),
            (Algorithm::Sha1, input.checksum_sha1),
            (Algorithm::Sha256, input.checksum_sha256),
        ]
        .into_iter()
        .find_map(|(a, v)| v.map(|v| (a, v)));
        let completion = Completion {
            parts,
            checksum,
            checksum_kind: input
                .checksum_type
                .as_ref()
                .and_then(|t| Kind::parse(t.as_str())),
            object_size: input.mpu_object_size.and_then(|n| u64::try_from(n).ok()),
            conditions: super::objects::conditions(
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
                None,
                None,
            ),
        };
        let meta = self
            .store
            .complete_upload(&input.bucket, &input.key, &input.upload_id, &completion)
            .await?;
        let mut out = CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(quoted(&meta.etag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            version_id: meta.version_id.clone(),
            ..Default::default()
        };
        let echo = Echo::of_meta(&meta, None);
        (out.server_side_encryption, out.ssekms_key_id) = (echo.sse, echo.kms_key_id);
        set_checksum!(out, meta.checksum.as_ref());
        out.checksum_type = meta.checksum.as_ref().map(|c| checksum_type(c.kind));
        Ok(out)
    }

    pub(crate) async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> Res<UploadPartCopyOutput> {
        let caller = sse::caller(&req);
        let input = req.input;
        let (src_bucket, src_key, src_version) = copy_source(&input.copy_source)?;
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
        let range = input
            .copy_source_range
            .as_deref()
            .map(parse_copy_range)
            .transpose()?;
        let cond = super::objects::conditions(
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        );
        let number = u32::try_from(input.part_number).unwrap_or(0);
        let part = self
            .store
            .upload_part_copy(
                &input.bucket,
                &input.key,
                &input.upload_id,
                number,
                (src_bucket, src_key),
                range,
                &PartCopy {
                    source_version: src_version,
                    source_conditions: cond,
                    source_key: source_key.as_ref(),
                    key: customer.as_ref(),
                    caller,
                },
            )
            .await?;
        let mut result = CopyPartResult {
            e_tag: Some(quoted(&part.etag)),
            last_modified: Some(timestamp(part.last_modified_ms)),
            ..Default::default()
        };
        set_checksum!(result, part.checksum.as_ref());
        let source = self
            .store
            .head_version(src_bucket, src_key, src_version)
            .await
            .ok();
        Ok(UploadPartCopyOutput {
            copy_part_result: Some(result),
            copy_source_version_id: source.and_then(|s| s.version_id),
            ..Default::default()
        })
    }

    pub(crate) async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> Res<AbortMultipartUploadOutput> {
        let input = req.input;
        self.store
            .abort_upload(&input.bucket, &input.key, &input.upload_id)
            .await?;
        Ok(AbortMultipartUploadOutput::default())
    }

    pub(crate) async fn list_parts(&self, req: S3Request<ListPartsInput>) -> Res<ListPartsOutput> {
        let input = req.input;
        self.store
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let marker = input
            .part_number_marker
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(0);
        let max = input
            .max_parts
            .and_then(|m| usize::try_from(m).ok())
            .unwrap_or(1000)
            .min(1000);
        let all: Vec<_> = self
            .store
            .list_parts(&input.upload_id)
            .await?
            .into_iter()
            .filter(|(n, _)| *n > marker)
            .collect();
        let truncated = all.len() > max;
        let parts: Vec<Part> = all
            .into_iter()
            .take(max)
            .map(|(n, p)| {
                let mut part = Part {
                    e_tag: Some(quoted(&p.etag)),
                    last_modified: Some(timestamp(p.last_modified_ms)),
                    part_number: i32::try_from(n).ok(),
                    size: i64::try_from(p.blob.len).ok(),
                    ..Default::default()
                };
                set_checksum!(part, p.checksum.as_ref());
                part
            })
            .collect();
        Ok(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            is_truncated: Some(truncated),
            max_parts: Some(i32::try_from(max).unwrap_or(1000)),
            next_part_number_marker: parts
                .last()
                .and_then(|p| p.part_number)
                .filter(|_| truncated),
            part_number_marker: input.part_number_marker,
            owner: Some(super::list::owner(&self.owner_id)),
            parts: Some(parts),
            ..Default::default()
        })
    }

    /// ListMultipartUploads in key then creation order, paged by `key-marker` and
    /// `upload-id-marker`, with `delimiter` rolling keys up into CommonPrefixes
    /// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html).
    pub(crate) async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> Res<ListMultipartUploadsOutput> {
        let input = req.input;
        let max = match input.max_uploads {
            None => 1000,
            Some(n) if n < 0 => {
                return Err(Error::InvalidArgument(
                    "Argument max-uploads must be an integer between 0 and 2147483647".into(),
                ));
            }
            Some(n) => usize::try_from(n).unwrap_or(1000).min(1000),
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let key_marker = input.key_marker.clone().unwrap_or_default();
        // The upload-id marker only counts together with a key marker.
        let id_marker = input
            .upload_id_marker
            .clone()
            .filter(|_| !key_marker.is_empty());
        let after_marker = |key: &str, id: &str| match &id_marker {
            _ if key_marker.is_empty() => true,
            Some(m) => key > key_marker.as_str() || (key == key_marker && id > m.as_str()),
            None => key > key_marker.as_str(),
        };
        let enc = super::list::Encoder::new(input.encoding_type.as_ref());
        let mut uploads = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut last: Option<(String, Option<String>)> = None;
        let mut truncated = false;
        for (id, u) in self.store.list_uploads(&input.bucket).await? {
            if !u.key.starts_with(&prefix) || !after_marker(&u.key, &id) {
                continue;
            }
            let rolled = delimiter.as_deref().and_then(|d| {
                let rest = u.key.get(prefix.len()..)?;
                rest.find(d)
                    .map(|i| format!("{prefix}{}", rest.get(..i + d.len()).unwrap_or("")))
            });
            if let Some(cp) = &rolled
                && (prefixes.last() == Some(cp) || cp.as_str() <= key_marker.as_str())
            {
                continue;
            }
            if uploads.len() + prefixes.len() >= max {
                truncated = true;
                break;
            }
            match rolled {
                Some(cp) => {
                    last = Some((cp.clone(), None));
                    prefixes.push(cp);
                }
                None => {
                    last = Some((u.key.clone(), Some(id.clone())));
                    uploads.push(MultipartUpload {
                        initiated: Some(timestamp(u.initiated_ms)),
                        key: Some(enc.apply(u.key)),
                        upload_id: Some(id),
                        owner: Some(super::list::owner(&self.owner_id)),
                        initiator: Some(Initiator {
                            display_name: Some("nuvem".into()),
                            id: super::list::owner(&self.owner_id).id,
                        }),
                        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                        checksum_algorithm: u
                            .checksum
                            .map(|a| ChecksumAlgorithm::from(a.name().to_string())),
                        checksum_type: u.checksum_kind.map(checksum_type),
                    });
                }
            }
        }
        let (next_key, next_id) = match last.filter(|_| truncated) {
            Some((k, id)) => (Some(enc.apply(k)), id),
            None => (None, None),
        };
        Ok(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix.map(|p| enc.apply(p)),
            delimiter: input.delimiter.map(|d| enc.apply(d)),
            key_marker: input.key_marker.map(|k| enc.apply(k)),
            upload_id_marker: input.upload_id_marker,
            encoding_type: input.encoding_type,
            is_truncated: Some(truncated),
            max_uploads: Some(i32::try_from(max).unwrap_or(1000)),
            next_key_marker: next_key,
            next_upload_id_marker: next_id,
            common_prefixes: Some(
                prefixes
                    .into_iter()
                    .map(|p| CommonPrefix {
                        prefix: Some(enc.apply(p)),
                    })
                    .collect(),
            )
            .filter(|p: &Vec<CommonPrefix>| !p.is_empty()),
            uploads: Some(uploads),
            ..Default::default()
        })
    }
}

fn checksum_type(kind: Kind) -> ChecksumType {
    ChecksumType::from(kind.name().to_string())
}

/// `x-amz-copy-source-range: bytes=first-last` (both required, inclusive) as `start..end`.
fn parse_copy_range(v: &str) -> Res<(u64, u64)> {
    let bad = || {
        Error::InvalidArgument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy".into(),
        )
    };
    let (first, last) = v
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let first: u64 = first.trim().parse().map_err(|_| bad())?;
    let last: u64 = last.trim().parse().map_err(|_| bad())?;
    if first > last {
        return Err(bad());
    }
    Ok((first, last.saturating_add(1)))
}
