//! The one error type of the object store, and how each variant looks to an S3 client.
//!
//! Codes, statuses and messages follow
//! https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList.
//! This module must not know the s3s types; `api` converts [`Error`] for the protocol layer
//! through [`Error::code`] and [`Error::status`].

use http::StatusCode;
use nuvem_aws::{AwsError, IntoAwsError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("The specified bucket does not exist")]
    NoSuchBucket(String),
    #[error("The specified key does not exist.")]
    NoSuchKey(String),
    #[error(
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )]
    NoSuchUpload(String),
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou(String),
    #[error("The bucket you tried to delete is not empty")]
    BucketNotEmpty(String),
    #[error("The specified bucket is not valid: {0}")]
    InvalidBucketName(String),
    #[error("The bucket policy does not exist")]
    NoSuchBucketPolicy(String),
    #[error("The CORS configuration does not exist")]
    NoSuchCorsConfiguration(String),
    #[error("The specified bucket does not have a website configuration")]
    NoSuchWebsiteConfiguration(String),
    #[error("The specified version does not exist.")]
    NoSuchVersion(String),
    /// The latest version of the key is a delete marker: 404 NoSuchKey with
    /// `x-amz-delete-marker: true` and the marker's version id.
    #[error("The specified key does not exist.")]
    DeleteMarker { key: String, version_id: String },
    /// GET/HEAD of a delete marker by its version id: 405 with `x-amz-delete-marker: true`.
    #[error("The specified method is not allowed against this resource.")]
    MethodNotAllowed {
        version_id: String,
        last_modified_ms: i64,
    },
    #[error("The encryption request you specified is not valid. The valid value is AES256.")]
    InvalidEncryptionAlgorithm,
    #[error("The server side encryption configuration was not found")]
    NoSuchEncryptionConfiguration(String),
    #[error("The lifecycle configuration does not exist")]
    NoSuchLifecycleConfiguration(String),
    #[error("The TagSet does not exist")]
    NoSuchTagSet(String),
    #[error("Object Lock configuration does not exist for this bucket")]
    ObjectLockConfigurationNotFound(String),
    #[error("The specified object does not have a ObjectLock configuration")]
    NoSuchObjectLockConfiguration,
    #[error("{0}")]
    InvalidBucketState(String),
    #[error("{0}")]
    NotImplemented(String),
    /// KMS refused a data key (SSE-KMS): S3 reports KMS's code prefixed with `KMS.`.
    #[error("{0}")]
    Kms(crate::kms::KmsFailure),
    #[error("At least one of the pre-conditions you specified did not hold")]
    PreconditionFailed,
    /// A GET/HEAD conditional that says the client's copy is current: 304 with the
    /// object's ETag and Last-Modified (RFC 9110 §15.4.5), no body.
    #[error("Not Modified")]
    NotModified { etag: String, last_modified_ms: i64 },
    #[error("The requested range is not satisfiable")]
    InvalidRange,
    #[error("The {0} you specified did not match the calculated checksum.")]
    BadDigest(&'static str),
    #[error("The Content-MD5 you specified is not valid.")]
    InvalidDigest,
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch,
    #[error("You did not provide the number of bytes specified by the Content-Length HTTP header.")]
    IncompleteBody,
    #[error(
        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
    )]
    InvalidPart,
    #[error(
        "The list of parts was not in ascending order. The parts list must be specified in order by part number."
    )]
    InvalidPartOrder,
    #[error("Your proposed upload is smaller than the minimum allowed object size.")]
    EntityTooSmall,
    #[error("You must provide the Content-Length HTTP header.")]
    MissingContentLength,
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    InvalidTag(String),
    #[error("Your metadata headers exceed the maximum allowed metadata size.")]
    MetadataTooLarge,
    #[error(
        "The XML you provided was not well-formed or did not validate against our published schema."
    )]
    MalformedXml,
    #[error("{0}")]
    MalformedPolicy(String),
    #[error("Access Denied")]
    AccessDenied,
    #[error("{0}")]
    AccessDeniedWith(String),
    /// An ACL other than the owner's full control on a bucket whose ownership is
    /// `BucketOwnerEnforced`
    /// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-ownership-error-responses.html).
    #[error("The bucket does not allow ACLs")]
    AccessControlListNotSupported,
    #[error("Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")]
    InvalidBucketAclWithObjectOwnership,
    #[error("The bucket ownership controls were not found")]
    OwnershipControlsNotFound(String),
    #[error("The public access block configuration was not found")]
    NoSuchPublicAccessBlockConfiguration(String),
    #[error("{0}")]
    MalformedAcl(String),
    #[error("The e-mail address you provided does not match any account on record.")]
    UnresolvableGrantByEmailAddress,
    #[error("This request does not support content")]
    UnexpectedContent,
    /// A POST upload whose form breaks its policy document: 403 AccessDenied with S3's
    /// "Invalid according to Policy: ..." message.
    #[error("Invalid according to Policy: {0}")]
    PostPolicy(String),
    #[error("Your proposed upload exceeds the maximum allowed size")]
    EntityTooLarge,
    #[error("{0}")]
    MalformedPost(&'static str),
    #[error("Your POST request fields preceding the upload file were too large.")]
    MaxPostPreDataLengthExceeded,
    #[error("{0}")]
    InvalidPolicyDocument(String),
    #[error(
        "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."
    )]
    CorsForbidden,
    #[error("The request signature we calculated does not match the signature you provided.")]
    SignatureDoesNotMatch,
    #[error("storage: {0}")]
    Store(#[from] nuvem_store::Error),
    #[error("blob I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("stored metadata is unreadable: {0}")]
    Corrupt(String),
    /// An object's data on disk is not what was written (truncated, missing): answered as
    /// InternalError before any header is sent.
    #[error("blob {blob} is damaged: {problem}")]
    BlobDamaged { blob: String, problem: String },
    #[error(
        "the store's encrypted objects are under master key {stored}, and this server was given key {given}: use the same master key file on every node"
    )]
    MasterKeyMismatch { stored: String, given: String },
    #[error("the request body could not be read: {0}")]
    BodyRead(String),
}

impl Error {
    /// The S3 error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoSuchBucket(_) => "NoSuchBucket",
            Self::NoSuchKey(_) => "NoSuchKey",
            Self::NoSuchUpload(_) => "NoSuchUpload",
            Self::NoSuchVersion(_) => "NoSuchVersion",
            Self::DeleteMarker { .. } => "NoSuchKey",
            Self::MethodNotAllowed { .. } => "MethodNotAllowed",
            Self::InvalidEncryptionAlgorithm => "InvalidEncryptionAlgorithmError",
            Self::NoSuchEncryptionConfiguration(_) => {
                "ServerSideEncryptionConfigurationNotFoundError"
            }
            Self::NoSuchLifecycleConfiguration(_) => "NoSuchLifecycleConfiguration",
            Self::NoSuchTagSet(_) => "NoSuchTagSet",
            Self::ObjectLockConfigurationNotFound(_) => "ObjectLockConfigurationNotFoundError",
            Self::NoSuchObjectLockConfiguration => "NoSuchObjectLockConfiguration",
            Self::InvalidBucketState(_) => "InvalidBucketState",
            Self::NotImplemented(_) => "NotImplemented",
            Self::Kms(f) => match f {
                crate::kms::KmsFailure::NotFound(_) => "KMS.NotFoundException",
                crate::kms::KmsFailure::Disabled(_) => "KMS.DisabledException",
                crate::kms::KmsFailure::InvalidState(_) => "KMS.KMSInvalidStateException",
                crate::kms::KmsFailure::InvalidCiphertext(_) => "KMS.InvalidCiphertextException",
                crate::kms::KmsFailure::AccessDenied(_) => "AccessDenied",
                crate::kms::KmsFailure::Internal(_) => "InternalError",
            },
            Self::BucketAlreadyOwnedByYou(_) => "BucketAlreadyOwnedByYou",
            Self::BucketNotEmpty(_) => "BucketNotEmpty",
            Self::InvalidBucketName(_) => "InvalidBucketName",
            Self::NoSuchBucketPolicy(_) => "NoSuchBucketPolicy",
            Self::NoSuchCorsConfiguration(_) => "NoSuchCORSConfiguration",
            Self::NoSuchWebsiteConfiguration(_) => "NoSuchWebsiteConfiguration",
            Self::PreconditionFailed => "PreconditionFailed",
            Self::NotModified { .. } => "NotModified",
            Self::InvalidRange => "InvalidRange",
            Self::BadDigest(_) => "BadDigest",
            Self::InvalidDigest => "InvalidDigest",
            Self::ContentSha256Mismatch => "XAmzContentSHA256Mismatch",
            Self::IncompleteBody => "IncompleteBody",
            Self::InvalidPart => "InvalidPart",
            Self::InvalidPartOrder => "InvalidPartOrder",
            Self::EntityTooSmall => "EntityTooSmall",
            Self::MissingContentLength => "MissingContentLength",
            Self::InvalidArgument(_) => "InvalidArgument",
            Self::InvalidRequest(_) => "InvalidRequest",
            Self::BadRequest(_) => "BadRequest",
            Self::InvalidTag(_) => "InvalidTag",
            Self::MetadataTooLarge => "MetadataTooLarge",
            Self::MalformedXml => "MalformedXML",
            Self::MalformedPolicy(_) => "MalformedPolicy",
            Self::AccessDenied | Self::AccessDeniedWith(_) | Self::PostPolicy(_) => "AccessDenied",
            Self::AccessControlListNotSupported => "AccessControlListNotSupported",
            Self::InvalidBucketAclWithObjectOwnership => "InvalidBucketAclWithObjectOwnership",
            Self::OwnershipControlsNotFound(_) => "OwnershipControlsNotFoundError",
            Self::NoSuchPublicAccessBlockConfiguration(_) => "NoSuchPublicAccessBlockConfiguration",
            Self::MalformedAcl(_) => "MalformedACLError",
            Self::UnresolvableGrantByEmailAddress => "UnresolvableGrantByEmailAddress",
            Self::UnexpectedContent => "UnexpectedContent",
            Self::EntityTooLarge => "EntityTooLarge",
            Self::MalformedPost(_) => "MalformedPOSTRequest",
            Self::MaxPostPreDataLengthExceeded => "MaxPostPreDataLengthExceededError",
            Self::InvalidPolicyDocument(_) => "InvalidPolicyDocument",
            Self::CorsForbidden => "AccessForbidden",
            Self::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::Store(_)
            | Self::Io(_)
            | Self::Corrupt(_)
            | Self::BlobDamaged { .. }
            | Self::MasterKeyMismatch { .. } => "InternalError",
            Self::BodyRead(_) => "IncompleteBody",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoSuchBucket(_)
            | Self::NoSuchKey(_)
            | Self::NoSuchUpload(_)
            | Self::NoSuchVersion(_)
            | Self::DeleteMarker { .. }
            | Self::NoSuchEncryptionConfiguration(_)
            | Self::NoSuchLifecycleConfiguration(_)
            | Self::NoSuchTagSet(_)
            | Self::ObjectLockConfigurationNotFound(_)
            | Self::NoSuchObjectLockConfiguration
            | Self::NoSuchBucketPolicy(_)
            | Self::NoSuchCorsConfiguration(_)
            | Self::NoSuchWebsiteConfiguration(_)
            | Self::OwnershipControlsNotFound(_)
            | Self::NoSuchPublicAccessBlockConfiguration(_) => StatusCode::NOT_FOUND,
            Self::BucketAlreadyOwnedByYou(_)
            | Self::BucketNotEmpty(_)
            | Self::InvalidBucketState(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::NotModified { .. } => StatusCode::NOT_MODIFIED,
            Self::InvalidRange => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::MissingContentLength => StatusCode::LENGTH_REQUIRED,
            Self::AccessDenied
            | Self::AccessDeniedWith(_)
            | Self::PostPolicy(_)
            | Self::SignatureDoesNotMatch
            | Self::CorsForbidden
            | Self::Kms(crate::kms::KmsFailure::AccessDenied(_)) => StatusCode::FORBIDDEN,
            Self::Kms(crate::kms::KmsFailure::Internal(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Store(_)
            | Self::Io(_)
            | Self::Corrupt(_)
            | Self::BlobDamaged { .. }
            | Self::MasterKeyMismatch { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The `<Resource>` S3 names in the error, when there is one.
    pub fn resource(&self) -> Option<&str> {
        match self {
            Self::NoSuchBucket(r)
            | Self::NoSuchKey(r)
            | Self::NoSuchUpload(r)
            | Self::NoSuchEncryptionConfiguration(r)
            | Self::NoSuchLifecycleConfiguration(r)
            | Self::NoSuchTagSet(r)
            | Self::ObjectLockConfigurationNotFound(r)
            | Self::DeleteMarker { key: r, .. }
            | Self::BucketAlreadyOwnedByYou(r)
            | Self::BucketNotEmpty(r)
            | Self::NoSuchBucketPolicy(r)
            | Self::NoSuchCorsConfiguration(r)
            | Self::NoSuchWebsiteConfiguration(r)
            | Self::OwnershipControlsNotFound(r)
            | Self::NoSuchPublicAccessBlockConfiguration(r) => Some(r),
            _ => None,
        }
    }

    /// Whether this is a server-side failure (logged, shown to the client as InternalError).
    pub fn is_internal(&self) -> bool {
        self.status().is_server_error() && !matches!(self, Self::NotImplemented(_))
    }
}

impl IntoAwsError for Error {
    fn into_aws_error(self) -> AwsError {
        if self.is_internal() {
            return AwsError::internal();
        }
        let mut e = AwsError::new(self.status(), self.code(), self.to_string());
        if let Some(r) = self.resource() {
            e = e.with_resource(r);
        }
        e
    }
}

impl From<nuvem_store::blobs::BlobError> for Error {
    fn from(e: nuvem_store::blobs::BlobError) -> Self {
        use nuvem_store::blobs::BlobError;
        match e {
            BlobError::NotFound(id) => Self::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("blob {id} not found"),
            )),
            BlobError::Damaged { blob, problem } => Self::BlobDamaged { blob, problem },
            BlobError::Io(e) => Self::Io(e),
            BlobError::Store(e) => Self::Store(e),
            // The upload stayed idle longer than the grace period: its data is gone.
            e @ BlobError::Collected(_) => Self::Io(std::io::Error::other(e.to_string())),
        }
    }
}
