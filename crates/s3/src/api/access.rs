//! Who may do what: [`KeyringAuth`] gives s3s the secrets of the endpoint's keyring (s3s
//! re-derives the signature to verify aws-chunked chunk signatures and SigV2 presigned
//! URLs), and [`PolicyAccess`] lets anonymous callers through only where the bucket policy
//! or an ACL allows the action, and refuses signed callers an explicit policy Deny.
//!
//! An anonymous caller, in S3's order
//! (https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html):
//! an explicit Deny in the bucket policy refuses; an Allow lets in, unless the bucket's
//! public access block has `RestrictPublicBuckets` and the policy is public; otherwise an
//! AllUsers grant of the needed permission in the object's (or bucket's) ACL lets in, unless
//! the bucket's ownership is `BucketOwnerEnforced` (ACLs disabled) or its public access block
//! has `IgnorePublicAcls`. Everything else is AccessDenied.

use std::sync::{Arc, RwLock};

use nuvem_aws::sigv4::Keyring;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::acl::{self, Permission};
use crate::policy::{self, Decision};
use crate::store::{BucketMeta, ObjectStore};

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
        | "CopyObject"
        | "PostObject" => "s3:PutObject".into(),
        other => format!("s3:{other}"),
    }
}

#[async_trait::async_trait]
impl S3Access for PolicyAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let anonymous = cx.credentials().is_none();
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => {
                return if anonymous { Err(denied()) } else { Ok(()) };
            }
            S3Path::Bucket { bucket } => (bucket.to_string(), None),
            S3Path::Object { bucket, key } => (bucket.to_string(), Some(key.to_string())),
        };
        // Names and values decoded as s3s decodes them (`%76ersionId` is `versionId`).
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        let version = cx.uri().query().and_then(|q| {
            q.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (decode(k) == "versionId").then(|| decode(v))
            })
        });
        let request = Request {
            bucket: &bucket,
            key: key.as_deref(),
            version: version.as_deref(),
            op: cx.s3_op().name(),
            anonymous,
        };
        if !allowed(&self.0, &request).await {
            return Err(denied());
        }
        // A copy also reads its source, which its own bucket's policy (and, for anonymous
        // callers, ACLs) must allow.
        if matches!(cx.s3_op().name(), "CopyObject" | "UploadPartCopy") {
            let header = cx
                .headers()
                .get("x-amz-copy-source")
                .and_then(|v| v.to_str().ok())
                .map(s3s::dto::CopySource::parse);
            let Some(Ok(s3s::dto::CopySource::Bucket {
                bucket,
                key,
                version_id,
            })) = header
            else {
                return Err(denied());
            };
            let source = Request {
                bucket: &bucket,
                key: Some(&key),
                version: version_id.as_deref(),
                op: "GetObject",
                anonymous,
            };
            if !allowed(&self.0, &source).await {
                return Err(denied());
            }
        }
        Ok(())
    }
}

/// One request to decide: the operation (s3s's name) on a bucket or an object.
pub(crate) struct Request<'a> {
    pub bucket: &'a str,
    pub key: Option<&'a str>,
    pub version: Option<&'a str>,
    pub op: &'a str,
    pub anonymous: bool,
}

/// Whether the bucket's policy, ACLs and public access block let the caller in (see the
/// module's documentation for the order).
pub(crate) async fn allowed(store: &ObjectStore, r: &Request<'_>) -> bool {
    let resource = match r.key {
        Some(key) => format!("arn:aws:s3:::{}/{key}", r.bucket),
        None => format!("arn:aws:s3:::{}", r.bucket),
    };
    let meta = store.bucket(r.bucket).await.ok();
    let policy = meta.as_ref().and_then(|b| b.policy.as_deref());
    // One version of an object is an action of its own, as for IAM.
    let action = match (action(r.op), r.version) {
        (a, Some(_)) if a == "s3:GetObject" || a == "s3:DeleteObject" => format!("{a}Version"),
        (a, _) => a,
    };
    let decision = policy
        .map(|p| policy::evaluate(p, r.anonymous, &action, &resource))
        .unwrap_or(Decision::Default);
    match (decision, r.anonymous) {
        (Decision::Deny, _) => return false,
        (_, false) => return true,
        (Decision::Allow, true) => {
            let restricted = meta
                .as_ref()
                .and_then(|b| b.public_access_block)
                .is_some_and(|p| p.restrict_public_buckets)
                && policy.is_some_and(policy::is_public);
            if !restricted {
                return true;
            }
        }
        (Decision::Default, true) => {}
    }
    match meta {
        Some(meta) => acl_allows(store, &meta, r).await,
        None => false,
    }
}

/// Which ACL, and which permission in it, lets an anonymous caller run an operation
/// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html#permissions).
/// Copies are absent: they also read a source no bucket ACL speaks for.
fn acl_permission(op: &str) -> Option<(bool, Permission)> {
    let object = |p| Some((true, p));
    let bucket = |p| Some((false, p));
    match op {
        "GetObject" | "HeadObject" => object(Permission::Read),
        "GetObjectAcl" => object(Permission::ReadAcp),
        "PutObjectAcl" => object(Permission::WriteAcp),
        "ListObjects"
        | "ListObjectsV2"
        | "ListObjectVersions"
        | "HeadBucket"
        | "ListMultipartUploads" => bucket(Permission::Read),
        "PutObject"
        | "PostObject"
        | "DeleteObject"
        | "DeleteObjects"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "CompleteMultipartUpload"
        | "AbortMultipartUpload" => bucket(Permission::Write),
        "GetBucketAcl" => bucket(Permission::ReadAcp),
        "PutBucketAcl" => bucket(Permission::WriteAcp),
        _ => None,
    }
}

/// Whether an ACL gives an anonymous caller what the operation needs.
async fn acl_allows(store: &ObjectStore, bucket: &BucketMeta, r: &Request<'_>) -> bool {
    if !acl::acls_enabled(bucket.ownership)
        || bucket
            .public_access_block
            .is_some_and(|p| p.ignore_public_acls)
    {
        return false;
    }
    let Some((on_object, permission)) = acl_permission(r.op) else {
        return false;
    };
    if !on_object {
        return bucket
            .acl
            .as_ref()
            .is_some_and(|a| a.allows_anonymous(permission));
    }
    let Some(key) = r.key else {
        return false;
    };
    store
        .head_version(&bucket.name, key, r.version)
        .await
        .ok()
        .and_then(|m| m.acl)
        .is_some_and(|a| a.allows_anonymous(permission))
}

fn denied() -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied")
}
