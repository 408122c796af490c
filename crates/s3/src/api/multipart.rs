//! Multipart upload operations on top of `store::multipart`.

use futures_util::TryStreamExt;
use s3s::S3Request;
use s3s::dto::*;

use super::objects::{ChecksumRequest, headers_of, parse_tagging, set_checksum};
use super::{Handler, body_error, quoted, timestamp};
use crate::error::Error;
use crate::store::checksum::Algorithm;
use crate::store::objects::{Conditions, PutOptions};

type Res<T> = Result<T, Error>;

impl Handler {
    pub(crate) async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> Res<CreateMultipartUploadOutput> {
        let input = req.input;
        let algorithm = input
            .checksum_algorithm
            .as_ref()
            .and_then(|a| Algorithm::parse(a.as_str()));
        let opts = PutOptions {
            headers: headers_of(
                input.content_type,
                input.content_encoding,
                input.content_disposition,
                input.content_language,
                input.cache_control,
                input.expires.as_ref(),
                input.metadata,
            ),
            tags: parse_tagging(input.tagging.as_deref())?,
            checksum: algorithm,
            ..Default::default()
        };
        let id = self.store.create_upload(&input.bucket, &input.key, opts)?;
        Ok(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            checksum_algorithm: input.checksum_algorithm,
            ..Default::default()
        })
    }

    pub(crate) async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> Res<UploadPartOutput> {
        let trailers = req.trailing_headers.clone();
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
                        verify,
                    )
                    .await?
            }
        };
        let mut out = UploadPartOutput {
            e_tag: Some(quoted(&part.etag)),
            ..Default::default()
        };
        set_checksum!(out, part.checksum.as_ref());
        Ok(out)
    }

    pub(crate) async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> Res<CompleteMultipartUploadOutput> {
        let input = req.input;
        let mut chosen = Vec::new();
        for p in input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
        {
            let n = p
                .part_number
                .and_then(|n| u32::try_from(n).ok())
                .ok_or(Error::MalformedXml)?;
            let etag = p
                .e_tag
                .map(|e| e.value().to_string())
                .ok_or(Error::InvalidPart)?;
            chosen.push((n, etag));
        }
        let cond = Conditions {
            if_none_match: input.if_none_match.map(|c| {
                if c.is_any() {
                    "*".to_string()
                } else {
                    c.as_etag()
                        .map(|e| e.value().to_string())
                        .unwrap_or_default()
                }
            }),
            ..Default::default()
        };
        let meta = self
            .store
            .complete_upload(&input.bucket, &input.key, &input.upload_id, &chosen, &cond)
            .await?;
        Ok(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(quoted(&meta.etag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
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
            .upload(&input.bucket, &input.key, &input.upload_id)?;
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
            .list_parts(&input.upload_id)?
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
            owner: Some(super::list::owner()),
            parts: Some(parts),
            ..Default::default()
        })
    }

    pub(crate) async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> Res<ListMultipartUploadsOutput> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let uploads = self
            .store
            .list_uploads(&input.bucket)?
            .into_iter()
            .filter(|(_, u)| u.key.starts_with(&prefix))
            .take(1000)
            .map(|(id, u)| MultipartUpload {
                initiated: Some(timestamp(u.initiated_ms)),
                key: Some(u.key),
                upload_id: Some(id),
                owner: Some(super::list::owner()),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                ..Default::default()
            })
            .collect();
        Ok(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            is_truncated: Some(false),
            max_uploads: Some(1000),
            uploads: Some(uploads),
            ..Default::default()
        })
    }
}
