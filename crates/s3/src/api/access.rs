//! Who may do what: [`KeyringAuth`] gives s3s the secrets of the endpoint's keyring (s3s
//! re-derives the signature to verify aws-chunked chunk signatures and SigV2 presigned
//! URLs), and [`PolicyAccess`] lets anonymous callers through only where the bucket policy
//! allows the action, and refuses signed callers an explicit policy Deny.

use std::sync::{Arc, RwLock};

use nuvem_aws::sigv4::Keyring;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::policy::{self, Decision};
use crate::store::ObjectStore;

/// Secrets of access keys the keyring does not hold: IAM users' and STS sessions' keys,
/// which the endpoint verified (session token included) before the request got here.
pub trait SecretLookup: Send + Sync {
    fn secret(&self, access_key: &str) -> nuvem_aws::BoxFuture<'static, Option<String>>;
}

/// Where the binary plugs a [`SecretLookup`] in after the service opened.
#[derive(Clone, Default)]
pub struct SecretSlot(Arc<RwLock<Option<Arc<dyn SecretLookup>>>>);

impl SecretSlot {
    pub fn set(&self, lookup: Arc<dyn SecretLookup>) {
        if let Ok(mut slot) = self.0.write() {
            *slot = Some(lookup);
        }
    }

    fn get(&self) -> Option<Arc<dyn SecretLookup>> {
        self.0.read().ok().and_then(|s| s.clone())
    }
}

pub struct KeyringAuth(pub Keyring, pub SecretSlot);

#[async_trait::async_trait]
impl S3Auth for KeyringAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if let Some(s) = self.0.secret(access_key) {
            return Ok(SecretKey::from(s));
        }
        if let Some(lookup) = self.1.get()
            && let Some(s) = lookup.secret(access_key).await
        {
            return Ok(SecretKey::from(s));
        }
        Err(S3Error::with_message(
            S3ErrorCode::InvalidAccessKeyId,
            "The AWS Access Key Id you provided does not exist in our records.",
        ))
    }
}

pub struct PolicyAccess(pub ObjectStore);

/// The IAM action of an s3s operation name, for policy evaluation.
fn action(op: &str) -> String {
    match op {
        "HeadObject" => "s3:GetObject".into(),
        "ListObjects" | "ListObjectsV2" | "HeadBucket" => "s3:ListBucket".into(),
        "ListObjectVersions" => "s3:ListBucketVersions".into(),
        "DeleteObjects" => "s3:DeleteObject".into(),
        "CompleteMultipartUpload"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CopyObject" => "s3:PutObject".into(),
        other => format!("s3:{other}"),
    }
}

#[async_trait::async_trait]
impl S3Access for PolicyAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let anonymous = cx.credentials().is_none();
        let (bucket, resource) = match cx.s3_path() {
            S3Path::Root => {
                return if anonymous { Err(denied()) } else { Ok(()) };
            }
            S3Path::Bucket { bucket } => (bucket.to_string(), format!("arn:aws:s3:::{bucket}")),
            S3Path::Object { bucket, key } => {
                (bucket.to_string(), format!("arn:aws:s3:::{bucket}/{key}"))
            }
        };
        let policy = self.0.bucket(&bucket).await.ok().and_then(|b| b.policy);
        let decision = policy
            .as_deref()
            .map(|p| policy::evaluate(p, anonymous, &action(cx.s3_op().name()), &resource))
            .unwrap_or(Decision::Default);
        match (decision, anonymous) {
            (Decision::Deny, _) => Err(denied()),
            (_, false) | (Decision::Allow, true) => Ok(()),
            (Decision::Default, true) => Err(denied()),
        }
    }
}

fn denied() -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied")
}
