//! Server-side encryption headers: what a request asks for (SSE-S3, SSE-C; SSE-KMS is refused
//! as not implemented, never stored in clear while claiming encryption) and what a response
//! says (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ServerSideEncryptionCustomerKeys.html).

use s3s::dto::ServerSideEncryption;

use crate::error::Error;
use crate::store::ObjectMeta;
use crate::store::sealing::{CustomerKey, Encryption, SealRequest};

type Res<T> = Result<T, Error>;

/// The SSE-C key of the three customer headers, checked (algorithm, length, MD5).
pub(crate) fn customer_key(
    algorithm: Option<&String>,
    key: Option<&String>,
    key_md5: Option<&String>,
) -> Res<Option<CustomerKey>> {
    CustomerKey::from_headers(
        algorithm.map(String::as_str),
        key.map(String::as_str),
        key_md5.map(String::as_str),
    )
}

/// The encryption a write asks for: `x-amz-server-side-encryption` or an SSE-C key.
pub(crate) fn seal_request(
    sse: Option<&ServerSideEncryption>,
    customer: Option<CustomerKey>,
    kms_key_id: Option<&String>,
) -> Res<Option<SealRequest>> {
    match (sse.map(ServerSideEncryption::as_str), customer) {
        (Some(_), Some(_)) => Err(Error::InvalidArgument(
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified".into(),
        )),
        (None, Some(c)) => Ok(Some(SealRequest::C(c))),
        (Some(ServerSideEncryption::AES256), None) if kms_key_id.is_none() => {
            Ok(Some(SealRequest::S3))
        }
        (Some(ServerSideEncryption::AWS_KMS | ServerSideEncryption::AWS_KMS_DSSE), None) => {
            Err(kms_refused())
        }
        (None, None) if kms_key_id.is_some() => Err(Error::InvalidArgument(
            "x-amz-server-side-encryption-aws-kms-key-id header requires x-amz-server-side-encryption:aws:kms".into(),
        )),
        (Some(ServerSideEncryption::AES256), None) => Err(Error::InvalidArgument(
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms".into(),
        )),
        (Some(_), None) => Err(Error::InvalidArgument(
            "The encryption method specified is not supported".into(),
        )),
        (None, None) => Ok(None),
    }
}

pub(crate) fn kms_refused() -> Error {
    Error::NotImplemented(
        "SSE-KMS (aws:kms) is not implemented by nuvem; use SSE-S3 (AES256) or SSE-C.".into(),
    )
}

/// The encryption headers of a response about `meta`: `x-amz-server-side-encryption` for
/// SSE-S3; the algorithm and key MD5 echoed for SSE-C.
pub(crate) struct Echo {
    pub sse: Option<ServerSideEncryption>,
    pub customer_algorithm: Option<String>,
    pub customer_key_md5: Option<String>,
}

impl Echo {
    pub(crate) fn of(encryption: Option<&Encryption>, key: Option<&CustomerKey>) -> Self {
        match encryption {
            Some(Encryption::S3 { .. }) => Self {
                sse: Some(ServerSideEncryption::from_static(
                    ServerSideEncryption::AES256,
                )),
                customer_algorithm: None,
                customer_key_md5: None,
            },
            Some(Encryption::C { .. }) => Self {
                sse: None,
                customer_algorithm: Some("AES256".into()),
                customer_key_md5: key.map(|k| k.md5().to_string()),
            },
            None => Self {
                sse: None,
                customer_algorithm: None,
                customer_key_md5: None,
            },
        }
    }

    pub(crate) fn of_meta(meta: &ObjectMeta, key: Option<&CustomerKey>) -> Self {
        Self::of(meta.encryption.as_ref(), key)
    }
}

/// Fills an output's `server_side_encryption`, `sse_customer_algorithm` and
/// `sse_customer_key_md5` from an [`Echo`].
macro_rules! set_sse {
    ($out:expr, $echo:expr) => {{
        let echo = $echo;
        $out.server_side_encryption = echo.sse;
        $out.sse_customer_algorithm = echo.customer_algorithm;
        $out.sse_customer_key_md5 = echo.customer_key_md5;
    }};
}
pub(crate) use set_sse;
