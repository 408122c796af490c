//! DeleteObjectTagging, bucket tagging (Put/Get/DeleteBucketTagging) and GetObjectAttributes
//! (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectAttributes.html).

use s3s::S3Request;
use s3s::dto::*;

use super::objects::set_checksum;
use super::{Handler, quoted, timestamp};
use crate::error::Error;
use crate::limits;
use crate::store::checksum::Algorithm;

type Res<T> = Result<T, Error>;

/// GetObjectAttributes lists at most this many parts per page.
const MAX_PARTS: usize = 1000;

impl Handler {
    pub(crate) async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> Res<DeleteObjectTaggingOutput> {
        let input = req.input;
        let version = input.version_id.as_deref();
        let meta = self
            .store
            .head_version(&input.bucket, &input.key, version)
            .await?;
        self.store
            .set_object_tags(&input.bucket, &input.key, version, Default::default())
            .await?;
        Ok(DeleteObjectTaggingOutput {
            version_id: meta.version_id,
        })
    }

    pub(crate) async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> Res<PutBucketTaggingOutput> {
        let input = req.input;
        let pairs = input
            .tagging
            .tag_set
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect();
        let tags = limits::bucket_tag_set(pairs)?;
        self.store
            .update_bucket(&input.bucket, move |b| {
                b.tags = Some(tags.clone());
                Ok(())
            })
            .await?;
        Ok(PutBucketTaggingOutput {})
    }

    pub(crate) async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> Res<GetBucketTaggingOutput> {
        let b = self.store.bucket(&req.input.bucket).await?;
        let Some(tags) = b.tags.filter(|t| !t.is_empty()) else {
            return Err(Error::NoSuchTagSet(b.name));
        };
        Ok(GetBucketTaggingOutput {
            tag_set: tags
                .into_iter()
                .map(|(k, v)| Tag {
                    key: Some(k),
                    value: Some(v),
                })
                .collect(),
        })
    }

    pub(crate) async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> Res<DeleteBucketTaggingOutput> {
        self.store
            .update_bucket(&req.input.bucket, |b| {
                b.tags = None;
                Ok(())
            })
            .await?;
        Ok(DeleteBucketTaggingOutput {})
    }

    /// The attributes asked for in `x-amz-object-attributes`; parts (of multipart objects)
    /// paged with `x-amz-max-parts` and `x-amz-part-number-marker`.
    pub(crate) async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> Res<GetObjectAttributesOutput> {
        let input = req.input;
        // One header, its names separated by commas (as boto3 sends it), or several headers.
        let names: Vec<&str> = input
            .object_attributes
            .iter()
            .flat_map(|a| a.as_str().split(','))
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .collect();
        let wanted = |a: &str| names.contains(&a);
        if names.is_empty() {
            return Err(Error::InvalidArgument(
                "Invalid attribute name specified.".into(),
            ));
        }
        if let Some(bad) = names.iter().find(|a| {
            ![
                ObjectAttributes::CHECKSUM,
                ObjectAttributes::ETAG,
                ObjectAttributes::OBJECT_PARTS,
                ObjectAttributes::OBJECT_SIZE,
                ObjectAttributes::STORAGE_CLASS,
            ]
            .contains(a)
        }) {
            return Err(Error::InvalidArgument(format!(
                "Invalid attribute name specified: {bad}"
            )));
        }
        let meta = self
            .store
            .head_version(&input.bucket, &input.key, input.version_id.as_deref())
            .await?;
        let checksum = meta
            .checksum
            .as_ref()
            .filter(|_| wanted(ObjectAttributes::CHECKSUM))
            .map(|c| {
                let mut out = Checksum {
                    checksum_type: Some(ChecksumType::from(c.kind.name().to_string())),
                    ..Default::default()
                };
                set_checksum!(out, Some(c));
                out
            });
        let object_parts = meta
            .parts
            .filter(|_| wanted(ObjectAttributes::OBJECT_PARTS))
            .map(|count| {
                let max = input
                    .max_parts
                    .and_then(|m| usize::try_from(m).ok())
                    .unwrap_or(MAX_PARTS)
                    .min(MAX_PARTS);
                let marker = input
                    .part_number_marker
                    .and_then(|m| usize::try_from(m).ok())
                    .unwrap_or(0);
                let parts: Vec<ObjectPart> = meta
                    .blobs
                    .iter()
                    .enumerate()
                    .skip(marker)
                    .take(max)
                    .map(|(i, b)| ObjectPart {
                        part_number: i32::try_from(i + 1).ok(),
                        size: i64::try_from(b.len).ok(),
                        ..Default::default()
                    })
                    .collect();
                let last = parts.last().and_then(|p| p.part_number).unwrap_or(0);
                let truncated = usize::try_from(last).unwrap_or(0) < meta.blobs.len();
                GetObjectAttributesParts {
                    is_truncated: Some(truncated),
                    max_parts: i32::try_from(max).ok(),
                    next_part_number_marker: Some(last),
                    part_number_marker: i32::try_from(marker).ok(),
                    parts: Some(parts),
                    total_parts_count: i32::try_from(count).ok(),
                }
            });
        Ok(GetObjectAttributesOutput {
            checksum,
            delete_marker: None,
            e_tag: wanted(ObjectAttributes::ETAG).then(|| quoted(&meta.etag)),
            last_modified: Some(timestamp(meta.last_modified_ms)),
            object_parts,
            object_size: wanted(ObjectAttributes::OBJECT_SIZE)
                .then(|| i64::try_from(meta.size).ok())
                .flatten(),
            request_charged: None,
            storage_class: wanted(ObjectAttributes::STORAGE_CLASS)
                .then(|| StorageClass::from_static(StorageClass::STANDARD)),
            version_id: meta.version_id,
        })
    }
}
