//! Bucket operations: create/head/list/delete, location, versioning, default encryption, and
//! the policy, CORS and website documents.

use s3s::S3Request;
use s3s::dto::*;

use super::{Handler, timestamp};
use crate::error::Error;
use crate::policy;
use crate::store::sealing::DefaultEncryption;
use crate::store::versions::Versioning;
use crate::store::{CorsRule, Website};

type Res<T> = Result<T, Error>;

impl Handler {
    pub(crate) async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> Res<CreateBucketOutput> {
        let input = req.input;
        let (ownership, acl) = self.create_bucket_access(&input)?;
        let region = input
            .create_bucket_configuration
            .and_then(|c| c.location_constraint)
            .map(|l| l.as_str().to_string())
            .unwrap_or_else(|| self.region.clone());
        let lock = input.object_lock_enabled_for_bucket.unwrap_or(false);
        match self
            .store
            .create_bucket_with(&input.bucket, &region, ownership, acl, lock)
            .await
        {
            // In us-east-1, re-creating a bucket you own answers 200 for legacy
            // compatibility; every other region answers 409
            // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html).
            Err(Error::BucketAlreadyOwnedByYou(_)) if region == "us-east-1" => {
                let b = self.store.bucket(&input.bucket).await?;
                if b.region != "us-east-1" {
                    return Err(Error::BucketAlreadyOwnedByYou(input.bucket));
                }
            }
            r => {
                r?;
            }
        }
        Ok(CreateBucketOutput {
            location: Some(format!("/{}", input.bucket)),
        })
    }

    pub(crate) async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> Res<HeadBucketOutput> {
        let b = self.store.bucket(&req.input.bucket).await?;
        Ok(HeadBucketOutput {
            bucket_region: Some(b.region),
            ..Default::default()
        })
    }

    /// ListBuckets in name order, with `prefix`, `bucket-region`, and pages of `max-buckets`
    /// (default 10000) continued by an opaque token (the last name of the page).
    pub(crate) async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> Res<ListBucketsOutput> {
        use base64::Engine as _;
        let input = req.input;
        let max = match input.max_buckets {
            None => 10_000,
            Some(n) if (1..=10_000).contains(&n) => usize::try_from(n).unwrap_or(10_000),
            Some(_) => {
                return Err(Error::InvalidArgument(
                    "Argument max-buckets must be an integer between 1 and 10000".into(),
                ));
            }
        };
        let after = match input
            .continuation_token
            .as_deref()
            .filter(|t| !t.is_empty())
        {
            None => None,
            Some(t) => Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        Error::InvalidArgument(
                            "The continuation token provided is incorrect".into(),
                        )
                    })?,
            ),
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let all = self.store.list_buckets().await?;
        let mut matching = all.into_iter().filter(|b| {
            b.name.starts_with(&prefix)
                && after.as_deref().is_none_or(|a| b.name.as_str() > a)
                && input.bucket_region.as_deref().is_none_or(|r| b.region == r)
        });
        let page: Vec<_> = matching.by_ref().take(max).collect();
        let next = if matching.next().is_some() {
            page.last()
                .map(|b| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b.name.as_bytes()))
        } else {
            None
        };
        let buckets = page
            .into_iter()
            .map(|b| Bucket {
                bucket_region: Some(b.region),
                creation_date: Some(timestamp(b.created_ms)),
                name: Some(b.name),
            })
            .collect();
        Ok(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(super::list::owner(&self.owner_id)),
            continuation_token: next,
            prefix: input.prefix,
        })
    }

    pub(crate) async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> Res<DeleteBucketOutput> {
        self.store.delete_bucket(&req.input.bucket).await?;
        Ok(DeleteBucketOutput {})
    }

    pub(crate) async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> Res<GetBucketLocationOutput> {
        let b = self.store.bucket(&req.input.bucket).await?;
        // us-east-1 is reported as an empty LocationConstraint
        // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html).
        let location = (b.region != "us-east-1").then(|| BucketLocationConstraint::from(b.region));
        Ok(GetBucketLocationOutput {
            location_constraint: location,
        })
    }

    /// No `Status` means versioning was never configured
    /// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketVersioning.html).
    pub(crate) async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> Res<GetBucketVersioningOutput> {
        let b = self.store.bucket(&req.input.bucket).await?;
        Ok(GetBucketVersioningOutput {
            status: b.versioning.map(|v| {
                BucketVersioningStatus::from_static(match v {
                    Versioning::Enabled => BucketVersioningStatus::ENABLED,
                    Versioning::Suspended => BucketVersioningStatus::SUSPENDED,
                })
            }),
            mfa_delete: None,
        })
    }

    /// Enabled or Suspended. MFA delete needs MFA devices nuvem does not have: enabling it is
    /// refused, as S3 refuses it without a valid `x-amz-mfa`.
    pub(crate) async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> Res<PutBucketVersioningOutput> {
        let input = req.input;
        let config = input.versioning_configuration;
        if config
            .mfa_delete
            .as_ref()
            .is_some_and(|m| m.as_str() == MFADelete::ENABLED)
        {
            return Err(match input.mfa {
                None => Error::AccessDeniedWith(
                    "Mfa Authentication must be used for this request".into(),
                ),
                Some(_) => Error::NotImplemented(
                    "MFA delete is not supported: nuvem has no MFA devices to verify x-amz-mfa."
                        .into(),
                ),
            });
        }
        let state = match config.status.as_ref().map(|s| s.as_str()) {
            Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
            Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
            _ => return Err(Error::MalformedXml),
        };
        self.store
            .update_bucket(&input.bucket, move |b| {
                if b.object_lock.is_some() && state != Versioning::Enabled {
                    return Err(Error::InvalidBucketState(
                        "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.".into(),
                    ));
                }
                b.versioning = Some(state);
                Ok(())
            })
            .await?;
        Ok(PutBucketVersioningOutput {})
    }

    pub(crate) async fn put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> Res<PutBucketEncryptionOutput> {
        let input = req.input;
        let rules = input.server_side_encryption_configuration.rules;
        let [rule] = rules.as_slice() else {
            return Err(Error::MalformedXml);
        };
        let Some(default) = &rule.apply_server_side_encryption_by_default else {
            return Err(Error::MalformedXml);
        };
        match default.sse_algorithm.as_str() {
            ServerSideEncryption::AES256 if default.kms_master_key_id.is_none() => {}
            ServerSideEncryption::AES256 => {
                return Err(Error::InvalidArgument(
                    "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse".into(),
                ));
            }
            // S3 checks the key when an object is written, not here.
            ServerSideEncryption::AWS_KMS => {
                self.store.key_service()?;
            }
            ServerSideEncryption::AWS_KMS_DSSE => return Err(super::sse::dsse_refused()),
            _ => return Err(Error::MalformedXml),
        }
        let config = DefaultEncryption {
            algorithm: default.sse_algorithm.as_str().to_owned(),
            kms_master_key_id: default.kms_master_key_id.clone().filter(|k| !k.is_empty()),
            bucket_key_enabled: rule.bucket_key_enabled.unwrap_or(false),
        };
        self.store
            .update_bucket(&input.bucket, move |b| {
                b.encryption = Some(config.clone());
                Ok(())
            })
            .await?;
        Ok(PutBucketEncryptionOutput {})
    }

    pub(crate) async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> Res<GetBucketEncryptionOutput> {
        let b = self.store.bucket(&req.input.bucket).await?;
        let Some(e) = b.encryption else {
            return Err(Error::NoSuchEncryptionConfiguration(b.name));
        };
        Ok(GetBucketEncryptionOutput {
            server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration {
                rules: vec![ServerSideEncryptionRule {
                    apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                        kms_master_key_id: e.kms_master_key_id,
                        sse_algorithm: ServerSideEncryption::from(e.algorithm),
                    }),
                    bucket_key_enabled: Some(e.bucket_key_enabled),
                }],
            }),
        })
    }

    pub(crate) async fn delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> Res<DeleteBucketEncryptionOutput> {
        self.store
            .update_bucket(&req.input.bucket, move |b| {
                b.encryption = None;
                Ok(())
            })
            .await?;
        Ok(DeleteBucketEncryptionOutput {})
    }

    pub(crate) async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> Res<PutBucketPolicyOutput> {
        let input = req.input;
        policy::validate(&input.policy, &input.bucket)?;
        let public = policy::is_public(&input.policy);
        self.store
            .update_bucket(&input.bucket, move |b| {
                // BlockPublicPolicy: "Reject calls to PUT Bucket policy if the specified
                // bucket policy allows public access."
                if public && b.public_access_block.is_some_and(|p| p.block_public_policy) {
                    return Err(Error::AccessDenied);
                }
                b.policy = Some(input.policy.clone());
                Ok(())
            })
            .await?;
        Ok(PutBucketPolicyOutput {})
    }

    pub(crate) async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> Res<GetBucketPolicyOutput> {
        let b = self.store.bucket(&req.input.bucket).await?;
        match b.policy {
            Some(p) => Ok(GetBucketPolicyOutput { policy: Some(p) }),
            None => Err(Error::NoSuchBucketPolicy(b.name)),
        }
    }

    pub(crate) async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> Res<DeleteBucketPolicyOutput> {
        self.store
            .update_bucket(&req.input.bucket, move |b| {
                b.policy = None;
                Ok(())
            })
            .await?;
        Ok(DeleteBucketPolicyOutput {})
    }

    pub(crate) async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> Res<PutBucketCorsOutput> {
        let input = req.input;
        crate::limits::check_cors_rules(input.cors_configuration.cors_rules.len())?;
        let rules: Vec<CorsRule> = input
            .cors_configuration
            .cors_rules
            .into_iter()
            .map(|r| CorsRule {
                allowed_origins: r.allowed_origins,
                allowed_methods: r.allowed_methods,
                allowed_headers: r.allowed_headers.unwrap_or_default(),
                expose_headers: r.expose_headers.unwrap_or_default(),
                max_age_seconds: r.max_age_seconds,
            })
            .collect();
        for r in &rules {
            if let Some(m) = r
                .allowed_methods
                .iter()
                .find(|m| !["GET", "PUT", "HEAD", "POST", "DELETE"].contains(&m.as_str()))
            {
                return Err(Error::InvalidRequest(format!(
                    "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
                )));
            }
            // AWS allows one wildcard per AllowedOrigin and AllowedHeader, none in
            // ExposeHeader.
            let many = |v: &str| v.matches('*').count() > 1;
            if let Some(o) = r.allowed_origins.iter().find(|o| many(o)) {
                return Err(Error::InvalidRequest(format!(
                    "AllowedOrigin \"{o}\" can not have more than one wildcard."
                )));
            }
            if let Some(h) = r.allowed_headers.iter().find(|h| many(h)) {
                return Err(Error::InvalidRequest(format!(
                    "AllowedHeader \"{h}\" can not have more than one wildcard."
                )));
            }
            if let Some(h) = r.expose_headers.iter().find(|h| h.contains('*')) {
                return Err(Error::InvalidRequest(format!(
                    "ExposeHeader \"{h}\" contains wildcard. We currently do not support wildcard for ExposeHeader."
                )));
            }
        }
        self.store
            .update_bucket(&input.bucket, move |b| {
                b.cors = Some(rules.clone());
                Ok(())
            })
            .await?;
        Ok(PutBucketCorsOutput {})
    }

    pub(crate) async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> Res<GetBucketCorsOutput> {
        let b = self.store.bucket(&req.input.bucket).await?;
        let Some(rules) = b.cors else {
            return Err(Error::NoSuchCorsConfiguration(b.name));
        };
        Ok(GetBucketCorsOutput {
            cors_rules: Some(
                rules
                    .into_iter()
                    .map(|r| CORSRule {
                        allowed_headers: Some(r.allowed_headers).filter(|v| !v.is_empty()),
                        allowed_methods: r.allowed_methods,
                        allowed_origins: r.allowed_origins,
                        expose_headers: Some(r.expose_headers).filter(|v| !v.is_empty()),
                        id: None,
                        max_age_seconds: r.max_age_seconds,
                    })
                    .collect(),
            ),
        })
    }

    pub(crate) async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> Res<DeleteBucketCorsOutput> {
        self.store
            .update_bucket(&req.input.bucket, move |b| {
                b.cors = None;
                Ok(())
            })
            .await?;
        Ok(DeleteBucketCorsOutput {})
    }

    pub(crate) async fn put_bucket_website(
        &self,
        req: S3Request<PutBucketWebsiteInput>,
    ) -> Res<PutBucketWebsiteOutput> {
        let input = req.input;
        let w = input.website_configuration;
        let website = Website {
            index_document: w.index_document.map(|d| d.suffix),
            error_document: w.error_document.map(|d| d.key),
        };
        if website
            .index_document
            .as_deref()
            .is_some_and(|s| s.is_empty() || s.contains('/'))
        {
            return Err(Error::InvalidArgument(
                "The IndexDocument Suffix is not well formed".into(),
            ));
        }
        self.store
            .update_bucket(&input.bucket, move |b| {
                b.website = Some(website.clone());
                Ok(())
            })
            .await?;
        Ok(PutBucketWebsiteOutput {})
    }

    pub(crate) async fn get_bucket_website(
        &self,
        req: S3Request<GetBucketWebsiteInput>,
    ) -> Res<GetBucketWebsiteOutput> {
        let b = self.store.bucket(&req.input.bucket).await?;
        let Some(w) = b.website else {
            return Err(Error::NoSuchWebsiteConfiguration(b.name));
        };
        Ok(GetBucketWebsiteOutput {
            index_document: w.index_document.map(|suffix| IndexDocument { suffix }),
            error_document: w.error_document.map(|key| ErrorDocument { key }),
            ..Default::default()
        })
    }

    pub(crate) async fn delete_bucket_website(
        &self,
        req: S3Request<DeleteBucketWebsiteInput>,
    ) -> Res<DeleteBucketWebsiteOutput> {
        self.store
            .update_bucket(&req.input.bucket, move |b| {
                b.website = None;
                Ok(())
            })
            .await?;
        Ok(DeleteBucketWebsiteOutput {})
    }
}
