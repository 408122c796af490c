//! The protocol layer: s3s parses requests (routing, XML, SigV4/SigV2, aws-chunked) into
//! DTOs and calls [`Handler`], which maps them onto [`crate::store`] and back. This is the
//! only place (with `service`) that knows s3s types.
//!
//! Must not: hold state of its own or touch files; everything persistent is in the store.

mod access;
mod acl;
mod buckets;
mod lifecycle;
mod list;
mod lock;
mod multipart;
mod objects;
pub mod post;
mod sse;
mod tagging;

use std::time::{Duration, UNIX_EPOCH};

use s3s::dto::{Timestamp, TimestampFormat};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

pub use access::{KeyringAuth, PolicyAccess, SecretLookup, SecretSlot};

use crate::error::Error;
use crate::store::ObjectStore;

/// Implements the S3 operations on an [`ObjectStore`].
#[derive(Clone)]
pub struct Handler {
    pub(crate) store: ObjectStore,
    pub(crate) region: String,
    /// The account's canonical user id: the owner of every bucket and object
    /// ([`crate::acl::canonical_id`]).
    pub(crate) owner_id: String,
}

impl Handler {
    pub fn new(store: ObjectStore, region: String, account_id: &str) -> Self {
        Self {
            store,
            region,
            owner_id: crate::acl::canonical_id(account_id),
        }
    }
}

/// Converts a store error into the s3s error that renders it.
pub(crate) fn s3_error(e: Error) -> S3Error {
    if e.is_internal() {
        // Damaged object data was already logged at ERROR where it was found, with the
        // bucket, key and blob: one line per failure.
        if !matches!(e, Error::BlobDamaged { .. }) {
            tracing::error!(error = %e, "internal failure in the object store");
        }
        let mut err = S3Error::with_message(
            S3ErrorCode::InternalError,
            "We encountered an internal error. Please try again.",
        );
        let mut logged = http::HeaderMap::new();
        logged.insert(
            crate::error_body::CAUSE_LOGGED,
            http::HeaderValue::from_static("1"),
        );
        err.set_headers(logged);
        return err;
    }
    let code = S3ErrorCode::from_bytes(e.code().as_bytes()).unwrap_or(S3ErrorCode::InvalidRequest);
    let mut err = S3Error::with_message(code, e.to_string());
    err.set_status_code(e.status());
    // A delete marker answers with its headers
    // (https://docs.aws.amazon.com/AmazonS3/latest/userguide/DeleteMarker.html).
    let marker = match &e {
        Error::DeleteMarker { version_id, .. } => Some((version_id, None)),
        Error::MethodNotAllowed {
            version_id,
            last_modified_ms,
        } => Some((version_id, Some(*last_modified_ms))),
        _ => None,
    };
    if let Some((version_id, modified)) = marker {
        let mut h = http::HeaderMap::new();
        h.insert(
            "x-amz-delete-marker",
            http::HeaderValue::from_static("true"),
        );
        if let Ok(v) = http::HeaderValue::from_str(version_id) {
            h.insert("x-amz-version-id", v);
        }
        if let Some(ms) = modified {
            let mut buf = Vec::new();
            if timestamp(ms)
                .format(TimestampFormat::HttpDate, &mut buf)
                .is_ok()
                && let Ok(v) = http::HeaderValue::from_bytes(&buf)
            {
                h.insert(http::header::LAST_MODIFIED, v);
            }
        }
        err.set_headers(h);
    }
    if let Error::NotModified {
        etag,
        last_modified_ms,
    } = &e
    {
        let mut h = http::HeaderMap::new();
        if let Ok(v) = http::HeaderValue::from_str(&format!("\"{etag}\"")) {
            h.insert(http::header::ETAG, v);
        }
        if let Some(v) = http_date_header(*last_modified_ms) {
            h.insert(http::header::LAST_MODIFIED, v);
        }
        err.set_headers(h);
    }
    err
}

fn http_date_header(ms: i64) -> Option<http::HeaderValue> {
    let mut buf = Vec::new();
    timestamp(ms)
        .format(TimestampFormat::HttpDate, &mut buf)
        .ok()?;
    http::HeaderValue::from_bytes(&buf).ok()
}

/// Maps a body stream error from s3s (payload hash, chunk signature, length) to ours.
pub(crate) fn body_error(e: s3s::StdError) -> Error {
    let text = e.to_string();
    if text.contains("Sha256Mismatch") {
        Error::ContentSha256Mismatch
    } else if text.contains("SignatureMismatch") {
        Error::SignatureDoesNotMatch
    } else if text.contains("LengthMismatch") || text.contains("Incomplete") {
        Error::IncompleteBody
    } else {
        Error::BodyRead(text)
    }
}

pub(crate) fn timestamp(ms: i64) -> Timestamp {
    let ms = u64::try_from(ms).unwrap_or(0);
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(ms))
}

/// Seconds since the epoch of an s3s timestamp.
pub(crate) fn epoch_seconds(t: &Timestamp) -> Option<i64> {
    let mut buf = Vec::new();
    t.format(TimestampFormat::EpochSeconds, &mut buf).ok()?;
    let s = std::str::from_utf8(&buf).ok()?;
    s.split('.').next()?.parse().ok()
}

pub(crate) fn quoted(etag: &str) -> s3s::dto::ETag {
    s3s::dto::ETag::Strong(etag.to_string())
}

type R<T> = S3Result<S3Response<T>>;

macro_rules! delegate {
    ($($name:ident: $input:ident => $output:ident;)*) => {
        #[async_trait::async_trait]
        impl S3 for Handler {
            $(
                async fn $name(&self, req: S3Request<s3s::dto::$input>) -> R<s3s::dto::$output> {
                    self.$name(req).await.map(S3Response::new).map_err(s3_error)
                }
            )*
        }
    };
}

delegate! {
    create_bucket: CreateBucketInput => CreateBucketOutput;
    head_bucket: HeadBucketInput => HeadBucketOutput;
    list_buckets: ListBucketsInput => ListBucketsOutput;
    delete_bucket: DeleteBucketInput => DeleteBucketOutput;
    get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
    get_bucket_versioning: GetBucketVersioningInput => GetBucketVersioningOutput;
    put_bucket_versioning: PutBucketVersioningInput => PutBucketVersioningOutput;
    put_bucket_encryption: PutBucketEncryptionInput => PutBucketEncryptionOutput;
    get_bucket_encryption: GetBucketEncryptionInput => GetBucketEncryptionOutput;
    delete_bucket_encryption: DeleteBucketEncryptionInput => DeleteBucketEncryptionOutput;
    put_bucket_policy: PutBucketPolicyInput => PutBucketPolicyOutput;
    get_bucket_policy: GetBucketPolicyInput => GetBucketPolicyOutput;
    delete_bucket_policy: DeleteBucketPolicyInput => DeleteBucketPolicyOutput;
    put_bucket_cors: PutBucketCorsInput => PutBucketCorsOutput;
    get_bucket_cors: GetBucketCorsInput => GetBucketCorsOutput;
    delete_bucket_cors: DeleteBucketCorsInput => DeleteBucketCorsOutput;
    put_bucket_website: PutBucketWebsiteInput => PutBucketWebsiteOutput;
    get_bucket_website: GetBucketWebsiteInput => GetBucketWebsiteOutput;
    delete_bucket_website: DeleteBucketWebsiteInput => DeleteBucketWebsiteOutput;
    put_object: PutObjectInput => PutObjectOutput;
    get_object: GetObjectInput => GetObjectOutput;
    head_object: HeadObjectInput => HeadObjectOutput;
    delete_object: DeleteObjectInput => DeleteObjectOutput;
    delete_objects: DeleteObjectsInput => DeleteObjectsOutput;
    copy_object: CopyObjectInput => CopyObjectOutput;
    put_object_tagging: PutObjectTaggingInput => PutObjectTaggingOutput;
    get_object_tagging: GetObjectTaggingInput => GetObjectTaggingOutput;
    list_objects_v2: ListObjectsV2Input => ListObjectsV2Output;
    list_objects: ListObjectsInput => ListObjectsOutput;
    list_object_versions: ListObjectVersionsInput => ListObjectVersionsOutput;
    create_multipart_upload: CreateMultipartUploadInput => CreateMultipartUploadOutput;
    upload_part: UploadPartInput => UploadPartOutput;
    complete_multipart_upload: CompleteMultipartUploadInput => CompleteMultipartUploadOutput;
    abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput;
    list_parts: ListPartsInput => ListPartsOutput;
    list_multipart_uploads: ListMultipartUploadsInput => ListMultipartUploadsOutput;
    upload_part_copy: UploadPartCopyInput => UploadPartCopyOutput;
    get_bucket_acl: GetBucketAclInput => GetBucketAclOutput;
    put_bucket_acl: PutBucketAclInput => PutBucketAclOutput;
    get_object_acl: GetObjectAclInput => GetObjectAclOutput;
    put_object_acl: PutObjectAclInput => PutObjectAclOutput;
    get_bucket_ownership_controls: GetBucketOwnershipControlsInput => GetBucketOwnershipControlsOutput;
    put_bucket_ownership_controls: PutBucketOwnershipControlsInput => PutBucketOwnershipControlsOutput;
    delete_bucket_ownership_controls: DeleteBucketOwnershipControlsInput => DeleteBucketOwnershipControlsOutput;
    get_public_access_block: GetPublicAccessBlockInput => GetPublicAccessBlockOutput;
    put_public_access_block: PutPublicAccessBlockInput => PutPublicAccessBlockOutput;
    delete_public_access_block: DeletePublicAccessBlockInput => DeletePublicAccessBlockOutput;
    get_bucket_policy_status: GetBucketPolicyStatusInput => GetBucketPolicyStatusOutput;
    put_bucket_lifecycle_configuration: PutBucketLifecycleConfigurationInput => PutBucketLifecycleConfigurationOutput;
    get_bucket_lifecycle_configuration: GetBucketLifecycleConfigurationInput => GetBucketLifecycleConfigurationOutput;
    delete_bucket_lifecycle: DeleteBucketLifecycleInput => DeleteBucketLifecycleOutput;
    put_object_lock_configuration: PutObjectLockConfigurationInput => PutObjectLockConfigurationOutput;
    get_object_lock_configuration: GetObjectLockConfigurationInput => GetObjectLockConfigurationOutput;
    put_object_retention: PutObjectRetentionInput => PutObjectRetentionOutput;
    get_object_retention: GetObjectRetentionInput => GetObjectRetentionOutput;
    put_object_legal_hold: PutObjectLegalHoldInput => PutObjectLegalHoldOutput;
    get_object_legal_hold: GetObjectLegalHoldInput => GetObjectLegalHoldOutput;
    delete_object_tagging: DeleteObjectTaggingInput => DeleteObjectTaggingOutput;
    put_bucket_tagging: PutBucketTaggingInput => PutBucketTaggingOutput;
    get_bucket_tagging: GetBucketTaggingInput => GetBucketTaggingOutput;
    delete_bucket_tagging: DeleteBucketTaggingInput => DeleteBucketTaggingOutput;
    get_object_attributes: GetObjectAttributesInput => GetObjectAttributesOutput;
}
