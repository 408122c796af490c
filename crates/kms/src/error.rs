//! The one error type of the KMS crate, and how each variant looks to a KMS client
//! (https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html and each
//! operation's Errors section). Every client error is HTTP 400, as KMS sends them.

use http::StatusCode;
use nuvem_aws::{AwsError, IntoAwsError};

#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Disabled(String),
    #[error("{0}")]
    InvalidState(String),
    /// The ciphertext is not one of ours, was altered, or the encryption context differs.
    #[error("")]
    InvalidCiphertext(String),
    #[error("{0}")]
    IncorrectKey(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidAliasName(String),
    #[error("{0}")]
    InvalidArn(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    Serialization(String),
    #[error("The request would have succeeded, but the DryRun option is set.")]
    DryRun,
    #[error("The operation {0} is not supported by nuvem's KMS.")]
    UnknownOperation(String),
    /// Not the client's fault: damaged records, a wrong master key.
    #[error("{0}")]
    Internal(String),
    #[error("storage: {0}")]
    Store(#[from] nuvem_store::Error),
}

impl KmsError {
    /// The KMS error code (`__type`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "NotFoundException",
            Self::Disabled(_) => "DisabledException",
            Self::InvalidState(_) => "KMSInvalidStateException",
            Self::InvalidCiphertext(_) => "InvalidCiphertextException",
            Self::IncorrectKey(_) => "IncorrectKeyException",
            Self::Validation(_) => "ValidationException",
            Self::AlreadyExists(_) => "AlreadyExistsException",
            Self::InvalidAliasName(_) => "InvalidAliasNameException",
            Self::InvalidArn(_) => "InvalidArnException",
            Self::Unsupported(_) => "UnsupportedOperationException",
            Self::AccessDenied(_) => "AccessDeniedException",
            Self::Serialization(_) => "SerializationException",
            Self::DryRun => "DryRunOperationException",
            Self::UnknownOperation(_) => "UnknownOperationException",
            Self::Internal(_) | Self::Store(_) => "KMSInternalException",
        }
    }

    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Internal(_) | Self::Store(_))
    }
}

impl IntoAwsError for KmsError {
    fn into_aws_error(self) -> AwsError {
        if self.is_internal() {
            return AwsError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "KMSInternalException",
                "We encountered an internal error. Please try again.",
            );
        }
        let status = match self {
            // DryRunOperationException is HTTP 412.
            Self::DryRun => StatusCode::PRECONDITION_FAILED,
            _ => StatusCode::BAD_REQUEST,
        };
        AwsError::new(status, self.code(), self.to_string())
    }
}
