//! The port SSE-KMS reaches a key service through
//! (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html): S3 asks
//! for a data key under a KMS key when it stores an object and for the plaintext of that data
//! key when it reads one, on behalf of the caller, who needs `kms:GenerateDataKey` and
//! `kms:Decrypt` on the key. The binary implements [`KeyService`] over the KMS crate (and
//! decides the caller's permissions there), so this crate never imports another service.
//!
//! Must not: keep data keys beyond one request, or log them.

use std::collections::BTreeMap;

/// An encryption context.
pub type Context = BTreeMap<String, String>;

/// Who a KMS call is made for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum KmsCaller {
    /// nuvem itself (the edge reading an origin bucket, the manifest, another service's
    /// hook): no principal's permissions apply.
    #[default]
    Service,
    /// The account's root credentials: every key is theirs to use.
    Root,
    /// An IAM user or role session, by access key id: its policies must allow the action on
    /// the key.
    Principal(String),
    /// An unsigned request (or one signed with SigV2): S3 refuses SSE-KMS to it.
    Anonymous,
}

/// A data key: its plaintext (never stored) and the KMS blob it decrypts from.
pub struct DataKey {
    pub key_arn: String,
    pub plaintext: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey({})", self.key_arn)
    }
}

/// Why KMS refused, as S3 reports it (S3 prefixes KMS's error codes with `KMS.`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum KmsFailure {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Disabled(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    InvalidCiphertext(String),
    #[error("{0}")]
    AccessDenied(String),
    /// Not the client's fault (damaged records, the store failing).
    #[error("{0}")]
    Internal(String),
}

/// A key service: KMS, as the binary wires it.
pub trait KeyService: Send + Sync {
    /// A new 32-byte data key under `key_id` (key id, key ARN, alias name or alias ARN; the
    /// AWS managed `alias/aws/s3` is created on first use) for `context`, checking that
    /// `caller` may `kms:GenerateDataKey` with the key.
    fn generate_data_key(
        &self,
        key_id: String,
        context: Context,
        caller: KmsCaller,
    ) -> nuvem_aws::BoxFuture<'static, Result<DataKey, KmsFailure>>;

    /// The plaintext of a data key blob made for `context`, checking that `caller` may
    /// `kms:Decrypt` with its key.
    fn decrypt(
        &self,
        ciphertext: Vec<u8>,
        context: Context,
        caller: KmsCaller,
    ) -> nuvem_aws::BoxFuture<'static, Result<DataKey, KmsFailure>>;
}
