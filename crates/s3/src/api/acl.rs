//! ACLs, object ownership, the public access block and policy status: Get/PutBucketAcl,
//! Get/PutObjectAcl, Get/Put/DeleteBucketOwnershipControls, Get/Put/DeletePublicAccessBlock,
//! GetBucketPolicyStatus, and the ACL a PUT, copy, multipart upload or CreateBucket asks for
//! (canned `x-amz-acl`, `x-amz-grant-*` headers, or an `AccessControlPolicy` body), checked
//! against the bucket's ownership controls and public access block before anything is
//! written. The rules themselves are in [`crate::acl`].

use s3s::S3Request;
use s3s::dto::*;

use super::Handler;
use crate::acl::{self, Acl, Grantee, Ownership, Permission, PublicAccessBlock};
use crate::error::Error;
use crate::store::BucketMeta;

type Res<T> = Result<T, Error>;

/// The ACL an object write (PutObject, CopyObject, CreateMultipartUpload) asks for: its
/// canned `x-amz-acl` and `x-amz-grant-*` headers (objects have no WRITE grant), from any
/// input with S3's field names.
macro_rules! object_acl_request {
    ($input:expr) => {
        $crate::api::acl::AclRequest {
            canned: $input.acl.as_ref().map(|a| a.as_str()),
            ..Default::default()
        }
        .with_grants([
            $input.grant_full_control.as_ref(),
            $input.grant_read.as_ref(),
            $input.grant_read_acp.as_ref(),
            None,
            $input.grant_write_acp.as_ref(),
        ])
    };
}
pub(crate) use object_acl_request;

/// What a request says about the ACL it sets.
#[derive(Default)]
pub(crate) struct AclRequest<'a> {
    pub canned: Option<&'a str>,
    pub grants: Vec<(Permission, &'a str)>,
    pub body: Option<&'a AccessControlPolicy>,
}

impl<'a> AclRequest<'a> {
    /// The `x-amz-grant-*` headers a request carries: full control, read, read ACP, write,
    /// write ACP.
    pub(crate) fn with_grants(mut self, grants: [Option<&'a String>; 5]) -> Self {
        let perms = [
            Permission::FullControl,
            Permission::Read,
            Permission::ReadAcp,
            Permission::Write,
            Permission::WriteAcp,
        ];
        self.grants = perms
            .into_iter()
            .zip(grants)
            .filter_map(|(p, g)| g.map(|g| (p, g.as_str())))
            .collect();
        self
    }

    fn is_empty(&self) -> bool {
        self.canned.is_none() && self.grants.is_empty() && self.body.is_none()
    }

    /// The ACL asked for, `None` when the request names none. Only one way of naming it may
    /// be used, as S3 requires.
    fn resolve(&self, owner: &str, bucket: bool) -> Res<Option<Acl>> {
        if self.canned.is_some() && !self.grants.is_empty() {
            return Err(Error::InvalidRequest(
                "Specifying both Canned ACLs and Header Grants is not allowed".into(),
            ));
        }
        if self.body.is_some() && !(self.canned.is_none() && self.grants.is_empty()) {
            return Err(Error::UnexpectedContent);
        }
        if let Some(name) = self.canned {
            return Acl::canned(name, owner, bucket).map(Some);
        }
        if !self.grants.is_empty() {
            return Acl::from_grant_headers(&self.grants).map(Some);
        }
        match self.body {
            Some(policy) => from_policy(policy, owner).map(Some),
            None => Ok(None),
        }
    }
}

/// An `AccessControlPolicy` document as an [`Acl`].
fn from_policy(policy: &AccessControlPolicy, owner: &str) -> Res<Acl> {
    if let Some(id) = policy.owner.as_ref().and_then(|o| o.id.as_deref())
        && id != owner
    {
        return Err(Error::AccessDenied);
    }
    let mut acl = Acl::default();
    for g in policy.grants.iter().flatten() {
        let (Some(grantee), Some(permission)) = (&g.grantee, &g.permission) else {
            return Err(Error::MalformedAcl(
                "The XML you provided was not well-formed or did not validate against our published schema".into(),
            ));
        };
        let permission = Permission::parse(permission.as_str()).ok_or_else(|| {
            Error::MalformedAcl(format!("Invalid permission {}", permission.as_str()))
        })?;
        let grantee = match grantee.type_.as_str() {
            Type::CANONICAL_USER => Grantee::user(grantee.id.as_deref().unwrap_or_default())?,
            Type::GROUP => Grantee::group(grantee.uri.as_deref().unwrap_or_default())?,
            Type::AMAZON_CUSTOMER_BY_EMAIL => return Err(Error::UnresolvableGrantByEmailAddress),
            other => return Err(Error::MalformedAcl(format!("Invalid grantee type {other}"))),
        };
        acl.grants.push(acl::Grant {
            grantee,
            permission,
        });
    }
    acl.check_size()?;
    Ok(acl)
}

fn grants_xml(acl: &Acl) -> Grants {
    acl.grants
        .iter()
        .map(|g| Grant {
            grantee: Some(match &g.grantee {
                Grantee::User(id) => Grantee_ {
                    display_name: None,
                    email_address: None,
                    id: Some(id.clone()),
                    type_: Type::from_static(Type::CANONICAL_USER),
                    uri: None,
                },
                Grantee::Group(uri) => Grantee_ {
                    display_name: None,
                    email_address: None,
                    id: None,
                    type_: Type::from_static(Type::GROUP),
                    uri: Some(uri.clone()),
                },
            }),
            permission: Some(Permission_::from(g.permission.as_str().to_string())),
        })
        .collect()
}

use s3s::dto::Grantee as Grantee_;
use s3s::dto::Permission as Permission_;

impl Handler {
    fn owner(&self) -> Owner {
        super::list::owner(&self.owner_id)
    }

    /// The ACL a write asks for, checked against `bucket`'s ownership and public access
    /// block; `None` for the private default (what ACL-less requests and, on a bucket with
    /// ACLs disabled, `bucket-owner-full-control` mean).
    pub(crate) fn checked_acl(
        &self,
        bucket: &BucketMeta,
        request: &AclRequest<'_>,
        for_bucket: bool,
    ) -> Res<Option<Acl>> {
        let Some(acl) = request.resolve(&self.owner_id, for_bucket)? else {
            return Ok(None);
        };
        acl::check_settable(
            &acl,
            &self.owner_id,
            bucket.ownership,
            bucket.public_access_block.as_ref(),
        )?;
        Ok((acl != Acl::private(&self.owner_id)).then_some(acl))
    }

    /// [`Handler::checked_acl`] for an object write to `bucket`: reads the bucket only when
    /// the request names an ACL.
    pub(crate) async fn object_acl_for(
        &self,
        bucket: &str,
        request: AclRequest<'_>,
    ) -> Res<Option<Acl>> {
        if request.is_empty() {
            return Ok(None);
        }
        let meta = self.store.bucket(bucket).await?;
        self.checked_acl(&meta, &request, false)
    }

    /// The ownership and ACL a CreateBucket asks for (`x-amz-object-ownership`, default
    /// `BucketOwnerEnforced`; an ACL other than private with `BucketOwnerEnforced` is 400
    /// InvalidBucketAclWithObjectOwnership).
    pub(crate) fn create_bucket_access(
        &self,
        input: &CreateBucketInput,
    ) -> Res<(Option<Ownership>, Option<Acl>)> {
        let ownership = match &input.object_ownership {
            Some(o) => Some(Ownership::parse(o.as_str()).ok_or_else(|| {
                Error::InvalidArgument(format!("Invalid x-amz-object-ownership {}", o.as_str()))
            })?),
            None => Some(Ownership::BucketOwnerEnforced),
        };
        let request = AclRequest {
            canned: input.acl.as_ref().map(|a| a.as_str()),
            ..Default::default()
        }
        .with_grants([
            input.grant_full_control.as_ref(),
            input.grant_read.as_ref(),
            input.grant_read_acp.as_ref(),
            input.grant_write.as_ref(),
            input.grant_write_acp.as_ref(),
        ]);
        let Some(acl) = request.resolve(&self.owner_id, true)? else {
            return Ok((ownership, None));
        };
        if !acl::acls_enabled(ownership) && !acl.owner_only(&self.owner_id) {
            return Err(Error::InvalidBucketAclWithObjectOwnership);
        }
        Ok((
            ownership,
            (acl != Acl::private(&self.owner_id)).then_some(acl),
        ))
    }

    /// What a reader of an ACL sees: with ACLs disabled, always the owner's full control.
    fn effective(&self, bucket: &BucketMeta, stored: Option<Acl>) -> Acl {
        match stored {
            Some(acl) if acl::acls_enabled(bucket.ownership) => acl,
            _ => Acl::private(&self.owner_id),
        }
    }

    pub(crate) async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> Res<GetBucketAclOutput> {
        let b = self.store.bucket(&req.input.bucket).await?;
        let acl = self.effective(&b, b.acl.clone());
        Ok(GetBucketAclOutput {
            grants: Some(grants_xml(&acl)),
            owner: Some(self.owner()),
        })
    }

    pub(crate) async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> Res<PutBucketAclOutput> {
        let input = req.input;
        let request = AclRequest {
            canned: input.acl.as_ref().map(|a| a.as_str()),
            body: input.access_control_policy.as_ref(),
            ..Default::default()
        }
        .with_grants([
            input.grant_full_control.as_ref(),
            input.grant_read.as_ref(),
            input.grant_read_acp.as_ref(),
            input.grant_write.as_ref(),
            input.grant_write_acp.as_ref(),
        ]);
        if request.is_empty() {
            return Err(Error::MalformedAcl(
                "The request must name an ACL: x-amz-acl, x-amz-grant-* or an AccessControlPolicy body".into(),
            ));
        }
        let b = self.store.bucket(&input.bucket).await?;
        let acl = self.checked_acl(&b, &request, true)?;
        let owner = self.owner_id.clone();
        self.store
            .update_bucket(&input.bucket, move |b| {
                // Checked again inside the transaction: the settings may have changed since.
                if let Some(a) = &acl {
                    acl::check_settable(a, &owner, b.ownership, b.public_access_block.as_ref())?;
                }
                b.acl = acl.clone();
                Ok(())
            })
            .await?;
        Ok(PutBucketAclOutput {})
    }

    pub(crate) async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> Res<GetObjectAclOutput> {
        let input = req.input;
        let b = self.store.bucket(&input.bucket).await?;
        let meta = self
            .store
            .head_version(&input.bucket, &input.key, input.version_id.as_deref())
            .await?;
        let acl = self.effective(&b, meta.acl);
        Ok(GetObjectAclOutput {
            grants: Some(grants_xml(&acl)),
            owner: Some(self.owner()),
            request_charged: None,
        })
    }

    pub(crate) async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> Res<PutObjectAclOutput> {
        let input = req.input;
        let request = AclRequest {
            canned: input.acl.as_ref().map(|a| a.as_str()),
            body: input.access_control_policy.as_ref(),
            ..Default::default()
        }
        .with_grants([
            input.grant_full_control.as_ref(),
            input.grant_read.as_ref(),
            input.grant_read_acp.as_ref(),
            input.grant_write.as_ref(),
            input.grant_write_acp.as_ref(),
        ]);
        if request.is_empty() {
            return Err(Error::MalformedAcl(
                "The request must name an ACL: x-amz-acl, x-amz-grant-* or an AccessControlPolicy body".into(),
            ));
        }
        let b = self.store.bucket(&input.bucket).await?;
        let acl = self.checked_acl(&b, &request, false)?;
        self.store
            .set_object_acl(&input.bucket, &input.key, input.version_id.as_deref(), acl)
            .await?;
        Ok(PutObjectAclOutput::default())
    }

    pub(crate) async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> Res<GetBucketOwnershipControlsOutput> {
        let b = self.store.bucket(&req.input.bucket).await?;
        let Some(o) = b.ownership else {
            return Err(Error::OwnershipControlsNotFound(b.name));
        };
        Ok(GetBucketOwnershipControlsOutput {
            ownership_controls: Some(OwnershipControls {
                rules: vec![OwnershipControlsRule {
                    object_ownership: ObjectOwnership::from(o.as_str().to_string()),
                }],
            }),
        })
    }

    /// Exactly one rule. `BucketOwnerEnforced` is refused while the bucket's ACL grants to
    /// anyone but the owner (400 InvalidBucketAclWithObjectOwnership), as S3 does.
    pub(crate) async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> Res<PutBucketOwnershipControlsOutput> {
        let input = req.input;
        let [rule] = input.ownership_controls.rules.as_slice() else {
            return Err(Error::MalformedXml);
        };
        let ownership =
            Ownership::parse(rule.object_ownership.as_str()).ok_or(Error::MalformedXml)?;
        let owner = self.owner_id.clone();
        self.store
            .update_bucket(&input.bucket, move |b| {
                if ownership == Ownership::BucketOwnerEnforced
                    && b.acl.as_ref().is_some_and(|a| !a.owner_only(&owner))
                {
                    return Err(Error::InvalidBucketAclWithObjectOwnership);
                }
                b.ownership = Some(ownership);
                Ok(())
            })
            .await?;
        Ok(PutBucketOwnershipControlsOutput {})
    }

    pub(crate) async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> Res<DeleteBucketOwnershipControlsOutput> {
        self.store
            .update_bucket(&req.input.bucket, |b| {
                b.ownership = None;
                Ok(())
            })
            .await?;
        Ok(DeleteBucketOwnershipControlsOutput {})
    }

    pub(crate) async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> Res<GetPublicAccessBlockOutput> {
        let b = self.store.bucket(&req.input.bucket).await?;
        let Some(p) = b.public_access_block else {
            return Err(Error::NoSuchPublicAccessBlockConfiguration(b.name));
        };
        Ok(GetPublicAccessBlockOutput {
            public_access_block_configuration: Some(PublicAccessBlockConfiguration {
                block_public_acls: Some(p.block_public_acls),
                ignore_public_acls: Some(p.ignore_public_acls),
                block_public_policy: Some(p.block_public_policy),
                restrict_public_buckets: Some(p.restrict_public_buckets),
            }),
        })
    }

    pub(crate) async fn put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> Res<PutPublicAccessBlockOutput> {
        let input = req.input;
        let c = input.public_access_block_configuration;
        let block = PublicAccessBlock {
            block_public_acls: c.block_public_acls.unwrap_or(false),
            ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
            block_public_policy: c.block_public_policy.unwrap_or(false),
            restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
        };
        self.store
            .update_bucket(&input.bucket, move |b| {
                b.public_access_block = Some(block);
                Ok(())
            })
            .await?;
        Ok(PutPublicAccessBlockOutput {})
    }

    pub(crate) async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> Res<DeletePublicAccessBlockOutput> {
        self.store
            .update_bucket(&req.input.bucket, |b| {
                b.public_access_block = None;
                Ok(())
            })
            .await?;
        Ok(DeletePublicAccessBlockOutput {})
    }

    /// `IsPublic` by AWS's definition of a public policy ([`crate::policy::is_public`]); a
    /// bucket without a policy is 404 NoSuchBucketPolicy, as on S3.
    pub(crate) async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> Res<GetBucketPolicyStatusOutput> {
        let b = self.store.bucket(&req.input.bucket).await?;
        let Some(p) = b.policy else {
            return Err(Error::NoSuchBucketPolicy(b.name));
        };
        Ok(GetBucketPolicyStatusOutput {
            policy_status: Some(PolicyStatus {
                is_public: Some(crate::policy::is_public(&p)),
            }),
        })
    }
}
