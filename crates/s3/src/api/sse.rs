//! Server-side encryption headers: what a request asks for (SSE-S3, SSE-C, SSE-KMS with its
//! key id and encryption context; DSSE-KMS is refused as not implemented, never stored with
//! one layer while claiming two) and what a response says (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ServerSideEncryptionCustomerKeys.html).

use base64::Engine as _;
use s3s::dto::ServerSideEncryption;

use crate::error::Error;
use crate::kms::{Context, KmsCaller};
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

/// The encryption a write asks for: `x-amz-server-side-encryption` (with, for `aws:kms`, the
/// key id and encryption context headers) or an SSE-C key.
pub(crate) fn seal_request(
    sse: Option<&ServerSideEncryption>,
    customer: Option<CustomerKey>,
    kms_key_id: Option<&String>,
    kms_context: Option<&String>,
) -> Res<Option<SealRequest>> {
    if kms_context.is_some()
        && sse.map(ServerSideEncryption::as_str) != Some(ServerSideEncryption::AWS_KMS)
    {
        return Err(Error::InvalidArgument(
            "x-amz-server-side-encryption-context header requires x-amz-server-side-encryption:aws:kms".into(),
        ));
    }
    match (sse.map(ServerSideEncryption::as_str), customer) {
        (Some(_), Some(_)) => Err(Error::InvalidArgument(
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified".into(),
        )),
        (None, Some(c)) => Ok(Some(SealRequest::C(c))),
        (Some(ServerSideEncryption::AES256), None) if kms_key_id.is_none() => {
            Ok(Some(SealRequest::S3))
        }
        (Some(ServerSideEncryption::AWS_KMS), None) => Ok(Some(SealRequest::Kms {
            key_id: kms_key_id.filter(|k| !k.is_empty()).cloned(),
            context: kms_context.map(|c| context(c)).transpose()?.unwrap_or_default(),
        })),
        (Some(ServerSideEncryption::AWS_KMS_DSSE), None) => Err(dsse_refused()),
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

/// `x-amz-server-side-encryption-context`: base64 of a JSON object of strings.
fn context(header: &str) -> Res<Context> {
    let bad = || {
        Error::InvalidArgument(
            "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map".into(),
        )
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .map_err(|_| bad())?;
    serde_json::from_slice::<Context>(&raw).map_err(|_| bad())
}

/// DSSE-KMS (two layers of encryption) is not implemented: refused, never stored with one layer.
pub(crate) fn dsse_refused() -> Error {
    Error::NotImplemented(
        "DSSE-KMS (aws:kms:dsse) is not implemented by nuvem; use SSE-KMS (aws:kms), SSE-S3 (AES256) or SSE-C.".into(),
    )
}

/// Who SSE-KMS calls are made for: the requester of an S3 operation. A SigV2 presigned URL
/// counts as unsigned: S3 serves objects protected by KMS only to SigV4 requests
/// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html).
pub(crate) fn caller<T>(req: &s3s::S3Request<T>) -> KmsCaller {
    let sigv2 = req
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("AWSAccessKeyId=")));
    match &req.credentials {
        None => KmsCaller::Anonymous,
        Some(_) if sigv2 => KmsCaller::Anonymous,
        Some(_) if req.extensions.get::<nuvem_aws::RootCaller>().is_some() => KmsCaller::Root,
        Some(c) => KmsCaller::Principal(c.access_key.clone()),
    }
}

/// The encryption headers of a response about `meta`: `x-amz-server-side-encryption` for
/// SSE-S3 and SSE-KMS (with the key's ARN and, where S3 sends it, the encryption context);
/// the algorithm and key MD5 echoed for SSE-C.
pub(crate) struct Echo {
    pub sse: Option<ServerSideEncryption>,
    pub customer_algorithm: Option<String>,
    pub customer_key_md5: Option<String>,
    pub kms_key_id: Option<String>,
    /// Base64 JSON of the encryption context (PutObject, CopyObject, CreateMultipartUpload).
    pub kms_context: Option<String>,
}

impl Echo {
    pub(crate) fn of(encryption: Option<&Encryption>, key: Option<&CustomerKey>) -> Self {
        let none = Self {
            sse: None,
            customer_algorithm: None,
            customer_key_md5: None,
            kms_key_id: None,
            kms_context: None,
        };
        match encryption {
            Some(Encryption::S3 { .. }) => Self {
                sse: Some(ServerSideEncryption::from_static(
                    ServerSideEncryption::AES256,
                )),
                ..none
            },
            Some(Encryption::C { .. }) => Self {
                customer_algorithm: Some("AES256".into()),
                customer_key_md5: key.map(|k| k.md5().to_string()),
                ..none
            },
            Some(Encryption::Kms {
                key_arn, context, ..
            }) => Self {
                sse: Some(ServerSideEncryption::from_static(
                    ServerSideEncryption::AWS_KMS,
                )),
                kms_key_id: Some(key_arn.clone()),
                kms_context: Some(
                    base64::engine::general_purpose::STANDARD
                        .encode(serde_json::to_vec(context).unwrap_or_default()),
                ),
                ..none
            },
            None => none,
        }
    }

    pub(crate) fn of_meta(meta: &ObjectMeta, key: Option<&CustomerKey>) -> Self {
        Self::of(meta.encryption.as_ref(), key)
    }
}

/// Fills an output's `server_side_encryption`, `sse_customer_algorithm`,
/// `sse_customer_key_md5` and `ssekms_key_id` from an [`Echo`].
macro_rules! set_sse {
    ($out:expr, $echo:expr) => {{
        let echo = $echo;
        $out.server_side_encryption = echo.sse;
        $out.sse_customer_algorithm = echo.customer_algorithm;
        $out.sse_customer_key_md5 = echo.customer_key_md5;
        $out.ssekms_key_id = echo.kms_key_id;
    }};
}
pub(crate) use set_sse;

#[cfg(test)]
mod tests {
    use super::*;

    /// What `seal_request` makes of (algorithm, KMS key id, context header): the request's
    /// kind (`S3`, `KMS <key id or -> <context>`) or the error code.
    #[track_caller]
    fn check(sse: Option<&str>, key_id: Option<&str>, context: Option<&str>, want: &str) {
        let sse = sse.map(|s| ServerSideEncryption::from(s.to_owned()));
        let key_id = key_id.map(str::to_owned);
        let context = context.map(str::to_owned);
        let got = match seal_request(sse.as_ref(), None, key_id.as_ref(), context.as_ref()) {
            Ok(None) => "none".to_owned(),
            Ok(Some(SealRequest::S3)) => "S3".to_owned(),
            Ok(Some(SealRequest::Kms { key_id, context })) => format!(
                "KMS {} {}",
                key_id.as_deref().unwrap_or("-"),
                serde_json::to_string(&context).unwrap()
            ),
            Ok(Some(SealRequest::C(_))) => "C".to_owned(),
            Err(e) => e.code().to_owned(),
        };
        assert_eq!(got, want, "{sse:?} {key_id:?} {context:?}");
    }

    #[test]
    fn sse_kms_requests() {
        let ctx = base64::engine::general_purpose::STANDARD.encode(r#"{"a":"b"}"#);
        let not_strings = base64::engine::general_purpose::STANDARD.encode(r#"{"a":1}"#);
        check(None, None, None, "none");
        check(Some("AES256"), None, None, "S3");
        check(Some("aws:kms"), None, None, "KMS - {}");
        check(Some("aws:kms"), Some(""), None, "KMS - {}");
        check(Some("aws:kms"), Some("alias/app"), None, "KMS alias/app {}");
        check(Some("aws:kms"), None, Some(&ctx), r#"KMS - {"a":"b"}"#);
        check(Some("aws:kms"), None, Some("not base64"), "InvalidArgument");
        check(Some("aws:kms"), None, Some(&not_strings), "InvalidArgument");
        check(Some("AES256"), None, Some(&ctx), "InvalidArgument");
        check(None, None, Some(&ctx), "InvalidArgument");
        check(None, Some("k"), None, "InvalidArgument");
        check(Some("AES256"), Some("k"), None, "InvalidArgument");
        check(Some("aws:kms:dsse"), None, None, "NotImplemented");
        check(Some("other"), None, None, "InvalidArgument");
    }
}
